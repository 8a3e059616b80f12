/*
 * iov.c - writing an iovec whole (iov.h): one loop for the sinks, so that
 * the arithmetic of a short write is written once.
 */
#include "output/iov.h"

#include <errno.h>
#include <unistd.h>

void st_iov_advance(struct iovec **iov, int *cnt, size_t w)
{
    while (*cnt > 0 && w >= (*iov)->iov_len) {
        w -= (*iov)->iov_len;
        (*iov)++;
        (*cnt)--;
    }
    if (*cnt > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + w;
        (*iov)->iov_len -= w;
    }
}

int st_writev_all(int fd, struct iovec *iov, int cnt, off_t at, size_t *done)
{
    off_t wrote = 0; /* by this call: where the next pwritev goes */
    while (cnt > 0) {
        ssize_t w = at < 0 ? writev(fd, iov, cnt) : pwritev(fd, iov, cnt, at + wrote);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        *done += (size_t)w;
        wrote += w;
        st_iov_advance(&iov, &cnt, (size_t)w);
    }
    return 0;
}
