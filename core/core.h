/*
 * core.h - what the pipeline shares between sessions (core-internal).
 */
#ifndef ST_CORE_CORE_H
#define ST_CORE_CORE_H

#include <signal.h>
#include <stdio.h>
#include <sys/time.h>

#include "core/config.h"
#include "analyze/file.h"
#include "analyze/ioc.h"
#include "capture/maildir.h"
#include "capture/source.h"
#include "extract/extract.h"
#include "output/record.h"
#include "reassembly/reasm.h"
#include "smtp/smtp.h"

typedef struct st_core {
    smtptap_config *cfg;
    st_store *messages;           /* with a cap of 0 when store_messages is off */
    st_store *files;              /* attachments; NULL when archive_attachments is off */
    st_store *messages_partial;   /* messages not seen whole: OUT/messages/partial/ */
    st_store *files_partial;      /* attachments not seen whole: OUT/files/partial/ */
    st_extract_config extract;    /* the same extraction for SMTP and message files */
    st_file_kind msg_kind;        /* messages: OUT/messages/, sha256 only */
    st_file_kind attach_kind;     /* attachments: OUT/files/, the always_dispatch chain */
    st_ioc_engine *iocs;          /* extract_iocs; NULL when off */
    char *ioc_keys;               /* ",key,key,": ioc_keys lower-cased, for lookup */
    struct st_sink *sink;         /* the records: OUT/sessions.jsonl (output/sink.h) */
    int flush_each;               /* live capture: every record reaches the disk at once */
    volatile sig_atomic_t reopen; /* SIGHUP: reopen the record file before the next line */
    smtptap_record_fn record_fn;  /* the embedding program's callback; NULL: none */
    void *record_arg;
    st_smtp_limits smtp_limits;
    st_record_limits record_limits;
    smtptap_stats stats;
} st_core;

/* A record to the embedding program's callback (core/record_api.c). */
void st_record_deliver(smtptap_record_fn fn, void *arg, const char *json, size_t len);

/* The reassembly consumer: one st_session per TCP stream. */
extern const st_reasm_ops st_session_ops;

/* Write one finished record as a line of the record sink, sessions.jsonl
 * (steals rec). A record the sink gives up counts as an output error. */
void st_core_emit(st_core *core, json_t *rec);
/* The same for a record already serialised (steals line; NULL counts as
 * an output error). */
void st_core_emit_text(st_core *core, char *line);

/* One message in flight (core/message.c): its bytes as a file object of
 * msg_kind, and its extraction, whose attachments are file objects of
 * attach_kind. Used alike by SMTP sessions and message files. */
typedef struct st_core_msg {
    st_file *eml;  /* NULL when out of memory at begin */
    st_extract *x; /* NULL: the record has no contents */
    uint64_t missing;
    int ended;                /* its end was seen (set before st_core_msg_end) */
    st_ioc_set *iocs;         /* extract_iocs: this message's; NULL when off */
    st_ioc_text *ioc_body[2]; /* body, body_html as they stream */
    unsigned ioc_want;        /* bit 0: body, bit 1: body_html is in ioc_keys */
} st_core_msg;

/* From the options: the extraction config and the two kinds, the
 * analyzers set up. -1 with err (an unknown analyzer, a failed set-up). */
int st_core_message_setup(st_core *core, char *err, size_t errlen);
/* The stores, once open, behind the two kinds. */
void st_core_message_stores(st_core *core);
void st_core_message_teardown(st_core *core);

void st_core_msg_begin(st_core *core, st_core_msg *m);
void st_core_msg_data(st_core_msg *m, const uint8_t *d, size_t n);
void st_core_msg_gap(st_core_msg *m, uint64_t n);
/* Ends the message: its record fields (NULL when out of memory at begin);
 * complete: every byte was seen and its end too. Counts it in the stats;
 * sha256 (when not NULL) gets the content's hash, "" if none. */
json_t *st_core_msg_end(st_core *core, st_core_msg *m, int complete, char sha256[65]);
/* Drops a message never ended: nothing of it is kept. */
void st_core_msg_abort(st_core_msg *m);
/* A quiet stream: buffers given back. */
void st_core_msg_idle(st_core_msg *m);

/* extract_iocs (core/iocs.c): the engine and ioc_keys at start; per
 * message, a set fed with the bodies as they stream (begin) and the
 * ioc_keys headers at the end (finish, before the record is made). */
