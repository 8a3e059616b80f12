/*
 * test_decode.c - the streaming transfer decoders (base64, quoted-
 * printable, uuencode) and the boundary line matcher: exact output bytes on
 * tricky input, and the same output for every way of splitting the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime/mime.h"

enum { B64, QP, UU };

typedef struct out {
    uint8_t *b;
    size_t len;
    unsigned flags;
    uint64_t count; /* garbage / bad escapes */
} out;

/* Decode in[len] fed in pieces starting at the given cut points. */
static out run_cuts(int kind, const uint8_t *in, size_t len, const size_t *cuts, size_t ncut)
{
    out o = {malloc(len + 1024), 0, 0, 0};
    st_b64 b;
    st_qp q;
    st_uu u;
    st_b64_init(&b);
    st_qp_init(&q);
    st_uu_init(&u);
    size_t pos = 0;
    for (size_t c = 0; c <= ncut; c++) {
        size_t end = c < ncut ? cuts[c] : len;
        size_t n = end - pos;
        if (kind == B64)
            o.len += st_b64_feed(&b, in + pos, n, o.b + o.len);
        else if (kind == QP)
            o.len += st_qp_feed(&q, in + pos, n, o.b + o.len);
        else
            o.len += st_uu_feed(&u, in + pos, n, o.b + o.len);
        pos = end;
    }
    if (kind == B64) {
        o.len += st_b64_finish(&b, o.b + o.len);
        o.flags = b.flags;
        o.count = b.garbage;
    } else if (kind == QP) {
        o.len += st_qp_finish(&q, o.b + o.len);
        o.flags = q.flags;
        o.count = q.bad;
    } else {
        o.len += st_uu_finish(&u, o.b + o.len);
        o.flags = u.flags;
    }
    return o;
}

static out run_whole(int kind, const char *in, size_t len)
{
    return run_cuts(kind, (const uint8_t *)in, len, NULL, 0);
}

/* Whole, every 2-split, every 3-split (small inputs) and byte by byte give
 * exactly `want` and the same flags. */
static void check(int kind, const char *in, size_t len, const char *want, size_t wlen)
{
    out w = run_whole(kind, in, len);
    assert_int_equal(w.len, wlen);
    assert_memory_equal(w.b, want, wlen);
    for (size_t i = 0; i <= len; i++) {
        out s = run_cuts(kind, (const uint8_t *)in, len, &i, 1);
        assert_int_equal(s.len, wlen);
        assert_memory_equal(s.b, want, wlen);
        assert_int_equal(s.flags, w.flags);
        assert_int_equal(s.count, w.count);
        free(s.b);
        if (len <= 40)
            for (size_t j = i; j <= len; j++) {
                size_t cc[2] = {i, j};
                out t = run_cuts(kind, (const uint8_t *)in, len, cc, 2);
                assert_int_equal(t.len, wlen);
                assert_memory_equal(t.b, want, wlen);
                free(t.b);
            }
    }
    size_t *all = malloc((len + 1) * sizeof *all);
    for (size_t i = 0; i < len; i++)
        all[i] = i;
    out s = run_cuts(kind, (const uint8_t *)in, len, all, len);
    assert_int_equal(s.len, wlen);
    assert_memory_equal(s.b, want, wlen);
    assert_int_equal(s.flags, w.flags);
    free(s.b);
    free(all);
    free(w.b);
}

#define CHECK(k, in, want) check(k, in, sizeof(in) - 1, want, sizeof(want) - 1)

static out whole(int kind, const char *s)
{
    return run_whole(kind, s, strlen(s));
}

/* ---------------------------------------------------------------- base64 */

static void b64_basic(void **st)
{
    (void)st;
    CHECK(B64, "TWFu", "Man");
    CHECK(B64, "SGVsbG8sIFdvcmxkIQ==", "Hello, World!");
    CHECK(B64, "", "");
}

static void b64_whitespace_any_line_length(void **st)
{
    (void)st;
    CHECK(B64, " SGVs\r\nbG8s\tIF\ndvcm\r\n\r\nxkIQ =\r\n= \r\n", "Hello, World!");
    CHECK(B64, "S\nG\nV\ns\nb\nG\n8\n=", "Hello");
}

