/*
 * eve.c - a finished record as Suricata EVE events (see eve.h).
 *
 * Follows Suricata 8.0's writers: CreateEveHeader (output-json.c) for the
 * common part, JsonSmtpLogger (output-json-smtp.c) and EveEmailLogJson
 * (output-json-email-common.c, rust/src/mime/smtp_log.rs) for "smtp"
 * events, JsonBuildFileInfoRecord and EveFileInfo (output-json-file.c,
 * output-json.c) for "fileinfo" events. Keys come in Suricata's order;
 * a key Suricata leaves out when it has no value (an empty list, a
 * missing header) is left out here too, never null, as Suricata's
 * etc/schema.json wants. Values are shared with the record (jansson
 * reference counts), not copied.
 *
 * Where smtptap knows more or other than Suricata (docs/record.md "EVE
 * output"): the network fields come from the session's client and
 * server, the times are packet times in UTC, flow_id is derived from the
 * uid, a file's state and hashes follow from complete and missing_bytes,
 * and the "smtptap" object carries the uid and what EVE has no key for.
 *
 * Limits: what each fileinfo event repeats of its transaction (the smtp
 * and email objects) keeps its lists only up to ST_EVE_REPEAT_MAX bytes
 * ("smtptap": {"metadata_cut": true} beyond), so the output stays linear
 * in the record; otherwise an event holds only what the record holds.
 *
 * Not handled: Suricata's per-packet fields (pcap_cnt, pkt_src, vlan,
 * ether) and its anomaly events; session fields with no EVE key
 * (banner, auth, starttls, close, anomalies) are not written.
 */
#include "output/eve.h"

#include <arpa/inet.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "output/record.h"

/* What the events of one record share. */
typedef struct {
    const json_t *rec;
    json_t *uid;
    json_int_t flow_id;
    int network; /* a session, not a message file: client and server known */
    char src_ip[48], dest_ip[48];
    int ip_v;
    int oom; /* the event being built lost a field */
    st_eve_line_fn fn;
    void *arg;
    int n;
} eve;

int64_t st_eve_flow_id(const char *uid)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    uint64_t id = 0;
    SHA256((const unsigned char *)uid, strlen(uid), md);
    for (int i = 0; i < 8; i++)
        id = id << 8 | md[i];
    return (int64_t)(id & 0x7ffffffffffffULL);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Sets o[k] = v (stolen); a NULL v or a failed set marks the event. */
static void put(eve *e, json_t *o, const char *k, json_t *v)
{
    if (json_object_set_new(o, k, v) != 0)
        e->oom = 1;
}

/* o[k] = v shared with the record, when v is a string. */
static void put_str(eve *e, json_t *o, const char *k, json_t *v)
{
    if (json_is_string(v))
        put(e, o, k, json_incref(v));
}

/* o[k] = v shared, when v is an array with at least one item (Suricata
 * leaves empty lists out; its schema says minItems 1). */
static void put_list(eve *e, json_t *o, const char *k, json_t *v)
{
    if (json_is_array(v) && json_array_size(v) > 0)
        put(e, o, k, json_incref(v));
}

/* A list put only when something went in it. */
static void put_built(eve *e, json_t *o, const char *k, json_t *list)
{
    if (!list)
        e->oom = 1;
    else if (json_array_size(list) == 0)
        json_decref(list);
    else
        put(e, o, k, list);
}

static void append(eve *e, json_t *list, json_t *v)
{
    if (json_array_append_new(list, v) != 0)
        e->oom = 1;
}

/* Suricata's CreateIsoTimeString, "%Y-%m-%dT%H:%M:%S.uuuuuu%z", in UTC:
 * the record's "...Z" becomes "...+0000". */
static json_t *eve_time(const char *iso)
{
    char buf[64];
    size_t n = iso ? strlen(iso) : 0;
    if (n == 0 || n + 5 > sizeof buf)
        return NULL;
    if (iso[n - 1] == 'Z')
        snprintf(buf, sizeof buf, "%.*s+0000", (int)(n - 1), iso);
    else
        snprintf(buf, sizeof buf, "%s", iso);
    return json_string(buf);
}

/* Suricata prints an IPv6 address whole, eight groups of four digits
 * (PrintInetIPv6), an IPv4 one as inet_ntop. The IP version, 0 if none. */
static int eve_ip(const char *ip, char *out, size_t outlen)
{
    unsigned char a[16];
    if (!ip)
        return 0;
    if (inet_pton(AF_INET6, ip, a) != 1) {
        snprintf(out, outlen, "%s", ip);
        return 4;
    }
    size_t off = 0;
    for (int i = 0; i < 16 && off < outlen; i += 2)
        off +=
            (size_t)snprintf(out + off, outlen - off, "%s%02x%02x", i ? ":" : "", a[i], a[i + 1]);
    return 6;
}

