/*
 * ioc.c - the IOC engine of ioc.h: the engine (patterns, public suffix
 * list, allow-list), sets, texts as they stream, the JSON.
 *
 * A text is cut into segments only after a byte no value holds (a blank,
 * a control byte, a byte outside ASCII: st_ioc_is_break), and no pattern
 * matches or looks across such a byte, so a segment is searched as it
 * would be inside the whole text. Each feed searches what it can up to
 * its last such byte and holds the rest (at most ST_IOC_WINDOW bytes). A
 * run of ST_IOC_WINDOW bytes without one is searched as it is and cut
 * there: the cuts fall at ST_IOC_WINDOW, 2 * ST_IOC_WINDOW... from the
 * start of the run, wherever the feeds ended. So any split of a text
 * gives the same values in the same order (test_ioc.c and fuzz_ioc check
 * it). In HTML texts, character references are decoded first, as a
 * stream too (ioc_html.c).
 *
 * A set keeps each value once per type, in first-seen order, in a hash
 * table of at most max_iocs entries; each with the names of the texts it
 * was found in (the first 255 names a set is given; a value found in a
 * text beyond them is kept without that name). Beyond max_iocs a value
 * is counted in dropped once: the digests (64 bits) of the first 8192
 * values dropped are kept, beyond those every further occurrence of a
 * value not among them counts. Allow-listed values are left out before
 * any of this and counted nowhere. Bytes fed beyond max_bytes (over all
 * the texts of a set) are counted in unscanned and never searched.
 *
 * Values found in several texts open at once come in the order they are
 * searched: a text holds its last word until it is fed further or ended.
 *
 * Memory: per text, its held bytes (up to ST_IOC_WINDOW) and 16 bytes of
 * pending character reference; per set, the values (max_iocs of at most
 * ST_IOC_VALUE_MAX bytes, with their names), the dropped digests (up to
 * 128 KiB, only once max_iocs is reached), the match data, a JIT stack
 * (32 KiB, growing to 512 KiB) and scratch space for decoded bytes (up
 * to ST_IOC_WINDOW).
 *
 * How it fails: see ioc.h. A set freed with texts still open frees them
 * without searching what they hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "analyze/ioc_int.h"

#define PSL_DEFAULT "/usr/share/publicsuffix/public_suffix_list.dafsa"
#define NAMES_MAX   255 /* text names a set tells apart; NO_NAME for the rest */
#define NO_NAME     255
#define NAME_LEN    64   /* ioc.h: at most 63 bytes kept */
#define DROP_KEPT   8192 /* digests of dropped values kept, to count each once */
#define CHUNK       4096 /* bytes decoded at a time in HTML texts */

typedef struct {
    char *v;
    uint32_t n;
    uint8_t type;
    uint8_t nwhere, capwhere;
    uint8_t *where; /* name indices, first-seen order */
} ioc_val;

struct st_ioc_set {
    const st_ioc_engine *e;
    st_ioc_scanner *sc;
    ioc_val *val;
    size_t nval, capval;
    st_ioc_table idx;
    char (*name)[NAME_LEN];
    size_t nname, capname;
    uint64_t *drop; /* open addressing, 0 empty; 2 * DROP_KEPT slots */
    size_t ndrop;
    uint64_t dropped, unscanned, bytes;
    st_ioc_text *open;
};

struct st_ioc_text {
    st_ioc_set *s;
    st_ioc_text *next, **pprev;
    unsigned flags;
    uint8_t where;
    st_ioc_ent ent;
    uint8_t *win; /* held bytes: none is a break */
    size_t n, cap;
};

void st_ioc_config_default(st_ioc_config *cfg)
{
    cfg->max_iocs = 1000;
    cfg->max_bytes = 16u << 20;
    cfg->allowlist = NULL;
    cfg->psl_file = NULL;
}

/* ------------------------------------------------------------- engine */

