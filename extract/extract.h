/*
 * extract.h - one message, streamed, into plain facts and file objects.
 *
 * Bytes of one RFC 5322 message go in (from an SMTP transaction, an .eml
 * file or a Maildir entry) and through the MIME parser. Out come:
 *  - facts, plain C values read with st_extract_facts() once the message
 *    is over: the top-level headers (stoQ's object: repeats joined with
 *    "\n"), the structured fields (from, to, cc, subject, ..., received,
 *    path), body and body_html, one entry per attachment, one per MIME
 *    entity (parts: bodies and containers too), anomalies;
 *  - file objects: every attachment, every file found inside one (TNEF,
 *    uuencode), and every body part (st_extract_on_plain) is opened,
 *    written and closed through the st_extract_files callbacks as its
 *    decoded bytes stream past; so is the preamble of a multipart, thrown
 *    away (released unclosed) when a part opens in it. What happens to
 *    them (hashes, analyzers, the store) is not this layer's business; it
 *    keeps the handle in the attachment's (or the body part's) entry.
 * No JSON here: output/message_json.c turns the facts into the record.
 *
 * Entry points: st_extract_new, st_extract_on_body, st_extract_on_plain,
 * st_extract_feed, st_extract_gap, st_extract_cut, st_extract_finish,
 * st_extract_facts, st_extract_memory, st_extract_free.
 *
 * Limits (each hit is counted and said in the anomalies): header fields
 * kept (ST_X_HDR_NAMES names, ST_X_HDR_BYTES bytes), one decoded value
 * (header_value_max), addresses, Received lines and path IPs (1000 each),
 * bodies (body_max bytes of UTF-8), attachments listed (max_attachments),
 * parts listed (2 x max_attachments + 2),
 * anomalies (ST_X_MAX_ANOMALIES), attachments open at once (the MIME
 * depth limit bounds it; ST_X_OPEN_MAX beyond that). Nothing grows with
 * the size of a message: bytes are never held whole.
 *
 * Every string fact is valid UTF-8 (wire bytes that are not become
 * U+FFFD) and capped, so a consumer may use it as it is.
 *
 * How it fails: never. Malformed MIME becomes anomalies; a cap sets a
 * flag or a count; out of memory drops the value that needed it (at
 * creation: NULL, and the caller records the message without contents).
 *
 * Not handled here: the message's own bytes (the caller stores them),
 * what an attachment is (the analyzers say), TNEF message bodies and
 * MAPI properties (only attachments are unpacked), TNEF inside TNEF
 * (listed, not unpacked).
 */
#ifndef ST_EXTRACT_EXTRACT_H
#define ST_EXTRACT_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "mime/mime.h"

typedef struct st_extract_config {
    size_t body_max;         /* bytes of body / body_html kept (UTF-8, after decoding) */
    size_t header_value_max; /* bytes of one decoded header value kept */
    size_t max_attachments;  /* attachment entries listed (the rest counted) */
    int omit_body;           /* stoQ omit_body: bodies are not converted or kept */
    st_mime_limits mime;
} st_extract_config;

void st_extract_config_default(st_extract_config *cfg);

/* Where the bytes of file objects go. open gives a handle (NULL: out of
 * memory; the entry then has no file); close says the object is over
 * and returns an errno when it could not be kept (anomaly store_error);
 * release ends the handle, closed or not (not: nothing is kept). partial
 * (may be NULL), just before close, says not all of the object's bytes
 * were seen: a hole inside it, or the message cut off before its end. */
typedef struct st_extract_files {
    void *(*open)(void *ctx);
    void (*write)(void *file, const uint8_t *data, size_t len);
    int (*close)(void *file);
    void (*release)(void *file);
    void *ctx;
    void (*partial)(void *file);
} st_extract_files;

/* A string fact: valid UTF-8 of n bytes (may hold NUL); s NULL: absent. */
typedef struct st_xstr {
    char *s;
    size_t n;
} st_xstr;

typedef struct st_xstrs {
    st_xstr *v;
    size_t n, cap;
} st_xstrs;

typedef struct st_xheader {
    char *name; /* lower-cased field name */
    char *val;  /* decoded values joined with "\n" */
    size_t len, cap;
} st_xheader;

typedef struct st_xbody {
    int present;   /* a part was chosen as this body */
    int truncated; /* cut at body_max, or out of memory */
    char *text;    /* UTF-8, len bytes; NULL when present with no text */
    size_t len;
} st_xbody;

