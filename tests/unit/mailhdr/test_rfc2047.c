/*
 * test_hdr_decode.c - charset conversion and RFC 2047 header decoding.
 *
 * The arkime cases use the raw Subject values of the arkime smtp-subject-* captures
 * (read from the TCP payload) and the decoded subjects their expected.json states.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mailhdr/mailhdr.h"

static char buf[8192];

static const char *dec(const char *in, unsigned *fl)
{
    unsigned f = 0;
    size_t n = st_hdr_decode(in, strlen(in), buf, sizeof(buf), NULL, &f);
    assert_int_equal(n, strlen(buf));
    if (fl)
        *fl = f;
    return buf;
}

static void expect(const char *in, const char *want)
{
    assert_string_equal(dec(in, NULL), want);
}

static char *spaces(char *dst, const char *pre, int n, const char *post)
{
    size_t l = strlen(pre);
    memcpy(dst, pre, l);
    memset(dst + l, ' ', (size_t)n);
    strcpy(dst + l + (size_t)n, post);
    return dst;
}

/* ------------------------------------------------------------ arkime subjects */

static void arkime_8859_b(void **st)
{
    (void)st;
    expect(" =?iso-8859-1?B?dGVzdCDlIOkg7iD4IPw=?=", "test \xc3\xa5 \xc3\xa9 \xc3\xae \xc3\xb8 "
                                                     "\xc3\xbc");
}

static void arkime_8859_multi(void **st)
{
    (void)st;
    expect(" 4spaces    =?iso-8859-1?B?5SDpIO4g+CA=?= =?iso-8859-1?Q?=FC?=\r\n     5spaces",
           "4spaces    \xc3\xa5 \xc3\xa9 \xc3\xae \xc3\xb8 \xc3\xbc     5spaces");
}

static void arkime_8859_q(void **st)
{
    (void)st;
    char want[512], in[1024];
    const char *u57 = "_________________________________________________________";
    snprintf(in, sizeof(in),
             " =?iso-8859-1?Q?=E9_=EE_=F8_=FC____________?=\r\n =?iso-8859-1?Q?%s?=\r\n "
             "=?iso-8859-1?Q?%s?=\r\n =?iso-8859-1?Q?_____?= =?iso-8859-1?Q?_?=\r\n%53stest",
             u57, u57, "");
    spaces(want, "\xc3\xa9 \xc3\xae \xc3\xb8 \xc3\xbc", 185, "test");
    assert_string_equal(dec(in, NULL), want);
}

static void arkime_encoded_empty(void **st)
{
    (void)st;
    expect(
        " =?ISO-8859-1?B?Qw==?==?ISO-8859-1?B?YW4=?==?ISO-8859-1?B?IHRoaXMgMTAgU2Vjb25kIFRyaWNr"
        "IEhlbA==?==?ISO-8859-1?B?\?==?ISO-8859-1?B?cCBQcmV2ZW50IFlPVVIgSGVhcnQgQQ==?==?ISO-8859-"
        "1?B?dHRhY2s/?=",
        "Can this 10 Second Trick Help Prevent YOUR Heart Attack?");
}

static void arkime_gb2312_b(void **st)
{
    (void)st;
    expect(" =?gb2312?B?dGVzdCCy4srU?=", "test \xe6\xb5\x8b\xe8\xaf\x95");
}

static void arkime_multi_nospace(void **st)
{
    (void)st;
    expect(
        " xxxxxxxxxxxxx:=?UTF-8?Q?=20xxxx=C3=AAxx=20xx=C3=A9xxxxxxx?=\r\n  =?UTF-8?Q?xx=20xxx="
        "20xxx=20xxxxxxxxxx?=\r\n  =?UTF-8?Q?x=20xx=20xxxxxxxxxxxxxxx=20?==?UTF-8?Q?=2D=20xxxx?=",
        "xxxxxxxxxxxxx: xxxx\xc3\xaaxx xx\xc3\xa9xxxxxxx  xx xxx xxx xxxxxxxxxx  x xx "
        "xxxxxxxxxxxxxxx - xxxx");
}

