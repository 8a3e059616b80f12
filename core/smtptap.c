/*
 * smtptap.c - the public API: sources in, records out.
 *
 * Owns the output directory, the record file and the stores, and runs the
 * packet loop for files and interfaces; message files and Maildirs go to
 * core/msgfile.c and core/maildir.c. Read errors end the source that
 * had them, never the process; sessions already seen are flushed by
 * smtptap_close whatever happened before.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "capture/source.h"
#include "core/core.h"

struct smtptap {
    st_core core;
    st_source *current; /* for smtptap_stop */
    volatile sig_atomic_t stopping;
};

const char *smtptap_version(void)
{
    return ST_VERSION;
}

void st_core_emit_text(st_core *c, char *line)
{
    if (!line || fputs(line, c->jsonl) == EOF || fputc('\n', c->jsonl) == EOF)
        c->stats.output_errors++;
    else
        c->stats.sessions++;
    if (c->flush_each)
        fflush(c->jsonl);
    free(line);
}

void st_core_emit(st_core *c, json_t *rec)
{
    st_core_emit_text(c, rec ? json_dumps(rec, ST_RECORD_JSON_FLAGS) : NULL);
    json_decref(rec);
}

/* Many sessions in flight each hold a tmp file open: raise the fd limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int open_outputs(smtptap *t, char *err, size_t errlen)
{
    st_core *c = &t->core;
    char path[4096];
    /* the store creates the output directory, parents included */
    c->messages = st_store_open(c->cfg->output_dir, "messages", ".eml", err, errlen);
    if (!c->messages)
        return -1;
    if (c->cfg->archive_attachments &&
        !(c->files = st_store_open(c->cfg->output_dir, "files", "", err, errlen)))
        return -1;
    snprintf(path, sizeof path, "%s/sessions.jsonl", c->cfg->output_dir);
    c->jsonl = fopen(path, "w");
    if (!c->jsonl) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    setvbuf(c->jsonl, NULL, _IOFBF, 1 << 16);
    return 0;
}

/* One extraction for SMTP messages and message files alike. */
static void message_config(st_core *c)
{
    st_message_config_default(&c->msg_config);
    c->msg_config.files = c->files;
    c->msg_config.attachment_store_max = (uint64_t)c->cfg->attachment_store_max;
    c->msg_config.body_max = (size_t)c->cfg->body_max;
    c->msg_config.omit_body = c->cfg->omit_body;
    c->msg_config.max_attachments = (size_t)c->cfg->max_attachments;
    c->msg_config.mime.max_header_bytes = (size_t)c->cfg->mime_header_bytes;
    c->msg_config.mime.max_headers = (size_t)c->cfg->mime_max_headers;
    c->msg_config.mime.max_depth = (unsigned)c->cfg->mime_max_depth;
    c->msg_config.mime.max_parts = (size_t)c->cfg->mime_max_parts;
}

static void free_core(smtptap *t)
{
    st_core *c = &t->core;
    if (c->jsonl)
        fclose(c->jsonl);
    st_store_close(c->messages);
    st_store_close(c->files);
    smtptap_config_free(c->cfg);
    free(t);
}

