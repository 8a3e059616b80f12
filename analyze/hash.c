/*
 * hash.c - md5, sha1, sha256 and sha512 in one pass (OpenSSL EVP), and the
 * "hash" analyzer that reports those hash_algorithms names, with ssdeep
 * (libfuzzy) when it names that too.
 *
 * How it fails: an unknown name in hash_algorithms fails its setup (and
 * smtptap_open) with a message naming it; a digest that could not be
 * computed (no memory) is an empty string in st_digest, reported as is
 * by callers that check it; ssdeep that could not be computed is null.
 */
#include "analyze/hash.h"

#include "analyze/analyzer.h"

#include <fuzzy.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
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

/* What hash_algorithms asked for (set up once, before any input; a
 * worker inherits it). The default is stoQ's hash worker and what Zeek
 * and Suricata give: md5, sha1, sha256. sha512 and ssdeep (stoQ v1's
 * inline attachment fields) cost most of a run's time when asked for:
 * ssdeep alone is slower than the three digests together. */
#define HASH_DEFAULT (ST_HASH_MD5 | ST_HASH_SHA1 | ST_HASH_SHA256)
#define HASH_SSDEEP  16u

static unsigned hash_want = HASH_DEFAULT;

static const struct {
    const char *name;
    unsigned bit;
} algorithms[] = {{"md5", ST_HASH_MD5},
                  {"sha1", ST_HASH_SHA1},
                  {"sha256", ST_HASH_SHA256},
                  {"sha512", ST_HASH_SHA512},
                  {"ssdeep", HASH_SSDEEP}};

#define NALG (sizeof algorithms / sizeof algorithms[0])

static unsigned algorithm_bit(const char *p, size_t n)
{
    for (size_t i = 0; i < NALG; i++)
        if (strlen(algorithms[i].name) == n && strncmp(algorithms[i].name, p, n) == 0)
            return algorithms[i].bit;
    return 0;
}

static int hash_setup(st_option_fn opt, void *ctx, char *err, size_t errlen)
{
    const char *list = opt(ctx, "hash_algorithms");
    unsigned want = ST_HASH_SHA256;
    for (const char *p = list ? list : ""; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, " \t,");
        if (!n)
            break;
        unsigned bit = algorithm_bit(p, n);
        if (!bit) {
            snprintf(err, errlen,
                     "hash_algorithms: no algorithm '%.*s' (there are: md5, sha1, sha256, "
                     "sha512, ssdeep)",
                     (int)(n < 32 ? n : 32), p);
            return -1;
        }
        want |= bit;
        p += n;
    }
    hash_want = want;
    return 0;
}

static void hash_teardown(void)
{
    hash_want = HASH_DEFAULT;
}

static unsigned hash_digests(void)
{
    return hash_want & ST_HASH_ALL;
}

/* The file layer computes the digests in its one pass over each object;
 * the analyzer says them, and adds ssdeep when asked (libfuzzy's
 * streaming state: a few KiB per open object, whatever its size). */
typedef struct {
    struct fuzzy_state *fz;
    char ssdeep[FUZZY_MAX_RESULT];
} hash_state;

static void *hash_begin(void)
{
    hash_state *h = calloc(1, sizeof *h);
    if (h && (hash_want & HASH_SSDEEP) && !(h->fz = fuzzy_new())) {
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

/* Only what was asked for and made: a digest not computed (not asked
 * for, or no memory) is absent, never an empty string that could pass
 * for one. */
static void hash_report(void *state, const st_file_result *r, json_t *entry, json_t *anomalies)
{
    hash_state *h = state;
    const char *val[] = {r->digest.md5, r->digest.sha1, r->digest.sha256, r->digest.sha512};
    (void)anomalies;
    for (size_t i = 0; i < 4; i++)
        if ((hash_want & algorithms[i].bit) && val[i][0])
            json_object_set_new(entry, algorithms[i].name, json_string(val[i]));
    if (hash_want & HASH_SSDEEP)
        json_object_set_new(entry, "ssdeep",
                            h && h->ssdeep[0] ? json_string(h->ssdeep) : json_null());
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
    .help = "md5, sha1, sha256 of the decoded bytes (hash_algorithms: also sha512, ssdeep)",
    .want_digests = hash_digests,
    .setup = hash_setup,
    .teardown = hash_teardown,
    .begin = hash_begin,
    .data = hash_data,
    .end = hash_end,
    .report = hash_report,
    .free = hash_free,
};
