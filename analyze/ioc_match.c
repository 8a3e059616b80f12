/*
 * ioc_match.c - finding IOCs in one segment of text: the PCRE2 patterns
 * (compiled once, JIT when the library has it, the interpreter
 * otherwise), then validation and refanging in C.
 *
 * Each pattern finds candidates of one kind; the candidates of all of
 * them are taken in the order of where they start in the segment (a tie:
 * in the order of the list in ioc_int.h), so the values of a type come
 * out in the order of the text whichever pattern found them, and however
 * the text was cut into segments (ioc.c cuts only after a byte no value
 * holds, st_ioc_is_break, and no pattern matches or looks across one).
 *
 * What is taken (see the patterns below):
 * - URL: scheme http, https, ftp, ftps, sftp, or hxxp(s), hXXp(s), fxp;
 *   then ://, [://], [:]// or slashes written [/] or (/); a host that is
 *   a domain, an IPv4 address or an IPv6 one in brackets (RFC 2732); an
 *   optional port; a path, query or fragment kept as it is, but for a
 *   first slash written [/] and trailing punctuation (.,;:!? and a
 *   closing )]}' without its opening one). The scheme and host are
 *   lower-cased, defanged dots in the host refanged, the IPv6 host
 *   written as inet_ntop writes it. The host is listed too (domain,
 *   ipv4 or ipv6), as stoQ lists the domains of URLs.
 *   Also URLs percent-encoded (http%3A%2F%2F..., decoded once), and URLs
 *   in the bytes that base64 runs of at least 16 characters decode to
 *   (all four alignments; what they decode to is searched for URLs only),
 *   and, in HTML texts, the values of href= and src= that are absolute
 *   URLs (taken whole: the value's quotes end them; a URL found by the
 *   plain search inside such a value is not taken again).
 * - domain: labels of a-z, 0-9 and '-' (xn-- labels too) separated by
 *   dots or defanged dots ([.] (.) {.} <.> [dot] (dot) {dot} <dot>),
 *   whose last label is a public suffix of the list without its implicit
 *   '*' rule, with a registrable part (libpsl: co.uk alone, github.io
 *   alone are not domains). Not followed by an at sign (a local part).
 * - email: local@domain, the at sign also [at] (at) {at} <at> [@] (@)
 *   {@} <@>; the domain as above, lower-cased, the local part kept.
 *   Its domain is listed too.
 * - ipv4: four octets 0-255 without leading zeros (01 is not an octet:
 *   inet_aton would read it as octal), dots defanged or not, not inside a
 *   longer dotted run (1.2.3.4.5, 11.2.3.4.5), not glued to a word, not
 *   followed by a CIDR suffix (10.0.0.0/24: a network, as InQuest
 *   iocextract since 2024).
 * - ipv6: a run of hex digits, colons and dots with two colons, as
 *   inet_pton(AF_INET6) takes it, with at least two groups and seven
 *   characters and not the unspecified address ("::", "12:30::" or a
 *   time are not); written as inet_ntop writes it (the canonical form:
 *   lower case, the longest run of zero groups as ::).
 * - md5, sha1, sha256, sha512: hex runs of exactly 32, 40, 64, 128
 *   digits not glued to a word; lower-cased.
 * - mac_address: six hex pairs with one separator, ':' or '-', not part
 *   of a longer run; written lower-case with ':'.
 *
 * Limits: one value is at most ST_IOC_VALUE_MAX bytes (a longer URL is
 * cut there); a port above 65535 makes no URL. Out of memory for the
 * scratch space skips the decoding that needed it.
 *
 * Not handled: defanged forms with blanks ("example dot com", "http ://"),
 * backslashed dots (example\.com), URLs without a scheme, hex-encoded
 * URLs, IPv4 in decimal, octal or hex forms, IPv6 zone indices, base64
 * cut by line breaks.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyze/ioc_int.h"

const char *const st_ioc_type_name[ST_IOC_NTYPES] = {
    "md5", "sha1", "sha256", "sha512", "ipv4", "ipv6", "mac_address", "email", "domain", "url"};

/* ------------------------------------------------------------ patterns */

