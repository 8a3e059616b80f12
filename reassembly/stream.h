/*
 * stream.h - what the reassembly files share (reassembly-internal).
 *
 * libnids keeps its state in globals, so this layer does too: one
 * st_rs_state per process, in reasm.c. A st_rs_stream is our side of one
 * libnids stream, from the end of its handshake to its close.
 */
#ifndef ST_REASSEMBLY_STREAM_H
#define ST_REASSEMBLY_STREAM_H

#include <nids.h>
#include <stdint.h>

#include "reassembly/reasm.h"

/* Bytes of one direction held back until the other direction is complete
 * up to what they acknowledge (reorder.c): in arrival order, each run
 * ending at mark[i].end needing the other side up to mark[i].ack. */
#define ST_RS_HELD_MARKS 32

typedef struct st_rs_held {
    uint8_t *buf;
    size_t len, cap;
    struct {
        size_t end;
        uint32_t ack;
    } mark[ST_RS_HELD_MARKS];
    int nmark;
} st_rs_held;

/* A data segment seen, for comparing a retransmission of it (overlap.c). */
#define ST_RS_SEEN 8
typedef struct st_rs_seen {
    uint32_t seq, len;
    uint64_t sum; /* overlap.c's digest of its bytes */
    uint32_t ack; /* what its packet acknowledged of the other side (0: no ACK flag) */
    int acks;
} st_rs_seen;

/* A TCP packet as this layer reads it before libnids sees it (reasm.c). */
typedef struct st_rs_key {
    struct tuple4 t; /* as libnids keys it: ports in host order, addresses as on the wire */
    uint8_t flags;   /* TCP flags */
    uint32_t seq;    /* sequence number, host order */
    uint32_t ack;    /* acknowledgement number, host order */
    uint32_t len;    /* payload bytes */
    const uint8_t *payload;
    int carries; /* payload or FIN: something libnids' window check applies to */
} st_rs_key;

typedef struct st_rs_stream {
    struct tcp_stream *tcp;
    struct tuple4 tuple;
    void *user;
    st_half_stats st[2];
    long last_sec;
    struct st_rs_stream *prev, *next; /* idle list, least recently active first */
    int one_sided;                    /* only the client's packets are in the capture */
    st_rs_held held[2];               /* by the direction the bytes come from */
    long long acked_since[2];         /* packet time (us) the other side acknowledged
                                       * bytes of this direction we lack; 0: none */
    st_rs_seen seen[2][ST_RS_SEEN];   /* the last data segments of each direction */
    unsigned seen_next[2];
    int midstream; /* picked up without its handshake (midstream.c) */
    int quiet;     /* no payload yet: on the quiet list (evict.c) */
    struct st_rs_stream *qprev, *qnext;
} st_rs_stream;

typedef struct st_rs_state {
    st_reasm_ops ops;
    void *app;
    st_reasm_config cfg;
    st_reasm_counters counters;
    struct pcap_pkthdr hdr; /* libnids keeps a pointer to it */
    int in_nids;            /* inside nids_pcap_handler: streams must not be freed */
    st_rs_stream *idle_head, *idle_tail;
    st_rs_stream *trim_from; /* every stream before it in the idle list is trimmed */
    long last_sweep;
    /* the packet libnids is processing: whose acknowledgement its data carries */
    struct tcp_stream *cur_tcp;
    int cur_from, cur_acks;
    uint32_t cur_ack;
    /* a half-stream whose ACK open_window set back for this packet, and the ACK */
    struct half_stream *lowered;
    uint32_t lowered_ack;
    /* the stream table's order of eviction (evict.c) */
    unsigned n_streams;                    /* st_rs_streams alive */
    st_rs_stream *quiet_head, *quiet_tail; /* established, no payload yet, oldest first */
    int cur_followed;           /* the packet libnids is processing had a stream with a user */
    struct tcp_stream *mid_tcp; /* the stream midstream.c is making up a handshake for */
} st_rs_state;

extern st_rs_state st_rs;

/* A 64-bit finaliser (murmur3's), for the tables keyed by 4-tuples. */
static inline uint64_t st_rs_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ x >> 33;
}

static inline int st_rs_tuple_eq(const struct tuple4 *a, const struct tuple4 *b)
{
    return a->saddr == b->saddr && a->daddr == b->daddr && a->source == b->source &&
           a->dest == b->dest;
}

