/*
 * smtptap.c - the public API: sources in, records out.
 *
 * Owns the output directory, the record sink (output/sink.h: the file
 * OUT/sessions.jsonl), the stores and the analyzers' set-up
 * (core/message.c), and runs the packet loop for files and interfaces;
 * message files and Maildirs go to core/msgfile.c. Read errors end the
 * source that had them, never the process; sessions already seen are
 * flushed by smtptap_close whatever happened before. An unknown analyzer
 * in always_dispatch, or one whose set-up fails, makes smtptap_open fail
 * before any input is read.
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
#include <time.h>
#include <unistd.h>

#include "capture/l2.h"
#include "capture/source.h"
#include "core/core.h"
#include "output/eve.h"
#include "output/sink.h"
#include "output/stats.h"

const char *smtptap_version(void)
{
    return ST_VERSION;
}

static uint64_t now_ms(void);

/* Records the sink took and then gave up (a buffer that could not be
 * written out) are errors, not sessions. */
static void given_up(st_core *c, size_t n)
{
    c->stats.sessions -= n;
    c->stats.output_errors += n;
}

/* logrotate's postrotate: the lines buffered so far go to the file they
 * were meant for (the old one, renamed), the next to a new one by the
 * name. Asked from a signal handler, done here, between two lines. */
void st_core_reopen(st_core *c)
{
    char err[512];
    size_t n = 0;
    if (!c->reopen)
        return;
    c->reopen = 0;
    if (c->sink && st_sink_reopen(c->sink, &n, err, sizeof err) != 0)
        c->stats.output_errors++;
    given_up(c, n);
}

/* One line to the embedding program's callback and the sink (it takes
 * line); 0 when the sink took it. */
static int emit_line(st_core *c, char *line)
{
    if (line && c->record_fn)
        st_record_deliver(c->record_fn, c->record_arg, line, strlen(line));
    size_t n = line ? st_sink_write(c->sink, line, strlen(line)) : 1;
    if (n != 0) {
        c->stats.output_errors++; /* this one */
        given_up(c, n - 1);       /* and those lost with it */
    }
    free(line);
    return n == 0 ? 0 : -1;
}

/* record_format = eve: each event of the record is a line of its own. */
typedef struct {
    st_core *c;
    int failed;
} eve_out;

static void emit_eve(void *arg, char *line)
{
    eve_out *e = arg;
    if (emit_line(e->c, line) != 0)
        e->failed = 1;
}

static int is_eve(const st_core *c)
{
    return c->cfg->record_format && strcmp(c->cfg->record_format, "eve") == 0;
}

