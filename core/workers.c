/*
 * workers.c - one capture on several cores (the workers option).
 *
 * libnids is single-threaded and global, so the work is split between
 * processes. Each worker is a fork of the opened smtptap: it shares the
 * outputs (the record file is appended to, one write per batch of whole
 * lines, so records never interleave; the store names objects by content
 * and writes them through tmp files named by pid, so two workers storing
 * one object at once is safe) and follows its share of the connections.
 * All packets between two hosts go to one worker, chosen by a symmetric
 * hash of the two addresses (no ports: the fragments of a datagram carry
 * none after the first), so a connection's records do not depend on the
 * number of workers.
 *   - Files: the parent reads them in order, decodes each frame's link
 *     layer and writes the IP packet to its worker's pipe as a DLT_RAW
 *     pcap stream. A full pipe blocks the reader: offline never drops.
 *     Every second of packet time a tick (an empty record) goes to every
 *     worker, so that idle timeouts fire as in one process, where the
 *     other connections' packets move the clock.
 *   - Live: each worker reads its own handle of one AF_PACKET fanout
 *     group (capture/source.c): the kernel splits, the parent waits, and
 *     passes SIGTERM on.
 * At the end each worker sends its counters to the parent over a pipe;
 * the parent adds them to its own, so stats.json counts the whole run.
 *
 * Entry points: st_workers_files, st_workers_live.
 *
 * Limits: ST_WORKERS_MAX workers; a 64 KiB write buffer per worker.
 *
 * How it fails: -1 and a message when a worker cannot be started or
 * dies without reporting (its open sessions are lost: said in err). A
 * worker's read errors are its own; the run goes on with the others.
 *
 * Not handled: the stream table (max_streams) is per worker, so with
 * more workers fewer streams are evicted; a record callback
 * (smtptap_on_record) runs in the worker processes.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture/l2.h"
#include "core/core.h"
#include "output/sink.h"

#define ST_WORKERS_BUF  (64 * 1024)
#define ST_LINKTYPE_RAW 101

typedef struct {
    pid_t pid;
    int data;  /* write end of the packet pipe (files), -1 live */
    int stats; /* read end of the counters pipe */
    size_t used;
    unsigned char buf[ST_WORKERS_BUF];
} st_worker;

/* What a worker tells the parent when it is done. */
typedef struct {
    smtptap_stats stats;
    st_reasm_counters rc;
    int rc_ok;
} st_worker_report;

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* To the worker's pipe; a worker gone (EPIPE) has its share dropped. */
static void send_worker(st_worker *w, const void *p, size_t n)
{
    if (n && w->data >= 0 && write_all(w->data, p, n) != 0) {
        close(w->data);
        w->data = -1;
    }
}

static void flush_worker(st_worker *w)
{
    send_worker(w, w->buf, w->used);
    w->used = 0;
}

static void put(st_worker *w, const void *p, size_t n)
{
    if (w->used + n > sizeof w->buf)
        flush_worker(w);
    if (n > sizeof w->buf) {
        send_worker(w, p, n); /* a frame larger than the buffer goes as it is */
        return;
    }
    if (n)
        memcpy(w->buf + w->used, p, n);
    w->used += n;
}

/* A pcap record: time, lengths, the IP packet (none for a tick). */
static void put_record(st_worker *w, const struct timeval *ts, const uint8_t *ip, size_t caplen,
                       size_t len)
{
    uint32_t h[4] = {(uint32_t)ts->tv_sec, (uint32_t)ts->tv_usec, (uint32_t)caplen, (uint32_t)len};
    put(w, h, sizeof h);
    put(w, ip, caplen);
}

static void put_header(st_worker *w)
{
    uint32_t h[6] = {0xa1b2c3d4, 2 | 4u << 16, 0, 0, 262144, ST_LINKTYPE_RAW};
    put(w, h, sizeof h);
}

/* FNV-1a over the two addresses, the smaller first: both directions of a
 * connection hash alike. */
static unsigned pick(const st_l3 *l3, unsigned n)
{
    size_t off = l3->version == 4 ? 12 : 8, alen = l3->version == 4 ? 4 : 16;
    if (l3->len < off + 2 * alen)
        return 0;
    const uint8_t *a = l3->ip + off, *b = a + alen;
    if (memcmp(a, b, alen) > 0) {
        const uint8_t *t = a;
        a = b;
        b = t;
    }
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < alen; i++)
        h = (h ^ a[i]) * 16777619u;
    for (size_t i = 0; i < alen; i++)
        h = (h ^ b[i]) * 16777619u;
    return h % n;
}

static void report(smtptap *t, int fd)
{
    st_worker_report r;
    memset(&r, 0, sizeof r);
    smtptap_get_stats(t, &r.stats);
    r.rc = *st_reasm_get_counters();
    r.rc_ok = 1;
    (void)!write_all(fd, &r, sizeof r);
}

/* The worker's life: its input to the end, every open session closed
 * and written, its counters to the parent. Never returns. */