/* Bytes that end every value (st_ioc_is_break), for character classes. */
#define NB            "\\x00-\\x20\\x7f-\\xff"
#define DOT           "(?:\\.|\\[\\.\\]|\\(\\.\\)|\\{\\.\\}|<\\.>|\\[dot\\]|\\(dot\\)|\\{dot\\}|<dot>)"
#define NOT_AFTER_DOT "(?<!\\[\\.\\]|\\(\\.\\)|\\{\\.\\}|<\\.>|\\[dot\\]|\\(dot\\)|\\{dot\\}|<dot>)"
#define AT            "(?:@|\\[@\\]|\\(@\\)|\\{@\\}|<@>|\\[at\\]|\\(at\\)|\\{at\\}|<at>)"
#define SCHEME        "(?:h(?:tt|xx)ps?|f[tx]ps?|sf[tx]p)"
#define HOST          "[a-z0-9-]++(?:" DOT "[a-z0-9-]++)"
#define OCTET         "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#define UCHAR         "[a-z0-9._~%!$&'()*+,;=-]"

/* URL groups: 1 scheme, 2 userinfo, 3 host, 4 port, 5 path/query/fragment. */
enum { G_SCHEME = 1, G_USER, G_HOST, G_PORT, G_REST };

static const char *const patterns[ST_IOC_NRE] = {
    [ST_IOC_RE_ATTR] =
        "(?<![a-z0-9_-])(?:href|src)=(?:\"([^\"" NB "]*+)|'([^'" NB "]*+)|([^\"'<>`" NB "]++))",
    [ST_IOC_RE_URL] =
        "(?<![a-z0-9])(" SCHEME ")(?:\\[://\\]|(?::|\\[:\\])(?:\\[//\\]|(?:/|\\[/\\]|\\(/\\)){2}))"
        "(?:(" UCHAR "++(?::" UCHAR "*+)?)@)?"
        "(\\[[0-9a-f:.]++\\]|" HOST "*+)"
        "((?::|\\[:\\])[0-9]++)?"
        "((?:[/?#]|\\[/\\]|\\(/\\))[^\"<>\\\\^`" NB "]*+)?",
    [ST_IOC_RE_URLENC] = "(?<![a-z0-9])" SCHEME "%3a%2f%2f[a-z0-9%._~+-]++",
    /* a run of 16 or more with "://" encoded in it at one of its three
     * shifts (Oi8v, then ovL or 6Ly whatever the bytes around) */
    [ST_IOC_RE_B64] = "(?<![a-z0-9+/])(?=[a-z0-9+/]{16})(?-i:[A-Za-z0-9+/]*?(?:Oi8v|ovL|6Ly))"
                      "[a-z0-9+/]*+",
    [ST_IOC_RE_EMAIL] = "(?<![a-z0-9._%+-])([a-z0-9._%+-]++)" AT "(" HOST "++)",
    [ST_IOC_RE_DOMAIN] =
        "(?:(?<=%[0-9a-f]{2})|(?<![a-z0-9_.%+-])" NOT_AFTER_DOT ")" HOST "++(?!" AT ")",
    [ST_IOC_RE_IPV4] = "(?<![a-z0-9_.])" NOT_AFTER_DOT "(" OCTET "(?:" DOT OCTET "){3})"
                       "(?![a-z0-9_]|" DOT "[a-z0-9]|/[0-9])",
    [ST_IOC_RE_IPV6] = "(?<![a-z0-9_:.])(?=[0-9a-f]{0,4}:[0-9a-f]{0,4}:)[0-9a-f:.]++(?![g-z_])",
    [ST_IOC_RE_MAC] = "(?<![a-z0-9_])(?<!(?<![a-z0-9_])[0-9a-f]{2}[:-])"
                      "[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\\1[0-9a-f]{2}){4}"
                      "(?![a-z0-9_])(?!\\1[0-9a-f])",
    [ST_IOC_RE_HASH] = "(?<![a-z0-9_])[0-9a-f]{32,128}+(?![a-z0-9_])",
};

