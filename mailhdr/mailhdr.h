/*
 * mailhdr.h - decoding of mail header values: charsets, RFC 2047 encoded words,
 * address lists, Received-header IPs, attachment file names.
 *
 * Contract shared by every function here:
 *  - Inputs are (pointer, length) byte strings straight from the wire: they may hold
 *    NUL, 8-bit bytes, invalid UTF-8 and CR/LF folds. Nothing is read past len.
 *  - Outputs go into caller buffers with a capacity; text outputs are always valid
 *    UTF-8, cut only at a character boundary, NUL-terminated when cap > 0 (the NUL
 *    is not counted in the returned length). Decoded text may contain NUL bytes
 *    (an encoded word can carry one): use the returned length, not strlen.
 *  - Nothing allocates on the heap except st_charset_utf8_dup (the copy it
 *    returns, NULL without memory) and the iconv descriptors cached by the
 *    charset module; nothing prints, aborts or exits. Problems are reported as
 *    flag bits OR-ed into *flags (callers zero it first; flags may be NULL).
 *  - Not thread-safe: the charset module keeps one process-wide iconv cache. Use
 *    the header decoders from one thread, or one process per thread.
 *
 * SECURITY: file names, address strings and every other text produced here are
 * DATA for JSON output and anomaly checks. A file name from the wire is NEVER
 * used to build a path: the store names files by their hash.
 */
#ifndef ST_MAILHDR_H
#define ST_MAILHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- charset.c */

#define ST_CHARSET_F_UNKNOWN   0x01u /* charset not known: bytes passed as UTF-8 (see below) */
#define ST_CHARSET_F_INVALID   0x02u /* invalid/incomplete sequence(s) replaced by U+FFFD */
#define ST_CHARSET_F_TRUNCATED 0x04u /* output capacity reached; output cut at a char boundary */
#define ST_CHARSET_F_BADNAME   0x08u /* charset name had forbidden bytes or was too long */

/* Mode for st_charset_conv(): leave an incomplete sequence at the end of the input
   unconsumed (the caller will append more bytes). */
#define ST_CHARSET_PARTIAL 0x01u

/*
 * Convert len bytes in charset (a MIME charset label, case-insensitive, may be NULL or
 * "") to UTF-8 in out[cap], NUL-terminated. Returns the bytes written (without NUL).
 *
 * Label handling: surrounding quotes/blanks are dropped; mail aliases iconv lacks are
 * mapped (utf8, latin1, ks_c_5601-1987 -> CP949, gb2312/gbk -> GB18030, shift_jis ->
 * CP932, iso-8859-8-i -> ISO-8859-8, unicode-1-1-utf-7 -> UTF-7, ...). As browsers do
 * (WHATWG), iso-8859-1/latin1 decode as windows-1252 (0x80-0x9F are the curly quotes
 * etc. that such mail means); us-ascii passes valid UTF-8 through, else windows-1252.
 * Unknown labels ("x-unknown", "unknown-8bit", "", names iconv refuses): the bytes are
 * kept as-is when valid UTF-8, otherwise each invalid byte becomes U+FFFD;
 * ST_CHARSET_F_UNKNOWN is set (except for "" / NULL, which just means "no label").
 * Invalid sequences in a known charset become U+FFFD and conversion continues.
 */
size_t st_charset_to_utf8(const char *charset, const void *in, size_t len, char *out, size_t cap,
                          unsigned *flags);

/*
 * Lower level: convert into out[room] (no NUL written). *consumed receives the number
 * of input bytes used: less than len when the room ran out (ST_CHARSET_F_TRUNCATED)
 * or, with ST_CHARSET_PARTIAL, when the input ends inside a multi-byte character.
 */
size_t st_charset_conv(const char *charset, const void *in, size_t len, char *out, size_t room,
                       size_t *consumed, unsigned mode, unsigned *flags);

/* True when the two labels name the same decoder (after aliasing). */
bool st_charset_same(const char *a, const char *b);

/* True when in[len] is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool st_charset_utf8_valid(const void *in, size_t len);

/*
 * Make any byte string valid UTF-8 for JSON: valid sequences are copied, each invalid
 * byte becomes U+FFFD (ST_CHARSET_F_INVALID). out[cap] NUL-terminated; returns length.
 */
size_t st_charset_utf8_sanitize(const void *in, size_t len, char *out, size_t cap, unsigned *flags);

/* The same into a new heap buffer: at most cap bytes out (never a split
 * character), NUL-terminated, *outlen its length. NULL when out of memory. */
char *st_charset_utf8_dup(const void *in, size_t len, size_t cap, size_t *outlen);

/* Largest n <= max such that s[0..n) does not end inside a UTF-8 sequence of s[len]. */
size_t st_charset_utf8_cut(const char *s, size_t len, size_t max);

/* Close the cached iconv descriptors (at exit; the cache refills if used again). */
void st_charset_cleanup(void);

/* ---------------------------------------------------------------- rfc2047.c */

