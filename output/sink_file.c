/*
 * sink_file.c - the "file" sink: record lines to OUT/sessions.jsonl.
 *
 * The file is opened for appending (O_APPEND, as Suricata's eve.json): a
 * rerun, a restart or an external copytruncate never destroys a record
 * already written. A last line without its newline (a run killed in the
 * middle of a write) is set aside at open: moved to sessions.jsonl.torn
 * and cut off, so that the file holds whole lines only (one that cannot
 * be, longer than 16 MiB or with no room to copy it, is ended with a
 * newline instead, so that no record is glued to it). Lines gather in a
 * 64 KiB buffer of whole lines, written out when the next line does not
 * fit and on every flush; a line larger than the buffer is written on its
 * own. reopen closes the file and opens the same path again, so that after
 * logrotate moved it away a new file is started.
 *
 * Whole lines: when a write(2) fails or is cut short (full disk, quota,
 * file size limit), the lines of this attempt that reached the file whole
 * stay, the torn rest is cut off again with ftruncate(2), and the lines
 * that did not make it are given up. Where that is not possible (the path is a FIFO or a device)
 * the beginning of a line may stay in the output.
 *
 * Not handled: others writing to the same file, fsync(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "output/iov.h"
#include "output/sink.h"

#define ST_SINK_FILE_BUF (1 << 16)

typedef struct file_sink {
    int fd;       /* -1 after a failed reopen */
    int fd_errno; /* why, then */
    char *buf;    /* whole lines, each with its '\n' */
    size_t len;   /* bytes in buf */
    size_t lines; /* lines in buf */
    char path[4096];
} file_sink;

/* After a failed write: cut off the torn bytes it left at the end of the
 * file, so that the file ends with a whole line again. errno is kept. */
static void roll_back(file_sink *f, size_t torn)
{
    int e = errno;
    off_t end = torn ? lseek(f->fd, 0, SEEK_CUR) : -1;
    if (end >= (off_t)torn && ftruncate(f->fd, end - (off_t)torn) == 0)
        lseek(f->fd, end - (off_t)torn, SEEK_SET); /* no hole before the next line */
    errno = e;
}

/* Write out the buffer; the number of lines given up. The lines a write
 * cut short did get out whole are kept. */
static size_t drain(file_sink *f)
{
    size_t lost = 0, done = 0;
    if (f->len == 0)
        return 0;
    struct iovec iov = {f->buf, f->len};
    if (f->fd < 0) {
        errno = f->fd_errno;
        lost = f->lines;
    } else if (st_writev_all(f->fd, &iov, 1, -1, &done) != 0) {
        size_t whole = done, kept = 0;
        while (whole > 0 && f->buf[whole - 1] != '\n')
            whole--;
        for (size_t i = 0; i < whole; i++)
            kept += f->buf[i] == '\n';
        roll_back(f, done - whole);
        lost = f->lines - kept;
    }
    f->len = 0;
    f->lines = 0;
    return lost;
}

static int open_path(file_sink *f, int flags, char *err, size_t errlen)
{
    /* read too: a torn last line is looked for at open */
    f->fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | flags, 0640);
    if (f->fd >= 0)
        return 0;
    f->fd_errno = errno;
    snprintf(err, errlen, "%s: %s", f->path, strerror(f->fd_errno));
    errno = f->fd_errno;
    return -1;
}

/* The torn tail after the last '\n' (at most ST_SINK_TORN_MAX bytes are
 * looked back over, and kept) goes to path.torn, and is cut off. */
#define ST_SINK_TORN_MAX (1 << 24)

/* Where the last line starts: after the last '\n' within ST_SINK_TORN_MAX
 * bytes of the end; -1 when none is there (or the file cannot be read). */
