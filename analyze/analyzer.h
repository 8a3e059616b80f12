/*
 * analyzer.h - what an analyzer is: something that looks at every file
 * object (an attachment, a file inside one) and adds fields to its entry
 * in the record.
 *
 * The file layer (analyze/file.c) runs the configured chain for each
 * object: begin when it opens, data for each block of its decoded bytes,
 * end when it is whole (its digests are then known), whole with a file
 * descriptor of the stored object for an analyzer that needs the object
 * at once (a YARA scan of a mapped file, not a heap copy), report to add
 * the analyzer's fields to the entry. Every hook but report may be NULL.
 * Analyzers are registered in one static table (analyze/analyzers.c), as
 * nginx registers its mail protocols: adding one is one file and its line
 * there (with its extern declaration); the always_dispatch option names them and is checked against
 * the table at start.
 *
 * An analyzer that needs set-up (rules to compile, a library to open) does
 * it in setup, once, before any input is read, and fails there with a
 * message naming what is wrong; teardown releases it.
 *
 * Limits: at most ST_ANALYZERS_MAX analyzers in a chain. An analyzer keeps
 * its per-object state bounded whatever the object's size.
 */
#ifndef ST_ANALYZE_ANALYZER_H
#define ST_ANALYZE_ANALYZER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "analyze/hash.h"

#define ST_ANALYZERS_MAX 16

/* What the file layer knows of an object when it is whole. */
typedef struct st_file_result {
    uint64_t size;    /* bytes seen */
    st_digest digest; /* those the chain asked for, and sha256 */
    int stored;       /* the object is in the store */
    int truncated;    /* larger than the store's limit: not stored, hashed whole */
    int partial;      /* not all its bytes were seen: kept apart (the kind's partial store) */
    int write_error;  /* errno of a failed store write, 0 if none */
    char path[160];   /* in the store, relative to the output root; "" when not stored */
} st_file_result;

/* An option value by name (the config table's), for setup. */
typedef const char *(*st_option_fn)(void *ctx, const char *name);

typedef struct st_analyzer {
    const char *name;
    const char *help;
    unsigned digests; /* ST_HASH_* the file layer computes for it (one pass for all) */
    /* When set, the ST_HASH_* it needs as its setup configured them (the
     * hash analyzer's hash_algorithms), in place of digests. */
    unsigned (*want_digests)(void);
    int (*setup)(st_option_fn opt, void *ctx, char *err, size_t errlen);
    void (*teardown)(void);
    void *(*begin)(void);
    void (*data)(void *state, const uint8_t *d, size_t n);
    void (*end)(void *state, const st_file_result *r);
    void (*whole)(void *state, int fd, const st_file_result *r);
    /* Bytes of the object whole reads from its start (0: all), known after
     * setup: what a scratch copy of an object the store does not keep
     * holds. The descriptor whole gets may hold fewer than r->size bytes
     * (fstat says how many): the object was over a store's cap. */
    uint64_t (*whole_bytes)(void);
    /* entry holds the object's description already (content_type,
     * filename, mime_path: docs/record.md); anomalies is the message's
     * list to append to, with st_analyzer_anomaly. */
    void (*report)(void *state, const st_file_result *r, json_t *entry, json_t *anomalies);
    void (*free)(void *state);
} st_analyzer;

/* By name; NULL when there is none. */
const st_analyzer *st_analyzer_find(const char *name);

/* Calls fn for every analyzer in the table, in order. */
void st_analyzer_each(void (*fn)(void *arg, const st_analyzer *a), void *arg);

/* A comma-separated list of names (blanks allowed, empty: none) into a
 * chain; -1 with err naming the unknown or repeated name. */
int st_analyzer_chain(const char *list, const st_analyzer **chain, size_t *n, char *err,
                      size_t errlen);

/* An anomaly about the object of entry (its mime_path is taken from it). */
void st_analyzer_anomaly(json_t *anomalies, const json_t *entry, const char *name,
                         const char *detail);

/* setup of each analyzer of a chain, in order; on a failure the ones
 * already set up are torn down and -1 returned with err. */
int st_analyzer_setup(const st_analyzer *const *chain, size_t n, st_option_fn opt, void *ctx,
                      char *err, size_t errlen);
void st_analyzer_teardown(const st_analyzer *const *chain, size_t n);

#endif