static void arkime_utf8_mixed(void **st)
{
    (void)st;
    char want[1024], tail[512];
    const char *in =
        " =?utf-8?B?6L+Z5piv55So56m65qC85rWL6K+VICAg?=\r\n =?utf-8?Q?______________________________"
        "________________________________?=\r\n =?utf-8?Q?___________________________________"
        "______________=C3=A5_=C3=A9_?=\r\n =?utf-8?B?w64gw7ggw7wgICAgICAgICAgICAgICAgICAg?= "
        "=?utf-8?Q?_?=\r\n                                                          test";
    spaces(tail, "\xc3\xa5 \xc3\xa9 \xc3\xae \xc3\xb8 \xc3\xbc", 78, "test");
    spaces(want,
           "\xe8\xbf\x99\xe6\x98\xaf\xe7\x94\xa8\xe7\xa9\xba\xe6\xa0\xbc\xe6\xb5\x8b\xe8\xaf\x95",
           114, tail);
    assert_string_equal(dec(in, NULL), want);
}

static void arkime_utf8_q(void **st)
{
    (void)st;
    expect(" =?utf-8?q?xxxxxx_xxxxxx_xx_xxxxxxxxx_xx-xxxxxxx=EF=BC=88ANA=EF=BC=89GGL?=\r\n "
           "=?utf-8?q?=5Fxxxxxxxxxxxxx=5Fxxxxxx=2Ezip?=",
           "xxxxxx xxxxxx xx xxxxxxxxx xx-xxxxxxx\xef\xbc\x88"
           "ANA\xef\xbc\x89GGL_xxxxxxxxxxxxx_xxxxxx.zip");
}

static void arkime_windows(void **st)
{
    (void)st;
    unsigned fl;
    assert_string_equal(dec(" Awesome windows: See What\x92s Next in charset decoding!", &fl),
                        "Awesome windows: See What\xe2\x80\x99s Next in charset decoding!");
    assert_true(fl & ST_HDR_F_RAW_8BIT);
    assert_true(fl & ST_HDR_F_RAW_NOT_UTF8);
}

/* ------------------------------------------------------------ RFC 2047 rules */

static void rfc2047_examples(void **st)
{
    (void)st;
    /* RFC 2047 section 8 */
    expect("(=?ISO-8859-1?Q?a?=)", "(a)");
    expect("(=?ISO-8859-1?Q?a?= b)", "(a b)");
    expect("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)");
    expect("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(a  b)"); /* Arkime: run kept */
    expect("(=?ISO-8859-1?Q?a?=\r\n =?ISO-8859-1?Q?b?=)", "(ab)");
    expect("(=?ISO-8859-1?Q?a_b?=)", "(a b)");
    expect("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)");
    expect("=?US-ASCII?Q?Keith_Moore?=", "Keith Moore");
    expect("=?ISO-8859-1?Q?Olle_J=E4rnefors?=", "Olle J\xc3\xa4rnefors");
}

static void strict_ws(void **st)
{
    (void)st;
    struct st_hdr_decode_opts o = {.strict_ws = true};
    const char *in = "=?utf-8?q?a?=  \t =?utf-8?q?b?=";
    size_t n = st_hdr_decode(in, strlen(in), buf, sizeof(buf), &o, NULL);
    assert_int_equal(n, 2);
    assert_string_equal(buf, "ab");
}

static void lowercase_and_lang(void **st)
{
    (void)st;
    expect("=?utf-8?b?w6k=?=", "\xc3\xa9");
    expect("=?UTF-8*en?Q?caf=C3=A9?=", "caf\xc3\xa9");
    expect("=?utf-8*en-US?b?w6k=?= x", "\xc3\xa9 x");
}

static void missing_padding(void **st)
{
    (void)st;
    unsigned fl;
    expect("=?utf-8?B?w6k?=", "\xc3\xa9");              /* "w6k=" */
    expect("=?utf-8?B?dGVzdA?=", "test");               /* "dGVzdA==" */
    expect("=?utf-8?B?dGVzdA==dGVzdA==?=", "testtest"); /* concatenated base64 */
    assert_string_equal(dec("=?utf-8?B?dGVzd?=", &fl), "tes");
    assert_true(fl & ST_HDR_F_BAD_ENCODING);
}

