/*
 * mimebench.c - the MIME core alone against the least a tool must do for the
 * same result (base64-decode the attachments, md5+sha1+sha256 them).
 *
 *   mimebench mime [options] PATH...      the extraction on each message file
 *   mimebench baseline [options] PATH...  decode + hash the sidecar's ranges
 *   mimebench rss-big [options] FILE      mime, every attachment stored whole
 *
 * PATH is a message file or a directory (its *.eml, in name order). Each
 * message file FILE may have a sidecar FILE.b64 written by bench/mkmime.py:
 * one line "offset length size sha256" per base64 attachment.
 *
 * mime: each file is read with read() in --chunk pieces (default 64 KiB) and
 * fed to tmsg_new/feed/finish with the default configuration, the
 * attachment store open on --store DIR (default: a temporary directory under
 * ./bench/work or /tmp, removed at the end; --no-store: hashed only). The
 * record object is serialised (json_dumps) as the tool would write it.
 * Every attachment's sha256 and size are checked against the sidecar.
 * rss-big: the same with attachment_store_max unlimited, so that a 1 GiB
 * attachment is streamed into the store rather than only hashed.
 *
 * baseline: each file is read whole with read() in the same pieces; the
 * bytes inside the sidecar's ranges go through a base64 decoder (a table
 * decoder with a 4-character fast path, or OpenSSL's EVP_DecodeUpdate with
 * --evp) and the decoded bytes through EVP md5, sha1 and sha256, one digest
 * per attachment; the rest of the file is only read. No parsing, no
 * storing, no record.
 *
 * Output: one JSON object on stdout (mode, files, bytes in, decoded bytes,
 * attachments checked/mismatched, seconds of the timed loop, peak RSS).
 * Files are read, never mmap()ed, so the page cache does not count in the
 * RSS.
 *
 * How it fails: an unreadable file or sidecar, a store that cannot be
 * opened: message on stderr, exit 2. A hash that does not match the sidecar
 * is counted ("mismatch") and makes the exit status 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/xmsg.h"
#include "analyze/store.h"

typedef struct range {
    uint64_t off, len, size;
    char sha256[65];
} range;

typedef struct opts {
    size_t chunk;
    const char *store;
    int no_store;
    int evp;
    int big;
} opts;

typedef struct totals {
    uint64_t files, bytes, decoded, attachments, ok, mismatch, stored, json_bytes;
} totals;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "mimebench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ inputs */

typedef struct list {
    char **v;
    size_t n, cap;
} list;

static void push(list *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            die("out of memory", NULL);
    }
    l->v[l->n++] = s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_path(list *l, const char *p)
{
    struct stat st;
    if (stat(p, &st) != 0)
        die(p, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        push(l, strdup(p));
        return;
    }
    DIR *d = opendir(p);
    if (!d)
        die(p, strerror(errno));
    size_t first = l->n;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".eml") == 0) {
            char *s;
            if (asprintf(&s, "%s/%s", p, e->d_name) < 0)
                die("out of memory", NULL);
            push(l, s);
        }
    }
    closedir(d);
    qsort(l->v + first, l->n - first, sizeof *l->v, cmp_str);
}

/* Ranges of FILE.b64; *n = 0 when there is no sidecar. */
static range *sidecar(const char *file, size_t *n)
{
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s.b64", file);
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    range *r = NULL;
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            r = realloc(r, cap * sizeof *r);
            if (!r)
                die("out of memory", NULL);
        }
        range *x = &r[*n];
        unsigned long long o, l, s;
        if (sscanf(line, "%llu %llu %llu %64s", &o, &l, &s, x->sha256) != 4)
            die(path, "malformed line");
        x->off = o, x->len = l, x->size = s;
        (*n)++;
    }
    fclose(f);
    return r;
}

/* ------------------------------------------------------- mime (pipeline) */

static void check(totals *t, json_t *rec, const range *r, size_t nr)
{
    json_t *atts = json_object_get(rec, "attachments");
    size_t na = json_array_size(atts);
    for (size_t i = 0; i < na; i++) {
        json_t *a = json_array_get(atts, i);
        t->attachments++;
        t->decoded += (uint64_t)json_integer_value(json_object_get(a, "size"));
        if (json_is_string(json_object_get(a, "stored")))
            t->stored++;
        const char *h = json_string_value(json_object_get(a, "sha256"));
        if (i < nr && h && strcmp(h, r[i].sha256) == 0 &&
            (uint64_t)json_integer_value(json_object_get(a, "size")) == r[i].size)
            t->ok++;
        else if (nr)
            t->mismatch++;
    }
    if (nr > na)
        t->mismatch += nr - na;
}

