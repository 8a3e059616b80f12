/*
 * test_eve.c - records as Suricata EVE events (output/eve.c).
 *
 * Records are built by hand here, in the shape docs/record.md gives, and
 * each event is read back with jansson. The expected values come from
 * Suricata 8.0's writers, not from eve.c: CreateIsoTimeString's
 * "%Y-%m-%dT%H:%M:%S.uuuuuu%z" (UTC: +0000), PrintInetIPv6's eight groups
 * of four hex digits, the "<path>" that SMTPParseCommandWithParam keeps,
 * EveFileInfo's states (CLOSED with md5/sha1/sha256, TRUNCATED with sha256
 * only, no hash at all after a gap), the order of JsonBuildFileInfoRecord
 * (smtp, email, app_proto, fileinfo) and of the tx logger (a
 * transaction's files first). flow_id values were computed with Python's
 * hashlib (the first 8 bytes of SHA-256 of the uid, big endian, & 2**51-1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "output/eve.h"

#define MAXEV 16

typedef struct {
    json_t *ev[MAXEV];
    char *text[MAXEV];
    int n, nulls;
} events;

static void collect(void *arg, char *line)
{
    events *e = arg;
    if (!line) {
        e->nulls++;
        return;
    }
    assert_true(e->n < MAXEV);
    assert_null(strchr(line, '\n')); /* a sink takes whole lines */
    json_error_t err;
    e->ev[e->n] = json_loads(line, 0, &err);
    assert_non_null(e->ev[e->n]);
    e->text[e->n++] = line;
}

static void events_free(events *e)
{
    for (int i = 0; i < e->n; i++) {
        json_decref(e->ev[i]);
        free(e->text[i]);
    }
}

static const char *s(const json_t *o, const char *path)
{
    char buf[128], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        o = json_object_get(o, k);
    return json_string_value(o);
}

static const json_t *get(const json_t *o, const char *path)
{
    char buf[128], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        o = json_object_get(o, k);
    return o;
}

static json_int_t num(const json_t *o, const char *path)
{
    const json_t *v = get(o, path);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* The keys of an object, in order, joined by ','. */
static void keys(const json_t *o, char *out, size_t len)
{
    size_t off = 0;
    const char *k;
    json_t *v;
    out[0] = 0;
    json_object_foreach((json_t *)o, k, v) off +=
        (size_t)snprintf(out + off, len - off, "%s%s", off ? "," : "", k);
}

static json_t *attachment(const char *name, int complete, long missing)
{
    json_t *a = json_pack(
        "{s:s?, s:s, s:s, s:I, s:s, s:s, s:s, s:{s:s, s:s, s:i}, s:s, s:b, "
        "s:I, s:b}",
        "filename", name, "content_type", "application/pdf", "mime_path", "2", "size",
        (json_int_t)709, "md5", "2a19fed33547b98b965bd2c73ec1b74e", "sha1",
        "9093996db9d138ea8b1967ea761ba6ee05f7dc2c", "sha256",
        "a3c8ecedd0382261c1f3561354ed74cc89f93eba09b8955ed8192ee9b4456342", "magic", "mime",
        "application/pdf", "description", "PDF document, version 1.4", "bytes", 709, "stored",
        "files/a3/a3c8ecedd0382261c1f3561354ed74cc89f93eba09b8955ed8192ee9b4456342", "truncated", 0,
        "missing_bytes", (json_int_t)missing, "complete", complete);
    assert_non_null(a);
    return a;
}

static json_t *message(json_t *attachments)
{
    json_t *m = json_pack(
        "{s:I, s:s, s:s, s:I, s:b, s:{s:s, s:s}, s:s, s:[s, s], s:[], s:s, s:s, s:s, s:s, "
        "s:[s], s:o, s:{s:[{s:s, s:[s]}, {s:s, s:[s]}, {s:s, s:[s, s]}]}}",
        "size", (json_int_t)1537, "sha256",
        "4fdc0bdbdc4847e6aed22d4010ea623fd96d97e50696decbf7e91095ad779720", "eml",
        "messages/4f/4fdc0bdbdc4847e6aed22d4010ea623fd96d97e50696decbf7e91095ad779720.eml",
        "missing_bytes", (json_int_t)0, "complete", 1, "headers", "x-mailer", "Mutt 2.2\nSecond",
        "subject", "Hi", "from", "Alice <alice@example.org>", "to", "Bob <bob@example.org>",
        "carol@example.org", "cc", "subject", "Hi", "date", "Thu, 01 Jan 2026 00:00:00 +0000",
        "message_id", "<m1@example.org>", "user_agent", "Mutt 2.2", "received",
        "from a by b; Thu, 01 Jan 2026 00:00:00 +0000", "attachments", attachments, "iocs", "url",
        "value", "http://body.example.org/x", "where", "body", "value",
        "http://header.example.org/", "where", "received", "value", "https://html.example.org/",
        "where", "received", "body_html");
    assert_non_null(m);
    return m;
}

static json_t *session(const char *cip, const char *sip, json_t *transactions)
{
    json_t *r = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:i}, s:{s:s, s:i}, s:s, s:s, s:o, "
        "s:[]}",
        "uid", "SZbJxNMYEQU4KSNWXB5", "community_id", "1:etemQ4837sniRh8xz2UxqTz1XCE=", "ts_start",
        "2026-11-27T07:16:27.620580Z", "ts_end", "2026-11-27T07:16:27.680100Z", "client", "ip", cip,
        "port", 60792, "server", "ip", sip, "port", 25, "close", "fin", "helo",
        "client.example.org", "transactions", transactions, "anomalies");
    assert_non_null(r);
    return r;
}

