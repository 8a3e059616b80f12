/*
 * fuzz_smtp.c - the SMTP dialogue parser driven by a script.
 *
 * Input: a sequence of operations, each opened by a control byte c:
 *   c & 3 == 0   client data,  then a length (1 byte; 250..255 add a second)
 *   c & 3 == 1   server data,  same
 *   c & 3 == 2   gap: direction (c >> 4) & 1, length (next byte + 1) times
 *                {1, 97, 65536, 2^32}[(c >> 2) & 3]
 *   c & 3 == 3   the rest of the input to direction (c >> 2) & 1
 * For data, (c >> 2) & 15 (or c >> 3 for "rest") chooses how many pieces the
 * turn is fed in; the split points come from a PRNG seeded with c and the
 * position. A length past the end takes what is left.
 *
 * Properties:
 *  - no sanitizer report, strings of events are NUL-terminated;
 *  - split invariance: the same script fed with every data turn in one
 *    piece gives the same events (MSG_DATA coalesced, as only the
 *    concatenation is defined);
 *  - st_smtp_memory stays under FZ_SMTP_MEM_MAX while feeding, and after
 *    st_smtp_finish is no more than a fresh parser's.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_common.h"
#include "smtp/smtp.h"

#define FZ_SMTP_MEM_MAX (200u * 1024u)

typedef struct run {
    fz_buf ev;
    int in_data;        /* last serialised event was MSG_DATA: the next one appends */
    size_t data_len_at; /* where the length of that MSG_DATA run is kept */
} run;

static void on_event(void *ctx, const st_smtp_event *e)
{
    run *r = ctx;
    if (e->type == ST_SMTP_EV_MSG_DATA) {
        FZ_CHECK(e->len == 0 || e->data, "MSG_DATA without data");
        if (!r->in_data) {
            fz_u64(&r->ev, (uint64_t)e->type);
            r->data_len_at = r->ev.n;
            fz_u64(&r->ev, 0);
            r->in_data = 1;
        }
        uint64_t n;
        memcpy(&n, r->ev.p + r->data_len_at, sizeof n);
        n += e->len;
        memcpy(r->ev.p + r->data_len_at, &n, sizeof n);
        fz_put(&r->ev, e->data, e->len);
        return;
    }
    r->in_data = 0;
    fz_u64(&r->ev, (uint64_t)e->type);
    fz_str(&r->ev, e->verb);
    fz_str(&r->ev, e->arg);
    fz_str(&r->ev, e->params);
    fz_str(&r->ev, e->user);
    fz_u64(&r->ev, (uint64_t)(int64_t)e->reply.code);
    fz_str(&r->ev, e->reply.text);
    fz_u64(&r->ev, (uint64_t)(int64_t)e->flag);
    fz_u64(&r->ev, (uint64_t)e->status);
    fz_u64(&r->ev, e->n_ext);
    for (size_t i = 0; i < e->n_ext; i++)
        fz_str(&r->ev, e->ext[i]);
    if (e->type == ST_SMTP_EV_MSG_GAP)
        fz_u64(&r->ev, e->gap);
    FZ_CHECK(e->reply.code >= 0 && e->reply.code <= 999, "reply code %d", e->reply.code);
}

static size_t fresh_memory;

/* Feed one data turn in `pieces` parts (1: whole). The copy is exact-size so
 * that ASan sees a read past the segment. */
static void feed(st_smtp *p, st_dir dir, const uint8_t *d, size_t n, unsigned pieces, uint32_t seed)
{
    size_t at = 0;
    while (at < n) {
        size_t k = n - at;
        if (pieces > 1) {
            k = 1 + fz_rand(&seed) % k;
            if (pieces > 8) /* many pieces: mostly tiny ones */
                k = 1 + fz_rand(&seed) % (k < 4 ? k : 4);
            pieces--;
        }
        uint8_t *c = malloc(k);
        if (!c)
            abort();
        memcpy(c, d + at, k);
        st_smtp_feed(p, dir, c, k);
        free(c);
        at += k;
        size_t m = st_smtp_memory(p);
        FZ_CHECK(m <= FZ_SMTP_MEM_MAX, "st_smtp_memory %zu > %u", m, FZ_SMTP_MEM_MAX);
    }
}

static void play(const uint8_t *in, size_t size, int split, run *r)
{
    st_smtp_limits lim;
    st_smtp_limits_default(&lim);
    st_smtp *p = st_smtp_new(&lim, on_event, r);
    if (!p)
        abort();
    size_t pos = 0;
    while (pos < size) {
        uint8_t c = in[pos++];
        unsigned op = c & 3;
        if (op == 2) {
            static const uint64_t mult[4] = {1, 97, 65536, 1ull << 32};
            uint64_t g = (uint64_t)(pos < size ? in[pos++] : 0) + 1;
            st_smtp_gap(p, (st_dir)((c >> 4) & 1), g * mult[(c >> 2) & 3]);
            continue;
        }
        st_dir dir;
        size_t len;
        unsigned pieces;
        if (op == 3) {
            dir = (st_dir)((c >> 2) & 1);
            len = size - pos;
            pieces = c >> 3;
        } else {
            dir = (st_dir)op;
            pieces = (c >> 2) & 15;
            len = pos < size ? in[pos++] : 0;
            if (len >= 250 && pos < size)
                len = (len - 250) * 256 + in[pos++] + 250;
            if (len > size - pos)
                len = size - pos;
        }
        feed(p, dir, in + pos, len, split ? pieces + 1 : 1, (uint32_t)c << 24 ^ (uint32_t)pos);
        pos += len;
        (void)st_smtp_detected(p);
        (void)st_smtp_wants_data(p);
    }
    st_smtp_finish(p);
    size_t m = st_smtp_memory(p);
    FZ_CHECK(m <= fresh_memory, "after finish %zu > fresh %zu", m, fresh_memory);
    st_smtp_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fresh_memory) {
        st_smtp_limits lim;
        st_smtp_limits_default(&lim);
        st_smtp *p = st_smtp_new(&lim, on_event, NULL);
        fresh_memory = st_smtp_memory(p);
        st_smtp_free(p);
    }
    run a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    play(data, size, 1, &a);
    play(data, size, 0, &b);
    if (a.ev.n != b.ev.n || (a.ev.n && memcmp(a.ev.p, b.ev.p, a.ev.n) != 0)) {
        size_t i = 0;
        while (i < a.ev.n && i < b.ev.n && a.ev.p[i] == b.ev.p[i])
            i++;
        FZ_CHECK(0, "split run differs from whole run: %zu vs %zu bytes, first at %zu", a.ev.n,
                 b.ev.n, i);
    }
    fz_free(&a.ev);
    fz_free(&b.ev);
    return 0;
}
