/*
 * fuzz_l2.c - link-layer and IPv6 decoding on hostile frames.
 *
 * Input: byte 0 picks the link type (every supported one, plus one that is
 * not), the rest is the captured frame. Properties: the decoder reads only
 * inside the frame (ASan: libFuzzer's copy is exactly the input size), a
 * decoded IP header lies inside the frame with the length to its end, and
 * for IPv6 st_ip6_find_tcp returns pointers inside the packet. The frame is
 * also given to st_ip6_find_tcp as is.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/ip6.h"
#include "capture/l2.h"
#include "fuzz/fuzz_common.h"

static const int linktypes[] = {0,   1,   9,   12,  14,  101,
                                108, 113, 228, 229, 276, 105 /* unsupported */};
#define N_LT (sizeof linktypes / sizeof linktypes[0])

static void check_ip6(const uint8_t *pkt, size_t len)
{
    st_ip6_tcp t;
    memset(&t, 0, sizeof t);
    st_ip6_result r = st_ip6_find_tcp(pkt, len, &t);
    FZ_CHECK(r >= ST_IP6_TCP && r <= ST_IP6_TRUNCATED, "result %d", (int)r);
    if (r != ST_IP6_TCP)
        return;
    const uint8_t *end = pkt + len;
    FZ_CHECK(t.src >= pkt && t.src + 16 <= end, "src outside");
    FZ_CHECK(t.dst >= pkt && t.dst + 16 <= end, "dst outside");
    FZ_CHECK(t.tcp >= pkt && t.tcp <= end, "tcp outside");
    FZ_CHECK(t.tcp_len <= (size_t)(end - t.tcp), "tcp_len %zu past capture", t.tcp_len);
    FZ_CHECK(t.tcp_len <= t.tcp_len_wire, "clipped %zu > wire %zu", t.tcp_len, t.tcp_len_wire);
    FZ_CHECK(t.tcp_len >= 20, "tcp_len %zu shorter than a TCP header", t.tcp_len);
    /* Touch every byte it claims, so ASan sees a lie. */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < t.tcp_len; i++)
        sink ^= t.tcp[i];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int lt = linktypes[data[0] % N_LT];
    const uint8_t *frame = data + 1;
    size_t caplen = size - 1;
    /* A private exact-size copy: a read past caplen is a heap overflow. */
    uint8_t *f = malloc(caplen ? caplen : 1);
    if (!f)
        return 0;
    memcpy(f, frame, caplen);

    st_l3 l3;
    memset(&l3, 0, sizeof l3);
    int supported = st_l2_linktype_supported(lt);
    st_l2_result r = st_l2_decode(lt, f, caplen, &l3);
    FZ_CHECK(r >= ST_L2_OK && r <= ST_L2_UNSUPPORTED, "result %d", (int)r);
    if (!supported)
        FZ_CHECK(r == ST_L2_UNSUPPORTED, "unsupported link type %d gave %d", lt, (int)r);
    if (r == ST_L2_OK) {
        FZ_CHECK(l3.ip >= f && l3.ip <= f + caplen, "ip outside frame");
        FZ_CHECK(l3.len == (size_t)(f + caplen - l3.ip), "len %zu != rest %zu", l3.len,
                 (size_t)(f + caplen - l3.ip));
        FZ_CHECK(l3.version == 4 || l3.version == 6, "version %d", l3.version);
        FZ_CHECK(l3.n_vlans >= 0, "n_vlans %d", l3.n_vlans);
        if (l3.version == 6)
            check_ip6(l3.ip, l3.len);
    }
    check_ip6(f, caplen);
    free(f);
    return 0;
}
