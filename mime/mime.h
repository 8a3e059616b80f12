/*
 * mime.h - streaming MIME parser: the bytes of one RFC 5322 message in,
 * events out (headers, parts, transfer-decoded body data, anomalies).
 *
 * A push parser. st_mime_feed() takes the message in pieces of any size;
 * every split of the same bytes gives the same events (DATA may come in
 * different chunks, the concatenation is the same). Memory per message is
 * bounded by the limits whatever the message size: no part or message is
 * held; the parser keeps one header block (<= max_header_bytes), one
 * boundary-candidate line per message level (<= max_line) and one frame per
 * open part (<= max_depth + 1). st_mime_memory() tells the current total.
 *
 * Memory is also sized to the message, not to the limits, because a sensor
 * has thousands of messages open at once: buffers start small and grow only
 * when a header block, a line, a decoded slice or an attribute needs it, and
 * large ones are given back when that is over. Guarantees (default limits,
 * 64-bit; tests/unit/mime/test_parser.c checks them): a new parser uses under
 * 2 KiB; after the header blocks of a multipart/mixed with a text part and
 * a base64 attachment, under 4 KiB; while a base64 or quoted-printable body
 * streams, under 8 KiB plus the open parts' attribute strings, whatever the
 * body size and the chunking.
 *
 * How it fails: never. Malformed or hostile input becomes an ANOMALY event
 * and parsing goes on; a limit that is hit is an anomaly plus a flag on the
 * part. Lost bytes (st_mime_gap) are counted in the parts they fall in.
 * Out of memory degrades like a limit (anomaly "out_of_memory").
 *
 * Recursion: nested multiparts use an explicit frame stack. The one place
 * C calls nest is message/rfc822 and message/global: the decoded body of
 * such a part feeds a nested parser level, so calls nest once per
 * encapsulated message, at most max_msg_depth (default 20, never above 100)
 * levels of a few hundred bytes of stack each (plus, within a level, one
 * replay of a header block's first body line, see "Header blocks").
 *
 * Strings and data in an event are owned by the parser and valid only during
 * the callback. The st_mime_part pointer is the same for every event of one
 * part (HEADER, PART_BEGIN, DATA, PART_END) and stays valid until its
 * PART_END callback returns. The callback must not call back into the parser.
 *
 * ---- Events, in order, for every entity (the message and each part) ----
 *   HEADER*     every header field of the entity, in order, emitted when its
 *               header block ends (so that the part is fully described)
 *   PART_BEGIN  the part's description (content type, parameters, path...)
 *   DATA*       transfer-decoded body bytes, in chunks (leaf and message/...
 *               parts); for a multipart, its preamble (the bytes before its
 *               first delimiter line: all of its body when no part opens in
 *               it, see "What is and is not a part")
 *   ...         children of a container (multipart or message/...), in order
 *   PART_END    sizes and flags
 * ANOMALY events may come at any point, attached to the part in progress.
 * An anomaly raised inside a header block comes before that block's HEADER
 * events; the part then has its id, parent_id, depth and msg_depth, but its
 * path is NULL for the root entity of a message (top-level or embedded: its
 * number depends on the content type, not known yet) and content fields are
 * not set yet.
 *
 * ---- Header blocks ----
 * A line that is neither a header field, a continuation nor the empty line
 * ends the block and is the first body line (anomaly
 * missing_header_separator, as Python's email package does), so content is
 * not lost when the empty line is missing. A first line "From " of the
 * message (mbox separator) is skipped (anomaly mbox_from_line). A boundary
 * line ends the block and the part (anomaly boundary_in_headers).
 *
 * ---- What is and is not a part ----
 * The preamble and the epilogue of a multipart are not parts. The preamble
 * is the multipart's own DATA, so that a multipart in which no part opens
 * keeps its body: at its PART_END, flag ST_MIME_PF_NO_PARTS, anomaly
 * "boundary_not_found" (no delimiter line at all) or
 * "multipart_without_parts" (a close delimiter first). The epilogue gives no
 * DATA. The CRLF (or LF) before a boundary line belongs to the boundary
 * (RFC 2046 5.1.1): "hello\r\n--b" gives the body "hello". A boundary line is
 * "--" boundary ["--"] followed only by spaces/tabs (transport padding) and
 * the line end; "--abc" never matches boundary "abcd" nor "--abcd" boundary
 * "abc". Lines are checked against the open multiparts of the same message
 * level, innermost first (a nested multipart that declares an enclosing
 * one's boundary owns its lines until its close delimiter: anomaly
 * "boundary_reused"); a boundary of an outer multipart ends the inner ones
 * (anomaly "outer_boundary_closes_inner", flag ST_MIME_PF_NO_FINAL_BOUNDARY).
 * A multipart whose boundary= is given twice (or whose repeated Content-Type
 * is a multipart with another boundary) is delimited by either boundary;
 * st_mime_part.boundary is the first.
 * A close delimiter ends a multipart's parts but not the multipart: it stays
 * open through its epilogue, until a line of an enclosing multipart or the
 * end of its level ends it (its raw_size still ends at the close delimiter),
 * and a delimiter line of its own there opens one more part, numbered on
 * (anomaly "part_after_final_boundary"): RFC 2046 calls that epilogue, a
 * lenient reader shows it. At the end of the message every open part ends
 * (anomaly "missing_final_boundary" for each multipart without its close
 * delimiter); the line end at the very end of the message is kept in the
 * last part.
 *
 * ---- message/rfc822 and message/global ----
 * Such a part (an attached e-mail) is a container AND gets DATA: its DATA is
 * the transfer-decoded body, i.e. the raw bytes of the embedded message. The
 * same decoded bytes are parsed as a nested message: its root entity follows
 * as the part's only child (its own HEADER events, PART_BEGIN, ...). A
 * base64 or quoted-printable message part is decoded first, then parsed.
 * Boundaries of the enclosing multiparts are looked for in the undecoded
 * bytes, never in the embedded message (which has its own boundary stack).
 * A message/rfc822 part with any encoding (RFC 2046 5.2.1 forbids it; RFC
 * 6532 allows base64 and quoted-printable for message/global) is anomaly
 * "encoded_message". A base64 one whose first SNIFF_MAX (64) body bytes
 * hold anything but the alphabet, '=' and blanks is a message sent as it is
 * under a base64 label: passed on and parsed raw (anomaly
 * "message_not_base64", flag ST_MIME_PF_RAW_MESSAGE, encoding 7bit), since
 * decoding it would hide the parts its raw bytes show.
 * Other message/ subtypes (partial, external-body, delivery-status,
 * rfc822-headers...) are leaf parts. In multipart/digest the default type of a
 * child is message/rfc822.
 *
 * ---- Part paths (part->path), IMAP section numbers (RFC 3501 6.4.5) ----
 *  - The root entity of the message: "1" when it is not multipart; "" (empty)
 *    when it is a multipart (IMAP gives the message itself no number).
 *  - The n-th child (n from 1) of a multipart with path Q: "n" when Q is "",
 *    else "Q.n".
 *  - The root entity of a message embedded in a message/... part with path P:
 *    "P.1" when it is not multipart; "P" when it is multipart (IMAP numbers
 *    its children P.1, P.2 ... directly).
 * So the two kinds of root that are multipart share their path with the
 * container above them (or have ""); part->id is the unique key.
 * Example: multipart/mixed { text/plain, message/rfc822 { multipart/
 * alternative { text/plain, text/html } } } gives paths "", "1", "2", "2",
 * "2.1", "2.2".
 *
 * ---- Nesting numbers ----
 * depth: 0 for the root entity, parent's depth + 1 for every other entity
 * (the root of an embedded message is a child of its message part).
 * msg_depth: number of message/... parts enclosing the entity (0 at top level,
 * 1 for the embedded message's root and all of its parts, ...).
 *
 * ---- Transfer encodings ----
 * base64 (whitespace anywhere, any line length, other bytes skipped and
 * counted, missing padding, data after padding all tolerated), quoted-
 * printable (soft breaks "=\r\n" and "=\n", trailing whitespace stripped per
 * RFC 2045, bad escapes kept literally), x-uuencode (data between "begin" and
 * "end"), 7bit, 8bit, binary (passed through). An unknown encoding is passed
 * through raw (anomaly "unknown_transfer_encoding"). A multipart with an
 * encoding other than 7bit/8bit/binary is parsed as if it had none (anomaly
 * "encoded_multipart"). Decoder problems are reported once per part, just
 * before its PART_END (anomalies "base64_garbage", "base64_data_after_padding",
 * "base64_truncated", "qp_bad_escape", "uu_bad_line", "uu_missing_end",
 * "uu_missing_begin").
 *
 * ---- Anomaly names (event name), detail in value ----
 * header_too_large, too_many_headers, malformed_header (dropped line),
 * orphan_continuation, missing_header_separator (a line that is no header
 * starts the body), headers_not_terminated, mbox_from_line, gap_in_headers,
 * duplicate_content_type, duplicate_content_transfer_encoding,
 * duplicate_content_disposition, malformed_content_type,
 * malformed_content_disposition, malformed_content_transfer_encoding,
 * multipart_without_boundary, boundary_too_long, depth_exceeded,
 * message_depth_exceeded, too_many_parts, boundary_in_headers,
 * outer_boundary_closes_inner, missing_final_boundary, boundary_not_found,
 * multipart_without_parts, part_after_final_boundary, boundary_reused,
 * encoded_message, message_not_base64,
 * unknown_transfer_encoding, encoded_multipart, duplicate_parameter,
 * rfc2231_missing_section, rfc2231_malformed, attribute_truncated,
 * out_of_memory, and the decoder ones above.
 *
 * Transfer decoders (st_b64_*, st_qp_*, st_uu_*), the header value parsers
 * (st_mime_ctype_parse, st_mime_token_parse, st_mime_param_get) and the
 * boundary line check (st_mime_boundary_match) are usable on their own; see
 * the end.
 *
 * Files: the parser is mime/parser.c (the functions below) with level.c,
 * headers.c, describe.c, scan.c, body.c and part.c, which share the private
 * mime/mime_int.h (it tells how they fit); params.c, boundary.c, b64.c,
 * qp.c and uu.c are the stand-alone pieces. TNEF (winmail.dat) is separate:
 * mime/tnef.h.
 */