int st_ioc_patterns_compile(pcre2_code *re[ST_IOC_NRE], char *err, size_t errlen)
{
    for (int i = 0; i < ST_IOC_NRE; i++) {
        int code;
        PCRE2_SIZE at;
        re[i] = pcre2_compile((PCRE2_SPTR)patterns[i], PCRE2_ZERO_TERMINATED,
                              PCRE2_CASELESS | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP, &code, &at, NULL);
        if (!re[i]) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(code, msg, sizeof msg);
            snprintf(err, errlen, "ioc: pattern %d at %zu: %s", i, (size_t)at, (char *)msg);
            st_ioc_patterns_free(re);
            return -1;
        }
        /* Without JIT (a build of PCRE2 that has none, W^X memory) the
         * interpreter runs the same code: slower, never wrong. */
        (void)pcre2_jit_compile(re[i], PCRE2_JIT_COMPLETE);
    }
    return 0;
}

void st_ioc_patterns_free(pcre2_code *re[ST_IOC_NRE])
{
    for (int i = 0; i < ST_IOC_NRE; i++) {
        pcre2_code_free(re[i]);
        re[i] = NULL;
    }
}

/* ------------------------------------------------------------- scanner */

struct st_ioc_scanner {
    const st_ioc_engine *e;
    pcre2_match_data *md[ST_IOC_NRE];
    pcre2_match_data *inner; /* the URL pattern inside decoded bytes and attribute values */
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    uint8_t *scratch;
    size_t scap;
    st_ioc_emit_fn emit;
    void *ctx;
    unsigned flags;
};

st_ioc_scanner *st_ioc_scanner_new(const st_ioc_engine *e)
{
    st_ioc_scanner *sc = calloc(1, sizeof *sc);
    if (!sc)
        return NULL;
    sc->e = e;
    int ok = (sc->mctx = pcre2_match_context_create(NULL)) != NULL;
    for (int i = 0; ok && i < ST_IOC_NRE; i++)
        ok = (sc->md[i] = pcre2_match_data_create_from_pattern(e->re[i], NULL)) != NULL;
    ok = ok && (sc->inner = pcre2_match_data_create_from_pattern(e->re[ST_IOC_RE_URL], NULL));
    if (!ok) {
        st_ioc_scanner_free(sc);
        return NULL;
    }
    /* The machine stack would do for these patterns; a stack of our own
     * keeps a deep lookaround on hostile bytes from failing the match. */
    sc->jit = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);
    if (sc->jit)
        pcre2_jit_stack_assign(sc->mctx, NULL, sc->jit);
    return sc;
}

void st_ioc_scanner_free(st_ioc_scanner *sc)
{
    if (!sc)
        return;
    for (int i = 0; i < ST_IOC_NRE; i++)
        pcre2_match_data_free(sc->md[i]);
    pcre2_match_data_free(sc->inner);
    pcre2_match_context_free(sc->mctx);
    pcre2_jit_stack_free(sc->jit);
    free(sc->scratch);
    free(sc);
}

static uint8_t *scratch(st_ioc_scanner *sc, size_t n)
{
    if (n > sc->scap) {
        uint8_t *p = realloc(sc->scratch, n);
        if (!p)
            return NULL;
        sc->scratch = p;
        sc->scap = n;
    }
    return sc->scratch;
}

/* ------------------------------------------------------------- checks */

int st_ioc_ipv4_parse(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        if (k > 0 && (i >= n || s[i++] != '.'))
            return 0;
        size_t start = i;
        unsigned v = 0;
        while (i < n && isdigit((unsigned char)s[i]) && i - start < 4)
            v = v * 10 + (unsigned)(s[i++] - '0');
        size_t len = i - start;
        if (len == 0 || len > 3 || v > 255 || (len > 1 && s[start] == '0'))
            return 0;
        out[k] = (uint8_t)v;
    }
    return i == n;
}

