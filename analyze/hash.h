/*
 * hash.h - md5, sha1, sha256 and sha512 over one stream of bytes, in one
 * pass (each block goes through every digest asked for while it is in
 * cache).
 *
 * OpenSSL's EVP digests do the work. Allocation can fail (st_hash_init
 * returns -1); after that every call is a no-op and the digests are empty
 * strings, so a caller never crashes on a missing hash.
 */
#ifndef ST_ANALYZE_HASH_H
#define ST_ANALYZE_HASH_H

#include <stddef.h>

enum {
    ST_HASH_MD5 = 1,
    ST_HASH_SHA1 = 2,
    ST_HASH_SHA256 = 4,
    ST_HASH_SHA512 = 8,
    ST_HASH_ALL = 15
};

typedef struct st_hash {
    void *ctx[4]; /* EVP_MD_CTX *, by bit position */
    unsigned which;
} st_hash;

typedef struct st_digest {
    char md5[33];
    char sha1[41];
    char sha256[65];
    char sha512[129];
} st_digest;

int st_hash_init(st_hash *h, unsigned which);
void st_hash_update(st_hash *h, const void *p, size_t n);
/* Fills the requested digests as lower-case hex and releases the contexts. */
void st_hash_final(st_hash *h, st_digest *out);
/* Releases without a result (safe after st_hash_final too). */
void st_hash_free(st_hash *h);

#endif
