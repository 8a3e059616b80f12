/*
 * test_source.c - capture files in and out: pcap, pcapng, gzip, broken.
 *
 * Files are written into a fresh mkdtemp() directory with libpcap's own
 * writer (pcap_dump), zlib (gzip copies) or by hand (pcapng blocks, cut
 * and garbage files), then read back through st_source and compared byte
 * for byte, timestamp for timestamp.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>
#include <zlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "capture/l2.h"
#include "capture/source.h"

static char dir[64];
static char made[64][128]; /* files to remove */
static int n_made;

static const char *path_of(const char *name)
{
    assert_true(n_made < 64);
    snprintf(made[n_made], sizeof(made[0]), "%s/%s", dir, name);
    return made[n_made++];
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/st_source_XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < n_made; i++)
        unlink(made[i]);
    return rmdir(dir);
}

/* Test packets: Ethernet + IPv4 + TCP with a given destination port. */
typedef struct {
    uint8_t b[200];
    uint32_t caplen, len;
    struct timeval ts;
} tpkt;

static void eth_tcp(tpkt *p, int i, unsigned dport, size_t payload)
{
    static const uint8_t hdr[54] = {
        0,    1,    2, 3, 4, 5, 0,    6, 7,  8, 9, 10, 0x08, 0x00, /* Ethernet */
        0x45, 0,    0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0,  10,   0,    0,    1, 10, 0, 0, 2, /* IPv4 */
        0xc0, 0x00, 0, 0, 0, 0, 0,    1, 0,  0, 0, 0,  0x50, 0x18, 0x20, 0, 0,  0, 0, 0, /* TCP */
    };
    size_t iplen = 40 + payload;

    memset(p, 0, sizeof(*p));
    memcpy(p->b, hdr, sizeof(hdr));
    p->b[16] = (uint8_t)(iplen >> 8);
    p->b[17] = (uint8_t)iplen;
    p->b[36] = (uint8_t)(dport >> 8);
    p->b[37] = (uint8_t)dport;
    for (size_t k = 0; k < payload; k++)
        p->b[54 + k] = (uint8_t)(i * 31 + k);
    p->len = p->caplen = (uint32_t)(54 + payload);
    p->ts.tv_sec = 1700000000 + i;
    p->ts.tv_usec = 123456 + i * 1111;
}

#define NPKT 5
static tpkt pkts[NPKT];

static void make_pkts(void)
{
    for (int i = 0; i < NPKT; i++)
        eth_tcp(&pkts[i], i, i % 2 ? 80 : 25, (size_t)(10 + i * 20));
    /* one packet cut by the snap length */
    pkts[2].caplen = 60;
}

static void write_pcap(const char *path, int dlt, const tpkt *p, int n)
{
    pcap_t *dead = pcap_open_dead(dlt, 65535);
    pcap_dumper_t *d;

    assert_non_null(dead);
    d = pcap_dump_open(dead, path);
    assert_non_null(d);
    for (int i = 0; i < n; i++) {
        struct pcap_pkthdr h = {p[i].ts, p[i].caplen, p[i].len};
        pcap_dump((u_char *)d, &h, p[i].b);
    }
    pcap_dump_close(d);
    pcap_close(dead);
}

static void gzip_copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    gzFile out = gzopen(to, "wb");
    char buf[4096];
    size_t n;

    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(gzwrite(out, buf, (unsigned)n), (int)n);
    fclose(in);
    assert_int_equal(gzclose(out), Z_OK);
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static st_source *open_ok(const char *path)
{
    char err[512] = "unset";
    st_source *s = st_source_open_file(path, err, sizeof(err));

    if (s == NULL)
        fail_msg("%s: %s", path, err);
    assert_string_equal(err, "");
    return s;
}

static void open_fails(const char *path, const char *expect)
{
    char err[512] = "";
    st_source *s = st_source_open_file(path, err, sizeof(err));

    assert_null(s);
    if (strstr(err, path) == NULL || strstr(err, expect) == NULL)
        fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", err, path, expect);
}

