/*
 * test_ioc.c - the IOC engine (analyze/ioc.h: ioc.c, ioc_match.c,
 * ioc_allow.c, ioc_html.c, ioc_table.c) and the iocs analyzer
 * (ioc_analyzer.c), through their public interfaces only.
 *
 * Truth:
 * - the refanged form of each defanged value, written by hand beside it
 *   (the forms of stoQ's iocextract and InQuest iocextract, peers.md 1.2
 *   and 1.4);
 * - facts of the public suffix list (Debian's publicsuffix data): com,
 *   net, org, uk, co.uk, io, zip, bar are suffixes, github.io and co.uk
 *   are suffixes with nothing registrable, pdf, doc, local, invalid,
 *   test, example are not in the list;
 * - IPv6: the canonical form is what this file's own inet_pton and
 *   inet_ntop round trip gives for the same text;
 * - digests: OpenSSL's one-shot MD5/SHA1/SHA256/SHA512 computed here;
 *   base64 of a URL: OpenSSL's EVP_EncodeBlock; percent-encoding done
 *   here byte by byte;
 * - the split property: the JSON of one feed of a text is the JSON of
 *   every other way of feeding the same bytes (every piece size 1..300,
 *   random cuts, a run longer than ST_IOC_WINDOW without a blank).
 * Caps are checked at exactly max and one past; the allow-list with each
 * kind of line, and broken files with the file:line they must name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze/file.h"
#include "analyze/ioc.h"

static st_ioc_engine *E; /* the default engine: no allow-list, default caps */

static st_ioc_engine *engine(size_t max_iocs, uint64_t max_bytes, const char *allow)
{
    st_ioc_config c;
    char err[512];
    st_ioc_config_default(&c);
    c.max_iocs = max_iocs;
    c.max_bytes = max_bytes;
    c.allowlist = allow;
    st_ioc_engine *e = st_ioc_engine_new(&c, err, sizeof err);
    if (!e)
        fail_msg("engine: %s", err);
    return e;
}

static int setup(void **state)
{
    (void)state;
    E = engine(1000, 16u << 20, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    st_ioc_engine_free(E);
    return 0;
}

/* The JSON text of one text fed in pieces of `piece` bytes (0: whole). */
static char *feed_json(const st_ioc_engine *e, const void *p, size_t n, unsigned flags,
                       size_t piece)
{
    st_ioc_set *s = st_ioc_set_new(e);
    assert_non_null(s);
    st_ioc_text *t = st_ioc_begin(s, "body", flags);
    assert_non_null(t);
    const uint8_t *b = p;
    for (size_t off = 0; off < n;) {
        size_t k = piece && n - off > piece ? piece : n - off;
        st_ioc_feed(t, b + off, k);
        off += k;
    }
    st_ioc_end(t);
    json_t *j = st_ioc_set_json(s);
    char *out = j ? json_dumps(j, JSON_COMPACT) : strdup("null");
    json_decref(j);
    st_ioc_set_free(s);
    return out;
}

static json_t *run(const char *text, unsigned flags)
{
    char *d = feed_json(E, text, strlen(text), flags, 0);
    json_t *j = json_loads(d, JSON_DECODE_ANY, NULL);
    free(d);
    return j;
}

static int has(const json_t *j, const char *type, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, type), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "value")), value) == 0)
            return 1;
    }
    return 0;
}

static size_t count(const json_t *j, const char *type)
{
    return json_array_size(json_object_get(j, type));
}

/* ------------------------------------------------------------ the table */

typedef struct {
    const char *text;
    const char *type;
    const char *value; /* found; in the negative table: not found (NULL: no value of type) */
    unsigned flags;
} ioc_case;