static json_t *transaction(const char *status, json_t *msg)
{
    json_t *t = json_pack("{s:s, s:n, s:[s, s], s:[{s:s, s:s}], s:s, s:s, s:s, s:o}", "mail_from",
                          "alice@example.org", "mail_params", "rcpt_to", "bob@example.org",
                          "carol@example.org", "rcpt_rejected", "addr", "nobody@example.org",
                          "reply", "550 5.1.1 no such user", "mode", "DATA", "reply",
                          "250 2.0.0 Ok", "status", status, "message", msg ? msg : json_null());
    assert_non_null(t);
    return t;
}

static void test_flow_id(void **state)
{
    (void)state;
    assert_int_equal(st_eve_flow_id("SZbJxNMYEQU4KSNWXB5"), 1024118439473630LL);
    assert_int_equal(st_eve_flow_id("S000000000000000001"), 953444419658938LL);
    assert_int_equal(st_eve_flow_id("MxUwAFBlxLK7VkKa2La"), 1963306307544421LL);
}

/* Two transactions, the first with two files: fileinfo, fileinfo, smtp, smtp. */
static void test_session_events(void **state)
{
    (void)state;
    json_t *atts = json_pack("[o, o]", attachment("report.pdf", 1, 0), attachment(NULL, 0, 100));
    json_t *rec = session(
        "192.0.2.1", "198.51.100.7",
        json_pack("[o, o]", transaction("accepted", message(atts)), transaction("rejected", NULL)));
    events e = {0};
    assert_int_equal(st_eve_record(rec, collect, &e), 4);
    assert_int_equal(e.n, 4);
    assert_int_equal(e.nulls, 0);
    const char *types[] = {"fileinfo", "fileinfo", "smtp", "smtp"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(s(e.ev[i], "event_type"), types[i]);
        assert_string_equal(s(e.ev[i], "timestamp"), "2026-11-27T07:16:27.680100+0000");
        assert_int_equal(num(e.ev[i], "flow_id"), 1024118439473630LL);
        assert_string_equal(s(e.ev[i], "src_ip"), "192.0.2.1");
        assert_int_equal(num(e.ev[i], "src_port"), 60792);
        assert_string_equal(s(e.ev[i], "dest_ip"), "198.51.100.7");
        assert_int_equal(num(e.ev[i], "dest_port"), 25);
        assert_string_equal(s(e.ev[i], "proto"), "TCP");
        assert_int_equal(num(e.ev[i], "ip_v"), 4);
        assert_string_equal(s(e.ev[i], "smtptap.uid"), "SZbJxNMYEQU4KSNWXB5");
        assert_string_equal(s(e.ev[i], "smtp.helo"), "client.example.org");
        assert_string_equal(s(e.ev[i], "smtp.mail_from"), "<alice@example.org>");
        const json_t *rc = get(e.ev[i], "smtp.rcpt_to");
        assert_int_equal(json_array_size(rc), 2); /* the accepted ones */
        assert_string_equal(json_string_value(json_array_get(rc, 1)), "<carol@example.org>");
    }
    char k[512];
    keys(e.ev[2], k, sizeof k);
    assert_string_equal(k, "timestamp,flow_id,event_type,src_ip,src_port,dest_ip,dest_port,proto,"
                           "ip_v,community_id,tx_id,smtp,email,smtptap");
    keys(e.ev[0], k, sizeof k);
    assert_string_equal(k, "timestamp,flow_id,event_type,src_ip,src_port,dest_ip,dest_port,proto,"
                           "ip_v,community_id,smtp,email,app_proto,fileinfo,smtptap");
    assert_string_equal(s(e.ev[0], "app_proto"), "smtp");
    assert_null(get(e.ev[0], "smtptap.metadata_cut"));
    assert_int_equal(num(e.ev[2], "tx_id"), 0);
    assert_int_equal(num(e.ev[3], "tx_id"), 1);
    assert_int_equal(num(e.ev[1], "fileinfo.tx_id"), 0);
    /* the rejected transaction: no message, so no email object */
    assert_null(get(e.ev[3], "email"));
    assert_string_equal(s(e.ev[3], "smtptap.status"), "rejected");
    assert_string_equal(s(e.ev[3], "smtptap.reply"), "250 2.0.0 Ok");
    assert_int_equal(json_array_size(get(e.ev[3], "smtptap.rcpt_rejected")), 1);
    assert_string_equal(s(e.ev[2], "smtptap.message.sha256"),
                        "4fdc0bdbdc4847e6aed22d4010ea623fd96d97e50696decbf7e91095ad779720");
    events_free(&e);
    json_decref(rec);
}

