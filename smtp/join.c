/*
 * join.c - joining an SMTP dialogue at any point: at a command, at a
 * reply, inside DATA or BDAT.
 *
 * A stream picked up without its handshake (st_smtp_midstream) starts
 * wherever the capture did. Until the parser finds its footing, the
 * client's bytes are held (up to ST_SMTP_JOIN_HOLD) and their lines
 * classified: a command verb, a lone dot, anything else. The server's
 * replies decide what they were:
 *   - a reply with no client bytes before it answers what came before
 *     the capture: a 220 with no client byte at all is the banner (the
 *     capture began after the handshake: nothing is lost); a 354, or a
 *     reply that says which command it answers (fit.c: 2.1.x address
 *     status, 221), goes to the parser, which infers the lost command;
 *     anything else is passed over, a 334 noting that the next client
 *     line belongs to an AUTH exchange;
 *   - a lone dot line, only commands after it, then a reply that can end
 *     a message: we were inside DATA (a client in command mode never
 *     sends a lone dot, and the server says nothing while content flows,
 *     so command lines before the dot were content too: a body holding
 *     "MAIL FROM" lines makes no envelope). The content before the dot is
 *     the end of a message whose beginning was not seen (DATA_BEGIN,
 *     MSG_GAP with gap 0: unknown, the anomaly message_start_not_seen,
 *     the bytes, the end), and the reply is its verdict;
 *   - a command line first whose reply fits it: the held lines were
 *     commands; they go to the parser as if just received, then the
 *     reply (a 354 right after the DATA line: what the client sent after
 *     it before the 354 was seen is the message's beginning);
 *   - a 354 with a DATA line held, or a 221 with a QUIT line held: the
 *     reply answers that line (only DATA earns 354, only QUIT 221, and a
 *     client waits after either, RFC 2920), so the lines before the first
 *     command are dropped and the rest go to the parser as commands; the
 *     DATA is never replayed as the first line of a message whose DATA
 *     the reply would otherwise have inferred;
 *   - lines before the first command (the tail of a line begun before
 *     the capture, an AUTH response, the end of a chunk's octets): they
 *     are what the reply answers, and are dropped (wiped); the lines
 *     after them are looked at again.
 * Held bytes that reach the cap without a reply decide by themselves:
 * text with lines that are no commands is message content (a message's
 * middle: the server says nothing until its end); command lines only are
 * commands; anything else is dropped and the parser goes on seeking. A
 * NUL (binary: TLS, not SMTP) drops what is held up to it at once, so
 * binary costs no memory. Client bytes lost while seeking drop what is
 * held.
 *
 * After the footing the parser runs as usual. join.c keeps watching its
 * events: a mid-stream session is SMTP (st_smtp_detected) once the
 * server accepted a command with a reply that fits it (MAIL, RCPT, DATA's
 * 354, the end of a message, RSET, QUIT, STARTTLS), and a message begun by a BDAT
 * chunk before any MAIL was seen since the join may lack its first
 * chunks: it gets the same MSG_GAP and anomaly.
 *
 * Entry points: st_smtp_midstream (smtp.h); for smtp.c, those of join.h.
 *
 * Limits: ST_SMTP_JOIN_HOLD bytes held, in a buffer that grows from
 * ST_SMTP_JOIN_MIN as needed and is freed (wiped: it may hold an AUTH
 * line) once the footing is found.
 *
 * How it fails: st_smtp_midstream gives -1 without memory (the caller
 * must not feed that parser a mid-stream stream). Later, a buffer that
 * cannot grow drops what it holds, as at the cap.
 *
 * Not handled: a reply to a command sent before the capture began, when
 * the client pipelined commands after the cut, may be paired with the
 * first of those; the bytes of a message seen before the last drop (a
 * binary message, over the cap) are not in its content, only the part
 * after it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/join.h"

#define ST_SMTP_JOIN_HOLD 8192 /* client bytes held while seeking */
#define ST_SMTP_JOIN_MIN  256
#define ST_SMTP_TEXT_LINE 1002 /* RFC 5322 2.1.1: 998 + CRLF; longer is no mail text */

enum { J_OTHER = -1, J_DOT = -2 }; /* line kinds beside the ST_K_ command kinds */