#ifndef ST_MIME_MIME_H
#define ST_MIME_MIME_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ limits */

typedef struct st_mime_limits {
    size_t max_header_bytes; /* raw bytes of one entity's header block (65536, like Zeek);
                                beyond: the field being read is cut, the rest of the block
                                is skipped up to its empty line (anomaly header_too_large) */
    size_t max_headers;      /* header fields reported per entity (1000); later fields are
                                still interpreted (Content-*) but get no HEADER event */
    unsigned max_depth;      /* deepest entity depth (100, like Zeek); a multipart or message
                                part at this depth is an opaque leaf (anomaly depth_exceeded);
                                at most 10000 */
    unsigned max_msg_depth;  /* message/... nesting (20, at most 100); deeper: opaque leaf */
    size_t max_parts;        /* entities per message (10000); at the boundary that would
                                open one more, splitting stops: the rest of the message stays
                                in the part in progress (anomaly too_many_parts) */
    size_t max_line;         /* a line longer than this (1000 bytes, line end excluded) is
                                never a boundary; 300..65536 */
} st_mime_limits;

void st_mime_limits_default(st_mime_limits *lim);

/* ------------------------------------------------------------------- parts */

typedef enum {
    ST_MIME_LEAF = 0,  /* body is data */
    ST_MIME_MULTIPART, /* body is a preamble, children, an epilogue; no DATA */
    ST_MIME_MESSAGE,   /* message/rfc822 or message/global: DATA and one child */
} st_mime_kind;

