/*
 * config.h - the options of smtptap, in one table (core-internal view).
 *
 * The same table serves the config file, the command line and the C API,
 * so an option cannot exist in one and not the others.
 */
#ifndef ST_CORE_CONFIG_H
#define ST_CORE_CONFIG_H

#include "smtptap.h"

struct smtptap_config {
    /* output */
    char *output_dir;
    char *record_format; /* smtptap or eve (output/eve.h) */
    char *sinks;
    char *redis; /* the Redis sink (output/sink_redis.c); "" off */
    char *redis_key;
    char *redis_mode;
    long redis_maxlen;
    long redis_queue;
    long redis_spool_max;
    long redis_close_wait;
    long stats_interval; /* seconds between stats.jsonl lines; 0: at the end only */
    int store_messages;
    long message_store_max;    /* bytes of one message stored; larger: hashed, not stored */
    long attachment_store_max; /* bytes of one attachment stored; larger: hashed, not stored */
    long body_max;             /* bytes of body / body_html kept in the record */
    /* MIME limits */
    long mime_header_bytes;
    long mime_max_headers;
    long mime_max_depth;
    long mime_max_parts;
    long max_attachments;
    /* stoQ smtp plugin options, same names and meaning */
    int omit_body;
    char *always_dispatch;
    int archive_attachments;
    int extract_iocs;
    char *ioc_keys;
    char *ioc_allowlist;
    long ioc_max;
    long ioc_max_bytes;
    /* the hash analyzer */
    char *hash_algorithms;
    /* the yara analyzer */
    char *yara_rules;
    long yara_max_bytes;
    int yara_scan_messages;
    /* capture and reassembly */
    char *live_filter;
    long snaplen;
    long max_streams;
    long idle_timeout;
    long ooo_limit;
    long hole_grace;
    int midstream;
    long workers; /* 0: one per core */
    /* SMTP and record limits */
    long max_line;
    long max_pending;
    long max_transactions;
    long max_rcpts;
    long max_anomalies;
    /* scratch for smtptap_config_get */
    char getbuf[64];
    /* where each option's value came from (st_config_src), in table order */
    unsigned char src[64];
};

/* Sources of a value, weakest first: a stronger one is never replaced by
 * a weaker one that comes later. */
typedef enum { ST_SRC_DEFAULT = 0, ST_SRC_FILE, ST_SRC_CALL } st_config_src;

/* A deep copy, so the caller may free or change its own afterwards. */
smtptap_config *st_config_dup(const smtptap_config *c);

#endif