/* A record is one session in the stats however many lines it makes. */
void st_core_emit_text(st_core *c, char *line)
{
    st_core_reopen(c);
    int ok;
    if (line && is_eve(c)) {
        eve_out e = {c, 0};
        if (st_eve_text(line, strlen(line), emit_eve, &e) < 0) {
            (void)emit_line(c, NULL); /* no event could be made of it: an output error */
            e.failed = 1;
        }
        free(line);
        ok = !e.failed;
    } else {
        ok = emit_line(c, line) == 0;
    }
    if (ok)
        c->stats.sessions++;
    if (c->flush_each)
        given_up(c, st_sink_flush(c->sink));
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

/* The sinks option: one name the table knows, or none; checked before
 * anything is created. */
static int sink_name(const char *list, char *name, size_t cap, char *err, size_t errlen)
{
    size_t lead = strspn(list, " \t"), n = strcspn(list + lead, " \t,");
    if (list[lead + n + strspn(list + lead + n, " \t")] != 0 || n >= cap) {
        snprintf(err, errlen, "sinks: one output at a time for now, not '%s'", list);
        return -1;
    }
    snprintf(name, cap, "%.*s", (int)n, list + lead);
    if (n && !st_sink_find(name)) {
        snprintf(err, errlen, "sinks: no output '%s' (there is: file, stdout, redis)", name);
        return -1;
    }
    return 0;
}

/* Files an option names, even one no analyzer will read (yara_rules
 * without yara in a chain): a path that is not there is a mistake to
 * hear about before anything is written. */
static int check_paths(const smtptap_config *o, char *err, size_t errlen)
{
    const char *name[] = {"yara_rules", "ioc_allowlist"};
    const char *p[] = {o->yara_rules, o->ioc_allowlist};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        if (p[i] && *p[i] && access(p[i], R_OK) != 0) {
            snprintf(err, errlen, "%s %s: %s", name[i], p[i], strerror(errno));
            return -1;
        }
    return 0;
}

/* A sink's options (output/sink.h), by name, as the analyzers get theirs. */
static const char *sink_option(void *ctx, const char *name)
{
    return smtptap_config_get(ctx, name);
}

static int open_outputs(smtptap *t, char *err, size_t errlen)
{
    st_core *c = &t->core;
    /* the store creates the output directory, parents included */
    c->messages = st_store_open(c->cfg->output_dir, "messages", ".eml", err, errlen);
    if (!c->messages)
        return -1;
    if (c->cfg->archive_attachments &&
        (!(c->files = st_store_open(c->cfg->output_dir, "files", "", err, errlen)) ||
         !(c->files_partial = st_store_open(c->cfg->output_dir, "files/partial", "", err, errlen))))
        return -1;
    if (c->cfg->store_messages &&
        !(c->messages_partial =
              st_store_open(c->cfg->output_dir, "messages/partial", ".eml", err, errlen)))
        return -1;
    char name[32];
    if (sink_name(c->cfg->sinks, name, sizeof name, err, errlen) != 0)
        return -1;
    if (!*name)
        return 0; /* records to a callback only */
    st_sink_options so = {
        .output_dir = c->cfg->output_dir, .option = sink_option, .option_ctx = c->cfg};
    c->sink = st_sink_open(name, &so, err, errlen);
    return c->sink ? 0 : -1;
}

void smtptap_on_record(smtptap *t, smtptap_record_fn fn, void *arg)
{
    t->core.record_fn = fn;
    t->core.record_arg = arg;
}

static void free_core(smtptap *t)
{
    st_core *c = &t->core;
    st_sink_close(c->sink, NULL, NULL, 0); /* after a failed open only */
    st_core_message_teardown(c);
    st_store_close(c->messages);
    st_store_close(c->files);
    st_store_close(c->files_partial);
    st_store_close(c->messages_partial);
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
    t->worker = -1;
    gettimeofday(&t->started, NULL);
    t->stats_at = now_ms();
    st_smtp_limits_default(&c->smtp_limits);
    c->smtp_limits.max_line = (size_t)c->cfg->max_line;
    c->smtp_limits.max_pending = (size_t)c->cfg->max_pending;
    st_record_limits_default(&c->record_limits);
    c->record_limits.max_transactions = (size_t)c->cfg->max_transactions;
    c->record_limits.max_rcpts = (size_t)c->cfg->max_rcpts;
    c->record_limits.max_anomalies = (size_t)c->cfg->max_anomalies;
    char name[32];
    if (sink_name(c->cfg->sinks, name, sizeof name, err, errlen) != 0 ||
        check_paths(c->cfg, err, errlen) != 0 || st_core_message_setup(c, err, errlen) != 0 ||
        open_outputs(t, err, errlen) != 0) {
        free_core(t);
        return NULL;
    }
    st_core_message_stores(c);
    st_reasm_config rc;
    st_reasm_config_default(&rc);
    rc.max_streams = (int)c->cfg->max_streams;
    rc.idle_timeout = (int)c->cfg->idle_timeout;
    rc.ooo_limit = (int)c->cfg->ooo_limit;
    rc.hole_grace = (int)c->cfg->hole_grace;
    rc.midstream = c->cfg->midstream;
    if (st_reasm_init(&rc, &st_session_ops, c, err, errlen) != 0) {
        free_core(t);
        return NULL;
    }
    raise_fd_limit();
    return t;
}

/* Read packets until the source ends, fails or we are stopped. */
/* A capture from a pipe has nothing more now: the sessions closed and
 * waiting for their last packets are written, and the records buffered,
 * so that a quiet pipe (tcpdump -w - | smtptap -r -) does not sit on them. */
static void input_waits(void *arg)
{
    smtptap *t = arg;
    st_reasm_write_closed();
    st_core_flush_sink(&t->core);
}

int st_core_pump(smtptap *t, st_source *src, int ticks, char *err, size_t errlen)
{
    st_packet pkt;
    int linktype = st_source_linktype(src);
    t->current = src;
    if (!ticks) /* a worker's pipe waits for the reader, not for the wire */
        st_source_on_wait(src, input_waits, t);
    for (;;) {
        if (t->stopping)
            break;
        st_core_reopen(&t->core); /* a live capture may write nothing for hours */
        st_source_result r = st_source_next(src, &pkt);
        if (r == ST_SRC_PACKET && ticks && pkt.len == 0) {
            st_reasm_tick(&pkt.ts); /* workers.c: the capture's clock, no packet */
            continue;
        }
        if (r == ST_SRC_PACKET) {
            st_reasm_packet(&pkt, linktype);
            if (t->progress_fn && ++t->progress_n >= 1024)
                st_core_progress(t, src, 0, 0);
            if (++t->stats_n >= 256 || t->stats_now)
                st_core_stats_tick(t);
            continue;
        }
        if (r == ST_SRC_TIMEOUT) {
            struct timeval now; /* live: packet time is wall time */
            gettimeofday(&now, NULL);
            st_reasm_tick(&now);
            st_core_stats_tick(t);
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

/* One source, or (live, workers > 1) one handle per worker in one
 * fanout group. */
struct smtptap_input {
    st_source *src[ST_WORKERS_MAX];
    unsigned n;
    int live;
};

static smtptap_input *input_new(st_source *src, int live, char *err, size_t errlen)
{
    smtptap_input *in = src ? calloc(1, sizeof *in) : NULL;
    if (!in) {
        if (src)
            snprintf(err, errlen, "out of memory");
        st_source_close(src);
        return NULL;
    }
    in->src[0] = src;
    in->n = 1;
    in->live = live;
    return in;
}

smtptap_input *smtptap_input_file(const char *path, char *err, size_t errlen)
{
    return input_new(st_source_open_file(path, err, errlen), 0, err, errlen);
}

/* workers 0 is one per core. */
static unsigned workers(const smtptap_config *c)
{
    long n = c->workers ? c->workers : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > ST_WORKERS_MAX ? ST_WORKERS_MAX : (unsigned)n;
}

/* The other handles of a group: one fanout group for all, by our pid. */
static int live_group(smtptap_input *in, const smtptap_config *c, const char *ifname, unsigned n,
                      char *err, size_t errlen)
{
    int id = (int)(getpid() & 0xffff);
    if (st_source_fanout(in->src[0], id, err, errlen) != 0)
        return -1;
    for (; in->n < n; in->n++) {
        st_source *s = st_source_open_live(ifname, (int)c->snaplen, 1, 100, err, errlen);
        if (!s)
            return -1;
        in->src[in->n] = s;
        if (st_source_fanout(s, id, err, errlen) != 0)
            return -1;
    }
    return 0;
}

smtptap_input *smtptap_input_live(const smtptap_config *c, const char *ifname, char *err,
                                  size_t errlen)
{
    st_source *src = st_source_open_live(ifname, (int)c->snaplen, 1, 100, err, errlen);
    smtptap_input *in = input_new(src, 1, err, errlen);
    unsigned n = workers(c);
    if (in && ((n > 1 && live_group(in, c, ifname, n, err, errlen) != 0) ||
               smtptap_input_filter(in, c->live_filter, err, errlen) != 0)) {
        smtptap_input_close(in);
        return NULL;
    }
    return in;
}

int smtptap_input_filter(smtptap_input *in, const char *bpf, char *err, size_t errlen)
{
    if (!in || !bpf || !*bpf)
        return 0;
    for (unsigned i = 0; i < in->n; i++)
        if (st_source_set_filter(in->src[i], bpf, err, errlen) != 0)
            return -1;
    return 0;
}

void smtptap_input_close(smtptap_input *in)
{
    if (!in)
        return;
    for (unsigned i = 0; i < in->n; i++)
        st_source_close(in->src[i]);
    free(in);
}

int smtptap_run_input(smtptap *t, smtptap_input *in, char *err, size_t errlen)
{
    if (!in)
        return -1;
    if (in->n > 1) {
        int rc = st_workers_live(t, in->src, in->n, err, errlen);
        in->n = 0; /* closed there */
        smtptap_input_close(in);
        return rc;
    }
    if (in->live)
        t->core.flush_each = 1;
    int rc = st_core_pump(t, in->src[0], 0, err, errlen);
    st_core_source_done(&t->core, in->src[0]);
    smtptap_input_close(in);
    return rc;
}

/* An input with its filter, or NULL (the input closed). */
static smtptap_input *filtered(smtptap_input *in, const char *bpf, char *err, size_t errlen)
{
    if (smtptap_input_filter(in, bpf, err, errlen) == 0)
        return in;
    smtptap_input_close(in);
    return NULL;
}

int smtptap_read_file(smtptap *t, const char *path, const char *bpf, char *err, size_t errlen)
{
    smtptap_input *in = filtered(smtptap_input_file(path, err, errlen), bpf, err, errlen);
    return smtptap_run_input(t, in, err, errlen);
}

int smtptap_sniff(smtptap *t, const char *ifname, const char *bpf, char *err, size_t errlen)
{
    smtptap_input *in = smtptap_input_live(t->core.cfg, ifname, err, errlen);
    return smtptap_run_input(t, filtered(in, bpf, err, errlen), err, errlen);
}

static int write_stats(smtptap *t);
static void counters(const smtptap *t, st_reasm_counters *rc);
static uint64_t now_ms(void);

/* Resident memory of this process, from /proc/self/statm (0 if unknown). */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

void st_core_stats_line(smtptap *t, int final)
{
    st_stats_line l = {.worker = t->worker, .final = final, .rss_bytes = rss_bytes()};
    gettimeofday(&l.now, NULL);
    l.uptime = (double)(l.now.tv_sec - t->started.tv_sec) +
               (double)(l.now.tv_usec - t->started.tv_usec) / 1e6;
    smtptap_stats s;
    st_reasm_counters rc;
    smtptap_get_stats(t, &s);
    counters(t, &rc);
    char path[4096];
    snprintf(path, sizeof path, "%s/stats.jsonl", t->core.cfg->output_dir);
    if (st_stats_append(path, &s, &rc, &l) != 0)
        t->core.stats.output_errors++;
    t->stats_at = now_ms();
}

void st_core_stats_tick(smtptap *t)
{
    t->stats_n = 0;
    long every = t->core.cfg->stats_interval;
    if (!t->stats_now && (every <= 0 || now_ms() - t->stats_at < (uint64_t)every * 1000))
        return;
    t->stats_now = 0;
    st_core_stats_line(t, 0);
    if (t->worker < 0 && write_stats(t) != 0) /* the snapshot follows, the run's alone */
        t->core.stats.output_errors++;
}

void smtptap_stats_now(smtptap *t)
{
    t->stats_now = 1;
}

void smtptap_on_progress(smtptap *t, void (*fn)(void *arg, const smtptap_progress *p), void *arg)
{
    t->progress_fn = fn;
    t->progress_arg = arg;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void st_core_progress(smtptap *t, const st_source *src, int force, uint64_t packets)
{
    t->progress_n = 0;
    if (!t->progress_fn)
        return;
    uint64_t now = now_ms();
    if (!force && now - t->progress_at < 250)
        return;
    t->progress_at = now;
    smtptap_stats s;
    smtptap_get_stats(t, &s);
    smtptap_progress p = {t->files_done + (src ? st_source_file_bytes(src) : 0),
                          packets ? packets : s.packets, s.sessions};
    t->progress_fn(t->progress_arg, &p);
}

/* A capture file read to its end: its bytes count as done. */
static void file_done(smtptap *t, st_source *s)
{
    t->files_done += st_source_file_bytes(s);
    st_core_progress(t, NULL, 1, 0);
}

/* smtptap_read_files on workers: the sources one after the other. */
typedef struct {
    smtptap_input *first;
    const char *const *paths;
    size_t n, next;
    const char *bpf;
    void (*on_error)(void *, const char *);
    void *arg;
    int failed;
} files_iter;

static st_source *next_file(void *arg)
{
    files_iter *it = arg;
    char err[1024];
    if (it->first) {
        st_source *s = it->first->src[0];
        it->first->n = 0;
        smtptap_input_close(it->first);
        it->first = NULL;
        return s;
    }
    while (it->next < it->n) {
        smtptap_input *in = filtered(smtptap_input_file(it->paths[it->next++], err, sizeof err),
                                     it->bpf, err, sizeof err);
        if (in) {
            st_source *s = in->src[0];
            in->n = 0;
            smtptap_input_close(in);
            return s;
        }
        it->failed = 1;
        it->on_error(it->arg, err);
    }
    return NULL;
}

int smtptap_read_files(smtptap *t, smtptap_input *first, const char *const *paths, size_t n,
                       const char *bpf, void (*on_error)(void *arg, const char *msg), void *arg)
{
    char err[1024];
    unsigned w = workers(t->core.cfg);
    files_iter it = {first, paths, n, 0, bpf, on_error, arg, 0};
    if (w > 1) {
        if (st_workers_files(t, w, next_file, &it, err, sizeof err) != 0) {
            on_error(arg, err);
            it.failed = 1;
        }
        smtptap_input_close(it.first);
        return it.failed ? -1 : 0;
    }
    st_source *s;
    while (!t->stopping && (s = next_file(&it)) != NULL) {
        int rc = st_core_pump(t, s, 0, err, sizeof err);
        file_done(t, s);
        st_source_close(s);
        if (rc != 0) {
            on_error(arg, err);
            it.failed = 1;
        }
    }
    smtptap_input_close(it.first); /* stopped before it was read */
    return it.failed ? -1 : 0;
}

int smtptap_feed_packet(smtptap *t, const struct timeval *ts, int linktype, const void *data,
                        size_t caplen, size_t len)
{
    st_packet pkt = {*ts, data, (uint32_t)caplen, (uint32_t)len};
    if (!st_l2_linktype_supported(linktype))
        return -1;
    st_reasm_packet(&pkt, linktype);
    return 0;
}

int smtptap_feed_message(smtptap *t, const char *name, const void *data, size_t len,
                         const struct timeval *ts, char *err, size_t errlen)
{
    struct timeval now;
    if (!ts) {
        gettimeofday(&now, NULL);
        ts = &now;
    }
    st_reasm_write_closed(); /* records come in the order their inputs did */
    return st_msgmem_read(&t->core, name, data, len, ts, err, errlen);
}

int smtptap_read_eml(smtptap *t, const char *path, char *err, size_t errlen)
{
    st_reasm_write_closed();
    return st_msgfile_read(&t->core, AT_FDCWD, path, path, "eml", 0, err, errlen) < 0 ? -1 : 0;
}

int smtptap_watch_maildir(smtptap *t, const char *dir, int follow, char *err, size_t errlen)
{
    if (follow)
        t->core.flush_each = 1; /* a record is looked for as soon as its mail arrives */
    st_reasm_write_closed();
    return st_core_maildir(&t->core, dir, follow, &t->stopping, err, errlen);
}

int smtptap_setuser(smtptap *t, const char *user, int must_exist, char *err, size_t errlen)
{
    return st_core_setuser(t->core.cfg->output_dir, user, must_exist, err, errlen);
}

void smtptap_reopen(smtptap *t)
{
    t->core.reopen = 1;
}

void smtptap_stop(smtptap *t)
{
    t->stopping = 1;
    st_source *src = t->current;
    if (src)
        st_source_breakloop(src);
}

void st_core_sum_counters(st_reasm_counters *to, const st_reasm_counters *from)
{
    _Static_assert(sizeof *to % sizeof(uint64_t) == 0, "counters are uint64_t only");
    uint64_t *a = (uint64_t *)to;
    const uint64_t *b = (const uint64_t *)from;
    for (size_t i = 0; i < sizeof *to / sizeof(uint64_t); i++)
        a[i] += b[i];
}

void st_core_add_counters(smtptap *t, const st_reasm_counters *rc)
{
    st_core_sum_counters(&t->extra, rc);
}

/* Ours and the workers'. */
static void counters(const smtptap *t, st_reasm_counters *rc)
{
    *rc = t->extra;
    st_core_sum_counters(rc, st_reasm_get_counters());
}

void smtptap_get_stats(const smtptap *t, smtptap_stats *s)
{
    st_reasm_counters all, *rc = &all;
    counters(t, &all);
    *s = t->core.stats;
    /* attachments the store could not write (each is a store_error in its
     * record); the messages' own are counted as they end */
    if (t->core.files)
        s->output_errors += st_store_errors(t->core.files);
    s->packets = rc->packets;
    s->bytes = rc->bytes;
    s->streams = rc->streams;
    s->redis_lost += st_sink_redis_lost(); /* this process's; workers' are added in */
}

void st_core_source_done(st_core *c, st_source *src)
{
    uint64_t recv, drop;
    st_source_stats(src, &recv, &drop);
    c->stats.pcap_dropped += drop;
}

void st_core_flush_sink(st_core *c)
{
    given_up(c, st_sink_flush(c->sink));
}

void st_core_close_sink(st_core *c)
{
    size_t n = 0;
    char err[4096 + 512]; /* where (st_sink.where) and why */
    if (st_sink_close(c->sink, &n, err, sizeof err) != 0)
        c->stats.output_errors++;
    c->sink = NULL;
    given_up(c, n);
}

void smtptap_flush(smtptap *t)
{
    st_reasm_flush();
    given_up(&t->core, st_sink_flush(t->core.sink));
}

/* OUT/stats.json: what was read, followed, skipped and written, for the
 * operator (drops, holes and libnids' complaints are not in any record). */
static int write_stats(smtptap *t)
{
    smtptap_stats s;
    smtptap_get_stats(t, &s);
    char path[4096];
    snprintf(path, sizeof path, "%s/stats.json", t->core.cfg->output_dir);
    st_reasm_counters rc;
    counters(t, &rc);
    return st_stats_write(path, &s, &rc);
}

int smtptap_close(smtptap *t, char *err, size_t errlen)
{
    st_reasm_shutdown(); /* closes every open session: records are written */
    st_core *c = &t->core;
    int rc = 0;
    size_t n;
    /* the record file first: stats.json then counts what it really got */
    int sink_rc = st_sink_close(c->sink, &n, err, errlen);
    c->sink = NULL;
    given_up(c, n);
    if (write_stats(t) != 0)
        c->stats.output_errors++;
    st_core_stats_line(t, 1);
    smtptap_stats st;
    smtptap_get_stats(t, &st);
    if (sink_rc != 0) {
        rc = -1; /* err: "OUT/sessions.jsonl: reason" */
    } else if (st.output_errors) {
        snprintf(err, errlen, "%llu records or files could not be written",
                 (unsigned long long)st.output_errors);
        rc = -1;
    }
    free_core(t);
    return rc;
}