typedef enum {
    ST_MIME_ENC_7BIT = 0, /* also: no Content-Transfer-Encoding */
    ST_MIME_ENC_8BIT,
    ST_MIME_ENC_BINARY,
    ST_MIME_ENC_BASE64,
    ST_MIME_ENC_QP,
    ST_MIME_ENC_UUENCODE, /* x-uuencode, x-uue, uuencode, uue */
    ST_MIME_ENC_UNKNOWN,  /* passed through raw */
} st_mime_enc;

typedef enum {
    ST_MIME_CT_DECLARED = 0, /* from a well-formed Content-Type field */
    ST_MIME_CT_DEFAULT,      /* no Content-Type field: the default applies */
    ST_MIME_CT_MALFORMED,    /* unparsable Content-Type: the default applies (anomaly) */
} st_mime_ct_source;

/* st_mime_param.flags */
#define ST_MIME_PARAM_PRESENT   0x0001u /* the parameter was found (value may be empty) */
#define ST_MIME_PARAM_RFC2231   0x0002u /* extended syntax name*= or name*0= used */
#define ST_MIME_PARAM_CONTINUED 0x0004u /* RFC 2231 continuations name*0, name*1... */
#define ST_MIME_PARAM_TRUNCATED 0x0008u /* value longer than the buffer: cut */
#define ST_MIME_PARAM_GAP       0x0010u /* a continuation section is missing */
#define ST_MIME_PARAM_BAD_PCT   0x0020u /* bad %xx in an extended value, kept literally */
#define ST_MIME_PARAM_DUPLICATE                                                                    \
    0x0040u                           /* given more than once (first wins), or both                \
                                         plain and RFC 2231 forms (RFC 2231 wins) */
