/*
 * describe.c - what PART_BEGIN reports about an entity: its Content-* header
 * fields interpreted as they complete, then, at the end of the header block,
 * its content type (or the default), kind, transfer encoding and path.
 *
 * Entry points (mime_int.h): st_mime_interpret (headers.c, for every
 * complete field: Content-Type, -Transfer-Encoding, -Disposition, -ID,
 * -Description; the first of each wins, later Type, Transfer-Encoding and
 * Disposition fields are anomalies, but the boundary of a later multipart
 * Content-Type, like the other value of a repeated boundary=, delimits
 * parts too), st_mime_describe (headers.c, at the end of the block: fills
 * st_mime_part and starts the part's decoder; says boundary_reused and
 * encoded_message).
 *
 * Values are parsed by params.c into stack buffers and kept among the
 * frame's strings (part.c); the pointers of st_mime_part are set once no
 * string will be added (publish), since the string buffer may move until
 * then. The default type is text/plain, message/rfc822 in a digest.
 *
 * Limits: content type CTYPE_CAP - 1 bytes (longer: malformed), tokens
 * TOKEN_CAP - 1, charset ST_MIME_CHARSET_MAX - 1, boundary BOUNDARY_CAP
 * (longer: the multipart is a leaf), name= and filename= ST_MIME_PARAM_MAX
 * (parsed in PARAM_SMALL bytes on the stack first, in a heap buffer only
 * when longer), Content-ID and -Description FIELD_CAP - 1 (flag). A part
 * becomes multipart or message/... only within max_depth, max_msg_depth and
 * max_parts; otherwise it is a leaf (anomaly, flag).
 *
 * How it fails: never. A malformed value is an anomaly and the default
 * applies; out of memory drops the attribute or leaves a message/... part
 * unparsed (anomaly out_of_memory).
 *
 * Not handled: RFC 2047 words in parameter values (left as they are, see
 * mime.h); the charset is not checked against any list; Content-Type
 * parameters other than charset, boundary and name are not kept.
 */
#include "mime/mime_int.h"

#include <string.h>

#define PARAM_SMALL  256 /* name= / filename= values up to this are parsed on the stack */
#define CTYPE_CAP    128
#define TOKEN_CAP    64
#define FIELD_CAP    512 /* Content-ID, Content-Description */
#define BOUNDARY_CAP 256

/* ------------------------------------------------------------ parameters */

/* What a parameter's flags say that is wrong, as anomalies. */
static void set_param(st_mime *p, struct frame *f, st_mime_pval *pv, const char *what)
{
    if (pv->flags & ST_MIME_PARAM_DUPLICATE)
        st_mime_anomaly(p, f, "duplicate_parameter", what);
    if (pv->flags & ST_MIME_PARAM_GAP)
        st_mime_anomaly(p, f, "rfc2231_missing_section", what);
    if (pv->flags & (ST_MIME_PARAM_BAD_EXT | ST_MIME_PARAM_BAD_PCT))
        st_mime_anomaly(p, f, "rfc2231_malformed", what);
    if (pv->flags & ST_MIME_PARAM_TRUNCATED) {
        st_mime_anomaly(p, f, "attribute_truncated", what);
        f->pub.flags |= ST_MIME_PF_ATTR_TRUNCATED;
    }
}

static void init_pval(st_mime_pval *pv, uint8_t *buf, size_t cap)
{
    memset(pv, 0, sizeof *pv);
    pv->buf = buf;
    pv->cap = cap;
}

/* A token (type, encoding) parsed on the stack, kept among f's strings. */
static void keep_token(st_mime *p, struct frame *f, uint32_t *o, const char *tok)
{
    *o = st_mime_fstr_add(p, f, tok, strlen(tok));
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
        big = st_mime_mem_resize(p, NULL, 0, ST_MIME_PARAM_MAX + 1);
        if (big) {
            init_pval(&pv, big, ST_MIME_PARAM_MAX + 1);
            st_mime_param_get(v, n, at, attr, &pv);
        } else {
            st_mime_anomaly(p, f, "out_of_memory", attr);
        }
    }
    set_param(p, f, &pv, attr);
    fp->val = st_mime_fstr_add(p, f, pv.buf, pv.len);
    fp->cs = pv.charset[0] ? st_mime_fstr_add(p, f, pv.charset, strlen(pv.charset)) : NONE;
    fp->lang = pv.language[0] ? st_mime_fstr_add(p, f, pv.language, strlen(pv.language)) : NONE;
    fp->len = pv.len;
    fp->flags = fp->val == NONE ? 0 : pv.flags;
    st_mime_mem_resize(p, big, big ? ST_MIME_PARAM_MAX + 1 : 0, 0);
}

