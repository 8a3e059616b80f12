/*
 * fuzz_tcp.c - whole TCP conversations built from the input, cut into
 * segments and mangled the way taps and networks do it, through the
 * library's packet path (libnids reassembly, holes, SMTP, MIME, records).
 *
 * Input: a 6-byte header, then turns.
 *   h[0] bit 0    differential mode (see below)
 *        bit 1    IPv6 (2001:db8::1 -> 2001:db8::2) instead of IPv4 (10.1.0.1 -> 10.1.0.2)
 *        bits 2-3 what was captured: 0 both sides, 1 the client's only, 2 the server's only,
 *                 3 both but the handshake's third ACK lost
 *        bits 4-5 the end: 0 FIN both ways, 1 RST from the client, 2 RST from the server,
 *                 3 none (end of input)
 *        bit 6    late segments: some segments are captured only after the peer's next
 *                 packet, whose ACK covers them (a switch merging two directions)
 *        bit 7    pure ACKs: the receiver acknowledges after each flight, and (mangled run)
 *                 within flights
 *   h[1] options: bits 0-1 ooo_limit {32768, 1024, 4096, 60000}; bits 2-3 idle_timeout
 *        {300, 1, 5, 60}; bits 4-5 {-, small stores, small MIME limits, small SMTP and record
 *        limits}; bits 6-7 {-, omit_body, body_max 16 and max_attachments 1,
 *        store_messages false and extract_iocs}
 *   h[2..3] seed of the two PRNGs (segment cuts; mangling)
 *   h[4] bits 0-3 segment size class (SEGSZ below); bits 4-7 reorder window in segments
 *        (0, 1: in order)
 *   h[5] rates, 2 bits each, of {0, 1/16, 1/4, 1/2}: bits 0-1 exact duplicates, 2-3
 *        overlapping copies with the same bytes, 4-5 overlapping copies with different bytes
 *        (placed before or after the original), 6-7 segments lost by the capture (the receiver
 *        got them: its ACKs cover them)
 * Each turn: a control byte c, a length, the bytes (SMTP text: see fuzz/dict/smtp.dict).
 *   c bit 0    direction (0 client, 1 server)
 *   c bits 1-3 time before the turn {0, 1 ms, 20 ms, 300 ms, 1.5 s, 3 s, 70 s, 400 s}; from
 *              1.5 s on, a frame of another protocol arrives just before the turn, so that
 *              the idle sweep runs (trim at 2 s, idle_timeout)
 *   c bits 4-7 segment size class of this turn (0: the header's)
 *   length     1 byte L: L < 128 is the length, else ((L & 127) << 8) + the next byte;
 *              past the end of the input: what is left
 * Consecutive turns of one direction with time 0 are one flight: the segments the sender
 * has out before the peer speaks. The mangling (reorder window, duplicates, overlaps,
 * losses, late segments) works inside a flight.
 *
 * Every input runs through the public API: smtptap_open, smtptap_feed_packet (Ethernet
 * frames), smtptap_close, with its own output directory under /dev/shm, emptied afterwards.
 *
 * Properties, every input: no sanitizer report; smtptap_close succeeds; every line of
 * sessions.jsonl is a JSON object whose client and server are the conversation's endpoints
 * and whose bytes + missing_bytes per direction do not exceed what that side sent (and equal
 * it when both FINs closed the session: every byte before them was delivered or counted
 * missing); the record callback (smtptap_on_record) saw exactly the lines of the file, each with
 * its uid.
 *
 * Differential mode (h[0] bit 0): nothing is lost and no byte differs: losses and
 * different-byte copies are off, reordering keeps the receiver's out-of-order queue under
 * ooo_limit and within its window (libnids' rmem accounting, simulated), duplicates and
 * same-byte overlaps stay. The conversation is then also run clean (the same segments, in
 * order, no copies, no ACKs within flights), and
 *  - the clean run loses nothing: a record closed by fin, rst or eof has bytes equal to what
 *    each captured side sent and missing_bytes 0;
 *  - the records of the two runs are equal, except `packets` (duplicates and ACKs add
 *    packets) and `ts_end` (the time of the last packet, which the extra packets move).
 *    Everything else, `ts_start` and the uid included, is the same packet for packet: each
 *    flight starts at the same time in both runs and fits within one second.
 * With bit 6 (late segments) the differential check shows what issue 9 ("reordering is not
 * loss") is about: a segment captured after the ACK that covers it is taken for lost.
 *
 * Exact mode (FUZZ_TCP_DIFF bit 2, inputs outside the differential mode whose copies all carry
 * the right bytes): losses may cost messages, but never silently: every message a record
 * calls complete (complete true, missing_bytes 0) is byte for byte one of the clean run's
 * (its sha256 among theirs). Issue 9 ("zero silent corruption") is what makes it hold.
 *
 * FUZZ_TCP_DIFF, a sum of bits, chooses what is asserted: 1 the differential mode without late
 * segments (the default), 2 with late segments, 4 the exact mode; 0 none of them.
 *
 * FUZZ_TCP_PCAP=prefix writes each run as prefix.pcap (mangled) and prefix-clean.pcap (clean),
 * to replay a finding with `smtptap -r` or look at it with tshark; FUZZ_TCP_PCAP=dir/ writes
 * dir/N.pcap and dir/N-clean.pcap for the Nth input, each with client port 40000 + N and its
 * packet time shifted by N days, so that they can be read together
 * (tests/integration/test_fuzz_regress.py). FUZZ_TCP_VERBOSE=1 prints the records compared.
 */
