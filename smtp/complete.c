/*
 * complete.c - a pending command and its reply become events.
 *
 * Called when the reply is matched, or with no reply (code 0) when the
 * command must be reported before its reply can come: message content is
 * about to be emitted, the queue is full, the session ended, or the reply
 * was lost. The command's text is copied into the work buffer and parsed
 * there, so the queue may change while the events go out; the buffer
 * shrinks back after a long one. The side effects on the transaction
 * (open, reject, abort, close) happen here, in event order. Nothing here
 * can fail: with no memory to grow the work buffer, the command is cut
 * (line_too_long) and EHLO keywords left out (too_many_extensions), as
 * at their caps.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_int.h"

static int is_2xx(int code)
{
    return code >= 200 && code < 300;
}

static int is_error(int code)
{
    return code >= 400;
}

static void ev_cmd(st_smtp_event *ev, st_smtp_ev_type type, const char *verb, const char *arg,
                   const st_smtp_reply *r)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    ev->verb = verb;
    ev->arg = arg;
    ev->reply = *r;
}

/* Room for the keywords of the reply lines after s (their first '\n'):
 * pointers, and strings in the work buffer after the command, never
 * longer than the lines. Returns how many pointers there are. */
static size_t ext_room(st_smtp *p, const char *s)
{
    size_t n = 0;
    for (const char *c = s; c && n < ST_SMTP_MAX_EXT; c = strchr(c + 1, '\n'))
        n++;
    (void)st_smtp_work(p, p->work_used + strlen(s));
    p->ext = n ? malloc(n * sizeof(*p->ext)) : NULL;
    p->n_ext_cap = p->ext ? n : 0;
    return p->n_ext_cap;
}

/* EHLO keywords: the reply lines after the first, without "250-". */
static size_t build_ext(st_smtp *p, const char *s)
{
    size_t n = 0, max = ext_room(p, s);
    char *out = p->work + p->work_used, *end = p->work + p->work_cap;
    while (s) {
        const char *line = s + 1, *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t skip = len > 4 ? 4 : len;
        if (n == max || (size_t)(end - out) < len - skip + 1) {
            st_smtp_anomaly(p, "too_many_extensions", NULL);
            break;
        }
        memcpy(out, line + skip, len - skip);
        out[len - skip] = 0;
        p->ext[n++] = out;
        out += len - skip + 1;
        s = nl;
    }
    return n;
}

static void ext_free(st_smtp *p)
{
    free(p->ext);
    p->ext = NULL;
    p->n_ext_cap = 0;
}

/* verb is the start of the work buffer, arg in it: building the keywords
 * may move the buffer, so the event takes them from there afterwards. */
/* A command that ends the open transaction without a verdict on it (EHLO,
 * RSET, QUIT, STARTTLS): aborted, unless the server refused it earlier. */
static void abandon(st_smtp *p, const st_smtp_reply *r)
{
    st_smtp_tx_close(p, st_smtp_tx_abandon(p, ST_TX_ABORTED), p->tx.fail_code ? NULL : r);
}

static void on_helo(st_smtp *p, char *verb, char *arg, const st_smtp_reply *r)
{
    static const char *const no_ext[1] = {NULL};
    st_smtp_event ev;
    size_t at = arg ? (size_t)(arg - verb) : 0, n_ext = 0;
    const char *s = r->text ? strchr(r->text, '\n') : NULL;
    int ehlo = is_2xx(r->code) && strcmp(verb, "HELO") != 0;
    if (r->code == 0 || is_2xx(r->code)) /* a refused EHLO resets nothing (RFC 5321 4.1.4) */
        abandon(p, r);
    if (is_2xx(r->code)) {
        p->detected = 1;
        st_smtp_update_detect(p);
    }
    if (ehlo && s)
        n_ext = build_ext(p, s);
    ev_cmd(&ev, ST_SMTP_EV_HELO, p->work, arg ? p->work + at : NULL, r);
    if (ehlo) {
        ev.n_ext = n_ext;
        ev.ext = p->ext ? p->ext : no_ext;
    }
    st_smtp_emit(p, &ev);
    ext_free(p);
}

static void on_auth(st_smtp *p, char *verb, char *arg, const st_smtp_reply *r)
{
    st_smtp_event ev;
    ev_cmd(&ev, ST_SMTP_EV_AUTH, verb, arg, r);
    ev.user = p->auth.has_user ? p->user : NULL;
    ev.flag = r->code == 0 ? -1 : is_error(r->code) ? 0 : 1;
    st_smtp_emit(p, &ev);
    st_smtp_auth_done(p);
}

