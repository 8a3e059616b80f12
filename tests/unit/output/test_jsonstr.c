/*
 * test_jsonstr.c - wire strings into JSON (st_json_stringn, output/jsonstr.c).
 * Bytes from the wire are anything; jansson takes only UTF-8. The truth is
 * the rule the module states, applied by hand to each input: every byte
 * that does not start a valid, shortest-form UTF-8 sequence (a stray 0xff,
 * each byte of a cut 3-byte sequence, each byte of an encoded surrogate)
 * becomes U+FFFD and valid characters pass unchanged; the cap never splits
 * a character; an embedded NUL is kept (the length says so).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "output/record.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string_sanitised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
