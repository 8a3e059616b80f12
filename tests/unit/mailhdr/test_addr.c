/*
 * test_hdr_addr.c - address-list headers and SMTP path arguments.
 *
 * The Zeek case is the To/From of zeek/smtp-multi-addr (read from the capture);
 * expected.json lists the addresses Zeek found in it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailhdr/mailhdr.h"

static struct st_hdr_addr A[64];
static unsigned LF;

static size_t parse(const char *s)
{
    LF = 0;
    memset(A, 0x5a, sizeof(A));
    return st_hdr_addrs_parse(s, strlen(s), A, 64, &LF);
}

static void check(size_t i, const char *name, const char *addr, const char *group)
{
    assert_string_equal(A[i].name, name);
    assert_string_equal(A[i].addr, addr);
    assert_string_equal(A[i].group, group);
}

static void zeek_multi_addr(void **st)
{
    (void)st;
    assert_int_equal(parse("\"Jan Grashoefer\" <jan.grashoefer@gmail.com>,\r\n        \"Test "
                           "Group\":addr-spec@example.com, <angle-addr@example.com>,\r\n        "
                           "\"Test Member\" <name-addr@example.com>;, jan.grashofer@cern.ch"),
                     5);
    check(0, "Jan Grashoefer", "jan.grashoefer@gmail.com", "");
    check(1, "", "addr-spec@example.com", "Test Group");
    check(2, "", "angle-addr@example.com", "Test Group");
    check(3, "Test Member", "name-addr@example.com", "Test Group");
    check(4, "", "jan.grashofer@cern.ch", "");
    for (int i = 0; i < 5; i++)
        assert_int_equal(A[i].flags, 0);
    assert_int_equal(LF, 0);
    assert_int_equal(parse("jan.grashoefer@cern.ch (Jan Grashoefer)"), 1);
    check(0, "Jan Grashoefer", "jan.grashoefer@cern.ch", "");
}

static void basic_forms(void **st)
{
    (void)st;
    assert_int_equal(parse("a@b.example"), 1);
    check(0, "", "a@b.example", "");
    assert_int_equal(parse("John Doe <jdoe@example.com>"), 1);
    check(0, "John Doe", "jdoe@example.com", "");
    assert_int_equal(A[0].flags, 0);
    assert_int_equal(parse("<x@y>"), 1);
    check(0, "", "x@y", "");
    assert_int_equal(parse("J. Q.  Public <jqp@example.com>"), 1);
    check(0, "J. Q. Public", "jqp@example.com", "");
    assert_int_equal(parse("  \"Doe, John\" <j@x>, 'single' <s@x>"), 2);
    check(0, "Doe, John", "j@x", "");
    check(1, "'single'", "s@x", "");
}

static void quoting_and_comments(void **st)
{
    (void)st;
    assert_int_equal(parse("\"a \\\"b\\\" c\" <q@x>"), 1);
    check(0, "a \"b\" c", "q@x", "");
    assert_int_equal(parse("\"john doe\"@example.com"), 1);
    check(0, "", "\"john doe\"@example.com", "");
    assert_int_equal(parse("<\"odd,<>\"@x.example>"), 1);
    check(0, "", "\"odd,<>\"@x.example", "");
    /* comments anywhere, nested; first comment is the name of a bare address */
    assert_int_equal(parse("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"), 1);
    check(0, "Pete", "pete@silly.test", "");
    assert_int_equal(parse("j@x (Jo (the) Doe), k@y"), 2);
    check(0, "Jo (the) Doe", "j@x", "");
    check(1, "", "k@y", "");
    assert_int_equal(parse("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"), 3);
    check(2, "Who?", "one@y.test", "");
    /* RFC 5322 A.5 */
    assert_int_equal(parse("(\"Joe Q. Public\" <john.q.public@example.com>) c@d"), 1);
    check(0, "\"Joe Q. Public\" <john.q.public@example.com>", "c@d", "");
    /* domain literal */
    assert_int_equal(parse("root@[192.0.2.1], <u@[IPv6:2001:db8::1]>"), 2);
    check(0, "", "root@[192.0.2.1]", "");
    check(1, "", "u@[IPv6:2001:db8::1]", "");
}