static uint64_t seed_of(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
        return s;
    return (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid() ^
           (uint64_t)(uintptr_t)&s;
}

static psl_ctx_t *load_psl(const char *path, char *err, size_t errlen)
{
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen,
                 "ioc: public suffix list %s: %s (Debian and Ubuntu: apt-get install "
                 "publicsuffix)",
                 path, strerror(errno));
        return NULL;
    }
    psl_ctx_t *p = psl_load_file(path);
    if (!p)
        snprintf(err, errlen, "ioc: public suffix list %s: not a list libpsl can read", path);
    return p;
}

st_ioc_engine *st_ioc_engine_new(const st_ioc_config *cfg, char *err, size_t errlen)
{
    st_ioc_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "ioc: out of memory");
        return NULL;
    }
    e->max_iocs = cfg->max_iocs;
    e->max_bytes = cfg->max_bytes;
    e->seed = seed_of();
    int ok = (e->psl = load_psl(cfg->psl_file ? cfg->psl_file : PSL_DEFAULT, err, errlen)) &&
             st_ioc_patterns_compile(e->re, err, errlen) == 0;
    if (ok && cfg->allowlist && cfg->allowlist[0])
        ok = (e->allow = st_ioc_allow_load(cfg->allowlist, e->seed, err, errlen)) != NULL;
    if (!ok) {
        st_ioc_engine_free(e);
        return NULL;
    }
    return e;
}

void st_ioc_engine_free(st_ioc_engine *e)
{
    if (!e)
        return;
    st_ioc_patterns_free(e->re);
    psl_free(e->psl);
    st_ioc_allow_free(e->allow);
    free(e);
}

/* ---------------------------------------------------------------- set */

st_ioc_set *st_ioc_set_new(const st_ioc_engine *e)
{
    st_ioc_set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->e = e;
    if (!(s->sc = st_ioc_scanner_new(e))) {
        free(s);
        return NULL;
    }
    return s;
}

static void text_free(st_ioc_text *t)
{
    if (t->next)
        t->next->pprev = t->pprev;
    *t->pprev = t->next;
    free(t->win);
    free(t);
}

void st_ioc_set_free(st_ioc_set *s)
{
    if (!s)
        return;
    while (s->open)
        text_free(s->open);
    for (size_t i = 0; i < s->nval; i++) {
        free(s->val[i].v);
        free(s->val[i].where);
    }
    free(s->val);
    free(s->name);
    free(s->drop);
    st_ioc_table_free(&s->idx);
    st_ioc_scanner_free(s->sc);
    free(s);
}

typedef struct {
    const st_ioc_set *s;
    int type;
    const char *v;
    size_t n;
} probe;

static int val_eq(void *ctx, uint32_t i)
{
    const probe *p = ctx;
    const ioc_val *x = &p->s->val[i];
    return x->type == p->type && x->n == p->n && memcmp(x->v, p->v, p->n) == 0;
}

static void add_where(ioc_val *x, uint8_t where)
{
    if (where == NO_NAME || (x->nwhere && memchr(x->where, where, x->nwhere)))
        return;
    if (x->nwhere == x->capwhere) {
        unsigned cap = x->capwhere ? x->capwhere * 2u : 2u;
        cap = cap > NAMES_MAX ? NAMES_MAX : cap;
        uint8_t *w = realloc(x->where, cap);
        if (!w)
            return; /* the name is lost, not the value */
        x->where = w;
        x->capwhere = (uint8_t)cap;
    }
    x->where[x->nwhere++] = where;
}

/* A value beyond max_iocs: counted once if it can be told apart. */
static void drop(st_ioc_set *s, uint64_t h)
{
    const size_t mask = 2 * DROP_KEPT - 1;
    h = h ? h : 1;
    if (!s->drop && !(s->drop = calloc(mask + 1, sizeof *s->drop))) {
        s->dropped++;
        return;
    }
    size_t k = h & mask;
    while (s->drop[k] && s->drop[k] != h)
        k = (k + 1) & mask;
    if (s->drop[k])
        return;
    s->dropped++;
    if (s->ndrop < DROP_KEPT) {
        s->drop[k] = h;
        s->ndrop++;
    }
}

