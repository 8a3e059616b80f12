/*
 * test_config.c - the option table (core/config.c) behind the config file,
 * the command line and smtptap_config_set. The truth is the documented
 * interface (README "Options", smtptap --help): the stoQ defaults
 * (omit_body false, always_dispatch hash), dashes and underscores naming
 * the same option, booleans normalised, a value out of range or an
 * unknown key refused with the key in the message; a config file with
 * comments, blank lines and padded values loads the good lines and
 * reports a bad one by its line number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtptap.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
