/*
 * test_v6map.c - the IPv6 map (reassembly/v6map.c): libnids only knows
 * IPv4, so each IPv6 address stands in as a 32-bit ID and is turned back
 * on the way out. The truth is the addresses themselves: two addresses get
 * two IDs, one address always the same ID, and an ID looks up exactly the
 * 16 bytes it was given; a real IPv4 address is never taken for an ID. A
 * table full of pinned entries refuses a new address rather than
 * overwrite one, and entries unpinned and stale are reused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include "reassembly/v6map.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v6map_exact_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
