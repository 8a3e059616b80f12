/*
 * config.c - option table, parsing and the config file.
 *
 * One table serves the config file, the command line and the C API. Each
 * option remembers where its value came from, and a value is replaced
 * only by one from the same or a stronger source: a call
 * (smtptap_config_set, smtptap_config_set_in: the command line is made of
 * such calls) beats a config file, which beats the default, whatever the
 * order they come in.
 *
 * The config file is INI as stoQ writes it: [smtp] holds the stoQ plugin's
 * options, [output], [capture] and [limits] the rest (docs/smtptap.conf
 * lists them all). A key in [S] names option KEY, or S_KEY when there is
 * no option KEY ([yara] rules = ... is yara_rules). Lines before any
 * section are plain key = value. '#' and ';' start a comment at the start
 * of a line or after a blank.
 *
 * How it fails: an unknown key, a malformed value or an unreadable file
 * gives -1 and a message naming the key (and file:line); the config is
 * left as it was for that key, and a file stops at its first bad line.
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { OPT_BOOL, OPT_INT, OPT_STR } opt_type;

typedef struct {
    const char *name;
    const char *section; /* of the config file: [output], [smtp], [capture], [limits] */
    opt_type type;
    size_t off;
    const char *def;
    long min, max;
    const char *help;
} opt;

#define O(f) offsetof(struct smtptap_config, f)

