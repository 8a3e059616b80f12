/*
 * hash.c - md5, sha1, sha256 and sha512 in one pass (OpenSSL EVP), and the
 * "hash" analyzer that reports them with ssdeep (libfuzzy).
 */
#include "analyze/hash.h"

#include "analyze/analyzer.h"

#include <fuzzy.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NMD 4

static const EVP_MD *md_of(int i)
{
    return i == 0 ? EVP_md5() : i == 1 ? EVP_sha1() : i == 2 ? EVP_sha256() : EVP_sha512();
}

int st_hash_init(st_hash *h, unsigned which)
{
    memset(h, 0, sizeof *h);
    for (int i = 0; i < NMD; i++) {
        if (!(which & (1u << i)))
            continue;
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c || !EVP_DigestInit_ex(c, md_of(i), NULL)) {
            EVP_MD_CTX_free(c);
            st_hash_free(h);
            return -1;
        }
        h->ctx[i] = c;
        h->which |= 1u << i;
    }
    return 0;
}

void st_hash_update(st_hash *h, const void *p, size_t n)
{
    for (int i = 0; i < NMD; i++)
        if (h->ctx[i])
            EVP_DigestUpdate(h->ctx[i], p, n);
}

static void to_hex(const unsigned char *d, unsigned n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = 0;
}

void st_hash_final(st_hash *h, st_digest *out)
{
    char *dst[NMD] = {out->md5, out->sha1, out->sha256, out->sha512};
    for (int i = 0; i < NMD; i++) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        dst[i][0] = 0;
        if (h->ctx[i] && EVP_DigestFinal_ex(h->ctx[i], d, &n))
            to_hex(d, n, dst[i]);
    }
    st_hash_free(h);
}

void st_hash_free(st_hash *h)
{
    for (int i = 0; i < NMD; i++) {
        EVP_MD_CTX_free(h->ctx[i]);
        h->ctx[i] = NULL;
    }
    h->which = 0;
}

/* ------------------------------------------------- the hash analyzer */

/* The file layer computes the digests it asks for in its one pass over
 * each object; the analyzer says them, and adds ssdeep (libfuzzy's
 * streaming state: a few KiB per open object, whatever its size). */
typedef struct {
    struct fuzzy_state *fz;
    char ssdeep[FUZZY_MAX_RESULT];
} hash_state;

static void *hash_begin(void)
{
    hash_state *h = calloc(1, sizeof *h);
    if (h && !(h->fz = fuzzy_new())) {
        free(h);
        return NULL;
    }
    return h;
}

static void hash_data(void *state, const uint8_t *d, size_t n)
{
    hash_state *h = state;
    if (h && h->fz && n)
        fuzzy_update(h->fz, d, n);
}

static void hash_end(void *state, const st_file_result *r)
{
    hash_state *h = state;
    (void)r;
    if (!h || !h->fz)
        return;
    if (fuzzy_digest(h->fz, h->ssdeep, 0) != 0)
        h->ssdeep[0] = 0;
    fuzzy_free(h->fz);
    h->fz = NULL;
}

static void hash_report(void *state, const st_file_result *r, json_t *entry, json_t *anomalies)
{
    hash_state *h = state;
    (void)anomalies;
    json_object_set_new(entry, "md5", json_string(r->digest.md5));
    json_object_set_new(entry, "sha1", json_string(r->digest.sha1));
    json_object_set_new(entry, "sha256", json_string(r->digest.sha256));
    json_object_set_new(entry, "sha512", json_string(r->digest.sha512));
    json_object_set_new(entry, "ssdeep", h && h->ssdeep[0] ? json_string(h->ssdeep) : json_null());
}

static void hash_free(void *state)
{
    hash_state *h = state;
    if (h->fz)
        fuzzy_free(h->fz);
    free(h);
}

const st_analyzer st_analyzer_hash = {
    .name = "hash",
    .help = "md5, sha1, sha256, sha512 and ssdeep of the decoded bytes",
    .digests = ST_HASH_ALL,
    .begin = hash_begin,
    .data = hash_data,
    .end = hash_end,
    .report = hash_report,
    .free = hash_free,
};