/* The client is EVE's source, the server its destination, for smtp and
 * fileinfo events alike (Suricata logs both to the server). */
static void endpoints(eve *e)
{
    const json_t *c = json_object_get(e->rec, "client"), *s = json_object_get(e->rec, "server");
    if (!json_is_object(c) || !json_is_object(s))
        return;
    e->ip_v = eve_ip(str(c, "ip"), e->src_ip, sizeof e->src_ip);
    e->network = e->ip_v && eve_ip(str(s, "ip"), e->dest_ip, sizeof e->dest_ip);
}

static void put_endpoints(eve *e, json_t *h)
{
    const json_t *c = json_object_get(e->rec, "client"), *s = json_object_get(e->rec, "server");
    put(e, h, "src_ip", json_string(e->src_ip));
    put(e, h, "src_port", json_incref(json_object_get(c, "port")));
    put(e, h, "dest_ip", json_string(e->dest_ip));
    put(e, h, "dest_port", json_incref(json_object_get(s, "port")));
    put(e, h, "proto", json_string("TCP"));
    put(e, h, "ip_v", json_integer(e->ip_v));
    put_str(e, h, "community_id", json_object_get(e->rec, "community_id"));
}

/* CreateEveHeader: the time (the transaction's end when the record has
 * it, else the session's), flow_id, event_type, the 5-tuple. */
static json_t *header(eve *e, const json_t *tx, const char *type)
{
    json_t *h = json_object();
    const char *ts = tx ? str(tx, "ts_end") : NULL;
    put(e, h, "timestamp", eve_time(ts ? ts : str(e->rec, "ts_end")));
    put(e, h, "flow_id", json_integer(e->flow_id));
    put_str(e, h, "in_iface", json_object_get(e->rec, "interface"));
    put(e, h, "event_type", json_string(type));
    if (e->network)
        put_endpoints(e, h);
    return h;
}

/* "<addr>" as the client wrote it, which Suricata logs; the record
 * keeps the path without its brackets. */
static json_t *bracketed(const json_t *addr)
{
    const char *a = json_string_value(addr);
    return a ? json_sprintf("<%s>", a) : NULL;
}

/* EveSmtpDataLogger: helo, mail_from, rcpt_to. */
static json_t *smtp_obj(eve *e, const json_t *tx)
{
    json_t *o = json_object(), *rcpts = json_object_get(tx, "rcpt_to");
    put_str(e, o, "helo", json_object_get(e->rec, "helo"));
    if (json_is_string(json_object_get(tx, "mail_from")))
        put(e, o, "mail_from", bracketed(json_object_get(tx, "mail_from")));
    if (json_array_size(rcpts) == 0)
        return o;
    json_t *list = json_array();
    for (size_t i = 0; i < json_array_size(rcpts); i++)
        append(e, list, bracketed(json_array_get(rcpts, i)));
    put_built(e, o, "rcpt_to", list);
    return o;
}

/* email.attachment: the names Suricata would have found. */
static json_t *attachment_names(eve *e, const json_t *msg)
{
    json_t *list = json_array(), *atts = json_object_get(msg, "attachments");
    for (size_t i = 0; i < json_array_size(atts); i++) {
        json_t *name = json_object_get(json_array_get(atts, i), "filename");
        if (json_is_string(name))
            append(e, list, json_incref(name));
    }
    return list;
}

static int found_in_body(const json_t *where)
{
    for (size_t i = 0; i < json_array_size(where); i++) {
        const char *w = json_string_value(json_array_get(where, i));
        if (w && (!strcmp(w, "body") || !strcmp(w, "body_html")))
            return 1;
    }
    return 0;
}

/* email.url: Suricata looks for URLs in the bodies; message.iocs (with
 * extract_iocs) has them with where they were found. */
static json_t *body_urls(eve *e, const json_t *msg)
{
    json_t *list = json_array(), *urls = json_object_get(json_object_get(msg, "iocs"), "url");
    for (size_t i = 0; i < json_array_size(urls); i++) {
        json_t *u = json_array_get(urls, i), *v = json_object_get(u, "value");
        if (json_is_string(v) && found_in_body(json_object_get(u, "where")))
            append(e, list, json_incref(v));
    }
    return list;
}

/* email.x_mailer is the first X-Mailer header (the record's user_agent
 * may come from User-Agent); repeated headers are joined by "\n". */
static void put_x_mailer(eve *e, json_t *o, const json_t *msg)
{
    const char *v = str(json_object_get(msg, "headers"), "x-mailer");
    if (v)
        put(e, o, "x_mailer", json_stringn(v, strcspn(v, "\n")));
}

