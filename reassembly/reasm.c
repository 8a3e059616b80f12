/*
 * reasm.c - libnids glue: feeding, callbacks, a stream's life.
 *
 * Per packet: decode the link layer (capture/l2), map IPv6 to stand-in
 * IPv4 (v6map.c), and look the stream up once before libnids sees the
 * packet: a client SYN on a 4-tuple libnids would silently replace closes
 * the old stream first, a client ACK to a SYN-ACK never captured gets a
 * made-up SYN-ACK (one-sided captures), a payload packet of a connection
 * whose handshake was never seen gets a made-up handshake (midstream.c),
 * a packet that makes libnids create a stream finds room made for it
 * (evict.c), and the receive window is opened where reassembly stands
 * (missing ACKs). Then feed libnids through a DLT_RAW dead handle, and
 * look the stream up again to count the packet (or count it as not
 * followed), refresh its idle clock and skip a hole libnids would wait on
 * forever (holes.c; idle.c for the idle list).
 *
 * Entry points: those of reasm.h, and st_rs_deliver, st_rs_drop,
 * st_rs_finish, st_rs_release for holes.c and idle.c (stream.h).
 *
 * Limits: one reassembler per process (libnids globals; st_rs and a
 * static 64 KiB buffer for mapped IPv6 packets). Streams are freed only
 * outside libnids callbacks: inside them libnids still uses the stream
 * after we return.
 *
 * How it fails: st_reasm_init gives -1 and a message. After that nothing
 * fails: bad packets are counted and dropped, and a stream we have no
 * memory for is closed at once (ST_CLOSE_EVICTED).
 *
 * Not handled: IPv4 fragments go to libnids, which reassembles them, but
 * miss the per-packet work above (counts, idle clock, window, holes).
 */
#include "reassembly/reasm.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <nids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "capture/ip6.h"
#include "capture/l2.h"
#include "reassembly/stream.h"
#include "reassembly/v6map.h"

static pcap_t *dead;
static struct tcp_stream *synthesized; /* the stream we just gave a made-up SYN-ACK */
static struct tcp_stream *final_ack;   /* the one given a made-up final ACK, during it */

/* Packets of a handshake in progress beyond the SYN, SYN-ACK and ACK that
 * on_established counts (a retransmitted SYN, a repeated SYN-ACK), kept
 * for the last ST_RS_HS handshakes: the stream has no st_rs_stream yet.
 * Beyond that, rare retransmissions of older handshakes go uncounted. */
#define ST_RS_HS 64
static struct {
    struct tcp_stream *a;
    struct tuple4 t;
    unsigned extra[2];
} handshakes[ST_RS_HS];
static unsigned hs_next;

static void handshake_extra(struct tcp_stream *a, int from)
{
    for (unsigned i = 0; i < ST_RS_HS; i++)
        if (handshakes[i].a == a && !memcmp(&handshakes[i].t, &a->addr, sizeof a->addr)) {
            handshakes[i].extra[from]++;
            return;
        }
    unsigned i = hs_next++ % ST_RS_HS;
    handshakes[i].a = a;
    handshakes[i].t = a->addr;
    handshakes[i].extra[0] = handshakes[i].extra[1] = 0;
    handshakes[i].extra[from] = 1;
}

/* The extra packets of a's handshake (forgotten once read). */
static void handshake_take(struct tcp_stream *a, st_half_stats st[2])
{
    for (unsigned i = 0; i < ST_RS_HS; i++)
        if (handshakes[i].a == a && !memcmp(&handshakes[i].t, &a->addr, sizeof a->addr)) {
            st[ST_FROM_CLIENT].packets += handshakes[i].extra[ST_FROM_CLIENT];
            st[ST_FROM_SERVER].packets += handshakes[i].extra[ST_FROM_SERVER];
            handshakes[i].a = NULL;
        }
}
static uint8_t v6buf[20 + 65535];

st_rs_state st_rs;

/* ---- endpoints ---------------------------------------------------------- */

