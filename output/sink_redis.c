/*
 * sink_redis.c - the "redis" sink: record lines to a Redis stream, list or
 * channel (hiredis), without the packet path ever waiting for the server.
 *
 * Opened beside the named sink when the redis option names a server
 * (output/sink.h), or alone with sinks = redis. Options: redis
 * (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or unix:/PATH), redis_key,
 * redis_mode (stream: XADD key [MAXLEN ~ redis_maxlen] * record LINE;
 * list: RPUSH key LINE, as Suricata's EVE rpush; publish: PUBLISH key
 * LINE), redis_queue, redis_spool_max, redis_close_wait.
 *
 * Entry points: st_sink_redis (the table of sink.h), st_sink_redis_lost.
 *
 * Threads: write copies the line into a bounded memory queue and returns;
 * a writer thread (started at the first line, or at open when a spool is
 * waiting) connects, sends batches of up to 512 lines pipelined and reads
 * the replies. A thread rather than an event loop run from write and
 * flush: records come only when sessions end, so an idle sensor would
 * call neither for hours while lines wait and the server comes back. The
 * thread blocks every signal (SIGPIPE included: a dead server is EPIPE).
 *
 * Order and bounds: lines go out in the order written, each once. They
 * wait, oldest first, in: a batch that was sent and not answered (sent
 * again after a reconnect), the spool OUT/redis-spool.jsonl (whole lines,
 * written when the memory queue is full: its oldest lines move there, so
 * the spool always holds older lines than memory), the memory queue
 * (redis_queue bytes, batches in flight included). A delivered stretch of
 * the spool is punched out (zeros, FALLOC_FL_PUNCH_HOLE; a JSON line has
 * no NUL byte), so a run killed while delivering sends it again from
 * there; fully delivered, the file is truncated, and removed at close.
 * A line that fits neither memory nor the spool (redis_spool_max bytes
 * waiting, or a write error) is lost: counted (st_sink_redis_lost, the
 * handle's close fails saying how many), never dropped silently.
 *
 * Close: the thread has redis_close_wait seconds (default 5) to deliver
 * everything, reconnecting as needed; then its connection is shut down,
 * and what is left is written to the spool in order, which the next run
 * delivers before its own lines.
 *
 * Fork (the workers option): the child forgets what it inherited (the
 * parent delivers it), starts its own thread and connection at its first
 * line, and spools to OUT/redis-spool.PID.jsonl; the next run appends
 * such files to its own spool first. A worker must close its sink before
 * _exit, or its queue is lost.
 *
 * How it fails: a bad option fails open with a message; an unreachable
 * or refusing server is retried (100 ms, doubling to 2 s) for as long as
 * the run lasts; connecting waits 1 s at most, a reply 120 s (then the
 * connection is taken as dead; TCP keepalive is on). An error reply
 * (LOADING, OOM, NOAUTH, WRONGTYPE...) is taken as a server not ready:
 * the lines wait and are sent again, and the last reason is named by a
 * close that lost lines. The spool holds lines only: the next run sends
 * them with its own redis_key and redis_mode.
 *
 * Not handled: TLS, Sentinel and Cluster; a database number with unix:;
 * several processes sharing one spool file at once (two runs on one OUT).
 * At least once, not exactly once, when a connection breaks after the
 * server applied a command and before its reply came (that batch is sent
 * again), or when the process dies between a spool delivery and its
 * punch. PUBLISH to a channel nobody listens to counts as delivered.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "output/iov.h"
#include "output/sink.h"

#define ST_REDIS_BATCH_LINES 512
#define ST_REDIS_BATCH_BYTES (1 << 20)
#define ST_REDIS_CONNECT_MS  1000
#define ST_REDIS_IO_S        120 /* a reply that long overdue: the server is gone */
#define ST_REDIS_BACKOFF_MS  100
#define ST_REDIS_BACKOFF_MAX 2000
#define ST_REDIS_SINKS_MAX   8 /* open at once in one process (fork bookkeeping) */
#define ST_OFF_MAX           ((off_t)(~0ULL >> 1))
#define ST_REDIS_PATH        (4096 + 300) /* OUT/ and a name */

enum { MODE_STREAM, MODE_LIST, MODE_PUBLISH };

typedef struct rline {
    struct rline *next;
    size_t len;  /* with the '\n' */
    char data[]; /* the line and '\n' */
} rline;

typedef struct rlist {
    rline *head, *tail;
    size_t n, bytes;
} rlist;

typedef struct spool {
    int fd;                  /* -1 until needed */
    off_t head, end;         /* the lines waiting: [head, end) */
    unsigned long long torn; /* torn last lines cut when it was opened late, not counted yet */
    char path[ST_REDIS_PATH];
} spool;

typedef struct redis_conf {
    char host[256], unix_path[108], user[128], pass[256];
    int port;
    long db;
    char key[1024], maxlen[24];
    int mode;
    size_t queue_max;
    off_t spool_max;
    long close_wait_ms;
    char out[4096];
    char where[512]; /* the address, without a password */
} redis_conf;

