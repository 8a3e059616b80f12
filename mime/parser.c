/*
 * parser.c - the streaming MIME parser: header blocks, the boundary stack,
 * body delivery through the transfer decoders, encapsulated messages.
 *
 * Structure. A "level" (struct level) is one byte stream parsed as a
 * message: level 0 is the fed message, level k+1 the decoded body of the
 * message/... part open at level k. Entities (struct frame) form one explicit
 * stack, root first; each level owns a contiguous run of it, and the frame
 * index is the entity's depth. Only the innermost level can be inside a
 * header block, so one header buffer serves all levels.
 *
 * Body bytes of a level with open multiparts go through a line scanner that
 * holds back the line end before a line starting with "--" (it belongs to
 * the boundary if the line is one) and at most max_line bytes of that line.
 * Everything else is passed on in runs, without copying, to the decoder of
 * the innermost entity of the level.
 *
 * Memory. Thousands of messages may be open at once, so everything is sized
 * to what the message needs, not to the caps: frames and levels exist only
 * as deep as the message goes (plus one spare each), a frame's strings
 * (path, content type, parameters, Content-ID...) share one buffer grown to
 * fit, the hold and decoder buffers start small inside the level and grow
 * up to max_line + 4 and DBUF only for a line or a slice that needs it, and
 * large buffers are given back when the line, part or header block is over.
 *
 * How it fails: never; see mime.h. Every buffer has a cap; allocation
 * happens lazily up to the caps and a failure degrades like a limit.
 */
#include "mime/mime.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DSLICE       4096 /* input bytes decoded per call */
#define DBUF         (DSLICE + ST_QP_WS_MAX + 128)
#define DBUF_MIN     160 /* in the level: decoding always progresses, even out of memory */
#define HOLD_MIN     128 /* in the level: most boundary lines fit */
#define PARAM_SMALL  256 /* name= / filename= values up to this are parsed on the stack */
#define PATH_CAP     1024
#define CTYPE_CAP    128
#define TOKEN_CAP    64
#define FIELD_CAP    512 /* Content-ID, Content-Description */
#define BOUNDARY_CAP 256
#define NONE         UINT32_MAX /* no string */

enum { L_HEADERS, L_BODY, L_DONE };
enum { END_NORMAL, END_OUTER, END_EOM };

struct fparam {
    uint32_t val, cs, lang; /* offsets in the frame's strings */
    size_t len;
    unsigned flags; /* ST_MIME_PARAM_*; 0: absent */
};

struct frame {
    st_mime_part pub;
    unsigned level;
    unsigned nchild;
    size_t blen;
    int digest;       /* multipart/digest: children default to message/rfc822 */
    int digest_child; /* this entity is a child of a digest */
    int seen_ct, seen_cte, seen_cd, seen_cid, seen_desc;
    int ct_bad, has_charset, has_boundary, boundary_long;
    st_b64 b64;
    st_qp *qp; /* quoted-printable and uuencode states (large): only for such a part */
    st_uu *uu;
    /* the entity's strings, each NUL-terminated, in one buffer sized to need */
    char *s;
    size_t slen, scap;
    uint32_t o_path, o_ctype, o_charset, o_boundary, o_disp, o_cte, o_cid, o_desc;
    struct fparam name, fname;
};

struct level {
    unsigned base; /* index of the level's root frame */
    int state;
    uint64_t off;    /* stream offset of the next byte */
    unsigned nbound; /* open multiparts of this level */
    int bol;         /* hold = line end + start of a line beginning with "-" */
    int held_cr;     /* a CR ended the last input: maybe half of a line end */
    size_t hold_len, hold_eol;
    uint8_t *hold; /* hold_small or heap, up to max_line + 4 */
    uint8_t *dbuf; /* dbuf_small or heap, up to DBUF: decoder output */
    size_t hold_cap, dbuf_cap;
    uint8_t hold_small[HOLD_MIN];
    uint8_t dbuf_small[DBUF_MIN];
};

struct hfield {
    size_t name, val, vlen; /* offsets into hb */
};

struct st_mime {
    st_mime_limits lim;
    st_mime_event_fn fn;
    void *ctx;
    struct frame **fr; /* fr_n slots, grown up to fr_cap */
    unsigned nfr, fr_n, fr_cap;
    struct level **lv; /* lv_n slots, grown up to lv_cap */
    unsigned nlv, lv_n, lv_cap;

    /* the header block in progress (innermost level) */
    uint8_t *hb;
    size_t hb_len, hb_cap, hb_max;
    struct hfield *fld;
    size_t nfld, fld_cap;
    size_t field_start, line_start;
    uint64_t line_off, hdr_total;
    int at_bol, cont, field_open, discard, dlong, skip_line;

    size_t nparts;
    unsigned next_id;
    int nosplit, finished;
    size_t mem;
    char tmp[160];
};

/* ------------------------------------------------------------ memory */

static void *xalloc(st_mime *p, size_t n)
{
    void *q = calloc(1, n);
    if (q)
        p->mem += n;
    return q;
}

/* realloc that keeps p->mem right: q of old bytes -> n bytes (0 frees).
 * NULL on failure, q then unchanged. */
static void *mem_resize(st_mime *p, void *q, size_t old, size_t n)
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
    uint8_t *q = mem_resize(p, p->hb, p->hb_cap, cap);
    if (!q)
        return 0;
    p->hb = q;
    p->hb_cap = cap;
    return 1;
}

/* ------------------------------------------------------------ events */

static void anomaly(st_mime *p, struct frame *f, const char *name, const char *detail)
{
    st_mime_event ev = {.type = ST_MIME_EV_ANOMALY, .part = f ? &f->pub : NULL, .name = name};
    if (detail) {
        ev.value = (const uint8_t *)detail;
        ev.value_len = strlen(detail);
    }
    p->fn(p->ctx, &ev);
}

static void anomaly_n(st_mime *p, struct frame *f, const char *name, const char *fmt,
                      unsigned long long n)
{
    char buf[96];
    snprintf(buf, sizeof buf, fmt, n);
    anomaly(p, f, name, buf);
}

