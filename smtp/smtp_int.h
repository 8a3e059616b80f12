/*
 * smtp_int.h - what the files of the SMTP parser share (not a public API).
 *
 * The parser has two sides. The client side reads bytes in arrival order
 * and keeps the command state (command lines, DATA/BDAT content, the
 * STARTTLS probe, the AUTH exchange); each command goes into the pending
 * queue. The emission side turns a command plus its reply into events and
 * keeps the transaction state; it runs when a reply arrives, or earlier
 * with no reply when message content needs the envelope out first (so a
 * transaction's events always come as MAIL, RCPT..., DATA_BEGIN, MSG_*,
 * TX_END), on queue overflow and at the end of the session.
 *
 * Every buffer here starts small and grows by doubling, only when the
 * traffic needs it, up to a cap derived from the limits (buf.c); a
 * buffer that cannot grow, for lack of memory, is treated as being at its
 * cap. Buffers that grew past their KEEP size go back to their MIN size
 * once their content is consumed, so a long-lived session holds little.
 */
#ifndef ST_SMTP_SMTP_INT_H
#define ST_SMTP_SMTP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "smtp/smtp.h"

#define ST_SMTP_MAX_EXT      64   /* EHLO keywords passed in one HELO event */
#define ST_SMTP_MAX_ANOMALY  100  /* anomaly events per session, then "anomaly_limit" */
#define ST_SMTP_MAX_UNKNOWN  10   /* unknown_command anomalies per session */
#define ST_SMTP_DETECT_BYTES 4096 /* undetected after this much both ways: give up */

/* Buffer sizes: MIN at first and after shrinking, shrunk when above KEEP. */
#define ST_SMTP_LINE_MIN   128 /* a command or reply line */
#define ST_SMTP_LINE_KEEP  512
#define ST_SMTP_REPLY_MIN  256 /* the text of a (multi-line) reply */
#define ST_SMTP_REPLY_KEEP 1024
#define ST_SMTP_WORK_MIN   64 /* the work buffer */
#define ST_SMTP_WORK_KEEP  256
#define ST_SMTP_RING_MIN   8   /* pending queue entries */
#define ST_SMTP_ARENA_MIN  256 /* pending queue text */

/* What a pending command is, for matching its reply. */
enum {
    ST_K_HELO, /* HELO, EHLO, LHLO */
    ST_K_AUTH, /* text is "AUTH MECH" only: the initial response is never kept */
    ST_K_STARTTLS,
    ST_K_MAIL,
    ST_K_RCPT,
    ST_K_DATA,
    ST_K_DATA_END, /* the lone dot that ended DATA content */
    ST_K_BDAT,     /* BDAT; ST_F_LAST when it carried LAST, ST_F_BAD when its size is no size */
    ST_K_RSET,
    ST_K_QUIT,
    ST_K_OTHER, /* NOOP, VRFY..., invalid BDAT, unknown verbs */
};

#define ST_F_LAST  0x01 /* BDAT ... LAST */
#define ST_F_GHOST 0x02 /* already reported with no reply; its reply is absorbed */
#define ST_F_BAD   0x04 /* BDAT whose size does not parse: no octets follow it */
#define ST_F_INFER 0x08 /* not seen: a reply proves it was sent (fit.c) */
#define ST_F_DOUBT 0x10 /* DATA read just after a hole: content only once the 354 is seen */

/* Client side modes. */
enum { ST_CM_CMD, ST_CM_DATA, ST_CM_BDAT, ST_CM_PROBE, ST_CM_STOP };

/* DATA content scanner: where we are relative to a line start. */
enum { ST_DS_LS, ST_DS_MID, ST_DS_DOT, ST_DS_DOTCR };

/* STARTTLS probe of the first client bytes after the command. */
enum { ST_TLS_NONE, ST_TLS_PROBING, ST_TLS_YES, ST_TLS_PLAIN };

enum { ST_MECH_OTHER, ST_MECH_PLAIN, ST_MECH_LOGIN };

typedef struct st_smtp_line {
    char *buf; /* cap bytes, grows to max + 2: a max-byte line, its CR, a NUL */
    size_t cap;
    size_t max; /* bytes of a line kept */
    size_t len;
    uint8_t last; /* last byte of the line so far, stored or not */
    unsigned char ready, too_long, after_gap, bare_lf, nul;
} st_smtp_line;

