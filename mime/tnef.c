/*
 * tnef.c - streaming TNEF decoder (see tnef.h for the events and limits).
 *
 * Two resumable state machines, one inside the other. The outer one walks
 * the attribute stream: signature and key, then per attribute a 9-byte
 * header (level, id, length), the data and a 16-bit checksum. The inner one
 * walks the MAPI property list carried in attAttachment, byte by byte like
 * the outer one, so that no attribute is ever buffered: fields of at most 20
 * bytes are gathered in a small accumulator, names and MIME types are
 * captured up to max_name bytes, everything else is passed through or
 * skipped by counting.
 *
 * How it fails: never. Every length comes from the attacker: it is only
 * ever counted down against bytes that did arrive, never used to allocate or
 * to index. Errors become anomalies (see tnef.h); a bad signature or level
 * stops the outer machine, a malformed property list stops the inner one
 * for the rest of its attribute.
 */
#include "mime/tnef.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_SIG, S_HDR, S_DATA, S_SUM, S_STOP, S_DONE };
/* What the data of the current attribute is for. */
enum { K_SKIP, K_DATA, K_TITLE, K_CODEPAGE, K_MAPI };
/* MAPI property list states. */
enum {
    M_COUNT,
    M_TAG,
    M_GUID,
    M_NAMEID,
    M_NAMELEN,
    M_NAMESTR,
    M_VCOUNT,
    M_VLEN,
    M_VDATA,
    M_VPAD,
    M_FIXED,
    M_END,
    M_BAD
};
/* What a MAPI value is for. */
enum { V_SKIP, V_NAME, V_MIME, V_DATA };

/* Attribute ids (low word of the attribute tag). */
#define ATT_ATTACH_DATA  0x800Fu
#define ATT_ATTACH_TITLE 0x8010u
#define ATT_ATTACH_REND  0x9002u
#define ATT_ATTACHMENT   0x9005u
#define ATT_OEM_CODEPAGE 0x9007u
/* MAPI property ids and types. */
#define PR_ATTACH_DATA_OBJ      0x3701u
#define PR_ATTACH_FILENAME      0x3704u
#define PR_ATTACH_LONG_FILENAME 0x3707u
#define PR_ATTACH_MIME_TAG      0x370Eu
#define MV_FLAG                 0x1000u
#define PT_OBJECT               0x000Du
#define PT_STRING8              0x001Eu
#define PT_UNICODE              0x001Fu
#define PT_BINARY               0x0102u
/* Name ranks: a name replaces one of lower or equal rank. */
enum { R_NONE, R_SHORT, R_TITLE, R_LONG };

struct mapi {
    int state;
    uint8_t acc[20];
    size_t have;
    uint32_t nprops, nvals, vlen, vleft, iid_left;
    uint64_t skip; /* bytes left to skip in M_NAMESTR, M_VPAD, M_FIXED */
    uint16_t type, id;
    int what;
};

struct st_tnef {
    st_tnef_limits lim;
    st_tnef_fn fn;
    void *ctx;
    int state;
    uint8_t acc[20]; /* outer field being gathered */
    size_t have;
    uint32_t id, len, left; /* current attribute */
    uint16_t sum;
    int kind;
    unsigned codepage;
    unsigned long begun; /* attachments begun, dropped ones included */
    long index;
    int open, dropped, data_seen;
    uint64_t size;
    uint8_t *name; /* max_name bytes */
    size_t name_len;
    unsigned name_cp;
    int name_rank;
    uint8_t *cap; /* captured string value, max_name bytes */
    size_t cap_len;
    int cap_cut;
    char *mime; /* max_name + 1 bytes */
    unsigned anomalies;
    struct mapi m;
};

static uint32_t le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint16_t le16(const uint8_t *b)
{
    return (uint16_t)(b[0] | b[1] << 8);
}

/* Copy into acc what is missing of a want-byte field; returns bytes taken. */
static size_t gather(uint8_t *acc, size_t *have, size_t want, const uint8_t *p, size_t n)
{
    size_t k = want - *have;
    if (k > n)
        k = n;
    memcpy(acc + *have, p, k);
    *have += k;
    return k;
}

