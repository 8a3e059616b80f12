/*
 * ioc_analyzer.c - the "iocs" analyzer: the IOCs inside an attachment
 * (or a file inside one) that is text, with the engine of ioc.h.
 *
 * An object is searched as it streams, as one text named "attachment" of
 * a set of its own. The search stops at the first NUL byte of its first
 * ST_IOC_PROBE bytes, or when more than a third of those are odd (control
 * bytes other than blanks, backspace and escape, and bytes above 0x7f
 * unless they are valid UTF-8), as perl's -B test says binary. Whether
 * the object's bytes are valid UTF-8 is followed all the way (strictly:
 * no overlong forms, surrogates or code points above U+10FFFF). It is
 * text, and gets its "iocs", when its Content-Type is text/..., or when
 * it is valid UTF-8 (ASCII is) and not binary by the test above;
 * otherwise "iocs" is null.
 *
 * Entry point: st_analyzer_iocs (analyzers.c). Options: ioc_allowlist
 * (a file, "" for none), ioc_max (values kept per object), ioc_max_bytes
 * (bytes searched per object, 0: all); an option the config does not
 * have (NULL) takes ioc.h's default. Fields: "iocs": {type: [{"value",
 * "where"}]} ({} when none) or null. Anomalies: too_many_iocs ("N more
 * not kept"), ioc_bytes_unscanned ("N bytes not scanned").
 *
 * Limits: those of the engine (ioc.h), per object. How it fails: setup
 * fails with the engine's message (the public suffix list missing, an
 * allow-list line that does not parse, with its file and line) or a bad
 * number; out of memory for an object gives "iocs": null for it.
 *
 * Not handled: text in UTF-16 or UTF-32 (its NUL bytes make it binary),
 * text declared as such by anything but its Content-Type.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyze/analyzer.h"
#include "analyze/ioc.h"

#define ST_IOC_PROBE 8192

static st_ioc_engine *engine; /* set up once, read by every object */

typedef struct {
    st_ioc_set *set;
    st_ioc_text *text;
    uint64_t seen;
    unsigned odd, high; /* among the first ST_IOC_PROBE bytes */
    int binary, decided;
    int bad;        /* not valid UTF-8 */
    int need;       /* continuation bytes still due */
    uint8_t lo, hi; /* the range of the next one */
} ioc_state;

static int number(st_option_fn opt, void *ctx, const char *name, uint64_t *out, char *err,
                  size_t errlen)
{
    const char *v = opt(ctx, name);
    char *end;
    if (!v)
        return 0;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-') {
        snprintf(err, errlen, "iocs: %s: '%s' is not a number", name, v);
        return -1;
    }
    *out = n;
    return 0;
}

static void ioc_teardown(void)
{
    st_ioc_engine_free(engine);
    engine = NULL;
}

static int ioc_setup(st_option_fn opt, void *ctx, char *err, size_t errlen)
{
    st_ioc_config c;
    uint64_t max;
    st_ioc_config_default(&c);
    max = c.max_iocs;
    if (number(opt, ctx, "ioc_max", &max, err, errlen) != 0 ||
        number(opt, ctx, "ioc_max_bytes", &c.max_bytes, err, errlen) != 0)
        return -1;
    c.max_iocs = (size_t)max;
    c.allowlist = opt(ctx, "ioc_allowlist");
    ioc_teardown();
    if (!(engine = st_ioc_engine_new(&c, err, errlen)))
        return -1;
    return 0;
}

static void *ioc_begin(void)
{
    ioc_state *st = calloc(1, sizeof *st);
    if (st && (st->set = st_ioc_set_new(engine)) &&
        (st->text = st_ioc_begin(st->set, "attachment", 0)))
        return st;
    if (st)
        st_ioc_set_free(st->set);
    free(st);
    return NULL;
}