#include <ftw.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz_common.h"
#include "fuzz/fuzz_frame.h"
#include "smtptap.h"

#define T0_US      (1700000000ull * 1000000u)
#define SPAN_US    250000u /* from one flight's start to the next, before the turn's time */
#define MAX_TURNS  4096
#define MAX_FLIGHT 100000 /* segments in a flight beyond which no copies are made */
/* libnids' truesize of a queued segment: IPv4 + TCP + 16, rounded to 16, plus 16 in case its
 * dev_addon applies (an overestimate keeps the differential mode on the safe side). */
#define TS_OF(p) ((((p) + 56u + 16u + 15u) & ~15u))

static const uint32_t SEGSZ[16] = {1460, 1,   2,    3,    5,    8,    16,    64,
                                   256,  536, 1000, 1448, 2920, 8192, 16384, 32768};
static const uint64_t GAP_US[8] = {0, 1000, 20000, 300000, 1500000, 3000000, 70000000, 400000000};
static const char *const OOO[4] = {"32768", "1024", "4096", "60000"};
static const char *const IDLE[4] = {"300", "1", "5", "60"};
static const int RATE16[4] = {0, 1, 4, 8};

enum { SIDES_BOTH, SIDES_CLIENT, SIDES_SERVER, SIDES_NO_ACK };
enum { END_FIN, END_RST_C, END_RST_S, END_EOF };
enum { F_FIN = 0x01, F_SYN = 0x02, F_RST = 0x04, F_PSH = 0x08, F_ACK = 0x10 };

typedef struct turn {
    uint8_t dir, gap, cls;
    uint32_t off, len;
} turn;

typedef struct conv {
    uint8_t h[6];
    int diff, v6, sides, end, late, acks;
    turn t[MAX_TURNS];
    size_t nt;
    fz_buf s[2]; /* each direction's stream */
} conv;

typedef struct item {
    uint32_t off, len;
    uint8_t dir, conflict, late, drop;
} item;

typedef struct items {
    item *v;
    size_t n, cap;
} items;

/* The receiver's reassembly as libnids does it: the in-order edge and the
 * out-of-order queue with its memory. */
typedef struct sim {
    uint32_t exp;
    uint64_t rmem;
    items q;
} sim;

typedef struct gen {
    const conv *cv;
    int mut;               /* 0: the clean run */
    uint32_t rcut, rmut;   /* PRNGs: segment cuts (both runs alike), mangling */
    uint32_t isn[2];       /* initial sequence numbers */
    uint32_t sent[2];      /* stream offset each side has sent */
    uint32_t known[2];     /* offset of the peer's stream each side acknowledges */
    int fin[2];            /* FIN sent */
    uint64_t now;          /* packet time, microseconds */
    uint64_t ooo;          /* ooo_limit */
    items fl, order, late; /* the flight as cut, in emission order, deferred */
    int flushing;
    uint8_t *frame, *pay;
    fz_cap *cap;
    smtptap *t;
} gen;

static fz_host host;
static uint64_t t_shift; /* added to every time stamp (FUZZ_TCP_PCAP=dir/) */
static char dir[256];
static fz_buf seen; /* the records as the callback saw them, one a line */