static long cur_index(const st_tnef *t)
{
    return t->open && !t->dropped ? t->index : -1;
}

static void emit(st_tnef *t, st_tnef_ev *ev)
{
    ev->index = cur_index(t);
    if (t->fn)
        t->fn(t->ctx, ev);
}

static void anomaly(st_tnef *t, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void anomaly(st_tnef *t, const char *name, const char *fmt, ...)
{
    char detail[160];
    st_tnef_ev ev = {.type = ST_TNEF_ANOMALY, .anomaly = name};
    if (t->anomalies > t->lim.max_anomalies)
        return;
    if (t->anomalies++ == t->lim.max_anomalies) {
        ev.anomaly = "tnef_too_many_anomalies";
        emit(t, &ev);
        return;
    }
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
        ev.detail = detail;
    }
    emit(t, &ev);
}

/* ---- attachments ---- */

static void attach_end(st_tnef *t)
{
    if (!t->open)
        return;
    if (!t->dropped) {
        st_tnef_ev ev = {.type = ST_TNEF_ATTACH_END, .size = t->size};
        if (t->name_rank != R_NONE) {
            ev.name = t->name;
            ev.name_len = t->name_len;
            ev.name_cp = t->name_cp;
        }
        ev.mime = t->mime[0] ? t->mime : NULL;
        emit(t, &ev);
    }
    t->open = 0;
}

static void attach_begin(st_tnef *t)
{
    attach_end(t);
    t->open = 1;
    t->data_seen = 0;
    t->size = 0;
    t->name_len = 0;
    t->name_rank = R_NONE;
    t->mime[0] = 0;
    t->dropped = t->begun++ >= t->lim.max_attachments;
    if (t->dropped) {
        if (t->begun == (unsigned long)t->lim.max_attachments + 1)
            anomaly(t, "tnef_too_many_attachments", "limit %u", t->lim.max_attachments);
        return;
    }
    t->index++;
    st_tnef_ev ev = {.type = ST_TNEF_ATTACH_BEGIN};
    emit(t, &ev);
}

static void need_attach(st_tnef *t)
{
    if (t->open)
        return;
    anomaly(t, "tnef_orphan_attribute", "attribute 0x%08x before attAttachRendData", t->id);
    attach_begin(t);
}

/* The first data source of an attachment wins; returns 1 if this one may go. */
static int claim_data(st_tnef *t, const char *what)
{
    if (t->data_seen) {
        anomaly(t, "tnef_duplicate_data", "%s skipped", what);
        return 0;
    }
    t->data_seen = 1;
    return 1;
}

static void deliver(st_tnef *t, const uint8_t *p, size_t n)
{
    if (n == 0 || !t->open || t->dropped)
        return;
    st_tnef_ev ev = {.type = ST_TNEF_ATTACH_DATA, .data = p, .len = n};
    t->size += n;
    emit(t, &ev);
}

/* ---- captured strings: names and MIME type ---- */

static void capture(st_tnef *t, const uint8_t *p, size_t n)
{
    size_t room = t->lim.max_name - t->cap_len;
    if (n > room) {
        n = room;
        t->cap_cut = 1;
    }
    memcpy(t->cap + t->cap_len, p, n);
    t->cap_len += n;
}

static void capture_reset(st_tnef *t)
{
    t->cap_len = 0;
    t->cap_cut = 0;
}