typedef struct st_smtp_pend {
    uint8_t kind, flags;
    uint32_t off, len; /* text in the arena */
} st_smtp_pend;

typedef struct st_smtp_cmdq {
    st_smtp_pend *e;
    size_t cap, max, head, n;
    char *arena;
    size_t acap, amax, used;
} st_smtp_cmdq;

typedef struct st_smtp_racc {
    char *text; /* size bytes, grows to cap + 1 */
    size_t size, cap, len, lines;
    int code, cut;
} st_smtp_racc;

typedef struct st_smtp_tx {
    int open, rejected, data_begun, msg_ended, warned;
    int bdat;                       /* the message of this transaction came by BDAT */
    unsigned rcpt_seen, rcpt_maybe; /* RCPTs, and those not refused */
    char *fail;                     /* a refusal that ends the transaction rejected, with it */
    int fail_code;                  /* as its reply, unless its own verdict comes later: */
    int fail_hard;                  /* a BDAT's (RFC 3030 2) stands whatever follows */
} st_smtp_tx;

typedef struct st_smtp_auth {
    int open, mech, ir, lines, n334, cancel, has_user;
} st_smtp_auth;

typedef struct st_smtp_tls {
    int probe, done, emitted;
    uint8_t held[3];
    size_t nheld;
} st_smtp_tls;

struct st_smtp {
    st_smtp_limits lim;
    st_smtp_event_fn fn;
    void *ctx;
    st_smtp_line cl, sl;
    st_smtp_racc ra;
    st_smtp_cmdq q;
    char *work; /* a command's fields, then EHLO keywords, during one completion */
    size_t work_cap, work_used;
    char *user; /* decoded AUTH user, from its line to the end of the AUTH */
    size_t user_cap;
    const char **ext; /* EHLO keyword pointers, during one HELO event */
    size_t n_ext_cap;
    /* client side */
    int cmode, dstate, data_started, bdat_last, bdat_open, helo_cmd;
    int data_gap;        /* bytes of the DATA content in progress were lost */
    uint64_t cmd_gap;    /* client bytes lost among commands since the last command */
    int cmd_lost;        /* client bytes were lost among commands since the queue was empty */
    int srv_lost;        /* server bytes (replies) were lost since the queue was empty */
    int inferring;       /* events of a command inferred from its reply are going out */
    int mail_after_helo; /* the client said EHLO/HELO, then MAIL */
    uint64_t bdat_left, bdat_size; /* octets of the chunk being read: to come, in all */
    st_smtp_auth auth;
    st_smtp_tls tls;
    /* server side and emission side */
    int banner_done, banner_220, detected, resync, overflowed;
    st_smtp_tx tx;
    /* lifecycle and caps */
    int stopped, gave_up, finished, warned_lf[2];
    uint64_t bytes[2];
    unsigned n_anom, n_unknown;
    /* mid-stream join (join.c) */
    struct st_smtp_join *join; /* NULL unless st_smtp_midstream: joined mid-dialogue */
};

/* buf.c */
int st_smtp_buf_resize(char **b, size_t *cap, size_t ncap, size_t keep);
int st_smtp_buf_reserve(char **b, size_t *cap, size_t need, size_t max);
void st_smtp_buf_shrink(char **b, size_t *cap, size_t keep, size_t min);
void st_smtp_buf_release(char **b, size_t *cap);
char *st_smtp_work(st_smtp *p, size_t need);
size_t st_smtp_work_max(const st_smtp *p);
void st_smtp_work_trim(st_smtp *p);

/* line.c */
size_t st_smtp_line_feed(st_smtp_line *l, const uint8_t *d, size_t n, int *done);
void st_smtp_line_reset(st_smtp_line *l);
void st_smtp_line_gap(st_smtp_line *l);
void st_smtp_line_shrink(st_smtp_line *l);
void st_smtp_line_checks(st_smtp *p, st_smtp_line *l, int dir);

/* cmdq.c */
int st_smtp_cmdq_init(st_smtp_cmdq *q, size_t max, size_t amax);
size_t st_smtp_cmdq_memory(const st_smtp_cmdq *q);
void st_smtp_cmdq_free(st_smtp_cmdq *q);
int st_smtp_cmdq_push(st_smtp_cmdq *q, int kind, int flags, const char *text, size_t len);
st_smtp_pend *st_smtp_cmdq_at(st_smtp_cmdq *q, size_t i);
const char *st_smtp_cmdq_text(const st_smtp_cmdq *q, const st_smtp_pend *e);
void st_smtp_cmdq_pop(st_smtp_cmdq *q);

