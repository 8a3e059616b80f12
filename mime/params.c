/*
 * params.c - the structured MIME header values: Content-Type "type/subtype",
 * single tokens (transfer encoding, disposition type) and the parameter list
 * with RFC 2231 extensions (charset'language'%xx values, continuations).
 *
 * How it fails: never. Values are attacker bytes; parsing is lenient like
 * mail clients (unquoted values with blanks, missing ';', unterminated quotes
 * and comments run to the end) and every oddity is a flag, never an error.
 * Outputs are cut at the caller's capacity (flag). No allocation.
 */
#include "mime/mime.h"

#include <string.h>

#define MAX_SECTIONS 1024 /* RFC 2231 sections kept: enough for an 8 KiB value of %xx */

static int is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* RFC 2045 token characters: no blanks, controls or tspecials. */
static int is_token(uint8_t c)
{
    if (c <= 32 || c >= 127)
        return 0;
    return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Blanks and (nested) comments; an unterminated comment runs to the end. */
static size_t skip_cfws(const uint8_t *s, size_t len, size_t i)
{
    while (i < len) {
        if (is_blank(s[i])) {
            i++;
            continue;
        }
        if (s[i] != '(')
            break;
        size_t depth = 0;
        for (; i < len; i++) {
            if (s[i] == '\\' && i + 1 < len) {
                i++;
            } else if (s[i] == '(') {
                depth++;
            } else if (s[i] == ')' && --depth == 0) {
                i++;
                break;
            }
        }
    }
    return i;
}

static size_t token_end(const uint8_t *s, size_t len, size_t i)
{
    while (i < len && is_token(s[i]))
        i++;
    return i;
}

/* Copy s[a..b) lower-cased after *o in out[cap]; 0 when it does not fit. */
static int put_lower(char *out, size_t cap, size_t *o, const uint8_t *s, size_t a, size_t b)
{
    if (b - a >= cap - *o)
        return 0;
    for (size_t i = a; i < b; i++)
        out[(*o)++] = (char)lower(s[i]);
    out[*o] = 0;
    return 1;
}

int st_mime_ctype_parse(const uint8_t *v, size_t len, char *out, size_t cap, size_t *params_at)
{
    size_t i = skip_cfws(v, len, 0), o = 0;
    size_t t0 = i, t1 = token_end(v, len, i);
    out[0] = 0;
    i = skip_cfws(v, len, t1);
    if (t1 > t0 && i < len && v[i] == '/') {
        size_t s0 = skip_cfws(v, len, i + 1), s1 = token_end(v, len, s0);
        if (s1 > s0 && put_lower(out, cap, &o, v, t0, t1) &&
            put_lower(out, cap, &o, (const uint8_t *)"/", 0, 1) &&
            put_lower(out, cap, &o, v, s0, s1)) {
            *params_at = s1;
            return 0;
        }
    }
    out[0] = 0;
    const uint8_t *semi = memchr(v, ';', len);
    *params_at = semi ? (size_t)(semi - v) : len;
    return -1;
}

int st_mime_token_parse(const uint8_t *v, size_t len, char *out, size_t cap, size_t *rest_at)
{
    size_t i = skip_cfws(v, len, 0), o = 0;
    size_t e = token_end(v, len, i);
    out[0] = 0;
    *rest_at = e;
    if (e == i || !put_lower(out, cap, &o, v, i, e))
        return -1;
    return 0;
}

/* One attribute=value occurrence: value is v[a..b), quoted or not. */
typedef struct span {
    size_t a, b;
    int quoted, present, ext;
} span;

typedef struct found {
    span plain, single; /* attr=, attr*= */
    span last;          /* the last plain attr= (a repeated one's other value) */
    span sec[MAX_SECTIONS];
    int nsec, dup, unterm, over;
} found;

static void put_byte(st_mime_pval *pv, uint8_t c)
{
    if (pv->len + 1 < pv->cap)
        pv->buf[pv->len++] = c;
    else
        pv->flags |= ST_MIME_PARAM_TRUNCATED;
}

/* The value as written, quoted-string escapes removed. */
static void put_literal(st_mime_pval *pv, const uint8_t *s, const span *sp)
{
    for (size_t i = sp->a; i < sp->b; i++) {
        if (sp->quoted && s[i] == '\\' && i + 1 < sp->b)
            i++;
        put_byte(pv, s[i]);
    }
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void put_pct(st_mime_pval *pv, const uint8_t *s, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < b && (h = hexval(s[i + 1])) >= 0 &&
            (l = hexval(s[i + 2])) >= 0) {
            put_byte(pv, (uint8_t)(h << 4 | l));
            i += 2;
            continue;
        }
        if (s[i] == '%')
            pv->flags |= ST_MIME_PARAM_BAD_PCT;
        put_byte(pv, s[i]);
    }
}