static void push(items *l, item it)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            abort();
    }
    l->v[l->n++] = it;
}

/* 1 with probability RATE16[lvl]/16. */
static int chance(uint32_t *r, int lvl)
{
    return lvl && (int)(fz_rand(r) & 15) < RATE16[lvl];
}

/* ---- the conversation ---------------------------------------------------- */

static void parse(conv *cv, const uint8_t *d, size_t n)
{
    memset(cv->h, 0, sizeof cv->h);
    memcpy(cv->h, d, n < 6 ? n : 6);
    cv->diff = cv->h[0] & 1;
    cv->v6 = cv->h[0] >> 1 & 1;
    cv->sides = cv->h[0] >> 2 & 3;
    cv->end = cv->h[0] >> 4 & 3;
    cv->late = cv->h[0] >> 6 & 1;
    cv->acks = cv->h[0] >> 7 & 1;
    cv->nt = 0;
    cv->s[0].n = cv->s[1].n = 0;
    size_t pos = 6;
    while (pos < n && cv->nt < MAX_TURNS) {
        uint8_t c = d[pos++];
        size_t len = pos < n ? d[pos++] : 0;
        if (len & 0x80)
            len = (len & 0x7f) << 8 | (pos < n ? d[pos++] : 0);
        if (len > n - pos)
            len = n - pos;
        turn *t = &cv->t[cv->nt++];
        t->dir = c & 1;
        t->gap = c >> 1 & 7;
        t->cls = c >> 4;
        t->off = (uint32_t)cv->s[t->dir].n;
        t->len = (uint32_t)len;
        fz_put(&cv->s[t->dir], d + pos, len);
        pos += len;
    }
}

/* ---- packets ------------------------------------------------------------- */

static int captured(const gen *g, int from)
{
    return !(g->cv->sides == SIDES_CLIENT && from == 1) &&
           !(g->cv->sides == SIDES_SERVER && from == 0);
}

static void feed(gen *g, const uint8_t *f, size_t n)
{
    struct timeval ts = {(time_t)(g->now / 1000000u), (suseconds_t)(g->now % 1000000u)};
    FZ_CHECK(smtptap_feed_packet(g->t, &ts, 1 /* DLT_EN10MB */, f, n, n) == 0, "feed_packet");
    if (g->cap)
        fz_cap_packet(g->cap, &ts, f, n);
    g->now++;
}

static void emit_late(gen *g, int peer_of);

/* One TCP packet from `from`: seq at stream offset off (SYN: the ISN itself). */
static void packet(gen *g, int from, uint8_t flags, uint32_t off, const uint8_t *pl, size_t len)
{
    if (!captured(g, from)) {
        g->now++;
        return;
    }
    uint32_t seq = flags & F_SYN ? g->isn[from] : g->isn[from] + 1 + off;
    uint32_t ack = 0;
    if (flags & F_ACK)
        ack = g->isn[!from] + 1 + g->known[from] +
              (uint32_t)(g->fin[!from] && g->known[from] >= g->sent[!from]);
    size_t n = fz_frame_tcp(g->frame, &host, from, seq, ack, flags, pl, len);
    /* exact size so that ASan sees a read past the frame */
    uint8_t *f = malloc(n);
    if (!f)
        abort();
    memcpy(f, g->frame, n);
    feed(g, f, n);
    free(f);
    emit_late(g, from);
}

static void data_packet(gen *g, const item *it)
{
    const uint8_t *s = g->cv->s[it->dir].p + it->off;
    if (it->conflict) {
        for (uint32_t i = 0; i < it->len; i++)
            g->pay[i] = s[i] ^ (uint8_t)(0x80 | ((it->off + i) * 37u));
        s = g->pay;
    }
    packet(g, it->dir, F_ACK | F_PSH, it->off, s, it->len);
}

static void pure_ack(gen *g, int from)
{
    packet(g, from, F_ACK, g->sent[from] + (uint32_t)g->fin[from], NULL, 0);
}

/* Segments deferred from an earlier flight come after the first packet of
 * their peer, whose ACK covers them. */
static void emit_late(gen *g, int peer_of)
{
    if (g->flushing || !g->late.n)
        return;
    g->flushing = 1;
    size_t k = 0;
    for (size_t i = 0; i < g->late.n; i++) {
        item it = g->late.v[i];
        if (peer_of < 0 || it.dir != peer_of)
            data_packet(g, &it);
        else
            g->late.v[k++] = it;
    }
    g->late.n = k;
    g->flushing = 0;
}

