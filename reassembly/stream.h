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

typedef struct st_rs_stream {
    struct tcp_stream *tcp;
    struct tuple4 tuple;
    void *user;
    st_half_stats st[2];
    long last_sec;
    struct st_rs_stream *prev, *next; /* idle list, least recently active first */
    int one_sided;                    /* only the client's packets are in the capture */
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
} st_rs_state;

extern st_rs_state st_rs;

static inline int st_rs_seq_after(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

/* reasm.c: a stream's life */
int st_rs_deliver(st_rs_stream *rs, int from, const uint8_t *p, size_t n);
void st_rs_drop(st_rs_stream *rs);
void st_rs_release(st_rs_stream *rs);
void st_rs_finish(st_rs_stream *rs, st_close_reason why);

/* holes.c: skipping what libnids would wait for forever */
int st_rs_salvage_half(st_rs_stream *rs, int from);
int st_rs_salvage(st_rs_stream *rs);
void st_rs_drop_queue(struct half_stream *rcv);
void st_rs_check_holes(st_rs_stream *rs);
int st_rs_skip_holes(st_rs_stream *rs);

/* idle.c: the idle list, buffer trimming, the idle timeout */
void st_rs_idle_unlink(st_rs_stream *rs);
void st_rs_idle_append(st_rs_stream *rs);
void st_rs_idle_touch(st_rs_stream *rs);
void st_rs_sweep_if_due(void);

#endif
