/*
 * test_sink_redis.c - the "redis" sink (output/sink_redis.c) where a real
 * server cannot be made to misbehave: options, the spool, and a server
 * that stops answering or drops the connection in the middle of a batch
 * (tests/integration/test_redis.py has the real redis-server).
 *
 * Truth: the lines this test wrote (each told apart by its index), the
 * spool file read back from disk, and what a fake server in a thread of
 * this test acknowledged, in the order it did (it speaks just enough RESP:
 * arrays of bulk strings in, one reply per command out).
 *
 * - Bad options fail open naming the option; sinks = redis without redis
 *   names what is missing; the address shown never holds the password.
 * - No server (a socket path nobody listens on): every line ends in
 *   OUT/redis-spool.jsonl, whole, in order, close succeeds (redis_queue
 *   small or 0: the oldest move there while running, the rest at close).
 * - A spool too small: what fits is kept in order, the rest given up and
 *   counted (st_sink_redis_lost; close fails with ENOBUFS).
 * - A spool left by an earlier run (a delivered stretch of zeros, a torn
 *   last line) and a worker's redis-spool.PID.jsonl: the next open keeps
 *   the waiting lines, first, drops the torn one (counted), removes the
 *   worker's file.
 * - A server that answers 3 commands and then hangs: at close (1 s) the
 *   unanswered lines are in the spool, in order, after nothing: the
 *   acknowledged ones plus the spool are exactly the lines written.
 * - A server that drops the connection after 2 answers, then answers
 *   everything: the acknowledged lines are exactly the lines written, in
 *   order, each once; no spool is left.
 *
 * Everything lives in a mkdtemp() directory under /tmp, removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "output/sink.h"
#include "../tmptree.h"

#define ERRLEN 8192
#define NLINES 40

static char g_root[64];

/* ------------------------------------------------------------- options */

typedef struct {
    const char *name[12], *value[12];
} opts;

static const char *get(void *ctx, const char *name)
{
    opts *o = ctx;
    for (int i = 0; i < 12 && o->name[i]; i++)
        if (strcmp(o->name[i], name) == 0)
            return o->value[i];
    return NULL;
}

static void set(opts *o, const char *name, const char *value)
{
    int i = 0;
    while (o->name[i] && strcmp(o->name[i], name) != 0)
        i++;
    o->name[i] = name;
    o->value[i] = value;
}

/* ------------------------------------------------------------- helpers */

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/st_redis_XXXXXX");
    return mkdtemp(g_root) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return st_tmptree_remove(g_root);
}

static void subdir(char *out, size_t outlen, const char *name)
{
    st_tmptree_subdir(g_root, out, outlen, name);
}

