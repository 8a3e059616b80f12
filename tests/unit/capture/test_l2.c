/*
 * test_l2.c - link-layer decoding, frames built byte by byte.
 *
 * Every encapsulation is checked for where the IP header starts, which
 * version it is and which VLAN IDs were seen; every prefix of every frame
 * is decoded from an exact-size heap copy so that ASan catches any read
 * past the captured bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture/l2.h"

/* pcap link types, by number: the test must not trust the code's table */
enum {
    NUL = 0,
    ETH = 1,
    PPP = 9,
    RAW = 12,
    RAW14 = 14,
    RAW101 = 101,
    WIFI = 105,
    LOOP = 108,
    SLL = 113,
    IPV4 = 228,
    IPV6 = 229,
    SLL2 = 276,
};

static const uint8_t ip4[20] = {0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 64, 6,
                                0xaa, 0xbb, 192,  0,    2,    1,    192,  0,    2,  25};
static const uint8_t ip6[40] = {0x60, 0x01, 0x23, 0x45, 0x00, 0x14, 6,    64,   0x20, 0x01,
                                0x0d, 0xb8, 0,    0,    0,    0,    0,    0,    0,    0,
                                0,    0,    0,    0x16, 0x20, 0x01, 0x0d, 0xb8, 0,    0,
                                0,    0,    0,    0,    0,    0,    0,    0,    0,    0xfe};

typedef struct {
    uint8_t b[256];
    size_t n;
} frame;