/* charset'language'text: fills pv->charset/language, returns where text starts. */
static size_t ext_prefix(st_mime_pval *pv, const uint8_t *s, size_t a, size_t b)
{
    const uint8_t *q1 = memchr(s + a, '\'', b - a);
    const uint8_t *q2 = q1 ? memchr(q1 + 1, '\'', (size_t)(s + b - (q1 + 1))) : NULL;
    if (!q2) {
        pv->flags |= ST_MIME_PARAM_BAD_EXT;
        return a;
    }
    size_t o = 0, cl = (size_t)(q1 - (s + a)), ll = (size_t)(q2 - (q1 + 1));
    if (!put_lower(pv->charset, sizeof pv->charset, &o, s, a, a + cl))
        pv->charset[0] = 0, pv->flags |= ST_MIME_PARAM_TRUNCATED;
    if (ll < sizeof pv->language) {
        memcpy(pv->language, q1 + 1, ll);
        pv->language[ll] = 0;
    }
    return (size_t)(q2 + 1 - s);
}

static void put_ext(st_mime_pval *pv, const uint8_t *s, const span *sp, int first)
{
    size_t a = first ? ext_prefix(pv, s, sp->a, sp->b) : sp->a;
    if (sp->quoted) { /* not allowed by RFC 2231, seen in the wild */
        span t = *sp;
        t.a = a;
        put_literal(pv, s, &t);
        return;
    }
    put_pct(pv, s, a, sp->b);
}

/* Which form of attr the attribute s[a..b) is: 0 other, 1 plain, 2 attr*,
 * 3 section (*idx, *ext). */
static int classify(const uint8_t *s, size_t a, size_t b, const char *attr, unsigned *idx, int *ext)
{
    size_t al = strlen(attr);
    if (b - a < al)
        return 0;
    for (size_t i = 0; i < al; i++)
        if (lower(s[a + i]) != lower((uint8_t)attr[i]))
            return 0;
    a += al;
    if (a == b)
        return 1;
    if (s[a] != '*')
        return 0;
    if (++a == b)
        return 2;
    unsigned n = 0;
    size_t d0 = a;
    while (a < b && s[a] >= '0' && s[a] <= '9' && a - d0 < 6)
        n = n * 10 + (unsigned)(s[a++] - '0');
    if (a == d0)
        return 0;
    *ext = 0;
    if (a < b && s[a] == '*')
        *ext = 1, a++;
    if (a != b)
        return 0;
    *idx = n;
    return 3;
}

static void record(found *f, int kind, unsigned idx, int ext, const span *v)
{
    span *slot = kind == 1 ? &f->plain : kind == 2 ? &f->single : NULL;
    if (kind == 1) {
        f->last = *v;
        f->last.present = 1;
    }
    if (kind == 3) {
        if (idx >= MAX_SECTIONS) {
            f->over = 1; /* the value is cut there, and says so */
            return;
        }
        slot = &f->sec[idx];
        if ((int)idx + 1 > f->nsec)
            f->nsec = (int)idx + 1;
    }
    if (slot->present) {
        f->dup = 1;
        return;
    }
    *slot = *v;
    slot->present = 1;
    slot->ext = ext;
}

