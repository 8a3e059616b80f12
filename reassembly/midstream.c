/*
 * midstream.c - following a connection whose handshake was never seen.
 *
 * A sensor started on a busy link, a restarted one, or a capture cut out
 * of a longer one holds connections that were open before it began, and
 * libnids ignores every packet of them. For a payload packet on a 4-tuple
 * libnids does not know, we tell which side is the client from what the
 * packet says: a reply line ("NNN " or "NNN-") comes from the server, a
 * command verb from the client. The well-known SMTP ports (25, 465, 587,
 * 2525) are a hint when the bytes say nothing; when bytes and port
 * disagree, or neither says, the connection is watched and the next
 * packets decide. Then libnids gets the handshake it missed, as
 * fake_synack in reasm.c gives it a missing SYN-ACK: a SYN, a SYN-ACK and
 * an ACK whose sequence numbers make this packet's bytes the first
 * expected, the other side's taken from the packet's acknowledgement
 * number. From there the stream is like any other, except that the
 * consumer can tell (st_reasm_opening_midstream, during its open) and no
 * packet of the made-up handshake is counted; like any other, it must
 * prove it is SMTP within its first bytes.
 *
 * A watched connection's packets are counted as not followed; after
 * ST_MID_WATCH_MAX payload bytes without a decision it is blocked (not
 * SMTP). A connection the consumer gave up, refused, or that ended (FIN,
 * RST, timeout, eviction) is blocked too: its later packets (a link's
 * other traffic, the stragglers after a RST) cost one table lookup and
 * are counted, never picked up again. Watched and blocked connections
 * share one fixed table of ST_MID_WAYS-way buckets; an entry silent for
 * idle_timeout seconds of packet time is forgotten, and a full bucket
 * forgets its least recently seen entry.
 *
 * Entry points: st_reasm_opening_midstream (reasm.h); st_rs_mid_init,
 * st_rs_mid_free, st_rs_mid_packet, st_rs_mid_block, st_rs_mid_opened
 * (stream.h).
 *
 * Limits: the table holds max(1024, max_streams / 2) connections, rounded
 * up to a power of two (32 bytes each: 512 KiB by default).
 *
 * How it fails: st_rs_mid_init gives -1 without memory. Nothing fails
 * after that: a forgotten blocked connection is at worst looked at once
 * more.
 *
 * Not handled: a first packet without ACK (the other side's sequence
 * number is unknown) is not picked up, the next one will be; bytes the
 * other side sent before the first packet seen (in flight, or reordered
 * behind the ACK that covers them) are old to libnids and lost. A stream
 * closed idle that speaks again within idle_timeout is not followed (its
 * packets are counted); one flushed (smtptap_flush) is picked up again.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nids.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "reassembly/stream.h"

#define ST_MID_WAYS      8
#define ST_MID_WATCH_MAX 65536 /* payload bytes a watched connection may carry undecided */

enum { MID_FREE = 0, MID_WATCH, MID_BLOCK };
enum { ROLE_NONE = 0, ROLE_CLIENT, ROLE_SERVER }; /* of the packet's sender */

typedef struct mid_entry {
    struct tuple4 t; /* canonical: the lower address and port first */
    uint8_t state;
    uint8_t said;     /* what bytes said against the ports: ROLE_ of t's source side */
    uint8_t said_by;  /* by whom: 1 t's source side, 2 the other */
    uint32_t watched; /* payload bytes seen while watching */
    long last;        /* packet time of its last packet */
} mid_entry;

static mid_entry *table;
static size_t nbuckets; /* a power of two */
static uint64_t seed;   /* against crafted 4-tuples that share a bucket */

int st_rs_mid_init(const st_reasm_config *cfg)
{
    size_t want = (size_t)(cfg->max_streams > 0 ? cfg->max_streams : 0) / 2;
    size_t n = 1024;
    while (n < want)
        n <<= 1;
    st_rs_mid_free();
    table = calloc(n, sizeof *table);
    if (!table)
        return -1;
    nbuckets = n / ST_MID_WAYS;
    seed = ((uint64_t)(uintptr_t)&table ^ (uint64_t)getpid() << 32) | 1;
    return 0;
}

void st_rs_mid_free(void)
{
    free(table);
    table = NULL;
    nbuckets = 0;
}

