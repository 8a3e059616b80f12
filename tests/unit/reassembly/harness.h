/*
 * harness.h - what the reassembly tests share (included by each
 * tests/unit/reassembly/test_*.c; not a test itself).
 *
 * A mock st_reasm_ops consumer that records every callback, and a tiny TCP
 * peer that builds Ethernet + IPv4 + TCP frames and feeds them through
 * st_reasm_packet() with a packet clock that only moves forward.
 *
 * The truth every test compares against is written here, not read back
 * from the layer: each direction of a connection sends the bytes of a
 * fixed pattern (pat(from, off) is byte `off` of that direction's stream),
 * so what the consumer must receive is a slice of the pattern and a gap is
 * a range of it the test chose not to send.
 *
 * The mock never asserts inside a callback (a longjmp out of libnids would
 * leave its state half-updated for the next test); it writes what it saw
 * into mock.log, one line per event, and any contract violation into
 * mock.err, and the test asserts on both afterwards. Adjacent data events
 * of one stream and direction are merged into one log line, as how libnids
 * chunks delivery is not what these tests are about; the bytes themselves
 * are kept whole per direction.
 *
 * libnids is global state: each test starts the reassembler (start()) and
 * its teardown shuts it down, many times in one process. No leak is
 * suppressed: libnids 1.26's nids_init() forgets the callback node that
 * nids_register_tcp() allocated, and st_reasm_shutdown() unregisters it
 * first, so an init/shutdown cycle leaking anything fails the run.
 * libnids is built without frame pointers, so allocation stacks are taken
 * with the slow unwinder (the tests are small; it costs milliseconds).
 */
#ifndef ST_TESTS_REASSEMBLY_HARNESS_H
#define ST_TESTS_REASSEMBLY_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "capture/source.h"
#include "reassembly/reasm.h"
#include "reassembly/stream.h"

#define UNUSED_OK __attribute__((unused))

/* Full stacks for LeakSanitizer: libnids has no frame pointers. Read by
 * the sanitizers at start-up; ASAN_OPTIONS from the environment still
 * wins flag by flag. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

/* ---- the mock consumer --------------------------------------------------- */

#define MAX_STREAMS 64
#define MAX_GAPS    16

typedef struct mstream {
    int id;
    st_endpoint cli, srv;
    uint8_t *bytes[2]; /* everything delivered, per direction */
    size_t len[2], cap[2];
    uint64_t gap[2][MAX_GAPS]; /* gap lengths in order, per direction */
    int ngap[2];
    int idles;
    int closed;
    st_close_reason why;
    st_half_stats stats[2];
    long drop_at[2]; /* return 0 from data once len[from] >= drop_at (0: never) */
    int dropped;
} mstream;

typedef struct mock {
    mstream s[MAX_STREAMS];
    int n;
    int refuse;      /* open returns NULL */
    char log[16384]; /* one line per event */
    size_t loglen;
    int last_data; /* stream*2+from of the previous event when it was data, else -1 */
    size_t last_data_at, last_data_len;
    char err[2048];
} mock;

static mock M;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(M.log + M.loglen, sizeof M.log - M.loglen, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof M.log - M.loglen)
        M.loglen += (size_t)n;
    M.last_data = -1;
}

static void errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errf(const char *fmt, ...)
{
    size_t l = strlen(M.err);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(M.err + l, sizeof M.err - l, fmt, ap);
    va_end(ap);
}

static const char *reason_name(st_close_reason why)
{
    switch (why) {
    case ST_CLOSE_FIN:
        return "fin";
    case ST_CLOSE_RST:
        return "rst";
    case ST_CLOSE_TIMEOUT:
        return "timeout";
    case ST_CLOSE_EOF:
        return "eof";
    case ST_CLOSE_EVICTED:
        return "evicted";
    }
    return "?";
}

/* The stream pointer handed back by the layer must be one open() returned
 * and not closed or dropped since. */
static mstream *live(void *stream, const char *what)
{
    mstream *s = stream;
    if (s < M.s || s >= M.s + M.n) {
        errf("%s: unknown stream %p\n", what, stream);
        return NULL;
    }
    if (s->closed || s->dropped) {
        errf("%s: stream %d after its end\n", what, s->id);
        return NULL;
    }
    return s;
}