int st_ioc_label_ok(const char *d, size_t n)
{
    if (n == 0 || n > 63 || d[0] == '-' || d[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)d[i]) || isdigit((unsigned char)d[i]) || d[i] == '-'))
            return 0;
    return 1;
}

/* d: lower-case, dots plain, NUL-terminated. */
static int domain_ok(const st_ioc_engine *e, const char *d, size_t n)
{
    if (n > 253)
        return 0;
    const char *last = NULL;
    for (const char *p = d, *end = d + n; p < end;) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t len = dot ? (size_t)(dot - p) : (size_t)(end - p);
        if (!st_ioc_label_ok(p, len))
            return 0;
        last = p;
        p += len + 1;
        if (!dot)
            break;
    }
    if (!last || last == d)
        return 0; /* one label */
    return psl_is_public_suffix2(e->psl, last, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) &&
           psl_registrable_domain(e->psl, d) != NULL;
}

/* Defanged dots to '.', lower-cased; -1 when longer than cap - 1. */
static long refang(const uint8_t *s, size_t n, char *out, size_t cap)
{
    static const char open[] = "[({<", close[] = "])}>";
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        const char *o = s[i] ? strchr(open, s[i]) : NULL;
        char c = (char)tolower(s[i]);
        if (o) {
            char cl = close[o - open];
            if (i + 2 < n && s[i + 1] == '.' && s[i + 2] == cl) {
                c = '.';
                i += 2;
            } else if (i + 4 < n && strncasecmp((const char *)s + i + 1, "dot", 3) == 0 &&
                       s[i + 4] == cl) {
                c = '.';
                i += 4;
            }
        }
        if (w + 1 >= cap)
            return -1;
        out[w++] = c;
    }
    out[w] = 0;
    return (long)w;
}

/* An IPv6 candidate: trailing sentence dots and one colon off. */
static int ipv6_canon(const char *s, size_t n, char out[INET6_ADDRSTRLEN], int strict)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a;
    while (n > 0 && s[n - 1] == '.')
        n--;
    if (n >= 2 && s[n - 1] == ':' && s[n - 2] != ':')
        n--;
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (inet_pton(AF_INET6, buf, &a) != 1 || !inet_ntop(AF_INET6, &a, out, INET6_ADDRSTRLEN))
        return 0;
    if (!strict)
        return 1;
    int groups = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ':' && (i == 0 || s[i - 1] == ':'))
            groups++;
    static const struct in6_addr any = IN6ADDR_ANY_INIT;
    return groups >= 2 && n >= 7 && memcmp(&a, &any, sizeof a) != 0;
}

/* ----------------------------------------------------------- building */

typedef struct {
    char b[ST_IOC_VALUE_MAX + 1];
    size_t n;
} vbuf;

static void put(vbuf *v, const void *p, size_t n)
{
    size_t room = ST_IOC_VALUE_MAX - v->n;
    n = n < room ? n : room; /* cut at ST_IOC_VALUE_MAX, as ioc.h says */
    memcpy(v->b + v->n, p, n);
    v->n += n;
    v->b[v->n] = 0;
}

static void puts_(vbuf *v, const char *s)
{
    put(v, s, strlen(s));
}

static void emit(st_ioc_scanner *sc, int type, const char *v, size_t n)
{
    sc->emit(sc->ctx, type, v, n);
}

/* A host as it will be written, and the value it also is (type, text). */
typedef struct {
    char text[264]; /* a domain (253), or an IPv6 address in brackets */
    int type;
    char value[264]; /* as long as text: a domain is copied from it */
} host_t;

