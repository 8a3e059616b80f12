/*
 * l2.c - link-layer decoding: from a captured frame to its IP packet.
 *
 * Supported pcap link types: Ethernet (with any stack of 802.1Q/802.1ad
 * tags, MPLS and PPPoE sessions), Linux cooked v1 and v2, BSD NULL and
 * LOOP, raw IP (DLT_RAW 12/14, LINKTYPE_RAW 101, DLT_IPV4, DLT_IPV6) and
 * PPP. The link layer's claim (ethertype, AF value, PPP protocol) must
 * agree with the IP version nibble, else the frame is ST_L2_NOT_IP.
 *
 * Failure modes: ST_L2_TRUNCATED when the frame ends inside a link-layer
 * header (or before the first IP byte); ST_L2_UNSUPPORTED for an unknown
 * link type, more than 8 VLAN tags or more than 16 MPLS labels;
 * ST_L2_NOT_IP for everything else that is not IPv4/IPv6. Every read is
 * checked against caplen; nothing is written except *out.
 */
#include "capture/l2.h"

#include <string.h>

/* Numeric values, not <pcap/dlt.h>: its DLT_RAW and DLT_LOOP differ per OS. */
enum {
    LT_NULL = 0,
    LT_EN10MB = 1,
    LT_PPP = 9,
    LT_RAW = 12,
    LT_RAW_BSD = 14, /* DLT_RAW on OpenBSD and BSD/OS */
    LT_RAW_FILE = 101,
    LT_LOOP = 108,
    LT_LINUX_SLL = 113,
    LT_IPV4 = 228,
    LT_IPV6 = 229,
    LT_LINUX_SLL2 = 276,
};

enum {
    ET_IPV4 = 0x0800,
    ET_IPV6 = 0x86dd,
    ET_VLAN = 0x8100,
    ET_QINQ = 0x88a8,
    ET_QINQ_OLD = 0x9100,
    ET_MPLS = 0x8847,
    ET_MPLS_MC = 0x8848,
    ET_PPPOE_SESS = 0x8864,
};

enum {
    PPP_IPV4 = 0x0021,
    PPP_IPV6 = 0x0057,
};

#define MAX_TAGS   8  /* VLAN tags walked before giving up */
#define MAX_LABELS 16 /* MPLS labels popped before giving up */

/* A cursor over [frame, frame + caplen): every read goes through need(). */
typedef struct {
    const uint8_t *p;
    size_t len;
    size_t off;
} cursor;

static int need(const cursor *c, size_t n)
{
    return c->len - c->off >= n;
}

static uint16_t be16(const cursor *c, size_t at)
{
    const uint8_t *q = c->p + c->off + at;
    return (uint16_t)(q[0] << 8 | q[1]);
}

/*
 * The IP header starts at c->off. version is what the link layer claimed
 * (4 or 6), or 0 when it claimed nothing and the nibble decides.
 */
static st_l2_result finish(const cursor *c, int version, st_l3 *out)
{
    int nibble;

    if (!need(c, 1))
        return ST_L2_TRUNCATED;
    nibble = c->p[c->off] >> 4;
    if (nibble != 4 && nibble != 6)
        return ST_L2_NOT_IP;
    if (version != 0 && nibble != version)
        return ST_L2_NOT_IP;
    out->ip = c->p + c->off;
    out->len = c->len - c->off;
    out->version = nibble;
    return ST_L2_OK;
}

/* Pop labels up to bottom-of-stack; MPLS carries no payload type. */
static st_l2_result mpls(cursor *c, st_l3 *out)
{
    for (int i = 0; i < MAX_LABELS; i++) {
        int bottom;

        if (!need(c, 4))
            return ST_L2_TRUNCATED;
        bottom = c->p[c->off + 2] & 0x01;
        c->off += 4;
        if (bottom)
            return finish(c, 0, out);
    }
    return ST_L2_UNSUPPORTED;
}

static st_l2_result ppp_proto(const cursor *c, unsigned proto, st_l3 *out)
{
    if (proto == PPP_IPV4)
        return finish(c, 4, out);
    if (proto == PPP_IPV6)
        return finish(c, 6, out);
    return ST_L2_NOT_IP;
}

/* RFC 2516 session stage: ver/type 0x11, code 0, session id, length. */
static st_l2_result pppoe(cursor *c, st_l3 *out)
{
    unsigned proto;

    if (!need(c, 8))
        return ST_L2_TRUNCATED;
    if (c->p[c->off] != 0x11 || c->p[c->off + 1] != 0x00)
        return ST_L2_NOT_IP;
    proto = be16(c, 6);
    c->off += 8;
    return ppp_proto(c, proto, out);
}

