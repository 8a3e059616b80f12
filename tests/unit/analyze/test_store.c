/*
 * test_store.c - the content-addressed store (analyze/store.c).
 *
 * An object written in odd-sized pieces must come back from disk byte for
 * byte at files/<aa>/<sha256>.eml, named by the sha256 given (OpenSSL's
 * one-shot SHA256 of the same bytes, computed here); writing the same bytes
 * again lands on the same path. An object over its cap is not stored, an
 * empty one is, under the published sha256 of the empty string. An object
 * of exactly its cap is stored whole, one byte more is not, however the
 * writes fall around the cap. No tmp file is left behind. (Hashing is the
 * file layer's: test_file.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze/store.h"

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static void hex_sha256(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    SHA256(p, n, d);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_store_roundtrip_and_dedup(void **state)
{
    (void)state;
    char root[] = "/tmp/st-store-XXXXXX", err[256], want[65], path[4096];
    assert_non_null(mkdtemp(root));
    st_store *s = st_store_open(root, "files", ".eml", err, sizeof err);
    assert_non_null(s);
    size_t n = 100000;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 8));
    hex_sha256(data, n, want);
    for (int round = 0; round < 2; round++) {
        st_store_obj *o = st_store_begin(s, 1 << 20);
        for (size_t off = 0; off < n; off += 777)
            st_store_write(o, data + off, off + 777 > n ? n - off : 777);
        st_store_result r;
        st_store_end(o, want, &r);
        assert_int_equal(r.stored, 1);
        assert_int_equal(r.size, n);
        snprintf(path, sizeof path, "%s/%s", root, r.path);
        size_t got;
        char *back = read_all(path, &got);
        assert_non_null(back);
        assert_int_equal(got, n);
        assert_memory_equal(back, data, n);
        free(back);
        char expect_rel[200];
        snprintf(expect_rel, sizeof expect_rel, "files/%.2s/%s.eml", want, want);
        assert_string_equal(r.path, expect_rel);
    }
    /* over the cap: not stored, tmp file gone */
    st_store_obj *o = st_store_begin(s, 10);
    st_store_write(o, data, 100);
    st_store_result r;
    hex_sha256(data, 100, want);
    st_store_end(o, want, &r);
    assert_int_equal(r.stored, 0);
    assert_int_equal(r.truncated, 1);
    assert_string_equal(r.path, "");
    snprintf(path, sizeof path, "%s/files/%.2s/%s.eml", root, want, want);
    assert_int_not_equal(access(path, F_OK), 0);
    /* empty object */
    static const char empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    o = st_store_begin(s, 100);
    st_store_end(o, empty, &r);
    assert_int_equal(r.stored, 1);
    snprintf(path, sizeof path, "%s/files/e3/%s.eml", root, empty);
    assert_int_equal(access(path, F_OK), 0);
    /* a stored object opened again by its path */
    int fd = st_store_open_stored(s, r.path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(st_store_open_stored(s, "elsewhere/e3/x"), -1);
    st_store_close(s);
    free(data);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/files/.tmp)\" && rm -rf %s", root, root);
    assert_int_equal(system(cmd), 0); /* no tmp file left behind */
}

/* n bytes of data written in pieces of step into an object of cap bytes. */
static void store_pieces(st_store *s, const unsigned char *data, size_t n, size_t step,
                         uint64_t cap, st_store_result *r)
{
    char want[65];
    hex_sha256(data, n, want);
    st_store_obj *o = st_store_begin(s, cap);
    assert_non_null(o);
    for (size_t off = 0; off < n; off += step)
        st_store_write(o, data + off, off + step > n ? n - off : step);
    st_store_end(o, want, r);
}

