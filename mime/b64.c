/*
 * b64.c - streaming base64 decoder (RFC 2045 6.8), tolerant like mail
 * clients: blanks anywhere, any line length, other bytes skipped (counted),
 * missing padding, more data after padding (a new group starts).
 *
 * How it fails: never; problems are counted in the state (garbage, flags).
 * Resumable at any byte: the state is the open group of up to 3 sextets.
 */
#include "mime/mime.h"

#define WS  (-1)
#define PAD (-2)
#define BAD (-3)

/* byte -> sextet, or WS, PAD, BAD */
static const signed char table[256] = {
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, WS,  WS,  BAD, BAD, WS,  BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, WS,  BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, 62,  BAD, BAD, BAD, 63,  52,  53,  54,  55,  56,  57,  58,  59,  60,
    61,  BAD, BAD, BAD, PAD, BAD, BAD, BAD, 0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   10,
    11,  12,  13,  14,  15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25,  BAD, BAD, BAD, BAD,
    BAD, BAD, 26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,  41,  42,
    43,  44,  45,  46,  47,  48,  49,  50,  51,  BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
};

void st_b64_init(st_b64 *s)
{
    s->acc = 0;
    s->n = 0;
    s->padded = 0;
    s->flags = 0;
    s->garbage = 0;
}

/* '=' closes the open group: what its sextets hold is emitted. */
static size_t pad(st_b64 *s, uint8_t *out)
{
    size_t o = 0;
    if (s->n == 2) {
        out[o++] = (uint8_t)(s->acc >> 4);
    } else if (s->n == 3) {
        out[o++] = (uint8_t)(s->acc >> 10);
        out[o++] = (uint8_t)(s->acc >> 2);
    } else if (s->n == 1) {
        s->flags |= ST_B64_LONE_SEXTET;
    } else if (!s->padded) {
        s->flags |= ST_B64_STRAY_PAD;
    }
    s->n = 0;
    s->acc = 0;
    s->padded = 1;
    return o;
}

size_t st_b64_feed(st_b64 *s, const uint8_t *in, size_t len, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        if (s->n == 0 && !s->padded) { /* fast path: whole clean groups */
            while (i + 4 <= len) {
                int a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]],
                    d = table[in[i + 3]];
                if ((a | b | c | d) < 0)
                    break;
                uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
                out[o] = (uint8_t)(v >> 16);
                out[o + 1] = (uint8_t)(v >> 8);
                out[o + 2] = (uint8_t)v;
                o += 3;
                i += 4;
            }
            if (i >= len)
                break;
        }
        int v = table[in[i++]];
        if (v >= 0) {
            if (s->padded) {
                s->flags |= ST_B64_DATA_AFTER_PAD;
                s->padded = 0;
            }
            s->acc = s->acc << 6 | (uint32_t)v;
            if (++s->n == 4) {
                out[o++] = (uint8_t)(s->acc >> 16);
                out[o++] = (uint8_t)(s->acc >> 8);
                out[o++] = (uint8_t)s->acc;
                s->n = 0;
                s->acc = 0;
            }
        } else if (v == PAD) {
            o += pad(s, out + o);
        } else if (v == BAD) {
            s->garbage++;
        }
    }
    return o;
}

size_t st_b64_finish(st_b64 *s, uint8_t *out)
{
    size_t o = 0;
    if (s->n >= 2)
        s->flags |= ST_B64_NO_PADDING;
    if (s->n)
        o = pad(s, out);
    s->padded = 0;
    return o;
}
