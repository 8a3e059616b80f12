/*
 * l2.h - link-layer decoding: from a captured frame to its IP packet.
 *
 * We never let libnids look at link layers: it knows only a handful and
 * drops QinQ, MPLS, PPPoE, SLL2 and IPv6 (see docs/design.md). This module
 * walks every encapsulation we support and returns where the IPv4 or IPv6
 * header starts. It reads only inside [frame, frame + caplen) and never
 * writes; a frame that is too short or not IP is reported, never guessed.
 */
#ifndef ST_CAPTURE_L2_H
#define ST_CAPTURE_L2_H

#include <stddef.h>
#include <stdint.h>

#define ST_L2_MAX_VLANS 4 /* tags recorded; deeper stacks are still walked (up to 8) */

typedef enum {
    ST_L2_OK = 0,      /* out->ip points at an IPv4 or IPv6 header */
    ST_L2_NOT_IP,      /* ARP, LLDP, IPX, ...: not for us */
    ST_L2_TRUNCATED,   /* frame ended inside a link-layer header */
    ST_L2_UNSUPPORTED, /* link type or encapsulation we do not decode */
} st_l2_result;

typedef struct st_l3 {
    const uint8_t *ip; /* first byte of the IP header */
    size_t len;        /* bytes from ip to the end of the captured frame */
    int version;       /* 4 or 6 */
    int n_vlans;       /* 802.1Q/802.1ad tags seen, outermost first */
    uint16_t vlan[ST_L2_MAX_VLANS];
} st_l3;

/* 1 when st_l2_decode() understands this pcap DLT / LINKTYPE value. */
int st_l2_linktype_supported(int linktype);

/* Decode one frame of the given pcap link type (pcap_datalink() value). */
st_l2_result st_l2_decode(int linktype, const uint8_t *frame, size_t caplen, st_l3 *out);

#endif
