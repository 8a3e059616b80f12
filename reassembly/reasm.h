/*
 * reasm.h - TCP stream reassembly: packets in, ordered byte streams out.
 *
 * A thin, careful layer over libnids 1.26. We decode link layers ourselves
 * (capture/l2) and feed libnids only IPv4 through a DLT_RAW dead handle;
 * IPv6 flows are mapped onto 240.0.0.0/16 and mapped back (v6map), so both
 * families reach the consumer alike. Checksums are not verified (offload),
 * scan detection is off and libnids' warnings become counters.
 *
 * What libnids does not do, we add: sessions idle in packet time are
 * closed; a client SYN reusing a live 4-tuple closes the old session with a
 * callback instead of dropping it silently; a capture with only the
 * client's side is followed; a connection whose handshake was never seen
 * is picked up mid-stream (client and server told apart by what they
 * say); a full table gives up half-open and silent streams before those
 * that carry a dialogue; a hole in a stream (lost segment) is skipped
 * once the receiver has acknowledged past it, the out-of-order queue grows
 * large, the stream goes idle or ends, and the consumer is told how many
 * bytes are missing; end of input flushes everything.
 *
 * Entry points: st_reasm_config_default, st_reasm_init, st_reasm_packet,
 * st_reasm_tick, st_reasm_flush, st_reasm_shutdown, st_reasm_get_counters,
 * st_reasm_opening_midstream; the consumer's st_reasm_ops callbacks.
 *
 * Limits: libnids keeps its state in globals, so there is one reassembler
 * per process (scale with processes); max_streams at once: beyond, the
 * oldest half-open stream goes first, then the oldest without payload,
 * then the least recently active; at most ooo_limit bytes queued behind a
 * hole; a bounded table of connections not (yet) followed mid-stream.
 *
 * How it fails: st_reasm_init gives -1 and a message. Nothing fails after
 * that: bad packets are counted and dropped, and a stream without memory
 * is closed at once (ST_CLOSE_EVICTED).
 *
 * Not handled: IPv6 fragments (counted, not reassembled), UDP and
 * everything that is not TCP (counted).
 */
#ifndef ST_REASSEMBLY_REASM_H
#define ST_REASSEMBLY_REASM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "capture/source.h"

typedef struct st_endpoint {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
    uint16_t port;    /* host byte order */
} st_endpoint;

typedef enum {
    ST_CLOSE_FIN = 0, /* both sides closed with FIN */
    ST_CLOSE_RST,     /* reset */
    ST_CLOSE_TIMEOUT, /* idle in packet time, or FIN behind a hole that never filled */
    ST_CLOSE_EOF,     /* end of input (or shutdown on a signal) */
    ST_CLOSE_EVICTED, /* pushed out: table full, or its 4-tuple reused by a new SYN */
} st_close_reason;

typedef struct st_half_stats {
    uint64_t bytes;     /* payload bytes delivered */
    uint64_t packets;   /* packets seen after the handshake began (SYN counted) */
    uint64_t missing;   /* payload bytes skipped in holes */
    uint64_t conflicts; /* retransmissions whose bytes differed from the first copy's */
} st_half_stats;

/* Directions, as seen by the consumer. */
enum { ST_FROM_CLIENT = 0, ST_FROM_SERVER = 1 };

typedef struct st_reasm_ops {
    /* A connection completed its handshake. Return the consumer's stream
     * state, or NULL to ignore the connection. */
    void *(*open)(void *app, const st_endpoint *client, const st_endpoint *server,
                  const struct timeval *ts);
    /* In-order payload. Return 0 when the stream is of no more interest
     * (it is then dropped without a close callback: the consumer must
     * have released its state). */
    int (*data)(void *app, void *stream, int from, const uint8_t *data, size_t len,
                const struct timeval *ts);
    /* len payload bytes of direction `from` will never be seen. */
    void (*gap)(void *app, void *stream, int from, uint64_t len);
    /* The stream has been silent a while (2 s of packet time): a good
     * moment to give back buffers. May be NULL. */
    void (*idle)(void *app, void *stream);
    /* The stream is over; the consumer releases its state. */
    void (*close)(void *app, void *stream, st_close_reason why, const st_half_stats stats[2],
                  const struct timeval *ts);
} st_reasm_ops;