static const opt options[] = {
    {"output_dir", "output", OPT_STR, O(output_dir), "smtptap-out", 0, 0,
     "directory for sessions.jsonl, messages/ and files/"},
    {"record_format", "output", OPT_STR, O(record_format), "smtptap", 0, 0,
     "smtptap (one nested record per session) or eve (Suricata EVE smtp and fileinfo events)"},
    {"sinks", "output", OPT_STR, O(sinks), "file", 0, 0,
     "where records go: file (OUT/sessions.jsonl), stdout (standard output, a line per record "
     "written at once), or \"\" for none (a C API callback only)"},
    /* the Redis sink (output/sink_redis.c), opened beside the file when redis is set */
    {"redis", "redis", OPT_STR, O(redis), "", 0, 0,
     "Redis server records also go to: redis://HOST[:PORT][/DB] or unix:/PATH (\"\": none)"},
    {"redis_key", "redis", OPT_STR, O(redis_key), "smtptap", 0, 0,
     "the Redis stream, list or channel records go to"},
    {"redis_mode", "redis", OPT_STR, O(redis_mode), "stream", 0, 0,
     "stream (XADD key * record JSON), list (RPUSH key JSON) or publish (PUBLISH key JSON)"},
    {"redis_maxlen", "redis", OPT_INT, O(redis_maxlen), "0", 0, LONG_MAX,
     "trim the stream to about this many records (XADD MAXLEN ~; 0: no trim)"},
    {"redis_queue", "redis", OPT_INT, O(redis_queue), "16777216", 0, LONG_MAX,
     "bytes of records waiting for Redis in memory; the oldest then wait in OUT/redis-spool.jsonl"},
    {"redis_spool_max", "redis", OPT_INT, O(redis_spool_max), "1073741824", 0, LONG_MAX,
     "bytes of records waiting in OUT/redis-spool.jsonl; beyond, they are lost (redis_lost)"},
    {"redis_close_wait", "redis", OPT_INT, O(redis_close_wait), "5", 0, 3600,
     "seconds the end of a run waits for Redis before it leaves records in the spool"},
    {"stats_interval", "output", OPT_INT, O(stats_interval), "60", 0, 86400,
     "seconds between lines of OUT/stats.jsonl (also at the end and on SIGUSR1; 0: only then)"},
    {"store_messages", "output", OPT_BOOL, O(store_messages), "true", 0, 1,
     "write each message as messages/<aa>/<sha256>.eml"},
    {"message_store_max", "output", OPT_INT, O(message_store_max), "1073741824", 0, LONG_MAX,
     "largest message stored, in bytes (larger ones are hashed only)"},
    {"attachment_store_max", "output", OPT_INT, O(attachment_store_max), "67108864", 0, LONG_MAX,
     "largest attachment stored in files/, in bytes (larger ones are hashed only)"},
    {"body_max", "limits", OPT_INT, O(body_max), "1048576", 0, 1 << 30,
     "bytes of body and body_html kept in the record (the rest is cut)"},
    {"mime_header_bytes", "limits", OPT_INT, O(mime_header_bytes), "65536", 1024, 1 << 24,
     "bytes of one MIME header block kept (like Zeek's MIME::max_header_bytes)"},
    {"mime_max_headers", "limits", OPT_INT, O(mime_max_headers), "1000", 1, 1000000,
     "header fields reported per MIME entity"},
    {"mime_max_depth", "limits", OPT_INT, O(mime_max_depth), "100", 1, 10000,
     "deepest MIME nesting parsed (deeper containers are one opaque part)"},
    {"mime_max_parts", "limits", OPT_INT, O(mime_max_parts), "10000", 1, 10000000,
     "MIME entities per message (the rest stays in the last part)"},
    {"max_attachments", "limits", OPT_INT, O(max_attachments), "1000", 1, 10000000,
     "attachments listed per message (the rest are counted)"},
    {"omit_body", "smtp", OPT_BOOL, O(omit_body), "false", 0, 1,
     "stoQ: leave body and body_html out of the record"},
    {"always_dispatch", "smtp", OPT_STR, O(always_dispatch), "hash", 0, 0,
     "stoQ: analyzers run on every attachment, comma-separated (built in: hash, magic, yara, "
     "iocs)"},
    {"archive_attachments", "smtp", OPT_BOOL, O(archive_attachments), "true", 0, 1,
     "stoQ: write attachments to files/<aa>/<sha256>"},
    {"extract_iocs", "smtp", OPT_BOOL, O(extract_iocs), "false", 0, 1,
     "stoQ: extract IOCs from the ioc_keys headers and bodies into message.iocs"},
    {"ioc_keys", "smtp", OPT_STR, O(ioc_keys),
     "received,x-orig-ip,x-originating-ip,x-remote-ip,x-sender-ip,body,body_html", 0, 0,
     "stoQ: where IOCs are looked for"},
    {"ioc_allowlist", "smtp", OPT_STR, O(ioc_allowlist), "", 0, 0,
     "file of known-good IOCs left out (CIDRs, domain suffixes, stoQ type:pattern lines)"},
    {"ioc_max", "limits", OPT_INT, O(ioc_max), "1000", 1, 1000000,
     "IOCs kept per message and per attachment (the rest are counted)"},
    {"ioc_max_bytes", "limits", OPT_INT, O(ioc_max_bytes), "16777216", 0, LONG_MAX,
     "bytes searched for IOCs per message and per attachment (0: all; the rest are counted)"},
    {"hash_algorithms", "hash", OPT_STR, O(hash_algorithms), "md5,sha1,sha256", 0, 0,
     "digests the hash analyzer reports, comma-separated: md5, sha1, sha256, sha512, ssdeep "
     "(sha256 always: it names the object)"},
    {"yara_rules", "yara", OPT_STR, O(yara_rules), "", 0, 0,
     "YARA rules for the yara analyzer: a file, or a directory of .yar/.yara files"},
    {"yara_max_bytes", "yara", OPT_INT, O(yara_max_bytes), "67108864", 0, LONG_MAX,
     "bytes of an attachment the yara analyzer scans (0: all); the rest is flagged truncated"},
    {"yara_scan_messages", "yara", OPT_BOOL, O(yara_scan_messages), "false", 0, 1,
     "also scan each whole message with the yara rules (message.yara)"},
    {"live_filter", "capture", OPT_STR, O(live_filter),
     "tcp port 25 or tcp port 587 or tcp port 2525", 0, 0,
     "BPF filter for live capture when none is given"},
    {"snaplen", "capture", OPT_INT, O(snaplen), "262144", 128, 262144, "live capture snap length"},
    {"max_streams", "capture", OPT_INT, O(max_streams), "32768", 16, 1 << 24,
     "TCP streams followed at once (the oldest is evicted beyond)"},
    {"idle_timeout", "capture", OPT_INT, O(idle_timeout), "300", 1, 86400,
     "seconds of packet time after which a silent session is closed"},
    {"ooo_limit", "capture", OPT_INT, O(ooo_limit), "32768", 1024, 60000,
     "bytes queued behind a hole before the hole is skipped"},
    {"hole_grace", "capture", OPT_INT, O(hole_grace), "1000", 0, 60000,
     "ms of packet time a hole the receiver acknowledged waits for a late copy (taps reorder)"},
    {"workers", "capture", OPT_INT, O(workers), "1", 0, 64,
     "worker processes sharing the capture (0 or auto: one per core)"},
    {"midstream", "capture", OPT_BOOL, O(midstream), "true", 0, 1,
     "follow connections whose handshake was not captured (a capture begun mid-session)"},
    {"max_line", "limits", OPT_INT, O(max_line), "4096", 512, 1 << 20,
     "longest SMTP command/reply line kept"},
    {"max_pending", "limits", OPT_INT, O(max_pending), "1000", 1, 100000,
     "pipelined commands waiting for replies"},
    {"max_transactions", "limits", OPT_INT, O(max_transactions), "1000", 1, 1000000,
     "transactions kept per session record"},
    {"max_rcpts", "limits", OPT_INT, O(max_rcpts), "1000", 1, 1000000,
     "recipients kept per transaction"},
    {"max_anomalies", "limits", OPT_INT, O(max_anomalies), "100", 1, 100000,
     "anomalies kept per record"},
};

