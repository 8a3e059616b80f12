/*
 * test_ip6.c - IPv6 extension header walking, packets built byte by byte.
 *
 * Prefixes are decoded from exact-size heap copies so that ASan catches
 * any read past the captured bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture/ip6.h"

enum {
    HBH = 0,
    TCP = 6,
    UDP = 17,
    ROUTING = 43,
    FRAG = 44,
    ESP = 50,
    AH = 51,
    ICMP6 = 58,
    NONE = 59,
    DST = 60
};

static const uint8_t src_addr[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16};
static const uint8_t dst_addr[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe};

typedef struct {
    uint8_t b[1024];
    size_t n;
    size_t nh_at;   /* where the pending next-header value goes */
    size_t tcp_off; /* set by tcp() */
} pkt;

static void start(pkt *p)
{
    memset(p, 0, sizeof(*p));
    p->b[0] = 0x60;
    p->b[1] = 0x0a;
    p->b[7] = 57; /* hop limit */
    memcpy(p->b + 8, src_addr, 16);
    memcpy(p->b + 24, dst_addr, 16);
    p->n = 40;
    p->nh_at = 6;
}

static void set_plen(pkt *p, size_t plen)
{
    p->b[4] = (uint8_t)(plen >> 8);
    p->b[5] = (uint8_t)plen;
}

/* An extension header of total length len with length byte lenbyte. */
static void ext(pkt *p, int type, size_t len, uint8_t lenbyte)
{
    assert_true(p->n + len <= sizeof(p->b));
    p->b[p->nh_at] = (uint8_t)type;
    p->nh_at = p->n;
    p->b[p->n + 1] = lenbyte;
    for (size_t i = 2; i < len; i++)
        p->b[p->n + i] = (uint8_t)(0xa0 + i);
    p->n += len;
    set_plen(p, p->n - 40);
}

static void opts(pkt *p, int type, unsigned units) /* HBH, routing, dest-opts */
{
    ext(p, type, (units + 1) * 8, (uint8_t)units);
}

static void ah(pkt *p, unsigned lenbyte)
{
    ext(p, AH, (lenbyte + 2) * 4, (uint8_t)lenbyte);
}

static void frag(pkt *p, unsigned offset, int more, int reserved)
{
    size_t at = p->n;

    ext(p, FRAG, 8, 0);
    p->b[at + 1] = 0; /* reserved byte */
    p->b[at + 2] = (uint8_t)(offset >> 5);
    p->b[at + 3] = (uint8_t)((offset & 0x1f) << 3 | (reserved & 3) << 1 | (more ? 1 : 0));
    memcpy(p->b + at + 4, "\xde\xad\xbe\xef", 4);
}

static void upper(pkt *p, int type, size_t payload)
{
    p->b[p->nh_at] = (uint8_t)type;
    p->tcp_off = p->n;
    if (type == TCP) {
        static const uint8_t th[20] = {0xa7, 0xfe, 0x00, 0x19, 1,    2,    3, 4, 0, 0,
                                       0,    0,    0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0};
        memcpy(p->b + p->n, th, sizeof(th));
        p->n += sizeof(th);
    }
    for (size_t i = 0; i < payload; i++)
        p->b[p->n++] = (uint8_t)('A' + i % 26);
    set_plen(p, p->n - 40);
}

static uint8_t *copy(const uint8_t *b, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);

    assert_non_null(c);
    memcpy(c, b, n);
    return c;
}

/* Decodes a heap copy of the first caplen bytes; frees it. */
static st_ip6_result find(const pkt *p, size_t caplen, st_ip6_tcp *out, size_t *tcp_off)
{
    uint8_t *c = copy(p->b, caplen);
    st_ip6_result r = st_ip6_find_tcp(c, caplen, out);

    if (r == ST_IP6_TCP) {
        assert_memory_equal(out->src, src_addr, 16);
        assert_memory_equal(out->dst, dst_addr, 16);
        assert_ptr_equal(out->src, c + 8);
        assert_ptr_equal(out->dst, c + 24);
        assert_int_equal(out->hop_limit, 57);
        assert_true(out->tcp >= c && out->tcp + out->tcp_len <= c + caplen);
        if (tcp_off)
            *tcp_off = (size_t)(out->tcp - c);
        assert_int_equal(out->tcp[0], 0xa7); /* source port 43006 */
        assert_int_equal(out->tcp[3], 25);
    }
    free(c);
    return r;
}