/* emit.c: events, anomalies, the transaction */
void st_smtp_emit(st_smtp *p, st_smtp_event *ev);
void st_smtp_anomaly(st_smtp *p, const char *name, const char *detail);
void st_smtp_tx_close(st_smtp *p, st_tx_status status, const st_smtp_reply *r);
/* A refusal that failed the open transaction, kept (at most
 * ST_SMTP_FAIL_TEXT bytes of its text) as its reply; NULL: it goes on. */
#define ST_SMTP_FAIL_TEXT 512
void st_smtp_tx_fail(st_smtp *p, const st_smtp_reply *r);
/* A refused DATA: the transaction goes on, but if it ends without being
 * accepted it is rejected with this refusal. */
void st_smtp_tx_refused(st_smtp *p, const st_smtp_reply *r);
st_tx_status st_smtp_tx_abandon(const st_smtp *p, st_tx_status otherwise);
st_tx_status st_smtp_tx_final(const st_smtp *p, int code);
void st_smtp_data_begin(st_smtp *p, const char *verb, const st_smtp_reply *r);
void st_smtp_msg_data(st_smtp *p, const uint8_t *d, size_t n);
void st_smtp_msg_end(st_smtp *p);
void st_smtp_msg_gap(st_smtp *p, uint64_t n);
void st_smtp_check_rcpt(st_smtp *p);

/* complete.c: a command and its reply (code 0: none) become events */
void st_smtp_complete(st_smtp *p, st_smtp_pend *e, const st_smtp_reply *r);
void st_smtp_complete_head(st_smtp *p, const st_smtp_reply *r);
void st_smtp_flush_all(st_smtp *p);
void st_smtp_flush_ghost(st_smtp *p);
/* A command of this kind that was lost, answered by r. */
void st_smtp_complete_inferred(st_smtp *p, int kind, const st_smtp_reply *r);

/* fit.c */
int st_smtp_reply_fits(int kind, const st_smtp_reply *r);
int st_smtp_reply_implies(const st_smtp *p, const st_smtp_reply *r);
int st_smtp_reply_ends_message(const st_smtp_reply *r);

/* reply.c */
/* The 3-digit code a reply line starts with, -1 for none. */
int st_smtp_reply_code(const char *s, size_t len);
void st_smtp_reply_line(st_smtp *p, const char *s, size_t len, int after_gap);
void st_smtp_reply_reset(st_smtp_racc *ra);

/* cmd.c */
/* The kind (ST_K_*) of a command verb of n bytes, any case; -1: none. */
int st_smtp_verb_kind(const char *v, size_t n);
void st_smtp_client_line(st_smtp *p);
void st_smtp_push(st_smtp *p, int kind, int flags, const char *text, size_t len);
/* The client side reads DATA content from now on (a DATA command seen,
 * or inferred from the server's 354). */
void st_smtp_enter_data(st_smtp *p);

/* data.c */
size_t st_smtp_data_feed(st_smtp *p, const uint8_t *d, size_t n);
size_t st_smtp_bdat_feed(st_smtp *p, const uint8_t *d, size_t n);
uint64_t st_smtp_content_gap(st_smtp *p, uint64_t n);
/* lost: client bytes lost just before a first chunk, counted missing. */
void st_smtp_bdat_start(st_smtp *p, uint64_t size, int last, uint64_t lost);
/* A reply to the chunk being read: the server has all its octets. */
void st_smtp_bdat_check(st_smtp *p, const st_smtp_reply *r);

/* tls.c */
void st_smtp_tls_start(st_smtp *p);
size_t st_smtp_probe_feed(st_smtp *p, const uint8_t *d, size_t n);
void st_smtp_tls_reply(st_smtp *p, int code);

/* auth.c */
void st_smtp_auth_start(st_smtp *p, const char *arg);
int st_smtp_auth_is_line(const st_smtp *p);
void st_smtp_auth_line(st_smtp *p, const char *line, size_t len);
void st_smtp_auth_done(st_smtp *p);

/* addr.c */
char *st_smtp_split_verb(char *s);
int st_smtp_parse_path(char *arg, const char *kw, const char **path, const char **params);

/* smtp.c */
void st_smtp_client_bytes(st_smtp *p, const uint8_t *d, size_t n);
void st_smtp_update_detect(st_smtp *p);

#endif