/*
 * Shared by Ethernet, SLL and SLL2: type is the ethertype just read and
 * c->off points past it. Walk VLAN tags, then dispatch on the inner type.
 */
static st_l2_result ethertype(cursor *c, unsigned type, st_l3 *out)
{
    for (int tags = 0; type == ET_VLAN || type == ET_QINQ || type == ET_QINQ_OLD; tags++) {
        if (tags == MAX_TAGS)
            return ST_L2_UNSUPPORTED;
        if (!need(c, 4))
            return ST_L2_TRUNCATED;
        if (out->n_vlans < ST_L2_MAX_VLANS)
            out->vlan[out->n_vlans++] = be16(c, 0) & 0x0fff;
        type = be16(c, 2);
        c->off += 4;
    }
    switch (type) {
    case ET_IPV4:
        return finish(c, 4, out);
    case ET_IPV6:
        return finish(c, 6, out);
    case ET_MPLS:
    case ET_MPLS_MC:
        return mpls(c, out);
    case ET_PPPOE_SESS:
        return pppoe(c, out);
    default:
        return ST_L2_NOT_IP;
    }
}

/* A fixed header of hlen bytes whose ethertype sits at type_at. */
static st_l2_result cooked(cursor *c, size_t hlen, size_t type_at, st_l3 *out)
{
    unsigned type;

    if (!need(c, hlen))
        return ST_L2_TRUNCATED;
    type = be16(c, type_at);
    c->off += hlen;
    return ethertype(c, type, out);
}

static int af_version(uint32_t af)
{
    if (af == 2)
        return 4;
    if (af == 24 || af == 28 || af == 30) /* NetBSD/OpenBSD, FreeBSD, Darwin */
        return 6;
    return 0;
}

/* DLT_NULL: host order of the capturing machine; DLT_LOOP: network order. */
static st_l2_result bsd_af(cursor *c, int either_order, st_l3 *out)
{
    const uint8_t *q = c->p;
    uint32_t be, le;
    int v;

    if (!need(c, 4))
        return ST_L2_TRUNCATED;
    be = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
    le = (uint32_t)q[3] << 24 | (uint32_t)q[2] << 16 | (uint32_t)q[1] << 8 | q[0];
    v = af_version(be);
    if (v == 0 && either_order)
        v = af_version(le);
    if (v == 0)
        return ST_L2_NOT_IP;
    c->off = 4;
    return finish(c, v, out);
}

/* ff 03 then a 2-byte protocol; some writers omit ff 03, some compress it. */
static st_l2_result ppp(cursor *c, st_l3 *out)
{
    unsigned proto;

    if (!need(c, 1))
        return ST_L2_TRUNCATED;
    if (c->p[0] == 0xff) {
        if (!need(c, 2))
            return ST_L2_TRUNCATED;
        if (c->p[1] != 0x03)
            return ST_L2_NOT_IP;
        c->off = 2;
    }
    if (!need(c, 1))
        return ST_L2_TRUNCATED;
    if (c->p[c->off] & 0x01) { /* protocol field compression (RFC 1661 6.5) */
        proto = c->p[c->off];
        c->off += 1;
    } else {
        if (!need(c, 2))
            return ST_L2_TRUNCATED;
        proto = be16(c, 0);
        c->off += 2;
    }
    return ppp_proto(c, proto, out);
}

int st_l2_linktype_supported(int linktype)
{
    switch (linktype) {
    case LT_NULL:
    case LT_EN10MB:
    case LT_PPP:
    case LT_RAW:
    case LT_RAW_BSD:
    case LT_RAW_FILE:
    case LT_LOOP:
    case LT_LINUX_SLL:
    case LT_IPV4:
    case LT_IPV6:
    case LT_LINUX_SLL2:
        return 1;
    default:
        return 0;
    }
}

st_l2_result st_l2_decode(int linktype, const uint8_t *frame, size_t caplen, st_l3 *out)
{
    cursor c = {frame, frame ? caplen : 0, 0};

    memset(out, 0, sizeof(*out));
    switch (linktype) {
    case LT_EN10MB:
        return cooked(&c, 14, 12, out);
    case LT_LINUX_SLL:
        return cooked(&c, 16, 14, out);
    case LT_LINUX_SLL2:
        return cooked(&c, 20, 0, out);
    case LT_NULL:
        return bsd_af(&c, 1, out);
    case LT_LOOP:
        return bsd_af(&c, 0, out);
    case LT_RAW:
    case LT_RAW_BSD:
    case LT_RAW_FILE:
        return finish(&c, 0, out);
    case LT_IPV4:
        return finish(&c, 4, out);
    case LT_IPV6:
        return finish(&c, 6, out);
    case LT_PPP:
        return ppp(&c, out);
    default:
        return ST_L2_UNSUPPORTED;
    }
}
