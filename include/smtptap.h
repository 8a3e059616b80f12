/*
 * smtptap.h - the public C API of libsmtptap.
 *
 * smtptap turns mail traffic into evidence. It reassembles TCP streams
 * from capture files or a live interface, follows every SMTP dialogue
 * (proxy preambles, pipelining, BDAT, AUTH user names, STARTTLS), parses
 * each message's MIME structure, and writes one JSON record per SMTP
 * session to OUT/sessions.jsonl (docs/record.md). By default the exact
 * bytes of every message go to OUT/messages/ and attachments to
 * OUT/files/, each named by its sha256; OUT/stats.json is written at
 * close. Message files (.eml, a Maildir) give the same record without
 * the network fields.
 *
 * Typical use:
 *
 *     char err[256];
 *     smtptap_config *c = smtptap_config_new();
 *     smtptap_config_set(c, "output_dir", "out", err, sizeof err);
 *     smtptap *t = smtptap_open(c, err, sizeof err);
 *     if (t) {
 *         smtptap_read_file(t, "capture.pcap", NULL, err, sizeof err);
 *         if (smtptap_close(t, err, sizeof err) != 0)
 *             fprintf(stderr, "smtptap: %s\n", err);
 *     }
 *     smtptap_config_free(c);
 *
 * Entry points: smtptap_config_new/_set/_load/_get/_describe/_free for
 * options; smtptap_open; the sources smtptap_read_file, smtptap_sniff,
 * smtptap_read_eml and smtptap_watch_maildir; smtptap_stop,
 * smtptap_get_stats, smtptap_flush; smtptap_close; smtptap_version.
 * Options are named key/value pairs. The same names work in the config
 * file, on the command line (--key=value) and here, and
 * smtptap_config_describe() lists them.
 *
 * Limits: one smtptap open at a time per process, because libnids keeps
 * its state in globals (close one before opening the next, and use one
 * process per capture to scale). It is not thread-safe: call it from one
 * thread, except smtptap_stop. Every buffer has a cap (options and fixed
 * caps: "Limits" in docs/record.md), and a cap that is hit shows in the
 * record.
 * Memory does not grow with message size.
 *
 * How it fails: functions that can fail return -1 (or NULL) and put a
 * one-line message in err. None of them exits, aborts or prints.
 * smtptap_open creates OUT and truncates OUT/sessions.jsonl; it fails
 * when it cannot, or when an analyzer that always_dispatch names is
 * unknown or fails its setup. A read error ends that source only, and
 * what was read before it is kept. Records and files that cannot be
 * written are counted (output_errors), and smtptap_close then returns -1.
 *
 * Not handled: decrypting TLS (a session is followed up to STARTTLS),
 * reassembling IPv6 fragments (they are counted), several smtptap
 * instances or threads in one process.
 *
 * GPL-2.0-or-later.
 */
#ifndef SMTPTAP_H
#define SMTPTAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct smtptap_config smtptap_config;
typedef struct smtptap smtptap;

smtptap_config *smtptap_config_new(void);
void smtptap_config_free(smtptap_config *c);

/* Set one option. Booleans take true/false/yes/no/1/0/on/off (any case,
 * so stoQ's True/False too); lists are comma-separated. Dashes in key are
 * read as underscores. Precedence: a value set by a call is never
 * replaced by a config file loaded later (call > file > default). */
int smtptap_config_set(smtptap_config *c, const char *key, const char *value, char *err,
                       size_t errlen);

/* The same as a config file's "[section] key = value" line, e.g. stoQ's
 * "smtp:omit_body=true" is ("smtp", "omit_body", "true"): key names an
 * option, or section_key does. */
int smtptap_config_set_in(smtptap_config *c, const char *section, const char *key,
                          const char *value, char *err, size_t errlen);

/* Read a config file: INI as stoQ writes it ([smtp] for the stoQ options,
 * [output], [capture], [limits]; lines before any section are plain
 * "key = value"); '#' and ';' start comments. Values already set by a
 * call are kept. Stops at the first bad line, naming file:line. */
