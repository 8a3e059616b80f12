/*
 * community_id.c - Community ID v1 of a TCP flow (see community_id.h).
 *
 * sha1 over: the seed (0, two bytes, big endian), the lower endpoint's
 * address, the higher one's, the protocol (6) and a zero pad byte, then
 * the lower endpoint's port and the higher one's, both big endian. Lower
 * is by address, then by port, so both directions give the same ID. The
 * digest is base64-encoded with padding and prefixed with "1:".
 */
#include "output/community_id.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int endpoint_cmp(const st_endpoint *a, const st_endpoint *b, size_t alen)
{
    int c = memcmp(a->addr, b->addr, alen);
    if (c != 0)
        return c;
    return a->port < b->port ? -1 : a->port > b->port;
}

void st_community_id(const st_endpoint *a, const st_endpoint *b, char *out, size_t outlen)
{
    size_t alen = a->family == AF_INET6 ? 16 : 4;
    if (endpoint_cmp(a, b, alen) > 0) {
        const st_endpoint *t = a;
        a = b;
        b = t;
    }
    unsigned char buf[2 + 16 + 16 + 2 + 4], *p = buf, digest[SHA_DIGEST_LENGTH];
    *p++ = 0; /* seed, big endian */
    *p++ = 0;
    memcpy(p, a->addr, alen);
    p += alen;
    memcpy(p, b->addr, alen);
    p += alen;
    *p++ = 6; /* TCP */
    *p++ = 0;
    *p++ = (unsigned char)(a->port >> 8);
    *p++ = (unsigned char)a->port;
    *p++ = (unsigned char)(b->port >> 8);
    *p++ = (unsigned char)b->port;
    SHA1(buf, (size_t)(p - buf), digest);
    unsigned char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    snprintf(out, outlen, "1:%s", (const char *)b64);
}