static void put(frame *f, const void *p, size_t n)
{
    assert_true(f->n + n <= sizeof(f->b));
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void put8(frame *f, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(f, &b, 1);
}

static void put16(frame *f, unsigned v)
{
    put8(f, v >> 8);
    put8(f, v & 0xff);
}

static void put32(frame *f, uint32_t v)
{
    put16(f, v >> 16);
    put16(f, v & 0xffff);
}

static void macs(frame *f)
{
    static const uint8_t m[12] = {0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0x66, 0x77, 0x88, 0x99, 0xaa};
    put(f, m, sizeof(m));
}

static void tag(frame *f, unsigned tpid, unsigned pcp, unsigned vid)
{
    put16(f, tpid);
    put16(f, pcp << 13 | vid);
}

static void mpls_label(frame *f, uint32_t label, int bottom)
{
    put32(f, label << 12 | 0x5u << 9 | (bottom ? 0x100u : 0) | 64);
}

static void iphdr(frame *f, int version)
{
    if (version == 4)
        put(f, ip4, sizeof(ip4));
    else
        put(f, ip6, sizeof(ip6));
}

/* A frame expected to decode, and what it must decode to. */
typedef struct {
    const char *name;
    int dlt;
    frame f;
    size_t ip_off;
    int version;
    int n_vlans;
    uint16_t vlan[ST_L2_MAX_VLANS];
} good;

#define MAX_GOOD 40
static good goods[MAX_GOOD];
static int n_goods;

static frame *add(const char *name, int dlt, int version)
{
    good *g;

    assert_true(n_goods < MAX_GOOD);
    g = &goods[n_goods++];
    memset(g, 0, sizeof(*g));
    g->name = name;
    g->dlt = dlt;
    g->version = version;
    return &g->f;
}

/* Marks the current end of the last frame as the IP offset and appends the IP header. */
static void ip_here(frame *f, int version)
{
    goods[n_goods - 1].ip_off = f->n;
    iphdr(f, version);
}

static void vlans(int n, ...)
{
    va_list ap;
    good *g = &goods[n_goods - 1];

    va_start(ap, n);
    g->n_vlans = n;
    for (int i = 0; i < n; i++)
        g->vlan[i] = (uint16_t)va_arg(ap, int);
    va_end(ap);
}

static int build_goods(void **state)
{
    frame *f;

    (void)state;
    n_goods = 0;
    for (int v = 4; v <= 6; v += 2) {
        f = add(v == 4 ? "eth v4" : "eth v6", ETH, v);
        macs(f);
        put16(f, v == 4 ? 0x0800 : 0x86dd);
        ip_here(f, v);

        f = add(v == 4 ? "vlan v4" : "vlan v6", ETH, v);
        macs(f);
        tag(f, 0x8100, 5, 100);
        put16(f, v == 4 ? 0x0800 : 0x86dd);
        ip_here(f, v);
        vlans(1, 100);

        f = add(v == 4 ? "mpls2 v4" : "mpls2 v6", ETH, v);
        macs(f);
        put16(f, 0x8847);
        mpls_label(f, 1000, 0);
        mpls_label(f, 0xfffff, 1);
        ip_here(f, v);

        f = add(v == 4 ? "pppoe v4" : "pppoe v6", ETH, v);
        macs(f);
        put16(f, 0x8864);
        put8(f, 0x11);
        put8(f, 0x00);
        put16(f, 0x1234);
        put16(f, 2 + (v == 4 ? 20 : 40));
        put16(f, v == 4 ? 0x0021 : 0x0057);
        ip_here(f, v);

        f = add(v == 4 ? "sll v4" : "sll v6", SLL, v);
        put16(f, 0); /* packet type: to us */
        put16(f, 1); /* ARPHRD_ETHER */
        put16(f, 6); /* address length */
        macs(f);     /* 8 address bytes + 4 extra, trimmed below */
        f->n -= 4;
        put16(f, v == 4 ? 0x0800 : 0x86dd);
        ip_here(f, v);

        f = add(v == 4 ? "sll2 v4" : "sll2 v6", SLL2, v);
        put16(f, v == 4 ? 0x0800 : 0x86dd);
        put16(f, 0); /* reserved */
        put32(f, 3); /* interface index */
        put16(f, 1); /* ARPHRD_ETHER */
        put8(f, 4);  /* outgoing */
        put8(f, 6);  /* address length */
        macs(f);
        f->n -= 4;
        ip_here(f, v);

        f = add(v == 4 ? "raw v4" : "raw v6", RAW, v);
        ip_here(f, v);
        f = add(v == 4 ? "raw14 v4" : "raw14 v6", RAW14, v);
        ip_here(f, v);
        f = add(v == 4 ? "raw101 v4" : "raw101 v6", RAW101, v);
        ip_here(f, v);
        f = add(v == 4 ? "ipv4 dlt" : "ipv6 dlt", v == 4 ? IPV4 : IPV6, v);
        ip_here(f, v);

        f = add(v == 4 ? "ppp v4" : "ppp v6", PPP, v);
        put8(f, 0xff);
        put8(f, 0x03);
        put16(f, v == 4 ? 0x0021 : 0x0057);
        ip_here(f, v);
    }

    f = add("qinq 88a8+8100", ETH, 4);
    macs(f);
    tag(f, 0x88a8, 0, 10);
    tag(f, 0x8100, 7, 4095);
    put16(f, 0x0800);
    ip_here(f, 4);
    vlans(2, 10, 4095);

    f = add("9100 v6", ETH, 6);
    macs(f);
    tag(f, 0x9100, 1, 0xabc);
    put16(f, 0x86dd);
    ip_here(f, 6);
    vlans(1, 0xabc);

    f = add("stacked 8100+8100", ETH, 4);
    macs(f);
    tag(f, 0x8100, 0, 1);
    tag(f, 0x8100, 0, 2);
    put16(f, 0x0800);
    ip_here(f, 4);
    vlans(2, 1, 2);

    f = add("8 tags, 4 recorded", ETH, 6);
    macs(f);
    for (int i = 0; i < 8; i++)
        tag(f, i % 2 ? 0x8100 : 0x88a8, 0, 101 + i);
    put16(f, 0x86dd);
    ip_here(f, 6);
    vlans(4, 101, 102, 103, 104);

    f = add("vlan + mpls multicast", ETH, 6);
    macs(f);
    tag(f, 0x8100, 0, 7);
    put16(f, 0x8848);
    mpls_label(f, 16, 1);
    ip_here(f, 6);
    vlans(1, 7);

    f = add("vlan + pppoe", ETH, 4);
    macs(f);
    tag(f, 0x8100, 0, 300);
    put16(f, 0x8864);
    put(f, "\x11\x00\x00\x01\x00\x16\x00\x21", 8);
    ip_here(f, 4);
    vlans(1, 300);

    f = add("sll vlan", SLL, 4);
    put(f, "\x00\x00\x00\x01\x00\x06\x00\x11\x22\x33\x44\x55\x00\x00", 14);
    put16(f, 0x8100);
    put16(f, 42); /* TCI, then the inner type */
    put16(f, 0x0800);
    ip_here(f, 4);
    vlans(1, 42);

    f = add("sll2 vlan v6", SLL2, 6);
    put16(f, 0x8100);
    put(f, "\x00\x00\x00\x00\x00\x01\x00\x01\x00\x06\x00\x11\x22\x33\x44\x55\x00\x00", 18);
    put16(f, 0x2000 | 77);
    put16(f, 0x86dd);
    ip_here(f, 6);
    vlans(1, 77);

    f = add("null le AF_INET", NUL, 4);
    put32(f, 0x02000000);
    ip_here(f, 4);
    f = add("null be AF_INET", NUL, 4);
    put32(f, 2);
    ip_here(f, 4);
    f = add("null le AF_INET6 bsd 24", NUL, 6);
    put32(f, 0x18000000);
    ip_here(f, 6);
    f = add("null be AF_INET6 freebsd 28", NUL, 6);
    put32(f, 28);
    ip_here(f, 6);
    f = add("null le AF_INET6 darwin 30", NUL, 6);
    put32(f, 0x1e000000);
    ip_here(f, 6);
    f = add("loop AF_INET", LOOP, 4);
    put32(f, 2);
    ip_here(f, 4);
    f = add("loop AF_INET6", LOOP, 6);
    put32(f, 24);
    ip_here(f, 6);

    f = add("ppp protocol only", PPP, 6);
    put16(f, 0x0057);
    ip_here(f, 6);
    f = add("ppp compressed protocol", PPP, 4);
    put(f, "\xff\x03\x21", 3);
    ip_here(f, 4);
    return 0;
}

static uint8_t *copy(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);

    assert_non_null(c);
    memcpy(c, p, n);
    return c;
}

