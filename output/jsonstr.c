/*
 * jsonstr.c - strings from the wire into JSON, and time stamps.
 *
 * jansson refuses invalid UTF-8, and wire strings are anything. We copy
 * at most `cap` bytes, replacing every byte that does not start a valid,
 * shortest-form UTF-8 sequence with U+FFFD (st_charset_utf8_sanitize),
 * never splitting a character at the cap. Control characters stay: JSON
 * escapes them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailhdr/mailhdr.h"
#include "output/record.h"

json_t *st_json_stringn(const char *s, size_t n, size_t cap)
{
    if (!s)
        return json_null();
    size_t len;
    char *out = st_charset_utf8_dup(s, n, cap, &len);
    if (!out)
        return json_null();
    json_t *j = json_stringn_nocheck(out, len);
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
