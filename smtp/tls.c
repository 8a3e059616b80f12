/*
 * tls.c - STARTTLS: do the client bytes after it look like TLS?
 *
 * After STARTTLS the first client bytes are held (at most three) until
 * they either form a TLS record header (0x16 0x03 0x00..0x04) or cannot.
 * TLS: the client side stops and, once the STARTTLS reply is known, a TLS
 * event (flag 1) stops the whole parser. Plaintext (a capture decrypted
 * by a proxy, or a client going on after a refusal): the held bytes are
 * read again as commands, with a TLS event (flag 0) once the STARTTLS
 * reply is known, whatever it was: the session went on in plaintext
 * (refused, or decrypted after a 220). Never fails; a session that ends
 * mid-probe emits no TLS.
 */
#include <string.h>

#include "smtp/smtp_int.h"

void st_smtp_tls_start(st_smtp *p)
{
    memset(&p->tls, 0, sizeof(p->tls));
    p->tls.probe = ST_TLS_PROBING;
    p->cmode = ST_CM_PROBE;
}

/* -1: not yet known, 1: a TLS record header, 0: not one. */
static int decide(const uint8_t *h, size_t n)
{
    if (h[0] != 0x16 || (n > 1 && h[1] != 0x03) || (n > 2 && h[2] > 0x04))
        return 0;
    return n == 3 ? 1 : -1;
}

static void try_emit(st_smtp *p)
{
    st_smtp_event ev;
    st_smtp_tls *t = &p->tls;
    if (!t->done || t->emitted)
        return;
    if (t->probe != ST_TLS_YES && t->probe != ST_TLS_PLAIN)
        return;
    t->emitted = 1;
    memset(&ev, 0, sizeof(ev));
    ev.type = ST_SMTP_EV_TLS;
    ev.flag = t->probe == ST_TLS_YES;
    st_smtp_emit(p, &ev);
    if (ev.flag)
        p->stopped = 1;
}

void st_smtp_tls_reply(st_smtp *p, int code)
{
    (void)code;
    p->tls.done = 1;
    try_emit(p);
}

size_t st_smtp_probe_feed(st_smtp *p, const uint8_t *d, size_t n)
{
    st_smtp_tls *t = &p->tls;
    uint8_t prior[3];
    size_t nprior = t->nheld, i = 0;
    int r = -1;
    memcpy(prior, t->held, nprior);
    while (i < n && r < 0) {
        t->held[t->nheld++] = d[i++];
        r = decide(t->held, t->nheld);
    }
    if (r < 0)
        return n;
    t->nheld = 0;
    if (r == 1) {
        t->probe = ST_TLS_YES;
        p->cmode = ST_CM_STOP;
        try_emit(p);
        return n;
    }
    t->probe = ST_TLS_PLAIN;
    p->cmode = ST_CM_CMD;
    try_emit(p);
    st_smtp_client_bytes(p, prior, nprior);
    return 0; /* the bytes of d are read again, as commands */
}