static void on_starttls(st_smtp *p, const st_smtp_reply *r)
{
    st_smtp_event ev;
    if (r->code == 220) /* RFC 3207: both sides forget the session */
        abandon(p, r);
    ev_cmd(&ev, ST_SMTP_EV_STARTTLS, NULL, NULL, r);
    ev.flag = r->code == 220;
    st_smtp_emit(p, &ev);
    st_smtp_tls_reply(p, r->code);
}

/* A MAIL the server refuses while a transaction is open (503 nested MAIL,
 * sender already given) changes nothing (RFC 5321 4.1.4); one refused
 * with none open is kept as a rejected transaction, as evidence of the
 * sender tried. */
static void on_mail(st_smtp *p, char *arg, int flags, const st_smtp_reply *r)
{
    st_smtp_event ev;
    const char *path = NULL, *params = NULL; /* a MAIL inferred from its reply: sender unknown */
    if (!(flags & ST_F_INFER) && st_smtp_parse_path(arg, "FROM", &path, &params) != 0)
        st_smtp_anomaly(p, "mail_syntax", NULL);
    if (is_error(r->code) && p->tx.open) {
        ev_cmd(&ev, ST_SMTP_EV_COMMAND, "MAIL", path, r);
        st_smtp_emit(p, &ev);
        return;
    }
    st_smtp_tx_close(p, st_smtp_tx_abandon(p, ST_TX_ABORTED), NULL);
    p->tx.open = 1;
    p->tx.rejected = is_error(r->code);
    ev_cmd(&ev, ST_SMTP_EV_MAIL, "MAIL", path, r);
    ev.params = params;
    st_smtp_emit(p, &ev);
}

/* A RCPT inferred from its reply has no address to list: it counts for
 * the transaction's verdict only (its anomaly says so). */
static void on_rcpt(st_smtp *p, char *arg, int flags, const st_smtp_reply *r)
{
    st_smtp_event ev;
    const char *path = NULL, *params = NULL;
    if (!(flags & ST_F_INFER) && st_smtp_parse_path(arg, "TO", &path, &params) != 0)
        st_smtp_anomaly(p, "rcpt_syntax", NULL);
    ev_cmd(&ev, ST_SMTP_EV_RCPT, "RCPT", path, r);
    ev.params = params;
    ev.flag = r->code == 0 ? -1 : is_2xx(r->code);
    if (!p->tx.open) {
        st_smtp_anomaly(p, "rcpt_without_mail", NULL);
    } else {
        p->tx.rcpt_seen++;
        p->tx.rcpt_maybe += ev.flag != 0;
    }
    if (!(flags & ST_F_INFER))
        st_smtp_emit(p, &ev);
}

/* A refusal of DATA before any content: the transaction goes on. */
static void data_refused(st_smtp *p, const st_smtp_reply *r)
{
    int open = p->tx.open;
    st_smtp_data_begin(p, "DATA", r); /* the record says DATA was tried */
    if (!open) { /* no sender: a refused attempt, on its own (as Zeek logs it) */
        st_smtp_tx_close(p, ST_TX_REJECTED, r);
        return;
    }
    /* RFC 5321 3.3: the envelope stays; a later DATA may still be accepted.
     * If none is, the transaction ends rejected with this refusal. */
    st_smtp_tx_refused(p, r);
}

/* The reply to DATA: 354 (or none while the content is being read)
 * begins the message; a refusal before any content ends the transaction
 * and sends the client side back to commands. A DATA read just after a
 * hole waits for its 354 in command mode: a success of another kind
 * shows it was no DATA (the tail of another line). */
static void on_data(st_smtp *p, int flags, const st_smtp_reply *r)
{
    int here = p->cmode == ST_CM_DATA && !p->data_started;
    if ((flags & ST_F_DOUBT) && r->code == 354)
        st_smtp_enter_data(p);
    if (r->code == 354 || r->code == 0) {
        if (p->cmode == ST_CM_DATA)
            st_smtp_data_begin(p, "DATA", r->code ? r : NULL);
        if (r->code == 354 && !p->tx.fail_hard)
            st_smtp_tx_fail(p, NULL); /* an earlier refusal of DATA is over */
        return;
    }
    if ((flags & ST_F_DOUBT) && !is_error(r->code))
        return;
    st_smtp_check_rcpt(p);
    if (flags & ST_F_DOUBT) {
        data_refused(p, r);
    } else if (!here) {
        p->tx.rejected |= p->tx.open;
    } else {
        p->cmode = ST_CM_CMD;
        st_smtp_line_reset(&p->cl);
        data_refused(p, r);
    }
}

static void on_bdat(st_smtp *p, int flags, const st_smtp_reply *r)
{
    if (r->code != 0 && !is_2xx(r->code) && !p->tx.fail_hard)
        st_smtp_tx_fail(p, r); /* chunks still in the pipeline are discarded (RFC 3030 2) */
    if (flags & ST_F_LAST)
        st_smtp_tx_close(p, st_smtp_tx_final(p, r->code), r);
}

