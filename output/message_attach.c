/*
 * message_attach.c - the attachments list: every leaf part that is not a
 * body, and every message/rfc822|global part (its DATA is the embedded
 * message), in the order the parts begin, at any depth.
 *
 * The entry is made at PART_BEGIN (description fields) and completed at
 * PART_END (size, hashes, storage). Decoded bytes are streamed into the
 * store, which hashes them, or only hashed when there is no store. A
 * message part stays open while its own parts stream, so the open
 * attachments form a stack keyed by part id (one message part per level
 * plus one leaf: at most max_msg_depth + 2). Only ST_MSG_STORE_OPEN of
 * them hold a store object (16 KiB buffer each); deeper ones are hashed
 * only (anomaly too_many_open_attachments, "stored": null).
 *
 * File names are data, never paths: RFC 2231 bytes are converted from
 * their declared charset, RFC 2047 words decoded, the result made valid
 * UTF-8 and capped (st_hdr_fname_clean). Suspicious names (path
 * separators, "..", NUL, RTLO...) give the anomaly suspicious_filename.
 *
 * How it fails: beyond max_attachments, parts are counted, not listed
 * (anomaly too_many_attachments at the end); a store error leaves the entry
 * unstored (anomaly store_error); out of memory drops the entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailhdr/mailhdr.h"
#include "output/message_int.h"
#include "output/record.h"

/* -------------------------------------------------------------- names */

static const struct {
    unsigned flag;
    const char *name;
} fs_names[] = {
    {ST_HDR_FS_PATHSEP, "path_separator"},
    {ST_HDR_FS_DOTDOT, "dotdot"},
    {ST_HDR_FS_NUL, "nul"},
    {ST_HDR_FS_CTRL, "control"},
    {ST_HDR_FS_LONG, "long"},
    {ST_HDR_FS_BIDI, "bidi"},
    {ST_HDR_FS_DOUBLE, "double_extension"},
    {ST_HDR_FS_ABSOLUTE, "absolute"},
    {ST_HDR_FS_BADUTF8, "bad_utf8"},
    {ST_HDR_FS_EMPTY, "empty"},
    {ST_HDR_FS_PADDING, "padding"},
    {ST_HDR_FS_INVIS, "invisible"},
};

void st_msg_suspicious(st_message *m, unsigned flags, const char *path)
{
    char d[256];
    size_t n = 0;
    for (size_t i = 0; i < sizeof fs_names / sizeof fs_names[0]; i++) {
        if (!(flags & fs_names[i].flag))
            continue;
        int w = snprintf(d + n, sizeof d - n, "%s%s", n ? "," : "", fs_names[i].name);
        if (w > 0 && (size_t)w < sizeof d - n)
            n += (size_t)w;
    }
    st_msg_anomaly(m, "suspicious_filename", d, n, path);
}

enum { FN_CHARSET, FN_2047, FN_CLEAN };

/* One step of the file name; *cut when the output did not fit in cap. */
static size_t fn_step(int step, const char *cs, const char *in, size_t n, char *out, size_t cap,
                      int *cut)
{
    unsigned fl = 0;
    size_t o;
    if (step == FN_CHARSET) {
        o = st_charset_to_utf8(cs, in, n, out, cap, &fl);
        *cut = (fl & ST_CHARSET_F_TRUNCATED) != 0;
    } else if (step == FN_2047) {
        o = st_hdr_decode(in, n, out, cap, NULL, &fl);
        *cut = (fl & ST_HDR_F_TRUNCATED) != 0;
    } else {
        o = st_hdr_fname_clean(in, n, out, cap, &fl);
        *cut = (fl & ST_HDR_FN_CUT) != 0;
    }
    return o;
}

/* A step into a heap buffer sized for n input bytes, run again with the
 * full ST_MSG_FNAME_BUF only when that was cut: the result is the same as
 * with buffers of the full size, which normal names never need. */
static char *fn_run(int step, const char *cs, const char *in, size_t *n)
{
    size_t cap = 4 * *n + 16 < ST_MSG_FNAME_BUF ? 4 * *n + 16 : ST_MSG_FNAME_BUF;
    for (;;) {
        char *out = malloc(cap);
        int cut = 0;
        if (!out)
            return NULL;
        size_t o = fn_step(step, cs, in, *n, out, cap, &cut);
        if (!cut || cap == ST_MSG_FNAME_BUF) {
            *n = o;
            return out;
        }
        free(out);
        cap = ST_MSG_FNAME_BUF;
    }
}

/* Disposition filename, else Content-Type name; JSON null when neither (or
 * out of memory). */
static json_t *filename_json(st_message *m, const st_mime_part *p)
{
    const st_mime_param *pa = NULL;
    if ((p->filename.flags & ST_MIME_PARAM_PRESENT) && p->filename.value)
        pa = &p->filename;
    else if ((p->name.flags & ST_MIME_PARAM_PRESENT) && p->name.value)
        pa = &p->name;
    if (!pa)
        return json_null();

    char *buf = NULL, *next;
    const char *s = (const char *)pa->value;
    size_t n = pa->len;
    if (pa->charset && pa->charset[0]) {
        if (!(buf = fn_run(FN_CHARSET, pa->charset, s, &n)))
            return json_null();
        s = buf;
    }
    if (memmem(s, n, "=?", 2)) {
        next = fn_run(FN_2047, NULL, s, &n);
        free(buf);
        if (!(s = buf = next))
            return json_null();
    }
    unsigned fs = st_hdr_fname_is_suspicious(s, n);
    if (fs)
        st_msg_suspicious(m, fs, p->path);
    next = fn_run(FN_CLEAN, NULL, s, &n);
    free(buf);
    json_t *j = next ? st_json_stringn(next, n, ST_MSG_FNAME_BUF) : json_null();
    free(next);
    return j;
}

