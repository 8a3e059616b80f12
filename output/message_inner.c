/*
 * message_inner.c - attachments found inside another part's bytes.
 *
 * A TNEF part (winmail.dat) or a uuencoded block in a text part carries
 * files that no MIME header describes. Each becomes an attachment entry
 * of its own, appended when it starts (so it follows the part holding
 * it), its bytes hashed and stored like any other, its name and type
 * filled in when it ends.
 */
#include <stdlib.h>
#include <string.h>

#include "mailhdr/mailhdr.h"
#include "output/message_int.h"
#include "output/record.h"

int st_msg_inner_begin(st_message *m, st_msg_inner *x, const char *path)
{
    memset(x, 0, sizeof *x);
    if (json_array_size(m->attachments) >= m->cfg.max_attachments) {
        m->attach_dropped++;
        return 0;
    }
    x->entry = json_pack("{s:n, s:s, s:n, s:n, s:n, s:n, s:s}", "filename", "content_type",
                         "application/octet-stream", "charset", "disposition",
                         "content_description", "content_id", "mime_path", path);
    if (!x->entry)
        return 0;
    json_array_append_new(m->attachments, x->entry);
    if (m->cfg.files)
        x->o = st_store_begin(m->cfg.files, m->cfg.attachment_store_max, ST_HASH_ALL);
    if (!x->o)
        st_hash_init(&x->hash, ST_HASH_ALL);
    x->open = 1;
    return 1;
}

void st_msg_inner_data(st_msg_inner *x, const uint8_t *d, size_t n)
{
    if (!x->open)
        return;
    x->size += n;
    if (x->o)
        st_store_write(x->o, d, n);
    else
        st_hash_update(&x->hash, d, n);
}

void st_msg_inner_end(st_message *m, st_msg_inner *x, json_t *filename, const char *ctype)
{
    st_store_result r;
    memset(&r, 0, sizeof r);
    if (!x->open) {
        json_decref(filename);
        return;
    }
    if (x->o)
        st_store_end(x->o, &r);
    else
        st_hash_final(&x->hash, &r.digest);
    json_t *e = x->entry;
    json_object_set_new(e, "filename", filename ? filename : json_null());
    if (ctype && *ctype)
        json_object_set_new(e, "content_type", st_json_string(ctype, 256));
    json_object_set_new(e, "size", json_integer((json_int_t)x->size));
    json_object_set_new(e, "md5", json_string(r.digest.md5));
    json_object_set_new(e, "sha1", json_string(r.digest.sha1));
    json_object_set_new(e, "sha256", json_string(r.digest.sha256));
    json_object_set_new(e, "stored", r.stored ? json_string(r.path) : json_null());
    json_object_set_new(e, "truncated", json_boolean(x->size > m->cfg.attachment_store_max));
    json_object_set_new(e, "missing_bytes", json_integer(0));
    x->open = 0;
}

void st_msg_inner_abort(st_msg_inner *x)
{
    if (!x->open)
        return;
    if (x->o)
        st_store_abort(x->o);
    else
        st_hash_free(&x->hash);
    x->open = 0;
}

/* A file name from inside a part: to UTF-8 from charset, flagged, cleaned. */
json_t *st_msg_inner_name(st_message *m, const char *charset, const void *name, size_t n,
                          const char *path)
{
    if (!name)
        return json_null();
    size_t cap = n * 3 + 1;
    char *conv = malloc(cap), *clean = malloc(cap);
    json_t *j = json_null();
    if (conv && clean) {
        size_t k = st_charset_to_utf8(charset, name, n, conv, cap, NULL);
        unsigned fs = st_hdr_fname_is_suspicious(conv, k);
        if (fs)
            st_msg_suspicious(m, fs, path);
        k = st_hdr_fname_clean(conv, k, clean, cap, NULL);
        j = st_json_stringn(clean, k, k);
    }
    free(conv);
    free(clean);
    return j;
}