static void expect_pkt(st_source *s, const tpkt *want)
{
    st_packet got;

    assert_int_equal(st_source_next(s, &got), ST_SRC_PACKET);
    assert_int_equal(got.ts.tv_sec, want->ts.tv_sec);
    assert_int_equal(got.ts.tv_usec, want->ts.tv_usec);
    assert_int_equal(got.caplen, want->caplen);
    assert_int_equal(got.len, want->len);
    assert_memory_equal(got.data, want->b, want->caplen);
}

static void expect_all(st_source *s, const tpkt *p, int n)
{
    st_packet got;

    for (int i = 0; i < n; i++)
        expect_pkt(s, &p[i]);
    assert_int_equal(st_source_next(s, &got), ST_SRC_EOF);
    assert_int_equal(st_source_next(s, &got), ST_SRC_EOF);
}

static void test_pcap(void **state)
{
    const char *path = path_of("plain.pcap");
    st_source *s;
    uint64_t rx = 99, drop = 99;

    (void)state;
    make_pkts();
    write_pcap(path, DLT_EN10MB, pkts, NPKT);
    s = open_ok(path);
    assert_int_equal(st_source_linktype(s), DLT_EN10MB);
    assert_string_equal(st_source_name(s), path);
    expect_all(s, pkts, NPKT);
    st_source_stats(s, &rx, &drop);
    assert_int_equal(rx, 0);
    assert_int_equal(drop, 0);
    assert_string_equal(st_source_error(s), "");
    st_source_close(s);
    st_source_close(NULL);
}

static void test_gzip(void **state)
{
    const char *plain = path_of("g.pcap");
    const char *gz = path_of("g.pcap.gz");
    const char *noext = path_of("compressed-without-suffix");
    FILE *f;
    unsigned char magic[2];
    st_source *s;

    (void)state;
    make_pkts();
    write_pcap(plain, DLT_EN10MB, pkts, NPKT);
    gzip_copy(plain, gz);
    f = fopen(gz, "rb");
    assert_non_null(f);
    assert_int_equal(fread(magic, 1, 2, f), 2);
    fclose(f);
    assert_int_equal(magic[0], 0x1f);
    assert_int_equal(magic[1], 0x8b);

    s = open_ok(gz);
    assert_int_equal(st_source_linktype(s), DLT_EN10MB);
    expect_all(s, pkts, NPKT);
    st_source_close(s);

    /* detection is by content, not by name */
    gzip_copy(plain, noext);
    s = open_ok(noext);
    expect_all(s, pkts, NPKT);
    st_source_close(s);
}

static void test_linktypes(void **state)
{
    static const struct {
        int write_dlt, read_dlt, ip_off;
        const char *name;
    } lt[] = {
        {DLT_LINUX_SLL2, DLT_LINUX_SLL2, 20, "sll2.pcap"},
        {DLT_LINUX_SLL, DLT_LINUX_SLL, 16, "sll.pcap"},
        {DLT_RAW, DLT_RAW, 0, "raw.pcap"}, /* stored as LINKTYPE_RAW 101 */
        {DLT_NULL, DLT_NULL, 4, "null.pcap"},
        {DLT_LOOP, DLT_LOOP, 4, "loop.pcap"},
        {DLT_IPV4, DLT_IPV4, 0, "ipv4.pcap"},
        {DLT_PPP, DLT_PPP, 4, "ppp.pcap"},
    };
    (void)state;
    make_pkts();
    for (size_t i = 0; i < sizeof(lt) / sizeof(lt[0]); i++) {
        const char *path = path_of(lt[i].name);
        tpkt p = pkts[0];
        uint8_t ipv4[200];
        size_t iplen = p.caplen - 14;
        st_source *s;
        st_packet got;
        st_l3 l3;

        /* same IPv4 packet behind each link header */
        memcpy(ipv4, p.b + 14, iplen);
        memset(p.b, 0, (size_t)lt[i].ip_off);
        if (lt[i].write_dlt == DLT_LINUX_SLL2)
            p.b[0] = 0x08;
        else if (lt[i].write_dlt == DLT_LINUX_SLL)
            p.b[14] = 0x08;
        else if (lt[i].write_dlt == DLT_NULL)
            p.b[0] = 2; /* host order, little-endian machine */
        else if (lt[i].write_dlt == DLT_LOOP)
            p.b[3] = 2;
        else if (lt[i].write_dlt == DLT_PPP)
            memcpy(p.b, "\xff\x03\x00\x21", 4);
        memcpy(p.b + lt[i].ip_off, ipv4, iplen);
        p.caplen = p.len = (uint32_t)(lt[i].ip_off + iplen);
        write_pcap(path, lt[i].write_dlt, &p, 1);

        s = open_ok(path);
        assert_int_equal(st_source_linktype(s), lt[i].read_dlt);
        assert_int_equal(st_source_next(s, &got), ST_SRC_PACKET);
        assert_int_equal(st_l2_decode(st_source_linktype(s), got.data, got.caplen, &l3), ST_L2_OK);
        assert_ptr_equal(l3.ip, got.data + lt[i].ip_off);
        assert_int_equal(l3.version, 4);
        assert_memory_equal(l3.ip, ipv4, iplen);
        assert_int_equal(st_source_next(s, &got), ST_SRC_EOF);
        st_source_close(s);
    }
}

