/*
 * test_extract.c - the message extractor with the file layer and the
 * record fields behind it: top-level headers, bodies, attachments
 * (hashes, store), anomalies and caps.
 *
 * Every message is fed whole, in 7-byte chunks and byte by byte; the three
 * JSON results (keys sorted) must be identical. Expected decoded bytes are
 * written out literally here and hashed with OpenSSL, stored files are read
 * back from a temporary store.
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
#include <unistd.h>

#include "tests/support/xmsg.h"
#include "../tmptree.h"

/* ------------------------------------------------------------- helpers */

static char g_root[64];
static st_store *g_store;

static int setup(void **state)
{
    (void)state;
    char err[256];
    snprintf(g_root, sizeof g_root, "/tmp/test_message.XXXXXX");
    if (!mkdtemp(g_root))
        return -1;
    g_store = st_store_open(g_root, "files", "", err, sizeof err);
    return g_store ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    st_store_close(g_store);
    g_store = NULL;
    st_tmptree_remove(g_root);
    return 0;
}

static json_t *run_chunked(const tcfg *cfg, const char *msg, size_t len, size_t chunk)
{
    tmsg *m = tmsg_new(cfg);
    assert_non_null(m);
    for (size_t off = 0; off < len; off += chunk)
        tmsg_feed(m, (const uint8_t *)msg + off, len - off < chunk ? len - off : chunk);
    json_t *o = json_object();
    tmsg_finish(m, o);
    tmsg_free(m);
    return o;
}

static char *dump(const json_t *o)
{
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    assert_non_null(s);
    return s;
}

/* Whole, 7-byte chunks, byte by byte: the same JSON. Returns the first. */
static json_t *run3n(const tcfg *cfg, const char *msg, size_t len)
{
    json_t *a = run_chunked(cfg, msg, len, len ? len : 1);
    char *da = dump(a);
    size_t chunks[] = {7, 1};
    for (size_t i = 0; i < 2; i++) {
        json_t *b = run_chunked(cfg, msg, len, chunks[i]);
        char *db = dump(b);
        if (strcmp(da, db) != 0)
            fail_msg("chunk %zu differs:\n%s\n%s", chunks[i], da, db);
        free(db);
        json_decref(b);
    }
    free(da);
    return a;
}

static json_t *run3(const tcfg *cfg, const char *msg)
{
    return run3n(cfg, msg, strlen(msg));
}

static void hex_digest(const EVP_MD *md, const void *p, size_t n, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    assert_int_equal(EVP_Digest(p, n, d, &dl, md, NULL), 1);
    for (unsigned i = 0; i < dl; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static const char *sget(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        fail_msg("%s is not a string", k);
    return json_string_value(v);
}

static void assert_null_field(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_null(v))
        fail_msg("%s is not null", k);
}

static void assert_bytes(const json_t *v, const void *p, size_t n)
{
    assert_true(json_is_string(v));
    assert_int_equal(json_string_length(v), n);
    assert_memory_equal(json_string_value(v), p, n);
}

/* mime_path, content_type, filename (NULL: null), size and hashes of bytes. */
static void check_att(const json_t *a, const char *path, const char *ctype, const char *fname,
                      const void *bytes, size_t len)
{
    char h[129];
    assert_non_null(a);
    assert_string_equal(sget(a, "mime_path"), path);
    assert_string_equal(sget(a, "content_type"), ctype);
    if (fname)
        assert_string_equal(sget(a, "filename"), fname);
    else
        assert_null_field(a, "filename");
    assert_int_equal(json_integer_value(json_object_get(a, "size")), len);
    hex_digest(EVP_md5(), bytes, len, h);
    assert_string_equal(sget(a, "md5"), h);
    hex_digest(EVP_sha1(), bytes, len, h);
    assert_string_equal(sget(a, "sha1"), h);
    hex_digest(EVP_sha256(), bytes, len, h);
    assert_string_equal(sget(a, "sha256"), h);
    assert_int_equal(json_integer_value(json_object_get(a, "missing_bytes")), 0);
}

/* "stored" is exactly files/<aa>/<sha256> and the file holds the bytes. */
static void check_stored(const json_t *a, const void *bytes, size_t len)
{
    char want[128], sha[65], path[256];
    hex_digest(EVP_sha256(), bytes, len, sha);
    snprintf(want, sizeof want, "files/%.2s/%s", sha, sha);
    assert_string_equal(sget(a, "stored"), want);
    assert_false(json_is_true(json_object_get(a, "truncated")));
    snprintf(path, sizeof path, "%s/%s", g_root, want);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(len + 1);
    size_t got = fread(buf, 1, len + 1, f);
    fclose(f);
    assert_int_equal(got, len);
    assert_memory_equal(buf, bytes, len);
    free(buf);
}

static size_t count_anomalies(const json_t *o, const char *name)
{
    size_t i, n = 0;
    json_t *a;
    json_array_foreach(json_object_get(o, "anomalies"), i, a)
    {
        if (strcmp(sget(a, "name"), name) == 0)
            n++;
    }
    return n;
}

static const json_t *find_anomaly(const json_t *o, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(o, "anomalies"), i, a)
    {
        if (strcmp(sget(a, "name"), name) == 0)
            return a;
    }
    return NULL;
}

static void assert_str_list(const json_t *arr, const char *const *want, size_t n)
{
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_array_get(arr, i)), want[i]);
}

static const json_t *att(const json_t *o, size_t i)
{
    return json_array_get(json_object_get(o, "attachments"), i);
}

/* ------------------------------------------------------------ messages */

