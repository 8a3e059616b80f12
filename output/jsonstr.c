/*
 * jsonstr.c - strings from the wire into JSON, and time stamps.
 *
 * jansson refuses invalid UTF-8, and wire strings are anything. We copy
 * at most `cap` bytes, replacing every byte that does not start a valid,
 * shortest-form UTF-8 sequence with U+FFFD, and never split a character
 * at the cap. Control characters stay: JSON escapes them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output/record.h"

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

json_t *st_json_stringn(const char *s, size_t n, size_t cap)
{
    if (!s)
        return json_null();
    /* worst case every byte becomes 3 bytes of U+FFFD */
    size_t room = (n < cap ? n : cap) * 3 + 1;
    char *out = malloc(room);
    if (!out)
        return json_null();
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(p + i, n - i);
        size_t emit = len ? len : 3;
        if (o + emit > cap)
            break;
        if (len) {
            memcpy(out + o, p + i, len);
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            i++;
        }
        o += emit;
    }
    json_t *j = json_stringn_nocheck(out, o);
    free(out);
    return j ? j : json_null();
}

json_t *st_json_string(const char *s, size_t cap)
{
    return s ? st_json_stringn(s, strlen(s), cap) : json_null();
}

void st_format_time(const struct timeval *tv, char *out, size_t outlen)
{
    struct tm tm;
    time_t t = tv->tv_sec;
    char base[32];
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, outlen, "1970-01-01T00:00:00.000000Z");
        return;
    }
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%06ldZ", base, (long)tv->tv_usec);
}
