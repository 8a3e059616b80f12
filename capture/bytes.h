/*
 * bytes.h - the bytes of a capture file as a FILE, decompressed when
 * they are gzip or zstd.
 *
 * One open and one pass over the file: a FIFO or standard input ("-")
 * works, and a read returns what has arrived (a packet written into a
 * pipe is read at once, not when a buffer is full). The magic bytes 1f 8b
 * choose gzip (members one after another are one stream, as gzip(1)
 * reads them), 28 b5 2f fd zstd (frames one after another likewise);
 * anything else passes as it is. libpcap reads the FILE and
 * never knows.
 *
 * Entry points: st_bytes_open, st_bytes_fdopen (the FILE, and a handle
 * valid until the FILE is closed), st_bytes_codec, st_bytes_total,
 * st_bytes_error.
 *
 * How it fails: st_bytes_open gives NULL with a message. A corrupt or
 * truncated gzip or zstd stream (or a zstd frame whose window is larger
 * than 128 MiB) ends the bytes (a read error for corruption, an
 * end for truncation) and st_bytes_error says which, even when it ends
 * on a packet boundary. A signal during a read is retried, unless *stop
 * is set: then the bytes end there.
 */
#ifndef ST_CAPTURE_BYTES_H
#define ST_CAPTURE_BYTES_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

typedef struct st_bytes st_bytes;

FILE *st_bytes_open(const char *path, const volatile sig_atomic_t *stop, st_bytes **handle,
                    char *err, size_t errlen);
/* The same over a descriptor the caller opened (a pipe); it is closed
 * with the FILE, or at once when NULL is returned. name is for messages. */
FILE *st_bytes_fdopen(int fd, const char *name, const volatile sig_atomic_t *stop,
                      st_bytes **handle, char *err, size_t errlen);

/* "gzip" or "zstd" when the file is compressed so, else NULL. */
const char *st_bytes_codec(const st_bytes *b);

/* fn(arg) is called before a read that would wait for a writer (a pipe
 * or FIFO with nothing in it now; never for a regular file). */
void st_bytes_on_wait(st_bytes *b, void (*fn)(void *), void *arg);

/* Bytes handed out so far (after decompression), and read from the file. */
uint64_t st_bytes_total(const st_bytes *b);
uint64_t st_bytes_raw(const st_bytes *b);

/* NULL while the compressed stream is sound; else what is wrong with it
 * ("truncated gzip file", "corrupt gzip file", "truncated zstd file",
 * "corrupt zstd file", "read error"), and in *detail zlib's, zstd's or
 * the system's words. */
const char *st_bytes_error(const st_bytes *b, const char **detail);

#endif