static const ioc_case found[] = {
    /* URLs: schemes, defanged and not */
    {"see hxxp://evil[.]com/a now", "url", "http://evil.com/a", 0},
    {"hXXps://EVIL(.)COM/Path", "url", "https://evil.com/Path", 0},
    {"hxxps://a{.}b.net", "url", "https://a.b.net", 0},
    {"fxp://files[dot]evil.com/x", "url", "ftp://files.evil.com/x", 0},
    {"HXXP://evil(dot)com/x", "url", "http://evil.com/x", 0},
    {"http[:]//evil.com/", "url", "http://evil.com/", 0},
    {"http[://]evil.com/p", "url", "http://evil.com/p", 0},
    {"http://evil.com[/]p", "url", "http://evil.com/p", 0},
    {"http:[/][/]evil.com", "url", "http://evil.com", 0},
    {"https://evil.com", "url", "https://evil.com", 0},
    {"ftp://evil.com/pub/f.zip", "url", "ftp://evil.com/pub/f.zip", 0},
    {"sftp://evil.com/f", "url", "sftp://evil.com/f", 0},
    {"ftps://evil.com:990/f", "url", "ftps://evil.com:990/f", 0},
    {"HTTP://WWW.EVIL.COM/A/B?C=D#E", "url", "http://www.evil.com/A/B?C=D#E", 0},
    {"hxxp://evil[.]com/files[.]zip", "url", "http://evil.com/files[.]zip", 0}, /* path as is */
    {"http://evil.com:8080/gate.php", "url", "http://evil.com:8080/gate.php", 0},
    {"http://paypal.com@evil.com/login", "url", "http://paypal.com@evil.com/login", 0},
    {"http://paypal.com@evil.com/login", "domain", "evil.com", 0},
    {"hxxp://c2[.]evil-bank[.]com:8080/gate.php", "url", "http://c2.evil-bank.com:8080/gate.php",
     0},
    {"http://xn--80ak6aa92e.com/", "url", "http://xn--80ak6aa92e.com/", 0},
    /* trailing punctuation */
    {"go to http://evil.com/x.", "url", "http://evil.com/x", 0},
    {"(http://evil.com/x)", "url", "http://evil.com/x", 0},
    {"(see http://evil.com/x),", "url", "http://evil.com/x", 0},
    {"http://evil.com/q?a=1!", "url", "http://evil.com/q?a=1", 0},
    {"'http://evil.com/y'", "url", "http://evil.com/y", 0},
    {"[http://evil.com/z]", "url", "http://evil.com/z", 0},
    {"{http://evil.com/w}", "url", "http://evil.com/w", 0},
    {"<http://evil.com/v>", "url", "http://evil.com/v", 0},
    {"\"http://evil.com/u\"", "url", "http://evil.com/u", 0},
    {"http://evil.com/a;", "url", "http://evil.com/a", 0},
    {"http://evil.com/b:", "url", "http://evil.com/b", 0},
    {"http://evil.com/c?", "url", "http://evil.com/c", 0},
    {"http://evil.com.", "url", "http://evil.com", 0},
    {"http://en.wikipedia.org/wiki/Foo_(bar)", "url", "http://en.wikipedia.org/wiki/Foo_(bar)", 0},
    {"(http://en.wikipedia.org/wiki/Foo_(bar))", "url", "http://en.wikipedia.org/wiki/Foo_(bar)",
     0},
    {"http://evil.com/it's", "url", "http://evil.com/it's", 0},
    /* hosts that are addresses */
    {"http://192.0.2.1:8080/a", "url", "http://192.0.2.1:8080/a", 0},
    {"http://192.0.2.1:8080/a", "ipv4", "192.0.2.1", 0},
    {"http://10.1.2.3/24/x", "url", "http://10.1.2.3/24/x", 0},
    {"http://10.1.2.3/24/x", "ipv4", "10.1.2.3", 0},
    {"http://[2001:DB8::1]:8080/x", "url", "http://[2001:db8::1]:8080/x", 0},
    {"http://[2001:DB8::1]:8080/x", "ipv6", "2001:db8::1", 0},
    {"http://[2001:db8:0:0:0:0:0:7]/", "url", "http://[2001:db8::7]/", 0},
    /* URL-encoded */
    {"u=http%3A%2F%2Fevil.com%2Fpath%3Fa%3D1&x=2", "url", "http://evil.com/path?a=1", 0},
    {"HTTPS%3a%2f%2fEvil.Com%2FP", "url", "https://evil.com/P", 0},
    {"http://r.example.net/?u=https%3A%2F%2Fevil.com%2Fx", "url", "https://evil.com/x", 0},
    {"http://r.example.net/?u=https%3A%2F%2Fevil.com%2Fx", "url",
     "http://r.example.net/?u=https%3A%2F%2Fevil.com%2Fx", 0},
    /* HTML */
    {"<a href=\"http://phish.example.net/a?x=1&amp;y=2\">here</a>", "url",
     "http://phish.example.net/a?x=1&y=2", ST_IOC_HTML},
    {"<img src=\"https://cdn.example.org/pixel.gif\">", "url", "https://cdn.example.org/pixel.gif",
     ST_IOC_HTML},
    {"<a href='http://evil.com/s'>", "url", "http://evil.com/s", ST_IOC_HTML},
    {"<a href=http://evil.com/u>x</a>", "url", "http://evil.com/u", ST_IOC_HTML},
    {"<a HREF=\"&#x68;ttp://evil.com/h\">", "url", "http://evil.com/h", ST_IOC_HTML},
    {"<a href=\"&#104;&#116;&#116;&#112;&#58;&#47;&#47;evil.com/d\">", "url", "http://evil.com/d",
     ST_IOC_HTML},
    {"<a href=\"&#104&#116&#116&#112://evil.com/n\">", "url", "http://evil.com/n", ST_IOC_HTML},
    {"h&#116;tp&colon;&sol;&sol;evil&period;com/z", "url", "http://evil.com/z", ST_IOC_HTML},
    {"<a href=\"http://evil.com/a\\b^c\">", "url", "http://evil.com/a\\b^c", ST_IOC_HTML},
    {"<a href=\"http://evil.com/q?a=1&amp;b=2.\">", "url", "http://evil.com/q?a=1&b=2.",
     ST_IOC_HTML},
    /* domains */
    {"evil-bank.com", "domain", "evil-bank.com", 0},
    {"LOGIN[.]Evil-Bank[.]COM", "domain", "login.evil-bank.com", 0},
    {"a(.)b{.}c[dot]d(dot)co.uk", "domain", "a.b.c.d.co.uk", 0},
    {"foo.co.uk", "domain", "foo.co.uk", 0},
    {"mail.evil.zip", "domain", "mail.evil.zip", 0},
    {"a.github.io", "domain", "a.github.io", 0},
    {"xn--80ak6aa92e.com", "domain", "xn--80ak6aa92e.com", 0},
    {"http://login.evil-bank.com/x", "domain", "login.evil-bank.com", 0},
    {"joe@evil-bank.com", "domain", "evil-bank.com", 0},
    {"visit evil.com.", "domain", "evil.com", 0},
    {"q=http%3A%2F%2Fevil.com%2Fp", "domain", "evil.com", 0},
    /* e-mail */
    {"joe[at]evil.com", "email", "joe@evil.com", 0},
    {"joe(at)evil.com", "email", "joe@evil.com", 0},
    {"joe[@]evil.com", "email", "joe@evil.com", 0},
    {"joe(@)evil.com", "email", "joe@evil.com", 0},
    {"joe{@}evil.com", "email", "joe@evil.com", 0},
    {"joe[AT]evil.com", "email", "joe@evil.com", 0},
    {"joe@evil[.]com", "email", "joe@evil.com", 0},
    {"Joe.Smith@EVIL.COM", "email", "Joe.Smith@evil.com", 0},
    {"<mailto:first.last+tag@sub.evil.co.uk>", "email", "first.last+tag@sub.evil.co.uk", 0},
    {"support[at]evil-bank.com.", "email", "support@evil-bank.com", 0},
    /* IPv4 */
    {"198.51.100.23", "ipv4", "198.51.100.23", 0},
    {"198[.]51[.]100[.]23", "ipv4", "198.51.100.23", 0},
    {"198(.)51(.)100(.)23", "ipv4", "198.51.100.23", 0},
    {"198{.}51{.}100{.}23", "ipv4", "198.51.100.23", 0},
    {"198[dot]51[dot]100[dot]23", "ipv4", "198.51.100.23", 0},
    {"198(dot)51(dot)100(dot)23", "ipv4", "198.51.100.23", 0},
    {"server 198.51.100.23.", "ipv4", "198.51.100.23", 0},
    {"[192.0.2.44]", "ipv4", "192.0.2.44", 0},
    {"192.0.2.44:25", "ipv4", "192.0.2.44", 0},
    {"255.255.255.255", "ipv4", "255.255.255.255", 0},
    {"0.0.0.0", "ipv4", "0.0.0.0", 0},
    {"(203.0.113.7)", "ipv4", "203.0.113.7", 0},
    /* MAC */
    {"00:11:22:AA:BB:CC", "mac_address", "00:11:22:aa:bb:cc", 0},
    {"00-11-22-aa-bb-cc", "mac_address", "00:11:22:aa:bb:cc", 0},
    {"MAC:00:11:22:33:44:55", "mac_address", "00:11:22:33:44:55", 0},
    {"hw 0a:1b:2c:3d:4e:5f.", "mac_address", "0a:1b:2c:3d:4e:5f", 0},
    /* bytes around values */
    {"\xff\xfehttp://evil.com/\xe2\x80\x8b", "url", "http://evil.com/", 0},
    {"x\r\nhttp://evil.com/crlf\r\n", "url", "http://evil.com/crlf", 0},
};

