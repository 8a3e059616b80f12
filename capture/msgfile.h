/*
 * msgfile.h - one message file (.eml, a Maildir entry) as a source of
 * bytes, read as hostile input: a symbolic link is not followed (it could
 * point anywhere the reader may read), anything but a regular file is
 * refused, and a FIFO cannot block the open. The file and its directory
 * are only ever read, and its access time is left alone where we may
 * (O_NOATIME: its owner or root).
 *
 * The file is streamed in ST_MSGFILE_CHUNK pieces to a callback, never
 * held whole, and read to its end rather than to its size (it may grow).
 *
 * How it fails: st_msgfile_open gives -1 and a message naming the file
 * (ST_MSGFILE_GONE when it vanished and that is allowed); st_msgfile_pump
 * returns the errno of a read that failed part-way (0 when none) and says
 * how many bytes of the file's size were never read.
 */
#ifndef ST_CAPTURE_MSGFILE_H
#define ST_CAPTURE_MSGFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define ST_MSGFILE_CHUNK 65536
#define ST_MSGFILE_GONE  (-2)

/* dirfd and name as for openat(2); shown names the file in err. */
int st_msgfile_open(int dirfd, const char *name, const char *shown, int gone_ok, struct stat *st,
                    char *err, size_t errlen);

int st_msgfile_pump(int fd, const struct stat *st,
                    void (*data)(void *ctx, const uint8_t *d, size_t n), void *ctx,
                    uint64_t *missing);

#endif
