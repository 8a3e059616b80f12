/*
 * charset.c - convert bytes in a MIME charset to UTF-8 (glibc iconv), and make
 * arbitrary bytes valid UTF-8.
 *
 * Labels come from attackers: a label with bytes outside [A-Za-z0-9._:+-] or longer
 * than 40 bytes is never handed to iconv_open (glibc parses "//" suffixes and loads
 * gconv modules by name). Labels mail uses but iconv lacks are aliased by a table.
 * iconv_open is slow, so descriptors (and failed look-ups) live in an 8-entry LRU:
 * a stream of bogus labels costs one iconv_open each and cannot grow memory.
 *
 * Failure modes: unknown label -> valid UTF-8 kept, invalid bytes -> U+FFFD, flag
 * UNKNOWN; invalid sequence -> U+FFFD, flag INVALID, continue; output full -> stop at
 * a character boundary, flag TRUNCATED. Allocates only inside iconv_open and for
 * the copy st_charset_utf8_dup returns (NULL without memory). Not thread-safe (one
 * static cache).
 */
#include "mailhdr/mailhdr.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_MAX 40
#define CACHE_N   8

enum kind {
    K_ICONV,   /* convert with iconv from .target */
    K_UTF8,    /* validate, replace invalid bytes */
    K_UNKNOWN, /* like UTF-8 but flagged unknown */
    K_NONE,    /* no label: like UTF-8, not flagged */
    K_ASCII,   /* valid UTF-8 kept, else windows-1252 */
};

struct alias {
    const char *label;
    enum kind kind;
    const char *target;
};

/* Labels iconv does not know, or where mail means a superset (WHATWG encoding spec). */
static const struct alias aliases[] = {
    {"utf-8", K_UTF8, NULL},
    {"utf8", K_UTF8, NULL},
    {"unicode-1-1-utf-8", K_UTF8, NULL},
    {"x-unknown", K_UNKNOWN, NULL},
    {"unknown", K_UNKNOWN, NULL},
    {"unknown-8bit", K_UNKNOWN, NULL},
    {"x-user-defined", K_UNKNOWN, NULL},
    {"default", K_UNKNOWN, NULL},
    {"us-ascii", K_ASCII, NULL},
    {"ascii", K_ASCII, NULL},
    {"ansi_x3.4-1968", K_ASCII, NULL},
    {"iso-8859-1", K_ICONV, "CP1252"},
    {"iso8859-1", K_ICONV, "CP1252"},
    {"iso_8859-1", K_ICONV, "CP1252"},
    {"latin1", K_ICONV, "CP1252"},
    {"latin-1", K_ICONV, "CP1252"},
    {"l1", K_ICONV, "CP1252"},
    {"cp819", K_ICONV, "CP1252"},
    {"windows-1252", K_ICONV, "CP1252"},
    {"cp1252", K_ICONV, "CP1252"},
    {"cp-1252", K_ICONV, "CP1252"},
    {"x-cp1252", K_ICONV, "CP1252"},
    {"ks_c_5601-1987", K_ICONV, "CP949"},
    {"ks_c_5601", K_ICONV, "CP949"},
    {"euc-kr", K_ICONV, "CP949"},
    {"gb2312", K_ICONV, "GB18030"},
    {"gbk", K_ICONV, "GB18030"},
    {"x-gbk", K_ICONV, "GB18030"},
    {"cp936", K_ICONV, "GB18030"},
    {"chinese", K_ICONV, "GB18030"},
    {"big5", K_ICONV, "BIG5-HKSCS"},
    {"shift_jis", K_ICONV, "CP932"},
    {"shift-jis", K_ICONV, "CP932"},
    {"x-sjis", K_ICONV, "CP932"},
    {"sjis", K_ICONV, "CP932"},
    {"windows-31j", K_ICONV, "CP932"},
    {"iso-8859-8-i", K_ICONV, "ISO-8859-8"},
    {"iso-8859-6-i", K_ICONV, "ISO-8859-6"},
    {"tis-620", K_ICONV, "CP874"},
    {"windows-874", K_ICONV, "CP874"},
    {"unicode-1-1-utf-7", K_ICONV, "UTF-7"},
    {"x-unicode-2-0-utf-7", K_ICONV, "UTF-7"},
    {"utf7", K_ICONV, "UTF-7"},
};

struct decoder {
    enum kind kind;
    char target[LABEL_MAX + 1];
    bool c1_fallback; /* windows-1252: its 5 holes decode as C1 controls (WHATWG) */
};

struct slot {
    char target[LABEL_MAX + 1];
    iconv_t cd; /* (iconv_t)-1: iconv refused the name */
    unsigned long used;
};

static struct slot cache[CACHE_N];
static unsigned long clock_now;

