/*
 * evict.c - who leaves the stream table when it is full.
 *
 * libnids evicts the oldest stream it created whenever a SYN finds its
 * table full, whatever that stream carries: a SYN flood pushes every live
 * session out. So libnids' table never gets full: before a packet that
 * makes libnids create a stream (a client SYN for a new 4-tuple, a
 * handshake midstream.c makes up), when max_streams are in use, we free
 * one ourselves, in this order: the oldest half-open stream (a handshake
 * that never completed: nothing of a dialogue is lost), then the oldest
 * established stream that has carried no payload, and only then the
 * stream silent the longest (the head of the idle list), closed
 * "evicted" with its record like the other two kinds.
 *
 * Half-open streams have no st_rs_stream: their 4-tuples are kept here,
 * in a fixed pool with a hash and a FIFO list. The count is exact: only a
 * SYN makes libnids create a stream, and a packet changes the handshake
 * state of its own stream only (completed, reset, refused, replaced), so
 * looking at that stream before and after each packet
 * (st_rs_half_before, st_rs_half_after) sees every change. Established
 * streams without payload are on the quiet list (st_rs_evict_opened
 * adds, st_rs_evict_heard and st_rs_evict_released remove).
 *
 * Entry points: st_rs_evict_init, st_rs_evict_free, st_rs_evict_opened,
 * st_rs_evict_released, st_rs_evict_heard, st_rs_make_room,
 * st_rs_half_before, st_rs_half_after (stream.h).
 *
 * Limits: the pool holds max_streams 4-tuples (24 bytes each, 768 KiB by
 * default); each step is O(1).
 *
 * How it fails: st_rs_evict_init gives -1 without memory. After that
 * nothing fails. A stream libnids creates that we did not see coming (a
 * SYN in IPv4 fragments, fed without our per-packet work) is not counted:
 * libnids then evicts by its own rule once, as it did before (counted in
 * nids_warnings.tcp_toomuch).
 */
#include <netinet/tcp.h>
#include <nids.h>
#include <stdlib.h>
#include <string.h>

#include "reassembly/stream.h"

typedef struct half_node {
    struct tuple4 t;
    uint32_t hnext;      /* next in the hash chain; 0: none */
    uint32_t prev, next; /* FIFO, oldest first; 0: none */
} half_node;

static half_node *pool; /* [0] unused: index 0 means none */
static uint32_t *heads; /* hash buckets */
static uint32_t cap, nheads, free_list, fifo_head, fifo_tail, n_half;

/* The packet libnids is processing: its stream before, was it half-open. */
static struct {
    const struct tcp_stream *a;
    struct tuple4 t;
    int half;
} pre;

int st_rs_evict_init(const st_reasm_config *cfg)
{
    st_rs_evict_free();
    cap = (uint32_t)(cfg->max_streams > 16 ? cfg->max_streams : 16);
    nheads = 1;
    while (nheads < cap)
        nheads <<= 1;
    pool = calloc((size_t)cap + 1, sizeof *pool);
    heads = calloc(nheads, sizeof *heads);
    if (!pool || !heads) {
        st_rs_evict_free();
        return -1;
    }
    for (uint32_t i = 1; i <= cap; i++)
        pool[i].next = i < cap ? i + 1 : 0;
    free_list = 1;
    fifo_head = fifo_tail = n_half = 0;
    st_rs.n_streams = 0;
    st_rs.quiet_head = st_rs.quiet_tail = NULL;
    memset(&pre, 0, sizeof pre);
    return 0;
}

void st_rs_evict_free(void)
{
    free(pool);
    free(heads);
    pool = NULL;
    heads = NULL;
    cap = nheads = n_half = 0;
}

/* ---- half-open streams --------------------------------------------------- */

/* MurmurHash3's finaliser over the 4-tuple: the addresses' low bits
 * (their first octets) hardly vary. */
static uint32_t *chain_of(const struct tuple4 *t)
{
    uint64_t h = st_rs_mix64(st_rs_mix64((uint64_t)t->saddr << 32 | t->daddr) ^
                             ((uint64_t)t->source << 16 | t->dest));
    return &heads[h & (nheads - 1)];
}