typedef struct redis_sink {
    redis_conf conf;
    pthread_mutex_t mu;
    pthread_cond_t wake, idle;
    /* under mu */
    rlist q;     /* newest lines */
    rlist retry; /* sent, not answered (oldest): the thread's, counted in queue_max */
    spool sp;
    int thread_up, thread_done, waiting, closing, stop;
    int fd; /* the connection's socket, for shutdown at the deadline; -1 */
    unsigned long long lost;
    char why[256]; /* the last reason the server was not reached */
    pid_t pid;
    pthread_t thread;
    /* the thread's */
    redisContext *ctx;
    char *sbuf; /* lines read back from the spool */
    size_t scap;
} redis_sink;

static atomic_ullong g_lost;

unsigned long long st_sink_redis_lost(void)
{
    return atomic_load(&g_lost);
}

/* ------------------------------------------------------------ options */

static const char *opt_text(const st_sink_options *o, const char *name, const char *def)
{
    const char *v = o->option ? o->option(o->option_ctx, name) : NULL;
    return v ? v : def;
}

static int opt_num(const st_sink_options *o, const char *name, long def, long min, long *out,
                   char *err, size_t errlen)
{
    const char *v = opt_text(o, name, NULL);
    char *end;
    errno = 0;
    *out = v && *v ? strtol(v, &end, 10) : def;
    if (v && *v && (errno || *end || *out < min)) {
        snprintf(err, errlen, "%s: expected a number from %ld, not '%s'", name, min, v);
        return -1;
    }
    return 0;
}

/* "[USER]:PASSWORD@" before the host, if there. */
static const char *parse_userinfo(redis_conf *c, const char *p)
{
    const char *at = strchr(p, '@'), *slash = strchr(p, '/');
    if (!at || (slash && slash < at))
        return p;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon) {
        snprintf(c->user, sizeof c->user, "%.*s", (int)(colon - p), p);
        snprintf(c->pass, sizeof c->pass, "%.*s", (int)(at - colon - 1), colon + 1);
    } else {
        snprintf(c->pass, sizeof c->pass, "%.*s", (int)(at - p), p);
    }
    return at + 1;
}

/* HOST[:PORT][/DB] after redis:// (HOST may be [v6]); -1 when malformed. */
static int parse_hostport(redis_conf *c, const char *p)
{
    size_t n;
    if (*p == '[') {
        const char *e = strchr(p, ']');
        if (!e)
            return -1;
        n = (size_t)(e - p - 1);
        snprintf(c->host, sizeof c->host, "%.*s", (int)n, p + 1);
        p = e + 1;
    } else {
        n = strcspn(p, ":/");
        snprintf(c->host, sizeof c->host, "%.*s", (int)n, p);
        p += n;
    }
    if (n == 0 || n >= sizeof c->host)
        return -1;
    char *end;
    c->port = 6379;
    if (*p == ':') {
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535)
            return -1;
        c->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        c->db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || c->db < 0 || c->db > INT_MAX)
            return -1;
        return 0;
    }
    return *p == 0 || (*p == '/' && !p[1]) ? 0 : -1;
}

static int parse_address(redis_conf *c, const char *url, char *where, size_t wherelen, char *err,
                         size_t errlen)
{
    if (strncmp(url, "unix:", 5) == 0 && url[5] == '/' && strlen(url + 5) < sizeof c->unix_path) {
        snprintf(c->unix_path, sizeof c->unix_path, "%s", url + 5);
        snprintf(c->where, sizeof c->where, "%s", url);
        snprintf(where, wherelen, "%s", c->where);
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0 || parse_hostport(c, parse_userinfo(c, url + 8)) != 0) {
        int secret = strchr(url, '@') != NULL; /* never shown: it may hold a password */
        snprintf(err, errlen,
                 "redis: expected redis://HOST[:PORT][/DB] or unix:/PATH (shorter than %zu), "
                 "not '%s'",
                 sizeof c->unix_path, secret ? "(an address with a password)" : url);
        return -1;
    }
    snprintf(c->where, sizeof c->where, "redis://%s%s%s:%d/%ld", strchr(c->host, ':') ? "[" : "",
             c->host, strchr(c->host, ':') ? "]" : "", c->port, c->db);
    snprintf(where, wherelen, "%s", c->where);
    return 0;
}

static int parse_mode(redis_conf *c, const char *mode, char *err, size_t errlen)
{
    static const char *const names[] = {"stream", "list", "publish"};
    for (int i = 0; i < 3; i++)
        if (strcmp(mode, names[i]) == 0) {
            c->mode = i;
            return 0;
        }
    snprintf(err, errlen, "redis_mode: expected stream, list or publish, not '%s'", mode);
    return -1;
}