static void endpoint_of(st_endpoint *ep, u_int addr_be, u_short port)
{
    const uint8_t *v6 = st_v6map_is_mapped(addr_be) ? st_v6map_lookup(addr_be) : NULL;
    memset(ep, 0, sizeof *ep);
    ep->port = port;
    if (v6) {
        ep->family = AF_INET6;
        memcpy(ep->addr, v6, 16);
    } else {
        ep->family = AF_INET;
        memcpy(ep->addr, &addr_be, 4);
    }
}

/* ---- delivery ----------------------------------------------------------- */

void st_rs_release(st_rs_stream *rs)
{
    st_rs_idle_unlink(rs);
    st_rs_evict_released(rs);
    st_rs_release_rest(rs);
}

/* What is left of a stream out of every list (a lingering one, linger.c). */
void st_rs_release_rest(st_rs_stream *rs)
{
    st_rs_held_free(rs);
    if (st_v6map_is_mapped(rs->tuple.saddr))
        st_v6map_unref(rs->tuple.saddr);
    if (st_v6map_is_mapped(rs->tuple.daddr))
        st_v6map_unref(rs->tuple.daddr);
    free(rs);
}

/* The consumer no longer wants the stream: stop collecting it. */
void st_rs_drop(st_rs_stream *rs)
{
    struct tcp_stream *a = rs->tcp;
    a->user = NULL;
    a->client.collect = 0;
    a->server.collect = 0;
    st_rs_mid_block(&rs->tuple); /* its later packets are not picked up again */
    st_rs_release(rs);
    if (!st_rs.in_nids)
        nids_free_tcp_stream(a);
}

int st_rs_deliver(st_rs_stream *rs, int from, const uint8_t *p, size_t n)
{
    rs->st[from].bytes += n;
    if (st_rs.ops.data(st_rs.app, rs->user, from, p, n, &st_rs.hdr.ts))
        return 1;
    st_rs_drop(rs);
    return 0;
}

void st_rs_finish(st_rs_stream *rs, st_close_reason why)
{
    struct tcp_stream *a = rs->tcp;
    if (!st_rs_flush_all(rs))
        return;
    a->user = NULL;
    /* Stragglers after the end are no new stream (but after a flush, what
     * follows is picked up mid-stream). */
    if (why != ST_CLOSE_EOF)
        st_rs_mid_block(&rs->tuple);
    /* closed by the peers: its last packets are still to come (linger.c) */
    if (why == ST_CLOSE_FIN || why == ST_CLOSE_RST) {
        st_rs_idle_unlink(rs);
        st_rs_evict_released(rs);
        if (st_rs_linger(rs, why) == 0)
            return;
        st_rs.ops.close(st_rs.app, rs->user, why, rs->st, &st_rs.hdr.ts);
        st_rs_release_rest(rs);
        return;
    }
    st_rs.ops.close(st_rs.app, rs->user, why, rs->st, &st_rs.hdr.ts);
    st_rs_release(rs);
}

/* ---- libnids callbacks -------------------------------------------------- */

static int in_closing_timer(struct tcp_stream *a)
{
    for (struct tcp_timeout *t = nids_tcp_timeouts; t; t = t->next)
        if (t->a_tcp == a)
            return 1;
    return 0;
}

static void on_established(struct tcp_stream *a)
{
    st_endpoint cli, srv;
    endpoint_of(&cli, a->addr.saddr, a->addr.source);
    endpoint_of(&srv, a->addr.daddr, a->addr.dest);
    void *user = st_rs.ops.open(st_rs.app, &cli, &srv, &st_rs.hdr.ts);
    if (!user) {
        st_rs_mid_block(&a->addr);
        return;
    }
    st_rs_stream *rs = calloc(1, sizeof *rs);
    if (!rs) {
        static const st_half_stats none[2];
        st_rs_mid_block(&a->addr);
        st_rs.ops.close(st_rs.app, user, ST_CLOSE_EVICTED, none, &st_rs.hdr.ts);
        return;
    }
    rs->tcp = a;
    rs->tuple = a->addr;
    rs->user = user;
    rs->last_sec = st_rs.hdr.ts.tv_sec;
    /* the SYN, and the ACK that completes the handshake (unless made up) */
    rs->st[ST_FROM_CLIENT].packets = a == final_ack ? 1 : 2;
    rs->st[ST_FROM_SERVER].packets = 1; /* the SYN-ACK */
    if (a == synthesized) {
        rs->one_sided = 1;
        rs->st[ST_FROM_SERVER].packets = 0;
    }
    handshake_take(a, rs->st);
    if (st_v6map_is_mapped(a->addr.saddr))
        st_v6map_ref(a->addr.saddr);
    if (st_v6map_is_mapped(a->addr.daddr))
        st_v6map_ref(a->addr.daddr);
    a->user = rs;
    a->client.collect++;
    a->server.collect++;
    st_rs_idle_append(rs);
    st_rs_evict_opened(rs);
    st_rs.counters.streams++;
    st_rs_mid_opened(rs);
}