#define ST_MIME_PARAM_BAD_EXT 0x0080u /* extended value without charset'lang' prefix */
#define ST_MIME_PARAM_UNTERM  0x0100u /* quoted string without closing quote */

/* Bytes kept of a name= / filename= value (the parser's buffer is sized to
 * the value; longer: cut, ST_MIME_PARAM_TRUNCATED, anomaly attribute_truncated). */
#define ST_MIME_PARAM_MAX   8192
#define ST_MIME_CHARSET_MAX 64 /* bytes kept of a charset name, NUL included */
#define ST_MIME_LANG_MAX    32 /* bytes kept of an RFC 2231 language tag, NUL included */

typedef struct st_mime_param {
    const uint8_t *value; /* NULL when absent; raw bytes after RFC 2231 decoding (sections
                             joined, %xx decoded, quoted-string unescaped), NUL-terminated
                             but may contain NUL: use len. RFC 2047 words left as they are */
    size_t len;
    const char *charset;  /* RFC 2231 charset, lower-cased ("utf-8"); NULL if none */
    const char *language; /* RFC 2231 language; NULL if none or empty */
    unsigned flags;       /* ST_MIME_PARAM_* */
} st_mime_param;

/* st_mime_part.flags */
#define ST_MIME_PF_HEADER_TRUNCATED  0x0001u /* header block over max_header_bytes */
#define ST_MIME_PF_TOO_MANY_HEADERS  0x0002u /* more than max_headers fields */
#define ST_MIME_PF_NO_FINAL_BOUNDARY 0x0004u /* multipart ended without "--b--" */
#define ST_MIME_PF_DEPTH_LIMIT       0x0008u /* container beyond a depth limit: opaque leaf */
#define ST_MIME_PF_PARTS_LIMIT       0x0010u /* max_parts reached: rest of message kept here */
#define ST_MIME_PF_GAP               0x0020u /* bytes of this entity were lost (missing) */
#define ST_MIME_PF_ATTR_TRUNCATED    0x0040u /* a string attribute was cut to fit */
#define ST_MIME_PF_NO_HEADER_END     0x0080u /* header block not ended by an empty line */
#define ST_MIME_PF_DECODE_ERRORS     0x0100u /* the transfer decoder met bad input */
#define ST_MIME_PF_BAD_BOUNDARY      0x0200u /* multipart without usable boundary: leaf */
#define ST_MIME_PF_NO_PARTS                                                                        \
    0x0400u /* multipart that ended without a part: its DATA                                       \
               (the preamble) is all of its body */
