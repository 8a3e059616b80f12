/*
 * test_sink.c - the sink interface (output/sink.h) and the "file" sink
 * (output/sink_file.c): OUT/sessions.jsonl, whole lines only.
 *
 * Truth: the bytes read back from the file, compared with the lines this
 * test wrote (each built here from its index, so that every line is told
 * apart and a torn or merged line shows), and the contract of sink.h.
 *
 * - An unknown name gives NULL from st_sink_find and fails st_sink_open
 *   with a message naming it; opening in a missing directory fails with a
 *   message naming the path, and creates nothing.
 * - Without limits, lines around the 64 KiB buffer (exactly filling it,
 *   one byte over, larger than it) come back byte for byte, each with its
 *   '\n', in order.
 * - Under a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored: write(2)
 *   cut short, then EFBIG), one sequence with known outcome (a large line
 *   torn at the limit, a buffer torn at the limit) and the 400 lines of up
 *   to 150 KB of the first ad-hoc check: the file holds exactly the lines
 *   that were taken and not given up later, each whole, in order, nothing
 *   torn; taken + given up = written; close reports the failure naming
 *   the path. The limit and the signal disposition are restored by each
 *   case's teardown (only the soft limit is lowered, so it can be raised
 *   again without privileges).
 * - reopen after logrotate's rename: new lines go to a new file at the
 *   original path, the renamed file keeps the old ones, a second reopen
 *   appends (while open truncates a file left from before); a reopen that
 *   cannot open is kept as the first failure and gives up lines until one
 *   succeeds, and close reports that failure.
 *
 * Everything lives in a mkdtemp() directory under /tmp, removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/sink.h"
#include "../tmptree.h"

/* ------------------------------------------------------------- helpers */

/* Room for what errors name (st_sink.where) and the reason. */
#define ERRLEN 8192

static char g_root[64];
static char line[200001];

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/st_sink_XXXXXX");
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

/* Line i of length len: its index first (as far as it fits), then letters;
 * never a newline. */
static const char *make_line(int i, size_t len)
{
    char tag[16];
    int t = snprintf(tag, sizeof tag, "%06d:", i);
    assert_true(len < sizeof line);
    for (size_t k = 0; k < len; k++)
        line[k] = k < (size_t)t ? tag[k] : (char)('a' + (i + (int)k) % 26);
    return line;
}

/* The whole file at path (NUL after it); *len its size. */
static char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char *b = malloc((size_t)st.st_size + 1);
    assert_non_null(b);
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, b + n, (size_t)st.st_size - n);
        assert_true(r > 0);
        n += (size_t)r;
    }
    close(fd);
    b[n] = 0;
    *len = n;
    return b;
}

/* The file at path holds exactly lines idx[0..n) (lengths from lens), each
 * whole and ending in '\n', and nothing else. */
static void expect_lines(const char *path, const int *idx, size_t n, const size_t *lens)
{
    size_t flen, pos = 0;
    char *f = read_all(path, &flen);
    for (size_t j = 0; j < n; j++) {
        size_t len = lens[idx[j]];
        if (pos + len + 1 > flen)
            fail_msg("%s: line %zu (#%d, %zu bytes) missing at offset %zu of %zu", path, j, idx[j],
                     len, pos, flen);
        if (memcmp(f + pos, make_line(idx[j], len), len) != 0 || f[pos + len] != '\n')
            fail_msg("%s: line %zu (#%d, %zu bytes) differs at offset %zu", path, j, idx[j], len,
                     pos);
        pos += len + 1;
    }
    if (pos != flen)
        fail_msg("%s: %zu bytes after the %zu expected lines", path, flen - pos, n);
    free(f);
}

static void expect_file(const char *path, const char *want)
{
    size_t len;
    char *f = read_all(path, &len);
    assert_int_equal(len, strlen(want));
    assert_string_equal(f, want);
    free(f);
}

