/*
 * qp.c - streaming quoted-printable decoder (RFC 2045 6.7).
 *
 * "=XY" gives a byte (lower-case hex accepted, flagged), "=" then optional
 * blanks then a line end is a soft line break, blanks at the end of a line
 * (or of the input) are transport padding and dropped. Line ends are kept as
 * they came. Anything else, including a bad escape, is kept literally.
 *
 * How it fails: never; bad escapes are counted. Resumable at any byte: the
 * state is the escape in progress and the held run of blanks (bounded by
 * ST_QP_WS_MAX; a longer run is passed through as text).
 */
#include "mime/mime.h"

#include <string.h>

void st_qp_init(st_qp *s)
{
    memset(s, 0, sizeof *s);
}

static int hexval(uint8_t c, unsigned *flags)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') {
        *flags |= ST_QP_LOWERCASE_HEX;
        return c - 'a' + 10;
    }
    return -1;
}

static int is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static size_t flush_ws(st_qp *s, uint8_t *out)
{
    size_t n = s->nws;
    memcpy(out, s->ws, n);
    s->nws = 0;
    return n;
}

/* A bad escape: the '=' (and the digit or blanks after it) are text. */
static size_t bad(st_qp *s, uint8_t *out)
{
    size_t o = 0;
    out[o++] = '=';
    if (s->st == 2)
        out[o++] = s->hex;
    else if (s->st == 3)
        o += flush_ws(s, out + o);
    s->st = 0;
    s->flags |= ST_QP_BAD_ESCAPE;
    s->bad++;
    return o;
}

/* Plain text state; returns bytes written for c. */
static size_t text(st_qp *s, uint8_t c, uint8_t *out)
{
    size_t o = 0;
    if (is_blank(c)) {
        if (s->nws == ST_QP_WS_MAX)
            o += flush_ws(s, out);
        s->ws[s->nws++] = c;
        return o;
    }
    if (c == '\n') {
        if (s->nws && s->ws[s->nws - 1] == '\r')
            out[o++] = '\r';
        s->nws = 0;
        out[o++] = '\n';
        return o;
    }
    o += flush_ws(s, out);
    if (c == '=')
        s->st = 1;
    else
        out[o++] = c;
    return o;
}

/* Bytes that need no thought in the text state. */
static int plain(uint8_t c)
{
    return c != '=' && c != ' ' && c != '\t' && c != '\r' && c != '\n';
}

size_t st_qp_feed(st_qp *s, const uint8_t *in, size_t len, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        int h;
        switch (s->st) {
        case 0:
            if (plain(c) && s->nws == 0) {
                size_t j = i;
                while (j < len && plain(in[j]))
                    j++;
                memcpy(out + o, in + i, j - i);
                o += j - i;
                i = j - 1;
            } else {
                o += text(s, c, out + o);
            }
            break;
        case 1:
            if (hexval(c, &s->flags) >= 0) {
                s->hex = c;
                s->st = 2;
            } else if (is_blank(c)) {
                s->st = 3;
                s->ws[s->nws++] = c;
            } else if (c == '\n') {
                s->st = 0; /* soft line break */
            } else {
                o += bad(s, out + o);
                o += text(s, c, out + o);
            }
            break;
        case 2:
            if ((h = hexval(c, &s->flags)) >= 0) {
                out[o++] = (uint8_t)(hexval(s->hex, &s->flags) << 4 | h);
                s->st = 0;
            } else {
                o += bad(s, out + o);
                o += text(s, c, out + o);
            }
            break;
        default: /* 3: "=" and blanks: a soft break if a line end follows */
            if (c == '\n') {
                s->nws = 0;
                s->st = 0;
            } else if (is_blank(c) && s->nws < ST_QP_WS_MAX) {
                s->ws[s->nws++] = c;
            } else {
                o += bad(s, out + o);
                o += text(s, c, out + o);
            }
            break;
        }
    }
    return o;
}

size_t st_qp_finish(st_qp *s, uint8_t *out)
{
    size_t o = 0;
    if (s->st == 2)
        o += bad(s, out); /* "=X" at the end */
    /* "=" (a soft break before the end) and trailing blanks are dropped */
    s->st = 0;
    s->nws = 0;
    return o;
}
