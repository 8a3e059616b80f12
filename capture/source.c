/*
 * source.c - where packets come from: capture files and live interfaces.
 *
 * Files: pcap or pcapng, plain, gzip or zstd, read through capture/bytes.c
 * (a FILE from fopencookie() that decompresses as it comes), so libpcap
 * never knows, and the file is opened and read once: a FIFO or standard
 * input ("-") works. Timestamps
 * are always microseconds. Live: pcap_create() with the caller's snap
 * length and a 64 MiB buffer, read without blocking plus our own poll(),
 * because a blocking TPACKET_V3 read ignores the timeout when the wire
 * is idle. The link type is checked against what l2 decodes when the
 * source is opened.
 *
 * Failure modes: every error is text that names the file or interface:
 * open errors go to the caller's buffer, read errors to st_source_error()
 * with the number of the packet that could not be read.
 * A gzip or zstd stream that is corrupt or ends early is an error even when it
 * ends on a packet boundary. pcap_activate() warnings do not fail the
 * open: their text is left in err (empty otherwise) and st_source_error().
 */
#include "capture/source.h"

#include "capture/bytes.h"
#include "capture/l2.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_packet.h>
#include <sys/socket.h>

#include <pcap/pcap.h>

#define LIVE_BUFFER (64 << 20)

struct st_source {
    pcap_t *pcap;
    char *name;
    int live;
    int fd;         /* live: pcap_get_selectable_fd() */
    int timeout_ms; /* live: how long st_source_next() waits */
    int linktype;
    int filtered;
    volatile sig_atomic_t stop;
    uint64_t packets; /* delivered so far, to say where a file broke */
    st_bytes *bytes;  /* a file's bytes (capture/bytes.c); valid until pcap_close() */
    /* pcap_stats() counters are 32 bits and wrap: keep 64-bit sums */
    uint64_t recv, drop;
    unsigned last_recv, last_drop;
    char err[PCAP_ERRBUF_SIZE + 512];
};

static st_source *source_new(const char *name, char *err, size_t errlen)
{
    st_source *s = calloc(1, sizeof(*s));

    if (s != NULL && (s->name = strdup(name)) != NULL)
        return s;
    free(s);
    snprintf(err, errlen, "%s: out of memory", name);
    return NULL;
}

static void source_free(st_source *s)
{
    if (s->pcap != NULL)
        pcap_close(s->pcap);
    free(s->name);
    free(s);
}

/* fd < 0: open s->name. */
static int open_pcap_file(st_source *s, int fd, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    const char *detail, *what;
    FILE *fp = fd < 0 ? st_bytes_open(s->name, &s->stop, &s->bytes, err, errlen)
                      : st_bytes_fdopen(fd, s->name, &s->stop, &s->bytes, err, errlen);

    if (fp == NULL)
        return -1;
    s->pcap = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (s->pcap != NULL)
        return 0;
    /* zlib or zstd knows better than libpcap why the header could not be read */
    const char *codec = st_bytes_codec(s->bytes);
    if ((what = st_bytes_error(s->bytes, &detail)) != NULL)
        snprintf(err, errlen, "%s: %s: %s", s->name, what, detail);
    else if (st_bytes_total(s->bytes) == 0)
        snprintf(err, errlen, "%s: empty file%s%s%s", s->name, codec ? " (after " : "",
                 codec ? codec : "", codec ? " decompression)" : "");
    else
        snprintf(err, errlen, "%s: %s%s%s%s", s->name, ebuf, codec ? " (inside " : "",
                 codec ? codec : "", codec ? ")" : "");
    s->bytes = NULL;
    fclose(fp); /* libpcap leaves fp open when it fails */
    return -1;
}

static int check_linktype(st_source *s, char *err, size_t errlen)
{
    const char *lname;

    s->linktype = pcap_datalink(s->pcap);
    if (st_l2_linktype_supported(s->linktype))
        return 0;
    lname = pcap_datalink_val_to_name(s->linktype);
    if (lname != NULL)
        snprintf(err, errlen, "%s: unsupported link type %s (%d)", s->name, lname, s->linktype);
    else
        snprintf(err, errlen, "%s: unsupported link type %d", s->name, s->linktype);
    return -1;
}