static void b64_garbage_skipped(void **st)
{
    (void)st;
    CHECK(B64, "TW!Fu*", "Man");
    out o = whole(B64, "T.W-F_u\x80\xff");
    assert_int_equal(o.len, 3);
    assert_memory_equal(o.b, "Man", 3);
    assert_int_equal(o.count, 5);
    free(o.b);
}

static void b64_missing_padding(void **st)
{
    (void)st;
    CHECK(B64, "TWE", "Ma");
    CHECK(B64, "TQ", "M");
    out o = whole(B64, "TWE");
    assert_true(o.flags & ST_B64_NO_PADDING);
    free(o.b);
    /* two sextets and no '=': "TQ==" sent as "TQ" (base64.b64decode("TQ==") == b"M") */
    o = whole(B64, "TQ");
    assert_int_equal(o.len, 1);
    assert_memory_equal(o.b, "M", 1);
    assert_true(o.flags & ST_B64_NO_PADDING);
    free(o.b);
    o = whole(B64, "TWFuT");
    assert_int_equal(o.len, 3);
    assert_true(o.flags & ST_B64_LONE_SEXTET);
    free(o.b);
}

static void b64_data_after_padding(void **st)
{
    (void)st;
    CHECK(B64, "TQ==TWFu", "MMan");
    CHECK(B64, "TWE=\r\nTWE=", "MaMa");
    out o = whole(B64, "TQ==TWFu");
    assert_true(o.flags & ST_B64_DATA_AFTER_PAD);
    free(o.b);
    o = whole(B64, "TWFu");
    assert_int_equal(o.flags, 0);
    free(o.b);
}

static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Reference encoder with 76-column CRLF lines. */
static size_t enc64(const uint8_t *in, size_t n, char *o)
{
    size_t k = 0, col = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        o[k++] = alpha[v >> 18 & 63];
        o[k++] = alpha[v >> 12 & 63];
        o[k++] = i + 1 < n ? alpha[v >> 6 & 63] : '=';
        o[k++] = i + 2 < n ? alpha[v & 63] : '=';
        if ((col += 4) == 76)
            o[k++] = '\r', o[k++] = '\n', col = 0;
    }
    return k;
}

static void b64_random_roundtrip(void **st)
{
    (void)st;
    srand(7);
    for (int round = 0; round < 20; round++) {
        size_t n = (size_t)(rand() % 5000);
        uint8_t *raw = malloc(n + 1);
        char *enc = malloc(n * 2 + 16);
        for (size_t i = 0; i < n; i++)
            raw[i] = (uint8_t)rand();
        size_t el = enc64(raw, n, enc);
        size_t cuts[8];
        for (int c = 0; c < 8; c++)
            cuts[c] = el ? (size_t)rand() % el : 0;
        for (int a = 0; a < 8; a++) /* sort */
            for (int b = a + 1; b < 8; b++)
                if (cuts[b] < cuts[a]) {
                    size_t t = cuts[a];
                    cuts[a] = cuts[b];
                    cuts[b] = t;
                }
        out o = run_cuts(B64, (uint8_t *)enc, el, cuts, 8);
        assert_int_equal(o.len, n);
        assert_memory_equal(o.b, raw, n);
        assert_int_equal(o.count, 0);
        free(o.b);
        free(raw);
        free(enc);
    }
}

static void b64_pure_garbage(void **st)
{
    (void)st;
    size_t n = 1 << 16;
    uint8_t *g = malloc(n);
    for (size_t i = 0; i < n; i++)
        g[i] = (uint8_t)(0x80 | (i * 7));
    out o = run_cuts(B64, g, n, NULL, 0);
    assert_int_equal(o.len, 0);
    assert_int_equal(o.count, n);
    free(o.b);
    free(g);
}

/* ---------------------------------------------------------------- quoted-printable */

static void qp_escapes(void **st)
{
    (void)st;
    CHECK(QP, "a=3Db=C3=A9", "a=b\xc3\xa9");
    CHECK(QP, "x=3dy", "x=y"); /* lower case accepted */
    out o = whole(QP, "x=3dy");
    assert_true(o.flags & ST_QP_LOWERCASE_HEX);
    assert_int_equal(o.count, 0);
    free(o.b);
}