static int read_conf(redis_conf *c, const st_sink_options *o, char *where, size_t wherelen,
                     char *err, size_t errlen)
{
    const char *url = opt_text(o, "redis", ""), *key = opt_text(o, "redis_key", "smtptap");
    long maxlen, queue, spool_max, wait;
    if (!*url) {
        snprintf(err, errlen, "redis: no server named (set redis = redis://HOST:PORT/DB)");
        return -1;
    }
    if (parse_address(c, url, where, wherelen, err, errlen) != 0 ||
        parse_mode(c, opt_text(o, "redis_mode", "stream"), err, errlen) != 0 ||
        opt_num(o, "redis_maxlen", 0, 0, &maxlen, err, errlen) != 0 ||
        opt_num(o, "redis_queue", 16 << 20, 0, &queue, err, errlen) != 0 ||
        opt_num(o, "redis_spool_max", 1L << 30, 0, &spool_max, err, errlen) != 0 ||
        opt_num(o, "redis_close_wait", 5, 0, &wait, err, errlen) != 0)
        return -1;
    if (!*key || strlen(key) >= sizeof c->key) {
        snprintf(err, errlen, "redis_key: expected a name of 1 to %zu bytes", sizeof c->key - 1);
        return -1;
    }
    if (maxlen && c->mode != MODE_STREAM) {
        snprintf(err, errlen, "redis_maxlen: only with redis_mode = stream");
        return -1;
    }
    snprintf(c->key, sizeof c->key, "%s", key);
    snprintf(c->maxlen, sizeof c->maxlen, "%ld", maxlen);
    c->queue_max = (size_t)queue;
    c->spool_max = (off_t)spool_max;
    c->close_wait_ms = wait > LONG_MAX / 1000 ? LONG_MAX : wait * 1000;
    snprintf(c->out, sizeof c->out, "%s", o->output_dir ? o->output_dir : ".");
    return 0;
}

/* ---------------------------------------------------------- line lists */

static void list_push(rlist *l, rline *x)
{
    x->next = NULL;
    if (l->tail)
        l->tail->next = x;
    else
        l->head = x;
    l->tail = x;
    l->n++;
    l->bytes += x->len;
}

static rline *list_pop(rlist *l)
{
    rline *x = l->head;
    if (!x)
        return NULL;
    l->head = x->next;
    if (!l->head)
        l->tail = NULL;
    l->n--;
    l->bytes -= x->len;
    return x;
}

static void list_free(rlist *l)
{
    rline *x;
    while ((x = list_pop(l)) != NULL)
        free(x);
}

/* ---------------------------------------------------------------- spool */

static int write_at(int fd, struct iovec *iov, int cnt, off_t at)
{
    size_t done = 0;
    return st_writev_all(fd, iov, cnt, at, &done);
}

/* Where the lines waiting start: past the zeros of what was delivered. */
static off_t first_line(int fd, off_t end)
{
    off_t at = lseek(fd, 0, SEEK_DATA);
    char c[4096];
    if (at < 0 && errno == ENXIO)
        return end; /* all a hole */
    if (at < 0)
        at = 0; /* no SEEK_DATA here: read the zeros */
    while (at < end) {
        ssize_t n = pread(fd, c, sizeof c, at);
        if (n <= 0)
            return at;
        for (ssize_t i = 0; i < n; i++)
            if (c[i])
                return at + i;
        at += n;
    }
    return end;
}

/* The end of the last whole line; a torn one after it is cut off (the
 * process died writing it) and counted in *torn. */
static off_t last_line_end(int fd, off_t head, off_t end, unsigned long long *torn)
{
    char c[4096];
    for (off_t at = end; at > head;) {
        size_t n = at - head < (off_t)sizeof c ? (size_t)(at - head) : sizeof c;
        if (pread(fd, c, n, at - (off_t)n) != (ssize_t)n)
            return end; /* cannot look: taken as it is */
        for (size_t i = n; i > 0; i--)
            if (c[i - 1] == '\n') {
                off_t e = at - (off_t)(n - i);
                *torn += e < end;
                return e;
            }
        at -= (off_t)n;
    }
    *torn += end > head;
    return head;
}

/* Opens (creating) a spool and finds what waits in it. */
static int spool_load(spool *s, unsigned long long *torn)
{
    s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (s->fd < 0)
        return -1;
    struct stat st;
    if (fstat(s->fd, &st) != 0) {
        close(s->fd);
        s->fd = -1;
        return -1;
    }
    s->head = first_line(s->fd, st.st_size);
    s->end = last_line_end(s->fd, s->head, st.st_size, torn);
    if (s->end < st.st_size)
        (void)!ftruncate(s->fd, s->end);
    if (s->head == s->end) {
        s->head = s->end = 0;
        (void)!ftruncate(s->fd, 0);
    }
    return 0;
}

