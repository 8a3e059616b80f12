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
 * Entry points: st_rs_salvage_half (reorder.c decides when; libnids'
 * BIGQUEUE warning, just before it frees the queue), st_rs_drop_queue,
 * st_rs_announce_gap, st_rs_queued_fin_acked.
 *
 * When is reorder.c's business: the receiver acknowledged bytes we never
 * saw and no late copy came within the reordering window, the queue (or
 * what the other side holds for it) passed ooo_limit, the stream went
 * idle, or it ends.
 *
 * Limits: the queue is freed only outside libnids callbacks (its
 * prune_queue still holds the list across our hook). Nothing fails: a
 * consumer that drops the stream during delivery stops the salvage (0).
 *
 * Not handled: a hole that a late copy would have filled after we skipped
 * it (those bytes are then old data to libnids, and dropped).
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

void st_rs_announce_gap(st_rs_stream *rs, int from, uint32_t n)
{
    rs->st[from].missing += n;
    st_rs.counters.holes++;
    st_rs.counters.hole_bytes += n;
    st_rs.ops.gap(st_rs.app, rs->user, from, n);
}

/* Move the half-stream n bytes on without delivering them: a gap. */
static void skip_bytes(st_rs_stream *rs, int from, struct half_stream *rcv, uint32_t n)
{
    st_rs_announce_gap(rs, from, n);
    rcv->count += (int)n;
    rcv->offset += (int)n;
}

/* Deliver what libnids holds behind a hole in one half-stream, announcing
 * every missing range, and move the half-stream past it; with a limit,
 * only up to that sequence number, and missing bytes up to it are a gap
 * even beyond the queue (the other side acknowledged them). Returns 0
 * when the consumer dropped the stream. */
int st_rs_salvage_to(st_rs_stream *rs, int from, const uint32_t *limit)
{
    struct tcp_stream *a = rs->tcp;
    struct half_stream *rcv = st_rs_receiver(a, from);
    struct half_stream *snd = from == ST_FROM_CLIENT ? &a->client : &a->server;
    if (!rcv->collect)
        return 1;
    uint32_t exp = st_rs_have(a, from);
    for (struct skbuff *skb = rcv->list; skb; skb = skb->next) {
        uint32_t end = skb->seq + skb->len;
        if (limit && !st_rs_seq_after(*limit, skb->seq))
            break; /* sent after what the limit asks for */
        if (limit && st_rs_seq_after(end, *limit))
            end = *limit;
        if (st_rs_seq_after(skb->seq, exp) && st_rs_seq_after(end, exp)) {
            skip_bytes(rs, from, rcv, skb->seq - exp);
            exp = skb->seq;
        }
        if (st_rs_seq_after(end, exp)) {
            const uint8_t *p = (const uint8_t *)skb->data + (exp - skb->seq);
            uint32_t fresh = end - exp;
            rcv->count += (int)fresh;
            rcv->offset += (int)fresh;
            exp = end;
            if (!st_rs_deliver(rs, from, p, fresh))
                return 0;
        }
        if (skb->fin && skb->seq + skb->len == exp)
            queued_fin(snd, rcv, exp);
    }
    if (limit && st_rs_seq_after(*limit, exp))
        skip_bytes(rs, from, rcv, *limit - exp);
    return 1;
}

int st_rs_salvage_half(st_rs_stream *rs, int from)
{
    return st_rs_salvage_to(rs, from, NULL);
}

int st_rs_queued_fin_acked(const struct half_stream *rcv)
{
    for (const struct skbuff *q = rcv->list; q; q = q->next)
        if (q->fin && !st_rs_seq_after(q->seq + q->len + 1, rcv->ack_seq))
            return 1;
    return 0;
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