typedef struct st_reasm_config {
    int max_streams;  /* concurrent TCP streams (libnids table); default 32768 */
    int idle_timeout; /* seconds of packet time without a packet; default 300 */
    int ooo_limit;    /* bytes queued behind a hole before it is skipped; default 32768 */
    int hole_grace;   /* ms of packet time an ACKed hole waits for a late copy; default 1000 */
    int midstream;    /* follow connections whose handshake was not seen; default 1 */
    int close_delay;  /* seconds a FIN/RST-closed stream waits for its last packets; 5 */
} st_reasm_config;

typedef struct st_reasm_counters {
    uint64_t packets;           /* frames given to st_reasm_packet */
    uint64_t bytes;             /* their captured bytes */
    uint64_t not_ip;            /* link layer said not IP */
    uint64_t l2_errors;         /* truncated or unsupported link-layer frames */
    uint64_t ip_errors;         /* bad IPv4/IPv6 headers */
    uint64_t not_tcp;           /* IP but not TCP */
    uint64_t ipv6_tcp;          /* IPv6 TCP packets mapped for libnids */
    uint64_t ipv6_fragments;    /* IPv6 fragments (not reassembled) */
    uint64_t ipv6_map_full;     /* IPv6 packets dropped: address map full */
    uint64_t reserved_v4;       /* real IPv4 packets in 240.0/16, dropped (our v6 map) */
    uint64_t streams;           /* streams handed to open() */
    uint64_t holes;             /* holes skipped */
    uint64_t hole_bytes;        /* bytes in them */
    uint64_t held_bytes;        /* bytes held until what they acknowledge arrived (reorder.c) */
    uint64_t overlap_conflicts; /* retransmissions that differed from the first copy (overlap.c) */
    uint64_t idle_closed;       /* streams closed by the idle sweep */
    uint64_t reused;            /* streams closed because their 4-tuple was reused */
    uint64_t evicted;           /* streams evicted because the table was full */
    uint64_t one_sided;         /* handshakes completed for captures without the server side */
    uint64_t trimmed;           /* idle streams whose buffers were given back */
    uint64_t midstream;         /* streams picked up without their handshake (midstream.c) */
    uint64_t unfollowed;        /* payload packets of connections no stream followed */
    uint64_t unfollowed_bytes;  /* their payload bytes */
    uint64_t evicted_half_open; /* handshakes dropped to make room (evict.c) */
    uint64_t nids_warnings[10]; /* libnids warnings by NIDS_WARN_* subtype */
} st_reasm_counters;

void st_reasm_config_default(st_reasm_config *cfg);

/* 0 on success; -1 with a message in err. Call once per process. */
int st_reasm_init(const st_reasm_config *cfg, const st_reasm_ops *ops, void *app, char *err,
                  size_t errlen);

/* One captured frame of the given link type. */
void st_reasm_packet(const st_packet *pkt, int linktype);

/* Time passes without packets (a quiet live link): run the idle sweep as
 * if a packet had arrived at now. */
void st_reasm_tick(const struct timeval *now);

/* Close every open stream with ST_CLOSE_EOF (end of input, shutdown). */
void st_reasm_flush(void);

/* Write now the streams that FIN or RST closed, still waiting for their
 * last packets (linger.c): the end of a packet input, before records of
 * another kind, so that records come in the order their inputs did. */
void st_reasm_write_closed(void);

/* Release libnids; after st_reasm_flush. */
void st_reasm_shutdown(void);

const st_reasm_counters *st_reasm_get_counters(void);

/* During ops.open: 1 when the stream being opened was picked up without
 * its handshake (midstream.c). Its first bytes may be anywhere in the
 * dialogue, and client and server were told apart by what they said. */
int st_reasm_opening_midstream(void);

#endif
