/*
 * test_file.c - file objects (analyze/file.c) and the analyzer table.
 *
 * Truth: OpenSSL's one-shot MD5, SHA1 and SHA256 of the same bytes,
 * computed here, and the bytes read back from the store. An object is
 * written in odd pieces; its digests, size, stored path and the fields
 * the hash analyzer reports must match; over store_max it is hashed whole
 * but not stored ("truncated"), at exactly store_max it is stored and not
 * truncated; without the hash analyzer in the chain
 * there are no md5/sha1 fields; an unknown or repeated analyzer name is
 * refused with a message naming it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze/file.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void one(const EVP_MD *md, const void *p, size_t n, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    assert_int_equal(EVP_Digest(p, n, d, &len, md, NULL), 1);
    hex(d, len, out);
}

static void digests(const void *p, size_t n, char md5[33], char sha1[41], char sha256[65])
{
    one(EVP_md5(), p, n, md5);
    one(EVP_sha1(), p, n, sha1);
    one(EVP_sha256(), p, n, sha256);
}

static unsigned char *pattern(size_t n)
{
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 13 + (i >> 7));
    return b;
}

static st_file *write_object(const st_file_kind *k, const unsigned char *b, size_t n)
{
    st_file *f = st_file_open(k);
    assert_non_null(f);
    for (size_t off = 0; off < n; off += 1001)
        st_file_write(f, b + off, off + 1001 > n ? n - off : 1001);
    assert_int_equal(st_file_close(f), 0);
    return f;
}

static void test_hash_store_report(void **state)
{
    (void)state;
    char root[] = "/tmp/st-file-XXXXXX", err[256], md5[33], sha1[41], sha256[65], path[4200];
    assert_non_null(mkdtemp(root));
    st_store *s = st_store_open(root, "files", "", err, sizeof err);
    assert_non_null(s);
    st_file_kind k;
    assert_int_equal(st_file_kind_init(&k, s, 1 << 20, "hash", err, sizeof err), 0);
    size_t n = 50000;
    unsigned char *b = pattern(n);
    digests(b, n, md5, sha1, sha256);
    st_file *f = write_object(&k, b, n);
    const st_file_result *r = st_file_result_of(f);
    assert_int_equal(r->size, n);
    assert_string_equal(r->digest.md5, md5);
    assert_string_equal(r->digest.sha1, sha1);
    assert_string_equal(r->digest.sha256, sha256);
    assert_int_equal(r->stored, 1);
    assert_int_equal(r->truncated, 0);
    json_t *e = json_object();
    st_file_report(f, e, NULL);
    assert_string_equal(json_string_value(json_object_get(e, "md5")), md5);
    assert_string_equal(json_string_value(json_object_get(e, "sha1")), sha1);
    assert_string_equal(json_string_value(json_object_get(e, "sha256")), sha256);
    snprintf(path, sizeof path, "files/%.2s/%s", sha256, sha256);
    assert_string_equal(json_string_value(json_object_get(e, "stored")), path);
    assert_true(json_is_false(json_object_get(e, "truncated")));
    json_decref(e);
    snprintf(path, sizeof path, "%s/files/%.2s/%s", root, sha256, sha256);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char *back = malloc(n + 1);
    assert_int_equal(fread(back, 1, n + 1, fp), n);
    fclose(fp);
    assert_memory_equal(back, b, n);
    free(back);
    st_file_free(f);

    /* over store_max: hashed whole, not stored */
    st_file_kind small;
    assert_int_equal(st_file_kind_init(&small, s, 100, "hash", err, sizeof err), 0);
    f = write_object(&small, b, 101);
    digests(b, 101, md5, sha1, sha256);
    assert_string_equal(st_file_result_of(f)->digest.sha256, sha256);
    assert_int_equal(st_file_result_of(f)->stored, 0);
    assert_int_equal(st_file_result_of(f)->truncated, 1);
    snprintf(path, sizeof path, "%s/files/%.2s/%s", root, sha256, sha256);
    assert_int_not_equal(access(path, F_OK), 0);
    st_file_free(f);

    /* exactly store_max: stored whole, not truncated */
    f = write_object(&small, b, 100);
    digests(b, 100, md5, sha1, sha256);
    assert_string_equal(st_file_result_of(f)->digest.sha256, sha256);
    assert_int_equal(st_file_result_of(f)->size, 100);
    assert_int_equal(st_file_result_of(f)->stored, 1);
    assert_int_equal(st_file_result_of(f)->truncated, 0);
    e = json_object();
    st_file_report(f, e, NULL);
    assert_true(json_is_false(json_object_get(e, "truncated")));
    snprintf(path, sizeof path, "files/%.2s/%s", sha256, sha256);
    assert_string_equal(json_string_value(json_object_get(e, "stored")), path);
    json_decref(e);
    snprintf(path, sizeof path, "%s/files/%.2s/%s", root, sha256, sha256);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    back = malloc(101);
    assert_int_equal(fread(back, 1, 101, fp), 100);
    fclose(fp);
    assert_memory_equal(back, b, 100);
    free(back);
    st_file_free(f);

    /* never closed: nothing kept */
    f = st_file_open(&k);
    st_file_write(f, b, 10);
    st_file_free(f);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/files/.tmp)\" && rm -rf %s", root, root);
    assert_int_equal(system(cmd), 0);
    st_store_close(s);
    free(b);
}

static void test_no_hash_analyzer(void **state)
{
    (void)state;
    char err[256], md5[33], sha1[41], sha256[65];
    st_file_kind k;
    assert_int_equal(st_file_kind_init(&k, NULL, 1 << 20, "", err, sizeof err), 0);
    assert_int_equal(k.nchain, 0);
    unsigned char *b = pattern(3000);
    digests(b, 3000, md5, sha1, sha256);
    st_file *f = write_object(&k, b, 3000);
    assert_string_equal(st_file_result_of(f)->digest.sha256, sha256); /* names the object */
    assert_string_equal(st_file_result_of(f)->digest.md5, "");        /* nobody asked */
    json_t *e = json_object();
    st_file_report(f, e, NULL);
    assert_null(json_object_get(e, "md5"));
    assert_true(json_is_null(json_object_get(e, "stored")));
    json_decref(e);
    st_file_free(f);
    free(b);
}

static void test_chain_names(void **state)
{
    (void)state;
    char err[256];
    st_file_kind k;
    assert_int_equal(st_file_kind_init(&k, NULL, 0, " hash , ", err, sizeof err), 0);
    assert_int_equal(k.nchain, 1);
    assert_ptr_equal(k.chain[0], st_analyzer_find("hash"));
    assert_int_equal(st_file_kind_init(&k, NULL, 0, "hash,nosuch", err, sizeof err), -1);
    assert_non_null(strstr(err, "'nosuch'"));
    assert_int_equal(st_file_kind_init(&k, NULL, 0, "hash,hash", err, sizeof err), -1);
    assert_non_null(strstr(err, "twice"));
    assert_null(st_analyzer_find("nosuch"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_store_report),
        cmocka_unit_test(test_no_hash_analyzer),
        cmocka_unit_test(test_chain_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