/* Read one value starting at i; returns the index after it. */
static size_t read_value(const uint8_t *s, size_t len, size_t i, span *v, int *unterm)
{
    memset(v, 0, sizeof *v);
    if (i < len && s[i] == '"') {
        size_t j = i + 1;
        while (j < len && s[j] != '"')
            j += (s[j] == '\\' && j + 1 < len) ? 2 : 1;
        v->a = i + 1;
        v->b = j < len ? j : len;
        v->quoted = 1;
        if (j >= len)
            *unterm = 1;
        return j < len ? j + 1 : len;
    }
    size_t j = i;
    while (j < len && s[j] != ';')
        j++;
    size_t e = j;
    while (e > i && is_blank(s[e - 1]))
        e--;
    v->a = i;
    v->b = e;
    return j;
}

static void scan(const uint8_t *s, size_t len, size_t i, const char *attr, found *f)
{
    while (i < len) {
        i = skip_cfws(s, len, i);
        if (i >= len)
            break;
        if (s[i] == ';') {
            i++;
            continue;
        }
        size_t a0 = i;
        while (i < len && !is_blank(s[i]) && s[i] != '=' && s[i] != ';' && s[i] != '"')
            i++;
        size_t a1 = i;
        i = skip_cfws(s, len, i);
        if (i >= len || s[i] != '=') {
            if (a1 == a0 && i < len && s[i] != ';') {
                span junk;
                int u = 0;
                i = read_value(s, len, i, &junk, &u); /* a stray quoted string */
            }
            continue;
        }
        i = skip_cfws(s, len, i + 1);
        span v;
        int unterm = 0;
        i = read_value(s, len, i, &v, &unterm);
        unsigned idx = 0;
        int ext = 0, kind = classify(s, a0, a1, attr, &idx, &ext);
        if (kind) {
            record(f, kind, idx, kind == 2 ? 1 : ext, &v);
            f->unterm |= unterm;
        }
    }
}

static void pval_reset(st_mime_pval *pv)
{
    pv->len = 0;
    pv->flags = 0;
    pv->charset[0] = pv->language[0] = 0;
    if (pv->cap)
        pv->buf[0] = 0;
}

int st_mime_param_get(const uint8_t *v, size_t len, size_t from, const char *attr, st_mime_pval *pv)
{
    found local; /* ~32 KB of stack, once: this is never called recursively */
    found *fp = &local;
    memset(fp, 0, sizeof *fp);
    pval_reset(pv);
    scan(v, len, from, attr, fp);

    if (fp->nsec > 0 || fp->single.present || fp->plain.present)
        pv->flags |= ST_MIME_PARAM_PRESENT;
    else
        return 0;
    if (fp->dup || ((fp->nsec || fp->single.present) && fp->plain.present) ||
        (fp->nsec && fp->single.present))
        pv->flags |= ST_MIME_PARAM_DUPLICATE;
    if (fp->unterm)
        pv->flags |= ST_MIME_PARAM_UNTERM;
    if (fp->over)
        pv->flags |= ST_MIME_PARAM_TRUNCATED;

    if (fp->nsec > 0) {
        pv->flags |= ST_MIME_PARAM_RFC2231 | ST_MIME_PARAM_CONTINUED;
        for (int n = 0; n < fp->nsec; n++) {
            const span *sp = &fp->sec[n];
            if (!sp->present) {
                pv->flags |= ST_MIME_PARAM_GAP;
                continue;
            }
            if (sp->ext)
                put_ext(pv, v, sp, n == 0);
            else
                put_literal(pv, v, sp);
        }
    } else if (fp->single.present) {
        pv->flags |= ST_MIME_PARAM_RFC2231;
        put_ext(pv, v, &fp->single, 1);
    } else {
        put_literal(pv, v, &fp->plain);
    }
    if (pv->cap)
        pv->buf[pv->len] = 0;
    return 1;
}

int st_mime_param_last(const uint8_t *v, size_t len, size_t from, const char *attr,
                       st_mime_pval *pv)
{
    found local; /* as st_mime_param_get */
    memset(&local, 0, sizeof local);
    pval_reset(pv);
    scan(v, len, from, attr, &local);
    if (!local.last.present)
        return 0;
    pv->flags |= ST_MIME_PARAM_PRESENT;
    put_literal(pv, v, &local.last);
    if (pv->cap)
        pv->buf[pv->len] = 0;
    return 1;
}