static int grow_vals(st_ioc_set *s)
{
    if (s->nval < s->capval)
        return 0;
    size_t cap = s->capval ? s->capval * 2 : 16;
    cap = cap > s->e->max_iocs ? s->e->max_iocs : cap;
    ioc_val *v = realloc(s->val, cap * sizeof *v);
    if (!v)
        return -1;
    s->val = v;
    s->capval = cap;
    return 0;
}

static void add(st_ioc_set *s, uint8_t where, int type, const char *v, size_t n)
{
    if (n == 0)
        return;
    if (s->e->allow && st_ioc_allowed(s->e->allow, type, v, n))
        return;
    uint64_t h = st_ioc_hash(s->e->seed + (uint64_t)type * 0x9e3779b97f4a7c15ULL, v, n);
    probe p = {s, type, v, n};
    long i = st_ioc_table_find(&s->idx, h, val_eq, &p);
    if (i >= 0) {
        add_where(&s->val[i], where);
        return;
    }
    if (s->nval >= s->e->max_iocs) {
        drop(s, h);
        return;
    }
    char *copy = malloc(n + 1);
    if (!copy || grow_vals(s) != 0 || st_ioc_table_add(&s->idx, h, (uint32_t)s->nval) != 0) {
        free(copy);
        s->dropped++;
        return;
    }
    memcpy(copy, v, n);
    copy[n] = 0;
    s->val[s->nval] = (ioc_val){.v = copy, .n = (uint32_t)n, .type = (uint8_t)type};
    add_where(&s->val[s->nval++], where);
}

static void on_value(void *ctx, int type, const char *v, size_t n)
{
    st_ioc_text *t = ctx;
    add(t->s, t->where, type, v, n);
}

/* --------------------------------------------------------------- text */

/* The index of a text name, NO_NAME beyond NAMES_MAX names. */
static uint8_t intern(st_ioc_set *s, const char *where)
{
    char clean[NAME_LEN];
    size_t n = 0;
    /* The names go into the record as JSON strings: printable ASCII only. */
    for (const char *p = where ? where : ""; *p && n < NAME_LEN - 1; p++)
        clean[n++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
    clean[n] = 0;
    for (size_t i = 0; i < s->nname; i++)
        if (strcmp(s->name[i], clean) == 0)
            return (uint8_t)i;
    if (s->nname == NAMES_MAX)
        return NO_NAME;
    if (s->nname == s->capname) {
        size_t cap = s->capname ? s->capname * 2 : 4;
        cap = cap > NAMES_MAX ? NAMES_MAX : cap;
        char(*nn)[NAME_LEN] = realloc(s->name, cap * sizeof *nn);
        if (!nn)
            return NO_NAME;
        s->name = nn;
        s->capname = cap;
    }
    memcpy(s->name[s->nname], clean, n + 1);
    return (uint8_t)s->nname++;
}

st_ioc_text *st_ioc_begin(st_ioc_set *s, const char *where, unsigned flags)
{
    if (!s)
        return NULL;
    st_ioc_text *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->s = s;
    t->flags = flags;
    t->where = intern(s, where);
    t->next = s->open;
    if (s->open)
        s->open->pprev = &t->next;
    t->pprev = &s->open;
    s->open = t;
    return t;
}

static void scan(st_ioc_text *t, const uint8_t *p, size_t n)
{
    if (n)
        st_ioc_scan(t->s->sc, p, n, t->flags, on_value, t);
}

/* Keeps p[0..n) (no break in it) after what is held; 0 or -1. */
static int hold(st_ioc_text *t, const uint8_t *p, size_t n)
{
    if (t->n + n > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + n)
            cap *= 2;
        cap = cap > ST_IOC_WINDOW ? ST_IOC_WINDOW : cap;
        uint8_t *w = realloc(t->win, cap);
        if (!w)
            return -1;
        t->win = w;
        t->cap = cap;
    }
    memcpy(t->win + t->n, p, n);
    t->n += n;
    return 0;
}

/* Just after the last break in p[0..n); 0 when there is none. */
static size_t after_last_break(const uint8_t *p, size_t n)
{
    while (n > 0 && !st_ioc_is_break(p[n - 1]))
        n--;
    return n;
}