/* Line i: {"n":i,"pad":"..."} of about 100 + i bytes. */
static char *make_line(int i)
{
    static char b[512];
    int n = snprintf(b, sizeof b, "{\"n\":%d,\"pad\":\"", i);
    for (int k = 0; k < 80 + i; k++)
        b[n++] = (char)('a' + (i + k) % 26);
    snprintf(b + n, sizeof b - (size_t)n, "\"}");
    return b;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *len = 0;
        return NULL;
    }
    char *b = malloc(1 << 20);
    assert_non_null(b);
    *len = fread(b, 1, (1 << 20) - 1, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

/* path holds (after any leading zeros) exactly lines from..to-1, whole. */
static void expect_spool(const char *path, int from, int to)
{
    size_t len, pos = 0;
    char *f = read_all(path, &len);
    if (from == to) {
        assert_true(!f || len == 0);
        free(f);
        return;
    }
    assert_non_null(f);
    while (pos < len && f[pos] == 0)
        pos++;
    for (int i = from; i < to; i++) {
        const char *want = make_line(i);
        size_t n = strlen(want);
        if (pos + n + 1 > len || memcmp(f + pos, want, n) != 0 || f[pos + n] != '\n')
            fail_msg("%s: line %d not where expected (offset %zu of %zu)", path, i, pos, len);
        pos += n + 1;
    }
    if (pos != len)
        fail_msg("%s: %zu bytes after line %d", path, len - pos, to - 1);
    free(f);
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* ----------------------------------------------------- the fake server */

typedef struct {
    char path[108];
    int lfd;
    int answer[4]; /* per connection: commands answered after the probe; -1 all */
    int drop[4];   /* then: 1 close the connection, 0 hang (read and stay silent) */
    atomic_int stop;
    pthread_t thread;
    pthread_mutex_t mu;
    char *acked[NLINES * 2];
    int nacked;
} fake;

typedef struct {
    int fd;
    char buf[65536];
    size_t len, at;
} reader;

static int rd_byte(reader *r, fake *f)
{
    while (r->at == r->len) {
        ssize_t n = read(r->fd, r->buf, sizeof r->buf);
        if (n <= 0 || f->stop)
            return -1;
        r->len = (size_t)n;
        r->at = 0;
    }
    return (unsigned char)r->buf[r->at++];
}

static long rd_num(reader *r, fake *f, int lead)
{
    int c = rd_byte(r, f);
    long n = 0;
    if (c != lead)
        return -1;
    while ((c = rd_byte(r, f)) >= 0 && c != '\r')
        n = n * 10 + (c - '0');
    return rd_byte(r, f) == '\n' ? n : -1;
}

/* One command: its last argument (the line), malloc'd; NULL at the end. */
static char *rd_command(reader *r, fake *f, char *name, size_t namelen)
{
    long argc = rd_num(r, f, '*');
    char *last = NULL;
    for (long i = 0; i < argc; i++) {
        long n = rd_num(r, f, '$');
        if (n < 0)
            break;
        free(last);
        last = malloc((size_t)n + 1);
        for (long k = 0; k < n; k++)
            last[k] = (char)rd_byte(r, f);
        last[n] = 0;
        rd_byte(r, f);
        rd_byte(r, f);
        if (i == 0)
            snprintf(name, namelen, "%s", last);
    }
    if (argc <= 0) {
        free(last);
        return NULL;
    }
    return last;
}

static void serve(fake *f, int fd, int conn)
{
    reader r = {.fd = fd};
    char name[32];
    char *arg;
    int answered = 0;
    while ((arg = rd_command(&r, f, name, sizeof name)) != NULL) {
        if (strcmp(name, "EXISTS") == 0) {
            (void)!write(fd, ":0\r\n", 4);
            free(arg);
            continue;
        }
        if (f->answer[conn] >= 0 && answered >= f->answer[conn]) {
            free(arg);
            if (f->drop[conn])
                return;
            continue; /* silent */
        }
        pthread_mutex_lock(&f->mu);
        if (f->nacked < NLINES * 2)
            f->acked[f->nacked++] = arg;
        else
            free(arg);
        pthread_mutex_unlock(&f->mu);
        answered++;
        (void)!write(fd, "+1-0\r\n", 6);
    }
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    for (int conn = 0; !f->stop; conn++) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            break;
        serve(f, fd, conn < 4 ? conn : 3);
        close(fd);
    }
    return NULL;
}

static void fake_start(fake *f, const char *dir)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(f->path, sizeof f->path, "%s/fake.sock", dir);
    snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
    f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    pthread_mutex_init(&f->mu, NULL);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(fake *f)
{
    f->stop = 1;
    shutdown(f->lfd, SHUT_RDWR);
    close(f->lfd);
    /* a connection it still serves ends when the sink closed it */
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->mu);
}

static void fake_free(fake *f)
{
    for (int i = 0; i < f->nacked; i++)
        free(f->acked[i]);
}

/* ----------------------------------------------------------------- tests */

static st_sink *open_redis(opts *o, const char *dir, char *err)
{
    st_sink_options so = {.output_dir = dir, .option = get, .option_ctx = o};
    return st_sink_open("redis", &so, err, ERRLEN);
}