static int host_parse(st_ioc_scanner *sc, const uint8_t *s, size_t n, host_t *h)
{
    uint8_t a4[4];
    if (n >= 2 && s[0] == '[') {
        if (n - 2 >= INET6_ADDRSTRLEN || !ipv6_canon((const char *)s + 1, n - 2, h->value, 0))
            return 0;
        snprintf(h->text, sizeof h->text, "[%.*s]", INET6_ADDRSTRLEN, h->value);
        h->type = ST_IOC_IPV6;
        return 1;
    }
    long len = refang(s, n, h->text, sizeof h->text);
    if (len <= 0)
        return 0;
    memcpy(h->value, h->text, (size_t)len + 1);
    if (strspn(h->text, "0123456789.") == (size_t)len) {
        h->type = ST_IOC_IPV4;
        return st_ioc_ipv4_parse(h->text, (size_t)len, a4);
    }
    h->type = ST_IOC_DOMAIN;
    return domain_ok(sc->e, h->text, (size_t)len);
}

/* The length of rest without trailing sentence punctuation. */
static size_t trim_rest(const uint8_t *r, size_t k)
{
    static const char open[] = "([{", close[] = ")]}";
    long depth[3] = {0, 0, 0}; /* opened minus closed */
    size_t quotes = 0;
    for (size_t i = 0; i < k; i++) {
        const char *o = r[i] ? strchr(open, r[i]) : NULL, *c = r[i] ? strchr(close, r[i]) : NULL;
        if (o)
            depth[o - open]++;
        if (c)
            depth[c - close]--;
        quotes += r[i] == '\'';
    }
    while (k > 0) {
        uint8_t c = r[k - 1];
        const char *cl = c ? strchr(close, c) : NULL;
        if (c && strchr(".,;:!?", c)) {
            k--;
        } else if (cl && depth[cl - close] < 0) {
            depth[cl - close]++;
            k--;
        } else if (c == '\'' && quotes % 2) {
            quotes--;
            k--;
        } else {
            break;
        }
    }
    return k;
}

#define GS(ov, g)       ((ov)[2 * (g)])
#define GE(ov, g)       ((ov)[2 * (g) + 1])
#define GSET(ov, g, rc) ((int)(g) < (rc) && GS(ov, g) != PCRE2_UNSET)

/* A URL match in p: the value, its host listed too. rest_end, when not 0,
 * is where an attribute value ends: the rest runs to it, untrimmed.
 * Returns 1 when a URL was emitted. */
static int url_emit(st_ioc_scanner *sc, const uint8_t *p, const PCRE2_SIZE *ov, int rc,
                    size_t rest_end)
{
    vbuf v = {.n = 0};
    host_t h;
    char scheme[8];
    size_t sn = GE(ov, G_SCHEME) - GS(ov, G_SCHEME);
    for (size_t i = 0; i < sn && i < sizeof scheme - 1; i++)
        scheme[i] = (char)tolower(p[GS(ov, G_SCHEME) + i]);
    scheme[sn < sizeof scheme ? sn : sizeof scheme - 1] = 0;
    for (char *x = scheme; (x = strchr(x, 'x')) != NULL;)
        *x = 't'; /* hxxp, fxp */
    if (!host_parse(sc, p + GS(ov, G_HOST), GE(ov, G_HOST) - GS(ov, G_HOST), &h))
        return 0;
    puts_(&v, scheme);
    puts_(&v, "://");
    if (GSET(ov, G_USER, rc)) {
        put(&v, p + GS(ov, G_USER), GE(ov, G_USER) - GS(ov, G_USER));
        puts_(&v, "@");
    }
    puts_(&v, h.text);
    if (GSET(ov, G_PORT, rc)) {
        const uint8_t *g = p + GS(ov, G_PORT), *end = p + GE(ov, G_PORT), *d = end;
        unsigned long port = 0;
        while (d > g && isdigit(d[-1]))
            d--;
        for (const uint8_t *x = d; x < end && port <= 65535; x++)
            port = port * 10 + (unsigned long)(*x - '0');
        if (end - d > 5 || port > 65535)
            return 0;
        puts_(&v, ":");
        put(&v, d, (size_t)(end - d));
    }
    size_t rs = GSET(ov, G_REST, rc) ? GS(ov, G_REST) : GE(ov, 0);
    size_t re = rest_end ? rest_end : GSET(ov, G_REST, rc) ? GE(ov, G_REST) : rs;
    if (re > rs && (p[rs] == '[' || p[rs] == '(') && p[rs + 1] == '/') {
        puts_(&v, "/"); /* [/] or (/) */
        rs += 3;
    }
    if (re > rs)
        put(&v, p + rs, rest_end ? re - rs : trim_rest(p + rs, re - rs));
    emit(sc, ST_IOC_URL, v.b, v.n);
    emit(sc, h.type, h.value, strlen(h.value));
    return 1;
}