/* ---- the receiver, simulated ---------------------------------------------- */

static void sim_reset(sim *s, uint32_t exp)
{
    s->exp = exp;
    s->rmem = 0;
    s->q.n = 0;
}

static void sim_arrive(sim *s, const item *it)
{
    if (it->off > s->exp) {
        push(&s->q, *it);
        s->rmem += TS_OF(it->len);
        return;
    }
    if (it->off + it->len > s->exp)
        s->exp = it->off + it->len;
    for (int moved = 1; moved;) {
        moved = 0;
        for (size_t i = 0; i < s->q.n; i++) {
            item *q = &s->q.v[i];
            if (q->off > s->exp)
                continue;
            if (q->off + q->len > s->exp)
                s->exp = q->off + q->len;
            s->rmem -= TS_OF(q->len);
            s->q.v[i--] = s->q.v[--s->q.n];
            moved = 1;
        }
    }
}

/* Arriving now keeps the queue within ooo_limit (nothing is skipped) and
 * the segment within the receiver's window. */
static int sim_fits(const sim *s, const item *it, uint64_t limit)
{
    if (it->off <= s->exp)
        return 1;
    uint64_t bound = limit - 64;
    return s->rmem + TS_OF(it->len) <= bound && (uint64_t)it->off + it->len - s->exp <= bound;
}

/* ---- flights -------------------------------------------------------------- */

static void cut(gen *g, const turn *t)
{
    uint32_t max = SEGSZ[t->cls ? t->cls : g->cv->h[4] & 15];
    for (uint32_t at = 0; at < t->len;) {
        uint32_t r = fz_rand(&g->rcut), k = r & 3 ? max : 1 + (r >> 2) % max;
        if (k > t->len - at)
            k = t->len - at;
        push(&g->fl, (item){t->off + at, k, t->dir, 0, 0, 0});
        at += k;
    }
}

/* A copy of [off, off+len) widened by up to 31 bytes each way, within [0, end). */
static item widened(gen *g, const item *it, uint32_t end, int conflict)
{
    uint32_t lo = it->off - (fz_rand(&g->rmut) & 31) % (it->off + 1);
    uint32_t hi = it->off + it->len + (fz_rand(&g->rmut) & 31);
    if (hi > end)
        hi = end;
    return (item){lo, hi - lo, it->dir, (uint8_t)conflict, 0, 0};
}

/* The mangled emission order of the flight g->fl, into g->order. */
static void mangle(gen *g, uint32_t end)
{
    const conv *cv = g->cv;
    int dup = cv->h[5] & 3, eq = cv->h[5] >> 2 & 3, conf = cv->h[5] >> 4 & 3,
        drop = cv->h[5] >> 6 & 3;
    if (cv->diff)
        conf = drop = 0;
    if (g->fl.n > MAX_FLIGHT)
        dup = eq = conf = 0;
    items l = {0};
    for (size_t i = 0; i < g->fl.n; i++) {
        item it = g->fl.v[i];
        if (chance(&g->rmut, drop))
            it.drop = 1;
        else if (cv->late && (fz_rand(&g->rmut) & 7) == 0)
            it.late = 1;
        int conf_first = 0;
        item c = it;
        if (chance(&g->rmut, conf)) {
            c = widened(g, &it, end, 1);
            conf_first = fz_rand(&g->rmut) & 1;
            if (conf_first)
                push(&l, c);
        }
        push(&l, it);
        if (c.conflict && !conf_first)
            push(&l, c);
        if (chance(&g->rmut, eq))
            push(&l, widened(g, &it, end, 0));
        if (chance(&g->rmut, dup)) {
            item d = it;
            d.drop = d.late = 0;
            push(&l, d);
        }
    }
    /* Reorder: each next segment is one of the first `win` still to go;
     * in the differential mode, one that keeps the receiver's queue within
     * bounds (the first one always does: everything before it has come). */
    size_t win = cv->h[4] >> 4;
    sim s = {0};
    sim_reset(&s, g->fl.n ? g->fl.v[0].off : 0);
    g->order.n = 0;
    while (l.n) {
        size_t pick = 0;
        if (win > 1) {
            size_t w = win < l.n ? win : l.n;
            pick = fz_rand(&g->rmut) % w;
            if (cv->diff && !l.v[pick].late && !sim_fits(&s, &l.v[pick], g->ooo))
                pick = 0;
        }
        item it = l.v[pick];
        memmove(l.v + pick, l.v + pick + 1, (l.n - pick - 1) * sizeof *l.v);
        l.n--;
        push(&g->order, it);
        if (!it.drop)
            sim_arrive(&s, &it); /* late ones too: the bound is about reordering */
    }
    free(l.v);
    free(s.q.v);
}