static void on_data(struct tcp_stream *a, st_rs_stream *rs)
{
    int from = a->server.count_new ? ST_FROM_CLIENT : ST_FROM_SERVER;
    struct half_stream *h = from == ST_FROM_CLIENT ? &a->server : &a->client;
    if (h->count_new <= 0)
        return;
    const uint8_t *p = (const uint8_t *)h->data + (h->count - h->offset - h->count_new);
    st_rs_data(rs, from, p, (size_t)h->count_new);
}

static void on_tcp(struct tcp_stream *a, void **param)
{
    (void)param;
    if (a->nids_state == NIDS_JUST_EST) {
        on_established(a);
        return;
    }
    st_rs_stream *rs = a->user;
    if (!rs)
        return;
    switch (a->nids_state) {
    case NIDS_DATA:
        on_data(a, rs);
        break;
    case NIDS_CLOSE:
        st_rs_finish(rs, ST_CLOSE_FIN);
        break;
    case NIDS_RESET:
        st_rs_finish(rs, ST_CLOSE_RST);
        break;
    case NIDS_TIMED_OUT:
        if (in_closing_timer(a)) {
            st_rs_finish(rs, ST_CLOSE_TIMEOUT);
        } else {
            st_rs.counters.evicted++;
            st_rs_finish(rs, ST_CLOSE_EVICTED);
        }
        break;
    case NIDS_EXITING:
        st_rs_finish(rs, ST_CLOSE_EOF);
        break;
    default:
        break;
    }
}

/* What we need of a TCP/IPv4 packet, read byte by byte: captured packets
 * sit at any alignment (Ethernet puts IP at offset 14). */
typedef st_rs_key tcp_key;

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void key_of(const uint8_t *ip, size_t ihl, size_t tot, tcp_key *k)
{
    const uint8_t *th = ip + ihl;
    size_t hdr = ihl + (size_t)(th[12] >> 4) * 4;
    k->len = tot > hdr ? (uint32_t)(tot - hdr) : 0;
    k->payload = ip + hdr;
    k->carries = (th[13] & TH_FIN) || k->len;
    memcpy(&k->t.saddr, ip + 12, 4);
    memcpy(&k->t.daddr, ip + 16, 4);
    k->t.source = rd16(th);
    k->t.dest = rd16(th + 2);
    k->flags = th[13];
    k->seq = (uint32_t)rd16(th + 4) << 16 | rd16(th + 6);
    k->ack = (uint32_t)rd16(th + 8) << 16 | rd16(th + 10);
}

/* The libnids stream of a packet, in either direction. */
static struct tcp_stream *tcp_of_packet(const tcp_key *k, int *from)
{
    struct tcp_stream *a = nids_find_tcp_stream((struct tuple4 *)&k->t);
    *from = ST_FROM_CLIENT;
    if (!a) {
        struct tuple4 r = {k->t.dest, k->t.source, k->t.daddr, k->t.saddr};
        a = nids_find_tcp_stream(&r);
        *from = ST_FROM_SERVER;
    }
    return a;
}

static st_rs_stream *stream_of_packet(const tcp_key *k, int *from)
{
    struct tcp_stream *a = tcp_of_packet(k, from);
    return a ? a->user : NULL;
}

/* libnids reports through nids_params.syslog; we count, and on BIGQUEUE
 * (it is about to free the queue behind a hole) deliver that queue first. */
