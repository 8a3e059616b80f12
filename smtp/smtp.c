/*
 * smtp.c - the SMTP dialogue parser: entry points and byte dispatch.
 *
 * Client bytes go to whichever reader the client side is in (command
 * lines, DATA content, BDAT octets, the STARTTLS probe); server bytes go
 * to the reply line reader. Each reader consumes what it can and may
 * switch the mode, so one segment can hold a command, its content and
 * the next command. st_smtp_new takes small buffers (NULL when it
 * cannot get them); they grow with the traffic up to caps set by the
 * limits and shrink back (buf.c). A parser that will read nothing more
 * (TLS, not SMTP, finished) gives back every buffer it will not use
 * again. A parser joining a stream mid-dialogue (st_smtp_midstream) hands
 * its bytes to join.c until it has found its footing. After st_smtp_new
 * nothing fails: see smtp.h.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp/join.h"
#include "smtp/smtp_int.h"

void st_smtp_limits_default(st_smtp_limits *lim)
{
    lim->max_line = 4096;
    lim->max_reply_lines = 64;
    lim->max_pending = 1000;
}

static size_t clamp(size_t v, size_t lo, size_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Each buffer at its small size; the caps are what the limits allow. */
static int alloc_buffers(st_smtp *p)
{
    size_t ml = p->lim.max_line, line = min_size(ST_SMTP_LINE_MIN, ml + 2);
    p->cl.max = p->sl.max = ml;
    p->ra.cap = 2 * ml;
    if (st_smtp_buf_reserve(&p->cl.buf, &p->cl.cap, line, ml + 2) != 0 ||
        st_smtp_buf_reserve(&p->sl.buf, &p->sl.cap, line, ml + 2) != 0 ||
        st_smtp_buf_reserve(&p->ra.text, &p->ra.size, min_size(ST_SMTP_REPLY_MIN, p->ra.cap + 1),
                            p->ra.cap + 1) != 0 ||
        !st_smtp_work(p, min_size(ST_SMTP_WORK_MIN, st_smtp_work_max(p))))
        return -1;
    st_smtp_reply_reset(&p->ra);
    return st_smtp_cmdq_init(&p->q, p->lim.max_pending, 16 * ml);
}

st_smtp *st_smtp_new(const st_smtp_limits *lim, st_smtp_event_fn fn, void *ctx)
{
    st_smtp *p = fn ? calloc(1, sizeof(*p)) : NULL;
    if (!p)
        return NULL;
    if (lim)
        p->lim = *lim;
    else
        st_smtp_limits_default(&p->lim);
    p->lim.max_line = clamp(p->lim.max_line, 16, 1 << 20);
    p->lim.max_reply_lines = clamp(p->lim.max_reply_lines, 1, 4096);
    p->lim.max_pending = clamp(p->lim.max_pending, 1, 1 << 20);
    p->fn = fn;
    p->ctx = ctx;
    if (alloc_buffers(p) != 0) {
        st_smtp_free(p);
        return NULL;
    }
    return p;
}

/* The buffers of the readers: nothing will be read any more. */
static void release_lines(st_smtp *p)
{
    st_smtp_buf_release(&p->cl.buf, &p->cl.cap);
    st_smtp_buf_release(&p->sl.buf, &p->sl.cap);
    st_smtp_buf_release(&p->ra.text, &p->ra.size);
}

/* And those of the emission side: nothing will be reported any more. */
static void release_all(st_smtp *p)
{
    release_lines(p);
    st_smtp_join_release(p);
    st_smtp_buf_release(&p->work, &p->work_cap);
    st_smtp_buf_release(&p->user, &p->user_cap);
    st_smtp_cmdq_free(&p->q);
}

void st_smtp_free(st_smtp *p)
{
    if (!p)
        return;
    release_all(p);
    st_smtp_join_free(p);
    free(p->tx.fail);
    free(p->ext);
    free(p);
}

size_t st_smtp_memory(const st_smtp *p)
{
    if (!p)
        return 0;
    return sizeof(*p) + p->cl.cap + p->sl.cap + p->ra.size + p->work_cap + p->user_cap +
           p->n_ext_cap * sizeof(*p->ext) + st_smtp_cmdq_memory(&p->q) + st_smtp_join_memory(p);
}

/* A 220 banner answered by EHLO/HELO is SMTP. So is a client that says
 * EHLO/HELO then MAIL while the server direction is absent altogether (a
 * one-sided capture: Zeek reports those too). A stream joined mid-way
 * has seen neither banner nor EHLO: it is SMTP once the server accepted
 * a command with a reply that fits it (join.c). */
void st_smtp_update_detect(st_smtp *p)
{
    if (p->banner_220 && p->helo_cmd)
        p->detected = 1;
    if (p->mail_after_helo && p->bytes[ST_DIR_SERVER] == 0)
        p->detected = 1;
    if (st_smtp_join_fit(p))
        p->detected = 1;
}

static size_t cmd_feed(st_smtp *p, const uint8_t *d, size_t n)
{
    int done;
    size_t k = st_smtp_line_feed(&p->cl, d, n, &done);
    if (done) {
        st_smtp_client_line(p);
        st_smtp_line_shrink(&p->cl);
    }
    return k;
}