#define INNER                                                                                      \
    "From: inner@example.com\r\n"                                                                  \
    "Subject: inner subject\r\n"                                                                   \
    "Received: from evil ([10.9.9.9]) by x; Mon, 1 Jan 2024 09:00:00 +0000\r\n"                    \
    "Content-Type: multipart/mixed; boundary=\"inner\"\r\n"                                        \
    "\r\n"                                                                                         \
    "--inner\r\n"                                                                                  \
    "Content-Type: text/plain\r\n"                                                                 \
    "\r\n"                                                                                         \
    "inner body\r\n"                                                                               \
    "--inner\r\n"                                                                                  \
    "Content-Type: application/pdf; name=\"inner.pdf\"\r\n"                                        \
    "Content-Transfer-Encoding: base64\r\n"                                                        \
    "\r\n"                                                                                         \
    "JVBERi0xLjQK\r\n"                                                                             \
    "--inner--"

#define RCV1                                                                                       \
    "from mx.example.net (mx.example.net [198.51.100.7]) by mail.example.org (Postfix) with "      \
    "ESMTP id 1A; Mon, 1 Jan 2024 10:00:02 +0000"
#define RCV2                                                                                       \
    "from client.example.com (client.example.com [203.0.113.5]) by mx.example.net "                \
    "([198.51.100.7])"                                                                             \
    " with ESMTPSA id 2B; Mon, 1 Jan 2024 10:00:01 +0000"
#define RCV3 "from laptop ([192.168.1.10]) by client.example.com; Mon, 1 Jan 2024 10:00:00 +0000"
#define RCV4 "from laptop ([192.168.1.10]) by localhost; Mon, 1 Jan 2024 09:59:59 +0000"

static const char *const MSG1 =
    "Received: " RCV1 "\r\n"
    "Received: " RCV2 "\r\n"
    "Received: " RCV3 "\r\n"
    "Received: " RCV4 "\r\n"
    "From: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>\r\n"
    "To: \"Alice A.\" <alice@example.org>,\r\n bob@example.org\r\n"
    "To: carol@example.org\r\n"
    "Cc: =?iso-8859-1?q?Ren=E9?= <rene@example.fr>\r\n"
    "Reply-To: replies@example.com\r\n"
    "Subject: =?UTF-8?B?R3LDvMOfZQ==?= world\r\n"
    "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    "Message-ID: <abc@example.com>\r\n"
    "In-Reply-To: <prev@example.com>\r\n"
    "X-Mailer: TestMailer 1.0\r\n"
    "X-Originating-IP: [203.0.113.5]\r\n"
    "X-Custom: one\r\n"
    "X-Custom: two\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "This is a multi-part message in MIME format.\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
    "\r\n"
    "--alt\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Hello J=C3=B6rg,\r\n"
    "this is the body.\r\n"
    "--alt\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>Hello</p>\r\n"
    "--alt--\r\n"
    "--outer\r\n"
    "Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
    "Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAECAwQF/w==\r\n"
    "--outer\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "Content-Disposition: attachment; filename=\"notes.txt\"\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "line one=3D1\r\n"
    "soft=\r\n"
    " break\r\n"
    "--outer\r\n"
    "Content-Type: image/png\r\n"
    "Content-Disposition: inline\r\n"
    "Content-ID: <img1@example.com>\r\n"
    "Content-Description: =?utf-8?q?Logo_=C3=A9t=C3=A9?=\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "iVBORw0KGgo=\r\n"
    "--outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n" INNER "\r\n"
    "--outer\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename*0*=utf-8''%E2%82%AC; filename*1*=uro%20;\r\n"
    " filename*2=\"report.pdf\"\r\n"
    "\r\n"
    "xyz\r\n"
    "--outer\r\n"
    "Content-Type: application/msword; name=\"=?utf-8?q?r=C3=A9sum=C3=A9.doc?=\"\r\n"
    "Content-Disposition: attachment; filename=\"=?utf-8?b?csOpc3Vtw6kuZG9j?=\"\r\n"
    "\r\n"
    "doc\r\n"
    "--outer--\r\n"
    "epilogue\r\n";

static tcfg store_cfg(void)
{
    tcfg cfg;
    tcfg_default(&cfg);
    cfg.files = g_store;
    return cfg;
}

static void test_defaults(void **state)
{
    (void)state;
    tcfg cfg;
    st_mime_limits lim;
    tcfg_default(&cfg);
    st_mime_limits_default(&lim);
    assert_null(cfg.files);
    assert_int_equal(cfg.attachment_store_max, 64ull << 20); /* the test's kind; core's the same */
    assert_int_equal(cfg.x.body_max, 1u << 20);
    assert_int_equal(cfg.x.header_value_max, 16u << 10);
    assert_int_equal(cfg.x.max_attachments, 1000);
    assert_int_equal(cfg.x.omit_body, 0);
    assert_memory_equal(&cfg.x.mime, &lim, sizeof lim);
}

static void test_headers(void **state)
{
    (void)state;
    tcfg cfg = store_cfg();
    json_t *o = run3(&cfg, MSG1);

    assert_string_equal(sget(o, "from"), "J\xc3\xb6rg <jorg@example.com>");
    static const char *const to[] = {"Alice A. <alice@example.org>", "bob@example.org",
                                     "carol@example.org"};
    assert_str_list(json_object_get(o, "to"), to, 3);
    static const char *const cc[] = {"Ren\xc3\xa9 <rene@example.fr>"};
    assert_str_list(json_object_get(o, "cc"), cc, 1);
    assert_string_equal(sget(o, "reply_to"), "replies@example.com");
    assert_string_equal(sget(o, "subject"), "Gr\xc3\xbc\xc3\x9f"
                                            "e world");
    assert_string_equal(sget(o, "date"), "Mon, 1 Jan 2024 10:00:00 +0000");
    assert_string_equal(sget(o, "message_id"), "<abc@example.com>");
    assert_string_equal(sget(o, "in_reply_to"), "<prev@example.com>");
    assert_string_equal(sget(o, "user_agent"), "TestMailer 1.0");
    assert_string_equal(sget(o, "x_originating_ip"), "203.0.113.5");
    static const char *const rcv[] = {RCV1, RCV2, RCV3, RCV4};
    assert_str_list(json_object_get(o, "received"), rcv, 4);
    /* RCV2 names two IPs: the second; RCV4 repeats RCV3's */
    static const char *const path_dedup[] = {"198.51.100.7", "192.168.1.10"};
    assert_str_list(json_object_get(o, "path"), path_dedup, 2);

    const json_t *h = json_object_get(o, "headers");
    assert_true(json_is_object(h));
    assert_string_equal(sget(h, "x-custom"), "one\ntwo");
    assert_string_equal(sget(h, "received"), RCV1 "\n" RCV2 "\n" RCV3 "\n" RCV4);
    assert_string_equal(sget(h, "to"), "\"Alice A.\" <alice@example.org>, bob@example.org\n"
                                       "carol@example.org");
    assert_string_equal(sget(h, "subject"), "Gr\xc3\xbc\xc3\x9f"
                                            "e world");
    assert_string_equal(sget(h, "from"), "J\xc3\xb6rg <jorg@example.com>");
    assert_string_equal(sget(h, "content-type"), "multipart/mixed; boundary=\"outer\"");
    assert_int_equal(json_object_size(h), 14);
    assert_int_equal(json_array_size(json_object_get(o, "anomalies")), 0);
    json_decref(o);
}