int smtptap_config_load(smtptap_config *c, const char *path, char *err, size_t errlen);

/* The current value of an option as text, NULL if there is no such option. */
const char *smtptap_config_get(const smtptap_config *c, const char *key);

/* Calls fn for every option in order: name, default value, help text. */
void smtptap_config_describe(void (*fn)(void *arg, const char *name, const char *def,
                                        const char *help),
                             void *arg);

smtptap *smtptap_open(const smtptap_config *c, char *err, size_t errlen);

/* Read one capture file (pcap, pcapng, either gzip- or zstd-compressed). Several
 * calls read several files as one capture: streams go on across them.
 * bpf: a filter expression or NULL for all packets. On a read error the
 * packets before it have been processed; -1 is returned. */
int smtptap_read_file(smtptap *t, const char *path, const char *bpf, char *err, size_t errlen);

/* Capture from an interface until smtptap_stop(). bpf NULL: the
 * live_filter option. */
int smtptap_sniff(smtptap *t, const char *ifname, const char *bpf, char *err, size_t errlen);

/* A capture opened before smtptap_open, as tcpdump opens its handle
 * before its output: a missing file, an absent interface, no capture
 * permission or a filter that does not compile is an error before the
 * output folder is touched (and before privileges could be dropped).
 * smtptap_input_file: a capture file as smtptap_read_file reads it (a
 * FIFO too: it is read once); smtptap_input_live: an interface as
 * smtptap_sniff captures it, with c's snaplen and its live_filter;
 * either is NULL, with a message, when it cannot be opened.
 * smtptap_input_filter replaces the filter (-1 when it does not compile).
 * smtptap_run_input reads the input as smtptap_read_file or smtptap_sniff
 * would, then closes it; smtptap_input_close closes one that is not run. */
typedef struct smtptap_input smtptap_input;
smtptap_input *smtptap_input_file(const char *path, char *err, size_t errlen);
smtptap_input *smtptap_input_live(const smtptap_config *c, const char *ifname, char *err,
                                  size_t errlen);
int smtptap_input_filter(smtptap_input *in, const char *bpf, char *err, size_t errlen);
int smtptap_run_input(smtptap *t, smtptap_input *in, char *err, size_t errlen);
void smtptap_input_close(smtptap_input *in);

/* Read capture files one after the other as one capture, as
 * smtptap_read_file each: first (an input opened before, or NULL), then
 * paths, each with bpf. With the workers option above 1 they are read on
 * that many worker processes (a connection's packets all go to one), with
 * the same records. An error of one file is given to on_error and the
 * next is read; -1 when there was any. */
int smtptap_read_files(smtptap *t, smtptap_input *first, const char *const *paths, size_t n,
                       const char *bpf, void (*on_error)(void *arg, const char *msg), void *arg);

/* Read one message file (RFC 5322, as .eml) and write its record: the
 * shape of a session record without the network fields, "source": "eml"
 * (docs/record.md). A symbolic link is not followed and anything but a
 * regular file is refused. On a read error part-way the record of what
 * was read is still written; -1 is returned. */
int smtptap_read_eml(smtptap *t, const char *path, char *err, size_t errlen);

/* Every message in dir/new of a Maildir, one record each ("source":
 * "maildir"). follow 0: what is there now, then return; follow 1: then
 * every message delivered into new/ (inotify) until smtptap_stop(), each
 * record written at once. cur/ and tmp/ are ignored and nothing in the
 * Maildir is ever written, renamed or removed. A message that cannot be
 * read is skipped and the rest processed; -1 is returned at the end with
 * the first such error. */
int smtptap_watch_maildir(smtptap *t, const char *dir, int follow, char *err, size_t errlen);

/* Become user (tcpdump's -Z) once every input and output is open: the
 * output folder's folders and top files are given to the user, then
 * groups, group and user switched; root cannot be regained and no
 * capability is kept. 0 done (or already that user), 1 when must_exist
 * is 0 and there is no such user (nothing changed), -1 an error (stop:
 * the process may be half switched). Process-wide: call it from the
 * program's main thread, before any other thread exists. */