static void expect_tcp(const pkt *p, size_t payload)
{
    st_ip6_tcp out;
    size_t off = 0;

    assert_int_equal(find(p, p->n, &out, &off), ST_IP6_TCP);
    assert_int_equal(off, p->tcp_off);
    assert_int_equal(out.tcp_len, 20 + payload);
    assert_int_equal(out.tcp_len_wire, 20 + payload);
}

static void test_plain(void **state)
{
    pkt p;

    (void)state;
    start(&p);
    upper(&p, TCP, 11);
    assert_int_equal(p.b[5], 31);
    expect_tcp(&p, 11);
}

static void test_each_extension(void **state)
{
    pkt p;

    (void)state;
    start(&p);
    opts(&p, HBH, 0);
    upper(&p, TCP, 5);
    assert_int_equal(p.tcp_off, 48);
    expect_tcp(&p, 5);

    start(&p);
    opts(&p, HBH, 3);
    upper(&p, TCP, 0);
    assert_int_equal(p.tcp_off, 72);
    expect_tcp(&p, 0);

    start(&p);
    opts(&p, ROUTING, 2);
    upper(&p, TCP, 1);
    assert_int_equal(p.tcp_off, 64);
    expect_tcp(&p, 1);

    start(&p);
    opts(&p, DST, 1);
    upper(&p, TCP, 7);
    assert_int_equal(p.tcp_off, 56);
    expect_tcp(&p, 7);

    start(&p);
    ah(&p, 4); /* (4 + 2) * 4 = 24 bytes */
    upper(&p, TCP, 3);
    assert_int_equal(p.tcp_off, 64);
    expect_tcp(&p, 3);

    start(&p);
    frag(&p, 0, 0, 0);
    upper(&p, TCP, 9);
    assert_int_equal(p.tcp_off, 48);
    expect_tcp(&p, 9);

    /* reserved bits are ignored on receipt (RFC 8200 4.5) */
    start(&p);
    frag(&p, 0, 0, 3);
    upper(&p, TCP, 9);
    expect_tcp(&p, 9);

    /* all of them */
    start(&p);
    opts(&p, HBH, 0);
    opts(&p, DST, 1);
    opts(&p, ROUTING, 2);
    frag(&p, 0, 0, 0);
    ah(&p, 1);
    opts(&p, DST, 0);
    upper(&p, TCP, 100);
    assert_int_equal(p.tcp_off, 40 + 8 + 16 + 24 + 8 + 12 + 8);
    expect_tcp(&p, 100);
}

static void test_fragments(void **state)
{
    pkt p;
    st_ip6_tcp out;

    (void)state;
    start(&p);
    frag(&p, 0, 1, 0); /* first fragment */
    upper(&p, TCP, 20);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_FRAGMENT);

    start(&p);
    frag(&p, 185, 0, 0); /* last fragment */
    upper(&p, TCP, 20);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_FRAGMENT);

    start(&p);
    frag(&p, 1, 1, 0);
    upper(&p, UDP, 20);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_FRAGMENT);

    start(&p);
    opts(&p, HBH, 0);
    frag(&p, 8191, 0, 0);
    upper(&p, TCP, 20);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_FRAGMENT);
}