static void test_every_encapsulation(void **state)
{
    (void)state;
    assert_true(n_goods >= 36);
    for (int i = 0; i < n_goods; i++) {
        const good *g = &goods[i];
        uint8_t *b = copy(g->f.b, g->f.n);
        size_t hlen = g->version == 4 ? sizeof(ip4) : sizeof(ip6);
        st_l3 out;

        if (st_l2_decode(g->dlt, b, g->f.n, &out) != ST_L2_OK)
            fail_msg("%s: not decoded", g->name);
        assert_ptr_equal(out.ip, b + g->ip_off);
        assert_int_equal(out.len, g->f.n - g->ip_off);
        assert_int_equal(out.version, g->version);
        assert_memory_equal(out.ip, g->version == 4 ? ip4 : ip6, hlen);
        assert_int_equal(out.n_vlans, g->n_vlans);
        for (int v = 0; v < g->n_vlans; v++)
            assert_int_equal(out.vlan[v], g->vlan[v]);
        assert_true(st_l2_linktype_supported(g->dlt));
        free(b);
    }
}

/* Each prefix from an exact-size buffer: TRUNCATED up to the first IP byte, then OK. */
static void test_every_prefix(void **state)
{
    (void)state;
    for (int i = 0; i < n_goods; i++) {
        const good *g = &goods[i];

        for (size_t k = 0; k <= g->f.n; k++) {
            uint8_t *b = copy(g->f.b, k);
            st_l3 out;
            st_l2_result r = st_l2_decode(g->dlt, b, k, &out);

            if (k <= g->ip_off) {
                if (r != ST_L2_TRUNCATED)
                    fail_msg("%s: prefix %zu gave %d", g->name, k, r);
            } else {
                assert_int_equal(r, ST_L2_OK);
                assert_ptr_equal(out.ip, b + g->ip_off);
                assert_int_equal(out.len, k - g->ip_off);
                assert_int_equal(out.version, g->version);
            }
            free(b);
        }
    }
    {
        st_l3 out;
        assert_int_equal(st_l2_decode(ETH, NULL, 0, &out), ST_L2_TRUNCATED);
    }
}

/* Ethernet padding after a short IP packet stays in len: the IP layer trims it. */
static void test_padding_kept(void **state)
{
    frame f = {{0}, 0};
    st_l3 out;

    (void)state;
    macs(&f);
    put16(&f, 0x0800);
    iphdr(&f, 4);
    put(&f, "\0\0\0\0\0\0\0\0\0\0", 10);
    assert_int_equal(st_l2_decode(ETH, f.b, f.n, &out), ST_L2_OK);
    assert_int_equal(out.len, 30);
    assert_ptr_equal(out.ip, f.b + 14);
}

