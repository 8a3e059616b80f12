/*
 * test_hdr_fname.c - attachment file names: JSON-safe copy and anomaly flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "mailhdr/mailhdr.h"

#define SUS(s) st_hdr_fname_is_suspicious((s), sizeof(s) - 1)

static void clean_keeps_what_was_sent(void **st)
{
    (void)st;
    char out[64];
    unsigned fl = 0;
    const char in[] = "../a\0b/\x01\\c.txt";
    size_t n = st_hdr_fname_clean(in, sizeof(in) - 1, out, sizeof(out), &fl);
    assert_int_equal(n, sizeof(in) - 1);
    assert_memory_equal(out, in, n);
    assert_int_equal(out[n], 0);
    assert_int_equal(fl, 0);
    n = st_hdr_fname_clean("caf\xe9.pdf", 8, out, sizeof(out), &fl);
    assert_string_equal(out, "caf\xef\xbf\xbd.pdf");
    assert_int_equal(n, 10);
    assert_int_equal(fl, ST_HDR_FN_BADUTF8);
}

static void clean_caps(void **st)
{
    (void)st;
    static char in[10240], out[ST_HDR_FNAME_MAX + 64];
    unsigned fl = 0;
    /* 10 KB of 3-byte characters: cut at <= 8192 bytes on a character boundary */
    for (int i = 0; i < 3413; i++)
        memcpy(in + 3 * i, "\xe4\xb8\xad", 3);
    size_t n = st_hdr_fname_clean(in, 3413 * 3, out, sizeof(out), &fl);
    assert_int_equal(ST_HDR_FNAME_MAX, 8192);
    assert_int_equal(n, 8190);
    assert_int_equal(fl, ST_HDR_FN_CUT);
    assert_true(st_charset_utf8_valid(out, n));
    assert_int_equal(strlen(out), n);
    /* smaller caller cap */
    char small[8];
    fl = 0;
    n = st_hdr_fname_clean("abcdefghij", 10, small, sizeof(small), &fl);
    assert_int_equal(n, 7);
    assert_string_equal(small, "abcdefg");
    assert_int_equal(fl, ST_HDR_FN_CUT);
    /* the arkime smtp-moloch-bof regression: very long name */
    memset(in, 'A', 10000);
    fl = 0;
    n = st_hdr_fname_clean(in, 10000, out, sizeof(out), &fl);
    assert_int_equal(n, ST_HDR_FNAME_MAX);
    assert_int_equal(st_hdr_fname_is_suspicious(in, 10000), ST_HDR_FS_LONG);
}

static void plain_names(void **st)
{
    (void)st;
    assert_int_equal(SUS("report.pdf"), 0);
    assert_int_equal(SUS("a.zip"), 0);
    assert_int_equal(SUS("zeek-logo.png"), 0);
    assert_int_equal(SUS("NEWS.txt"), 0);
    assert_int_equal(SUS("\xe6\xb5\x8b\xe8\xaf\x95.docx"), 0);
    assert_int_equal(SUS("setup.x86.exe"), 0); /* not a decoy extension */
    assert_int_equal(SUS("v1.2 notes.txt"), 0);
    assert_int_equal(SUS("a..b.txt"), 0); /* ".." not a component */
}

static void path_tricks(void **st)
{
    (void)st;
    assert_int_equal(SUS("../../etc/passwd"), ST_HDR_FS_DOTDOT | ST_HDR_FS_PATHSEP);
    assert_int_equal(SUS("..\\..\\boot.ini"), ST_HDR_FS_DOTDOT | ST_HDR_FS_PATHSEP);
    assert_int_equal(SUS("/etc/cron.d/x"), ST_HDR_FS_ABSOLUTE | ST_HDR_FS_PATHSEP);
    assert_int_equal(SUS("C:evil.txt"), ST_HDR_FS_ABSOLUTE);
    assert_int_equal(SUS("dir/.."), ST_HDR_FS_DOTDOT | ST_HDR_FS_PATHSEP);
    assert_int_equal(SUS(".."), ST_HDR_FS_DOTDOT | ST_HDR_FS_EMPTY);
    assert_int_equal(SUS(""), ST_HDR_FS_EMPTY);
    assert_int_equal(SUS(" . "), ST_HDR_FS_EMPTY);
}