static json_t *entry_begin(st_message *m, const st_mime_part *p)
{
    size_t cap = m->cfg.header_value_max;
    json_t *e = json_object();
    if (!e)
        return NULL;
    json_object_set_new(e, "filename", filename_json(m, p));
    json_object_set_new(e, "content_type", st_json_string(p->content_type, 256));
    json_object_set_new(e, "charset", st_json_string(p->charset, ST_MIME_CHARSET_MAX));
    json_object_set_new(e, "disposition", st_json_string(p->disposition, 256));
    json_t *desc = json_null();
    if (p->description) {
        unsigned fl = 0;
        size_t dn = st_msg_decode(m, p->description, strlen(p->description), &fl);
        desc = st_json_stringn(m->hdr.scratch, dn, dn);
        st_msg_scratch_trim(m);
    }
    json_object_set_new(e, "content_description", desc);
    json_object_set_new(e, "content_id", st_json_string(p->content_id, cap));
    json_object_set_new(e, "mime_path", st_json_string(p->path ? p->path : "", 32768));
    return e;
}

/* ------------------------------------------------------------ writers */

static st_msg_writer *writer_push(st_message *m, unsigned id, json_t *entry)
{
    if (m->nw == m->wcap) {
        if (m->wcap >= ST_MSG_WRITERS_MAX)
            return NULL;
        size_t cap = m->wcap ? m->wcap * 2 : 4;
        st_msg_writer *w = realloc(m->w, cap * sizeof *w);
        if (!w)
            return NULL;
        m->w = w;
        m->wcap = cap;
    }
    st_msg_writer *w = &m->w[m->nw];
    memset(w, 0, sizeof *w);
    w->part_id = id;
    w->entry = entry;
    if (m->cfg.files && m->nstore < ST_MSG_STORE_OPEN) {
        w->o = st_store_begin(m->cfg.files, m->cfg.attachment_store_max, ST_HASH_ALL);
        if (w->o)
            m->nstore++;
    }
    if (!w->o)
        st_hash_init(&w->hash, ST_HASH_ALL); /* on failure: empty digests, no crash */
    m->nw++;
    return w;
}

static st_msg_writer *writer_find(st_message *m, unsigned id)
{
    for (size_t i = m->nw; i-- > 0;)
        if (m->w[i].part_id == id)
            return &m->w[i];
    return NULL;
}

static void writer_remove(st_message *m, st_msg_writer *w)
{
    size_t i = (size_t)(w - m->w);
    memmove(&m->w[i], &m->w[i + 1], (m->nw - i - 1) * sizeof *w);
    m->nw--;
}

/* ------------------------------------------------------------- events */

void st_msg_attach_begin(st_message *m, const st_mime_part *p)
{
    if (json_array_size(m->attachments) >= m->cfg.max_attachments) {
        m->attach_dropped++;
        return;
    }
    json_t *e = entry_begin(m, p);
    if (!e)
        return;
    int had_store = m->cfg.files && m->nstore < ST_MSG_STORE_OPEN;
    st_msg_writer *w = writer_push(m, p->id, e);
    if (!w) {
        json_decref(e);
        st_msg_anomaly(m, "too_many_open_attachments", NULL, 0, p->path);
        return;
    }
    json_array_append_new(m->attachments, e);
    if (m->cfg.files && !had_store)
        st_msg_anomaly(m, "too_many_open_attachments", "hashed, not stored", 18, p->path);
    if (st_msg_tnef_wanted(p))
        st_msg_tnef_begin(m, p);
}

void st_msg_attach_data(st_message *m, const st_mime_part *p, const uint8_t *d, size_t n)
{
    st_msg_writer *w = writer_find(m, p->id);
    if (!w)
        return;
    if (w->o)
        st_store_write(w->o, d, n);
    else
        st_hash_update(&w->hash, d, n);
    st_msg_tnef_data(m, p, d, n);
}

void st_msg_attach_end(st_message *m, const st_mime_part *p)
{
    st_msg_writer *w = writer_find(m, p->id);
    if (!w)
        return;
    st_store_result r;
    memset(&r, 0, sizeof r);
    if (w->o) {
        st_store_end(w->o, &r);
        m->nstore--;
        if (r.write_error)
            st_msg_anomaly(m, "store_error", strerror(r.write_error),
                           strlen(strerror(r.write_error)), p->path);
    } else {
        st_hash_final(&w->hash, &r.digest);
    }
    json_t *e = w->entry;
    json_object_set_new(e, "size", json_integer((json_int_t)p->decoded_size));
    json_object_set_new(e, "md5", json_string(r.digest.md5));
    json_object_set_new(e, "sha1", json_string(r.digest.sha1));
    json_object_set_new(e, "sha256", json_string(r.digest.sha256));
    json_object_set_new(e, "stored", r.stored ? json_string(r.path) : json_null());
    json_object_set_new(e, "truncated",
                        json_boolean(p->decoded_size > m->cfg.attachment_store_max));
    json_object_set_new(e, "missing_bytes", json_integer((json_int_t)p->missing));
    writer_remove(m, w);
    st_msg_tnef_end(m, p); /* its inner attachments follow the winmail.dat entry */
}

/* Parts still open when the message is freed without st_message_finish. */
void st_msg_attach_free(st_message *m)
{
    for (size_t i = 0; i < m->nw; i++) {
        if (m->w[i].o)
            st_store_abort(m->w[i].o); /* no record points at it: store nothing */
        else
            st_hash_free(&m->w[i].hash);
    }
    free(m->w);
    m->w = NULL;
    m->nw = m->wcap = 0;
    m->nstore = 0;
    st_msg_tnef_free(m);
}
