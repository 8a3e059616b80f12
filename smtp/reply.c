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
 *     empty again), a reply that does not fit the oldest command (a 354
 *     for anything but DATA, a 2xx for DATA) is given to the first later
 *     command it fits, the ones before it being reported with no reply
 *     (their replies were lost); a reply that fits nothing is unmatched;
 *   - a reply while DATA content is being read and nothing is pending
 *     means the server saw the end of the message that we lost.
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

static int parse_code(const char *s, size_t len)
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

static int fits(int kind, int code)
{
    if (code == 354)
        return kind == ST_K_DATA;
    if (code == 334)
        return kind == ST_K_AUTH;
    return kind != ST_K_DATA || code >= 400;
}

/* Which pending command this reply answers; -1 for none. */
static long pick(st_smtp *p, int code)
{
    if (p->q.n == 0)
        return -1;
    if (fits(st_smtp_cmdq_at(&p->q, 0)->kind, code))
        return 0;
    if (!p->resync)
        return code == 354 || code == 334 ? -1 : 0;
    for (size_t i = 1; i < p->q.n; i++)
        if (fits(st_smtp_cmdq_at(&p->q, i)->kind, code))
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
static int infer_data(st_smtp *p, const st_smtp_reply *r)
{
    if (r->code != 354 || p->cmode != ST_CM_CMD || !p->cmd_gap || pick(p, 354) >= 0)
        return 0;
    uint64_t lost = p->cmd_gap;
    st_smtp_anomaly(p, "data_inferred", NULL);
    while (p->q.n)
        st_smtp_complete_head(p, NULL);
    st_smtp_push(p, ST_K_DATA, 0, "DATA", 4);
    st_smtp_enter_data(p);
    st_smtp_complete_head(p, r);
    st_smtp_content_gap(p, lost);
    p->dstate = ST_DS_LS; /* the content goes on at a line start, the 354 says */
    return 1;
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
    if (infer_data(p, r))
        return;
    long i = pick(p, r->code);
    if (i < 0) {
        st_smtp_anomaly(p, "unmatched_reply", r->text);
        return;
    }
    while (i-- > 0)
        st_smtp_complete_head(p, NULL);
    if (r->code == 334 && st_smtp_cmdq_at(&p->q, 0)->kind == ST_K_AUTH) {
        p->auth.n334++;
        return;
    }
    st_smtp_complete_head(p, r);
    if (p->q.n == 0)
        p->resync = p->overflowed = 0;
}

void st_smtp_reply_line(st_smtp *p, const char *s, size_t len, int after_gap)
{
    int code = parse_code(s, len);
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
