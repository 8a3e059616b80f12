/*
 * fuzz_ioc.c - the IOC engine (analyze/ioc.h) on the input as a text.
 *
 * Input: the first byte chooses the flags (bit 0: HTML) and the seed of
 * the split points; the rest is the text (see fuzz/seeds/fuzz_ioc/).
 *
 * Properties: no sanitizer report; the set's JSON is the same whether the
 * text is fed at once or in input-chosen pieces; every value is printable
 * ASCII of at most ST_IOC_VALUE_MAX bytes, listed once per type, with at
 * least one text it was found in; no more than max_iocs values.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/ioc.h"
#include "fuzz/fuzz_common.h"

#define MAX_IOCS 200

static st_ioc_engine *engine;

static char *scan(const uint8_t *d, size_t n, unsigned flags, uint32_t seed, int split)
{
    st_ioc_set *s = st_ioc_set_new(engine);
    FZ_CHECK(s, "no set");
    st_ioc_text *t = st_ioc_begin(s, "text", flags);
    uint32_t r = seed | 1;
    for (size_t i = 0; i < n;) {
        size_t k = n - i;
        if (split) {
            r = r * 1103515245u + 12345u;
            k = 1 + (r >> 8) % 97;
            k = k < n - i ? k : n - i;
        }
        st_ioc_feed(t, d + i, k);
        i += k;
    }
    st_ioc_end(t);
    json_t *j = st_ioc_set_json(s);
    size_t total = 0;
    const char *type;
    json_t *list;
    json_object_foreach(j, type, list)
    {
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *e = json_array_get(list, i);
            const char *v = json_string_value(json_object_get(e, "value"));
            FZ_CHECK(v && *v && strlen(v) <= ST_IOC_VALUE_MAX, "%s value", type);
            for (const char *c = v; *c; c++)
                FZ_CHECK(*c > 0x20 && *c < 0x7f, "%s value byte %02x", type, (unsigned char)*c);
            for (size_t k = 0; k < i; k++)
                FZ_CHECK(strcmp(v, json_string_value(
                                       json_object_get(json_array_get(list, k), "value"))) != 0,
                         "%s %s twice", type, v);
            FZ_CHECK(json_array_size(json_object_get(e, "where")) >= 1, "no where");
        }
        total += json_array_size(list);
    }
    FZ_CHECK(total <= MAX_IOCS, "%zu values", total);
    char *out = j ? json_dumps(j, JSON_SORT_KEYS) : strdup("null");
    json_decref(j);
    st_ioc_set_free(s);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!engine) {
        st_ioc_config c;
        char err[256];
        st_ioc_config_default(&c);
        c.max_iocs = MAX_IOCS;
        engine = st_ioc_engine_new(&c, err, sizeof err);
        FZ_CHECK(engine, "engine: %s", err);
    }
    if (size < 1)
        return 0;
    unsigned flags = data[0] & 1 ? ST_IOC_HTML : 0;
    char *whole = scan(data + 1, size - 1, flags, data[0], 0);
    char *parts = scan(data + 1, size - 1, flags, data[0], 1);
    FZ_CHECK(strcmp(whole, parts) == 0, "split differs:\n%s\n%s", whole, parts);
    free(whole);
    free(parts);
    return 0;
}