/* Every URL in bytes that are not the segment (decoded ones). */
static void urls_in(st_ioc_scanner *sc, const uint8_t *p, size_t n)
{
    const pcre2_code *re = sc->e->re[ST_IOC_RE_URL];
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc->inner);
    for (size_t from = 0; from < n;) {
        int rc = pcre2_match(re, p, n, from, 0, sc->inner, sc->mctx);
        if (rc <= 0)
            break;
        url_emit(sc, p, ov, rc, 0);
        from = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
}

static int b64(uint8_t c)
{
    return c >= 'A' && c <= 'Z'   ? c - 'A'
           : c >= 'a' && c <= 'z' ? c - 'a' + 26
           : c >= '0' && c <= '9' ? c - '0' + 52
           : c == '+'             ? 62
                                  : 63;
}

static void on_b64(st_ioc_scanner *sc, const uint8_t *p, size_t n)
{
    uint8_t *out = scratch(sc, n / 4 * 3 + 3);
    if (!out)
        return;
    for (size_t a = 0; a < 4 && a + 4 <= n; a++) {
        size_t w = 0, i = a;
        for (; i + 4 <= n; i += 4) {
            uint32_t q = (uint32_t)b64(p[i]) << 18 | (uint32_t)b64(p[i + 1]) << 12 |
                         (uint32_t)b64(p[i + 2]) << 6 | (uint32_t)b64(p[i + 3]);
            out[w++] = (uint8_t)(q >> 16);
            out[w++] = (uint8_t)(q >> 8);
            out[w++] = (uint8_t)q;
        }
        if (n - i >= 2) /* a last quantum without its padding */
            out[w++] = (uint8_t)(b64(p[i]) << 2 | b64(p[i + 1]) >> 4);
        if (n - i == 3)
            out[w++] = (uint8_t)(b64(p[i + 1]) << 4 | b64(p[i + 2]) >> 2);
        if (memchr(out, ':', w))
            urls_in(sc, out, w);
    }
}

static int hexval(uint8_t c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

static void on_urlenc(st_ioc_scanner *sc, const uint8_t *p, size_t n)
{
    uint8_t *out = scratch(sc, n);
    size_t w = 0;
    if (!out)
        return;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n && isxdigit(p[i + 1]) && isxdigit(p[i + 2])) {
            out[w++] = (uint8_t)(hexval(p[i + 1]) << 4 | hexval(p[i + 2]));
            i += 2;
        } else {
            out[w++] = p[i];
        }
    }
    urls_in(sc, out, w);
}

/* href= or src=: the value, when it is an absolute URL, whole. Returns
 * where the value ends when one was emitted, else 0. */
static size_t on_attr(st_ioc_scanner *sc, const uint8_t *p, const PCRE2_SIZE *ov, int rc)
{
    int g = GSET(ov, 1, rc) ? 1 : GSET(ov, 2, rc) ? 2 : 3;
    size_t vs = GS(ov, g), ve = GE(ov, g);
    PCRE2_SIZE *iv = pcre2_get_ovector_pointer(sc->inner);
    if (ve == vs)
        return 0;
    int irc = pcre2_match(sc->e->re[ST_IOC_RE_URL], p, ve, vs, PCRE2_ANCHORED, sc->inner, sc->mctx);
    if (irc <= 0 || (iv[1] != ve && !GSET(iv, G_REST, irc)))
        return 0; /* not a URL, or something after the host that is no path */
    return url_emit(sc, p, iv, irc, ve) ? ve : 0;
}

