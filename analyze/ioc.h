/*
 * ioc.h - indicators of compromise in text: URLs, domains, IPv4 and IPv6
 * addresses, e-mail addresses, md5/sha1/sha256/sha512 digests and MAC
 * addresses, defanged or not, refanged on the way out.
 *
 * Parity with stoQ's iocextract worker and InQuest iocextract, on PCRE2
 * (JIT) for matching, libpsl with Debian's publicsuffix data for domains,
 * inet_pton for addresses. The types and their names are stoQ's: md5,
 * sha1, sha256, sha512, ipv4, ipv6, mac_address, email, domain, url.
 *
 * An engine (st_ioc_engine) holds what is compiled once: the patterns, the
 * public suffix list, the allow-list. A set (st_ioc_set) collects what one
 * message, or one attachment, yields: each value once per type, in
 * first-seen order, with the names of the texts it was found in. A text
 * (st_ioc_text) is one source inside a set ("body", "received", an
 * attachment's bytes): it is fed in pieces as it streams, and any split of
 * it gives the same values as the whole (a value that straddles two pieces
 * is found once, whole).
 *
 * Entry points: st_ioc_engine_new/free, st_ioc_set_new/free,
 * st_ioc_begin/feed/end, st_ioc_set_json, st_ioc_set_counts.
 *
 * Limits: max_iocs values kept per set (the rest counted in dropped);
 * max_bytes scanned per set (the rest counted in unscanned); one value is
 * at most ST_IOC_VALUE_MAX bytes (a longer run is cut there and still
 * reported, cut); a text holds at most ST_IOC_WINDOW bytes at a time.
 * Memory per set is bounded by those, whatever the size of the text.
 *
 * How it fails: st_ioc_engine_new returns NULL with err naming the cause
 * (the public suffix file missing, an allow-list line that does not
 * parse, with its file and line). Out of memory later drops the value
 * that needed it and counts it in dropped.
 *
 * Not handled: internationalised domain names in Unicode form (their
 * xn-- form is found), telephone numbers, YARA rule texts, ssdeep digests.
 */
#ifndef ST_ANALYZE_IOC_H
#define ST_ANALYZE_IOC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ST_IOC_VALUE_MAX 2048
#define ST_IOC_WINDOW    (64 * 1024)

/* A text's flags. */
#define ST_IOC_HTML 1u /* also the decoded values of href= and src= attributes */

typedef struct st_ioc_config {
    size_t max_iocs;       /* values kept per set (default 1000) */
    uint64_t max_bytes;    /* bytes scanned per set (default 16 MiB; 0: no limit) */
    const char *allowlist; /* a file of known-good values; NULL or "": none */
    const char *psl_file;  /* public suffix data; NULL: Debian's */
} st_ioc_config;

void st_ioc_config_default(st_ioc_config *cfg);

typedef struct st_ioc_engine st_ioc_engine;
typedef struct st_ioc_set st_ioc_set;
typedef struct st_ioc_text st_ioc_text;

st_ioc_engine *st_ioc_engine_new(const st_ioc_config *cfg, char *err, size_t errlen);
void st_ioc_engine_free(st_ioc_engine *e);

/* NULL when out of memory. The engine must outlive the set. */
st_ioc_set *st_ioc_set_new(const st_ioc_engine *e);
void st_ioc_set_free(st_ioc_set *s);

/* A text named where (copied; at most 63 bytes kept); several may be open
 * at once. NULL when out of memory (feed and end then do nothing). */
st_ioc_text *st_ioc_begin(st_ioc_set *s, const char *where, unsigned flags);
void st_ioc_feed(st_ioc_text *t, const uint8_t *data, size_t len);
/* Scans what is held and frees the text. */
void st_ioc_end(st_ioc_text *t);

/* {"url": [{"value": "http://...", "where": ["body", ...]}, ...], ...}:
 * only the types found, in the order of the list above; NULL when the
 * set holds no value. The caller owns the reference. */
json_t *st_ioc_set_json(const st_ioc_set *s);

/* Values found beyond max_iocs, bytes not scanned beyond max_bytes. */
void st_ioc_set_counts(const st_ioc_set *s, uint64_t *dropped, uint64_t *unscanned);

/* The anomaly of cap i (0: max_iocs, too_many_iocs; 1: max_bytes,
 * ioc_bytes_unscanned), its detail in d; NULL when that cap was not hit. */
const char *st_ioc_cap_anomaly(const st_ioc_set *s, int i, char *d, size_t dlen);

#endif