/* --------------------------------------------------- names, directories */

static void test_unknown_name(void **state)
{
    (void)state;
    assert_ptr_equal(st_sink_find("file"), &st_sink_file);
    assert_string_equal(st_sink_file.name, "file");
    assert_null(st_sink_find("syslog"));
    assert_null(st_sink_find("File"));
    assert_null(st_sink_find("files"));
    assert_null(st_sink_find(""));

    char err[ERRLEN] = "";
    st_sink_options o = {.output_dir = g_root};
    assert_null(st_sink_open("redis", &o, err, sizeof err));
    assert_non_null(strstr(err, "redis"));
}

static void test_missing_dir(void **state)
{
    (void)state;
    char dir[128], path[192], err[ERRLEN] = "";
    snprintf(dir, sizeof dir, "%s/missing", g_root);
    snprintf(path, sizeof path, "%s/sessions.jsonl", dir);
    st_sink_options o = {.output_dir = dir};
    assert_null(st_sink_open("file", &o, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(ENOENT)));
    struct stat st;
    assert_int_equal(stat(dir, &st), -1); /* nothing made */
}

/* ------------------------------------------------------- whole lines */

static void test_lines_around_buffer(void **state)
{
    (void)state;
    /* 10 x 6000 + 5525 fill the 64 KiB buffer exactly (each with '\n'),
     * 65535 fills it alone, 65536 and 200000 do not fit and go on their
     * own; about 400 KB in all, over the limit of the cases before. */
    static const size_t lens[] = {6000,  6000,  6000, 6000,   6000, 6000,  6000, 6000,
                                  6000,  6000,  5525, 1,      1,    65535, 2,    65536,
                                  65537, 70000, 3,    200000, 7,    100,   1};
    enum { N = sizeof lens / sizeof *lens };
    int idx[N];
    char dir[128], path[192], err[ERRLEN] = "";
    subdir(dir, sizeof dir, "whole");
    snprintf(path, sizeof path, "%s/sessions.jsonl", dir);
    st_sink_options o = {.output_dir = dir};
    st_sink *k = st_sink_open("file", &o, err, sizeof err);
    assert_non_null(k);
    for (int i = 0; i < N; i++) {
        assert_int_equal(st_sink_write(k, make_line(i, lens[i]), lens[i]), 0);
        idx[i] = i;
        if (i == 12) /* a flush between writes changes nothing */
            assert_int_equal(st_sink_flush(k), 0);
    }
    size_t given_up = 99;
    assert_int_equal(st_sink_close(k, &given_up, err, sizeof err), 0);
    assert_int_equal(given_up, 0);
    expect_lines(path, idx, N, lens);
}

/* ------------------------------------------------- file size limit */

static struct rlimit g_saved_limit;
static struct sigaction g_saved_xfsz;

static int limit_setup(void **state)
{
    (void)state;
    if (getrlimit(RLIMIT_FSIZE, &g_saved_limit) != 0)
        return -1;
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(&ign.sa_mask);
    return sigaction(SIGXFSZ, &ign, &g_saved_xfsz);
}

static int limit_teardown(void **state)
{
    (void)state;
    struct rlimit now;
    if (setrlimit(RLIMIT_FSIZE, &g_saved_limit) != 0 || getrlimit(RLIMIT_FSIZE, &now) != 0 ||
        now.rlim_cur != g_saved_limit.rlim_cur)
        return -1;
    return sigaction(SIGXFSZ, &g_saved_xfsz, NULL);
}

