/*
 * fuzz_mime_ser.h - serialise st_mime events for comparison (header only).
 *
 * Every field of the part at PART_BEGIN and PART_END, HEADER and ANOMALY
 * text in order, and each part's DATA concatenated and written at its
 * PART_END: the parser promises the concatenation of a part's DATA, not
 * its chunking, and the DATA of a message/rfc822 part (emitted as its
 * bytes arrive) interleaves with the events of the embedded message in a
 * way that depends on the chunking.
 */
#ifndef ST_FUZZ_MIME_SER_H
#define ST_FUZZ_MIME_SER_H

#include "fuzz/fuzz_common.h"
#include "mime/mime.h"

typedef struct mime_ser {
    fz_buf ev;
    fz_buf *data; /* per part id */
    size_t ndata;
} mime_ser;

static inline fz_buf *ser_data(mime_ser *s, unsigned id)
{
    if (id >= s->ndata) {
        size_t n = s->ndata ? s->ndata : 16;
        while (n <= id)
            n *= 2;
        fz_buf *d = realloc(s->data, n * sizeof *d);
        if (!d)
            abort();
        memset(d + s->ndata, 0, (n - s->ndata) * sizeof *d);
        s->data = d;
        s->ndata = n;
    }
    return &s->data[id];
}

static inline void mime_ser_free(mime_ser *s)
{
    fz_free(&s->ev);
    for (size_t i = 0; i < s->ndata; i++)
        fz_free(&s->data[i]);
    free(s->data);
    memset(s, 0, sizeof *s);
}

static inline void ser_param(fz_buf *b, const st_mime_param *p)
{
    fz_bytes(b, p->value, p->len);
    if (p->value)
        FZ_CHECK(p->value[p->len] == 0, "param value not NUL-terminated");
    fz_str(b, p->charset);
    fz_str(b, p->language);
    fz_u64(b, p->flags);
}

static inline void ser_part(fz_buf *b, const st_mime_part *p)
{
    fz_u64(b, p->id);
    fz_u64(b, (uint64_t)(int64_t)p->parent_id);
    fz_str(b, p->path);
    fz_u64(b, p->depth);
    fz_u64(b, p->msg_depth);
    fz_u64(b, (uint64_t)p->kind);
    fz_str(b, p->content_type);
    fz_u64(b, (uint64_t)p->ct_source);
    fz_str(b, p->charset);
    fz_str(b, p->boundary);
    ser_param(b, &p->name);
    ser_param(b, &p->filename);
    fz_str(b, p->disposition);
    fz_str(b, p->content_id);
    fz_str(b, p->description);
    fz_str(b, p->transfer_encoding);
    fz_u64(b, (uint64_t)p->encoding);
    fz_u64(b, p->header_offset);
    fz_u64(b, p->body_offset);
    fz_u64(b, p->nheaders);
    fz_u64(b, p->decoded_size);
    fz_u64(b, p->raw_size);
    fz_u64(b, p->missing);
    fz_u64(b, p->flags);
}

static inline void mime_ser_event(mime_ser *s, const st_mime_event *e)
{
    fz_buf *b = &s->ev;
    if (e->type == ST_MIME_EV_DATA) {
        FZ_CHECK(e->part, "DATA without part");
        FZ_CHECK(e->len == 0 || e->data, "DATA without bytes");
        fz_put(ser_data(s, e->part->id), e->data, e->len);
        return;
    }
    fz_u64(b, (uint64_t)e->type);
    switch (e->type) {
    case ST_MIME_EV_HEADER:
        FZ_CHECK(e->part && e->name, "HEADER without part or name");
        fz_u64(b, e->part->id);
        fz_str(b, e->name);
        fz_bytes(b, e->value, e->value_len);
        if (e->value)
            FZ_CHECK(e->value[e->value_len] == 0, "header value not NUL-terminated");
        break;
    case ST_MIME_EV_PART_BEGIN:
    case ST_MIME_EV_PART_END:
        FZ_CHECK(e->part, "PART event without part");
        ser_part(b, e->part);
        if (e->type == ST_MIME_EV_PART_END) {
            fz_buf *d = ser_data(s, e->part->id);
            FZ_CHECK(d->n == e->part->decoded_size, "part %u: %zu DATA bytes, decoded_size %llu",
                     e->part->id, d->n, (unsigned long long)e->part->decoded_size);
            fz_bytes(b, d->p ? d->p : (const uint8_t *)"", d->n);
            fz_free(d);
        }
        break;
    case ST_MIME_EV_ANOMALY:
        FZ_CHECK(e->name, "ANOMALY without name");
        fz_u64(b, e->part ? e->part->id : UINT64_MAX);
        fz_str(b, e->name);
        fz_bytes(b, e->value, e->value_len);
        break;
    default:
        FZ_CHECK(0, "unknown event type %d", (int)e->type);
    }
}

#endif
