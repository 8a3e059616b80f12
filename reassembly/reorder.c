/*
 * reorder.c - reordering is not loss: bytes held back until what they
 * answer has arrived, holes skipped only when waiting cannot help.
 *
 * A tap or SPAN port merges the two directions of a connection, and a
 * switch may emit a segment after the ACK that covers it. libnids then
 * has bytes of one direction (X) whose packet acknowledges bytes of the
 * other (Y) it does not have yet. Delivering X at once would put a reply
 * before the command it answers; skipping Y's hole at once (as an ACK
 * past a hole used to make us do) would throw away the late segment that
 * is about to come. So X's bytes are held, in order, until Y is complete
 * up to the acknowledged point (the late segment came: nothing is lost),
 * and Y's hole is skipped only when the capture really lost it: the
 * acknowledgement is older than hole_grace (ms of packet time), the
 * bytes held or queued pass ooo_limit, the stream goes idle or ends. Then
 * Y's missing bytes, up to what X acknowledged, are announced as a gap
 * before X's held bytes are delivered: the consumer sees the dialogue in
 * the order it happened either way.
 *
 * Entry points: st_rs_data (libnids' data callback), st_rs_check_holes
 * (after each packet, outside libnids), st_rs_skip_holes (an idle
 * stream), st_rs_flush_all (a stream's end), st_rs_held_free.
 *
 * Limits: bytes held per direction are bounded by ooo_limit (plus one
 * segment: the check runs after the packet). The acknowledgement of bytes
 * libnids delivers from its queue is the highest of the packets that
 * carried them, among the last ST_RS_SEEN data segments of the direction
 * (overlap.c keeps them); beyond, that of the packet that completed the
 * queue.
 *
 * Not handled: one-sided captures (nothing of the other side ever comes:
 * nothing is held); SACK blocks (only the cumulative ACK is read).
 */
#include <stdlib.h>
#include <string.h>

#include "reassembly/stream.h"

static long long now_us(void)
{
    return (long long)st_rs.hdr.ts.tv_sec * 1000000LL + st_rs.hdr.ts.tv_usec;
}

/* Appends n bytes that need the other side up to ack (a new mark, or the
 * last one extended when it needs as much or the marks are used up). */
static int hold(st_rs_held *h, const uint8_t *p, size_t n, uint32_t ack)
{
    if (h->len + n > h->cap) {
        size_t cap = h->cap ? h->cap : 4096;
        while (cap < h->len + n)
            cap *= 2;
        uint8_t *b = realloc(h->buf, cap);
        if (!b)
            return -1;
        h->buf = b;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, p, n);
    h->len += n;
    int last = h->nmark - 1;
    if (last >= 0 && (h->nmark == ST_RS_HELD_MARKS || !st_rs_seq_after(ack, h->mark[last].ack))) {
        if (st_rs_seq_after(ack, h->mark[last].ack))
            h->mark[last].ack = ack;
    } else {
        h->mark[++last].ack = ack;
        h->nmark++;
    }
    h->mark[last].end = h->len;
    return 0;
}

/* Delivers the first k runs from holds. 0 when the consumer dropped the
 * stream. */
static int flush_runs(st_rs_stream *rs, int from, int k)
{
    st_rs_held *h = &rs->held[from];
    if (k <= 0)
        return 1;
    size_t n = h->mark[k - 1].end;
    /* the consumer only reads the bytes; a consumer that drops the stream
     * frees rs (and h) after it returned, so h is not touched then */
    if (!st_rs_deliver(rs, from, h->buf, n))
        return 0;
    memmove(h->buf, h->buf + n, h->len - n);
    h->len -= n;
    h->nmark -= k;
    for (int i = 0; i < h->nmark; i++) {
        h->mark[i] = h->mark[i + k];
        h->mark[i].end -= n;
    }
    if (!h->len) {
        free(h->buf);
        h->buf = NULL;
        h->cap = 0;
    }
    return 1;
}

/* The runs of from whose acknowledgement the other side has caught up with. */
static int ready(st_rs_stream *rs, int from)
{
    const st_rs_held *h = &rs->held[from];
    uint32_t other = st_rs_have(rs->tcp, !from);
    int k = 0;
    while (k < h->nmark && !st_rs_seq_after(h->mark[k].ack, other))
        k++;
    return k;
}

/* After bytes of from reached the consumer: what the other side held for
 * them may go now. */
static int flush_other(st_rs_stream *rs, int from)
{
    return flush_runs(rs, !from, ready(rs, !from));
}

/* Bytes libnids delivers from its queue when a segment fills the hole
 * before them were sent after that segment, and acknowledge what their
 * own packets did (more: overlap.c kept it), not what the filling packet
 * did: the highest of those over the range [have - n, have). */
