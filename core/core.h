/*
 * core.h - what the pipeline shares between sessions (core-internal).
 */
#ifndef ST_CORE_CORE_H
#define ST_CORE_CORE_H

#include <stdio.h>

#include "core/config.h"
#include "output/record.h"
#include "output/store.h"
#include "reassembly/reasm.h"
#include "smtp/smtp.h"

typedef struct st_core {
    smtptap_config *cfg;
    st_store *messages; /* with a cap of 0 when store_messages is off */
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

#endif
