/*
 * rfc2047.c - decode a header value with RFC 2047 encoded words into UTF-8.
 *
 * Mail in the wild breaks the RFC in known ways, and each is accepted here:
 * encoded words glued to text ("foo=?utf-8?q?bar?=baz"), a multi-byte character
 * split across two encoded words (bytes of adjacent same-charset words are joined
 * before conversion, through a small carry buffer), base64 without padding, raw
 * 8-bit text (UTF-8 if valid, else a fallback charset). Anything that is not a
 * well-formed encoded word is copied literally.
 *
 * Bounded: one pass over the input, a fixed 256-byte conversion buffer on the
 * stack, output capped by the caller (cut at a character boundary, flag TRUNCATED).
 */
#include "mailhdr/mailhdr.h"

#include <string.h>

#define RUN_MAX     256 /* pending decoded bytes before conversion */
#define CARRY_MAX   16  /* bytes kept back for a character split across words */
#define CHARSET_MAX 64

struct out {
    char *p;
    size_t room; /* capacity without the NUL */
    size_t n;
    unsigned fl;
    bool full;
};

/* Decoded bytes waiting for conversion, all in one charset. */
struct run {
    char cs[CHARSET_MAX + 1];
    unsigned char buf[RUN_MAX];
    size_t n;
    bool active;
};

struct ew {
    const char *cs;
    size_t cs_len;
    char enc; /* 'B' or 'Q' */
    const char *text;
    size_t text_len;
    const char *end; /* just past "?=" */
};

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Charset token: RFC 2047 token, plus '.' which real labels use (ansi_x3.4-1968). */
static bool cs_char(unsigned char c)
{
    return c > 0x20 && c < 0x7F && !strchr("()<>@,;:\"/[]?=", c);
}

/* Is there a well-formed encoded word at p? RFC 2047 forbids '?' and blanks in the
   text; blanks are tolerated (some mailers leave them), CR/LF are not. */
static bool parse_ew(const char *p, const char *end, struct ew *w)
{
    const char *s = p + 2, *t;

    if (end - p < 8 || p[0] != '=' || p[1] != '?')
        return false;
    w->cs = s;
    while (s < end && cs_char((unsigned char)*s) && *s != '*')
        s++;
    w->cs_len = (size_t)(s - w->cs);
    if (s < end && *s == '*') /* RFC 2231 language suffix */
        while (s < end && *s != '?' && cs_char((unsigned char)*s))
            s++;
    if (w->cs_len == 0 || w->cs_len > CHARSET_MAX || end - s < 5 || *s != '?')
        return false;
    w->enc = (char)(s[1] & ~0x20);
    if ((w->enc != 'B' && w->enc != 'Q') || s[2] != '?')
        return false;
    w->text = t = s + 3;
    while (t < end && *t != '?') {
        if (*t == '\r' || *t == '\n')
            return false;
        if (w->enc == 'B' && b64_val((unsigned char)*t) < 0 && *t != '=' && !is_wsp(*t))
            return false;
        t++;
    }
    if (end - t < 2 || t[1] != '=')
        return false;
    w->text_len = (size_t)(t - w->text);
    w->end = t + 2;
    return true;
}

/* Does "=?" at p look like an attempt at an encoded word (for the MALFORMED flag)? */
static bool looks_like_ew(const char *p, const char *end)
{
    const char *s = p + 2;

    while (s < end && s - p < CHARSET_MAX + 2 && cs_char((unsigned char)*s))
        s++;
    return s > p + 2 && s < end && *s == '?';
}

static void run_flush(struct out *o, struct run *r, bool partial)
{
    unsigned cf = 0;
    size_t used = 0, w;

    if (!r->active || r->n == 0 || o->full)
        return;
    w = st_charset_conv(r->cs, r->buf, r->n, o->p + o->n, o->room - o->n, &used,
                        partial ? ST_CHARSET_PARTIAL : 0, &cf);
    o->n += w;
    if (cf & ST_CHARSET_F_TRUNCATED) {
        o->fl |= ST_HDR_F_TRUNCATED;
        o->full = true;
    }
    if (cf & ST_CHARSET_F_UNKNOWN)
        o->fl |= ST_HDR_F_UNKNOWN_CS;
    if (cf & ST_CHARSET_F_INVALID)
        o->fl |= ST_HDR_F_INVALID;
    memmove(r->buf, r->buf + used, r->n - used);
    r->n -= used;
    if (r->n > CARRY_MAX) /* not a split character: do not hold it back */
        run_flush(o, r, false);
}

static void run_end(struct out *o, struct run *r)
{
    run_flush(o, r, false);
    r->n = 0;
    r->active = false;
}

static void run_start(struct run *r, const char *cs, size_t cs_len)
{
    memcpy(r->cs, cs, cs_len);
    r->cs[cs_len] = 0;
    r->n = 0;
    r->active = true;
}

static void run_put(struct out *o, struct run *r, unsigned char c)
{
    if (r->n == RUN_MAX)
        run_flush(o, r, true);
    if (r->n < RUN_MAX)
        r->buf[r->n++] = c;
}