static void test_bad_options(void **state)
{
    (void)state;
    char dir[128], err[ERRLEN];
    subdir(dir, sizeof dir, "bad");
    static const struct {
        const char *name, *value, *want;
    } cases[] = {
        {"redis", "", "redis: no server named"},
        {"redis", "tcp://localhost", "redis: expected redis://"},
        {"redis", "redis://host:0", "redis: expected redis://"},
        {"redis", "redis://host:6379/x", "redis: expected redis://"},
        {"redis", "unix:relative.sock", "redis: expected redis://"},
        {"redis_mode", "hash", "redis_mode: expected stream, list or publish"},
        {"redis_queue", "-1", "redis_queue: expected a number"},
        {"redis_key", "", "redis_key: expected a name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        opts o;
        memset(&o, 0, sizeof o);
        set(&o, "redis", "unix:/nonexistent.sock");
        set(&o, cases[i].name, cases[i].value);
        err[0] = 0;
        assert_null(open_redis(&o, dir, err));
        if (!strstr(err, cases[i].want))
            fail_msg("%s=%s: '%s' lacks '%s'", cases[i].name, cases[i].value, err, cases[i].want);
    }
    opts o;
    memset(&o, 0, sizeof o);
    set(&o, "redis", "redis://unix:6379/0");
    set(&o, "redis_mode", "list");
    set(&o, "redis_maxlen", "10");
    assert_null(open_redis(&o, dir, err));
    assert_non_null(strstr(err, "redis_maxlen: only with redis_mode = stream"));
    /* the address errors name: no password */
    opts p;
    memset(&p, 0, sizeof p);
    set(&p, "redis", "redis://me:s3cret@[::1]:6380/2");
    st_sink *k = open_redis(&p, dir, err);
    assert_non_null(k);
    assert_string_equal(k->where, "redis://[::1]:6380/2");
    assert_int_equal(st_sink_close(k, NULL, err, ERRLEN), 0);
}

/* Lines from..to-1; how many were given up (opened alone, the Redis sink
 * gives up a line it can keep nowhere, as the file sink would). */
static size_t write_lines(st_sink *k, int from, int to)
{
    size_t lost = 0;
    for (int i = from; i < to; i++) {
        const char *l = make_line(i);
        lost += st_sink_write(k, l, strlen(l));
    }
    return lost;
}

static void no_server(const char *name, const char *queue)
{
    char dir[128], sock[192], spool[192], err[ERRLEN] = "";
    subdir(dir, sizeof dir, name);
    snprintf(sock, sizeof sock, "unix:%s/nobody.sock", dir);
    snprintf(spool, sizeof spool, "%s/redis-spool.jsonl", dir);
    opts o;
    memset(&o, 0, sizeof o);
    set(&o, "redis", sock);
    set(&o, "redis_queue", queue);
    set(&o, "redis_close_wait", "0");
    unsigned long long lost = st_sink_redis_lost();
    st_sink *k = open_redis(&o, dir, err);
    assert_non_null(k);
    assert_int_equal(write_lines(k, 0, NLINES), 0);
    assert_int_equal(st_sink_flush(k), 0);
    assert_int_equal(st_sink_close(k, NULL, err, ERRLEN), 0);
    expect_spool(spool, 0, NLINES);
    assert_true(st_sink_redis_lost() == lost);
}

static void test_no_server_memory(void **state)
{
    (void)state;
    no_server("mem", "16777216");
}

static void test_no_server_small_queue(void **state)
{
    (void)state;
    no_server("small", "1000");
}

static void test_no_server_no_queue(void **state)
{
    (void)state;
    no_server("zero", "0");
}

static void test_spool_full(void **state)
{
    (void)state;
    char dir[128], sock[192], spool[192], err[ERRLEN] = "";
    subdir(dir, sizeof dir, "full");
    snprintf(sock, sizeof sock, "unix:%s/nobody.sock", dir);
    snprintf(spool, sizeof spool, "%s/redis-spool.jsonl", dir);
    opts o;
    memset(&o, 0, sizeof o);
    set(&o, "redis", sock);
    set(&o, "redis_queue", "0");
    set(&o, "redis_spool_max", "1000"); /* lines 0..8: 97..105 bytes with '\n', 909 */
    set(&o, "redis_close_wait", "0");
    unsigned long long lost = st_sink_redis_lost();
    st_sink *k = open_redis(&o, dir, err);
    assert_non_null(k);
    assert_int_equal(write_lines(k, 0, NLINES), NLINES - 9);
    assert_int_equal(st_sink_close(k, NULL, err, ERRLEN), -1);
    expect_spool(spool, 0, 9);
    assert_true(st_sink_redis_lost() - lost == NLINES - 9);
    /* opened alone it is the named sink: its first failure is reported */
    assert_non_null(strstr(err, sock));
    assert_non_null(strstr(err, strerror(ENOBUFS)));
}

static void test_spool_left_before(void **state)
{
    (void)state;
    char dir[128], sock[192], spool[192], worker[192], err[ERRLEN] = "";
    subdir(dir, sizeof dir, "left");
    snprintf(sock, sizeof sock, "unix:%s/nobody.sock", dir);
    snprintf(spool, sizeof spool, "%s/redis-spool.jsonl", dir);
    snprintf(worker, sizeof worker, "%s/redis-spool.4242.jsonl", dir);
    /* zeros (delivered), lines 0 and 1, a torn line; a worker's 2 and 3 */
    char buf[4096];
    size_t n = 300;
    memset(buf, 0, n);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\n", make_line(0));
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\n", make_line(1));
    n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"torn");
    write_file(spool, buf, n);
    n = (size_t)snprintf(buf, sizeof buf, "%s\n", make_line(2));
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\n", make_line(3));
    write_file(worker, buf, n);
    opts o;
    memset(&o, 0, sizeof o);
    set(&o, "redis", sock);
    set(&o, "redis_close_wait", "0");
    unsigned long long lost = st_sink_redis_lost();
    st_sink *k = open_redis(&o, dir, err);
    assert_non_null(k);
    assert_int_equal(access(worker, F_OK), -1);
    assert_int_equal(write_lines(k, 4, 10), 0);
    assert_int_equal(st_sink_close(k, NULL, err, ERRLEN), -1); /* the torn one */
    assert_true(st_sink_redis_lost() - lost == 1);
    expect_spool(spool, 0, 10);
}

