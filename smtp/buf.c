/*
 * buf.c - parser buffers that grow on demand up to a cap, and shrink back.
 *
 * A session's buffers start small: most sessions never see a long line,
 * a long reply, an AUTH exchange or deep pipelining, and a sensor keeps
 * thousands of sessions open at once. A buffer doubles (at least to what
 * is asked, at most to its cap) when its content needs the room, and its
 * owner shrinks it back once that content is consumed. Growing copies into
 * a new block and wipes the old one: client lines and the work buffer may
 * hold credentials, and realloc would free them unwiped.
 *
 * How it fails: growth past the cap, or with no memory, returns -1 and
 * leaves the buffer as it was; callers treat both as the cap being hit.
 * A shrink that finds no memory keeps the larger buffer. Nothing aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_int.h"

/* Replace *b by a block of ncap bytes holding its first keep bytes. */
int st_smtp_buf_resize(char **b, size_t *cap, size_t ncap, size_t keep)
{
    char *n = malloc(ncap);
    if (!n)
        return -1;
    if (*b) {
        memcpy(n, *b, keep < ncap ? keep : ncap);
        explicit_bzero(*b, *cap);
        free(*b);
    }
    *b = n;
    *cap = ncap;
    return 0;
}

/* At least need bytes, keeping the content; 0 when they are there. */
int st_smtp_buf_reserve(char **b, size_t *cap, size_t need, size_t max)
{
    if (need <= *cap)
        return 0;
    if (need > max)
        return -1;
    size_t n = *cap ? *cap : need;
    while (n < need)
        n = n > max / 2 ? max : n * 2;
    return st_smtp_buf_resize(b, cap, n < max ? n : max, *cap);
}

/* Back to min bytes (content dropped) when it grew past keep. */
void st_smtp_buf_shrink(char **b, size_t *cap, size_t keep, size_t min)
{
    if (*cap > keep && min < *cap)
        (void)st_smtp_buf_resize(b, cap, min, 0);
}

void st_smtp_buf_release(char **b, size_t *cap)
{
    if (*b)
        explicit_bzero(*b, *cap);
    free(*b);
    *b = NULL;
    *cap = 0;
}

/* The work buffer holds a command line and the EHLO keywords of a reply
 * (at most 2 * max_line), or decoded base64 of one line. */
size_t st_smtp_work_max(const st_smtp *p)
{
    return 3 * p->lim.max_line + 3;
}

char *st_smtp_work(st_smtp *p, size_t need)
{
    if (st_smtp_buf_reserve(&p->work, &p->work_cap, need, st_smtp_work_max(p)) != 0)
        return NULL;
    return p->work;
}

/* Called when nothing in the work buffer is needed any more. */
void st_smtp_work_trim(st_smtp *p)
{
    st_smtp_buf_shrink(&p->work, &p->work_cap, ST_SMTP_WORK_KEEP, ST_SMTP_WORK_MIN);
}
