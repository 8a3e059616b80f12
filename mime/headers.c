/*
 * headers.c - header blocks of the MIME parser: the lines of the innermost
 * level's block in progress collected, unfolded into fields, and at the end
 * of the block the fields reported and the body begun.
 *
 * The bytes of a block are copied into one buffer (p->hb) line by line; a
 * field is complete when the next line is neither a continuation nor the
 * line end of the block. A complete field is split into name (lower-cased)
 * and value (unfolded: the line end before a continuation is never stored,
 * its blank is; then blanks trimmed), interpreted at once if it is a
 * Content-* field (describe.c) and kept for its HEADER event. The events go
 * out when the block ends, after PART_BEGIN's description is complete.
 *
 * Entry points (mime_int.h): st_mime_hdr_consume (level.c feeds header
 * bytes, one line at most per call), st_mime_headers_eom (end of stream in
 * a block), st_mime_headers_gap (bytes lost in a block), st_mime_hdr_reset
 * (a new block: scan.c for a child of a multipart, level.c for a level).
 *
 * A block ends at the empty line; at a line that is no header field (the
 * body starts with it: anomaly missing_header_separator); at a boundary
 * line of an open multipart (anomaly boundary_in_headers, the part has no
 * body); at the end of the stream (headers_not_terminated). A first line
 * "From " of the top-level message is skipped (mbox_from_line).
 *
 * Limits: max_header_bytes raw bytes per block (line ends included): the
 * field being read is cut, the rest of the block is scanned, one line of
 * at most max_line bytes at a time, for its empty line or a boundary
 * (header_too_large), and the fields that matter (From, To, Cc, Reply-To,
 * Subject, Date, Message-ID, In-Reply-To, MIME-Version, Content-*) are
 * still read wherever they stand, up to ST_MIME_KEEP_OVER more bytes
 * (Received ones, for the path, up to ST_MIME_KEEP_RECV more, apart): a
 * padded block (60 KB of Received lines) must not hide whom a message is
 * for or what its parts are; max_headers fields get HEADER events (later
 * ones are still interpreted: too_many_headers), and ST_MIME_KEEP_FIELDS
 * more of the fields that matter do. The buffer grows by doubling up to
 * hb_max and is given back at the end of every block.
 *
 * How it fails: never. Out of memory is handled like a full block (anomaly
 * out_of_memory) or drops the one field or first body line concerned.
 *
 * Not handled: header fields are not decoded (RFC 2047 words, charsets:
 * mailhdr/ does that for the layers above); obsolete syntax beyond
 * "name<blanks>:" is a malformed header; a continuation line is only
 * checked for being one (a blank first), not for its content.
 */
#include "mime/mime_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ buffer */

/* Room for need bytes in hb (grown by doubling, up to hb_max). */
static int reserve_hb(st_mime *p, size_t need)
{
    if (need <= p->hb_cap)
        return 1;
    if (need > p->hb_max)
        return 0;
    size_t cap = p->hb_cap ? p->hb_cap * 2 : 256;
    if (cap < need)
        cap = need;
    if (cap > p->hb_max)
        cap = p->hb_max;
    uint8_t *q = st_mime_mem_resize(p, p->hb, p->hb_cap, cap);
    if (!q)
        return 0;
    p->hb = q;
    p->hb_cap = cap;
    return 1;
}

/* A new header block: empty, its buffers given back. */
void st_mime_hdr_reset(st_mime *p)
{
    p->hb_len = p->nfld = p->field_start = p->line_start = 0;
    p->hdr_total = 0;
    p->at_bol = 1;
    p->cont = p->field_open = p->discard = p->dlong = p->skip_line = 0;
    p->kept_over = 0;
    /* a body usually follows: the block's buffers go until the next block */
    p->hb = st_mime_mem_resize(p, p->hb, p->hb_cap, 0);
    p->fld = st_mime_mem_resize(p, p->fld, p->fld_cap * sizeof *p->fld, 0);
    p->hb_cap = p->fld_cap = 0;
}