static uint32_t queued_ack(const st_rs_stream *rs, int from, size_t n, uint32_t ack)
{
    uint32_t end = st_rs_have(rs->tcp, from), start = end - (uint32_t)n;
    for (unsigned i = 0; i < ST_RS_SEEN; i++) {
        const st_rs_seen *s = &rs->seen[from][i];
        if (s->len && s->acks && st_rs_seq_after(s->seq + s->len, start) &&
            st_rs_seq_after(end, s->seq) && st_rs_seq_after(s->ack, ack))
            ack = s->ack;
    }
    return ack;
}

int st_rs_data(st_rs_stream *rs, int from, const uint8_t *p, size_t n)
{
    st_rs_held *h = &rs->held[from];
    int current = st_rs.cur_tcp == rs->tcp && st_rs.cur_from == from && st_rs.cur_acks;
    uint32_t ack = current ? queued_ack(rs, from, n, st_rs.cur_ack) : st_rs_have(rs->tcp, !from);
    int ahead = current && !rs->one_sided && st_rs_seq_after(ack, st_rs_have(rs->tcp, !from));
    if (h->len || ahead) {
        if (hold(h, p, n, ahead ? ack : st_rs_have(rs->tcp, !from)) == 0) {
            st_rs.counters.held_bytes += n;
            return 1;
        }
        if (!flush_runs(rs, from, h->nmark)) /* no memory to hold: arrival order */
            return 0;
    }
    return st_rs_deliver(rs, from, p, n) && flush_other(rs, from);
}

/* Give up waiting for the bytes of from: its queue up to what the other
 * side's held bytes acknowledge (the rest of that missing, a gap), then
 * those held bytes, then the rest of its queue: what was sent after the
 * held bytes comes after them. */
static int skip(st_rs_stream *rs, int from)
{
    if (!st_rs_receiver(rs->tcp, from)->collect)
        return 1;
    rs->acked_since[from] = 0;
    st_rs_held *o = &rs->held[!from];
    while (o->nmark) {
        uint32_t upto = o->mark[0].ack;
        if (!st_rs_salvage_to(rs, from, &upto) || !flush_runs(rs, !from, ready(rs, !from)))
            return 0;
    }
    return st_rs_salvage_half(rs, from);
}

int st_rs_flush_all(st_rs_stream *rs)
{
    /* the side others wait for goes first: its gap, then what was held */
    for (int from = 0; from < 2; from++)
        if (rs->held[!from].len && !skip(rs, from))
            return 0;
    for (int from = 0; from < 2; from++)
        if (!skip(rs, from))
            return 0;
    return 1;
}

/* Whether waiting for the missing bytes of from can still help. */
static int worth_waiting(st_rs_stream *rs, int from)
{
    struct half_stream *rcv = st_rs_receiver(rs->tcp, from);
    uint32_t exp = st_rs_have(rs->tcp, from);
    const st_rs_held *o = &rs->held[!from];
    int acked =
        st_rs_seq_after(rcv->ack_seq, exp) || (o->nmark && st_rs_seq_after(o->mark[0].ack, exp));
    if (!acked) {
        rs->acked_since[from] = 0;
        return rcv->rmem_alloc <= st_rs.cfg.ooo_limit;
    }
    if (!rs->acked_since[from])
        rs->acked_since[from] = now_us();
    return now_us() - rs->acked_since[from] < st_rs.cfg.hole_grace * 1000LL &&
           !st_rs_queued_fin_acked(rcv) && rcv->rmem_alloc <= st_rs.cfg.ooo_limit &&
           rs->held[!from].len <= (size_t)st_rs.cfg.ooo_limit;
}

void st_rs_check_holes(st_rs_stream *rs)
{
    for (int from = 0; from < 2; from++) {
        struct half_stream *rcv = st_rs_receiver(rs->tcp, from);
        if (!rcv->collect || (!rcv->list && !rs->held[!from].len) || worth_waiting(rs, from))
            continue;
        if (!skip(rs, from))
            return;
        st_rs_drop_queue(rcv);
    }
}

int st_rs_skip_holes(st_rs_stream *rs)
{
    if (!st_rs_flush_all(rs))
        return 0;
    for (int from = 0; from < 2; from++) {
        struct half_stream *rcv = st_rs_receiver(rs->tcp, from);
        if (rcv->list)
            st_rs_drop_queue(rcv);
    }
    return 1;
}

void st_rs_held_free(st_rs_stream *rs)
{
    for (int i = 0; i < 2; i++) {
        free(rs->held[i].buf);
        rs->held[i].buf = NULL;
        rs->held[i].len = rs->held[i].cap = 0;
    }
}