static void on_warning(int type, int err, struct ip *iph, void *data)
{
    if (err >= 0 && err < 10)
        st_rs.counters.nids_warnings[err]++;
    if (type != NIDS_WARN_TCP || err != NIDS_WARN_TCP_BIGQUEUE || !iph || !data)
        return;
    const uint8_t *ip = (const uint8_t *)iph;
    tcp_key k;
    int from;
    key_of(ip, (size_t)(ip[0] & 15) * 4, rd16(ip + 2), &k);
    st_rs_stream *rs = stream_of_packet(&k, &from);
    if (rs)
        st_rs_salvage_half(rs, from);
}

/* ---- feeding ------------------------------------------------------------ */

/* A client SYN on a live 4-tuple makes libnids free the old stream without
 * a word; close it ourselves first so its record is written. */
static void before_syn(struct tcp_stream *a)
{
    if (!a->user)
        return;
    if (a->ts + nids_params.tcp_flow_timeout < st_rs.hdr.ts.tv_sec) {
        st_rs.counters.reused++;
        st_rs_finish(a->user, ST_CLOSE_EVICTED);
    }
}

static void after_packet(const tcp_key *k)
{
    int from;
    st_rs_stream *rs = stream_of_packet(k, &from);
    if (!rs) {
        if (k->len && !(k->flags & (TH_SYN | TH_RST)) && !st_rs.cur_followed) {
            st_rs.counters.unfollowed++; /* nothing is lost without a trace */
            st_rs.counters.unfollowed_bytes += k->len;
        }
        return;
    }
    rs->last_sec = st_rs.hdr.ts.tv_sec;
    struct half_stream *low = st_rs.lowered;
    st_rs.lowered = NULL;
    if (low && (low == &rs->tcp->client || low == &rs->tcp->server) &&
        st_rs_seq_after(st_rs.lowered_ack, low->ack_seq))
        low->ack_seq = st_rs.lowered_ack;
    if (rs->one_sided) {
        /* No server ACK will ever move libnids' window: acknowledge for it. */
        struct tcp_stream *a = rs->tcp;
        a->server.ack_seq = a->client.first_data_seq + a->server.count + a->server.urg_count;
    }
    st_rs_idle_touch(rs);
    st_rs_check_holes(rs);
}

void st_rs_made_up(u_int src, u_int dst, u_short sport, u_short dport, uint32_t seq, uint32_t ack,
                   uint8_t flags, int wscale)
{
    uint8_t p[44] = {0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, IPPROTO_TCP};
    uint32_t s = htonl(seq), a = htonl(ack);
    uint16_t sp = htons(sport), dp = htons(dport);
    size_t len = wscale ? 44 : 40;
    p[3] = (uint8_t)len;
    memcpy(p + 12, &src, 4);
    memcpy(p + 16, &dst, 4);
    memcpy(p + 20, &sp, 2);
    memcpy(p + 22, &dp, 2);
    memcpy(p + 24, &s, 4);
    memcpy(p + 28, &a, 4);
    p[32] = (uint8_t)((len - 20) / 4 << 4);
    p[33] = flags;
    p[34] = p[35] = 0xFF;
    if (wscale)
        memcpy(p + 40, "\x01\x03\x03\x0e", 4); /* NOP, window scale 14 */
    st_rs.hdr.caplen = st_rs.hdr.len = (bpf_u_int32)len;
    st_rs.in_nids = 1;
    nids_pcap_handler(NULL, &st_rs.hdr, p);
    st_rs.in_nids = 0;
}

/* A client ACK for a handshake whose SYN-ACK was never seen: the capture
 * holds only the client's side (an asymmetric tap, a one-sided trace).
 * libnids would ignore the whole connection; give it the SYN-ACK that the
 * ACK acknowledges, with a window scale that keeps its window open. */
static void fake_synack(struct tcp_stream *a, const tcp_key *k)
{
    if (a->client.state != TCP_SYN_SENT || a->server.state != TCP_CLOSE)
        return;
    synthesized = a;
    st_rs_made_up(k->t.daddr, k->t.saddr, k->t.dest, k->t.source, k->ack - 1, a->client.seq,
                  TH_SYN | TH_ACK, 1);
    st_rs.counters.one_sided++;
}

