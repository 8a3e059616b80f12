/*
 * jsonstr.c - strings from the wire into JSON, and time stamps.
 *
 * jansson refuses invalid UTF-8, and wire strings are anything. At most
 * `cap` bytes come out: every byte that does not start a valid,
 * shortest-form UTF-8 sequence becomes U+FFFD (st_charset_utf8_dup), and
 * a character is never split at the cap. Control characters and NUL stay:
 * JSON escapes them.
 *
 * Entry points: st_json_stringn, st_json_string (NUL-terminated input),
 * st_format_time (RFC 3339 in UTC with microseconds,
 * "2023-11-14T22:13:20.250000Z").
 *
 * How it fails: a NULL string, or no memory for the copy, gives JSON
 * null; a time gmtime_r cannot represent prints as the epoch.
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
