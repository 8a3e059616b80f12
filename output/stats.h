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

#include "reassembly/reasm.h"
#include "smtptap.h"

/* Writes path (created or truncated); 0 or -1. */
int st_stats_write(const char *path, const smtptap_stats *s, const st_reasm_counters *r);

#endif