static void groups(void **st)
{
    (void)st;
    assert_int_equal(parse("undisclosed-recipients:;"), 1);
    check(0, "", "", "undisclosed-recipients");
    assert_int_equal(A[0].flags, ST_HDR_A_EMPTY_GROUP);
    assert_int_equal(parse("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, x@y"),
                     4);
    check(0, "Ed Jones", "c@a.test", "A Group");
    check(1, "", "joe@where.test", "A Group");
    check(2, "John", "jdoe@one.test", "A Group");
    check(3, "", "x@y", "");
    assert_int_equal(parse("Undisclosed recipients: ;"), 1);
    check(0, "", "", "Undisclosed recipients");
    /* unterminated group */
    assert_int_equal(parse("team: a@x, b@x"), 2);
    check(1, "", "b@x", "team");
}

static void obsolete_route(void **st)
{
    (void)st;
    assert_int_equal(parse("Joe <@relay1.test,@relay2.test:joe@final.test>, x@y"), 2);
    check(0, "Joe", "joe@final.test", "");
    assert_int_equal(A[0].flags, ST_HDR_A_ROUTE);
    check(1, "", "x@y", "");
}

static void encoded_names(void **st)
{
    (void)st;
    assert_int_equal(parse("=?utf-8?q?J=C3=B6rg?= Doe <j@x>, \"=?iso-8859-1?Q?Andr=E9?=\" <a@x>"),
                     2);
    check(0, "J\xc3\xb6rg Doe", "j@x", "");
    check(1, "Andr\xc3\xa9", "a@x", "");
    assert_int_equal(parse("k@x (=?utf-8?b?w6k=?=)"), 1);
    check(0, "\xc3\xa9", "k@x", "");
    /* raw 8-bit latin-1 name and UTF-8 address (SMTPUTF8) */
    assert_int_equal(parse("Andr\xe9 <\xc3\xa9@x>"), 1);
    check(0, "Andr\xc3\xa9", "\xc3\xa9@x", "");
    assert_true(A[0].flags & ST_HDR_A_NAME_FLAGS);
    /* invalid bytes in an address become U+FFFD */
    assert_int_equal(parse("<\xff@x>"), 1);
    check(0, "", "\xef\xbf\xbd@x", "");
}

static void malformed(void **st)
{
    (void)st;
    assert_int_equal(parse(",, ,a@b,,"), 1);
    check(0, "", "a@b", "");
    assert_int_equal(parse("John Doe j@x"), 1);
    check(0, "", "j@x", "");
    assert_true(A[0].flags & ST_HDR_A_JUNK);
    assert_int_equal(parse("j@x trailing words"), 1);
    check(0, "", "j@x", "");
    assert_true(A[0].flags & ST_HDR_A_JUNK);
    assert_int_equal(parse("Name <a@b"), 1);
    check(0, "Name", "a@b", "");
    assert_true(A[0].flags & ST_HDR_A_UNTERM);
    assert_int_equal(parse("\"unterminated <a@b>"), 1);
    assert_true(A[0].flags & ST_HDR_A_UNTERM);
    assert_int_equal(parse("(open comment a@b"), 0);
    assert_int_equal(parse("<a@b> <c@d>"), 1);
    check(0, "", "a@b", "");
    assert_true(A[0].flags & ST_HDR_A_JUNK);
    assert_int_equal(parse("localuser"), 1);
    check(0, "", "localuser", "");
    assert_int_equal(A[0].flags, ST_HDR_A_NO_AT);
    assert_int_equal(parse("Nobody <>"), 1);
    check(0, "Nobody", "", "");
    assert_true(A[0].flags & ST_HDR_A_NO_AT);
    assert_int_equal(parse(">>>;;;:::<<<"), 1);
    assert_int_equal(parse(""), 0);
    assert_int_equal(parse("a@b\r\n\t, c@d"), 2);
    check(1, "", "c@d", "");
}

static void caps(void **st)
{
    (void)st;
    /* 1100 addresses, cap 1000 (Zeek's max_to_addresses) */
    size_t len = 1100 * 12;
    char *big = malloc(len + 1), *p = big;
    for (int i = 0; i < 1100; i++)
        p += sprintf(p, "u%04d@x.io, ", i);
    unsigned fl = 0;
    size_t n = st_hdr_addrs_foreach(big, (size_t)(p - big), 1000, NULL, NULL, &fl);
    assert_int_equal(n, 1000);
    assert_int_equal(fl, ST_HDR_AL_TOO_MANY);
    free(big);

    /* overlong name and address are cut, still valid UTF-8 */
    char in[4000];
    p = in;
    *p++ = '"';
    for (int i = 0; i < 600; i++)
        p += sprintf(p, "\xc3\xa9");
    p += sprintf(p, "\" <");
    memset(p, 'a', 500);
    p += 500;
    strcpy(p, "@x>");
    assert_int_equal(parse(in), 1);
    assert_true(A[0].flags & ST_HDR_A_NAME_CUT);
    assert_true(A[0].flags & ST_HDR_A_ADDR_CUT);
    assert_true(strlen(A[0].name) < ST_HDR_NAME_MAX);
    assert_true(st_charset_utf8_valid(A[0].name, strlen(A[0].name)));
    assert_int_equal(strlen(A[0].addr), ST_HDR_ADDR_MAX - 1);
}

