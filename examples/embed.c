/*
 * embed.c - smtptap inside another program: it reads a capture with
 * libpcap itself, hands every packet to the library, and prints each
 * record's uid and the subject of each message as the records come.
 * No record file is written (sinks = "").
 *
 *     cc -Iinclude examples/embed.c build/libsmtptap.a -lpcap \
 *        $LDLIBS -o embed        (LDLIBS: as in mk/common.mk)
 *     ./embed capture.pcap [message.eml]
 *
 * A second argument is read into memory and fed as a message too.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>

#include "smtptap.h"

static void on_record(void *arg, const smtptap_record *r)
{
    long *n = arg;
    long txs = smtptap_record_count(r, "transactions");
    (*n)++;
    printf("%s", smtptap_record_get(r, "uid"));
    for (long i = 0; i < txs; i++) {
        char path[64];
        snprintf(path, sizeof path, "transactions.%ld.message.subject", i);
        const char *subject = smtptap_record_get(r, path);
        printf("\t%s", subject ? subject : "-");
    }
    printf("\n");
}

static int feed_capture(smtptap *t, const char *path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, errbuf);
    if (!p) {
        fprintf(stderr, "embed: %s\n", errbuf);
        return -1;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    while (pcap_next_ex(p, &h, &data) == 1)
        smtptap_feed_packet(t, &h->ts, pcap_datalink(p), data, h->caplen, h->len);
    pcap_close(p);
    return 0;
}

static int feed_file_as_message(smtptap *t, const char *path)
{
    char err[256];
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct timeval ts = {0, 0}; /* a fixed time: the same record every run */
    if (smtptap_feed_message(t, path, buf, n, &ts, err, sizeof err) != 0) {
        fprintf(stderr, "embed: %s\n", err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char err[256];
    long records = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: embed CAPTURE [MESSAGE]\n");
        return 2;
    }
    smtptap_config *c = smtptap_config_new();
    if (smtptap_config_set(c, "sinks", "", err, sizeof err) != 0 ||
        smtptap_config_set(c, "output_dir", getenv("EMBED_OUT") ? getenv("EMBED_OUT") : "embed-out",
                           err, sizeof err) != 0) {
        fprintf(stderr, "embed: %s\n", err);
        return 1;
    }
    smtptap *t = smtptap_open(c, err, sizeof err);
    smtptap_config_free(c);
    if (!t) {
        fprintf(stderr, "embed: %s\n", err);
        return 1;
    }
    smtptap_on_record(t, on_record, &records);
    int rc = feed_capture(t, argv[1]);
    if (rc == 0 && argc > 2)
        rc = feed_file_as_message(t, argv[2]);
    if (smtptap_close(t, err, sizeof err) != 0) {
        fprintf(stderr, "embed: %s\n", err);
        rc = -1;
    }
    fprintf(stderr, "embed: %ld records\n", records);
    return rc == 0 ? 0 : 1;
}
