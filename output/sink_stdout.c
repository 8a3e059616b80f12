/*
 * sink_stdout.c - the "stdout" sink: record lines on standard output
 * (smtptap -o -, piped into jq or a collector).
 *
 * Each line is written at once with its newline, in one writev(2) where
 * the descriptor takes it whole: nothing is buffered, so a reader sees a
 * record as soon as its session ends, and a line is never torn by our
 * buffering. Workers share the descriptor: every line is written under
 * a POSIX record lock (fcntl F_SETLKW) on it, so that two workers'
 * records do not interleave. Not flock(2): its lock belongs to the open
 * file description, which forked workers share, so each of them "gets"
 * it at once (measured). Locking only the lines longer than PIPE_BUF
 * (those a pipe does not write atomically) would not do either: a short
 * line could land between two pieces of another worker's long one. Where
 * the descriptor takes no lock (a terminal may not), lines go unlocked.
 *
 * How it fails: a write that fails (a reader gone: EPIPE, when SIGPIPE
 * is ignored; a full disk) gives the line up; every later line is tried
 * again. reopen (SIGHUP) has nothing to do.
 *
 * Not handled: O_NONBLOCK standard output (EAGAIN gives the line up).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "output/iov.h"
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

static size_t stdout_write(void *p, const char *line, size_t len)
{
    stdout_sink *s = p;
    struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET}; /* the whole "file" */
    int lock;
    while ((lock = fcntl(s->fd, F_SETLKW, &fl)) != 0 && errno == EINTR)
        ;
    size_t done = 0;
    int rc = st_writev_all(s->fd, iov, 2, -1, &done); /* a pipe may take a long line in parts */
    int e = errno;
    if (lock == 0) {
        fl.l_type = F_UNLCK;
        fcntl(s->fd, F_SETLK, &fl);
    }
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
