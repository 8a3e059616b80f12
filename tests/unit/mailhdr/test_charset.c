/*
 * test_charset.c - charset labels to UTF-8 (mailhdr/charset.c): the latin1
 * family read as windows-1252.
 *
 * The truth is the WHATWG Encoding Standard (the labels "iso-8859-1",
 * "latin1", "l1", "cp819", "us-ascii" all name windows-1252: in mail
 * 0x80-0x9F are the curly quotes, euro sign and dashes of that code page,
 * never C1 controls) and Python's cp1252 codec, which gave the expected
 * UTF-8 below: b"\x93quoted\x94 5\x80 \x85 \x9f \xe9".decode("cp1252").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mailhdr/mailhdr.h"

static const char latin1_in[] = "\x93quoted\x94 5\x80 \x85 \x9f \xe9";
/* U+201C quoted U+201D space 5 U+20AC space U+2026 space U+0178 space U+00E9 */
static const char cp1252_utf8[] = "\xe2\x80\x9cquoted\xe2\x80\x9d 5\xe2\x82\xac \xe2\x80\xa6 "
                                  "\xc5\xb8 \xc3\xa9";

static void latin1_labels_are_windows_1252(void **st)
{
    (void)st;
    static const char *const labels[] = {"iso-8859-1",   "ISO-8859-1",     "latin1",  "l1", "cp819",
                                         "windows-1252", "\"iso-8859-1\"", "us-ascii"};
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        char out[128];
        unsigned fl = 0;
        size_t n =
            st_charset_to_utf8(labels[i], latin1_in, sizeof latin1_in - 1, out, sizeof out, &fl);
        if (n != sizeof cp1252_utf8 - 1 || memcmp(out, cp1252_utf8, n) != 0)
            fail_msg("label %s: %zu bytes [%.*s]", labels[i], n, (int)n, out);
        assert_int_equal(out[n], 0);
        assert_int_equal(fl, 0);
    }
    assert_true(st_charset_same("iso-8859-1", "windows-1252"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(latin1_labels_are_windows_1252),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
