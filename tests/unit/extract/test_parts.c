/*
 * test_parts.c - the parts list (extract/parts.c) and the preamble kept
 * when a multipart holds no part (extract/preamble.c), with a file layer
 * of its own that keeps every object's bytes in memory: which entity got
 * which object, what was written to it, whether it was closed or thrown
 * away. The expected bytes are those written in each message here; every
 * message is also fed byte by byte and must give the same facts. Last, a
 * body through the real file layer (st_file_open_plain): its digests
 * against OpenSSL's one-shot ones, its stored bytes read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "analyze/file.h"
#include "extract/extract.h"
#include "../tmptree.h"

/* ------------------------------------------------------- a file layer */

typedef struct fobj {
    char *b;
    size_t len, cap;
    int plain, closed, partial, released;
} fobj;

#define MAXF 64
static fobj g_f[MAXF];
static int g_nf;

static void *f_open_kind(int plain)
{
    assert_true(g_nf < MAXF);
    fobj *f = &g_f[g_nf++];
    memset(f, 0, sizeof *f);
    f->plain = plain;
    return f;
}

static void *f_open(void *ctx)
{
    (void)ctx;
    return f_open_kind(0);
}

static void *f_open_plain(void *ctx)
{
    (void)ctx;
    return f_open_kind(1);
}

static void f_write(void *p, const uint8_t *d, size_t n)
{
    fobj *f = p;
    assert_false(f->closed);
    if (f->len + n > f->cap) {
        f->cap = (f->len + n) * 2;
        f->b = realloc(f->b, f->cap);
    }
    memcpy(f->b + f->len, d, n);
    f->len += n;
}

static int f_close(void *p)
{
    fobj *f = p;
    assert_false(f->closed);
    f->closed = 1;
    return 0;
}

static void f_release(void *p)
{
    fobj *f = p;
    assert_false(f->released);
    f->released = 1;
}

static void f_partial(void *p)
{
    ((fobj *)p)->partial = 1;
}

static void files_reset(void)
{
    for (int i = 0; i < g_nf; i++)
        free(g_f[i].b);
    g_nf = 0;
}

/* ------------------------------------------------------------ helpers */

static st_extract *run_cfg(const st_extract_config *cfg, const char *m, size_t len, size_t chunk)
{
    st_extract_files files = {f_open, f_write, f_close, f_release, NULL, f_partial};
    st_extract *x = st_extract_new(cfg, &files);
    assert_non_null(x);
    st_extract_on_plain(x, f_open_plain);
    for (size_t off = 0; off < len; off += chunk)
        st_extract_feed(x, (const uint8_t *)m + off, len - off < chunk ? len - off : chunk);
    st_extract_finish(x);
    return x;
}

static st_extract *run(const char *m)
{
    st_extract_config cfg;
    st_extract_config_default(&cfg);
    return run_cfg(&cfg, m, strlen(m), strlen(m));
}

static void free_run(st_extract *x)
{
    st_extract_free(x);
    files_reset();
}

/* The bytes of entity i's file object (its own, or its attachment's). */
static const fobj *file_of(const st_xfacts *f, size_t i)
{
    const st_xpart *p = &f->parts[i];
    return p->attach != ST_X_NO_ENTRY ? f->attach[p->attach].file : p->file;
}

static void bytes_n(const fobj *o, const char *want, size_t n)
{
    assert_non_null(o);
    if (o->len != n || (n && memcmp(o->b, want, n) != 0))
        fail_msg("bytes [%.*s], want [%s]", (int)o->len, o->b ? o->b : "", want);
    assert_true(o->closed);
}

static void bytes_are(const fobj *o, const char *want)
{
    bytes_n(o, want, strlen(want));
}

static void str_is(const st_xstr *s, const char *want)
{
    if (!want) {
        assert_null(s->s);
        return;
    }
    assert_non_null(s->s);
    assert_int_equal(s->n, strlen(want));
    assert_memory_equal(s->s, want, s->n);
}

static int has_anomaly(const st_xfacts *f, const char *name, const char *detail)
{
    for (size_t i = 0; i < f->nanomalies; i++)
        if (!strcmp(f->anomalies[i].name.s, name) &&
            (!detail || (f->anomalies[i].detail.s && !strcmp(f->anomalies[i].detail.s, detail))))
            return 1;
    return 0;
}

/* ------------------------------------------------------------- tests */

