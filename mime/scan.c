/*
 * scan.c - body lines of a level with open multiparts: boundary lines are
 * found and end or start parts; all other bytes go on to the part's decoder
 * (body.c) in runs, without copying.
 *
 * A boundary line belongs to the multipart with its line end before it
 * (RFC 2046 5.1.1): the scanner holds back a line end followed by "-",
 * then the line if it starts with "--", in the level's hold buffer, until
 * the line is known to be a boundary or not; a CR that ends an input is held
 * until the next byte tells whether it is half a CRLF. So every split of
 * the input gives the same DATA bytes. Lines are matched (st_mime_match_line,
 * using boundary.c) against the open multiparts of the level, innermost
 * first; a boundary of an outer one ends the inner ones.
 *
 * Entry points (mime_int.h): st_mime_body_scan (level.c: body bytes, up to
 * a boundary line at most per call), st_mime_body_eom (end of stream: a
 * held boundary line without line end still counts), st_mime_match_line and
 * st_mime_boundary_hit (also used by headers.c for a boundary line in a
 * header block), st_mime_flush_all, st_mime_scan_reset, st_mime_hold_shrink.
 *
 * Limits: a line longer than max_line (its CR counted) is never a boundary
 * and is not held; the hold buffer is HOLD_MIN bytes inside the level, on
 * the heap up to max_line + 4 only while a longer candidate line is held.
 * At the boundary that would open entity max_parts + 1 splitting stops for
 * the whole message (anomaly too_many_parts, p->nosplit).
 *
 * How it fails: never. Out of memory for the hold buffer, the line is passed
 * on unchecked (anomaly out_of_memory); for a child's frame, the child is
 * dropped (its bytes are the multipart's, i.e. nobody's).
 *
 * Ambiguous structures (mime.h): a multipart has up to two boundaries
 * (match_frame); multiparts past their close delimiter are matched after
 * the open ones, so that a line of an enclosing multipart ends them and
 * only a line of their own opens a part after the close
 * (part_after_final_boundary).
 *
 * Not handled: each level has its own boundaries. A line of an embedded
 * message (level k+1) is matched against its own multiparts only; those of
 * level k were looked for in the undecoded bytes of the message part. The
 * epilogue of a multipart is dropped (body.c gives the preamble as the
 * multipart's DATA), only scanned for boundary lines.
 */
#include "mime/mime_int.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ hold buffer */

/* Room for need held bytes (at most max_line + 4). */
static int hold_room(st_mime *p, struct level *L, size_t need)
{
    if (need <= L->hold_cap)
        return 1;
    size_t cap = L->hold_cap * 2, max = p->lim.max_line + 4;
    while (cap < need)
        cap *= 2;
    cap = cap < max ? cap : max;
    if (need > cap)
        return 0;
    int small = L->hold == L->hold_small;
    uint8_t *q = st_mime_mem_resize(p, small ? NULL : L->hold, small ? 0 : L->hold_cap, cap);
    if (!q)
        return 0;
    if (small)
        memcpy(q, L->hold_small, L->hold_len);
    L->hold = q;
    L->hold_cap = cap;
    return 1;
}

/* Back to the small buffers once the bytes in the big ones are used. */
void st_mime_hold_shrink(st_mime *p, struct level *L)
{
    if (L->hold != L->hold_small && L->hold_len == 0) {
        st_mime_mem_resize(p, L->hold, L->hold_cap, 0);
        L->hold = L->hold_small;
        L->hold_cap = HOLD_MIN;
    }
}

/* A line begins (body start, after a boundary): nothing held. */
void st_mime_scan_reset(st_mime *p, struct level *L)
{
    L->bol = 1;
    L->held_cr = 0;
    L->hold_len = L->hold_eol = 0;
    st_mime_hold_shrink(p, L);
}

/* ------------------------------------------------------------ boundaries */

/* Is line[n] a delimiter of multipart f (either of its boundaries)? */
static int match_frame(const struct frame *f, const uint8_t *line, size_t n)
{
    int m =
        st_mime_boundary_match(line, n, (const uint8_t *)st_mime_fstr(f, f->o_boundary), f->blen);
    if (m == ST_MIME_BD_NONE && f->blen2)
        m = st_mime_boundary_match(line, n, (const uint8_t *)st_mime_fstr(f, f->o_boundary2),
                                   f->blen2);
    return m;
}

/* The innermost multipart of level k that line[n] delimits, those still
 * open first, then those past their close delimiter (a line of an open
 * one ends a closed one inside it); -1 when none. */
static int match_index(st_mime *p, unsigned k, const uint8_t *line, size_t n, int *m)
{
    struct level *L = p->lv[k];
    for (int closed = 0; closed < 2; closed++) {
        for (int i = st_mime_top_index(p, k); i >= (int)L->base; i--) {
            struct frame *f = p->fr[i];
            if (f->pub.kind != ST_MIME_MULTIPART || f->closed != closed)
                continue;
            if ((*m = match_frame(f, line, n)) != ST_MIME_BD_NONE)
                return i;
        }
    }
    return -1;
}