/* Appends whole lines; on failure the file is as it was (errno set). */
static int spool_append(spool *s, struct iovec *iov, int cnt, size_t bytes, off_t cap)
{
    if (s->fd < 0 && spool_load(s, &s->torn) != 0)
        return -1;
    if (s->end - s->head + (off_t)bytes > cap) {
        errno = ENOBUFS; /* redis_spool_max: not the disk */
        return -1;
    }
    if (write_at(s->fd, iov, cnt, s->end) != 0) {
        int e = errno;
        (void)!ftruncate(s->fd, s->end);
        errno = e;
        return -1;
    }
    s->end += (off_t)bytes;
    return 0;
}

/* Delivered: zeros over [head, head + n), then truncated when all is. */
static void spool_done(spool *s, off_t n)
{
    if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, s->head, n) != 0) {
        static const char zero[4096];
        for (off_t at = s->head; at < s->head + n;) {
            size_t k =
                s->head + n - at < (off_t)sizeof zero ? (size_t)(s->head + n - at) : sizeof zero;
            struct iovec v = {(void *)zero, k};
            if (write_at(s->fd, &v, 1, at) != 0)
                break; /* sent again next run: at least once */
            at += (off_t)k;
        }
    }
    s->head += n;
    if (s->head == s->end && ftruncate(s->fd, 0) == 0)
        s->head = s->end = 0;
}

/* Copies what waits in another spool (a worker's, of an earlier run) to
 * the end of s; 0 when all of it went (it may then be removed). */
static int spool_adopt(spool *s, const char *path, unsigned long long *torn)
{
    spool o = {.fd = -1};
    snprintf(o.path, sizeof o.path, "%s", path);
    int rc = spool_load(&o, torn);
    off_t start = s->end;
    char buf[65536];
    for (off_t at = o.head; rc == 0 && at < o.end;) {
        size_t k = o.end - at < (off_t)sizeof buf ? (size_t)(o.end - at) : sizeof buf;
        struct iovec v = {buf, k};
        if (pread(o.fd, buf, k, at) != (ssize_t)k || write_at(s->fd, &v, 1, s->end) != 0)
            rc = -1;
        else
            s->end += (off_t)k, at += (off_t)k;
    }
    if (rc != 0 && s->end != start) { /* none of it, rather than a line cut: the file stays */
        (void)!ftruncate(s->fd, start);
        s->end = start;
    }
    if (o.fd >= 0)
        close(o.fd);
    return rc;
}

static int worker_spool(const char *name)
{
    size_t n = strspn(name + 12, "0123456789");
    return strncmp(name, "redis-spool.", 12) == 0 && n && strcmp(name + 12 + n, ".jsonl") == 0;
}

