/*
 * test_ioc.c - the IOC engine (analyze/ioc.c, ioc_match.c, ioc_allow.c).
 *
 * Truth: a table of texts and the values each must (and must not) yield,
 * written here from the forms stoQ's iocextract worker and InQuest
 * iocextract document (defanged dots, schemes and at-signs; refanged
 * output; octet-checked IPv4 without CIDR suffixes; inet_pton IPv6; hex
 * runs of exact lengths) and from facts of the public suffix list
 * (com, net, org, co.uk and io are suffixes; pdf, doc, local, invalid,
 * test and example are not). IPv6 values are compared with inet_ntop's
 * form of the written address. Every text is also fed in every split
 * (1..64 bytes, and byte by byte), which must give the same JSON as one
 * feed; the caps are checked at their value and one past.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze/ioc.h"

static st_ioc_engine *engine_with(const char *allow, size_t max, uint64_t bytes)
{
    st_ioc_config c;
    char err[256] = "";
    st_ioc_config_default(&c);
    c.allowlist = allow;
    if (max)
        c.max_iocs = max;
    if (bytes)
        c.max_bytes = bytes;
    st_ioc_engine *e = st_ioc_engine_new(&c, err, sizeof err);
    if (!e)
        fail_msg("engine: %s", err);
    return e;
}

/* The set's JSON for text fed in pieces of step bytes (0: at once). */
static char *run(st_ioc_engine *e, const char *text, size_t step, unsigned flags)
{
    st_ioc_set *s = st_ioc_set_new(e);
    st_ioc_text *t = st_ioc_begin(s, "body", flags);
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t k = step && step < n - i ? step : n - i;
        st_ioc_feed(t, (const uint8_t *)text + i, k);
        i += k;
    }
    st_ioc_end(t);
    json_t *j = st_ioc_set_json(s);
    char *out = j ? json_dumps(j, JSON_SORT_KEYS) : strdup("{}");
    json_decref(j);
    st_ioc_set_free(s);
    return out;
}

/* Whether the JSON lists value under type. */
static int has(const char *json, const char *type, const char *value)
{
    json_t *j = json_loads(json, 0, NULL);
    json_t *l = json_object_get(j, type);
    int found = 0;
    for (size_t i = 0; i < json_array_size(l); i++)
        found |=
            strcmp(json_string_value(json_object_get(json_array_get(l, i), "value")), value) == 0;
    json_decref(j);
    return found;
}

typedef struct {
    const char *text, *type, *value;
    int yes; /* 1: must be found, 0: must not */
} ioc_case;