static void half_del(const struct tuple4 *t)
{
    if (!pool)
        return;
    uint32_t *link = chain_of(t);
    while (*link && !st_rs_tuple_eq(&pool[*link].t, t))
        link = &pool[*link].hnext;
    uint32_t i = *link;
    if (!i)
        return;
    *link = pool[i].hnext;
    half_node *n = &pool[i];
    if (n->prev)
        pool[n->prev].next = n->next;
    else
        fifo_head = n->next;
    if (n->next)
        pool[n->next].prev = n->prev;
    else
        fifo_tail = n->prev;
    n->next = free_list;
    free_list = i;
    n_half--;
}

static void half_add(const struct tuple4 *t)
{
    half_del(t); /* a new handshake on the tuple: the youngest now */
    if (!pool || !free_list)
        return; /* more than libnids can hold: a stream we did not see coming */
    uint32_t i = free_list;
    half_node *n = &pool[i];
    free_list = n->next;
    n->t = *t;
    uint32_t *head = chain_of(t);
    n->hnext = *head;
    *head = i;
    n->prev = fifo_tail;
    n->next = 0;
    if (fifo_tail)
        pool[fifo_tail].next = i;
    else
        fifo_head = i;
    fifo_tail = i;
    n_half++;
}

/* Free the oldest half-open stream; 0 when there is none. */
static int evict_half(void)
{
    if (!fifo_head)
        return 0;
    struct tuple4 t = pool[fifo_head].t;
    half_del(&t);
    struct tcp_stream *a = nids_find_tcp_stream(&t);
    if (a && !a->user) {
        nids_free_tcp_stream(a);
        st_rs.counters.evicted_half_open++;
    }
    return 1;
}

void st_rs_half_before(const struct tcp_stream *a)
{
    pre.a = a;
    pre.half = a && !a->user;
    if (a)
        pre.t = a->addr;
}

void st_rs_half_after(const st_rs_key *k)
{
    int syn = (k->flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN;
    if (!pre.half && !syn)
        return; /* nothing else creates a stream or ends a handshake */
    struct tcp_stream *a = nids_find_tcp_stream((struct tuple4 *)&k->t);
    if (!a) {
        struct tuple4 r = {k->t.dest, k->t.source, k->t.daddr, k->t.saddr};
        a = nids_find_tcp_stream(&r);
    }
    int half = a && !a->user;
    if (pre.half && !(half && a == pre.a))
        half_del(&pre.t);
    if (half && !(pre.half && a == pre.a))
        half_add(&a->addr);
    pre.a = NULL;
    pre.half = 0;
}

/* ---- established streams ----------------------------------------------------- */

static void quiet_unlink(st_rs_stream *rs)
{
    if (!rs->quiet)
        return;
    rs->quiet = 0;
    if (rs->qprev)
        rs->qprev->qnext = rs->qnext;
    else
        st_rs.quiet_head = rs->qnext;
    if (rs->qnext)
        rs->qnext->qprev = rs->qprev;
    else
        st_rs.quiet_tail = rs->qprev;
    rs->qprev = rs->qnext = NULL;
}

void st_rs_evict_opened(st_rs_stream *rs)
{
    st_rs.n_streams++;
    rs->quiet = 1;
    rs->qnext = NULL;
    rs->qprev = st_rs.quiet_tail;
    if (st_rs.quiet_tail)
        st_rs.quiet_tail->qnext = rs;
    else
        st_rs.quiet_head = rs;
    st_rs.quiet_tail = rs;
}

void st_rs_evict_released(st_rs_stream *rs)
{
    st_rs.n_streams--;
    quiet_unlink(rs);
}

void st_rs_evict_heard(st_rs_stream *rs)
{
    quiet_unlink(rs);
}

static void evict_stream(st_rs_stream *rs)
{
    struct tcp_stream *a = rs->tcp;
    struct tuple4 t = rs->tuple;
    st_rs.counters.evicted++;
    st_rs_finish(rs, ST_CLOSE_EVICTED);
    if (nids_find_tcp_stream(&t) == a)
        nids_free_tcp_stream(a);
}

void st_rs_make_room(void)
{
    while (pool && st_rs.n_streams + n_half >= cap) {
        if (evict_half())
            continue;
        st_rs_stream *rs = st_rs.quiet_head ? st_rs.quiet_head : st_rs.idle_head;
        if (!rs)
            return;
        evict_stream(rs);
    }
}

int st_rs_make_room_cheap(void)
{
    while (pool && st_rs.n_streams + n_half >= cap) {
        if (evict_half())
            continue;
        if (!st_rs.quiet_head)
            return -1; /* only dialogues left: none is given up for a guess */
        evict_stream(st_rs.quiet_head);
    }
    return 0;
}