/* ------------------------------------------------------------ header block */

static int is_ftext(uint8_t c)
{
    return c > 32 && c < 127 && c != ':';
}

static int is_header_line(const uint8_t *l, size_t n)
{
    size_t i = 0;
    while (i < n && is_ftext(l[i]))
        i++;
    if (i == 0)
        return 0;
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    return i < n && l[i] == ':';
}

static int blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int matters(const uint8_t *l, size_t n);

/* Room for one more field in fld (at most max_headers); 0 when out of
 * memory (anomaly: the field is dropped). */
static int fld_grow(st_mime *p, struct frame *f)
{
    size_t cap = p->fld_cap ? p->fld_cap * 2 : 8;
    if (cap > p->lim.max_headers + ST_MIME_KEEP_FIELDS)
        cap = p->lim.max_headers + ST_MIME_KEEP_FIELDS;
    struct hfield *q = realloc(p->fld, cap * sizeof *q);
    if (!q) {
        st_mime_anomaly(p, f, "out_of_memory", "header field dropped");
        return 0;
    }
    p->mem += (cap - p->fld_cap) * sizeof *q;
    p->fld = q;
    p->fld_cap = cap;
    return 1;
}

/* The open field is complete (it is always at the end of hb). */
static void field_done(st_mime *p, unsigned k)
{
    struct frame *f = st_mime_ltop(p, k);
    uint8_t *s = p->hb + p->field_start;
    size_t len = p->hb_len - p->field_start, i = 0;
    p->field_open = 0;
    while (i < len && is_ftext(s[i]))
        i++;
    size_t nl = i;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (nl == 0 || i >= len || s[i] != ':') {
        st_mime_anomaly(p, f, "malformed_header", st_mime_excerpt(p, s, len));
        p->hb_len = p->field_start;
        return;
    }
    int kind = matters(s, len); /* before the name is cut off with a NUL */
    for (size_t j = 0; j < nl; j++)
        if (s[j] >= 'A' && s[j] <= 'Z')
            s[j] = (uint8_t)(s[j] + 32);
    s[nl] = 0;
    size_t v0 = i + 1, v1 = len;
    while (v0 < v1 && blank(s[v0]))
        v0++;
    while (v1 > v0 && blank(s[v1 - 1]))
        v1--;
    f->pub.nheaders++;
    st_mime_interpret(p, f, (const char *)s, s + v0, v1 - v0);
    if (f->pub.nheaders > p->lim.max_headers) {
        if (!(f->pub.flags & ST_MIME_PF_TOO_MANY_HEADERS)) {
            f->pub.flags |= ST_MIME_PF_TOO_MANY_HEADERS;
            st_mime_anomaly_n(p, f, "too_many_headers", "more than %llu", p->lim.max_headers);
        }
        /* padding with fields must not hide whom the message is for either */
        if (kind != 1 || p->nfld >= p->lim.max_headers + ST_MIME_KEEP_FIELDS) {
            p->hb_len = p->field_start;
            return;
        }
    }
    if (p->nfld == p->fld_cap && !fld_grow(p, f)) {
        p->hb_len = p->field_start;
        return;
    }
    s[v1] = 0; /* hb always keeps a spare byte after hb_len */
    p->fld[p->nfld++] = (struct hfield){p->field_start, p->field_start + v0, v1 - v0};
    p->hb_len = p->field_start + v1 + 1;
}

/* Level k's innermost entity f is described: its body begins. */
static void level_begin_body(st_mime *p, unsigned k, struct frame *f)
{
    struct level *L = p->lv[k];
    L->state = L_BODY;
    st_mime_scan_reset(p, L);
    if (f->pub.kind == ST_MIME_MULTIPART)
        L->nbound++;
    else if (f->pub.kind == ST_MIME_MESSAGE)
        st_mime_open_level(p, k + 1, (int)f->pub.id);
}

