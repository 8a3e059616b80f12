/*
 * ioc_analyzer.c - the "iocs" analyzer: the IOCs inside text-like
 * attachments (text types, or decoded bytes that are valid UTF-8), with the
 * engine of ioc.h.
 *
 * Entry point: st_analyzer_iocs (analyzers.c). Field: "iocs": {by type},
 * as message.iocs (docs/record.md, IOCs), the text named "attachment";
 * null when the object is not text. Options: ioc_allowlist, ioc_max,
 * ioc_max_bytes (per object).
 *
 * Bytes are searched as they stream; an object whose first
 * ST_IOC_SNIFF bytes hold a NUL, or whose bytes stop being UTF-8, is
 * searched no further unless its Content-Type says text (known only at
 * report: its values are kept until then, within the caps).
 *
 * How it fails: an engine that cannot be built (no public suffix data, a
 * bad allow-list line) fails setup with its message.
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyzer.h"
#include "analyze/ioc.h"

#define ST_IOC_SNIFF 8192

static st_ioc_engine *engine;

typedef struct {
    st_ioc_set *set;
    st_ioc_text *text;
    uint64_t seen;
    int binary;    /* a NUL in the first bytes */
    int not_utf8;  /* a byte sequence that is no UTF-8 */
    unsigned need; /* continuation bytes the current UTF-8 sequence still needs */
} ioc_state;

static long number(st_option_fn opt, void *ctx, const char *name, long def)
{
    const char *v = opt(ctx, name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

static int iocs_setup(st_option_fn opt, void *ctx, char *err, size_t errlen)
{
    st_ioc_config c;
    st_ioc_config_default(&c);
    c.max_iocs = (size_t)number(opt, ctx, "ioc_max", (long)c.max_iocs);
    c.max_bytes = (uint64_t)number(opt, ctx, "ioc_max_bytes", (long)c.max_bytes);
    c.allowlist = opt(ctx, "ioc_allowlist");
    engine = st_ioc_engine_new(&c, err, errlen);
    return engine ? 0 : -1;
}

static void iocs_teardown(void)
{
    st_ioc_engine_free(engine);
    engine = NULL;
}

static void *iocs_begin(void)
{
    ioc_state *s = calloc(1, sizeof *s);
    if (s && !(s->set = st_ioc_set_new(engine))) {
        free(s);
        return NULL;
    }
    if (s)
        s->text = st_ioc_begin(s->set, "attachment", 0);
    return s;
}

/* Tracks whether d continues a valid UTF-8 sequence of bytes. */
static void utf8_track(ioc_state *s, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n && !s->not_utf8; i++) {
        uint8_t c = d[i];
        if (s->need) {
            s->not_utf8 = (c & 0xC0) != 0x80;
            s->need--;
        } else if (c >= 0x80) {
            s->need = c >= 0xF0 && c < 0xF5 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : 0;
            s->not_utf8 = s->need == 0 || c >= 0xF5;
        }
    }
}

static void iocs_data(void *state, const uint8_t *d, size_t n)
{
    ioc_state *s = state;
    if (!s)
        return;
    if (s->seen < ST_IOC_SNIFF) {
        size_t k = n < ST_IOC_SNIFF - s->seen ? n : (size_t)(ST_IOC_SNIFF - s->seen);
        s->binary |= memchr(d, 0, k) != NULL;
    }
    s->seen += n;
    utf8_track(s, d, n);
    st_ioc_feed(s->text, d, n);
}

static int is_text_type(const json_t *entry)
{
    const char *ct = json_string_value(json_object_get(entry, "content_type"));
    return ct && strncmp(ct, "text/", 5) == 0;
}

static void iocs_report(void *state, const st_file_result *r, json_t *entry, json_t *anomalies)
{
    ioc_state *s = state;
    (void)r;
    if (!s) {
        json_object_set_new(entry, "iocs", json_null());
        return;
    }
    st_ioc_end(s->text);
    s->text = NULL;
    if (!is_text_type(entry) && (s->binary || s->not_utf8 || s->need)) {
        json_object_set_new(entry, "iocs", json_null());
        return;
    }
    json_t *j = st_ioc_set_json(s->set);
    json_object_set_new(entry, "iocs", j ? j : json_object());
    char d[48];
    for (int i = 0; i < 2; i++) {
        const char *name = st_ioc_cap_anomaly(s->set, i, d, sizeof d);
        if (name)
            st_analyzer_anomaly(anomalies, entry, name, d);
    }
}

static void iocs_free(void *state)
{
    ioc_state *s = state;
    st_ioc_end(s->text);
    st_ioc_set_free(s->set);
    free(s);
}

const st_analyzer st_analyzer_iocs = {
    .name = "iocs",
    .help = "IOCs (URLs, domains, addresses, digests) inside text attachments",
    .setup = iocs_setup,
    .teardown = iocs_teardown,
    .begin = iocs_begin,
    .data = iocs_data,
    .report = iocs_report,
    .free = iocs_free,
};