static const ioc_case not_found[] = {
    /* not URLs */
    {"http://localhost:8080/", "url", NULL, 0},
    {"http://intranet/x", "url", NULL, 0},
    {"http://999.1.1.1/x", "url", NULL, 0},
    {"http://010.1.1.1/x", "url", NULL, 0},
    {"http://1.2.3.4.5/x", "url", NULL, 0},
    {"http://evil.com:99999/", "url", NULL, 0},
    {"http://report.pdf/", "url", NULL, 0},
    {"http://[::g]/", "url", NULL, 0},
    {"javascript://evil.com", "url", NULL, 0},
    {"xhttp://evil.com/", "url", NULL, 0},
    {"<a href=\"/relative/path\">", "url", NULL, ST_IOC_HTML},
    {"<a href=\"//proto.relative.com/x\">", "url", NULL, ST_IOC_HTML},
    {"<a href=\"http://phish.example.net/a?x=1&amp;y=2\">", "url",
     "http://phish.example.net/a?x=1&amp;y=2", ST_IOC_HTML},
    /* not domains: the public suffix list says */
    {"report.pdf", "domain", NULL, 0},
    {"invoice.doc", "domain", NULL, 0},
    {"foo.local", "domain", NULL, 0},
    {"example.invalid", "domain", NULL, 0},
    {"mx.example.test", "domain", NULL, 0},
    {"mx.sender.example", "domain", NULL, 0},
    {"co.uk", "domain", NULL, 0},
    {"github.io", "domain", NULL, 0},
    {"com", "domain", NULL, 0},
    {"1.2.3.4.5", "domain", NULL, 0},
    {"version 1.2.3", "domain", NULL, 0},
    {"report.pdf.exe", "domain", NULL, 0},
    {"first.bar@evil.com", "domain", "first.bar", 0}, /* bar is a TLD: here a local part */
    {"-evil.com", "domain", NULL, 0},
    {"evil-.com", "domain", NULL, 0},
    {"a_b.com", "domain", NULL, 0},
    /* not e-mail addresses */
    {"joe@foo.local", "email", NULL, 0},
    {"a@example.test", "email", NULL, 0},
    {"joe@report.pdf", "email", NULL, 0},
    {"joe@co.uk", "email", NULL, 0},
    {"@evil.com", "email", NULL, 0},
    /* not IPv4 addresses */
    {"1.2.3.4.5", "ipv4", NULL, 0},
    {"11.2.3.4.5", "ipv4", NULL, 0},
    {"5[.]1.2.3.4", "ipv4", NULL, 0},
    {"10.0.0.0/24", "ipv4", NULL, 0},
    {"999.1.1.1", "ipv4", NULL, 0},
    {"256.1.1.1", "ipv4", NULL, 0},
    {"1.2.3.256", "ipv4", NULL, 0},
    {"192.168.01.1", "ipv4", NULL, 0},
    {"01.2.3.4", "ipv4", NULL, 0},
    {"v1.2.3.4", "ipv4", NULL, 0},
    {"1.2.3.4a", "ipv4", NULL, 0},
    {"1.2.3", "ipv4", NULL, 0},
    {"1.2.3.4.com", "ipv4", NULL, 0},
    /* not IPv6 addresses */
    {"::", "ipv6", NULL, 0},
    {"::1", "ipv6", NULL, 0},
    {"at 12:30:45 today", "ipv6", NULL, 0},
    {"12:30:45.123", "ipv6", NULL, 0},
    {"1:2:3:4:5:6:7:8:9", "ipv6", NULL, 0},
    {"Class::Method", "ipv6", NULL, 0},
    {"a::b", "ipv6", NULL, 0},
    {"dead:beef::1x", "ipv6", NULL, 0},
    {"00:11:22:33:44:55", "ipv6", NULL, 0},
    /* not MAC addresses */
    {"00:11-22:33:44:55", "mac_address", NULL, 0},
    {"00:11:22:33:44:55:66", "mac_address", NULL, 0},
    {"000:11:22:33:44:55", "mac_address", NULL, 0},
    {"00:11:22:33:44", "mac_address", NULL, 0},
    {"00:11:22:33:44:5g", "mac_address", NULL, 0},
    {"x00:11:22:33:44:55", "mac_address", NULL, 0},
};

static void test_found(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof found / sizeof *found; i++) {
        json_t *j = run(found[i].text, found[i].flags);
        if (!has(j, found[i].type, found[i].value)) {
            char *d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
            fail_msg("'%s': no %s '%s' in %s", found[i].text, found[i].type, found[i].value, d);
        }
        json_decref(j);
    }
}

static void test_not_found(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof not_found / sizeof *not_found; i++) {
        json_t *j = run(not_found[i].text, not_found[i].flags);
        const ioc_case *c = &not_found[i];
        if (c->value ? has(j, c->type, c->value) : count(j, c->type) != 0) {
            char *d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
            fail_msg("'%s': %s '%s' found: %s", c->text, c->type, c->value ? c->value : "(any)", d);
        }
        json_decref(j);
    }
}

/* Exactly these values and types, in this order: nothing else slips in. */
static void test_exact_output(void **state)
{
    (void)state;
    const char *text = "Dear user,\nplease log in at hxxps://login[.]evil-bank[.]com/verify?id=7 "
                       "today.\nOur other server is 198.51.100.23 (not 1.2.3.4.5, nor "
                       "report.pdf).\nWrite to support[at]evil-bank.com.\n";
    char *d = feed_json(E, text, strlen(text), 0, 0);
    assert_string_equal(
        d,
        "{\"ipv4\":[{\"value\":\"198.51.100.23\",\"where\":[\"body\"]}],"
        "\"email\":[{\"value\":\"support@evil-bank.com\",\"where\":[\"body\"]}],"
        "\"domain\":[{\"value\":\"login.evil-bank.com\",\"where\":[\"body\"]},"
        "{\"value\":\"evil-bank.com\",\"where\":[\"body\"]}],"
        "\"url\":[{\"value\":\"https://login.evil-bank.com/verify?id=7\",\"where\":[\"body\"]}]}");
    free(d);
    json_t *j = run("nothing here: 1.2.3.4.5 report.pdf 12:30:45 ::", 0);
    assert_true(json_is_null(j));
    json_decref(j);
}

/* ------------------------------------------------------------- oracles */

static void hexdigest(const EVP_MD *md, const char *in, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    assert_int_equal(EVP_Digest(in, strlen(in), d, &n, md, NULL), 1);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02X", d[i]); /* upper case: the engine lower-cases */
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
}

