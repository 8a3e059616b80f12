/*
 * fuzz_tunnel.c - proxy preamble stripping with input-chosen turns.
 *
 * Input: a sequence of turns, each a control byte c (bit 0: direction,
 * bits 1-7: length 0..127; 127 means the rest of the input) and the bytes.
 * Each turn is fed as one segment.
 *
 * Properties, per direction: what comes out is, in order, exactly the
 * bytes fed minus a prefix (never invented, reordered or duplicated):
 * once the direction is decided (done[dir]) the output equals a suffix of
 * the input; while undecided nothing has come out and the held bytes are
 * the input itself; held bytes never exceed ST_TUNNEL_HOLD and the
 * stripped prefix is never longer than that either.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/tunnel.h"
#include "fuzz/fuzz_common.h"

typedef struct sides {
    fz_buf in[2], out[2];
} sides;

static void on_out(void *ctx, int dir, const uint8_t *d, size_t n)
{
    sides *s = ctx;
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    FZ_CHECK(n > 0, "empty output");
    fz_put(&s->out[dir], d, n);
}

static void check(const st_tunnel *t, const sides *s)
{
    for (int d = 0; d < 2; d++) {
        const fz_buf *in = &s->in[d], *out = &s->out[d];
        FZ_CHECK(out->n <= in->n, "dir %d: %zu out of %zu in", d, out->n, in->n);
        FZ_CHECK(t->held[d] <= ST_TUNNEL_HOLD, "dir %d holds %zu", d, t->held[d]);
        if (t->done[d]) {
            FZ_CHECK(t->held[d] == 0, "dir %d done but holds %zu", d, t->held[d]);
            FZ_CHECK(in->n - out->n <= ST_TUNNEL_HOLD, "dir %d: prefix %zu stripped", d,
                     in->n - out->n);
            FZ_CHECK(out->n == 0 || !memcmp(out->p, in->p + (in->n - out->n), out->n),
                     "dir %d: output is not a suffix of the input", d);
        } else {
            FZ_CHECK(out->n == 0, "dir %d undecided but passed %zu bytes", d, out->n);
            FZ_CHECK(t->held[d] == in->n, "dir %d holds %zu of %zu", d, t->held[d], in->n);
            FZ_CHECK(in->n == 0 || !memcmp(t->buf[d], in->p, in->n), "dir %d held bytes differ", d);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_tunnel t;
    memset(&t, 0, sizeof t);
    sides s;
    memset(&s, 0, sizeof s);
    size_t pos = 0;
    while (pos < size) {
        uint8_t c = data[pos++];
        int dir = c & 1;
        size_t len = c >> 1;
        if (len == 127 || len > size - pos)
            len = size - pos;
        uint8_t *seg = malloc(len ? len : 1);
        if (!seg)
            abort();
        memcpy(seg, data + pos, len);
        fz_put(&s.in[dir], seg, len);
        st_tunnel_feed(&t, dir, seg, len, on_out, &s);
        free(seg);
        pos += len;
        check(&t, &s);
    }
    (void)st_tunnel_name(&t);
    st_tunnel_free(&t);
    for (int d = 0; d < 2; d++) {
        fz_free(&s.in[d]);
        fz_free(&s.out[d]);
    }
    return 0;
}
