/*
 * dialogue.h - what the SMTP parser tests share (included by
 * tests/unit/smtp/test_*.c; not a test itself).
 *
 * A recording callback turns every event into one canonical text line
 * (type and every field; adjacent MSG_DATA merged, since how content is
 * chunked depends on segmentation) and keeps each message's bytes, so
 * runs can be compared and messages checked byte for byte against bytes
 * the test wrote into its input. Dialogues are lists of turns (client
 * bytes, server bytes, or a gap) fed in arrival order; every piece is fed
 * from an exact-size heap copy so that ASan sees any read past it.
 * split_check feeds a dialogue whole per turn, split at every byte, and
 * byte by byte, and requires the same text each time.
 *
 * Line format: "TYPE v=verb a=arg p=params u=user c=code t=text f=flag
 * s=status g=gap x=ext|ext", "~" for a NULL string, control bytes and
 * backslashes escaped (\r \n \\ \xHH).
 */
#ifndef ST_TESTS_SMTP_DIALOGUE_H
#define ST_TESTS_SMTP_DIALOGUE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp.h"

/* Not every test file uses every helper. */
#define UNUSED_OK __attribute__((unused))

#define MAX_MSG 16

typedef struct rec {
    char *log, *types;
    size_t len, cap, tlen, tcap;
    int last_data;
    char *msg[MAX_MSG];
    size_t mlen[MAX_MSG];
    int nmsg;
} rec;

UNUSED_OK static void grow(char **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    while (*cap < need)
        *cap = *cap ? *cap * 2 : 256;
    *b = realloc(*b, *cap);
    assert_non_null(*b);
}

UNUSED_OK static void put(rec *r, const char *s, size_t n)
{
    grow(&r->log, &r->cap, r->len + n + 1);
    memcpy(r->log + r->len, s, n);
    r->len += n;
    r->log[r->len] = 0;
}

UNUSED_OK static void puts_(rec *r, const char *s)
{
    put(r, s, strlen(s));
}

UNUSED_OK static void put_esc(rec *r, const char *s, size_t n)
{
    char b[8];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n' || c == '\\')
            snprintf(b, sizeof(b), "\\%c", c == '\r' ? 'r' : c == '\n' ? 'n' : '\\');
        else if (c < 0x20 || c >= 0x7f)
            snprintf(b, sizeof(b), "\\x%02x", c);
        else
            snprintf(b, sizeof(b), "%c", c);
        puts_(r, b);
    }
}

UNUSED_OK static void put_str(rec *r, const char *k, const char *s)
{
    puts_(r, k);
    if (s)
        put_esc(r, s, strlen(s));
    else
        puts_(r, "~");
}

UNUSED_OK static const char *type_name(st_smtp_ev_type t)
{
    static const char *n[] = {"BANNER",  "HELO",   "AUTH",       "STARTTLS", "TLS",
                              "MAIL",    "RCPT",   "DATA_BEGIN", "MSG_DATA", "MSG_GAP",
                              "MSG_END", "TX_END", "COMMAND",    "ANOMALY"};
    return n[t];
}

UNUSED_OK static const char *status_name(st_tx_status s)
{
    static const char *n[] = {"ACCEPTED", "REJECTED", "ABORTED", "INCOMPLETE"};
    return n[s];
}

UNUSED_OK static void put_type(rec *r, const char *name)
{
    size_t n = strlen(name);
    grow(&r->types, &r->tcap, r->tlen + n + 2);
    if (r->tlen)
        r->types[r->tlen++] = ' ';
    memcpy(r->types + r->tlen, name, n + 1);
    r->tlen += n;
}

UNUSED_OK static void rec_data(rec *r, const st_smtp_event *ev)
{
    if (r->last_data) {
        r->len--; /* merge with the previous MSG_DATA line */
    } else {
        puts_(r, "MSG_DATA ");
        put_type(r, "MSG_DATA");
    }
    put_esc(r, (const char *)ev->data, ev->len);
    puts_(r, "\n");
    if (r->nmsg > 0) {
        int m = r->nmsg - 1;
        r->msg[m] = realloc(r->msg[m], r->mlen[m] + ev->len + 1);
        memcpy(r->msg[m] + r->mlen[m], ev->data, ev->len);
        r->mlen[m] += ev->len;
        r->msg[m][r->mlen[m]] = 0;
    }
    r->last_data = 1;
}

UNUSED_OK static void rec_fields(rec *r, const st_smtp_event *ev)
{
    char b[96];
    put_str(r, " v=", ev->verb);
    put_str(r, " a=", ev->arg);
    put_str(r, " p=", ev->params);
    put_str(r, " u=", ev->user);
    snprintf(b, sizeof(b), " c=%d", ev->reply.code);
    puts_(r, b);
    put_str(r, " t=", ev->reply.text);
    snprintf(b, sizeof(b), " f=%d s=%s g=%llu x=", ev->flag,
             ev->type == ST_SMTP_EV_TX_END ? status_name(ev->status) : "-",
             (unsigned long long)ev->gap);
    puts_(r, b);
    for (size_t i = 0; i < ev->n_ext; i++) {
        if (i)
            puts_(r, "|");
        put_esc(r, ev->ext[i], strlen(ev->ext[i]));
    }
    puts_(r, "\n");
}

UNUSED_OK static void on_event(void *ctx, const st_smtp_event *ev)
{
    rec *r = ctx;
    if (ev->type == ST_SMTP_EV_MSG_DATA) {
        assert_true(ev->len > 0);
        rec_data(r, ev);
        return;
    }
    r->last_data = 0;
    puts_(r, type_name(ev->type));
    put_type(r, type_name(ev->type));
    rec_fields(r, ev);
    if (ev->type == ST_SMTP_EV_DATA_BEGIN) {
        assert_true(r->nmsg < MAX_MSG);
        r->msg[r->nmsg] = calloc(1, 1);
        r->mlen[r->nmsg++] = 0;
    }
}