/* A second boundary of f (another value of a repeated boundary=, or the
 * boundary of a repeated multipart Content-Type): lines of either delimit
 * its parts, so that neither reading of the header hides a part. One is
 * kept; it must differ from the first. */
static void keep_boundary2(st_mime *p, struct frame *f, const uint8_t *b, size_t n)
{
    if (f->blen2 || n == 0 || n > BOUNDARY_CAP || !f->has_boundary ||
        (n == f->blen && !memcmp(b, st_mime_fstr(f, f->o_boundary), n)))
        return;
    f->o_boundary2 = st_mime_fstr_add(p, f, b, n);
    if (f->o_boundary2 != NONE)
        f->blen2 = n;
}

/* boundary=: kept when 1..BOUNDARY_CAP bytes; longer, the multipart will
 * be a leaf (boundary_too_long). Given twice, both are kept. */
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
        f->o_boundary = st_mime_fstr_add(p, f, b, pv.len);
        f->blen = pv.len;
        f->has_boundary = f->o_boundary != NONE;
    }
    if ((pv.flags & ST_MIME_PARAM_DUPLICATE) && st_mime_param_last(v, n, at, "boundary", &pv))
        keep_boundary2(p, f, b, pv.len);
}

/* A repeated Content-Type: the first one describes the part, but the
 * boundary of a multipart one still delimits parts. */
static void dup_ctype(st_mime *p, struct frame *f, const uint8_t *v, size_t n)
{
    size_t at;
    char ct[CTYPE_CAP];
    uint8_t b[BOUNDARY_CAP + 2];
    st_mime_pval pv;
    st_mime_anomaly(p, f, "duplicate_content_type", st_mime_excerpt(p, v, n));
    if (st_mime_ctype_parse(v, n, ct, sizeof ct, &at) < 0 || strncmp(ct, "multipart/", 10) != 0)
        return;
    init_pval(&pv, b, sizeof b);
    if (st_mime_param_get(v, n, at, "boundary", &pv))
        keep_boundary2(p, f, b, pv.len);
}

/* ------------------------------------------------------------ fields */