/* Out of memory for the held bytes: they are searched now (a value may
 * be cut there; nothing else is lost). */
static void hold_or_scan(st_ioc_text *t, const uint8_t *p, size_t n)
{
    if (hold(t, p, n) != 0) {
        scan(t, t->win, t->n);
        t->n = 0;
        scan(t, p, n);
    }
}

static void push(st_ioc_text *t, const uint8_t *d, size_t n)
{
    while (n > 0) {
        size_t room = ST_IOC_WINDOW - t->n, take = n < room ? n : room;
        size_t b = after_last_break(d, take);
        if (t->n == 0 && (b > 0 || take == ST_IOC_WINDOW)) {
            /* nothing held: searched where it is */
            size_t len = b ? b : take;
            scan(t, d, len);
            d += len;
            n -= len;
            continue;
        }
        if (b > 0) {
            hold_or_scan(t, d, b);
            scan(t, t->win, t->n);
            t->n = 0;
            d += b;
            n -= b;
            continue;
        }
        hold_or_scan(t, d, take);
        d += take;
        n -= take;
        if (t->n == ST_IOC_WINDOW) {
            scan(t, t->win, t->n); /* ST_IOC_WINDOW bytes without a break: cut */
            t->n = 0;
        }
    }
}

void st_ioc_feed(st_ioc_text *t, const uint8_t *d, size_t n)
{
    if (!t || n == 0)
        return;
    st_ioc_set *s = t->s;
    uint64_t max = s->e->max_bytes;
    if (max) {
        uint64_t room = s->bytes < max ? max - s->bytes : 0;
        if (n > room) {
            s->unscanned += n - room;
            n = (size_t)room;
        }
    }
    s->bytes += n;
    if (!(t->flags & ST_IOC_HTML)) {
        push(t, d, n);
        return;
    }
    uint8_t out[CHUNK + sizeof t->ent.pend];
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t len = n - off < CHUNK ? n - off : CHUNK;
        push(t, out, st_ioc_ent_feed(&t->ent, d + off, len, out));
    }
}

void st_ioc_end(st_ioc_text *t)
{
    if (!t)
        return;
    uint8_t rest[sizeof t->ent.pend];
    push(t, rest, st_ioc_ent_flush(&t->ent, rest));
    scan(t, t->win, t->n);
    text_free(t);
}

/* --------------------------------------------------------------- JSON */

static json_t *value_json(const st_ioc_set *s, const ioc_val *x)
{
    json_t *where = json_array();
    for (unsigned k = 0; where && k < x->nwhere; k++)
        json_array_append_new(where, json_string(s->name[x->where[k]]));
    return json_pack("{s:s%, s:o*}", "value", x->v, (size_t)x->n, "where", where);
}

json_t *st_ioc_set_json(const st_ioc_set *s)
{
    if (!s || s->nval == 0)
        return NULL;
    json_t *o = json_object();
    for (int type = 0; o && type < ST_IOC_NTYPES; type++) {
        json_t *list = NULL;
        for (size_t i = 0; i < s->nval; i++) {
            if (s->val[i].type != type)
                continue;
            if (!list && !(list = json_array()))
                break;
            json_array_append_new(list, value_json(s, &s->val[i]));
        }
        if (list)
            json_object_set_new(o, st_ioc_type_name[type], list);
    }
    return o;
}

const char *st_ioc_cap_anomaly(const st_ioc_set *s, int i, char *d, size_t dlen)
{
    uint64_t n = !s ? 0 : i == 0 ? s->dropped : s->unscanned;
    if (!n)
        return NULL;
    const char *name = "too_many_iocs"; /* names spelled out: test_schema reads them */
    if (i == 1)
        name = "ioc_bytes_unscanned";
    snprintf(d, dlen, "%llu %s", (unsigned long long)n,
             i == 0 ? "more not kept" : "bytes not scanned");
    return name;
}

void st_ioc_set_counts(const st_ioc_set *s, uint64_t *dropped, uint64_t *unscanned)
{
    *dropped = s ? s->dropped : 0;
    *unscanned = s ? s->unscanned : 0;
}
