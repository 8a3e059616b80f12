/*
 * body.c - body bytes of the MIME parser through the part's transfer
 * decoder (mime.h: b64.c, qp.c, uu.c) out as DATA events; the decoded body
 * of a message/... part also goes on to the nested level.
 *
 * Entry points (mime_int.h): st_mime_deliver (body bytes of level k, from
 * scan.c or level.c: they go to the innermost entity; a multipart's
 * preamble is its own DATA, undecoded; between children or in its
 * epilogue they are nobody's and are dropped), st_mime_sniff_end (the
 * first bytes of a base64 message part, held to tell whether it is base64
 * at all, go on), st_mime_decoder_init (describe.c, once the encoding is
 * known), st_mime_decoder_finish and st_mime_decoder_report (part.c, at the end of
 * the part: the decoder's last bytes, then its complaints, once per part),
 * st_mime_decoder_gap (level.c: lost bytes), st_mime_dbuf_shrink.
 *
 * Identity encodings (7bit, 8bit, binary, unknown) pass the caller's bytes
 * on without copying. Encoded bodies are decoded in slices of at most
 * DSLICE input bytes into the level's buffer, which grows to fit a slice's
 * output (at most DBUF) and goes back to the DBUF_MIN bytes inside the level
 * at the end of the part.
 *
 * How it fails: never. Without memory for a bigger buffer the slices are
 * what the small one holds; without memory for a quoted-printable or
 * uuencode state the body is passed raw (anomaly out_of_memory).
 *
 * Not handled: the content is not looked at (charsets, types: layers
 * above); a decoder's bad input is counted by the decoder and reported by
 * name, not located.
 */
#include "mime/mime_int.h"

#include <string.h>

#define DSLICE 4096 /* input bytes decoded per call */
#define DBUF   (DSLICE + ST_QP_WS_MAX + 128)

/* ------------------------------------------------------------ output */

/* Decoded bytes of f: a DATA event, and the nested level of a message part. */
static void data_out(st_mime *p, unsigned k, struct frame *f, const uint8_t *d, size_t n)
{
    if (!n)
        return;
    f->pub.decoded_size += n;
    st_mime_event ev = {.type = ST_MIME_EV_DATA, .part = &f->pub, .data = d, .len = n};
    p->fn(p->ctx, &ev);
    if (f->pub.kind == ST_MIME_MESSAGE && k + 1 < p->nlv)
        st_mime_level_feed(p, k + 1, d, n);
}

/* Decoder output bound for s input bytes. */
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
    uint8_t *q = st_mime_mem_resize(p, small ? NULL : L->dbuf, small ? 0 : L->dbuf_cap, cap);
    if (q) {
        L->dbuf = q;
        L->dbuf_cap = cap;
        return s;
    }
    size_t fit = e == ST_MIME_ENC_BASE64 ? (L->dbuf_cap / 3 - 1) * 4 : L->dbuf_cap - out_max(e, 0);
    return fit < s ? fit : s;
}

/* ------------------------------------------------------------ sniffing */

/* Could s[n] start a base64 body? Only the alphabet, '=' and blanks. */
static int looks_base64(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n'))
            return 0;
    }
    return 1;
}

/* What f's first raw bytes told is settled: a base64 message part whose
 * body is no base64 (a message sent as it is under a base64 label) would
 * decode to garbage that hides the message the raw bytes show, so it is
 * passed on as it is (as Python's email package parses it); then the bytes
 * held go on. */
void st_mime_sniff_end(st_mime *p, unsigned k, struct frame *f)
{
    if (!f->sniffing)
        return;
    f->sniffing = 0;
    if (!looks_base64(f->sniff, f->nsniff)) {
        f->pub.encoding = ST_MIME_ENC_7BIT;
        f->pub.flags |= ST_MIME_PF_RAW_MESSAGE;
        st_mime_anomaly(p, f, "message_not_base64", st_mime_excerpt(p, f->sniff, f->nsniff));
    }
    st_mime_deliver(p, k, f->sniff, f->nsniff);
}

/* Raw bytes held while f's encoding is being sniffed: what is used. */
static size_t sniff_take(st_mime *p, unsigned k, struct frame *f, const uint8_t *d, size_t n)
{
    size_t room = SNIFF_MAX - f->nsniff, take = n < room ? n : room;
    memcpy(f->sniff + f->nsniff, d, take);
    f->nsniff = (uint8_t)(f->nsniff + take);
    if (f->nsniff == SNIFF_MAX)
        st_mime_sniff_end(p, k, f);
    return take;
}

/* ------------------------------------------------------------ delivery */

/* Body bytes of level k go to its innermost entity. A multipart there is
 * in its preamble (DATA of its own: all of its body when no part follows),
 * between children or in its epilogue: those bytes are nobody's. */