static void *m_open(void *app, const st_endpoint *cli, const st_endpoint *srv,
                    const struct timeval *ts)
{
    if (app != &M)
        errf("open: app %p\n", app);
    if (M.refuse) {
        logf_("refused\n");
        return NULL;
    }
    if (M.n == MAX_STREAMS) {
        errf("open: too many streams\n");
        return NULL;
    }
    mstream *s = &M.s[M.n];
    memset(s, 0, sizeof *s);
    s->id = M.n++;
    s->cli = *cli;
    s->srv = *srv;
    logf_("open %d\n", s->id);
    return s;
}

static int m_data(void *app, void *stream, int from, const uint8_t *data, size_t len,
                  const struct timeval *ts)
{
    mstream *s = live(stream, "data");
    if (!s)
        return 1;
    if (from != ST_FROM_CLIENT && from != ST_FROM_SERVER) {
        errf("data: from %d\n", from);
        return 1;
    }
    if (len == 0)
        errf("data: empty delivery on stream %d\n", s->id);
    if (s->len[from] + len > s->cap[from]) {
        size_t cap = s->cap[from] ? s->cap[from] : 256;
        while (cap < s->len[from] + len)
            cap *= 2;
        s->bytes[from] = realloc(s->bytes[from], cap);
        s->cap[from] = cap;
    }
    memcpy(s->bytes[from] + s->len[from], data, len);
    s->len[from] += len;
    int key = s->id * 2 + from;
    if (M.last_data == key) { /* merge: rewrite the previous line */
        M.loglen = M.last_data_at;
        M.last_data_len += len;
    } else {
        M.last_data_at = M.loglen;
        M.last_data_len = len;
    }
    logf_("data %d %c %zu\n", s->id, from ? 's' : 'c', M.last_data_len);
    M.last_data = key;
    if (s->drop_at[from] && (long)s->len[from] >= s->drop_at[from]) {
        s->dropped = 1;
        logf_("drop %d\n", s->id);
        return 0;
    }
    return 1;
}

static void m_gap(void *app, void *stream, int from, uint64_t len)
{
    mstream *s = live(stream, "gap");
    if (!s)
        return;
    if (len == 0)
        errf("gap: zero length on stream %d\n", s->id);
    if (s->ngap[from] < MAX_GAPS)
        s->gap[from][s->ngap[from]++] = len;
    logf_("gap %d %c %llu\n", s->id, from ? 's' : 'c', (unsigned long long)len);
}

static void m_idle(void *app, void *stream)
{
    mstream *s = live(stream, "idle");
    if (!s)
        return;
    s->idles++;
    logf_("idle %d\n", s->id);
}

static void m_close(void *app, void *stream, st_close_reason why, const st_half_stats stats[2],
                    const struct timeval *ts)
{
    mstream *s = live(stream, "close");
    if (!s)
        return;
    s->closed = 1;
    s->why = why;
    s->stats[0] = stats[0];
    s->stats[1] = stats[1];
    logf_("close %d %s\n", s->id, reason_name(why));
    for (int d = 0; d < 2; d++) {
        if (stats[d].bytes != s->len[d])
            errf("close %d: stats[%d].bytes %llu, delivered %zu\n", s->id, d,
                 (unsigned long long)stats[d].bytes, s->len[d]);
        uint64_t g = 0;
        for (int i = 0; i < s->ngap[d]; i++)
            g += s->gap[d][i];
        if (stats[d].missing != g)
            errf("close %d: stats[%d].missing %llu, gaps said %llu\n", s->id, d,
                 (unsigned long long)stats[d].missing, (unsigned long long)g);
    }
}

static const st_reasm_ops mock_ops = {m_open, m_data, m_gap, m_idle, m_close};

static void mock_reset(void)
{
    for (int i = 0; i < M.n; i++)
        for (int d = 0; d < 2; d++)
            free(M.s[i].bytes[d]);
    memset(&M, 0, sizeof M);
    M.last_data = -1;
}

/* ---- the packet clock and the reassembler's life ------------------------- */