/* Little-endian pcapng writer, just enough for SHB + IDB + EPB. */
typedef struct {
    uint8_t b[2048];
    size_t n;
} buf;

static void le32(buf *o, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        o->b[o->n++] = (uint8_t)(v >> (8 * i));
}

static void le16(buf *o, unsigned v)
{
    o->b[o->n++] = (uint8_t)v;
    o->b[o->n++] = (uint8_t)(v >> 8);
}

static void shb(buf *o)
{
    le32(o, 0x0a0d0d0a);
    le32(o, 28);
    le32(o, 0x1a2b3c4d);
    le16(o, 1);
    le16(o, 0);
    le32(o, 0xffffffff); /* section length: unknown */
    le32(o, 0xffffffff);
    le32(o, 28);
}

/* tsresol 0 means the default (microseconds), else 10^-tsresol. */
static void idb(buf *o, unsigned linktype, int tsresol)
{
    uint32_t total = tsresol ? 32 : 20;

    le32(o, 1);
    le32(o, total);
    le16(o, linktype);
    le16(o, 0);
    le32(o, 262144);
    if (tsresol) {
        le16(o, 9); /* if_tsresol */
        le16(o, 1);
        o->b[o->n++] = (uint8_t)tsresol;
        o->b[o->n++] = 0;
        o->b[o->n++] = 0;
        o->b[o->n++] = 0;
        le32(o, 0); /* opt_endofopt */
    }
    le32(o, total);
}

static void epb(buf *o, uint64_t ticks, const tpkt *p)
{
    uint32_t pad = (4 - p->caplen % 4) % 4;
    uint32_t total = 32 + p->caplen + pad;

    le32(o, 6);
    le32(o, total);
    le32(o, 0);
    le32(o, (uint32_t)(ticks >> 32));
    le32(o, (uint32_t)ticks);
    le32(o, p->caplen);
    le32(o, p->len);
    memcpy(o->b + o->n, p->b, p->caplen);
    o->n += p->caplen;
    memset(o->b + o->n, 0, pad);
    o->n += pad;
    le32(o, total);
}

static void test_pcapng(void **state)
{
    const char *us = path_of("us.pcapng");
    const char *ns = path_of("ns.pcapng");
    const char *gz = path_of("ns.pcapng.gz");
    buf o;
    st_source *s;

    (void)state;
    make_pkts();
    o.n = 0;
    shb(&o);
    idb(&o, 1, 0);
    for (int i = 0; i < 3; i++)
        epb(&o, (uint64_t)pkts[i].ts.tv_sec * 1000000 + (uint64_t)pkts[i].ts.tv_usec, &pkts[i]);
    write_bytes(us, o.b, o.n);
    s = open_ok(us);
    assert_int_equal(st_source_linktype(s), DLT_EN10MB);
    expect_all(s, pkts, 3);
    st_source_close(s);

    /* nanosecond interface: read back in microseconds (the extra 789 ns are dropped) */
    o.n = 0;
    shb(&o);
    idb(&o, 1, 9);
    for (int i = 0; i < 3; i++)
        epb(&o,
            (uint64_t)pkts[i].ts.tv_sec * 1000000000 + (uint64_t)pkts[i].ts.tv_usec * 1000 + 789,
            &pkts[i]);
    write_bytes(ns, o.b, o.n);
    s = open_ok(ns);
    expect_all(s, pkts, 3);
    st_source_close(s);

    gzip_copy(ns, gz);
    s = open_ok(gz);
    expect_all(s, pkts, 3);
    st_source_close(s);
}