struct st_smtp_join {
    st_smtp_event_fn fn; /* the caller's, behind filter() */
    void *ctx;
    int seeking, fit, mail, bdat_flagged;
    int auth; /* a 334 was seen: the next client line answers it */
    /* the client bytes held, and what their lines are */
    uint8_t *buf;
    size_t len, cap;
    size_t scan, line; /* classified up to; start of the line being read */
    uint64_t skip;     /* BDAT octets to pass over before the next line */
    int ls;            /* the next line begins at a line start */
    size_t nlines, first_end;
    int first;       /* kind of the first line: a command kind, J_DOT, J_OTHER */
    int first_ls;    /* it began at a known line start (else: maybe a tail) */
    int first_dots;  /* it begins "..": a line start, dot-stuffed */
    size_t dot;      /* end of the last lone dot line only commands followed; 0: none */
    int dot_first;   /* that dot is the first line */
    int data;        /* a DATA or BDAT command line was read */
    unsigned kinds;  /* bit 1 << k: a command line of kind k was read */
    size_t data_end; /* end of the last DATA line; 0: none */
    int bdat_before_mail, mail_line;
    unsigned other; /* lines that are no command (the first one's tail aside) */
    int text;       /* no line over ST_SMTP_TEXT_LINE */
};

/* ---- events ---------------------------------------------------------------- */

static void watch_fit(st_smtp *p, int kind, const st_smtp_reply *r)
{
    /* a command inferred from the reply fits it trivially: it proves nothing */
    if (p->detected || p->inferring || r->code < 200 || r->code >= 400 ||
        !st_smtp_reply_fits(kind, r))
        return;
    p->join->fit = 1;
    st_smtp_update_detect(p);
}

/* A message whose beginning was not seen: how many bytes it lacks is
 * unknown (MSG_GAP 0). */
static void headless(st_smtp *p)
{
    st_smtp_event ev;
    st_smtp_anomaly(p, "message_start_not_seen", NULL);
    memset(&ev, 0, sizeof ev);
    ev.type = ST_SMTP_EV_MSG_GAP;
    st_smtp_emit(p, &ev);
}

/* Every event passes here on its way to the caller. */
static void filter(void *ctx, const st_smtp_event *ev)
{
    st_smtp *p = ctx;
    struct st_smtp_join *j = p->join;
    j->fn(j->ctx, ev);
    switch (ev->type) {
    case ST_SMTP_EV_MAIL:
        j->mail = 1;
        watch_fit(p, ST_K_MAIL, &ev->reply);
        break;
    case ST_SMTP_EV_RCPT:
        watch_fit(p, ST_K_RCPT, &ev->reply);
        break;
    case ST_SMTP_EV_DATA_BEGIN:
        if (ev->verb && ev->verb[0] == 'B' && !j->mail && !j->bdat_flagged) {
            j->bdat_flagged = 1; /* its first chunks may have come before the capture */
            headless(p);
        }
        watch_fit(p, ST_K_DATA, &ev->reply);
        break;
    case ST_SMTP_EV_TX_END:
        watch_fit(p, ST_K_DATA_END, &ev->reply);
        break;
    case ST_SMTP_EV_STARTTLS:
        watch_fit(p, ST_K_STARTTLS, &ev->reply);
        break;
    case ST_SMTP_EV_COMMAND: {
        int k = ev->verb ? st_smtp_verb_kind(ev->verb, strlen(ev->verb)) : -1;
        if (k == ST_K_RSET || k == ST_K_QUIT)
            watch_fit(p, k, &ev->reply);
        break;
    }
    default:
        break;
    }
}

/* ---- the held bytes ----------------------------------------------------------- */

static void classify_reset(struct st_smtp_join *j, int ls)
{
    j->scan = j->line = j->nlines = j->first_end = j->dot = 0;
    j->dot_first = j->first_dots = 0;
    j->first = J_OTHER;
    j->data = j->bdat_before_mail = j->mail_line = 0;
    j->kinds = 0;
    j->data_end = 0;
    j->other = 0;
    j->text = 1;
    j->ls = j->first_ls = ls;
}

/* Forget everything held (wiped). */
static void drop_all(struct st_smtp_join *j)
{
    int ls = j->skip > 0 || (j->len ? j->buf[j->len - 1] == '\n' : j->ls);
    if (j->buf)
        explicit_bzero(j->buf, j->len);
    j->len = 0;
    classify_reset(j, ls);
}

static void release(struct st_smtp_join *j)
{
    if (j->buf)
        explicit_bzero(j->buf, j->cap);
    free(j->buf);
    j->buf = NULL;
    j->len = j->cap = 0;
}