smtptap *smtptap_open(const smtptap_config *cfg, char *err, size_t errlen)
{
    smtptap *t = calloc(1, sizeof *t);
    if (!t || !(t->core.cfg = st_config_dup(cfg))) {
        free(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st_core *c = &t->core;
    st_smtp_limits_default(&c->smtp_limits);
    c->smtp_limits.max_line = (size_t)c->cfg->max_line;
    c->smtp_limits.max_pending = (size_t)c->cfg->max_pending;
    st_record_limits_default(&c->record_limits);
    c->record_limits.max_transactions = (size_t)c->cfg->max_transactions;
    c->record_limits.max_rcpts = (size_t)c->cfg->max_rcpts;
    c->record_limits.max_anomalies = (size_t)c->cfg->max_anomalies;
    if (open_outputs(t, err, errlen) != 0) {
        free_core(t);
        return NULL;
    }
    message_config(c);
    st_reasm_config rc;
    st_reasm_config_default(&rc);
    rc.max_streams = (int)c->cfg->max_streams;
    rc.idle_timeout = (int)c->cfg->idle_timeout;
    rc.ooo_limit = (int)c->cfg->ooo_limit;
    if (st_reasm_init(&rc, &st_session_ops, c, err, errlen) != 0) {
        free_core(t);
        return NULL;
    }
    raise_fd_limit();
    return t;
}

/* Read packets until the source ends, fails or we are stopped. */
static int pump(smtptap *t, st_source *src, char *err, size_t errlen)
{
    st_packet pkt;
    int linktype = st_source_linktype(src);
    t->current = src;
    for (;;) {
        if (t->stopping)
            break;
        st_source_result r = st_source_next(src, &pkt);
        if (r == ST_SRC_PACKET) {
            st_reasm_packet(&pkt, linktype);
            continue;
        }
        if (r == ST_SRC_TIMEOUT) {
            struct timeval now; /* live: packet time is wall time */
            gettimeofday(&now, NULL);
            st_reasm_tick(&now);
            continue;
        }
        if (r == ST_SRC_ERROR) {
            snprintf(err, errlen, "%s", st_source_error(src));
            t->current = NULL;
            return -1;
        }
        break;
    }
    t->current = NULL;
    return 0;
}

static int with_source(smtptap *t, st_source *src, const char *bpf, char *err, size_t errlen)
{
    if (!src)
        return -1;
    if (bpf && *bpf && st_source_set_filter(src, bpf, err, errlen) != 0) {
        st_source_close(src);
        return -1;
    }
    int rc = pump(t, src, err, errlen);
    uint64_t recv, drop;
    st_source_stats(src, &recv, &drop);
    t->core.stats.pcap_dropped += drop;
    st_source_close(src);
    return rc;
}

int smtptap_read_file(smtptap *t, const char *path, const char *bpf, char *err, size_t errlen)
{
    return with_source(t, st_source_open_file(path, err, errlen), bpf, err, errlen);
}

int smtptap_sniff(smtptap *t, const char *ifname, const char *bpf, char *err, size_t errlen)
{
    st_core *c = &t->core;
    c->flush_each = 1;
    st_source *src = st_source_open_live(ifname, (int)c->cfg->snaplen, 1, 100, err, errlen);
    return with_source(t, src, bpf ? bpf : c->cfg->live_filter, err, errlen);
}

int smtptap_read_eml(smtptap *t, const char *path, char *err, size_t errlen)
{
    return st_msgfile_read(&t->core, AT_FDCWD, path, path, "eml", 0, err, errlen) < 0 ? -1 : 0;
}

int smtptap_watch_maildir(smtptap *t, const char *dir, int follow, char *err, size_t errlen)
{
    if (follow)
        t->core.flush_each = 1; /* a record is looked for as soon as its mail arrives */
    return st_maildir_watch(&t->core, dir, follow, &t->stopping, err, errlen);
}

void smtptap_stop(smtptap *t)
{
    t->stopping = 1;
    st_source *src = t->current;
    if (src)
        st_source_breakloop(src);
}

void smtptap_get_stats(const smtptap *t, smtptap_stats *s)
{
    const st_reasm_counters *rc = st_reasm_get_counters();
    *s = t->core.stats;
    s->packets = rc->packets;
    s->bytes = rc->bytes;
    s->streams = rc->streams;
}

void smtptap_flush(smtptap *t)
{
    st_reasm_flush();
    fflush(t->core.jsonl);
}

/* OUT/stats.json: what was read, followed, skipped and written, for the
 * operator (drops, holes and libnids' complaints are not in any record). */
static int write_stats(smtptap *t)
{
    const st_reasm_counters *r = st_reasm_get_counters();
    smtptap_stats s;
    smtptap_get_stats(t, &s);
    static const char *warn[10] = {"undefined",    "ip_oversized", "ip_invlist",  "ip_overlap",
                                   "ip_hdr",       "ip_srr",       "tcp_toomuch", "tcp_hdr",
                                   "tcp_bigqueue", "tcp_badflags"}; /* NIDS_WARN_* order */
    json_t *w = json_object();
    for (int i = 0; i < 10; i++)
        json_object_set_new(w, warn[i], json_integer((json_int_t)r->nids_warnings[i]));
    json_t *j = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}}",
        "packets", (json_int_t)s.packets, "bytes", (json_int_t)s.bytes, "streams",
        (json_int_t)s.streams, "sessions", (json_int_t)s.sessions, "transactions",
        (json_int_t)s.transactions, "messages", (json_int_t)s.messages, "missing_bytes",
        (json_int_t)s.missing_bytes, "pcap_dropped", (json_int_t)s.pcap_dropped, "output_errors",
        (json_int_t)s.output_errors, "reassembly", "not_ip", (json_int_t)r->not_ip, "l2_errors",
        (json_int_t)r->l2_errors, "ip_errors", (json_int_t)r->ip_errors, "not_tcp",
        (json_int_t)r->not_tcp, "ipv6_tcp", (json_int_t)r->ipv6_tcp, "ipv6_fragments",
        (json_int_t)r->ipv6_fragments, "ipv6_map_full", (json_int_t)r->ipv6_map_full, "reserved_v4",
        (json_int_t)r->reserved_v4, "holes", (json_int_t)r->holes, "hole_bytes",
        (json_int_t)r->hole_bytes, "idle_closed", (json_int_t)r->idle_closed, "reused",
        (json_int_t)r->reused, "evicted", (json_int_t)r->evicted, "one_sided",
        (json_int_t)r->one_sided, "trimmed", (json_int_t)r->trimmed, "nids_warnings", w);
    char path[4096];
    snprintf(path, sizeof path, "%s/stats.json", t->core.cfg->output_dir);
    int rc = j ? json_dump_file(j, path, JSON_INDENT(2)) : -1;
    json_decref(j);
    return rc;
}

int smtptap_close(smtptap *t, char *err, size_t errlen)
{
    st_reasm_shutdown(); /* closes every open session: records are written */
    st_core *c = &t->core;
    int rc = 0;
    if (write_stats(t) != 0)
        c->stats.output_errors++;
    if (fflush(c->jsonl) != 0 || ferror(c->jsonl)) {
        snprintf(err, errlen, "%s/sessions.jsonl: %s", c->cfg->output_dir, strerror(errno));
        rc = -1;
    } else if (c->stats.output_errors) {
        snprintf(err, errlen, "%llu records or files could not be written",
                 (unsigned long long)c->stats.output_errors);
        rc = -1;
    }
    free_core(t);
    return rc;
}
