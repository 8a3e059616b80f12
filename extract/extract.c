/*
 * extract.c - one message, streamed: the MIME parser's events are routed to
 * the top-level headers (headers.c), the two bodies (body.c), the
 * attachments (attach.c) and the files inside them (tnef.c, uu.c), the
 * parts list (parts.c) and the preambles (preamble.c); the anomalies of
 * all of them are kept here, in order.
 *
 * How it fails: never. Anomalies (the parser's and ours) are capped at
 * ST_X_MAX_ANOMALIES entries and the rest counted, so that a consumer can
 * say that and how much was cut. Out of memory while the message streams
 * drops the entry that needed it; at creation it gives NULL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract/extract_int.h"
#include "mailhdr/mailhdr.h"

void st_extract_config_default(st_extract_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->body_max = 1u << 20;
    cfg->header_value_max = 16u << 10;
    cfg->max_attachments = 1000;
    cfg->omit_body = 0;
    st_mime_limits_default(&cfg->mime);
}

/* ------------------------------------------------------------ strings */

st_xstr st_x_text(const char *s, size_t n, size_t cap)
{
    st_xstr r = {NULL, 0};
    if (s)
        r.s = st_charset_utf8_dup(s, n, cap, &r.n);
    return r;
}

st_xstr st_x_cstr(const char *s, size_t cap)
{
    return st_x_text(s, s ? strlen(s) : 0, cap);
}

void st_x_str_free(st_xstr *s)
{
    free(s->s);
    s->s = NULL;
    s->n = 0;
}

int st_x_strs_add(st_xstrs *l, st_xstr s)
{
    if (!s.s)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        st_xstr *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            st_x_str_free(&s);
            return 0;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return 1;
}

