/*
 * fuzz_frame.h - frames and capture files for the fuzz targets (header
 * only; no test code is included).
 *
 * fz_frame_tcp builds one Ethernet + IPv4 (no options, DF) or IPv6 + TCP
 * (no options) frame; fz_frame_noise a small UDP frame of another host
 * pair (the reassembler counts it as not TCP, and its timestamp runs the
 * idle sweep). Checksums are zero: the reassembler tells libnids not to
 * check them. fz_cap_* write a capture into memory, as classic pcap
 * (microseconds, little-endian) or pcapng (SHB, one IDB, EPBs), for the
 * targets that hand the library a file.
 */
#ifndef ST_FUZZ_FRAME_H
#define ST_FUZZ_FRAME_H

#include <stdint.h>
#include <string.h>
#include <sys/time.h>

#include "fuzz/fuzz_common.h"

#define FZ_ETH_HDR 14

typedef struct fz_host {
    int v6;
    uint8_t ip[2][16]; /* [0] client, [1] server; IPv4 in the first 4 bytes */
    uint16_t port[2];  /* host order */
} fz_host;

static inline void fz_be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void fz_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Frame length for a payload of len bytes. */
static inline size_t fz_frame_len(int v6, size_t len)
{
    return FZ_ETH_HDR + (v6 ? 40u : 20u) + 20u + len;
}

/* One TCP frame from side `from` (0 client, 1 server) into f, which holds
 * fz_frame_len(h->v6, len) bytes. Returns that length. */
static inline size_t fz_frame_tcp(uint8_t *f, const fz_host *h, int from, uint32_t seq,
                                  uint32_t ack, uint8_t flags, const uint8_t *payload, size_t len)
{
    static uint16_t ipid;
    size_t iphl = h->v6 ? 40 : 20, tcplen = 20 + len, n = fz_frame_len(h->v6, len);
    memset(f, 0, FZ_ETH_HDR + iphl + 20);
    memcpy(f,
           from ? "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
                : "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01",
           12);
    uint8_t *ip = f + FZ_ETH_HDR, *th = ip + iphl;
    if (h->v6) {
        fz_be16(f + 12, 0x86dd);
        ip[0] = 0x60;
        fz_be16(ip + 4, (uint32_t)tcplen);
        ip[6] = 6;
        ip[7] = 64;
        memcpy(ip + 8, h->ip[from], 16);
        memcpy(ip + 24, h->ip[!from], 16);
    } else {
        fz_be16(f + 12, 0x0800);
        ip[0] = 0x45;
        fz_be16(ip + 2, (uint32_t)(iphl + tcplen));
        fz_be16(ip + 4, ++ipid);
        ip[6] = 0x40; /* DF */
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, h->ip[from], 4);
        memcpy(ip + 16, h->ip[!from], 4);
    }
    fz_be16(th, h->port[from]);
    fz_be16(th + 2, h->port[!from]);
    fz_be32(th + 4, seq);
    fz_be32(th + 8, ack);
    th[12] = 5 << 4;
    th[13] = flags;
    fz_be16(th + 14, 65535); /* no window scaling */
    if (len)
        memcpy(th + 20, payload, len);
    return n;
}

#define FZ_NOISE_LEN (FZ_ETH_HDR + 20 + 8 + 4)

/* A DNS-looking UDP frame between two other hosts, into f (FZ_NOISE_LEN bytes). */
static inline size_t fz_frame_noise(uint8_t *f)
{
    memset(f, 0, FZ_NOISE_LEN);
    memcpy(f, "\x02\x00\x00\x00\x00\x09\x02\x00\x00\x00\x00\x08\x08\x00", 14);
    uint8_t *ip = f + FZ_ETH_HDR;
    ip[0] = 0x45;
    fz_be16(ip + 2, 20 + 8 + 4);
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, "\x0a\x09\x09\x08", 4);
    memcpy(ip + 16, "\x0a\x09\x09\x09", 4);
    fz_be16(ip + 20, 5353);
    fz_be16(ip + 22, 53);
    fz_be16(ip + 24, 8 + 4);
    memcpy(ip + 28, "ping", 4);
    return FZ_NOISE_LEN;
}

/* ---- capture files in memory ------------------------------------------- */

static inline void fz_le16(fz_buf *b, uint32_t v)
{
    uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    fz_put(b, p, 2);
}

static inline void fz_le32(fz_buf *b, uint32_t v)
{
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    fz_put(b, p, 4);
}

typedef struct fz_cap {
    fz_buf b;
    int ng; /* pcapng instead of pcap */
} fz_cap;

/* A pcapng section: its header block and one interface (microseconds). */
static inline void fz_cap_section(fz_cap *c, uint32_t linktype)
{
    /* Section header block: no options, section length unknown. */
    fz_le32(&c->b, 0x0a0d0d0a);
    fz_le32(&c->b, 28);
    fz_le32(&c->b, 0x1a2b3c4d);
    fz_le16(&c->b, 1);
    fz_le16(&c->b, 0);
    fz_le32(&c->b, 0xffffffff);
    fz_le32(&c->b, 0xffffffff);
    fz_le32(&c->b, 28);
    /* Interface description block: microsecond timestamps (the default). */
    fz_le32(&c->b, 1);
    fz_le32(&c->b, 20);
    fz_le16(&c->b, (uint16_t)linktype);
    fz_le16(&c->b, 0);
    fz_le32(&c->b, 262144);
    fz_le32(&c->b, 20);
}

static inline void fz_cap_begin(fz_cap *c, int ng, uint32_t linktype)
{
    c->ng = ng;
    c->b.n = 0;
    if (ng) {
        fz_cap_section(c, linktype);
        return;
    }
    fz_le32(&c->b, 0xa1b2c3d4);
    fz_le16(&c->b, 2);
    fz_le16(&c->b, 4);
    fz_le32(&c->b, 0);
    fz_le32(&c->b, 0);
    fz_le32(&c->b, 262144);
    fz_le32(&c->b, linktype);
}

static inline void fz_cap_packet(fz_cap *c, const struct timeval *ts, const uint8_t *f, size_t n)
{
    static const uint8_t zero[4];
    if (!c->ng) {
        fz_le32(&c->b, (uint32_t)ts->tv_sec);
        fz_le32(&c->b, (uint32_t)ts->tv_usec);
        fz_le32(&c->b, (uint32_t)n);
        fz_le32(&c->b, (uint32_t)n);
        fz_put(&c->b, f, n);
        return;
    }
    size_t pad = (4 - n % 4) % 4, total = 32 + n + pad;
    uint64_t us = (uint64_t)ts->tv_sec * 1000000u + (uint64_t)ts->tv_usec;
    fz_le32(&c->b, 6); /* enhanced packet block */
    fz_le32(&c->b, (uint32_t)total);
    fz_le32(&c->b, 0);
    fz_le32(&c->b, (uint32_t)(us >> 32));
    fz_le32(&c->b, (uint32_t)us);
    fz_le32(&c->b, (uint32_t)n);
    fz_le32(&c->b, (uint32_t)n);
    fz_put(&c->b, f, n);
    fz_put(&c->b, zero, pad);
    fz_le32(&c->b, (uint32_t)total);
}

#endif