static void on_email(st_ioc_scanner *sc, const uint8_t *p, const PCRE2_SIZE *ov)
{
    const uint8_t *local = p + GS(ov, 1);
    size_t ln = GE(ov, 1) - GS(ov, 1);
    char dom[260];
    vbuf v = {.n = 0};
    while (ln > 0 && local[0] == '.') {
        local++;
        ln--;
    }
    long dn = refang(p + GS(ov, 2), GE(ov, 2) - GS(ov, 2), dom, sizeof dom);
    if (ln == 0 || ln > 64 || dn <= 0 || !domain_ok(sc->e, dom, (size_t)dn))
        return;
    put(&v, local, ln);
    puts_(&v, "@");
    puts_(&v, dom);
    emit(sc, ST_IOC_EMAIL, v.b, v.n);
    emit(sc, ST_IOC_DOMAIN, dom, (size_t)dn);
}

static void on_simple(st_ioc_scanner *sc, int re, const uint8_t *p, const PCRE2_SIZE *ov)
{
    const uint8_t *s = p + ov[0];
    size_t n = ov[1] - ov[0];
    char b[260];
    uint8_t a4[4];
    long len;
    switch (re) {
    case ST_IOC_RE_DOMAIN:
        len = refang(s, n, b, sizeof b);
        if (len > 0 && domain_ok(sc->e, b, (size_t)len))
            emit(sc, ST_IOC_DOMAIN, b, (size_t)len);
        break;
    case ST_IOC_RE_IPV4:
        len = refang(s, n, b, sizeof b);
        if (len > 0 && st_ioc_ipv4_parse(b, (size_t)len, a4))
            emit(sc, ST_IOC_IPV4, b, (size_t)len);
        break;
    case ST_IOC_RE_IPV6:
        if (ipv6_canon((const char *)s, n, b, 1))
            emit(sc, ST_IOC_IPV6, b, strlen(b));
        break;
    case ST_IOC_RE_MAC:
        for (size_t i = 0; i < 17; i++)
            b[i] = i % 3 == 2 ? ':' : (char)tolower(s[i]);
        emit(sc, ST_IOC_MAC, b, 17);
        break;
    case ST_IOC_RE_HASH:
        if (n != 32 && n != 40 && n != 64 && n != 128)
            break;
        for (size_t i = 0; i < n; i++)
            b[i] = (char)tolower(s[i]);
        emit(sc,
             n == 32   ? ST_IOC_MD5
             : n == 40 ? ST_IOC_SHA1
             : n == 64 ? ST_IOC_SHA256
                       : ST_IOC_SHA512,
             b, n);
        break;
    }
}

/* --------------------------------------------------------------- scan */

#define RE(i) (1u << ST_IOC_RE_##i)
#define CHUNK 256 /* bytes a pattern is skipped for when they lack what it needs */

static int b64char(uint8_t c)
{
    return isalnum(c) || c == '+' || c == '/';
}

/* Which patterns can match in p[0..n): each needs some byte or pair of
 * bytes (a URL "://", "[:" or ":[", an e-mail address '@' or "t]"...),
 * and one whose need is not there is not run. Only ever a necessary
 * condition: what runs decides. */
static unsigned wanted(const uint8_t *p, size_t n, unsigned flags)
{
    unsigned w = 0;
    size_t hex = 0, b64 = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i], nx = i + 1 < n ? p[i + 1] : 0, pv = i ? p[i - 1] : 0;
        hex = isxdigit(c) ? hex + 1 : 0;
        b64 = b64char(c) ? b64 + 1 : 0;
        w |= (hex >= 32 ? RE(HASH) : 0) | (b64 >= 16 ? RE(B64) : 0);
        switch (c) {
        case ':':
            w |= nx == '/' || nx == '[' || nx == '(' ? RE(URL) : 0;
            w |= isxdigit(nx) || nx == ':' ? RE(IPV6) : 0;
            /* fall through */
        case '-':
            w |= isxdigit(pv) && isxdigit(nx) ? RE(MAC) : 0;
            break;
        case '[':
            w |= nx == ':' ? RE(URL) : 0;
            break;
        case '.':
            w |= isalnum(nx) || nx == '-' ? RE(DOMAIN) : 0;
            w |= isdigit(nx) ? RE(IPV4) : 0;
            break;
        case ']':
        case ')':
        case '}':
        case '>': /* [.] (.) {.} <.>, [dot] [at]... */
            w |= pv == '.' ? RE(DOMAIN) | RE(IPV4) : 0;
            w |= pv == 't' || pv == 'T' ? RE(DOMAIN) | RE(IPV4) | RE(EMAIL) : 0;
            break;
        case '@':
            w |= RE(EMAIL);
            break;
        case '%':
            w |= nx == '3' ? RE(URLENC) : 0;
            break;
        case '=':
            w |= (flags & ST_IOC_HTML) && pv && strchr("fFcC", pv) ? RE(ATTR) : 0;
            break;
        }
    }
    return w;
}