/* OUT/redis-spool.jsonl, then what workers left in redis-spool.PID.jsonl. */
static void spool_start(redis_sink *r, unsigned long long *torn)
{
    snprintf(r->sp.path, sizeof r->sp.path, "%s/redis-spool.jsonl", r->conf.out);
    if (access(r->sp.path, F_OK) == 0 && spool_load(&r->sp, torn) != 0)
        return;
    DIR *d = opendir(r->conf.out);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char path[ST_REDIS_PATH];
        if (strlen(e->d_name) < 12 || !worker_spool(e->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", r->conf.out, e->d_name);
        if ((r->sp.fd >= 0 || spool_load(&r->sp, torn) == 0) &&
            spool_adopt(&r->sp, path, torn) == 0)
            unlink(path);
    }
    if (d)
        closedir(d);
}

/* ---------------------------------------------------------- accounting */

static void lose(redis_sink *r, unsigned long long n)
{
    r->lost += n;
    atomic_fetch_add(&g_lost, n);
}

/* spool_append to r's spool, counting the torn line an opening found. */
static int spool_add(redis_sink *r, struct iovec *iov, int cnt, size_t bytes)
{
    int rc = spool_append(&r->sp, iov, cnt, bytes, r->conf.spool_max);
    if (r->sp.torn) {
        lose(r, r->sp.torn);
        r->sp.torn = 0;
    }
    return rc;
}

static int has_work(const redis_sink *r)
{
    return r->retry.n || r->sp.end > r->sp.head || r->q.n;
}

/* Moves the oldest lines of memory to the end of the spool, at least need
 * bytes (a quarter of the queue, to write in large pieces); -1 when the
 * spool took none of them. */
static int spill(redis_sink *r, size_t need)
{
    struct iovec iov[IOV_MAX];
    int cnt = 0;
    size_t bytes = 0;
    if (need < r->conf.queue_max / 4)
        need = r->conf.queue_max / 4;
    for (rline *x = r->q.head; x && cnt < IOV_MAX && bytes < need; x = x->next) {
        iov[cnt++] = (struct iovec){x->data, x->len};
        bytes += x->len;
    }
    if (cnt == 0 || spool_add(r, iov, cnt, bytes) != 0)
        return -1;
    while (cnt-- > 0)
        free(list_pop(&r->q));
    return 0;
}

/* ---------------------------------------------------------- connection */

/* One command and its reply; 0 when it was no error. */
static int command(redisContext *c, int argc, const char **argv, char *why, size_t whylen)
{
    redisReply *rep = (redisReply *)redisCommandArgv(c, argc, argv, NULL);
    int rc = rep && rep->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc != 0)
        snprintf(why, whylen, "%s: %s", argv[0], rep ? rep->str : c->errstr);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* Connected (bounded by ST_REDIS_CONNECT_MS), replies awaited at most
 * ST_REDIS_IO_S; NULL with why. */
static redisContext *connect_server(const redis_conf *k, char *why, size_t whylen)
{
    struct timeval tv = {ST_REDIS_CONNECT_MS / 1000, (ST_REDIS_CONNECT_MS % 1000) * 1000};
    struct timeval io = {ST_REDIS_IO_S, 0};
    redisContext *c = k->unix_path[0] ? redisConnectUnixWithTimeout(k->unix_path, tv)
                                      : redisConnectWithTimeout(k->host, k->port, tv);
    if (c && !c->err && redisSetTimeout(c, io) == REDIS_OK &&
        (k->unix_path[0] || redisEnableKeepAlive(c) == REDIS_OK)) /* a peer gone silently */
        return c;
    snprintf(why, whylen, "%s", c ? c->errstr : "out of memory");
    if (c)
        redisFree(c);
    return NULL;
}

/* Logged in, on the database, and past LOADING (a command the server
 * refuses while it loads: a pipeline then never meets LOADING). */
static int hello(redisContext *c, const redis_conf *k, char *why, size_t whylen)
{
    char db[24];
    snprintf(db, sizeof db, "%ld", k->db);
    const char *auth[] = {"AUTH", k->user[0] ? k->user : k->pass, k->pass};
    const char *sel[] = {"SELECT", db}, *probe[] = {"EXISTS", k->key};
    return (!k->pass[0] || command(c, k->user[0] ? 3 : 2, auth, why, whylen) == 0) &&
                   (!k->db || command(c, 2, sel, why, whylen) == 0) &&
                   command(c, 2, probe, why, whylen) == 0
               ? 0
               : -1;
}

/* The command for one line (without its '\n'). */
static int append_line(redis_sink *r, const char *line, size_t len)
{
    const redis_conf *k = &r->conf;
    const char *argv[8];
    size_t lens[8];
    int n = 0;
    if (k->mode == MODE_STREAM) {
        argv[n++] = "XADD";
        argv[n++] = k->key;
        if (strcmp(k->maxlen, "0") != 0) {
            argv[n++] = "MAXLEN";
            argv[n++] = "~";
            argv[n++] = k->maxlen;
        }
        argv[n++] = "*";
        argv[n++] = "record";
    } else {
        argv[n++] = k->mode == MODE_LIST ? "RPUSH" : "PUBLISH";
        argv[n++] = k->key;
    }
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    argv[n] = line;
    lens[n++] = len;
    return redisAppendCommandArgv(r->ctx, n, argv, lens);
}

/* Sends n lines pipelined; how many the server took, in order. *broken
 * when the connection must go (an error, or an error reply: not ready). */
static size_t send_lines(redis_sink *r, const struct iovec *v, size_t n, int *broken)
{
    size_t i, taken = 0;
    *broken = 0;
    for (i = 0; i < n; i++)
        if (append_line(r, v[i].iov_base, v[i].iov_len - 1) != REDIS_OK)
            break;
    for (size_t j = 0; j < i && !*broken; j++) {
        void *p = NULL;
        if (redisGetReply(r->ctx, &p) != REDIS_OK || !p) {
            snprintf(r->why, sizeof r->why, "%s", r->ctx->errstr);
            *broken = 1;
        } else if (((redisReply *)p)->type == REDIS_REPLY_ERROR) {
            snprintf(r->why, sizeof r->why, "%s", ((redisReply *)p)->str);
            *broken = 1;
        } else {
            taken++;
        }
        if (p)
            freeReplyObject(p);
    }
    if (i < n)
        *broken = 1;
    return taken;
}

/* -------------------------------------------------------------- thread */

/* Lines read back from the spool, from its head: about a batch, whole
 * lines (one longer than a batch alone); how many, 0 on a read error. */
static size_t read_spool(redis_sink *r, off_t head, off_t end, struct iovec *v, size_t max)
{
    size_t want = end - head < ST_REDIS_BATCH_BYTES ? (size_t)(end - head) : ST_REDIS_BATCH_BYTES;
    for (;;) {
        if (want > r->scap) {
            char *b = realloc(r->sbuf, want);
            if (!b)
                return 0;
            r->sbuf = b;
            r->scap = want;
        }
        if (pread(r->sp.fd, r->sbuf, want, head) != (ssize_t)want)
            return 0;
        size_t n = 0, at = 0;
        for (size_t i = 0; i < want && n < max; i++)
            if (r->sbuf[i] == '\n') {
                v[n++] = (struct iovec){r->sbuf + at, i + 1 - at};
                at = i + 1;
            }
        if (n || want == (size_t)(end - head))
            return n;
        want = end - head < (off_t)(want * 2) ? (size_t)(end - head) : want * 2;
    }
}

/* The next batch, oldest first; from_spool says where it came from. */
static size_t take_batch(redis_sink *r, struct iovec *v, int *from_spool)
{
    size_t n = 0, bytes = 0;
    *from_spool = 0;
    if (!r->retry.n && r->sp.end > r->sp.head) {
        *from_spool = 1;
        off_t head = r->sp.head, end = r->sp.end;
        pthread_mutex_unlock(&r->mu); /* [head, end) is not touched meanwhile */
        n = read_spool(r, head, end, v, ST_REDIS_BATCH_LINES);
        pthread_mutex_lock(&r->mu);
        return n;
    }
    if (!r->retry.n) /* else the unanswered batch again, first */
        while (r->q.n && r->retry.n < ST_REDIS_BATCH_LINES && r->retry.bytes < ST_REDIS_BATCH_BYTES)
            list_push(&r->retry, list_pop(&r->q));
    for (rline *x = r->retry.head; x && n < ST_REDIS_BATCH_LINES; x = x->next) {
        v[n++] = (struct iovec){x->data, x->len};
        if ((bytes += x->len) >= ST_REDIS_BATCH_BYTES)
            break;
    }
    return n;
}

static void done_batch(redis_sink *r, const struct iovec *v, size_t taken, int from_spool)
{
    off_t bytes = 0;
    for (size_t i = 0; i < taken; i++)
        bytes += (off_t)v[i].iov_len;
    if (from_spool && taken)
        spool_done(&r->sp, bytes);
    for (size_t i = 0; !from_spool && i < taken; i++)
        free(list_pop(&r->retry));
}

/* Waits before the next try (shorter while closing); woken by close. */
static void back_off(redis_sink *r, long *ms)
{
    *ms = *ms ? *ms * 2 : ST_REDIS_BACKOFF_MS;
    if (*ms > ST_REDIS_BACKOFF_MAX)
        *ms = ST_REDIS_BACKOFF_MAX;
    long wait = r->closing && *ms > 250 ? 250 : *ms;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += wait / 1000;
    t.tv_nsec += (wait % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L)
        t.tv_sec++, t.tv_nsec -= 1000000000L;
    int was_closing = r->closing;
    while (!r->stop && r->closing == was_closing &&
           pthread_cond_timedwait(&r->wake, &r->mu, &t) == 0)
        ;
}

static void drop_connection(redis_sink *r)
{
    redisContext *c = r->ctx;
    r->fd = -1;
    r->ctx = NULL;
    pthread_mutex_unlock(&r->mu);
    redisFree(c);
    pthread_mutex_lock(&r->mu);
}

/* Connects when there is none; 0 when there is one. */
static int ensure_connection(redis_sink *r)
{
    if (r->ctx)
        return 0;
    char why[256] = "";
    pthread_mutex_unlock(&r->mu);
    redisContext *c = connect_server(&r->conf, why, sizeof why);
    pthread_mutex_lock(&r->mu);
    if (!c) {
        snprintf(r->why, sizeof r->why, "%s", why);
        return -1;
    }
    /* published before the first reply is awaited: from here on a close
     * past its deadline can shut the socket down */
    r->ctx = c;
    r->fd = c->fd;
    if (r->stop) {
        drop_connection(r);
        return -1;
    }
    pthread_mutex_unlock(&r->mu);
    int rc = hello(c, &r->conf, why, sizeof why);
    pthread_mutex_lock(&r->mu);
    if (rc != 0) {
        snprintf(r->why, sizeof r->why, "%s", why);
        drop_connection(r);
    }
    return rc;
}

static void *writer(void *arg)
{
    redis_sink *r = arg;
    struct iovec v[ST_REDIS_BATCH_LINES];
    long backoff = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        if (!has_work(r)) {
            if (r->closing)
                break;
            r->waiting = 1;
            pthread_cond_wait(&r->wake, &r->mu);
            r->waiting = 0;
            continue;
        }
        if (ensure_connection(r) != 0) {
            back_off(r, &backoff);
            continue;
        }
        int from_spool, broken;
        size_t n = take_batch(r, v, &from_spool);
        pthread_mutex_unlock(&r->mu);
        size_t taken = n ? send_lines(r, v, n, &broken) : 0;
        pthread_mutex_lock(&r->mu);
        done_batch(r, v, taken, from_spool);
        if (n && !broken) {
            backoff = 0;
            continue;
        }
        if (!n)
            snprintf(r->why, sizeof r->why, "reading the spool: %s", strerror(errno ? errno : EIO));
        drop_connection(r);
        back_off(r, &backoff);
    }
    if (r->ctx)
        drop_connection(r);
    r->thread_done = 1;
    pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* With every signal blocked: they are the main thread's, and a server
 * gone away must be EPIPE, not SIGPIPE. Called with mu held. */
static void start_thread(redis_sink *r)
{
    sigset_t all, old;
    if (r->thread_up)
        return;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r->thread_done = 0;
    r->thread_up = pthread_create(&r->thread, NULL, writer, r) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---------------------------------------------------------------- fork */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static redis_sink *g_open[ST_REDIS_SINKS_MAX];

static void fork_prepare(void)
{
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < ST_REDIS_SINKS_MAX; i++)
        if (g_open[i])
            pthread_mutex_lock(&g_open[i]->mu);
}

static void fork_parent(void)
{
    for (int i = 0; i < ST_REDIS_SINKS_MAX; i++)
        if (g_open[i])
            pthread_mutex_unlock(&g_open[i]->mu);
    pthread_mutex_unlock(&g_mu);
}

/* What the child inherited is the parent's to deliver: the child starts
 * empty, with a spool of its own. The parent thread's connection and
 * batch are left alone (they may be mid-change): their memory is given
 * up, the socket closed. */
static void init_sync(redis_sink *r)
{
    pthread_condattr_t ca;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &ca);
    pthread_cond_init(&r->idle, &ca);
    pthread_condattr_destroy(&ca);
}