void st_x_strs_free(st_xstrs *l)
{
    for (size_t i = 0; i < l->n; i++)
        st_x_str_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------- anomalies */

void st_x_anomaly(st_extract *x, const char *name, const char *detail, size_t detail_len,
                  const char *mime_path)
{
    st_xfacts *f = &x->f;
    if (f->nanomalies >= ST_X_MAX_ANOMALIES) {
        f->anomalies_dropped++;
        return;
    }
    if (f->nanomalies == f->anomalies_cap) {
        size_t cap = f->anomalies_cap ? f->anomalies_cap * 2 : 4;
        st_xanomaly *v = realloc(f->anomalies, cap * sizeof *v);
        if (!v)
            return;
        f->anomalies = v;
        f->anomalies_cap = cap;
    }
    st_xanomaly *a = &f->anomalies[f->nanomalies];
    a->name = st_x_cstr(name, ST_X_DETAIL_MAX);
    if (!a->name.s)
        return;
    a->detail = st_x_text(detail, detail_len, ST_X_DETAIL_MAX);
    a->mime_path = st_x_cstr(mime_path, ST_X_PATH_MAX);
    f->nanomalies++;
}

void st_x_anomaly_count(st_extract *x, const char *name, uint64_t n, const char *mime_path)
{
    char d[24];
    int len = snprintf(d, sizeof d, "%llu", (unsigned long long)n);
    st_x_anomaly(x, name, d, (size_t)len, mime_path);
}

static void anomalies_free(st_xfacts *f)
{
    for (size_t i = 0; i < f->nanomalies; i++) {
        st_x_str_free(&f->anomalies[i].name);
        st_x_str_free(&f->anomalies[i].detail);
        st_x_str_free(&f->anomalies[i].mime_path);
    }
    free(f->anomalies);
    f->anomalies = NULL;
    f->nanomalies = f->anomalies_cap = 0;
}

/* -------------------------------------------------------------- events */

/* An entity begins: the preamble of its multipart is settled first (an
 * entry it becomes goes before this one's), then its parts entry, then
 * what it is: a container, a body, or an attachment. */
static void part_begin(st_extract *x, const st_mime_part *p)
{
    st_x_pre_child(x, p);
    st_x_part_begin(x, p);
    if (p->kind == ST_MIME_MULTIPART)
        st_x_pre_begin(x, p);
    else if (st_x_body_claim(x, p))
        st_x_part_own(x, p);
    else
        st_x_part_attach(x, p, st_x_attach_begin(x, p));
    st_x_uu_begin(x, p);
}

static void on_event(void *ctx, const st_mime_event *ev)
{
    st_extract *x = ctx;
    const st_mime_part *p = ev->part;

    switch (ev->type) {
    case ST_MIME_EV_HEADER:
        if (p && p->id == 0 && p->msg_depth == 0)
            st_x_headers_add(x, ev->name, ev->value, ev->value_len);
        break;
    case ST_MIME_EV_PART_BEGIN:
        part_begin(x, p);
        break;
    case ST_MIME_EV_DATA:
        if (p->kind == ST_MIME_MULTIPART) {
            st_x_pre_data(x, p, ev->data, ev->len);
            break;
        }
        st_x_part_data(x, p, ev->data, ev->len);
        if (!st_x_body_data(x, p, ev->data, ev->len))
            st_x_attach_data(x, p, ev->data, ev->len);
        st_x_uu_data(x, p, ev->data, ev->len);
        break;
    case ST_MIME_EV_PART_END:
        if (p->kind == ST_MIME_MULTIPART)
            st_x_pre_end(x, p);
        else if (!st_x_body_end(x, p))
            st_x_attach_end(x, p);
        st_x_part_end(x, p);
        st_x_uu_end(x, p);
        break;
    case ST_MIME_EV_ANOMALY:
        st_x_anomaly(x, ev->name ? ev->name : "mime", (const char *)ev->value, ev->value_len,
                     p ? p->path : NULL);
        break;
    }
}

st_extract *st_extract_new(const st_extract_config *cfg, const st_extract_files *files)
{
    st_extract *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->cfg = *cfg;
    x->files = *files;
    x->f.omit_body = cfg->omit_body;
    if (st_x_headers_init(x) != 0)
        goto fail;
    x->mime = st_mime_new(&x->cfg.mime, on_event, x);
    if (!x->mime)
        goto fail;
    return x;
fail:
    st_extract_free(x);
    return NULL;
}

void st_extract_on_body(st_extract *x, st_extract_body_fn fn, void *ctx)
{
    x->on_body = fn;
    x->on_body_ctx = ctx;
}

void st_extract_on_plain(st_extract *x, void *(*open_plain)(void *ctx))
{
    x->open_plain = open_plain;
}

void st_extract_feed(st_extract *x, const uint8_t *data, size_t len)
{
    if (!x->finished && len)
        st_mime_feed(x->mime, data, len);
}

void st_extract_gap(st_extract *x, uint64_t len)
{
    if (!x->finished && len)
        st_mime_gap(x->mime, len);
}

void st_extract_cut(st_extract *x)
{
    x->cut = 1;
}

void st_extract_finish(st_extract *x)
{
    if (x->finished)
        return;
    x->finished = 1;
    x->finishing = 1;
    st_mime_finish(x->mime);
    x->finishing = 0;
    st_x_headers_finish(x);
}

const st_xfacts *st_extract_facts(const st_extract *x)
{
    return &x->f;
}

size_t st_extract_memory(const st_extract *x)
{
    return sizeof *x + st_mime_memory(x->mime) + st_x_headers_memory(x) + st_x_body_memory(x) +
           x->opencap * sizeof *x->open + x->popencap * sizeof *x->popen +
           x->f.parts_cap * sizeof *x->f.parts;
}

void st_extract_free(st_extract *x)
{
    if (!x)
        return;
    st_mime_free(x->mime);
    st_x_uu_free(x);
    st_x_pre_free(x);
    st_x_parts_free(x);
    st_x_attach_free(x);
    st_x_body_free(x);
    st_x_headers_free(x);
    anomalies_free(&x->f);
    free(x);
}