static void glued_words(void **st)
{
    (void)st;
    unsigned fl;
    assert_string_equal(dec("foo=?utf-8?q?bar?=baz", &fl), "foobarbaz");
    assert_true(fl & ST_HDR_F_EW_ADJACENT);
    expect("=?utf-8?q?a?==?utf-8?q?b?=", "ab");
    expect("Re:=?utf-8?q?x?=", "Re:x");
}

static void split_multibyte(void **st)
{
    (void)st;
    unsigned fl;
    /* U+6D4B (E6 B5 8B) split after its first byte, B and Q words */
    assert_string_equal(dec("=?utf-8?B?5g==?= =?utf-8?B?tYs=?=", &fl), "\xe6\xb5\x8b");
    assert_false(fl & ST_HDR_F_INVALID);
    expect("=?UTF-8?Q?=E6=B5?=\r\n =?utf-8?Q?=8B!?=", "\xe6\xb5\x8b!");
    /* GB2312 "测试" = B2 E2 CA D4, split inside the first character */
    expect("=?gb2312?B?sg==?= =?gb2312?B?4srU?=", "\xe6\xb5\x8b\xe8\xaf\x95");
    /* charset change between the halves: both halves are invalid */
    assert_string_equal(dec("=?utf-8?B?5g==?= =?iso-8859-1?Q?x?=", &fl), "\xef\xbf\xbdx");
    assert_true(fl & ST_HDR_F_INVALID);
    /* literal text between the halves also ends the run */
    assert_string_equal(dec("=?utf-8?B?5g==?= - =?utf-8?B?tYs=?=", &fl),
                        "\xef\xbf\xbd - \xef\xbf\xbd\xef\xbf\xbd");
}

static void malformed(void **st)
{
    (void)st;
    unsigned fl;
    assert_string_equal(dec("=?utf-8?x?abc?= ok", &fl), "=?utf-8?x?abc?= ok");
    assert_true(fl & ST_HDR_F_MALFORMED_EW);
    expect("=?utf-8?q?abc", "=?utf-8?q?abc");
    expect("=?utf-8?q?abc?", "=?utf-8?q?abc?");
    expect("=??q?abc?=", "=??q?abc?=");
    expect("=?utf-8?b?@@@@?=", "=?utf-8?b?@@@@?=");
    expect("a =? b", "a =? b");
    expect("=?=?utf-8?q?x?=", "=?x");
    expect("=?", "=?");
    expect("=", "=");
    expect("", "");
    /* fold inside an encoded word: not an encoded word */
    expect("=?utf-8?q?a\r\n b?=", "=?utf-8?q?a b?=");
    /* bad QP escape kept */
    assert_string_equal(dec("=?utf-8?q?100=%_=zz?=", &fl), "100=% =zz");
    assert_true(fl & ST_HDR_F_BAD_ENCODING);
    /* charset names that are not tokens */
    expect("=?utf 8?q?a?=", "=?utf 8?q?a?=");
}

static void unknown_charset(void **st)
{
    (void)st;
    unsigned fl;
    assert_string_equal(dec("=?x-bogus-cs?q?caf=C3=A9?=", &fl), "caf\xc3\xa9");
    assert_true(fl & ST_HDR_F_UNKNOWN_CS);
    assert_string_equal(dec("=?x-unknown?q?caf=E9?=", &fl), "caf\xef\xbf\xbd");
    assert_true(fl & ST_HDR_F_INVALID);
    assert_string_equal(dec("=?../../etc/x?q?a?=", &fl), "=?../../etc/x?q?a?=");
}