#define N_OPTIONS (sizeof options / sizeof *options)
_Static_assert(N_OPTIONS <= sizeof((smtptap_config *)0)->src, "smtptap_config.src too small");

static const opt *find(const char *key)
{
    char k[64];
    size_t i;
    for (i = 0; key[i] && i + 1 < sizeof k; i++)
        k[i] = key[i] == '-' ? '_' : key[i];
    k[i] = 0;
    for (size_t j = 0; j < N_OPTIONS; j++)
        if (strcmp(options[j].name, k) == 0)
            return &options[j];
    return NULL;
}

/* KEY in [section]: the option KEY, else section_KEY. */
static const opt *find_in(const char *section, const char *key)
{
    char k[128];
    const opt *o = find(key);
    if (o || !section || !*section)
        return o;
    snprintf(k, sizeof k, "%s_%s", section, key);
    return find(k);
}

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

static int set_value(smtptap_config *c, const opt *o, const char *v, char *err, size_t errlen)
{
    char *field = (char *)c + o->off;
    if (o->type == OPT_BOOL) {
        if (parse_bool(v, (int *)field) == 0)
            return 0;
        snprintf(err, errlen, "%s: expected true or false, not '%s'", o->name, v);
        return -1;
    }
    if (o->type == OPT_INT) {
        char *end;
        if (!strcmp(o->name, "workers") && !strcmp(v, "auto"))
            v = "0";
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < o->min || n > o->max) {
            snprintf(err, errlen, "%s: expected a number from %ld to %ld, not '%s'", o->name,
                     o->min, o->max, v);
            return -1;
        }
        *(long *)field = n;
        return 0;
    }
    if (!strcmp(o->name, "record_format") && strcmp(v, "smtptap") && strcmp(v, "eve")) {
        snprintf(err, errlen, "%s: expected smtptap or eve, not '%s'", o->name, v);
        return -1;
    }
    char *dup = strdup(v);
    if (!dup) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(*(char **)field);
    *(char **)field = dup;
    return 0;
}

/* A value from src, unless a stronger source set this option already. */
static int set_opt(smtptap_config *c, const opt *o, const char *v, st_config_src src, char *err,
                   size_t errlen)
{
    unsigned char *have = &c->src[o - options];
    if (*have > src)
        return 0;
    if (set_value(c, o, v, err, errlen) != 0)
        return -1;
    *have = (unsigned char)src;
    return 0;
}