static st_l2_result decode(int dlt, const frame *f, st_l3 *out)
{
    uint8_t *b = copy(f->b, f->n);
    st_l2_result r = st_l2_decode(dlt, b, f->n, out);

    free(b);
    return r;
}

static void test_not_ip(void **state)
{
    frame f;
    st_l3 out;

    (void)state;
    /* ARP */
    f.n = 0;
    macs(&f);
    put16(&f, 0x0806);
    put(&f, "\x00\x01\x08\x00\x06\x04\x00\x01", 8);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_NOT_IP);

    /* ARP inside a VLAN: the tag is still reported */
    f.n = 0;
    macs(&f);
    tag(&f, 0x8100, 0, 55);
    put16(&f, 0x0806);
    put(&f, "\x00\x01\x08\x00", 4);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_NOT_IP);
    assert_int_equal(out.n_vlans, 1);
    assert_int_equal(out.vlan[0], 55);

    /* ethertype says IPv4, the nibble says 6 */
    f.n = 0;
    macs(&f);
    put16(&f, 0x0800);
    iphdr(&f, 6);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_NOT_IP);

    /* ethertype says IPv6, the nibble says 4 */
    f.n = 0;
    macs(&f);
    put16(&f, 0x86dd);
    iphdr(&f, 4);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_NOT_IP);

    /* 802.3 length field with LLC */
    f.n = 0;
    macs(&f);
    put16(&f, 46);
    put(&f, "\x42\x42\x03", 3);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_NOT_IP);

    /* PPPoE discovery, PPPoE LCP, PPPoE with a bad version */
    f.n = 0;
    macs(&f);
    put16(&f, 0x8863);
    put(&f, "\x11\x09\x00\x00\x00\x00", 6);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_NOT_IP);
    f.n = 0;
    macs(&f);
    put16(&f, 0x8864);
    put(&f, "\x11\x00\x00\x01\x00\x06\xc0\x21", 8);
    iphdr(&f, 4);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_NOT_IP);
    f.n = 0;
    macs(&f);
    put16(&f, 0x8864);
    put(&f, "\x21\x00\x00\x01\x00\x16\x00\x21", 8);
    iphdr(&f, 4);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_NOT_IP);

    /* MPLS Ethernet pseudowire: control word starts with nibble 0 */
    f.n = 0;
    macs(&f);
    put16(&f, 0x8847);
    mpls_label(&f, 100, 1);
    put32(&f, 0);
    macs(&f);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_NOT_IP);

    /* SLL carrying 802.2 LLC (protocol 4) */
    f.n = 0;
    put(&f, "\x00\x00\x00\x01\x00\x06\x00\x11\x22\x33\x44\x55\x00\x00\x00\x04", 16);
    put(&f, "\x42\x42\x03", 3);
    assert_int_equal(decode(SLL, &f, &out), ST_L2_NOT_IP);

    /* NULL with AF 7 (no such IP family), LOOP in host order */
    f.n = 0;
    put32(&f, 7);
    iphdr(&f, 4);
    assert_int_equal(decode(NUL, &f, &out), ST_L2_NOT_IP);
    f.n = 0;
    put32(&f, 0x02000000);
    iphdr(&f, 4);
    assert_int_equal(decode(LOOP, &f, &out), ST_L2_NOT_IP);
    /* AF says IPv6, packet is IPv4 */
    f.n = 0;
    put32(&f, 30);
    iphdr(&f, 4);
    assert_int_equal(decode(NUL, &f, &out), ST_L2_NOT_IP);

    /* raw with nibble 5, DLT_IPV4 with IPv6, DLT_IPV6 with IPv4 */
    f.n = 0;
    put8(&f, 0x55);
    assert_int_equal(decode(RAW, &f, &out), ST_L2_NOT_IP);
    f.n = 0;
    iphdr(&f, 6);
    assert_int_equal(decode(IPV4, &f, &out), ST_L2_NOT_IP);
    f.n = 0;
    iphdr(&f, 4);
    assert_int_equal(decode(IPV6, &f, &out), ST_L2_NOT_IP);

    /* PPP: LCP, bad control byte */
    f.n = 0;
    put(&f, "\xff\x03\xc0\x21\x01\x01", 6);
    assert_int_equal(decode(PPP, &f, &out), ST_L2_NOT_IP);
    f.n = 0;
    put(&f, "\xff\x05\x00\x21", 4);
    iphdr(&f, 4);
    assert_int_equal(decode(PPP, &f, &out), ST_L2_NOT_IP);
}