/* The flight of turns [t0, t1), cut into g->fl beforehand. */
static void flight(gen *g, size_t t0, size_t t1)
{
    const conv *cv = g->cv;
    int d = cv->t[t0].dir;
    uint32_t start = g->sent[d], end = cv->t[t1 - 1].off + cv->t[t1 - 1].len;
    if (g->mut) {
        mangle(g, end);
    } else {
        g->order.n = 0;
        for (size_t i = 0; i < g->fl.n; i++)
            push(&g->order, g->fl.v[i]);
    }
    sim truth = {0}; /* what the receiver really has: dropped and late ones too */
    sim_reset(&truth, start);
    items later = {0};
    for (size_t i = 0; i < g->order.n; i++) {
        item *it = &g->order.v[i];
        sim_arrive(&truth, it);
        if (it->drop)
            continue;
        if (it->late) {
            push(&later, *it);
            continue;
        }
        data_packet(g, it);
        if (g->mut && cv->acks && (fz_rand(&g->rmut) & 3) == 0) {
            uint32_t k = g->known[!d];
            g->known[!d] = truth.exp;
            pure_ack(g, !d);
            g->known[!d] = k > truth.exp ? k : truth.exp;
        }
    }
    g->sent[d] = end;
    g->known[!d] = end;
    if (cv->acks)
        pure_ack(g, !d);
    for (size_t i = 0; i < later.n; i++)
        push(&g->late, later.v[i]);
    free(later.v);
    free(truth.q.v);
}

static void noise(gen *g)
{
    uint8_t f[FZ_NOISE_LEN];
    fz_frame_noise(f);
    feed(g, f, sizeof f);
}

static void handshake(gen *g)
{
    g->now = T0_US + t_shift;
    packet(g, 0, F_SYN, 0, NULL, 0);
    g->now = T0_US + t_shift + 1000;
    packet(g, 1, F_SYN | F_ACK, 0, NULL, 0);
    g->now = T0_US + t_shift + 2000;
    if (g->cv->sides != SIDES_NO_ACK)
        packet(g, 0, F_ACK, 0, NULL, 0);
}

static void ending(gen *g)
{
    switch (g->cv->end) {
    case END_FIN:
        packet(g, 0, F_FIN | F_ACK, g->sent[0], NULL, 0);
        g->fin[0] = 1;
        pure_ack(g, 1);
        packet(g, 1, F_FIN | F_ACK, g->sent[1], NULL, 0);
        g->fin[1] = 1;
        pure_ack(g, 0);
        break;
    case END_RST_C:
    case END_RST_S: {
        int from = g->cv->end == END_RST_S;
        packet(g, from, F_RST | F_ACK, g->sent[from], NULL, 0);
        break;
    }
    default:
        break;
    }
    emit_late(g, -1);
}