/* The header block of level k's innermost entity is over: report it. */
static void end_headers(st_mime *p, unsigned k, uint64_t body_off)
{
    struct frame *f = st_mime_ltop(p, k);
    if (p->field_open)
        field_done(p, k);
    st_mime_describe(p, k, f);
    f->pub.body_offset = body_off;
    for (size_t i = 0; i < p->nfld; i++) {
        const struct hfield *h = &p->fld[i];
        st_mime_event ev = {.type = ST_MIME_EV_HEADER,
                            .part = &f->pub,
                            .name = (const char *)p->hb + h->name,
                            .value = p->hb + h->val,
                            .value_len = h->vlen};
        p->fn(p->ctx, &ev);
    }
    st_mime_emit(p, ST_MIME_EV_PART_BEGIN, f);
    st_mime_hdr_reset(p);
    level_begin_body(p, k, f);
}

/* ------------------------------------------------------------ header lines */

/* A header line begins with byte c at stream offset off. */
static void begin_line(st_mime *p, unsigned k, uint8_t c, uint64_t off)
{
    p->at_bol = 0;
    p->line_off = off;
    if (p->skip_line)
        return;
    p->dlong = 0;
    p->line_start = p->hb_len;
    p->cont = (c == ' ' || c == '\t');
    if (p->cont)
        return;
    if (p->field_open)
        field_done(p, k); /* past the cap too: a field kept there is complete */
    p->line_start = p->hb_len;
    if (!p->discard)
        p->field_start = p->hb_len;
}

/* The header block went over its limit (or memory): the field in progress
 * is reported cut, the rest of the block is only scanned for its end. */
static void hdr_overflow(st_mime *p, unsigned k, const char *why)
{
    struct frame *f = st_mime_ltop(p, k);
    f->pub.flags |= ST_MIME_PF_HEADER_TRUNCATED;
    st_mime_anomaly_n(p, f, why, "header block over %llu bytes", p->lim.max_header_bytes);
    if (p->cont) {
        if (!p->field_open)
            p->hb_len = p->line_start;
    } else if (is_header_line(p->hb + p->line_start, p->hb_len - p->line_start)) {
        p->field_open = 1;
    } else {
        p->hb_len = p->line_start;
    }
    if (p->field_open)
        field_done(p, k);
    p->line_start = p->hb_len;
    p->discard = 1;
    p->dlong = 1;
}

/* d[0..take) is all the current line holds so far but its end: CR, LF
 * (an empty line, or the line end of one kept whole up to the cap). */
static int line_end_only(const st_mime *p, const uint8_t *d, size_t take)
{
    size_t have = p->hb_len - p->line_start;
    if (have > 1 || (have == 1 && p->hb[p->line_start] != '\r') || take > 2 - have)
        return 0;
    for (size_t i = 0; i < take; i++)
        if (d[i] != '\r' && d[i] != '\n')
            return 0;
    return 1;
}

/* take bytes of the current line, kept within max_header_bytes (while
 * skipping, within max_line: enough to see an empty or boundary line). */
static void hdr_append(st_mime *p, unsigned k, const uint8_t *d, size_t take)
{
    uint64_t used = p->hdr_total;
    p->hdr_total += take;
    if (p->skip_line)
        return;
    if (p->discard) {
        size_t have = p->hb_len - p->line_start, room = p->lim.max_line + 1 - have;
        if (have > p->lim.max_line)
            room = 0;
        if (take > room)
            take = room, p->dlong = 1;
        if (take && reserve_hb(p, p->hb_len + take + 2)) {
            memcpy(p->hb + p->hb_len, d, take);
            p->hb_len += take;
        } else if (take && !line_end_only(p, d, take)) {
            p->dlong = 1; /* no room to look at it: it is no empty line, whatever it is */
        }
        return;
    }
    size_t room = used < p->lim.max_header_bytes ? p->lim.max_header_bytes - used : 0;
    if (line_end_only(p, d, take))
        room = take; /* the empty line that ends the block is not its content */
    size_t c = take < room ? take : room;
    if (!reserve_hb(p, p->hb_len + c + 2)) {
        hdr_overflow(p, k, "out_of_memory");
        return;
    }
    memcpy(p->hb + p->hb_len, d, c);
    p->hb_len += c;
    if (c < take)
        hdr_overflow(p, k, "header_too_large");
}