static off_t last_line_start(int fd, off_t end)
{
    char c[4096];
    for (off_t at = end; at > 0 && end - at < ST_SINK_TORN_MAX;) {
        size_t n = at < (off_t)sizeof c ? (size_t)at : sizeof c;
        if (pread(fd, c, n, at - (off_t)n) != (ssize_t)n)
            return -1;
        for (size_t i = n; i > 0; i--)
            if (c[i - 1] == '\n')
                return at - (off_t)(n - i + 1) + 1;
        at -= (off_t)n;
        if (at == 0)
            return 0; /* one line, never ended */
    }
    return -1;
}

/* Copies bytes [at, end) of fd to path.torn, with a '\n'; 0 when all went. */
static int copy_torn(const file_sink *f, off_t at, off_t end)
{
    char torn[4096 + 8], c[4096];
    snprintf(torn, sizeof torn, "%s.torn", f->path);
    int t = open(torn, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    off_t o = at;
    while (t >= 0 && o < end) {
        ssize_t n = pread(f->fd, c, sizeof c, o);
        if (n <= 0 || write(t, c, (size_t)n) != n)
            break;
        o += n;
    }
    int ok = t >= 0 && o == end && write(t, "\n", 1) == 1;
    if (t >= 0 && close(t) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static void set_aside_torn(file_sink *f)
{
    off_t end = lseek(f->fd, 0, SEEK_END);
    char last;
    if (end <= 0 || pread(f->fd, &last, 1, end - 1) != 1 || last == '\n')
        return; /* empty, not a file (a FIFO), or whole lines */
    off_t at = last_line_start(f->fd, end);
    if (at >= 0 && copy_torn(f, at, end) == 0 && ftruncate(f->fd, at) == 0)
        return;
    /* too long to be a record we wrote, or no room to set it aside: end
     * it, so that the records that follow are lines of their own */
    (void)!write(f->fd, "\n", 1);
}

static void *file_open(const st_sink_options *opt, char *where, size_t wherelen, char *err,
                       size_t errlen)
{
    file_sink *f = calloc(1, sizeof *f);
    if (!f || !(f->buf = malloc(ST_SINK_FILE_BUF))) {
        free(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(f->path, sizeof f->path, "%s/sessions.jsonl", opt->output_dir);
    if (open_path(f, O_APPEND, err, errlen) != 0) {
        free(f->buf);
        free(f);
        return NULL;
    }
    set_aside_torn(f);
    snprintf(where, wherelen, "%s", f->path);
    return f;
}

static size_t file_write(void *s, const char *line, size_t len)
{
    file_sink *f = s;
    if (f->fd < 0) {
        errno = f->fd_errno;
        return 1;
    }
    if (len >= ST_SINK_FILE_BUF - f->len) { /* line and '\n' do not fit */
        size_t lost = drain(f);
        if (lost)
            return lost + 1;
        if (len >= ST_SINK_FILE_BUF) { /* larger than the buffer: on its own */
            struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
            size_t done = 0;
            if (st_writev_all(f->fd, iov, 2, -1, &done) == 0)
                return 0;
            roll_back(f, done); /* no '\n' before the last byte */
            return 1;
        }
    }
    memcpy(f->buf + f->len, line, len);
    f->buf[f->len + len] = '\n';
    f->len += len + 1;
    f->lines++;
    return 0;
}

static size_t file_flush(void *s)
{
    return drain(s);
}

static int file_reopen(void *s, char *err, size_t errlen)
{
    file_sink *f = s;
    int rc = 0, e = 0;
    drain(f); /* nothing there: the caller flushed */
    if (f->fd >= 0 && close(f->fd) != 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", f->path, strerror(e));
        rc = -1;
    }
    if (open_path(f, O_APPEND, err, errlen) != 0)
        return -1;
    errno = e;
    return rc;
}

static int file_close(void *s, char *err, size_t errlen)
{
    file_sink *f = s;
    int rc = 0;
    drain(f); /* nothing there: the caller flushed */
    if (f->fd >= 0 && close(f->fd) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", f->path, strerror(e));
        errno = e;
        rc = -1;
    }
    free(f->buf);
    free(f);
    return rc;
}

const st_sink_ops st_sink_file = {"file",     file_open,   file_write,
                                  file_flush, file_reopen, file_close};