static void worker_run(smtptap *t, st_source *src, int stats_fd)
{
    char err[1024];
    int rc = src ? st_core_pump(t, src, 1, err, sizeof err) : -1;
    if (rc != 0 && src) /* without a source start() said why */
        fprintf(stderr, "smtptap: %s\n", err);
    if (src)
        st_core_source_done(&t->core, src);
    st_source_close(src);
    st_reasm_flush(); /* every open session written */
    st_core_close_sink(&t->core);
    st_core_stats_line(t, 1); /* this worker's last line in stats.jsonl */
    report(t, stats_fd);
    _exit(rc != 0);
}

static void close_others(st_worker *w, unsigned n, unsigned me)
{
    for (unsigned i = 0; i < n; i++) {
        if (i == me)
            continue;
        if (w[i].data >= 0)
            close(w[i].data);
        close(w[i].stats);
    }
}

/* Fork worker i. In the child, data_rd is its packet pipe (files), or
 * live[i] its handle, and every other worker's descriptor is closed (a
 * pipe held open elsewhere never ends). -1 when the fork failed. */
static int start(smtptap *t, st_worker *w, unsigned i, int data_rd, st_source **live, unsigned n)
{
    int sp[2];
    if (pipe(sp) != 0)
        return -1;
    st_core_flush_sink(&t->core); /* nothing buffered is written twice */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(sp[0]);
        close(sp[1]);
        return -1;
    }
    if (pid == 0) {
        t->worker = (int)i;
        close(sp[0]);
        close_others(w, i, i); /* the workers started before this one */
        if (w[i].data >= 0)
            close(w[i].data);
        for (unsigned j = 0; live && j < n; j++)
            if (j != i)
                st_source_close(live[j]);
        char name[32], err[1024];
        snprintf(name, sizeof name, "worker %u", i);
        st_source *src = live ? live[i] : st_source_open_fd(data_rd, name, err, sizeof err);
        if (!src)
            fprintf(stderr, "smtptap: %s\n", err);
        worker_run(t, src, sp[1]);
    }
    close(sp[1]);
    w[i].pid = pid;
    w[i].stats = sp[0];
    return 0;
}

static void add_stats(st_core *c, const smtptap_stats *s)
{
    c->stats.sessions += s->sessions;
    c->stats.transactions += s->transactions;
    c->stats.messages += s->messages;
    c->stats.messages_stored += s->messages_stored;
    c->stats.missing_bytes += s->missing_bytes;
    c->stats.pcap_dropped += s->pcap_dropped;
    c->stats.output_errors += s->output_errors;
    c->stats.redis_lost += s->redis_lost;
}

/* Every worker's report, as they come; a stop asked of the parent
 * (SIGTERM) is passed on to the workers. */
static void collect(smtptap *t, st_worker *w, unsigned n, st_worker_report *rep, int *got)
{
    int told = 0;
    for (unsigned left = n; left > 0;) {
        struct pollfd pf[ST_WORKERS_MAX];
        unsigned idx[ST_WORKERS_MAX], m = 0;
        for (unsigned i = 0; i < n; i++)
            if (w[i].stats >= 0) {
                pf[m] = (struct pollfd){.fd = w[i].stats, .events = POLLIN};
                idx[m++] = i;
            }
        if (t->stopping && !told) {
            for (unsigned i = 0; i < n; i++)
                kill(w[i].pid, SIGTERM);
            told = 1;
        }
        if (poll(pf, m, 200) <= 0)
            continue;
        for (unsigned k = 0; k < m; k++) {
            if (!pf[k].revents)
                continue;
            unsigned i = idx[k];
            ssize_t r = read(w[i].stats, &rep[i], sizeof rep[i]);
            if (r < 0 && errno == EINTR)
                continue;
            got[i] = r == (ssize_t)sizeof rep[i] && rep[i].rc_ok;
            close(w[i].stats);
            w[i].stats = -1;
            left--;
        }
    }
}

