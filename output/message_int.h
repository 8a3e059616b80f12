/*
 * message_int.h - what the message_*.c files share: the st_message state
 * and the entry points of its parts (headers, body, attachments). Not an
 * API: only output/message*.c include it.
 *
 * Every list here has a cap, so the state of one message is bounded by the
 * configuration whatever the message: headers by ST_MSG_HDR_BYTES, bodies by
 * body_max, attachments by max_attachments entries plus one writer per open
 * part (at most max_msg_depth + 1 are open at once). Buffers are sized to
 * what the message needs, not to the caps (thousands of messages may be
 * open at once): the decoding scratch and the body blocks grow on demand
 * and shrink back when the value or the part is done.
 */
#ifndef ST_OUTPUT_MESSAGE_INT_H
#define ST_OUTPUT_MESSAGE_INT_H

#include "analyze/hash.h"
#include "output/message.h"

#define ST_MSG_MAX_ANOMALIES 100
#define ST_MSG_HDR_NAMES     200          /* distinct header names kept */
#define ST_MSG_HDR_BYTES     (256 * 1024) /* names + values of the headers object */
#define ST_MSG_MAX_ADDRS     1000         /* entries of to, of cc */
#define ST_MSG_MAX_RECEIVED  1000
#define ST_MSG_MAX_PATH      1000
#define ST_MSG_STORE_OPEN    8   /* store objects open at once (16 KiB buffer each) */
#define ST_MSG_WRITERS_MAX   256 /* open attachments; the parser allows at most 101 */
#define ST_MSG_BODY_BLOCK    4096
#define ST_MSG_DETAIL_MAX    1024                         /* bytes of an anomaly detail */
#define ST_MSG_FNAME_BUF     (4 * ST_MIME_PARAM_MAX + 16) /* most a file name step writes */
#define ST_MSG_SCRATCH_MIN   256                          /* decoding scratch kept between values */

typedef struct st_msg_str {
    char *s; /* NULL: absent; may contain NUL, use n */
    size_t n;
} st_msg_str;

typedef struct st_msg_hdr {
    char *name;
    char *val; /* values joined with "\n" */
    size_t len, cap;
} st_msg_hdr;

typedef struct st_msg_headers {
    st_msg_hdr *v;
    size_t n, cap;
    size_t bytes;     /* counted against ST_MSG_HDR_BYTES */
    uint64_t dropped; /* header fields left out of the object */
    char *scratch;    /* scratch_cap bytes, grown up to header_value_max + 1 */
    size_t scratch_cap;
    st_msg_str from, reply_to, subject, date, message_id, in_reply_to;
    st_msg_str user_agent, x_mailer, x_user_agent, x_orig_ip;
    json_t *to, *cc, *received, *path;
    int to_cut, cc_cut, received_cut, path_cut;
    char last_ip[46];
} st_msg_headers;

typedef struct st_msg_body {
    int taken;     /* a part was chosen as this body */
    int open;      /* that part is in progress */
    int stop;      /* body_max reached: no more conversion */
    int truncated; /* output was cut at body_max */
    unsigned part_id;
    char charset[ST_MIME_CHARSET_MAX]; /* "" when the part declares none */
    uint8_t *in;                       /* decoded bytes waiting for conversion: incap bytes, grown
                                          up to ST_MSG_BODY_BLOCK, freed at the end of the part */
    size_t inlen, incap;
    char *out; /* UTF-8 text, at most body_max bytes */
    size_t len, cap;
} st_msg_body;

/* An attachment found inside another part's bytes (TNEF, uuencode). */
typedef struct st_msg_inner {
    json_t *entry;   /* borrowed: owned by the attachments array */
    st_store_obj *o; /* NULL: hash only */
    st_hash hash;
    uint64_t size;
    int open;
} st_msg_inner;

typedef struct st_msg_writer {
    unsigned part_id;
    json_t *entry;   /* borrowed: owned by the attachments array */
    st_store_obj *o; /* NULL: hash only */
    st_hash hash;    /* used when o is NULL */
} st_msg_writer;