static void test_bad_files(void **state)
{
    const char *empty = path_of("empty.pcap");
    const char *garbage = path_of("capture.pcap");
    const char *one = path_of("one-byte.pcap");
    const char *gzempty = path_of("empty.pcap.gz");
    const char *gzgarbage = path_of("garbage.gz");
    const char *hdr = path_of("short-header.pcap");
    const char *full = path_of("full.pcap");
    const char *text = "From: someone\r\nThis is not a capture file at all.\r\n";
    FILE *f;
    char b[10];

    (void)state;
    write_bytes(empty, "", 0);
    open_fails(empty, "empty file");

    write_bytes(garbage, text, strlen(text));
    open_fails(garbage, "unknown file format");

    gzip_copy(empty, gzempty);
    open_fails(gzempty, "empty file (after gzip decompression)");
    gzip_copy(garbage, gzgarbage);
    open_fails(gzgarbage, "unknown file format");

    write_bytes(one, "\xd4", 1);
    open_fails(one, "truncated");

    make_pkts();
    write_pcap(full, DLT_EN10MB, pkts, NPKT);
    f = fopen(full, "rb");
    assert_non_null(f);
    assert_int_equal(fread(b, 1, sizeof(b), f), sizeof(b));
    fclose(f);
    write_bytes(hdr, b, sizeof(b));
    open_fails(hdr, "truncated");

    open_fails(path_of("does-not-exist.pcap"), strerror(ENOENT));
    open_fails(dir, strerror(EISDIR));
}