static void raw_8bit(void **st)
{
    (void)st;
    unsigned fl;
    assert_string_equal(dec("Caf\xc3\xa9 ok", &fl), "Caf\xc3\xa9 ok");
    assert_true(fl & ST_HDR_F_RAW_8BIT);
    assert_false(fl & ST_HDR_F_RAW_NOT_UTF8);
    /* latin-1 byte, and windows-1252 hole 0x81 -> U+0081 (WHATWG) */
    expect("Caf\xe9 \x81", "Caf\xc3\xa9 \xc2\x81");
    struct st_hdr_decode_opts o = {.fallback_charset = "koi8-r"};
    size_t n = st_hdr_decode("\xf0\xd2\xc9", 3, buf, sizeof(buf), &o, NULL);
    assert_int_equal(n, 6);
    assert_string_equal(buf, "\xd0\x9f\xd1\x80\xd0\xb8"); /* "При" */
}

static void folding(void **st)
{
    (void)st;
    expect("  hello\r\n world  \r\n", "hello world");
    expect("a\r\n\tb", "a\tb");
}

static void nul_in_word(void **st)
{
    (void)st;
    size_t n = st_hdr_decode("=?utf-8?q?a=00b?=", 17, buf, sizeof(buf), NULL, NULL);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "a\0b", 3);
}

static void truncation(void **st)
{
    (void)st;
    char small[8];
    unsigned fl = 0;
    /* 3 x U+00E9 (2 bytes each) then x: cap 8 -> room 7 -> 3 chars (6 bytes) */
    size_t n =
        st_hdr_decode("=?utf-8?q?=C3=A9=C3=A9=C3=A9x?=", 31, small, sizeof(small), NULL, &fl);
    assert_int_equal(n, 7);
    assert_string_equal(small, "\xc3\xa9\xc3\xa9\xc3\xa9x");
    fl = 0;
    n = st_hdr_decode("=?utf-8?q?=C3=A9=C3=A9=C3=A9=C3=A9?=", 36, small, sizeof(small), NULL, &fl);
    assert_int_equal(n, 6);
    assert_true(fl & ST_HDR_F_TRUNCATED);
    assert_true(st_charset_utf8_valid(small, n));
    fl = 0;
    n = st_hdr_decode("abcdefghijkl", 12, small, sizeof(small), NULL, &fl);
    assert_int_equal(n, 7);
    assert_true(fl & ST_HDR_F_TRUNCATED);
    fl = 0;
    n = st_hdr_decode("abc", 3, small, 0, NULL, &fl);
    assert_int_equal(n, 0);
    assert_true(fl & ST_HDR_F_TRUNCATED);
}

static void long_word(void **st)
{
    (void)st;
    /* 600 x U+4E2D in one B word (1800 bytes): exercises the carry across flushes */
    static char in[4096], want[2048];
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[1800];
    size_t k = 0, o = 0;
    for (int i = 0; i < 600; i++) {
        memcpy(raw + 3 * i, "\xe4\xb8\xad", 3);
        memcpy(want + 3 * i, "\xe4\xb8\xad", 3);
    }
    want[1800] = 0;
    o = (size_t)sprintf(in, "=?utf-8?B?");
    for (k = 0; k < 1800; k += 3) {
        unsigned v = (unsigned)raw[k] << 16 | (unsigned)raw[k + 1] << 8 | raw[k + 2];
        in[o++] = tbl[v >> 18], in[o++] = tbl[(v >> 12) & 63];
        in[o++] = tbl[(v >> 6) & 63], in[o++] = tbl[v & 63];
    }
    strcpy(in + o, "?=");
    unsigned fl = 0;
    size_t n = st_hdr_decode(in, strlen(in), buf, sizeof(buf), NULL, &fl);
    assert_int_equal(n, 1800);
    assert_string_equal(buf, want);
    assert_int_equal(fl, 0);
}

/* ------------------------------------------------------------ charset.c */

