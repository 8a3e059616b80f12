/*
 * file.c - one file object through its digests, the store and the chain
 * of analyzers (see file.h).
 *
 * Per object: the hash contexts, a store object while it may be kept,
 * and one state pointer per analyzer that wants one (a plain object,
 * st_file_open_plain, has no analyzer: f->nchain is 0). Nothing here
 * grows with the object's size.
 */
#include "analyze/file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct st_file {
    const st_file_kind *k;
    size_t nchain; /* analyzers that see it: the kind's, 0 for a plain object */
    st_hash hash;
    st_store_obj *o; /* the store's object, or a scratch copy; NULL: neither */
    int o_is_store;  /* o is the store's (it is named when whole) */
    void *state[ST_ANALYZERS_MAX];
    int closed;
    st_file_result r;
};

int st_file_kind_init(st_file_kind *k, st_store *store, uint64_t store_max, const char *dispatch,
                      char *err, size_t errlen)
{
    memset(k, 0, sizeof *k);
    k->store = store;
    k->store_max = store_max;
    if (st_analyzer_chain(dispatch, k->chain, &k->nchain, err, errlen) != 0)
        return -1;
    st_file_kind_digests(k);
    return 0;
}

void st_file_kind_digests(st_file_kind *k)
{
    k->digests = ST_HASH_SHA256;
    for (size_t i = 0; i < k->nchain; i++) {
        const st_analyzer *a = k->chain[i];
        k->digests |= a->want_digests ? a->want_digests() : a->digests;
    }
}

void st_file_kind_scratch(st_file_kind *k, st_store *scratch)
{
    k->scratch = NULL;
    k->scratch_max = 0;
    for (size_t i = 0; i < k->nchain; i++) {
        const st_analyzer *a = k->chain[i];
        if (!a->whole)
            continue;
        uint64_t want = a->whole_bytes ? a->whole_bytes() : 0;
        if (want == 0)
            want = UINT64_MAX; /* the whole object */
        k->scratch = scratch;
        if (want > k->scratch_max)
            k->scratch_max = want;
    }
}

static st_file *file_open(const st_file_kind *k, size_t nchain)
{
    st_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->k = k;
    f->nchain = nchain;
    st_hash_init(&f->hash, k->digests); /* on failure: empty digests, no crash */
    if (k->store && k->store_max > 0)
        f->o_is_store = (f->o = st_store_begin(k->store, k->store_max)) != NULL;
    else if (k->scratch && nchain)
        f->o = st_store_begin_scratch(k->scratch, k->scratch_max);
    for (size_t i = 0; i < nchain; i++)
        if (k->chain[i]->begin)
            f->state[i] = k->chain[i]->begin();
    return f;
}

st_file *st_file_open(const st_file_kind *k)
{
    return file_open(k, k->nchain);
}

st_file *st_file_open_plain(const st_file_kind *k)
{
    return file_open(k, 0);
}

void st_file_write(st_file *f, const void *p, size_t n)
{
    const st_file_kind *k = f->k;
    f->r.size += n;
    st_hash_update(&f->hash, p, n);
    if (f->o)
        st_store_write(f->o, p, n);
    for (size_t i = 0; i < f->nchain; i++)
        if (k->chain[i]->data)
            k->chain[i]->data(f->state[i], p, n);
}

/* fd: the object's bytes as the store or the scratch copy kept them. */
static void run_whole(st_file *f, int fd)
{
    const st_file_kind *k = f->k;
    for (size_t i = 0; i < f->nchain && fd >= 0; i++)
        if (k->chain[i]->whole)
            k->chain[i]->whole(f->state[i], fd, &f->r);
}

void st_file_partial(st_file *f)
{
    f->r.partial = 1;
}

int st_file_close(st_file *f)
{
    const st_file_kind *k = f->k;
    if (f->closed)
        return f->r.write_error;
    f->closed = 1;
    st_hash_final(&f->hash, &f->r.digest);
    f->r.truncated = f->r.size > k->store_max;
    int fd = -1;
    if (f->o && f->r.partial && f->o_is_store && !st_store_retarget(f->o, k->partial)) {
        st_store_abort(f->o); /* no partial store: a part is never stored as the whole */
        f->o = NULL;
    }
    if (f->o) {
        st_store_result sr;
        st_store_end_fd(f->o, f->r.digest.sha256, &sr, k->scratch && f->nchain ? &fd : NULL);
        f->o = NULL;
        f->r.stored = sr.stored;
        f->r.write_error = sr.write_error;
        memcpy(f->r.path, sr.path, sizeof f->r.path);
    }
    for (size_t i = 0; i < f->nchain; i++)
        if (k->chain[i]->end)
            k->chain[i]->end(f->state[i], &f->r);
    run_whole(f, fd);
    if (fd >= 0)
        close(fd);
    return f->r.write_error;
}

const st_file_result *st_file_result_of(const st_file *f)
{
    return &f->r;
}

void st_file_report_analyzers(const st_file *f, json_t *entry, json_t *anomalies)
{
    const st_file_kind *k = f->k;
    for (size_t i = 0; i < f->nchain; i++)
        if (k->chain[i]->report)
            k->chain[i]->report(f->state[i], &f->r, entry, anomalies);
}

void st_file_report(const st_file *f, json_t *entry, json_t *anomalies)
{
    st_file_report_analyzers(f, entry, anomalies);
    json_object_set_new(entry, "stored", f->r.stored ? json_string(f->r.path) : json_null());
    json_object_set_new(entry, "truncated", json_boolean(f->r.truncated));
}

void st_file_trim(st_file *f)
{
    if (f && f->o)
        st_store_trim(f->o);
}

void st_file_free(st_file *f)
{
    if (!f)
        return;
    const st_file_kind *k = f->k;
    if (f->o)
        st_store_abort(f->o);
    if (!f->closed)
        st_hash_free(&f->hash);
    for (size_t i = 0; i < f->nchain; i++)
        if (k->chain[i]->free && f->state[i])
            k->chain[i]->free(f->state[i]);
    free(f);
}
