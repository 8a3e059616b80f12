/*
 * ioc.c - the IOC engine (ioc.h): sets, texts, streaming, the JSON.
 *
 * A text is scanned in windows: bytes gather until ST_IOC_WINDOW, then
 * everything up to the last byte that can never be inside a value (a
 * blank, a quote, '<', '>') is scanned and the rest is kept for the next
 * window, so that a value is never cut between two feeds; a run of
 * ST_IOC_WINDOW bytes without such a byte is scanned as it is (a value
 * that long is cut at ST_IOC_VALUE_MAX anyway). Where the window is cut
 * depends only on the bytes, never on how they were fed: any split gives
 * the same values.
 *
 * Matching and validation are ioc_match.c's; the allow-list ioc_allow.c's.
 * A set keeps each value once per type (a hash table of at most max_iocs
 * entries), in first-seen order, with up to ST_IOC_WHERE text names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/ioc_int.h"

#define ST_IOC_WHERE 8 /* text names kept per value */

typedef struct ioc_value {
    char *value;
    int type;
    unsigned char nwhere;
    unsigned char where[ST_IOC_WHERE]; /* indexes into the set's names */
    struct ioc_value *next_in_bucket;
} ioc_value;

struct st_ioc_set {
    const st_ioc_engine *e;
    ioc_value **order; /* first-seen order */
    size_t n, cap;
    ioc_value **bucket;
    size_t nbucket;
    char names[256][64]; /* text names, by index */
    size_t nnames;
    uint64_t dropped, unscanned, scanned;
};

struct st_ioc_text {
    st_ioc_set *s;
    unsigned char name; /* index into s->names */
    unsigned flags;
    uint8_t *buf;
    size_t len;
};

void st_ioc_config_default(st_ioc_config *cfg)
{
    cfg->max_iocs = 1000;
    cfg->max_bytes = 16u << 20;
    cfg->allowlist = NULL;
    cfg->psl_file = NULL;
}

#define ST_IOC_PSL_DAFSA "/usr/share/publicsuffix/public_suffix_list.dafsa"
#define ST_IOC_PSL_DAT   "/usr/share/publicsuffix/public_suffix_list.dat"

st_ioc_engine *st_ioc_engine_new(const st_ioc_config *cfg, char *err, size_t errlen)
{
    st_ioc_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->cfg = *cfg;
    if (e->cfg.max_iocs == 0)
        e->cfg.max_iocs = 1;
    const char *psl = cfg->psl_file ? cfg->psl_file : ST_IOC_PSL_DAFSA;
    if (!(e->psl = psl_load_file(psl)) && !cfg->psl_file)
        e->psl = psl_load_file(psl = ST_IOC_PSL_DAT);
    if (!e->psl) {
        snprintf(err, errlen, "iocs: %s: cannot load the public suffix list (Debian: publicsuffix)",
                 psl);
        st_ioc_engine_free(e);
        return NULL;
    }
    if (st_ioc_compile(e, err, errlen) != 0 ||
        (cfg->allowlist && *cfg->allowlist &&
         !(e->allow = st_ioc_allow_load(cfg->allowlist, err, errlen)))) {
        st_ioc_engine_free(e);
        return NULL;
    }
    e->cfg.allowlist = e->cfg.psl_file = NULL; /* not kept: the caller's strings */
    return e;
}

void st_ioc_engine_free(st_ioc_engine *e)
{
    if (!e)
        return;
    st_ioc_uncompile(e);
    st_ioc_allow_free(e->allow);
    psl_free(e->psl);
    free(e);
}

const st_ioc_engine *st_ioc_text_engine(const st_ioc_text *t)
{
    return t->s->e;
}

st_ioc_set *st_ioc_set_new(const st_ioc_engine *e)
{
    st_ioc_set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->e = e;
    s->nbucket = 64;
    while (s->nbucket < e->cfg.max_iocs * 2 && s->nbucket < (1u << 20))
        s->nbucket *= 2;
    s->bucket = calloc(s->nbucket, sizeof *s->bucket);
    if (!s->bucket) {
        free(s);
        return NULL;
    }
    return s;
}

void st_ioc_set_free(st_ioc_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->order[i]->value);
        free(s->order[i]);
    }
    free(s->order);
    free(s->bucket);
    free(s);
}

static size_t hash_of(int type, const char *v)
{
    size_t h = 1469598103934665603ULL ^ (size_t)type;
    for (; *v; v++)
        h = (h ^ (unsigned char)*v) * 1099511628211ULL;
    return h;
}

static void add_where(ioc_value *v, unsigned char name)
{
    for (unsigned i = 0; i < v->nwhere; i++)
        if (v->where[i] == name)
            return;
    if (v->nwhere < ST_IOC_WHERE)
        v->where[v->nwhere++] = name;
}