static struct timeval now;       /* timestamp of the next packet */
static uint64_t sent_frames;     /* frames given to st_reasm_packet since start() */
static uint64_t sent_bytes;      /* and their bytes */
static int running;              /* st_reasm_init succeeded, no shutdown yet */
static st_reasm_counters before; /* counters at start(): the layer never resets them */

#define T0 1700000000L /* seconds; every test's first packet */

/* Start the reassembler with cfg (NULL: defaults) and a fresh mock. */
UNUSED_OK static void start(const st_reasm_config *cfg)
{
    st_reasm_config d;
    char err[256] = "";
    if (!cfg)
        st_reasm_config_default(&d);
    else
        d = *cfg;
    d.close_delay = 0; /* closes are seen at once (linger.c has its own tests) */
    cfg = &d;
    mock_reset();
    sent_frames = sent_bytes = 0;
    now.tv_sec = T0;
    now.tv_usec = 0;
    assert_int_equal(st_reasm_init(cfg, &mock_ops, &M, err, sizeof err), 0);
    running = 1;
    before = *st_reasm_get_counters();
}

UNUSED_OK static int stop(void **state)
{
    (void)state;
    if (running)
        st_reasm_shutdown();
    running = 0;
    mock_reset();
    return 0;
}

/* Counters since start(). */
UNUSED_OK static st_reasm_counters counters(void)
{
    st_reasm_counters c = *st_reasm_get_counters();
    uint64_t *p = (uint64_t *)&c;
    const uint64_t *b = (const uint64_t *)&before;
    for (size_t i = 0; i < sizeof c / sizeof *p; i++)
        p[i] -= b[i];
    return c;
}

UNUSED_OK static void advance_ms(long ms)
{
    long us = now.tv_usec + ms * 1000;
    now.tv_sec += us / 1000000;
    now.tv_usec = us % 1000000;
}

/* The packet clock jumps to T0 + sec (never back). */
UNUSED_OK static void at(long sec)
{
    assert_true(T0 + sec >= now.tv_sec);
    now.tv_sec = T0 + sec;
    now.tv_usec = 0;
}

UNUSED_OK static void tick(long sec)
{
    at(sec);
    st_reasm_tick(&now);
}

/* ---- the TCP peer ---------------------------------------------------------- */

enum { C = ST_FROM_CLIENT, S = ST_FROM_SERVER };
enum { F_FIN = 0x01, F_SYN = 0x02, F_RST = 0x04, F_PSH = 0x08, F_ACK = 0x10 };

typedef struct conn {
    int v6;           /* IPv6 frames (addresses in ip6) instead of IPv4 */
    uint8_t ip[2][4]; /* [C] client, [S] server */
    uint8_t ip6[2][16];
    uint16_t port[2];  /* host order */
    uint32_t isn[2];   /* initial sequence numbers */
    uint32_t next[2];  /* next stream offset each side will send */
    uint32_t acked[2]; /* stream offset of the peer's data each side acknowledges */
    int fin[2];        /* a FIN was sent: it takes one sequence number */
} conn;

/* Byte `off` of direction `from`: printable, and shifting it by a few
 * bytes changes it. */
