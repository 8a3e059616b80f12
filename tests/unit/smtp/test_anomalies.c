/*
 * test_anomalies.c - SMTP anomalies that only the parser's own limits reach.
 *
 * too_many_extensions: the parser passes at most ST_SMTP_MAX_EXT (64) EHLO
 * keywords in one HELO event. smtptap keeps 64 lines of a multi-line reply
 * (max_reply_lines, no option changes it), and the first line of an EHLO
 * reply is the greeting, so through smtptap at most 63 keywords ever reach
 * that cap: a longer reply is cut first (reply_too_long). With the parser's
 * max_reply_lines raised, the keyword cap itself is hit. Both are shown
 * here, each at the limit and one past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp.h"

typedef struct seen {
    char names[4096]; /* anomaly names, each followed by '\n' */
    size_t n_ext;     /* keywords of the last HELO event */
    char first[32], last[32];
    int helos;
} seen;

static void on_event(void *ctx, const st_smtp_event *ev)
{
    seen *s = ctx;
    if (ev->type == ST_SMTP_EV_ANOMALY) {
        size_t used = strlen(s->names);
        snprintf(s->names + used, sizeof s->names - used, "%s\n", ev->verb);
    } else if (ev->type == ST_SMTP_EV_HELO) {
        s->helos++;
        s->n_ext = ev->n_ext;
        snprintf(s->first, sizeof s->first, "%s", ev->n_ext ? ev->ext[0] : "");
        snprintf(s->last, sizeof s->last, "%s", ev->n_ext ? ev->ext[ev->n_ext - 1] : "");
    }
}

static int count(const seen *s, const char *name)
{
    char want[64];
    int n = 0;
    snprintf(want, sizeof want, "%s\n", name);
    for (const char *c = s->names; (c = strstr(c, want)) != NULL; c += strlen(want))
        if (c == s->names || c[-1] == '\n')
            n++;
    return n;
}

static void feed(st_smtp *p, st_dir dir, const char *text)
{
    size_t n = strlen(text);
    uint8_t *copy = malloc(n); /* exact size: ASan sees any read past it */
    assert_non_null(copy);
    memcpy(copy, text, n);
    st_smtp_feed(p, dir, copy, n);
    free(copy);
}

/* An EHLO dialogue whose reply has the greeting and then `keywords` lines
 * EXT0, EXT1, ...; max_reply_lines 0 keeps the parser's default. */
static void ehlo(seen *s, size_t max_reply_lines, int keywords)
{
    st_smtp_limits lim;
    st_smtp_limits_default(&lim);
    if (max_reply_lines)
        lim.max_reply_lines = max_reply_lines;
    memset(s, 0, sizeof *s);
    st_smtp *p = st_smtp_new(&lim, on_event, s);
    assert_non_null(p);
    size_t cap = 64 + (size_t)keywords * 16;
    char *reply = malloc(cap), *w = reply;
    assert_non_null(reply);
    w += sprintf(w, "250%smx.example.test\r\n", keywords ? "-" : " ");
    for (int i = 0; i < keywords; i++)
        w += sprintf(w, "250%cEXT%d\r\n", i + 1 < keywords ? '-' : ' ', i);
    feed(p, ST_DIR_SERVER, "220 mx.example.test ESMTP\r\n");
    feed(p, ST_DIR_CLIENT, "EHLO client.example.test\r\n");
    feed(p, ST_DIR_SERVER, reply);
    feed(p, ST_DIR_CLIENT, "QUIT\r\n");
    feed(p, ST_DIR_SERVER, "221 bye\r\n");
    st_smtp_finish(p);
    st_smtp_free(p);
    free(reply);
    assert_int_equal(s->helos, 1);
}

/* 64 keywords fit the cap; 65 and 100 are cut to the first 64, with one
 * too_many_extensions each time. */
static void test_too_many_extensions(void **state)
{
    (void)state;
    seen s;
    ehlo(&s, 200, 64);
    assert_int_equal(s.n_ext, 64);
    assert_string_equal(s.first, "EXT0");
    assert_string_equal(s.last, "EXT63");
    assert_int_equal(count(&s, "too_many_extensions"), 0);
    assert_string_equal(s.names, "");

    ehlo(&s, 200, 65);
    assert_int_equal(s.n_ext, 64);
    assert_string_equal(s.first, "EXT0");
    assert_string_equal(s.last, "EXT63");
    assert_int_equal(count(&s, "too_many_extensions"), 1);
    assert_string_equal(s.names, "too_many_extensions\n");

    ehlo(&s, 200, 100);
    assert_int_equal(s.n_ext, 64);
    assert_string_equal(s.last, "EXT63");
    assert_int_equal(count(&s, "too_many_extensions"), 1);
    assert_string_equal(s.names, "too_many_extensions\n");
}

/* With the default 64 reply lines (what smtptap uses), a reply of 64 lines
 * (63 keywords) is whole, one line more is cut (reply_too_long) and the
 * keyword cap is never reached. */
static void test_reply_lines_come_first(void **state)
{
    (void)state;
    seen s;
    ehlo(&s, 0, 63);
    assert_int_equal(s.n_ext, 63);
    assert_string_equal(s.last, "EXT62");
    assert_string_equal(s.names, "");

    ehlo(&s, 0, 64);
    assert_int_equal(s.n_ext, 63);
    assert_string_equal(s.last, "EXT62");
    assert_int_equal(count(&s, "reply_too_long"), 1);
    assert_int_equal(count(&s, "too_many_extensions"), 0);

    ehlo(&s, 0, 1000);
    assert_int_equal(s.n_ext, 63);
    assert_int_equal(count(&s, "reply_too_long"), 1);
    assert_int_equal(count(&s, "too_many_extensions"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_too_many_extensions),
        cmocka_unit_test(test_reply_lines_come_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