/* libnids drops a segment beyond the receiver's last ACK plus its window.
 * A passive monitor should not: ACKs go missing in captures, and synthetic
 * or one-sided traces have none. Let the window start where reassembly
 * stands instead, whenever that is further than the last ACK seen.
 * libnids also drops a segment that ends before the receiver's last ACK,
 * as old; but a segment captured after the ACK that covers it (a tap
 * reorders) is new to us: for that packet the window starts where
 * reassembly stands too, and the ACK is put back after it (after_packet). */
static void open_window(struct tcp_stream *a, int from, const tcp_key *k)
{
    struct half_stream *rcv = st_rs_receiver(a, from);
    uint32_t exp = st_rs_have(a, from);
    if (st_rs_seq_after(exp, rcv->ack_seq)) {
        rcv->ack_seq = exp;
    } else if (st_rs_seq_after(rcv->ack_seq, k->seq + k->len) &&
               st_rs_seq_after(k->seq + k->len, exp)) {
        st_rs.lowered = rcv;
        st_rs.lowered_ack = rcv->ack_seq;
        rcv->ack_seq = exp;
    }
}

/* What we do before libnids sees a packet, on the stream it belongs to:
 * one lookup serves all three (a SYN for a new 4-tuple has no stream yet). */
/* Data (from either side), or a client ACK past the server's ISN, while
 * libnids still waits for the ACK that completes the handshake: that ACK
 * was lost, or a tap delivered it late. libnids would drop what comes
 * until an exact ACK arrives, and never follow the connection; give it
 * the ACK the client must have sent (its ISN + 1, acknowledging the
 * server's), so the stream starts where the handshake put it and
 * nothing before this packet is taken for lost. */
static void fake_final_ack(struct tcp_stream *a, const tcp_key *k, int from)
{
    if (a->client.state != TCP_SYN_SENT || a->server.state != TCP_SYN_RECV ||
        (k->flags & (TH_SYN | TH_RST)) ||
        (!k->len && (from != ST_FROM_CLIENT || k->ack == a->server.seq)))
        return;
    final_ack = a;
    st_rs_made_up(a->addr.saddr, a->addr.daddr, a->addr.source, a->addr.dest, a->client.seq,
                  a->server.seq, TH_ACK, 0);
    final_ack = NULL;
}

static void before_packet(const tcp_key *k)
{
    int from;
    struct tcp_stream *a = tcp_of_packet(k, &from);
    int syn_ack_rst = k->flags & (TH_SYN | TH_ACK | TH_RST);
    st_rs.cur_followed = 0;
    if (!a && st_rs_linger_packet(k)) {
        st_rs.cur_followed = 1; /* counted in the closed session it belongs to */
        return;
    }
    if (!a && syn_ack_rst == TH_SYN)
        st_rs_make_room(); /* libnids will make a stream of it */
    else if (!a && k->len && !(k->flags & (TH_SYN | TH_RST)))
        a = st_rs_mid_packet(k, &from); /* a connection whose handshake we missed */
    st_rs_half_before(a);
    if (!a)
        return;
    if (from == ST_FROM_CLIENT && syn_ack_rst == TH_SYN)
        before_syn(a);
    else if (from == ST_FROM_CLIENT && syn_ack_rst == TH_ACK)
        fake_synack(a, k);
    fake_final_ack(a, k, from);
    st_rs.cur_tcp = a;
    st_rs.cur_from = from;
    st_rs.cur_acks = (k->flags & TH_ACK) != 0;
    st_rs.cur_ack = k->ack;
    if (!a->user) {
        /* in the handshake: on_established counts the SYN, SYN-ACK and ACK;
         * a second SYN or SYN-ACK is one more */
        if ((from == ST_FROM_CLIENT && syn_ack_rst == TH_SYN && a->client.state == TCP_SYN_SENT) ||
            (from == ST_FROM_SERVER && syn_ack_rst == (TH_SYN | TH_ACK) &&
             a->server.state == TCP_SYN_RECV)) /* the first SYN-ACK is counted already */
            handshake_extra(a, from);
        return;
    }
    /* Counted before libnids sees it: the packet that closes a stream (the
     * last ACK, a RST) frees it inside libnids, record written. */
    st_rs.cur_followed = 1;
    ((st_rs_stream *)a->user)->st[from].packets++;
    if (k->len)
        st_rs_evict_heard(a->user); /* it carries a dialogue now */
    if (k->len && !(k->flags & (TH_SYN | TH_RST)))
        st_rs_overlap_check(a->user, from, k);
    if (k->carries)
        open_window(a, from, k);
}

