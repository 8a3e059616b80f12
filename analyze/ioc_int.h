/*
 * ioc_int.h - what the files of the IOC engine share (analyze/ioc.c,
 * ioc_match.c, ioc_allow.c, ioc_table.c, ioc_html.c); not for use outside
 * them: the rest of the code sees analyze/ioc.h only.
 */
#ifndef ST_ANALYZE_IOC_INT_H
#define ST_ANALYZE_IOC_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <libpsl.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "analyze/ioc.h"

/* The types, in the order of the output (stoQ's names in st_ioc_type_name). */
enum {
    ST_IOC_MD5,
    ST_IOC_SHA1,
    ST_IOC_SHA256,
    ST_IOC_SHA512,
    ST_IOC_IPV4,
    ST_IOC_IPV6,
    ST_IOC_MAC,
    ST_IOC_EMAIL,
    ST_IOC_DOMAIN,
    ST_IOC_URL,
    ST_IOC_NTYPES
};
extern const char *const st_ioc_type_name[ST_IOC_NTYPES];

/* The patterns (ioc_match.c), in the order a tie between two matches
 * starting at the same byte is broken. */
enum {
    ST_IOC_RE_ATTR, /* href= / src= (ST_IOC_HTML texts only) */
    ST_IOC_RE_URL,
    ST_IOC_RE_URLENC,
    ST_IOC_RE_B64,
    ST_IOC_RE_EMAIL,
    ST_IOC_RE_DOMAIN,
    ST_IOC_RE_IPV4,
    ST_IOC_RE_IPV6,
    ST_IOC_RE_MAC,
    ST_IOC_RE_HASH,
    ST_IOC_NRE
};

/* ---------------------------------------------------------- ioc_table.c */

/* Open addressing over indices the caller keeps (it holds the keys). */
typedef struct st_ioc_table {
    uint32_t *slot; /* index + 1; 0: empty */
    uint64_t *hash; /* of each slot's key */
    size_t mask;    /* slots - 1 */
    size_t n;
} st_ioc_table;

uint64_t st_ioc_hash(uint64_t seed, const void *p, size_t n);
/* The index of the key whose hash is h and for which eq says yes; -1. */
long st_ioc_table_find(const st_ioc_table *t, uint64_t h, int (*eq)(void *ctx, uint32_t i),
                       void *ctx);
/* -1 when out of memory. */
int st_ioc_table_add(st_ioc_table *t, uint64_t h, uint32_t i);
void st_ioc_table_free(st_ioc_table *t);

/* ---------------------------------------------------------- ioc_allow.c */

typedef struct st_ioc_allow st_ioc_allow;
st_ioc_allow *st_ioc_allow_load(const char *path, uint64_t seed, char *err, size_t errlen);
void st_ioc_allow_free(st_ioc_allow *a);
/* v is a value as the engine gives it (refanged, lower-cased). */
int st_ioc_allowed(const st_ioc_allow *a, int type, const char *v, size_t n);

/* ---------------------------------------------------------- ioc_match.c */

int st_ioc_patterns_compile(pcre2_code *re[ST_IOC_NRE], char *err, size_t errlen);
void st_ioc_patterns_free(pcre2_code *re[ST_IOC_NRE]);

/* Checks shared with the allow-list: 1 when valid. */
int st_ioc_ipv4_parse(const char *s, size_t n, uint8_t out[4]);
int st_ioc_label_ok(const char *d, size_t n);

struct st_ioc_engine {
    size_t max_iocs;
    uint64_t max_bytes;
    uint64_t seed;
    psl_ctx_t *psl;
    st_ioc_allow *allow;
    pcre2_code *re[ST_IOC_NRE];
};

typedef void (*st_ioc_emit_fn)(void *ctx, int type, const char *v, size_t n);

/* What one set scans with: match data and scratch space. */
typedef struct st_ioc_scanner st_ioc_scanner;
st_ioc_scanner *st_ioc_scanner_new(const st_ioc_engine *e);
void st_ioc_scanner_free(st_ioc_scanner *sc);
/* One segment: bytes no value crosses the ends of. */
void st_ioc_scan(st_ioc_scanner *sc, const uint8_t *p, size_t n, unsigned flags,
                 st_ioc_emit_fn emit, void *ctx);

/* A byte no value holds: a segment may end after it. */
static inline int st_ioc_is_break(uint8_t c)
{
    return c <= 0x20 || c >= 0x7f;
}

/* ----------------------------------------------------------- ioc_html.c */

/* HTML character references decoded as a stream: any split of the input
 * gives the same output. */
typedef struct st_ioc_ent {
    char pend[16]; /* an '&' and what follows it, not yet resolved */
    size_t n;
} st_ioc_ent;

/* Decodes in[0..n) into out (room for n + sizeof pend bytes); returns the
 * bytes written. */
size_t st_ioc_ent_feed(st_ioc_ent *e, const uint8_t *in, size_t n, uint8_t *out);
/* What is pending, as it was; returns the bytes written (< sizeof pend). */
size_t st_ioc_ent_flush(st_ioc_ent *e, uint8_t *out);

#endif
