/*
 * test_params.c - Content-Type / Content-Disposition value parsing:
 * type/subtype, tokens, parameters with quoting, comments, RFC 2231
 * continuations, charsets and percent-decoding, and evasion attempts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mime/mime.h"

typedef struct res {
    int found;
    uint8_t buf[ST_MIME_PARAM_MAX];
    st_mime_pval pv;
} res;

static res *get(const char *v, size_t vlen, const char *attr)
{
    static res r;
    memset(&r, 0, sizeof r);
    r.pv.buf = r.buf;
    r.pv.cap = sizeof r.buf;
    r.found = st_mime_param_get((const uint8_t *)v, vlen, 0, attr, &r.pv);
    return &r;
}

#define GET(v, attr) get(v, strlen(v), attr)

static void expect(const res *r, const char *val, size_t len)
{
    assert_true(r->found);
    assert_int_equal(r->pv.len, len);
    assert_memory_equal(r->pv.buf, val, len);
    assert_int_equal(r->pv.buf[len], 0);
}

#define EXPECT(r, s) expect(r, s, sizeof(s) - 1)

static void ctype(void **st)
{
    (void)st;
    char out[64];
    size_t at;
    const char *v = "Text/HTML ; charset=UTF-8";
    assert_int_equal(st_mime_ctype_parse((const uint8_t *)v, strlen(v), out, sizeof out, &at), 0);
    assert_string_equal(out, "text/html");
    v = " (comment) multipart / Mixed (x) ;boundary=\"b\"";
    assert_int_equal(st_mime_ctype_parse((const uint8_t *)v, strlen(v), out, sizeof out, &at), 0);
    assert_string_equal(out, "multipart/mixed");
    res *r = get(v, strlen(v), "boundary");
    EXPECT(r, "b");
    const char *bad[] = {"", "text", "/plain", "text/", "text plain", "\"text/plain\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(
            st_mime_ctype_parse((const uint8_t *)bad[i], strlen(bad[i]), out, sizeof out, &at), -1);
    v = "text; charset=koi8-r";
    assert_int_equal(st_mime_ctype_parse((const uint8_t *)v, strlen(v), out, sizeof out, &at), -1);
    assert_int_equal(at, 4);
    char small[8];
    v = "application/octet-stream";
    assert_int_equal(st_mime_ctype_parse((const uint8_t *)v, strlen(v), small, sizeof small, &at),
                     -1);
}

static void tokens(void **st)
{
    (void)st;
    char out[32];
    size_t at;
    const char *v = " (c) Base64 (d)";
    assert_int_equal(st_mime_token_parse((const uint8_t *)v, strlen(v), out, sizeof out, &at), 0);
    assert_string_equal(out, "base64");
    v = "Attachment; filename=x";
    assert_int_equal(st_mime_token_parse((const uint8_t *)v, strlen(v), out, sizeof out, &at), 0);
    assert_string_equal(out, "attachment");
    assert_int_equal(at, 10);
    v = "  ";
    assert_int_equal(st_mime_token_parse((const uint8_t *)v, strlen(v), out, sizeof out, &at), -1);
}

static void plain_values(void **st)
{
    (void)st;
    EXPECT(GET("attachment; filename=report.pdf", "filename"), "report.pdf");
    EXPECT(GET("attachment; FILENAME=\"a \\\"q\\\" b.txt\"", "filename"), "a \"q\" b.txt");
    EXPECT(GET("attachment; filename=my file.pdf ; size=3", "filename"), "my file.pdf");
    EXPECT(GET("attachment;filename=\"x;y.txt\";a=b", "filename"), "x;y.txt");
    EXPECT(GET("attachment; filename=\"\"", "filename"), "");
    assert_false(GET("attachment; name=x", "filename")->found);
    assert_false(GET("attachment; filenamex=x", "filename")->found);
    EXPECT(GET("text/plain; charset=us-ascii (Plain text)", "charset"), "us-ascii (Plain text)");
    EXPECT(GET("inline (c); filename = (c) \"a.txt\"", "filename"), "a.txt");
    res *r = GET("attachment; filename=\"unterminated", "filename");
    EXPECT(r, "unterminated");
    assert_true(r->pv.flags & ST_MIME_PARAM_UNTERM);
}

static void evasions(void **st)
{
    (void)st;
    res *r = GET("attachment; dummy=\"filename=wrong.exe\"; filename=right.txt", "filename");
    EXPECT(r, "right.txt");
    assert_false(r->pv.flags & ST_MIME_PARAM_DUPLICATE);
    r = GET("attachment; filename=a.txt; filename=b.exe", "filename");
    EXPECT(r, "a.txt");
    assert_true(r->pv.flags & ST_MIME_PARAM_DUPLICATE);
    r = GET("attachment; xfilename=a.exe; filename_=b; filename=c", "filename");
    EXPECT(r, "c");
}

static void rfc2231(void **st)
{
    (void)st;
    res *r = GET("attachment; filename*=iso-8859-1'en'%A3%20rates.txt", "filename");
    EXPECT(r, "\xa3 rates.txt");
    assert_string_equal(r->pv.charset, "iso-8859-1");
    assert_string_equal(r->pv.language, "en");
    assert_true(r->pv.flags & ST_MIME_PARAM_RFC2231);

    r = GET("attachment;\r\n filename*0*=UTF-8''%E2%82%AC%20rates;\r\n filename*1=\".txt\"",
            "filename");
    EXPECT(r, "\xe2\x82\xac rates.txt");
    assert_string_equal(r->pv.charset, "utf-8");
    assert_string_equal(r->pv.language, "");
    assert_true(r->pv.flags & ST_MIME_PARAM_CONTINUED);

    /* out of order, literal and extended sections mixed */
    r = GET("a; name*2=\"c%41\"; name*0=\"a\"; name*1*=%42", "name");
    EXPECT(r, "aBc%41");
    assert_int_equal(r->pv.charset[0], 0);

    /* missing section */
    r = GET("a; filename*0=\"one\"; filename*2=\"three\"", "filename");
    EXPECT(r, "onethree");
    assert_true(r->pv.flags & ST_MIME_PARAM_GAP);

    /* RFC 2231 wins over the plain form */
    r = GET("a; filename=\"plain.txt\"; filename*=utf-8''ext.exe", "filename");
    EXPECT(r, "ext.exe");
    assert_true(r->pv.flags & ST_MIME_PARAM_DUPLICATE);

    /* bad percent and missing charset'lang' */
    r = GET("a; filename*=utf-8''100%ZZ%4", "filename");
    EXPECT(r, "100%ZZ%4");
    assert_true(r->pv.flags & ST_MIME_PARAM_BAD_PCT);
    r = GET("a; filename*=no-quotes%41", "filename");
    EXPECT(r, "no-quotesA");
    assert_true(r->pv.flags & ST_MIME_PARAM_BAD_EXT);
}