static void test_digests(void **state)
{
    (void)state;
    const EVP_MD *md[4] = {EVP_md5(), EVP_sha1(), EVP_sha256(), EVP_sha512()};
    const char *type[4] = {"md5", "sha1", "sha256", "sha512"};
    for (int i = 0; i < 4; i++) {
        char h[EVP_MAX_MD_SIZE * 2 + 1], text[600], want[EVP_MAX_MD_SIZE * 2 + 1];
        hexdigest(md[i], "abc", h);
        snprintf(want, sizeof want, "%s", h);
        lower(want);
        snprintf(text, sizeof text, "sum: %s.", h);
        json_t *j = run(text, 0);
        assert_true(has(j, type[i], want));
        assert_int_equal(json_object_size(j), 1);
        json_decref(j);
        /* one digit more or less, or glued to a word: nothing */
        size_t n = strlen(h);
        const char *around[][2] = {{"", "0"}, {"g", ""}, {"", "_x"}, {"x", ""}};
        for (size_t k = 0; k < 4; k++) {
            snprintf(text, sizeof text, "%s%s%s", around[k][0], h, around[k][1]);
            j = run(text, 0);
            for (int t = 0; t < 4; t++)
                assert_int_equal(count(j, type[t]), 0);
            json_decref(j);
        }
        h[n - 1] = 0;
        j = run(h, 0);
        for (int t = 0; t < 4; t++)
            assert_int_equal(count(j, type[t]), 0);
        json_decref(j);
    }
    /* 33 hex digits: no md5 */
    json_t *j = run("d41d8cd98f00b204e9800998ecf8427e1", 0);
    assert_int_equal(count(j, "md5"), 0);
    json_decref(j);
}

static void test_ipv6_canonical(void **state)
{
    (void)state;
    const char *in[] = {"2001:0DB8:0000:0000:0000:0000:0000:0001",
                        "fe80::1",
                        "2001:db8:0:0:1:0:0:1",
                        "2001:DB8::8:800:200C:417A",
                        "::ffff:192.0.2.1",
                        "2001:db8:85a3::8a2e:370:7334",
                        "1:0:0:2:0:0:0:3",
                        "2001:db8:0:1:1:1:1:1"};
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        struct in6_addr a;
        char want[INET6_ADDRSTRLEN], text[128];
        assert_int_equal(inet_pton(AF_INET6, in[i], &a), 1);
        assert_non_null(inet_ntop(AF_INET6, &a, want, sizeof want));
        for (int form = 0; form < 3; form++) {
            snprintf(text, sizeof text,
                     form == 0   ? "addr %s here"
                     : form == 1 ? "(%s)."
                                 : "[%s]",
                     in[i]);
            json_t *j = run(text, 0);
            if (!has(j, "ipv6", want))
                fail_msg("'%s': no ipv6 '%s'", text, want);
            assert_int_equal(count(j, "ipv6"), 1);
            json_decref(j);
        }
    }
}

/* Base64 of a URL at each of the four alignments of a base64 run, and
 * the URL percent-encoded byte by byte. */
static void test_encoded_urls(void **state)
{
    (void)state;
    const char *url = "http://evil.example.net/get?id=42";
    unsigned char b64[200];
    char text[1000];
    for (int lead = 0; lead < 4; lead++) {
        char in[100];
        snprintf(in, sizeof in, "%.*s%s", lead, "\"> ", url); /* what may come before */
        EVP_EncodeBlock(b64, (const unsigned char *)in, (int)strlen(in));
        for (int glue = 0; glue < 4; glue++) {
            snprintf(text, sizeof text, "data=%.*s%s end", glue, "QUJD", b64);
            json_t *j = run(text, 0);
            if (!has(j, "url", url))
                fail_msg("base64 '%s' (%s): no url", text, in);
            assert_true(has(j, "domain", "evil.example.net"));
            json_decref(j);
        }
    }
    /* a run as short as it gets: 16 bytes, 24 base64 digits */
    EVP_EncodeBlock(b64, (const unsigned char *)"http://evil.com/", 16);
    json_t *j = run((const char *)b64, 0);
    assert_true(has(j, "url", "http://evil.com/"));
    json_decref(j);

    char enc[400];
    size_t w = 0;
    for (const char *p = url; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            enc[w++] = *p;
        else
            w += (size_t)sprintf(enc + w, "%%%02X", (unsigned char)*p);
    }
    enc[w] = 0;
    snprintf(text, sizeof text, "redirect?to=%s&x=1", enc);
    j = run(text, 0);
    if (!has(j, "url", url))
        fail_msg("percent-encoded '%s': no url", text);
    json_decref(j);
}

static void test_html_flag(void **state)
{
    (void)state;
    const char *html = "<a href=\"http://phish.example.net/a?x=1&amp;y=2\">here</a>"
                       "<img src=\"https://cdn.example.org/pixel.gif\">";
    json_t *j = run(html, ST_IOC_HTML);
    /* the attribute's URL once, decoded; not the raw one too */
    assert_int_equal(count(j, "url"), 2);
    assert_true(has(j, "url", "http://phish.example.net/a?x=1&y=2"));
    assert_true(has(j, "url", "https://cdn.example.org/pixel.gif"));
    json_decref(j);
    /* without the flag, the bytes as they are */
    j = run(html, 0);
    assert_true(has(j, "url", "http://phish.example.net/a?x=1&amp;y=2"));
    json_decref(j);
}

/* Names at and past 253 bytes (RFC 1035), in URLs, e-mail and alone; the
 * longest were a stack overflow in the host's copy (fuzz_ioc,
 * fuzz/regress/fuzz_ioc/url-host-260-bytes-overflow). */
static void test_long_names(void **state)
{
    (void)state;
    for (size_t len = 240; len <= 300; len++) {
        char host[400], text[1400];
        size_t w = 0;
        /* labels of 63 and less, ".com" at the end: len bytes in all */
        while (w + 4 < len) {
            size_t l = len - 4 - w > 63 ? 63 : len - 4 - w;
            if (l == 63 && len - 4 - w - l == 0)
                l = 62; /* keep room for the dot */
            memset(host + w, 'a' + (char)(w % 26), l);
            w += l;
            if (w + 4 < len)
                host[w++] = '.';
        }
        memcpy(host + w, ".com", 5);
        size_t hl = strlen(host);
        snprintf(text, sizeof text, "hxxp://%s/x joe@%s %s", host, host, host);
        json_t *j = run(text, 0);
        char url[600];
        snprintf(url, sizeof url, "http://%s/x", host);
        int valid = hl <= 253 && host[hl - 5] != '.';
        if (has(j, "url", url) != valid || has(j, "domain", host) != valid)
            fail_msg("name of %zu bytes: %s", hl, valid ? "not found" : "found");
        json_decref(j);
    }
}

/* ------------------------------------------------------------ the set */