struct st_message {
    st_message_config cfg;
    st_mime *mime;
    int finished;

    st_msg_headers hdr;
    st_msg_body body[2]; /* text/plain, text/html */

    json_t *attachments;
    uint64_t attach_dropped;
    st_msg_writer *w; /* stack of open attachments, innermost last */
    size_t nw, wcap;
    size_t nstore; /* writers with a store object */

    json_t *anomalies;
    uint64_t anomalies_dropped;

    struct st_msg_tnef *tnef; /* the winmail.dat part being unpacked, if any */
    struct st_msg_uu *uu;     /* the text part being searched for uuencoded files */
};

/* message.c */
void st_msg_anomaly(st_message *m, const char *name, const char *detail, size_t detail_len,
                    const char *mime_path);
void st_msg_anomaly_count(st_message *m, const char *name, uint64_t n, const char *mime_path);

/* message_headers.c */
int st_msg_headers_init(st_message *m);
void st_msg_headers_add(st_message *m, const char *name, const uint8_t *v, size_t n);
void st_msg_headers_json(st_message *m, json_t *obj);
void st_msg_headers_free(st_msg_headers *h);
/* RFC 2047-decode v into hdr.scratch (at most header_value_max bytes); the
 * decoded length. st_msg_scratch_trim() gives a large scratch back. */
size_t st_msg_decode(st_message *m, const char *v, size_t n, unsigned *flags);
void st_msg_scratch_trim(st_message *m);
size_t st_msg_headers_memory(const st_msg_headers *h);

/* message_body.c: claim returns 1 when the part is a body (never an attachment). */
int st_msg_body_claim(st_message *m, const st_mime_part *p);
int st_msg_body_data(st_message *m, const st_mime_part *p, const uint8_t *d, size_t n);
int st_msg_body_end(st_message *m, const st_mime_part *p);
void st_msg_body_json(st_message *m, json_t *obj);
void st_msg_body_free(st_message *m);
size_t st_msg_body_memory(const st_message *m);

/* message_attach.c */
void st_msg_attach_begin(st_message *m, const st_mime_part *p);
void st_msg_attach_data(st_message *m, const st_mime_part *p, const uint8_t *d, size_t n);
void st_msg_attach_end(st_message *m, const st_mime_part *p);
void st_msg_attach_free(st_message *m);
void st_msg_suspicious(st_message *m, unsigned flags, const char *path);

/* message_inner.c: entries for attachments inside another part's bytes. */
int st_msg_inner_begin(st_message *m, st_msg_inner *x, const char *path);
void st_msg_inner_data(st_msg_inner *x, const uint8_t *d, size_t n);
/* filename: stolen (NULL: none); ctype: NULL keeps application/octet-stream */
void st_msg_inner_end(st_message *m, st_msg_inner *x, json_t *filename, const char *ctype);
void st_msg_inner_abort(st_msg_inner *x);
json_t *st_msg_inner_name(st_message *m, const char *charset, const void *name, size_t n,
                          const char *path);

/* message_uu.c: uuencoded files in a text/plain part, listed after it. */
void st_msg_uu_begin(st_message *m, const st_mime_part *p);
void st_msg_uu_data(st_message *m, const st_mime_part *p, const uint8_t *d, size_t n);
void st_msg_uu_end(st_message *m, const st_mime_part *p);
void st_msg_uu_free(st_message *m);

/* message_tnef.c: a TNEF part's inner attachments, listed after it. */
int st_msg_tnef_wanted(const st_mime_part *p);
void st_msg_tnef_begin(st_message *m, const st_mime_part *p);
void st_msg_tnef_data(st_message *m, const st_mime_part *p, const uint8_t *d, size_t n);
void st_msg_tnef_end(st_message *m, const st_mime_part *p);
void st_msg_tnef_free(st_message *m);

#endif