/* RFC 2231 4.1: "Language and character set information only appear at the
 * beginning of a given parameter value", so later extended sections are
 * %-encoded text only, apostrophes and all. The first value is RFC 2231's
 * own example; both give what Python's email (compat32 get_param, then
 * collapse_rfc2231_value) gives. */
static void rfc2231_prefix_first_section_only(void **st)
{
    (void)st;
    res *r = GET("application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
                 " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"",
                 "title");
    EXPECT(r, "This is even more ***fun*** isn't it!");
    assert_string_equal(r->pv.charset, "us-ascii");
    assert_string_equal(r->pv.language, "en");
    assert_false(r->pv.flags & ST_MIME_PARAM_BAD_EXT);
    r = GET("attachment; name*0*=utf-8''l%27eau; name*1*=it's'x", "name");
    EXPECT(r, "l'eauit's'x");
    assert_string_equal(r->pv.charset, "utf-8");
    assert_string_equal(r->pv.language, "");
    assert_false(r->pv.flags & ST_MIME_PARAM_BAD_EXT);
}

/* A backslash escapes only inside a quoted-string (RFC 5322 3.2.4
 * quoted-pair); in an unquoted value it is a byte like any other. Python's
 * email (compat32 get_filename) keeps them too: C:\dir\file.txt. */
static void unquoted_backslash_kept(void **st)
{
    (void)st;
    EXPECT(GET("attachment; filename=C:\\dir\\file.txt", "filename"), "C:\\dir\\file.txt");
    EXPECT(GET("attachment; filename=\"C:\\\\dir\\\\file.txt\"", "filename"), "C:\\dir\\file.txt");
}

static void hostile_names(void **st)
{
    (void)st;
    res *r = GET("a; filename*=utf-8''..%2F..%2Fetc%2Fpasswd%00.txt", "filename");
    EXPECT(r, "../../etc/passwd\0.txt");
    const char v[] = "a; filename=\"x\0y\"";
    r = get(v, sizeof v - 1, "filename");
    EXPECT(r, "x\0y");
    static char big[ST_MIME_PARAM_MAX + 1000];
    memcpy(big, "a; filename=", 12);
    memset(big + 12, 'A', ST_MIME_PARAM_MAX + 500);
    big[ST_MIME_PARAM_MAX + 512] = 0;
    r = GET(big, "filename");
    assert_int_equal(r->pv.len, ST_MIME_PARAM_MAX - 1);
    assert_true(r->pv.flags & ST_MIME_PARAM_TRUNCATED);
    /* many sections: index beyond the section cap is ignored */
    r = GET("a; f*0=a; f*999999=b; f*1=c", "f");
    EXPECT(r, "ac");
}

/* The other value of a repeated parameter: the last plain one. */
static void last_value(void **st)
{
    (void)st;
    static res r;
    const char *v = "; boundary=a; x=\"boundary=c\"; BOUNDARY=\"b\"; y=1";
    memset(&r, 0, sizeof r);
    r.pv.buf = r.buf;
    r.pv.cap = sizeof r.buf;
    r.found = st_mime_param_last((const uint8_t *)v, strlen(v), 0, "boundary", &r.pv);
    EXPECT(&r, "b");
    assert_int_equal(r.pv.flags, ST_MIME_PARAM_PRESENT);
    res *g = GET(v, "boundary");
    EXPECT(g, "a"); /* st_mime_param_get keeps the first, and says it was repeated */
    assert_true(g->pv.flags & ST_MIME_PARAM_DUPLICATE);
    /* only RFC 2231 forms: no plain value */
    v = "; boundary*=us-ascii''q; boundary*0=r";
    memset(&r, 0, sizeof r);
    r.pv.buf = r.buf;
    r.pv.cap = sizeof r.buf;
    assert_int_equal(st_mime_param_last((const uint8_t *)v, strlen(v), 0, "boundary", &r.pv), 0);
    /* one plain value: that one */
    v = "; boundary*=us-ascii''q; boundary=p";
    r.found = st_mime_param_last((const uint8_t *)v, strlen(v), 0, "boundary", &r.pv);
    EXPECT(&r, "p");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ctype),
        cmocka_unit_test(tokens),
        cmocka_unit_test(plain_values),
        cmocka_unit_test(evasions),
        cmocka_unit_test(rfc2231),
        cmocka_unit_test(hostile_names),
        cmocka_unit_test(rfc2231_prefix_first_section_only),
        cmocka_unit_test(unquoted_backslash_kept),
        cmocka_unit_test(last_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
