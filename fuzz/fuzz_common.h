/*
 * fuzz_common.h - helpers shared by the libFuzzer targets (header only).
 *
 * A growable byte buffer for serialising parser events (so that two runs
 * over differently split input can be compared byte for byte), a strict
 * UTF-8 validator independent of the library's own, and a tiny PRNG for
 * input-chosen split points. A violated property aborts through
 * FZ_CHECK, which libFuzzer records as a crash with the failing line.
 */
#ifndef ST_FUZZ_COMMON_H
#define ST_FUZZ_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FUZZ CHECK FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct fz_buf {
    uint8_t *p;
    size_t n, cap;
} fz_buf;

static inline void fz_put(fz_buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n)
            c *= 2;
        uint8_t *q = realloc(b->p, c);
        if (!q)
            abort();
        b->p = q;
        b->cap = c;
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

static inline void fz_u64(fz_buf *b, uint64_t v)
{
    fz_put(b, &v, sizeof v);
}

/* Length-prefixed so that no two different strings serialise alike; NULL differs from "". */
static inline void fz_str(fz_buf *b, const char *s)
{
    if (!s) {
        fz_u64(b, UINT64_MAX);
        return;
    }
    size_t n = strlen(s);
    fz_u64(b, n);
    fz_put(b, s, n);
}

static inline void fz_bytes(fz_buf *b, const void *d, size_t n)
{
    if (!d) {
        fz_u64(b, UINT64_MAX);
        return;
    }
    fz_u64(b, n);
    fz_put(b, d, n);
}

static inline void fz_free(fz_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
static inline int fz_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* xorshift32: split points and sizes from an input-chosen seed. */
static inline uint32_t fz_rand(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

#endif