static void test_not_tcp(void **state)
{
    static const int types[] = {ESP, NONE, UDP, ICMP6, 4, 41, 135, 139, 140, 253, 255};
    pkt p;
    st_ip6_tcp out;

    (void)state;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        start(&p);
        upper(&p, types[i], 40);
        assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_NOT_TCP);

        start(&p);
        opts(&p, DST, 0);
        upper(&p, types[i], 40);
        assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_NOT_TCP);
    }
    /* TCP after ESP is encrypted: never looked at */
    start(&p);
    upper(&p, TCP, 10);
    p.b[6] = ESP;
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_NOT_TCP);
}

static void test_header_count(void **state)
{
    pkt p;
    st_ip6_tcp out;

    (void)state;
    start(&p);
    for (int i = 0; i < 16; i++)
        opts(&p, DST, 0);
    upper(&p, TCP, 4);
    assert_int_equal(p.tcp_off, 40 + 16 * 8);
    expect_tcp(&p, 4);

    start(&p);
    for (int i = 0; i < 17; i++)
        opts(&p, DST, 0);
    upper(&p, TCP, 4);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_MALFORMED);

    /* 17 routing + AH + atomic fragment headers: the kinds do not matter */
    start(&p);
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 0)
            opts(&p, ROUTING, 0);
        else if (i % 3 == 1)
            ah(&p, 0);
        else
            frag(&p, 0, 0, 0);
    }
    upper(&p, TCP, 4);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_MALFORMED);

    /* hop-by-hop is only allowed first */
    start(&p);
    opts(&p, DST, 0);
    opts(&p, HBH, 0);
    upper(&p, TCP, 4);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_MALFORMED);
}

static void test_malformed(void **state)
{
    pkt p;
    st_ip6_tcp out;

    (void)state;
    /* not version 6 */
    start(&p);
    upper(&p, TCP, 4);
    p.b[0] = 0x45;
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_MALFORMED);

    /* extension header longer than the payload length */
    start(&p);
    opts(&p, DST, 0);
    upper(&p, TCP, 4);
    p.b[41] = 200;
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_MALFORMED);

    /* payload length too short for a TCP header (padding makes the capture long) */
    start(&p);
    upper(&p, TCP, 4);
    set_plen(&p, 19);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_MALFORMED);

    /* payload length ends inside the extension header's length byte */
    start(&p);
    opts(&p, DST, 0);
    upper(&p, TCP, 4);
    set_plen(&p, 1);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_MALFORMED);

    /* fragment header cut by the payload length */
    start(&p);
    frag(&p, 0, 0, 0);
    upper(&p, TCP, 4);
    set_plen(&p, 6);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_MALFORMED);

    /* AH claiming more than there is */
    start(&p);
    ah(&p, 1);
    upper(&p, TCP, 0);
    p.b[41] = 255;
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_MALFORMED);
}

static void test_padding_and_clipping(void **state)
{
    pkt p;
    st_ip6_tcp out;
    size_t off;

    (void)state;
    /* bytes after the payload length (Ethernet padding) are not TCP */
    start(&p);
    upper(&p, TCP, 2);
    memset(p.b + p.n, 0xee, 16);
    assert_int_equal(find(&p, p.n + 16, &out, &off), ST_IP6_TCP);
    assert_int_equal(out.tcp_len, 22);
    assert_int_equal(out.tcp_len_wire, 22);

    /* snap length shorter than the packet: clipped, wire length kept */
    start(&p);
    opts(&p, HBH, 0);
    upper(&p, TCP, 500);
    assert_int_equal(find(&p, 48 + 20 + 7, &out, &off), ST_IP6_TCP);
    assert_int_equal(off, 48);
    assert_int_equal(out.tcp_len, 27);
    assert_int_equal(out.tcp_len_wire, 520);
}