static void qp_soft_breaks(void **st)
{
    (void)st;
    CHECK(QP, "ab=\r\ncd", "abcd");
    CHECK(QP, "ab=\ncd", "abcd");
    CHECK(QP, "ab= \t\r\ncd", "abcd"); /* padding after the '=' */
    CHECK(QP, "ab=", "ab");            /* soft break at the end */
    CHECK(QP, "line1\r\nline2\r\n", "line1\r\nline2\r\n");
    CHECK(QP, "line1\nline2\n", "line1\nline2\n");
}

static void qp_trailing_whitespace(void **st)
{
    (void)st;
    CHECK(QP, "abc  \r\nd", "abc\r\nd");
    CHECK(QP, "abc \t \nd", "abc\nd");
    CHECK(QP, "abc  ", "abc");
    CHECK(QP, "a b\tc", "a b\tc");
    CHECK(QP, "a\rb", "a\rb");
    CHECK(QP, "=20\r\n", " \r\n"); /* encoded space survives */
}

static void qp_bad_escapes(void **st)
{
    (void)st;
    CHECK(QP, "=ZZ", "=ZZ");
    CHECK(QP, "a=4x", "a=4x");
    CHECK(QP, "=4\r\nb", "=4\r\nb");
    CHECK(QP, "= x", "= x");
    CHECK(QP, "=A", "=A");
    CHECK(QP, "==41", "=A");
    out o = whole(QP, "=ZZ=4x=G1=41");
    assert_int_equal(o.len, 10);
    assert_memory_equal(o.b, "=ZZ=4x=G1A", 10);
    assert_int_equal(o.count, 3);
    assert_true(o.flags & ST_QP_BAD_ESCAPE);
    free(o.b);
}

static void qp_tricky_composite(void **st)
{
    (void)st;
    CHECK(QP, "H=C3=A9llo  \r\nw=\r\norld=20 \r\n=3D=\n\tx \t=\r\n= y",
          "H\xc3\xa9llo\r\nworld \r\n=\tx \t= y");
}

static void qp_long_blank_run(void **st)
{
    (void)st;
    char in[400], want[400];
    memset(in, ' ', 300);
    memcpy(in + 300, "x\r\n", 4);
    memcpy(want, in, 304);
    out o = run_whole(QP, in, 303);
    assert_int_equal(o.len, 303);
    assert_memory_equal(o.b, want, 303);
    free(o.b);
}

/* ---------------------------------------------------------------- uuencode */

static void uu_basic(void **st)
{
    (void)st;
    CHECK(UU, "some text\r\nbegin 644 cat.txt\r\n#0V%T\r\n`\r\nend\r\ntrailer\r\n", "Cat");
    CHECK(UU, "begin 600 a\n-2&5L;&\\L(%=O<FQD(0``\n`\nend\n", "Hello, World!");
    st_uu u;
    uint8_t buf[256];
    st_uu_init(&u);
    const char *s = "begin 644 my file.bin\n#0V%T\n";
    size_t n = st_uu_feed(&u, (const uint8_t *)s, strlen(s), buf);
    n += st_uu_finish(&u, buf + n);
    assert_int_equal(n, 3);
    assert_string_equal(u.name, "my file.bin");
    assert_true(u.flags & ST_UU_NO_END);
}

/* The mode of a begin line is octal (POSIX uuencode: "begin <mode> <name>"),
 * so every digit 0-7 is allowed: 755, 777. "#0V%T" is binascii.b2a_uu(b"Cat"). */
static void uu_octal_modes(void **st)
{
    (void)st;
    CHECK(UU, "begin 755 run.sh\n#0V%T\n`\nend\n", "Cat");
    CHECK(UU, "begin 777 all\r\n#0V%T\r\n`\r\nend\r\n", "Cat");
    out o = whole(UU, "begin 755 run.sh\n#0V%T\n`\nend\n");
    assert_int_equal(o.flags, 0);
    free(o.b);
    /* 8 is not an octal digit: not a begin line */
    o = whole(UU, "begin 786 x\n#0V%T\n`\nend\n");
    assert_int_equal(o.len, 0);
    assert_true(o.flags & ST_UU_NO_BEGIN);
    free(o.b);
}

/* A data line holds its length character and (n + 2) / 3 * 4 characters
 * for n bytes: "#" (3 bytes) needs 4. One character short is malformed and
 * decodes to nothing, never to bytes read past the line. */