/* The mutexes and conditions are made anew: the parent's thread may have
 * been waiting on them, and a copied waiter never leaves. */
static void fork_child(void)
{
    atomic_store(&g_lost, 0);
    for (int i = 0; i < ST_REDIS_SINKS_MAX; i++) {
        redis_sink *r = g_open[i];
        if (!r)
            continue;
        if (r->fd >= 0)
            close(r->fd);
        if (r->sp.fd >= 0)
            close(r->sp.fd);
        list_free(&r->q);
        list_free(&r->retry); /* the parent sends those; fork_prepare held mu: whole */
        r->ctx = NULL;
        r->sbuf = NULL;
        r->scap = 0;
        r->fd = r->sp.fd = -1;
        r->sp.head = r->sp.end = 0;
        r->thread_up = r->thread_done = r->waiting = r->closing = r->stop = 0;
        r->lost = 0;
        r->pid = getpid();
        snprintf(r->sp.path, sizeof r->sp.path, "%s/redis-spool.%ld.jsonl", r->conf.out,
                 (long)r->pid);
        init_sync(r);
    }
    pthread_mutex_init(&g_mu, NULL);
}

static void register_atfork(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static int track(redis_sink *r, redis_sink *old)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    int ok = 0;
    pthread_once(&once, register_atfork);
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < ST_REDIS_SINKS_MAX && !ok; i++)
        if (g_open[i] == old) {
            g_open[i] = r;
            ok = 1;
        }
    pthread_mutex_unlock(&g_mu);
    return ok ? 0 : -1;
}