/* ---- the table ----------------------------------------------------------- */

static struct tuple4 canon(const struct tuple4 *t)
{
    uint64_t a = (uint64_t)ntohl(t->saddr) << 16 | t->source;
    uint64_t b = (uint64_t)ntohl(t->daddr) << 16 | t->dest;
    if (a <= b)
        return *t;
    struct tuple4 r = {t->dest, t->source, t->daddr, t->saddr};
    return r;
}

/* MurmurHash3's finaliser: every input bit moves every output bit (the
 * addresses' low bits, their first octets, hardly vary). */
static mid_entry *bucket_of(const struct tuple4 *c)
{
    uint64_t h = st_rs_mix64(((uint64_t)c->saddr << 32 | c->daddr) ^ seed);
    h = st_rs_mix64(h ^ ((uint64_t)c->source << 16 | c->dest));
    return table + (size_t)(h & (nbuckets - 1)) * ST_MID_WAYS;
}

static int stale(const mid_entry *e, long now)
{
    return e->state == MID_FREE || e->last + st_rs.cfg.idle_timeout < now;
}

static mid_entry *find(const struct tuple4 *c)
{
    long now = st_rs.hdr.ts.tv_sec;
    mid_entry *b = bucket_of(c);
    for (int i = 0; i < ST_MID_WAYS; i++)
        if (!stale(&b[i], now) && st_rs_tuple_eq(&b[i].t, c))
            return &b[i];
    return NULL;
}

/* A slot for c: a free or forgotten one, else the least recently seen. */
static mid_entry *insert(const struct tuple4 *c, int state)
{
    long now = st_rs.hdr.ts.tv_sec;
    mid_entry *b = bucket_of(c), *e = &b[0];
    for (int i = 0; i < ST_MID_WAYS; i++) {
        if (stale(&b[i], now)) {
            e = &b[i];
            break;
        }
        if (b[i].last < e->last)
            e = &b[i];
    }
    e->t = *c;
    e->state = (uint8_t)state;
    e->said = e->said_by = 0;
    e->watched = 0;
    e->last = now;
    return e;
}

void st_rs_mid_block(const struct tuple4 *t)
{
    if (!table)
        return;
    struct tuple4 c = canon(t);
    mid_entry *e = find(&c);
    if (!e)
        e = insert(&c, MID_BLOCK);
    e->state = MID_BLOCK;
    e->last = st_rs.hdr.ts.tv_sec;
}

/* ---- who speaks ------------------------------------------------------------ */

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* A command verb at the start of the bytes, with what must follow it. */
static int says_command(const uint8_t *p, uint32_t n)
{
    static const char *const verbs[] = {
        "EHLO ",    "HELO ",    "LHLO ", "MAIL FROM:", "RCPT TO:",     "DATA\r\n", "BDAT ",
        "RSET\r\n", "QUIT\r\n", "NOOP",  "AUTH ",      "STARTTLS\r\n", "VRFY ",    "EXPN ",
    };
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++) {
        size_t l = strlen(verbs[i]);
        if (n >= l && strncasecmp((const char *)p, verbs[i], l) == 0)
            return 1;
    }
    return 0;
}

static int content_role(const uint8_t *p, uint32_t n)
{
    if (n >= 4 && p[0] >= '2' && p[0] <= '5' && is_digit(p[1]) && is_digit(p[2]) &&
        (p[3] == ' ' || p[3] == '-' || p[3] == '\r'))
        return ROLE_SERVER;
    return says_command(p, n) ? ROLE_CLIENT : ROLE_NONE;
}

static int smtp_port(uint16_t port)
{
    return port == 25 || port == 465 || port == 587 || port == 2525;
}

static int port_role(const struct tuple4 *t)
{
    int to = smtp_port(t->dest), from = smtp_port(t->source);
    return to == from ? ROLE_NONE : to ? ROLE_CLIENT : ROLE_SERVER;
}

static int other_role(int r)
{
    return r == ROLE_CLIENT ? ROLE_SERVER : ROLE_CLIENT;
}

/* The sender's role, or ROLE_NONE while it cannot be told: the bytes say
 * nothing and neither do the ports, or they disagree (a client on port
 * 25, or message content that looks like a reply: one side alone never
 * overrules the ports) and the other side has not said the same. */
