/*
 * test_core_units.c - the store, the IPv6 map, the config table, the
 * JSON string sanitiser and the Community ID.
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
#include <sys/socket.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/community_id.h"
#include "output/record.h"
#include "output/store.h"
#include "reassembly/v6map.h"
#include "smtptap.h"

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
        st_store_obj *o = st_store_begin(s, 1 << 20, ST_HASH_ALL);
        for (size_t off = 0; off < n; off += 777)
            st_store_write(o, data + off, off + 777 > n ? n - off : 777);
        st_store_result r;
        st_store_end(o, &r);
        assert_int_equal(r.stored, 1);
        assert_string_equal(r.digest.sha256, want);
        assert_int_equal(strlen(r.digest.md5), 32);
        assert_int_equal(strlen(r.digest.sha1), 40);
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
    /* over the cap: hashed, not stored, tmp file gone */
    st_store_obj *o = st_store_begin(s, 10, 0);
    st_store_write(o, data, 100);
    st_store_result r;
    st_store_end(o, &r);
    assert_int_equal(r.stored, 0);
    assert_int_equal(r.truncated, 1);
    hex_sha256(data, 100, want);
    assert_string_equal(r.digest.sha256, want);
    assert_string_equal(r.path, "");
    /* empty object */
    o = st_store_begin(s, 100, 0);
    st_store_end(o, &r);
    assert_int_equal(r.stored, 1);
    assert_string_equal(r.digest.sha256,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    st_store_close(s);
    free(data);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/files/.tmp)\" && rm -rf %s", root, root);
    assert_int_equal(system(cmd), 0); /* no tmp file left behind */
}

static void test_v6map_exact_both_ways(void **state)
{
    (void)state;
    assert_int_equal(st_v6map_init(16), 0);
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8}, b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    uint32_t ma = st_v6map_get(a, 100), mb = st_v6map_get(b, 100);
    assert_true(ma && mb && ma != mb);
    assert_true(st_v6map_is_mapped(ma));
    assert_int_equal(st_v6map_get(a, 101), ma);
    assert_memory_equal(st_v6map_lookup(ma), a, 16);
    assert_memory_equal(st_v6map_lookup(mb), b, 16);
    assert_false(st_v6map_is_mapped(htonl(0x0A000001)));
    assert_null(st_v6map_lookup(htonl(0x0A000001)));
    /* fill the table with pinned entries: then it refuses, never overwrites */
    uint32_t ids[16];
    int n = 0;
    for (int i = 0; i < 40; i++) {
        uint8_t x[16] = {0xfe, 0x80, [14] = (uint8_t)i, [15] = 0x55};
        uint32_t m = st_v6map_get(x, 200);
        if (m) {
            st_v6map_ref(m);
            if (n < 16)
                ids[n++] = m;
        }
    }
    st_v6map_ref(ma);
    st_v6map_ref(mb);
    uint8_t late[16] = {0xff};
    assert_int_equal(st_v6map_get(late, 100000), 0);
    /* unpinned and stale: reusable */
    for (int i = 0; i < n; i++)
        st_v6map_unref(ids[i]);
    assert_int_not_equal(st_v6map_get(late, 100000), 0);
    assert_memory_equal(st_v6map_lookup(ma), a, 16); /* pinned ones untouched */
    st_v6map_free();
}

static void test_config_table(void **state)
{
    (void)state;
    char err[256];
    smtptap_config *c = smtptap_config_new();
    assert_string_equal(smtptap_config_get(c, "omit_body"), "false");
    assert_string_equal(smtptap_config_get(c, "always_dispatch"), "hash");
    assert_int_equal(smtptap_config_set(c, "omit-body", "yes", err, sizeof err), 0);
    assert_string_equal(smtptap_config_get(c, "omit_body"), "true");
    assert_int_equal(smtptap_config_set(c, "max_line", "12", err, sizeof err), -1);
    assert_non_null(strstr(err, "max_line"));
    assert_int_equal(smtptap_config_set(c, "nope", "1", err, sizeof err), -1);
    assert_null(smtptap_config_get(c, "nope"));
    char path[] = "/tmp/st-conf-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "# comment\n ioc_keys = body, received \n\nidle_timeout=42\nbroken line\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(smtptap_config_load(c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":5:"));
    assert_string_equal(smtptap_config_get(c, "ioc_keys"), "body, received");
    assert_string_equal(smtptap_config_get(c, "idle_timeout"), "42");
    unlink(path);
    smtptap_config_free(c);
}

static void test_json_string_sanitised(void **state)
{
    (void)state;
    const char bad[] = "ok\xff\xc3\xa9\xe2\x82" /* cut 3-byte char */ "z\xed\xa0\x80";
    json_t *j = st_json_stringn(bad, sizeof bad - 1, 100);
    assert_string_equal(json_string_value(j),
                        "ok\xEF\xBF\xBD\xc3\xa9\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD"
                        "\xEF\xBF\xBD");
    json_decref(j);
    j = st_json_stringn("\xc3\xa9\xc3\xa9", 4, 3); /* never split a character */
    assert_string_equal(json_string_value(j), "\xc3\xa9");
    json_decref(j);
    j = st_json_stringn("a\0b", 3, 10);
    assert_int_equal(json_string_length(j), 3);
    json_decref(j);
}

static void test_community_id_vectors(void **state)
{
    (void)state;
    st_endpoint a = {AF_INET, {0}, 34855}, b = {AF_INET, {0}, 80};
    inet_pton(AF_INET, "128.232.110.120", a.addr);
    inet_pton(AF_INET, "66.35.250.204", b.addr);
    char out[64];
    st_community_id(&a, &b, out, sizeof out);
    assert_string_equal(out, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    st_community_id(&b, &a, out, sizeof out);
    assert_string_equal(out, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    st_endpoint c = {AF_INET6, {0}, 1234}, d = {AF_INET6, {0}, 80};
    inet_pton(AF_INET6, "fe80::200:86ff:fe05:80da", c.addr);
    inet_pton(AF_INET6, "fe80::260:97ff:fe07:69ea", d.addr);
    /* expected value computed with Python's hashlib from the spec's byte layout */
    st_community_id(&c, &d, out, sizeof out);
    assert_string_equal(out, "1:I+G9nMXEOtKSE4nIKjOvUnvGl24=");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_roundtrip_and_dedup),
        cmocka_unit_test(test_v6map_exact_both_ways),
        cmocka_unit_test(test_config_table),
        cmocka_unit_test(test_json_string_sanitised),
        cmocka_unit_test(test_community_id_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
