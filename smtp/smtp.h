/*
 * smtp.h - the SMTP dialogue parser: two byte streams in, events out.
 *
 * A resumable state machine over both directions of one TCP session. It
 * can stop at any byte and go on with the next segment; it never needs a
 * whole line, command or message in memory: lines are capped, message
 * content is streamed out as it arrives. Replies are matched to commands
 * in order (PIPELINING) through a bounded queue.
 *
 * Entry points: st_smtp_limits_default, st_smtp_new, st_smtp_midstream,
 * st_smtp_feed, st_smtp_gap, st_smtp_finish, st_smtp_free; st_smtp_detected,
 * st_smtp_wants_data and st_smtp_memory for the caller's bookkeeping.
 *
 * Limits: max_line bytes of a command or reply line, max_reply_lines per
 * reply, max_pending commands awaiting replies; 100 anomaly events per
 * session, then one "anomaly_limit"; 64 EHLO keywords. A stream that has
 * not said SMTP after 4 KiB in both directions is given up.
 *
 * How it fails: st_smtp_new gives NULL without memory (or callback);
 * after that, never. Malformed or hostile input becomes an ANOMALY event and the
 * parser resynchronises at the next line; a cap that is hit is an anomaly
 * too, and so is memory that a buffer could not get. Lost bytes
 * (st_smtp_gap) end the message in progress as incomplete and the parser
 * looks for the next command or reply.
 *
 * Order: a transaction's events come as MAIL, RCPT..., DATA_BEGIN,
 * MSG_DATA/MSG_GAP..., MSG_END, TX_END, and never interleave with the next
 * transaction's. A command whose reply was not seen (one-sided capture,
 * lost packets, content pipelined before the replies) is reported with
 * reply code 0 and text NULL. DATA_BEGIN opens a transaction when its MAIL
 * was never seen.
 *
 * Strings in an event are NUL-terminated, owned by the parser and valid
 * only during the callback. Control bytes in them are kept as is; the
 * record writer escapes them.
 *
 * Not handled: anything after STARTTLS once the bytes are TLS (a TLS
 * event, then the parser stops); the user names of AUTH mechanisms other
 * than PLAIN and LOGIN; proxy preambles (smtp/tunnel.h strips them
 * first).
 */
#ifndef ST_SMTP_SMTP_H
#define ST_SMTP_SMTP_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ST_DIR_CLIENT = 0, /* bytes sent by the client (commands, message content) */
    ST_DIR_SERVER = 1, /* bytes sent by the server (banner, replies) */
} st_dir;

typedef enum {
    ST_SMTP_EV_BANNER, /* reply: the server greeting (any code) */
    ST_SMTP_EV_HELO,   /* verb, arg, reply; ext/n_ext: EHLO keywords */
    ST_SMTP_EV_AUTH,   /* arg: mechanism, user (or NULL), reply, flag: 1 ok, 0 failed, -1 unknown */
    ST_SMTP_EV_STARTTLS,   /* reply; flag: 1 when the server said 220 */
    ST_SMTP_EV_TLS,        /* flag: 1 the bytes after STARTTLS are TLS (parsing stops),
                              0 they are plaintext (decrypted capture; parsing goes on) */
    ST_SMTP_EV_MAIL,       /* arg: reverse-path (no <>), params, reply: starts a transaction */
    ST_SMTP_EV_RCPT,       /* arg: forward-path (no <>), params, reply, flag: 1 accepted,
                              0 refused, -1 no reply seen */
    ST_SMTP_EV_DATA_BEGIN, /* verb "DATA" (reply: the 354 or NULL if not yet seen) or "BDAT" */
    ST_SMTP_EV_MSG_DATA,   /* data/len: message bytes, dot-unstuffed, in order */
    ST_SMTP_EV_MSG_GAP,    /* gap: bytes of message content that were never seen; 0: an
                              unknown number (the message began before a stream was joined) */
    ST_SMTP_EV_MSG_END,    /* the end of the message was seen (lone dot / BDAT LAST) */
    ST_SMTP_EV_TX_END,     /* status, reply: the transaction is over */
    ST_SMTP_EV_COMMAND,    /* verb, arg, reply: RSET NOOP VRFY EXPN HELP QUIT and unknown ones */
    ST_SMTP_EV_ANOMALY,    /* verb: anomaly name (snake_case), arg: detail or NULL */
} st_smtp_ev_type;

