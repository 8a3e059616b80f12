/*
 * ioc_match.c - finding IOCs in a window of text: PCRE2 (JIT) patterns
 * compiled once, then validation and refanging in C.
 *
 * What counts (docs/record.md, IOCs): a URL has a scheme (http, https,
 * ftp, ftps, sftp, or hxxp/fxp) and a host that is a domain, an IPv4
 * address or a bracketed IPv6 one; a domain's last label is in the public
 * suffix list without its implicit '*' rule (libpsl, Debian's data) and it
 * has a registrable part; an IPv4 address has four octets of 0-255 written
 * without leading zeros, not inside a longer dotted run and not followed
 * by a CIDR suffix; an IPv6 address is what inet_pton takes (written back
 * as inet_ntop writes it), with a digit and at least six characters, so
 * that "::" and "Class::Method" are not; digests are hex runs of exactly
 * 32, 40, 64 or 128; MAC addresses six hex pairs with one separator.
 * Defanged forms ([.] (.) {.} [dot] (dot) {dot}, [:] [://] [/], [at] (at)
 * {at} [@] (@) {@}, hxxp, fxp) are found and refanged. URLs are also
 * found inside base64 runs and percent-encoded text (decoded first), and,
 * in HTML, in href= and src= values (entities decoded).
 *
 * Values are ASCII: a URL ends at the first byte that is not (an IRI's
 * UTF-8 path is cut there). Limits: one value is at most ST_IOC_VALUE_MAX bytes (longer URLs are
 * cut there); decoded base64 and percent runs are scanned for URLs only,
 * once (what they decode to is not decoded again).
 *
 * Not handled: Unicode domain names (their xn-- form is found), "user at
 * example dot com" spelled with blanks, IPv4 in decimal or hex forms.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/ioc_int.h"

#define DOT   "(?:\\.|\\[\\.\\]|\\(\\.\\)|\\{\\.\\}|\\[dot\\]|\\(dot\\)|\\{dot\\})"
#define LABEL "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
#define AT    "(?:@|\\[@\\]|\\(@\\)|\\{@\\}|\\[at\\]|\\(at\\)|\\{at\\})"

static const char *const patterns[ST_IOC_RES] = {
    [ST_IOC_RE_URL] = "(?<![a-z0-9])(?:h[tx]{2}ps?|f[tx]ps?|sftp)(?:://|\\[://\\]|\\[:\\]//)"
                      "[^\\s<>\"'\\x00-\\x1f\\x7f-\\xff]+",
    [ST_IOC_RE_DOMAIN] = "(?<![a-z0-9_.-])" LABEL "(?:" DOT LABEL ")+(?![a-z0-9_-])",
    [ST_IOC_RE_EMAIL] =
        "(?<![a-z0-9._%+-])[a-z0-9][a-z0-9._%+-]{0,63}" AT LABEL "(?:" DOT LABEL ")+(?![a-z0-9_-])",
    [ST_IOC_RE_IPV4] =
        "(?<![0-9.])(?:[0-9]{1,3}" DOT "){3}[0-9]{1,3}(?![0-9])(?!" DOT "[0-9])(?!/[0-9])",
    [ST_IOC_RE_IPV6] =
        "(?<![0-9a-z:.])(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{1,4}|:|(?:[0-9]{1,3}\\.){3}"
        "[0-9]{1,3})(?![0-9a-z:.])",
    [ST_IOC_RE_HEX] = "(?<![0-9a-z_])(?:[0-9a-f]{128}|[0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32})"
                      "(?![0-9a-z_])",
    [ST_IOC_RE_MAC] = "(?<![0-9a-f:-])[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\\1[0-9a-f]{2}){4}"
                      "(?![0-9a-f:-])",
    [ST_IOC_RE_B64] = "[a-z0-9+/]{20,}={0,2}",
    [ST_IOC_RE_PCT] = "(?:h[tx]{2}ps?|ftp)%3a%2f%2f[^\\s<>\"'\\x00-\\x1f\\x7f-\\xff]+",
    [ST_IOC_RE_HREF] = "(?:href|src)\\s*=\\s*(?:\"([^\"]*)\"|'([^']*)'|([^\\s>\"']+))",
};

static const char *const type_names[ST_IOC_TYPES] = {
    "md5", "sha1", "sha256", "sha512", "ipv4", "ipv6", "mac_address", "email", "domain", "url"};

const char *st_ioc_type_name(int type)
{
    return type_names[type];
}

int st_ioc_compile(st_ioc_engine *e, char *err, size_t errlen)
{
    for (int i = 0; i < ST_IOC_RES; i++) {
        int ec;
        PCRE2_SIZE off;
        e->re[i] = pcre2_compile((PCRE2_SPTR)patterns[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_CASELESS | PCRE2_NEVER_UTF, &ec, &off, NULL);
        if (!e->re[i]) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(ec, msg, sizeof msg);
            snprintf(err, errlen, "iocs: pattern %d at %zu: %s", i, (size_t)off, (char *)msg);
            return -1;
        }
        pcre2_jit_compile(e->re[i], PCRE2_JIT_COMPLETE); /* the interpreter, where no JIT */
    }
    return 0;
}