static void test_bodies_and_attachments(void **state)
{
    (void)state;
    tcfg cfg = store_cfg();
    json_t *o = run3(&cfg, MSG1);

    assert_string_equal(sget(o, "body"), "Hello J\xc3\xb6rg,\r\nthis is the body.");
    assert_string_equal(sget(o, "body_html"), "<p>Hello</p>");
    assert_false(json_is_true(json_object_get(o, "body_truncated")));
    assert_false(json_is_true(json_object_get(o, "body_html_truncated")));
    assert_true(json_is_boolean(json_object_get(o, "body_truncated")));

    const json_t *list = json_object_get(o, "attachments");
    assert_int_equal(json_array_size(list), 8);

    static const uint8_t bin[] = {0, 1, 2, 3, 4, 5, 0xff};
    check_att(att(o, 0), "2", "application/octet-stream", "data.bin", bin, sizeof bin);
    check_stored(att(o, 0), bin, sizeof bin);
    assert_string_equal(sget(att(o, 0), "disposition"), "attachment");
    assert_null_field(att(o, 0), "charset");
    assert_null_field(att(o, 0), "content_id");
    assert_null_field(att(o, 0), "content_description");

    static const char notes[] = "line one=1\r\nsoft break";
    check_att(att(o, 1), "3", "text/plain", "notes.txt", notes, sizeof notes - 1);
    check_stored(att(o, 1), notes, sizeof notes - 1);
    assert_string_equal(sget(att(o, 1), "charset"), "us-ascii");

    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    check_att(att(o, 2), "4", "image/png", NULL, png, sizeof png);
    check_stored(att(o, 2), png, sizeof png);
    assert_string_equal(sget(att(o, 2), "disposition"), "inline");
    assert_string_equal(sget(att(o, 2), "content_id"), "<img1@example.com>");
    assert_string_equal(sget(att(o, 2), "content_description"), "Logo \xc3\xa9t\xc3\xa9");

    /* the forwarded message: its bytes, then its own parts */
    static const char inner[] = INNER;
    check_att(att(o, 3), "5", "message/rfc822", NULL, inner, sizeof inner - 1);
    check_stored(att(o, 3), inner, sizeof inner - 1);
    check_att(att(o, 4), "5.1", "text/plain", NULL, "inner body", 10);
    check_stored(att(o, 4), "inner body", 10);
    check_att(att(o, 5), "5.2", "application/pdf", "inner.pdf", "%PDF-1.4\n", 9);
    check_stored(att(o, 5), "%PDF-1.4\n", 9);

    check_att(att(o, 6), "6", "application/octet-stream", "\xe2\x82\xacuro report.pdf", "xyz", 3);
    check_stored(att(o, 6), "xyz", 3);
    check_att(att(o, 7), "7", "application/msword", "r\xc3\xa9sum\xc3\xa9.doc", "doc", 3);
    check_stored(att(o, 7), "doc", 3);

    /* inner headers never overwrite the top-level fields */
    assert_string_equal(sget(o, "subject"), "Gr\xc3\xbc\xc3\x9f"
                                            "e world");
    json_decref(o);
}

static void test_no_store_hash_only(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    json_t *o = run3(&cfg, MSG1);
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 8);
    static const uint8_t bin[] = {0, 1, 2, 3, 4, 5, 0xff};
    check_att(att(o, 0), "2", "application/octet-stream", "data.bin", bin, sizeof bin);
    assert_null_field(att(o, 0), "stored");
    assert_false(json_is_true(json_object_get(att(o, 0), "truncated")));
    json_decref(o);
}

static void test_omit_body(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    cfg.x.omit_body = 1;
    json_t *o = run3(&cfg, MSG1);
    assert_null_field(o, "body");
    assert_null_field(o, "body_html");
    assert_false(json_is_true(json_object_get(o, "body_truncated")));
    /* the text parts are still not attachments */
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 8);
    assert_string_equal(sget(att(o, 0), "mime_path"), "2");
    json_decref(o);
}

static void test_latin1_body(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    static const char msg[] = "Subject: caf\xe9\r\n"
                              "Content-Type: text/plain; charset=iso-8859-1\r\n"
                              "Content-Transfer-Encoding: 8bit\r\n"
                              "\r\n"
                              "caf\xe9 co\xfbte 5\x80\r\n";
    json_t *o = run3(&cfg, msg);
    /* iso-8859-1 is read as windows-1252: 0x80 is the euro sign */
    assert_string_equal(sget(o, "body"), "caf\xc3\xa9 co\xc3\xbbte 5\xe2\x82\xac\r\n");
    assert_null_field(o, "body_html");
    /* raw 8-bit in a header: windows-1252 fallback */
    assert_string_equal(sget(o, "subject"), "caf\xc3\xa9");
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 0);
    json_decref(o);
}