#define ST_MIME_PF_RAW_MESSAGE                                                                     \
    0x0800u /* base64 message part whose body is no base64:                                        \
               passed on and parsed as it is */

typedef struct st_mime_part {
    unsigned id;        /* 0 for the root, then 1, 2... in order of appearance */
    int parent_id;      /* id of the enclosing entity, -1 for the root */
    const char *path;   /* IMAP section number, see above */
    unsigned depth;     /* see above */
    unsigned msg_depth; /* see above */
    st_mime_kind kind;  /* how the parser treats the body (after limits) */

    const char *content_type; /* lower-cased "type/subtype" (or the default) */
    st_mime_ct_source ct_source;
    const char *charset;           /* charset= parameter, lower-cased; NULL if none */
    const char *boundary;          /* boundary= parameter as given; NULL if none */
    st_mime_param name;            /* Content-Type name= */
    st_mime_param filename;        /* Content-Disposition filename= */
    const char *disposition;       /* disposition type, lower-cased; NULL if none */
    const char *content_id;        /* raw unfolded Content-ID; NULL if none */
    const char *description;       /* raw unfolded Content-Description; NULL if none */
    const char *transfer_encoding; /* Content-Transfer-Encoding token, lower-cased; NULL */
    st_mime_enc encoding;          /* the decoder applied to the body */

    uint64_t header_offset; /* where the header block starts (for a child of a multipart:
                               just after its boundary line), in the level's stream: the
                               message for msg_depth 0, else the decoded body of the
                               enclosing message part */
    uint64_t body_offset;   /* where the body starts, same stream */
    unsigned nheaders;      /* header fields seen (emitted or not) */

    /* Counters, final at PART_END */
    uint64_t decoded_size; /* DATA bytes emitted */
    uint64_t raw_size;     /* body length in the level's stream (from body_offset to the
                              line end before the closing boundary, or to the end); lost
                              bytes included */
    uint64_t missing;      /* bytes lost (st_mime_gap) inside the entity, headers included */
    unsigned flags;        /* ST_MIME_PF_* */
} st_mime_part;

/* ------------------------------------------------------------------ events */

typedef enum {
    ST_MIME_EV_HEADER,     /* part, name (lower-cased), value/value_len: unfolded raw value */
    ST_MIME_EV_PART_BEGIN, /* part */
    ST_MIME_EV_DATA,       /* part, data/len: transfer-decoded body bytes */
    ST_MIME_EV_PART_END,   /* part: counters and flags are final */
    ST_MIME_EV_ANOMALY,    /* part (NULL outside any part), name, value: detail or NULL */
} st_mime_ev_type;

typedef struct st_mime_event {
    st_mime_ev_type type;
    const st_mime_part *part;
    const char *name;
    /* HEADER: the field body with line folds removed (CRLF before a blank
       dropped, the blank kept), leading and trailing blanks trimmed,
       NUL-terminated but may contain NUL bytes. ANOMALY: text or NULL. */
    const uint8_t *value;
    size_t value_len;
    const uint8_t *data; /* DATA */
    size_t len;
} st_mime_event;

typedef void (*st_mime_event_fn)(void *ctx, const st_mime_event *ev);

/* ------------------------------------------------------------------ parser */

typedef struct st_mime st_mime;