/* Detail text from wire bytes: printable ASCII kept, the rest as '?'. */
static const char *excerpt(st_mime *p, const uint8_t *s, size_t n)
{
    size_t i = 0;
    for (; i < n && i < sizeof p->tmp - 1; i++)
        p->tmp[i] = (s[i] >= 32 && s[i] < 127) ? (char)s[i] : '?';
    p->tmp[i] = 0;
    return p->tmp;
}

static void emit(st_mime *p, st_mime_ev_type t, struct frame *f)
{
    st_mime_event ev = {.type = t, .part = &f->pub};
    p->fn(p->ctx, &ev);
}

/* ------------------------------------------------------------ frame strings */

static const char *fstr(const struct frame *f, uint32_t o)
{
    return o == NONE ? NULL : f->s + o;
}

static const char *fpath(const struct frame *f)
{
    return f->o_path == NONE ? "" : f->s + f->o_path;
}

/* Room for a string of n bytes (NUL-terminated) among f's strings: its
 * offset, or NONE when out of memory (anomaly; the attribute is dropped). */
static uint32_t fstr_new(st_mime *p, struct frame *f, size_t n)
{
    size_t need = f->slen + n + 1;
    if (need > f->scap) {
        size_t cap = f->scap ? f->scap * 2 : 64;
        while (cap < need)
            cap *= 2;
        char *q = mem_resize(p, f->s, f->scap, cap);
        if (!q) {
            anomaly(p, f, "out_of_memory", "part attribute dropped");
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

static uint32_t fstr_add(st_mime *p, struct frame *f, const void *v, size_t n)
{
    uint32_t o = fstr_new(p, f, n);
    if (o != NONE && n)
        memcpy(f->s + o, v, n);
    return o;
}

/* f's path: pp sep last, cut at PATH_CAP - 1 bytes (flag). pp is another
 * frame's string (never f's: its buffer may move). */
static void set_path(st_mime *p, struct frame *f, const char *pp, const char *sep, const char *last)
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
static void frame_release(st_mime *p, struct frame *f)
{
    mem_resize(p, f->s, f->scap, 0);
    mem_resize(p, f->qp, f->qp ? sizeof *f->qp : 0, 0);
    mem_resize(p, f->uu, f->uu ? sizeof *f->uu : 0, 0);
    f->s = NULL;
    f->qp = NULL;
    f->uu = NULL;
    f->slen = f->scap = 0;
}

/* ------------------------------------------------------------ stack */

static int top_index(const st_mime *p, unsigned k)
{
    unsigned end = k + 1 < p->nlv ? p->lv[k + 1]->base : p->nfr;
    return end > p->lv[k]->base ? (int)end - 1 : -1;
}

static struct frame *ltop(st_mime *p, unsigned k)
{
    int t = top_index(p, k);
    return t >= 0 ? p->fr[t] : NULL;
}

/* A frame at index nfr (allocated frames: indexes 0..nfr, one spare). */
static int ensure_frame(st_mime *p)
{
    if (p->nfr >= p->fr_cap)
        return 0;
    if (p->nfr >= p->fr_n) {
        unsigned n = p->fr_n ? p->fr_n * 2 : 4;
        n = n < p->fr_cap ? n : p->fr_cap;
        struct frame **q = mem_resize(p, p->fr, p->fr_n * sizeof *q, n * sizeof *q);
        if (!q)
            return 0;
        memset(q + p->fr_n, 0, (n - p->fr_n) * sizeof *q);
        p->fr = q;
        p->fr_n = n;
    }
    if (!p->fr[p->nfr])
        p->fr[p->nfr] = xalloc(p, sizeof(struct frame));
    return p->fr[p->nfr] != NULL;
}

static struct frame *push(st_mime *p, unsigned level, int parent_id, uint64_t off)
{
    if (!ensure_frame(p))
        return NULL;
    struct frame *f = p->fr[p->nfr];
    memset(f, 0, sizeof *f);
    f->o_path = f->o_ctype = f->o_charset = f->o_boundary = NONE;
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
    frame_release(p, p->fr[p->nfr]);
    if (p->nfr + 1 < p->fr_n && p->fr[p->nfr + 1]) {
        mem_resize(p, p->fr[p->nfr + 1], sizeof(struct frame), 0);
        p->fr[p->nfr + 1] = NULL;
    }
}

static void hdr_reset(st_mime *p)
{
    p->hb_len = p->nfld = p->field_start = p->line_start = 0;
    p->hdr_total = 0;
    p->at_bol = 1;
    p->cont = p->field_open = p->discard = p->dlong = p->skip_line = 0;
    /* a body usually follows: the block's buffers go until the next block */
    p->hb = mem_resize(p, p->hb, p->hb_cap, 0);
    p->fld = mem_resize(p, p->fld, p->fld_cap * sizeof *p->fld, 0);
    p->hb_cap = p->fld_cap = 0;
}

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
    uint8_t *q = mem_resize(p, small ? NULL : L->hold, small ? 0 : L->hold_cap, cap);
    if (!q)
        return 0;
    if (small)
        memcpy(q, L->hold_small, L->hold_len);
    L->hold = q;
    L->hold_cap = cap;
    return 1;
}

/* Back to the small buffers once the bytes in the big ones are used. */
static void hold_shrink(st_mime *p, struct level *L)
{
    if (L->hold != L->hold_small && L->hold_len == 0) {
        mem_resize(p, L->hold, L->hold_cap, 0);
        L->hold = L->hold_small;
        L->hold_cap = HOLD_MIN;
    }
}

static void dbuf_shrink(st_mime *p, struct level *L)
{
    if (L->dbuf != L->dbuf_small) {
        mem_resize(p, L->dbuf, L->dbuf_cap, 0);
        L->dbuf = L->dbuf_small;
        L->dbuf_cap = DBUF_MIN;
    }
}

static void scan_reset(st_mime *p, struct level *L)
{
    L->bol = 1;
    L->held_cr = 0;
    L->hold_len = L->hold_eol = 0;
    hold_shrink(p, L);
}

/* Level k (allocated levels: 0..nlv, one spare). */
static int ensure_level(st_mime *p, unsigned k)
{
    if (k >= p->lv_cap)
        return 0;
    if (k >= p->lv_n) {
        unsigned n = p->lv_n ? p->lv_n * 2 : 2;
        n = n < p->lv_cap ? n : p->lv_cap;
        struct level **q = mem_resize(p, p->lv, p->lv_n * sizeof *q, n * sizeof *q);
        if (!q)
            return 0;
        memset(q + p->lv_n, 0, (n - p->lv_n) * sizeof *q);
        p->lv = q;
        p->lv_n = n;
    }
    if (!p->lv[k]) {
        struct level *L = xalloc(p, sizeof *L);
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

static void level_free(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    if (!L)
        return;
    L->hold_len = 0;
    hold_shrink(p, L);
    dbuf_shrink(p, L);
    mem_resize(p, L, sizeof *L, 0);
    p->lv[k] = NULL;
}

/* A new level k whose root entity starts in header state. */
static void open_level(st_mime *p, unsigned k, int parent_id)
{
    struct level *L = p->lv[k];
    L->base = p->nfr;
    L->state = L_HEADERS;
    L->off = 0;
    L->nbound = 0;
    scan_reset(p, L);
    p->nlv = k + 1;
    push(p, k, parent_id, 0);
    hdr_reset(p);
}

/* ------------------------------------------------------------ body delivery */

static void level_feed(st_mime *p, unsigned k, const uint8_t *d, size_t n);
static void finish_level(st_mime *p, unsigned k);

static int identity(st_mime_enc e)
{
    return e != ST_MIME_ENC_BASE64 && e != ST_MIME_ENC_QP && e != ST_MIME_ENC_UUENCODE;
}

static void data_out(st_mime *p, unsigned k, struct frame *f, const uint8_t *d, size_t n)
{
    if (!n)
        return;
    f->pub.decoded_size += n;
    st_mime_event ev = {.type = ST_MIME_EV_DATA, .part = &f->pub, .data = d, .len = n};
    p->fn(p->ctx, &ev);
    if (f->pub.kind == ST_MIME_MESSAGE && k + 1 < p->nlv)
        level_feed(p, k + 1, d, n);
}

static size_t out_max(st_mime_enc e, size_t s)
{
    if (e == ST_MIME_ENC_BASE64)
        return ST_B64_OUT_MAX(s);
    return e == ST_MIME_ENC_QP ? ST_QP_OUT_MAX(s) : ST_UU_OUT_MAX(s);
}

/* Input bytes for the next decoder call (at most DSLICE): the decoder
 * buffer grows to hold their output, up to DBUF; out of memory, the slice
 * is what the buffer holds (DBUF_MIN is enough for some progress). */
static size_t dslice(st_mime *p, struct level *L, st_mime_enc e, size_t n)
{
    size_t s = n < DSLICE ? n : DSLICE, need = out_max(e, s);
    if (need <= L->dbuf_cap)
        return s;
    size_t cap = L->dbuf_cap * 2 > need ? L->dbuf_cap * 2 : need;
    cap = cap < DBUF ? cap : DBUF;
    int small = L->dbuf == L->dbuf_small;
    uint8_t *q = mem_resize(p, small ? NULL : L->dbuf, small ? 0 : L->dbuf_cap, cap);
    if (q) {
        L->dbuf = q;
        L->dbuf_cap = cap;
        return s;
    }
    size_t fit = e == ST_MIME_ENC_BASE64 ? (L->dbuf_cap / 3 - 1) * 4 : L->dbuf_cap - out_max(e, 0);
    return fit < s ? fit : s;
}

/* Body bytes of level k go to its innermost entity; a multipart there is
 * in its preamble or between children: those bytes are nobody's. */
static void deliver(st_mime *p, unsigned k, const uint8_t *d, size_t n)
{
    struct frame *f = ltop(p, k);
    if (!n || !f || f->pub.kind == ST_MIME_MULTIPART)
        return;
    if (identity(f->pub.encoding)) {
        data_out(p, k, f, d, n);
        return;
    }
    struct level *L = p->lv[k];
    while (n) {
        size_t s = dslice(p, L, f->pub.encoding, n), o;
        uint8_t *out = L->dbuf;
        if (f->pub.encoding == ST_MIME_ENC_BASE64)
            o = st_b64_feed(&f->b64, d, s, out);
        else if (f->pub.encoding == ST_MIME_ENC_QP)
            o = st_qp_feed(f->qp, d, s, out);
        else
            o = st_uu_feed(f->uu, d, s, out);
        data_out(p, k, f, out, o);
        d += s;
        n -= s;
    }
}

static void decoder_finish(st_mime *p, unsigned k, struct frame *f)
{
    uint8_t *out = p->lv[k]->dbuf;
    size_t o = 0;
    if (f->pub.encoding == ST_MIME_ENC_BASE64)
        o = st_b64_finish(&f->b64, out);
    else if (f->pub.encoding == ST_MIME_ENC_QP)
        o = st_qp_finish(f->qp, out);
    else if (f->pub.encoding == ST_MIME_ENC_UUENCODE)
        o = st_uu_finish(f->uu, out);
    data_out(p, k, f, out, o);
}

/* Decoder complaints, once per part, just before its PART_END. */
static void decoder_report(st_mime *p, struct frame *f)
{
    unsigned bad = 0;
    if (f->pub.encoding == ST_MIME_ENC_BASE64) {
        const st_b64 *s = &f->b64;
        if (s->garbage)
            anomaly_n(p, f, "base64_garbage", "%llu bytes skipped", s->garbage), bad = 1;
        if (s->flags & ST_B64_DATA_AFTER_PAD)
            anomaly(p, f, "base64_data_after_padding", NULL), bad = 1;
        if (s->flags & (ST_B64_NO_PADDING | ST_B64_LONE_SEXTET))
            anomaly(p, f, "base64_truncated", NULL), bad = 1;
    } else if (f->pub.encoding == ST_MIME_ENC_QP) {
        if (f->qp->bad)
            anomaly_n(p, f, "qp_bad_escape", "%llu kept literally", f->qp->bad), bad = 1;
    } else if (f->pub.encoding == ST_MIME_ENC_UUENCODE) {
        const st_uu *s = f->uu;
        if (s->flags & ST_UU_BAD_LINE)
            anomaly(p, f, "uu_bad_line", NULL), bad = 1;
        if (s->flags & ST_UU_NO_END)
            anomaly(p, f, "uu_missing_end", NULL), bad = 1;
        if (s->flags & ST_UU_NO_BEGIN)
            anomaly(p, f, "uu_missing_begin", NULL), bad = 1;
    }
    if (bad)
        f->pub.flags |= ST_MIME_PF_DECODE_ERRORS;
}

/* End the innermost entity of level k; its body ends at end_off. */
static void part_end(st_mime *p, unsigned k, int how, uint64_t end_off)
{
    struct level *L = p->lv[k];
    struct frame *f = ltop(p, k);
    if (f->pub.kind == ST_MIME_MULTIPART) {
        L->nbound--;
        if (how != END_NORMAL) {
            f->pub.flags |= ST_MIME_PF_NO_FINAL_BOUNDARY;
            if (!p->nosplit)
                anomaly(p, f,
                        how == END_OUTER ? "outer_boundary_closes_inner" : "missing_final_boundary",
                        fstr(f, f->o_boundary));
        }
    } else {
        decoder_finish(p, k, f);
        if (f->pub.kind == ST_MIME_MESSAGE && k + 1 < p->nlv)
            finish_level(p, k + 1);
        decoder_report(p, f);
    }
    f->pub.raw_size = end_off > f->pub.body_offset ? end_off - f->pub.body_offset : 0;
    emit(p, ST_MIME_EV_PART_END, f);
    pop(p);
    dbuf_shrink(p, L);
    if (!ltop(p, k))
        L->state = L_DONE;
}

/* ------------------------------------------------------------ part description */

static void set_param(st_mime *p, struct frame *f, st_mime_pval *pv, const char *what)
{
    if (pv->flags & ST_MIME_PARAM_DUPLICATE)
        anomaly(p, f, "duplicate_parameter", what);
    if (pv->flags & ST_MIME_PARAM_GAP)
        anomaly(p, f, "rfc2231_missing_section", what);
    if (pv->flags & (ST_MIME_PARAM_BAD_EXT | ST_MIME_PARAM_BAD_PCT))
        anomaly(p, f, "rfc2231_malformed", what);
    if (pv->flags & ST_MIME_PARAM_TRUNCATED) {
        anomaly(p, f, "attribute_truncated", what);
        f->pub.flags |= ST_MIME_PF_ATTR_TRUNCATED;
    }
}

static void init_pval(st_mime_pval *pv, uint8_t *buf, size_t cap)
{
    memset(pv, 0, sizeof *pv);
    pv->buf = buf;
    pv->cap = cap;
}

/* A token (type, encoding) parsed into tmp, kept among f's strings. */
static void keep_token(st_mime *p, struct frame *f, uint32_t *o, const char *tok)
{
    *o = fstr_add(p, f, tok, strlen(tok));
}

/* name= / filename=: parsed on the stack, again into a buffer of the full
 * cap only when it did not fit; kept among f's strings. */
static void get_fparam(st_mime *p, struct frame *f, const uint8_t *v, size_t n, size_t at,
                       const char *attr, struct fparam *fp)
{
    uint8_t small[PARAM_SMALL], *big = NULL;
    st_mime_pval pv;
    init_pval(&pv, small, sizeof small);
    if (!st_mime_param_get(v, n, at, attr, &pv))
        return;
    if (pv.len + 1 >= sizeof small) {
        big = mem_resize(p, NULL, 0, ST_MIME_PARAM_MAX + 1);
        if (big) {
            init_pval(&pv, big, ST_MIME_PARAM_MAX + 1);
            st_mime_param_get(v, n, at, attr, &pv);
        } else {
            anomaly(p, f, "out_of_memory", attr);
        }
    }
    set_param(p, f, &pv, attr);
    fp->val = fstr_add(p, f, pv.buf, pv.len);
    fp->cs = pv.charset[0] ? fstr_add(p, f, pv.charset, strlen(pv.charset)) : NONE;
    fp->lang = pv.language[0] ? fstr_add(p, f, pv.language, strlen(pv.language)) : NONE;
    fp->len = pv.len;
    fp->flags = fp->val == NONE ? 0 : pv.flags;
    mem_resize(p, big, big ? ST_MIME_PARAM_MAX + 1 : 0, 0);
}

static void parse_boundary(st_mime *p, struct frame *f, const uint8_t *v, size_t n, size_t at)
{
    uint8_t b[BOUNDARY_CAP + 2];
    st_mime_pval pv;
    init_pval(&pv, b, sizeof b);
    if (!st_mime_param_get(v, n, at, "boundary", &pv))
        return;
    set_param(p, f, &pv, "boundary");
    if (pv.len > BOUNDARY_CAP) {
        f->boundary_long = 1;
    } else if (pv.len > 0) {
        f->o_boundary = fstr_add(p, f, b, pv.len);
        f->blen = pv.len;
        f->has_boundary = f->o_boundary != NONE;
    }
}

static void parse_ctype(st_mime *p, struct frame *f, const uint8_t *v, size_t n)
{
    size_t at;
    char ct[CTYPE_CAP], cs[ST_MIME_CHARSET_MAX];
    st_mime_pval pv;
    if (st_mime_ctype_parse(v, n, ct, sizeof ct, &at) < 0) {
        f->ct_bad = 1;
        anomaly(p, f, "malformed_content_type", excerpt(p, v, n));
    } else {
        keep_token(p, f, &f->o_ctype, ct);
    }
    init_pval(&pv, (uint8_t *)cs, sizeof cs);
    if (st_mime_param_get(v, n, at, "charset", &pv)) {
        for (char *c = cs; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        keep_token(p, f, &f->o_charset, cs);
        f->has_charset = f->o_charset != NONE;
        set_param(p, f, &pv, "charset");
    }
    parse_boundary(p, f, v, n, at);
    get_fparam(p, f, v, n, at, "name", &f->name);
}

static void parse_disposition(st_mime *p, struct frame *f, const uint8_t *v, size_t n)
{
    size_t at;
    char t[TOKEN_CAP];
    if (st_mime_token_parse(v, n, t, sizeof t, &at) < 0)
        anomaly(p, f, "malformed_content_disposition", excerpt(p, v, n));
    else
        keep_token(p, f, &f->o_disp, t);
    get_fparam(p, f, v, n, at, "filename", &f->fname);
}

static void parse_cte(st_mime *p, struct frame *f, const uint8_t *v, size_t n)
{
    size_t at;
    char t[TOKEN_CAP];
    if (st_mime_token_parse(v, n, t, sizeof t, &at) < 0)
        anomaly(p, f, "malformed_content_transfer_encoding", excerpt(p, v, n));
    else
        keep_token(p, f, &f->o_cte, t);
}

static void copy_field(st_mime *p, struct frame *f, uint32_t *o, const uint8_t *v, size_t n)
{
    if (n >= FIELD_CAP) {
        n = FIELD_CAP - 1;
        f->pub.flags |= ST_MIME_PF_ATTR_TRUNCATED;
    }
    *o = fstr_add(p, f, v, n);
}

/* The Content-* fields; the first of each kind wins. */
static void interpret(st_mime *p, struct frame *f, const char *name, const uint8_t *v, size_t n)
{
    if (strncmp(name, "content-", 8) != 0)
        return;
    name += 8;
    if (!strcmp(name, "type")) {
        if (f->seen_ct++)
            anomaly(p, f, "duplicate_content_type", excerpt(p, v, n));
        else
            parse_ctype(p, f, v, n);
    } else if (!strcmp(name, "transfer-encoding")) {
        if (f->seen_cte++)
            anomaly(p, f, "duplicate_content_transfer_encoding", excerpt(p, v, n));
        else
            parse_cte(p, f, v, n);
    } else if (!strcmp(name, "disposition")) {
        if (f->seen_cd++)
            anomaly(p, f, "duplicate_content_disposition", excerpt(p, v, n));
        else
            parse_disposition(p, f, v, n);
    } else if (!strcmp(name, "id")) {
        if (!f->seen_cid++)
            copy_field(p, f, &f->o_cid, v, n);
    } else if (!strcmp(name, "description")) {
        if (!f->seen_desc++)
            copy_field(p, f, &f->o_desc, v, n);
    }
}

static st_mime_enc encoding_of(st_mime *p, struct frame *f)
{
    static const struct {
        const char *name;
        st_mime_enc enc;
    } tab[] = {
        {"7bit", ST_MIME_ENC_7BIT},           {"8bit", ST_MIME_ENC_8BIT},
        {"binary", ST_MIME_ENC_BINARY},       {"base64", ST_MIME_ENC_BASE64},
        {"quoted-printable", ST_MIME_ENC_QP}, {"x-uuencode", ST_MIME_ENC_UUENCODE},
        {"x-uue", ST_MIME_ENC_UUENCODE},      {"uuencode", ST_MIME_ENC_UUENCODE},
        {"uue", ST_MIME_ENC_UUENCODE},
    };
    const char *cte = fstr(f, f->o_cte);
    if (!cte)
        return ST_MIME_ENC_7BIT;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(cte, tab[i].name))
            return tab[i].enc;
    anomaly(p, f, "unknown_transfer_encoding", cte);
    return ST_MIME_ENC_UNKNOWN;
}

static int can_contain(st_mime *p, struct frame *f)
{
    if (f->pub.depth >= p->lim.max_depth) {
        f->pub.flags |= ST_MIME_PF_DEPTH_LIMIT;
        anomaly_n(p, f, "depth_exceeded", "depth %llu", f->pub.depth);
        return 0;
    }
    return 1;
}

static st_mime_kind kind_of(st_mime *p, unsigned k, struct frame *f, const char *ct)
{
    if (!strncmp(ct, "multipart/", 10)) {
        if (f->boundary_long) {
            anomaly(p, f, "boundary_too_long", NULL);
            f->pub.flags |= ST_MIME_PF_BAD_BOUNDARY;
            return ST_MIME_LEAF;
        }
        if (!f->has_boundary) {
            anomaly(p, f, "multipart_without_boundary", NULL);
            f->pub.flags |= ST_MIME_PF_BAD_BOUNDARY;
            return ST_MIME_LEAF;
        }
        return can_contain(p, f) ? ST_MIME_MULTIPART : ST_MIME_LEAF;
    }
    if (strcmp(ct, "message/rfc822") != 0 && strcmp(ct, "message/global") != 0)
        return ST_MIME_LEAF;
    if (!can_contain(p, f))
        return ST_MIME_LEAF;
    if (k >= p->lim.max_msg_depth) {
        f->pub.flags |= ST_MIME_PF_DEPTH_LIMIT;
        anomaly_n(p, f, "message_depth_exceeded", "level %llu", k);
        return ST_MIME_LEAF;
    }
    if (p->nparts >= p->lim.max_parts) {
        f->pub.flags |= ST_MIME_PF_PARTS_LIMIT;
        anomaly(p, f, "too_many_parts", NULL);
        return ST_MIME_LEAF;
    }
    if (!ensure_frame(p) || !ensure_level(p, k + 1)) {
        anomaly(p, f, "out_of_memory", "message part left unparsed");
        return ST_MIME_LEAF;
    }
    return ST_MIME_MESSAGE;
}

static void set_root_path(st_mime *p, struct frame *f, const struct frame *parent, int multipart)
{
    const char *pp = parent ? fpath(parent) : "";
    if (multipart)
        set_path(p, f, pp, "", "");
    else
        set_path(p, f, pp, parent ? "." : "", "1");
}

static void param_out(st_mime_param *o, const struct frame *f, const struct fparam *fp)
{
    memset(o, 0, sizeof *o);
    if (!(fp->flags & ST_MIME_PARAM_PRESENT))
        return;
    o->value = (const uint8_t *)f->s + fp->val;
    o->len = fp->len;
    o->charset = fstr(f, fp->cs);
    o->language = fstr(f, fp->lang);
    o->flags = fp->flags;
}

/* The part's strings, now that none will be added (the buffer stays put). */
static void publish(struct frame *f)
{
    st_mime_part *o = &f->pub;
    o->content_type = fstr(f, f->o_ctype);
    o->charset = f->has_charset ? fstr(f, f->o_charset) : NULL;
    o->boundary = f->has_boundary ? fstr(f, f->o_boundary) : NULL;
    param_out(&o->name, f, &f->name);
    param_out(&o->filename, f, &f->fname);
    o->disposition = fstr(f, f->o_disp);
    o->content_id = fstr(f, f->o_cid);
    o->description = fstr(f, f->o_desc);
    o->transfer_encoding = fstr(f, f->o_cte);
}

static void decoder_init(st_mime *p, struct frame *f)
{
    st_mime_part *o = &f->pub;
    if (o->encoding == ST_MIME_ENC_BASE64) {
        st_b64_init(&f->b64);
    } else if (o->encoding == ST_MIME_ENC_QP) {
        if ((f->qp = mem_resize(p, NULL, 0, sizeof *f->qp)))
            st_qp_init(f->qp);
    } else if (o->encoding == ST_MIME_ENC_UUENCODE) {
        if ((f->uu = mem_resize(p, NULL, 0, sizeof *f->uu)))
            st_uu_init(f->uu);
    }
    if ((o->encoding == ST_MIME_ENC_QP && !f->qp) ||
        (o->encoding == ST_MIME_ENC_UUENCODE && !f->uu)) {
        anomaly(p, f, "out_of_memory", "encoded body passed raw");
        o->encoding = ST_MIME_ENC_UNKNOWN;
    }
}

/* Everything PART_BEGIN reports, from the interpreted header fields. */
static void describe(st_mime *p, unsigned k, struct frame *f)
{
    st_mime_part *o = &f->pub;
    const char *def = f->digest_child ? "message/rfc822" : "text/plain";
    if (!f->seen_ct || f->ct_bad)
        o->ct_source = f->seen_ct ? ST_MIME_CT_MALFORMED : ST_MIME_CT_DEFAULT;
    if (f->o_ctype == NONE)
        keep_token(p, f, &f->o_ctype, def);
    const char *ct = f->o_ctype == NONE ? def : fstr(f, f->o_ctype);
    o->kind = kind_of(p, k, f, ct);
    o->encoding = encoding_of(p, f);
    if (o->kind == ST_MIME_MULTIPART) {
        f->digest = !strcmp(ct, "multipart/digest");
        if (!identity(o->encoding)) {
            anomaly(p, f, "encoded_multipart", fstr(f, f->o_cte));
            o->encoding = ST_MIME_ENC_7BIT;
        }
    }
    if (p->lv[k]->base == o->depth)
        set_root_path(p, f, o->depth ? p->fr[o->depth - 1] : NULL, o->kind == ST_MIME_MULTIPART);
    publish(f);
    if (f->o_ctype == NONE)
        o->content_type = def;
    decoder_init(p, f);
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

/* The open field is complete (it is always at the end of hb). */
static void field_done(st_mime *p, unsigned k)
{
    struct frame *f = ltop(p, k);
    uint8_t *s = p->hb + p->field_start;
    size_t len = p->hb_len - p->field_start, i = 0;
    p->field_open = 0;
    while (i < len && is_ftext(s[i]))
        i++;
    size_t nl = i;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (nl == 0 || i >= len || s[i] != ':') {
        anomaly(p, f, "malformed_header", excerpt(p, s, len));
        p->hb_len = p->field_start;
        return;
    }
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
    interpret(p, f, (const char *)s, s + v0, v1 - v0);
    if (f->pub.nheaders > p->lim.max_headers) {
        if (!(f->pub.flags & ST_MIME_PF_TOO_MANY_HEADERS)) {
            f->pub.flags |= ST_MIME_PF_TOO_MANY_HEADERS;
            anomaly_n(p, f, "too_many_headers", "more than %llu", p->lim.max_headers);
        }
        p->hb_len = p->field_start;
        return;
    }
    if (p->nfld == p->fld_cap) {
        size_t cap = p->fld_cap ? p->fld_cap * 2 : 8;
        if (cap > p->lim.max_headers)
            cap = p->lim.max_headers;
        struct hfield *q = realloc(p->fld, cap * sizeof *q);
        if (!q) {
            anomaly(p, f, "out_of_memory", "header field dropped");
            p->hb_len = p->field_start;
            return;
        }
        p->mem += (cap - p->fld_cap) * sizeof *q;
        p->fld = q;
        p->fld_cap = cap;
    }
    s[v1] = 0; /* hb always keeps a spare byte after hb_len */
    p->fld[p->nfld++] = (struct hfield){p->field_start, p->field_start + v0, v1 - v0};
    p->hb_len = p->field_start + v1 + 1;
}

static void level_begin_body(st_mime *p, unsigned k, struct frame *f)
{
    struct level *L = p->lv[k];
    L->state = L_BODY;
    scan_reset(p, L);
    if (f->pub.kind == ST_MIME_MULTIPART)
        L->nbound++;
    else if (f->pub.kind == ST_MIME_MESSAGE)
        open_level(p, k + 1, (int)f->pub.id);
}

/* The header block of level k's innermost entity is over: report it. */
static void end_headers(st_mime *p, unsigned k, uint64_t body_off)
{
    struct frame *f = ltop(p, k);
    if (p->field_open)
        field_done(p, k);
    describe(p, k, f);
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
    emit(p, ST_MIME_EV_PART_BEGIN, f);
    hdr_reset(p);
    level_begin_body(p, k, f);
}

/* ------------------------------------------------------------ boundaries */

/* Is line[n] a boundary of an open multipart of level k (innermost first)? */
static int match_line(st_mime *p, unsigned k, const uint8_t *line, size_t n, unsigned *fi)
{
    struct level *L = p->lv[k];
    if (p->nosplit || !L->nbound || n < 3 || line[0] != '-' || line[1] != '-')
        return ST_MIME_BD_NONE;
    for (int i = top_index(p, k); i >= (int)L->base; i--) {
        struct frame *f = p->fr[i];
        if (f->pub.kind != ST_MIME_MULTIPART)
            continue;
        int m = st_mime_boundary_match(line, n, (const uint8_t *)fstr(f, f->o_boundary), f->blen);
        if (m == ST_MIME_BD_NONE)
            continue;
        if (m == ST_MIME_BD_DELIM && p->nparts >= p->lim.max_parts) {
            struct frame *t = ltop(p, k);
            p->nosplit = 1;
            t->pub.flags |= ST_MIME_PF_PARTS_LIMIT;
            anomaly_n(p, t, "too_many_parts", "more than %llu; rest not split", p->lim.max_parts);
            return ST_MIME_BD_NONE;
        }
        *fi = (unsigned)i;
        return m;
    }
    return ST_MIME_BD_NONE;
}

/* A boundary line of frame fi: the body before it ends at end_off (its line
 * end excluded), the next line starts at next_off. */
static void boundary_hit(st_mime *p, unsigned k, unsigned fi, int m, uint64_t end_off,
                         uint64_t next_off)
{
    struct level *L = p->lv[k];
    while (top_index(p, k) > (int)fi) {
        struct frame *t = ltop(p, k);
        part_end(p, k, t->pub.kind == ST_MIME_MULTIPART ? END_OUTER : END_NORMAL, end_off);
    }
    scan_reset(p, L);
    L->state = L_BODY;
    struct frame *mp = p->fr[fi];
    if (m == ST_MIME_BD_CLOSE) {
        part_end(p, k, END_NORMAL, end_off);
        return;
    }
    mp->nchild++;
    struct frame *c = push(p, k, (int)mp->pub.id, next_off);
    if (!c) {
        anomaly(p, mp, "out_of_memory", "part dropped");
        return;
    }
    char num[16];
    snprintf(num, sizeof num, "%u", mp->nchild);
    set_path(p, c, fpath(mp), fpath(mp)[0] ? "." : "", num);
    c->digest_child = mp->digest;
    L->state = L_HEADERS;
    hdr_reset(p);
}

/* ------------------------------------------------------------ header lines */

static void begin_line(st_mime *p, unsigned k, uint8_t c, uint64_t off)
{
    p->at_bol = 0;
    p->line_off = off;
    if (p->skip_line)
        return;
    p->dlong = 0;
    p->line_start = p->hb_len;
    p->cont = (c == ' ' || c == '\t');
    if (p->discard || p->cont)
        return;
    if (p->field_open)
        field_done(p, k);
    p->field_start = p->line_start = p->hb_len;
}

/* The header block went over its limit (or memory): the field in progress
 * is reported cut, the rest of the block is only scanned for its end. */
static void hdr_overflow(st_mime *p, unsigned k, const char *why)
{
    struct frame *f = ltop(p, k);
    f->pub.flags |= ST_MIME_PF_HEADER_TRUNCATED;
    anomaly_n(p, f, why, "header block over %llu bytes", p->lim.max_header_bytes);
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
        }
        return;
    }
    size_t room = used < p->lim.max_header_bytes ? p->lim.max_header_bytes - used : 0;
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

static void headers_boundary(st_mime *p, unsigned k, unsigned fi, int m)
{
    struct frame *f = ltop(p, k);
    uint64_t line_off = p->line_off, next = p->lv[k]->off;
    f->pub.flags |= ST_MIME_PF_NO_HEADER_END;
    anomaly(p, f, "boundary_in_headers", NULL);
    end_headers(p, k, line_off);
    boundary_hit(p, k, fi, m, line_off, next);
}

/* A line that is no header: the body starts with it (like Python's email
 * package), so that content is not lost when the empty line is missing. */
static void body_from_line(st_mime *p, unsigned k, const uint8_t *l, size_t n, int cr, int lf)
{
    uint64_t line_off = p->line_off;
    size_t rl = n + (size_t)cr + (size_t)lf;
    int fits = rl <= p->lim.max_line + 2;
    uint8_t *r = fits ? mem_resize(p, NULL, 0, rl) : NULL; /* hb is reused by the body */
    if (r) {
        memcpy(r, l, n);
        if (cr)
            r[n] = '\r';
        if (lf)
            r[n + (size_t)cr] = '\n';
    }
    anomaly(p, ltop(p, k), "missing_header_separator",
            r      ? excerpt(p, l, n)
            : fits ? "first body line dropped: out of memory"
                   : "over-long first body line dropped");
    p->hb_len = p->line_start;
    end_headers(p, k, line_off);
    if (r) {
        p->lv[k]->off = line_off;
        level_feed(p, k, r, rl);
        mem_resize(p, r, rl, 0);
    }
}

/* A header line ended (lf: by a line feed; 0 at the end of the stream). */
static void hdr_line_end(st_mime *p, unsigned k, int lf)
{
    struct frame *f = ltop(p, k);
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
        p->hb_len = p->line_start;
        if (p->dlong)
            return;
        if (n == 0)
            end_headers(p, k, p->lv[k]->off);
        else if ((m = match_line(p, k, l, n, &fi)))
            headers_boundary(p, k, fi, m);
        return;
    }
    if (p->cont) {
        if (!p->field_open) {
            anomaly(p, f, "orphan_continuation", excerpt(p, l, n));
            p->hb_len = p->line_start;
        }
        return;
    }
    if (n == 0) {
        end_headers(p, k, p->lv[k]->off);
    } else if ((m = match_line(p, k, l, n, &fi))) {
        p->hb_len = p->line_start;
        headers_boundary(p, k, fi, m);
    } else if (is_header_line(l, n)) {
        p->field_open = 1;
    } else if (k == 0 && f->pub.id == 0 && p->line_off == 0 && n >= 5 && !memcmp(l, "From ", 5)) {
        anomaly(p, f, "mbox_from_line", excerpt(p, l, n));
        p->hb_len = p->line_start;
    } else {
        body_from_line(p, k, l, n, cr, lf);
    }
}

static size_t hdr_consume(st_mime *p, unsigned k, const uint8_t *d, size_t n)
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
    p->hdr_total++;
    hdr_line_end(p, k, 1);
    return take + 1;
}

/* End of stream inside a header block. */
static void headers_eom(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    if (!p->at_bol) {
        hdr_line_end(p, k, 0);
        if (L->state != L_HEADERS)
            return;
    }
    struct frame *f = ltop(p, k);
    if (p->hdr_total) {
        f->pub.flags |= ST_MIME_PF_NO_HEADER_END;
        anomaly(p, f, "headers_not_terminated", NULL);
    }
    end_headers(p, k, L->off);
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
    deliver(p, k, L->hold, h - (size_t)cr);
    L->held_cr = cr;
    hold_shrink(p, L);
}

static void flush_all(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    flush_hold(p, k);
    if (L->held_cr)
        deliver(p, k, (const uint8_t *)"\r", 1);
    L->held_cr = 0;
}

/* Room to hold need bytes of level k; out of memory, the line is passed on
 * unchecked (anomaly). */
static int hold_more(st_mime *p, unsigned k, size_t need)
{
    if (hold_room(p, p->lv[k], need))
        return 1;
    anomaly(p, ltop(p, k), "out_of_memory", "line not checked for a boundary");
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
    int m = match_line(p, k, L->hold + L->hold_eol, L->hold_len - L->hold_eol, &fi);
    if (m) {
        uint64_t end_off = base + i - L->hold_len;
        L->hold_len = L->hold_eol = 0;
        L->off = base + i + 1;
        boundary_hit(p, k, fi, m, end_off, base + i + 1);
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
    deliver(p, k, d + run, cut - run);
    if (!hold_more(p, k, n - cut)) {
        L->held_cr = d[n - 1] == '\r';
        deliver(p, k, d + cut, n - cut - (size_t)L->held_cr);
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

/* Body bytes of a level with open multiparts: find boundary lines. */
static size_t body_scan(st_mime *p, unsigned k, const uint8_t *d, size_t n)
{
    struct level *L = p->lv[k];
    uint64_t base = L->off;
    size_t i = 0, run = 0, max = p->lim.max_line;
    if (L->bol)
        return bol_collect(p, k, d, n);
    if (L->held_cr) {
        L->held_cr = 0;
        if (d[0] == '\n') {
            L->hold[0] = '\r';
            L->hold[1] = '\n';
            L->hold_len = L->hold_eol = 2;
            L->bol = 1;
            L->off = base + 1;
            return 1;
        }
        deliver(p, k, (const uint8_t *)"\r", 1);
    }
    for (;;) {
        const uint8_t *nl = memchr(d + i, '\n', n - i);
        if (!nl) {
            size_t end = n;
            if (d[n - 1] == '\r' && n - 1 >= run)
                end = n - 1, L->held_cr = 1;
            deliver(p, k, d + run, end - run);
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
        deliver(p, k, d + run, cut - run);
        run = cut;
        unsigned fi;
        int m = match_line(p, k, d + next, e - next, &fi);
        if (m) {
            L->off = base + e + 1;
            boundary_hit(p, k, fi, m, base + cut, base + e + 1);
            return e + 1;
        }
        i = e;
    }
}

/* End of stream in a body: a held "--b--" without line end still counts. */
static int body_eom(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    if (L->bol && L->hold_len > L->hold_eol) {
        unsigned fi;
        int m = match_line(p, k, L->hold + L->hold_eol, L->hold_len - L->hold_eol, &fi);
        if (m) {
            uint64_t end_off = L->off - L->hold_len;
            L->hold_len = L->hold_eol = 0;
            boundary_hit(p, k, fi, m, end_off, L->off);
            return 1;
        }
    }
    flush_all(p, k);
    return 0;
}

/* ------------------------------------------------------------ levels */

static void level_feed(st_mime *p, unsigned k, const uint8_t *d, size_t n)
{
    struct level *L = p->lv[k];
    while (n) {
        size_t used = n;
        if (L->state == L_HEADERS) {
            used = hdr_consume(p, k, d, n);
        } else if (L->state == L_BODY && L->nbound && !p->nosplit) {
            used = body_scan(p, k, d, n);
        } else {
            if (L->bol || L->held_cr)
                flush_all(p, k);
            if (L->state == L_BODY)
                deliver(p, k, d, n);
            L->off += n;
        }
        d += used;
        n -= used;
    }
}

/* End of level k's stream (k is the innermost level): end all its parts. */
static void finish_level(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    for (;;) {
        if (L->state == L_HEADERS) {
            headers_eom(p, k);
            continue;
        }
        if (L->state == L_BODY && body_eom(p, k))
            continue;
        if (!ltop(p, k))
            break;
        part_end(p, k, END_EOM, L->off);
    }
    p->nlv = k;
    if (k + 1 < p->lv_n)
        level_free(p, k + 1); /* lv[k] is the spare now */
}

static void gap_level(st_mime *p, unsigned k, uint64_t n)
{
    struct level *L = p->lv[k];
    for (int i = top_index(p, k); i >= (int)L->base; i--) {
        p->fr[i]->pub.missing += n;
        p->fr[i]->pub.flags |= ST_MIME_PF_GAP;
    }
    if (L->state == L_HEADERS) {
        anomaly_n(p, ltop(p, k), "gap_in_headers", "%llu bytes lost", n);
        if (!p->at_bol && !p->skip_line)
            p->hb_len = p->line_start; /* the line in progress is broken */
        p->at_bol = 0;
        p->skip_line = 1;
    } else if (L->state == L_BODY) {
        flush_all(p, k);
        L->bol = 0;
        struct frame *f = ltop(p, k);
        if (f && f->pub.kind != ST_MIME_MULTIPART) {
            uint64_t inner = n;
            if (f->pub.encoding == ST_MIME_ENC_BASE64) {
                f->b64.n = 0, f->b64.acc = 0, inner = n / 4 * 3;
            } else if (f->pub.encoding == ST_MIME_ENC_QP) {
                f->qp->st = 0, f->qp->nws = 0;
            } else if (f->pub.encoding == ST_MIME_ENC_UUENCODE) {
                f->uu->over = 1, inner = n / 4 * 3;
            }
            if (f->pub.kind == ST_MIME_MESSAGE && k + 1 < p->nlv)
                gap_level(p, k + 1, inner);
        }
    }
    L->off += n;
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
    p->hb_max = p->lim.max_header_bytes + p->lim.max_headers + p->lim.max_line + 64;
    if (!ensure_level(p, 0) || !ensure_frame(p)) {
        st_mime_free(p);
        return NULL;
    }
    open_level(p, 0, -1);
    return p;
}

void st_mime_free(st_mime *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->fr_n; i++) {
        if (p->fr[i])
            frame_release(p, p->fr[i]);
        free(p->fr[i]);
    }
    for (unsigned i = 0; i < p->lv_n; i++)
        level_free(p, i);
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
    level_feed(p, 0, data, len);
}

void st_mime_gap(st_mime *p, uint64_t len)
{
    if (p->finished || !len)
        return;
    gap_level(p, 0, len);
}

void st_mime_finish(st_mime *p)
{
    if (p->finished)
        return;
    p->finished = 1;
    finish_level(p, 0);
}

size_t st_mime_memory(const st_mime *p)
{
    return p->mem;
}
