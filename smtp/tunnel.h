/*
 * tunnel.h - SMTP spoken through a proxy: HTTP CONNECT, SOCKS4(a), SOCKS5.
 *
 * Spam and malware often reach mail servers through open proxies; the TCP
 * stream then opens with a proxy handshake and only then carries SMTP.
 * This strips that preamble from both directions and passes everything
 * after it on, so the SMTP parser sees a plain dialogue. A stream whose
 * client does not open with a proxy request (or whose server speaks
 * first, as SMTP servers do) is passed on untouched from its first byte.
 *
 * Bounded: at most ST_TUNNEL_HOLD bytes per direction are held while the
 * preamble is read; a preamble that does not parse within them is treated
 * as no preamble (the bytes are passed on, nothing is lost).
 */
#ifndef ST_SMTP_TUNNEL_H
#define ST_SMTP_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#define ST_TUNNEL_HOLD 1024

typedef enum {
    ST_TUNNEL_PROBE = 0, /* nothing decided yet */
    ST_TUNNEL_NONE,
    ST_TUNNEL_HTTP_CONNECT,
    ST_TUNNEL_SOCKS4,
    ST_TUNNEL_SOCKS5,
} st_tunnel_kind;

typedef void (*st_tunnel_out)(void *ctx, int dir, const uint8_t *data, size_t len);

typedef struct st_tunnel {
    st_tunnel_kind kind;
    int done[2]; /* the preamble of this direction is behind us */
    size_t held[2];
    uint8_t *buf[2]; /* allocated only while a preamble is being read */
} st_tunnel;

/* dir: 0 client, 1 server. Calls out() with the bytes past the preamble. */
void st_tunnel_feed(st_tunnel *t, int dir, const uint8_t *data, size_t len, st_tunnel_out out,
                    void *ctx);
/* Name for the record ("http_connect", "socks4", "socks5"), NULL if none. */
const char *st_tunnel_name(const st_tunnel *t);
void st_tunnel_free(st_tunnel *t);

#endif