/* lim NULL: defaults. NULL when out of memory. */
st_mime *st_mime_new(const st_mime_limits *lim, st_mime_event_fn fn, void *ctx);
void st_mime_free(st_mime *p);

/* Message bytes, in order. */
void st_mime_feed(st_mime *p, const uint8_t *data, size_t len);

/* len bytes of the message were lost. The part in progress counts them as
 * missing; decoders and line state restart after the hole. */
void st_mime_gap(st_mime *p, uint64_t len);

/* End of the message: ends every open part. Later feeds are ignored. */
void st_mime_finish(st_mime *p);

/* Bytes the parser has allocated now (its own heap use, all buffers; what
 * malloc adds per block is not counted). See "Memory" at the top. */
size_t st_mime_memory(const st_mime *p);

/* ------------------------------------------------- header value parsing */

/*
 * Content-Type value -> lower-cased "type/subtype" in out[cap] (NUL-terminated).
 * Comments and blanks around the tokens are skipped. Returns 0, or -1 when
 * malformed (no type, no "/", no subtype, or longer than cap - 1). *params_at
 * receives where the parameters start (after the subtype, or at the first ';'
 * when malformed) for st_mime_param_get().
 */
int st_mime_ctype_parse(const uint8_t *v, size_t len, char *out, size_t cap, size_t *params_at);

/* First token of a value (Content-Transfer-Encoding, Content-Disposition type),
 * lower-cased, comments skipped. Returns 0, or -1 if none or too long. */
int st_mime_token_parse(const uint8_t *v, size_t len, char *out, size_t cap, size_t *rest_at);

/* Where a parameter value goes. */
typedef struct st_mime_pval {
    uint8_t *buf;                      /* in: room for cap bytes; out: value, NUL-terminated */
    size_t cap;                        /* in: >= 1 */
    size_t len;                        /* out: value length (without the NUL) */
    char charset[ST_MIME_CHARSET_MAX]; /* out: RFC 2231 charset, lower-cased, or "" */
    char language[ST_MIME_LANG_MAX];   /* out: RFC 2231 language or "" */
    unsigned flags;                    /* out: ST_MIME_PARAM_* */
} st_mime_pval;

/*
 * Find parameter attr (case-insensitive) in v[from..len): the ";"-separated
 * attribute=value list of a Content-Type or Content-Disposition value. Values
 * may be tokens, quoted strings (backslash escapes), or unquoted runs up to
 * the next ';' (lenient: "filename=my file.pdf"). RFC 2231: attr*=charset'
 * lang'%xx.., attr*0=, attr*0*=, attr*1*=... (sections in any order, joined
 * in index order, at most 128); the RFC 2231 form wins over a plain attr=.
 * Quoted values are skipped whole, so attr= inside another value never
 * matches. Returns 1 when present (pv filled), 0 when absent.
 */
int st_mime_param_get(const uint8_t *v, size_t len, size_t from, const char *attr,
                      st_mime_pval *pv);

/* The last plain attr= of the list (RFC 2231 forms are not looked at):
 * where a parameter is given twice, the value st_mime_param_get does not
 * take. Returns 1 when present (pv filled, flags PRESENT only), 0 when not. */
int st_mime_param_last(const uint8_t *v, size_t len, size_t from, const char *attr,
                       st_mime_pval *pv);

/* Boundary line check: line[len] without its LF (a CR may end it). Returns
 * ST_MIME_BD_NONE, ST_MIME_BD_DELIM ("--b") or ST_MIME_BD_CLOSE ("--b--"). */
#define ST_MIME_BD_NONE  0
#define ST_MIME_BD_DELIM 1
#define ST_MIME_BD_CLOSE 2
int st_mime_boundary_match(const uint8_t *line, size_t len, const uint8_t *b, size_t blen);

/* ----------------------------------------------------- transfer decoders */
/*
 * Each decoder: a state struct, init, feed (any split of the input gives the
 * same output bytes), finish (flushes what is pending and resets the state
 * for reuse). Output goes to a caller buffer sized by the *_OUT_MAX macro for
 * the input length; the return value is the number of bytes written.
 */