static void byte_tricks(void **st)
{
    (void)st;
    assert_int_equal(SUS("a.pdf\0.exe"), ST_HDR_FS_NUL);
    assert_int_equal(SUS("a\r\nb.txt"), ST_HDR_FS_CTRL);
    assert_int_equal(SUS("a\x7f.txt"), ST_HDR_FS_CTRL);
    assert_int_equal(SUS("a\xc2\x85.txt"), ST_HDR_FS_CTRL); /* U+0085 NEL */
    assert_int_equal(SUS("caf\xe9.txt"), ST_HDR_FS_BADUTF8);
    assert_int_equal(SUS("a\xc2"), ST_HDR_FS_BADUTF8); /* truncated sequence, no overread */
}

static void spoofing(void **st)
{
    (void)st;
    /* "invoice[RTLO]fdp.exe" displays as "invoiceexe.pdf" */
    assert_int_equal(SUS("invoice\xe2\x80\xae"
                         "fdp.exe"),
                     ST_HDR_FS_BIDI);
    assert_int_equal(SUS("a\xe2\x81\xa7"
                         "b.txt"),
                     ST_HDR_FS_BIDI);                            /* U+2067 RLI */
    assert_int_equal(SUS("a\xe2\x80\x8f.txt"), ST_HDR_FS_BIDI);  /* RLM */
    assert_int_equal(SUS("a\xe2\x80\x8b.txt"), ST_HDR_FS_INVIS); /* ZWSP */
    assert_int_equal(SUS("\xef\xbb\xbf"
                         "a.txt"),
                     ST_HDR_FS_INVIS); /* BOM */
    assert_int_equal(SUS("invoice.pdf.exe"), ST_HDR_FS_DOUBLE);
    assert_int_equal(SUS("Invoice.PDF.Scr"), ST_HDR_FS_DOUBLE);
    assert_int_equal(SUS("invoice.pdf          .exe"), ST_HDR_FS_DOUBLE | ST_HDR_FS_PADDING);
    assert_int_equal(SUS("photo.jpg.js"), ST_HDR_FS_DOUBLE);
    assert_int_equal(SUS("invoice.exe "), ST_HDR_FS_PADDING);
    assert_int_equal(SUS("invoice.exe."), ST_HDR_FS_PADDING);
}

/* The edges of three checks, against mailhdr.h's definitions: a run of
 * four blanks is padding (ST_HDR_FS_PADDING ">= 4 blanks"), ".." is a path
 * component only when it is the whole component, and a name is long past
 * NAME_MAX bytes (<limits.h>: 255 on Linux), the longest name a directory
 * entry takes. */
static void edges(void **st)
{
    (void)st;
    assert_int_equal(SUS("invoice    x.txt"), ST_HDR_FS_PADDING); /* 4 blanks */
    assert_int_equal(SUS("invoice   x.txt"), 0);                  /* 3 */
    assert_int_equal(SUS("..foo.txt"), 0);
    assert_int_equal(SUS("dir/..foo"), ST_HDR_FS_PATHSEP);
    assert_int_equal(SUS("...\\x.txt"), ST_HDR_FS_PATHSEP);
    assert_int_equal(SUS("../x.txt"), ST_HDR_FS_DOTDOT | ST_HDR_FS_PATHSEP);
    char name[NAME_MAX + 2];
    memset(name, 'a', sizeof name);
    memcpy(name + NAME_MAX - 4, ".txt", 4);
    assert_int_equal(st_hdr_fname_is_suspicious(name, NAME_MAX), 0);
    name[NAME_MAX] = 'x';
    memcpy(name + NAME_MAX + 1 - 4, ".txt", 4);
    assert_int_equal(st_hdr_fname_is_suspicious(name, NAME_MAX + 1), ST_HDR_FS_LONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clean_keeps_what_was_sent),
        cmocka_unit_test(clean_caps),
        cmocka_unit_test(plain_names),
        cmocka_unit_test(path_tricks),
        cmocka_unit_test(byte_tricks),
        cmocka_unit_test(spoofing),
        cmocka_unit_test(edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