static st_source *open_offline(const char *name, int fd, char *err, size_t errlen)
{
    st_source *s = source_new(name, err, errlen);

    if (s == NULL) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (open_pcap_file(s, fd, err, errlen) < 0 || check_linktype(s, err, errlen) < 0) {
        source_free(s);
        return NULL;
    }
    if (errlen > 0)
        err[0] = '\0';
    return s;
}

st_source *st_source_open_file(const char *path, char *err, size_t errlen)
{
    return open_offline(path, -1, err, errlen);
}

st_source *st_source_open_fd(int fd, const char *name, char *err, size_t errlen)
{
    return open_offline(name, fd, err, errlen);
}

int st_source_fanout(st_source *s, int id, char *err, size_t errlen)
{
    int v = (int)((unsigned)(id & 0xffff) |
                  (unsigned)(PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16);
    if (s->live && setsockopt(pcap_fileno(s->pcap), SOL_PACKET, PACKET_FANOUT, &v, sizeof v) == 0)
        return 0;
    snprintf(err, errlen, "%s: fanout group %d: %s", s->name, id,
             s->live ? strerror(errno) : "not a live capture");
    return -1;
}

/* Negative pcap_activate() results are errors; positive ones warnings. */
static void activate_text(st_source *s, int rc, char *out, size_t outlen)
{
    const char *status = pcap_statustostr(rc);
    const char *detail = pcap_geterr(s->pcap);
    const char *kind = rc > 0 ? "warning: " : "";

    if (detail == NULL || detail[0] == '\0' || strcmp(detail, status) == 0)
        snprintf(out, outlen, "%s: %s%s", s->name, kind, status);
    else if (rc == PCAP_ERROR || rc == PCAP_WARNING) /* the status adds nothing */
        snprintf(out, outlen, "%s: %s%s", s->name, kind, detail);
    else
        snprintf(out, outlen, "%s: %s%s (%s)", s->name, kind, status, detail);
}

st_source *st_source_open_live(const char *ifname, int snaplen, int promisc, int timeout_ms,
                               char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    st_source *s = source_new(ifname, err, errlen);
    int rc;

    if (s == NULL)
        return NULL;
    s->live = 1;
    if ((s->pcap = pcap_create(ifname, ebuf)) == NULL) {
        snprintf(err, errlen, "%s: %s", ifname, ebuf);
        source_free(s);
        return NULL;
    }
    pcap_set_snaplen(s->pcap, snaplen);
    pcap_set_promisc(s->pcap, promisc);
    pcap_set_timeout(s->pcap, timeout_ms);
    pcap_set_buffer_size(s->pcap, LIVE_BUFFER);
    pcap_set_tstamp_precision(s->pcap, PCAP_TSTAMP_PRECISION_MICRO);
    rc = pcap_activate(s->pcap);
    if (rc < 0) {
        activate_text(s, rc, err, errlen);
        source_free(s);
        return NULL;
    }
    if (check_linktype(s, err, errlen) < 0) {
        source_free(s);
        return NULL;
    }
    /*
     * With TPACKET_V3 a blocking read waits forever when nothing arrives
     * (the kernel retires no empty blocks), so we poll with our own timeout.
     */
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : -1;
    if ((s->fd = pcap_get_selectable_fd(s->pcap)) < 0 || pcap_setnonblock(s->pcap, 1, ebuf) < 0) {
        snprintf(err, errlen, "%s: cannot read without blocking: %s", ifname,
                 ebuf[0] != '\0' ? ebuf : "no selectable descriptor");
        source_free(s);
        return NULL;
    }
    if (rc > 0) {
        activate_text(s, rc, s->err, sizeof(s->err));
        snprintf(err, errlen, "%s", s->err);
    } else if (errlen > 0) {
        err[0] = '\0';
    }
    return s;
}

int st_source_set_filter(st_source *s, const char *bpf, char *err, size_t errlen)
{
    struct bpf_program prog;
    int rc;

    if (pcap_compile(s->pcap, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        snprintf(err, errlen, "%s: bad filter \"%s\": %s", s->name, bpf, pcap_geterr(s->pcap));
        return -1;
    }
    rc = pcap_setfilter(s->pcap, &prog);
    pcap_freecode(&prog);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot set filter: %s", s->name, pcap_geterr(s->pcap));
        return -1;
    }
    s->filtered = 1;
    return 0;
}

int st_source_linktype(const st_source *s)
{
    return s->linktype;
}

const char *st_source_name(const st_source *s)
{
    return s->name;
}

const char *st_source_error(const st_source *s)
{
    return s->err;
}

static void read_error(st_source *s)
{
    const char *detail = pcap_geterr(s->pcap);
    char where[96];

    if (s->live) {
        snprintf(s->err, sizeof(s->err), "%s: %s", s->name, detail);
        return;
    }
    if (s->filtered)
        snprintf(where, sizeof(where), "after %" PRIu64 " packets passed the filter", s->packets);
    else
        snprintf(where, sizeof(where), "packet %" PRIu64, s->packets + 1);
    const char *zdetail, *what = s->bytes ? st_bytes_error(s->bytes, &zdetail) : NULL;
    if (what != NULL)
        snprintf(s->err, sizeof(s->err), "%s: %s (%s): %s", s->name, what, where, zdetail);
    else if (strstr(detail, "truncated") != NULL)
        snprintf(s->err, sizeof(s->err), "%s: truncated capture file (%s): %s", s->name, where,
                 detail);
    else
        snprintf(s->err, sizeof(s->err), "%s: read error (%s): %s", s->name, where, detail);
}

st_source_result st_source_next(st_source *s, st_packet *pkt)
{
    struct pcap_pkthdr *hdr;
    const u_char *data;
    int rc;

    if (s->stop)
        return ST_SRC_EOF;
    rc = pcap_next_ex(s->pcap, &hdr, &data);
    if (rc == 0 && s->live) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};

        /* EINTR is a short timeout, or the signal that called breakloop */
        if (poll(&pfd, 1, s->timeout_ms) < 0 && errno != EINTR) {
            snprintf(s->err, sizeof(s->err), "%s: poll: %s", s->name, strerror(errno));
            return ST_SRC_ERROR;
        }
        if (s->stop)
            return ST_SRC_EOF;
        rc = pcap_next_ex(s->pcap, &hdr, &data);
    }
    if (rc == 1) {
        s->packets++;
        pkt->ts = hdr->ts;
        pkt->data = data;
        pkt->caplen = hdr->caplen;
        pkt->len = hdr->len;
        return ST_SRC_PACKET;
    }
    if (rc == 0)
        return ST_SRC_TIMEOUT;
    if (rc == PCAP_ERROR_BREAK) {
        /* a compressed stream cut on a packet boundary looks like a clean end to libpcap */
        const char *detail;
        if (!s->stop && s->bytes != NULL && st_bytes_error(s->bytes, &detail) != NULL) {
            read_error(s);
            return ST_SRC_ERROR;
        }
        s->stop = 1;
        return ST_SRC_EOF;
    }
    if (s->stop) /* asked to stop inside a read: the packet cut there is not an error */
        return ST_SRC_EOF;
    read_error(s);
    return ST_SRC_ERROR;
}

void st_source_on_wait(st_source *s, void (*fn)(void *), void *arg)
{
    if (s->bytes)
        st_bytes_on_wait(s->bytes, fn, arg);
}

uint64_t st_source_file_bytes(const st_source *s)
{
    return s->bytes ? st_bytes_raw(s->bytes) : 0;
}

void st_source_breakloop(st_source *s)
{
    s->stop = 1;
    pcap_breakloop(s->pcap);
}

void st_source_stats(st_source *s, uint64_t *received, uint64_t *dropped)
{
    struct pcap_stat ps;

    if (s->live && pcap_stats(s->pcap, &ps) == 0) {
        s->recv += (unsigned)(ps.ps_recv - s->last_recv);
        s->drop += (unsigned)(ps.ps_drop - s->last_drop);
        s->last_recv = ps.ps_recv;
        s->last_drop = ps.ps_drop;
    }
    *received = s->recv;
    *dropped = s->drop;
}

void st_source_close(st_source *s)
{
    if (s != NULL)
        source_free(s);
}