static int line_kind(const uint8_t *l, size_t n)
{
    size_t vl = 0;
    if (n == 1 && l[0] == '.')
        return J_DOT;
    while (vl < n && l[vl] != ' ' && l[vl] != '\t')
        vl++;
    int kind = st_smtp_verb_kind((const char *)l, vl);
    return kind < 0 ? J_OTHER : kind;
}

/* "BDAT" SP size: the octets that follow the line (0 for no size). */
static uint64_t bdat_size(const uint8_t *l, size_t n)
{
    uint64_t v = 0;
    size_t i = 4;
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    for (; i < n && l[i] >= '0' && l[i] <= '9' && v < (1ull << 40); i++)
        v = v * 10 + (uint64_t)(l[i] - '0');
    return v;
}

/* One complete line of held bytes, [l, l + n) without its LF; end is
 * where the next line starts. */
static void classify_line(struct st_smtp_join *j, const uint8_t *l, size_t n, size_t end)
{
    size_t len = n > 0 && l[n - 1] == '\r' ? n - 1 : n;
    int kind = line_kind(l, len), first = j->nlines++ == 0;
    int tail = first && (j->auth || (!j->ls && kind == J_OTHER)); /* begun before, AUTH */
    if (first) {
        j->first = j->auth ? J_OTHER : kind; /* a verb at the start is taken as a command */
        j->first_ls = j->ls;
        j->first_dots = len >= 2 && l[0] == '.' && l[1] == '.';
        j->first_end = end;
    }
    if (kind == J_DOT) { /* the end of data, if only commands follow it */
        j->dot = end;
        j->dot_first = first;
    }
    if (kind == J_OTHER && !tail) {
        j->dot = 0; /* that dot was no end of data (a line's tail, content) */
        j->other++;
    }
    j->mail_line |= kind == ST_K_MAIL;
    if (kind >= 0)
        j->kinds |= 1u << kind;
    if (kind == ST_K_DATA)
        j->data_end = end;
    if (kind == ST_K_DATA || kind == ST_K_BDAT) {
        j->bdat_before_mail |= kind == ST_K_BDAT && !j->mail_line && !j->data;
        j->data = 1;
    }
    if (kind == ST_K_BDAT)
        j->skip = bdat_size(l, len);
    j->ls = 1;
}

/* Forget the first k bytes held (wiped); what follows is mid-line. */
static void drop_upto(struct st_smtp_join *j, size_t k)
{
    explicit_bzero(j->buf, k);
    memmove(j->buf, j->buf + k, j->len - k);
    j->len -= k;
    classify_reset(j, 0);
}

static void classify(struct st_smtp_join *j)
{
    while (j->scan < j->len) {
        if (j->skip) {
            size_t k = j->len - j->scan < j->skip ? j->len - j->scan : (size_t)j->skip;
            j->scan += k;
            j->skip -= k;
            j->line = j->scan;
            continue;
        }
        const uint8_t *s = j->buf + j->scan, *lf = memchr(s, '\n', j->len - j->scan);
        size_t end = lf ? (size_t)(lf - j->buf) + 1 : j->len;
        const uint8_t *nul = memchr(s, 0, end - j->scan);
        if (nul) { /* no command, no mail text: binary (TLS, not SMTP), held no longer */
            drop_upto(j, (size_t)(nul - j->buf) + 1);
            continue;
        }
        j->scan = end;
        if (end - j->line > ST_SMTP_TEXT_LINE)
            j->text = 0;
        if (!lf)
            return;
        classify_line(j, j->buf + j->line, end - 1 - j->line, end);
        j->line = end;
    }
}

/* The lines before the first command are what a reply answered (the
 * tail of a command, an AUTH response, the end of a chunk's octets):
 * drop them, look at the rest. */
static void drop_answered(struct st_smtp_join *j)
{
    while (j->nlines > 0 && j->first < 0) {
        size_t k = j->first_end;
        explicit_bzero(j->buf, k);
        memmove(j->buf, j->buf + k, j->len - k);
        j->len -= k;
        j->auth = 0;
        j->skip = 0;
        classify_reset(j, 1);
        classify(j);
    }
}

static int hold(struct st_smtp_join *j, const uint8_t *d, size_t n)
{
    if (j->len + n > j->cap) {
        size_t c = j->cap ? j->cap : ST_SMTP_JOIN_MIN;
        while (c < j->len + n)
            c *= 2;
        uint8_t *b = malloc(c);
        size_t len = j->len;
        if (!b)
            return -1;
        if (len)
            memcpy(b, j->buf, len);
        release(j); /* wiped: it may hold an AUTH line */
        j->buf = b;
        j->cap = c;
        j->len = len;
    }
    memcpy(j->buf + j->len, d, n);
    j->len += n;
    return 0;
}