UNUSED_OK static void rec_free(rec *r)
{
    free(r->log);
    free(r->types);
    for (int i = 0; i < r->nmsg; i++)
        free(r->msg[i]);
    memset(r, 0, sizeof(*r));
}

UNUSED_OK static int has(const rec *r, const char *s)
{
    return r->log && strstr(r->log, s) != NULL;
}

UNUSED_OK static int count(const rec *r, const char *s)
{
    int n = 0;
    for (const char *p = r->log; p && (p = strstr(p, s)) != NULL; p++)
        n++;
    return n;
}

#define assert_has(r, s)                                                                           \
    do {                                                                                           \
        if (!has(r, s))                                                                            \
            fail_msg("missing \"%s\" in:\n%s", s, (r)->log);                                       \
    } while (0)

#define assert_types(r, s)                                                                         \
    do {                                                                                           \
        if (strcmp((r)->types ? (r)->types : "", s) != 0)                                          \
            fail_msg("types\n  got  %s\n  want %s\n%s", (r)->types, s, (r)->log);                  \
    } while (0)

UNUSED_OK static void assert_msg(const rec *r, int i, const char *want, size_t n)
{
    assert_true(i < r->nmsg);
    if (r->mlen[i] != n || memcmp(r->msg[i], want, n) != 0)
        fail_msg("message %d differs (%zu vs %zu bytes):\n%s", i, r->mlen[i], n, r->log);
}

#define ASSERT_MSG(r, i, lit) assert_msg(r, i, lit, sizeof(lit) - 1)
#define FEEDS(p, dir, lit)    feed(p, dir, lit, sizeof(lit) - 1)

/* ---- dialogues ---------------------------------------------------------- */

typedef struct turn {
    st_dir dir;
    const char *b; /* NULL: a gap of n bytes */
    size_t n;
} turn;

#define C(s)                                                                                       \
    {                                                                                              \
        ST_DIR_CLIENT, s, sizeof(s) - 1                                                            \
    }
#define S(s)                                                                                       \
    {                                                                                              \
        ST_DIR_SERVER, s, sizeof(s) - 1                                                            \
    }
#define CGAP(n)                                                                                    \
    {                                                                                              \
        ST_DIR_CLIENT, NULL, n                                                                     \
    }
#define SGAP(n)                                                                                    \
    {                                                                                              \
        ST_DIR_SERVER, NULL, n                                                                     \
    }
#define NT(t) (sizeof(t) / sizeof((t)[0]))
#define EHLO_TURNS                                                                                 \
    S("220 mx.example.net ESMTP Postfix (Debian/GNU)\r\n"), C("EHLO client.example.org\r\n"),      \
        S("250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"              \
          "250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"        \
          "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n")

UNUSED_OK static void feed(st_smtp *p, st_dir dir, const char *b, size_t n)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, b, n);
    st_smtp_feed(p, dir, (const uint8_t *)copy, n);
    free(copy);
}

/* mode 0: each turn whole; 1: the turn holding byte k is cut at k;
 * 2: byte by byte. */
UNUSED_OK static void feed_turn(st_smtp *p, const turn *t, int mode, size_t at, size_t k)
{
    if (!t->b) {
        st_smtp_gap(p, t->dir, t->n);
    } else if (mode == 2) {
        for (size_t i = 0; i < t->n; i++)
            feed(p, t->dir, t->b + i, 1);
    } else if (mode == 1 && k > at && k < at + t->n) {
        feed(p, t->dir, t->b, k - at);
        feed(p, t->dir, t->b + (k - at), t->n - (k - at));
    } else {
        feed(p, t->dir, t->b, t->n);
    }
}

UNUSED_OK static st_smtp *run_lim(const turn *t, size_t nt, rec *r, int mode, size_t k,
                                  const st_smtp_limits *lim)
{
    st_smtp *p = st_smtp_new(lim, on_event, r);
    assert_non_null(p);
    for (size_t i = 0, at = 0; i < nt; i++) {
        feed_turn(p, &t[i], mode, at, k);
        at += t[i].b ? t[i].n : 0;
    }
    return p;
}

/* Runs a dialogue whole and finishes it. */
UNUSED_OK static void run(const turn *t, size_t nt, rec *r)
{
    st_smtp *p = run_lim(t, nt, r, 0, 0, NULL);
    st_smtp_finish(p);
    st_smtp_finish(p); /* must be harmless */
    st_smtp_free(p);
}

UNUSED_OK static size_t total_bytes(const turn *t, size_t nt)
{
    size_t n = 0;
    for (size_t i = 0; i < nt; i++)
        n += t[i].b ? t[i].n : 0;
    return n;
}

UNUSED_OK static void split_check(const turn *t, size_t nt)
{
    rec whole = {0};
    run(t, nt, &whole);
    for (int mode = 1; mode <= 2; mode++) {
        size_t last = mode == 1 ? total_bytes(t, nt) : 1;
        for (size_t k = 1; k < last || (mode == 2 && k == 1); k++) {
            rec r = {0};
            st_smtp *p = run_lim(t, nt, &r, mode, k, NULL);
            st_smtp_finish(p);
            st_smtp_free(p);
            if (strcmp(whole.log, r.log) != 0)
                fail_msg("mode %d k=%zu:\n--- whole\n%s--- split\n%s", mode, k, whole.log, r.log);
            rec_free(&r);
        }
    }
    rec_free(&whole);
}

#endif