static void uu_short_line(void **st)
{
    (void)st;
    out o = whole(UU, "begin 644 x\n#0V%\n#0V%T\n`\nend\n");
    assert_int_equal(o.len, 3);
    assert_memory_equal(o.b, "Cat", 3);
    assert_true(o.flags & ST_UU_BAD_LINE);
    free(o.b);
    /* the short line last, after a longer one left bytes in the line buffer */
    o = whole(UU, "begin 644 x\n-2&5L;&\\L(%=O<FQD(0``\n#0V%\nend\n");
    assert_int_equal(o.len, 13);
    assert_memory_equal(o.b, "Hello, World!", 13);
    assert_true(o.flags & ST_UU_BAD_LINE);
    free(o.b);
}

/* binascii.b2a_uu(b"Hello, World!") ends in two spaces: data (sextet 0),
 * not blanks to strip (Python's a2b_uu gives the 13 bytes back). */
static void uu_space_is_data(void **st)
{
    (void)st;
    CHECK(UU, "begin 644 a\n-2&5L;&\\L(%=O<FQD(0  \nend\n", "Hello, World!");
    CHECK(UU, "begin 644 a\r\n-2&5L;&\\L(%=O<FQD(0  \r\nend \r\n", "Hello, World!");
}

static void uu_bad_lines(void **st)
{
    (void)st;
    out o = whole(UU, "begin 644 x\nM0V%T\n#0V%T\nend\n"); /* first line too short for 'M' */
    assert_int_equal(o.len, 3);
    assert_true(o.flags & ST_UU_BAD_LINE);
    free(o.b);
    o = whole(UU, "no uuencode here\n");
    assert_int_equal(o.len, 0);
    assert_true(o.flags & ST_UU_NO_BEGIN);
    free(o.b);
}

/* ---------------------------------------------------------------- boundary lines */

static int bm(const char *line, const char *b)
{
    return st_mime_boundary_match((const uint8_t *)line, strlen(line), (const uint8_t *)b,
                                  strlen(b));
}

static void boundary_lines(void **st)
{
    (void)st;
    assert_int_equal(bm("--abc", "abc"), ST_MIME_BD_DELIM);
    assert_int_equal(bm("--abc\r", "abc"), ST_MIME_BD_DELIM);
    assert_int_equal(bm("--abc \t \r", "abc"), ST_MIME_BD_DELIM);
    assert_int_equal(bm("--abc--", "abc"), ST_MIME_BD_CLOSE);
    assert_int_equal(bm("--abc--  \r", "abc"), ST_MIME_BD_CLOSE);
    assert_int_equal(bm("--abcd", "abc"), ST_MIME_BD_NONE);
    assert_int_equal(bm("--abc", "abcd"), ST_MIME_BD_NONE);
    assert_int_equal(bm("--abcd--", "abc"), ST_MIME_BD_NONE);
    assert_int_equal(bm("--abc--x", "abc"), ST_MIME_BD_NONE);
    assert_int_equal(bm("--abc x", "abc"), ST_MIME_BD_NONE);
    assert_int_equal(bm("-abc", "abc"), ST_MIME_BD_NONE);
    assert_int_equal(bm(" --abc", "abc"), ST_MIME_BD_NONE);
    assert_int_equal(bm("--", ""), ST_MIME_BD_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(b64_basic),
        cmocka_unit_test(b64_whitespace_any_line_length),
        cmocka_unit_test(b64_garbage_skipped),
        cmocka_unit_test(b64_missing_padding),
        cmocka_unit_test(b64_data_after_padding),
        cmocka_unit_test(b64_random_roundtrip),
        cmocka_unit_test(b64_pure_garbage),
        cmocka_unit_test(qp_escapes),
        cmocka_unit_test(qp_soft_breaks),
        cmocka_unit_test(qp_trailing_whitespace),
        cmocka_unit_test(qp_bad_escapes),
        cmocka_unit_test(qp_tricky_composite),
        cmocka_unit_test(qp_long_blank_run),
        cmocka_unit_test(uu_basic),
        cmocka_unit_test(uu_bad_lines),
        cmocka_unit_test(uu_octal_modes),
        cmocka_unit_test(uu_short_line),
        cmocka_unit_test(uu_space_is_data),
        cmocka_unit_test(boundary_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