/* A boundary line inside a header block: the block, then the part end. */
static void headers_boundary(st_mime *p, unsigned k, unsigned fi, int m)
{
    struct frame *f = st_mime_ltop(p, k);
    uint64_t line_off = p->line_off, next = p->lv[k]->off;
    f->pub.flags |= ST_MIME_PF_NO_HEADER_END;
    st_mime_anomaly(p, f, "boundary_in_headers", NULL);
    end_headers(p, k, line_off);
    st_mime_boundary_hit(p, k, fi, m, line_off, next);
}

/* A line that is no header: the body starts with it (like Python's email
 * package), so that content is not lost when the empty line is missing. */
static void body_from_line(st_mime *p, unsigned k, const uint8_t *l, size_t n, int cr, int lf)
{
    uint64_t line_off = p->line_off;
    size_t rl = n + (size_t)cr + (size_t)lf;
    int fits = rl <= p->lim.max_line + 2;
    uint8_t *r = fits ? st_mime_mem_resize(p, NULL, 0, rl) : NULL; /* hb is reused by the body */
    if (r) {
        memcpy(r, l, n);
        if (cr)
            r[n] = '\r';
        if (lf)
            r[n + (size_t)cr] = '\n';
    }
    st_mime_anomaly(p, st_mime_ltop(p, k), "missing_header_separator",
                    r      ? st_mime_excerpt(p, l, n)
                    : fits ? "first body line dropped: out of memory"
                           : "over-long first body line dropped");
    p->hb_len = p->line_start;
    end_headers(p, k, line_off);
    if (r) {
        p->lv[k]->off = line_off;
        st_mime_level_feed(p, k, r, rl);
        st_mime_mem_resize(p, r, rl, 0);
    }
}

/* Past the cap, the fields that say whom a message is for and what its
 * parts are are still read. */
/* 1 for a field that matters (who the message is for, what its parts
 * are), 2 for Received (the path), 0 for any other. */
static int matters(const uint8_t *l, size_t n)
{
    static const char *const names[] = {"from",         "to",       "cc",         "reply-to",
                                        "subject",      "date",     "message-id", "in-reply-to",
                                        "mime-version", "content-", "received"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t nl = strlen(names[i]);
        if (n > nl && strncasecmp((const char *)l, names[i], nl) == 0 &&
            (names[i][nl - 1] == '-' || l[nl] == ':' || l[nl] == ' ' || l[nl] == '\t'))
            return i + 1 == sizeof names / sizeof *names ? 2 : 1;
    }
    return 0;
}

/* A line past the cap that is kept, as a field of this kind or its
 * continuation; 0 when the budget for them is spent. Received lines have
 * a budget of their own: padding made of them must not spend the one of
 * the fields that say whom the message is for. */
static int keep_over(st_mime *p, size_t n, int kind)
{
    size_t *used = kind == 2 ? &p->kept_recv : &p->kept_over;
    size_t cap = kind == 2 ? ST_MIME_KEEP_RECV : ST_MIME_KEEP_OVER;
    if (!kind || *used + n + 1 > cap)
        return 0;
    *used += n + 1;
    return 1;
}

/* A line of a block whose rest is skipped ended (l[n]: its start, CR
 * dropped): the empty line or a boundary line ends the block; a field
 * that matters (and its continuations) is kept. */
static void discarded_line_end(st_mime *p, unsigned k, const uint8_t *l, size_t n)
{
    unsigned fi;
    int m;
    if (!p->dlong && n && p->cont && p->field_open && keep_over(p, n, p->over_kind))
        return; /* a continuation of a field kept: it stays in hb */
    p->hb_len = p->line_start;
    if (p->dlong) {
        if (p->field_open) /* a continuation too long to keep: the field ends before it */
            field_done(p, k);
        return;
    }
    if (n == 0) {
        end_headers(p, k, p->lv[k]->off);
    } else if ((m = st_mime_match_line(p, k, l, n, &fi))) {
        headers_boundary(p, k, fi, m);
    } else if (!p->cont && is_header_line(l, n) && keep_over(p, n, matters(l, n))) {
        p->hb_len = p->line_start + n; /* kept: field_done at the next field or the end */
        p->field_start = p->line_start;
        p->field_open = 1;
        p->over_kind = matters(l, n);
    }
}

