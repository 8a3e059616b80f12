/*
 * part.c - entities of the MIME parser: the explicit stack of frames (one
 * per open part, root first, the index is the depth), the strings each
 * frame keeps, the events that report on them, and the end of a part.
 *
 * Entry points (mime_int.h):
 *   st_mime_push, st_mime_ensure_frame   a frame on top of the stack (frames
 *                          0..nfr exist: one spare, so that pushing after a
 *                          pop allocates nothing); popping is part of
 *   st_mime_part_end       the innermost entity of a level ends: decoder
 *                          flushed, nested level finished, PART_END, pop;
 *   st_mime_fstr_add, st_mime_set_path   a frame's strings, in one buffer
 *                          per frame, addressed by offset (it may move);
 *   st_mime_frame_release  what a frame owns, given back;
 *   st_mime_anomaly, st_mime_anomaly_n, st_mime_emit, st_mime_excerpt
 *                          events to the callback, and printable excerpts
 *                          of wire bytes for anomaly details.
 *
 * Limits: max_depth + 1 frames (fr_cap); a path is cut at PATH_CAP - 1
 * bytes (flag ST_MIME_PF_ATTR_TRUNCATED); an excerpt at 159 bytes, an
 * anomaly_n detail at 95.
 *
 * How it fails: st_mime_push returns NULL (out of memory, or all fr_cap
 * frames in use) and st_mime_fstr_add NONE (out of memory, with anomaly
 * out_of_memory); callers degrade.
 *
 * Not handled: anything about a part's content; events are passed to the
 * callback as they come (no queue, no filtering).
 */
#include "mime/mime_int.h"

#include <stdio.h>
#include <string.h>

#define PATH_CAP 1024

/* ------------------------------------------------------------ events */

/* An ANOMALY event of f (NULL: no part); detail NUL-terminated or NULL. */
void st_mime_anomaly(st_mime *p, struct frame *f, const char *name, const char *detail)
{
    st_mime_event ev = {.type = ST_MIME_EV_ANOMALY, .part = f ? &f->pub : NULL, .name = name};
    if (detail) {
        ev.value = (const uint8_t *)detail;
        ev.value_len = strlen(detail);
    }
    p->fn(p->ctx, &ev);
}

/* An anomaly whose detail is fmt with one number. */
void st_mime_anomaly_n(st_mime *p, struct frame *f, const char *name, const char *fmt,
                       unsigned long long n)
{
    char buf[96];
    snprintf(buf, sizeof buf, fmt, n);
    st_mime_anomaly(p, f, name, buf);
}

/* Detail text from wire bytes: printable ASCII kept, the rest as '?'. */
const char *st_mime_excerpt(st_mime *p, const uint8_t *s, size_t n)
{
    size_t i = 0;
    for (; i < n && i < sizeof p->tmp - 1; i++)
        p->tmp[i] = (s[i] >= 32 && s[i] < 127) ? (char)s[i] : '?';
    p->tmp[i] = 0;
    return p->tmp;
}

/* An event with no other data than the part (PART_BEGIN, PART_END). */
void st_mime_emit(st_mime *p, st_mime_ev_type t, struct frame *f)
{
    st_mime_event ev = {.type = t, .part = &f->pub};
    p->fn(p->ctx, &ev);
}

/* ------------------------------------------------------------ frame strings */

/* Room for a string of n bytes (NUL-terminated) among f's strings: its
 * offset, or NONE when out of memory (anomaly; the attribute is dropped). */
static uint32_t fstr_new(st_mime *p, struct frame *f, size_t n)
{
    size_t need = f->slen + n + 1;
    if (need > f->scap) {
        size_t cap = f->scap ? f->scap * 2 : 64;
        while (cap < need)
            cap *= 2;
        char *q = st_mime_mem_resize(p, f->s, f->scap, cap);
        if (!q) {
            st_mime_anomaly(p, f, "out_of_memory", "part attribute dropped");
            return NONE;
        }
        f->s = q;
        f->scap = cap;
        if (f->o_path != NONE) /* the only string published before PART_BEGIN */
            f->pub.path = f->s + f->o_path;
    }
    uint32_t o = (uint32_t)f->slen;
    f->s[o + n] = 0;
    f->slen = need;
    return o;
}

/* v[n] kept among f's strings: its offset, or NONE (out of memory). */
uint32_t st_mime_fstr_add(st_mime *p, struct frame *f, const void *v, size_t n)
{
    uint32_t o = fstr_new(p, f, n);
    if (o != NONE && n)
        memcpy(f->s + o, v, n);
    return o;
}

/* f's path: pp sep last, cut at PATH_CAP - 1 bytes (flag). pp is another
 * frame's string (never f's: its buffer may move). */
void st_mime_set_path(st_mime *p, struct frame *f, const char *pp, const char *sep,
                      const char *last)
{
    const char *piece[3] = {pp, sep, last};
    size_t n = strlen(pp) + strlen(sep) + strlen(last);
    if (n >= PATH_CAP) {
        n = PATH_CAP - 1;
        f->pub.flags |= ST_MIME_PF_ATTR_TRUNCATED;
    }
    uint32_t o = fstr_new(p, f, n);
    if (o == NONE) {
        f->pub.path = "";
        return;
    }
    char *d = f->s + o;
    for (int i = 0; i < 3 && n; i++) {
        size_t l = strlen(piece[i]);
        l = l < n ? l : n;
        memcpy(d, piece[i], l);
        d += l;
        n -= l;
    }
    f->o_path = o;
    f->pub.path = f->s + o;
}

