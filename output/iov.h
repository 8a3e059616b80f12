/*
 * iov.h - every byte of an iovec through write(2)s that may each take
 * only part of it (a pipe, a full disk, a signal), for the sinks.
 *
 * st_iov_advance moves past the bytes one writev/pwritev took;
 * st_writev_all loops writev until all is written or it fails (EINTR is
 * retried; a write of 0 bytes is EIO), counting what was written either
 * way, so that a caller can cut a torn line off again.
 */
#ifndef ST_OUTPUT_IOV_H
#define ST_OUTPUT_IOV_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Past the w bytes taken: *iov and *cnt name what is left. */
void st_iov_advance(struct iovec **iov, int *cnt, size_t w);

/* 0 when every byte went; -1 with errno. *done counts the bytes written.
 * at >= 0: written there (pwritev, the file offset unmoved); -1: writev. */
int st_writev_all(int fd, struct iovec *iov, int cnt, off_t at, size_t *done);

#endif