/* Feed one IPv4 packet (ours or a mapped IPv6 one) to libnids. */
static void feed_nids(const uint8_t *ip, size_t tot, const tcp_key *k)
{
    if (k)
        before_packet(k);
    st_rs.hdr.caplen = st_rs.hdr.len = (bpf_u_int32)tot;
    st_rs.in_nids = 1;
    nids_pcap_handler(NULL, &st_rs.hdr, (u_char *)ip);
    st_rs.in_nids = 0;
    /* A made-up SYN-ACK serves the packet that needed it only: libnids
     * hands a freed stream's slot to the next one, which must not be
     * taken for one-sided. */
    synthesized = NULL;
    st_rs.cur_tcp = NULL;
    if (k) {
        st_rs_half_after(k);
        after_packet(k);
    }
    st_rs.lowered = NULL; /* its stream may be gone */
}

static void feed_ipv4(const uint8_t *ip, size_t len)
{
    if (len < 20 || (ip[0] >> 4) != 4 || (ip[0] & 15) < 5) {
        st_rs.counters.ip_errors++;
        return;
    }
    size_t ihl = (size_t)(ip[0] & 15) * 4, tot = rd16(ip + 2);
    if (tot < ihl || tot > len) {
        st_rs.counters.ip_errors++; /* cut by the snap length, or lying */
        return;
    }
    if (ip[9] != IPPROTO_TCP) {
        st_rs.counters.not_tcp++;
        return;
    }
    uint32_t src, dst;
    memcpy(&src, ip + 12, 4);
    memcpy(&dst, ip + 16, 4);
    if (st_v6map_is_mapped(src) || st_v6map_is_mapped(dst)) {
        st_rs.counters.reserved_v4++;
        return;
    }
    tcp_key k;
    int whole = (rd16(ip + 6) & 0x3FFF) == 0 && tot >= ihl + 20;
    if (whole)
        key_of(ip, ihl, tot, &k);
    feed_nids(ip, tot, whole ? &k : NULL); /* fragments: libnids reassembles them */
}

static void feed_ipv6(const uint8_t *ip, size_t len)
{
    st_ip6_tcp t;
    st_ip6_result r = st_ip6_find_tcp(ip, len, &t);
    if (r != ST_IP6_TCP) {
        if (r == ST_IP6_FRAGMENT)
            st_rs.counters.ipv6_fragments++;
        else if (r == ST_IP6_NOT_TCP)
            st_rs.counters.not_tcp++;
        else
            st_rs.counters.ip_errors++;
        return;
    }
    if (t.tcp_len != t.tcp_len_wire || t.tcp_len + 20 > 65535) {
        st_rs.counters.ip_errors++;
        return;
    }
    uint32_t src = st_v6map_get(t.src, st_rs.hdr.ts.tv_sec),
             dst = st_v6map_get(t.dst, st_rs.hdr.ts.tv_sec);
    if (!src || !dst) {
        st_rs.counters.ipv6_map_full++;
        return;
    }
    uint8_t *v4 = v6buf;
    size_t tot = t.tcp_len + 20;
    memset(v4, 0, 20);
    v4[0] = 0x45;
    v4[2] = (uint8_t)(tot >> 8);
    v4[3] = (uint8_t)tot;
    v4[8] = t.hop_limit;
    v4[9] = IPPROTO_TCP;
    memcpy(v4 + 12, &src, 4);
    memcpy(v4 + 16, &dst, 4);
    memcpy(v4 + 20, t.tcp, t.tcp_len);
    st_rs.counters.ipv6_tcp++;
    tcp_key k;
    key_of(v4, 20, tot, &k);
    feed_nids(v4, tot, &k);
}