typedef struct st_xattach {
    st_xstr filename; /* cleaned; absent when the part names none */
    st_xstr content_type, charset, disposition, description, content_id, mime_path;
    uint64_t size;    /* decoded bytes */
    uint64_t missing; /* bytes lost in holes inside the part */
    void *file;       /* the handle from st_extract_files.open; NULL: none */
    int closed;       /* its part ended (file closed) */
    int complete;     /* and every byte of it was seen */
} st_xattach;

/* One MIME entity (docs/record.md "parts"). A leaf's decoded bytes are in
 * a file object: its attachment's (attach is that entry's index) or its
 * own (file: a body). A multipart is a container (no bytes), unless no
 * part opened in it: its preamble, all of its body, is then an attachment. */
#define ST_X_NO_ENTRY ((size_t)-1)
typedef struct st_xpart {
    st_xstr mime_path, content_type, charset, disposition, filename;
    uint64_t size;    /* decoded bytes */
    uint64_t missing; /* bytes lost in holes inside the entity */
    int container;    /* a multipart with parts: no bytes of its own */
    size_t attach;    /* the entity's entry in attach, ST_X_NO_ENTRY: none */
    void *file;       /* its own file object (a body); NULL: none */
    int closed;       /* the entity ended */
    int complete;     /* and every byte of it was seen */
} st_xpart;

typedef struct st_xanomaly {
    st_xstr name, detail, mime_path; /* detail, mime_path may be absent */
} st_xanomaly;

/* Anomalies kept per message, the extractor's and the analyzers' together
 * (the rest are counted: too_many_anomalies). */
#define ST_X_ANOMALIES_MAX 100

typedef struct st_xfacts {
    st_xheader *headers;
    size_t nheaders;
    st_xstr from, reply_to, subject, date, message_id, in_reply_to, user_agent, x_orig_ip;
    st_xstrs to, cc, received, path;
    st_xbody body[2]; /* text/plain, text/html */
    int omit_body;
    st_xattach *attach;
    size_t nattach, attach_cap;
    st_xpart *parts; /* every MIME entity, in order */
    size_t nparts, parts_cap;
    st_xanomaly *anomalies;
    size_t nanomalies, anomalies_cap;
    /* counted beyond the caps: said as summary anomalies */
    uint64_t headers_dropped, attach_dropped, anomalies_dropped, parts_dropped;
} st_xfacts;

typedef struct st_extract st_extract;

st_extract *st_extract_new(const st_extract_config *cfg, const st_extract_files *files);

/* Every decoded byte of the parts chosen as body (which 0) and body_html
 * (1), in the part's own charset, as they stream: whatever body_max and
 * omit_body keep of them (the IOC search reads the body this way). */
typedef void (*st_extract_body_fn)(void *ctx, int which, const uint8_t *data, size_t len);
void st_extract_on_body(st_extract *x, st_extract_body_fn fn, void *ctx);
/* Where the bytes of a part that is no attachment (a body) go, for the
 * parts list: a file object like the others (written, closed, released
 * through st_extract_files, with its ctx) that no analyzer needs to see.
 * Not set: files.open serves for those too. */
void st_extract_on_plain(st_extract *x, void *(*open_plain)(void *ctx));
void st_extract_feed(st_extract *x, const uint8_t *data, size_t len);
void st_extract_gap(st_extract *x, uint64_t len);
/* The message's end was not seen (the session or the capture ended in
 * it): parts still open when it finishes are partial. Before finish. */
void st_extract_cut(st_extract *x);
/* Ends the message: every part still open is closed. */
void st_extract_finish(st_extract *x);
/* The facts; complete after st_extract_finish. Valid until st_extract_free. */
const st_xfacts *st_extract_facts(const st_extract *x);
/* Releases every file handle still held. */
void st_extract_free(st_extract *x);

/*
 * Heap bytes the extractor holds now: its MIME parser (st_mime_memory) and
 * its own buffers (header values kept, decoding scratch, body text and
 * blocks, the open-attachment stack, attachment entries). Not counted: the
 * file objects, and what malloc adds per block. With the default
 * configuration: under 4 KiB new, under 6 KiB after the headers of a
 * typical multipart/mixed message, and bounded while an attachment streams
 * (no buffer grows with its size); tests/unit/extract/test_extract.c checks.
 */
size_t st_extract_memory(const st_extract *x);

#endif
