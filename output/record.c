/*
 * record.c - SMTP events into the session record; the message-file record.
 *
 * The record is a jansson object whose keys are created up front, in the
 * documented order (docs/record.md), and filled as events arrive. Only
 * the current transaction is a tree: each one that ends is kept as JSON
 * text in a spool (output/spool.c), and st_record_finish splices those
 * texts into the "transactions" array of the final line. An idle session
 * (st_record_idle) packs that text and freezes the rest of its record to
 * packed text too; the next event that changes a field thaws it. Events
 * that set no field (message bytes, plain commands) leave it frozen.
 *
 * Entry points: see record.h.
 *
 * Limits: max_transactions per record (a transaction past it is still
 * followed by the SMTP parser but leaves only one "too_many_transactions"
 * anomaly), max_rcpts per transaction ("too_many_rcpts", once),
 * max_anomalies ("too_many_anomalies" with the number left out), and
 * max_string bytes of any string from the wire.
 *
 * How it fails: out of memory when a record is created gives NULL (no
 * record for that session); out of memory while thawing loses the record,
 * and st_record_finish then returns NULL for the caller to count. A
 * transaction whose text cannot be kept is left out of the record.
 *
 * Not handled here: a message's contents (headers, bodies, attachments:
 * output/message_json.c); serialising the record in any form but one
 * line of compact, ASCII-escaped JSON.
 */
#include "output/record.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "output/community_id.h"
#include "output/spool.h"

struct st_record {
    st_record_limits lim;
    json_t *root;
    json_t *txs;     /* holds the open transaction only */
    json_t *tx;      /* borrowed: lives in txs */
    size_t tx_rcpts; /* recipients seen in the open transaction */
    /* Transactions already over, as JSON text: a jansson tree costs several
     * times its text, and a session may stay open for minutes. */
    st_spool done;
    size_t n_done;
    /* An idle session's whole open record, as packed text instead of a
     * jansson tree (root, txs, anomalies and tx are NULL meanwhile). */
    st_spool frozen;
    int is_frozen, tx_was_open;
    json_t *anomalies;
    size_t tx_over_cap, anomalies_over_cap;
    int tx_ignored; /* the current transaction is past the cap */
};

void st_record_limits_default(st_record_limits *lim)
{
    lim->max_transactions = 1000;
    lim->max_rcpts = 1000;
    lim->max_anomalies = 100;
    lim->max_string = 4096;
}

static json_t *endpoint_json(const st_endpoint *ep)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(ep->family, ep->addr, ip, sizeof ip);
    return json_pack("{s:s, s:i}", "ip", ip, "port", (int)ep->port);
}

/* "S" (session) or "M" (message file) and 18 base62 characters from the
 * first 18 bytes of a digest: deterministic, so the same input gives the
 * same uids run after run. */
static void make_uid(char kind, const unsigned char d[18], char out[20])
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    out[0] = kind;
    for (int i = 0; i < 18; i++)
        out[i + 1] = b62[d[i] % 62];
    out[19] = 0;
}