void st_ioc_uncompile(st_ioc_engine *e)
{
    for (int i = 0; i < ST_IOC_RES; i++) {
        pcre2_code_free(e->re[i]);
        e->re[i] = NULL;
    }
}

/* ------------------------------------------------------------ refanging */

static const struct {
    const char *from, *to;
} fangs[] = {
    {"[.]", "."},     {"(.)", "."}, {"{.}", "."}, {"[dot]", "."}, {"(dot)", "."}, {"{dot}", "."},
    {"[://]", "://"}, {"[:]", ":"}, {"[/]", "/"}, {"(/)", "/"},   {"[at]", "@"},  {"(at)", "@"},
    {"{at}", "@"},    {"[@]", "@"}, {"(@)", "@"}, {"{@}", "@"},
};

/* d[0..n) refanged into out (at most ST_IOC_VALUE_MAX bytes, NUL-ended). */
static size_t refang(const uint8_t *d, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o < ST_IOC_VALUE_MAX;) {
        size_t k = 0;
        for (; k < sizeof fangs / sizeof *fangs; k++) {
            size_t fl = strlen(fangs[k].from);
            if (fl <= n - i && strncasecmp((const char *)d + i, fangs[k].from, fl) == 0)
                break;
        }
        if (k < sizeof fangs / sizeof *fangs) {
            const char *to = fangs[k].to;
            for (; *to && o < ST_IOC_VALUE_MAX; to++)
                out[o++] = *to;
            i += strlen(fangs[k].from);
        } else {
            out[o++] = (char)d[i++];
        }
    }
    out[o] = 0;
    return o;
}

static void lower(char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++)
        s[i] = (char)tolower((unsigned char)s[i]);
}

/* ----------------------------------------------------------- validation */

int st_ioc_is_domain(const st_ioc_engine *e, const char *host)
{
    const char *tld = strrchr(host, '.');
    if (!tld || !tld[1] || isdigit((unsigned char)tld[1]))
        return 0;
    return psl_is_public_suffix2(e->psl, tld + 1, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) &&
           psl_registrable_domain(e->psl, host) != NULL;
}

static int is_ipv4(const char *s)
{
    int parts = 0;
    while (parts < 4) {
        int len = 0, v = 0;
        while (isdigit((unsigned char)s[len]) && len < 4)
            v = v * 10 + (s[len++] - '0');
        if (len == 0 || len > 3 || v > 255 || (len > 1 && s[0] == '0'))
            return 0;
        s += len;
        parts++;
        if (parts < 4 && *s++ != '.')
            return 0;
    }
    return *s == 0;
}

/* An IPv6 candidate in canonical form into out; 0 when it is none. */
static int ipv6_canon(const char *s, char *out, size_t outlen)
{
    struct in6_addr a;
    if (strlen(s) < 6 || !strpbrk(s, "0123456789") || inet_pton(AF_INET6, s, &a) != 1)
        return 0;
    return inet_ntop(AF_INET6, &a, out, (socklen_t)outlen) != NULL;
}

/* ----------------------------------------------------------------- URLs */

/* Unbalanced closers and sentence punctuation are not part of a URL. */
static size_t trim_url(const char *u, size_t n)
{
    while (n) {
        char c = u[n - 1];
        const char *open = c == ')' ? "(" : c == ']' ? "[" : c == '}' ? "{" : NULL;
        if (open) {
            size_t opens = 0, closes = 0;
            for (size_t i = 0; i < n; i++) {
                opens += u[i] == open[0];
                closes += u[i] == c;
            }
            if (closes <= opens)
                break;
        } else if (!strchr(".,;:!?'\"", c)) {
            break;
        }
        n--;
    }
    return n;
}

/* A refanged URL is kept when its host is a domain or an address; the
 * scheme and host are lower-cased, hxxp/fxp spelled right. */