static void test_jumbo(void **state)
{
    pkt p;
    st_ip6_tcp out;

    (void)state;
    start(&p);
    upper(&p, TCP, 10);
    set_plen(&p, 0);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_JUMBO);

    /* the largest TCP part an IPv4 total length can hold */
    start(&p);
    upper(&p, TCP, 100);
    set_plen(&p, 65535 - 20);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_TCP);
    assert_int_equal(out.tcp_len_wire, 65515);
    assert_int_equal(out.tcp_len, 120);

    set_plen(&p, 65535 - 19);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_JUMBO);

    /* with an 8-byte extension header, plen 65523 leaves 65515 for TCP */
    start(&p);
    opts(&p, DST, 0);
    upper(&p, TCP, 100);
    set_plen(&p, 65523);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_TCP);
    assert_int_equal(out.tcp_len_wire, 65515);
    set_plen(&p, 65524);
    assert_int_equal(find(&p, p.n, &out, NULL), ST_IP6_JUMBO);
}

/* Every prefix: TRUNCATED until 20 TCP bytes are there, then TCP, clipped. */
static void check_prefixes(const pkt *p, st_ip6_result before)
{
    for (size_t k = 0; k <= p->n; k++) {
        st_ip6_tcp out;
        size_t off = 0;
        st_ip6_result r = find(p, k, &out, &off);

        if (k < p->tcp_off + 20) {
            if (r != before)
                fail_msg("prefix %zu of %zu: got %d", k, p->n, r);
        } else {
            assert_int_equal(r, ST_IP6_TCP);
            assert_int_equal(off, p->tcp_off);
            assert_int_equal(out.tcp_len, k - p->tcp_off);
            assert_int_equal(out.tcp_len_wire, p->n - p->tcp_off);
        }
    }
}

static void test_every_prefix(void **state)
{
    pkt p;

    (void)state;
    start(&p);
    upper(&p, TCP, 30);
    check_prefixes(&p, ST_IP6_TRUNCATED);

    start(&p);
    opts(&p, HBH, 1);
    opts(&p, ROUTING, 0);
    frag(&p, 0, 0, 0);
    ah(&p, 2);
    opts(&p, DST, 2);
    upper(&p, TCP, 30);
    check_prefixes(&p, ST_IP6_TRUNCATED);

    start(&p);
    for (int i = 0; i < 16; i++)
        opts(&p, DST, 0);
    upper(&p, TCP, 1);
    check_prefixes(&p, ST_IP6_TRUNCATED);

    /* NULL with zero length */
    {
        st_ip6_tcp out;
        assert_int_equal(st_ip6_find_tcp(NULL, 0, &out), ST_IP6_TRUNCATED);
    }
}

/* Random chains: no crash, and a TCP result always lies inside the capture. */
static void test_random(void **state)
{
    static const uint8_t nhs[] = {HBH, TCP, ROUTING, FRAG, AH, DST, ESP, NONE};
    uint32_t x = 777;

    (void)state;
    for (int iter = 0; iter < 200000; iter++) {
        uint8_t b[160];
        size_t caplen;
        uint8_t *c;
        st_ip6_tcp out;

        for (size_t i = 0; i < sizeof(b); i++) {
            x = x * 1664525u + 1013904223u;
            b[i] = (uint8_t)(x >> 24);
            if (x % 5 == 0)
                b[i] = nhs[(x >> 8) % 8];
            else if (x % 7 == 0)
                b[i] = (uint8_t)(x % 3);
        }
        b[0] = 0x60;
        b[4] = 0;
        b[5] = (uint8_t)(x >> 4) % 140;
        caplen = (x >> 12) % sizeof(b);
        c = copy(b, caplen);
        if (st_ip6_find_tcp(c, caplen, &out) == ST_IP6_TCP) {
            assert_true(out.tcp >= c + 40 && out.tcp + out.tcp_len <= c + caplen);
            assert_true(out.tcp_len >= 20 && out.tcp_len <= out.tcp_len_wire);
            assert_true((size_t)(out.tcp - c) + out.tcp_len_wire == 40u + b[5]);
        }
        free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_each_extension),
        cmocka_unit_test(test_fragments),
        cmocka_unit_test(test_not_tcp),
        cmocka_unit_test(test_header_count),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_padding_and_clipping),
        cmocka_unit_test(test_jumbo),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
