/*
 * source.h - where packets come from: capture files and live interfaces.
 *
 * Entry points: st_source_open_file, st_source_open_live,
 * st_source_set_filter, st_source_next (one packet, a timeout or the end),
 * st_source_linktype, st_source_name, st_source_error,
 * st_source_breakloop (from a signal handler), st_source_stats,
 * st_source_close.
 *
 * Files may be pcap or pcapng, plain, gzip- or zstd-compressed (detected by
 * magic bytes, not by name). Live capture uses libpcap with the caller's
 * snap length and a 64 MiB buffer, so that GRO/TSO super-packets are not
 * cut. Only link types that capture/l2 decodes are accepted, at open.
 *
 * How it fails: errors are text naming the file or interface, never
 * printed or fatal. Open errors go to the caller's err; a read error or
 * a corrupt or cut file makes st_source_next return ST_SRC_ERROR, with
 * the text in st_source_error. Packets before it were delivered.
 *
 * Not handled: time stamps finer than microseconds (libpcap scales them
 * down), several interfaces in one source.
 */
#ifndef ST_CAPTURE_SOURCE_H
#define ST_CAPTURE_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

typedef struct st_source st_source;

typedef struct st_packet {
    struct timeval ts;
    const uint8_t *data; /* valid until the next st_source_next() */
    uint32_t caplen;
    uint32_t len; /* length on the wire */
} st_packet;

typedef enum {
    ST_SRC_PACKET = 1,  /* *pkt is filled */
    ST_SRC_TIMEOUT = 2, /* live only: no packet within the read timeout */
    ST_SRC_EOF = 0,     /* end of file, or st_source_breakloop() was called */
    ST_SRC_ERROR = -1,  /* read error or corrupt file: see st_source_error() */
} st_source_result;

/* NULL on error with a message in err. */
st_source *st_source_open_file(const char *path, char *err, size_t errlen);
st_source *st_source_open_live(const char *ifname, int snaplen, int promisc, int timeout_ms,
                               char *err, size_t errlen);

/* A pcap stream on a descriptor the caller opened (a pipe from the
 * process that splits a capture between workers); name is for messages. */
st_source *st_source_open_fd(int fd, const char *name, char *err, size_t errlen);

/* Join the live source to the kernel's fanout group id (AF_PACKET
 * PACKET_FANOUT_HASH with defragmentation, as Suricata's cluster_flow):
 * the packets of one flow, both directions, go to one member. 0, or -1
 * with a message. */
int st_source_fanout(st_source *s, int id, char *err, size_t errlen);

/* Compile and install a BPF filter; 0 on success, -1 with a message in err. */
int st_source_set_filter(st_source *s, const char *bpf, char *err, size_t errlen);

int st_source_linktype(const st_source *s);
const char *st_source_name(const st_source *s);
st_source_result st_source_next(st_source *s, st_packet *pkt);
const char *st_source_error(const st_source *s);

/* Safe from a signal handler: the next st_source_next() returns ST_SRC_EOF. */
void st_source_breakloop(st_source *s);

/* A file source calls fn(arg) when its next read would wait for a writer
 * (a pipe, standard input): what waits for more packets can be written. */
void st_source_on_wait(st_source *s, void (*fn)(void *), void *arg);

/* Bytes of a file read so far, as on disk (compressed); 0 for live. */
uint64_t st_source_file_bytes(const st_source *s);

/* Kernel counters for live sources; zeros for files. */
void st_source_stats(st_source *s, uint64_t *received, uint64_t *dropped);

void st_source_close(st_source *s);

#endif