/* base64: alphabet A-Z a-z 0-9 + /; SP HT CR LF ignored; '=' ends a group
 * (a lone sextet before it is dropped); any other byte is skipped and counted
 * in garbage; alphabet after padding starts a new group (flag). */
#define ST_B64_DATA_AFTER_PAD 0x01u
#define ST_B64_NO_PADDING     0x02u /* input ended inside a group without '=' */
#define ST_B64_LONE_SEXTET    0x04u /* a group of one character: 6 bits dropped */
#define ST_B64_STRAY_PAD      0x08u /* '=' where no group was open */

typedef struct st_b64 {
    uint32_t acc;
    uint8_t n;      /* sextets in acc */
    uint8_t padded; /* the last group was closed by '=' */
    unsigned flags; /* ST_B64_*, sticky until init */
    uint64_t garbage;
} st_b64;

#define ST_B64_OUT_MAX(len) (((len) / 4 + 1) * 3)
void st_b64_init(st_b64 *s);
size_t st_b64_feed(st_b64 *s, const uint8_t *in, size_t len, uint8_t *out);
size_t st_b64_finish(st_b64 *s, uint8_t *out); /* out: >= 3 bytes */

/* quoted-printable: "=XY" (either case), soft breaks "=" [blanks] (CR)LF,
 * blanks (SP, HT, CR) before a line end or at the end are dropped, line ends
 * are kept as they came (CRLF or LF). A bad escape is kept literally. Runs of
 * more than ST_QP_WS_MAX blanks are passed through without stripping. */
#define ST_QP_WS_MAX        128
#define ST_QP_OUT_MAX(len)  ((len) + ST_QP_WS_MAX + 4)
#define ST_QP_BAD_ESCAPE    0x01u
#define ST_QP_LOWERCASE_HEX 0x02u

typedef struct st_qp {
    uint8_t st;  /* 0 text, 1 after '=', 2 after '=' and a hex digit, 3 after '=' blanks */
    uint8_t hex; /* the digit of state 2 */
    uint16_t nws;
    uint8_t ws[ST_QP_WS_MAX]; /* blanks held until we know whether a line end follows */
    unsigned flags;
    uint64_t bad; /* bad escapes */
} st_qp;

void st_qp_init(st_qp *s);
size_t st_qp_feed(st_qp *s, const uint8_t *in, size_t len, uint8_t *out);
size_t st_qp_finish(st_qp *s, uint8_t *out); /* out: >= ST_QP_OUT_MAX(0) */

/* uuencode: lines before "begin <mode> <name>" are skipped, data lines are
 * decoded (length character, 4-character groups, "`" as space), "end" stops;
 * later text until another "begin" is skipped. Lines longer than
 * ST_UU_LINE_MAX are bad lines (skipped). The name of the last "begin" line
 * is kept in name[]. */
#define ST_UU_LINE_MAX     128
#define ST_UU_OUT_MAX(len) ((len) + 64)
#define ST_UU_BAD_LINE     0x01u
#define ST_UU_NO_END       0x02u /* finished inside a begin/end block */
#define ST_UU_NO_BEGIN     0x04u /* finished without any begin line */

typedef struct st_uu {
    uint8_t st;   /* 0 looking for begin, 1 in data, 2 after end */
    uint8_t over; /* the current line is too long */
    uint16_t n;   /* bytes in line */
    uint8_t line[ST_UU_LINE_MAX];
    char name[ST_UU_LINE_MAX];
    unsigned flags;
    unsigned blocks; /* begin lines seen */
} st_uu;

void st_uu_init(st_uu *s);
size_t st_uu_feed(st_uu *s, const uint8_t *in, size_t len, uint8_t *out);
size_t st_uu_finish(st_uu *s, uint8_t *out); /* out: >= ST_UU_OUT_MAX(0) */

#endif
