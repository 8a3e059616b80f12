/*
 * idle.c - the idle list: least recently active stream first.
 *
 * libnids has no idle timeout (a stream without FIN or RST lives until
 * the table is full), so we keep our own list in packet time. A stream
 * silent ST_RS_TRIM_AFTER (2) seconds has its holes skipped, gives its
 * libnids receive buffers back and is told so (ops.idle); one silent
 * idle_timeout seconds is closed (ST_CLOSE_TIMEOUT).
 *
 * Entry points: st_rs_idle_append and st_rs_idle_unlink (a stream joins
 * and leaves the list), st_rs_idle_touch (a packet moves its stream to
 * the tail, to be trimmed again when it falls silent), st_rs_sweep_if_due
 * (after each packet and tick).
 *
 * Limits: a sweep runs at most once per second of packet time. The close
 * walk starts at the head, the trim walk at trim_from (every stream
 * before it is trimmed already); both stop at the first stream still
 * active, so a sweep costs only what it closes or trims. Nothing fails.
 *
 * Not handled: packet time going backwards (merged captures out of
 * order): a stream's clock takes each packet's time as it comes, and the
 * list keeps arrival order.
 */
#include <stdlib.h>

#include "reassembly/stream.h"

#define ST_RS_TRIM_AFTER 2 /* seconds of packet time */

void st_rs_idle_unlink(st_rs_stream *rs)
{
    if (rs == st_rs.trim_from)
        st_rs.trim_from = rs->next;
    if (rs->prev)
        rs->prev->next = rs->next;
    else
        st_rs.idle_head = rs->next;
    if (rs->next)
        rs->next->prev = rs->prev;
    else
        st_rs.idle_tail = rs->prev;
    rs->prev = rs->next = NULL;
}

void st_rs_idle_append(st_rs_stream *rs)
{
    rs->prev = st_rs.idle_tail;
    rs->next = NULL;
    if (st_rs.idle_tail)
        st_rs.idle_tail->next = rs;
    else
        st_rs.idle_head = rs;
    st_rs.idle_tail = rs;
    if (!st_rs.trim_from)
        st_rs.trim_from = rs;
}

void st_rs_idle_touch(st_rs_stream *rs)
{
    if (rs != st_rs.idle_tail) {
        st_rs_idle_unlink(rs);
        st_rs_idle_append(rs);
    } else if (!st_rs.trim_from) {
        st_rs.trim_from = rs; /* all were trimmed, this one speaks again */
    }
}

static void trim_half(struct half_stream *h)
{
    if (h->data && h->count == h->offset) { /* nothing kept: safe outside callbacks */
        free(h->data);
        h->data = NULL;
        h->bufsize = 0;
    }
}

/* A stream silent for seconds will not see its holes filled now (a
 * retransmission comes within a second or so): deliver what waits behind
 * them and give the buffers back. */
static void trim_idle(long now)
{
    while (st_rs.trim_from && st_rs.trim_from->last_sec + ST_RS_TRIM_AFTER <= now) {
        st_rs_stream *rs = st_rs.trim_from;
        st_rs.trim_from = rs->next;
        if (!st_rs_skip_holes(rs))
            continue; /* the consumer dropped it */
        trim_half(&rs->tcp->client);
        trim_half(&rs->tcp->server);
        st_rs.counters.trimmed++;
        if (st_rs.ops.idle)
            st_rs.ops.idle(st_rs.app, rs->user);
    }
}

static void sweep_idle(long now)
{
    while (st_rs.idle_head && st_rs.idle_head->last_sec + st_rs.cfg.idle_timeout < now) {
        st_rs_stream *rs = st_rs.idle_head;
        struct tcp_stream *a = rs->tcp;
        struct tuple4 t = rs->tuple;
        st_rs.counters.idle_closed++;
        st_rs_finish(rs, ST_CLOSE_TIMEOUT);
        if (nids_find_tcp_stream(&t) == a)
            nids_free_tcp_stream(a);
    }
}

void st_rs_sweep_if_due(void)
{
    if (st_rs.hdr.ts.tv_sec != st_rs.last_sweep) {
        st_rs.last_sweep = st_rs.hdr.ts.tv_sec;
        sweep_idle(st_rs.hdr.ts.tv_sec);
        trim_idle(st_rs.hdr.ts.tv_sec);
    }
}