static void test_dedup_and_where(void **state)
{
    (void)state;
    st_ioc_set *s = st_ioc_set_new(E);
    st_ioc_text *a = st_ioc_begin(s, "received", 0);
    st_ioc_feed(a, (const uint8_t *)"from 192.0.2.1 and 192.0.2.1 ", 29);
    st_ioc_end(a);
    st_ioc_text *b = st_ioc_begin(s, "body", 0);
    st_ioc_feed(b, (const uint8_t *)"192.0.2.2 192.0.2.1 ", 20);
    st_ioc_end(b);
    a = st_ioc_begin(s, "received", 0); /* a second text of the same name */
    st_ioc_feed(a, (const uint8_t *)"192.0.2.2", 9);
    st_ioc_end(a);
    /* two texts open at once, fed in turn */
    st_ioc_text *x = st_ioc_begin(s, "x-a", 0), *y = st_ioc_begin(s, "x-b", 0);
    st_ioc_feed(y, (const uint8_t *)"b.evil.com ", 11);
    st_ioc_feed(x, (const uint8_t *)"a.evil.com b.evil.com ", 22);
    st_ioc_end(x);
    st_ioc_end(y);
    json_t *j = st_ioc_set_json(s);
    char *d = json_dumps(j, JSON_COMPACT);
    assert_string_equal(d, "{\"ipv4\":[{\"value\":\"192.0.2.1\",\"where\":[\"received\",\"body\"]},"
                           "{\"value\":\"192.0.2.2\",\"where\":[\"body\",\"received\"]}],"
                           "\"domain\":[{\"value\":\"b.evil.com\",\"where\":[\"x-b\",\"x-a\"]},"
                           "{\"value\":\"a.evil.com\",\"where\":[\"x-a\"]}]}");
    free(d);
    json_decref(j);
    uint64_t dropped, unscanned;
    st_ioc_set_counts(s, &dropped, &unscanned);
    assert_int_equal(dropped, 0);
    assert_int_equal(unscanned, 0);
    st_ioc_set_free(s);

    /* names: cut at 63 bytes, bytes outside printable ASCII replaced */
    s = st_ioc_set_new(E);
    char name[100];
    memset(name, 'n', sizeof name);
    name[0] = '\xff';
    name[99] = 0;
    a = st_ioc_begin(s, name, 0);
    st_ioc_feed(a, (const uint8_t *)"192.0.2.9", 9);
    st_ioc_end(a);
    j = st_ioc_set_json(s);
    const char *w = json_string_value(
        json_array_get(json_object_get(json_array_get(json_object_get(j, "ipv4"), 0), "where"), 0));
    assert_non_null(w);
    assert_int_equal(strlen(w), 63);
    assert_int_equal(w[0], '?');
    json_decref(j);
    /* a set freed with a text still open */
    st_ioc_feed(st_ioc_begin(s, "open", 0), (const uint8_t *)"held", 4);
    st_ioc_set_free(s);
    /* NULLs do nothing */
    st_ioc_feed(NULL, (const uint8_t *)"x", 1);
    st_ioc_end(NULL);
    assert_null(st_ioc_begin(NULL, "x", 0));
    assert_null(st_ioc_set_json(NULL));
}

static uint64_t dropped_of(const st_ioc_set *s)
{
    uint64_t d, u;
    st_ioc_set_counts(s, &d, &u);
    return d;
}

static void test_max_iocs(void **state)
{
    (void)state;
    st_ioc_engine *e = engine(3, 0, NULL);
    const char *text = "192.0.2.1 192.0.2.2 192.0.2.3 ";
    st_ioc_set *s = st_ioc_set_new(e);
    st_ioc_text *t = st_ioc_begin(s, "body", 0);
    st_ioc_feed(t, (const uint8_t *)text, strlen(text));
    st_ioc_end(t);
    json_t *j = st_ioc_set_json(s);
    assert_int_equal(count(j, "ipv4"), 3);
    assert_int_equal(dropped_of(s), 0); /* exactly max_iocs: nothing dropped */
    json_decref(j);
    /* one past, then the same values again: each dropped value counts once */
    t = st_ioc_begin(s, "more", 0);
    text = "192.0.2.4 192.0.2.1 192.0.2.4 192.0.2.5 192.0.2.4 192.0.2.5";
    st_ioc_feed(t, (const uint8_t *)text, strlen(text));
    st_ioc_end(t);
    assert_int_equal(dropped_of(s), 2);
    j = st_ioc_set_json(s);
    assert_int_equal(count(j, "ipv4"), 3);
    assert_true(has(j, "ipv4", "192.0.2.1"));
    assert_false(has(j, "ipv4", "192.0.2.4"));
    json_decref(j);
    st_ioc_set_free(s);
    /* a URL and its host are two values */
    s = st_ioc_set_new(e);
    t = st_ioc_begin(s, "body", 0);
    text = "http://evil.com/a http://evil.com/b";
    st_ioc_feed(t, (const uint8_t *)text, strlen(text));
    st_ioc_end(t);
    j = st_ioc_set_json(s);
    assert_int_equal(count(j, "url") + count(j, "domain"), 3);
    assert_int_equal(dropped_of(s), 0);
    json_decref(j);
    st_ioc_set_free(s);
    st_ioc_engine_free(e);

    e = engine(0, 0, NULL); /* keep none */
    s = st_ioc_set_new(e);
    t = st_ioc_begin(s, "body", 0);
    st_ioc_feed(t, (const uint8_t *)"192.0.2.1 192.0.2.1", 19);
    st_ioc_end(t);
    assert_null(st_ioc_set_json(s));
    assert_int_equal(dropped_of(s), 1);
    st_ioc_set_free(s);
    st_ioc_engine_free(e);
}

static void test_max_bytes(void **state)
{
    (void)state;
    st_ioc_engine *e = engine(1000, 10, NULL);
    st_ioc_set *s = st_ioc_set_new(e);
    st_ioc_text *a = st_ioc_begin(s, "a", 0), *b = st_ioc_begin(s, "b", 0);
    st_ioc_feed(a, (const uint8_t *)"8.8.8.8 ", 8);         /* 8 of 10 */
    st_ioc_feed(b, (const uint8_t *)"9.9.9.9 1.1.1.1", 15); /* 2 more, 13 not */
    st_ioc_feed(a, (const uint8_t *)"4.4.4.4", 7);          /* none */
    st_ioc_end(a);
    st_ioc_end(b);
    uint64_t d, u;
    st_ioc_set_counts(s, &d, &u);
    assert_int_equal(u, 13 + 7);
    json_t *j = st_ioc_set_json(s);
    assert_int_equal(count(j, "ipv4"), 1);
    assert_true(has(j, "ipv4", "8.8.8.8"));
    json_decref(j);
    st_ioc_set_free(s);
    st_ioc_engine_free(e);

    e = engine(1000, 15, NULL); /* exactly the text: all of it */
    s = st_ioc_set_new(e);
    a = st_ioc_begin(s, "a", 0);
    st_ioc_feed(a, (const uint8_t *)"9.9.9.9 1.1.1.1", 15);
    st_ioc_end(a);
    st_ioc_set_counts(s, &d, &u);
    assert_int_equal(u, 0);
    j = st_ioc_set_json(s);
    assert_int_equal(count(j, "ipv4"), 2);
    json_decref(j);
    st_ioc_set_free(s);
    st_ioc_engine_free(e);
}