static void url_found(st_ioc_text *t, char *u)
{
    const st_ioc_engine *e = st_ioc_text_engine(t);
    char *sep = strstr(u, "://");
    if (!sep)
        return;
    size_t sl = (size_t)(sep - u);
    lower(u, sl);
    if (u[1] == 'x' && u[2] == 'x')
        u[1] = u[2] = 't'; /* hxxp */
    if (u[0] == 'f' && u[1] == 'x')
        u[1] = 't'; /* fxp */
    char *host = sep + 3, *end = host + strcspn(host, "/?#");
    char *at = memchr(host, '@', (size_t)(end - host));
    if (at)
        host = at + 1;
    char h[300];
    size_t hl;
    if (*host == '[') {
        char *close = memchr(host, ']', (size_t)(end - host));
        if (!close || (hl = (size_t)(close - host - 1)) >= sizeof h)
            return;
        memcpy(h, host + 1, hl);
        h[hl] = 0;
        char canon[64];
        if (!ipv6_canon(h, canon, sizeof canon))
            return;
    } else {
        hl = strcspn(host, ":/?#");
        if (host + hl > end)
            hl = (size_t)(end - host);
        if (hl == 0 || hl >= sizeof h)
            return;
        lower(host, hl);
        memcpy(h, host, hl);
        h[hl] = 0;
        if (!is_ipv4(h) && !st_ioc_is_domain(e, h))
            return;
    }
    st_ioc_found(t, ST_IOC_URL, u);
}

static void url_at(st_ioc_text *t, const uint8_t *d, size_t n)
{
    char v[ST_IOC_VALUE_MAX + 1];
    size_t len = refang(d, n, v);
    len = trim_url(v, len);
    v[len] = 0;
    url_found(t, v);
}

/* --------------------------------------------------------- matching */

typedef void (*on_match)(st_ioc_text *t, const uint8_t *d, size_t n);

static void each_match(st_ioc_text *t, int re, const uint8_t *d, size_t n, on_match fn)
{
    const st_ioc_engine *e = st_ioc_text_engine(t);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(e->re[re], NULL);
    if (!md)
        return;
    PCRE2_SIZE at = 0;
    while (at < n && pcre2_match(e->re[re], d, n, at, 0, md, NULL) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] <= ov[0]) {
            at = ov[0] + 1;
            continue;
        }
        if (re == ST_IOC_RE_HREF) {
            for (int g = 1; g <= 3; g++)
                if (ov[2 * g] != PCRE2_UNSET)
                    fn(t, d + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        } else {
            size_t len = ov[1] - ov[0];
            fn(t, d + ov[0], len > ST_IOC_VALUE_MAX ? ST_IOC_VALUE_MAX : len);
        }
        at = ov[1];
    }
    pcre2_match_data_free(md);
}

static void domain_at(st_ioc_text *t, const uint8_t *d, size_t n)
{
    char v[ST_IOC_VALUE_MAX + 1];
    size_t len = refang(d, n, v);
    lower(v, len);
    if (st_ioc_is_domain(st_ioc_text_engine(t), v))
        st_ioc_found(t, ST_IOC_DOMAIN, v);
}

static void email_at(st_ioc_text *t, const uint8_t *d, size_t n)
{
    char v[ST_IOC_VALUE_MAX + 1];
    refang(d, n, v);
    char *at = strrchr(v, '@');
    if (!at)
        return;
    lower(at + 1, strlen(at + 1));
    if (st_ioc_is_domain(st_ioc_text_engine(t), at + 1))
        st_ioc_found(t, ST_IOC_EMAIL, v);
}

static void ipv4_at(st_ioc_text *t, const uint8_t *d, size_t n)
{
    char v[64];
    if (n >= 48)
        return;
    refang(d, n, v);
    if (is_ipv4(v))
        st_ioc_found(t, ST_IOC_IPV4, v);
}

static void ipv6_at(st_ioc_text *t, const uint8_t *d, size_t n)
{
    char v[64], canon[64];
    if (n >= sizeof v)
        return;
    memcpy(v, d, n);
    v[n] = 0;
    if (ipv6_canon(v, canon, sizeof canon))
        st_ioc_found(t, ST_IOC_IPV6, canon);
}

