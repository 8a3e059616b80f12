/*
 * emit.c - events out of the parser, and the transaction they describe.
 *
 * Every event goes through st_smtp_emit. The transaction state here is
 * the emission side's: it changes in event order, so a TX_END always
 * closes what the MAIL/DATA_BEGIN before it opened. Anomalies are capped
 * per session; past the cap one "anomaly_limit" is emitted and the rest
 * are counted silently. Nothing here can fail.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_int.h"

static const st_smtp_reply no_reply = {0, NULL};

void st_smtp_emit(st_smtp *p, st_smtp_event *ev)
{
    p->fn(p->ctx, ev);
}

static void ev_init(st_smtp_event *ev, st_smtp_ev_type type)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
}

void st_smtp_anomaly(st_smtp *p, const char *name, const char *detail)
{
    st_smtp_event ev;
    if (p->n_anom > ST_SMTP_MAX_ANOMALY)
        return;
    ev_init(&ev, ST_SMTP_EV_ANOMALY);
    if (p->n_anom++ == ST_SMTP_MAX_ANOMALY) {
        name = "anomaly_limit";
        detail = NULL;
    }
    ev.verb = name;
    ev.arg = detail;
    st_smtp_emit(p, &ev);
}

/* REJECTED when the server refused the envelope, else the given status. */
st_tx_status st_smtp_tx_abandon(const st_smtp *p, st_tx_status otherwise)
{
    const st_smtp_tx *t = &p->tx;
    if (t->rejected || (t->rcpt_seen > 0 && t->rcpt_maybe == 0))
        return ST_TX_REJECTED;
    return otherwise;
}

/* The status the server's last word gives (code 0: it was not seen). */
st_tx_status st_smtp_tx_final(const st_smtp *p, int code)
{
    if (code == 0)
        return st_smtp_tx_abandon(p, ST_TX_INCOMPLETE);
    return code >= 200 && code < 300 && !p->tx.rejected ? ST_TX_ACCEPTED : ST_TX_REJECTED;
}

static void keep_refusal(st_smtp *p, const st_smtp_reply *r, int hard)
{
    free(p->tx.fail);
    p->tx.fail = NULL;
    p->tx.fail_code = p->tx.fail_hard = 0;
    if (!r || !p->tx.open)
        return;
    const char *t = r->text ? r->text : "";
    p->tx.fail = strndup(t, strnlen(t, ST_SMTP_FAIL_TEXT));
    p->tx.fail_code = r->code;
    p->tx.fail_hard = hard;
}

void st_smtp_tx_fail(st_smtp *p, const st_smtp_reply *r)
{
    keep_refusal(p, r, 1);
}

void st_smtp_tx_refused(st_smtp *p, const st_smtp_reply *r)
{
    keep_refusal(p, r, 0);
}

void st_smtp_tx_close(st_smtp *p, st_tx_status status, const st_smtp_reply *r)
{
    st_smtp_event ev;
    if (!p->tx.open)
        return;
    char *fail = p->tx.fail;
    ev_init(&ev, ST_SMTP_EV_TX_END);
    ev.status = status;
    ev.reply = r ? *r : no_reply;
    if (p->tx.fail_code && (p->tx.fail_hard || status != ST_TX_ACCEPTED)) {
        ev.status = ST_TX_REJECTED; /* refused, and never accepted after */
        if (!ev.reply.code) {       /* ended with no reply of its own: that refusal */
            ev.reply.code = p->tx.fail_code;
            ev.reply.text = fail;
        }
    }
    memset(&p->tx, 0, sizeof(p->tx));
    st_smtp_emit(p, &ev);
    free(fail);
}

/* DATA or BDAT with no recipient the server may have accepted. */
void st_smtp_check_rcpt(st_smtp *p)
{
    if (p->tx.warned || p->tx.rcpt_maybe > 0)
        return;
    p->tx.warned = 1;
    st_smtp_anomaly(p, "data_without_rcpt", NULL);
}

void st_smtp_data_begin(st_smtp *p, const char *verb, const st_smtp_reply *r)
{
    st_smtp_event ev;
    int bdat = verb[0] == 'B';
    if (p->tx.data_begun && p->tx.bdat != bdat) {
        /* DATA after BDAT chunks (or the reverse) cannot share a transaction
         * (RFC 3030); bytes lost in between held the end of the first one. */
        st_smtp_anomaly(p, "data_bdat_mixed", NULL);
        st_smtp_tx_close(p, ST_TX_INCOMPLETE, NULL);
    }
    if (p->tx.data_begun)
        return;
    p->tx.bdat = bdat;
    st_smtp_check_rcpt(p);
    p->tx.open = p->tx.data_begun = 1;
    ev_init(&ev, ST_SMTP_EV_DATA_BEGIN);
    ev.verb = verb;
    ev.reply = r ? *r : no_reply;
    st_smtp_emit(p, &ev);
}

/* DATA content may come before the replies to the commands ahead of it
 * (one-sided capture, lost server packets): report those first. */
static void content_start(st_smtp *p)
{
    if (p->cmode != ST_CM_DATA || p->data_started)
        return;
    p->data_started = 1;
    /* Report the commands ahead now. Without a gap, keep them queued: a
     * client that did not wait for its replies will still get them, and
     * they must not be taken for the server's word on the message. After
     * a gap their replies were most likely what was lost. */
    if (p->resync)
        st_smtp_flush_all(p);
    else
        st_smtp_flush_ghost(p);
    st_smtp_data_begin(p, "DATA", NULL);
}

void st_smtp_msg_data(st_smtp *p, const uint8_t *d, size_t n)
{
    st_smtp_event ev;
    if (n == 0)
        return;
    content_start(p);
    ev_init(&ev, ST_SMTP_EV_MSG_DATA);
    ev.data = d;
    ev.len = n;
    st_smtp_emit(p, &ev);
}

void st_smtp_msg_gap(st_smtp *p, uint64_t n)
{
    st_smtp_event ev;
    if (n == 0)
        return;
    content_start(p);
    ev_init(&ev, ST_SMTP_EV_MSG_GAP);
    ev.gap = n;
    st_smtp_emit(p, &ev);
}

void st_smtp_msg_end(st_smtp *p)
{
    st_smtp_event ev;
    content_start(p);
    p->tx.msg_ended = 1;
    ev_init(&ev, ST_SMTP_EV_MSG_END);
    st_smtp_emit(p, &ev);
}