static size_t utf8_put(uint32_t c, uint8_t *b)
{
    if (c < 0x80) {
        b[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        b[0] = (uint8_t)(0xC0 | c >> 6);
        b[1] = (uint8_t)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        b[0] = (uint8_t)(0xE0 | c >> 12);
        b[1] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
        b[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    b[0] = (uint8_t)(0xF0 | c >> 18);
    b[1] = (uint8_t)(0x80 | (c >> 12 & 0x3F));
    b[2] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
    b[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

/* UTF-16LE s[n] up to its first NUL into out[max] as UTF-8; lone surrogates
 * become U+FFFD. Sets *cut when out was too small. */
static size_t utf16_to_utf8(const uint8_t *s, size_t n, uint8_t *out, size_t max, int *cut)
{
    size_t o = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint32_t c = le16(s + i);
        if (c == 0)
            break;
        if (c >= 0xD800 && c < 0xDC00 && i + 3 < n) {
            uint32_t d = le16(s + i + 2);
            if (d >= 0xDC00 && d < 0xE000) {
                c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
                i += 2;
            }
        }
        if (c >= 0xD800 && c < 0xE000)
            c = 0xFFFD;
        uint8_t b[4];
        size_t k = utf8_put(c, b);
        if (o + k > max) {
            *cut = 1;
            break;
        }
        memcpy(out + o, b, k);
        o += k;
    }
    return o;
}

/* The captured value as text in out[max]: UTF-8 from UTF-16LE, or the 8-bit
 * bytes up to the first NUL. */
static size_t cap_text(st_tnef *t, int unicode, uint8_t *out, size_t max, int *cut)
{
    *cut = t->cap_cut;
    if (unicode)
        return utf16_to_utf8(t->cap, t->cap_len, out, max, cut);
    const uint8_t *z = memchr(t->cap, 0, t->cap_len);
    size_t n = z ? (size_t)(z - t->cap) : t->cap_len;
    if (z)
        *cut = 0; /* what was cut came after the terminator */
    memcpy(out, t->cap, n);
    return n;
}

static void set_name(st_tnef *t, int rank, int unicode)
{
    int cut;
    if (rank < t->name_rank || !t->open)
        return;
    t->name_len = cap_text(t, unicode, t->name, t->lim.max_name, &cut);
    t->name_cp = unicode ? ST_TNEF_CP_UTF8 : t->codepage;
    t->name_rank = rank;
    if (cut)
        anomaly(t, "tnef_name_too_long", "cut to %zu bytes", t->name_len);
    if (t->dropped)
        return;
    st_tnef_ev ev = {.type = ST_TNEF_ATTACH_NAME, .name = t->name};
    ev.name_len = t->name_len;
    ev.name_cp = t->name_cp;
    emit(t, &ev);
}

static void set_mime(st_tnef *t, int unicode)
{
    int cut;
    size_t n = cap_text(t, unicode, (uint8_t *)t->mime, t->lim.max_name, &cut);
    t->mime[n] = 0; /* no NUL before: both conversions stop at the first */
}

/* ---- the MAPI property list of attAttachment ---- */

static void mapi_bad(st_tnef *t, const char *why, unsigned v)
{
    anomaly(t, "tnef_mapi_malformed", "%s 0x%04x", why, v);
    t->m.state = M_BAD;
}

static int is_variable(unsigned base)
{
    return base == PT_STRING8 || base == PT_UNICODE || base == PT_BINARY || base == PT_OBJECT;
}

/* Bytes of one value of a fixed-size type in TNEF (2-byte types padded to 4);
 * 0: not a type that can be skipped. */
static unsigned fixed_size(unsigned base)
{
    switch (base) {
    case 0x0002: /* PT_SHORT */
    case 0x0003: /* PT_LONG */
    case 0x0004: /* PT_FLOAT */
    case 0x000A: /* PT_ERROR */
    case 0x000B: /* PT_BOOLEAN */
        return 4;
    case 0x0005: /* PT_DOUBLE */
    case 0x0006: /* PT_CURRENCY */
    case 0x0007: /* PT_APPTIME */
    case 0x0014: /* PT_I8 */
    case 0x0040: /* PT_SYSTIME */
        return 8;
    case 0x0048: /* PT_CLSID */
        return 16;
    default:
        return 0;
    }
}

static void prop_done(st_tnef *t)
{
    t->m.have = 0;
    t->m.state = --t->m.nprops == 0 ? M_END : M_TAG;
}

static void value_begin(st_tnef *t)
{
    struct mapi *m = &t->m;
    unsigned base = m->type & ~MV_FLAG;
    m->have = 0;
    if (is_variable(base)) {
        m->state = M_VLEN;
        return;
    }
    m->skip = fixed_size(base);
    m->state = M_FIXED;
}

static void value_done(st_tnef *t)
{
    if (--t->m.nvals == 0)
        prop_done(t);
    else
        value_begin(t);
}

/* After the tag (and name) of a property: how many values follow. */
static void prop_values(st_tnef *t)
{
    struct mapi *m = &t->m;
    unsigned base = m->type & ~MV_FLAG;
    if (!is_variable(base) && fixed_size(base) == 0) {
        mapi_bad(t, "unknown property type", m->type);
        return;
    }
    m->have = 0;
    if ((m->type & MV_FLAG) || is_variable(base)) {
        m->state = M_VCOUNT;
        return;
    }
    m->nvals = 1;
    value_begin(t);
}

/* What a variable-length value of the current property is for. */
static int value_use(st_tnef *t)
{
    struct mapi *m = &t->m;
    int text = m->type == PT_STRING8 || m->type == PT_UNICODE;
    if (text && (m->id == PR_ATTACH_LONG_FILENAME || m->id == PR_ATTACH_FILENAME))
        return V_NAME;
    if (text && m->id == PR_ATTACH_MIME_TAG)
        return V_MIME;
    if ((m->type == PT_BINARY || m->type == PT_OBJECT) && m->id == PR_ATTACH_DATA_OBJ)
        return claim_data(t, "PR_ATTACH_DATA_OBJ") ? V_DATA : V_SKIP;
    return V_SKIP;
}

static void vdata_end(st_tnef *t)
{
    struct mapi *m = &t->m;
    int unicode = m->type == PT_UNICODE;
    if (m->what == V_NAME)
        set_name(t, m->id == PR_ATTACH_LONG_FILENAME ? R_LONG : R_SHORT, unicode);
    else if (m->what == V_MIME)
        set_mime(t, unicode);
    m->skip = (4 - (m->vlen & 3)) & 3;
    if (m->skip)
        m->state = M_VPAD;
    else
        value_done(t);
}

static void vlen_done(st_tnef *t)
{
    struct mapi *m = &t->m;
    m->vlen = m->vleft = le32(m->acc);
    m->what = (m->type & MV_FLAG) ? V_SKIP : value_use(t);
    m->iid_left = m->what == V_DATA && m->type == PT_OBJECT ? 16 : 0;
    capture_reset(t);
    m->state = M_VDATA;
    if (m->vleft == 0)
        vdata_end(t);
}

static size_t vdata(st_tnef *t, const uint8_t *p, size_t n)
{
    struct mapi *m = &t->m;
    size_t k = n < m->vleft ? n : m->vleft;
    if (m->what == V_NAME || m->what == V_MIME) {
        capture(t, p, k);
    } else if (m->what == V_DATA) {
        size_t iid = k < m->iid_left ? k : m->iid_left;
        m->iid_left -= (uint32_t)iid;
        deliver(t, p + iid, k - iid);
    }
    m->vleft -= (uint32_t)k;
    if (m->vleft == 0)
        vdata_end(t);
    return k;
}

static size_t skip(st_tnef *t, size_t n)
{
    struct mapi *m = &t->m;
    size_t k = n < m->skip ? n : (size_t)m->skip;
    m->skip -= k;
    if (m->skip > 0)
        return k;
    if (m->state == M_NAMESTR)
        prop_values(t);
    else
        value_done(t);
    return k;
}

/* A gathered field of a property's tag or name is complete. */
static void tag_field(st_tnef *t)
{
    struct mapi *m = &t->m;
    uint32_t v = le32(m->acc + (m->state == M_GUID ? 16 : 0));
    if (m->state == M_TAG) {
        m->type = le16(m->acc);
        m->id = le16(m->acc + 2);
        if (m->id >= 0x8000)
            m->state = M_GUID; /* a named property */
        else
            prop_values(t);
    } else if (m->state == M_GUID) {
        if (v > 1)
            mapi_bad(t, "unknown name kind", v & 0xFFFF);
        else
            m->state = v == 0 ? M_NAMEID : M_NAMELEN;
    } else if (m->state == M_NAMEID) {
        prop_values(t);
    } else { /* M_NAMELEN */
        m->skip = ((uint64_t)v + 3) & ~(uint64_t)3;
        m->state = M_NAMESTR;
        if (m->skip == 0)
            prop_values(t);
    }
}

/* A gathered field of the property list is complete. */
static void field_done(st_tnef *t)
{
    struct mapi *m = &t->m;
    m->have = 0;
    if (m->state == M_COUNT) {
        m->nprops = le32(m->acc);
        m->state = m->nprops ? M_TAG : M_END;
    } else if (m->state == M_VCOUNT) {
        m->nvals = le32(m->acc);
        if (m->nvals == 0)
            prop_done(t);
        else
            value_begin(t);
    } else if (m->state == M_VLEN) {
        vlen_done(t);
    } else {
        tag_field(t);
    }
}

static size_t field_size(int state)
{
    return state == M_GUID ? 20 : 4;
}

static size_t mapi_step(st_tnef *t, const uint8_t *p, size_t n)
{
    struct mapi *m = &t->m;
    switch (m->state) {
    case M_VDATA:
        return vdata(t, p, n);
    case M_NAMESTR:
    case M_VPAD:
    case M_FIXED:
        return skip(t, n);
    case M_END:
        anomaly(t, "tnef_mapi_malformed", "bytes after the last property");
        m->state = M_BAD;
        return n;
    case M_BAD:
        return n;
    default: {
        size_t want = field_size(m->state);
        size_t k = gather(m->acc, &m->have, want, p, n);
        if (m->have == want)
            field_done(t);
        return k;
    }
    }
}

static void mapi_feed(st_tnef *t, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t k = mapi_step(t, p, n);
        p += k;
        n -= k;
    }
}

static void mapi_reset(st_tnef *t)
{
    memset(&t->m, 0, sizeof t->m);
    t->m.state = M_COUNT;
}

static void mapi_end(st_tnef *t)
{
    if (t->m.state != M_END && t->m.state != M_BAD)
        anomaly(t, "tnef_mapi_malformed", "property list truncated (state %d)", t->m.state);
}

/* ---- the attribute stream ---- */

static int attr_kind(st_tnef *t)
{
    switch (t->id & 0xFFFF) {
    case ATT_ATTACH_REND:
        attach_begin(t);
        return K_SKIP;
    case ATT_ATTACH_DATA:
        need_attach(t);
        return claim_data(t, "attAttachData") ? K_DATA : K_SKIP;
    case ATT_ATTACH_TITLE:
        need_attach(t);
        capture_reset(t);
        return K_TITLE;
    case ATT_ATTACHMENT:
        need_attach(t);
        mapi_reset(t);
        return K_MAPI;
    case ATT_OEM_CODEPAGE:
        capture_reset(t);
        return K_CODEPAGE;
    default:
        return K_SKIP;
    }
}

static void attr_data_end(st_tnef *t)
{
    if (t->kind == K_TITLE)
        set_name(t, R_TITLE, 0);
    else if (t->kind == K_CODEPAGE && t->cap_len >= 4)
        t->codepage = le32(t->cap);
    else if (t->kind == K_MAPI)
        mapi_end(t);
    t->have = 0;
    t->state = S_SUM;
}

static void hdr_done(st_tnef *t)
{
    uint8_t level = t->acc[0];
    t->id = le32(t->acc + 1);
    t->len = t->left = le32(t->acc + 5);
    t->have = 0;
    if (level != 1 && level != 2) {
        anomaly(t, "tnef_bad_level", "level %u, attribute 0x%08x", level, t->id);
        t->state = S_STOP;
        return;
    }
    t->sum = 0;
    t->kind = attr_kind(t);
    t->state = S_DATA;
    if (t->left == 0)
        attr_data_end(t);
}

static size_t attr_data(st_tnef *t, const uint8_t *p, size_t n)
{
    size_t k = n < t->left ? n : t->left;
    for (size_t i = 0; i < k; i++)
        t->sum = (uint16_t)(t->sum + p[i]);
    if (t->kind == K_DATA)
        deliver(t, p, k);
    else if (t->kind == K_TITLE || t->kind == K_CODEPAGE)
        capture(t, p, k);
    else if (t->kind == K_MAPI)
        mapi_feed(t, p, k);
    t->left -= (uint32_t)k;
    if (t->left == 0)
        attr_data_end(t);
    return k;
}

static void sum_done(st_tnef *t)
{
    uint16_t want = le16(t->acc);
    if (want != t->sum)
        anomaly(t, "tnef_bad_checksum", "attribute 0x%08x: 0x%04x, computed 0x%04x", t->id, want,
                t->sum);
    t->have = 0;
    t->state = S_HDR;
}

static void sig_done(st_tnef *t)
{
    uint32_t sig = le32(t->acc);
    t->have = 0;
    if (sig != ST_TNEF_SIGNATURE) {
        anomaly(t, "tnef_bad_signature", "0x%08x", sig);
        t->state = S_STOP;
        return;
    }
    t->state = S_HDR;
}

/* One step of the outer machine; consumes at least one byte. */
static size_t step(st_tnef *t, const uint8_t *p, size_t n)
{
    static const size_t want[] = {[S_SIG] = 6, [S_HDR] = 9, [S_SUM] = 2};
    if (t->state == S_DATA)
        return attr_data(t, p, n);
    size_t k = gather(t->acc, &t->have, want[t->state], p, n);
    if (t->have < want[t->state])
        return k;
    if (t->state == S_SIG)
        sig_done(t);
    else if (t->state == S_HDR)
        hdr_done(t);
    else
        sum_done(t);
    return k;
}

/* ---- API ---- */

void st_tnef_limits_default(st_tnef_limits *lim)
{
    lim->max_attachments = 1000;
    lim->max_name = 8192;
    lim->max_anomalies = 100;
}

st_tnef *st_tnef_new(const st_tnef_limits *lim, st_tnef_fn fn, void *ctx)
{
    st_tnef_limits l;
    st_tnef_limits_default(&l);
    if (lim) {
        l.max_attachments = lim->max_attachments ? lim->max_attachments : l.max_attachments;
        l.max_name = lim->max_name ? lim->max_name : l.max_name;
        l.max_anomalies = lim->max_anomalies ? lim->max_anomalies : l.max_anomalies;
    }
    if (l.max_name < 16)
        l.max_name = 16; /* room for the code page and a short type */
    st_tnef *t = calloc(1, sizeof *t + 3 * l.max_name + 1);
    if (!t)
        return NULL;
    t->lim = l;
    t->fn = fn;
    t->ctx = ctx;
    t->index = -1;
    t->name = (uint8_t *)(t + 1);
    t->cap = t->name + l.max_name;
    t->mime = (char *)(t->cap + l.max_name);
    return t;
}

void st_tnef_feed(st_tnef *t, const uint8_t *p, size_t n)
{
    while (n > 0 && t->state < S_STOP) {
        size_t k = step(t, p, n);
        p += k;
        n -= k;
    }
}

void st_tnef_finish(st_tnef *t)
{
    if (t->state == S_DONE)
        return;
    if (t->state == S_SIG)
        anomaly(t, "tnef_truncated", "%zu bytes, no signature", t->have);
    else if (t->state == S_HDR && t->have > 0)
        anomaly(t, "tnef_truncated", "in an attribute header (%zu of 9 bytes)", t->have);
    else if (t->state == S_SUM)
        anomaly(t, "tnef_truncated", "in the checksum of attribute 0x%08x", t->id);
    else if (t->state == S_DATA)
        anomaly(t, "tnef_length_overrun", "attribute 0x%08x: %u of %u bytes", t->id,
                t->len - t->left, t->len);
    attach_end(t);
    t->state = S_DONE;
}

void st_tnef_free(st_tnef *t)
{
    free(t);
}

size_t st_tnef_memory(const st_tnef *t)
{
    return sizeof *t + 3 * t->lim.max_name + 1;
}
