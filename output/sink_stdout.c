/*
 * sink_stdout.c - the "stdout" sink: record lines on standard output
 * (smtptap -o -, piped into jq or a collector).
 *
 * Each line is written at once with its newline, in one writev(2) where
 * the descriptor takes it whole: nothing is buffered, so a reader sees a
 * record as soon as its session ends, and a line is never torn by our
 * buffering. Workers share the descriptor: every line is written under
 * flock(2), so that two workers' records do not interleave. Locking only
 * the lines longer than PIPE_BUF (those a pipe does not write atomically)
 * would not do: a short line, atomic itself, could still land between two
 * pieces of another worker's long one.
 *
 * How it fails: a write that fails (a reader gone: EPIPE, when SIGPIPE
 * is ignored; a full disk) gives the line up; every later line is tried
 * again. reopen (SIGHUP) has nothing to do.
 *
 * Not handled: O_NONBLOCK standard output (EAGAIN gives the line up).
 */
#include <errno.h>
#include <sys/file.h>
#include <sys/uio.h>
#include <unistd.h>

#include "output/sink.h"

typedef struct {
    int fd;
} stdout_sink;

static void *stdout_open(const st_sink_options *opt, char *where, size_t wherelen, char *err,
                         size_t errlen)
{
    (void)opt;
    stdout_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->fd = STDOUT_FILENO;
    snprintf(where, wherelen, "standard output");
    return s;
}

/* All of iov, however short the writes (a pipe takes part of a long line). */
static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t k = writev(fd, iov, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

static size_t stdout_write(void *p, const char *line, size_t len)
{
    stdout_sink *s = p;
    struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
    int lock = flock(s->fd, LOCK_EX) == 0; /* a terminal or pipe takes it too */
    int rc = write_all(s->fd, iov, 2);
    int e = errno;
    if (lock)
        flock(s->fd, LOCK_UN);
    errno = e;
    return rc == 0 ? 0 : 1;
}

static size_t stdout_flush(void *p)
{
    (void)p;
    return 0; /* nothing is buffered */
}

static int stdout_reopen(void *p, char *err, size_t errlen)
{
    (void)p;
    (void)err;
    (void)errlen;
    return 0;
}

static int stdout_close(void *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    free(p); /* standard output stays open: it is not ours */
    return 0;
}

const st_sink_ops st_sink_stdout = {"stdout",     stdout_open,   stdout_write,
                                    stdout_flush, stdout_reopen, stdout_close};