/* The email object: Suricata's names, no empty lists, no nulls. */
static void test_email_object(void **state)
{
    (void)state;
    json_t *atts = json_pack("[o, o]", attachment("report.pdf", 1, 0), attachment(NULL, 1, 0));
    json_t *rec = session("192.0.2.1", "198.51.100.7",
                          json_pack("[o]", transaction("accepted", message(atts))));
    events e = {0};
    assert_int_equal(st_eve_record(rec, collect, &e), 3);
    const json_t *em = get(e.ev[2], "email");
    char k[512];
    keys(em, k, sizeof k);
    assert_string_equal(k,
                        "from,to,status,attachment,url,message_id,subject,x_mailer,received,date");
    assert_string_equal(s(em, "from"), "Alice <alice@example.org>");
    assert_string_equal(s(em, "status"), "PARSE_DONE");
    assert_int_equal(json_array_size(get(em, "attachment")), 1); /* the named one */
    assert_string_equal(json_string_value(json_array_get(get(em, "attachment"), 0)), "report.pdf");
    /* URLs found in the bodies, not those of the Received header */
    const json_t *url = get(em, "url");
    assert_int_equal(json_array_size(url), 2);
    assert_string_equal(json_string_value(json_array_get(url, 0)), "http://body.example.org/x");
    assert_string_equal(json_string_value(json_array_get(url, 1)), "https://html.example.org/");
    /* the first X-Mailer header, not user_agent */
    assert_string_equal(s(em, "x_mailer"), "Mutt 2.2");
    assert_string_equal(s(em, "message_id"), "<m1@example.org>");
    /* fileinfo events carry only Suricata's basic email fields */
    keys(get(e.ev[0], "email"), k, sizeof k);
    assert_string_equal(k, "from,to,status,attachment,url");
    /* an unnamed part still is a file: filename "" */
    assert_string_equal(s(e.ev[1], "fileinfo.filename"), "");
    events_free(&e);
    json_decref(rec);
}