/* Is line[n] a boundary of an open multipart of level k? */
int st_mime_match_line(st_mime *p, unsigned k, const uint8_t *line, size_t n, unsigned *fi)
{
    struct level *L = p->lv[k];
    int m = ST_MIME_BD_NONE;
    if (p->nosplit || !L->nbound || n < 3 || line[0] != '-' || line[1] != '-')
        return ST_MIME_BD_NONE;
    int i = match_index(p, k, line, n, &m);
    if (i < 0)
        return ST_MIME_BD_NONE;
    if (m == ST_MIME_BD_DELIM && p->nparts >= p->lim.max_parts) {
        struct frame *t = st_mime_ltop(p, k);
        p->nosplit = 1;
        t->pub.flags |= ST_MIME_PF_PARTS_LIMIT;
        st_mime_anomaly_n(p, t, "too_many_parts", "more than %llu; rest not split",
                          p->lim.max_parts);
        return ST_MIME_BD_NONE;
    }
    *fi = (unsigned)i;
    return m;
}

/* The close delimiter of mp: its parts are over, the epilogue follows.
 * It stays open (so that a part after it is seen) until a line of an
 * enclosing multipart or the end of the stream ends it. */
static void close_multipart(st_mime *p, struct frame *mp, uint64_t end_off)
{
    if (mp->closed)
        return;
    mp->closed = 1;
    mp->close_off = end_off;
    if (!mp->nchild)
        st_mime_anomaly(p, mp, "multipart_without_parts", st_mime_fstr(mp, mp->o_boundary));
}

/* A boundary line of frame fi: the body before it ends at end_off (its line
 * end excluded), the next line starts at next_off. */
void st_mime_boundary_hit(st_mime *p, unsigned k, unsigned fi, int m, uint64_t end_off,
                          uint64_t next_off)
{
    struct level *L = p->lv[k];
    while (st_mime_top_index(p, k) > (int)fi) {
        struct frame *t = st_mime_ltop(p, k);
        st_mime_part_end(p, k, t->pub.kind == ST_MIME_MULTIPART ? END_OUTER : END_NORMAL, end_off);
    }
    st_mime_scan_reset(p, L);
    L->state = L_BODY;
    struct frame *mp = p->fr[fi];
    if (m == ST_MIME_BD_CLOSE) {
        close_multipart(p, mp, end_off);
        return;
    }
    if (mp->closed) /* RFC 2046: epilogue; a lenient reader shows it as a part */
        st_mime_anomaly(p, mp, "part_after_final_boundary", st_mime_fstr(mp, mp->o_boundary));
    mp->nchild++;
    struct frame *c = st_mime_push(p, k, (int)mp->pub.id, next_off);
    if (!c) {
        st_mime_anomaly(p, mp, "out_of_memory", "part dropped");
        return;
    }
    char num[16];
    snprintf(num, sizeof num, "%u", mp->nchild);
    st_mime_set_path(p, c, st_mime_fpath(mp), st_mime_fpath(mp)[0] ? "." : "", num);
    c->digest_child = mp->digest;
    L->state = L_HEADERS;
    st_mime_hdr_reset(p);
}

/* ------------------------------------------------------------ body lines */

/* Pass the held bytes on as body; a CR ending them stays held. */
static void flush_hold(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    size_t h = L->hold_len;
    int cr = h > L->hold_eol && L->hold[h - 1] == '\r';
    L->bol = 0;
    if (!h)
        return; /* keeps a held CR of the middle of a line */
    L->hold_len = L->hold_eol = 0;
    st_mime_deliver(p, k, L->hold, h - (size_t)cr);
    L->held_cr = cr;
    st_mime_hold_shrink(p, L);
}

/* Pass on everything held, a held CR too (end of the scanned stretch). */
void st_mime_flush_all(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    flush_hold(p, k);
    if (L->held_cr)
        st_mime_deliver(p, k, (const uint8_t *)"\r", 1);
    L->held_cr = 0;
}

/* Room to hold need bytes of level k; out of memory, the line is passed on
 * unchecked (anomaly). */
static int hold_more(st_mime *p, unsigned k, size_t need)
{
    if (hold_room(p, p->lv[k], need))
        return 1;
    st_mime_anomaly(p, st_mime_ltop(p, k), "out_of_memory", "line not checked for a boundary");
    return 0;
}