static bool stop_after_two(const struct st_hdr_addr *a, void *ctx)
{
    (void)a;
    return ++*(int *)ctx < 2;
}

static void callback_stop(void **st)
{
    (void)st;
    int calls = 0;
    const char *s = "a@x, b@x, c@x";
    assert_int_equal(st_hdr_addrs_foreach(s, strlen(s), 100, stop_after_two, &calls, NULL), 2);
    assert_int_equal(calls, 2);
}

static void not_nul_terminated(void **st)
{
    (void)st;
    /* the parser must stop at len: "a@b" followed by garbage that is not passed */
    const char s[] = "a@bXXXX";
    assert_int_equal(st_hdr_addrs_parse(s, 3, A, 64, NULL), 1);
    assert_string_equal(A[0].addr, "a@b");
}

/* ------------------------------------------------------------ SMTP paths */

static const char *path(const char *arg, unsigned *fl)
{
    static char out[320];
    *fl = 0;
    size_t n = st_hdr_path_addr(arg, strlen(arg), out, sizeof(out), fl);
    assert_int_equal(n, strlen(out));
    return out;
}

static void smtp_paths(void **st)
{
    (void)st;
    unsigned fl;
    assert_string_equal(path("<a@b.example> SIZE=2058", &fl), "a@b.example");
    assert_int_equal(fl, 0);
    assert_string_equal(path("FROM:<root@gras-os-desk.cern.ch> SIZE=695", &fl),
                        "root@gras-os-desk.cern.ch");
    assert_string_equal(path("From: <x@y>", &fl), "x@y");
    assert_string_equal(path("TO:<aponcelet@shewa.intradef.gouv.fr> "
                             "ORCPT=rfc822;aponcelet@shewa.intradef.gouv.fr",
                             &fl),
                        "aponcelet@shewa.intradef.gouv.fr");
    /* arkime smtp-nospaces: "MAIL FROM:random@example.com" */
    assert_string_equal(path("FROM:random@example.com", &fl), "random@example.com");
    assert_int_equal(fl, ST_HDR_P_NO_ANGLE);
    assert_string_equal(path("TO:reciever@example.com", &fl), "reciever@example.com");
    assert_string_equal(path("<>", &fl), "");
    assert_int_equal(fl, ST_HDR_P_NULL);
    assert_string_equal(path("FROM:<> BODY=8BITMIME", &fl), "");
    assert_int_equal(fl, ST_HDR_P_NULL);
    assert_string_equal(path("<@r1.test,@r2.test:u@final.test>", &fl), "u@final.test");
    assert_int_equal(fl, ST_HDR_P_ROUTE);
    assert_string_equal(path("<\"a b>c\"@x> SIZE=1", &fl), "\"a b>c\"@x");
    assert_string_equal(path("< spaced@x >", &fl), "spaced@x");
    assert_string_equal(path("<unterminated@x SIZE=5", &fl), "unterminated@x");
    assert_int_equal(fl, ST_HDR_P_UNTERM);
    assert_string_equal(path("", &fl), "");
    assert_int_equal(fl, ST_HDR_P_NO_ANGLE | ST_HDR_P_EMPTY);
    assert_string_equal(path("<\xff@x>", &fl), "\xef\xbf\xbd@x");
    char small[4];
    fl = 0;
    assert_int_equal(st_hdr_path_addr("<abcdef@x>", 10, small, sizeof(small), &fl), 3);
    assert_string_equal(small, "abc");
    assert_int_equal(fl, ST_HDR_P_CUT);
}

static int teardown(void **st)
{
    (void)st;
    st_charset_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zeek_multi_addr),
        cmocka_unit_test(basic_forms),
        cmocka_unit_test(quoting_and_comments),
        cmocka_unit_test(groups),
        cmocka_unit_test(obsolete_route),
        cmocka_unit_test(encoded_names),
        cmocka_unit_test(malformed),
        cmocka_unit_test(caps),
        cmocka_unit_test(callback_stop),
        cmocka_unit_test(not_nul_terminated),
        cmocka_unit_test(smtp_paths),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
