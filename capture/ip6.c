/*
 * ip6.c - find the TCP segment inside an IPv6 packet.
 *
 * Walks hop-by-hop, routing, destination options, AH and atomic fragment
 * headers (RFC 8200, RFC 6946) up to 16 of them. Two bounds apply to every
 * step: the payload length (what the sender claims: crossing it is
 * ST_IP6_MALFORMED) and the captured length (what we have: crossing it is
 * ST_IP6_TRUNCATED). Hop-by-hop anywhere but first is MALFORMED, as the
 * receiving host would drop it. Real fragments, ESP, no-next-header and
 * other protocols are reported, never decoded. A packet whose TCP part
 * cannot be carried in an IPv4 total length (payload length 0 or a TCP
 * part above 65515 bytes) is ST_IP6_JUMBO.
 */
#include "capture/ip6.h"

#include <string.h>

#define IP6_HLEN    40
#define TCP_MIN     20
#define MAX_EXT     16
#define IP4_MAX_TCP (65535 - 20) /* largest TCP part an IPv4 header can describe */

enum {
    NH_HOPOPTS = 0,
    NH_TCP = 6,
    NH_ROUTING = 43,
    NH_FRAGMENT = 44,
    NH_ESP = 50,
    NH_AH = 51,
    NH_DSTOPTS = 60,
};

/*
 * Checks that n bytes at off exist on the wire (else MALFORMED) and in the
 * capture (else TRUNCATED); 0 when both hold.
 */
static int avail(size_t off, size_t n, size_t wire_end, size_t caplen, st_ip6_result *r)
{
    if (off > wire_end || wire_end - off < n) {
        *r = ST_IP6_MALFORMED;
        return -1;
    }
    if (off > caplen || caplen - off < n) {
        *r = ST_IP6_TRUNCATED;
        return -1;
    }
    return 0;
}

/* Length of the extension header at off; 0 for a fragment we cannot use. */
static st_ip6_result ext_len(const uint8_t *pkt, int nh, size_t off, size_t wire_end, size_t caplen,
                             size_t *len)
{
    st_ip6_result r;

    if (nh == NH_FRAGMENT) {
        if (avail(off, 8, wire_end, caplen, &r) < 0)
            return r;
        /* 13-bit offset, 2 reserved bits, M flag: all zero for an atomic fragment */
        if ((pkt[off + 2] << 8 | pkt[off + 3]) & 0xfff9)
            return ST_IP6_FRAGMENT;
        *len = 8;
        return ST_IP6_TCP;
    }
    if (avail(off, 2, wire_end, caplen, &r) < 0)
        return r;
    if (nh == NH_AH)
        *len = ((size_t)pkt[off + 1] + 2) * 4;
    else
        *len = ((size_t)pkt[off + 1] + 1) * 8;
    if (*len > wire_end - off)
        return ST_IP6_MALFORMED;
    return ST_IP6_TCP;
}

static st_ip6_result tcp(const uint8_t *pkt, size_t off, size_t wire_end, size_t caplen,
                         st_ip6_tcp *out)
{
    st_ip6_result r;

    if (avail(off, TCP_MIN, wire_end, caplen, &r) < 0)
        return r;
    if (wire_end - off > IP4_MAX_TCP)
        return ST_IP6_JUMBO;
    out->src = pkt + 8;
    out->dst = pkt + 24;
    out->hop_limit = pkt[7];
    out->tcp = pkt + off;
    out->tcp_len_wire = wire_end - off;
    out->tcp_len = caplen < wire_end ? caplen - off : out->tcp_len_wire;
    return ST_IP6_TCP;
}

st_ip6_result st_ip6_find_tcp(const uint8_t *pkt, size_t caplen, st_ip6_tcp *out)
{
    size_t off = IP6_HLEN, wire_end;
    int nh;

    memset(out, 0, sizeof(*out));
    if (pkt == NULL || caplen < IP6_HLEN)
        return ST_IP6_TRUNCATED;
    if (pkt[0] >> 4 != 6)
        return ST_IP6_MALFORMED;
    wire_end = IP6_HLEN + (size_t)(pkt[4] << 8 | pkt[5]);
    if (wire_end == IP6_HLEN)
        return ST_IP6_JUMBO;
    nh = pkt[6];
    for (int n = 0;; n++) {
        size_t len = 0;
        st_ip6_result r;

        switch (nh) {
        case NH_TCP:
            return tcp(pkt, off, wire_end, caplen, out);
        case NH_HOPOPTS:
            if (n != 0)
                return ST_IP6_MALFORMED;
            break;
        case NH_ROUTING:
        case NH_DSTOPTS:
        case NH_AH:
        case NH_FRAGMENT:
            break;
        default: /* ESP, no next header, UDP, ICMPv6, ... */
            return ST_IP6_NOT_TCP;
        }
        if (n == MAX_EXT)
            return ST_IP6_MALFORMED;
        r = ext_len(pkt, nh, off, wire_end, caplen, &len);
        if (r != ST_IP6_TCP)
            return r;
        nh = pkt[off];
        off += len;
    }
}