/* The whole capture: handshake, flights, end. */
static void generate(gen *g)
{
    const conv *cv = g->cv;
    uint32_t seed = (uint32_t)cv->h[2] << 8 | cv->h[3];
    g->rcut = 0x9E3779B9u ^ seed * 0x01000193u;
    g->rmut = 0x85EBCA6Bu ^ seed * 0x27D4EB2Fu;
    g->isn[0] = fz_rand(&g->rcut);
    g->isn[1] = fz_rand(&g->rcut);
    if (seed & 1)
        g->isn[0] = 0xffffffffu - (seed & 0xfff); /* wraps within the stream */
    handshake(g);
    uint64_t base = T0_US + t_shift + 100000;
    for (size_t t0 = 0; t0 < cv->nt;) {
        size_t t1 = t0 + 1;
        while (t1 < cv->nt && cv->t[t1].dir == cv->t[t0].dir && cv->t[t1].gap == 0)
            t1++;
        base += GAP_US[cv->t[t0].gap];
        if (cv->t[t0].gap >= 4) {
            g->now = base - 1000;
            noise(g);
        }
        g->fl.n = 0;
        for (size_t t = t0; t < t1; t++)
            cut(g, &cv->t[t]);
        /* The same in both runs, and more than the mangled run's packets
         * (a segment and three copies, each with an ACK, and the deferred ones). The flight does
         * not straddle a second when it can help it: the idle clock counts
         * whole seconds, and both runs must agree on it. */
        uint64_t span = 9u * (g->fl.n + g->late.n) + 2000u;
        if (base % 1000000u + span > 1000000u && span < 1000000u)
            base += 1000000u - base % 1000000u;
        g->now = base;
        flight(g, t0, t1);
        base += span > SPAN_US ? span : SPAN_US;
        t0 = t1;
    }
    if (base % 1000000u + 100000u > 1000000u)
        base += 1000000u - base % 1000000u;
    g->now = base;
    ending(g);
}

/* ---- runs and records ------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_dir(void)
{
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/smtptap-fuzz-tcp.%ld", base, (long)getpid());
    atexit(rm_dir);
    host.port[0] = 40000;
    host.port[1] = 25;
}

static void set(smtptap_config *c, const char *k, const char *v)
{
    char err[256];
    FZ_CHECK(smtptap_config_set(c, k, v, err, sizeof err) == 0, "%s", err);
}

/* smtptap_on_record: every record reaches the callback as it is written. */
static void on_record(void *arg, const smtptap_record *r)
{
    size_t n = 0;
    const char *j = smtptap_record_json(r, &n);
    FZ_CHECK(j && n && j[n - 1] != '\n', "record callback: no JSON");
    const char *uid = smtptap_record_get(r, "uid");
    FZ_CHECK(uid && uid[0] == 'S', "record callback: uid %s", uid ? uid : "(null)");
    fz_put(&seen, j, n);
    fz_put(&seen, "\n", 1);
    (void)arg;
}

static smtptap_config *config(const conv *cv)
{
    smtptap_config *c = smtptap_config_new();
    FZ_CHECK(c, "config");
    uint8_t o = cv->h[1];
    set(c, "output_dir", dir);
    set(c, "max_streams", "16");
    set(c, "ooo_limit", OOO[o & 3]);
    set(c, "idle_timeout", IDLE[o >> 2 & 3]);
    switch (o >> 4 & 3) {
    case 1:
        set(c, "message_store_max", "64");
        set(c, "attachment_store_max", "16");
        break;
    case 2:
        set(c, "mime_header_bytes", "1024");
        set(c, "mime_max_headers", "3");
        set(c, "mime_max_depth", "2");
        set(c, "mime_max_parts", "3");
        break;
    case 3:
        set(c, "max_line", "512");
        set(c, "max_pending", "2");
        set(c, "max_transactions", "2");
        set(c, "max_rcpts", "1");
        set(c, "max_anomalies", "2");
        break;
    }
    switch (o >> 6) {
    case 1:
        set(c, "omit_body", "true");
        break;
    case 2:
        set(c, "body_max", "16");
        set(c, "max_attachments", "1");
        break;
    case 3:
        set(c, "store_messages", "false");
        set(c, "archive_attachments", "false");
        set(c, "extract_iocs", "true");
        break;
    }
    return c;
}

static json_int_t field_int(json_t *r, const char *obj, const char *key)
{
    json_t *v = json_object_get(json_object_get(r, obj), key);
    FZ_CHECK(json_is_integer(v), "%s.%s not an integer", obj, key);
    return json_integer_value(v);
}