smtptap_config *smtptap_config_new(void)
{
    smtptap_config *c = calloc(1, sizeof *c);
    char err[128];
    if (!c)
        return NULL;
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (set_opt(c, &options[i], options[i].def, ST_SRC_DEFAULT, err, sizeof err) != 0) {
            smtptap_config_free(c);
            return NULL;
        }
    return c;
}

void smtptap_config_free(smtptap_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].type == OPT_STR)
            free(*(char **)((char *)c + options[i].off));
    free(c);
}

static int set_from(smtptap_config *c, const char *section, const char *key, const char *value,
                    st_config_src src, char *err, size_t errlen)
{
    const opt *o = find_in(section, key);
    if (!o && section && *section) {
        snprintf(err, errlen, "unknown option '%s' in [%s]", key, section);
        return -1;
    }
    if (!o) {
        snprintf(err, errlen, "unknown option '%s'", key);
        return -1;
    }
    return set_opt(c, o, value, src, err, errlen);
}

int smtptap_config_set(smtptap_config *c, const char *key, const char *value, char *err,
                       size_t errlen)
{
    return set_from(c, NULL, key, value, ST_SRC_CALL, err, errlen);
}

int smtptap_config_set_in(smtptap_config *c, const char *section, const char *key,
                          const char *value, char *err, size_t errlen)
{
    return set_from(c, section, key, value, ST_SRC_CALL, err, errlen);
}

const char *smtptap_config_get(const smtptap_config *c, const char *key)
{
    const opt *o = find(key);
    if (!o)
        return NULL;
    const char *field = (const char *)c + o->off;
    smtptap_config *m = (smtptap_config *)c; /* scratch buffer only */
    switch (o->type) {
    case OPT_BOOL:
        return *(const int *)field ? "true" : "false";
    case OPT_INT:
        snprintf(m->getbuf, sizeof m->getbuf, "%ld", *(const long *)field);
        return m->getbuf;
    default:
        return *(char *const *)field;
    }
}

void smtptap_config_describe(void (*fn)(void *, const char *, const char *, const char *),
                             void *arg)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        fn(arg, options[i].name, options[i].def, options[i].help);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

/* A comment starts with '#' or ';' at the start or after a blank. */
static void cut_comment(char *s)
{
    for (char *p = s; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == s || isspace((unsigned char)p[-1]))) {
            *p = 0;
            return;
        }
    }
}

/* One line; section is the current [section] (updated here). */
static int load_line(smtptap_config *c, char *s, char *section, size_t seclen, char *why,
                     size_t whylen)
{
    cut_comment(s);
    s = trim(s);
    if (!*s)
        return 0;
    if (*s == '[') {
        char *end = strchr(s, ']');
        if (!end || end[1] || end - s - 1 >= (long)seclen) {
            snprintf(why, whylen, "expected [section]");
            return -1;
        }
        *end = 0;
        snprintf(section, seclen, "%s", trim(s + 1));
        return 0;
    }
    char *eq = strchr(s, '=');
    if (!eq) {
        snprintf(why, whylen, "expected key = value");
        return -1;
    }
    *eq = 0;
    return set_from(c, section, trim(s), trim(eq + 1), ST_SRC_FILE, why, whylen);
}

int smtptap_config_load(smtptap_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096], why[256], section[64] = "";
    int n = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        n++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, n, sizeof line - 2);
            rc = -1;
        } else if (load_line(c, line, section, sizeof section, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, n, why);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

smtptap_config *st_config_dup(const smtptap_config *src)
{
    smtptap_config *c = smtptap_config_new();
    char err[256];
    for (size_t i = 0; c && i < N_OPTIONS; i++) {
        const char *v = smtptap_config_get(src, options[i].name);
        if (set_opt(c, &options[i], v, src->src[i], err, sizeof err) != 0) {
            smtptap_config_free(c);
            c = NULL;
        }
    }
    return c;
}
