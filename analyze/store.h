/*
 * store.h - content-addressed file store (Suricata filestore v2 layout).
 *
 * An object is streamed to a temporary file, then renamed to
 * <root>/<dir>/<aa>/<sha256><suffix> when complete, where aa is the
 * first two hex digits of its SHA-256 (computed by the caller, the file
 * layer, which hashes every object once for all its consumers). The same content seen twice is
 * stored once. Names come only from hashes: nothing from the wire ever
 * becomes part of a path.
 *
 * How it fails: a write error (full disk, quota) or the per-object cap
 * stops writing; the object is then not stored and the result says why.
 * No call aborts the process.
 */
#ifndef ST_ANALYZE_STORE_H
#define ST_ANALYZE_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_store st_store;
typedef struct st_store_obj st_store_obj;

typedef struct st_store_result {
    uint64_t size;   /* bytes given to the object */
    int stored;      /* 1 when the file is in the store (new or already there) */
    int truncated;   /* the cap was hit: not stored, hashes still cover everything */
    int write_error; /* errno of the first failed write/rename, 0 if none */
    char path[160];  /* relative to the output root, "" when not stored */
} st_store_result;

/* dir is e.g. "messages" or "files"; suffix e.g. ".eml" or "". */
st_store *st_store_open(const char *root, const char *dir, const char *suffix, char *err,
                        size_t errlen);
void st_store_close(st_store *s);

/* cap: bytes to store at most (0: store nothing). NULL only when out of memory. */
st_store_obj *st_store_begin(st_store *s, uint64_t cap);
void st_store_write(st_store_obj *o, const void *p, size_t n);
/* Finishes the object under the name sha256 (lower-case hex of its
 * content), fills r and frees o. */
void st_store_end(st_store_obj *o, const char *sha256, st_store_result *r);

/* A scratch object: its first cap bytes (0: none) go to a tmp file that
 * is never given a name, only handed to st_store_end_fd's caller and
 * removed. For a consumer that needs an object the store does not keep. */
st_store_obj *st_store_begin_scratch(st_store *s, uint64_t cap);
/* st_store_end, and when kept is not NULL, *kept a read-only descriptor
 * of the bytes the object kept (all of them, or its first cap bytes when
 * it was over its cap; -1 with a write error), open before the tmp file is
 * renamed or removed: the caller closes it. A scratch object's result
 * says not stored. */
void st_store_end_fd(st_store_obj *o, const char *sha256, st_store_result *r, int *kept);

/* The object is to be named in s (same file system: a folder of the
 * store it began in) when it ends. 0 when s is NULL. */
int st_store_retarget(st_store_obj *o, st_store *s);

/* A stored object (r->path) opened read-only, for a consumer that needs
 * the whole object as a file; -1 with errno set when it cannot be. */
int st_store_open_stored(const st_store *s, const char *path);

/* Writes out what is buffered and frees the buffer (an idle object then
 * costs no buffer memory; the next write allocates it again). */
void st_store_trim(st_store_obj *o);

/* Drops the object: nothing is stored, its tmp file is removed, o is freed. */
void st_store_abort(st_store_obj *o);

/* Objects whose file could not be written, since start. */
uint64_t st_store_errors(const st_store *s);

/* Files created since start (tmp files, stored or not): what storing cost. */
uint64_t st_store_files(const st_store *s);

#endif