/* One byte through a strict UTF-8 validator (Unicode 15, table 3-7). */
static void utf8(ioc_state *st, uint8_t c)
{
    if (st->need) {
        if (c >= st->lo && c <= st->hi) {
            st->need--;
            st->lo = 0x80;
            st->hi = 0xbf;
            return;
        }
        st->bad = 1;
        return;
    }
    if (c < 0x80)
        return;
    st->lo = 0x80;
    st->hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        st->need = 1;
    else if (c >= 0xe0 && c <= 0xef)
        st->need = 2;
    else if (c >= 0xf0 && c <= 0xf4)
        st->need = 3;
    else
        st->bad = 1;
    if (c == 0xe0)
        st->lo = 0xa0;
    else if (c == 0xed)
        st->hi = 0x9f;
    else if (c == 0xf0)
        st->lo = 0x90;
    else if (c == 0xf4)
        st->hi = 0x8f;
}

static int odd(uint8_t c)
{
    return (c < 0x20 && !strchr("\t\n\v\f\r\b\x1b", c)) || c == 0x7f;
}

static void decide(ioc_state *st)
{
    uint64_t n = st->seen < ST_IOC_PROBE ? st->seen : ST_IOC_PROBE;
    uint64_t strange = st->odd + (st->bad ? st->high : 0);
    if (!st->decided && strange * 3 > n)
        st->binary = 1;
    st->decided = 1;
}

/* Bytes of the first ST_IOC_PROBE: counted for the test, searched up to
 * a NUL. */
static size_t probe(ioc_state *st, const uint8_t *d, size_t n)
{
    const uint8_t *nul = memchr(d, 0, n);
    size_t k = nul ? (size_t)(nul - d) : n;
    for (size_t i = 0; i < k; i++) {
        st->odd += (unsigned)odd(d[i]);
        st->high += d[i] >= 0x80;
    }
    if (nul)
        st->binary = st->decided = 1;
    return k;
}

static void ioc_data(void *state, const uint8_t *d, size_t n)
{
    ioc_state *st = state;
    while (st && !st->binary && n > 0) {
        size_t k = n, feed;
        if (st->seen < ST_IOC_PROBE)
            k = ST_IOC_PROBE - st->seen < n ? (size_t)(ST_IOC_PROBE - st->seen) : n;
        feed = st->seen < ST_IOC_PROBE ? probe(st, d, k) : k;
        for (size_t i = 0; i < feed && !st->bad; i++)
            utf8(st, d[i]);
        st->seen += k;
        st_ioc_feed(st->text, d, feed);
        if (st->seen >= ST_IOC_PROBE && !st->decided)
            decide(st); /* before a byte beyond the first ST_IOC_PROBE is searched */
        d += k;
        n -= k;
    }
}

static void finish(ioc_state *st)
{
    if (!st->text)
        return;
    decide(st);
    st->bad |= st->need != 0; /* cut inside a sequence */
    st_ioc_end(st->text);
    st->text = NULL;
}

static void ioc_end(void *state, const st_file_result *r)
{
    (void)r;
    if (state)
        finish(state);
}

static void ioc_report(void *state, const st_file_result *r, json_t *entry, json_t *anomalies)
{
    ioc_state *st = state;
    (void)r;
    if (!st) {
        json_object_set_new(entry, "iocs", json_null());
        return;
    }
    finish(st);
    const char *ct = json_string_value(json_object_get(entry, "content_type"));
    if (!(ct && strncasecmp(ct, "text/", 5) == 0) && (st->binary || st->bad)) {
        json_object_set_new(entry, "iocs", json_null());
        return;
    }
    json_t *j = st_ioc_set_json(st->set);
    char d[64];
    json_object_set_new(entry, "iocs", j ? j : json_object());
    for (int i = 0; i < 2; i++) {
        const char *name = st_ioc_cap_anomaly(st->set, i, d, sizeof d);
        if (name)
            st_analyzer_anomaly(anomalies, entry, name, d);
    }
}

static void ioc_free(void *state)
{
    ioc_state *st = state;
    st_ioc_set_free(st->set); /* and the text, if still open */
    free(st);
}

const st_analyzer st_analyzer_iocs = {
    .name = "iocs",
    .help = "URLs, domains, IP and e-mail addresses, digests and MAC addresses in text "
            "attachments (stoQ's iocextract)",
    .setup = ioc_setup,
    .teardown = ioc_teardown,
    .begin = ioc_begin,
    .data = ioc_data,
    .end = ioc_end,
    .report = ioc_report,
    .free = ioc_free,
};
