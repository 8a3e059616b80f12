/*
 * fuzz_eml.c - message files: smtptap_read_eml, the Maildir reader
 * (smtptap_watch_maildir without following, as --maildir-once) and
 * smtptap_feed_message, with options chosen by the input.
 *
 * Input: byte 0 options, byte 1 the split, the rest the message bytes.
 *   byte 0 bits 0-1 the route: 0 .eml file, 1 Maildir, 2 memory, 3 Maildir and .eml
 *          bit 2    omit_body; bit 3 body_max 16 and max_attachments 1
 *          bit 4    message_store_max 64 and attachment_store_max 16
 *          bit 5    small MIME limits (header block 1024, 3 headers, depth 2, 3 parts)
 *          bit 6    store_messages and archive_attachments false
 *          bit 7    extract_iocs
 *   byte 1 Maildir: the message is cut into 1 + (byte 1 & 3) files of new/, at points a
 *          PRNG seeded with byte 1 picks; cur/ and tmp/ hold a file each and new/ a
 *          dot-file, which must all be ignored.
 * Files live under /dev/shm (or /tmp), removed after each input.
 *
 * Properties: no sanitizer report; every call succeeds and smtptap_close too; one record
 * per message and none for the ignored files; each record is a JSON object with "source"
 * (eml, maildir, memory) and "file" as given (DIR/new/NAME for a Maildir), an uid of M and
 * 18 base62 characters, exactly one accepted transaction whose message has the size of the
 * bytes and their SHA-256 (OpenSSL's, computed here), missing_bytes 0 and complete true; its
 * "eml" is messages/<aa>/<sha256>.eml holding exactly those bytes when it was stored, and null
 * exactly when store_messages is false or the message is larger than message_store_max.
 */
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz_common.h"
#include "smtptap.h"

#define MAX_PARTS 4

static char root[256], out[300], md[300], eml[300];

typedef struct part {
    char file[400]; /* as the record must name it */
    const uint8_t *p;
    size_t n;
    int seen;
} part;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_root(void)
{
    if (root[0])
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(root, sizeof root, "%s/smtptap-fuzz-eml.%ld", base, (long)getpid());
    snprintf(out, sizeof out, "%s/out", root);
    snprintf(md, sizeof md, "%s/md", root);
    snprintf(eml, sizeof eml, "%s/msg.eml", root);
    atexit(rm_root);
}

static void write_file(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    FZ_CHECK(f, "cannot write %s", path);
    FZ_CHECK(fwrite(d, 1, n, f) == n, "short write %s", path);
    fclose(f);
}

static void set(smtptap_config *c, const char *k, const char *v)
{
    char err[256];
    FZ_CHECK(smtptap_config_set(c, k, v, err, sizeof err) == 0, "%s", err);
}

static void hex(const uint8_t *d, size_t n, char *o)
{
    for (size_t i = 0; i < n; i++)
        sprintf(o + 2 * i, "%02x", d[i]);
}