static const char m_tree[] =
    "Subject: tree\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    "preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nthe body\r\n"
    "--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
    "--b\r\nContent-Type: application/octet-stream; name=a.bin\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n"
    "--b\r\nContent-Type: message/rfc822\r\n\r\n"
    "Subject: in\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
    "--i\r\n\r\ninner plain\r\n--i\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--i--\r\n"
    "--b--\r\n";

/* Every entity, in order, containers included; the bodies' bytes in
 * objects of their own (for no analyzer), the others shared with their
 * attachment entry; the preamble object thrown away unclosed. */
static void entities_in_order(void **st)
{
    (void)st;
    st_extract *x = run(m_tree);
    const st_xfacts *f = st_extract_facts(x);
    static const char *paths[] = {"", "1", "2", "3", "4", "4", "4.1", "4.2"};
    static const char *types[] = {"multipart/mixed", "text/plain",
                                  "text/html",       "application/octet-stream",
                                  "message/rfc822",  "multipart/alternative",
                                  "text/plain",      "text/html"};
    assert_int_equal(f->nparts, 8);
    for (size_t i = 0; i < 8; i++) {
        str_is(&f->parts[i].mime_path, paths[i]);
        str_is(&f->parts[i].content_type, types[i]);
        assert_true(f->parts[i].closed && f->parts[i].complete);
    }
    assert_true(f->parts[0].container && f->parts[5].container);
    assert_null(file_of(f, 0));
    bytes_are(file_of(f, 1), "the body");
    bytes_are(file_of(f, 2), "<p>html</p>");
    assert_true(file_of(f, 1)->plain && file_of(f, 2)->plain);
    assert_int_equal(f->parts[1].attach, ST_X_NO_ENTRY);
    bytes_n(file_of(f, 3), "\x00\x01\x02", 3);
    assert_int_equal(f->parts[3].size, 3);
    str_is(&f->parts[3].filename, "a.bin");
    assert_int_equal(f->parts[3].attach, 0);
    assert_false(file_of(f, 3)->plain);
    bytes_are(file_of(f, 6), "inner plain");
    assert_int_equal(f->parts[6].attach, 2); /* inside an attached message: an attachment */
    assert_int_equal(f->nattach, 4);
    /* objects: the preamble (dropped unclosed; the inner multipart's is
     * empty: none), 2 bodies, 4 attachments */
    assert_int_equal(g_nf, 7);
    int dropped = 0;
    for (int i = 0; i < g_nf; i++)
        dropped += g_f[i].released && !g_f[i].closed;
    assert_int_equal(dropped, 1);
    assert_true(g_f[0].released && !g_f[0].closed);
    assert_int_equal(g_f[0].len, strlen("preamble"));
    assert_int_equal(f->nanomalies, 0);
    free_run(x);
}

/* Byte by byte: the same facts and bytes. */
static void any_split(void **st)
{
    (void)st;
    st_extract_config cfg;
    st_extract_config_default(&cfg);
    st_extract *x = run_cfg(&cfg, m_tree, strlen(m_tree), 1);
    const st_xfacts *f = st_extract_facts(x);
    assert_int_equal(f->nparts, 8);
    bytes_are(file_of(f, 1), "the body");
    bytes_n(file_of(f, 3), "\x00\x01\x02", 3);
    bytes_are(file_of(f, 7), "<b>x</b>");
    free_run(x);
}

/* No boundary line: the body is kept as one part, listed in both lists
 * with a leaf's path, its bytes in an attachment-kind object. */
static void preamble_kept(void **st)
{
    (void)st;
    st_extract *x = run("Content-Type: multipart/mixed; boundary=X\r\n\r\n"
                        "no boundary\r\n--Y\r\nat all\r\n");
    const st_xfacts *f = st_extract_facts(x);
    assert_int_equal(f->nparts, 1);
    assert_int_equal(f->nattach, 1);
    str_is(&f->attach[0].mime_path, "1");
    str_is(&f->attach[0].content_type, "multipart/mixed");
    assert_int_equal(f->attach[0].size, strlen("no boundary\r\n--Y\r\nat all\r\n"));
    str_is(&f->parts[0].mime_path, "1");
    assert_false(f->parts[0].container);
    bytes_are(file_of(f, 0), "no boundary\r\n--Y\r\nat all\r\n");
    assert_false(file_of(f, 0)->plain);
    assert_true(has_anomaly(f, "boundary_not_found", "X"));
    free_run(x);
    /* inside an attached message: P.1; inside a multipart: its own path */
    x = run("Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
            "Content-Type: message/rfc822\r\n\r\n"
            "Content-Type: multipart/mixed; boundary=n\r\n\r\ninner text\r\n"
            "--o\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\nchild text\r\n--o--\r\n");
    f = st_extract_facts(x);
    assert_int_equal(f->nattach, 3);
    str_is(&f->attach[0].mime_path, "1");
    str_is(&f->attach[0].content_type, "message/rfc822");
    str_is(&f->attach[1].mime_path, "1.1");
    bytes_are(f->attach[1].file, "inner text"); /* the line end is the delimiter's */
    str_is(&f->attach[2].mime_path, "2");
    bytes_are(f->attach[2].file, "child text");
    assert_int_equal(f->nparts, 4);
    str_is(&f->parts[2].mime_path, "1.1");
    free_run(x);
    /* nothing before the close delimiter: an empty part, its object made at the end */
    x = run("Content-Type: multipart/mixed; boundary=X\r\n\r\n--X--\r\n");
    f = st_extract_facts(x);
    assert_int_equal(f->nattach, 1);
    bytes_are(f->attach[0].file, "");
    assert_true(has_anomaly(f, "multipart_without_parts", "X"));
    free_run(x);
}