/* Collect every worker's report and exit; -1 when one died without it. */
static int finish(smtptap *t, st_worker *w, unsigned n, st_reasm_counters *sum, char *err,
                  size_t errlen)
{
    st_worker_report rep[ST_WORKERS_MAX];
    int got[ST_WORKERS_MAX] = {0}, rc = 0;
    collect(t, w, n, rep, got);
    for (unsigned i = 0; i < n; i++) {
        int status = 0;
        while (waitpid(w[i].pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (got[i]) {
            add_stats(&t->core, &rep[i].stats);
            st_core_sum_counters(sum, &rep[i].rc);
        }
        if (rc != 0)
            continue;
        if (!got[i]) {
            snprintf(err, errlen, "worker %u died (%s %d): its open sessions are lost", i,
                     WIFSIGNALED(status) ? "signal" : "exit",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            rc = -1;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            snprintf(err, errlen, "worker %u: a read error (said above)", i);
            rc = -1;
        }
    }
    return rc;
}

/* One frame to its worker; a frame that is no IP is counted here. */
static void dispatch(st_worker *w, unsigned n, const st_packet *pkt, int linktype,
                     st_reasm_counters *sum)
{
    st_l3 l3;
    st_l2_result r = st_l2_decode(linktype, pkt->data, pkt->caplen, &l3);
    if (r != ST_L2_OK) {
        if (r == ST_L2_NOT_IP)
            sum->not_ip++;
        else
            sum->l2_errors++;
        return;
    }
    size_t hdr = (size_t)(l3.ip - pkt->data);
    st_worker *to = &w[pick(&l3, n)];
    put_record(to, &pkt->ts, l3.ip, l3.len, pkt->len > hdr ? pkt->len - hdr : l3.len);
}

/* A tick to every worker when packet time enters a new second. */
static void tick(st_worker *w, unsigned n, const struct timeval *ts, time_t *last)
{
    if (ts->tv_sec <= *last)
        return;
    *last = ts->tv_sec;
    for (unsigned i = 0; i < n; i++)
        put_record(&w[i], ts, NULL, 0, 0);
}

/* The sources' frames to the workers, in order. */
static int split(smtptap *t, st_worker *w, unsigned n, st_workers_next next, void *arg,
                 st_reasm_counters *sum, char *err, size_t errlen)
{
    time_t last = 0;
    int rc = 0;
    st_source *src;
    while (!t->stopping && (src = next(arg)) != NULL) {
        st_packet pkt;
        st_source_result r = ST_SRC_EOF;
        int lt = st_source_linktype(src);
        t->current = src;
        while (!t->stopping && (r = st_source_next(src, &pkt)) == ST_SRC_PACKET) {
            sum->packets++;
            sum->bytes += pkt.caplen;
            tick(w, n, &pkt.ts, &last);
            dispatch(w, n, &pkt, lt, sum);
            if (t->progress_fn && ++t->progress_n >= 1024)
                st_core_progress(t, src, 0, sum->packets);
        }
        t->current = NULL;
        t->files_done += st_source_file_bytes(src);
        st_core_progress(t, NULL, 1, sum->packets);
        if (r == ST_SRC_ERROR && rc == 0) {
            snprintf(err, errlen, "%s", st_source_error(src));
            rc = -1;
        }
        st_source_close(src);
    }
    return rc;
}

/* Workers with a packet pipe each; how many started. */
static unsigned start_files(smtptap *t, st_worker *w, unsigned n)
{
    unsigned i = 0;
    for (; i < n; i++) {
        int dp[2];
        w[i].stats = -1;
        if (pipe(dp) != 0)
            break;
        w[i].data = dp[1];
        int rc = start(t, w, i, dp[0], NULL, n);
        close(dp[0]);
        if (rc != 0) {
            close(dp[1]);
            break;
        }
    }
    return i;
}

int st_workers_files(smtptap *t, unsigned n, st_workers_next next, void *arg, char *err,
                     size_t errlen)
{
    st_worker *w = n <= ST_WORKERS_MAX ? calloc(n, sizeof *w) : NULL;
    st_reasm_counters sum;
    memset(&sum, 0, sizeof sum);
    unsigned started = w ? start_files(t, w, n) : 0;
    int rc = 0;
    if (started < n) {
        snprintf(err, errlen, "cannot start %u workers: %s", n, strerror(errno));
        rc = -1;
    }
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGPIPE, &ign, &old); /* a worker gone: EPIPE, not death */
    for (unsigned i = 0; i < started; i++)
        put_header(&w[i]);
    char serr[1024] = "";
    int src_rc = rc == 0 ? split(t, w, started, next, arg, &sum, serr, sizeof serr) : 0;
    for (unsigned i = 0; i < started; i++) {
        flush_worker(&w[i]);
        if (w[i].data >= 0)
            close(w[i].data);
    }
    uint64_t packets = sum.packets, bytes = sum.bytes;
    if (finish(t, w, started, &sum, err, errlen) != 0)
        rc = -1;
    sigaction(SIGPIPE, &old, NULL);
    sum.packets = packets; /* what was read, not the IP packets the workers got */
    sum.bytes = bytes;
    st_core_add_counters(t, &sum);
    if (src_rc != 0 && rc == 0) {
        snprintf(err, errlen, "%s", serr);
        rc = -1;
    }
    free(w);
    return rc;
}

int st_workers_live(smtptap *t, st_source **src, unsigned n, char *err, size_t errlen)
{
    st_worker *w = n <= ST_WORKERS_MAX ? calloc(n, sizeof *w) : NULL;
    st_reasm_counters sum;
    memset(&sum, 0, sizeof sum);
    unsigned started = 0;
    int rc = 0;
    t->core.flush_each = 1;
    while (w && started < n) {
        w[started].data = w[started].stats = -1;
        if (start(t, w, started, -1, src, n) != 0)
            break;
        started++;
    }
    if (started < n) {
        snprintf(err, errlen, "cannot start %u workers: %s", n, strerror(errno));
        rc = -1;
    }
    for (unsigned i = 0; i < n; i++) {
        st_source_close(src[i]); /* each worker has its own */
        src[i] = NULL;
    }
    if (w && finish(t, w, started, &sum, err, errlen) != 0)
        rc = -1;
    st_core_add_counters(t, &sum);
    free(w);
    return rc;
}