/* A multibyte character across the converter's 4096-byte block. */
static void test_utf8_split_across_blocks(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    static const char head[] = "Content-Type: text/plain; charset=utf-8\r\n\r\n";
    size_t nchar = 3000, hl = strlen(head);
    char *msg = malloc(hl + 1 + 2 * nchar + 1);
    char *want = malloc(1 + 2 * nchar + 1);
    memcpy(msg, head, hl);
    want[0] = 'a';
    for (size_t i = 0; i < nchar; i++)
        memcpy(want + 1 + 2 * i, "\xc3\xa9", 2);
    want[1 + 2 * nchar] = 0;
    memcpy(msg + hl, want, 2 * nchar + 2);
    json_t *o = run3(&cfg, msg);
    assert_bytes(json_object_get(o, "body"), want, 1 + 2 * nchar);
    assert_false(json_is_true(json_object_get(o, "body_truncated")));
    json_decref(o);
    free(msg);
    free(want);
}

/* A stateful charset: blocks are converted up to a line end, so the shift
 * state of ISO-2022-JP is never cut (each line returns to ASCII). */
static void test_iso2022jp_body(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    static const char head[] = "Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n";
    static const char line[] = "\x1b$B$3$s$K$A$O\x1b(B\r\n";
    static const char utf8[] = "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\r\n";
    size_t lines = 300, hl = strlen(head), ll = strlen(line), ul = strlen(utf8);
    char *msg = malloc(hl + lines * ll + 1), *want = malloc(lines * ul + 1);
    memcpy(msg, head, hl);
    for (size_t i = 0; i < lines; i++) {
        memcpy(msg + hl + i * ll, line, ll);
        memcpy(want + i * ul, utf8, ul);
    }
    msg[hl + lines * ll] = 0;
    json_t *o = run3(&cfg, msg);
    assert_bytes(json_object_get(o, "body"), want, lines * ul);
    json_decref(o);
    free(msg);
    free(want);
}