static void run_mime(const opts *o, list *files, totals *t, uint8_t *buf)
{
    tcfg cfg;
    tcfg_default(&cfg);
    char err[256];
    if (!o->no_store) {
        cfg.files = st_store_open(o->store, "files", "", err, sizeof err);
        if (!cfg.files)
            die("store", err);
    }
    if (o->big)
        cfg.attachment_store_max = UINT64_MAX;
    for (size_t i = 0; i < files->n; i++) {
        size_t nr;
        range *r = sidecar(files->v[i], &nr);
        int fd = open(files->v[i], O_RDONLY);
        if (fd < 0)
            die(files->v[i], strerror(errno));
        tmsg *m = tmsg_new(&cfg);
        if (!m)
            die("tmsg_new", "out of memory");
        ssize_t n;
        while ((n = read(fd, buf, o->chunk)) > 0) {
            tmsg_feed(m, buf, (size_t)n);
            t->bytes += (uint64_t)n;
        }
        if (n < 0)
            die(files->v[i], strerror(errno));
        close(fd);
        json_t *rec = json_object();
        tmsg_finish(m, rec);
        tmsg_free(m);
        char *s = json_dumps(rec, JSON_COMPACT);
        t->json_bytes += s ? strlen(s) : 0;
        free(s);
        check(t, rec, r, nr);
        json_decref(rec);
        free(r);
        t->files++;
    }
    if (cfg.files)
        st_store_close(cfg.files);
}

/* --------------------------------------------------------------- baseline */

static int8_t b64tab[256];

static void b64_init(void)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(b64tab, -1, sizeof b64tab);
    for (int i = 0; i < 64; i++)
        b64tab[(unsigned char)a[i]] = (int8_t)i;
}

/* A streaming table decoder: anything outside the alphabet is skipped. */
typedef struct dec {
    uint32_t acc;
    int n;
} dec;

static size_t dec_update(dec *d, const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t *o = out;
    size_t i = 0;
    while (i < len) {
        if (d->n == 0 && i + 4 <= len) {
            int8_t a = b64tab[in[i]], b = b64tab[in[i + 1]], c = b64tab[in[i + 2]],
                   e = b64tab[in[i + 3]];
            if ((a | b | c | e) >= 0) {
                uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)e;
                o[0] = (uint8_t)(v >> 16), o[1] = (uint8_t)(v >> 8), o[2] = (uint8_t)v;
                o += 3, i += 4;
                continue;
            }
        }
        int8_t v = b64tab[in[i++]];
        if (v < 0)
            continue;
        d->acc = d->acc << 6 | (uint32_t)v;
        if (++d->n == 4) {
            o[0] = (uint8_t)(d->acc >> 16), o[1] = (uint8_t)(d->acc >> 8), o[2] = (uint8_t)d->acc;
            o += 3, d->n = 0;
        }
    }
    return (size_t)(o - out);
}

static size_t dec_final(dec *d, uint8_t *out)
{
    size_t n = 0;
    if (d->n == 2)
        out[n++] = (uint8_t)(d->acc >> 4);
    else if (d->n == 3)
        out[n++] = (uint8_t)(d->acc >> 10), out[n++] = (uint8_t)(d->acc >> 2);
    d->n = 0;
    return n;
}

typedef struct att {
    EVP_MD_CTX *md[3];
    EVP_ENCODE_CTX *evp;
    dec d;
    uint64_t size;
} att;

static void att_begin(att *a, int evp)
{
    const EVP_MD *t[3] = {EVP_md5(), EVP_sha1(), EVP_sha256()};
    for (int k = 0; k < 3; k++)
        if (EVP_DigestInit_ex(a->md[k], t[k], NULL) != 1)
            die("EVP_DigestInit_ex", NULL);
    if (evp)
        EVP_DecodeInit(a->evp);
    a->d.n = 0, a->d.acc = 0;
    a->size = 0;
}

static void att_hash(att *a, const uint8_t *p, size_t n)
{
    for (int k = 0; k < 3; k++)
        EVP_DigestUpdate(a->md[k], p, n);
    a->size += n;
}

static void att_data(att *a, int evp, const uint8_t *in, size_t len, uint8_t *out)
{
    int outl = 0;
    if (evp) {
        if (EVP_DecodeUpdate(a->evp, out, &outl, in, (int)len) < 0)
            die("EVP_DecodeUpdate", "invalid base64");
    } else {
        outl = (int)dec_update(&a->d, in, len, out);
    }
    att_hash(a, out, (size_t)outl);
}

static void att_end(att *a, int evp, uint8_t *out, totals *t, const range *r)
{
    int outl = 0;
    if (evp)
        EVP_DecodeFinal(a->evp, out, &outl);
    else
        outl = (int)dec_final(&a->d, out);
    att_hash(a, out, (size_t)outl);
    unsigned char md[3][EVP_MAX_MD_SIZE];
    unsigned mdl[3];
    for (int k = 0; k < 3; k++)
        EVP_DigestFinal_ex(a->md[k], md[k], &mdl[k]);
    char hex[65];
    for (unsigned i = 0; i < mdl[2] && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[2][i]);
    t->attachments++;
    t->decoded += a->size;
    if (a->size == r->size && strcmp(hex, r->sha256) == 0)
        t->ok++;
    else
        t->mismatch++;
}

