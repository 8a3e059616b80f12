/*
 * fuzz_pcap.c - the whole pipeline: link layers, IPv4/IPv6, libnids
 * reassembly with our hole handling, SMTP, MIME, records.
 *
 * Two routes, chosen by the input's first bytes:
 *  - a capture file (pcap, pcapng or gzip magic): written to a tmpfs file
 *    and read with smtptap_read_file, so the file readers are fuzzed too;
 *  - anything else: packets built from the input,
 *      byte 0       bits 0-3 link type (index, modulo their number, into
 *                   the supported ones); bits 4-5 how they are given:
 *                   0 straight to the core's packet path (st_reasm_packet,
 *                   no file), 1 as a pcap file, 2 as a pcapng file, 3 as a
 *                   pcapng file in which each frame is its own section
 *                   (SHB, IDB, EPB); bit 6 the file gzip-compressed; bit 7
 *                   the file cut short (by the last input byte + 1, at
 *                   most all of it but one byte)
 *      then frames: t (1 byte: bit 7 set: + (t & 127) * 10 s, else
 *                   + t ms), length (2 bytes, big-endian; past the end:
 *                   the rest), the frame bytes
 *    A file is read with smtptap_read_file: the pcap, pcapng and gzip
 *    readers (and their errors, on a cut file) see valid containers whose
 *    contents the fuzzer chooses.
 * Each input gets its own smtptap_open / smtptap_close (libnids is
 * initialised and torn down every time) and an output directory under
 * /dev/shm that is emptied afterwards.
 *
 * Properties: no sanitizer report, smtptap_close succeeds, and every line
 * of sessions.jsonl is a JSON object. A file we wrote whole reads without
 * error (smtptap_read_file returns 0), and the same packets give the same
 * records whichever container carries them: pcap, pcapng, gzip or not,
 * and the packet path (compared for inputs of containers 1-3 against a
 * straight run, when the file was not cut).
 */
#include <ftw.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "capture/source.h"
#include "fuzz/fuzz_common.h"
#include "fuzz/fuzz_frame.h"
#include "smtptap.h"
#include "reassembly/reasm.h"

static const int linktypes[] = {0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276};
#define N_LT (sizeof linktypes / sizeof linktypes[0])

static char dir[256], capfile[300];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_dir(void)
{
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (capfile[0])
        unlink(capfile);
}

static void setup(void)
{
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/smtptap-fuzz-pcap.%ld", base, (long)getpid());
    snprintf(capfile, sizeof capfile, "%s/smtptap-fuzz-pcap.%ld.cap", base, (long)getpid());
    atexit(rm_dir);
}

static int is_capture(const uint8_t *d, size_t n)
{
    static const uint8_t magics[][4] = {{0xd4, 0xc3, 0xb2, 0xa1},
                                        {0xa1, 0xb2, 0xc3, 0xd4},
                                        {0x4d, 0x3c, 0xb2, 0xa1},
                                        {0xa1, 0xb2, 0x3c, 0x4d},
                                        {0x0a, 0x0d, 0x0d, 0x0a}};
    if (n >= 2 && d[0] == 0x1f && d[1] == 0x8b)
        return 1;
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
        if (n >= 4 && !memcmp(d, magics[i], 4))
            return 1;
    return 0;
}

/* The packets of the input: straight to st_reasm_packet (cap NULL), or
 * into cap as a capture file. */
static void packets(const uint8_t *d, size_t n, fz_cap *cap, int sections)
{
    int lt = linktypes[(d[0] & 15) % N_LT];
    size_t pos = 1;
    int first = 1;
    if (cap)
        fz_cap_begin(cap, cap->ng, (uint32_t)lt);
    st_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.ts.tv_sec = 1700000000;
    while (pos < n) {
        uint8_t t = d[pos++];
        if (t & 0x80) {
            pkt.ts.tv_sec += (t & 0x7f) * 10;
        } else {
            pkt.ts.tv_usec += (long)t * 1000;
            pkt.ts.tv_sec += pkt.ts.tv_usec / 1000000;
            pkt.ts.tv_usec %= 1000000;
        }
        size_t len = n - pos >= 2 ? (size_t)(d[pos] << 8 | d[pos + 1]) : 0;
        pos += n - pos >= 2 ? 2 : n - pos;
        if (len > n - pos)
            len = n - pos;
        uint8_t *f = malloc(len ? len : 1); /* exact size for ASan */
        if (!f)
            abort();
        memcpy(f, d + pos, len);
        pkt.data = f;
        pkt.caplen = (uint32_t)len;
        pkt.len = (uint32_t)len;
        if (!cap) {
            st_reasm_packet(&pkt, lt);
        } else {
            if (sections && !first)
                fz_cap_section(cap, (uint32_t)lt);
            fz_cap_packet(cap, &pkt.ts, f, len);
            first = 0;
        }
        free(f);
        pos += len;
    }
}

