/*
 * test_spool.c - text appended, packed, appended again, taken back whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/spool.h"

static void test_pack_and_take(void **state)
{
    (void)state;
    st_spool s = {0};
    char want[60000], piece[64];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {
        int k = snprintf(piece, sizeof piece, "{\"tx\":%d,\"from\":\"a@b.test\"},", i);
        assert_int_equal(st_spool_add(&s, piece, (size_t)k), 0);
        memcpy(want + n, piece, (size_t)k);
        n += (size_t)k;
        if (i % 300 == 299) { /* packed three times, with appends between */
            size_t before = st_spool_memory(&s);
            st_spool_pack(&s);
            assert_true(st_spool_memory(&s) < before);
        }
    }
    size_t len;
    char *all = st_spool_take(&s, &len);
    assert_non_null(all);
    assert_int_equal(len, n);
    assert_memory_equal(all, want, n);
    assert_int_equal(all[len], 0);
    assert_int_equal(st_spool_memory(&s), 0);
    free(all);
}

static void test_empty_and_small(void **state)
{
    (void)state;
    st_spool s = {0};
    size_t len = 99;
    char *all = st_spool_take(&s, &len);
    assert_int_equal(len, 0);
    free(all);
    assert_int_equal(st_spool_add(&s, "x", 1), 0);
    st_spool_pack(&s); /* too small to pack: stays text */
    assert_non_null(s.text);
    all = st_spool_take(&s, &len);
    assert_string_equal(all, "x");
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_and_take),
        cmocka_unit_test(test_empty_and_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