/* The next match of pattern i from byte from, or n. A match error (the
 * JIT stack exhausted) skips to the next break: no match crosses one. */
static size_t next_match(st_ioc_scanner *sc, int i, const uint8_t *p, size_t n, size_t from,
                         int *rcp)
{
    while (from < n) {
        int rc = pcre2_match(sc->e->re[i], p, n, from, 0, sc->md[i], sc->mctx);
        *rcp = rc;
        if (rc > 0)
            return pcre2_get_ovector_pointer(sc->md[i])[0];
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        while (from < n && !st_ioc_is_break(p[from]))
            from++;
        from++;
    }
    return n;
}

static void scan_chunk(st_ioc_scanner *sc, const uint8_t *p, size_t n, unsigned flags)
{
    size_t at[ST_IOC_NRE], quiet_to = 0; /* URLs before quiet_to are an attribute's */
    int rcs[ST_IOC_NRE];
    unsigned w = wanted(p, n, flags);
    for (int i = 0; i < ST_IOC_NRE; i++)
        at[i] = w & (1u << i) ? next_match(sc, i, p, n, 0, &rcs[i]) : n;
    for (;;) {
        int i = 0;
        for (int k = 1; k < ST_IOC_NRE; k++)
            if (at[k] < at[i])
                i = k;
        if (at[i] >= n)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc->md[i]);
        int rc = rcs[i];
        size_t end = ov[1] > ov[0] ? ov[1] : ov[0] + 1, q;
        switch (i) {
        case ST_IOC_RE_ATTR:
            if ((q = on_attr(sc, p, ov, rc)) > quiet_to)
                quiet_to = q;
            break;
        case ST_IOC_RE_URL:
            if (ov[0] >= quiet_to)
                url_emit(sc, p, ov, rc, 0);
            break;
        case ST_IOC_RE_URLENC:
            on_urlenc(sc, p + ov[0], ov[1] - ov[0]);
            break;
        case ST_IOC_RE_B64:
            on_b64(sc, p + ov[0], ov[1] - ov[0]);
            break;
        case ST_IOC_RE_EMAIL:
            on_email(sc, p, ov);
            break;
        default:
            on_simple(sc, i, p, ov);
        }
        at[i] = next_match(sc, i, p, n, end, &rcs[i]);
    }
}

/* In chunks of about CHUNK bytes cut after a break, as the segment was:
 * what a chunk lacks, no pattern is run for. */
void st_ioc_scan(st_ioc_scanner *sc, const uint8_t *p, size_t n, unsigned flags, st_ioc_emit_fn fn,
                 void *ctx)
{
    sc->emit = fn;
    sc->ctx = ctx;
    for (size_t s = 0; s < n;) {
        size_t e = n - s > CHUNK ? s + CHUNK : n;
        if (e < n) {
            size_t b = e;
            while (b > s && !st_ioc_is_break(p[b - 1]))
                b--;
            if (b > s)
                e = b;
            else
                while (e < n && !st_ioc_is_break(p[e++]))
                    ;
        }
        scan_chunk(sc, p + s, e - s, flags);
        s = e;
    }
}
