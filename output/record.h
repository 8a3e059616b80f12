/*
 * record.h - the session record: one JSON object per SMTP session.
 *
 * Built from SMTP events as the session goes on, finished when the TCP
 * stream closes. A message file (.eml, Maildir) gets a record of the same
 * builder and shape, without the network fields: one accepted transaction
 * whose message is the file. Field names are a contract (docs/record.md).
 *
 * Entry points: st_record_new or st_record_new_file; st_record_smtp for
 * every event, st_record_set_message, st_record_anomaly, st_record_note,
 * st_record_midstream,
 * st_record_idle; st_record_finish or st_record_finish_file for the line
 * of JSON; st_record_free. Helpers for the message record:
 * st_record_message_json, st_json_string(n), st_format_time,
 * st_close_reason_name.
 *
 * Limits: every list has a cap; what does not fit is reported by an
 * anomaly (too_many_transactions, too_many_rcpts, too_many_anomalies with
 * the count), so a hostile session cannot grow a record without bound.
 * Strings from the wire are made valid UTF-8 (invalid bytes become
 * U+FFFD) and capped before they reach jansson.
 *
 * How it fails: without memory, st_record_new gives NULL and the finish
 * calls give NULL (the caller counts an output error).
 */
#ifndef ST_OUTPUT_RECORD_H
#define ST_OUTPUT_RECORD_H

#include <jansson.h>
#include <sys/time.h>

#include "analyze/analyzer.h"
#include "reassembly/reasm.h"
#include "smtp/smtp.h"

typedef struct st_record_limits {
    size_t max_transactions; /* per session */
    size_t max_rcpts;        /* accepted + rejected, per transaction */
    size_t max_anomalies;    /* per session */
    size_t max_string;       /* bytes of any one string from the wire */
} st_record_limits;

void st_record_limits_default(st_record_limits *lim);

typedef struct st_record st_record;

st_record *st_record_new(const st_record_limits *lim, const st_endpoint *client,
                         const st_endpoint *server, const struct timeval *ts);
/* A message file's record: source "eml" or "maildir", file as shown,
 * mtime as ts_start and ts_end. */
st_record *st_record_new_file(const st_record_limits *lim, const char *source, const char *file,
                              const struct timeval *mtime);
void st_record_free(st_record *r);

/* Feed every SMTP event, in order. */
void st_record_smtp(st_record *r, const st_smtp_event *ev);

/* The message of the current transaction (takes the reference). Called
 * once the message is over, before the TX_END event that closes it. */
void st_record_set_message(st_record *r, json_t *message);

void st_record_anomaly(st_record *r, const char *name, const char *detail);

/* The fields every message has (docs/record.md "Message"), from its file
 * object; st_message_json adds the rest. skipped: why it was not stored
 * (the option that said so), NULL when it was or a write error did. */
json_t *st_record_message_json(const st_file_result *r, uint64_t missing, int complete,
                               const char *skipped);

/* The session went quiet: pack what waits for its end. */
void st_record_idle(st_record *r);

/* The stream was picked up mid-way, its handshake not seen: "midstream": true. */
void st_record_midstream(st_record *r);

/* Set a top-level string field of the record (NULL value: null). */
void st_record_note(st_record *r, const char *key, const char *value);

/* How records are serialised (also by st_core_emit). */
#define ST_RECORD_JSON_FLAGS (JSON_COMPACT | JSON_ENSURE_ASCII)

/* Completes the record: one line of JSON text (no newline) the caller
 * frees, NULL when out of memory. r stays valid for st_record_free only. */
char *st_record_finish(st_record *r, st_close_reason why, const st_half_stats stats[2],
                       const struct timeval *ts_end, size_t *n_transactions);

/* The same for a message file's record: its transaction accepted, its
 * uid made from the content's sha256 (hex), so that the same file gives
 * the same record run after run. */
char *st_record_finish_file(st_record *r, const char *sha256);

/* Helpers shared with the message record. */
json_t *st_json_string(const char *s, size_t cap); /* valid UTF-8, at most cap bytes */
json_t *st_json_stringn(const char *s, size_t n, size_t cap);
void st_format_time(const struct timeval *tv, char *out, size_t outlen);
const char *st_close_reason_name(st_close_reason why);

#endif