/* What a frame owns beyond itself, given back when its part has ended. */
void st_mime_frame_release(st_mime *p, struct frame *f)
{
    st_mime_mem_resize(p, f->s, f->scap, 0);
    st_mime_mem_resize(p, f->qp, f->qp ? sizeof *f->qp : 0, 0);
    st_mime_mem_resize(p, f->uu, f->uu ? sizeof *f->uu : 0, 0);
    f->s = NULL;
    f->qp = NULL;
    f->uu = NULL;
    f->slen = f->scap = 0;
}

/* ------------------------------------------------------------ stack */

/* A frame at index nfr (allocated frames: indexes 0..nfr, one spare). */
int st_mime_ensure_frame(st_mime *p)
{
    if (p->nfr >= p->fr_cap)
        return 0;
    if (p->nfr >= p->fr_n) {
        unsigned n = p->fr_n ? p->fr_n * 2 : 4;
        n = n < p->fr_cap ? n : p->fr_cap;
        struct frame **q = st_mime_mem_resize(p, p->fr, p->fr_n * sizeof *q, n * sizeof *q);
        if (!q)
            return 0;
        memset(q + p->fr_n, 0, (n - p->fr_n) * sizeof *q);
        p->fr = q;
        p->fr_n = n;
    }
    if (!p->fr[p->nfr])
        p->fr[p->nfr] = st_mime_xalloc(p, sizeof(struct frame));
    return p->fr[p->nfr] != NULL;
}

/* A new entity of level `level` on top of the stack, all attributes unset;
 * NULL when out of memory or at the depth cap. */
struct frame *st_mime_push(st_mime *p, unsigned level, int parent_id, uint64_t off)
{
    if (!st_mime_ensure_frame(p))
        return NULL;
    struct frame *f = p->fr[p->nfr];
    memset(f, 0, sizeof *f);
    f->o_path = f->o_ctype = f->o_charset = f->o_boundary = f->o_boundary2 = NONE;
    f->o_disp = f->o_cte = f->o_cid = f->o_desc = NONE;
    f->pub.id = p->next_id++;
    f->pub.parent_id = parent_id;
    f->pub.depth = p->nfr;
    f->pub.msg_depth = level;
    f->pub.header_offset = off;
    f->level = level;
    p->nfr++;
    p->nparts++;
    return f;
}

/* The top frame's part has ended: it becomes the spare, the old spare goes. */
static void pop(st_mime *p)
{
    p->nfr--;
    st_mime_frame_release(p, p->fr[p->nfr]);
    if (p->nfr + 1 < p->fr_n && p->fr[p->nfr + 1]) {
        st_mime_mem_resize(p, p->fr[p->nfr + 1], sizeof(struct frame), 0);
        p->fr[p->nfr + 1] = NULL;
    }
}

/* ------------------------------------------------------------ part end */

/* A multipart ends: without its close delimiter, or without any part
 * (then its preamble, which its DATA was, is all it holds). */
static void multipart_end(st_mime *p, struct frame *f, int how)
{
    const char *b = st_mime_fstr(f, f->o_boundary);
    if (!f->nchild)
        f->pub.flags |= ST_MIME_PF_NO_PARTS;
    if (f->closed)
        return;
    f->pub.flags |= ST_MIME_PF_NO_FINAL_BOUNDARY;
    if (p->nosplit) /* too_many_parts said why */
        return;
    st_mime_anomaly(p, f,
                    !f->nchild         ? "boundary_not_found"
                    : how == END_OUTER ? "outer_boundary_closes_inner"
                                       : "missing_final_boundary",
                    b);
}

/* End the innermost entity of level k; its body ends at end_off (how:
 * END_NORMAL, END_OUTER for a multipart ended by an outer boundary, END_EOM
 * at the end of the stream). */
void st_mime_part_end(st_mime *p, unsigned k, int how, uint64_t end_off)
{
    struct level *L = p->lv[k];
    struct frame *f = st_mime_ltop(p, k);
    if (f->pub.kind == ST_MIME_MULTIPART) {
        L->nbound--;
        multipart_end(p, f, how);
        if (f->closed)
            end_off = f->close_off; /* the epilogue is not its body */
    } else {
        st_mime_decoder_finish(p, k, f);
        if (f->pub.kind == ST_MIME_MESSAGE && k + 1 < p->nlv)
            st_mime_level_finish(p, k + 1);
        st_mime_decoder_report(p, f);
    }
    f->pub.raw_size = end_off > f->pub.body_offset ? end_off - f->pub.body_offset : 0;
    st_mime_emit(p, ST_MIME_EV_PART_END, f);
    pop(p);
    st_mime_dbuf_shrink(p, L);
    if (!st_mime_ltop(p, k))
        L->state = L_DONE;
}
