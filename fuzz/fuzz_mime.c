/*
 * fuzz_mime.c - the streaming MIME parser, split at input-chosen points.
 *
 * Input: byte 0 chooses the split (0: whole, 1: byte by byte, else pieces
 * of PRNG-chosen sizes up to a bound that grows with the byte), byte 1
 * bit 0 asks for gaps (some pieces are dropped and reported with
 * st_mime_gap instead), the rest is the message.
 *
 * Properties: no sanitizer report; without gaps the events equal those of
 * a whole-input run (DATA concatenated per part, see fuzz_mime_ser.h); st_mime_memory stays under
 * FZ_MIME_MEM_MAX after every call.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_common.h"
#include "fuzz/fuzz_mime_ser.h"
#include "mime/mime.h"

/* Default limits: one 64 KiB header block, a 1000-byte line per level,
 * frames for at most 101 open parts; far less than this in practice. */
#define FZ_MIME_MEM_MAX (1024u * 1024u)

static size_t mem_peak;

static void on_event(void *ctx, const st_mime_event *e)
{
    mime_ser_event(ctx, e);
}

static void check_mem(const st_mime *p)
{
    size_t m = st_mime_memory(p);
    if (m > mem_peak) {
        mem_peak = m;
        if (getenv("FZ_VERBOSE"))
            fprintf(stderr, "mime memory peak %zu\n", m);
    }
    FZ_CHECK(m <= FZ_MIME_MEM_MAX, "st_mime_memory %zu > %u", m, FZ_MIME_MEM_MAX);
}

static void run(const uint8_t *msg, size_t n, uint8_t split, uint8_t gaps, mime_ser *s)
{
    st_mime *p = st_mime_new(NULL, on_event, s);
    if (!p)
        abort();
    uint32_t seed = (uint32_t)split * 2654435761u ^ gaps;
    size_t maxpiece = 1 + (size_t)(split >> 1) * (split >> 1);
    size_t at = 0;
    while (at < n) {
        size_t k = split == 0 ? n - at : split == 1 ? 1 : 1 + fz_rand(&seed) % maxpiece;
        if (k > n - at)
            k = n - at;
        if ((gaps & 1) && fz_rand(&seed) % 8 == 0) {
            st_mime_gap(p, k);
        } else {
            uint8_t *c = malloc(k);
            if (!c)
                abort();
            memcpy(c, msg + at, k);
            st_mime_feed(p, c, k);
            free(c);
        }
        check_mem(p);
        at += k;
    }
    st_mime_finish(p);
    check_mem(p);
    st_mime_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t split = data[0], gaps = data[1];
    const uint8_t *msg = data + 2;
    size_t n = size - 2;
    mime_ser a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    run(msg, n, split, gaps, &a);
    if (!(gaps & 1) && split != 0) {
        run(msg, n, 0, 0, &b);
        if (a.ev.n != b.ev.n || (a.ev.n && memcmp(a.ev.p, b.ev.p, a.ev.n) != 0)) {
            size_t i = 0;
            while (i < a.ev.n && i < b.ev.n && a.ev.p[i] == b.ev.p[i])
                i++;
            FZ_CHECK(0, "split run differs from whole run: %zu vs %zu bytes, first at %zu", a.ev.n,
                     b.ev.n, i);
        }
    }
    mime_ser_free(&a);
    mime_ser_free(&b);
    return 0;
}
