/*
 * ip6.h - find the TCP segment inside an IPv6 packet.
 *
 * Walks the extension header chain (hop-by-hop, routing, destination
 * options, AH, atomic fragment headers) with every step bounded by the
 * payload length and by the captured length. Anything that is not plain
 * TCP (ESP, real fragments, jumbograms) is reported, not decoded.
 */
#ifndef ST_CAPTURE_IP6_H
#define ST_CAPTURE_IP6_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ST_IP6_TCP = 0,   /* out is filled */
    ST_IP6_NOT_TCP,   /* upper protocol is not TCP (or ESP / no next header) */
    ST_IP6_FRAGMENT,  /* a non-atomic fragment: cannot be reassembled here */
    ST_IP6_JUMBO,     /* payload length 0 (jumbogram) or too large to map */
    ST_IP6_MALFORMED, /* header chain runs past the packet or loops too long */
    ST_IP6_TRUNCATED, /* captured bytes end before the TCP header */
} st_ip6_result;

typedef struct st_ip6_tcp {
    const uint8_t *src; /* 16 bytes, inside the packet */
    const uint8_t *dst; /* 16 bytes, inside the packet */
    uint8_t hop_limit;
    const uint8_t *tcp;  /* TCP header */
    size_t tcp_len;      /* TCP header + payload, per the IPv6 payload length,
                            clipped to what was captured */
    size_t tcp_len_wire; /* the same, unclipped (what the header claims) */
} st_ip6_tcp;

st_ip6_result st_ip6_find_tcp(const uint8_t *pkt, size_t caplen, st_ip6_tcp *out);

#endif