/* A value found in text t: kept once, or counted beyond max_iocs. */
void st_ioc_found(st_ioc_text *t, int type, const char *value)
{
    st_ioc_set *s = t->s;
    for (const char *c = value; *c; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
            return; /* values are printable ASCII, whatever the patterns let through */
    if (!*value || st_ioc_allowed(s->e, type, value))
        return;
    size_t b = hash_of(type, value) & (s->nbucket - 1);
    for (ioc_value *v = s->bucket[b]; v; v = v->next_in_bucket)
        if (v->type == type && strcmp(v->value, value) == 0) {
            add_where(v, t->name);
            return;
        }
    if (s->n >= s->e->cfg.max_iocs) {
        s->dropped++;
        return;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        ioc_value **o = realloc(s->order, cap * sizeof *o);
        if (!o) {
            s->dropped++;
            return;
        }
        s->order = o;
        s->cap = cap;
    }
    ioc_value *v = calloc(1, sizeof *v);
    if (!v || !(v->value = strdup(value))) {
        free(v);
        s->dropped++;
        return;
    }
    v->type = type;
    add_where(v, t->name);
    v->next_in_bucket = s->bucket[b];
    s->bucket[b] = v;
    s->order[s->n++] = v;
}

st_ioc_text *st_ioc_begin(st_ioc_set *s, const char *where, unsigned flags)
{
    if (!s)
        return NULL;
    size_t i = 0;
    while (i < s->nnames && strcmp(s->names[i], where) != 0)
        i++;
    if (i == s->nnames) {
        if (s->nnames == sizeof s->names / sizeof *s->names)
            i--; /* 256 names: the last one stands for the rest */
        else
            snprintf(s->names[s->nnames++], sizeof s->names[0], "%s", where);
    }
    st_ioc_text *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->s = s;
    t->name = (unsigned char)i;
    t->flags = flags;
    return t;
}

static int is_break(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '\'' || c == '<' ||
           c == '>' || c == 0;
}

/* Scans the first n bytes held and keeps the rest. */
static void scan_held(st_ioc_text *t, size_t n)
{
    st_ioc_scan(t, t->buf, n, t->flags);
    memmove(t->buf, t->buf + n, t->len - n);
    t->len -= n;
}

void st_ioc_feed(st_ioc_text *t, const uint8_t *d, size_t n)
{
    if (!t)
        return;
    st_ioc_set *s = t->s;
    uint64_t max = s->e->cfg.max_bytes;
    if (max && s->scanned + n > max) {
        uint64_t room = s->scanned < max ? max - s->scanned : 0;
        s->unscanned += n - room;
        n = (size_t)room;
    }
    s->scanned += n;
    if (!t->buf && n && !(t->buf = malloc(ST_IOC_WINDOW))) {
        s->unscanned += n;
        return;
    }
    while (n) {
        size_t take = ST_IOC_WINDOW - t->len < n ? ST_IOC_WINDOW - t->len : n;
        memcpy(t->buf + t->len, d, take);
        t->len += take;
        d += take;
        n -= take;
        if (t->len < ST_IOC_WINDOW)
            break;
        size_t cut = t->len;
        while (cut > 0 && !is_break(t->buf[cut - 1]))
            cut--;
        scan_held(t, cut > ST_IOC_WINDOW / 2 ? cut : t->len);
    }
}

void st_ioc_end(st_ioc_text *t)
{
    if (!t)
        return;
    if (t->len)
        st_ioc_scan(t, t->buf, t->len, t->flags);
    free(t->buf);
    free(t);
}

json_t *st_ioc_set_json(const st_ioc_set *s)
{
    if (!s || !s->n)
        return NULL;
    json_t *o = json_object();
    for (int type = 0; o && type < ST_IOC_TYPES; type++) {
        json_t *list = NULL;
        for (size_t i = 0; i < s->n; i++) {
            const ioc_value *v = s->order[i];
            if (v->type != type)
                continue;
            json_t *w = json_array();
            for (unsigned k = 0; w && k < v->nwhere; k++)
                json_array_append_new(w, json_string(s->names[v->where[k]]));
            if (!list)
                list = json_array();
            json_array_append_new(list, json_pack("{s:s, s:o}", "value", v->value, "where", w));
        }
        if (list)
            json_object_set_new(o, st_ioc_type_name(type), list);
    }
    return o;
}

const char *st_ioc_cap_anomaly(const st_ioc_set *s, int i, char *d, size_t dlen)
{
    uint64_t n = !s ? 0 : i == 0 ? s->dropped : s->unscanned;
    if (!n)
        return NULL;
    const char *name = "too_many_iocs";
    if (i == 1)
        name = "ioc_bytes_unscanned";
    snprintf(d, dlen, i == 0 ? "%llu more not kept" : "%llu bytes not scanned",
             (unsigned long long)n);
    return name;
}

void st_ioc_set_counts(const st_ioc_set *s, uint64_t *dropped, uint64_t *unscanned)
{
    *dropped = s ? s->dropped : 0;
    *unscanned = s ? s->unscanned : 0;
}
