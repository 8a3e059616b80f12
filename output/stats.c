/*
 * stats.c - OUT/stats.json from smtptap_stats and the reassembly counters.
 *
 * Written to stats.json.tmp and renamed over stats.json: a reader (or a
 * run killed while writing) never sees a half-written snapshot. The
 * same object, with the time, is appended as one line to stats.jsonl
 * (st_stats_append): opened, written in one write, closed, so a rotated
 * file is simply started again and no line is split.
 */
#include "output/stats.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/record.h"

static json_t *stats_json(const smtptap_stats *s, const st_reasm_counters *r)
{
    static const char *warn[10] = {"undefined",    "ip_oversized", "ip_invlist",  "ip_overlap",
                                   "ip_hdr",       "ip_srr",       "tcp_toomuch", "tcp_hdr",
                                   "tcp_bigqueue", "tcp_badflags"}; /* NIDS_WARN_* order */
    json_t *w = json_object();
    for (int i = 0; i < 10; i++)
        json_object_set_new(w, warn[i], json_integer((json_int_t)r->nids_warnings[i]));
    json_t *j = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}}",
        "packets", (json_int_t)s->packets, "bytes", (json_int_t)s->bytes, "streams",
        (json_int_t)s->streams, "sessions", (json_int_t)s->sessions, "transactions",
        (json_int_t)s->transactions, "messages", (json_int_t)s->messages, "missing_bytes",
        (json_int_t)s->missing_bytes, "pcap_dropped", (json_int_t)s->pcap_dropped, "output_errors",
        (json_int_t)s->output_errors, "reassembly", "not_ip", (json_int_t)r->not_ip, "l2_errors",
        (json_int_t)r->l2_errors, "ip_errors", (json_int_t)r->ip_errors, "not_tcp",
        (json_int_t)r->not_tcp, "ipv6_tcp", (json_int_t)r->ipv6_tcp, "ipv6_fragments",
        (json_int_t)r->ipv6_fragments, "ipv6_map_full", (json_int_t)r->ipv6_map_full, "reserved_v4",
        (json_int_t)r->reserved_v4, "holes", (json_int_t)r->holes, "hole_bytes",
        (json_int_t)r->hole_bytes, "held_bytes", (json_int_t)r->held_bytes, "overlap_conflicts",
        (json_int_t)r->overlap_conflicts, "idle_closed", (json_int_t)r->idle_closed, "reused",
        (json_int_t)r->reused, "evicted", (json_int_t)r->evicted, "one_sided",
        (json_int_t)r->one_sided, "trimmed", (json_int_t)r->trimmed, "midstream",
        (json_int_t)r->midstream, "unfollowed_packets", (json_int_t)r->unfollowed,
        "unfollowed_bytes", (json_int_t)r->unfollowed_bytes, "evicted_half_open",
        (json_int_t)r->evicted_half_open, "nids_warnings", w);
    if (j) /* the Redis sink's (output/sink_redis.c), after the rest */
        json_object_set_new(j, "redis_lost", json_integer((json_int_t)s->redis_lost));
    return j;
}

int st_stats_write(const char *path, const smtptap_stats *s, const st_reasm_counters *r)
{
    json_t *j = stats_json(s, r);
    char tmp[4096 + 8];
    int rc = -1;
    if (!j || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        json_decref(j);
        return -1;
    }
    /* 0640 like the records; a stale .tmp (or a link planted there) goes first */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    int ok = fd >= 0 && json_dumpfd(j, fd, JSON_INDENT(2)) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    if (ok && rename(tmp, path) == 0)
        rc = 0;
    else if (fd >= 0)
        unlink(tmp);
    json_decref(j);
    return rc;
}

int st_stats_append(const char *path, const smtptap_stats *s, const st_reasm_counters *r,
                    const st_stats_line *l)
{
    json_t *j = stats_json(s, r);
    char ts[40];
    st_format_time(&l->now, ts, sizeof ts);
    if (j) {
        json_object_set_new(j, "timestamp", json_string(ts));
        json_object_set_new(j, "uptime", json_real(l->uptime));
        json_object_set_new(j, "rss_bytes", json_integer((json_int_t)l->rss_bytes));
        json_object_set_new(j, "worker", l->worker < 0 ? json_null() : json_integer(l->worker));
        json_object_set_new(j, "final", json_boolean(l->final));
    }
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return -1;
    size_t n = strlen(text);
    text[n] = '\n'; /* the NUL goes: one write of the whole line */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    int rc = fd >= 0 && write(fd, text, n + 1) == (ssize_t)(n + 1) ? 0 : -1;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    free(text);
    return rc;
}