/* Normalise the label and pick a decoder. */
static unsigned resolve(const char *label, struct decoder *d)
{
    char norm[LABEL_MAX + 1];
    const char *none = "";
    if (!label) /* "no label": the empty one (NULL + 0 is undefined in C) */
        label = none;
    size_t n = 0, len = strlen(label);
    const char *s = label, *e = label + len;

    memset(d, 0, sizeof(*d));
    while (s < e && (isspace((unsigned char)*s) || *s == '"' || *s == '\''))
        s++;
    while (e > s && (isspace((unsigned char)e[-1]) || e[-1] == '"' || e[-1] == '\''))
        e--;
    if (s == e) {
        d->kind = K_NONE;
        return 0;
    }
    if ((size_t)(e - s) > LABEL_MAX) {
        d->kind = K_UNKNOWN;
        return ST_CHARSET_F_UNKNOWN | ST_CHARSET_F_BADNAME;
    }
    for (; s < e; s++) {
        unsigned char c = (unsigned char)*s;
        if (!isalnum(c) && !strchr("._:+-", c)) {
            d->kind = K_UNKNOWN;
            return ST_CHARSET_F_UNKNOWN | ST_CHARSET_F_BADNAME;
        }
        norm[n++] = (char)tolower(c);
    }
    norm[n] = 0;
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        if (strcmp(norm, aliases[i].label) == 0) {
            d->kind = aliases[i].kind;
            if (aliases[i].target)
                strcpy(d->target, aliases[i].target);
            d->c1_fallback = d->target[0] && strcmp(d->target, "CP1252") == 0;
            return 0;
        }
    }
    d->kind = K_ICONV;
    strcpy(d->target, norm);
    return 0;
}

static iconv_t cache_get(const char *target)
{
    struct slot *victim = &cache[0];

    clock_now++;
    for (int i = 0; i < CACHE_N; i++) {
        if (cache[i].used && strcmp(cache[i].target, target) == 0) {
            cache[i].used = clock_now;
            return cache[i].cd;
        }
        if (cache[i].used < victim->used)
            victim = &cache[i];
    }
    if (victim->used && victim->cd != (iconv_t)-1)
        iconv_close(victim->cd);
    strcpy(victim->target, target);
    victim->cd = iconv_open("UTF-8", target);
    victim->used = clock_now;
    return victim->cd;
}

void st_charset_cleanup(void)
{
    for (int i = 0; i < CACHE_N; i++) {
        if (cache[i].used && cache[i].cd != (iconv_t)-1)
            iconv_close(cache[i].cd);
        cache[i].used = 0;
        cache[i].cd = (iconv_t)-1;
    }
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid, -1 if a valid
   prefix cut by the end of input. */
static int utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    int n;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* overlong */
        hi = c == 0xED ? 0x9F : 0xBF; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF; /* > U+10FFFF */
    } else
        return 0;
    for (int i = 1; i < n; i++) {
        if ((size_t)i >= left)
            return -1;
        if (p[i] < lo || p[i] > hi)
            return 0;
        lo = 0x80, hi = 0xBF;
    }
    return n;
}

bool st_charset_utf8_valid(const void *in, size_t len)
{
    const unsigned char *p = in;
    size_t i = 0;

    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        int n = utf8_seq(p + i, len - i);
        if (n <= 0)
            return false;
        i += (size_t)n;
    }
    return true;
}

size_t st_charset_utf8_cut(const char *s, size_t len, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n;

    if (max >= len)
        return len;
    n = max;
    /* Back off over continuation bytes to the start of the character at max. */
    while (n > 0 && (p[n] & 0xC0) == 0x80 && max - n < 3)
        n--;
    if (n == max || (p[n] & 0xC0) != 0xC0)
        return max; /* p[max] starts a character, or bytes are not UTF-8 anyway */
    return n;
}

/* Validate/copy with U+FFFD for invalid bytes. */
static size_t utf8_copy(const unsigned char *in, size_t len, char *out, size_t room,
                        size_t *consumed, unsigned mode, unsigned *fl)
{
    size_t i = 0, o = 0;

    while (i < len) {
        int n = in[i] < 0x80 ? 1 : utf8_seq(in + i, len - i);
        if (n < 0 && (mode & ST_CHARSET_PARTIAL))
            break;
        if (n <= 0) {
            if (room - o < 3) {
                *fl |= ST_CHARSET_F_TRUNCATED;
                break;
            }
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            *fl |= ST_CHARSET_F_INVALID;
            continue;
        }
        if (room - o < (size_t)n) {
            *fl |= ST_CHARSET_F_TRUNCATED;
            break;
        }
        memcpy(out + o, in + i, (size_t)n);
        o += (size_t)n;
        i += (size_t)n;
    }
    *consumed = i;
    return o;
}

