/*
 * uu.c - streaming uudecode for x-uuencode bodies: text before a
 * "begin <mode> <name>" line is skipped, data lines are decoded until "end".
 *
 * How it fails: never; a malformed or over-long data line is skipped and
 * flagged, a missing "end" is flagged at finish. Resumable at any byte: the
 * state holds the current line (at most ST_UU_LINE_MAX bytes).
 */
#include "mime/mime.h"

#include <string.h>

void st_uu_init(st_uu *s)
{
    memset(s, 0, sizeof *s);
}

static unsigned sextet(uint8_t c)
{
    return (unsigned)(c - ' ') & 63; /* '`' is 0 like ' ' */
}

static int is_begin(st_uu *s, const uint8_t *l, size_t n)
{
    if (n < 6 || memcmp(l, "begin ", 6) != 0)
        return 0;
    size_t i = 6;
    while (i < n && l[i] >= '0' && l[i] <= '7')
        i++;
    if (i == 6 || i >= n || l[i] != ' ')
        return 0;
    size_t nl = n - i - 1;
    memcpy(s->name, l + i + 1, nl);
    s->name[nl] = 0;
    return 1;
}

static size_t data_line(st_uu *s, const uint8_t *l, size_t n, uint8_t *out)
{
    if (n == 0)
        return 0;
    size_t want = sextet(l[0]), o = 0;
    if (want == 0)
        return 0;
    if ((want + 2) / 3 * 4 > n - 1) {
        s->flags |= ST_UU_BAD_LINE;
        return 0;
    }
    for (size_t i = 1; o < want; i += 4) {
        unsigned v =
            sextet(l[i]) << 18 | sextet(l[i + 1]) << 12 | sextet(l[i + 2]) << 6 | sextet(l[i + 3]);
        uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        for (int k = 0; k < 3 && o < want; k++)
            out[o++] = b[k];
    }
    return o;
}

static size_t line_done(st_uu *s, uint8_t *out)
{
    size_t raw = s->n, n, o = 0;
    const uint8_t *l = s->line;
    while (raw && l[raw - 1] == '\r')
        raw--;
    n = raw; /* begin and end lines are compared without trailing blanks */
    while (n && (l[n - 1] == ' ' || l[n - 1] == '\t'))
        n--;
    if (s->over) {
        if (s->st == 1)
            s->flags |= ST_UU_BAD_LINE;
    } else if (s->st != 1) {
        if (is_begin(s, l, n)) {
            s->st = 1;
            s->blocks++;
        }
    } else if (n == 3 && memcmp(l, "end", 3) == 0) {
        s->st = 2;
    } else {
        o = data_line(s, l, raw, out); /* a space is data (sextet 0), trailing too */
    }
    s->n = 0;
    s->over = 0;
    return o;
}

size_t st_uu_feed(st_uu *s, const uint8_t *in, size_t len, uint8_t *out)
{
    size_t o = 0;
    while (len) {
        const uint8_t *nl = memchr(in, '\n', len);
        size_t take = nl ? (size_t)(nl - in) : len;
        size_t room = ST_UU_LINE_MAX - 1 - s->n;
        if (take > room) {
            s->over = 1;
            memcpy(s->line + s->n, in, room);
            s->n = ST_UU_LINE_MAX - 1;
        } else {
            memcpy(s->line + s->n, in, take);
            s->n += (uint16_t)take;
        }
        if (!nl)
            break;
        o += line_done(s, out + o);
        in += take + 1;
        len -= take + 1;
    }
    return o;
}

size_t st_uu_finish(st_uu *s, uint8_t *out)
{
    size_t o = 0;
    if (s->n)
        o = line_done(s, out);
    if (s->st == 1)
        s->flags |= ST_UU_NO_END;
    if (s->blocks == 0)
        s->flags |= ST_UU_NO_BEGIN;
    s->st = 0;
    return o;
}
