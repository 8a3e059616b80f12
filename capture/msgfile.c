/*
 * msgfile.c - open a message file safely and stream its bytes (see
 * msgfile.h).
 */
#include "capture/msgfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int st_msgfile_open(int dirfd, const char *name, const char *shown, int gone_ok, struct stat *st,
                    char *err, size_t errlen)
{
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    /* No access time either, where we may: mail readers look at it. */
    int fd = openat(dirfd, name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, flags);
    if (fd < 0 && errno == ENOENT && gone_ok)
        return ST_MSGFILE_GONE;
    if (fd < 0 && errno == ELOOP) {
        snprintf(err, errlen, "%s: a symbolic link, not followed", shown);
        return -1;
    }
    if (fd < 0 || fstat(fd, st) != 0) {
        snprintf(err, errlen, "%s: %s", shown, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "%s: not a regular file, skipped", shown);
        close(fd);
        return -1;
    }
    return fd;
}

int st_msgfile_pump(int fd, const struct stat *st,
                    void (*data)(void *ctx, const uint8_t *d, size_t n), void *ctx,
                    uint64_t *missing)
{
    uint8_t *buf = malloc(ST_MSGFILE_CHUNK);
    uint64_t done = 0;
    int read_errno = buf ? 0 : ENOMEM;
    for (ssize_t n = 1; buf && n > 0;) {
        n = read(fd, buf, ST_MSGFILE_CHUNK);
        if (n < 0 && errno == EINTR) {
            n = 1;
            continue;
        }
        if (n < 0)
            read_errno = errno;
        if (n <= 0)
            break;
        data(ctx, buf, (size_t)n);
        done += (uint64_t)n;
    }
    *missing = read_errno && (uint64_t)st->st_size > done ? (uint64_t)st->st_size - done : 0;
    free(buf);
    return read_errno;
}
