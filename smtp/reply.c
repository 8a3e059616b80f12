/*
 * reply.c - server replies: multi-line assembly and matching to commands.
 *
 * Lines "250-a", "250-b", "250 c" form one reply whose text is the lines
 * as sent, joined by '\n'; lines past max_reply_lines or past the text
 * cap (or that find no memory for the text to grow) are dropped
 * (anomaly); the text buffer shrinks back after a long reply. A line
 * without a 3-digit code is dropped (anomaly, unless it follows a gap).
 * The first reply of a session is the banner when no command waits, or
 * when it is a 220 or 554 that does not answer a STARTTLS; otherwise the
 * capture began after the banner and the reply is matched like any
 * other. Replies are matched to the oldest pending command, except:
 *   - 334 goes to a pending AUTH without ending it;
 *   - a 354 or 334 that fits no pending command is unmatched;
 *   - after a gap in either direction (resync mode, until the queue is
 *     empty again), a reply that cannot answer the oldest command (fit.c:
 *     by its code and enhanced code) is given to the first later command
 *     it can answer, the ones before it being reported with no reply
 *     (reply_lost); a reply that answers nothing pending, after client
 *     bytes were lost among the commands, is the reply of a lost command
 *     when it says which (command_inferred, data_inferred); else it is
 *     unmatched;
 *   - a reply while DATA content is being read and nothing is pending
 *     means the server saw the end of the message that we lost;
 *   - a reply to the BDAT whose octets are being read ends the chunk
 *     (data.c: the server had them all).
 * Nothing here can fail.
 */
#include <string.h>

#include "smtp/smtp_int.h"

void st_smtp_reply_reset(st_smtp_racc *ra)
{
    ra->len = ra->lines = 0;
    ra->code = ra->cut = 0;
    st_smtp_buf_shrink(&ra->text, &ra->size, ST_SMTP_REPLY_KEEP, ST_SMTP_REPLY_MIN);
    if (ra->text)
        ra->text[0] = 0;
}

