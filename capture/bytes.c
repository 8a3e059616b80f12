/*
 * bytes.c - a capture file's bytes through fopencookie(): plain, or
 * inflated as they come (zlib's inflate, not gzread: gzread fills its
 * whole buffer before it returns, so a pipe would be read only once
 * 128 KiB had arrived), or zstd-decompressed as they come
 * (ZSTD_decompressStream over the same input buffer).
 *
 * Limits: one 128 KiB input buffer per file; zlib's 32 KiB window, or a
 * zstd window of at most 2^ST_ZSTD_WINDOW_LOG bytes (what zstd(1) decodes
 * without --memory; a frame that asks for more is an error, not an
 * allocation a hostile file chooses).
 */
#include "capture/bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#define ST_BYTES_IN        (128 * 1024) /* ZSTD_DStreamInSize() is 128 KiB + 3 */
#define ST_ZSTD_WINDOW_LOG 27           /* 128 MiB */

struct st_bytes {
    int fd;
    int gzip, member; /* member: inside a gzip member (its end not seen yet) */
    int done;         /* what follows the last member is no member: ignored, as gzip(1) does */
    z_stream z;
    ZSTD_DStream *zs;  /* a zstd file; NULL otherwise */
    ZSTD_inBuffer zin; /* what of in[] zstd has not taken */
    int zend;          /* the last frame begun has ended (nothing taken since) */
    int eof;           /* zstd: the file's last byte was read */
    unsigned char in[ST_BYTES_IN];
    size_t npeek, peeked; /* plain: the first bytes, read to look at the magic */
    uint64_t total, raw;  /* handed out; read from the file */
    const volatile sig_atomic_t *stop;
    void (*wait_fn)(void *); /* before a read that would block (a pipe with nothing in it) */
    void *wait_arg;
    int regular;      /* a regular file: a read never waits for a writer */
    const char *what; /* NULL while the stream is sound */
    char detail[128];
};

/* read(2), retried after a signal unless we are asked to stop: then 0. */
static ssize_t fd_read(st_bytes *b, void *buf, size_t n)
{
    struct pollfd pf = {.fd = b->fd, .events = POLLIN};
    if (b->wait_fn && !b->regular && poll(&pf, 1, 0) == 0)
        b->wait_fn(b->wait_arg); /* nothing to read now: the caller's chance to catch up */
    for (;;) {
        ssize_t k = read(b->fd, buf, n);
        if (k > 0)
            b->raw += (uint64_t)k;
        if (k >= 0 || errno != EINTR)
            return k;
        if (b->stop && *b->stop)
            return 0;
    }
}

static void gz_fail(st_bytes *b, const char *what, const char *detail)
{
    if (b->what)
        return;
    b->what = what;
    snprintf(b->detail, sizeof b->detail, "%s", detail ? detail : "unknown error");
}

static ssize_t plain_read(st_bytes *b, char *buf, size_t size)
{
    if (b->peeked < b->npeek) {
        size_t k = b->npeek - b->peeked < size ? b->npeek - b->peeked : size;
        memcpy(buf, b->in + b->peeked, k);
        b->peeked += k;
        return (ssize_t)k;
    }
    return fd_read(b, buf, size);
}

/* More compressed input; 0 at the end of the file. */
static ssize_t gz_fill(st_bytes *b)
{
    ssize_t k = fd_read(b, b->in, sizeof b->in);
    if (k < 0) {
        gz_fail(b, "read error", strerror(errno));
        return -1;
    }
    b->z.next_in = b->in;
    b->z.avail_in = (uInt)k;
    return k;
}

/* Inflate until some output came, the input ended or it is broken. */
static ssize_t gz_read(st_bytes *b, char *buf, size_t size)
{
    b->z.next_out = (Bytef *)buf;
    b->z.avail_out = (uInt)size;
    while (b->z.avail_out == size) {
        if (b->z.avail_in == 0) {
            ssize_t k = gz_fill(b);
            if (k < 0)
                return -1;
            if (k == 0) {
                if (b->member) /* the file ended inside a member */
                    gz_fail(b, "truncated gzip file", "unexpected end of file");
                return 0;
            }
        }
        if (!b->member && b->z.next_in[0] != 0x1f)
            b->done = 1; /* trailing bytes (zero padding): the end */
        if (b->done)
            return 0;
        if (!b->member && inflateReset(&b->z) != Z_OK)
            return -1;
        b->member = 1;
        int rc = inflate(&b->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            b->member = 0; /* another member may follow */
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            gz_fail(b, "corrupt gzip file", b->z.msg);
            errno = EIO;
            return -1;
        }
    }
    return (ssize_t)(size - b->z.avail_out);
}

/* More zstd input; 0 at the end of the file. */
static ssize_t zs_fill(st_bytes *b)
{
    ssize_t k = fd_read(b, b->in, sizeof b->in);
    if (k < 0) {
        gz_fail(b, "read error", strerror(errno));
        return -1;
    }
    b->zin = (ZSTD_inBuffer){b->in, (size_t)k, 0};
    b->eof = k == 0;
    return k;
}

/* Decompress until some output came, the input ended or it is broken.
 * Frames one after another are one stream (zstd -c a b > c). */
