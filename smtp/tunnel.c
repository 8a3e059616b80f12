/*
 * tunnel.c - proxy preambles: recognise, measure, skip.
 *
 * The first client bytes pick the protocol (05: SOCKS5, 04: SOCKS4,
 * "CONNECT ": HTTP); anything else, or a server that speaks first, is no
 * tunnel and every byte is passed on at once. Otherwise each direction's
 * preamble is measured on the bytes held so far by a small pure function:
 * >0 its length, 0 more bytes needed, -1 not this protocol. Held buffers
 * are at most ST_TUNNEL_HOLD bytes, so measuring again on every segment
 * costs little. The bytes after a preamble go out in the same call.
 *
 * How it fails: it does not. A preamble that does not measure within
 * ST_TUNNEL_HOLD bytes, or with no memory to hold it, is passed on as it
 * is; a client one that fails makes the stream no tunnel at all, and the
 * server bytes held so far are passed on too.
 *
 * Not handled: the proxy's answer is not read for success: after a
 * refusal (HTTP 407, a SOCKS error) whatever the client sends next goes
 * to the SMTP parser. One preamble per direction: a proxy chained behind
 * another is not stripped. SOCKS5 GSSAPI and other methods with their own
 * exchange are not measured.
 */
#include "smtp/tunnel.h"

#include <stdlib.h>
#include <string.h>

/* Up to and including the blank line ending an HTTP head. */
static long http_head(const uint8_t *b, size_t n, const char *start)
{
    size_t sl = strlen(start);
    if (memcmp(b, start, n < sl ? n : sl) != 0)
        return -1;
    for (size_t i = 3; i < n; i++)
        if (b[i - 3] == '\r' && b[i - 2] == '\n' && b[i - 1] == '\r' && b[i] == '\n')
            return (long)i + 1;
    return 0;
}

/* SOCKS4 request: 04 cmd port(2) ip(4) user\0 [host\0 when ip is 0.0.0.x]. */
static long socks4_request(const uint8_t *b, size_t n)
{
    if (n < 9)
        return b[0] == 4 ? 0 : -1;
    if (b[0] != 4 || (b[1] != 1 && b[1] != 2))
        return -1;
    const uint8_t *z = memchr(b + 8, 0, n - 8);
    if (!z)
        return 0;
    size_t end = (size_t)(z - b) + 1;
    if (b[4] || b[5] || b[6] || !b[7]) /* SOCKS4a: a host name follows */
        return (long)end;
    z = memchr(b + end, 0, n - end);
    return z ? (long)(z - b) + 1 : 0;
}

/* SOCKS5 address block at b: atyp addr port; its length, 0 short, -1 bad. */
static long socks5_addr(const uint8_t *b, size_t n)
{
    if (n < 2)
        return 0;
    size_t len = b[0] == 1 ? 4 : b[0] == 4 ? 16 : b[0] == 3 ? 1u + b[1] : 0;
    if (!len)
        return -1;
    return n < 1 + len + 2 ? 0 : (long)(1 + len + 2);
}

/* SOCKS5 client: greeting, optional user/password, request. */
static long socks5_client(const uint8_t *b, size_t n)
{
    if (n < 2 || b[0] != 5)
        return n < 2 && (n == 0 || b[0] == 5) ? 0 : -1;
    size_t i = 2 + (size_t)b[1];
    if (n < i + 1)
        return 0;
    if (b[i] == 1) { /* RFC 1929 user/password */
        if (n < i + 2 || n < i + 2 + b[i + 1] + 1)
            return 0;
        i += 2 + b[i + 1];
        i += 1 + (size_t)b[i];
    }
    if (n < i + 4)
        return 0;
    if (b[i] != 5 || b[i + 2] != 0)
        return -1;
    long a = socks5_addr(b + i + 3, n - i - 3);
    return a <= 0 ? a : (long)(i + 3) + a;
}