int st_core_iocs_setup(st_core *core, char *err, size_t errlen);
void st_core_iocs_teardown(st_core *core);
void st_core_iocs_begin(st_core *core, st_core_msg *m);
void st_core_iocs_finish(st_core *core, st_core_msg *m, const st_xfacts *f);
void st_core_iocs_free(st_core_msg *m);

/* One message file (core/msgfile.c): dirfd and name as for openat(2),
 * shown is the path written in the record and in errors, source is "eml"
 * or "maildir". Symbolic links are not followed; anything but a regular
 * file is refused. Returns 1 when a record was written, 0 when the file
 * vanished before it was opened (a Maildir reader moved it; only when
 * gone_ok), -1 with err set otherwise (a file that failed in the middle
 * still gets its record). */
int st_msgfile_read(st_core *core, int dirfd, const char *name, const char *shown,
                    const char *source, int gone_ok, char *err, size_t errlen);

/* One message from memory, as st_msgfile_read with "source": "memory". */
int st_msgmem_read(st_core *core, const char *name, const void *data, size_t len,
                   const struct timeval *ts, char *err, size_t errlen);

/* DIR/new of a Maildir (capture/maildir.c), each message read as by
 * st_msgfile_read: every message in it once, then, with follow, every
 * message delivered into it until *stop is set. */
/* The library handle (core/smtptap.c; workers.c forks it). */
struct smtptap {
    st_core core;
    st_source *current; /* for smtptap_stop */
    volatile sig_atomic_t stopping;
    st_reasm_counters extra; /* the workers' counters (workers.c), added to our own */
    void (*progress_fn)(void *, const smtptap_progress *);
    void *progress_arg;
    int worker;                      /* its index in a worker process, -1 otherwise */
    volatile sig_atomic_t stats_now; /* SIGUSR1: a stats line at the next packet or tick */
    uint64_t stats_at;               /* ms (monotonic) of the last stats line */
    unsigned stats_n;                /* packets since the clock was looked at for it */
    struct timeval started;          /* wall clock at smtptap_open */
    uint64_t files_done;             /* bytes of the capture files read to their end */
    uint64_t progress_at;            /* ms (monotonic) of the last call */
    unsigned progress_n;             /* frames since the clock was looked at */
};

/* A line in OUT/stats.jsonl when stats_interval has passed or one was
 * asked for (final: the run's or the worker's last). */
void st_core_stats_tick(struct smtptap *t);
void st_core_stats_line(struct smtptap *t, int final);

/* The progress callback, when due (force: a file ended); packets: frames
 * read when the reader does not feed them itself (workers.c), else 0. */
void st_core_progress(struct smtptap *t, const st_source *src, int force, uint64_t packets);

/* Read src to its end, a stop or an error (core/smtptap.c); ticks: an
 * empty record is the capture's clock (a worker's pipe, workers.c). */
int st_core_pump(struct smtptap *t, st_source *src, int ticks, char *err, size_t errlen);
/* A source read to its end: its kernel drops counted. */
void st_core_source_done(st_core *c, st_source *src);
/* The record file's buffer written out, what it gave up counted. */
void st_core_flush_sink(st_core *c);
/* A worker's last act on its outputs: the sink closed (the Redis sink
 * delivers or spools its queue), before its counters are reported. */
void st_core_close_sink(st_core *c);
/* to += from, counter by counter. */
void st_core_sum_counters(st_reasm_counters *to, const st_reasm_counters *from);
/* Counters of other processes, added to stats.json's. */
void st_core_add_counters(struct smtptap *t, const st_reasm_counters *rc);

/* workers.c: the next capture file to split, opened and filtered (its
 * errors said by the callback); NULL when there is none. */
typedef st_source *(*st_workers_next)(void *arg);
#define ST_WORKERS_MAX 64
int st_workers_files(struct smtptap *t, unsigned n, st_workers_next next, void *arg, char *err,
                     size_t errlen);
int st_workers_live(struct smtptap *t, st_source **src, unsigned n, char *err, size_t errlen);

/* The record file reopened now, if asked (core/smtptap.c). */
void st_core_reopen(st_core *c);

/* Give OUT to user and become it (core/privs.c): 0 done, 1 no such user
 * (and must_exist 0), -1 an error. */
int st_core_setuser(const char *out, const char *user, int must_exist, char *err, size_t errlen);

int st_core_maildir(st_core *core, const char *dir, int follow, volatile sig_atomic_t *stop,
                    char *err, size_t errlen);

#endif
