/*
 * line.c - bounded line assembler for command and reply lines.
 *
 * Bytes are copied until LF; a line ends at LF with or without CR (bare
 * LF is flagged). At most max bytes of a line are kept: a longer line is
 * cut and flagged, the rest is skipped up to its LF. After a gap the
 * partial line is dropped and the next line is flagged after_gap: it may
 * be the tail of a line whose start was lost, and its reader keeps it
 * only if it looks like a whole command or reply. The buffer grows with
 * the line up to max + 2 bytes and goes back to its small size once the
 * line is consumed (or dropped). It never fails: a line that cannot be stored, past
 * max or for lack of memory to grow, is cut and flagged.
 */
#include <string.h>

#include "smtp/smtp_int.h"

void st_smtp_line_reset(st_smtp_line *l)
{
    l->len = 0;
    l->last = 0;
    l->ready = l->too_long = l->after_gap = l->bare_lf = l->nul = 0;
}

/* Back to the small buffer after a long line; only once nothing reads it. */
void st_smtp_line_shrink(st_smtp_line *l)
{
    st_smtp_buf_shrink(&l->buf, &l->cap, ST_SMTP_LINE_KEEP, ST_SMTP_LINE_MIN);
}

void st_smtp_line_gap(st_smtp_line *l)
{
    st_smtp_line_reset(l);
    l->after_gap = 1;
}

/* Of c more bytes, how many the buffer can take with a NUL after them. */
static size_t line_room(st_smtp_line *l, size_t c)
{
    if (st_smtp_buf_reserve(&l->buf, &l->cap, l->len + c + 1, l->max + 2) == 0)
        return c;
    return l->cap - 1 - l->len; /* no memory: cut here, as at the cap */
}

static void line_append(st_smtp_line *l, const uint8_t *d, size_t k)
{
    if (k == 0)
        return;
    l->last = d[k - 1];
    if (l->too_long)
        return; /* a cut line keeps nothing after the cut */
    size_t room = l->max + 1 - l->len;
    size_t c = line_room(l, k < room ? k : room);
    memcpy(l->buf + l->len, d, c);
    l->len += c;
    if (c < k)
        l->too_long = 1;
}

/* The line buffer has room for max bytes plus a CR, so that a line of
 * exactly max bytes followed by CRLF is not taken for a long one. */
static void line_close(st_smtp_line *l)
{
    l->bare_lf = l->last != '\r';
    if (!l->bare_lf && !l->too_long)
        l->len--;
    if (l->len > l->max) {
        l->len = l->max;
        l->too_long = 1;
    }
    l->buf[l->len] = 0;
    l->nul = memchr(l->buf, 0, l->len) != NULL;
    l->ready = 1;
}

size_t st_smtp_line_feed(st_smtp_line *l, const uint8_t *d, size_t n, int *done)
{
    if (l->ready)
        st_smtp_line_reset(l);
    if (l->len == 0) /* a long line dropped by a gap or a mode switch */
        st_smtp_line_shrink(l);
    *done = 0;
    const uint8_t *lf = memchr(d, '\n', n);
    size_t k = lf ? (size_t)(lf - d) : n;
    line_append(l, d, k);
    if (!lf)
        return n;
    line_close(l);
    *done = 1;
    return k + 1;
}

/* Anomalies of a finished line: cut, bare LF (once per direction), NUL. */
void st_smtp_line_checks(st_smtp *p, st_smtp_line *l, int dir)
{
    const char *who = dir == ST_DIR_CLIENT ? "client" : "server";
    if (l->too_long)
        st_smtp_anomaly(p, "line_too_long", who);
    if (l->bare_lf && !p->warned_lf[dir]) {
        p->warned_lf[dir] = 1;
        st_smtp_anomaly(p, "bare_lf", who);
    }
    if (l->nul)
        st_smtp_anomaly(p, dir == ST_DIR_CLIENT ? "nul_in_command" : "nul_in_reply", NULL);
}
