/*
 * xmsg.h - one message through the extraction, the file layer and the
 * record fields, as core/message.c runs it but without an st_core: for the
 * unit tests, the message fuzzer and the MIME benchmark (static functions,
 * one copy for the three).
 *
 * Attachments are file objects of one kind: the "hash" analyzer and the
 * given store (NULL: hashed, not stored). tmsg_new returns NULL when out
 * of memory.
 */
#ifndef ST_TESTS_XMSG_H
#define ST_TESTS_XMSG_H

#include <stdlib.h>
#include <string.h>

#include "analyze/file.h"
#include "extract/extract.h"
#include "output/message_json.h"

/* One message as core/message.c runs it: extraction, attachments as file
 * objects of one kind (the hash analyzer, an optional store), fields. */
typedef struct tcfg {
    st_store *files;
    uint64_t attachment_store_max;
    st_extract_config x;
} tcfg;

typedef struct tmsg {
    st_extract *x;
    st_file_kind kind;
} tmsg;

static inline void tcfg_default(tcfg *c)
{
    memset(c, 0, sizeof *c);
    c->attachment_store_max = 64ull << 20;
    st_extract_config_default(&c->x);
}

static inline void *f_open(void *k)
{
    return st_file_open(k);
}
static inline void f_write(void *f, const uint8_t *d, size_t n)
{
    st_file_write(f, d, n);
}
static inline int f_close(void *f)
{
    return st_file_close(f);
}
static inline void f_release(void *f)
{
    st_file_free(f);
}

static inline tmsg *tmsg_new(const tcfg *c)
{
    char err[256];
    tmsg *m = calloc(1, sizeof *m);
    if (!m || st_file_kind_init(&m->kind, c->files, c->attachment_store_max, "hash", err,
                                sizeof err) != 0) {
        free(m);
        return NULL;
    }
    st_extract_files files = {f_open, f_write, f_close, f_release, &m->kind, NULL};
    m->x = st_extract_new(&c->x, &files);
    if (!m->x) {
        free(m);
        return NULL;
    }
    return m;
}

static inline void tmsg_feed(tmsg *m, const uint8_t *d, size_t n)
{
    st_extract_feed(m->x, d, n);
}

static inline void tmsg_gap(tmsg *m, uint64_t n)
{
    st_extract_gap(m->x, n);
}

static inline void tmsg_finish(tmsg *m, json_t *o)
{
    st_extract_finish(m->x);
    st_message_json(st_extract_facts(m->x), o);
}

static inline size_t tmsg_memory(const tmsg *m)
{
    return st_extract_memory(m->x);
}

static inline void tmsg_free(tmsg *m)
{
    if (!m)
        return;
    st_extract_free(m->x);
    free(m);
}

#endif
