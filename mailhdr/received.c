/*
 * received.c - find the IPv4/IPv6 addresses in a Received (or X-Originating-IP)
 * header value, in order, for Zeek-style mail paths.
 *
 * A candidate is a maximal run of hex digits, '.' and ':' that stands alone: not
 * glued to a letter, digit, '-' or '_' on either side. That keeps host names
 * ("mail-pf1-x42f"), queue ids ("l2sm6127295wml.38.2021.03.04.01.40.17") and
 * versions ("8.14.7", "15.20.4866.25") out, while "[1.2.3.4]", "(1.2.3.4)",
 * "[IPv6:2001:db8::1]", "[1.2.3.4]:25", "fe80::1%5" and "1.2.3.4." are found.
 * Every candidate must pass inet_pton. Bounded: one pass, at most max results; one
 * more sets TOO_MANY and ends the scan (nothing past max is stored).
 */
#include "mailhdr/mailhdr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CAND_MAX 64 /* longest IPv6 text with embedded IPv4 is 45 */

static bool ip_char(char c)
{
    return isxdigit((unsigned char)c) || c == '.' || c == ':';
}

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Dotted quad, decimal, leading zeros tolerated (anonymised captures use them). */
static bool parse_v4(const char *s, size_t n, struct st_hdr_ip *ip, unsigned *fl)
{
    unsigned part[4];
    int np = 0, digits = 0;
    bool zero = false;
    char text[16];

    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (digits == 0)
                return false;
            np++;
            digits = 0;
            continue;
        }
        if (np == 4 || !isdigit((unsigned char)s[i]) || ++digits > 3)
            return false;
        if (digits == 1)
            part[np] = 0;
        else if (part[np] == 0)
            zero = true;
        part[np] = part[np] * 10 + (unsigned)(s[i] - '0');
        if (part[np] > 255)
            return false;
    }
    if (np != 4)
        return false;
    snprintf(text, sizeof(text), "%u.%u.%u.%u", part[0], part[1], part[2], part[3]);
    if (inet_pton(AF_INET, text, ip->bytes) != 1)
        return false;
    ip->af = AF_INET;
    if (zero)
        *fl |= ST_HDR_R_LEADING_ZERO;
    return true;
}

static bool parse_v6(const char *s, size_t n, struct st_hdr_ip *ip)
{
    char text[CAND_MAX];

    if (n >= sizeof(text))
        return false;
    memcpy(text, s, n);
    text[n] = 0;
    if (inet_pton(AF_INET6, text, ip->bytes) != 1)
        return false;
    ip->af = AF_INET6;
    return true;
}

static bool parse_cand(const char *s, size_t n, struct st_hdr_ip *ip, unsigned *fl)
{
    const char *colon;

    while (n > 0 && s[n - 1] == '.') /* end of a sentence */
        n--;
    memset(ip, 0, sizeof(*ip));
    colon = memchr(s, ':', n);
    if (!colon)
        return parse_v4(s, n, ip, fl);
    if (parse_v6(s, n, ip))
        return true;
    /* "1.2.3.4:25" */
    if (memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)) == NULL)
        return parse_v4(s, (size_t)(colon - s), ip, fl);
    return false;
}

size_t st_hdr_received_ips(const char *in, size_t len, struct st_hdr_ip *out, size_t max,
                           unsigned *flags)
{
    size_t i = 0, count = 0;
    unsigned fl = 0;

    while (i < len) {
        size_t start, j;
        struct st_hdr_ip ip;
        bool v6tag = len - i >= 5 && strncasecmp(in + i, "ipv6:", 5) == 0;

        if (!v6tag && !ip_char(in[i])) {
            i++;
            continue;
        }
        if (i > 0 && word_char(in[i - 1])) { /* inside a word: skip all of it */
            while (i < len && (word_char(in[i]) || ip_char(in[i])))
                i++;
            continue;
        }
        start = v6tag ? i + 5 : i;
        for (j = start; j < len && ip_char(in[j]);)
            j++;
        i = j;
        if (j == start || (j < len && word_char(in[j])))
            continue;
        if (!parse_cand(in + start, j - start, &ip, &fl))
            continue;
        if (count == max) {
            fl |= ST_HDR_R_TOO_MANY;
            break;
        }
        inet_ntop(ip.af, ip.bytes, ip.text, sizeof(ip.text));
        out[count++] = ip;
    }
    if (flags)
        *flags |= fl;
    return count;
}

bool st_hdr_received_path_ip(const char *in, size_t len, struct st_hdr_ip *out)
{
    struct st_hdr_ip ips[2];
    size_t n = st_hdr_received_ips(in, len, ips, 2, NULL);

    if (n == 0)
        return false;
    *out = ips[n - 1];
    return true;
}