/* RFC 3030 2: a 4xx or 5xx to a BDAT fails the transaction: it ends
 * rejected with that refusal as its reply, however it ends (the chunks
 * still in the pipeline are discarded by the server, whatever it says to
 * them). A BDAT whose size was no size takes no octets; it is reported as
 * a command. */
static void on_bad_bdat(st_smtp *p, char *verb, char *arg, const st_smtp_reply *r)
{
    st_smtp_event ev;
    if (r->code >= 400 && p->tx.open) {
        st_smtp_data_begin(p, "BDAT", r); /* the record says BDAT was tried */
        st_smtp_tx_fail(p, r);
    }
    ev_cmd(&ev, ST_SMTP_EV_COMMAND, verb, arg, r);
    st_smtp_emit(p, &ev);
}

static void on_command(st_smtp *p, int kind, char *verb, char *arg, const st_smtp_reply *r)
{
    st_smtp_event ev;
    if (kind == ST_K_QUIT || (kind == ST_K_RSET && (r->code == 0 || is_2xx(r->code))))
        abandon(p, r); /* a refused RSET resets nothing */
    ev_cmd(&ev, ST_SMTP_EV_COMMAND, verb, arg, r);
    st_smtp_emit(p, &ev);
}

static void dispatch(st_smtp *p, int kind, int flags, char *verb, char *arg, const st_smtp_reply *r)
{
    switch (kind) {
    case ST_K_HELO:
        on_helo(p, verb, arg, r);
        break;
    case ST_K_AUTH:
        on_auth(p, verb, arg, r);
        break;
    case ST_K_STARTTLS:
        on_starttls(p, r);
        break;
    case ST_K_MAIL:
        on_mail(p, arg, flags, r);
        break;
    case ST_K_RCPT:
        on_rcpt(p, arg, flags, r);
        break;
    case ST_K_DATA:
        on_data(p, flags, r);
        break;
    case ST_K_DATA_END:
        st_smtp_tx_close(p, st_smtp_tx_final(p, r->code), r);
        break;
    case ST_K_BDAT:
        if (flags & ST_F_BAD)
            on_bad_bdat(p, verb, arg, r);
        else
            on_bdat(p, flags, r);
        break;
    default:
        on_command(p, kind, verb, arg, r);
    }
}

void st_smtp_complete(st_smtp *p, st_smtp_pend *e, const st_smtp_reply *r)
{
    static const st_smtp_reply none = {0, NULL};
    size_t n = e->len;
    if (e->flags & ST_F_GHOST)
        return;
    if (!st_smtp_work(p, n + 1)) {
        n = p->work_cap - 1;
        st_smtp_anomaly(p, "line_too_long", "client");
    }
    memcpy(p->work, st_smtp_cmdq_text(&p->q, e), n);
    p->work[n] = 0;
    p->work_used = n + 1;
    char *arg = st_smtp_split_verb(p->work);
    dispatch(p, e->kind, e->flags, p->work, arg, r ? r : &none);
    st_smtp_work_trim(p);
}

/* Only the verb is known of a command a reply proves was sent. */
void st_smtp_complete_inferred(st_smtp *p, int kind, const st_smtp_reply *r)
{
    const char *verb = kind == ST_K_MAIL ? "MAIL" : kind == ST_K_RCPT ? "RCPT" : "QUIT";
    st_smtp_anomaly(p, "command_inferred", verb);
    if (!st_smtp_work(p, 5))
        return; /* no memory for four bytes: the command stays unreported */
    memcpy(p->work, verb, 5);
    p->work_used = 5;
    dispatch(p, kind, ST_F_INFER, p->work, NULL, r);
    st_smtp_work_trim(p);
}

void st_smtp_complete_head(st_smtp *p, const st_smtp_reply *r)
{
    st_smtp_pend e = *st_smtp_cmdq_at(&p->q, 0);
    /* the text is copied to the work buffer before anything is emitted */
    st_smtp_complete(p, &e, r);
    st_smtp_cmdq_pop(&p->q);
}

/* Report every pending command now, with no reply, and forget them. */
void st_smtp_flush_all(st_smtp *p)
{
    while (p->q.n > 0)
        st_smtp_complete_head(p, NULL);
}

/* Report the commands ahead of the newest one now; their replies, when
 * they come, are absorbed (pipelined BDAT content follows its command
 * without waiting for the replies before it). */
void st_smtp_flush_ghost(st_smtp *p)
{
    for (size_t i = 0; i + 1 < p->q.n; i++) {
        st_smtp_pend *e = st_smtp_cmdq_at(&p->q, i);
        st_smtp_complete(p, e, NULL);
        e->flags |= ST_F_GHOST;
    }
}