static void run_baseline(const opts *o, list *files, totals *t, uint8_t *buf)
{
    uint8_t *out = malloc(o->chunk + 128);
    att a = {0};
    for (int k = 0; k < 3; k++)
        a.md[k] = EVP_MD_CTX_new();
    a.evp = EVP_ENCODE_CTX_new();
    if (!out || !a.md[0] || !a.md[1] || !a.md[2] || !a.evp)
        die("out of memory", NULL);
    b64_init();
    for (size_t i = 0; i < files->n; i++) {
        size_t nr, cur = 0;
        range *r = sidecar(files->v[i], &nr);
        if (!nr)
            die(files->v[i], "no sidecar .b64 (written by bench/mkmime.py)");
        int fd = open(files->v[i], O_RDONLY);
        if (fd < 0)
            die(files->v[i], strerror(errno));
        uint64_t pos = 0;
        int open_att = 0;
        ssize_t n;
        while ((n = read(fd, buf, o->chunk)) > 0) {
            uint64_t end = pos + (uint64_t)n;
            t->bytes += (uint64_t)n;
            /* every range that meets [pos, end) */
            while (cur < nr && r[cur].off < end) {
                uint64_t s = r[cur].off > pos ? r[cur].off : pos;
                uint64_t e = r[cur].off + r[cur].len < end ? r[cur].off + r[cur].len : end;
                if (!open_att) {
                    att_begin(&a, o->evp);
                    open_att = 1;
                }
                att_data(&a, o->evp, buf + (s - pos), (size_t)(e - s), out);
                if (e < r[cur].off + r[cur].len)
                    break; /* goes on in the next piece */
                att_end(&a, o->evp, out, t, &r[cur]);
                open_att = 0;
                cur++;
            }
            pos = end;
        }
        if (n < 0)
            die(files->v[i], strerror(errno));
        close(fd);
        if (cur < nr)
            t->mismatch += nr - cur; /* file shorter than its sidecar */
        free(r);
        t->files++;
    }
    for (int k = 0; k < 3; k++)
        EVP_MD_CTX_free(a.md[k]);
    EVP_ENCODE_CTX_free(a.evp);
    free(out);
}

/* ------------------------------------------------------------------ main */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: mimebench mime|baseline|rss-big [--chunk N] [--store DIR | --no-store] "
                    "[--evp] PATH...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *mode = argv[1];
    opts o = {.chunk = 65536};
    list files = {0};
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc)
            o.chunk = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            o.store = argv[++i];
        else if (strcmp(argv[i], "--no-store") == 0)
            o.no_store = 1;
        else if (strcmp(argv[i], "--evp") == 0)
            o.evp = 1;
        else if (argv[i][0] == '-' && argv[i][1] == '-')
            usage();
        else
            add_path(&files, argv[i]);
    }
    if (o.chunk < 4096 || o.chunk > (1u << 30) || !files.n)
        usage();
    int is_mime = strcmp(mode, "mime") == 0, is_big = strcmp(mode, "rss-big") == 0;
    if (!is_mime && !is_big && strcmp(mode, "baseline") != 0)
        usage();
    o.big = is_big;

    char tmpstore[4096] = "";
    if ((is_mime || is_big) && !o.no_store && !o.store) {
        snprintf(tmpstore, sizeof tmpstore, "%s/mimebench-store-XXXXXX",
                 access("bench/work", W_OK) == 0 ? "bench/work" : "/tmp");
        if (!mkdtemp(tmpstore))
            die(tmpstore, strerror(errno));
        o.store = tmpstore;
    }
    uint8_t *buf = malloc(o.chunk);
    if (!buf)
        die("out of memory", NULL);

    totals t = {0};
    double t0 = now();
    if (is_mime || is_big)
        run_mime(&o, &files, &t, buf);
    else
        run_baseline(&o, &files, &t, buf);
    double secs = now() - t0;

    if (tmpstore[0])
        nftw(tmpstore, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf(
        "{\"mode\": \"%s\", \"decoder\": \"%s\", \"store\": %s, \"chunk\": %zu, \"files\": %llu, "
        "\"bytes\": %llu, \"decoded\": %llu, \"attachments\": %llu, \"ok\": %llu, "
        "\"mismatch\": %llu, \"stored\": %llu, \"json_bytes\": %llu, \"seconds\": %.6f, "
        "\"mibs\": %.2f, \"decoded_mibs\": %.2f, \"maxrss_kib\": %ld}\n",
        mode,
        is_mime || is_big ? "smtptap"
        : o.evp           ? "EVP_DecodeUpdate"
                          : "table",
        (is_mime || is_big) && !o.no_store ? "true" : "false", o.chunk, (unsigned long long)t.files,
        (unsigned long long)t.bytes, (unsigned long long)t.decoded,
        (unsigned long long)t.attachments, (unsigned long long)t.ok, (unsigned long long)t.mismatch,
        (unsigned long long)t.stored, (unsigned long long)t.json_bytes, secs,
        (double)t.bytes / 1048576.0 / secs, (double)t.decoded / 1048576.0 / secs, ru.ru_maxrss);
    for (size_t i = 0; i < files.n; i++)
        free(files.v[i]);
    free(files.v);
    free(buf);
    return t.mismatch ? 1 : 0;
}