static void hex_at(st_ioc_text *t, const uint8_t *d, size_t n)
{
    char v[129];
    memcpy(v, d, n);
    v[n] = 0;
    lower(v, n);
    st_ioc_found(t,
                 n == 32   ? ST_IOC_MD5
                 : n == 40 ? ST_IOC_SHA1
                 : n == 64 ? ST_IOC_SHA256
                           : ST_IOC_SHA512,
                 v);
}

static void mac_at(st_ioc_text *t, const uint8_t *d, size_t n)
{
    char v[18];
    if (n != 17)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = i % 3 == 2 ? ':' : (char)tolower(d[i]);
    v[17] = 0;
    st_ioc_found(t, ST_IOC_MAC, v);
}

static int b64_value(uint8_t c)
{
    return c >= 'A' && c <= 'Z'   ? c - 'A'
           : c >= 'a' && c <= 'z' ? c - 'a' + 26
           : c >= '0' && c <= '9' ? c - '0' + 52
           : c == '+'             ? 62
           : c == '/'             ? 63
                                  : -1;
}

/* A base64 run: its URLs (the decoded bytes are scanned for URLs only). */
static void b64_at(st_ioc_text *t, const uint8_t *d, size_t n)
{
    uint8_t out[ST_IOC_VALUE_MAX];
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n && o < sizeof out; i++) {
        int v = b64_value(d[i]);
        if (v < 0)
            break;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (o >= 10)
        each_match(t, ST_IOC_RE_URL, out, o, url_at);
}

static int hexval(uint8_t c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

static void pct_at(st_ioc_text *t, const uint8_t *d, size_t n)
{
    uint8_t out[ST_IOC_VALUE_MAX];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof out; i++) {
        if (d[i] == '%' && i + 2 < n && hexval(d[i + 1]) >= 0 && hexval(d[i + 2]) >= 0) {
            out[o++] = (uint8_t)(hexval(d[i + 1]) << 4 | hexval(d[i + 2]));
            i += 2;
        } else {
            out[o++] = d[i];
        }
    }
    each_match(t, ST_IOC_RE_URL, out, o, url_at);
}

/* An href/src value: HTML entities decoded, then a URL if it is one. */
static void href_at(st_ioc_text *t, const uint8_t *d, size_t n)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    uint8_t out[ST_IOC_VALUE_MAX];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof out; i++) {
        size_t k = 0, nk = sizeof ents / sizeof *ents;
        if (d[i] != '&') {
            out[o++] = d[i];
            continue;
        }
        for (; k < nk; k++)
            if (strlen(ents[k].name) <= n - i - 1 &&
                strncasecmp((const char *)d + i + 1, ents[k].name, strlen(ents[k].name)) == 0)
                break;
        if (k < nk) {
            out[o++] = (uint8_t)ents[k].c;
            i += strlen(ents[k].name);
        } else if (i + 2 < n && d[i + 1] == '#') {
            size_t j = i + 2;
            int hex = d[j] == 'x' || d[j] == 'X';
            unsigned v = 0;
            for (j += (size_t)hex; j < n && (hex ? isxdigit(d[j]) : isdigit(d[j])) && v < 0x110000;
                 j++)
                v = v * (hex ? 16 : 10) + (unsigned)hexval(d[j]);
            if (j < n && d[j] == ';' && v > 0 && v < 128) {
                out[o++] = (uint8_t)v;
                i = j;
            } else {
                out[o++] = d[i];
            }
        } else {
            out[o++] = d[i];
        }
    }
    each_match(t, ST_IOC_RE_URL, out, o, url_at);
}

void st_ioc_scan(st_ioc_text *t, const uint8_t *d, size_t n, unsigned flags)
{
    each_match(t, ST_IOC_RE_HEX, d, n, hex_at);
    each_match(t, ST_IOC_RE_IPV4, d, n, ipv4_at);
    each_match(t, ST_IOC_RE_IPV6, d, n, ipv6_at);
    each_match(t, ST_IOC_RE_MAC, d, n, mac_at);
    each_match(t, ST_IOC_RE_EMAIL, d, n, email_at);
    each_match(t, ST_IOC_RE_DOMAIN, d, n, domain_at);
    /* in HTML, a URL in the text is entity-encoded as an attribute is */
    each_match(t, ST_IOC_RE_URL, d, n, flags & ST_IOC_HTML ? href_at : url_at);
    each_match(t, ST_IOC_RE_PCT, d, n, pct_at);
    each_match(t, ST_IOC_RE_B64, d, n, b64_at);
    if (flags & ST_IOC_HTML)
        each_match(t, ST_IOC_RE_HREF, d, n, href_at);
}
