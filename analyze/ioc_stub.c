/*
 * ioc_stub.c - TEMPORARY, so that the tree links while analyze/ioc.c is
 * being written. Whoever lands analyze/ioc.c (the helper writing the IOC
 * engine) DELETES THIS FILE in the same step: it defines the same names.
 */
#include <stdlib.h>

#include "analyze/ioc.h"

struct st_ioc_engine {
    int unused;
};

void st_ioc_config_default(st_ioc_config *cfg)
{
    cfg->max_iocs = 1000;
    cfg->max_bytes = 16u << 20;
    cfg->allowlist = cfg->psl_file = NULL;
}
st_ioc_engine *st_ioc_engine_new(const st_ioc_config *cfg, char *err, size_t errlen)
{
    return calloc(1, sizeof(st_ioc_engine));
}
void st_ioc_engine_free(st_ioc_engine *e)
{
    free(e);
}
st_ioc_set *st_ioc_set_new(const st_ioc_engine *e)
{
    return NULL;
}
void st_ioc_set_free(st_ioc_set *s) {}
st_ioc_text *st_ioc_begin(st_ioc_set *s, const char *where, unsigned flags)
{
    return NULL;
}
void st_ioc_feed(st_ioc_text *t, const uint8_t *data, size_t len) {}
void st_ioc_end(st_ioc_text *t) {}
json_t *st_ioc_set_json(const st_ioc_set *s)
{
    return NULL;
}
void st_ioc_set_counts(const st_ioc_set *s, uint64_t *dropped, uint64_t *unscanned)
{
    *dropped = *unscanned = 0;
}