static ssize_t zs_read(st_bytes *b, char *buf, size_t size)
{
    ZSTD_outBuffer out = {buf, size, 0};
    while (out.pos == 0 && size > 0) { /* no room: no progress to wait for */
        if (b->zin.pos == b->zin.size && !b->eof && zs_fill(b) < 0)
            return -1;
        size_t pos = b->zin.pos, rc = ZSTD_decompressStream(b->zs, &out, &b->zin);
        if (ZSTD_isError(rc)) {
            gz_fail(b, "corrupt zstd file", ZSTD_getErrorName(rc));
            errno = EIO;
            return -1;
        }
        /* 0: a frame ended; called again with nothing, zstd hints at the
         * next frame's header, which says nothing about this one */
        if (rc == 0)
            b->zend = 1;
        else if (b->zin.pos != pos || out.pos)
            b->zend = 0;
        if (out.pos == 0 && b->eof && b->zin.pos == b->zin.size) {
            if (!b->zend) /* the file ended inside a frame */
                gz_fail(b, "truncated zstd file", "unexpected end of file");
            return 0;
        }
    }
    return (ssize_t)out.pos;
}

static ssize_t bytes_read(void *cookie, char *buf, size_t size)
{
    st_bytes *b = cookie;
    if (size > UINT32_MAX / 2)
        size = UINT32_MAX / 2;
    ssize_t n = b->gzip ? gz_read(b, buf, size)
                : b->zs ? zs_read(b, buf, size)
                        : plain_read(b, buf, size);
    if (n > 0)
        b->total += (uint64_t)n;
    return n;
}

static int bytes_close(void *cookie)
{
    st_bytes *b = cookie;
    if (b->gzip) /* safe even when inflateInit2 failed: the stream is zeroed */
        inflateEnd(&b->z);
    ZSTD_freeDStream(b->zs); /* NULL is fine */
    int rc = close(b->fd);
    free(b);
    return rc;
}

/* zstd: the magic stays in the input buffer for the decoder. */
static int zs_open(st_bytes *b)
{
    if (!(b->zs = ZSTD_createDStream()) ||
        ZSTD_isError(ZSTD_DCtx_setParameter(b->zs, ZSTD_d_windowLogMax, ST_ZSTD_WINDOW_LOG))) {
        errno = ENOMEM;
        return -1;
    }
    b->zin = (ZSTD_inBuffer){b->in, b->npeek, 0};
    b->npeek = 0;
    return 0;
}

/* The first bytes say gzip (1f 8b), zstd (28 b5 2f fd) or neither; they
 * stay in the input buffer. */
static int look(st_bytes *b)
{
    while (b->npeek < 4) {
        ssize_t k = fd_read(b, b->in + b->npeek, 4 - b->npeek);
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        b->npeek += (size_t)k;
    }
    static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    if (b->npeek == 4 && memcmp(b->in, zstd_magic, 4) == 0)
        return zs_open(b);
    b->gzip = b->npeek >= 2 && b->in[0] == 0x1f && b->in[1] == 0x8b;
    if (!b->gzip)
        return 0;
    if (inflateInit2(&b->z, 15 + 16) != Z_OK) { /* 16: a gzip header, not zlib's */
        errno = ENOMEM;
        return -1;
    }
    b->z.next_in = b->in;
    b->z.avail_in = (uInt)b->npeek;
    b->member = 1;
    return 0;
}

FILE *st_bytes_fdopen(int fd, const char *name, const volatile sig_atomic_t *stop,
                      st_bytes **handle, char *err, size_t errlen)
{
    static const cookie_io_functions_t io = {.read = bytes_read, .close = bytes_close};
    st_bytes *b = fd >= 0 ? calloc(1, sizeof *b) : NULL;
    FILE *fp = NULL;
    if (!b) {
        snprintf(err, errlen, "%s: %s", name, fd < 0 ? strerror(errno) : "out of memory");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct stat st;
    b->fd = fd;
    b->stop = stop;
    b->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (look(b) != 0 || !(fp = fopencookie(b, "r", io))) {
        snprintf(err, errlen, "%s: %s", name, strerror(errno));
        bytes_close(b);
        return NULL;
    }
    /* large reads: fewer calls into inflate (a short read still returns
     * at once: stdio hands on what the cookie gave) */
    setvbuf(fp, NULL, _IOFBF, ST_BYTES_IN);
    *handle = b;
    return fp;
}

FILE *st_bytes_open(const char *path, const volatile sig_atomic_t *stop, st_bytes **handle,
                    char *err, size_t errlen)
{
    int fd =
        strcmp(path, "-") == 0 ? fcntl(0, F_DUPFD_CLOEXEC, 0) : open(path, O_RDONLY | O_CLOEXEC);
    return st_bytes_fdopen(fd, path, stop, handle, err, errlen);
}

const char *st_bytes_codec(const st_bytes *b)
{
    return b->gzip ? "gzip" : b->zs ? "zstd" : NULL;
}

uint64_t st_bytes_total(const st_bytes *b)
{
    return b->total;
}

void st_bytes_on_wait(st_bytes *b, void (*fn)(void *), void *arg)
{
    b->wait_fn = fn;
    b->wait_arg = arg;
}

uint64_t st_bytes_raw(const st_bytes *b)
{
    return b->raw;
}

const char *st_bytes_error(const st_bytes *b, const char **detail)
{
    *detail = b->detail;
    return b->what;
}