/* Cut a pcap after n_whole packets plus extra bytes of the next record. */
static void check_cut(const char *name, int n_whole, long extra, const char *expect)
{
    const char *full = path_of("cut-src.pcap");
    const char *cut = path_of(name);
    long at = 24;
    st_source *s;
    st_packet got;

    make_pkts();
    write_pcap(full, DLT_EN10MB, pkts, NPKT);
    for (int i = 0; i < n_whole; i++)
        at += 16 + (long)pkts[i].caplen;
    assert_int_equal(truncate(full, at + extra), 0);
    assert_int_equal(rename(full, cut), 0);
    s = open_ok(cut);
    for (int i = 0; i < n_whole; i++)
        expect_pkt(s, &pkts[i]);
    assert_int_equal(st_source_next(s, &got), ST_SRC_ERROR);
    if (strstr(st_source_error(s), cut) == NULL || strstr(st_source_error(s), expect) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", st_source_error(s), expect);
    st_source_close(s);
}

static void test_truncated(void **state)
{
    (void)state;
    check_cut("mid-data.pcap", 3, 16 + 5, "truncated capture file (packet 4)");
    check_cut("mid-header.pcap", 1, 7, "truncated capture file (packet 2)");
    check_cut("first.pcap", 0, 20, "(packet 1)");
}

static void test_unknown_linktype(void **state)
{
    const char *wifi = path_of("wifi.pcap");
    const char *user = path_of("user0.pcap");
    const char *gz = path_of("user0.pcap.gz");

    (void)state;
    make_pkts();
    write_pcap(wifi, DLT_IEEE802_11, pkts, 1);
    open_fails(wifi, "unsupported link type IEEE802_11 (105)");
    write_pcap(user, DLT_USER0, pkts, 1);
    open_fails(user, "unsupported link type 147");
    gzip_copy(user, gz);
    open_fails(gz, "unsupported link type 147");
}

static void test_bad_gzip(void **state)
{
    const char *junk = path_of("junk.gz");
    const char *plain = path_of("big.pcap");
    const char *gz = path_of("big.pcap.gz");
    const char *half = path_of("half.pcap.gz");
    const char *flip = path_of("flip.pcap.gz");
    static uint8_t data[1 << 16];
    size_t n;
    FILE *f;
    st_source *s;
    st_packet got;
    st_source_result r;
    int npk = 0;

    (void)state;
    write_bytes(junk, "\x1f\x8b\x08\x00garbage that does not inflate at all", 40);
    open_fails(junk, "gzip");

    /* many packets, so that half the gzip stream holds some of them */
    {
        tpkt many[40];
        for (int i = 0; i < 40; i++)
            eth_tcp(&many[i], i, 25, 100);
        write_pcap(plain, DLT_EN10MB, many, 40);
    }
    gzip_copy(plain, gz);
    f = fopen(gz, "rb");
    assert_non_null(f);
    n = fread(data, 1, sizeof(data), f);
    fclose(f);
    assert_true(n > 100);

    write_bytes(half, data, n / 2);
    s = open_ok(half);
    while ((r = st_source_next(s, &got)) == ST_SRC_PACKET)
        npk++;
    assert_int_equal(r, ST_SRC_ERROR);
    assert_true(npk > 0 && npk < 40);
    if (strstr(st_source_error(s), "truncated gzip file") == NULL ||
        strstr(st_source_error(s), half) == NULL)
        fail_msg("error \"%s\"", st_source_error(s));
    st_source_close(s);

    /*
     * A flipped bit anywhere in the deflate data or trailer: an error (at
     * open or later, with the file name and "gzip"), never a crash and
     * never a clean end of file.
     */
    for (int k = 0; k <= 16; k++) {
        char err[512] = "";
        /* 16 spots in the deflate data, then one inside the length trailer */
        size_t at = k < 16 ? 10 + (size_t)k * (n - 20) / 16 : n - 3;

        data[at] ^= 0x10;
        write_bytes(flip, data, n);
        data[at] ^= 0x10;
        s = st_source_open_file(flip, err, sizeof(err));
        if (s != NULL) {
            while ((r = st_source_next(s, &got)) == ST_SRC_PACKET)
                ;
            assert_int_equal(r, ST_SRC_ERROR);
            snprintf(err, sizeof(err), "%s", st_source_error(s));
            st_source_close(s);
        }
        if (strstr(err, "gzip") == NULL || strstr(err, flip) == NULL)
            fail_msg("flip at %zu: error \"%s\"", at, err);
    }
}

/*
 * A gzip stream that stops exactly at a packet boundary: libpcap sees a
 * clean end of file, but the missing gzip trailer must still be an error.
 */
static void test_gzip_cut_on_boundary(void **state)
{
    const char *plain = path_of("b.pcap");
    const char *cut = path_of("b.pcap.gz");
    static uint8_t data[1 << 16];
    int fd;
    gzFile gz;
    FILE *f;
    size_t n;
    off_t flushed;
    st_source *s;
    st_packet got;

    (void)state;
    make_pkts();
    write_pcap(plain, DLT_EN10MB, pkts, NPKT);
    f = fopen(plain, "rb");
    assert_non_null(f);
    n = fread(data, 1, sizeof(data), f);
    fclose(f);

    fd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    gz = gzdopen(fd, "wb");
    assert_non_null(gz);
    /* file header + 2 packets, flushed to a byte boundary */
    {
        size_t two = 24 + 2 * 16 + pkts[0].caplen + pkts[1].caplen;
        assert_int_equal(gzwrite(gz, data, (unsigned)two), (int)two);
        assert_int_equal(gzflush(gz, Z_SYNC_FLUSH), Z_OK);
        flushed = lseek(fd, 0, SEEK_CUR);
        assert_int_equal(gzwrite(gz, data + two, (unsigned)(n - two)), (int)(n - two));
    }
    assert_int_equal(gzclose(gz), Z_OK);
    assert_int_equal(truncate(cut, flushed), 0);

    s = open_ok(cut);
    expect_pkt(s, &pkts[0]);
    expect_pkt(s, &pkts[1]);
    assert_int_equal(st_source_next(s, &got), ST_SRC_ERROR);
    if (strstr(st_source_error(s), "truncated gzip file (packet 3)") == NULL)
        fail_msg("error \"%s\"", st_source_error(s));
    st_source_close(s);
}

static void test_filter(void **state)
{
    const char *path = path_of("filter.pcap");
    const char *gz = path_of("filter.pcap.gz");
    char err[512] = "";
    st_source *s;
    st_packet got;

    (void)state;
    make_pkts();
    pkts[2].caplen = pkts[2].len; /* the filter needs the TCP header; keep it whole */
    write_pcap(path, DLT_EN10MB, pkts, NPKT);
    gzip_copy(path, gz);

    for (int pass = 0; pass < 2; pass++) {
        s = open_ok(pass ? gz : path);
        assert_int_equal(st_source_set_filter(s, "tcp dst port 25", err, sizeof(err)), 0);
        expect_pkt(s, &pkts[0]);
        expect_pkt(s, &pkts[2]);
        expect_pkt(s, &pkts[4]);
        assert_int_equal(st_source_next(s, &got), ST_SRC_EOF);
        st_source_close(s);
    }

    s = open_ok(path);
    assert_int_equal(st_source_set_filter(s, "tcp port 80 and not port 25", err, sizeof(err)), 0);
    expect_pkt(s, &pkts[1]);
    expect_pkt(s, &pkts[3]);
    assert_int_equal(st_source_next(s, &got), ST_SRC_EOF);
    st_source_close(s);

    s = open_ok(path);
    assert_int_equal(st_source_set_filter(s, "tcp port banana((", err, sizeof(err)), -1);
    if (strstr(err, "bad filter") == NULL || strstr(err, path) == NULL)
        fail_msg("error \"%s\"", err);
    /* a failed filter leaves the source usable and unfiltered */
    expect_all(s, pkts, NPKT);
    st_source_close(s);
}

static void test_breakloop(void **state)
{
    const char *path = path_of("break.pcap");
    st_source *s;
    st_packet got;

    (void)state;
    make_pkts();
    write_pcap(path, DLT_EN10MB, pkts, NPKT);
    s = open_ok(path);
    expect_pkt(s, &pkts[0]);
    st_source_breakloop(s);
    assert_int_equal(st_source_next(s, &got), ST_SRC_EOF);
    assert_int_equal(st_source_next(s, &got), ST_SRC_EOF);
    st_source_close(s);
}

static void test_live(void **state)
{
    char err[512] = "";
    st_source *s;
    st_packet got;
    uint64_t rx = 1, drop = 1;

    (void)state;
    s = st_source_open_live("st-no-such0", 262144, 1, 100, err, sizeof(err));
    assert_null(s);
    if (strstr(err, "st-no-such0") == NULL)
        fail_msg("error \"%s\"", err);

    s = st_source_open_live("lo", 262144, 0, 50, err, sizeof(err));
    if (s == NULL) {
        print_message("# live capture on lo not possible here: %s\n", err);
        skip();
    }
    assert_string_equal(st_source_name(s), "lo");
    assert_true(st_l2_linktype_supported(st_source_linktype(s)));
    /* a filter nothing matches: the read times out */
    assert_int_equal(st_source_set_filter(s, "tcp port 9 and host 192.0.2.77", err, sizeof(err)),
                     0);
    assert_int_equal(st_source_next(s, &got), ST_SRC_TIMEOUT);

    /* one datagram of our own over loopback comes back, bytes intact */
    assert_int_equal(
        st_source_set_filter(s, "udp dst port 9 and dst host 127.0.0.1", err, sizeof(err)), 0);
    {
        static const char msg[] = "smtptap live capture probe";
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        st_source_result r = ST_SRC_TIMEOUT;
        st_l3 l3;

        assert_true(fd >= 0);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(sendto(fd, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)),
                         sizeof(msg));
        close(fd);
        for (int i = 0; i < 100 && r == ST_SRC_TIMEOUT; i++)
            r = st_source_next(s, &got);
        assert_int_equal(r, ST_SRC_PACKET);
        assert_int_equal(st_l2_decode(st_source_linktype(s), got.data, got.caplen, &l3), ST_L2_OK);
        assert_int_equal(l3.version, 4);
        assert_int_equal(l3.len, 20 + 8 + sizeof(msg));
        assert_memory_equal(l3.ip + 28, msg, sizeof(msg));
        assert_int_equal(got.len, got.caplen);
    }
    st_source_stats(s, &rx, &drop);
    assert_true(rx >= 1);
    assert_int_equal(drop, 0);
    st_source_breakloop(s);
    assert_int_equal(st_source_next(s, &got), ST_SRC_EOF);
    st_source_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcap),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_linktypes),
        cmocka_unit_test(test_pcapng),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_unknown_linktype),
        cmocka_unit_test(test_bad_gzip),
        cmocka_unit_test(test_gzip_cut_on_boundary),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_breakloop),
        cmocka_unit_test(test_live),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
