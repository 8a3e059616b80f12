/*
 * fuzz_ioc.c - the IOC engine (analyze/ioc.h) on hostile text: one text
 * fed whole, and the same bytes fed in pieces the input chooses.
 *
 * Input: byte 0: bit 0 the text is HTML (ST_IOC_HTML); bits 1-2 the
 * engine: 0 the defaults, 1 small caps (max_iocs 5, max_bytes 300), 2 an
 * allow-list of every kind of line, 3 as 0; bits 3-7 and byte 1 seed the
 * cuts; byte 1 bits 0-3 bound a piece (1 << that many bytes, at most
 * 32 KiB: pieces of 1 byte to past ST_IOC_WINDOW with a long input).
 * The rest is the text.
 *
 * Properties: no sanitizer report; the JSON of the pieces is the JSON of
 * the whole (same values, types, order, "where"), and so are the dropped
 * and unscanned counts; every value is printable ASCII without blanks,
 * 1..ST_IOC_VALUE_MAX bytes, of a known type, found in "body"; with the
 * small caps at most 5 values and unscanned exactly what is past 300
 * bytes; the JSON dumps and loads back. The allow-list is a file in
 * /dev/shm (or /tmp), removed once the engine has read it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze/ioc.h"
#include "fuzz/fuzz_common.h"

static st_ioc_engine *engines[3];
static char allow_path[256];

static const char allow_list[] = "# every kind of line\n"
                                 "10.0.0.0/8\n192.168.1.1\n2001:db8::/32\nipv4:172.16.0.0/12\n"
                                 "ipv6:fe80::/10\n.example.com\nexample.net\ndomain:.gov\n"
                                 "url:.cdn.org\nurl:198.51.100.0/24\nemail:a@b.com\nx@y.org\n"
                                 "md5:d41d8cd98f00b204e9800998ecf8427e\n"
                                 "da39a3ee5e6b4b0d3255bfef95601890afd80709\n"
                                 "mac_address:00:11:22:33:44:55\n";

static st_ioc_engine *make(int which)
{
    st_ioc_config c;
    char err[512];
    st_ioc_config_default(&c);
    if (which == 1) {
        c.max_iocs = 5;
        c.max_bytes = 300;
    } else if (which == 2) {
        struct stat st;
        const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(allow_path, sizeof allow_path, "%s/smtptap-fuzz-ioc.%ld.txt", base,
                 (long)getpid());
        FILE *f = fopen(allow_path, "w");
        FZ_CHECK(f && fputs(allow_list, f) >= 0, "cannot write %s", allow_path);
        fclose(f);
        c.allowlist = allow_path;
    }
    st_ioc_engine *e = st_ioc_engine_new(&c, err, sizeof err);
    if (which == 2)
        unlink(allow_path); /* read once, at engine creation: nothing left behind a crash */
    FZ_CHECK(e, "engine %d: %s", which, err);
    return e;
}

static void teardown(void)
{
    for (int i = 0; i < 3; i++)
        st_ioc_engine_free(engines[i]);
}

typedef struct {
    char *json;
    uint64_t dropped, unscanned;
    size_t nvalues;
} result;

static void check_values(json_t *j, result *r)
{
    static const char *const types[] = {"md5",  "sha1",        "sha256", "sha512", "ipv4",
                                        "ipv6", "mac_address", "email",  "domain", "url"};
    const char *key;
    json_t *list;
    json_object_foreach(j, key, list)
    {
        int known = 0;
        for (size_t t = 0; t < sizeof types / sizeof *types; t++)
            known |= strcmp(types[t], key) == 0;
        FZ_CHECK(known && json_is_array(list) && json_array_size(list) > 0, "type '%s'", key);
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            const char *s = json_string_value(json_object_get(v, "value"));
            json_t *w = json_object_get(v, "where");
            FZ_CHECK(s, "%s: no value", key);
            size_t n = strlen(s);
            FZ_CHECK(n >= 1 && n <= ST_IOC_VALUE_MAX, "%s: %zu bytes", key, n);
            for (size_t k = 0; k < n; k++)
                FZ_CHECK(s[k] > 0x20 && s[k] < 0x7f, "%s: byte %zu of '%s'", key, k, s);
            FZ_CHECK(fz_utf8_valid((const uint8_t *)s, n), "%s", s);
            FZ_CHECK(json_array_size(w) == 1 &&
                         !strcmp(json_string_value(json_array_get(w, 0)), "body"),
                     "%s: where", s);
            r->nvalues++;
        }
    }
}

static result run(const st_ioc_engine *e, const uint8_t *d, size_t n, unsigned flags, uint32_t seed,
                  size_t maxpiece)
{
    result r = {0};
    st_ioc_set *s = st_ioc_set_new(e);
    FZ_CHECK(s, "set");
    st_ioc_text *t = st_ioc_begin(s, "body", flags);
    FZ_CHECK(t, "text");
    for (size_t off = 0; off < n;) {
        size_t k = maxpiece ? 1 + fz_rand(&seed) % maxpiece : n - off;
        k = k > n - off ? n - off : k;
        st_ioc_feed(t, d + off, k);
        off += k;
    }
    st_ioc_end(t);
    json_t *j = st_ioc_set_json(s);
    st_ioc_set_counts(s, &r.dropped, &r.unscanned);
    if (j) {
        check_values(j, &r);
        r.json = json_dumps(j, JSON_COMPACT);
        FZ_CHECK(r.json, "dump");
        json_t *back = json_loads(r.json, 0, NULL);
        FZ_CHECK(back && json_equal(back, j), "loads back");
        json_decref(back);
        json_decref(j);
    }
    st_ioc_set_free(s);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!engines[0]) {
        for (int i = 0; i < 3; i++)
            engines[i] = make(i);
        atexit(teardown);
    }
    if (size < 2)
        return 0;
    unsigned flags = data[0] & 1 ? ST_IOC_HTML : 0;
    int which = (data[0] >> 1) & 3;
    const st_ioc_engine *e = engines[which == 3 ? 0 : which];
    uint32_t seed = (uint32_t)data[0] << 8 | data[1];
    unsigned bits = data[1] & 15;
    size_t maxpiece = (size_t)1 << bits;
    const uint8_t *text = data + 2;
    size_t n = size - 2;

    result whole = run(e, text, n, flags, 0, 0);
    result parts = run(e, text, n, flags, seed, maxpiece);
    FZ_CHECK((!whole.json && !parts.json) ||
                 (whole.json && parts.json && strcmp(whole.json, parts.json) == 0),
             "pieces (at most %zu) differ:\n%s\n%s", maxpiece, parts.json ? parts.json : "null",
             whole.json ? whole.json : "null");
    FZ_CHECK(whole.dropped == parts.dropped && whole.unscanned == parts.unscanned,
             "counts differ: %llu/%llu %llu/%llu", (unsigned long long)whole.dropped,
             (unsigned long long)parts.dropped, (unsigned long long)whole.unscanned,
             (unsigned long long)parts.unscanned);
    if (which == 1) {
        FZ_CHECK(whole.nvalues <= 5, "%zu values kept", whole.nvalues);
        FZ_CHECK(whole.unscanned == (n > 300 ? n - 300 : 0), "unscanned %llu of %zu",
                 (unsigned long long)whole.unscanned, n);
    } else {
        FZ_CHECK(whole.unscanned == 0, "unscanned");
    }
    free(whole.json);
    free(parts.json);
    return 0;
}
