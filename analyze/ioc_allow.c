/*
 * ioc_allow.c - the allow-list: known-good values the IOC engine leaves
 * out (ioc_allowlist), read once when the engine is made.
 *
 * One entry a line; blank lines and lines starting with '#' are skipped,
 * blanks around an entry ignored. stoQ's "type:pattern" lines:
 *   ipv4:10.0.0.0/8  ipv6:2001:db8::/32  (an address alone: itself)
 *                    the addresses of that type
 *   domain:.example.com   example.com and every name under it (stoQ)
 *   domain:example.com    that name only
 *                    domains, and the hosts of URLs (as stoQ)
 *   url:.example.com  url:example.com  url:192.0.2.0/24
 *                    the hosts of URLs only
 *   email:a@example.com   that address (case-blind)
 *   md5: sha1: sha256: sha512: mac_address:   that value (case-blind)
 * and bare lines:
 *   10.0.0.0/8, 2001:db8::/32, 192.0.2.1    the addresses, and the hosts
 *                    of URLs that are addresses
 *   .example.com, example.com   as domain: above, and also the domains
 *                    of e-mail addresses and the hosts of URLs
 *   a@example.com, a digest, a MAC address   that value
 * Domains compare lower-cased, dots plain; one label alone (".gov") is a
 * suffix as any other.
 *
 * Entry points: st_ioc_allow_load, st_ioc_allowed, st_ioc_allow_free.
 *
 * Limits: names and exact values in a hash table (any number); CIDRs are
 * compared one by one (fine for the hundreds a list holds). How it
 * fails: a file that cannot be read, or a line that is none of the
 * above, gives NULL and err naming "file:line" and what is wrong.
 *
 * Not handled: wildcards other than the leading dot, comments after an
 * entry on its line, URL paths (a url: entry names a host).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/ioc_int.h"

#define KEY_MAX 300

/* Scopes of an entry: which values it is compared with. */
enum { SC_BARE = 'A', SC_DOMAIN = 'D', SC_URL = 'U', SC_V4 = '4', SC_V6 = '6' };
/* Kinds of a name entry. */
enum { K_EXACT = 'E', K_TREE = 'T' };

typedef struct {
    char scope;
    int family;
    int bits;
    uint8_t addr[16];
} cidr;

struct st_ioc_allow {
    uint64_t seed;
    char **key; /* scope, kind (or '=' and a type letter), text */
    size_t nkey, capkey;
    st_ioc_table idx;
    cidr *net;
    size_t nnet, capnet;
};

typedef struct {
    const st_ioc_allow *a;
    const char *k;
    size_t n;
} probe;

static int key_eq(void *ctx, uint32_t i)
{
    probe *p = ctx;
    return strlen(p->a->key[i]) == p->n && memcmp(p->a->key[i], p->k, p->n) == 0;
}

static int has_key(const st_ioc_allow *a, const char *k, size_t n)
{
    probe p = {a, k, n};
    return st_ioc_table_find(&a->idx, st_ioc_hash(a->seed, k, n), key_eq, &p) >= 0;
}

static int add_key(st_ioc_allow *a, char c0, char c1, const char *text, size_t n)
{
    char k[KEY_MAX];
    if (n + 3 > sizeof k)
        return -1;
    k[0] = c0;
    k[1] = c1;
    for (size_t i = 0; i < n; i++)
        k[2 + i] = (char)tolower((unsigned char)text[i]);
    k[2 + n] = 0;
    if (has_key(a, k, n + 2))
        return 0;
    if (a->nkey == a->capkey) {
        size_t cap = a->capkey ? a->capkey * 2 : 64;
        char **nk = realloc(a->key, cap * sizeof *nk);
        if (!nk)
            return -1;
        a->key = nk;
        a->capkey = cap;
    }
    if (!(a->key[a->nkey] = strdup(k)))
        return -1;
    if (st_ioc_table_add(&a->idx, st_ioc_hash(a->seed, k, n + 2), (uint32_t)a->nkey) != 0) {
        free(a->key[a->nkey]);
        return -1;
    }
    a->nkey++;
    return 0;
}