/* A line starting with "-" is being collected after its preceding line end. */
static size_t bol_collect(st_mime *p, unsigned k, const uint8_t *d, size_t n)
{
    struct level *L = p->lv[k];
    uint64_t base = L->off;
    size_t have = L->hold_len - L->hold_eol, i = 0;
    while (have < 2 && i < n) {
        if (d[i] != '-')
            goto not_boundary;
        L->hold[L->hold_len++] = '-';
        have++;
        i++;
    }
    if (have < 2) {
        L->off = base + i;
        return i;
    }
    const uint8_t *nl = memchr(d + i, '\n', n - i);
    size_t take = nl ? (size_t)(nl - (d + i)) : n - i;
    if (have + take > p->lim.max_line || !hold_more(p, k, L->hold_len + take))
        goto not_boundary;
    memcpy(L->hold + L->hold_len, d + i, take);
    L->hold_len += take;
    i += take;
    if (!nl) {
        L->off = base + i;
        return i;
    }
    unsigned fi;
    int m = st_mime_match_line(p, k, L->hold + L->hold_eol, L->hold_len - L->hold_eol, &fi);
    if (m) {
        uint64_t end_off = base + i - L->hold_len;
        L->hold_len = L->hold_eol = 0;
        L->off = base + i + 1;
        st_mime_boundary_hit(p, k, fi, m, end_off, base + i + 1);
        return i + 1;
    }
not_boundary:
    flush_hold(p, k);
    L->off = base + i;
    return i;
}

/* Keep d[cut..n) (a line end and maybe the start of a "--" line). */
static size_t hold_tail(st_mime *p, unsigned k, const uint8_t *d, size_t run, size_t cut, size_t n,
                        size_t eol, uint64_t base)
{
    struct level *L = p->lv[k];
    st_mime_deliver(p, k, d + run, cut - run);
    if (!hold_more(p, k, n - cut)) {
        L->held_cr = d[n - 1] == '\r';
        st_mime_deliver(p, k, d + cut, n - cut - (size_t)L->held_cr);
        L->off = base + n;
        return n;
    }
    memcpy(L->hold, d + cut, n - cut);
    L->hold_len = n - cut;
    L->hold_eol = eol;
    L->bol = 1;
    L->off = base + n;
    return n;
}

/* The last input ended in a CR and c follows: a LF makes them a line end,
 * held like any other (1: c is used), anything else makes the CR body. */
static int held_cr_ends_line(st_mime *p, unsigned k, uint8_t c, uint64_t base)
{
    struct level *L = p->lv[k];
    L->held_cr = 0;
    if (c == '\n') {
        L->hold[0] = '\r';
        L->hold[1] = '\n';
        L->hold_len = L->hold_eol = 2;
        L->bol = 1;
        L->off = base + 1;
        return 1;
    }
    st_mime_deliver(p, k, (const uint8_t *)"\r", 1);
    return 0;
}

/* Body bytes of a level with open multiparts: find boundary lines. */
size_t st_mime_body_scan(st_mime *p, unsigned k, const uint8_t *d, size_t n)
{
    struct level *L = p->lv[k];
    uint64_t base = L->off;
    size_t i = 0, run = 0, max = p->lim.max_line;
    if (L->bol)
        return bol_collect(p, k, d, n);
    if (L->held_cr && held_cr_ends_line(p, k, d[0], base))
        return 1;
    for (;;) {
        const uint8_t *nl = memchr(d + i, '\n', n - i);
        if (!nl) {
            size_t end = n;
            if (d[n - 1] == '\r' && n - 1 >= run)
                end = n - 1, L->held_cr = 1;
            st_mime_deliver(p, k, d + run, end - run);
            L->off = base + n;
            return n;
        }
        size_t j = (size_t)(nl - d), next = j + 1;
        size_t eol = (j > run && d[j - 1] == '\r') ? 2 : 1, cut = next - eol;
        if (next == n || (d[next] == '-' && next + 1 == n))
            return hold_tail(p, k, d, run, cut, n, eol, base);
        if (d[next] != '-' || d[next + 1] != '-') {
            i = next;
            continue;
        }
        size_t lim = n - next > max + 1 ? max + 1 : n - next;
        const uint8_t *nl2 = memchr(d + next, '\n', lim);
        if (!nl2) {
            if (n - next > max) {
                i = next + lim;
                continue;
            }
            return hold_tail(p, k, d, run, cut, n, eol, base);
        }
        size_t e = (size_t)(nl2 - d);
        st_mime_deliver(p, k, d + run, cut - run);
        run = cut;
        unsigned fi;
        int m = st_mime_match_line(p, k, d + next, e - next, &fi);
        if (m) {
            L->off = base + e + 1;
            st_mime_boundary_hit(p, k, fi, m, base + cut, base + e + 1);
            return e + 1;
        }
        i = e;
    }
}

/* End of stream in a body: a held "--b--" without line end still counts. */
int st_mime_body_eom(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    if (L->bol && L->hold_len > L->hold_eol) {
        unsigned fi;
        int m = st_mime_match_line(p, k, L->hold + L->hold_eol, L->hold_len - L->hold_eol, &fi);
        if (m) {
            uint64_t end_off = L->off - L->hold_len;
            L->hold_len = L->hold_eol = 0;
            st_mime_boundary_hit(p, k, fi, m, end_off, L->off);
            return 1;
        }
    }
    st_mime_flush_all(p, k);
    return 0;
}