/* Every line a JSON object; the file's text, for comparing two runs. */
static char *check_records(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sessions.jsonl", dir);
    FILE *f = fopen(path, "r");
    FZ_CHECK(f, "no %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    fz_buf all = {0};
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t e;
        json_t *r = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &e);
        FZ_CHECK(r && json_is_object(r), "bad record line: %s", e.text);
        json_decref(r);
        fz_put(&all, line, (size_t)n);
    }
    free(line);
    fclose(f);
    fz_put(&all, "", 1);
    return (char *)all.p;
}

static void write_file(const uint8_t *d, size_t n, int gz, size_t cut)
{
    if (gz) {
        gzFile z = gzopen(capfile, "wb");
        FZ_CHECK(z, "cannot write %s", capfile);
        FZ_CHECK(n == 0 || gzwrite(z, d, (unsigned)n) == (int)n, "gzwrite");
        gzclose(z);
    } else {
        FILE *f = fopen(capfile, "wb");
        FZ_CHECK(f, "cannot write %s", capfile);
        fwrite(d, 1, n, f);
        fclose(f);
    }
    if (cut) {
        struct stat st;
        FZ_CHECK(stat(capfile, &st) == 0, "stat %s", capfile);
        size_t size = (size_t)st.st_size, by = cut < size ? cut : size - 1;
        FZ_CHECK(truncate(capfile, (off_t)(size - by)) == 0, "truncate %s", capfile);
    }
}

/* One smtptap_open .. smtptap_close over the input; the records' text.
 * container: -1 the input is a capture file, 0 its packets straight,
 * 1 pcap, 2 pcapng, 3 pcapng with a section per frame. */
static char *one_run(const uint8_t *data, size_t size, int container)
{
    char err[512];
    smtptap_config *c = smtptap_config_new();
    FZ_CHECK(c, "config");
    FZ_CHECK(smtptap_config_set(c, "output_dir", dir, err, sizeof err) == 0, "%s", err);
    FZ_CHECK(smtptap_config_set(c, "max_streams", "16", err, sizeof err) == 0, "%s", err);
    FZ_CHECK(smtptap_config_set(c, "extract_iocs", "true", err, sizeof err) == 0, "%s", err);
    smtptap *t = smtptap_open(c, err, sizeof err);
    FZ_CHECK(t, "smtptap_open: %s", err);
    if (container < 0) {
        write_file(data, size, 0, 0);
        (void)smtptap_read_file(t, capfile, NULL, err, sizeof err); /* -1 on corrupt: fine */
    } else if (container == 0) {
        packets(data, size, NULL, 0);
    } else {
        fz_cap cap = {0};
        cap.ng = container >= 2;
        packets(data, size, &cap, container == 3);
        int gz = data[0] >> 6 & 1;
        size_t cut = data[0] & 0x80 ? (size_t)data[size - 1] + 1 : 0;
        write_file(cap.b.p, cap.b.n, gz, cut);
        fz_free(&cap.b);
        int rc = smtptap_read_file(t, capfile, NULL, err, sizeof err);
        FZ_CHECK(cut || rc == 0, "a whole %s file we wrote does not read: %s",
                 container == 1 ? "pcap" : "pcapng", err);
    }
    int rc = smtptap_close(t, err, sizeof err);
    FZ_CHECK(rc == 0, "smtptap_close: %s", err);
    smtptap_config_free(c);
    char *text = check_records();
    rm_dir();
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0])
        setup();
    if (size < 1)
        return 0;
    int container = -1;
    if (!is_capture(data, size)) {
        container = data[0] >> 4 & 3;
        if (container == 0 && data[0] & 0xc0)
            container = 1; /* gzip or a cut asked for: a pcap file */
    }
    char *text = one_run(data, size, container);
    if (container > 0 && !(data[0] & 0x80)) {
        char *straight = one_run(data, size, 0);
        FZ_CHECK(!strcmp(text, straight),
                 "the same packets give other records from a file:\nfile:\n%s\nstraight:\n%s", text,
                 straight);
        free(straight);
    }
    free(text);
    return 0;
}