void st_smtp_client_bytes(st_smtp *p, const uint8_t *d, size_t n)
{
    while (n > 0 && !p->stopped) {
        size_t k;
        switch (p->cmode) {
        case ST_CM_CMD:
            k = cmd_feed(p, d, n);
            break;
        case ST_CM_DATA:
            k = st_smtp_data_feed(p, d, n);
            break;
        case ST_CM_BDAT:
            k = st_smtp_bdat_feed(p, d, n);
            break;
        case ST_CM_PROBE:
            k = st_smtp_probe_feed(p, d, n);
            break;
        default:
            k = n;
        }
        d += k;
        n -= k;
    }
}

static void server_bytes(st_smtp *p, const uint8_t *d, size_t n)
{
    while (n > 0 && !p->stopped) {
        int done;
        size_t k = st_smtp_line_feed(&p->sl, d, n, &done);
        if (done) {
            st_smtp_line_checks(p, &p->sl, ST_DIR_SERVER);
            if (st_smtp_join_seeking(p))
                st_smtp_join_server_line(p, p->sl.buf, p->sl.len);
            else
                st_smtp_reply_line(p, p->sl.buf, p->sl.len, p->sl.after_gap);
            st_smtp_line_shrink(&p->sl);
        }
        d += k;
        n -= k;
    }
}

static int idle(const st_smtp *p)
{
    return p->stopped || p->gave_up || p->finished;
}

/* While undetected, stop exactly at the byte where both directions reach
 * the detection window, so that giving up does not depend on segmentation. */
static size_t feed_room(const st_smtp *p, st_dir dir, size_t len)
{
    uint64_t lim = ST_SMTP_DETECT_BYTES, mine = p->bytes[dir];
    if (p->detected || p->bytes[!dir] < lim || mine >= lim)
        return len;
    return lim - mine < len ? (size_t)(lim - mine) : len;
}

void st_smtp_feed(st_smtp *p, st_dir dir, const uint8_t *data, size_t len)
{
    if (!p || !data || (dir != ST_DIR_CLIENT && dir != ST_DIR_SERVER))
        return;
    while (len > 0 && !idle(p)) {
        size_t k = feed_room(p, dir, len);
        p->bytes[dir] += k;
        if (dir == ST_DIR_CLIENT && st_smtp_join_seeking(p))
            st_smtp_join_client(p, data, k);
        else if (dir == ST_DIR_CLIENT)
            st_smtp_client_bytes(p, data, k);
        else
            server_bytes(p, data, k);
        data += k;
        len -= k;
        if (!p->detected && p->bytes[0] >= ST_SMTP_DETECT_BYTES &&
            p->bytes[1] >= ST_SMTP_DETECT_BYTES)
            p->gave_up = 1;
    }
    if (p->gave_up) /* st_smtp_finish will report nothing either */
        release_all(p);
    else if (p->stopped)
        release_lines(p); /* the queue stays for st_smtp_finish */
}

static void client_gap(st_smtp *p, uint64_t len)
{
    switch (p->cmode) {
    case ST_CM_DATA:
    case ST_CM_BDAT:
        if (st_smtp_content_gap(p, len) > 0 && p->cmode == ST_CM_CMD)
            st_smtp_line_gap(&p->cl);
        break;
    case ST_CM_PROBE:
        p->tls.nheld = 0;
        break;
    case ST_CM_CMD:
        st_smtp_line_gap(&p->cl);
        p->cmd_gap += len;
        /* between the chunks of a BDAT message the bytes lost most likely
         * held chunks of it (a command is a few bytes, a chunk many): the
         * message counts them missing rather than look whole */
        if (p->bdat_open)
            st_smtp_msg_gap(p, len);
        break;
    default:
        break;
    }
}

void st_smtp_gap(st_smtp *p, st_dir dir, uint64_t len)
{
    if (!p || idle(p) || len == 0 || (dir != ST_DIR_CLIENT && dir != ST_DIR_SERVER))
        return;
    p->resync = 1;
    if (dir == ST_DIR_CLIENT && st_smtp_join_seeking(p)) {
        st_smtp_join_gap(p, len);
        return;
    }
    if (dir == ST_DIR_CLIENT) {
        client_gap(p, len);
        st_smtp_line_shrink(&p->cl);
        return;
    }
    p->srv_lost = 1;
    st_smtp_line_gap(&p->sl);
    st_smtp_line_shrink(&p->sl);
    st_smtp_reply_reset(&p->ra);
}

void st_smtp_finish(st_smtp *p)
{
    if (!p || p->finished)
        return;
    p->finished = 1;
    if (!p->gave_up) {
        st_smtp_flush_all(p);
        st_smtp_tx_close(p, st_smtp_tx_abandon(p, ST_TX_INCOMPLETE), NULL);
    }
    release_all(p);
}

int st_smtp_detected(const st_smtp *p)
{
    return p && p->detected;
}

int st_smtp_wants_data(const st_smtp *p)
{
    return p && !idle(p);
}
