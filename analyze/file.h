/*
 * file.h - file objects: every attachment, every file inside one and
 * every message goes through here, once, in Suricata's way: protocol
 * code opens an object, appends to it and closes it; hashing, the
 * analyzers and storage belong to this layer.
 *
 * A kind (st_file_kind) says, once at start, how one class of objects is
 * handled: which store keeps them and up to what size, and which chain of
 * analyzers runs on them. Each object is hashed in one pass with every
 * digest the chain asks for plus sha256 (which names it in the store),
 * written to the store as it streams, and when it is whole the analyzers
 * see it: end, then whole (with the stored file) where one wants it.
 * st_file_report adds the analyzers' fields to the object's entry.
 *
 * Entry points: st_file_kind_init, st_file_kind_digests, st_file_kind_free, st_file_open,
 * st_file_open_plain, st_file_write, st_file_close, st_file_result_of,
 * st_file_report, st_file_trim, st_file_free.
 *
 * Limits: an object larger than the kind's store_max is not stored (it
 * is still hashed and analysed whole: "truncated": true; an analyzer that
 * needs it as a file gets its first store_max bytes); the store's
 * write buffer is given back while a stream is idle (st_file_trim).
 *
 * How it fails: out of memory at open gives NULL (the caller lists the
 * object without hashes); a store write error is returned by close and
 * kept in the result; hashing without memory gives empty digests.
 */
#ifndef ST_ANALYZE_FILE_H
#define ST_ANALYZE_FILE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "analyze/analyzer.h"
#include "analyze/store.h"

typedef struct st_file_kind {
    st_store *store;    /* NULL: objects are not kept */
    uint64_t store_max; /* bytes kept of one object at most; larger: not kept */
    const st_analyzer *chain[ST_ANALYZERS_MAX];
    size_t nchain;
    unsigned digests;     /* the chain's, and sha256 */
    st_store *partial;    /* where objects not seen whole are stored; NULL: not stored */
    st_store *scratch;    /* where an object the store does not keep is copied for whole */
    uint64_t scratch_max; /* bytes of such a copy (UINT64_MAX: all) */
} st_file_kind;

/* dispatch: analyzer names (always_dispatch), "" for none. -1 with err
 * when a name is unknown. */
int st_file_kind_init(st_file_kind *k, st_store *store, uint64_t store_max, const char *dispatch,
                      char *err, size_t errlen);

/* After the chain's setup: the digests its analyzers asked for then (the
 * hash analyzer's hash_algorithms), and sha256, which names the object. */
void st_file_kind_digests(st_file_kind *k);

/* After the chain's setup: when an analyzer of the chain needs the object
 * as a file (whole), objects the kind's store does not keep, or keeps only
 * a part of, are copied to a tmp file of scratch (never named, removed at
 * close), as many bytes as those analyzers read (whole_bytes). */
void st_file_kind_scratch(st_file_kind *k, st_store *scratch);

typedef struct st_file st_file;

st_file *st_file_open(const st_file_kind *k);
/* An object of kind k that only the digests (the kind's) and the store
 * see, no analyzer: a body part, listed with its hashes and stored like
 * an attachment, while the analyzers are for attachments (the message's
 * IOC search reads the bodies already). st_file_report gives it "stored"
 * and "truncated" only. */
st_file *st_file_open_plain(const st_file_kind *k);
void st_file_write(st_file *f, const void *p, size_t n);
/* Not all of the object's bytes were seen (before close): it is stored in
 * the kind's partial store, never under the name of a whole object. */
void st_file_partial(st_file *f);
/* All bytes given: digests, store, analyzers. The errno of a store
 * failure, 0 when none. */
int st_file_close(st_file *f);
/* After close. */
const st_file_result *st_file_result_of(const st_file *f);
/* Adds each analyzer's fields, then "stored" and "truncated", to entry;
 * the analyzers' anomalies go to anomalies (a JSON array). */
void st_file_report(const st_file *f, json_t *entry, json_t *anomalies);
/* Only the analyzers' fields (a message's entry has its own "stored"). */
void st_file_report_analyzers(const st_file *f, json_t *entry, json_t *anomalies);
/* Gives the store's write buffer back (an idle stream). */
void st_file_trim(st_file *f);
/* Frees f; one never closed keeps nothing (its tmp file is removed). */
void st_file_free(st_file *f);

#endif
