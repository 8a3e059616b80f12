/*
 * fuzz_hdr.c - header value decoders: RFC 2047, address lists, Received
 * IPs, file names, charset conversion, SMTP paths.
 *
 * Input: byte 0 picks a charset label from a small list (for
 * st_charset_to_utf8 and as the fallback of st_hdr_decode), byte 1 an
 * output capacity (small ones exercise cutting at character boundaries),
 * the rest is the header value.
 *
 * Properties: no sanitizer report; every text output is valid UTF-8
 * (checked by our own validator, not the library's), NUL-terminated at
 * the returned length and within its capacity; IPs print as inet_ntop
 * does; address entries are NUL-terminated within their fields.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz/fuzz_common.h"
#include "mailhdr/mailhdr.h"

static const char *const charsets[] = {
    NULL,
    "",
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "windows-1252",
    "iso-8859-15",
    "koi8-r",
    "gb2312",
    "gbk",
    "gb18030",
    "big5",
    "shift_jis",
    "euc-jp",
    "iso-2022-jp",
    "euc-kr",
    "ks_c_5601-1987",
    "utf-7",
    "unicode-1-1-utf-7",
    "utf-16",
    "utf-16le",
    "utf-32",
    "iso-8859-8-i",
    "x-unknown",
    "unknown-8bit",
    "\"UTF-8\"",
    " latin1 ",
    "utf8",
    "cp1251",
    "tis-620",
    "hz-gb-2312",
    "ucs-2",
    "x-mac-roman",
    "iso-2022-kr",
    "a\x01"
    "b",
    "UTF-8//TRANSLIT",
};
#define N_CS (sizeof charsets / sizeof charsets[0])

static void check_text(const char *what, const char *out, size_t n, size_t cap)
{
    if (cap == 0) {
        FZ_CHECK(n == 0, "%s: wrote %zu with cap 0", what, n);
        return;
    }
    FZ_CHECK(n < cap, "%s: length %zu >= cap %zu", what, n, cap);
    FZ_CHECK(out[n] == 0, "%s: not NUL-terminated at %zu", what, n);
    FZ_CHECK(fz_utf8_valid((const uint8_t *)out, n), "%s: invalid UTF-8 (%zu bytes)", what, n);
}

static void check_field(const char *what, const char *f, size_t cap)
{
    const char *z = memchr(f, 0, cap);
    FZ_CHECK(z, "%s: not NUL-terminated", what);
    FZ_CHECK(fz_utf8_valid((const uint8_t *)f, (size_t)(z - f)), "%s: invalid UTF-8", what);
}

static bool count_cb(const struct st_hdr_addr *a, void *ctx)
{
    size_t *n = ctx;
    check_field("foreach name", a->name, sizeof a->name);
    check_field("foreach addr", a->addr, sizeof a->addr);
    return ++*n < 50;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *cs = charsets[data[0] % N_CS];
    size_t small = data[1];
    size_t len = size - 2;
    char *in = malloc(len ? len : 1); /* exact size: ASan sees reads past len */
    if (!in)
        return 0;
    memcpy(in, data + 2, len);

    /* Outputs sized like the library's callers, and input-chosen small ones. */
    size_t caps[2] = {len * 4 + 16, small};
    for (int i = 0; i < 2; i++) {
        size_t cap = caps[i];
        char *out = malloc(cap ? cap : 1);
        if (!out)
            abort();
        unsigned fl = 0;
        size_t n;

        n = st_charset_to_utf8(cs, in, len, out, cap, &fl);
        check_text("st_charset_to_utf8", out, n, cap);

        struct st_hdr_decode_opts o = {.fallback_charset = cs, .strict_ws = small & 1};
        fl = 0;
        n = st_hdr_decode(in, len, out, cap, &o, &fl);
        check_text("st_hdr_decode", out, n, cap);
        fl = 0;
        n = st_hdr_decode(in, len, out, cap, NULL, &fl);
        check_text("st_hdr_decode(default)", out, n, cap);

        fl = 0;
        n = st_hdr_fname_clean(in, len, out, cap, &fl);
        check_text("st_hdr_fname_clean", out, n, cap);
        FZ_CHECK(n <= ST_HDR_FNAME_MAX, "fname %zu > max", n);

        fl = 0;
        n = st_charset_utf8_sanitize(in, len, out, cap, &fl);
        check_text("st_charset_utf8_sanitize", out, n, cap);

        fl = 0;
        n = st_hdr_path_addr(in, len, out, cap, &fl);
        check_text("st_hdr_path_addr", out, n, cap);

        if (cap > 0) {
            size_t consumed = 0;
            fl = 0;
            n = st_charset_conv(cs, in, len, out, cap, &consumed,
                                small & 2 ? ST_CHARSET_PARTIAL : 0, &fl);
            FZ_CHECK(n <= cap, "st_charset_conv wrote %zu > room %zu", n, cap);
            FZ_CHECK(consumed <= len, "consumed %zu > len %zu", consumed, len);
            FZ_CHECK(fz_utf8_valid((const uint8_t *)out, n), "st_charset_conv: invalid UTF-8");
        }
        free(out);
    }

    (void)st_hdr_fname_is_suspicious(in, len);
    FZ_CHECK(st_charset_utf8_valid(in, len) == fz_utf8_valid((const uint8_t *)in, len),
             "st_charset_utf8_valid disagrees with the reference validator");
    size_t cut = st_charset_utf8_cut(in, len, small);
    FZ_CHECK(cut <= small && cut <= len, "utf8_cut %zu", cut);

    struct st_hdr_addr addrs[8];
    unsigned fl = 0;
    size_t na = st_hdr_addrs_parse(in, len, addrs, 8, &fl);
    FZ_CHECK(na <= 8, "addrs %zu", na);
    for (size_t i = 0; i < na; i++) {
        check_field("addr name", addrs[i].name, sizeof addrs[i].name);
        check_field("addr addr", addrs[i].addr, sizeof addrs[i].addr);
        check_field("addr group", addrs[i].group, sizeof addrs[i].group);
    }
    size_t cnt = 0;
    fl = 0;
    size_t nf = st_hdr_addrs_foreach(in, len, 1000, count_cb, &cnt, &fl);
    FZ_CHECK(nf == cnt, "foreach returned %zu, called %zu", nf, cnt);

    struct st_hdr_ip ips[8];
    fl = 0;
    size_t ni = st_hdr_received_ips(in, len, ips, 8, &fl);
    FZ_CHECK(ni <= 8, "ips %zu", ni);
    for (size_t i = 0; i < ni; i++) {
        char t[INET6_ADDRSTRLEN];
        FZ_CHECK(ips[i].af == AF_INET || ips[i].af == AF_INET6, "af %d", ips[i].af);
        FZ_CHECK(inet_ntop(ips[i].af, ips[i].bytes, t, sizeof t) && !strcmp(t, ips[i].text),
                 "ip text '%s' is not its bytes", ips[i].text);
    }
    struct st_hdr_ip one;
    (void)st_hdr_received_path_ip(in, len, &one);
    free(in);
    return 0;
}
