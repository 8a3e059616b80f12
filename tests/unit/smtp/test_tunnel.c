/*
 * test_tunnel.c - proxy preambles are stripped exactly, in any segmentation,
 * and streams without one pass untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "smtp/tunnel.h"

typedef struct {
    char out[2][4096];
    size_t n[2];
} sink;

static void collect(void *ctx, int dir, const uint8_t *d, size_t len)
{
    sink *s = ctx;
    assert_true(s->n[dir] + len < sizeof s->out[dir]);
    memcpy(s->out[dir] + s->n[dir], d, len);
    s->n[dir] += len;
}

typedef struct {
    int dir;
    const char *bytes;
    size_t len;
} turn;

#define T(d, lit)                                                                                  \
    {                                                                                              \
        d, lit, sizeof(lit) - 1                                                                    \
    }

/* Feed the turns with every turn cut at every position; expect the same. */
static void check(const turn *t, size_t nt, const char *want_c, const char *want_s,
                  const char *kind)
{
    size_t total = 0;
    for (size_t i = 0; i < nt; i++)
        total += t[i].len;
    for (size_t cut = 0; cut <= total; cut++) {
        st_tunnel tun = {0};
        sink s = {0};
        size_t pos = 0;
        for (size_t i = 0; i < nt; i++) {
            const uint8_t *b = (const uint8_t *)t[i].bytes;
            size_t k = cut > pos && cut < pos + t[i].len ? cut - pos : t[i].len;
            st_tunnel_feed(&tun, t[i].dir, b, k, collect, &s);
            st_tunnel_feed(&tun, t[i].dir, b + k, t[i].len - k, collect, &s);
            pos += t[i].len;
        }
        assert_int_equal(s.n[0], strlen(want_c));
        assert_memory_equal(s.out[0], want_c, s.n[0]);
        assert_int_equal(s.n[1], strlen(want_s));
        assert_memory_equal(s.out[1], want_s, s.n[1]);
        if (kind)
            assert_string_equal(st_tunnel_name(&tun), kind);
        else
            assert_null(st_tunnel_name(&tun));
        st_tunnel_free(&tun);
    }
}

static void test_http_connect(void **state)
{
    (void)state;
    static const turn t[] = {
        T(0, "CONNECT mx.example:25 HTTP/1.0\r\nUser-Agent: x\r\n\r\n"),
        T(1, "HTTP/1.0 200 Connection established\r\n\r\n220 mx ESMTP\r\n"),
        T(0, "HELO me\r\n"),
    };
    check(t, 3, "HELO me\r\n", "220 mx ESMTP\r\n", "http_connect");
}

static void test_socks5_with_password(void **state)
{
    (void)state;
    static const turn t[] = {
        T(0, "\x05\x02\x00\x02"),
        T(1, "\x05\x02"),
        T(0, "\x01\x04user\x04pass"),
        T(1, "\x01\x00"),
        T(0, "\x05\x01\x00\x03\x0amx.example\x00\x19"),
        T(1, "\x05\x00\x00\x01\x0a\x00\x00\x01\x00\x19"
             "220 hi\r\n"),
        T(0, "EHLO x\r\n"),
    };
    check(t, 7, "EHLO x\r\n", "220 hi\r\n", "socks5");
}

static void test_socks4a(void **state)
{
    (void)state;
    static const turn t[] = {
        T(0, "\x04\x01\x00\x19\x00\x00\x00\x01"
             "bob\x00"
             "mx.example\x00"),
        T(1, "\x00\x5a\x00\x19\x0a\x00\x00\x01"
             "220 hi\r\n"),
        T(0, "HELO x\r\n"),
    };
    check(t, 3, "HELO x\r\n", "220 hi\r\n", "socks4");
}

/* SOCKS4a is an address 0.0.0.x with x nonzero ("SOCKS 4A: A Simple Extension
 * to SOCKS 4 Protocol", Ying-Da Lee): 0.0.0.0 is a plain SOCKS4 request, no
 * host name follows the user id. */
static void test_socks4_zero_address(void **state)
{
    (void)state;
    static const turn t[] = {
        T(0, "\x04\x01\x00\x19\x00\x00\x00\x00"
             "bob\x00"),
        T(1, "\x00\x5a\x00\x19\x00\x00\x00\x00"
             "220 hi\r\n"),
        T(0, "HELO x\r\n"),
    };
    check(t, 3, "HELO x\r\n", "220 hi\r\n", "socks4");
}

static void test_plain_smtp_untouched(void **state)
{
    (void)state;
    static const turn t[] = {
        T(1, "220 mx ESMTP\r\n"),
        T(0, "CONNECT is not a proxy here\r\n"),
    };
    check(t, 2, "CONNECT is not a proxy here\r\n", "220 mx ESMTP\r\n", NULL);
    static const turn u[] = {
        T(0, "CAPA\r\n"), /* starts like CONNECT, is not */
        T(1, "500 what\r\n"),
    };
    check(u, 2, "CAPA\r\n", "500 what\r\n", NULL);
}

static void test_unfinished_preamble_loses_nothing(void **state)
{
    (void)state;
    char big[3000];
    memcpy(big, "CONNECT ", 8);
    memset(big + 8, 'a', sizeof big - 9);
    big[sizeof big - 1] = 0;
    turn t[] = {{0, big, sizeof big - 1}, T(1, "220 x\r\n")};
    st_tunnel tun = {0};
    sink s = {0};
    for (size_t i = 0; i < 2; i++)
        st_tunnel_feed(&tun, t[i].dir, (const uint8_t *)t[i].bytes, t[i].len, collect, &s);
    assert_int_equal(s.n[0], sizeof big - 1);
    assert_memory_equal(s.out[0], big, s.n[0]);
    assert_int_equal(s.n[1], 7);
    assert_null(st_tunnel_name(&tun));
    st_tunnel_free(&tun);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_connect),
        cmocka_unit_test(test_socks5_with_password),
        cmocka_unit_test(test_socks4a),
        cmocka_unit_test(test_socks4_zero_address),
        cmocka_unit_test(test_plain_smtp_untouched),
        cmocka_unit_test(test_unfinished_preamble_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