static int decide(const st_rs_key *k, const struct tuple4 *c, mid_entry **e)
{
    int say = content_role(k->payload, k->len), h = port_role(&k->t);
    if (say && (!h || h == say))
        return say;
    if (!say) /* the ports, unless bytes already disagreed with them */
        return *e && (*e)->said ? ROLE_NONE : h;
    int by = st_rs_tuple_eq(c, &k->t) ? 1 : 2, of_source = by == 1 ? say : other_role(say);
    if (*e && (*e)->said == of_source && (*e)->said_by != by)
        return say; /* both sides agree: the bytes are right, the ports unusual */
    if (!*e)
        *e = insert(c, MID_WATCH);
    (*e)->said = (uint8_t)of_source;
    (*e)->said_by = (uint8_t)by;
    return ROLE_NONE;
}

/* ---- the handshake libnids missed ------------------------------------------ */

/* One made-up packet of t's handshake (t: client to server). A SYN gets a
 * window scale of 14, so that libnids' window check, which multiplies
 * the real packets' unscaled windows by it, never drops their data. */
static void inject(const struct tuple4 *t, int by_client, uint8_t flags, uint32_t seq, uint32_t ack)
{
    if (by_client)
        st_rs_made_up(t->saddr, t->daddr, t->source, t->dest, seq, ack, flags, flags & TH_SYN);
    else
        st_rs_made_up(t->daddr, t->saddr, t->dest, t->source, seq, ack, flags, flags & TH_SYN);
}

/* cseq, sseq: the first byte expected of the client and of the server. */
static struct tcp_stream *make_up(const struct tuple4 *t, uint32_t cseq, uint32_t sseq)
{
    if (st_rs_make_room_cheap() != 0)
        return NULL; /* the table holds dialogues only: this one waits (not followed) */
    inject(t, 1, TH_SYN, cseq - 1, 0);
    struct tcp_stream *a = nids_find_tcp_stream((struct tuple4 *)t);
    if (!a)
        return NULL;
    st_rs.mid_tcp = a; /* on_established: this one was made up */
    inject(t, 0, TH_SYN | TH_ACK, sseq - 1, cseq);
    inject(t, 1, TH_ACK, cseq, sseq);
    st_rs.mid_tcp = NULL;
    a = nids_find_tcp_stream((struct tuple4 *)t);
    return a && a->user ? a : NULL; /* else the consumer refused it (blocked) */
}

static void watch(mid_entry *e, const struct tuple4 *c, uint32_t len)
{
    if (!e)
        e = insert(c, MID_WATCH);
    e->last = st_rs.hdr.ts.tv_sec;
    e->watched += len;
    if (e->watched > ST_MID_WATCH_MAX)
        e->state = MID_BLOCK; /* said nothing SMTP for this long: not SMTP */
}

struct tcp_stream *st_rs_mid_packet(const st_rs_key *k, int *from)
{
    if (!table)
        return NULL;
    struct tuple4 c = canon(&k->t);
    mid_entry *e = find(&c);
    if (e && e->state == MID_BLOCK) {
        e->last = st_rs.hdr.ts.tv_sec;
        return NULL;
    }
    if (!st_rs.cfg.midstream || !(k->flags & TH_ACK))
        return NULL;
    int role = decide(k, &c, &e);
    if (role == ROLE_NONE) {
        watch(e, &c, k->len);
        return NULL;
    }
    if (e)
        e->state = MID_FREE;
    if (role == ROLE_CLIENT) {
        *from = ST_FROM_CLIENT;
        return make_up(&k->t, k->seq, k->ack);
    }
    struct tuple4 t = {k->t.dest, k->t.source, k->t.daddr, k->t.saddr};
    *from = ST_FROM_SERVER;
    return make_up(&t, k->ack, k->seq);
}

void st_rs_mid_opened(st_rs_stream *rs)
{
    if (!rs->tcp || rs->tcp != st_rs.mid_tcp)
        return;
    rs->midstream = 1;
    rs->st[ST_FROM_CLIENT].packets = rs->st[ST_FROM_SERVER].packets = 0; /* made up */
    st_rs.counters.midstream++;
}

int st_reasm_opening_midstream(void)
{
    return st_rs.mid_tcp != NULL;
}