/* ---------------------------------------------------------- addresses */

static int parse_ip(const char *s, size_t n, int *family, uint8_t addr[16])
{
    char buf[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    memset(addr, 0, 16);
    if (st_ioc_ipv4_parse(buf, n, addr)) {
        *family = 4;
        return 1;
    }
    if (inet_pton(AF_INET6, buf, addr) == 1) {
        *family = 6;
        return 1;
    }
    return 0;
}

/* "addr" or "addr/bits", the host bits cleared. */
static int parse_cidr(const char *s, size_t n, cidr *c)
{
    const char *slash = memchr(s, '/', n);
    size_t an = slash ? (size_t)(slash - s) : n;
    if (!parse_ip(s, an, &c->family, c->addr))
        return 0;
    int max = c->family == 4 ? 32 : 128;
    c->bits = max;
    if (slash) {
        const char *d = slash + 1, *end = s + n;
        if (d == end || end - d > 3)
            return 0;
        int b = 0;
        for (; d < end; d++) {
            if (!isdigit((unsigned char)*d))
                return 0;
            b = b * 10 + (*d - '0');
        }
        if (b > max)
            return 0;
        c->bits = b;
    }
    for (int i = c->bits; i < max; i++)
        c->addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
    return 1;
}

static int in_cidr(const cidr *c, int family, const uint8_t addr[16])
{
    if (c->family != family)
        return 0;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, (size_t)full) != 0)
        return 0;
    return rest == 0 || ((c->addr[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

static int add_net(st_ioc_allow *a, char scope, const cidr *c)
{
    if (a->nnet == a->capnet) {
        size_t cap = a->capnet ? a->capnet * 2 : 16;
        cidr *nn = realloc(a->net, cap * sizeof *nn);
        if (!nn)
            return -1;
        a->net = nn;
        a->capnet = cap;
    }
    a->net[a->nnet] = *c;
    a->net[a->nnet++].scope = scope;
    return 0;
}

static int net_allowed(const st_ioc_allow *a, const char *scopes, const char *v, size_t n)
{
    int family;
    uint8_t addr[16];
    if (!parse_ip(v, n, &family, addr))
        return 0;
    for (size_t i = 0; i < a->nnet; i++)
        if (strchr(scopes, a->net[i].scope) && in_cidr(&a->net[i], family, addr))
            return 1;
    return 0;
}

/* ------------------------------------------------------------- names */

static int name_ok(const char *s, size_t n)
{
    char low[256];
    size_t digits = 0;
    if (n == 0 || n > 253 || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    for (size_t i = 0; i < n;) {
        const char *dot = memchr(low + i, '.', n - i);
        size_t len = dot ? (size_t)(dot - (low + i)) : n - i;
        if (!st_ioc_label_ok(low + i, len))
            return 0;
        for (digits = 0; digits < len && isdigit((unsigned char)low[i + digits]);)
            digits++;
        if (!dot)
            return digits < len; /* no TLD is a number: 1.2.3.4.5 is not a name */
        i += len + 1;
    }
    return 1;
}

/* ".example.com" (the name and below) or "example.com" (the name). */
static int add_name(st_ioc_allow *a, char scope, const char *s, size_t n)
{
    int tree = n > 0 && s[0] == '.';
    if (!name_ok(s + tree, n - (size_t)tree))
        return 0;
    return add_key(a, scope, tree ? K_TREE : K_EXACT, s + tree, n - (size_t)tree) == 0 ? 1 : -1;
}

static int name_allowed(const st_ioc_allow *a, const char *scopes, const char *v, size_t n)
{
    char k[KEY_MAX];
    if (n + 3 > sizeof k)
        return 0;
    for (const char *sc = scopes; *sc; sc++) {
        k[0] = *sc;
        for (size_t at = 0; at < n;) {
            memcpy(k + 2, v + at, n - at);
            k[1] = K_TREE;
            if (has_key(a, k, n - at + 2))
                return 1;
            k[1] = K_EXACT;
            if (at == 0 && has_key(a, k, n + 2))
                return 1;
            const char *dot = memchr(v + at, '.', n - at);
            if (!dot)
                break;
            at = (size_t)(dot - v) + 1;
        }
    }
    return 0;
}

/* -------------------------------------------------------- exact values */

static int hex_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int digest_type(const char *s, size_t n)
{
    if (!hex_only(s, n))
        return -1;
    return n == 32    ? ST_IOC_MD5
           : n == 40  ? ST_IOC_SHA1
           : n == 64  ? ST_IOC_SHA256
           : n == 128 ? ST_IOC_SHA512
                      : -1;
}

/* "00:11:22:33:44:55" or with '-', as the engine writes it. */
static int mac_norm(const char *s, size_t n, char out[18])
{
    if (n != 17 || (s[2] != ':' && s[2] != '-'))
        return 0;
    for (size_t i = 0; i < 17; i++) {
        if (i % 3 == 2 ? s[i] != s[2] : !isxdigit((unsigned char)s[i]))
            return 0;
        out[i] = i % 3 == 2 ? ':' : (char)tolower((unsigned char)s[i]);
    }
    out[17] = 0;
    return 1;
}

static int email_ok(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    if (!at || at == s || at - s > 64 || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return 0;
    for (const char *p = s; p < at; p++)
        if (isspace((unsigned char)*p) || !isprint((unsigned char)*p))
            return 0;
    return name_ok(at + 1, n - (size_t)(at - s) - 1);
}

static int add_exact(st_ioc_allow *a, int type, const char *s, size_t n)
{
    return add_key(a, '=', (char)('a' + type), s, n) == 0 ? 1 : -1;
}

static int exact_allowed(const st_ioc_allow *a, int type, const char *v, size_t n)
{
    char k[KEY_MAX];
    if (n + 3 > sizeof k)
        return 0;
    k[0] = '=';
    k[1] = (char)('a' + type);
    for (size_t i = 0; i < n; i++)
        k[2 + i] = (char)tolower((unsigned char)v[i]);
    return has_key(a, k, n + 2);
}

/* --------------------------------------------------------------- lines */

static int type_of(const char *s, size_t n)
{
    for (int t = 0; t < ST_IOC_NTYPES; t++)
        if (strlen(st_ioc_type_name[t]) == n && strncasecmp(st_ioc_type_name[t], s, n) == 0)
            return t;
    return -1;
}

/* 1 when taken, 0 when it does not parse, -1 when out of memory. */
static int typed(st_ioc_allow *a, int type, const char *v, size_t n)
{
    cidr c;
    char mac[18];
    switch (type) {
    case ST_IOC_IPV4:
    case ST_IOC_IPV6:
        if (!parse_cidr(v, n, &c) || c.family != (type == ST_IOC_IPV4 ? 4 : 6))
            return 0;
        return add_net(a, type == ST_IOC_IPV4 ? SC_V4 : SC_V6, &c) == 0 ? 1 : -1;
    case ST_IOC_DOMAIN:
        return add_name(a, SC_DOMAIN, v, n);
    case ST_IOC_URL:
        if (parse_cidr(v, n, &c))
            return add_net(a, SC_URL, &c) == 0 ? 1 : -1;
        return add_name(a, SC_URL, v, n);
    case ST_IOC_EMAIL:
        return email_ok(v, n) ? add_exact(a, type, v, n) : 0;
    case ST_IOC_MAC:
        return mac_norm(v, n, mac) ? add_exact(a, type, mac, 17) : 0;
    default:
        return digest_type(v, n) == type ? add_exact(a, type, v, n) : 0;
    }
}

static int bare(st_ioc_allow *a, const char *v, size_t n)
{
    cidr c;
    char mac[18];
    int t;
    if (parse_cidr(v, n, &c))
        return add_net(a, SC_BARE, &c) == 0 ? 1 : -1;
    if (memchr(v, '@', n))
        return email_ok(v, n) ? add_exact(a, ST_IOC_EMAIL, v, n) : 0;
    if ((t = digest_type(v, n)) >= 0)
        return add_exact(a, t, v, n);
    if (mac_norm(v, n, mac))
        return add_exact(a, ST_IOC_MAC, mac, 17);
    return add_name(a, SC_BARE, v, n);
}

static int line(st_ioc_allow *a, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    int type = colon ? type_of(s, (size_t)(colon - s)) : -1;
    if (type < 0)
        return bare(a, s, n);
    const char *v = colon + 1;
    size_t vn = n - (size_t)(v - s);
    while (vn > 0 && isblank((unsigned char)*v))
        v++, vn--;
    return typed(a, type, v, vn);
}

static int load(st_ioc_allow *a, FILE *f, const char *path, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t got;
    unsigned long no = 0;
    int rc = 0;
    while (rc == 0 && (got = getline(&buf, &cap, f)) >= 0) {
        no++;
        const char *s = buf;
        size_t n = (size_t)got;
        while (n > 0 && isspace((unsigned char)s[n - 1]))
            n--;
        while (n > 0 && isspace((unsigned char)*s))
            s++, n--;
        if (n == 0 || s[0] == '#')
            continue;
        int r = memchr(s, 0, n) ? 0 : line(a, s, n);
        if (r == 0)
            snprintf(err, errlen,
                     "ioc_allowlist %s:%lu: not a CIDR, a domain, a .suffix, an address, "
                     "a digest or type:pattern: '%.*s'",
                     path, no, (int)(n > 80 ? 80 : n), s);
        else if (r < 0)
            snprintf(err, errlen, "ioc_allowlist %s:%lu: out of memory", path, no);
        rc = r > 0 ? 0 : -1;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "ioc_allowlist %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(buf);
    return rc;
}

st_ioc_allow *st_ioc_allow_load(const char *path, uint64_t seed, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "ioc_allowlist %s: %s", path, strerror(errno));
        return NULL;
    }
    st_ioc_allow *a = calloc(1, sizeof *a);
    if (!a)
        snprintf(err, errlen, "ioc_allowlist %s: out of memory", path);
    else
        a->seed = seed;
    if (a && load(a, f, path, err, errlen) != 0) {
        st_ioc_allow_free(a);
        a = NULL;
    }
    fclose(f);
    return a;
}

void st_ioc_allow_free(st_ioc_allow *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nkey; i++)
        free(a->key[i]);
    free(a->key);
    free(a->net);
    st_ioc_table_free(&a->idx);
    free(a);
}

/* The host of a URL as the engine writes it: scheme://[user@]host[:port]... */
static int url_host(const char *v, size_t n, const char **h, size_t *hn)
{
    const char *s = memchr(v, ':', n), *end = v + n;
    if (!s || end - s < 3)
        return 0;
    s += 3;
    const char *auth_end = s;
    while (auth_end < end && !strchr("/?#", *auth_end))
        auth_end++;
    for (const char *p = s; p < auth_end; p++)
        if (*p == '@')
            s = p + 1;
    const char *e = s;
    if (e < auth_end && *e == '[') {
        s++;
        while (e < auth_end && *e != ']')
            e++;
    } else {
        while (e < auth_end && *e != ':')
            e++;
    }
    *h = s;
    *hn = (size_t)(e - s);
    return e > s;
}

int st_ioc_allowed(const st_ioc_allow *a, int type, const char *v, size_t n)
{
    const char *h;
    size_t hn;
    if (!a)
        return 0;
    switch (type) {
    case ST_IOC_IPV4:
        return net_allowed(a, "A4", v, n);
    case ST_IOC_IPV6:
        return net_allowed(a, "A6", v, n);
    case ST_IOC_DOMAIN:
        return name_allowed(a, "AD", v, n);
    case ST_IOC_EMAIL: {
        const char *at = memchr(v, '@', n);
        return exact_allowed(a, type, v, n) ||
               (at && name_allowed(a, "A", at + 1, n - (size_t)(at + 1 - v)));
    }
    case ST_IOC_URL:
        if (!url_host(v, n, &h, &hn))
            return 0;
        return net_allowed(a, "AU", h, hn) || name_allowed(a, "ADU", h, hn);
    default:
        return exact_allowed(a, type, v, n);
    }
}