#define ST_HDR_F_TRUNCATED    0x0001u /* output capacity reached, output cut */
#define ST_HDR_F_MALFORMED_EW 0x0002u /* something like an encoded word kept literally */
#define ST_HDR_F_UNKNOWN_CS   0x0004u /* encoded word in an unknown charset */
#define ST_HDR_F_INVALID      0x0008u /* bytes invalid in their charset -> U+FFFD */
#define ST_HDR_F_RAW_8BIT     0x0010u /* unencoded 8-bit bytes in the header */
#define ST_HDR_F_RAW_NOT_UTF8 0x0020u /* ... and not UTF-8: decoded with the fallback charset */
#define ST_HDR_F_EW_ADJACENT  0x0040u /* encoded word glued to text (no whitespace around) */
#define ST_HDR_F_BAD_ENCODING 0x0080u /* bad base64/QP inside an encoded word (tolerated) */

/* Options for st_hdr_decode(); NULL means all defaults. */
struct st_hdr_decode_opts {
    /* Charset for unencoded 8-bit text that is not valid UTF-8 (e.g. the part's
       Content-Type charset). NULL: "windows-1252", what Arkime and browsers assume. */
    const char *fallback_charset;
    /* RFC 2047 6.2 drops all whitespace between adjacent encoded words. By default
       (false) only a single blank is dropped and a longer run is kept, as Arkime does:
       mailers that fold "?=\r\n  =?" with two blanks meant a space there (see the
       arkime smtp-subject-multi-nospace capture). true: strict RFC behaviour. */
    bool strict_ws;
};

/*
 * Decode a header value (after "Name:", folds included) into UTF-8 in out[cap].
 * Folding CR/LF are removed, leading and trailing blanks trimmed. Encoded words
 * =?charset[*lang]?B|Q?text?= are decoded wherever they start, even glued to text.
 * Adjacent encoded words in the same charset are joined as bytes before conversion,
 * so a character split across two words decodes. Malformed words stay literal.
 * B: missing padding tolerated, bad characters make the word malformed. Q: "_" is a
 * space, "=" not followed by two hex digits is kept literally. Unencoded 8-bit text
 * is kept if valid UTF-8, else converted from opts->fallback_charset.
 * Returns bytes written; flags get ST_HDR_F_*.
 */
size_t st_hdr_decode(const char *in, size_t len, char *out, size_t cap,
                     const struct st_hdr_decode_opts *opts, unsigned *flags);

/* ---------------------------------------------------------------- addr.c */

#define ST_HDR_NAME_MAX  256 /* display name (decoded UTF-8) incl. NUL */
#define ST_HDR_ADDR_MAX  320 /* addr-spec incl. NUL (RFC 5321 allows 254) */
#define ST_HDR_GROUP_MAX 128 /* group display name incl. NUL */

/* Per entry flags (st_hdr_addr.flags). */
#define ST_HDR_A_NAME_CUT    0x0001u /* display name truncated */
#define ST_HDR_A_ADDR_CUT    0x0002u /* address truncated */
#define ST_HDR_A_NO_AT       0x0004u /* address has no '@' */
#define ST_HDR_A_UNTERM      0x0008u /* unterminated quote, comment, <...> or [...] */
#define ST_HDR_A_JUNK        0x0010u /* extra words/angles ignored (e.g. "a b c@d") */
#define ST_HDR_A_ROUTE       0x0020u /* obsolete route "@a,@b:" stripped */
#define ST_HDR_A_EMPTY_GROUP 0x0040u /* "name:;" with no member: addr is "" */
#define ST_HDR_A_NAME_FLAGS  0x0080u /* the name decoder reported ST_HDR_F_* */

/* List flags (returned through *flags). */
#define ST_HDR_AL_TOO_MANY 0x0001u /* more entries than the cap: the rest are dropped */

struct st_hdr_addr {
    char name[ST_HDR_NAME_MAX];   /* display name, RFC 2047 decoded; or the comment of
                                     "a@b (Name)"; "" if none */
    char addr[ST_HDR_ADDR_MAX];   /* addr-spec as written (case kept), valid UTF-8 */
    char group[ST_HDR_GROUP_MAX]; /* decoded name of the enclosing group, "" if none */
    unsigned flags;               /* ST_HDR_A_* */
};

/* Called per entry; return false to stop. */
typedef bool (*st_hdr_addr_cb)(const struct st_hdr_addr *a, void *ctx);

/*
 * Parse an address-list header value (From, To, Cc, Reply-To, Bcc, Sender). Tolerant:
 * quoted strings with escapes, (nested) comments, groups "g: a, b;", "undisclosed-
 * recipients:;" (reported as one entry with empty addr and ST_HDR_A_EMPTY_GROUP),
 * angle-addr, bare addr-spec, obsolete routes, commas inside quotes. Empty entries
 * (",,") are skipped. At most max entries are delivered (Zeek uses 1000); then
 * ST_HDR_AL_TOO_MANY is set. Returns the number of entries delivered.
 */
size_t st_hdr_addrs_foreach(const char *in, size_t len, size_t max, st_hdr_addr_cb cb, void *ctx,
                            unsigned *flags);