/* ---- the footing ---------------------------------------------------------------- */

static void end_seeking(st_smtp *p)
{
    p->join->seeking = 0;
    p->banner_done = 1; /* whatever comes now answers commands */
    st_smtp_line_reset(&p->cl);
}

/* What was held goes to the parser as if it had just arrived. A first
 * line that may be the tail of another ("XDATA") is read as after a gap:
 * a DATA there waits for its 354 (cmd.c). */
static void pass(st_smtp *p, const char *s, size_t len)
{
    st_smtp_reply_line(p, s, len, 0);
}

static void replay_part(st_smtp *p, size_t from, size_t to)
{
    struct st_smtp_join *j = p->join;
    if (from == 0 && p->cmode == ST_CM_CMD && !j->first_ls)
        p->cl.after_gap = 1;
    if (to > from)
        st_smtp_client_bytes(p, j->buf + from, to - from);
}

static void replay(st_smtp *p)
{
    struct st_smtp_join *j = p->join;
    replay_part(p, 0, j->len);
    release(j);
}

/* Commands from here on; bytes were lost before (a reply may prove which
 * command they held: reply.c infers it). */
static void found_commands(st_smtp *p)
{
    end_seeking(p);
    p->cmd_lost = 1;
    p->resync = 1;
    if (p->join->bdat_before_mail)
        p->tx.warned = 1; /* its recipients were before the capture */
}

/* The held lines are commands, and r answers one of them. A 354 goes
 * right after the DATA it answers: what the client sent after that line
 * (it did not wait) is content, which a DATA read after a hole only
 * takes for content once its 354 is seen (cmd.c). */
static void replay_commands(st_smtp *p, const char *s, size_t len)
{
    struct st_smtp_join *j = p->join;
    size_t cut = j->data_end && st_smtp_reply_code(s, len) == 354 ? j->data_end : j->len;
    found_commands(p);
    replay_part(p, 0, cut);
    pass(p, s, len);
    replay_part(p, cut, j->len);
    release(j);
}

/* Inside DATA: the held bytes are the end of a message. Its first line
 * is read as the middle of a line (no dot removed, no end of data: "."
 * may be the tail of "etc.") unless it is the dot the server answered,
 * or begins ".." (a dot-stuffed line: the segment began a line). */
static void found_data(st_smtp *p)
{
    struct st_smtp_join *j = p->join;
    int at_ls = (j->dot && j->dot_first) || j->first_dots;
    end_seeking(p);
    st_smtp_enter_data(p);
    p->data_gap = 1;
    p->data_started = 1;
    p->tx.warned = 1; /* its envelope was before the capture */
    st_smtp_data_begin(p, "DATA", NULL);
    headless(p);
    p->dstate = at_ls ? ST_DS_LS : ST_DS_MID;
    replay(p);
}

/* A reply with no client line before it: it answers what came before
 * the capture. 1 when the footing is found (the reply was passed on). */
static int reply_alone(st_smtp *p, const st_smtp_reply *r, const char *s, size_t len)
{
    struct st_smtp_join *j = p->join;
    if (r->code == 220 && p->bytes[ST_DIR_CLIENT] == 0) {
        j->seeking = 0;  /* the banner: the capture began after the handshake */
        j->first_ls = 1; /* nothing lost: the client's first line is a whole one */
        release(j);
        pass(p, s, len);
        return 1;
    }
    if (r->code == 354 || st_smtp_reply_implies(p, r) >= 0) {
        found_commands(p);
        if (r->code == 354)
            p->tx.warned = 1; /* its recipients were before the capture */
        pass(p, s, len);
        return 1;
    }
    j->auth = r->code == 334;
    st_smtp_reply_reset(&p->ra); /* an answer to what we never saw */
    return 0;
}

/* A reply that only one command earns, which the client sends last
 * before it waits (RFC 2920: DATA and QUIT end a group): a 354 answers
 * DATA, a 221 QUIT. With such a command line held, the reply is its
 * answer (what the client sent after it waits for the reply, so nothing
 * held can be later), and that line is the command, never the first line
 * of a message opened by a DATA inferred from the reply. */
static int answers_held(const struct st_smtp_join *j, const st_smtp_reply *r)
{
    int k = r->code == 354 ? ST_K_DATA : r->code == 221 ? ST_K_QUIT : -1;
    return k >= 0 && (j->kinds >> k & 1);
}