static const ioc_case cases[] = {
    /* URLs, plain and defanged, refanged; trailing punctuation is not theirs */
    {"see http://evil.example.com/a/b?c=1.", "url", "http://evil.example.com/a/b?c=1", 1},
    {"hxxp://evil[.]example[.]com/x", "url", "http://evil.example.com/x", 1},
    {"HXXPS://Evil.Example.COM/Path", "url", "https://evil.example.com/Path", 1},
    {"hxxps[://]login(.)bank{.}co[.]uk/", "url", "https://login.bank.co.uk/", 1},
    {"https[:]//a[dot]example[dot]net/p", "url", "https://a.example.net/p", 1},
    {"fxp://files.example.org/x.zip", "url", "ftp://files.example.org/x.zip", 1},
    {"(http://example.com/q)", "url", "http://example.com/q", 1},
    {"http://en.wikipedia.org/wiki/A_(b)", "url", "http://en.wikipedia.org/wiki/A_(b)", 1},
    {"http://198.51.100.7:8080/gate.php", "url", "http://198.51.100.7:8080/gate.php", 1},
    {"http://[2001:db8::1]/x", "url", "http://[2001:db8::1]/x", 1},
    {"http://user@evil.example.com/", "url", "http://user@evil.example.com/", 1},
    {"http://report.pdf/x", "url", "http://report.pdf/x", 0},
    {"http://intranet/x", "url", "http://intranet/x", 0},
    {"http%3A%2F%2Fevil.example.com%2Fenc", "url", "http://evil.example.com/enc", 1},
    /* base64 of "go to http://b64.example.com/x now" */
    {"Z28gdG8gaHR0cDovL2I2NC5leGFtcGxlLmNvbS94IG5vdw==", "url", "http://b64.example.com/x", 1},
    /* domains: a suffix from the list, a registrable part */
    {"mail evil.example.com today", "domain", "evil.example.com", 1},
    {"bad[.]example[.]org", "domain", "bad.example.org", 1},
    {"x(dot)example(dot)io", "domain", "x.example.io", 1},
    {"read report.pdf and invoice.doc", "domain", "report.pdf", 0},
    {"read report.pdf and invoice.doc", "domain", "invoice.doc", 0},
    {"host printer.local", "domain", "printer.local", 0},
    {"name example.invalid", "domain", "example.invalid", 0},
    {"only co.uk", "domain", "co.uk", 0},
    {"version 1.2.3.4.5", "domain", "1.2.3.4.5", 0},
    {"xn--bcher-kva.example.com", "domain", "xn--bcher-kva.example.com", 1},
    /* IPv4: octets, defangs, no CIDR, not inside a longer run */
    {"from 198.51.100.23 via", "ipv4", "198.51.100.23", 1},
    {"from 198[.]51[.]100[.]24", "ipv4", "198.51.100.24", 1},
    {"from 198(.)51(.)100(.)25", "ipv4", "198.51.100.25", 1},
    {"[203.0.113.7]", "ipv4", "203.0.113.7", 1},
    {"version 1.2.3.4.5", "ipv4", "1.2.3.4", 0},
    {"version 1.2.3.4.5", "ipv4", "2.3.4.5", 0},
    {"net 10.0.0.0/24", "ipv4", "10.0.0.0", 0},
    {"bad 999.1.1.1", "ipv4", "999.1.1.1", 0},
    {"bad 256.1.1.1", "ipv4", "256.1.1.1", 0},
    {"octal 010.1.1.1", "ipv4", "010.1.1.1", 0},
    /* IPv6: inet_pton's, written back as inet_ntop writes it */
    {"addr 2001:DB8:0:0:0:0:0:1 end", "ipv6", "2001:db8::1", 1},
    {"addr fe80::1%", "ipv6", "fe80::1", 1},
    {"time 12:30:45", "ipv6", "12:30:45", 0},
    {"C++ std::vector and ::", "ipv6", "::", 0},
    /* e-mail addresses */
    {"write to support@evil-bank.com.", "email", "support@evil-bank.com", 1},
    {"write to support[at]evil-bank[.]com", "email", "support@evil-bank.com", 1},
    {"write to Bob(at)Example.COM", "email", "Bob@example.com", 1},
    {"write to a{@}example.net", "email", "a@example.net", 1},
    {"write to root@localhost", "email", "root@localhost", 0},
    {"write to a@report.pdf", "email", "a@report.pdf", 0},
    /* digests: exact lengths, not inside longer runs */
    {"md5 D41D8CD98F00B204E9800998ECF8427E", "md5", "d41d8cd98f00b204e9800998ecf8427e", 1},
    {"sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1",
     "da39a3ee5e6b4b0d3255bfef95601890afd80709", 1},
    {"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 1},
    {"33 d41d8cd98f00b204e9800998ecf8427ef", "md5", "d41d8cd98f00b204e9800998ecf8427e", 0},
    {"id_d41d8cd98f00b204e9800998ecf8427e", "md5", "d41d8cd98f00b204e9800998ecf8427e", 0},
    /* MAC addresses: one separator throughout */
    {"mac 00:1A:2b:3c:4d:5e.", "mac_address", "00:1a:2b:3c:4d:5e", 1},
    {"mac 00-1a-2b-3c-4d-5e", "mac_address", "00:1a:2b:3c:4d:5e", 1},
    {"mac 00:1a-2b:3c:4d:5e", "mac_address", "00:1a:2b:3c:4d:5e", 0},
};

static void test_table(void **state)
{
    (void)state;
    st_ioc_engine *e = engine_with(NULL, 0, 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *j = run(e, cases[i].text, 0, 0);
        if (has(j, cases[i].type, cases[i].value) != cases[i].yes)
            fail_msg("%s: %s %s expected %s; got %s", cases[i].text, cases[i].type, cases[i].value,
                     cases[i].yes ? "found" : "not found", j);
        free(j);
    }
    st_ioc_engine_free(e);
}

static void test_html_attributes(void **state)
{
    (void)state;
    st_ioc_engine *e = engine_with(NULL, 0, 0);
    const char *html =
        "<a href=\"http://phish.example.net/a?x=1&amp;y=2\">x</a>"
        "<img src='&#104;ttps://cdn.example.org/p.gif'><a href=hxxp://u.example.com/>";
    char *j = run(e, html, 0, ST_IOC_HTML);
    assert_true(has(j, "url", "http://phish.example.net/a?x=1&y=2"));
    assert_false(has(j, "url", "http://phish.example.net/a?x=1&amp;y=2"));
    assert_true(has(j, "url", "https://cdn.example.org/p.gif"));
    assert_true(has(j, "url", "http://u.example.com/"));
    free(j);
    j = run(e, html, 0, 0); /* not HTML: no entity decoding, no attributes */
    assert_false(has(j, "url", "https://cdn.example.org/p.gif"));
    free(j);
    st_ioc_engine_free(e);
}

/* Each value once per type, in first-seen order, with every text it was
 * found in, in order. */
static void test_dedup_and_where(void **state)
{
    (void)state;
    st_ioc_engine *e = engine_with(NULL, 0, 0);
    st_ioc_set *s = st_ioc_set_new(e);
    const char *a = "198.51.100.1 198.51.100.2 198.51.100.1", *b = "198.51.100.2 198.51.100.3";
    st_ioc_text *t = st_ioc_begin(s, "received", 0);
    st_ioc_feed(t, (const uint8_t *)a, strlen(a));
    st_ioc_end(t);
    t = st_ioc_begin(s, "body", 0);
    st_ioc_feed(t, (const uint8_t *)b, strlen(b));
    st_ioc_end(t);
    json_t *j = st_ioc_set_json(s);
    char *out = json_dumps(j, JSON_COMPACT);
    assert_string_equal(out, "{\"ipv4\":[{\"value\":\"198.51.100.1\",\"where\":[\"received\"]},"
                             "{\"value\":\"198.51.100.2\",\"where\":[\"received\",\"body\"]},"
                             "{\"value\":\"198.51.100.3\",\"where\":[\"body\"]}]}");
    free(out);
    json_decref(j);
    st_ioc_set_free(s);
    st_ioc_engine_free(e);
}

/* Any split gives what one feed gives: a text larger than the window, with
 * values across every boundary the feeds make. */
static void test_every_split(void **state)
{
    (void)state;
    st_ioc_engine *e = engine_with(NULL, 0, 0);
    size_t cap = 3 * ST_IOC_WINDOW;
    char *text = malloc(cap + 1);
    size_t n = 0;
    for (int i = 0; n + 200 < cap; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "line %d hxxp://h%d[.]example[.]com/p?%d 198.51.%d.%d "
                              "u%d@example.org %032x\n",
                              i, i % 50, i, i % 256, (i * 7) % 256, i % 40, i);
    text[n] = 0;
    char *whole = run(e, text, 0, 0);
    assert_true(has(whole, "url", "http://h7.example.com/p?7"));
    for (size_t step = 1; step <= 64; step += step < 8 ? 1 : 13) {
        char *parts = run(e, text, step, 0);
        if (strcmp(parts, whole) != 0)
            fail_msg("feeding %zu bytes at a time differs", step);
        free(parts);
    }
    char *odd = run(e, text, 4093, 0);
    assert_string_equal(odd, whole);
    free(odd);
    free(whole);
    free(text);
    st_ioc_engine_free(e);
}

static size_t count_values(const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    const char *k;
    json_t *v;
    size_t n = 0;
    json_object_foreach(j, k, v) n += json_array_size(v);
    json_decref(j);
    return n;
}

static void test_caps(void **state)
{
    (void)state;
    const char *text = "198.51.100.1 198.51.100.2 198.51.100.3 198.51.100.4";
    uint64_t dropped, unscanned;
    for (size_t max = 3; max <= 4; max++) {
        st_ioc_engine *e = engine_with(NULL, max, 0);
        st_ioc_set *s = st_ioc_set_new(e);
        st_ioc_text *t = st_ioc_begin(s, "body", 0);
        st_ioc_feed(t, (const uint8_t *)text, strlen(text));
        st_ioc_end(t);
        json_t *j = st_ioc_set_json(s);
        char *out = json_dumps(j, 0);
        assert_int_equal(count_values(out), max);
        st_ioc_set_counts(s, &dropped, &unscanned);
        assert_int_equal(dropped, 4 - max);
        free(out);
        json_decref(j);
        st_ioc_set_free(s);
        st_ioc_engine_free(e);
    }
    st_ioc_engine *e = engine_with(NULL, 0, 13); /* "198.51.100.1 " */
    st_ioc_set *s = st_ioc_set_new(e);
    st_ioc_text *t = st_ioc_begin(s, "body", 0);
    st_ioc_feed(t, (const uint8_t *)text, strlen(text));
    st_ioc_end(t);
    st_ioc_set_counts(s, &dropped, &unscanned);
    assert_int_equal(unscanned, strlen(text) - 13);
    json_t *j = st_ioc_set_json(s);
    char *out = json_dumps(j, JSON_COMPACT);
    assert_string_equal(out, "{\"ipv4\":[{\"value\":\"198.51.100.1\",\"where\":[\"body\"]}]}");
    free(out);
    json_decref(j);
    st_ioc_set_free(s);
    st_ioc_engine_free(e);
}

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/smtptap-ioc-allow-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_allowlist(void **state)
{
    (void)state;
    char *p = write_tmp("# known good\n\n10.0.0.0/8\nipv4:198.51.100.0/24\n"
                        "example.org\n.example.net\nmd5:d41d8cd98f00b204e9800998ecf8427e\n"
                        "2001:db8::/32\nemail:boss@example.com\n");
    st_ioc_engine *e = engine_with(p, 0, 0);
    char *j = run(e,
                  "10.1.2.3 198.51.100.9 203.0.113.9 example.org a.example.org example.net "
                  "b.example.net c.example.com d41d8cd98f00b204e9800998ecf8427e 2001:db8::5 "
                  "2001:db9::5 boss@example.com bob@example.com http://10.9.9.9/x "
                  "http://www.example.org/y http://c.example.com/z",
                  0, 0);
    assert_false(has(j, "ipv4", "10.1.2.3"));
    assert_false(has(j, "ipv4", "198.51.100.9"));
    assert_true(has(j, "ipv4", "203.0.113.9"));
    assert_false(has(j, "domain", "example.org"));
    assert_false(has(j, "domain", "a.example.org"));
    assert_true(has(j, "domain", "example.net")); /* .example.net: subdomains only */
    assert_false(has(j, "domain", "b.example.net"));
    assert_true(has(j, "domain", "c.example.com"));
    assert_false(has(j, "md5", "d41d8cd98f00b204e9800998ecf8427e"));
    assert_false(has(j, "ipv6", "2001:db8::5"));
    assert_true(has(j, "ipv6", "2001:db9::5"));
    assert_false(has(j, "email", "boss@example.com"));
    assert_true(has(j, "email", "bob@example.com"));
    assert_false(has(j, "url", "http://10.9.9.9/x"));
    assert_false(has(j, "url", "http://www.example.org/y"));
    assert_true(has(j, "url", "http://c.example.com/z"));
    free(j);
    st_ioc_engine_free(e);
    unlink(p);
    free(p);
}

static void test_broken_allowlist(void **state)
{
    (void)state;
    char *p = write_tmp("10.0.0.0/8\n# fine\nipv4:999.1.1.1/99\n");
    st_ioc_config c;
    char err[512] = "", want[600];
    st_ioc_config_default(&c);
    c.allowlist = p;
    assert_null(st_ioc_engine_new(&c, err, sizeof err));
    snprintf(want, sizeof want, "%s:3:", p);
    assert_non_null(strstr(err, want));
    c.allowlist = "/nonexistent/allow.txt";
    assert_null(st_ioc_engine_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/allow.txt"));
    c.allowlist = NULL;
    c.psl_file = "/nonexistent/psl.dat";
    assert_null(st_ioc_engine_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "public suffix"));
    unlink(p);
    free(p);
}

/* Bytes that are not text: NULs, invalid UTF-8, CRs; nothing read past,
 * every value ASCII. */
static void test_hostile_bytes(void **state)
{
    (void)state;
    st_ioc_engine *e = engine_with(NULL, 0, 0);
    st_ioc_set *s = st_ioc_set_new(e);
    st_ioc_text *t = st_ioc_begin(s, "attachment", ST_IOC_HTML);
    uint8_t b[70000];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(i * 131 + (i >> 7));
    memcpy(b + 5000, " http://x.example.com/\xff\x00 ", 25);
    st_ioc_feed(t, b, sizeof b);
    st_ioc_end(t);
    json_t *j = st_ioc_set_json(s);
    char *out = json_dumps(j, JSON_ENSURE_ASCII);
    assert_true(has(out, "url", "http://x.example.com/"));
    free(out);
    json_decref(j);
    st_ioc_set_free(s);
    st_ioc_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_html_attributes),
        cmocka_unit_test(test_dedup_and_where),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_allowlist),
        cmocka_unit_test(test_broken_allowlist),
        cmocka_unit_test(test_hostile_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
