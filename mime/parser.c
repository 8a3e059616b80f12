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
#define PATH_CAP     1024
#define CTYPE_CAP    128
#define TOKEN_CAP    64
#define FIELD_CAP    512 /* Content-ID, Content-Description */
#define BOUNDARY_CAP 256

enum { L_HEADERS, L_BODY, L_DONE };
enum { END_NORMAL, END_OUTER, END_EOM };

struct frame {
    st_mime_part pub;
    unsigned level;
    unsigned nchild;
    size_t blen;
    int digest;       /* multipart/digest: children default to message/rfc822 */
    int digest_child; /* this entity is a child of a digest */
    int seen_ct, seen_cte, seen_cd, seen_cid, seen_desc;
    int ct_bad, has_charset, has_boundary, boundary_long;
    union {
        st_b64 b64;
        st_qp qp;
        st_uu uu;
    } dec;
    st_mime_pval namev, fnamev;
    char ctype[CTYPE_CAP];
    /* cleared lazily from here on */
    char path[PATH_CAP];
    char charset[ST_MIME_CHARSET_MAX];
    char boundary[BOUNDARY_CAP + 1];
    char disp[TOKEN_CAP], cte[TOKEN_CAP];
    char cid[FIELD_CAP], desc[FIELD_CAP];
    uint8_t name[ST_MIME_PARAM_MAX], fname[ST_MIME_PARAM_MAX];
};

struct level {
    unsigned base; /* index of the level's root frame */
    int state;
    uint64_t off;    /* stream offset of the next byte */
    unsigned nbound; /* open multiparts of this level */
    int bol;         /* hold = line end + start of a line beginning with "-" */
    int held_cr;     /* a CR ended the last input: maybe half of a line end */
    size_t hold_len, hold_eol;
    uint8_t *hold;   /* max_line + 4 */
    uint8_t *replay; /* max_line + 4: a header-block line that starts the body */
    uint8_t *dbuf;   /* DBUF: decoder output */
};

struct hfield {
    size_t name, val, vlen; /* offsets into hb */
};