static void check_endpoint(json_t *r, const char *side, int i)
{
    char want[64];
    const uint8_t *a = host.ip[i];
    if (host.v6)
        snprintf(want, sizeof want, "2001:db8::%x", a[15]);
    else
        snprintf(want, sizeof want, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    const char *ip = json_string_value(json_object_get(json_object_get(r, side), "ip"));
    FZ_CHECK(ip && !strcmp(ip, want), "%s.ip %s, want %s", side, ip ? ip : "(none)", want);
    FZ_CHECK(field_int(r, side, "port") == host.port[i], "%s.port", side);
}

/* One run: the records, each checked, normalised for the differential
 * comparison (no packets, no ts_end; keys sorted), one per line. */
/* The sha256 of each message the record calls complete (complete true,
 * missing_bytes 0), one a line, into shas. */
static void complete_messages(json_t *r, fz_buf *shas)
{
    size_t i;
    json_t *tx;
    json_array_foreach(json_object_get(r, "transactions"), i, tx)
    {
        json_t *m = json_object_get(tx, "message");
        const char *sha = json_string_value(json_object_get(m, "sha256"));
        if (sha && json_is_true(json_object_get(m, "complete")) &&
            json_integer_value(json_object_get(m, "missing_bytes")) == 0) {
            fz_put(shas, sha, strlen(sha));
            fz_put(shas, "\n", 1);
        }
    }
}

static char *run(const conv *cv, int mut, int clean_check, const char *pcap, fz_buf *shas)
{
    char err[512];
    smtptap_config *c = config(cv);
    smtptap *t = smtptap_open(c, err, sizeof err);
    FZ_CHECK(t, "smtptap_open: %s", err);
    seen.n = 0;
    smtptap_on_record(t, on_record, NULL);
    gen g;
    memset(&g, 0, sizeof g);
    g.t = t;
    g.cv = cv;
    g.mut = mut;
    g.ooo = (uint64_t)atoi(OOO[cv->h[1] & 3]);
    size_t most = cv->s[0].n > cv->s[1].n ? cv->s[0].n : cv->s[1].n;
    g.frame = malloc(fz_frame_len(1, most + 64));
    g.pay = malloc(most + 64);
    fz_cap cap = {0};
    if (pcap) {
        fz_cap_begin(&cap, 0, 1);
        g.cap = &cap;
    }
    FZ_CHECK(g.frame && g.pay, "out of memory");
    generate(&g);
    int rc = smtptap_close(t, err, sizeof err);
    FZ_CHECK(rc == 0, "smtptap_close: %s", err);
    smtptap_config_free(c);
    free(g.frame);
    free(g.pay);
    free(g.fl.v);
    free(g.order.v);
    free(g.late.v);
    if (pcap) {
        FILE *f = fopen(pcap, "wb");
        FZ_CHECK(f, "cannot write %s", pcap);
        fwrite(cap.b.p, 1, cap.b.n, f);
        fclose(f);
        fz_free(&cap.b);
    }

    char path[512];
    snprintf(path, sizeof path, "%s/sessions.jsonl", dir);
    FILE *f = fopen(path, "r");
    FZ_CHECK(f, "no %s", path);
    fz_buf out = {0}, file = {0};
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    while ((n = getline(&line, &lcap, f)) > 0) {
        fz_put(&file, line, (size_t)n);
        json_error_t e;
        json_t *r = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &e);
        FZ_CHECK(r && json_is_object(r), "bad record line: %s", e.text);
        check_endpoint(r, "client", 0);
        check_endpoint(r, "server", 1);
        static const char *const dn[2] = {"client", "server"};
        const char *close = json_string_value(json_object_get(r, "close"));
        FZ_CHECK(close, "no close");
        for (int d = 0; d < 2; d++) {
            json_int_t b = field_int(r, "bytes", dn[d]), m = field_int(r, "missing_bytes", dn[d]);
            /* a side never captured is known only from the peer's ACKs, and an ACK of its
             * FIN counts the FIN's sequence number as if it were a byte */
            size_t fin =
                (cv->sides == SIDES_CLIENT && d == 1) || (cv->sides == SIDES_SERVER && d == 0);
            FZ_CHECK(b >= 0 && m >= 0 && (uint64_t)(b + m) <= cv->s[d].n + fin,
                     "%s: bytes %lld + missing %lld > %zu sent", dn[d], (long long)b, (long long)m,
                     cv->s[d].n);
            int got = !(cv->sides == SIDES_CLIENT && d == 1);
            int whole = !json_is_true(json_object_get(r, "midstream"));
            if (clean_check && strcmp(close, "timeout") && got && whole)
                FZ_CHECK((uint64_t)b == cv->s[d].n && m == 0,
                         "clean run, close %s: %s bytes %lld missing %lld, sent %zu", close, dn[d],
                         (long long)b, (long long)m, cv->s[d].n);
            /* both FINs seen: every byte before them was delivered or counted missing
             * (by a record that saw the start: one picked up mid-stream, after an idle
             * timeout closed the first, says midstream and knows nothing before it) */
            if (!strcmp(close, "fin") && got && whole)
                FZ_CHECK((uint64_t)(b + m) == cv->s[d].n,
                         "close fin: %s bytes %lld + missing %lld, but %zu sent", dn[d],
                         (long long)b, (long long)m, cv->s[d].n);
        }
        if (shas)
            complete_messages(r, shas);
        json_object_del(r, "packets");
        json_object_del(r, "ts_end");
        char *s = json_dumps(r, JSON_SORT_KEYS | JSON_COMPACT);
        FZ_CHECK(s, "json_dumps");
        fz_put(&out, s, strlen(s));
        fz_put(&out, "\n", 1);
        free(s);
        json_decref(r);
    }
    free(line);
    fclose(f);
    FZ_CHECK(file.n == seen.n && (!file.n || !memcmp(file.p, seen.p, file.n)),
             "sessions.jsonl (%zu bytes) is not what the record callback saw (%zu bytes)", file.n,
             seen.n);
    fz_free(&file);
    rm_dir();
    fz_put(&out, "", 1);
    return (char *)out.p;
}