/* A header line ended (lf: by a line feed; 0 at the end of the stream). */
static void hdr_line_end(st_mime *p, unsigned k, int lf)
{
    struct frame *f = st_mime_ltop(p, k);
    unsigned fi;
    int m;
    p->at_bol = 1;
    if (p->skip_line) {
        p->skip_line = 0;
        return;
    }
    uint8_t *l = p->hb + p->line_start;
    size_t n = p->hb_len - p->line_start;
    int cr = n && l[n - 1] == '\r';
    if (cr)
        n--, p->hb_len--;
    if (p->discard) {
        discarded_line_end(p, k, l, n);
        return;
    }
    if (p->cont) {
        if (!p->field_open) {
            st_mime_anomaly(p, f, "orphan_continuation", st_mime_excerpt(p, l, n));
            p->hb_len = p->line_start;
        }
        return;
    }
    if (n == 0) {
        end_headers(p, k, p->lv[k]->off);
    } else if ((m = st_mime_match_line(p, k, l, n, &fi))) {
        p->hb_len = p->line_start;
        headers_boundary(p, k, fi, m);
    } else if (is_header_line(l, n)) {
        p->field_open = 1;
    } else if (k == 0 && f->pub.id == 0 && p->line_off == 0 && n >= 5 && !memcmp(l, "From ", 5)) {
        st_mime_anomaly(p, f, "mbox_from_line", st_mime_excerpt(p, l, n));
        p->hb_len = p->line_start;
    } else {
        body_from_line(p, k, l, n, cr, lf);
    }
}

/* ------------------------------------------------------------ entry points */

/* Header bytes of level k: up to the end of the first line in d[n] (or all
 * of d); returns how many were used. The rest may be body. */
size_t st_mime_hdr_consume(st_mime *p, unsigned k, const uint8_t *d, size_t n)
{
    struct level *L = p->lv[k];
    uint64_t base = L->off;
    if (p->at_bol)
        begin_line(p, k, d[0], base);
    const uint8_t *nl = memchr(d, '\n', n);
    size_t take = nl ? (size_t)(nl - d) : n;
    hdr_append(p, k, d, take);
    if (!nl) {
        L->off = base + n;
        return n;
    }
    L->off = base + take + 1;
    if (++p->hdr_total > p->lim.max_header_bytes && !p->discard && !p->skip_line &&
        !line_end_only(p, d, 0))
        hdr_overflow(p, k, "header_too_large"); /* its line end is one byte too many */
    hdr_line_end(p, k, 1);
    return take + 1;
}

/* End of stream inside a header block. */
void st_mime_headers_eom(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    if (!p->at_bol) {
        hdr_line_end(p, k, 0);
        if (L->state != L_HEADERS)
            return;
    }
    struct frame *f = st_mime_ltop(p, k);
    if (p->hdr_total) {
        f->pub.flags |= ST_MIME_PF_NO_HEADER_END;
        st_mime_anomaly(p, f, "headers_not_terminated", NULL);
    }
    end_headers(p, k, L->off);
}

/* n bytes of level k were lost inside its header block (the entities have
 * counted them): the line in progress is broken, and so is the line the
 * gap ends in, which is skipped up to its line feed. */
void st_mime_headers_gap(st_mime *p, unsigned k, uint64_t n)
{
    st_mime_anomaly_n(p, st_mime_ltop(p, k), "gap_in_headers", "%llu bytes lost", n);
    if (!p->at_bol && !p->skip_line)
        p->hb_len = p->line_start; /* the line in progress is broken */
    p->at_bol = 0;
    p->skip_line = 1;
}