static void test_limits(void **state)
{
    frame f;
    st_l3 out;

    (void)state;
    /* 9 tags: one more than we walk */
    f.n = 0;
    macs(&f);
    for (int i = 0; i < 9; i++)
        tag(&f, 0x8100, 0, i + 1);
    put16(&f, 0x0800);
    iphdr(&f, 4);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_UNSUPPORTED);
    assert_int_equal(out.n_vlans, ST_L2_MAX_VLANS);

    /* 16 labels is fine, 17 without bottom-of-stack is not */
    f.n = 0;
    macs(&f);
    put16(&f, 0x8847);
    for (int i = 0; i < 16; i++)
        mpls_label(&f, (uint32_t)i, i == 15);
    iphdr(&f, 4);
    assert_int_equal(st_l2_decode(ETH, f.b, f.n, &out), ST_L2_OK);
    assert_int_equal(out.ip - f.b, 14 + 64);
    assert_int_equal(out.ip[0], 0x45);

    f.n = 0;
    macs(&f);
    put16(&f, 0x8847);
    for (int i = 0; i < 17; i++)
        mpls_label(&f, (uint32_t)i, i == 16);
    iphdr(&f, 4);
    assert_int_equal(decode(ETH, &f, &out), ST_L2_UNSUPPORTED);
}

static void test_linktypes(void **state)
{
    static const int yes[] = {NUL, ETH, PPP, RAW, RAW14, RAW101, LOOP, SLL, IPV4, IPV6, SLL2};
    static const int no[] = {-1, 6, 10, 50, 104, 105, 127, 147, 239, 65535};
    frame f = {{0}, 0};
    st_l3 out;

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_int_equal(st_l2_linktype_supported(yes[i]), 1);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        assert_int_equal(st_l2_linktype_supported(no[i]), 0);
        iphdr(&f, 4);
        assert_int_equal(decode(no[i], &f, &out), ST_L2_UNSUPPORTED);
        f.n = 0;
    }
    (void)WIFI;
}

/* Random frames: whatever comes back, OK must point inside the frame. */
static void test_random_frames(void **state)
{
    static const int dlts[] = {NUL, ETH, PPP, RAW, LOOP, SLL, IPV4, IPV6, SLL2};
    static const uint16_t types[] = {0x0800, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x8847, 0x8864};
    uint32_t x = 12345;

    (void)state;
    for (int iter = 0; iter < 200000; iter++) {
        uint8_t tmp[64];
        size_t n;
        uint8_t *b;
        st_l3 out;
        int dlt;

        for (size_t i = 0; i < sizeof(tmp); i++) {
            x = x * 1103515245u + 12345u;
            tmp[i] = (uint8_t)(x >> 16);
            /* sprinkle interesting type values so deep paths are reached */
            if (i % 4 == 0 && i + 1 < sizeof(tmp) && (x >> 8) % 3 == 0) {
                uint16_t t = types[(x >> 4) % 7];
                tmp[i] = (uint8_t)(t >> 8);
                tmp[++i] = (uint8_t)t;
            }
        }
        n = (x >> 3) % sizeof(tmp);
        dlt = dlts[(x >> 11) % 9];
        b = copy(tmp, n);
        if (st_l2_decode(dlt, b, n, &out) == ST_L2_OK) {
            assert_true(out.ip >= b && out.ip < b + n);
            assert_int_equal(out.ip + out.len, b + n);
            assert_true(out.version == 4 || out.version == 6);
            assert_int_equal(out.ip[0] >> 4, out.version);
        }
        assert_true(out.n_vlans >= 0 && out.n_vlans <= ST_L2_MAX_VLANS);
        free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_encapsulation),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_padding_kept),
        cmocka_unit_test(test_not_ip),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_linktypes),
        cmocka_unit_test(test_random_frames),
    };
    return cmocka_run_group_tests(tests, build_goods, NULL);
}
