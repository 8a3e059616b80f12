/*
 * core.h - what the pipeline shares between sessions (core-internal).
 */
#ifndef ST_CORE_CORE_H
#define ST_CORE_CORE_H

#include <signal.h>
#include <stdio.h>

#include "core/config.h"
#include "output/message.h"
#include "output/record.h"
#include "output/store.h"
#include "reassembly/reasm.h"
#include "smtp/smtp.h"

typedef struct st_core {
    smtptap_config *cfg;
    st_store *messages;           /* with a cap of 0 when store_messages is off */
    st_store *files;              /* attachments; NULL when archive_attachments is off */
    st_message_config msg_config; /* the same extraction for SMTP and message files */
    FILE *jsonl;
    int flush_each; /* live capture: every record reaches the disk at once */
    st_smtp_limits smtp_limits;
    st_record_limits record_limits;
    smtptap_stats stats;
} st_core;

/* The reassembly consumer: one st_session per TCP stream. */
extern const st_reasm_ops st_session_ops;

/* Write one finished record as a line of sessions.jsonl (steals rec). */
void st_core_emit(st_core *core, json_t *rec);
/* The same for a record already serialised (steals line; NULL counts as
 * an output error). */
void st_core_emit_text(st_core *core, char *line);

/* One message file (core/msgfile.c): dirfd and name as for openat(2),
 * shown is the path written in the record and in errors, source is "eml"
 * or "maildir". Symbolic links are not followed; anything but a regular
 * file is refused. Returns 1 when a record was written, 0 when the file
 * vanished before it was opened (a Maildir reader moved it; only when
 * gone_ok), -1 with err set otherwise (a file that failed in the middle
 * still gets its record). */
int st_msgfile_read(st_core *core, int dirfd, const char *name, const char *shown,
                    const char *source, int gone_ok, char *err, size_t errlen);

/* DIR/new of a Maildir (core/maildir.c): every message in it once, then,
 * with follow, every message delivered into it until *stop is set. */
int st_maildir_watch(st_core *core, const char *dir, int follow, volatile sig_atomic_t *stop,
                     char *err, size_t errlen);

#endif