void st_mime_deliver(st_mime *p, unsigned k, const uint8_t *d, size_t n)
{
    struct frame *f = st_mime_ltop(p, k);
    if (!n || !f)
        return;
    if (f->pub.kind == ST_MIME_MULTIPART) {
        if (!f->nchild && !f->closed)
            data_out(p, k, f, d, n);
        return;
    }
    if (f->sniffing) {
        size_t used = sniff_take(p, k, f, d, n);
        d += used;
        n -= used;
        if (!n)
            return;
    }
    if (st_mime_identity(f->pub.encoding)) {
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

/* ------------------------------------------------------------ decoders */

/* f's decoder, for its encoding now known; out of memory the body is
 * passed raw (encoding ST_MIME_ENC_UNKNOWN). */
void st_mime_decoder_init(st_mime *p, struct frame *f)
{
    st_mime_part *o = &f->pub;
    if (o->encoding == ST_MIME_ENC_BASE64) {
        st_b64_init(&f->b64);
    } else if (o->encoding == ST_MIME_ENC_QP) {
        if ((f->qp = st_mime_mem_resize(p, NULL, 0, sizeof *f->qp)))
            st_qp_init(f->qp);
    } else if (o->encoding == ST_MIME_ENC_UUENCODE) {
        if ((f->uu = st_mime_mem_resize(p, NULL, 0, sizeof *f->uu)))
            st_uu_init(f->uu);
    }
    f->sniffing = o->kind == ST_MIME_MESSAGE && o->encoding == ST_MIME_ENC_BASE64;
    if ((o->encoding == ST_MIME_ENC_QP && !f->qp) ||
        (o->encoding == ST_MIME_ENC_UUENCODE && !f->uu)) {
        st_mime_anomaly(p, f, "out_of_memory", "encoded body passed raw");
        o->encoding = ST_MIME_ENC_UNKNOWN;
    }
}

/* f's body is over: what its decoder still holds goes out. */
void st_mime_decoder_finish(st_mime *p, unsigned k, struct frame *f)
{
    st_mime_sniff_end(p, k, f);
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
void st_mime_decoder_report(st_mime *p, struct frame *f)
{
    unsigned bad = 0;
    if (f->pub.encoding == ST_MIME_ENC_BASE64) {
        const st_b64 *s = &f->b64;
        if (s->garbage)
            st_mime_anomaly_n(p, f, "base64_garbage", "%llu bytes skipped", s->garbage), bad = 1;
        if (s->flags & ST_B64_DATA_AFTER_PAD)
            st_mime_anomaly(p, f, "base64_data_after_padding", NULL), bad = 1;
        if (s->flags & (ST_B64_NO_PADDING | ST_B64_LONE_SEXTET))
            st_mime_anomaly(p, f, "base64_truncated", NULL), bad = 1;
    } else if (f->pub.encoding == ST_MIME_ENC_QP) {
        if (f->qp->bad)
            st_mime_anomaly_n(p, f, "qp_bad_escape", "%llu kept literally", f->qp->bad), bad = 1;
    } else if (f->pub.encoding == ST_MIME_ENC_UUENCODE) {
        const st_uu *s = f->uu;
        if (s->flags & ST_UU_BAD_LINE)
            st_mime_anomaly(p, f, "uu_bad_line", NULL), bad = 1;
        if (s->flags & ST_UU_NO_END)
            st_mime_anomaly(p, f, "uu_missing_end", NULL), bad = 1;
        if (s->flags & ST_UU_NO_BEGIN)
            st_mime_anomaly(p, f, "uu_missing_begin", NULL), bad = 1;
    }
    if (bad)
        f->pub.flags |= ST_MIME_PF_DECODE_ERRORS;
}

/* n undecoded bytes of f's body were lost: the decoder restarts at the next
 * byte. Returns the decoded bytes that may be lost with them (what a level
 * nested in a message part is told). */
uint64_t st_mime_decoder_gap(struct frame *f, uint64_t n)
{
    uint64_t inner = n;
    if (f->pub.encoding == ST_MIME_ENC_BASE64) {
        f->b64.n = 0, f->b64.acc = 0, inner = n / 4 * 3;
    } else if (f->pub.encoding == ST_MIME_ENC_QP) {
        f->qp->st = 0, f->qp->nws = 0;
    } else if (f->pub.encoding == ST_MIME_ENC_UUENCODE) {
        f->uu->over = 1, inner = n / 4 * 3;
    }
    return inner;
}

/* Back to the level's small decoder buffer (after a part). */
void st_mime_dbuf_shrink(st_mime *p, struct level *L)
{
    if (L->dbuf != L->dbuf_small) {
        st_mime_mem_resize(p, L->dbuf, L->dbuf_cap, 0);
        L->dbuf = L->dbuf_small;
        L->dbuf_cap = DBUF_MIN;
    }
}
