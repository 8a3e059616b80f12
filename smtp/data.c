/*
 * data.c - message content: DATA with its dot, BDAT with its count.
 *
 * DATA content is scanned in place and passed on in runs straight from
 * the input: a leading dot is removed (RFC 5321 4.5.2), a line that is a
 * lone dot ends the message (CRLF, or a bare LF with an anomaly). Only
 * the dot and a CR after it are ever held back across segments, so the
 * carry is implicit in the scanner state. BDAT content is exactly n
 * octets with no dot semantics. Content lines have no length limit. A
 * gap inside content becomes MSG_GAP; after it DATA goes on mid-line.
 */
#include <string.h>

#include "smtp/smtp_int.h"

static void data_end(st_smtp *p)
{
    st_smtp_msg_end(p);
    p->cmode = ST_CM_CMD;
    st_smtp_line_reset(&p->cl);
    st_smtp_push(p, ST_K_DATA_END, 0, ".", 1);
}

/* One step of the scanner from d[*i]; returns 1 when the message ended.
 * *run is where the bytes not yet passed on start. */
static int data_step(st_smtp *p, const uint8_t *d, size_t n, size_t *i, size_t *run)
{
    static const uint8_t cr = '\r';
    const uint8_t *lf;
    switch (p->dstate) {
    case ST_DS_MID:
        lf = memchr(d + *i, '\n', n - *i);
        *i = lf ? (size_t)(lf - d) + 1 : n;
        p->dstate = lf ? ST_DS_LS : ST_DS_MID;
        return 0;
    case ST_DS_LS:
        if (d[*i] != '.') {
            p->dstate = ST_DS_MID;
            return 0;
        }
        st_smtp_msg_data(p, d + *run, *i - *run);
        *run = ++*i;
        p->dstate = ST_DS_DOT;
        return 0;
    case ST_DS_DOT:
        if (d[*i] == '\n') {
            st_smtp_anomaly(p, "data_end_bare_lf", NULL);
            return 1;
        }
        p->dstate = d[*i] == '\r' ? ST_DS_DOTCR : ST_DS_MID;
        if (p->dstate == ST_DS_DOTCR)
            *run = ++*i;
        return 0;
    default: /* ST_DS_DOTCR */
        if (d[*i] == '\n')
            return 1;
        st_smtp_msg_data(p, &cr, 1);
        p->dstate = ST_DS_MID;
        return 0;
    }
}

size_t st_smtp_data_feed(st_smtp *p, const uint8_t *d, size_t n)
{
    size_t i = 0, run = 0;
    while (i < n) {
        if (data_step(p, d, n, &i, &run)) {
            data_end(p);
            return i + 1;
        }
    }
    st_smtp_msg_data(p, d + run, n - run);
    return n;
}

static void chunk_done(st_smtp *p)
{
    p->cmode = ST_CM_CMD;
    st_smtp_line_reset(&p->cl);
    if (!p->bdat_last)
        return;
    p->bdat_open = 0;
    st_smtp_msg_end(p);
}

/* A valid BDAT command: the first chunk of a transaction begins the
 * message, after reporting what the client pipelined before it. */
void st_smtp_bdat_start(st_smtp *p, uint64_t size, int last, uint64_t lost)
{
    if (!p->bdat_open) {
        st_smtp_flush_ghost(p);
        st_smtp_data_begin(p, "BDAT", NULL);
        if (lost)
            st_smtp_msg_gap(p, lost); /* before the chunk: its start may be in it */
    }
    p->bdat_open = 1;
    p->bdat_left = p->bdat_size = size;
    p->bdat_last = last;
    p->cmode = ST_CM_BDAT;
    if (size == 0)
        chunk_done(p);
}

size_t st_smtp_bdat_feed(st_smtp *p, const uint8_t *d, size_t n)
{
    size_t k = n < p->bdat_left ? n : (size_t)p->bdat_left;
    st_smtp_msg_data(p, d, k);
    p->bdat_left -= k;
    if (p->bdat_left == 0)
        chunk_done(p);
    return k;
}

/* A reply to the BDAT whose octets are being read means the server had
 * them all: the count the client sent and the bytes seen disagree (a
 * size that lies, or bytes the capture lost without a trace). Follow the
 * server: the chunk ends here, the octets not seen are missing from the
 * message, and what follows is commands again. The reply to an earlier
 * chunk (pipelined) is no such proof: only the newest command is read.
 * Nor is a reply before any of the chunk's octets (a server that answers
 * the command at once, as in Zeek's bdat-gap trace): it cannot have read
 * them, and the octets that follow are still the chunk's. */
void st_smtp_bdat_check(st_smtp *p, const st_smtp_reply *r)
{
    const st_smtp_pend *e = st_smtp_cmdq_at(&p->q, 0);
    if (p->cmode != ST_CM_BDAT || p->q.n != 1 || e->kind != ST_K_BDAT || r->code < 200 ||
        p->bdat_left == p->bdat_size)
        return;
    st_smtp_anomaly(p, "bdat_size_mismatch", NULL);
    st_smtp_msg_gap(p, p->bdat_left);
    p->bdat_left = 0;
    chunk_done(p);
}

/* Lost client bytes inside content; returns those past its end. */
uint64_t st_smtp_content_gap(st_smtp *p, uint64_t n)
{
    static const uint8_t cr = '\r';
    if (p->cmode == ST_CM_DATA) {
        if (p->dstate == ST_DS_DOTCR)
            st_smtp_msg_data(p, &cr, 1);
        st_smtp_msg_gap(p, n);
        p->data_gap = 1;
        p->dstate = ST_DS_MID;
        return 0;
    }
    /* Bytes lost past the chunk were most likely more chunks of the same
     * message: count them all as missing from it (Zeek does the same). */
    uint64_t k = n < p->bdat_left ? n : p->bdat_left;
    st_smtp_msg_gap(p, n);
    p->bdat_left -= k;
    if (p->bdat_left == 0)
        chunk_done(p);
    return n - k;
}
