/*
 * msgfile.c - open one message file as hostile input and stream its bytes.
 *
 * Entry points: st_msgfile_open (openat with O_NOFOLLOW, O_NONBLOCK so
 * a FIFO cannot hang us, O_NOCTTY, and O_NOATIME where the kernel lets
 * us; then fstat, regular files only), st_msgfile_pump (read(2) in
 * ST_MSGFILE_CHUNK pieces until end of file, each piece to the callback).
 *
 * Limits: one chunk buffer (64 KiB) while pumping; the file is never held
 * whole, and bytes appended while it is read are read too.
 *
 * How it fails: open gives -1 and a message naming the file ("a symbolic
 * link, not followed", "not a regular file, skipped", or strerror), or
 * ST_MSGFILE_GONE when it vanished and gone_ok allows that. pump returns
 * the errno of the read that failed (ENOMEM when there is no buffer) and
 * *missing, the bytes of the size fstat saw that were never read; what
 * was read before the error has reached the callback.
 *
 * Not handled: symbolic links in the directories above the file
 * (O_NOFOLLOW covers the last component only), locking against writers,
 * and files that shrink while read (they just end early, with no error).
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