static void answer(st_smtp *p, const st_smtp_reply *r, const char *s, size_t len)
{
    struct st_smtp_join *j = p->join;
    if (j->nlines == 0) { /* at most the start of a line: not what r answers */
        if (!j->ls)
            drop_all(j); /* the tail of a line begun before */
        if (reply_alone(p, r, s, len))
            replay(p);
        return;
    }
    if (r->code == 354 && !j->data) { /* the DATA it answers came before */
        drop_all(j);
        reply_alone(p, r, s, len);
        release(j); /* the footing is found: the hold buffer goes */
        return;
    }
    if (j->dot && st_smtp_reply_fits(ST_K_DATA_END, r)) {
        found_data(p);
        pass(p, s, len);
        return;
    }
    if (j->first < 0 && answers_held(j, r))
        drop_answered(j); /* what came before the command the reply answers */
    if (j->first >= 0) {
        replay_commands(p, s, len);
        return;
    }
    drop_answered(j);
    if (reply_alone(p, r, s, len))
        replay(p); /* sent after what r answers: they wait for their own replies */
}

void st_smtp_join_server_line(st_smtp *p, const char *s, size_t len)
{
    int code = st_smtp_reply_code(s, len);
    if (code < 0)
        return; /* a tail, or not SMTP: nothing to say before the footing */
    if (len > 3 && s[3] == '-') {
        pass(p, s, len); /* the reply goes on */
        return;
    }
    st_smtp_reply r = {p->ra.lines ? p->ra.code : code, p->ra.lines ? p->ra.text : s};
    answer(p, &r, s, len);
}

/* Held bytes at the cap, no reply yet: they say what they are. */
static void at_cap(st_smtp *p)
{
    struct st_smtp_join *j = p->join;
    if (j->first >= 0 && j->other == 0) {
        found_commands(p);
        replay(p);
    } else if (j->text && j->other > 0) {
        found_data(p);
    } else {
        drop_all(j);
    }
}

void st_smtp_join_client(st_smtp *p, const uint8_t *d, size_t n)
{
    struct st_smtp_join *j = p->join;
    while (n > 0 && j->seeking && !p->stopped) {
        if (j->len == 0 && j->skip > 0) { /* octets of a chunk whose line was dropped */
            size_t k = n < j->skip ? n : (size_t)j->skip;
            j->skip -= k;
            d += k;
            n -= k;
            continue;
        }
        size_t take = ST_SMTP_JOIN_HOLD - j->len < n ? ST_SMTP_JOIN_HOLD - j->len : n;
        if (hold(j, d, take) != 0) {
            j->skip -= j->skip < take ? j->skip : take; /* octets among them are gone too */
            drop_all(j); /* no memory: as at the cap, and these bytes are lost */
            j->ls = 0;
        } else {
            classify(j);
        }
        d += take;
        n -= take;
        if (j->len == ST_SMTP_JOIN_HOLD)
            at_cap(p);
    }
    if (n > 0 && !j->seeking)
        st_smtp_client_bytes(p, d, n);
}

void st_smtp_join_gap(st_smtp *p, uint64_t len)
{
    struct st_smtp_join *j = p->join;
    j->skip = j->skip > len ? j->skip - len : 0;
    drop_all(j);
    j->ls = j->skip > 0; /* past the chunk's octets, a line starts */
}

/* ---- entry points ------------------------------------------------------------------ */

int st_smtp_midstream(st_smtp *p)
{
    if (!p || p->join || p->bytes[ST_DIR_CLIENT] || p->bytes[ST_DIR_SERVER])
        return -1;
    struct st_smtp_join *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->fn = p->fn;
    j->ctx = p->ctx;
    j->seeking = 1;
    classify_reset(j, 0);
    p->fn = filter;
    p->ctx = p;
    p->join = j;
    return 0;
}

int st_smtp_join_seeking(const st_smtp *p)
{
    return p->join && p->join->seeking;
}

int st_smtp_join_fit(const st_smtp *p)
{
    return p->join && p->join->fit;
}

size_t st_smtp_join_memory(const st_smtp *p)
{
    return p->join ? sizeof *p->join + p->join->cap : 0;
}

void st_smtp_join_release(st_smtp *p)
{
    if (p->join)
        release(p->join);
}

void st_smtp_join_free(st_smtp *p)
{
    if (!p->join)
        return;
    release(p->join);
    free(p->join);
    p->join = NULL;
}
