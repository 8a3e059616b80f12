/*
 * message.c - one message through the pipeline, the same for an SMTP
 * transaction and a message file: its bytes are a file object (hashed,
 * stored in OUT/messages/), and go through the extraction, whose
 * attachments are file objects of their own (hashed, analysed, stored in
 * OUT/files/), and so are its body parts (hashed and stored there for the
 * parts list, not analysed). When the message ends, its record fields are
 * made from the message object's result and the extraction's facts.
 *
 * How it fails: out of memory at begin gives a message without contents
 * (no extraction) or none at all (no file object); a store error is in
 * the record (store_error) and in the output_errors count.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "output/message_json.h"

static const char *option(void *ctx, const char *name)
{
    return smtptap_config_get(ctx, name);
}

/* The analyzers of both chains, each once, for setup and teardown. */
static size_t all_analyzers(const st_core *c, const st_analyzer **all)
{
    size_t n = 0;
    for (size_t i = 0; i < c->attach_kind.nchain; i++)
        all[n++] = c->attach_kind.chain[i];
    for (size_t i = 0; i < c->msg_kind.nchain; i++) {
        size_t j = 0;
        while (j < n && all[j] != c->msg_kind.chain[i])
            j++;
        if (j == n)
            all[n++] = c->msg_kind.chain[i];
    }
    return n;
}

int st_core_message_setup(st_core *c, char *err, size_t errlen)
{
    const smtptap_config *o = c->cfg;
    st_extract_config *x = &c->extract;
    st_extract_config_default(x);
    x->body_max = (size_t)o->body_max;
    x->omit_body = o->omit_body;
    x->max_attachments = (size_t)o->max_attachments;
    x->mime.max_header_bytes = (size_t)o->mime_header_bytes;
    x->mime.max_headers = (size_t)o->mime_max_headers;
    x->mime.max_depth = (unsigned)o->mime_max_depth;
    x->mime.max_parts = (size_t)o->mime_max_parts;
    /* the stores are opened later (st_core_message_stores): a bad option
     * fails before anything is created or truncated */
    if (st_file_kind_init(&c->msg_kind, NULL, (uint64_t)o->message_store_max,
                          o->yara_scan_messages ? "yara" : "", err, errlen) != 0 ||
        st_file_kind_init(&c->attach_kind, NULL, (uint64_t)o->attachment_store_max,
                          o->always_dispatch, err, errlen) != 0)
        return -1;
    const st_analyzer *all[2 * ST_ANALYZERS_MAX];
    size_t n = all_analyzers(c, all);
    if (st_analyzer_setup(all, n, option, c->cfg, err, errlen) != 0) {
        c->attach_kind.nchain = c->msg_kind.nchain = 0; /* torn down already */
        return -1;
    }
    st_file_kind_digests(&c->msg_kind);
    st_file_kind_digests(&c->attach_kind);
    return st_core_iocs_setup(c, err, errlen);
}

void st_core_message_stores(st_core *c)
{
    c->msg_kind.store = c->cfg->store_messages ? c->messages : NULL;
    c->msg_kind.partial = c->messages_partial;
    c->attach_kind.store = c->files;
    c->attach_kind.partial = c->files_partial;
    /* the messages' store is always open: its tmp folder takes the copies
     * an analyzer needs of an object that is not stored */
    st_file_kind_scratch(&c->msg_kind, c->messages);
    st_file_kind_scratch(&c->attach_kind, c->messages);
}

void st_core_message_teardown(st_core *c)
{
    const st_analyzer *all[2 * ST_ANALYZERS_MAX];
    st_analyzer_teardown(all, all_analyzers(c, all));
    c->attach_kind.nchain = c->msg_kind.nchain = 0;
    st_core_iocs_teardown(c);
}

/* The extraction's file callbacks: attachments are attach_kind objects. */
static void *file_open(void *ctx)
{
    return st_file_open(ctx);
}

static void file_write(void *f, const uint8_t *d, size_t n)
{
    st_file_write(f, d, n);
}

static int file_close(void *f)
{
    return st_file_close(f);
}

static void file_release(void *f)
{
    st_file_free(f);
}

static void file_partial(void *f)
{
    st_file_partial(f);
}

/* A body part: hashed and stored in OUT/files/ like an attachment, for
 * the parts list, but not analysed. */
static void *file_open_plain(void *ctx)
{
    return st_file_open_plain(ctx);
}

void st_core_msg_begin(st_core *c, st_core_msg *m)
{
    st_extract_files files = {file_open,    file_write,      file_close,
                              file_release, &c->attach_kind, file_partial};
    m->missing = 0;
    m->ended = 0;
    m->eml = st_file_open(&c->msg_kind);
    m->x = m->eml ? st_extract_new(&c->extract, &files) : NULL;
    if (m->x)
        st_extract_on_plain(m->x, file_open_plain);
    st_core_iocs_begin(c, m);
}

void st_core_msg_data(st_core_msg *m, const uint8_t *d, size_t n)
{
    if (m->eml)
        st_file_write(m->eml, d, n);
    if (m->x)
        st_extract_feed(m->x, d, n);
}

void st_core_msg_gap(st_core_msg *m, uint64_t n)
{
    m->missing += n;
    if (m->x)
        st_extract_gap(m->x, n);
}

json_t *st_core_msg_end(st_core *c, st_core_msg *m, int complete, char sha256[65])
{
    if (sha256)
        sha256[0] = 0;
    if (!m->eml)
        return NULL;
    if (!complete)
        st_file_partial(m->eml); /* messages/partial/: never named as a whole message */
    st_file_close(m->eml);
    const st_file_result *r = st_file_result_of(m->eml);
    if (sha256)
        memcpy(sha256, r->digest.sha256, 65);
    c->stats.messages++;
    if (r->stored)
        c->stats.messages_stored++;
    else if (r->write_error)
        c->stats.output_errors++;
    const char *skipped = !c->cfg->store_messages ? "store_messages"
                          : r->truncated          ? "message_store_max"
                                                  : NULL;
    json_t *j = st_record_message_json(r, m->missing, complete, skipped);
    if (m->x) {
        if (!m->ended)
            st_extract_cut(m->x);
        st_extract_finish(m->x);
        st_core_iocs_finish(c, m, st_extract_facts(m->x));
        st_message_more more = {c->msg_kind.nchain ? m->eml : NULL, m->iocs};
        st_message_json_more(st_extract_facts(m->x), &more, j);
    }
    st_core_msg_abort(m);
    return j;
}

void st_core_msg_abort(st_core_msg *m)
{
    st_core_iocs_free(m);
    st_extract_free(m->x);
    st_file_free(m->eml);
    m->x = NULL;
    m->eml = NULL;
}

void st_core_msg_idle(st_core_msg *m)
{
    st_file_trim(m->eml);
}