/* ----------------------------------------------------------------- ops */

static void redis_free(redis_sink *r)
{
    list_free(&r->q);
    list_free(&r->retry);
    if (r->sp.fd >= 0)
        close(r->sp.fd);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->idle);
    pthread_mutex_destroy(&r->mu);
    free(r->sbuf);
    free(r);
}

static void *redis_open(const st_sink_options *opt, char *where, size_t wherelen, char *err,
                        size_t errlen)
{
    redis_sink *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    init_sync(r);
    r->fd = r->sp.fd = -1;
    r->pid = getpid();
    if (read_conf(&r->conf, opt, where, wherelen, err, errlen) != 0) {
        redis_free(r);
        return NULL;
    }
    if (track(r, NULL) != 0) {
        snprintf(err, errlen, "redis: more than %d sinks open", ST_REDIS_SINKS_MAX);
        redis_free(r);
        return NULL;
    }
    unsigned long long torn = 0;
    pthread_mutex_lock(&r->mu);
    spool_start(r, &torn);
    lose(r, torn);
    if (has_work(r))
        start_thread(r); /* the last run's lines go first */
    pthread_mutex_unlock(&r->mu);
    return r;
}

static size_t redis_write(void *s, const char *line, size_t len)
{
    redis_sink *r = s;
    size_t need = len + 1, lost = 0;
    pthread_mutex_lock(&r->mu);
    start_thread(r);
    while (r->q.n && r->q.bytes + r->retry.bytes + need > r->conf.queue_max)
        if (spill(r, need) != 0)
            break;
    rline *x =
        r->q.bytes + r->retry.bytes + need <= r->conf.queue_max ? malloc(sizeof *x + need) : NULL;
    if (x) {
        x->len = need;
        memcpy(x->data, line, len);
        x->data[len] = '\n';
        list_push(&r->q, x);
    } else {
        /* memory is full of lines the spool would not take, or empty:
         * then this one goes to the spool's end, after the older ones */
        struct iovec v[2] = {{(void *)line, len}, {"\n", 1}};
        if (r->q.n || spool_add(r, v, 2, need) != 0) {
            errno = r->q.n ? ENOBUFS : errno;
            lose(r, lost = 1);
        }
    }
    if (r->waiting)
        pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mu);
    return lost;
}