/* Lower the soft limit only: raising it back needs no privilege. */
static void set_limit(rlim_t bytes)
{
    if (g_saved_limit.rlim_max != RLIM_INFINITY && g_saved_limit.rlim_max < bytes)
        skip();
    struct rlimit rl = {bytes, g_saved_limit.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* close reports the first failure, EFBIG, naming the file. */
static void expect_close_efbig(st_sink *k, const char *path, size_t *given_up)
{
    static char err[ERRLEN];
    err[0] = 0;
    assert_int_equal(st_sink_close(k, given_up, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(EFBIG)));
}

/* Every byte count here is known: limit 100000. */
static void test_limit_torn_tails(void **state)
{
    (void)state;
    static const size_t lens[] = {70000, 70000, 20000, 999, 999, 999, 999,
                                  999,   999,   999,   999, 999, 999, 5};
    char dir[128], path[192], err[ERRLEN] = "";
    subdir(dir, sizeof dir, "torn");
    snprintf(path, sizeof path, "%s/sessions.jsonl", dir);
    set_limit(100000);
    st_sink_options o = {.output_dir = dir};
    st_sink *k = st_sink_open("file", &o, err, sizeof err);
    assert_non_null(k);

    /* 0: on its own, 70001 bytes. 1: on its own, cut at 100000 (29999
     * bytes torn): given up, the file cut back to line 0. */
    assert_int_equal(st_sink_write(k, make_line(0, lens[0]), lens[0]), 0);
    assert_int_equal(st_sink_write(k, make_line(1, lens[1]), lens[1]), 1);
    /* 2: buffered, then flushed whole (up to 90002): the room freed by the
     * cut is used again, with no hole. */
    assert_int_equal(st_sink_write(k, make_line(2, lens[2]), lens[2]), 0);
    assert_int_equal(st_sink_flush(k), 0);
    /* 3..12: 10 x 1000 bytes buffered, flushed: 9 fit (99002), the 10th is
     * torn at 100000 and given up. */
    for (int i = 3; i <= 12; i++)
        assert_int_equal(st_sink_write(k, make_line(i, lens[i]), lens[i]), 0);
    assert_int_equal(st_sink_flush(k), 1);
    /* 13: 6 bytes still fit (99008). */
    assert_int_equal(st_sink_write(k, make_line(13, lens[13]), lens[13]), 0);
    size_t given_up = 99;
    expect_close_efbig(k, path, &given_up);
    assert_int_equal(given_up, 0);

    static const int want[] = {0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13};
    expect_lines(path, want, sizeof want / sizeof *want, lens);
}

/* The ad-hoc check: 400 lines of up to 150 KB against a 300000-byte limit,
 * flushed every 50. Which lines are kept follows from what the calls
 * return: a write's result counts itself and lines taken just before it,
 * a flush's the last lines taken (lines go out in order, so those given
 * up are the latest). */
static void test_limit_400_lines(void **state)
{
    (void)state;
    enum { N = 400 };
    static size_t lens[N];
    static int kept[N];
    size_t n_kept = 0, given_up = 0, n;
    char dir[128], path[192], err[ERRLEN] = "";
    subdir(dir, sizeof dir, "fsize");
    snprintf(path, sizeof path, "%s/sessions.jsonl", dir);
    set_limit(300000);
    st_sink_options o = {.output_dir = dir};
    st_sink *k = st_sink_open("file", &o, err, sizeof err);
    assert_non_null(k);

    unsigned seed = 1;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245 + 12345;
        lens[i] = (seed >> 8) % (i % 7 == 0 ? 150000 : 3000) + 1;
        if (lens[i] < 8)
            lens[i] = 8; /* room for the index */
        n = st_sink_write(k, make_line(i, lens[i]), lens[i]);
        if (n == 0) {
            kept[n_kept++] = i;
        } else {
            assert_true(n - 1 <= n_kept);
            n_kept -= n - 1;
            given_up += n;
        }
        if (i % 50 == 0) {
            n = st_sink_flush(k);
            assert_true(n <= n_kept);
            n_kept -= n;
            given_up += n;
        }
    }
    expect_close_efbig(k, path, &n);
    assert_true(n <= n_kept);
    n_kept -= n;
    given_up += n;

    assert_int_equal(n_kept + given_up, N);
    assert_true(n_kept > 0);   /* some lines fit, */
    assert_true(given_up > 0); /* the limit was reached */
    expect_lines(path, kept, n_kept, lens);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size <= 300000);
}