static void charset_aliases(void **st)
{
    (void)st;
    char o[64];
    unsigned fl = 0;
    assert_int_equal(st_charset_to_utf8("latin1", "\xe9", 1, o, sizeof(o), &fl), 2);
    assert_string_equal(o, "\xc3\xa9");
    assert_int_equal(st_charset_to_utf8("\"Windows-1252\"", "\x93x\x94", 3, o, sizeof(o), &fl), 7);
    assert_string_equal(o, "\xe2\x80\x9cx\xe2\x80\x9d");
    st_charset_to_utf8("ks_c_5601-1987", "\xc7\xd1", 2, o, sizeof(o), &fl); /* 한 */
    assert_string_equal(o, "\xed\x95\x9c");
    st_charset_to_utf8("GB2312", "\xb2\xe2", 2, o, sizeof(o), &fl);
    assert_string_equal(o, "\xe6\xb5\x8b");
    st_charset_to_utf8("iso-8859-8-i", "\xf9", 1, o, sizeof(o), &fl); /* ש */
    assert_string_equal(o, "\xd7\xa9");
    st_charset_to_utf8("unicode-1-1-utf-7", "Hi +AOk-", 8, o, sizeof(o), &fl);
    assert_string_equal(o, "Hi \xc3\xa9");
    st_charset_to_utf8("utf8", "\xc3\xa9", 2, o, sizeof(o), &fl);
    assert_string_equal(o, "\xc3\xa9");
    st_charset_to_utf8("Shift_JIS", "\x82\xa0", 2, o, sizeof(o), &fl); /* あ */
    assert_string_equal(o, "\xe3\x81\x82");
    st_charset_to_utf8("ISO-2022-JP", "\x1b$B$\"\x1b(B!", 9, o, sizeof(o), &fl);
    assert_string_equal(o, "\xe3\x81\x82!");
    assert_int_equal(fl, 0);
    assert_true(st_charset_same("UTF8", "utf-8"));
    assert_true(st_charset_same("latin1", "windows-1252"));
    assert_false(st_charset_same("latin1", "utf-8"));
}

static void charset_unknown_and_invalid(void **st)
{
    (void)st;
    char o[64];
    unsigned fl = 0;
    assert_int_equal(st_charset_to_utf8("x-unknown", "a\xc3\xa9\xff", 4, o, sizeof(o), &fl), 6);
    assert_string_equal(o, "a\xc3\xa9\xef\xbf\xbd");
    assert_int_equal(fl, ST_CHARSET_F_UNKNOWN | ST_CHARSET_F_INVALID);
    fl = 0;
    st_charset_to_utf8("", "ok", 2, o, sizeof(o), &fl);
    assert_int_equal(fl, 0);
    fl = 0;
    st_charset_to_utf8("utf-8//TRANSLIT", "ok", 2, o, sizeof(o), &fl);
    assert_int_equal(fl, ST_CHARSET_F_UNKNOWN | ST_CHARSET_F_BADNAME);
    fl = 0;
    /* invalid sequence in the middle, then valid again */
    st_charset_to_utf8("utf-8", "a\xe6\xb5z", 4, o, sizeof(o), &fl);
    assert_string_equal(o, "a\xef\xbf\xbd\xef\xbf\xbdz");
    fl = 0;
    /* iconv path: invalid Shift_JIS lead byte then ASCII */
    st_charset_to_utf8("shift_jis",
                       "\x82\xff"
                       "a",
                       3, o, sizeof(o), &fl);
    assert_true(fl & ST_CHARSET_F_INVALID);
    assert_true(st_charset_utf8_valid(o, strlen(o)));
    assert_non_null(strchr(o, 'a'));
    fl = 0;
    /* incomplete trailing multibyte in a non-UTF-8 charset */
    st_charset_to_utf8("gb18030", "a\xb2", 2, o, sizeof(o), &fl);
    assert_string_equal(o, "a\xef\xbf\xbd");
    assert_true(fl & ST_CHARSET_F_INVALID);
}

static void charset_partial(void **st)
{
    (void)st;
    char o[64];
    size_t used;
    unsigned fl = 0;
    size_t n =
        st_charset_conv("utf-8", "a\xe6\xb5", 3, o, sizeof(o), &used, ST_CHARSET_PARTIAL, &fl);
    assert_int_equal(n, 1);
    assert_int_equal(used, 1);
    n = st_charset_conv("gb18030", "a\xb2", 2, o, sizeof(o), &used, ST_CHARSET_PARTIAL, &fl);
    assert_int_equal(n, 1);
    assert_int_equal(used, 1);
    assert_int_equal(fl, 0);
}