/* Two names that differ: the Content-Disposition one, and the other said;
 * the same name given twice, once RFC 2047-encoded, is no mismatch. */
static void filename_mismatch(void **st)
{
    (void)st;
    st_extract *x = run("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                        "Content-Type: application/pdf; name=\"invoice.pdf\"\r\n"
                        "Content-Disposition: attachment; filename=\"invoice.exe\"\r\n\r\nMZ\r\n"
                        "--b\r\nContent-Type: application/pdf; name=\"=?utf-8?q?same.pdf?=\"\r\n"
                        "Content-Disposition: attachment; filename=\"same.pdf\"\r\n\r\n%PDF\r\n"
                        "--b--\r\n");
    const st_xfacts *f = st_extract_facts(x);
    str_is(&f->attach[0].filename, "invoice.exe");
    str_is(&f->parts[1].filename, "invoice.exe");
    assert_true(has_anomaly(f, "filename_mismatch", "invoice.pdf"));
    str_is(&f->attach[1].filename, "same.pdf");
    assert_int_equal(f->nanomalies, 1);
    free_run(x);
}

/* 2 x max_attachments + 2 entries, the rest counted. */
static void parts_capped(void **st)
{
    (void)st;
    st_extract_config cfg;
    st_extract_config_default(&cfg);
    cfg.max_attachments = 1;
    static const char m[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                            "--b\r\n\r\nbody\r\n--b\r\nContent-Type: image/png\r\n\r\n1\r\n"
                            "--b\r\nContent-Type: image/png\r\n\r\n2\r\n"
                            "--b\r\nContent-Type: image/png\r\n\r\n3\r\n"
                            "--b\r\nContent-Type: image/png\r\n\r\n4\r\n--b--\r\n";
    st_extract *x = run_cfg(&cfg, m, sizeof m - 1, sizeof m - 1);
    const st_xfacts *f = st_extract_facts(x);
    assert_int_equal(f->nparts, 4);
    assert_int_equal(f->parts_dropped, 2);
    assert_int_equal(f->nattach, 1);
    assert_int_equal(f->attach_dropped, 3);
    str_is(&f->parts[3].mime_path, "3");
    assert_null(file_of(f, 3)); /* not listed as an attachment: no object */
    assert_int_equal(f->parts[3].size, 1);
    free_run(x);
}

/* A preamble of 8 MiB (no boundary) streams through: nothing held. */
static void big_preamble_bounded(void **st)
{
    (void)st;
    st_extract_config cfg;
    st_extract_config_default(&cfg);
    st_extract_files files = {f_open, f_write, f_close, f_release, NULL, f_partial};
    st_extract *x = st_extract_new(&cfg, &files);
    const char *h = "Content-Type: multipart/mixed; boundary=X\r\n\r\n";
    st_extract_feed(x, (const uint8_t *)h, strlen(h));
    static char chunk[65536];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = i % 64 == 63 ? '\n' : (i % 64 == 0 ? '-' : 'a');
    size_t peak = 0;
    for (int i = 0; i < 128; i++) {
        st_extract_feed(x, (const uint8_t *)chunk, sizeof chunk);
        size_t m = st_extract_memory(x);
        peak = m > peak ? m : peak;
    }
    assert_true(peak < 16 * 1024);
    st_extract_finish(x);
    const st_xfacts *f = st_extract_facts(x);
    assert_int_equal(f->nattach, 1);
    assert_int_equal(f->attach[0].size, 128 * sizeof chunk);
    assert_int_equal(((fobj *)f->attach[0].file)->len, 128 * sizeof chunk);
    free_run(x);
}

/* Without st_extract_on_plain, bodies get objects of files.open. */
static void plain_falls_back(void **st)
{
    (void)st;
    st_extract_config cfg;
    st_extract_config_default(&cfg);
    st_extract_files files = {f_open, f_write, f_close, f_release, NULL, f_partial};
    st_extract *x = st_extract_new(&cfg, &files);
    const char *m = "Subject: s\r\n\r\nhello\r\n";
    st_extract_feed(x, (const uint8_t *)m, strlen(m));
    st_extract_cut(x); /* the message's end was not seen */
    st_extract_finish(x);
    const st_xfacts *f = st_extract_facts(x);
    assert_int_equal(f->nparts, 1);
    bytes_are(file_of(f, 0), "hello\r\n");
    assert_false(file_of(f, 0)->plain);
    assert_true(file_of(f, 0)->partial);
    assert_false(f->parts[0].complete);
    free_run(x);
}

/* ------------------------------------------------ with the file layer */

static void hex_digest(const EVP_MD *md, const void *p, size_t n, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    assert_int_equal(EVP_Digest(p, n, d, &dl, md, NULL), 1);
    for (unsigned i = 0; i < dl; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void *k_open(void *k)
{
    return st_file_open(k);
}
static void *k_open_plain(void *k)
{
    return st_file_open_plain(k);
}
static void k_write(void *f, const uint8_t *d, size_t n)
{
    st_file_write(f, d, n);
}
static int k_close(void *f)
{
    return st_file_close(f);
}
static void k_release(void *f)
{
    st_file_free(f);
}

/* A body through st_file_open_plain: the kind's digests (the hash
 * analyzer's too) against OpenSSL's, stored like an attachment, and no
 * analyzer field in its report. */
static void body_hashed_by_the_file_layer(void **st)
{
    (void)st;
    char root[] = "/tmp/test_parts.XXXXXX", err[256], want[129], path[4300];
    assert_non_null(mkdtemp(root));
    st_store *store = st_store_open(root, "files", "", err, sizeof err);
    assert_non_null(store);
    st_file_kind k;
    assert_int_equal(st_file_kind_init(&k, store, 1 << 20, "hash", err, sizeof err), 0);
    st_extract_config cfg;
    st_extract_config_default(&cfg);
    st_extract_files files = {k_open, k_write, k_close, k_release, &k, NULL};
    st_extract *x = st_extract_new(&cfg, &files);
    st_extract_on_plain(x, k_open_plain);
    const char *m = "Subject: b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                    "caf=C3=A9 =\r\nok\r\n";
    const char *body = "caf\xc3\xa9 ok\r\n";
    st_extract_feed(x, (const uint8_t *)m, strlen(m));
    st_extract_finish(x);
    const st_xfacts *f = st_extract_facts(x);
    assert_int_equal(f->nparts, 1);
    const st_file *o = f->parts[0].file;
    const st_file_result *r = st_file_result_of(o);
    assert_int_equal(r->size, strlen(body));
    hex_digest(EVP_md5(), body, strlen(body), want);
    assert_string_equal(r->digest.md5, want);
    hex_digest(EVP_sha1(), body, strlen(body), want);
    assert_string_equal(r->digest.sha1, want);
    hex_digest(EVP_sha256(), body, strlen(body), want);
    assert_string_equal(r->digest.sha256, want);
    assert_string_equal(r->digest.sha512, ""); /* hash_algorithms' default leaves it out */
    assert_true(r->stored);
    snprintf(path, sizeof path, "%s/%s", root, r->path);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char got[64];
    size_t n = fread(got, 1, sizeof got, fp);
    fclose(fp);
    assert_int_equal(n, strlen(body));
    assert_memory_equal(got, body, n);
    json_t *e = json_object(), *an = json_array();
    st_file_report(o, e, an);
    assert_null(json_object_get(e, "md5")); /* the hash analyzer did not see it */
    assert_null(json_object_get(e, "ssdeep"));
    assert_non_null(json_object_get(e, "stored"));
    json_decref(e);
    json_decref(an);
    st_extract_free(x);
    st_store_close(store);
    st_tmptree_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entities_in_order), cmocka_unit_test(any_split),
        cmocka_unit_test(preamble_kept),     cmocka_unit_test(filename_mismatch),
        cmocka_unit_test(parts_capped),      cmocka_unit_test(big_preamble_bounded),
        cmocka_unit_test(plain_falls_back),  cmocka_unit_test(body_hashed_by_the_file_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