static void test_store_cap_exact(void **state)
{
    (void)state;
    char root[] = "/tmp/st-store-XXXXXX", err[256], path[4200], want[65];
    assert_non_null(mkdtemp(root));
    st_store *s = st_store_open(root, "files", "", err, sizeof err);
    assert_non_null(s);
    enum { CAP = 20000 }; /* more than one write buffer */
    unsigned char *data = malloc(CAP + 1);
    for (size_t i = 0; i <= CAP; i++)
        data[i] = (unsigned char)(i * 31 + (i >> 9));
    /* steps: the whole object at once, pieces that end on the cap, and
     * pieces that straddle it */
    static const size_t steps[] = {CAP + 1, 1000, 777, 1};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        st_store_result r;
        /* exactly the cap: stored whole */
        store_pieces(s, data, CAP, steps[k], CAP, &r);
        assert_int_equal(r.stored, 1);
        assert_int_equal(r.truncated, 0);
        assert_int_equal(r.size, CAP);
        hex_sha256(data, CAP, want);
        snprintf(path, sizeof path, "%s/files/%.2s/%s", root, want, want);
        size_t got;
        char *back = read_all(path, &got);
        assert_non_null(back);
        assert_int_equal(got, CAP);
        assert_memory_equal(back, data, CAP);
        free(back);
        assert_int_equal(unlink(path), 0); /* the next round must store it again */
        /* one byte past the cap: not stored */
        store_pieces(s, data, CAP + 1, steps[k], CAP, &r);
        assert_int_equal(r.stored, 0);
        assert_int_equal(r.truncated, 1);
        assert_int_equal(r.size, CAP + 1);
        assert_string_equal(r.path, "");
        hex_sha256(data, CAP + 1, want);
        snprintf(path, sizeof path, "%s/files/%.2s/%s", root, want, want);
        assert_int_not_equal(access(path, F_OK), 0);
    }
    st_store_close(s);
    free(data);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/files/.tmp)\" && rm -rf %s", root, root);
    assert_int_equal(system(cmd), 0);
}

/* Store one object of n bytes (pattern seed) written in 3000-byte pieces;
 * it must be on disk under its sha256, byte for byte. */
static void put_check(st_store *s, const char *root, size_t n, unsigned seed)
{
    unsigned char *data = calloc(1, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * seed + (i >> 9));
    char want[65], path[4096];
    hex_sha256(data, n, want);
    st_store_obj *o = st_store_begin(s, UINT64_MAX);
    for (size_t off = 0; off < n; off += 3000)
        st_store_write(o, data + off, n - off < 3000 ? n - off : 3000);
    st_store_result r;
    st_store_end(o, want, &r);
    assert_true(r.stored);
    assert_int_equal(r.write_error, 0);
    snprintf(path, sizeof path, "%s/files/%.2s/%s", root, want, want);
    size_t got = 0;
    char *back = read_all(path, &got);
    assert_non_null(back);
    assert_int_equal(got, n);
    assert_memory_equal(back, data, n);
    free(back);
    free(data);
}

/* The store path costs only what it must (issue 12): an object already
 * stored creates no file at all, a new one held in memory exactly one,
 * and objects larger than memory holds, or more of them at once than the
 * budget allows, spill to tmp files and still arrive whole. */
static void test_store_costs_no_file_when_known(void **state)
{
    (void)state;
    char root[] = "/tmp/st-store-XXXXXX", err[256];
    assert_non_null(mkdtemp(root));
    st_store *s = st_store_open(root, "files", "", err, sizeof err);
    assert_non_null(s);
    put_check(s, root, 100000, 7);
    assert_int_equal(st_store_files(s), 1);
    put_check(s, root, 100000, 7); /* the same bytes again */
    assert_int_equal(st_store_files(s), 1);
    put_check(s, root, 0, 1); /* empty */
    assert_int_equal(st_store_files(s), 2);
    put_check(s, root, 3u << 20, 11); /* larger than an object is held in memory */
    assert_int_equal(st_store_files(s), 3);
    /* 40 objects of 1 MiB open at once: more than the budget holds */
    enum { N = 40, SZ = 1 << 20 };
    st_store_obj *o[N];
    unsigned char *d = malloc(SZ);
    for (int i = 0; i < N; i++) {
        o[i] = st_store_begin(s, UINT64_MAX);
        for (size_t k = 0; k < SZ; k++)
            d[k] = (unsigned char)(k ^ (size_t)i * 131);
        for (size_t off = 0; off < SZ; off += 4096)
            st_store_write(o[i], d + off, 4096);
    }
    for (int i = 0; i < N; i++) {
        char h[65], path[4096];
        for (size_t k = 0; k < SZ; k++)
            d[k] = (unsigned char)(k ^ (size_t)i * 131);
        hex_sha256(d, SZ, h);
        st_store_result r;
        st_store_end(o[i], h, &r);
        assert_true(r.stored);
        snprintf(path, sizeof path, "%s/files/%.2s/%s", root, h, h);
        size_t got = 0;
        char *back = read_all(path, &got);
        assert_int_equal(got, SZ);
        assert_memory_equal(back, d, SZ);
        free(back);
    }
    free(d);
    st_store_close(s);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/files/.tmp)\" && rm -rf %s", root, root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_roundtrip_and_dedup),
        cmocka_unit_test(test_store_cap_exact),
        cmocka_unit_test(test_store_costs_no_file_when_known),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