int smtptap_setuser(smtptap *t, const char *user, int must_exist, char *err, size_t errlen);

/* Reopen the record file by its name before the next record (SIGHUP, as
 * logrotate's postrotate asks): the records before go to the file as it
 * was, none is lost or split. Async-signal-safe. */
void smtptap_reopen(smtptap *t);

/* How far the reading of capture files is, for a progress line: bytes
 * of the files read so far (as on disk, compressed or not), frames read,
 * records written (with workers: those of the reader, 0 until the end). */
typedef struct smtptap_progress {
    uint64_t file_bytes, packets, sessions;
} smtptap_progress;

/* fn is called while capture files are read, at most every 250 ms, and
 * when each file ends. NULL: never. */
void smtptap_on_progress(smtptap *t, void (*fn)(void *arg, const smtptap_progress *p), void *arg);

/* A line in OUT/stats.jsonl (and stats.json rewritten) at the next packet
 * or timeout, as every stats_interval seconds does (SIGUSR1).
 * Async-signal-safe. */
void smtptap_stats_now(smtptap *t);

/* Ask a running read, sniff or Maildir watch to return. Async-signal-safe. */
void smtptap_stop(smtptap *t);

/* Feed one packet, as a capture would: its time stamp, its link type (a
 * pcap DLT_ value: DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL, ...), caplen bytes
 * captured of len on the wire. Packets of one smtptap are one capture:
 * give them in time order. -1 when the link type is not one smtptap
 * decodes (the packet is counted, not followed). */
int smtptap_feed_packet(smtptap *t, const struct timeval *ts, int linktype, const void *data,
                        size_t caplen, size_t len);

/* One message from memory (RFC 5322 bytes), with the record of a message
 * file: "source": "memory", "file": name, ts the time stamps (NULL: now).
 * -1 with err when the record could not be written. */
int smtptap_feed_message(smtptap *t, const char *name, const void *data, size_t len,
                         const struct timeval *ts, char *err, size_t errlen);

/* Records to the embedding program: fn is called with every record as
 * it is written (also to the record file, unless the sinks option is
 * ""). The record lives during the call only. NULL fn: none. */
typedef struct smtptap_record smtptap_record;
typedef void (*smtptap_record_fn)(void *arg, const smtptap_record *r);
void smtptap_on_record(smtptap *t, smtptap_record_fn fn, void *arg);

/* The record as one line of JSON text (docs/record.md), len bytes. */
const char *smtptap_record_json(const smtptap_record *r, size_t *len);
/* A field by path, dot-separated keys and indexes ("uid",
 * "transactions.0.message.subject"), as text: strings as they are,
 * numbers and booleans formatted; NULL for null, absent, objects and
 * arrays. Valid during the callback. */
const char *smtptap_record_get(const smtptap_record *r, const char *path);
/* Elements of an array field, -1 when it is not an array. */
long smtptap_record_count(const smtptap_record *r, const char *path);

typedef struct smtptap_stats {
    uint64_t packets, bytes;  /* read from sources */
    uint64_t streams;         /* TCP streams followed */
    uint64_t sessions;        /* SMTP session records written */
    uint64_t transactions;    /* in them */
    uint64_t messages;        /* messages recovered */
    uint64_t messages_stored; /* of which newly or already in OUT/messages */
    uint64_t missing_bytes;   /* skipped in holes */
    uint64_t pcap_dropped;    /* kernel drops (live) */
    uint64_t output_errors;   /* records or files that could not be written */
    uint64_t redis_lost;      /* records the Redis sink kept neither in Redis nor its spool */
} smtptap_stats;

void smtptap_get_stats(const smtptap *t, smtptap_stats *s);

/* Close every open session now (close "eof") and flush the record file.
 * Reading may go on afterwards. */
void smtptap_flush(smtptap *t);

/* Flush every open session (close "eof"), close the outputs and free t.
 * Returns -1 if anything could not be written. */
int smtptap_close(smtptap *t, char *err, size_t errlen);

const char *smtptap_version(void);

#ifdef __cplusplus
}
#endif

#endif