static void session_uid(const st_endpoint *c, const st_endpoint *s, const struct timeval *ts,
                        char out[20])
{
    unsigned char d[SHA_DIGEST_LENGTH], in[2 * sizeof *c + 16];
    long long t[2] = {(long long)ts->tv_sec, (long long)ts->tv_usec};
    memcpy(in, c, sizeof *c);
    memcpy(in + sizeof *c, s, sizeof *s);
    memcpy(in + 2 * sizeof *c, t, sizeof t);
    SHA1(in, sizeof in, d);
    make_uid('S', d, out);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

/* From the hex sha256 of the content (empty only if hashing had no memory). */
static void file_uid(const char *sha256, char out[20])
{
    unsigned char d[18];
    size_t n = strlen(sha256);
    for (size_t i = 0; i < 18; i++)
        d[i] = 2 * i + 1 < n
                   ? (unsigned char)(hexval(sha256[2 * i]) << 4 | hexval(sha256[2 * i + 1]))
                   : 0;
    make_uid('M', d, out);
}

static st_record *record_alloc(const st_record_limits *lim)
{
    st_record *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->lim = *lim;
    r->txs = json_array();
    r->anomalies = json_array();
    r->root = json_object();
    if (!r->txs || !r->anomalies || !r->root) {
        st_record_free(r);
        return NULL;
    }
    return r;
}

st_record *st_record_new_file(const st_record_limits *lim, const char *source, const char *file,
                              const struct timeval *mtime)
{
    st_record *r = record_alloc(lim);
    char when[40];
    if (!r)
        return NULL;
    st_format_time(mtime, when, sizeof when);
    json_object_set_new(r->root, "uid", json_null()); /* from the content, at the end */
    json_object_set_new(r->root, "source", json_string(source));
    json_object_set_new(r->root, "file", st_json_string(file, 4096));
    json_object_set_new(r->root, "ts_start", json_string(when));
    json_object_set_new(r->root, "ts_end", json_string(when));
    json_object_set(r->root, "transactions", r->txs);
    json_object_set(r->root, "anomalies", r->anomalies);
    return r;
}

st_record *st_record_new(const st_record_limits *lim, const st_endpoint *client,
                         const st_endpoint *server, const struct timeval *ts)
{
    st_record *r = record_alloc(lim);
    if (!r)
        return NULL;
    char uid[20], cid[64], when[40];
    session_uid(client, server, ts, uid);
    st_community_id(client, server, cid, sizeof cid);
    st_format_time(ts, when, sizeof when);
    json_object_set_new(r->root, "uid", json_string(uid));
    json_object_set_new(r->root, "community_id", json_string(cid));
    json_object_set_new(r->root, "ts_start", json_string(when));
    json_object_set_new(r->root, "ts_end", json_null());
    json_object_set_new(r->root, "client", endpoint_json(client));
    json_object_set_new(r->root, "server", endpoint_json(server));
    static const char *later[] = {"close", "banner",   "helo",  "extensions",
                                  "auth",  "starttls", "tunnel"};
    for (size_t i = 0; i < sizeof later / sizeof *later; i++)
        json_object_set_new(r->root, later[i], json_null());
    json_object_set_new(r->root, "midstream", json_false());
    json_object_set(r->root, "transactions", r->txs);
    json_object_set(r->root, "anomalies", r->anomalies);
    return r;
}

void st_record_free(st_record *r)
{
    if (!r)
        return;
    json_decref(r->txs);
    json_decref(r->anomalies);
    json_decref(r->root);
    st_spool_free(&r->done);
    st_spool_free(&r->frozen);
    free(r);
}

static void freeze(st_record *r)
{
    if (r->is_frozen)
        return;
    char *text = json_dumps(r->root, ST_RECORD_JSON_FLAGS);
    st_spool s = {0};
    int ok = text && st_spool_add(&s, text, strlen(text)) == 0;
    free(text);
    if (!ok) {
        st_spool_free(&s);
        return; /* stays a tree: nothing lost */
    }
    st_spool_pack(&s);
    r->tx_was_open = r->tx != NULL;
    json_decref(r->txs);
    json_decref(r->anomalies);
    json_decref(r->root);
    r->txs = r->anomalies = r->root = r->tx = NULL;
    r->frozen = s;
    r->is_frozen = 1;
}

/* Back to a tree before anything changes. 0 when out of memory: the
 * record is then lost (the caller counts an output error at the end). */
static int thaw(st_record *r)
{
    if (!r->is_frozen)
        return r->root != NULL;
    size_t n;
    char *text = st_spool_take(&r->frozen, &n);
    json_t *root = text ? json_loadb(text, n, JSON_ALLOW_NUL, NULL) : NULL;
    free(text);
    r->is_frozen = 0;
    if (!root)
        return 0;
    r->root = root;
    r->txs = json_incref(json_object_get(root, "transactions"));
    r->anomalies = json_incref(json_object_get(root, "anomalies"));
    if (r->tx_was_open)
        r->tx = json_array_get(r->txs, json_array_size(r->txs) - 1);
    return 1;
}

void st_record_anomaly(st_record *r, const char *name, const char *detail)
{
    if (!thaw(r))
        return;
    if (json_array_size(r->anomalies) >= r->lim.max_anomalies) {
        r->anomalies_over_cap++;
        return;
    }
    json_t *a = json_object();
    json_object_set_new(a, "name", st_json_string(name, 64));
    json_object_set_new(a, "detail", st_json_string(detail, r->lim.max_string));
    json_array_append_new(r->anomalies, a);
}

void st_record_midstream(st_record *r)
{
    if (thaw(r))
        json_object_set_new(r->root, "midstream", json_true());
}

void st_record_note(st_record *r, const char *key, const char *value)
{
    if (!thaw(r))
        return;
    json_object_set_new(r->root, key, value ? json_string(value) : json_null());
}

static json_t *wire(const st_record *r, const char *s)
{
    return st_json_string(s, r->lim.max_string);
}

static json_t *reply_json(const st_record *r, const st_smtp_reply *rep)
{
    return rep->text ? wire(r, rep->text) : json_null();
}

static const char *status_name(st_tx_status s)
{
    static const char *names[] = {"accepted", "rejected", "aborted", "incomplete"};
    return (unsigned)s < 4 ? names[s] : "incomplete";
}

static void tx_open(st_record *r, const char *from, const char *params)
{
    r->tx = NULL;
    r->tx_ignored = 0;
    r->tx_rcpts = 0;
    if (r->n_done >= r->lim.max_transactions) {
        if (r->tx_over_cap++ == 0)
            st_record_anomaly(r, "too_many_transactions", NULL);
        r->tx_ignored = 1;
        return;
    }
    json_t *tx = json_object();
    json_object_set_new(tx, "mail_from", wire(r, from));
    json_object_set_new(tx, "mail_params", wire(r, params));
    json_object_set_new(tx, "rcpt_to", json_array());
    json_object_set_new(tx, "rcpt_rejected", json_array());
    json_object_set_new(tx, "mode", json_null());
    json_object_set_new(tx, "reply", json_null());
    json_object_set_new(tx, "status", json_null());
    json_object_set_new(tx, "message", json_null());
    json_array_append_new(r->txs, tx);
    r->tx = tx;
}

/* RCPT or DATA without MAIL still deserve a transaction to hang on. */
static json_t *current_tx(st_record *r)
{
    if (!r->tx && !r->tx_ignored)
        tx_open(r, NULL, NULL);
    return r->tx;
}

static void on_rcpt(st_record *r, const st_smtp_event *ev)
{
    json_t *tx = current_tx(r);
    if (!tx)
        return;
    json_t *ok = json_object_get(tx, "rcpt_to"), *bad = json_object_get(tx, "rcpt_rejected");
    if (r->tx_rcpts++ >= r->lim.max_rcpts) {
        if (r->tx_rcpts == r->lim.max_rcpts + 1)
            st_record_anomaly(r, "too_many_rcpts", NULL);
        return;
    }
    /* A recipient without any reply (one-sided capture) counts as accepted. */
    if (ev->flag || ev->reply.code == 0) {
        json_array_append_new(ok, wire(r, ev->arg));
    } else {
        json_array_append_new(bad, json_pack("{s:o, s:o}", "addr", wire(r, ev->arg), "reply",
                                             reply_json(r, &ev->reply)));
    }
}

static void on_helo(st_record *r, const st_smtp_event *ev)
{
    json_object_set_new(r->root, "helo", wire(r, ev->arg));
    if (ev->verb && strcmp(ev->verb, "EHLO") != 0 && ev->n_ext == 0)
        return;
    json_t *ext = json_array();
    for (size_t i = 0; i < ev->n_ext; i++)
        json_array_append_new(ext, wire(r, ev->ext[i]));
    json_object_set_new(r->root, "extensions", ext);
}

static void on_auth(st_record *r, const st_smtp_event *ev)
{
    json_t *success = ev->flag < 0 ? json_null() : json_boolean(ev->flag);
    json_object_set_new(r->root, "auth",
                        json_pack("{s:o, s:o, s:o, s:o}", "mechanism", wire(r, ev->arg), "username",
                                  wire(r, ev->user), "success", success, "reply",
                                  reply_json(r, &ev->reply)));
}

static void on_starttls(st_record *r, const st_smtp_event *ev)
{
    json_object_set_new(r->root, "starttls",
                        json_pack("{s:i, s:o, s:o}", "code", ev->reply.code, "reply",
                                  reply_json(r, &ev->reply), "encrypted", json_null()));
}

static void on_tls(st_record *r, const st_smtp_event *ev)
{
    json_t *st = json_object_get(r->root, "starttls");
    if (json_is_object(st))
        json_object_set_new(st, "encrypted", json_boolean(ev->flag));
}

/* The open transaction is over: keep it as text from now on. */
static void tx_seal(st_record *r)
{
    if (!r->tx)
        return;
    /* ",{...}" after the first, added in one piece: out of memory loses
     * the transaction, never leaves a stray comma in the line */
    char *text = json_dumps(r->tx, ST_RECORD_JSON_FLAGS);
    size_t n = text ? strlen(text) : 0;
    char *item = text ? malloc(n + 2) : NULL;
    if (item) {
        item[0] = ',';
        memcpy(item + 1, text, n + 1);
        size_t skip = r->n_done == 0; /* the first has no comma */
        if (st_spool_add(&r->done, item + skip, n + 1 - skip) == 0)
            r->n_done++;
    }
    free(item);
    free(text);
    json_array_clear(r->txs);
    r->tx = NULL;
}

void st_record_idle(st_record *r)
{
    st_spool_pack(&r->done);
    freeze(r);
}

static void on_tx_end(st_record *r, const st_smtp_event *ev)
{
    json_t *tx = r->tx;
    if (tx) {
        json_object_set_new(tx, "reply", reply_json(r, &ev->reply));
        json_object_set_new(tx, "status", json_string(status_name(ev->status)));
    }
    tx_seal(r);
    r->tx_ignored = 0;
}

void st_record_smtp(st_record *r, const st_smtp_event *ev)
{
    if (ev->type == ST_SMTP_EV_MSG_DATA || ev->type == ST_SMTP_EV_MSG_GAP ||
        ev->type == ST_SMTP_EV_MSG_END || ev->type == ST_SMTP_EV_COMMAND || !thaw(r))
        return; /* these leave no field: an idle record stays packed */
    switch (ev->type) {
    case ST_SMTP_EV_BANNER:
        json_object_set_new(r->root, "banner", reply_json(r, &ev->reply));
        break;
    case ST_SMTP_EV_HELO:
        on_helo(r, ev);
        break;
    case ST_SMTP_EV_AUTH:
        on_auth(r, ev);
        break;
    case ST_SMTP_EV_STARTTLS:
        on_starttls(r, ev);
        break;
    case ST_SMTP_EV_TLS:
        on_tls(r, ev);
        break;
    case ST_SMTP_EV_MAIL:
        tx_open(r, ev->arg, ev->params);
        break;
    case ST_SMTP_EV_RCPT:
        on_rcpt(r, ev);
        break;
    case ST_SMTP_EV_DATA_BEGIN:
        if (current_tx(r))
            json_object_set_new(r->tx, "mode", json_string(ev->verb ? ev->verb : "DATA"));
        break;
    case ST_SMTP_EV_TX_END:
        on_tx_end(r, ev);
        break;
    case ST_SMTP_EV_ANOMALY:
        st_record_anomaly(r, ev->verb, ev->arg);
        break;
    default: /* message bytes and plain commands leave no field */
        break;
    }
}

json_t *st_record_message_json(const st_file_result *r, uint64_t missing, int complete,
                               const char *skipped)
{
    json_t *m = json_object();
    json_object_set_new(m, "size", json_integer((json_int_t)r->size));
    json_object_set_new(m, "sha256", json_string(r->digest.sha256));
    json_object_set_new(m, "eml", r->stored ? json_string(r->path) : json_null());
    json_object_set_new(m, "missing_bytes", json_integer((json_int_t)missing));
    json_object_set_new(m, "complete", json_boolean(complete));
    if (skipped)
        json_object_set_new(m, "store_skipped", json_string(skipped));
    else if (r->write_error)
        json_object_set_new(m, "store_error", json_string(strerror(r->write_error)));
    return m;
}

void st_record_set_message(st_record *r, json_t *message)
{
    if (!thaw(r)) {
        json_decref(message);
        return;
    }
    json_t *tx = current_tx(r);
    if (tx)
        json_object_set_new(tx, "message", message);
    else
        json_decref(message);
}

const char *st_close_reason_name(st_close_reason why)
{
    static const char *names[] = {"fin", "rst", "timeout", "eof", "evicted"};
    return (unsigned)why < 5 ? names[why] : "eof";
}

static json_t *per_dir(uint64_t client, uint64_t server)
{
    return json_pack("{s:I, s:I}", "client", (json_int_t)client, "server", (json_int_t)server);
}

/* The record as one line of JSON text, the sealed transactions spliced in
 * where the (empty) transactions array stands. A JSON string never holds
 * an unescaped quote, so the key is found only where it is a key. */
static char *splice(st_record *r)
{
    static const char key[] = "\"transactions\":[]";
    char *head = json_dumps(r->root, ST_RECORD_JSON_FLAGS);
    char *at = head ? strstr(head, key) : NULL;
    if (!at) {
        free(head);
        return NULL;
    }
    size_t pre = (size_t)(at - head) + sizeof key - 2, rest = strlen(at + sizeof key - 2);
    size_t n = 0;
    char *txs = st_spool_take(&r->done, &n);
    char *out = txs || r->n_done == 0 ? malloc(pre + n + rest + 1) : NULL;
    if (out) {
        memcpy(out, head, pre);
        memcpy(out + pre, txs ? txs : "", n);
        memcpy(out + pre + n, at + sizeof key - 2, rest + 1);
    }
    free(txs);
    free(head);
    return out;
}

/* What every record ends with: the open transaction sealed, the count
 * of anomalies beyond the cap. */
static void finish_common(st_record *r)
{
    if (r->tx) { /* the SMTP layer always ends its transactions; be safe anyway */
        json_object_set_new(r->tx, "status", json_string("incomplete"));
        tx_seal(r);
    }
    if (r->anomalies_over_cap) {
        json_t *a = json_pack("{s:s, s:I}", "name", "too_many_anomalies", "detail",
                              (json_int_t)r->anomalies_over_cap);
        json_array_append_new(r->anomalies, a);
    }
}

char *st_record_finish_file(st_record *r, const char *sha256)
{
    char uid[20];
    if (!thaw(r))
        return NULL;
    file_uid(sha256, uid);
    json_object_set_new(r->root, "uid", json_string(uid));
    if (current_tx(r)) {
        json_object_set_new(r->tx, "status", json_string("accepted"));
        tx_seal(r);
    }
    finish_common(r);
    return splice(r);
}

char *st_record_finish(st_record *r, st_close_reason why, const st_half_stats st[2],
                       const struct timeval *ts_end, size_t *n_transactions)
{
    char when[40];
    *n_transactions = 0;
    if (!thaw(r))
        return NULL;
    st_format_time(ts_end, when, sizeof when);
    finish_common(r);
    json_object_set_new(r->root, "ts_end", json_string(when));
    json_object_set_new(r->root, "close", json_string(st_close_reason_name(why)));
    json_object_set_new(r->root, "bytes", per_dir(st[0].bytes, st[1].bytes));
    json_object_set_new(r->root, "packets", per_dir(st[0].packets, st[1].packets));
    json_object_set_new(r->root, "missing_bytes", per_dir(st[0].missing, st[1].missing));
    *n_transactions = r->n_done;
    return splice(r);
}