/* Suricata's "extended" and "custom" email fields that its schema knows,
 * in its email_fields[] order. */
static void email_extended(eve *e, json_t *o, const json_t *msg)
{
    put_str(e, o, "message_id", json_object_get(msg, "message_id"));
    put_str(e, o, "subject", json_object_get(msg, "subject"));
    put_x_mailer(e, o, msg);
    put_list(e, o, "received", json_object_get(msg, "received"));
    put_str(e, o, "date", json_object_get(msg, "date"));
}

/* log_data (smtp_log.rs): from, to, cc, status, attachment, url; the
 * extended fields too in smtp events (fileinfo events carry only these). */
static json_t *email_obj(eve *e, const json_t *msg, int extended)
{
    json_t *o = json_object();
    put_str(e, o, "from", json_object_get(msg, "from"));
    put_list(e, o, "to", json_object_get(msg, "to"));
    put_list(e, o, "cc", json_object_get(msg, "cc"));
    put(e, o, "status", json_string("PARSE_DONE"));
    put_built(e, o, "attachment", attachment_names(e, msg));
    put_built(e, o, "url", body_urls(e, msg));
    if (extended)
        email_extended(e, o, msg);
    return o;
}

/* EveFileInfo. Suricata's states: CLOSED (seen to its end: md5, sha1 and
 * sha256), TRUNCATED (cut: sha256 of what was seen, none at all after a
 * gap, FileFlagGap). */
static json_t *fileinfo_obj(eve *e, const json_t *att, size_t tx_id)
{
    json_t *o = json_object(), *name = json_object_get(att, "filename");
    int complete = json_is_true(json_object_get(att, "complete"));
    json_int_t missing = json_integer_value(json_object_get(att, "missing_bytes"));
    put(e, o, "filename", json_is_string(name) ? json_incref(name) : json_string(""));
    put_str(e, o, "magic", json_object_get(json_object_get(att, "magic"), "description"));
    put(e, o, "gaps", json_boolean(missing > 0));
    put(e, o, "state", json_string(complete ? "CLOSED" : "TRUNCATED"));
    if (complete) {
        put_str(e, o, "md5", json_object_get(att, "md5"));
        put_str(e, o, "sha1", json_object_get(att, "sha1"));
    }
    if (missing == 0)
        put_str(e, o, "sha256", json_object_get(att, "sha256"));
    put(e, o, "stored", json_boolean(json_is_string(json_object_get(att, "stored"))));
    put(e, o, "size", json_incref(json_object_get(att, "size")));
    put(e, o, "tx_id", json_integer((json_int_t)tx_id));
    return o;
}

/* Copies the keys named (those present) from one object to another. */
static void put_keys(eve *e, json_t *to, const json_t *from, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(from, *keys);
        if (v)
            put(e, to, *keys, json_incref(v));
    }
}

/* The "smtptap" object: the uid, and for a message file where it was read. */
static json_t *extra(eve *e)
{
    static const char *const keys[] = {"source", "file", NULL};
    json_t *o = json_object();
    put_str(e, o, "uid", e->uid);
    put_keys(e, o, e->rec, keys);
    return o;
}

/* For an smtp event: the transaction's verdict and its message's identity. */
static json_t *extra_tx(eve *e, const json_t *tx, const json_t *msg)
{
    static const char *const tx_keys[] = {"status", "mode", "reply", NULL};
    static const char *const msg_keys[] = {"size",     "sha256",        "eml",
                                           "complete", "missing_bytes", NULL};
    json_t *o = extra(e);
    if (!tx)
        return o;
    put_keys(e, o, tx, tx_keys);
    put_list(e, o, "rcpt_rejected", json_object_get(tx, "rcpt_rejected"));
    if (json_is_object(msg)) {
        json_t *m = json_object();
        put_keys(e, m, msg, msg_keys);
        put(e, o, "message", m);
    }
    return o;
}

/* For a fileinfo event: which part, and the store's name for its bytes. */
static json_t *extra_file(eve *e, const json_t *att)
{
    static const char *const keys[] = {"mime_path", "content_type", "sha256",        "stored",
                                       "complete",  "truncated",    "missing_bytes", NULL};
    json_t *o = extra(e);
    put_keys(e, o, att, keys);
    return o;
}

/* Hands one event on as a line (NULL when it lost a field) and frees it. */
static void emit(eve *e, json_t *ev)
{
    char *line = ev && !e->oom ? json_dumps(ev, ST_RECORD_JSON_FLAGS) : NULL;
    json_decref(ev);
    e->oom = 0;
    e->fn(e->arg, line);
    e->n++;
}

