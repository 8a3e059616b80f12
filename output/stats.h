/*
 * stats.h - OUT/stats.json: the counters for the operator.
 *
 * What was read, followed, skipped and written, and what the reassembly
 * saw that no record holds (drops, holes, libnids' complaints), as one
 * JSON object indented by two spaces (docs/record.md). Keys and their
 * order do not change: scripts read them.
 *
 * How it fails: -1 when the object cannot be built or the file cannot be
 * written (a partial file may be left); nothing is logged.
 */
#ifndef ST_OUTPUT_STATS_H
#define ST_OUTPUT_STATS_H

#include <sys/time.h>

#include "reassembly/reasm.h"
#include "smtptap.h"

/* Writes path (created or truncated); 0 or -1. */
int st_stats_write(const char *path, const smtptap_stats *s, const st_reasm_counters *r);

/* What a stats.jsonl line adds to the stats.json object. */
typedef struct st_stats_line {
    struct timeval now; /* wall clock */
    double uptime;      /* seconds since the run began */
    uint64_t rss_bytes; /* resident memory of this process */
    int worker;         /* its worker (workers option), -1: the run as a whole */
    int final;          /* the last line of the run (or of the worker) */
} st_stats_line;

/* Appends one line to path (stats.jsonl); 0 or -1. */
int st_stats_append(const char *path, const smtptap_stats *s, const st_reasm_counters *r,
                    const st_stats_line *l);

#endif
