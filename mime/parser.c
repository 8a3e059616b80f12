/*
 * parser.c - the streaming MIME parser's public entry points: a parser made,
 * fed, told of lost bytes, finished, freed; and the accounting of its memory.
 *
 * Entry points (mime.h): st_mime_limits_default, st_mime_new, st_mime_feed,
 * st_mime_gap, st_mime_finish, st_mime_free, st_mime_memory. Internal
 * (mime_int.h): st_mime_xalloc, st_mime_mem_resize, through which every
 * file of the parser allocates so that p->mem is the parser's heap use.
 *
 * What happens to the bytes is in the other files (see mime_int.h): level.c
 * dispatches each level's bytes to headers.c or scan.c/body.c by state.
 *
 * Limits: st_mime_new clamps the caller's limits to the ranges of mime.h
 * (max_depth 1..10000, max_msg_depth 0..100 and at most max_depth, max_line
 * 300..65536, max_header_bytes 256..1 GiB, max_headers 1..16 Mi, max_parts
 * 1..1 Gi) and sizes the frame and level stacks and the header buffer cap
 * from them.
 *
 * How it fails: st_mime_new returns NULL when out of memory; after that
 * nothing fails (see mime.h). Feeds and gaps after st_mime_finish, and
 * empty ones, are ignored.
 *
 * Not handled: one parser used from two threads at once (parsers share no
 * state, so one per thread is fine), and the callback calling back into the
 * parser.
 */
#include "mime/mime_int.h"

#include <stdlib.h>

/* ------------------------------------------------------------ memory */

void *st_mime_xalloc(st_mime *p, size_t n)
{
    void *q = calloc(1, n);
    if (q)
        p->mem += n;
    return q;
}

/* realloc that keeps p->mem right: q of old bytes -> n bytes (0 frees).
 * NULL on failure, q then unchanged. */
void *st_mime_mem_resize(st_mime *p, void *q, size_t old, size_t n)
{
    if (!n) {
        free(q);
        p->mem -= old;
        return NULL;
    }
    void *r = realloc(q, n);
    if (r)
        p->mem = p->mem - old + n;
    return r;
}

/* ------------------------------------------------------------ API */

void st_mime_limits_default(st_mime_limits *lim)
{
    lim->max_header_bytes = 65536;
    lim->max_headers = 1000;
    lim->max_depth = 100;
    lim->max_msg_depth = 20;
    lim->max_parts = 10000;
    lim->max_line = 1000;
}

static size_t clamp(size_t v, size_t lo, size_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

st_mime *st_mime_new(const st_mime_limits *lim, st_mime_event_fn fn, void *ctx)
{
    st_mime *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->mem = sizeof *p;
    if (lim)
        p->lim = *lim;
    else
        st_mime_limits_default(&p->lim);
    p->lim.max_depth = (unsigned)clamp(p->lim.max_depth, 1, 10000);
    p->lim.max_msg_depth = (unsigned)clamp(p->lim.max_msg_depth, 0, 100);
    if (p->lim.max_msg_depth > p->lim.max_depth)
        p->lim.max_msg_depth = p->lim.max_depth;
    p->lim.max_line = clamp(p->lim.max_line, 300, 65536);
    p->lim.max_header_bytes = clamp(p->lim.max_header_bytes, 256, (size_t)1 << 30);
    p->lim.max_headers = clamp(p->lim.max_headers, 1, (size_t)1 << 24);
    p->lim.max_parts = clamp(p->lim.max_parts, 1, (size_t)1 << 30);
    p->fn = fn;
    p->ctx = ctx;
    p->fr_cap = p->lim.max_depth + 1;
    p->lv_cap = p->lim.max_msg_depth + 1;
    p->hb_max = p->lim.max_header_bytes + p->lim.max_headers + p->lim.max_line + 64 +
                ST_MIME_KEEP_OVER + ST_MIME_KEEP_RECV + ST_MIME_KEEP_FIELDS;
    if (!st_mime_ensure_level(p, 0) || !st_mime_ensure_frame(p)) {
        st_mime_free(p);
        return NULL;
    }
    st_mime_open_level(p, 0, -1);
    return p;
}

void st_mime_free(st_mime *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->fr_n; i++) {
        if (p->fr[i])
            st_mime_frame_release(p, p->fr[i]);
        free(p->fr[i]);
    }
    for (unsigned i = 0; i < p->lv_n; i++)
        st_mime_level_free(p, i);
    free(p->fr);
    free(p->lv);
    free(p->hb);
    free(p->fld);
    free(p);
}

void st_mime_feed(st_mime *p, const uint8_t *data, size_t len)
{
    if (p->finished || !len)
        return;
    st_mime_level_feed(p, 0, data, len);
}

void st_mime_gap(st_mime *p, uint64_t len)
{
    if (p->finished || !len)
        return;
    st_mime_level_gap(p, 0, len);
}

void st_mime_finish(st_mime *p)
{
    if (p->finished)
        return;
    p->finished = 1;
    st_mime_level_finish(p, 0);
}

size_t st_mime_memory(const st_mime *p)
{
    return p->mem;
}