/* Same, into an array of cap entries. Returns the count stored. */
size_t st_hdr_addrs_parse(const char *in, size_t len, struct st_hdr_addr *arr, size_t cap,
                          unsigned *flags);

/* st_hdr_path_addr() flags. */
#define ST_HDR_P_NULL     0x01u /* null path "<>" (bounce sender) */
#define ST_HDR_P_NO_ANGLE 0x02u /* path without <> (e.g. "MAIL FROM:a@b") */
#define ST_HDR_P_UNTERM   0x04u /* "<" without ">" */
#define ST_HDR_P_ROUTE    0x08u /* source route "@a,@b:" stripped */
#define ST_HDR_P_CUT      0x10u /* address truncated to cap */
#define ST_HDR_P_EMPTY    0x20u /* nothing that looks like a path */

/*
 * Extract the mailbox from an SMTP MAIL/RCPT argument: "<a@b> SIZE=1", "FROM:<a@b>",
 * "TO: <a@b>", "a@b BODY=8BITMIME", "<@r1,@r2:a@b>", "<>". A leading "FROM:"/"TO:"
 * is skipped; ESMTP parameters are ignored. Writes valid UTF-8 into out[cap].
 * Returns the length (0 for the null path, with ST_HDR_P_NULL).
 */
size_t st_hdr_path_addr(const char *arg, size_t len, char *out, size_t cap, unsigned *flags);

/* ---------------------------------------------------------------- received.c */

struct st_hdr_ip {
    int af;            /* AF_INET or AF_INET6 */
    uint8_t bytes[16]; /* network order; 4 used for AF_INET */
    char text[46];     /* canonical text (inet_ntop), NUL-terminated */
};

#define ST_HDR_R_TOO_MANY     0x01u /* more addresses than max */
#define ST_HDR_R_LEADING_ZERO 0x02u /* IPv4 written with leading zeros, read as decimal */

/*
 * Extract the IPv4/IPv6 addresses of one header value (Received, X-Originating-IP, ...)
 * in the order they appear: "[192.0.2.1]", "(1.2.3.4)", "[IPv6:2001:db8::1]",
 * "[2001:db8::1]:25", "fe80::1%5". Candidates must stand alone (not inside a host
 * name or version string like "8.14.7" or "id 15.20.4866.25") and pass inet_pton;
 * "010.000.00.02" style (anonymised) IPv4 is read as decimal like Arkime does.
 * Returns the count stored (<= max).
 */
size_t st_hdr_received_ips(const char *in, size_t len, struct st_hdr_ip *out, size_t max,
                           unsigned *flags);

/* Zeek's choice for its smtp.log `path`: the 2nd address of the header, else the 1st.
   Returns false when the header has none. */
bool st_hdr_received_path_ip(const char *in, size_t len, struct st_hdr_ip *out);

/* ---------------------------------------------------------------- fname.c */

#define ST_HDR_FNAME_MAX 8192 /* bytes kept of a file name (Arkime's smtp-moloch-bof: 4095) */

/* st_hdr_fname_clean() flags */
#define ST_HDR_FN_CUT     0x01u /* name longer than the cap: cut at a UTF-8 boundary */
#define ST_HDR_FN_BADUTF8 0x02u /* invalid UTF-8 bytes replaced by U+FFFD */

/*
 * The file name "as the sender wrote it", for JSON: valid UTF-8 (invalid bytes ->
 * U+FFFD), NUL/control bytes, slashes and ".." kept (the JSON writer escapes control
 * bytes), cut to min(cap - 1, ST_HDR_FNAME_MAX) bytes. Returns the length. The result
 * is a label for humans and JSON, NEVER a path.
 */
size_t st_hdr_fname_clean(const char *in, size_t len, char *out, size_t cap, unsigned *flags);

/* st_hdr_fname_is_suspicious() flags. */
#define ST_HDR_FS_PATHSEP  0x0001u /* '/' or '\\' */
#define ST_HDR_FS_DOTDOT   0x0002u /* ".." path component */
#define ST_HDR_FS_NUL      0x0004u /* NUL byte */
#define ST_HDR_FS_CTRL     0x0008u /* C0/C1 control or DEL */
#define ST_HDR_FS_LONG     0x0010u /* longer than 255 bytes */
#define ST_HDR_FS_BIDI     0x0020u /* bidi override/isolate, e.g. RTLO U+202E */
#define ST_HDR_FS_DOUBLE   0x0040u /* decoy double extension ".pdf.exe" */
#define ST_HDR_FS_ABSOLUTE 0x0080u /* "/x", "\\x", "C:..." */
#define ST_HDR_FS_BADUTF8  0x0100u /* not valid UTF-8 */
#define ST_HDR_FS_EMPTY    0x0200u /* empty or only dots/blanks */
#define ST_HDR_FS_PADDING  0x0400u /* run of >= 4 blanks or trailing blank/dot (hides ext.) */
#define ST_HDR_FS_INVIS    0x0800u /* zero-width / invisible formatting characters */

/* Anomaly flags for a decoded file name (UTF-8 expected, any bytes accepted). */
unsigned st_hdr_fname_is_suspicious(const char *in, size_t len);

#endif