struct st_mime {
    st_mime_limits lim;
    st_mime_event_fn fn;
    void *ctx;
    struct frame **fr;
    unsigned nfr, fr_cap;
    struct level **lv;
    unsigned nlv, lv_cap;

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

static int reserve_hb(st_mime *p, size_t need)
{
    if (need <= p->hb_cap)
        return 1;
    if (need > p->hb_max)
        return 0;
    size_t cap = p->hb_cap ? p->hb_cap * 2 : 2048;
    if (cap < need)
        cap = need;
    if (cap > p->hb_max)
        cap = p->hb_max;
    uint8_t *q = realloc(p->hb, cap);
    if (!q)
        return 0;
    p->mem += cap - p->hb_cap;
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

static int ensure_frame(st_mime *p)
{
    if (p->nfr >= p->fr_cap)
        return 0;
    if (!p->fr[p->nfr])
        p->fr[p->nfr] = xalloc(p, sizeof(struct frame));
    return p->fr[p->nfr] != NULL;
}

static struct frame *push(st_mime *p, unsigned level, int parent_id, uint64_t off)
{
    if (!ensure_frame(p))
        return NULL;
    struct frame *f = p->fr[p->nfr];
    memset(f, 0, offsetof(struct frame, path));
    f->path[0] = 0;
    f->pub.id = p->next_id++;
    f->pub.parent_id = parent_id;
    f->pub.depth = p->nfr;
    f->pub.msg_depth = level;
    f->pub.header_offset = off;
    f->level = level;
    f->cte[0] = f->disp[0] = 0;
    p->nfr++;
    p->nparts++;
    return f;
}

static void hdr_reset(st_mime *p)
{
    p->hb_len = p->nfld = p->field_start = p->line_start = 0;
    p->hdr_total = 0;
    p->at_bol = 1;
    p->cont = p->field_open = p->discard = p->dlong = p->skip_line = 0;
}

static void scan_reset(struct level *L)
{
    L->bol = 1;
    L->held_cr = 0;
    L->hold_len = L->hold_eol = 0;
}

static int ensure_level(st_mime *p, unsigned k)
{
    if (k >= p->lv_cap)
        return 0;
    if (!p->lv[k]) {
        size_t line = p->lim.max_line + 4;
        struct level *L = xalloc(p, sizeof *L + 2 * line + DBUF);
        if (!L)
            return 0;
        L->hold = (uint8_t *)(L + 1);
        L->replay = L->hold + line;
        L->dbuf = L->replay + line;
        p->lv[k] = L;
    }
    return 1;
}

/* A new level k whose root entity starts in header state. */
static void open_level(st_mime *p, unsigned k, int parent_id)
{
    struct level *L = p->lv[k];
    L->base = p->nfr;
    L->state = L_HEADERS;
    L->off = 0;
    L->nbound = 0;
    scan_reset(L);
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
    uint8_t *out = p->lv[k]->dbuf;
    while (n) {
        size_t s = n < DSLICE ? n : DSLICE, o;
        if (f->pub.encoding == ST_MIME_ENC_BASE64)
            o = st_b64_feed(&f->dec.b64, d, s, out);
        else if (f->pub.encoding == ST_MIME_ENC_QP)
            o = st_qp_feed(&f->dec.qp, d, s, out);
        else
            o = st_uu_feed(&f->dec.uu, d, s, out);
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
        o = st_b64_finish(&f->dec.b64, out);
    else if (f->pub.encoding == ST_MIME_ENC_QP)
        o = st_qp_finish(&f->dec.qp, out);
    else if (f->pub.encoding == ST_MIME_ENC_UUENCODE)
        o = st_uu_finish(&f->dec.uu, out);
    data_out(p, k, f, out, o);
}

/* Decoder complaints, once per part, just before its PART_END. */
static void decoder_report(st_mime *p, struct frame *f)
{
    unsigned bad = 0;
    if (f->pub.encoding == ST_MIME_ENC_BASE64) {
        const st_b64 *s = &f->dec.b64;
        if (s->garbage)
            anomaly_n(p, f, "base64_garbage", "%llu bytes skipped", s->garbage), bad = 1;
        if (s->flags & ST_B64_DATA_AFTER_PAD)
            anomaly(p, f, "base64_data_after_padding", NULL), bad = 1;
        if (s->flags & (ST_B64_NO_PADDING | ST_B64_LONE_SEXTET))
            anomaly(p, f, "base64_truncated", NULL), bad = 1;
    } else if (f->pub.encoding == ST_MIME_ENC_QP) {
        if (f->dec.qp.bad)
            anomaly_n(p, f, "qp_bad_escape", "%llu kept literally", f->dec.qp.bad), bad = 1;
    } else if (f->pub.encoding == ST_MIME_ENC_UUENCODE) {
        const st_uu *s = &f->dec.uu;
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
                        f->boundary);
        }
    } else {
        decoder_finish(p, k, f);
        if (f->pub.kind == ST_MIME_MESSAGE && k + 1 < p->nlv)
            finish_level(p, k + 1);
        decoder_report(p, f);
    }
    f->pub.raw_size = end_off > f->pub.body_offset ? end_off - f->pub.body_offset : 0;
    emit(p, ST_MIME_EV_PART_END, f);
    p->nfr--;
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

static void parse_ctype(st_mime *p, struct frame *f, const uint8_t *v, size_t n)
{
    size_t at;
    uint8_t b[BOUNDARY_CAP + 2];
    st_mime_pval pv;
    if (st_mime_ctype_parse(v, n, f->ctype, sizeof f->ctype, &at) < 0) {
        f->ct_bad = 1;
        anomaly(p, f, "malformed_content_type", excerpt(p, v, n));
    }
    init_pval(&pv, (uint8_t *)f->charset, sizeof f->charset);
    if (st_mime_param_get(v, n, at, "charset", &pv)) {
        f->has_charset = 1;
        for (char *c = f->charset; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        set_param(p, f, &pv, "charset");
    }
    init_pval(&pv, b, sizeof b);
    if (st_mime_param_get(v, n, at, "boundary", &pv)) {
        set_param(p, f, &pv, "boundary");
        if (pv.len > BOUNDARY_CAP) {
            f->boundary_long = 1;
        } else {
            memcpy(f->boundary, b, pv.len + 1);
            f->blen = pv.len;
            f->has_boundary = pv.len > 0;
        }
    }
    init_pval(&f->namev, f->name, sizeof f->name);
    if (st_mime_param_get(v, n, at, "name", &f->namev))
        set_param(p, f, &f->namev, "name");
}

static void parse_disposition(st_mime *p, struct frame *f, const uint8_t *v, size_t n)
{
    size_t at;
    if (st_mime_token_parse(v, n, f->disp, sizeof f->disp, &at) < 0)
        anomaly(p, f, "malformed_content_disposition", excerpt(p, v, n));
    init_pval(&f->fnamev, f->fname, sizeof f->fname);
    if (st_mime_param_get(v, n, at, "filename", &f->fnamev))
        set_param(p, f, &f->fnamev, "filename");
}

static void copy_field(struct frame *f, char *dst, size_t cap, const uint8_t *v, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
        f->pub.flags |= ST_MIME_PF_ATTR_TRUNCATED;
    }
    memcpy(dst, v, n);
    dst[n] = 0;
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
        size_t at;
        if (f->seen_cte++)
            anomaly(p, f, "duplicate_content_transfer_encoding", excerpt(p, v, n));
        else if (st_mime_token_parse(v, n, f->cte, sizeof f->cte, &at) < 0)
            anomaly(p, f, "malformed_content_transfer_encoding", excerpt(p, v, n));
    } else if (!strcmp(name, "disposition")) {
        if (f->seen_cd++)
            anomaly(p, f, "duplicate_content_disposition", excerpt(p, v, n));
        else
            parse_disposition(p, f, v, n);
    } else if (!strcmp(name, "id")) {
        if (!f->seen_cid++)
            copy_field(f, f->cid, sizeof f->cid, v, n);
    } else if (!strcmp(name, "description")) {
        if (!f->seen_desc++)
            copy_field(f, f->desc, sizeof f->desc, v, n);
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
    if (!f->cte[0])
        return ST_MIME_ENC_7BIT;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(f->cte, tab[i].name))
            return tab[i].enc;
    anomaly(p, f, "unknown_transfer_encoding", f->cte);
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

static st_mime_kind kind_of(st_mime *p, unsigned k, struct frame *f)
{
    if (!strncmp(f->ctype, "multipart/", 10)) {
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
    if (strcmp(f->ctype, "message/rfc822") != 0 && strcmp(f->ctype, "message/global") != 0)
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

static void set_root_path(struct frame *f, const struct frame *parent, int multipart)
{
    const char *pp = parent ? parent->path : "";
    if (multipart)
        snprintf(f->path, sizeof f->path, "%s", pp);
    else if (snprintf(f->path, sizeof f->path, "%s%s1", pp, parent ? "." : "") >=
             (int)sizeof f->path)
        f->pub.flags |= ST_MIME_PF_ATTR_TRUNCATED;
}

static void param_out(st_mime_param *o, const st_mime_pval *pv)
{
    memset(o, 0, sizeof *o);
    if (!(pv->flags & ST_MIME_PARAM_PRESENT))
        return;
    o->value = pv->buf;
    o->len = pv->len;
    o->charset = pv->charset[0] ? pv->charset : NULL;
    o->language = pv->language[0] ? pv->language : NULL;
    o->flags = pv->flags;
}

/* Everything PART_BEGIN reports, from the interpreted header fields. */
static void describe(st_mime *p, unsigned k, struct frame *f)
{
    st_mime_part *o = &f->pub;
    if (!f->seen_ct || f->ct_bad) {
        snprintf(f->ctype, sizeof f->ctype, "%s",
                 f->digest_child ? "message/rfc822" : "text/plain");
        o->ct_source = f->seen_ct ? ST_MIME_CT_MALFORMED : ST_MIME_CT_DEFAULT;
    }
    o->kind = kind_of(p, k, f);
    o->encoding = encoding_of(p, f);
    if (o->kind == ST_MIME_MULTIPART) {
        f->digest = !strcmp(f->ctype, "multipart/digest");
        if (!identity(o->encoding)) {
            anomaly(p, f, "encoded_multipart", f->cte);
            o->encoding = ST_MIME_ENC_7BIT;
        }
    }
    if (p->lv[k]->base == o->depth)
        set_root_path(f, o->depth ? p->fr[o->depth - 1] : NULL, o->kind == ST_MIME_MULTIPART);
    o->path = f->path;
    o->content_type = f->ctype;
    o->charset = f->has_charset ? f->charset : NULL;
    o->boundary = f->has_boundary ? f->boundary : NULL;
    param_out(&o->name, &f->namev);
    param_out(&o->filename, &f->fnamev);
    o->disposition = f->seen_cd && f->disp[0] ? f->disp : NULL;
    o->content_id = f->seen_cid ? f->cid : NULL;
    o->description = f->seen_desc ? f->desc : NULL;
    o->transfer_encoding = f->cte[0] ? f->cte : NULL;
    if (o->encoding == ST_MIME_ENC_BASE64)
        st_b64_init(&f->dec.b64);
    else if (o->encoding == ST_MIME_ENC_QP)
        st_qp_init(&f->dec.qp);
    else if (o->encoding == ST_MIME_ENC_UUENCODE)
        st_uu_init(&f->dec.uu);
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
        size_t cap = p->fld_cap ? p->fld_cap * 2 : 32;
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
    scan_reset(L);
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
        int m = st_mime_boundary_match(line, n, (const uint8_t *)f->boundary, f->blen);
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
    scan_reset(L);
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
    if (snprintf(c->path, sizeof c->path, "%s%s%u", mp->path, mp->path[0] ? "." : "", mp->nchild) >=
        (int)sizeof c->path)
        c->pub.flags |= ST_MIME_PF_ATTR_TRUNCATED;
    c->pub.path = c->path;
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
    struct level *L = p->lv[k];
    uint64_t line_off = p->line_off;
    size_t rl = n + (size_t)cr + (size_t)lf;
    int fits = rl <= p->lim.max_line + 2;
    if (fits) {
        memcpy(L->replay, l, n);
        if (cr)
            L->replay[n] = '\r';
        if (lf)
            L->replay[n + (size_t)cr] = '\n';
    }
    anomaly(p, ltop(p, k), "missing_header_separator",
            fits ? excerpt(p, l, n) : "over-long first body line dropped");
    p->hb_len = p->line_start;
    end_headers(p, k, line_off);
    if (fits) {
        L->off = line_off;
        level_feed(p, k, L->replay, rl);
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
}

static void flush_all(st_mime *p, unsigned k)
{
    struct level *L = p->lv[k];
    flush_hold(p, k);
    if (L->held_cr)
        deliver(p, k, (const uint8_t *)"\r", 1);
    L->held_cr = 0;
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
    if (have + take > p->lim.max_line)
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
                f->dec.b64.n = 0, f->dec.b64.acc = 0, inner = n / 4 * 3;
            } else if (f->pub.encoding == ST_MIME_ENC_QP) {
                f->dec.qp.st = 0, f->dec.qp.nws = 0;
            } else if (f->pub.encoding == ST_MIME_ENC_UUENCODE) {
                f->dec.uu.over = 1, inner = n / 4 * 3;
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
    p->fr = xalloc(p, p->fr_cap * sizeof *p->fr);
    p->lv = xalloc(p, p->lv_cap * sizeof *p->lv);
    if (!p->fr || !p->lv || !ensure_level(p, 0) || !ensure_frame(p) || !reserve_hb(p, 1024)) {
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
    if (p->fr)
        for (unsigned i = 0; i < p->fr_cap; i++)
            free(p->fr[i]);
    if (p->lv)
        for (unsigned i = 0; i < p->lv_cap; i++)
            free(p->lv[i]);
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
