/*
 * message.c - one message, streamed: the MIME parser's events are routed to
 * the top-level headers (message_headers.c), the two bodies (message_body.c)
 * and the attachments (message_attach.c); at the end their fields are added
 * to the record's message object.
 *
 * How it fails: never. Anomalies (the parser's and ours) are capped at
 * ST_MSG_MAX_ANOMALIES entries; the summary entries added at the end
 * (headers_capped, too_many_attachments, too_many_anomalies) always fit, so
 * a cut list still says that and how much was cut. Out of memory while the
 * message streams drops the entry that needed it; at creation it gives NULL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/message_int.h"
#include "output/record.h"

void st_message_config_default(st_message_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->files = NULL;
    cfg->attachment_store_max = 64ull << 20;
    cfg->body_max = 1u << 20;
    cfg->header_value_max = 16u << 10;
    cfg->max_attachments = 1000;
    cfg->omit_body = 0;
    st_mime_limits_default(&cfg->mime);
}

static json_t *anomaly_entry(const char *name, const char *detail, size_t detail_len,
                             const char *mime_path)
{
    json_t *a = json_object();
    if (!a)
        return NULL;
    json_object_set_new(a, "name", st_json_string(name, ST_MSG_DETAIL_MAX));
    json_object_set_new(
        a, "detail", detail ? st_json_stringn(detail, detail_len, ST_MSG_DETAIL_MAX) : json_null());
    json_object_set_new(a, "mime_path", st_json_string(mime_path, 32768));
    return a;
}

void st_msg_anomaly(st_message *m, const char *name, const char *detail, size_t detail_len,
                    const char *mime_path)
{
    if (json_array_size(m->anomalies) >= ST_MSG_MAX_ANOMALIES) {
        m->anomalies_dropped++;
        return;
    }
    json_t *a = anomaly_entry(name, detail, detail_len, mime_path);
    if (a)
        json_array_append_new(m->anomalies, a);
}

void st_msg_anomaly_count(st_message *m, const char *name, uint64_t n, const char *mime_path)
{
    char d[24];
    int len = snprintf(d, sizeof d, "%llu", (unsigned long long)n);
    st_msg_anomaly(m, name, d, (size_t)len, mime_path);
}

/* Summary anomalies of finish: beyond the cap, so that they are never lost. */
static void summary(json_t *list, const char *name, uint64_t n)
{
    char d[24];
    int len = snprintf(d, sizeof d, "%llu", (unsigned long long)n);
    json_t *a = anomaly_entry(name, d, (size_t)len, NULL);
    if (a)
        json_array_append_new(list, a);
}

static void on_event(void *ctx, const st_mime_event *ev)
{
    st_message *m = ctx;
    const st_mime_part *p = ev->part;

    switch (ev->type) {
    case ST_MIME_EV_HEADER:
        if (p && p->id == 0 && p->msg_depth == 0)
            st_msg_headers_add(m, ev->name, ev->value, ev->value_len);
        break;
    case ST_MIME_EV_PART_BEGIN:
        if (p->kind != ST_MIME_MULTIPART && !st_msg_body_claim(m, p))
            st_msg_attach_begin(m, p);
        st_msg_uu_begin(m, p);
        break;
    case ST_MIME_EV_DATA:
        if (!st_msg_body_data(m, p, ev->data, ev->len))
            st_msg_attach_data(m, p, ev->data, ev->len);
        st_msg_uu_data(m, p, ev->data, ev->len);
        break;
    case ST_MIME_EV_PART_END:
        if (p->kind != ST_MIME_MULTIPART && !st_msg_body_end(m, p))
            st_msg_attach_end(m, p);
        st_msg_uu_end(m, p);
        break;
    case ST_MIME_EV_ANOMALY:
        st_msg_anomaly(m, ev->name ? ev->name : "mime", (const char *)ev->value, ev->value_len,
                       p ? p->path : NULL);
        break;
    }
}

st_message *st_message_new(const st_message_config *cfg)
{
    st_message *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = *cfg;
    m->attachments = json_array();
    m->anomalies = json_array();
    if (!m->attachments || !m->anomalies || st_msg_headers_init(m) != 0)
        goto fail;
    m->mime = st_mime_new(&m->cfg.mime, on_event, m);
    if (!m->mime)
        goto fail;
    return m;
fail:
    st_message_free(m);
    return NULL;
}

void st_message_feed(st_message *m, const uint8_t *data, size_t len)
{
    if (!m->finished && len)
        st_mime_feed(m->mime, data, len);
}

void st_message_gap(st_message *m, uint64_t len)
{
    if (!m->finished && len)
        st_mime_gap(m->mime, len);
}

void st_message_finish(st_message *m, json_t *obj)
{
    if (!m->finished) {
        m->finished = 1;
        st_mime_finish(m->mime);
    }
    st_msg_headers_json(m, obj);
    st_msg_body_json(m, obj);
    json_object_set(obj, "attachments", m->attachments);

    json_t *an = json_copy(m->anomalies);
    if (!an)
        return;
    if (m->hdr.dropped)
        summary(an, "headers_capped", m->hdr.dropped);
    if (m->attach_dropped)
        summary(an, "too_many_attachments", m->attach_dropped);
    if (m->anomalies_dropped)
        summary(an, "too_many_anomalies", m->anomalies_dropped);
    json_object_set_new(obj, "anomalies", an);
}

size_t st_message_memory(const st_message *m)
{
    return sizeof *m + st_mime_memory(m->mime) + st_msg_headers_memory(&m->hdr) +
           st_msg_body_memory(m) + m->wcap * sizeof *m->w;
}

void st_message_free(st_message *m)
{
    if (!m)
        return;
    st_mime_free(m->mime);
    st_msg_attach_free(m);
    st_msg_uu_free(m);
    st_msg_body_free(m);
    st_msg_headers_free(&m->hdr);
    json_decref(m->attachments);
    json_decref(m->anomalies);
    free(m);
}