void st_reasm_packet(const st_packet *pkt, int linktype)
{
    st_l3 l3;
    st_rs.counters.packets++;
    st_rs.counters.bytes += pkt->caplen;
    st_rs.hdr.ts = pkt->ts;
    st_l2_result r = st_l2_decode(linktype, pkt->data, pkt->caplen, &l3);
    if (r == ST_L2_NOT_IP) {
        st_rs.counters.not_ip++;
    } else if (r != ST_L2_OK) {
        st_rs.counters.l2_errors++;
    } else if (l3.version == 4) {
        feed_ipv4(l3.ip, l3.len);
    } else {
        feed_ipv6(l3.ip, l3.len);
    }
    st_rs_sweep_if_due();
    st_rs_linger_expire();
}

void st_reasm_tick(const struct timeval *now)
{
    if (now->tv_sec <= st_rs.hdr.ts.tv_sec)
        return; /* packet time never goes back */
    st_rs.hdr.ts = *now;
    st_rs_sweep_if_due();
    st_rs_linger_expire();
}

/* ---- life cycle --------------------------------------------------------- */

void st_reasm_config_default(st_reasm_config *c)
{
    c->max_streams = 32768;
    c->idle_timeout = 300;
    c->ooo_limit = 32768;
    c->hole_grace = 1000;
    c->midstream = 1;
    c->close_delay = 5; /* Zeek's tcp_close_delay */
}

int st_reasm_init(const st_reasm_config *c, const st_reasm_ops *o, void *a, char *err,
                  size_t errlen)
{
    static struct nids_chksum_ctl no_checksums = {0, 0, NIDS_DONT_CHKSUM, 0};
    st_rs.cfg = *c;
    st_rs.ops = *o;
    st_rs.app = a;
    if (st_rs.cfg.max_streams < 16)
        st_rs.cfg.max_streams = 16;
    if (st_v6map_init(1u << 15) != 0) {
        snprintf(err, errlen, "cannot allocate the IPv6 address map");
        return -1;
    }
    if (st_rs_mid_init(&st_rs.cfg) != 0 || st_rs_evict_init(&st_rs.cfg) != 0) {
        snprintf(err, errlen, "cannot allocate the stream tables");
        return -1;
    }
    dead = pcap_open_dead(DLT_RAW, 65535);
    if (!dead) {
        snprintf(err, errlen, "pcap_open_dead failed");
        return -1;
    }
    nids_params.pcap_desc = dead;
    nids_params.pcap_filter = NULL;
    nids_params.device = NULL;
    nids_params.filename = NULL;
    nids_params.scan_num_hosts = 0;
    nids_params.syslog = on_warning;
    /* libnids keeps floor(3n/4) + 1 streams of n buckets (tcp_init, and
     * add_new_tcp evicting past max_stream): the smallest n that keeps
     * exactly max_streams */
    nids_params.n_tcp_streams = (4 * (st_rs.cfg.max_streams - 1) + 2) / 3;
    nids_params.n_hosts = 256;
    nids_params.tcp_workarounds = 1;
    nids_params.tcp_flow_timeout = 5;
    nids_params.multiproc = 0;
    nids_params.one_loop_less = 0;
    nids_params.sk_buff_size = 0;
    st_rs.hdr.ts.tv_sec = 0;
    nids_last_pcap_header = &st_rs.hdr;
    if (!nids_init()) {
        snprintf(err, errlen, "libnids: %s", nids_errbuf);
        return -1;
    }
    nids_register_chksum_ctl(&no_checksums, 1);
    nids_register_tcp((void *)on_tcp);
    return 0;
}

void st_reasm_write_closed(void)
{
    st_rs_linger_flush();
}

void st_reasm_flush(void)
{
    st_rs_linger_flush();
    while (st_rs.idle_head) {
        st_rs_stream *rs = st_rs.idle_head;
        struct tcp_stream *a = rs->tcp;
        struct tuple4 t = rs->tuple;
        st_rs_finish(rs, ST_CLOSE_EOF);
        if (nids_find_tcp_stream(&t) == a)
            nids_free_tcp_stream(a);
    }
}

void st_reasm_shutdown(void)
{
    st_reasm_flush();
    nids_unregister_tcp((void *)on_tcp); /* nids_init forgets the list without freeing it */
    nids_exit();
    if (dead)
        pcap_close(dead);
    dead = NULL;
    st_v6map_free();
    st_rs_mid_free();
    st_rs_evict_free();
}

const st_reasm_counters *st_reasm_get_counters(void)
{
    return &st_rs.counters;
}