static conv cv;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0])
        setup();
    parse(&cv, data, size);
    host.v6 = cv.v6;
    memset(host.ip, 0, sizeof host.ip);
    if (cv.v6) {
        memcpy(host.ip[0], "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
        memcpy(host.ip[1], "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
    } else {
        memcpy(host.ip[0], "\x0a\x01\x00\x01", 4);
        memcpy(host.ip[1], "\x0a\x01\x00\x02", 4);
    }
    const char *lv = getenv("FUZZ_TCP_DIFF");
    int checks = lv && *lv ? atoi(lv) : 1;
    int assert_diff = cv.diff && (checks & (cv.late ? 2 : 1));
    int assert_exact = !cv.diff && (checks & 4) && !(cv.h[5] >> 4 & 3);
    const char *pre = getenv("FUZZ_TCP_PCAP");
    char p1[512], p2[512];
    if (pre && *pre && pre[strlen(pre) - 1] == '/') {
        /* one capture per input, to be read together: a client port and
         * a day of packet time of its own */
        static unsigned long k;
        snprintf(p1, sizeof p1, "%s%lu.pcap", pre, k);
        snprintf(p2, sizeof p2, "%s%lu-clean.pcap", pre, k);
        host.port[0] = (uint16_t)(40000 + k % 20000);
        t_shift = (uint64_t)k * 86400u * 1000000u;
        k++;
    } else if (pre) {
        snprintf(p1, sizeof p1, "%s.pcap", pre);
        snprintf(p2, sizeof p2, "%s-clean.pcap", pre);
    }
    fz_buf got = {0}, want = {0};
    char *mangled = run(&cv, 1, 0, pre ? p1 : NULL, &got);
    if (assert_exact) {
        free(run(&cv, 0, 1, pre ? p2 : NULL, &want));
        fz_put(&want, "", 1);
        for (char *l = (char *)got.p, *e; l && l < (char *)got.p + got.n; l = e + 1) {
            e = memchr(l, '\n', (size_t)((char *)got.p + got.n - l));
            *e = 0;
            FZ_CHECK(strstr((char *)want.p, l),
                     "exact: a message called complete (sha256 %s) is none of the clean "
                     "run's:\n%s",
                     l, (char *)want.p);
        }
    }
    fz_free(&got);
    fz_free(&want);
    if (assert_diff) {
        char *clean = run(&cv, 0, 1, pre ? p2 : NULL, NULL);
        if (getenv("FUZZ_TCP_VERBOSE"))
            fprintf(stderr, "clean:\n%smangled:\n%s", clean, mangled);
        /* A conversation silent past idle_timeout is closed and its next packet
         * picked up mid-stream; a duplicate or a reordering moves which packet
         * that is, so such runs (their records say midstream) are not compared. */
        int picked = strstr(clean, "\"midstream\":true") || strstr(mangled, "\"midstream\":true");
        FZ_CHECK(picked || !strcmp(clean, mangled),
                 "differential: the records differ from the clean run's\nclean:\n%smangled:\n%s",
                 clean, mangled);
        free(clean);
    } else if (getenv("FUZZ_TCP_VERBOSE")) {
        fprintf(stderr, "records:\n%s", mangled);
    }
    free(mangled);
    return 0;
}