/* The acknowledged lines, then the spool: exactly lines 0..NLINES-1. */
static void expect_all_once(fake *f, const char *spool, int spool_from)
{
    assert_int_equal(f->nacked, spool_from);
    for (int i = 0; i < f->nacked; i++)
        assert_string_equal(f->acked[i], make_line(i));
    expect_spool(spool, spool_from, NLINES);
    fake_free(f);
}

static void test_server_hangs(void **state)
{
    (void)state;
    char dir[128], sock[192], spool[192], err[ERRLEN] = "";
    subdir(dir, sizeof dir, "hang");
    fake f = {.answer = {3, 3, 3, 3}};
    fake_start(&f, dir);
    snprintf(sock, sizeof sock, "unix:%s", f.path);
    snprintf(spool, sizeof spool, "%s/redis-spool.jsonl", dir);
    opts o;
    memset(&o, 0, sizeof o);
    set(&o, "redis", sock);
    set(&o, "redis_close_wait", "1");
    st_sink *k = open_redis(&o, dir, err);
    assert_non_null(k);
    assert_int_equal(write_lines(k, 0, NLINES), 0);
    assert_int_equal(st_sink_close(k, NULL, err, ERRLEN), 0);
    fake_stop(&f);
    expect_all_once(&f, spool, 3);
}

static void test_server_drops_then_answers(void **state)
{
    (void)state;
    char dir[128], sock[192], spool[192], err[ERRLEN] = "";
    subdir(dir, sizeof dir, "drop");
    fake f = {.answer = {2, -1, -1, -1}, .drop = {1, 0, 0, 0}};
    fake_start(&f, dir);
    snprintf(sock, sizeof sock, "unix:%s", f.path);
    snprintf(spool, sizeof spool, "%s/redis-spool.jsonl", dir);
    opts o;
    memset(&o, 0, sizeof o);
    set(&o, "redis", sock);
    set(&o, "redis_close_wait", "5");
    st_sink *k = open_redis(&o, dir, err);
    assert_non_null(k);
    assert_int_equal(write_lines(k, 0, NLINES), 0);
    assert_int_equal(st_sink_close(k, NULL, err, ERRLEN), 0);
    fake_stop(&f);
    expect_all_once(&f, spool, NLINES);
    assert_int_equal(access(spool, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_no_server_memory),
        cmocka_unit_test(test_no_server_small_queue),
        cmocka_unit_test(test_no_server_no_queue),
        cmocka_unit_test(test_spool_full),
        cmocka_unit_test(test_spool_left_before),
        cmocka_unit_test(test_server_hangs),
        cmocka_unit_test(test_server_drops_then_answers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