/* Bytes windows-1252 leaves undefined; WHATWG maps them to the C1 controls. */
static bool cp1252_hole(unsigned char c)
{
    return c == 0x81 || c == 0x8D || c == 0x8F || c == 0x90 || c == 0x9D;
}

static size_t iconv_copy(iconv_t cd, bool c1, const unsigned char *in, size_t len, char *out,
                         size_t room, size_t *consumed, unsigned mode, unsigned *fl)
{
    char *ip = (char *)in, *op = out;
    size_t il = len, ol = room;

    iconv(cd, NULL, NULL, NULL, NULL);
    while (il > 0) {
        if (iconv(cd, &ip, &il, &op, &ol) != (size_t)-1)
            break;
        if (errno == E2BIG) {
            *fl |= ST_CHARSET_F_TRUNCATED;
            break;
        }
        if (errno == EINVAL && (mode & ST_CHARSET_PARTIAL))
            break;
        if (ol < 3) {
            *fl |= ST_CHARSET_F_TRUNCATED;
            break;
        }
        if (c1 && cp1252_hole((unsigned char)*ip)) {
            *op++ = (char)0xC2;
            *op++ = *ip;
            ol -= 2;
        } else {
            memcpy(op, "\xEF\xBF\xBD", 3);
            op += 3, ol -= 3;
            *fl |= ST_CHARSET_F_INVALID;
        }
        if (errno == EINVAL) { /* incomplete sequence: one U+FFFD for the tail */
            ip += il;
            il = 0;
        } else {
            ip++, il--;
        }
    }
    /* Return to the initial shift state (ISO-2022-*, UTF-7); output is ASCII-safe. */
    if (il == 0 && iconv(cd, NULL, NULL, &op, &ol) == (size_t)-1)
        *fl |= ST_CHARSET_F_TRUNCATED;
    *consumed = (size_t)(ip - (char *)in);
    return (size_t)(op - out);
}

size_t st_charset_conv(const char *charset, const void *in, size_t len, char *out, size_t room,
                       size_t *consumed, unsigned mode, unsigned *flags)
{
    struct decoder d;
    unsigned fl = resolve(charset, &d);
    size_t used = 0, n;
    const unsigned char *p = in;

    if (d.kind == K_UNKNOWN)
        fl |= ST_CHARSET_F_UNKNOWN;

    if (d.kind == K_ASCII) {
        if (st_charset_utf8_valid(in, len)) {
            d.kind = K_UTF8;
        } else {
            d.kind = K_ICONV;
            strcpy(d.target, "CP1252");
            d.c1_fallback = true;
        }
    }
    if (d.kind == K_ICONV) {
        iconv_t cd = cache_get(d.target);
        if (cd != (iconv_t)-1) {
            n = iconv_copy(cd, d.c1_fallback, p, len, out, room, &used, mode, &fl);
            goto done;
        }
        fl |= ST_CHARSET_F_UNKNOWN;
    }
    n = utf8_copy(p, len, out, room, &used, mode, &fl);
done:
    if (consumed)
        *consumed = used;
    if (flags)
        *flags |= fl;
    return n;
}

size_t st_charset_to_utf8(const char *charset, const void *in, size_t len, char *out, size_t cap,
                          unsigned *flags)
{
    size_t n;

    if (cap == 0) {
        if (flags && len)
            *flags |= ST_CHARSET_F_TRUNCATED;
        return 0;
    }
    n = st_charset_conv(charset, in, len, out, cap - 1, NULL, 0, flags);
    out[n] = 0;
    return n;
}

size_t st_charset_utf8_sanitize(const void *in, size_t len, char *out, size_t cap, unsigned *flags)
{
    size_t n, used;
    unsigned fl = 0;

    if (cap == 0) {
        if (flags && len)
            *flags |= ST_CHARSET_F_TRUNCATED;
        return 0;
    }
    n = utf8_copy(in, len, out, cap - 1, &used, 0, &fl);
    out[n] = 0;
    if (flags)
        *flags |= fl;
    return n;
}

char *st_charset_utf8_dup(const void *in, size_t len, size_t cap, size_t *outlen)
{
    /* at most cap bytes out, and never more than 3 per byte in (U+FFFD) */
    size_t room = (len < cap / 3 ? len * 3 : cap) + 1;
    char *out = malloc(room);
    if (out)
        *outlen = st_charset_utf8_sanitize(in, len, out, room, NULL);
    return out;
}

bool st_charset_same(const char *a, const char *b)
{
    struct decoder da, db;
    unsigned fa = resolve(a, &da), fb = resolve(b, &db);

    if (fa || fb || da.kind != db.kind)
        return false;
    return strcmp(da.target, db.target) == 0;
}