static void check_record(json_t *r, part *parts, size_t np, uint8_t opt)
{
    const char *file = json_string_value(json_object_get(r, "file"));
    const char *source = json_string_value(json_object_get(r, "source"));
    const char *uid = json_string_value(json_object_get(r, "uid"));
    FZ_CHECK(file && source && uid, "record without file, source or uid");
    FZ_CHECK(uid[0] == 'M' && strlen(uid) == 19, "uid %s", uid);
    for (const char *u = uid + 1; *u; u++)
        FZ_CHECK((*u >= '0' && *u <= '9') || (*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z'),
                 "uid %s", uid);
    part *p = NULL;
    for (size_t i = 0; i < np && !p; i++)
        if (!strcmp(parts[i].file, file))
            p = &parts[i];
    FZ_CHECK(p, "a record for %s, which is not a message", file);
    FZ_CHECK(!p->seen, "two records for %s", file);
    p->seen = 1;
    const char *want = strstr(file, "/new/") ? "maildir" : !strcmp(file, eml) ? "eml" : "memory";
    FZ_CHECK(!strcmp(source, want), "%s: source %s, want %s", file, source, want);
    json_t *tx = json_object_get(r, "transactions");
    FZ_CHECK(json_array_size(tx) == 1, "%s: %zu transactions", file, json_array_size(tx));
    json_t *t0 = json_array_get(tx, 0), *m = json_object_get(t0, "message");
    const char *status = json_string_value(json_object_get(t0, "status"));
    FZ_CHECK(status && !strcmp(status, "accepted"), "%s: status %s", file, status);
    FZ_CHECK(json_integer_value(json_object_get(m, "size")) == (json_int_t)p->n, "%s: size", file);
    FZ_CHECK(json_integer_value(json_object_get(m, "missing_bytes")) == 0, "%s: missing", file);
    FZ_CHECK(json_is_true(json_object_get(m, "complete")), "%s: not complete", file);
    uint8_t md_[SHA256_DIGEST_LENGTH];
    char sha[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256(p->n ? p->p : (const uint8_t *)"", p->n, md_);
    hex(md_, sizeof md_, sha);
    const char *got = json_string_value(json_object_get(m, "sha256"));
    FZ_CHECK(got && !strcmp(got, sha), "%s: sha256 %s, want %s", file, got, sha);
    json_t *e = json_object_get(m, "eml");
    int stored = !(opt & 0x40) && !((opt & 0x10) && p->n > 64);
    FZ_CHECK(stored == json_is_string(e), "%s: eml %s, stored %d", file,
             json_is_string(e) ? json_string_value(e) : "null", stored);
    if (stored) {
        char want_path[128], path[600];
        snprintf(want_path, sizeof want_path, "messages/%.2s/%s.eml", sha, sha);
        FZ_CHECK(!strcmp(json_string_value(e), want_path), "%s: eml %s", file,
                 json_string_value(e));
        snprintf(path, sizeof path, "%s/%s", out, want_path);
        FILE *f = fopen(path, "rb");
        FZ_CHECK(f, "%s: no %s", file, path);
        uint8_t *b = malloc(p->n + 1);
        FZ_CHECK(b, "out of memory");
        size_t k = fread(b, 1, p->n + 1, f);
        fclose(f);
        FZ_CHECK(k == p->n && (!k || !memcmp(b, p->p, k)), "%s: the stored bytes differ", file);
        free(b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0])
        setup();
    if (size < 2)
        return 0;
    uint8_t opt = data[0], split = data[1];
    const uint8_t *msg = data + 2;
    size_t n = size - 2;
    int route = opt & 3;
    rm_root();
    FZ_CHECK(mkdir(root, 0700) == 0, "mkdir %s", root);

    part parts[MAX_PARTS + 2];
    size_t np = 0;
    if (route == 1 || route == 3) {
        char d[400];
        FZ_CHECK(mkdir(md, 0700) == 0, "mkdir %s", md);
        static const char *const sub[] = {"new", "cur", "tmp"};
        for (int i = 0; i < 3; i++) {
            snprintf(d, sizeof d, "%s/%s", md, sub[i]);
            FZ_CHECK(mkdir(d, 0700) == 0, "mkdir %s", d);
        }
        snprintf(d, sizeof d, "%s/cur/1.seen:2,S", md);
        write_file(d, msg, n);
        snprintf(d, sizeof d, "%s/tmp/2.partial", md);
        write_file(d, msg, n);
        snprintf(d, sizeof d, "%s/new/.hidden", md);
        write_file(d, msg, n);
        size_t k = 1 + (split & 3), at = 0;
        uint32_t seed = split * 2654435761u;
        for (size_t i = 0; i < k; i++) {
            size_t len = i + 1 == k ? n - at : (n - at) ? fz_rand(&seed) % (n - at + 1) : 0;
            part *p = &parts[np++];
            snprintf(p->file, sizeof p->file, "%s/new/%zu.msg%s", md, i, i & 1 ? ":2," : "");
            p->p = msg + at;
            p->n = len;
            p->seen = 0;
            write_file(p->file, p->p, p->n);
            at += len;
        }
    }
    if (route == 0 || route == 3) {
        part *p = &parts[np++];
        snprintf(p->file, sizeof p->file, "%s", eml);
        p->p = msg;
        p->n = n;
        p->seen = 0;
        write_file(eml, msg, n);
    }
    if (route == 2) {
        part *p = &parts[np++];
        snprintf(p->file, sizeof p->file, "memory:%zu", n);
        p->p = msg;
        p->n = n;
        p->seen = 0;
    }

    smtptap_config *c = smtptap_config_new();
    FZ_CHECK(c, "config");
    set(c, "output_dir", out);
    if (opt & 0x04)
        set(c, "omit_body", "true");
    if (opt & 0x08) {
        set(c, "body_max", "16");
        set(c, "max_attachments", "1");
    }
    if (opt & 0x10) {
        set(c, "message_store_max", "64");
        set(c, "attachment_store_max", "16");
    }
    if (opt & 0x20) {
        set(c, "mime_header_bytes", "1024");
        set(c, "mime_max_headers", "3");
        set(c, "mime_max_depth", "2");
        set(c, "mime_max_parts", "3");
    }
    if (opt & 0x40) {
        set(c, "store_messages", "false");
        set(c, "archive_attachments", "false");
    }
    if (opt & 0x80)
        set(c, "extract_iocs", "true");
    char err[512];
    smtptap *t = smtptap_open(c, err, sizeof err);
    FZ_CHECK(t, "smtptap_open: %s", err);
    if (route == 1 || route == 3)
        FZ_CHECK(smtptap_watch_maildir(t, md, 0, err, sizeof err) == 0, "maildir: %s", err);
    if (route == 0 || route == 3)
        FZ_CHECK(smtptap_read_eml(t, eml, err, sizeof err) == 0, "read_eml: %s", err);
    if (route == 2) {
        struct timeval ts = {1700000000, 0};
        FZ_CHECK(smtptap_feed_message(t, parts[0].file, msg, n, &ts, err, sizeof err) == 0,
                 "feed_message: %s", err);
    }
    FZ_CHECK(smtptap_close(t, err, sizeof err) == 0, "smtptap_close: %s", err);
    smtptap_config_free(c);

    char path[400];
    snprintf(path, sizeof path, "%s/sessions.jsonl", out);
    FILE *f = fopen(path, "r");
    FZ_CHECK(f, "no %s", path);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t k;
    while ((k = getline(&line, &lcap, f)) > 0) {
        json_error_t e;
        json_t *r = json_loadb(line, (size_t)k, JSON_ALLOW_NUL, &e);
        FZ_CHECK(r && json_is_object(r), "bad record line: %s", e.text);
        check_record(r, parts, np, opt);
        json_decref(r);
    }
    free(line);
    fclose(f);
    for (size_t i = 0; i < np; i++)
        FZ_CHECK(parts[i].seen, "no record for %s", parts[i].file);
    rm_root();
    return 0;
}
