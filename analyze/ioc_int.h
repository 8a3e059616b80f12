/*
 * ioc_int.h - what ioc.c, ioc_match.c and ioc_allow.c share (analyze-internal).
 */
#ifndef ST_ANALYZE_IOC_INT_H
#define ST_ANALYZE_IOC_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <libpsl.h>
#include <pcre2.h>

#include "analyze/ioc.h"

/* In output order (stoQ's names: st_ioc_type_name). */
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
    ST_IOC_TYPES
};

/* The patterns ioc_match.c runs, compiled once. */
enum {
    ST_IOC_RE_URL,
    ST_IOC_RE_DOMAIN,
    ST_IOC_RE_EMAIL,
    ST_IOC_RE_IPV4,
    ST_IOC_RE_IPV6,
    ST_IOC_RE_HEX,
    ST_IOC_RE_MAC,
    ST_IOC_RE_B64,
    ST_IOC_RE_PCT,
    ST_IOC_RE_HREF,
    ST_IOC_RES
};

typedef struct st_ioc_allow st_ioc_allow;

struct st_ioc_engine {
    st_ioc_config cfg;
    psl_ctx_t *psl;
    pcre2_code *re[ST_IOC_RES];
    st_ioc_allow *allow;
};

const char *st_ioc_type_name(int type);

/* ioc_match.c */
int st_ioc_compile(st_ioc_engine *e, char *err, size_t errlen);
void st_ioc_uncompile(st_ioc_engine *e);
/* Every value in d[0..n) (one window of text t), each through st_ioc_found. */
void st_ioc_scan(st_ioc_text *t, const uint8_t *d, size_t n, unsigned flags);
/* A host (lower-case, refanged) that the public suffix list makes a domain. */
int st_ioc_is_domain(const st_ioc_engine *e, const char *host);

/* ioc.c */
void st_ioc_found(st_ioc_text *t, int type, const char *value);
const st_ioc_engine *st_ioc_text_engine(const st_ioc_text *t);

/* ioc_allow.c */
st_ioc_allow *st_ioc_allow_load(const char *path, char *err, size_t errlen);
void st_ioc_allow_free(st_ioc_allow *a);
int st_ioc_allowed(const st_ioc_engine *e, int type, const char *value);

#endif
