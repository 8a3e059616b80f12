/*
 * session.c - one TCP stream: proxy preamble, SMTP parser, session record,
 * its messages.
 *
 * Wires the layers for a stream: bytes from reassembly go through the
 * proxy-preamble decoder to the SMTP parser; its events build the record;
 * message bytes go through the message pipeline (core/message.c) as they
 * arrive. A stream that turns out not to be SMTP is dropped early and
 * leaves nothing behind. A stream picked up mid-way (no handshake seen)
 * has no proxy preamble, its parser joins the dialogue where it is
 * (st_smtp_midstream), and its record says "midstream": true; a message
 * whose beginning it did not see is not complete.
 *
 * Entry point: st_session_ops, the reassembly consumer (core.h).
 *
 * How it fails: out of memory at open ignores the stream (counted by
 * reassembly as a stream, by nobody as a session); a store error leaves
 * the message unstored with the reason in the record.
 *
 * Not handled here: what a stream says (smtp/), what a message holds
 * (core/message.c and the layers behind it).
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "smtp/tunnel.h"

typedef struct st_session {
    st_core *core;
    st_smtp *smtp;
    st_record *rec;
    st_core_msg msg;  /* the message being received, if any */
    st_tunnel tunnel; /* a proxy handshake before the SMTP dialogue */
    int msg_open;     /* between the first byte (or end) of a message and its end */
    int msg_ended;    /* its end was seen */
    int msg_headless; /* it began before the stream was joined (MSG_GAP 0) */
} st_session;

/* The message object opens with its first byte (or its end), so a DATA
 * that the server refused leaves no message behind. */
static void message_begin(st_session *s)
{
    if (s->msg_open)
        return;
    s->msg_open = 1;
    s->msg_ended = 0;
    s->msg_headless = 0;
    st_core_msg_begin(s->core, &s->msg);
}

static void message_end(st_session *s)
{
    if (!s->msg_open)
        return;
    s->msg_open = 0;
    int complete = s->msg_ended && s->msg.missing == 0 && !s->msg_headless;
    s->msg.ended = s->msg_ended;
    json_t *m = st_core_msg_end(s->core, &s->msg, complete, NULL);
    if (m) /* NULL: out of memory at begin */
        st_record_set_message(s->rec, m);
}

static void on_smtp_event(void *ctx, const st_smtp_event *ev)
{
    st_session *s = ctx;
    switch (ev->type) {
    case ST_SMTP_EV_DATA_BEGIN:
        message_end(s); /* a second DATA_BEGIN without an end: close the first */
        break;
    case ST_SMTP_EV_MSG_DATA:
        message_begin(s);
        st_core_msg_data(&s->msg, ev->data, ev->len);
        return;
    case ST_SMTP_EV_MSG_GAP:
        message_begin(s);
        s->msg_headless |= ev->gap == 0; /* how much is missing is unknown */
        st_core_msg_gap(&s->msg, ev->gap);
        return;
    case ST_SMTP_EV_MSG_END:
        message_begin(s); /* BDAT 0 LAST: an empty message is still a message */
        s->msg_ended = 1;
        message_end(s);
        return;
    case ST_SMTP_EV_TX_END:
        message_end(s);
        break;
    default:
        break;
    }
    st_record_smtp(s->rec, ev);
}

static void session_free(st_session *s)
{
    st_tunnel_free(&s->tunnel);
    st_core_msg_abort(&s->msg);
    st_smtp_free(s->smtp);
    st_record_free(s->rec);
    free(s);
}

/* Picked up without its handshake: the dialogue is joined where it is.
 * -1 without memory: read as a whole dialogue, its middle could pass for
 * commands, so the stream is not followed. */
static int join_midstream(st_session *s)
{
    s->tunnel.kind = ST_TUNNEL_NONE; /* a preamble opens a stream, never its middle */
    s->tunnel.done[0] = s->tunnel.done[1] = 1;
    st_record_midstream(s->rec);
    return st_smtp_midstream(s->smtp);
}

static void *session_open(void *app, const st_endpoint *client, const st_endpoint *server,
                          const struct timeval *ts)
{
    st_core *c = app;
    st_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->core = c;
    s->smtp = st_smtp_new(&c->smtp_limits, on_smtp_event, s);
    s->rec = st_record_new(&c->record_limits, client, server, ts);
    if (!s->smtp || !s->rec || (st_reasm_opening_midstream() && join_midstream(s) != 0)) {
        session_free(s);
        return NULL;
    }
    return s;
}

static void to_smtp(void *ctx, int from, const uint8_t *data, size_t len)
{
    st_session *s = ctx;
    st_smtp_feed(s->smtp, from == ST_FROM_CLIENT ? ST_DIR_CLIENT : ST_DIR_SERVER, data, len);
}

static int session_data(void *app, void *stream, int from, const uint8_t *data, size_t len,
                        const struct timeval *ts)
{
    st_session *s = stream;
    (void)app;
    (void)ts;
    if (!st_smtp_wants_data(s->smtp)) {
        if (st_smtp_detected(s->smtp))
            return 1; /* TLS: keep counting bytes for the record */
        session_free(s);
        return 0; /* not SMTP: forget the stream */
    }
    st_tunnel_feed(&s->tunnel, from, data, len, to_smtp, s);
    return 1;
}

static void session_gap(void *app, void *stream, int from, uint64_t len)
{
    st_session *s = stream;
    (void)app;
    if (st_smtp_wants_data(s->smtp))
        st_smtp_gap(s->smtp, from == ST_FROM_CLIENT ? ST_DIR_CLIENT : ST_DIR_SERVER, len);
}

/* Retransmissions that said something else (reassembly/overlap.c). */
static void overlap_anomaly(st_record *r, const st_half_stats stats[2])
{
    char d[64];
    if (!stats[0].conflicts && !stats[1].conflicts)
        return;
    snprintf(d, sizeof d, "client %llu, server %llu", (unsigned long long)stats[0].conflicts,
             (unsigned long long)stats[1].conflicts);
    st_record_anomaly(r, "overlap_conflict", d);
}

static void session_close(void *app, void *stream, st_close_reason why,
                          const st_half_stats stats[2], const struct timeval *ts)
{
    st_core *c = app;
    st_session *s = stream;
    st_smtp_finish(s->smtp);
    if (st_smtp_detected(s->smtp)) {
        st_record_note(s->rec, "tunnel", st_tunnel_name(&s->tunnel));
        overlap_anomaly(s->rec, stats);
        size_t ntx = 0;
        char *line = st_record_finish(s->rec, why, stats, ts, &ntx);
        c->stats.transactions += ntx;
        c->stats.missing_bytes += stats[0].missing + stats[1].missing;
        st_core_emit_text(c, line);
    }
    session_free(s);
}

static void session_idle(void *app, void *stream)
{
    st_session *s = stream;
    (void)app;
    st_core_msg_idle(&s->msg);
    st_record_idle(s->rec);
}

const st_reasm_ops st_session_ops = {session_open, session_data, session_gap, session_idle,
                                     session_close};