static inline int st_rs_seq_after(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

/* The half-stream that receives the bytes of direction from (libnids
 * keeps a direction's bytes in the other side's half). */
static inline struct half_stream *st_rs_receiver(struct tcp_stream *a, int from)
{
    return from == ST_FROM_CLIENT ? &a->server : &a->client;
}

/* The sequence number up to which reassembly has the bytes of from. */
static inline uint32_t st_rs_have(struct tcp_stream *a, int from)
{
    const struct half_stream *snd = from == ST_FROM_CLIENT ? &a->client : &a->server;
    const struct half_stream *rcv = st_rs_receiver(a, from);
    return snd->first_data_seq + rcv->count + rcv->urg_count;
}

/* reasm.c: a stream's life */
int st_rs_deliver(st_rs_stream *rs, int from, const uint8_t *p, size_t n);
void st_rs_drop(st_rs_stream *rs);
void st_rs_release(st_rs_stream *rs);
void st_rs_finish(st_rs_stream *rs, st_close_reason why);

/* holes.c: delivering what libnids would wait for forever */
int st_rs_salvage_half(st_rs_stream *rs, int from);
int st_rs_salvage_to(st_rs_stream *rs, int from, const uint32_t *limit);
void st_rs_drop_queue(struct half_stream *rcv);
void st_rs_announce_gap(st_rs_stream *rs, int from, uint32_t n);
/* A FIN waits in the queue and the other side acknowledged it. */
int st_rs_queued_fin_acked(const struct half_stream *rcv);

/* reorder.c: holding bytes until what they answer arrived; when to skip */
int st_rs_data(st_rs_stream *rs, int from, const uint8_t *p, size_t n);
void st_rs_check_holes(st_rs_stream *rs);
int st_rs_skip_holes(st_rs_stream *rs);
int st_rs_flush_all(st_rs_stream *rs);
void st_rs_held_free(st_rs_stream *rs);

/* overlap.c: a retransmission compared with the first copy */
void st_rs_overlap_check(st_rs_stream *rs, int from, const st_rs_key *k);

/* midstream.c: connections whose handshake was never seen */
int st_rs_mid_init(const st_reasm_config *cfg);
void st_rs_mid_free(void);
/* A payload packet for a 4-tuple libnids does not know: the stream made
 * up for it (its direction in *from), or NULL when it is not followed. */
struct tcp_stream *st_rs_mid_packet(const st_rs_key *k, int *from);

/* linger.c: a stream closed by FIN or RST waits for its last packets. */
int st_rs_linger(st_rs_stream *rs, st_close_reason why); /* -1: write it now */
int st_rs_linger_packet(const st_rs_key *k);             /* 1: counted in a closed one */
void st_rs_linger_expire(void);
void st_rs_linger_flush(void);
/* reasm.c: a made-up TCP/IPv4 packet into libnids, src:sport to dst:dport
 * (addresses as on the wire, ports in host order), 44 bytes with a window
 * scale of 14 when wscale, else 40. */
void st_rs_made_up(u_int src, u_int dst, u_short sport, u_short dport, uint32_t seq, uint32_t ack,
                   uint8_t flags, int wscale);
/* reasm.c: what st_rs_release frees once the stream is out of every list */
void st_rs_release_rest(st_rs_stream *rs);
/* The connection of t is over or unwanted: later packets are not picked up. */
void st_rs_mid_block(const struct tuple4 *t);
/* on_established: mark a stream midstream.c made up. */
void st_rs_mid_opened(st_rs_stream *rs);

/* evict.c: which stream goes when the table is full */
int st_rs_evict_init(const st_reasm_config *cfg);
void st_rs_evict_free(void);
void st_rs_evict_opened(st_rs_stream *rs);
void st_rs_evict_released(st_rs_stream *rs);
void st_rs_evict_heard(st_rs_stream *rs);
/* Before a packet that makes libnids create a stream: room for it. */
/* The same for a connection picked up mid-stream: only half-open or
 * quiet streams make room (-1 when none is left): a flood of made-up
 * pickups must not evict the dialogues a SYN flood cannot. */
int st_rs_make_room_cheap(void);
void st_rs_make_room(void);
/* Around each packet libnids sees: what became of its stream's handshake. */
void st_rs_half_before(const struct tcp_stream *a);
void st_rs_half_after(const st_rs_key *k);

/* idle.c: the idle list, buffer trimming, the idle timeout */
void st_rs_idle_unlink(st_rs_stream *rs);
void st_rs_idle_append(st_rs_stream *rs);
void st_rs_idle_touch(st_rs_stream *rs);
void st_rs_sweep_if_due(void);

#endif