int st_smtp_reply_code(const char *s, size_t len)
{
    if (len < 3 || s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
        return -1;
    return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

static void racc_add(st_smtp *p, const char *s, size_t len, int code)
{
    st_smtp_racc *ra = &p->ra;
    size_t sep = ra->lines > 0;
    if (ra->lines == 0)
        ra->code = code;
    if (ra->lines >= p->lim.max_reply_lines || ra->len + sep + len > ra->cap ||
        st_smtp_buf_reserve(&ra->text, &ra->size, ra->len + sep + len + 1, ra->cap + 1) != 0) {
        ra->cut = 1;
        return;
    }
    if (sep)
        ra->text[ra->len++] = '\n';
    memcpy(ra->text + ra->len, s, len);
    ra->len += len;
    ra->text[ra->len] = 0;
    ra->lines++;
}

/* After replies were lost, a success that does not say a message ended
 * ("queued", X.6.X) may be the reply of a later command (a RSET, a QUIT)
 * as well as the verdict on the message at the head: the verdict is then
 * not taken from it, the message ends incomplete, never accepted by a
 * guess (the reply goes to the later command that fits). */
static int doubtful_verdict(st_smtp *p, const st_smtp_reply *r)
{
    const st_smtp_pend *e = st_smtp_cmdq_at(&p->q, 0);
    int verdict = e->kind == ST_K_DATA_END || (e->kind == ST_K_BDAT && (e->flags & ST_F_LAST));
    if (!p->srv_lost || !verdict || r->code >= 300 || st_smtp_reply_ends_message(r))
        return 0;
    for (size_t i = 1; i < p->q.n; i++)
        if (st_smtp_reply_fits(st_smtp_cmdq_at(&p->q, i)->kind, r))
            return 1;
    return 0;
}

/* Which pending command this reply answers; -1 for none. In step (no
 * gap), replies answer commands in order: only a reply that can answer
 * nothing at the head (a 354 or 334) is left unmatched. After a gap the
 * first command it can answer takes it (fit.c). */
static long pick(st_smtp *p, const st_smtp_reply *r)
{
    if (p->q.n == 0)
        return -1;
    if (st_smtp_reply_fits(st_smtp_cmdq_at(&p->q, 0)->kind, r) && !doubtful_verdict(p, r))
        return 0;
    if (!p->resync)
        return r->code == 354 || r->code == 334 ? -1 : 0;
    for (size_t i = 1; i < p->q.n; i++)
        if (st_smtp_reply_fits(st_smtp_cmdq_at(&p->q, i)->kind, r))
            return (long)i;
    return -1;
}

static int is_banner(st_smtp *p, int code)
{
    if (p->q.n == 0)
        return 1;
    return (code == 220 || code == 554) && st_smtp_cmdq_at(&p->q, 0)->kind != ST_K_STARTTLS;
}

static void banner(st_smtp *p, const st_smtp_reply *r)
{
    st_smtp_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = ST_SMTP_EV_BANNER;
    ev.reply = *r;
    p->banner_220 = r->code == 220;
    st_smtp_update_detect(p);
    st_smtp_emit(p, &ev);
}

static void server_ended_data(st_smtp *p, const st_smtp_reply *r)
{
    if (r->code == 354)
        return; /* the late 354 of a client that did not wait for it */
    st_smtp_anomaly(p, "data_end_not_seen", NULL);
    p->cmode = ST_CM_CMD;
    st_smtp_line_reset(&p->cl);
    st_smtp_tx_close(p, st_smtp_tx_final(p, r->code), r);
}

/* A 354 that no pending command can have earned, after client bytes
 * were lost among the commands: the lost bytes held a DATA (only DATA
 * earns 354, RFC 5321 4.3.2). Follow the server: the commands before it
 * lost their replies, the content that follows is a message, and it is
 * flagged as missing the lost bytes (some may have been its beginning). */
static void infer_data(st_smtp *p, const st_smtp_reply *r)
{
    uint64_t lost = p->cmd_gap;
    st_smtp_anomaly(p, "data_inferred", NULL);
    while (p->q.n)
        st_smtp_complete_head(p, NULL);
    st_smtp_push(p, ST_K_DATA, 0, "DATA", 4);
    st_smtp_enter_data(p);
    st_smtp_complete_head(p, r);
    st_smtp_content_gap(p, lost);
    p->dstate = ST_DS_LS; /* the content goes on at a line start, the 354 says */
}

/* A reply no pending command can have earned, after client bytes were
 * lost among the commands, that says which command it answers (fit.c):
 * that command was in the lost bytes. The commands still pending were
 * sent after it and keep waiting for their replies. */
static int infer_command(st_smtp *p, const st_smtp_reply *r)
{
    if (!(p->cmd_lost || p->cmd_gap) || p->cmode != ST_CM_CMD || pick(p, r) >= 0)
        return 0;
    int kind = st_smtp_reply_implies(p, r);
    if (kind < 0)
        return 0;
    p->inferring = 1;
    if (kind == ST_K_DATA) {
        infer_data(p, r);
    } else if (kind == ST_K_BDAT) {
        st_smtp_anomaly(p, "command_inferred", "BDAT LAST");
        p->bdat_open = 0;
        st_smtp_msg_end(p);
        st_smtp_tx_close(p, st_smtp_tx_final(p, r->code), r);
    } else {
        st_smtp_complete_inferred(p, kind, r);
    }
    p->inferring = 0;
    return 1;
}

/* The pending command whose reply was lost (the next reply answers a
 * later one): reported with none, and said so. */
static void reply_lost(st_smtp *p)
{
    const st_smtp_pend *e = st_smtp_cmdq_at(&p->q, 0);
    const char *t = st_smtp_cmdq_text(&p->q, e);
    char verb[16];
    size_t n = 0;
    while (n < e->len && n < sizeof verb - 1 && t[n] != ' ' && t[n] != '\t') {
        verb[n] = t[n];
        n++;
    }
    verb[n] = 0;
    if (!(e->flags & ST_F_GHOST))
        st_smtp_anomaly(p, "reply_lost", e->kind == ST_K_DATA_END ? "end of data" : verb);
    st_smtp_complete_head(p, NULL);
}

static void on_reply(st_smtp *p, const st_smtp_reply *r)
{
    if (!p->banner_done) {
        p->banner_done = 1;
        if (is_banner(p, r->code)) {
            banner(p, r);
            return;
        }
    }
    if (p->cmode == ST_CM_DATA && p->q.n == 0 && p->data_gap) {
        server_ended_data(p, r); /* the lost bytes held the final dot */
        return;
    }
    if (infer_command(p, r))
        return;
    long i = pick(p, r);
    if (i < 0) {
        st_smtp_anomaly(p, "unmatched_reply", r->text);
        return;
    }
    while (i-- > 0)
        reply_lost(p);
    st_smtp_bdat_check(p, r);
    if (r->code == 334 && st_smtp_cmdq_at(&p->q, 0)->kind == ST_K_AUTH) {
        p->auth.n334++;
        return;
    }
    st_smtp_complete_head(p, r);
    if (p->q.n == 0)
        p->resync = p->overflowed = p->cmd_lost = p->srv_lost = 0;
}

void st_smtp_reply_line(st_smtp *p, const char *s, size_t len, int after_gap)
{
    int code = st_smtp_reply_code(s, len);
    if (code < 0) {
        if (!after_gap) /* else: the tail of a line cut by a gap */
            st_smtp_anomaly(p, "invalid_reply", NULL);
        return;
    }
    racc_add(p, s, len, code);
    if (len > 3 && s[3] == '-')
        return;
    if (p->ra.cut)
        st_smtp_anomaly(p, "reply_too_long", NULL);
    st_smtp_reply r = {p->ra.code, p->ra.text};
    on_reply(p, &r);
    st_smtp_reply_reset(&p->ra);
}