/* -------------------------------------------------------- allow-list */

static char *write_tmp(const char *content)
{
    char *path = strdup("/tmp/st-ioc-allow-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static json_t *run_with(const st_ioc_engine *e, const char *text)
{
    char *d = feed_json(e, text, strlen(text), 0, 0);
    json_t *j = json_loads(d, JSON_DECODE_ANY, NULL);
    free(d);
    return j;
}

static void test_allowlist(void **state)
{
    (void)state;
    char *path = write_tmp("# known good\n"
                           "\n"
                           "   ipv4:10.0.0.0/8  \r\n"
                           "ipv6:2001:db8::/32\n"
                           "ipv6:A::\n"
                           "192.0.2.0/24\n"
                           "2001:db9:1::/48\n"
                           "domain:.example.com\n"
                           "domain:exact.net\n"
                           "url:.cdn.org\n"
                           "url:198.51.100.0/24\n"
                           "email:Good@Example.NET\n"
                           "md5:D41D8CD98F00B204E9800998ECF8427E\n"
                           "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709\n"
                           "mac_address:00-11-22-33-44-55\n"
                           ".gov\n"
                           "trusted.org\n"
                           "bare@person.io\n"
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                           "66:77:88:99:aa:bb\n");
    st_ioc_engine *e = engine(1000, 0, path);
    static const struct {
        const char *text, *type, *value;
        int kept;
    } c[] = {
        {"10.1.2.3", "ipv4", "10.1.2.3", 0},
        {"11.1.2.3", "ipv4", "11.1.2.3", 1},
        {"http://10.1.2.3/x", "url", "http://10.1.2.3/x", 1}, /* ipv4: lines: addresses only */
        {"2001:db8::1", "ipv6", "2001:db8::1", 0},
        {"2001:db9::1", "ipv6", "2001:db9::1", 1},
        {"a::", "ipv6", "a::", 0},
        {"192.0.2.5", "ipv4", "192.0.2.5", 0},
        {"http://192.0.2.5/x", "url", "http://192.0.2.5/x", 0}, /* bare CIDR: URL hosts too */
        {"http://[2001:db9:1::5]/", "url", "http://[2001:db9:1::5]/", 0},
        {"2001:db9:1::5", "ipv6", "2001:db9:1::5", 0},
        {"2001:db9:2::5", "ipv6", "2001:db9:2::5", 1},
        {"example.com", "domain", "example.com", 0},
        {"a.b.example.com", "domain", "a.b.example.com", 0},
        {"http://a.example.com/x", "url", "http://a.example.com/x", 0}, /* domain: URL hosts */
        {"notexample.com", "domain", "notexample.com", 1},
        {"joe@example.com", "email", "joe@example.com", 1}, /* domain: not e-mail */
        {"exact.net", "domain", "exact.net", 0},
        {"a.exact.net", "domain", "a.exact.net", 1},
        {"http://x.cdn.org/p", "url", "http://x.cdn.org/p", 0},
        {"http://cdn.org/p", "url", "http://cdn.org/p", 0},
        {"http://x.cdn.org/p", "domain", "x.cdn.org", 1}, /* url: URLs only */
        {"http://198.51.100.7/p", "url", "http://198.51.100.7/p", 0},
        {"http://198.51.100.7/p", "ipv4", "198.51.100.7", 1},
        {"good@example.net", "email", "good@example.net", 0},
        {"bad@example.net", "email", "bad@example.net", 1},
        {"D41D8CD98F00B204E9800998ECF8427E", "md5", "d41d8cd98f00b204e9800998ecf8427e", 0},
        {"DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", "sha1",
         "da39a3ee5e6b4b0d3255bfef95601890afd80709", 0},
        {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256",
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0},
        {"00:11:22:33:44:55", "mac_address", "00:11:22:33:44:55", 0},
        {"66-77-88-99-AA-BB", "mac_address", "66:77:88:99:aa:bb", 0},
        {"00:11:22:33:44:56", "mac_address", "00:11:22:33:44:56", 1},
        {"agency.gov", "domain", "agency.gov", 0},
        {"trusted.org", "domain", "trusted.org", 0},
        {"sub.trusted.org", "domain", "sub.trusted.org", 1},
        {"joe@trusted.org", "email", "joe@trusted.org", 0}, /* bare: e-mail domains too */
        {"joe@sub.trusted.org", "email", "joe@sub.trusted.org", 1},
        {"http://trusted.org/x", "url", "http://trusted.org/x", 0},
        {"bare@person.io", "email", "bare@person.io", 0},
        {"other@person.io", "email", "other@person.io", 1},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        json_t *j = run_with(e, c[i].text);
        if (has(j, c[i].type, c[i].value) != c[i].kept)
            fail_msg("'%s': %s '%s' %s", c[i].text, c[i].type, c[i].value,
                     c[i].kept ? "dropped" : "kept");
        json_decref(j);
    }
    st_ioc_engine_free(e);
    unlink(path);
    free(path);

    /* allow-listed values are not counted as dropped by the cap */
    path = write_tmp("192.0.2.1\n");
    e = engine(1, 0, path);
    json_t *j = run_with(e, "192.0.2.1 192.0.2.2");
    assert_true(has(j, "ipv4", "192.0.2.2"));
    json_decref(j);
    st_ioc_set *s = st_ioc_set_new(e);
    st_ioc_text *t = st_ioc_begin(s, "b", 0);
    st_ioc_feed(t, (const uint8_t *)"192.0.2.1 192.0.2.2 192.0.2.1", 29);
    st_ioc_end(t);
    assert_int_equal(dropped_of(s), 0);
    st_ioc_set_free(s);
    st_ioc_engine_free(e);
    unlink(path);
    free(path);
}

static void test_allowlist_errors(void **state)
{
    (void)state;
    static const struct {
        const char *content;
        int line;
    } bad[] = {
        {"# fine\n10.0.0.0/8\nipv4:999.1.1.1/99\n", 3},
        {"ipv4:2001:db8::/32\n", 1},
        {"ipv6:10.0.0.0/8\n", 1},
        {"\n\n10.0.0.0/33\n", 3},
        {"not a domain!\n", 1},
        {"domain:-bad.com\n", 1},
        {"1.2.3.4.5\n", 1},
        {"md5:abc\n", 1},
        {"sha256:d41d8cd98f00b204e9800998ecf8427e\n", 1},
        {"email:nobody\n", 1},
        {"mac_address:00:11:22:33:44\n", 1},
        {"ok.com\nexample.com.\n", 2},
        {"url:http://evil.com/\n", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *path = write_tmp(bad[i].content), err[512], want[64];
        st_ioc_config c;
        st_ioc_config_default(&c);
        c.allowlist = path;
        memset(err, 'x', sizeof err);
        assert_null(st_ioc_engine_new(&c, err, sizeof err));
        assert_non_null(memchr(err, 0, sizeof err));
        snprintf(want, sizeof want, "%s:%d:", path, bad[i].line);
        if (!strstr(err, want))
            fail_msg("case %zu: '%s' does not name %s", i, err, want);
        unlink(path);
        free(path);
    }
    char err[512];
    st_ioc_config c;
    st_ioc_config_default(&c);
    c.allowlist = "/nonexistent/allow.txt";
    assert_null(st_ioc_engine_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/allow.txt"));
    assert_non_null(strstr(err, "No such file"));
    c.allowlist = "";
    st_ioc_engine *e = st_ioc_engine_new(&c, err, sizeof err);
    assert_non_null(e); /* "": no allow-list */
    st_ioc_engine_free(e);
    c.psl_file = "/nonexistent/psl.dafsa";
    assert_null(st_ioc_engine_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/psl.dafsa"));
    c.psl_file = "/usr/share/publicsuffix/public_suffix_list.dat"; /* the text form reads too */
    e = st_ioc_engine_new(&c, err, sizeof err);
    assert_non_null(e);
    json_t *j = run_with(e, "foo.co.uk report.pdf");
    assert_true(has(j, "domain", "foo.co.uk"));
    assert_int_equal(count(j, "domain"), 1);
    json_decref(j);
    st_ioc_engine_free(e);
}

/* ------------------------------------------------- any split, same JSON */

static char *mixed_text(size_t *n)
{
    size_t cap = 1 << 16, w = 0;
    char *b = malloc(cap);
    const char *sep[] = {" ", "\n", "\r\n", "\t", "  ", "\x00", "\xff"};
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof found / sizeof *found; i++) {
            size_t k = strlen(found[i].text);
            memcpy(b + w, found[i].text, k);
            w += k;
            const char *s = sep[(i + (size_t)round) % 7];
            size_t sl = *s ? strlen(s) : 1;
            memcpy(b + w, s, sl);
            w += sl;
        }
        for (size_t i = 0; i < sizeof not_found / sizeof *not_found; i++) {
            size_t k = strlen(not_found[i].text);
            memcpy(b + w, not_found[i].text, k);
            w += k;
            b[w++] = i % 3 ? ' ' : '\n';
        }
    }
    /* values glued to each other, without a blank between */
    const char *glued = "1.2.3.4,5.6.7.8;http://evil.com/a,http://evil.com/b|joe@evil.com<x>"
                        "aHR0cDovL2V2aWwuY29tL3BhdGg=&#x68;ttp://c.evil.com/";
    memcpy(b + w, glued, strlen(glued));
    w += strlen(glued);
    assert_true(w < cap);
    *n = w;
    return b;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static char *random_feed(const st_ioc_engine *e, const char *p, size_t n, unsigned flags,
                         size_t maxpiece)
{
    st_ioc_set *s = st_ioc_set_new(e);
    st_ioc_text *t = st_ioc_begin(s, "body", flags);
    for (size_t off = 0; off < n;) {
        size_t k = 1 + next_rand() % maxpiece;
        k = k > n - off ? n - off : k;
        st_ioc_feed(t, (const uint8_t *)p + off, k);
        off += k;
    }
    st_ioc_end(t);
    json_t *j = st_ioc_set_json(s);
    char *out = j ? json_dumps(j, JSON_COMPACT) : strdup("null");
    json_decref(j);
    st_ioc_set_free(s);
    return out;
}

static void test_every_split(void **state)
{
    (void)state;
    size_t n;
    char *text = mixed_text(&n);
    for (unsigned flags = 0; flags <= ST_IOC_HTML; flags += ST_IOC_HTML) {
        char *whole = feed_json(E, text, n, flags, 0);
        json_t *j = json_loads(whole, 0, NULL);
        assert_true(count(j, "url") > 40); /* the text has values to lose */
        json_decref(j);
        for (size_t piece = 1; piece <= 300; piece++) {
            char *d = feed_json(E, text, n, flags, piece);
            if (strcmp(d, whole) != 0)
                fail_msg("pieces of %zu bytes (flags %u) differ:\n%s\n%s", piece, flags, d, whole);
            free(d);
        }
        for (int r = 0; r < 200; r++) {
            char *d = random_feed(E, text, n, flags, r % 2 ? 9 : 2000);
            assert_string_equal(d, whole);
            free(d);
        }
        free(whole);
    }
    free(text);
}

/* A run longer than the window without a break: cut at the same bytes
 * whatever the pieces (and a value there is at most ST_IOC_VALUE_MAX). */
static void test_long_run(void **state)
{
    (void)state;
    size_t n = 3 * ST_IOC_WINDOW + 1234;
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = "abcdefgh"[i % 8];
    const char *u = "=http://evil.com/";
    for (size_t at = 100; at + 40 < n; at += 9973)
        memcpy(b + at, u, strlen(u));
    memcpy(b + ST_IOC_WINDOW - 8, ",8.8.8.8,", 9); /* across the first cut */
    char *whole = feed_json(E, b, n, 0, 0);
    json_t *j = json_loads(whole, 0, NULL);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "url"), i, v)
    {
        assert_true(strlen(json_string_value(json_object_get(v, "value"))) <= ST_IOC_VALUE_MAX);
    }
    assert_true(count(j, "url") >= 1);
    json_decref(j);
    const size_t pieces[] = {1, 7, 4096, ST_IOC_WINDOW - 1, ST_IOC_WINDOW, ST_IOC_WINDOW + 1};
    for (size_t k = 0; k < sizeof pieces / sizeof *pieces; k++) {
        char *d = feed_json(E, b, n, 0, pieces[k]);
        if (strcmp(d, whole) != 0)
            fail_msg("pieces of %zu differ", pieces[k]);
        free(d);
    }
    for (int r = 0; r < 20; r++) {
        char *d = random_feed(E, b, n, 0, 100000);
        assert_string_equal(d, whole);
        free(d);
    }
    free(whole);
    free(b);
}

/* --------------------------------------------------------- the analyzer */

typedef struct {
    const char *allow, *max, *max_bytes;
} opts;

static const char *getter(void *ctx, const char *name)
{
    const opts *o = ctx;
    if (!strcmp(name, "ioc_allowlist"))
        return o->allow;
    if (!strcmp(name, "ioc_max"))
        return o->max;
    if (!strcmp(name, "ioc_max_bytes"))
        return o->max_bytes;
    return NULL;
}

static json_t *analyze(const st_file_kind *k, const char *ctype, const void *p, size_t n,
                       json_t *anomalies)
{
    st_file *f = st_file_open(k);
    assert_non_null(f);
    for (size_t off = 0; off < n; off += 777)
        st_file_write(f, (const uint8_t *)p + off, n - off < 777 ? n - off : 777);
    assert_int_equal(st_file_close(f), 0);
    json_t *e = json_object();
    if (ctype)
        json_object_set_new(e, "content_type", json_string(ctype));
    json_object_set_new(e, "mime_path", json_string("1.2"));
    st_file_report(f, e, anomalies);
    st_file_free(f);
    json_t *iocs = json_incref(json_object_get(e, "iocs"));
    json_decref(e);
    return iocs;
}

static void test_analyzer(void **state)
{
    (void)state;
    char err[512];
    st_file_kind k;
    opts o = {NULL, NULL, NULL};
    assert_int_equal(st_file_kind_init(&k, NULL, 1 << 20, "iocs", err, sizeof err), 0);
    assert_int_equal(st_analyzer_setup(k.chain, k.nchain, getter, &o, err, sizeof err), 0);
    const char *text = "beacon to hxxp://c2[.]evil-bank[.]com:8080/gate.php and 198.51.100.99\n";
    json_t *an = json_array();
    json_t *i = analyze(&k, "text/plain", text, strlen(text), an);
    assert_true(has(i, "url", "http://c2.evil-bank.com:8080/gate.php"));
    assert_true(has(i, "ipv4", "198.51.100.99"));
    assert_string_equal(
        json_string_value(json_array_get(
            json_object_get(json_array_get(json_object_get(i, "ipv4"), 0), "where"), 0)),
        "attachment");
    json_decref(i);
    /* not declared text, but valid UTF-8 */
    const char *utf8 = "caf\xc3\xa9 \xe2\x82\xac 198.51.100.99\n";
    i = analyze(&k, "application/octet-stream", utf8, strlen(utf8), an);
    assert_true(has(i, "ipv4", "198.51.100.99"));
    json_decref(i);
    /* nothing found in text: {} */
    i = analyze(&k, "application/octet-stream", "hello", 5, an);
    assert_true(json_is_object(i) && json_object_size(i) == 0);
    json_decref(i);
    /* binary: a NUL byte */
    unsigned char bin[400];
    memcpy(bin, "MZ\x00\x01", 4);
    memcpy(bin + 4, text, strlen(text));
    for (int b = 0; b < 256; b++)
        bin[4 + strlen(text) + (size_t)b] = (unsigned char)b;
    size_t bn = 4 + strlen(text) + 256;
    i = analyze(&k, "application/octet-stream", bin, bn, an);
    assert_true(json_is_null(i));
    json_decref(i);
    /* declared text: searched up to the NUL */
    unsigned char tn[200];
    size_t tl = strlen(text);
    memcpy(tn, text, tl);
    tn[tl] = 0;
    memcpy(tn + tl + 1, "8.8.8.8", 7);
    i = analyze(&k, "TEXT/html", tn, tl + 8, an);
    assert_true(has(i, "ipv4", "198.51.100.99"));
    assert_false(has(i, "ipv4", "8.8.8.8"));
    json_decref(i);
    /* invalid UTF-8 (Latin-1), no Content-Type: not text */
    i = analyze(&k, NULL, "caf\xe9 198.51.100.99", 19, an);
    assert_true(json_is_null(i));
    json_decref(i);
    /* mostly control bytes in the first 8 KiB: binary */
    char *ctl = malloc(9000);
    for (size_t x = 0; x < 9000; x++)
        ctl[x] = x % 2 ? '\x01' : 'a';
    memcpy(ctl + 8500, " 8.8.8.8 ", 9);
    i = analyze(&k, "text/plain", ctl, 9000, an); /* declared text: what came before the test */
    assert_false(has(i, "ipv4", "8.8.8.8"));
    json_decref(i);
    i = analyze(&k, NULL, ctl, 9000, an);
    assert_true(json_is_null(i));
    json_decref(i);
    free(ctl);
    assert_int_equal(json_array_size(an), 0);
    st_analyzer_teardown(k.chain, k.nchain);

    /* caps: anomalies with the counts */
    opts cap = {"", "2", "40"};
    assert_int_equal(st_analyzer_setup(k.chain, k.nchain, getter, &cap, err, sizeof err), 0);
    const char *many = "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 and more bytes after the cap";
    i = analyze(&k, "text/plain", many, strlen(many), an);
    assert_int_equal(count(i, "ipv4"), 2);
    json_decref(i);
    assert_int_equal(json_array_size(an), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(an, 0), "name")),
                        "too_many_iocs");
    assert_string_equal(json_string_value(json_object_get(json_array_get(an, 0), "detail")),
                        "2 more not kept"); /* 192.0.2.4 ends at byte 39: searched */
    assert_string_equal(json_string_value(json_object_get(json_array_get(an, 0), "mime_path")),
                        "1.2");
    assert_string_equal(json_string_value(json_object_get(json_array_get(an, 1), "name")),
                        "ioc_bytes_unscanned");
    char d[64];
    snprintf(d, sizeof d, "%zu bytes not scanned", strlen(many) - 40);
    assert_string_equal(json_string_value(json_object_get(json_array_get(an, 1), "detail")), d);
    json_decref(an);
    st_analyzer_teardown(k.chain, k.nchain);

    /* bad options fail setup with a message */
    opts badnum = {NULL, "ten", NULL};
    assert_int_equal(st_analyzer_setup(k.chain, k.nchain, getter, &badnum, err, sizeof err), -1);
    assert_non_null(strstr(err, "ioc_max"));
    char *path = write_tmp("ok.com\nnot valid\n");
    opts badallow = {path, NULL, NULL};
    assert_int_equal(st_analyzer_setup(k.chain, k.nchain, getter, &badallow, err, sizeof err), -1);
    char want[64];
    snprintf(want, sizeof want, "%s:2", path);
    assert_non_null(strstr(err, want));
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_found),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_exact_output),
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_ipv6_canonical),
        cmocka_unit_test(test_encoded_urls),
        cmocka_unit_test(test_html_flag),
        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_dedup_and_where),
        cmocka_unit_test(test_max_iocs),
        cmocka_unit_test(test_max_bytes),
        cmocka_unit_test(test_allowlist),
        cmocka_unit_test(test_allowlist_errors),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_long_run),
        cmocka_unit_test(test_analyzer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