/* JsonSmtpLogger: one per transaction (tx NULL: a session without any). */
static json_t *smtp_event(eve *e, const json_t *tx, size_t tx_id)
{
    const json_t *msg = json_object_get(tx, "message");
    json_t *ev = header(e, tx, "smtp");
    put(e, ev, "tx_id", json_integer((json_int_t)tx_id));
    put(e, ev, "smtp", smtp_obj(e, tx));
    if (json_is_object(msg))
        put(e, ev, "email", email_obj(e, msg, 1));
    put_str(e, ev, "host", json_object_get(e->rec, "sensor"));
    put(e, ev, "smtptap", extra_tx(e, tx, msg));
    return ev;
}

/* What every fileinfo event of a transaction repeats: its smtp and email
 * metadata (JsonBuildFileInfoRecord adds both), built once and shared. */
typedef struct {
    json_t *smtp, *email;
    int oom, cut;
} repeated;

/* Past ST_EVE_REPEAT_MAX bytes the repeated lists are left out (the smtp
 * event has them), so that many files times many recipients or long
 * names cannot make the output grow with their product. */
#define ST_EVE_REPEAT_MAX 65536

static void repeated_make(eve *e, const json_t *tx, repeated *r)
{
    static const char *const lists[] = {"to", "cc", "attachment", "url"};
    r->smtp = smtp_obj(e, tx);
    r->email = email_obj(e, json_object_get(tx, "message"), 0);
    r->cut = json_dumpb(r->smtp, NULL, 0, ST_RECORD_JSON_FLAGS) +
                 json_dumpb(r->email, NULL, 0, ST_RECORD_JSON_FLAGS) >
             ST_EVE_REPEAT_MAX;
    if (r->cut) {
        json_object_del(r->smtp, "rcpt_to");
        for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
            json_object_del(r->email, lists[i]);
    }
    r->oom = e->oom || !r->smtp || !r->email;
    e->oom = 0;
}

/* JsonBuildFileInfoRecord: one per attachment. */
static json_t *file_event(eve *e, const json_t *tx, const repeated *r, const json_t *att,
                          size_t tx_id)
{
    json_t *ev = header(e, tx, "fileinfo"), *x = extra_file(e, att);
    e->oom |= r->oom;
    put(e, ev, "smtp", json_incref(r->smtp));
    put(e, ev, "email", json_incref(r->email));
    if (e->network)
        put(e, ev, "app_proto", json_string("smtp"));
    put(e, ev, "fileinfo", fileinfo_obj(e, att, tx_id));
    put_str(e, ev, "host", json_object_get(e->rec, "sensor"));
    if (r->cut)
        put(e, x, "metadata_cut", json_true());
    put(e, ev, "smtptap", x);
    return ev;
}

/* Suricata numbers a flow's transactions from 0. A record that carries
 * Zeek's trans_depth (from 1) keeps the number a transaction had in an
 * earlier record of the same session; else it is its index here. */
static size_t tx_number(const json_t *tx, size_t index)
{
    json_int_t depth = json_integer_value(json_object_get(tx, "trans_depth"));
    return depth >= 1 ? (size_t)(depth - 1) : index;
}

/* Suricata logs a transaction's files before the transaction. */
static void tx_events(eve *e, const json_t *tx, size_t index)
{
    size_t tx_id = tx_number(tx, index);
    json_t *atts = json_object_get(json_object_get(tx, "message"), "attachments");
    if (json_array_size(atts) > 0) {
        repeated r;
        repeated_make(e, tx, &r);
        for (size_t i = 0; i < json_array_size(atts); i++)
            emit(e, file_event(e, tx, &r, json_array_get(atts, i), tx_id));
        json_decref(r.smtp);
        json_decref(r.email);
    }
    emit(e, smtp_event(e, tx, tx_id));
}

int st_eve_record(const json_t *rec, st_eve_line_fn fn, void *arg)
{
    if (!json_is_object(rec))
        return -1;
    eve e = {.rec = rec, .uid = json_object_get(rec, "uid"), .fn = fn, .arg = arg};
    const char *uid = json_string_value(e.uid);
    e.flow_id = st_eve_flow_id(uid ? uid : "");
    endpoints(&e);
    json_t *txs = json_object_get(rec, "transactions");
    if (json_array_size(txs) == 0)
        emit(&e, smtp_event(&e, NULL, 0));
    for (size_t i = 0; i < json_array_size(txs); i++)
        tx_events(&e, json_array_get(txs, i), i);
    return e.n;
}

int st_eve_text(const char *text, size_t len, st_eve_line_fn fn, void *arg)
{
    json_t *rec = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    if (!rec)
        return -1;
    int n = st_eve_record(rec, fn, arg);
    json_decref(rec);
    return n;
}
