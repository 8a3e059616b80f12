/*
 * linger.c - a closed connection's record waits for its last packets.
 *
 * A FIN or a RST ends the stream for libnids, yet packets of the session
 * still follow: the final ACK after the last FIN, the peer's FIN or ACK
 * after a RST, a retransmission. Zeek keeps a closed connection for
 * tcp_close_delay (5 s) and counts them; so do we: a stream closed by FIN
 * or RST is written only close_delay seconds of packet time later (5 by
 * default, st_reasm_config; 0: at once), and
 * every packet of its 4-tuple meanwhile is counted in its packets (the
 * record's bytes, messages and verdicts were final at the close). A new
 * SYN on the 4-tuple, the end of input, a flush or a full list write it
 * at once.
 *
 * Entry points: st_rs_linger, st_rs_linger_packet, st_rs_linger_expire,
 * st_rs_linger_flush (stream.h).
 *
 * Limits: ST_RS_LINGER_MAX closed streams wait at once (their sessions'
 * state, which was final: the parser and the record, no buffers); beyond,
 * the oldest is written at once. They are found by a symmetric hash of
 * the 4-tuple (ST_RS_LINGER_SLOTS slots, probed ST_RS_LINGER_PROBE deep: a
 * stream that finds no slot is written at once), so a packet of no stream
 * costs one probe whatever waits.
 *
 * How it fails: nothing fails; a stream that cannot wait is written now.
 */
#include <netinet/tcp.h>
#include <string.h>

#include "reassembly/stream.h"

#define ST_RS_LINGER_MAX   4096
#define ST_RS_LINGER_SLOTS 8192 /* a power of two */
#define ST_RS_LINGER_PROBE 8

typedef struct {
    st_rs_stream *rs;
    st_close_reason why;
    struct timeval ts; /* of the close: the record's, as if written then */
} lingerer;

static lingerer ring[ST_RS_LINGER_MAX];
static unsigned head, count;
static lingerer *slot[ST_RS_LINGER_SLOTS];

/* Both directions of a connection hash alike. */
static unsigned hash(const struct tuple4 *t)
{
    uint64_t a = t->saddr ^ t->daddr, p = (uint64_t)(t->source ^ t->dest);
    return (unsigned)(st_rs_mix64(a << 16 | p) & (ST_RS_LINGER_SLOTS - 1));
}

static int same(const struct tuple4 *a, const struct tuple4 *b)
{
    struct tuple4 r = {b->dest, b->source, b->daddr, b->saddr};
    return st_rs_tuple_eq(a, b) || st_rs_tuple_eq(a, &r);
}

static lingerer **find(const struct tuple4 *t, int free_slot)
{
    unsigned h = hash(t);
    for (unsigned i = 0; i < ST_RS_LINGER_PROBE; i++) {
        lingerer **s = &slot[(h + i) & (ST_RS_LINGER_SLOTS - 1)];
        if (free_slot ? !*s : *s && same(&(*s)->rs->tuple, t))
            return s;
    }
    return NULL;
}

static void write_out(lingerer *l)
{
    st_rs_stream *rs = l->rs;
    lingerer **s = find(&rs->tuple, 0);
    if (s)
        *s = NULL;
    l->rs = NULL;
    st_rs.ops.close(st_rs.app, rs->user, l->why, rs->st, &l->ts);
    st_rs_release_rest(rs);
}

static void pop(void)
{
    lingerer *l = &ring[head];
    head = (head + 1) % ST_RS_LINGER_MAX;
    count--;
    if (l->rs)
        write_out(l);
}

/* 0 when rs waits; -1 when it could not (the caller writes it now). */
int st_rs_linger(st_rs_stream *rs, st_close_reason why)
{
    lingerer **s = st_rs.cfg.close_delay <= 0 || find(&rs->tuple, 0) ? NULL : find(&rs->tuple, 1);
    if (!s)
        return -1; /* no slot, or one for this 4-tuple already waits */
    if (count == ST_RS_LINGER_MAX)
        pop();
    lingerer *l = &ring[(head + count++) % ST_RS_LINGER_MAX];
    l->rs = rs;
    l->why = why;
    l->ts = st_rs.hdr.ts;
    *s = l;
    rs->tcp = NULL; /* libnids forgets it now */
    return 0;
}

int st_rs_linger_packet(const st_rs_key *k)
{
    lingerer **s = count ? find(&k->t, 0) : NULL;
    if (!s)
        return 0;
    lingerer *l = *s;
    if ((k->flags & (TH_SYN | TH_ACK)) == TH_SYN) {
        write_out(l); /* a new connection on the 4-tuple: the old one is over */
        return 0;
    }
    int from = k->t.saddr == l->rs->tuple.saddr && k->t.source == l->rs->tuple.source
                   ? ST_FROM_CLIENT
                   : ST_FROM_SERVER;
    l->rs->st[from].packets++;
    return 1;
}

void st_rs_linger_expire(void)
{
    while (count &&
           (!ring[head].rs || st_rs.hdr.ts.tv_sec - ring[head].ts.tv_sec >= st_rs.cfg.close_delay))
        pop();
}

void st_rs_linger_flush(void)
{
    while (count)
        pop();
}
