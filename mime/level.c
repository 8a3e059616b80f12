/*
 * level.c - levels of the MIME parser: one byte stream each, parsed as a
 * message (level 0: the fed message; level k+1: the decoded body of the
 * message/... part open at level k).
 *
 * Entry points (mime_int.h):
 *   st_mime_ensure_level, st_mime_level_free   a level allocated or given
 *                              back (levels 0..nlv exist, one spare);
 *   st_mime_open_level         a level begins: its root entity is pushed in
 *                              header state;
 *   st_mime_level_feed         the driver: bytes go, by the level's state, to
 *                              the header block (headers.c), the boundary
 *                              scanner (scan.c) or straight to the part's
 *                              decoder (body.c); after the last part they
 *                              are only counted;
 *   st_mime_level_finish       end of the stream: every open part ends;
 *   st_mime_level_gap          bytes lost: counted in every open entity.
 *
 * Limits: at most max_msg_depth + 1 levels (lv_cap); the caller
 * (describe.c) makes sure the next level exists before a part becomes
 * message/.... Calls nest per level, not per part: data_out (body.c) feeds
 * level k+1 from inside level k's feed, and a header block's first body
 * line (headers.c, body_from_line) is fed to its level again from inside.
 *
 * How it fails: st_mime_ensure_level returns 0 when out of memory or past
 * the cap; nothing else fails.
 *
 * Not handled here: what a state does with its bytes (the files above).
 */
#include "mime/mime_int.h"

#include <string.h>

/* ------------------------------------------------------------ allocation */

/* Level k (allocated levels: 0..nlv, one spare). */
int st_mime_ensure_level(st_mime *p, unsigned k)
{
    if (k >= p->lv_cap)
        return 0;
    if (k >= p->lv_n) {
        unsigned n = p->lv_n ? p->lv_n * 2 : 2;
        n = n < p->lv_cap ? n : p->lv_cap;
        struct level **q = st_mime_mem_resize(p, p->lv, p->lv_n * sizeof *q, n * sizeof *q);
        if (!q)
            return 0;
        memset(q + p->lv_n, 0, (n - p->lv_n) * sizeof *q);
        p->lv = q;
        p->lv_n = n;
    }
    if (!p->lv[k]) {
        struct level *L = st_mime_xalloc(p, sizeof *L);
        if (!L)
            return 0;
        L->hold = L->hold_small;
        L->hold_cap = HOLD_MIN;
        L->dbuf = L->dbuf_small;
        L->dbuf_cap = DBUF_MIN;
        p->lv[k] = L;
    }
    return 1;
}

void st_mime_level_free(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    if (!L)
        return;
    L->hold_len = 0;
    st_mime_hold_shrink(p, L);
    st_mime_dbuf_shrink(p, L);
    st_mime_mem_resize(p, L, sizeof *L, 0);
    p->lv[k] = NULL;
}

/* A new level k whose root entity starts in header state. */
void st_mime_open_level(st_mime *p, unsigned k, int parent_id)
{
    struct level *L = p->lv[k];
    L->base = p->nfr;
    L->state = L_HEADERS;
    L->off = 0;
    L->nbound = 0;
    st_mime_scan_reset(p, L);
    p->nlv = k + 1;
    st_mime_push(p, k, parent_id, 0);
    st_mime_hdr_reset(p);
}

/* ------------------------------------------------------------ bytes */

/* Level k's next n stream bytes, to whatever its state makes of them. */
void st_mime_level_feed(st_mime *p, unsigned k, const uint8_t *d, size_t n)
{
    struct level *L = p->lv[k];
    while (n) {
        size_t used = n;
        if (L->state == L_HEADERS) {
            used = st_mime_hdr_consume(p, k, d, n);
        } else if (L->state == L_BODY && L->nbound && !p->nosplit) {
            used = st_mime_body_scan(p, k, d, n);
        } else {
            if (L->bol || L->held_cr)
                st_mime_flush_all(p, k);
            if (L->state == L_BODY)
                st_mime_deliver(p, k, d, n);
            L->off += n;
        }
        d += used;
        n -= used;
    }
}

/* End of level k's stream (k is the innermost level): end all its parts. */
void st_mime_level_finish(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    for (;;) {
        if (L->state == L_HEADERS) {
            st_mime_headers_eom(p, k);
            continue;
        }
        if (L->state == L_BODY && st_mime_body_eom(p, k))
            continue;
        if (!st_mime_ltop(p, k))
            break;
        st_mime_part_end(p, k, END_EOM, L->off);
    }
    p->nlv = k;
    if (k + 1 < p->lv_n)
        st_mime_level_free(p, k + 1); /* lv[k] is the spare now */
}

/* n bytes of level k's stream were lost: every open entity of the level
 * counts them; a header block skips the broken line, a body passes on what
 * it held and restarts its decoder, and the loss goes on to the message
 * level nested in the part, as an estimate of the decoded bytes lost. */
void st_mime_level_gap(st_mime *p, unsigned k, uint64_t n)
{
    struct level *L = p->lv[k];
    for (int i = st_mime_top_index(p, k); i >= (int)L->base; i--) {
        p->fr[i]->pub.missing += n;
        p->fr[i]->pub.flags |= ST_MIME_PF_GAP;
    }
    if (L->state == L_HEADERS) {
        st_mime_headers_gap(p, k, n);
    } else if (L->state == L_BODY) {
        st_mime_flush_all(p, k);
        L->bol = 0;
        struct frame *f = st_mime_ltop(p, k);
        if (f && f->pub.kind != ST_MIME_MULTIPART) {
            st_mime_sniff_end(p, k, f);
            uint64_t inner = st_mime_decoder_gap(f, n);
            if (f->pub.kind == ST_MIME_MESSAGE && k + 1 < p->nlv)
                st_mime_level_gap(p, k + 1, inner);
        }
    }
    L->off += n;
}
