/*
 * eve.h - a finished record as Suricata EVE events (record_format = eve).
 *
 * One session record (or message-file record) becomes the events Suricata
 * 8 would log for the same SMTP flow, so an existing EVE pipeline
 * (Logstash, Splunk, Elastic) takes them as they are: for each
 * transaction, one "fileinfo" event per attachment, then one "smtp" event
 * (Suricata logs a transaction's files before the transaction); a session
 * without transactions gives one "smtp" event with its helo. Field names,
 * nesting and value formats are Suricata's; docs/record.md "EVE output"
 * maps each field to the record field it comes from and lists what
 * differs, and why. smtptap's own facts (the uid above all) go in one
 * extra top-level object, "smtptap".
 *
 * Entry points: st_eve_record (a jansson record, as output/record.c builds
 * it), st_eve_text (the same record as the JSON line the core writes),
 * st_eve_flow_id.
 *
 * Limits: the events hold only what the record holds, so they are
 * bounded by the record's caps; one event is built, written and freed at
 * a time. The smtp and email metadata every fileinfo event repeats lose
 * their lists past 64 KiB (smtptap.metadata_cut), so that the output
 * cannot grow with files times recipients.
 *
 * How it fails: an event that cannot be built (no memory) is handed on as
 * NULL, which the core counts as an output error, as it does for a
 * record; a record that is not a JSON object (or text that does not parse)
 * gives -1 and no event.
 */
#ifndef ST_OUTPUT_EVE_H
#define ST_OUTPUT_EVE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* One event: a line of JSON without its newline, malloc'd, which the
 * callee owns and frees (st_core_emit_text's contract), or NULL when the
 * event could not be built. */
typedef void (*st_eve_line_fn)(void *arg, char *line);

/* The events of one finished record, in order; the number handed to fn
 * (NULLs included), or -1 when record is not an object. */
int st_eve_record(const json_t *record, st_eve_line_fn fn, void *arg);

/* The same from the record's JSON text (len bytes, need not end in NUL). */
int st_eve_text(const char *text, size_t len, st_eve_line_fn fn, void *arg);

/* EVE's flow_id for a uid: the first 8 bytes of SHA-256(uid), big endian,
 * cut to 51 bits as Suricata cuts its own (JavaScript's exact integers). */
int64_t st_eve_flow_id(const char *uid);

#endif
