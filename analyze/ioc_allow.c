/*
 * ioc_allow.c - the allow-list (ioc_allowlist): known-good values that the
 * IOC search leaves out, as stoQ's iocextract whitelist does.
 *
 * One entry a line; '#' starts a comment line, blank lines are skipped.
 *   10.0.0.0/8, 2001:db8::/32, 192.0.2.7   an address or a CIDR: IPv4 and
 *                                          IPv6 values, and URLs whose
 *                                          host it holds
 *   example.com                            that domain and its subdomains
 *   .example.com                           its subdomains only
 *   (both for domains, e-mail domains and URL hosts)
 *   type:pattern                           stoQ's form, for that type only:
 *                                          ipv4/ipv6 take an address or a
 *                                          CIDR, domain/url/email a domain
 *                                          as above (email: or an address),
 *                                          the others an exact value
 *
 * How it fails: a line that parses as none of these names the file and
 * line, and the start fails. Limits: ST_IOC_ALLOW_MAX entries.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyze/ioc_int.h"

#define ST_IOC_ALLOW_MAX 100000

typedef struct {
    int type;   /* ST_IOC_*, or -1: every type it can apply to */
    int family; /* AF_INET, AF_INET6 for an address rule; 0 for a name */
    uint8_t addr[16];
    int bits;
    char *name; /* a domain (lower-case; leading '.': subdomains only) or an exact value */
} rule;

struct st_ioc_allow {
    rule *r;
    size_t n;
};

static int parse_cidr(const char *s, rule *r)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n >= sizeof ip)
        return -1;
    memcpy(ip, s, n);
    ip[n] = 0;
    int fam = strchr(ip, ':') ? AF_INET6 : AF_INET, max = fam == AF_INET ? 32 : 128;
    long bits = max;
    if (inet_pton(fam, ip, r->addr) != 1)
        return -1;
    if (slash) {
        char *end;
        bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || bits < 0 || bits > max)
            return -1;
    }
    r->family = fam; /* only now: a name must not pass for an address */
    r->bits = (int)bits;
    return 0;
}

static int is_name(const char *s)
{
    if (*s == '.')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
            return 0;
    return 1;
}

static int type_of(const char *s, size_t n)
{
    for (int t = 0; t < ST_IOC_TYPES; t++)
        if (strlen(st_ioc_type_name(t)) == n && strncasecmp(st_ioc_type_name(t), s, n) == 0)
            return t;
    return -2;
}

/* One line into r; -1 when it is none of the forms. */
static int parse_rule(char *s, rule *r)
{
    memset(r, 0, sizeof *r);
    r->type = -1;
    char *colon = strchr(s, ':');
    if (colon && type_of(s, (size_t)(colon - s)) >= 0) {
        r->type = type_of(s, (size_t)(colon - s));
        s = colon + 1;
    }
    if (r->type == ST_IOC_IPV4 || r->type == ST_IOC_IPV6 ||
        (r->type == -1 && parse_cidr(s, r) == 0))
        return parse_cidr(s, r);
    int named = r->type == -1 || r->type == ST_IOC_DOMAIN || r->type == ST_IOC_URL;
    if (named && !is_name(s))
        return -1;
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return (r->name = strdup(s)) ? 0 : -1;
}

st_ioc_allow *st_ioc_allow_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "iocs: %s: cannot read the allow-list", path);
        return NULL;
    }
    st_ioc_allow *a = calloc(1, sizeof *a);
    char line[1024];
    size_t cap = 0;
    for (unsigned no = 1; a && fgets(line, sizeof line, f); no++) {
        char *s = line + strspn(line, " \t");
        s[strcspn(s, "\r\n")] = 0;
        for (size_t n = strlen(s); n && (s[n - 1] == ' ' || s[n - 1] == '\t'); n--)
            s[n - 1] = 0;
        if (!*s || *s == '#')
            continue;
        if (a->n == cap) {
            cap = cap ? cap * 2 : 16;
            rule *r = cap <= ST_IOC_ALLOW_MAX ? realloc(a->r, cap * sizeof *r) : NULL;
            if (!r) {
                snprintf(err, errlen, "iocs: %s:%u: too many entries", path, no);
                goto fail;
            }
            a->r = r;
        }
        if (parse_rule(s, &a->r[a->n]) != 0) {
            snprintf(err, errlen, "iocs: %s:%u: not an address, CIDR, domain or type:value", path,
                     no);
            goto fail;
        }
        a->n++;
    }
    fclose(f);
    return a;
fail:
    fclose(f);
    st_ioc_allow_free(a);
    return NULL;
}

void st_ioc_allow_free(st_ioc_allow *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->r[i].name);
    free(a->r);
    free(a);
}

static int in_cidr(const rule *r, const char *ip)
{
    uint8_t b[16];
    int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (fam != r->family || inet_pton(fam, ip, b) != 1)
        return 0;
    int full = r->bits / 8, rest = r->bits % 8;
    if (memcmp(b, r->addr, (size_t)full) != 0)
        return 0;
    return rest == 0 || ((b[full] ^ r->addr[full]) & (0xFF << (8 - rest))) == 0;
}

static int in_domain(const rule *r, const char *host)
{
    size_t hl = strlen(host), nl = strlen(r->name);
    if (r->name[0] == '.')
        return hl > nl && strcmp(host + hl - nl, r->name) == 0;
    return strcmp(host, r->name) == 0 ||
           (hl > nl && host[hl - nl - 1] == '.' && strcmp(host + hl - nl, r->name) == 0);
}

/* A URL's host (without port, userinfo or brackets) into h. */
static void url_host(const char *u, char *h, size_t hl)
{
    const char *s = strstr(u, "://");
    s = s ? s + 3 : u;
    size_t n = strcspn(s, "/?#");
    const char *at = memchr(s, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    if (*s == '[') {
        s++;
        n = strcspn(s, "]");
    } else {
        n = strcspn(s, ":/?#") < n ? strcspn(s, ":/?#") : n;
    }
    snprintf(h, hl, "%.*s", (int)n, s);
}

static int rule_allows(const rule *r, int type, const char *value)
{
    char host[300];
    if (r->type >= 0 && r->type != type)
        return 0;
    if (r->family)
        return (type == ST_IOC_IPV4 || type == ST_IOC_IPV6) ? in_cidr(r, value)
               : type == ST_IOC_URL ? (url_host(value, host, sizeof host), in_cidr(r, host))
                                    : 0;
    switch (type) {
    case ST_IOC_DOMAIN:
        return in_domain(r, value);
    case ST_IOC_EMAIL:
        return strcasecmp(r->name, value) == 0 ||
               (strchr(value, '@') && in_domain(r, strchr(value, '@') + 1));
    case ST_IOC_URL:
        url_host(value, host, sizeof host);
        return in_domain(r, host);
    default:
        return r->type == type && strcasecmp(r->name, value) == 0;
    }
}

int st_ioc_allowed(const st_ioc_engine *e, int type, const char *value)
{
    for (size_t i = 0; e->allow && i < e->allow->n; i++)
        if (rule_allows(&e->allow->r[i], type, value))
            return 1;
    return 0;
}