typedef enum {
    ST_TX_ACCEPTED = 0, /* server replied 2xx to the end of the message */
    ST_TX_REJECTED,     /* MAIL, DATA/BDAT or the final reply was 4xx/5xx, or no accepted RCPT */
    ST_TX_ABORTED,      /* RSET, EHLO/HELO, or QUIT before the message was complete */
    ST_TX_INCOMPLETE,   /* session ended (or a gap) before the server's final word */
} st_tx_status;

typedef struct st_smtp_reply {
    int code;         /* 3-digit code, 0 when no reply was seen */
    const char *text; /* all lines as sent, without CRLF, joined by '\n'; NULL if none */
} st_smtp_reply;

typedef struct st_smtp_event {
    st_smtp_ev_type type;
    const char *verb; /* as defined per type above, upper-cased for commands */
    const char *arg;
    const char *params; /* ESMTP parameters of MAIL/RCPT, NULL if none */
    const char *user;   /* AUTH user name (PLAIN authcid / LOGIN user), never a password */
    st_smtp_reply reply;
    int flag;
    st_tx_status status;
    const char *const *ext; /* HELO: the EHLO keyword lines after the first reply line */
    size_t n_ext;
    const uint8_t *data; /* MSG_DATA */
    size_t len;
    uint64_t gap; /* MSG_GAP */
} st_smtp_event;

typedef void (*st_smtp_event_fn)(void *ctx, const st_smtp_event *ev);

typedef struct st_smtp_limits {
    size_t max_line;        /* command or reply line bytes kept; longer lines are cut (anomaly) */
    size_t max_reply_lines; /* lines of one multi-line reply kept */
    size_t max_pending;     /* commands waiting for their reply (PIPELINING) */
} st_smtp_limits;

/* Defaults: 4096-byte lines, 64 reply lines, 1000 pending commands. */
void st_smtp_limits_default(st_smtp_limits *lim);

typedef struct st_smtp st_smtp;

st_smtp *st_smtp_new(const st_smtp_limits *lim, st_smtp_event_fn fn, void *ctx);
void st_smtp_free(st_smtp *p);

/* Right after st_smtp_new, for a stream whose beginning was not seen (a
 * capture started mid-session): the first bytes of each direction may be
 * anywhere in the dialogue, at a command, at a reply, inside DATA or BDAT
 * content or a line. The parser holds the client's bytes until the
 * server's replies say what they were (join.c); a message whose
 * beginning was not seen gets MSG_GAP 0 and the anomaly
 * message_start_not_seen. Such a session is detected on a command the
 * server accepted with a reply that fits it. -1 without memory (or after
 * bytes were fed): the parser must then not be fed such a stream. */
int st_smtp_midstream(st_smtp *p);

/* Bytes of one direction, in order. Any segmentation gives the same events. */
void st_smtp_feed(st_smtp *p, st_dir dir, const uint8_t *data, size_t len);

/* len bytes of this direction were lost (capture loss, TCP hole). */
void st_smtp_gap(st_smtp *p, st_dir dir, uint64_t len);

/* End of session: emits TX_END (ST_TX_INCOMPLETE, or ST_TX_REJECTED when the
 * server had refused the envelope) for a transaction still open. */
void st_smtp_finish(st_smtp *p);

/* 1 once a 220 banner and a client EHLO/HELO/LHLO were both seen (or,
 * joined mid-stream, a command and its fitting reply). */
int st_smtp_detected(const st_smtp *p);

/* 0 when nothing more this parser will read: TLS took over, or the stream
 * is clearly not SMTP (no detection within the first bytes). The caller
 * may stop collecting the stream. */
int st_smtp_wants_data(const st_smtp *p);

/* Bytes of heap the parser holds now, its own struct included. Small
 * (under 2 KiB) for a fresh parser and between the commands of a usual
 * session; it grows with long lines, long replies, AUTH and deep
 * pipelining, up to caps set by the limits, then shrinks back. After
 * st_smtp_finish only the struct is left. */
size_t st_smtp_memory(const st_smtp *p);

#endif
