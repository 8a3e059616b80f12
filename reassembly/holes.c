/*
 * holes.c - skipping lost segments, which libnids never does.
 *
 * libnids queues segments that arrive after a hole and delivers nothing
 * more until the hole fills; once the queue passes 64 KiB it frees it
 * silently. We read that queue (struct skbuff, mirrored below from
 * libnids 1.26 src/tcp.h: the only private layout we rely on, checked
 * against the version at compile time), deliver it ourselves, announce
 * each missing range as a gap, advance the half-stream's count and offset
 * past it, and free the queue.
 *
 * Entry points: st_rs_check_holes (after each packet), st_rs_salvage_half
 * (libnids' BIGQUEUE warning, just before it frees the queue),
 * st_rs_skip_holes (idle streams), st_rs_salvage (a stream's end),
 * st_rs_drop_queue.
 *
 * When: the receiver acknowledged bytes we never saw (the capture lost
 * them, not the network), the queue passed ooo_limit, the stream went
 * idle (no retransmission is coming), or the stream ends.
 *
 * Limits: the queue is freed only outside libnids callbacks (its
 * prune_queue still holds the list across our hook). Nothing fails: a
 * consumer that drops the stream during delivery stops the salvage (0).
 *
 * Not handled: a hole that a late retransmission would have filled after
 * we skipped it (those bytes are then old data to libnids, and dropped).
 */
#include <stdlib.h>

#include "reassembly/stream.h"

#if NIDS_MAJOR != 1 || NIDS_MINOR != 26
#error "holes.c mirrors struct skbuff of libnids 1.26; check src/tcp.h of this version"
#endif

/* libnids 1.26 src/tcp.h, private there: the out-of-order queue entry. */
struct skbuff {
    struct skbuff *next;
    struct skbuff *prev;
    void *data;
    u_int len;
    u_int truesize;
    u_int urg_ptr;
    char fin;
    char urg;
    u_int seq;
    u_int ack;
};

/* libnids 1.26 src/tcp.h: a half-stream's state once its FIN is queued in
 * order, and once the other side acknowledged it. */
#define ST_NIDS_FIN_SENT      120
#define ST_NIDS_FIN_CONFIRMED 121

/* A FIN that waited behind the hole is the sender's now: tell libnids, as
 * its own in-order delivery would, so that the FIN exchange closes the
 * stream ("fin") instead of a timer. Acknowledged already (the ACK that
 * made us skip often covers it), it is confirmed at once. */
static void queued_fin(struct half_stream *snd, const struct half_stream *rcv, uint32_t end)
{
    if (snd->state == ST_NIDS_FIN_SENT || snd->state == ST_NIDS_FIN_CONFIRMED)
        return;
    snd->state = st_rs_seq_after(rcv->ack_seq, end) ? ST_NIDS_FIN_CONFIRMED : ST_NIDS_FIN_SENT;
}

static void announce_gap(st_rs_stream *rs, int from, uint32_t n)
{
    rs->st[from].missing += n;
    st_rs.counters.holes++;
    st_rs.counters.hole_bytes += n;
    st_rs.ops.gap(st_rs.app, rs->user, from, n);
}

/* Deliver what libnids holds behind a hole in one half-stream, announcing
 * every missing range, and move the half-stream past it. Returns 0 when the
 * consumer dropped the stream. */
int st_rs_salvage_half(st_rs_stream *rs, int from)
{
    struct tcp_stream *a = rs->tcp;
    struct half_stream *rcv = from == ST_FROM_CLIENT ? &a->server : &a->client;
    struct half_stream *snd = from == ST_FROM_CLIENT ? &a->client : &a->server;
    if (!rcv->collect)
        return 1;
    uint32_t exp = snd->first_data_seq + rcv->count + rcv->urg_count;
    for (struct skbuff *skb = rcv->list; skb; skb = skb->next) {
        int32_t ahead = (int32_t)(skb->seq - exp);
        if (ahead > 0) {
            announce_gap(rs, from, (uint32_t)ahead);
            rcv->count += ahead;
            rcv->offset += ahead;
            exp += (uint32_t)ahead;
        }
        int32_t fresh = (int32_t)(skb->seq + skb->len - exp);
        if (fresh > 0) {
            const uint8_t *p = (const uint8_t *)skb->data + (skb->len - (uint32_t)fresh);
            rcv->count += fresh;
            rcv->offset += fresh;
            exp += (uint32_t)fresh;
            if (!st_rs_deliver(rs, from, p, (size_t)fresh))
                return 0;
        }
        if (skb->fin && skb->seq + skb->len == exp)
            queued_fin(snd, rcv, exp);
    }
    return 1;
}

int st_rs_salvage(st_rs_stream *rs)
{
    return st_rs_salvage_half(rs, ST_FROM_CLIENT) && st_rs_salvage_half(rs, ST_FROM_SERVER);
}

/* After salvage_half the queued segments are all delivered; libnids would
 * keep them (up to 64 KiB a direction) until the stream ends. Only outside
 * libnids: prune_queue holds a pointer to the list across our hook. */
void st_rs_drop_queue(struct half_stream *rcv)
{
    struct skbuff *p = rcv->list;
    while (p) {
        struct skbuff *next = p->next;
        free(p->data);
        free(p);
        p = next;
    }
    rcv->list = rcv->listtail = NULL;
    rcv->rmem_alloc = 0;
}

/* A hole is certain once the receiver acknowledged bytes we never saw, and
 * not worth waiting for once the queue behind it is large. */
void st_rs_check_holes(st_rs_stream *rs)
{
    struct tcp_stream *a = rs->tcp;
    for (int from = 0; from < 2; from++) {
        struct half_stream *rcv = from == ST_FROM_CLIENT ? &a->server : &a->client;
        struct half_stream *snd = from == ST_FROM_CLIENT ? &a->client : &a->server;
        if (!rcv->list || !rcv->collect)
            continue;
        uint32_t exp = snd->first_data_seq + rcv->count + rcv->urg_count;
        if (rcv->rmem_alloc > st_rs.cfg.ooo_limit || st_rs_seq_after(rcv->ack_seq, exp)) {
            if (!st_rs_salvage_half(rs, from))
                return;
            st_rs_drop_queue(rcv);
        }
    }
}

/* Deliver both directions past their holes, and free what libnids queued. */
int st_rs_skip_holes(st_rs_stream *rs)
{
    for (int from = 0; from < 2; from++) {
        struct half_stream *rcv = from == ST_FROM_CLIENT ? &rs->tcp->server : &rs->tcp->client;
        if (!rcv->list)
            continue;
        if (!st_rs_salvage_half(rs, from))
            return 0;
        st_rs_drop_queue(rcv);
    }
    return 1;
}