/* EveFileInfo's states and hashes from complete and missing_bytes. */
static void test_fileinfo_states(void **state)
{
    (void)state;
    json_t *atts = json_pack("[o, o, o]", attachment("a.pdf", 1, 0), attachment("b.pdf", 0, 0),
                             attachment("c.pdf", 0, 42));
    json_t *rec = session("192.0.2.1", "198.51.100.7",
                          json_pack("[o]", transaction("incomplete", message(atts))));
    events e = {0};
    assert_int_equal(st_eve_record(rec, collect, &e), 4);
    char k[512];
    keys(get(e.ev[0], "fileinfo"), k, sizeof k);
    assert_string_equal(k, "filename,magic,gaps,state,md5,sha1,sha256,stored,size,tx_id");
    assert_string_equal(s(e.ev[0], "fileinfo.state"), "CLOSED");
    assert_string_equal(s(e.ev[0], "fileinfo.magic"), "PDF document, version 1.4");
    assert_true(json_is_false(get(e.ev[0], "fileinfo.gaps")));
    assert_true(json_is_true(get(e.ev[0], "fileinfo.stored")));
    assert_int_equal(num(e.ev[0], "fileinfo.size"), 709);
    assert_string_equal(s(e.ev[0], "fileinfo.md5"), "2a19fed33547b98b965bd2c73ec1b74e");
    /* cut short without a hole: sha256 of what was seen, no md5/sha1 */
    keys(get(e.ev[1], "fileinfo"), k, sizeof k);
    assert_string_equal(k, "filename,magic,gaps,state,sha256,stored,size,tx_id");
    assert_string_equal(s(e.ev[1], "fileinfo.state"), "TRUNCATED");
    /* after a gap: no hash at all, gaps true */
    keys(get(e.ev[2], "fileinfo"), k, sizeof k);
    assert_string_equal(k, "filename,magic,gaps,state,stored,size,tx_id");
    assert_true(json_is_true(get(e.ev[2], "fileinfo.gaps")));
    assert_string_equal(s(e.ev[2], "fileinfo.state"), "TRUNCATED");
    /* the store's name for the bytes seen stays in smtptap */
    assert_string_equal(s(e.ev[2], "smtptap.sha256"),
                        "a3c8ecedd0382261c1f3561354ed74cc89f93eba09b8955ed8192ee9b4456342");
    assert_string_equal(s(e.ev[2], "smtptap.mime_path"), "2");
    events_free(&e);
    json_decref(rec);
}

/* Many recipients with long names and many files: the fileinfo events
 * leave the repeated lists out past 64 KiB, the smtp event keeps them. */
static void test_repeated_metadata_cap(void **state)
{
    (void)state;
    json_t *tx = transaction("accepted", message(json_pack("[o, o]", attachment("a.pdf", 1, 0),
                                                           attachment("b.pdf", 1, 0))));
    json_t *rcpts = json_array();
    char addr[4001];
    memset(addr, 'x', sizeof addr - 1);
    addr[sizeof addr - 1] = 0;
    for (int i = 0; i < 20; i++) /* 80 KB of recipients */
        json_array_append_new(rcpts, json_string(addr));
    json_object_set_new(tx, "rcpt_to", rcpts);
    json_t *rec = session("192.0.2.1", "198.51.100.7", json_pack("[o]", tx));
    events e = {0};
    assert_int_equal(st_eve_record(rec, collect, &e), 3);
    for (int i = 0; i < 2; i++) {
        assert_null(get(e.ev[i], "smtp.rcpt_to"));
        assert_null(get(e.ev[i], "email.attachment"));
        assert_null(get(e.ev[i], "email.to"));
        assert_string_equal(s(e.ev[i], "smtp.mail_from"), "<alice@example.org>");
        assert_string_equal(s(e.ev[i], "email.status"), "PARSE_DONE");
        assert_true(json_is_true(get(e.ev[i], "smtptap.metadata_cut")));
        assert_true(strlen(e.text[i]) < 16384);
    }
    assert_int_equal(json_array_size(get(e.ev[2], "smtp.rcpt_to")), 20);
    assert_int_equal(json_array_size(get(e.ev[2], "email.attachment")), 2);
    assert_null(get(e.ev[2], "smtptap.metadata_cut"));
    events_free(&e);
    json_decref(rec);
}

/* IPv6 as Suricata prints it; a session without transactions; times. */
static void test_ipv6_and_no_transaction(void **state)
{
    (void)state;
    json_t *rec = session("2001:db8::1", "::1", json_array());
    events e = {0};
    assert_int_equal(st_eve_record(rec, collect, &e), 1);
    assert_string_equal(s(e.ev[0], "event_type"), "smtp");
    assert_string_equal(s(e.ev[0], "src_ip"), "2001:0db8:0000:0000:0000:0000:0000:0001");
    assert_string_equal(s(e.ev[0], "dest_ip"), "0000:0000:0000:0000:0000:0000:0000:0001");
    assert_int_equal(num(e.ev[0], "ip_v"), 6);
    assert_int_equal(num(e.ev[0], "tx_id"), 0);
    char k[256];
    keys(get(e.ev[0], "smtp"), k, sizeof k);
    assert_string_equal(k, "helo");
    assert_null(get(e.ev[0], "email"));
    keys(get(e.ev[0], "smtptap"), k, sizeof k);
    assert_string_equal(k, "uid");
    events_free(&e);
    json_decref(rec);
}