/* ------------------------------------------------------------ reopen */

static void test_rename_reopen(void **state)
{
    (void)state;
    char dir[128], path[192], rotated[200], err[ERRLEN] = "";
    subdir(dir, sizeof dir, "rotate");
    snprintf(path, sizeof path, "%s/sessions.jsonl", dir);
    snprintf(rotated, sizeof rotated, "%s.1", path);
    FILE *stale = fopen(path, "w"); /* an earlier run's: kept, appended to */
    assert_non_null(stale);
    fputs("an earlier run's line, longer than the new ones\n", stale);
    fclose(stale);
    st_sink_options o = {.output_dir = dir};
    st_sink *k = st_sink_open("file", &o, err, sizeof err);
    assert_non_null(k);
    assert_int_equal(st_sink_write(k, "one", 3), 0);
    assert_int_equal(st_sink_write(k, "two", 3), 0);
    assert_int_equal(rename(path, rotated), 0); /* logrotate, lines still buffered */
    size_t given_up = 99;
    assert_int_equal(st_sink_reopen(k, &given_up, err, sizeof err), 0);
    assert_int_equal(given_up, 0);
    assert_int_equal(st_sink_write(k, "three", 5), 0);
    assert_int_equal(st_sink_reopen(k, &given_up, err, sizeof err), 0); /* same file: appended */
    assert_int_equal(given_up, 0);
    assert_int_equal(st_sink_write(k, "four", 4), 0);
    assert_int_equal(st_sink_close(k, &given_up, err, sizeof err), 0);
    assert_int_equal(given_up, 0);
    expect_file(rotated, "an earlier run's line, longer than the new ones\none\ntwo\n");
    expect_file(path, "three\nfour\n");
}

static void test_reopen_fails(void **state)
{
    (void)state;
    char dir[128], moved[140], path[192], old[200], err[ERRLEN] = "";
    subdir(dir, sizeof dir, "gone");
    snprintf(moved, sizeof moved, "%s.old", dir);
    snprintf(path, sizeof path, "%s/sessions.jsonl", dir);
    snprintf(old, sizeof old, "%s/sessions.jsonl", moved);
    st_sink_options o = {.output_dir = dir};
    st_sink *k = st_sink_open("file", &o, err, sizeof err);
    assert_non_null(k);
    assert_int_equal(st_sink_write(k, "a", 1), 0);
    assert_int_equal(rename(dir, moved), 0); /* the directory went away */
    size_t given_up = 99;
    assert_int_equal(st_sink_reopen(k, &given_up, err, sizeof err), -1);
    assert_int_equal(given_up, 0);      /* "a" reached the old file first */
    assert_int_equal(k->error, ENOENT); /* kept as the first failure */
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(ENOENT)));
    assert_true(st_sink_write(k, "b", 1) >= 1); /* given up: nowhere to go */
    assert_int_equal(mkdir(dir, 0777), 0);
    assert_int_equal(st_sink_reopen(k, &given_up, err, sizeof err), 0);
    assert_int_equal(st_sink_write(k, "c", 1), 0);
    err[0] = 0;
    assert_int_equal(st_sink_close(k, &given_up, err, sizeof err), -1); /* the first failure */
    assert_int_equal(given_up, 0);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(ENOENT)));
    expect_file(old, "a\n");
    expect_file(path, "c\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_name),
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test_setup_teardown(test_limit_torn_tails, limit_setup, limit_teardown),
        cmocka_unit_test_setup_teardown(test_limit_400_lines, limit_setup, limit_teardown),
        /* after the limited cases: writes 400 KB, more than they allowed */
        cmocka_unit_test(test_lines_around_buffer),
        cmocka_unit_test(test_rename_reopen),
        cmocka_unit_test(test_reopen_fails),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