static void charset_cache(void **st)
{
    (void)st;
    /* more charsets than cache slots, twice: evictions must not leak or break */
    const char *cs[] = {"koi8-r", "iso-8859-2", "iso-8859-5", "iso-8859-7",  "cp1251",  "cp1250",
                        "big5",   "euc-jp",     "gb18030",    "iso-8859-15", "x-nope1", "x-nope2"};
    char o[16];
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
            unsigned fl = 0;
            assert_int_equal(st_charset_to_utf8(cs[i], "ab", 2, o, sizeof(o), &fl), 2);
            assert_string_equal(o, "ab");
            assert_int_equal(fl, strncmp(cs[i], "x-nope", 6) == 0 ? ST_CHARSET_F_UNKNOWN : 0);
        }
    st_charset_cleanup();
    st_charset_cleanup();
    assert_int_equal(st_charset_to_utf8("koi8-r", "\xf0", 1, o, sizeof(o), NULL), 2);
}

static void charset_sanitize_and_cut(void **st)
{
    (void)st;
    char o[64];
    unsigned fl = 0;
    /* overlong, surrogate, > U+10FFFF, lone continuation, truncated seq */
    const char in[] = "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\x80|\xe6";
    size_t n = st_charset_utf8_sanitize(in, sizeof(in) - 1, o, sizeof(o), &fl);
    assert_true(st_charset_utf8_valid(o, n));
    assert_string_equal(
        o, "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd");
    assert_int_equal(fl, ST_CHARSET_F_INVALID);
    fl = 0;
    n = st_charset_utf8_sanitize(in, sizeof(in) - 1, o, 32, &fl); /* room 31: 30 used */
    assert_int_equal(n, 30);
    assert_true(fl & ST_CHARSET_F_TRUNCATED);
    assert_false(st_charset_utf8_valid("\xc0\xaf", 2));
    assert_true(st_charset_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_int_equal(st_charset_utf8_cut("a\xe6\xb5\x8b", 4, 2), 1);
    assert_int_equal(st_charset_utf8_cut("a\xe6\xb5\x8b", 4, 1), 1);
    assert_int_equal(st_charset_utf8_cut("a\xe6\xb5\x8b", 4, 4), 4);
    assert_int_equal(st_charset_utf8_cut("a\xe6\xb5\x8b", 4, 9), 4);
    assert_int_equal(st_charset_utf8_cut("ab", 2, 1), 1);
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
        cmocka_unit_test(arkime_8859_b),
        cmocka_unit_test(arkime_8859_multi),
        cmocka_unit_test(arkime_8859_q),
        cmocka_unit_test(arkime_encoded_empty),
        cmocka_unit_test(arkime_gb2312_b),
        cmocka_unit_test(arkime_multi_nospace),
        cmocka_unit_test(arkime_utf8_mixed),
        cmocka_unit_test(arkime_utf8_q),
        cmocka_unit_test(arkime_windows),
        cmocka_unit_test(rfc2047_examples),
        cmocka_unit_test(strict_ws),
        cmocka_unit_test(lowercase_and_lang),
        cmocka_unit_test(missing_padding),
        cmocka_unit_test(glued_words),
        cmocka_unit_test(split_multibyte),
        cmocka_unit_test(malformed),
        cmocka_unit_test(unknown_charset),
        cmocka_unit_test(raw_8bit),
        cmocka_unit_test(folding),
        cmocka_unit_test(nul_in_word),
        cmocka_unit_test(truncation),
        cmocka_unit_test(long_word),
        cmocka_unit_test(charset_aliases),
        cmocka_unit_test(charset_unknown_and_invalid),
        cmocka_unit_test(charset_partial),
        cmocka_unit_test(charset_cache),
        cmocka_unit_test(charset_sanitize_and_cut),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