static void test_body_max(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    cfg.x.body_max = 100;
    char msg[1024];
    char x[301];
    memset(x, 'x', 300);
    x[300] = 0;
    snprintf(msg, sizeof msg,
             "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
             "--b\r\nContent-Type: text/plain\r\n\r\n%s\r\n"
             "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<b>hi</b>\r\n--b--\r\n",
             x);
    json_t *o = run3(&cfg, msg);
    x[100] = 0;
    assert_string_equal(sget(o, "body"), x);
    assert_true(json_is_true(json_object_get(o, "body_truncated")));
    assert_string_equal(sget(o, "body_html"), "<b>hi</b>");
    assert_false(json_is_true(json_object_get(o, "body_html_truncated")));
    json_decref(o);

    /* the cut never splits a character: 5 bytes of room hold two "é" */
    cfg.x.body_max = 5;
    o = run3(&cfg, "Content-Type: text/plain; charset=utf-8\r\n\r\n\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_string_equal(sget(o, "body"), "\xc3\xa9\xc3\xa9");
    assert_true(json_is_true(json_object_get(o, "body_truncated")));
    json_decref(o);

    /* exactly body_max bytes: not truncated */
    cfg.x.body_max = 6;
    o = run3(&cfg, "Content-Type: text/plain; charset=utf-8\r\n\r\n\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_string_equal(sget(o, "body"), "\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_false(json_is_true(json_object_get(o, "body_truncated")));
    json_decref(o);
}

/* A big body over the default cap, fed in pieces bigger than the block. */
static void test_big_body(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    cfg.x.body_max = 10000;
    static const char head[] = "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n";
    size_t n = 20000, hl = strlen(head);
    char *msg = malloc(hl + n + 1);
    memcpy(msg, head, hl);
    for (size_t i = 0; i < n; i++)
        msg[hl + i] = (i % 50 == 49) ? '\n' : (char)0xe9;
    msg[hl + n] = 0;
    json_t *o = run3(&cfg, msg);
    const json_t *b = json_object_get(o, "body");
    /* every 0xe9 is 2 UTF-8 bytes: 10000 bytes hold 49*2+1 = 99 per line, 101 lines ... */
    size_t want = 0, i = 0;
    while (1) {
        size_t w = (i % 50 == 49) ? 1 : 2;
        if (want + w > 10000)
            break;
        want += w;
        i++;
    }
    assert_int_equal(json_string_length(b), want);
    assert_true(json_is_true(json_object_get(o, "body_truncated")));
    json_decref(o);
    free(msg);
}

static void test_attachment_store_max(void **state)
{
    (void)state;
    tcfg cfg = store_cfg();
    cfg.attachment_store_max = 4;
    static const char msg[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                              "--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
                              "--b\r\nContent-Type: application/zip\r\n"
                              "Content-Transfer-Encoding: base64\r\n\r\n"
                              "AAECAwQF/w==\r\n"
                              "--b\r\nContent-Type: application/zip\r\n\r\nabcd\r\n"
                              "--b--\r\n";
    json_t *o = run3(&cfg, msg);
    static const uint8_t bin[] = {0, 1, 2, 3, 4, 5, 0xff};
    check_att(att(o, 0), "2", "application/zip", NULL, bin, sizeof bin);
    assert_null_field(att(o, 0), "stored");
    assert_true(json_is_true(json_object_get(att(o, 0), "truncated")));
    /* exactly at the cap: stored */
    check_att(att(o, 1), "3", "application/zip", NULL, "abcd", 4);
    check_stored(att(o, 1), "abcd", 4);
    json_decref(o);
}

static void test_single_part_attachment(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    static const char msg[] = "Subject: scan\r\n"
                              "Content-Type: application/pdf\r\n"
                              "Content-Transfer-Encoding: base64\r\n\r\n"
                              "JVBERi0xLjQK\r\n";
    json_t *o = run3(&cfg, msg);
    assert_null_field(o, "body");
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 1);
    check_att(att(o, 0), "1", "application/pdf", NULL, "%PDF-1.4\n", 9);
    json_decref(o);
}

/* text parts beyond the first, and text parts with a name, are attachments */
static void test_second_text_is_attachment(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    static const char msg[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                              "--b\r\nContent-Type: text/plain; name=\"first.txt\"\r\n\r\none\r\n"
                              "--b\r\nContent-Type: text/plain\r\n\r\ntwo\r\n"
                              "--b\r\nContent-Type: text/plain\r\n\r\nthree\r\n"
                              "--b\r\nContent-Type: text/html\r\n"
                              "Content-Disposition: attachment\r\n\r\n<i>x</i>\r\n"
                              "--b--\r\n";
    json_t *o = run3(&cfg, msg);
    assert_string_equal(sget(o, "body"), "two");
    assert_null_field(o, "body_html");
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 3);
    check_att(att(o, 0), "1", "text/plain", "first.txt", "one", 3);
    check_att(att(o, 1), "3", "text/plain", NULL, "three", 5);
    check_att(att(o, 2), "4", "text/html", NULL, "<i>x</i>", 8);
    json_decref(o);
}

static void test_hostile_filenames(void **state)
{
    (void)state;
    tcfg cfg = store_cfg();
    static const char msg[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                              "--b\r\nContent-Type: application/octet-stream\r\n"
                              "Content-Disposition: attachment; filename=\"../../etc/passwd\"\r\n"
                              "\r\nroot:x:0:0\r\n"
                              "--b\r\nContent-Type: application/octet-stream\r\n"
                              "Content-Disposition: attachment; filename*=utf-8''evil%00.exe\r\n"
                              "\r\nMZ\r\n"
                              "--b--\r\n";
    json_t *o = run3(&cfg, msg);
    check_att(att(o, 0), "1", "application/octet-stream", "../../etc/passwd", "root:x:0:0", 10);
    check_stored(att(o, 0), "root:x:0:0", 10);
    const json_t *fn = json_object_get(att(o, 1), "filename");
    assert_bytes(fn, "evil\0.exe", 9);
    check_stored(att(o, 1), "MZ", 2);
    assert_int_equal(count_anomalies(o, "suspicious_filename"), 2);
    const json_t *a = find_anomaly(o, "suspicious_filename");
    assert_string_equal(sget(a, "mime_path"), "1");
    assert_non_null(strstr(sget(a, "detail"), "dotdot"));
    assert_non_null(strstr(sget(a, "detail"), "path_separator"));
    a = json_array_get(json_object_get(o, "anomalies"), 1);
    assert_string_equal(sget(a, "mime_path"), "2");
    assert_non_null(strstr(sget(a, "detail"), "nul"));
    json_decref(o);

    /* nothing escaped the store: only files/<aa>/<64 hex> and .tmp */
    char p[256];
    snprintf(p, sizeof p, "%s/etc", g_root);
    assert_int_not_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/files/etc", g_root);
    assert_int_not_equal(access(p, F_OK), 0);
}

/* RFC 2231 name with a latin1 charset; RFC 2047 word inside a plain quoted name */
static void test_filename_charsets(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    static const char msg[] =
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: application/octet-stream; name*=iso-8859-1'fr'caf%E9.txt\r\n"
        "\r\n1\r\n"
        "--b\r\nContent-Type: application/octet-stream; name=\"x.bin\"\r\n"
        "Content-Disposition: attachment;\r\n filename=\"=?iso-8859-1?q?=E9t=E9?= 2024.xls\"\r\n"
        "\r\n2\r\n"
        "--b--\r\n";
    json_t *o = run3(&cfg, msg);
    check_att(att(o, 0), "1", "application/octet-stream", "caf\xc3\xa9.txt", "1", 1);
    check_att(att(o, 1), "2", "application/octet-stream", "\xc3\xa9t\xc3\xa9 2024.xls", "2", 1);
    json_decref(o);
}

static void test_headers_capped(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    char *msg = malloc(250 * 32 + 64);
    size_t n = 0;
    for (int i = 0; i < 250; i++)
        n += (size_t)sprintf(msg + n, "X-H%03d: v%d\r\n", i, i);
    n += (size_t)sprintf(msg + n, "\r\nbody\r\n");
    json_t *o = run3n(&cfg, msg, n);
    const json_t *h = json_object_get(o, "headers");
    assert_int_equal(json_object_size(h), 200);
    assert_string_equal(sget(h, "x-h199"), "v199");
    assert_null(json_object_get(h, "x-h200"));
    const json_t *a = find_anomaly(o, "headers_capped");
    assert_non_null(a);
    assert_string_equal(sget(a, "detail"), "50");
    assert_string_equal(sget(o, "body"), "body\r\n");
    json_decref(o);
    free(msg);
}

static void test_header_value_max(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    cfg.x.header_value_max = 8;
    json_t *o = run3(&cfg, "Subject: 0123456789abcdef\r\n\r\nx");
    assert_string_equal(sget(o, "subject"), "01234567");
    assert_string_equal(sget(json_object_get(o, "headers"), "subject"), "01234567");
    assert_int_equal(count_anomalies(o, "header_value_capped"), 1);
    json_decref(o);
}

static void test_too_many_addresses(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    cfg.x.mime.max_header_bytes = 1 << 20;
    size_t cap = 1200 * 24 + 64, n = 0;
    char *msg = malloc(cap);
    n += (size_t)sprintf(msg + n, "To: ");
    for (int i = 0; i < 1200; i++)
        n += (size_t)sprintf(msg + n, "%su%d@example.org", i ? ", " : "", i);
    n += (size_t)sprintf(msg + n, "\r\nCc: undisclosed-recipients:;\r\n\r\nx");
    json_t *o = run3n(&cfg, msg, n);
    const json_t *to = json_object_get(o, "to");
    assert_int_equal(json_array_size(to), 1000);
    assert_string_equal(json_string_value(json_array_get(to, 999)), "u999@example.org");
    assert_int_equal(count_anomalies(o, "too_many_addresses"), 1);
    assert_int_equal(json_array_size(json_object_get(o, "cc")), 0);
    json_decref(o);
    free(msg);
}

static void test_user_agent_order(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    json_t *o = run3(&cfg, "X-User-Agent: c\r\nX-Mailer: b\r\nUser-Agent: a\r\n\r\nx");
    assert_string_equal(sget(o, "user_agent"), "a");
    json_decref(o);
    o = run3(&cfg, "X-User-Agent: c\r\nX-Mailer: b\r\n\r\nx");
    assert_string_equal(sget(o, "user_agent"), "b");
    json_decref(o);
    o = run3(&cfg, "X-User-Agent: c\r\n\r\nx");
    assert_string_equal(sget(o, "user_agent"), "c");
    assert_null_field(o, "from");
    assert_null_field(o, "subject");
    assert_null_field(o, "x_originating_ip");
    assert_int_equal(json_array_size(json_object_get(o, "to")), 0);
    assert_int_equal(json_array_size(json_object_get(o, "received")), 0);
    json_decref(o);
}

static void test_gap(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    static const char a[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                            "--b\r\nContent-Type: application/octet-stream\r\n\r\nAAAA";
    static const char b[] = "BBBB\r\n--b--\r\n";
    tmsg *m = tmsg_new(&cfg);
    tmsg_feed(m, (const uint8_t *)a, strlen(a));
    tmsg_gap(m, 10);
    tmsg_feed(m, (const uint8_t *)b, strlen(b));
    json_t *o = json_object();
    tmsg_finish(m, o);
    tmsg_free(m);
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 1);
    assert_int_equal(json_integer_value(json_object_get(att(o, 0), "missing_bytes")), 10);
    json_decref(o);
}

static void test_free_without_finish(void **state)
{
    (void)state;
    tcfg cfg = store_cfg();
    tmsg *m = tmsg_new(&cfg);
    size_t half = strlen(MSG1) / 2 + 100;
    tmsg_feed(m, (const uint8_t *)MSG1, half);
    tmsg_free(m);
    tmsg_free(NULL);
}

/* finish twice gives the same fields; feeds after finish are ignored */
static void test_finish_twice(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    tmsg *m = tmsg_new(&cfg);
    tmsg_feed(m, (const uint8_t *)MSG1, strlen(MSG1));
    json_t *a = json_object(), *b = json_object();
    tmsg_finish(m, a);
    tmsg_feed(m, (const uint8_t *)"junk", 4);
    tmsg_finish(m, b);
    tmsg_free(m);
    char *da = dump(a), *db = dump(b);
    assert_string_equal(da, db);
    free(da);
    free(db);
    json_decref(a);
    json_decref(b);
}

/* Nested forwarded messages: every open part holds its file object, so
 * every level is stored (no cap quietly turns storing off). */
static void test_deep_forward(void **state)
{
    (void)state;
    tcfg cfg = store_cfg();
    char *msg = malloc(4096), *p = msg;
    for (int i = 0; i < 10; i++)
        p += sprintf(p, "Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n", i);
    p += sprintf(p, "Subject: leaf\r\nContent-Type: application/octet-stream\r\n\r\npayload");
    json_t *o = run3n(&cfg, msg, (size_t)(p - msg));
    assert_string_equal(sget(o, "subject"), "level 0");
    const json_t *list = json_object_get(o, "attachments");
    assert_int_equal(json_array_size(list), 11);
    for (int i = 0; i < 11; i++) {
        const json_t *e = json_array_get(list, (size_t)i);
        const char *body = strstr(msg, "\r\n\r\n");
        for (int k = 0; k < i; k++)
            body = strstr(body + 4, "\r\n\r\n");
        body += 4;
        size_t len = strlen(body);
        char path[64] = "1";
        for (int k = 0; k < i; k++)
            strcat(path, ".1");
        check_att(e, path, i < 10 ? "message/rfc822" : "application/octet-stream", NULL, body, len);
        check_stored(e, body, len);
    }
    assert_int_equal(count_anomalies(o, "too_many_open_attachments"), 0);
    json_decref(o);
    free(msg);
}

/* The body is the top-level message's: a forwarded message's text stays
 * one of its parts (Python's email agrees: get_body() is None for a
 * message whose only part is a message/rfc822). */
static void test_body_not_from_forwarded(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
#define FWD_TEXT "Subject: inner\r\nContent-Type: text/plain\r\n\r\ninner body"
#define FWD_HTML "Subject: inner\r\nContent-Type: text/html\r\n\r\n<p>inner</p>"
    static const char msg[] = "Subject: fwd\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                              "--b\r\nContent-Type: message/rfc822\r\n\r\n" FWD_TEXT "\r\n"
                              "--b--\r\n";
    json_t *o = run3(&cfg, msg);
    assert_null_field(o, "body");
    assert_null_field(o, "body_html");
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 2);
    check_att(att(o, 0), "1", "message/rfc822", NULL, FWD_TEXT, sizeof FWD_TEXT - 1);
    check_att(att(o, 1), "1.1", "text/plain", NULL, "inner body", 10);
    assert_string_equal(sget(o, "subject"), "fwd");
    json_decref(o);
    static const char top[] = "Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\n" FWD_HTML;
    o = run3(&cfg, top);
    assert_null_field(o, "body");
    assert_null_field(o, "body_html");
    check_att(att(o, 1), "1.1", "text/html", NULL, "<p>inner</p>", 12);
    json_decref(o);
#undef FWD_TEXT
#undef FWD_HTML
}

/* A part sent with Content-Transfer-Encoding: x-uuencode is decoded once,
 * by the MIME layer; its bytes are the file, and a uuencoded block inside
 * that file is content, not another file of the message. Python's email
 * decodes it the same way (get_payload(decode=True) gives INNER_UU). The
 * encoded text is binascii.b2a_uu(INNER_UU, backtick=True). */
static void test_uuencoded_part_not_rescanned(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
#define INNER_UU "begin 644 inner.txt\n#0V%T\n`\nend\n"
    static const char msg[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                              "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
                              "--b\r\nContent-Type: text/plain; name=\"outer.txt\"\r\n"
                              "Content-Transfer-Encoding: x-uuencode\r\n\r\n"
                              "begin 644 outer.txt\r\n"
                              "@8F5G:6X@-C0T(&EN;F5R+G1X=`HC,%8E5`I@\"F5N9`H`\r\n"
                              "`\r\nend\r\n"
                              "--b--\r\n";
    json_t *o = run3(&cfg, msg);
    assert_string_equal(sget(o, "body"), "hello");
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 1);
    check_att(att(o, 0), "2", "text/plain", "outer.txt", INNER_UU, sizeof INNER_UU - 1);
    json_decref(o);
#undef INNER_UU
}

/* ------------------------------------------------------------- hostile */

static void test_deep_nesting(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    size_t cap = 10000 * 64, n = 0;
    char *msg = malloc(cap);
    for (int i = 0; i < 10000; i++)
        n += (size_t)sprintf(msg + n,
                             "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
    n += (size_t)sprintf(msg + n, "\r\nend\r\n");
    json_t *o = run3n(&cfg, msg, n);
    /* the part at the depth limit is an opaque leaf: one attachment */
    const json_t *list = json_object_get(o, "attachments");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(sget(att(o, 0), "content_type"), "multipart/mixed");
    assert_true(json_integer_value(json_object_get(att(o, 0), "size")) > 0);
    assert_true(count_anomalies(o, "depth_exceeded") >= 1);
    assert_true(json_array_size(json_object_get(o, "anomalies")) <= 101 + 3);
    json_decref(o);
    free(msg);
}

static void test_many_parts(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    size_t nparts = 100000, n = 0;
    char *msg = malloc(nparts * 16 + 128);
    n += (size_t)sprintf(msg + n, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (size_t i = 0; i < nparts; i++)
        n += (size_t)sprintf(msg + n, "--b\r\n\r\nx\r\n");
    n += (size_t)sprintf(msg + n, "--b--\r\n");
    json_t *o = run3n(&cfg, msg, n);
    assert_string_equal(sget(o, "body"), "x");
    const json_t *list = json_object_get(o, "attachments");
    assert_int_equal(json_array_size(list), 1000);
    check_att(att(o, 0), "2", "text/plain", NULL, "x", 1);
    check_att(att(o, 999), "1001", "text/plain", NULL, "x", 1);
    assert_true(count_anomalies(o, "too_many_parts") >= 1);
    const json_t *a = find_anomaly(o, "too_many_attachments");
    assert_non_null(a);
    /* 10000 entities: the root, the body, 1000 listed */
    assert_string_equal(sget(a, "detail"), "8998");
    assert_true(json_array_size(json_object_get(o, "anomalies")) <= 100 + 3);
    json_decref(o);
    free(msg);
}

static void test_many_anomalies(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    size_t n = 0;
    char *msg = malloc(300 * 16 + 64);
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(msg + n, " orphan%d\r\n", i);
    n += (size_t)sprintf(msg + n, "\r\nx");
    json_t *o = run3n(&cfg, msg, n);
    const json_t *an = json_object_get(o, "anomalies");
    assert_int_equal(json_array_size(an), 101);
    const json_t *last = json_array_get(an, 100);
    assert_string_equal(sget(last, "name"), "too_many_anomalies");
    json_decref(o);
    free(msg);
}

/* ------------------------------------------------------------- memory */

static const char typical_head[] =
    "Received: from mail.example.org (mail.example.org [192.0.2.7]) by mx.example.com\r\n"
    " with ESMTPS id 4Xyz for <bob@example.com>; Tue, 2 Jan 2024 10:00:00 +0000\r\n"
    "From: Alice Example <alice@example.org>\r\n"
    "To: Bob Example <bob@example.com>\r\n"
    "Subject: Quarterly report\r\n"
    "Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
    "Message-ID: <20240102100000.12345@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"----=_Part_12345_67890.1704189600000\"\r\n"
    "\r\n"
    "This is a multi-part message in MIME format.\r\n"
    "\r\n"
    "------=_Part_12345_67890.1704189600000\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 7bit\r\n"
    "\r\n"
    "Hello Bob,\r\nplease find the report attached.\r\n"
    "\r\n"
    "------=_Part_12345_67890.1704189600000\r\n"
    "Content-Type: application/pdf; name=\"report-q4.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=\"report-q4.pdf\"\r\n"
    "\r\n";
static const char typical_end[] = "------=_Part_12345_67890.1704189600000--\r\n";

/* typical_head, 100 KB of base64 (1750 lines of 76), typical_end; *raw gets
 * the 99,750 decoded bytes. */
static char *typical_msg(size_t *len, uint8_t **raw)
{
    size_t h = strlen(typical_head), e = strlen(typical_end), n = 1750 * 57;
    uint8_t *r = malloc(n);
    for (size_t i = 0; i < n; i++)
        r[i] = (uint8_t)(i * 31 + i / 257);
    char *m = malloc(h + 1750 * 78 + e + 1);
    memcpy(m, typical_head, h);
    for (size_t l = 0; l < 1750; l++) {
        assert_int_equal(EVP_EncodeBlock((unsigned char *)m + h + l * 78, r + l * 57, 57), 76);
        memcpy(m + h + l * 78 + 76, "\r\n", 2);
    }
    memcpy(m + h + 1750 * 78, typical_end, e + 1);
    *len = h + 1750 * 78 + e;
    *raw = r;
    return m;
}

static size_t feed_peak(tmsg *m, const char *d, size_t n, size_t chunk)
{
    size_t peak = 0;
    for (size_t o = 0; o < n; o += chunk) {
        tmsg_feed(m, (const uint8_t *)d + o, n - o < chunk ? n - o : chunk);
        if (tmsg_memory(m) > peak)
            peak = tmsg_memory(m);
    }
    return peak;
}

/* st_extract_memory() (extract.h): small when new and after the headers,
 * bounded while the attachment streams; the record is the same whatever
 * the chunking, the attachment's hash that of its bytes. */
static void test_memory(void **state)
{
    (void)state;
    tcfg cfg;
    tcfg_default(&cfg);
    cfg.files = g_store;
    size_t len, h = strlen(typical_head), chunks[] = {1, 1460, 65536};
    uint8_t *raw;
    char *msg = typical_msg(&len, &raw);
    for (size_t i = 0; i < 3; i++) {
        tmsg *m = tmsg_new(&cfg);
        assert_non_null(m);
        assert_true(tmsg_memory(m) < 4096);
        assert_true(feed_peak(m, msg, h, chunks[i]) < 6144);
        assert_true(feed_peak(m, msg + h, len - h, chunks[i] == 1 ? 7 : chunks[i]) < 16384);
        json_t *o = json_object();
        tmsg_finish(m, o);
        tmsg_free(m);
        const json_t *a = att(o, 0);
        check_att(a, "2", "application/pdf", "report-q4.pdf", raw, 1750 * 57);
        assert_string_equal(sget(o, "body"), "Hello Bob,\r\nplease find the report attached.\r\n");
        json_decref(o);
    }
    json_decref(run3n(&cfg, msg, len));
    free(msg);
    free(raw);
}

/* ------------------------------------------------------- long file names */

/* A multipart whose attachment has Content-Disposition: attachment;<params>. */
static char *name_msg(const char *params)
{
    const char *fmt = "From: a@example.com\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
                      "Content-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
                      "Content-Type: application/octet-stream\r\n"
                      "Content-Disposition: attachment;%s\r\n"
                      "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n";
    size_t n = strlen(fmt) + strlen(params) + 1;
    char *m = malloc(n);
    snprintf(m, n, fmt, params);
    return m;
}

/* The attachment's file name must be want[0..n), with or without the
 * attribute_truncated anomaly. */
static void expect_name(const char *params, const char *want, size_t n, int cut)
{
    tcfg cfg;
    tcfg_default(&cfg);
    char *msg = name_msg(params);
    json_t *o = run3(&cfg, msg);
    assert_string_equal(sget(att(o, 0), "mime_path"), "2");
    assert_int_equal(json_integer_value(json_object_get(att(o, 0), "size")), 5);
    assert_bytes(json_object_get(att(o, 0), "filename"), want, n);
    assert_int_equal(count_anomalies(o, "attribute_truncated"), cut);
    json_decref(o);
    free(msg);
}

/* filename="<n times c>" */
static char *plain_param(size_t n, char c)
{
    char *s = malloc(n + 16);
    memcpy(s, " filename=\"", 11);
    memset(s + 11, c, n);
    memcpy(s + 11 + n, "\"", 2);
    return s;
}

/* RFC 2231 sections of per bytes: filename*0="..."; ... (ASCII c), or
 * filename*0*=utf-8''%E4%B8%AD... (U+4E2D, 3 bytes each) when c is 0. */
static char *continued_param(size_t n, size_t per, char c)
{
    char *s = malloc(n * 9 + n / per * 40 + 64), *o = s;
    for (size_t k = 0, i = 0; i < n; k++) {
        o += sprintf(o, "\r\n filename*%zu%s=%s", k, c ? "" : "*", c ? "\"" : k ? "" : "utf-8''");
        for (size_t j = 0; j < per && i < n; j++, i++)
            o += c ? sprintf(o, "%c", c) : sprintf(o, "%%E4%%B8%%AD");
        o += sprintf(o, "%s;", c ? "\"" : "");
    }
    o[-1] = 0; /* no ';' after the last section */
    return s;
}

static void test_long_filenames(void **state)
{
    (void)state;
    char *want = malloc(3 * 3334);
    char *p = plain_param(4095, 'A');
    memset(want, 'A', 4095);
    expect_name(p, want, 4095, 0); /* Arkime's smtp-moloch-bof length: whole */
    free(p);
    p = continued_param(4095, 100, 'B');
    memset(want, 'B', 4095);
    expect_name(p, want, 4095, 0);
    free(p);
    p = plain_param(10000, 'C');
    memset(want, 'C', 10000);
    expect_name(p, want, 8192, 1); /* ST_HDR_FNAME_MAX */
    free(p);
    p = continued_param(3334, 30, 0); /* 10,002 bytes: cut at 8192, mid-character */
    for (size_t i = 0; i < 3334; i++)
        memcpy(want + 3 * i, "\xe4\xb8\xad", 3);
    expect_name(p, want, 8190, 1); /* 2730 whole characters */
    free(p);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_bodies_and_attachments),
        cmocka_unit_test(test_no_store_hash_only),
        cmocka_unit_test(test_omit_body),
        cmocka_unit_test(test_latin1_body),
        cmocka_unit_test(test_utf8_split_across_blocks),
        cmocka_unit_test(test_iso2022jp_body),
        cmocka_unit_test(test_body_max),
        cmocka_unit_test(test_big_body),
        cmocka_unit_test(test_attachment_store_max),
        cmocka_unit_test(test_single_part_attachment),
        cmocka_unit_test(test_second_text_is_attachment),
        cmocka_unit_test(test_hostile_filenames),
        cmocka_unit_test(test_filename_charsets),
        cmocka_unit_test(test_headers_capped),
        cmocka_unit_test(test_header_value_max),
        cmocka_unit_test(test_too_many_addresses),
        cmocka_unit_test(test_user_agent_order),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_free_without_finish),
        cmocka_unit_test(test_finish_twice),
        cmocka_unit_test(test_deep_forward),
        cmocka_unit_test(test_body_not_from_forwarded),
        cmocka_unit_test(test_uuencoded_part_not_rescanned),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_many_parts),
        cmocka_unit_test(test_many_anomalies),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_long_filenames),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
