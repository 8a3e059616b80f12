/*
 * hash.c - md5, sha1 and sha256 in one pass (OpenSSL EVP), and the "hash"
 * analyzer that reports them.
 */
#include "analyze/hash.h"

#include "analyze/analyzer.h"

#include <openssl/evp.h>
#include <string.h>

static const EVP_MD *md_of(int i)
{
    return i == 0 ? EVP_md5() : i == 1 ? EVP_sha1() : EVP_sha256();
}

int st_hash_init(st_hash *h, unsigned which)
{
    memset(h, 0, sizeof *h);
    for (int i = 0; i < 3; i++) {
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
    for (int i = 0; i < 3; i++)
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
    char *dst[3] = {out->md5, out->sha1, out->sha256};
    for (int i = 0; i < 3; i++) {
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
    for (int i = 0; i < 3; i++) {
        EVP_MD_CTX_free(h->ctx[i]);
        h->ctx[i] = NULL;
    }
    h->which = 0;
}

/* ------------------------------------------------- the hash analyzer */

/* The file layer computes the digests it asks for in its one pass over
 * each object; the analyzer only says them. */
static void hash_report(void *state, const st_file_result *r, json_t *entry, json_t *anomalies)
{
    (void)state;
    (void)anomalies;
    json_object_set_new(entry, "md5", json_string(r->digest.md5));
    json_object_set_new(entry, "sha1", json_string(r->digest.sha1));
    json_object_set_new(entry, "sha256", json_string(r->digest.sha256));
}

const st_analyzer st_analyzer_hash = {
    .name = "hash",
    .help = "md5, sha1 and sha256 of the decoded bytes",
    .digests = ST_HASH_ALL,
    .report = hash_report,
};