static size_t redis_flush(void *s)
{
    redis_sink *r = s;
    pthread_mutex_lock(&r->mu);
    if (r->waiting && has_work(r))
        pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static int redis_reopen(void *s, char *err, size_t errlen)
{
    return 0; /* the server is not a file logrotate moves; the spool is ours */
}

/* Gives the thread close_wait to deliver everything, then stops it. */
static void stop_thread(redis_sink *r)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += r->conf.close_wait_ms / 1000;
    t.tv_nsec += (r->conf.close_wait_ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L)
        t.tv_sec++, t.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&r->mu);
    r->closing = 1;
    pthread_cond_signal(&r->wake);
    while (r->thread_up && !r->thread_done &&
           pthread_cond_timedwait(&r->idle, &r->mu, &t) != ETIMEDOUT)
        ;
    r->stop = 1;
    if (r->fd >= 0)
        shutdown(r->fd, SHUT_RDWR); /* a read or write waiting on it returns */
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mu);
    if (r->thread_up)
        pthread_join(r->thread, NULL);
    r->thread_up = 0;
}

/* Lines of a list as iovecs, from x on; how many (at most IOV_MAX). */
static int list_iov(rline **x, struct iovec *iov, size_t *bytes)
{
    int n = 0;
    *bytes = 0;
    for (; *x && n < IOV_MAX; *x = (*x)->next) {
        iov[n++] = (struct iovec){(*x)->data, (*x)->len};
        *bytes += (*x)->len;
    }
    return n;
}

/* Appends every line of l to s; how many could not be (from the first
 * that failed on: order is kept, nothing after a gap). */
static size_t keep_list(spool *s, rlist *l, off_t cap)
{
    struct iovec iov[IOV_MAX];
    rline *x = l->head;
    size_t bytes, done = 0;
    int n;
    while ((n = list_iov(&x, iov, &bytes)) > 0 && spool_append(s, iov, n, bytes, cap) == 0)
        done += (size_t)n;
    return l->n - done;
}

/* The spool rewritten with the unanswered batch in front: a new file
 * renamed over the old one. -1 (the old one stays) on an error. */
static int keep_retry(redis_sink *r)
{
    spool t = {.fd = -1};
    if (snprintf(t.path, sizeof t.path, "%s.tmp", r->sp.path) >= (int)sizeof t.path)
        return -1;
    unlink(t.path);
    int rc =
        spool_load(&t, &(unsigned long long){0}) == 0 && keep_list(&t, &r->retry, ST_OFF_MAX) == 0
            ? 0
            : -1;
    for (off_t at = r->sp.head; rc == 0 && r->sp.fd >= 0 && at < r->sp.end;) {
        char buf[65536];
        size_t k = r->sp.end - at < (off_t)sizeof buf ? (size_t)(r->sp.end - at) : sizeof buf;
        struct iovec v = {buf, k};
        if (pread(r->sp.fd, buf, k, at) != (ssize_t)k ||
            spool_append(&t, &v, 1, k, ST_OFF_MAX) != 0)
            rc = -1;
        at += (off_t)k;
    }
    if (rc == 0 && rename(t.path, r->sp.path) != 0)
        rc = -1;
    if (rc != 0) {
        if (t.fd >= 0)
            close(t.fd);
        unlink(t.path);
        return -1;
    }
    if (r->sp.fd >= 0)
        close(r->sp.fd);
    r->sp.fd = t.fd;
    r->sp.head = t.head;
    r->sp.end = t.end;
    return 0;
}

/* What is left after the thread: to the spool, in order. */
static void keep_rest(redis_sink *r)
{
    if (r->retry.n) {
        if (keep_retry(r) != 0) {
            lose(r, r->retry.n + r->q.n); /* nothing after a gap */
            list_free(&r->q);
        }
        list_free(&r->retry);
    }
    if (r->q.n)
        lose(r, keep_list(&r->sp, &r->q, r->conf.spool_max));
    list_free(&r->q);
    if (r->sp.fd >= 0 && r->sp.head == r->sp.end)
        unlink(r->sp.path);
}

static int redis_close(void *s, char *err, size_t errlen)
{
    redis_sink *r = s;
    stop_thread(r);
    keep_rest(r);
    track(NULL, r);
    int rc = 0;
    if (r->lost) {
        snprintf(err, errlen, "%s: %llu records kept neither in Redis nor in the spool%s%s",
                 r->conf.where, r->lost, r->why[0] ? "; last: " : "", r->why);
        rc = -1;
    }
    redis_free(r);
    return rc;
}

const st_sink_ops st_sink_redis = {"redis",     redis_open,   redis_write,
                                   redis_flush, redis_reopen, redis_close};