/* A transaction's own ts_end, when the record has one, is its time, and
 * its trans_depth (Zeek's, from 1) its number. */
static void test_transaction_time(void **state)
{
    (void)state;
    json_t *tx = transaction("accepted", NULL);
    json_object_set_new(tx, "ts_end", json_string("2026-11-27T07:16:27.650000Z"));
    json_object_set_new(tx, "trans_depth", json_integer(3));
    json_t *rec = session("192.0.2.1", "198.51.100.7", json_pack("[o]", tx));
    events e = {0};
    assert_int_equal(st_eve_record(rec, collect, &e), 1);
    assert_string_equal(s(e.ev[0], "timestamp"), "2026-11-27T07:16:27.650000+0000");
    assert_int_equal(num(e.ev[0], "tx_id"), 2);
    events_free(&e);
    json_decref(rec);
}

/* A message file: no network fields, no app_proto, where it was read. */
static void test_message_file(void **state)
{
    (void)state;
    json_t *tx = json_pack("{s:n, s:n, s:[], s:[], s:n, s:n, s:s, s:o}", "mail_from", "mail_params",
                           "rcpt_to", "rcpt_rejected", "mode", "reply", "status", "accepted",
                           "message", message(json_pack("[o]", attachment("report.pdf", 1, 0))));
    json_t *rec =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:[o], s:[]}", "uid", "MxUwAFBlxLK7VkKa2La", "source",
                  "eml", "file", "/tmp/a.eml", "ts_start", "2026-12-02T11:54:35.896146Z", "ts_end",
                  "2026-12-02T11:54:35.896146Z", "transactions", tx, "anomalies");
    events e = {0};
    assert_int_equal(st_eve_record(rec, collect, &e), 2);
    char k[512];
    keys(e.ev[0], k, sizeof k);
    assert_string_equal(k, "timestamp,flow_id,event_type,smtp,email,fileinfo,smtptap");
    keys(e.ev[1], k, sizeof k);
    assert_string_equal(k, "timestamp,flow_id,event_type,tx_id,smtp,email,smtptap");
    assert_int_equal(num(e.ev[1], "flow_id"), 1963306307544421LL);
    assert_string_equal(s(e.ev[1], "smtptap.source"), "eml");
    assert_string_equal(s(e.ev[1], "smtptap.file"), "/tmp/a.eml");
    assert_int_equal(json_object_size(get(e.ev[1], "smtp")), 0);
    events_free(&e);
    json_decref(rec);
}

/* The text the core writes gives the same events; garbage gives none. */
static void test_text(void **state)
{
    (void)state;
    json_t *rec = session("192.0.2.1", "198.51.100.7",
                          json_pack("[o]", transaction("accepted", message(json_array()))));
    char *text = json_dumps(rec, JSON_COMPACT);
    events a = {0}, b = {0};
    assert_int_equal(st_eve_record(rec, collect, &a), 1);
    assert_int_equal(st_eve_text(text, strlen(text), collect, &b), 1);
    assert_string_equal(a.text[0], b.text[0]);
    assert_int_equal(st_eve_text(text, strlen(text) / 2, collect, &b), -1);
    assert_int_equal(st_eve_text("[1]", 3, collect, &b), -1);
    assert_int_equal(b.n, 1);
    events_free(&a);
    events_free(&b);
    free(text);
    json_decref(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_id),
        cmocka_unit_test(test_session_events),
        cmocka_unit_test(test_email_object),
        cmocka_unit_test(test_fileinfo_states),
        cmocka_unit_test(test_repeated_metadata_cap),
        cmocka_unit_test(test_ipv6_and_no_transaction),
        cmocka_unit_test(test_transaction_time),
        cmocka_unit_test(test_message_file),
        cmocka_unit_test(test_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