static void decode_b(struct out *o, struct run *r, const char *t, size_t len)
{
    unsigned acc = 0;
    int bits = 0, nchars = 0;
    bool pad = false;

    for (size_t i = 0; i < len && !o->full; i++) {
        int v = b64_val((unsigned char)t[i]);
        if (v < 0) {
            pad |= t[i] == '=';
            continue;
        }
        if (pad) { /* data after padding: concatenated base64, restart the quartet */
            o->fl |= ST_HDR_F_BAD_ENCODING;
            acc = 0, bits = 0, nchars = 0, pad = false;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        nchars++;
        if (bits >= 8) {
            bits -= 8;
            run_put(o, r, (unsigned char)(acc >> bits));
            acc &= (1u << bits) - 1;
        }
    }
    if (nchars % 4 == 1)
        o->fl |= ST_HDR_F_BAD_ENCODING; /* 6 dangling bits */
}

static void decode_q(struct out *o, struct run *r, const char *t, size_t len)
{
    for (size_t i = 0; i < len && !o->full; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '_') {
            c = ' ';
        } else if (c == '=') {
            int h = i + 2 < len ? hex_val((unsigned char)t[i + 1]) : -1;
            int l = h >= 0 ? hex_val((unsigned char)t[i + 2]) : -1;
            if (l >= 0) {
                c = (unsigned char)(h << 4 | l);
                i += 2;
            } else {
                o->fl |= ST_HDR_F_BAD_ENCODING;
            }
        }
        run_put(o, r, c);
    }
}

/* Copy unencoded text, minus folding CR/LF. 8-bit text: UTF-8 if valid, else the
   fallback charset. */
static void emit_literal(struct out *o, struct run *r, const char *s, const char *e,
                         const char *fallback)
{
    bool has8 = false;
    const char *cs = "utf-8";

    for (const char *q = s; q < e; q++)
        has8 |= (unsigned char)*q >= 0x80;
    if (has8) {
        o->fl |= ST_HDR_F_RAW_8BIT;
        if (!st_charset_utf8_valid(s, (size_t)(e - s))) {
            o->fl |= ST_HDR_F_RAW_NOT_UTF8;
            cs = fallback;
        }
    }
    run_start(r, cs, strlen(cs));
    for (; s < e && !o->full; s++)
        if (*s != '\r' && *s != '\n')
            run_put(o, r, (unsigned char)*s);
    run_end(o, r);
}

/* Next well-formed encoded word at or after p, or NULL. */
static const char *next_ew(struct out *o, const char *p, const char *end, struct ew *w)
{
    while (end - p >= 2) {
        const char *q = memchr(p, '=', (size_t)(end - p - 1));
        if (!q)
            return NULL;
        if (q[1] == '?') {
            if (parse_ew(q, end, w))
                return q;
            if (looks_like_ew(q, end))
                o->fl |= ST_HDR_F_MALFORMED_EW;
        }
        p = q + 1;
    }
    return NULL;
}

size_t st_hdr_decode(const char *in, size_t len, char *out, size_t cap,
                     const struct st_hdr_decode_opts *opts, unsigned *flags)
{
    struct out o = {.p = out, .room = cap ? cap - 1 : 0};
    struct run r = {.active = false};
    const char *p = in, *end = in + len;
    const char *fallback = opts && opts->fallback_charset ? opts->fallback_charset : "windows-1252";
    bool strict = opts && opts->strict_ws, prev_ew = false;
    struct ew w = {.cs = NULL};

    if (cap == 0) {
        if (flags && len)
            *flags |= ST_HDR_F_TRUNCATED;
        return 0;
    }
    while (p < end && is_lws(*p))
        p++;
    while (end > p && is_lws(end[-1]))
        end--;
    while (p < end && !o.full) {
        const char *q = next_ew(&o, p, end, &w);
        const char *lit_end = q ? q : end;
        size_t blanks = 0;
        bool only_ws = true;

        for (const char *s = p; s < lit_end && only_ws; s++) {
            only_ws = is_lws(*s);
            blanks += is_wsp(*s);
        }
        if (q && prev_ew && only_ws && (blanks <= 1 || strict)) {
            /* whitespace between adjacent encoded words: dropped */
        } else {
            run_end(&o, &r);
            if (p < lit_end && ((q && !is_lws(lit_end[-1])) || (prev_ew && !is_lws(*p))))
                o.fl |= ST_HDR_F_EW_ADJACENT;
            emit_literal(&o, &r, p, lit_end, fallback);
        }
        if (!q)
            break;
        if (r.active && (strlen(r.cs) != w.cs_len || strncmp(r.cs, w.cs, w.cs_len) != 0)) {
            char cs[CHARSET_MAX + 1];
            memcpy(cs, w.cs, w.cs_len);
            cs[w.cs_len] = 0;
            if (!st_charset_same(r.cs, cs))
                run_end(&o, &r);
        }
        if (!r.active)
            run_start(&r, w.cs, w.cs_len);
        if (w.enc == 'B')
            decode_b(&o, &r, w.text, w.text_len);
        else
            decode_q(&o, &r, w.text, w.text_len);
        run_flush(&o, &r, true);
        p = w.end;
        prev_ew = true;
    }
    run_end(&o, &r);
    out[o.n] = 0;
    if (flags)
        *flags |= o.fl;
    return o.n;
}
