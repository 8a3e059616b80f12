/*
 * message_tnef.c - winmail.dat: the attachments inside a TNEF part.
 *
 * Outlook wraps attachments in application/ms-tnef. The TNEF part is
 * listed like any attachment; while its decoded bytes stream past, a TNEF
 * decoder (mime/tnef.c) unpacks them, and each inner attachment becomes an
 * entry of its own right after it, with mime_path "<part>.tnef.<n>", its
 * name converted from its code page, its bytes hashed and stored like any
 * other. One TNEF part is unpacked at a time (they never nest in a MIME
 * part's bytes); a TNEF inside a TNEF is listed, not unpacked.
 *
 * How it fails: a malformed TNEF stream gives tnef_* anomalies; what was
 * unpacked before stays listed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime/hdr.h"
#include "mime/tnef.h"
#include "output/message_int.h"
#include "output/record.h"

typedef struct st_msg_tnef {
    st_tnef *dec;
    unsigned part_id;
    char path[64];
    json_t *entry;   /* the inner attachment in progress (borrowed) */
    st_store_obj *o; /* its store object, or NULL: hash only */
    st_hash hash;
    int open;
} st_msg_tnef;

int st_msg_tnef_wanted(const st_mime_part *p)
{
    const char *ct = p->content_type ? p->content_type : "";
    if (!strcmp(ct, "application/ms-tnef") || !strcmp(ct, "application/vnd.ms-tnef"))
        return 1;
    return p->filename.value && p->filename.len == 11 &&
           !strncasecmp((const char *)p->filename.value, "winmail.dat", 11);
}

static void inner_begin(st_message *m, st_msg_tnef *t, long index)
{
    char path[96];
    snprintf(path, sizeof path, "%s.tnef.%ld", t->path, index + 1);
    t->entry = json_pack("{s:n, s:s, s:n, s:s, s:n, s:n, s:s}", "filename", "content_type",
                         "application/octet-stream", "charset", "disposition", "attachment",
                         "content_description", "content_id", "mime_path", path);
    if (!t->entry || json_array_size(m->attachments) >= m->cfg.max_attachments) {
        json_decref(t->entry);
        t->entry = NULL;
        m->attach_dropped++;
        return;
    }
    json_array_append_new(m->attachments, t->entry);
    t->o = m->cfg.files ? st_store_begin(m->cfg.files, m->cfg.attachment_store_max, ST_HASH_ALL)
                        : NULL;
    if (!t->o)
        st_hash_init(&t->hash, ST_HASH_ALL);
    t->open = 1;
}

/* The name in UTF-8: as is from UTF-16 properties, else from its code page. */
static json_t *inner_name(st_message *m, const st_tnef_ev *ev, const char *path)
{
    if (!ev->name)
        return json_null();
    char cs[16], *conv = malloc(ev->name_len * 3 + 1), *clean = malloc(ev->name_len * 3 + 1);
    json_t *j = json_null();
    if (conv && clean) {
        snprintf(cs, sizeof cs, ev->name_cp == ST_TNEF_CP_UTF8 ? "utf-8"
                                : ev->name_cp            ? "cp%u"
                                                         : "windows-1252",
                 ev->name_cp);
        size_t n = st_charset_to_utf8(cs, ev->name, ev->name_len, conv, ev->name_len * 3 + 1, NULL);
        unsigned fs = st_hdr_fname_is_suspicious(conv, n);
        if (fs)
            st_msg_suspicious(m, fs, path);
        n = st_hdr_fname_clean(conv, n, clean, ev->name_len * 3 + 1, NULL);
        j = st_json_stringn(clean, n, n);
    }
    free(conv);
    free(clean);
    return j;
}

static void inner_end(st_message *m, st_msg_tnef *t, const st_tnef_ev *ev)
{
    st_store_result r;
    memset(&r, 0, sizeof r);
    if (t->o)
        st_store_end(t->o, &r);
    else
        st_hash_final(&t->hash, &r.digest);
    t->o = NULL;
    t->open = 0;
    json_t *e = t->entry;
    t->entry = NULL;
    if (!e)
        return;
    const char *path = json_string_value(json_object_get(e, "mime_path"));
    json_object_set_new(e, "filename", inner_name(m, ev, path));
    if (ev->mime && *ev->mime)
        json_object_set_new(e, "content_type", st_json_string(ev->mime, 256));
    json_object_set_new(e, "size", json_integer((json_int_t)ev->size));
    json_object_set_new(e, "md5", json_string(r.digest.md5));
    json_object_set_new(e, "sha1", json_string(r.digest.sha1));
    json_object_set_new(e, "sha256", json_string(r.digest.sha256));
    json_object_set_new(e, "stored", r.stored ? json_string(r.path) : json_null());
    json_object_set_new(e, "truncated", json_boolean(ev->size > m->cfg.attachment_store_max));
    json_object_set_new(e, "missing_bytes", json_integer(0));
}

static void on_tnef(void *ctx, const st_tnef_ev *ev)
{
    st_message *m = ctx;
    st_msg_tnef *t = m->tnef;
    if (ev->type == ST_TNEF_ATTACH_BEGIN) {
        inner_begin(m, t, ev->index);
    } else if (ev->type == ST_TNEF_ATTACH_DATA && t->open) {
        if (t->o)
            st_store_write(t->o, ev->data, ev->len);
        else
            st_hash_update(&t->hash, ev->data, ev->len);
    } else if (ev->type == ST_TNEF_ATTACH_END && t->open) {
        inner_end(m, t, ev);
    } else if (ev->type == ST_TNEF_ANOMALY) {
        const char *d = ev->detail;
        st_msg_anomaly(m, ev->anomaly, d, d ? strlen(d) : 0, t->path);
    }
}

void st_msg_tnef_begin(st_message *m, const st_mime_part *p)
{
    if (m->tnef)
        return; /* a TNEF inside a TNEF part's bytes is listed, not unpacked */
    st_msg_tnef *t = calloc(1, sizeof *t);
    if (!t)
        return;
    t->part_id = p->id;
    snprintf(t->path, sizeof t->path, "%s", p->path ? p->path : "");
    m->tnef = t;
    t->dec = st_tnef_new(NULL, on_tnef, m);
    if (!t->dec)
        st_msg_tnef_free(m);
}

void st_msg_tnef_data(st_message *m, const st_mime_part *p, const uint8_t *d, size_t n)
{
    if (m->tnef && m->tnef->part_id == p->id)
        st_tnef_feed(m->tnef->dec, d, n);
}

void st_msg_tnef_end(st_message *m, const st_mime_part *p)
{
    if (!m->tnef || m->tnef->part_id != p->id)
        return;
    st_tnef_finish(m->tnef->dec);
    st_msg_tnef_free(m);
}

void st_msg_tnef_free(st_message *m)
{
    st_msg_tnef *t = m->tnef;
    if (!t)
        return;
    if (t->open) { /* the part ended inside an inner attachment */
        if (t->o)
            st_store_abort(t->o);
        else
            st_hash_free(&t->hash);
    }
    st_tnef_free(t->dec);
    free(t);
    m->tnef = NULL;
}
