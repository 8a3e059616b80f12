/*
 * cmd.c - client command lines: what each one is and what it starts.
 *
 * A line is either part of an AUTH exchange (auth.c decides; it is
 * wiped, never queued) or a command: classified by its verb, queued for
 * its reply, and acted on at once where the client side must change mode
 * before the reply (DATA content, BDAT octets, the STARTTLS probe). The
 * queue is bounded: when it is full the oldest command is reported with
 * no reply and dropped (anomaly "pending_queue_overflow" once per
 * overflow); its late reply will then go to the next command. Every line
 * buffer is wiped after use, so no credential outlives its line.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_int.h"

static const struct {
    const char *verb;
    int kind;
} verbs[] = {
    {"HELO", ST_K_HELO},     {"EHLO", ST_K_HELO},         {"LHLO", ST_K_HELO},
    {"AUTH", ST_K_AUTH},     {"STARTTLS", ST_K_STARTTLS}, {"MAIL", ST_K_MAIL},
    {"RCPT", ST_K_RCPT},     {"DATA", ST_K_DATA},         {"BDAT", ST_K_BDAT},
    {"RSET", ST_K_RSET},     {"QUIT", ST_K_QUIT},         {"NOOP", ST_K_OTHER},
    {"VRFY", ST_K_OTHER},    {"EXPN", ST_K_OTHER},        {"HELP", ST_K_OTHER},
    {"ETRN", ST_K_OTHER},    {"TURN", ST_K_OTHER},        {"ATRN", ST_K_OTHER},
    {"XCLIENT", ST_K_OTHER}, {"XFORWARD", ST_K_OTHER},    {"SEND", ST_K_OTHER},
    {"SOML", ST_K_OTHER},    {"SAML", ST_K_OTHER},
};

int st_smtp_verb_kind(const char *v, size_t n)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strlen(verbs[i].verb) == n && strncasecmp(v, verbs[i].verb, n) == 0)
            return verbs[i].kind;
    return -1;
}

void st_smtp_push(st_smtp *p, int kind, int flags, const char *text, size_t len)
{
    p->cmd_lost |= p->cmd_gap > 0;
    p->cmd_gap = 0; /* a whole command after the loss: the client side is in step */
    while (st_smtp_cmdq_push(&p->q, kind, flags, text, len) != 0) {
        if (!p->overflowed)
            st_smtp_anomaly(p, "pending_queue_overflow", NULL);
        p->overflowed = 1;
        if (p->q.n == 0)
            return; /* cannot be queued at all (no memory): dropped */
        st_smtp_complete_head(p, NULL);
    }
}

static void unknown(st_smtp *p, const char *v, size_t n)
{
    if (p->n_unknown > ST_SMTP_MAX_UNKNOWN)
        return;
    if (p->n_unknown++ == ST_SMTP_MAX_UNKNOWN) {
        st_smtp_anomaly(p, "unknown_command_limit", NULL);
        return;
    }
    if (!st_smtp_work(p, n + 1))
        n = p->work_cap - 1; /* no memory: the detail is cut */
    for (size_t i = 0; i < n; i++)
        p->work[i] = (char)toupper((unsigned char)v[i]);
    p->work[n] = 0;
    st_smtp_anomaly(p, "unknown_command", p->work);
    st_smtp_work_trim(p);
}

/* "BDAT" SP size [SP "LAST"]: the size fits in an int64_t. */
static int parse_bdat(const char *s, uint64_t *size, int *last)
{
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned dg = (unsigned)(*s - '0');
        if (v > ((uint64_t)INT64_MAX - dg) / 10)
            return -1;
        v = v * 10 + dg;
    }
    s += strspn(s, " \t");
    *last = strncasecmp(s, "LAST", 4) == 0;
    if (*last)
        s += 4 + strspn(s + 4, " \t");
    *size = v;
    return *s ? -1 : 0;
}

/* A first BDAT after client bytes were lost among the commands: the lost
 * bytes may have held the message's first chunks (each with its BDAT), so
 * the message counts them missing rather than look whole from here. */
static void bdat(st_smtp *p, const char *arg, const char *line, size_t len)
{
    uint64_t size, lost = p->bdat_open ? 0 : p->cmd_gap;
    int last;
    if (parse_bdat(arg, &size, &last) != 0) {
        st_smtp_anomaly(p, "bdat_invalid_size", NULL);
        st_smtp_push(p, ST_K_BDAT, ST_F_BAD, line, len); /* its refusal fails the transaction */
        return;
    }
    st_smtp_push(p, ST_K_BDAT, last ? ST_F_LAST : 0, line, len);
    st_smtp_bdat_start(p, size, last, lost);
}

/* Only "AUTH MECH" is queued: the initial response may hold a password. */
static void auth(st_smtp *p, const char *arg)
{
    char text[5 + 32] = "AUTH ";
    size_t n = strcspn(arg, " \t");
    n = n > 32 ? 32 : n;
    for (size_t i = 0; i < n; i++)
        text[5 + i] = (char)toupper((unsigned char)arg[i]);
    st_smtp_push(p, ST_K_AUTH, 0, text, n ? 5 + n : 4);
    st_smtp_auth_start(p, arg);
}

static void after_push(st_smtp *p, int kind)
{
    if (kind == ST_K_HELO || (kind == ST_K_MAIL && p->helo_cmd)) {
        if (kind == ST_K_HELO)
            p->helo_cmd = 1;
        else
            p->mail_after_helo = 1;
        st_smtp_update_detect(p);
    } else if (kind == ST_K_STARTTLS) {
        st_smtp_tls_start(p);
    } else if (kind == ST_K_DATA) {
        st_smtp_enter_data(p);
    }
}

void st_smtp_enter_data(st_smtp *p)
{
    p->cmode = ST_CM_DATA;
    p->dstate = ST_DS_LS;
    p->data_started = 0;
    p->data_gap = 0;
}

static void command(st_smtp *p, const char *line, size_t len)
{
    size_t vl = strcspn(line, " \t");
    int kind = st_smtp_verb_kind(line, vl);
    const char *arg = line + vl + strspn(line + vl, " \t");
    if (p->bdat_open && kind != ST_K_BDAT && kind != ST_K_RSET)
        st_smtp_anomaly(p, "bdat_missing_last", NULL);
    if (kind != ST_K_BDAT)
        p->bdat_open = 0;
    if (kind < 0) {
        unknown(p, line, vl);
        st_smtp_push(p, ST_K_OTHER, 0, line, len);
    } else if (kind == ST_K_AUTH) {
        auth(p, arg);
    } else if (kind == ST_K_BDAT) {
        bdat(p, arg, line, len);
    } else if (kind == ST_K_DATA && p->cl.after_gap && p->bytes[ST_DIR_SERVER] > 0) {
        /* "DATA" after a hole may be the tail of another line ("XDATA"):
         * only the server's 354 makes what follows a message */
        st_smtp_push(p, kind, ST_F_DOUBT, line, len);
    } else {
        st_smtp_push(p, kind, 0, line, len);
        after_push(p, kind);
    }
}

void st_smtp_client_line(st_smtp *p)
{
    st_smtp_line *l = &p->cl;
    st_smtp_line_checks(p, l, ST_DIR_CLIENT);
    if (st_smtp_auth_is_line(p))
        st_smtp_auth_line(p, l->buf, l->len);
    else if (!l->after_gap || st_smtp_verb_kind(l->buf, strcspn(l->buf, " \t")) >= 0)
        command(p, l->buf, l->len);     /* else: the tail of a line cut by a gap */
    explicit_bzero(l->buf, l->len + 1); /* + the byte a cut line may leave */
}