static void parse_ctype(st_mime *p, struct frame *f, const uint8_t *v, size_t n)
{
    size_t at;
    char ct[CTYPE_CAP], cs[ST_MIME_CHARSET_MAX];
    st_mime_pval pv;
    if (st_mime_ctype_parse(v, n, ct, sizeof ct, &at) < 0) {
        f->ct_bad = 1;
        st_mime_anomaly(p, f, "malformed_content_type", st_mime_excerpt(p, v, n));
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
        st_mime_anomaly(p, f, "malformed_content_disposition", st_mime_excerpt(p, v, n));
    else
        keep_token(p, f, &f->o_disp, t);
    get_fparam(p, f, v, n, at, "filename", &f->fname);
}

static void parse_cte(st_mime *p, struct frame *f, const uint8_t *v, size_t n)
{
    size_t at;
    char t[TOKEN_CAP];
    if (st_mime_token_parse(v, n, t, sizeof t, &at) < 0)
        st_mime_anomaly(p, f, "malformed_content_transfer_encoding", st_mime_excerpt(p, v, n));
    else
        keep_token(p, f, &f->o_cte, t);
}

/* Content-ID, Content-Description: the raw value, cut at FIELD_CAP - 1. */
static void copy_field(st_mime *p, struct frame *f, uint32_t *o, const uint8_t *v, size_t n)
{
    if (n >= FIELD_CAP) {
        n = FIELD_CAP - 1;
        f->pub.flags |= ST_MIME_PF_ATTR_TRUNCATED;
    }
    *o = st_mime_fstr_add(p, f, v, n);
}

/* A header field of f's block (name lower-cased): the Content-* fields are
 * parsed at once; the first of each kind wins. */
void st_mime_interpret(st_mime *p, struct frame *f, const char *name, const uint8_t *v, size_t n)
{
    if (strncmp(name, "content-", 8) != 0)
        return;
    name += 8;
    if (!strcmp(name, "type")) {
        if (f->seen_ct++)
            dup_ctype(p, f, v, n);
        else
            parse_ctype(p, f, v, n);
    } else if (!strcmp(name, "transfer-encoding")) {
        if (f->seen_cte++)
            st_mime_anomaly(p, f, "duplicate_content_transfer_encoding", st_mime_excerpt(p, v, n));
        else
            parse_cte(p, f, v, n);
    } else if (!strcmp(name, "disposition")) {
        if (f->seen_cd++)
            st_mime_anomaly(p, f, "duplicate_content_disposition", st_mime_excerpt(p, v, n));
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

/* ------------------------------------------------------------ the description */

/* The decoder for f's Content-Transfer-Encoding. */
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
    const char *cte = st_mime_fstr(f, f->o_cte);
    if (!cte)
        return ST_MIME_ENC_7BIT;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(cte, tab[i].name))
            return tab[i].enc;
    st_mime_anomaly(p, f, "unknown_transfer_encoding", cte);
    return ST_MIME_ENC_UNKNOWN;
}

/* May f hold other entities (max_depth)? */
static int can_contain(st_mime *p, struct frame *f)
{
    if (f->pub.depth >= p->lim.max_depth) {
        f->pub.flags |= ST_MIME_PF_DEPTH_LIMIT;
        st_mime_anomaly_n(p, f, "depth_exceeded", "depth %llu", f->pub.depth);
        return 0;
    }
    return 1;
}

/* How the body of f, of content type ct, is parsed, after the limits. */
static st_mime_kind kind_of(st_mime *p, unsigned k, struct frame *f, const char *ct)
{
    if (!strncmp(ct, "multipart/", 10)) {
        if (f->boundary_long) {
            st_mime_anomaly(p, f, "boundary_too_long", NULL);
            f->pub.flags |= ST_MIME_PF_BAD_BOUNDARY;
            return ST_MIME_LEAF;
        }
        if (!f->has_boundary) {
            st_mime_anomaly(p, f, "multipart_without_boundary", NULL);
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
        st_mime_anomaly_n(p, f, "message_depth_exceeded", "level %llu", k);
        return ST_MIME_LEAF;
    }
    if (p->nparts >= p->lim.max_parts) {
        f->pub.flags |= ST_MIME_PF_PARTS_LIMIT;
        st_mime_anomaly(p, f, "too_many_parts", NULL);
        return ST_MIME_LEAF;
    }
    if (!st_mime_ensure_frame(p) || !st_mime_ensure_level(p, k + 1)) {
        st_mime_anomaly(p, f, "out_of_memory", "message part left unparsed");
        return ST_MIME_LEAF;
    }
    return ST_MIME_MESSAGE;
}

/* Does boundary b[n] delimit an enclosing multipart of the same level? */
static int enclosing_uses(const st_mime *p, const struct frame *f, const char *b, size_t n)
{
    for (unsigned i = p->lv[f->level]->base; i < f->pub.depth; i++) {
        const struct frame *e = p->fr[i];
        if (e->pub.kind == ST_MIME_MULTIPART &&
            ((e->blen == n && !memcmp(st_mime_fstr(e, e->o_boundary), b, n)) ||
             (e->blen2 == n && !memcmp(st_mime_fstr(e, e->o_boundary2), b, n))))
            return 1;
    }
    return 0;
}

/* A multipart whose boundary an enclosing one uses already (RFC 2046
 * 5.1.2 forbids it): lines are matched innermost first, so its delimiter
 * lines are its own until its close delimiter, then the enclosing one's. */
static void check_reuse(st_mime *p, struct frame *f)
{
    const char *b = st_mime_fstr(f, f->o_boundary);
    const char *b2 = st_mime_fstr(f, f->o_boundary2);
    if (enclosing_uses(p, f, b, f->blen))
        st_mime_anomaly(p, f, "boundary_reused", b);
    else if (f->blen2 && enclosing_uses(p, f, b2, f->blen2))
        st_mime_anomaly(p, f, "boundary_reused", b2);
}

/* RFC 2046 5.2.1: message/rfc822 is 7bit, 8bit or binary, never encoded
 * (RFC 6532 3.5 allows base64 and quoted-printable for message/global).
 * Encoding one hides its parts from a scanner that does not decode it:
 * it is decoded and parsed all the same, and said. */
static void check_encoded_message(st_mime *p, struct frame *f, const char *ct)
{
    st_mime_enc e = f->pub.encoding;
    if (e == ST_MIME_ENC_UUENCODE ||
        (!strcmp(ct, "message/rfc822") && (e == ST_MIME_ENC_BASE64 || e == ST_MIME_ENC_QP)))
        st_mime_anomaly(p, f, "encoded_message", st_mime_fstr(f, f->o_cte));
}

/* The path of a level's root entity (mime.h "Part paths"). */
static void set_root_path(st_mime *p, struct frame *f, const struct frame *parent, int multipart)
{
    const char *pp = parent ? st_mime_fpath(parent) : "";
    if (multipart)
        st_mime_set_path(p, f, pp, "", "");
    else
        st_mime_set_path(p, f, pp, parent ? "." : "", "1");
}

/* A kept parameter as mime.h shows it. */
static void param_out(st_mime_param *o, const struct frame *f, const struct fparam *fp)
{
    memset(o, 0, sizeof *o);
    if (!(fp->flags & ST_MIME_PARAM_PRESENT))
        return;
    o->value = (const uint8_t *)f->s + fp->val;
    o->len = fp->len;
    o->charset = st_mime_fstr(f, fp->cs);
    o->language = st_mime_fstr(f, fp->lang);
    o->flags = fp->flags;
}

/* The part's strings, now that none will be added (the buffer stays put). */
static void publish(struct frame *f)
{
    st_mime_part *o = &f->pub;
    o->content_type = st_mime_fstr(f, f->o_ctype);
    o->charset = f->has_charset ? st_mime_fstr(f, f->o_charset) : NULL;
    o->boundary = f->has_boundary ? st_mime_fstr(f, f->o_boundary) : NULL;
    param_out(&o->name, f, &f->name);
    param_out(&o->filename, f, &f->fname);
    o->disposition = st_mime_fstr(f, f->o_disp);
    o->content_id = st_mime_fstr(f, f->o_cid);
    o->description = st_mime_fstr(f, f->o_desc);
    o->transfer_encoding = st_mime_fstr(f, f->o_cte);
}

/* Everything PART_BEGIN reports, from the interpreted header fields. */
void st_mime_describe(st_mime *p, unsigned k, struct frame *f)
{
    st_mime_part *o = &f->pub;
    const char *def = f->digest_child ? "message/rfc822" : "text/plain";
    if (!f->seen_ct || f->ct_bad)
        o->ct_source = f->seen_ct ? ST_MIME_CT_MALFORMED : ST_MIME_CT_DEFAULT;
    if (f->o_ctype == NONE)
        keep_token(p, f, &f->o_ctype, def);
    const char *ct = f->o_ctype == NONE ? def : st_mime_fstr(f, f->o_ctype);
    o->kind = kind_of(p, k, f, ct);
    o->encoding = encoding_of(p, f);
    if (o->kind == ST_MIME_MULTIPART) {
        f->digest = !strcmp(ct, "multipart/digest");
        if (!st_mime_identity(o->encoding)) {
            st_mime_anomaly(p, f, "encoded_multipart", st_mime_fstr(f, f->o_cte));
            o->encoding = ST_MIME_ENC_7BIT;
        }
        check_reuse(p, f);
    } else if (o->kind == ST_MIME_MESSAGE) {
        check_encoded_message(p, f, ct);
    }
    if (p->lv[k]->base == o->depth)
        set_root_path(p, f, o->depth ? p->fr[o->depth - 1] : NULL, o->kind == ST_MIME_MULTIPART);
    publish(f);
    if (f->o_ctype == NONE)
        o->content_type = def;
    st_mime_decoder_init(p, f);
}