UNUSED_OK static uint8_t pat(int from, uint32_t off)
{
    static const char a[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    return (uint8_t)a[(off * 7 + (uint32_t)from * 11 + off / 36) % 36];
}

/* Pattern bytes [off, off+len) of direction from, into a fresh buffer. */
UNUSED_OK static uint8_t *pat_copy(int from, uint32_t off, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = pat(from, off + (uint32_t)i);
    return b;
}

/* Client 10.0.0.1:port -> server 10.0.0.2:25; distinct ports give distinct
 * connections. */
UNUSED_OK static conn conn_new(uint16_t cport)
{
    conn c;
    memset(&c, 0, sizeof c);
    memcpy(c.ip[C], "\x0a\x00\x00\x01", 4);
    memcpy(c.ip[S], "\x0a\x00\x00\x02", 4);
    c.port[C] = cport;
    c.port[S] = 25;
    c.isn[C] = 0xfffff000u + cport; /* near the wrap: sequence arithmetic must hold */
    c.isn[S] = 0x40000000u + cport;
    return c;
}

/* The same over IPv6: client 2001:db8::1, server 2001:db8::2. */
UNUSED_OK static conn conn_new6(uint16_t cport)
{
    conn c = conn_new(cport);
    c.v6 = 1;
    memcpy(c.ip6[C], "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    memcpy(c.ip6[S], "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
    return c;
}

/* Sequence number of stream offset off of direction from (ISN+1 is byte 0). */
UNUSED_OK static uint32_t seq_of(const conn *c, int from, uint32_t off)
{
    return c->isn[from] + 1 + off;
}

/* One frame: Ethernet, IPv4 (no options) or IPv6, TCP (no options),
 * payload. Checksums are zero: the layer tells libnids not to verify
 * them. */
UNUSED_OK static void send_raw(const conn *c, int from, uint8_t flags, uint32_t seq, uint32_t ack,
                               const uint8_t *payload, size_t len)
{
    static uint16_t ipid;
    size_t iphl = c->v6 ? 40 : 20, tcplen = 20 + len, iplen = iphl + tcplen;
    uint8_t *f = calloc(1, 14 + iplen); /* exact size: ASan sees reads past it */
    assert_non_null(f);
    memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
    uint8_t *ip = f + 14, *th = ip + iphl;
    if (c->v6) {
        f[12] = 0x86;
        f[13] = 0xdd;
        ip[0] = 0x60;
        ip[4] = (uint8_t)(tcplen >> 8);
        ip[5] = (uint8_t)tcplen;
        ip[6] = IPPROTO_TCP;
        ip[7] = 64;
        memcpy(ip + 8, c->ip6[from], 16);
        memcpy(ip + 24, c->ip6[!from], 16);
    } else {
        f[12] = 0x08;
        ip[0] = 0x45;
        ip[2] = (uint8_t)(iplen >> 8);
        ip[3] = (uint8_t)iplen;
        ipid++;
        ip[4] = (uint8_t)(ipid >> 8);
        ip[5] = (uint8_t)ipid;
        ip[6] = 0x40; /* DF */
        ip[8] = 64;
        ip[9] = IPPROTO_TCP;
        memcpy(ip + 12, c->ip[from], 4);
        memcpy(ip + 16, c->ip[!from], 4);
    }
    uint16_t sp = htons(c->port[from]), dp = htons(c->port[!from]);
    uint32_t sq = htonl(seq), ak = htonl(ack);
    memcpy(th, &sp, 2);
    memcpy(th + 2, &dp, 2);
    memcpy(th + 4, &sq, 4);
    memcpy(th + 8, &ak, 4);
    th[12] = 5 << 4;
    th[13] = flags;
    th[14] = th[15] = 0xff; /* window 65535, no scaling */
    if (len)
        memcpy(th + 20, payload, len);
    st_packet p = {now, f, (uint32_t)(14 + iplen), (uint32_t)(14 + iplen)};
    st_reasm_packet(&p, 1 /* DLT_EN10MB */);
    sent_frames++;
    sent_bytes += p.caplen;
    free(f);
    advance_ms(1);
}

/* What `from` acknowledges now: acked[from] bytes of the peer's stream,
 * and its FIN once all of them. */
UNUSED_OK static uint32_t ack_of(const conn *c, int from)
{
    int fin_too = c->fin[!from] && c->acked[from] >= c->next[!from];
    return seq_of(c, !from, c->acked[from]) + (uint32_t)fin_too;
}

/* SYN, SYN-ACK, ACK. */
UNUSED_OK static void handshake(conn *c)
{
    send_raw(c, C, F_SYN, c->isn[C], 0, NULL, 0);
    send_raw(c, S, F_SYN | F_ACK, c->isn[S], c->isn[C] + 1, NULL, 0);
    send_raw(c, C, F_ACK, c->isn[C] + 1, c->isn[S] + 1, NULL, 0);
}

/* A capture of the client's side only: SYN and ACK, no SYN-ACK. */
UNUSED_OK static void handshake_client_only(conn *c)
{
    send_raw(c, C, F_SYN, c->isn[C], 0, NULL, 0);
    send_raw(c, C, F_ACK, c->isn[C] + 1, c->isn[S] + 1, NULL, 0);
}

/* Pattern bytes [off, off+len) of direction from, in one segment, without
 * touching what the peer has acknowledged. */
UNUSED_OK static void seg(conn *c, int from, uint32_t off, size_t len)
{
    uint8_t *b = pat_copy(from, off, len);
    send_raw(c, from, F_ACK | F_PSH, seq_of(c, from, off), ack_of(c, from), b, len);
    free(b);
    if (off + len > c->next[from])
        c->next[from] = off + (uint32_t)len;
}

/* The next len bytes of direction from, in order; the peer then has them. */
UNUSED_OK static void say(conn *c, int from, size_t len)
{
    seg(c, from, c->next[from], len);
}

/* `from` sends a pure ACK up to offset off of the peer's stream. */
UNUSED_OK static void ack_to(conn *c, int from, uint32_t off)
{
    c->acked[from] = off;
    send_raw(c, from, F_ACK, seq_of(c, from, c->next[from]) + (uint32_t)c->fin[from],
             ack_of(c, from), NULL, 0);
}

/* The reordering window passes (reassembly/reorder.c): `from` repeats its
 * acknowledgement hole_grace of packet time later, and a hole that it
 * covers is then known to be lost, not late. */
UNUSED_OK static void reorder_window_passes(conn *c, int from)
{
    advance_ms(st_rs.cfg.hole_grace);
    ack_to(c, from, c->acked[from]);
}

/* `from` acknowledges everything the peer has sent (including its FIN). */
UNUSED_OK static void ack_all(conn *c, int from)
{
    ack_to(c, from, c->next[!from]);
}

UNUSED_OK static void fin(conn *c, int from)
{
    send_raw(c, from, F_FIN | F_ACK, seq_of(c, from, c->next[from]), ack_of(c, from), NULL, 0);
    c->fin[from] = 1;
}

UNUSED_OK static void rst(conn *c, int from)
{
    send_raw(c, from, F_RST | F_ACK, seq_of(c, from, c->next[from]) + (uint32_t)c->fin[from],
             ack_of(c, from), NULL, 0);
}

/* FIN from the client, ACK, FIN from the server, ACK: libnids' NIDS_CLOSE
 * comes on the last ACK. */
UNUSED_OK static void close_fin(conn *c)
{
    fin(c, C);
    ack_all(c, S);
    fin(c, S);
    ack_all(c, C);
}

/* ---- assertions -------------------------------------------------------- */

#define assert_log(expect)                                                                         \
    do {                                                                                           \
        assert_string_equal(M.err, "");                                                            \
        assert_string_equal(M.log, (expect));                                                      \
    } while (0)

/* The log ends with tail (and nothing went wrong). */
UNUSED_OK static void assert_log_tail(const char *tail)
{
    size_t n = strlen(tail);
    assert_string_equal(M.err, "");
    if (M.loglen < n || strcmp(M.log + M.loglen - n, tail) != 0)
        fail_msg("log does not end with:\n%s--- log:\n%s", tail, M.log);
}

/* Stream s received exactly pattern bytes [off, off+len) of from, after
 * `at` bytes already checked. */
UNUSED_OK static void assert_bytes(const mstream *s, int from, size_t at, uint32_t off, size_t len)
{
    assert_true(s->len[from] >= at + len);
    if (len == 0)
        return;
    uint8_t *want = pat_copy(from, off, len);
    if (memcmp(s->bytes[from] + at, want, len) != 0) {
        size_t i = 0;
        while (s->bytes[from][at + i] == want[i])
            i++;
        free(want);
        fail_msg("stream %d dir %c: byte %zu (pattern offset %u) is '%c', want '%c'", s->id,
                 from ? 's' : 'c', at + i, off + (unsigned)i, s->bytes[from][at + i],
                 pat(from, off + (uint32_t)i));
    }
    free(want);
}

/* Stream s received exactly [0, len) of from, nothing more. */
UNUSED_OK static void assert_whole(const mstream *s, int from, size_t len)
{
    assert_int_equal(s->len[from], len);
    assert_bytes(s, from, 0, 0, len);
}

UNUSED_OK static void assert_stats(const mstream *s, int from, uint64_t bytes, uint64_t packets,
                                   uint64_t missing)
{
    assert_true(s->closed);
    assert_int_equal(s->stats[from].bytes, bytes);
    assert_int_equal(s->stats[from].packets, packets);
    assert_int_equal(s->stats[from].missing, missing);
}

#endif