/* SOCKS5 server: method choice, optional auth status, reply. */
static long socks5_server(const uint8_t *b, size_t n)
{
    if (n < 2)
        return 0;
    if (b[0] != 5)
        return -1;
    size_t i = 2;
    if (n > i && b[i] == 1) /* auth status 01 xx */
        i += 2;
    if (n < i + 4)
        return 0;
    if (b[i] != 5)
        return -1;
    long a = socks5_addr(b + i + 3, n - i - 3);
    return a <= 0 ? a : (long)(i + 3) + a;
}

static long preamble(st_tunnel_kind k, int dir, const uint8_t *b, size_t n)
{
    switch (k) {
    case ST_TUNNEL_HTTP_CONNECT:
        return http_head(b, n, dir == 0 ? "CONNECT " : "HTTP/1.");
    case ST_TUNNEL_SOCKS4:
        return dir == 0 ? socks4_request(b, n) : n >= 8 ? (b[0] == 0 ? 8 : -1) : 0;
    case ST_TUNNEL_SOCKS5:
        return dir == 0 ? socks5_client(b, n) : socks5_server(b, n);
    default:
        return -1;
    }
}

static st_tunnel_kind guess(const uint8_t *b, size_t n)
{
    if (b[0] == 5)
        return ST_TUNNEL_SOCKS5;
    if (b[0] == 4)
        return ST_TUNNEL_SOCKS4;
    if (memcmp(b, "CONNECT ", n < 8 ? n : 8) == 0)
        return ST_TUNNEL_HTTP_CONNECT;
    return ST_TUNNEL_NONE;
}

static void release(st_tunnel *t, int dir)
{
    free(t->buf[dir]);
    t->buf[dir] = NULL;
    t->held[dir] = 0;
    t->done[dir] = 1;
}

/* Pass on what a direction holds, past its first skip bytes. */
static void flush(st_tunnel *t, int dir, size_t skip, st_tunnel_out out, void *ctx)
{
    uint8_t *b = t->buf[dir];
    size_t h = t->held[dir];
    t->buf[dir] = NULL;
    release(t, dir);
    if (b && h > skip)
        out(ctx, dir, b + skip, h - skip);
    free(b);
}

/* Hold bytes of one direction until its preamble is measured. */
static void hold(st_tunnel *t, int dir, const uint8_t *d, size_t n, st_tunnel_out out, void *ctx)
{
    if (!t->buf[dir] && !(t->buf[dir] = malloc(ST_TUNNEL_HOLD))) {
        release(t, dir);
        out(ctx, dir, d, n);
        return;
    }
    size_t take = ST_TUNNEL_HOLD - t->held[dir] < n ? ST_TUNNEL_HOLD - t->held[dir] : n;
    memcpy(t->buf[dir] + t->held[dir], d, take);
    t->held[dir] += take;
    long len = preamble(t->kind, dir, t->buf[dir], t->held[dir]);
    if (len == 0 && take == n)
        return; /* wait for more */
    size_t skip = len > 0 ? (size_t)len : 0;
    flush(t, dir, skip, out, ctx);
    if (take < n)
        out(ctx, dir, d + take, n - take);
    if (len <= 0 && dir == 0) { /* not a proxy after all: nothing is lost */
        t->kind = ST_TUNNEL_NONE;
        if (!t->done[1])
            flush(t, 1, 0, out, ctx);
    }
}

void st_tunnel_feed(st_tunnel *t, int dir, const uint8_t *d, size_t n, st_tunnel_out out, void *ctx)
{
    if (n == 0)
        return;
    if (t->kind == ST_TUNNEL_PROBE) {
        t->kind = dir == 0 ? guess(d, n) : ST_TUNNEL_NONE; /* a server speaking first: SMTP */
        if (t->kind == ST_TUNNEL_NONE)
            t->done[0] = t->done[1] = 1;
    }
    if (t->done[dir] || t->kind == ST_TUNNEL_NONE) {
        out(ctx, dir, d, n);
        return;
    }
    hold(t, dir, d, n, out, ctx);
}

const char *st_tunnel_name(const st_tunnel *t)
{
    static const char *names[] = {NULL, NULL, "http_connect", "socks4", "socks5"};
    return names[t->kind];
}

void st_tunnel_free(st_tunnel *t)
{
    free(t->buf[0]);
    free(t->buf[1]);
    t->buf[0] = t->buf[1] = NULL;
}
