/*
 * extract_int.h - what the files of extract/ share: the st_extract state
 * and the entry points of its parts (headers, bodies, attachments, the
 * files inside attachments, the parts list, preambles). Not an API: only
 * extract/ includes it.
 *
 * Every list here has a cap, so the state of one message is bounded by the
 * configuration whatever the message: headers by ST_X_HDR_BYTES, bodies by
 * body_max, attachments by max_attachments entries and parts by
 * ST_X_PARTS_MAX, plus one open entry per open part in each (at most
 * max_depth + 1 are open at once), and one preamble's file object at a
 * time. Buffers are sized to
 * what the message needs, not to the caps (thousands of messages may be
 * open at once): the decoding scratch and the body blocks grow on demand
 * and shrink back when the value or the part is done.
 */
#ifndef ST_EXTRACT_EXTRACT_INT_H
#define ST_EXTRACT_EXTRACT_INT_H

#include "extract/extract.h"

#define ST_X_MAX_ANOMALIES  ST_X_ANOMALIES_MAX
#define ST_X_HDR_NAMES      200          /* distinct header names kept */
#define ST_X_HDR_BYTES      (256 * 1024) /* names + values of the headers object */
#define ST_X_MAX_ADDRS      1000         /* entries of to, of cc */
#define ST_X_MAX_RECEIVED   1000
#define ST_X_MAX_PATH       1000
#define ST_X_OPEN_MAX       256 /* attachments open at once; the parser's depth limit is lower */
#define ST_X_PARTS_MAX(att) (2 * (att) + 2) /* parts entries, for max_attachments att */
#define ST_X_BODY_BLOCK     4096
#define ST_X_DETAIL_MAX     1024                         /* bytes of an anomaly detail */
#define ST_X_PATH_MAX       32768                        /* bytes of a mime_path kept */
#define ST_X_TYPE_MAX       256                          /* bytes of a content type, disposition */
#define ST_X_FNAME_BUF      (4 * ST_MIME_PARAM_MAX + 16) /* most a file name step writes */
#define ST_X_SCRATCH_MIN    256                          /* decoding scratch kept between values */

typedef struct st_x_headers {
    size_t cap;
    size_t bytes;  /* counted against ST_X_HDR_BYTES */
    char *scratch; /* scratch_cap bytes, grown up to header_value_max + 1 */
    size_t scratch_cap;
    st_xstr x_mailer, x_user_agent; /* user_agent falls back to these */
    int to_cut, cc_cut, received_cut, path_cut;
    char last_ip[46];
} st_x_headers;

typedef struct st_x_body {
    int open; /* the chosen part is in progress */
    int stop; /* body_max reached: no more conversion */
    unsigned part_id;
    char charset[ST_MIME_CHARSET_MAX]; /* "" when the part declares none */
    uint8_t *in;                       /* decoded bytes waiting for conversion: incap bytes, grown
                                          up to ST_X_BODY_BLOCK, freed at the end of the part */
    size_t inlen, incap;
    size_t cap; /* of facts.body[i].text, at most body_max */
} st_x_body;

/* A file found inside another part's bytes (TNEF, uuencode). */
typedef struct st_x_inner {
    size_t entry; /* index in facts.attach */
    int open;
} st_x_inner;

/* An attachment whose part is open, by part id. */
typedef struct st_x_open {
    unsigned part_id;
    size_t entry;
} st_x_open;

/* An entity whose part is open, by part id: its index in facts.parts. */
typedef struct st_x_popen {
    unsigned part_id;
    st_mime_kind kind;
    size_t entry;
} st_x_popen;

/* The multipart in its preamble, kept in a file object until a part
 * opens in it (the preamble goes) or it ends without one (it is kept). */
typedef struct st_x_pre {
    const st_mime_part *mp; /* NULL: none; valid until its PART_END */
    void *file;
} st_x_pre;

struct st_extract {
    st_extract_config cfg;
    st_extract_files files;
    st_extract_body_fn on_body;     /* st_extract_on_body; NULL: none */
    void *(*open_plain)(void *ctx); /* st_extract_on_plain; NULL: files.open */
    void *on_body_ctx;
    st_mime *mime;
    int finished;
    int cut;       /* st_extract_cut: the message ends before its end */
    int finishing; /* inside st_extract_finish: open parts end without their own end */
    st_xfacts f;

    st_x_headers hdr;
    st_x_body body[2]; /* text/plain, text/html */

    st_x_open *open; /* stack of open attachments, innermost last */
    size_t nopen, opencap;

    st_x_popen *popen; /* stack of open entities listed in parts, innermost last */
    size_t npopen, popencap;
    st_x_pre pre;

    struct st_x_tnef *tnef; /* the winmail.dat part being unpacked, if any */
    struct st_x_uu *uu;     /* the text part being searched for uuencoded files */
};

/* extract.c */
void st_x_anomaly(st_extract *x, const char *name, const char *detail, size_t detail_len,
                  const char *mime_path);
void st_x_anomaly_count(st_extract *x, const char *name, uint64_t n, const char *mime_path);
/* s[0..n) made valid UTF-8 and cut at cap bytes; absent when s is NULL
 * or out of memory. */
st_xstr st_x_text(const char *s, size_t n, size_t cap);
st_xstr st_x_cstr(const char *s, size_t cap);
void st_x_str_free(st_xstr *s);
/* Appends (stealing s); 0 when out of memory (s freed). */
int st_x_strs_add(st_xstrs *l, st_xstr s);
void st_x_strs_free(st_xstrs *l);

/* headers.c */
int st_x_headers_init(st_extract *x);
void st_x_headers_add(st_extract *x, const char *name, const uint8_t *v, size_t n);
void st_x_headers_finish(st_extract *x);
void st_x_headers_free(st_extract *x);
/* RFC 2047-decode v into hdr.scratch (at most header_value_max bytes); the
 * decoded length. st_x_scratch_trim() gives a large scratch back. */
size_t st_x_decode(st_extract *x, const char *v, size_t n, unsigned *flags);
void st_x_scratch_trim(st_extract *x);
size_t st_x_headers_memory(const st_extract *x);

/* body.c: claim returns 1 when the part is a body (never an attachment). */
int st_x_body_claim(st_extract *x, const st_mime_part *p);
int st_x_body_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n);
int st_x_body_end(st_extract *x, const st_mime_part *p);
void st_x_body_free(st_extract *x);
size_t st_x_body_memory(const st_extract *x);

/* attach.c */
/* Entry index of p's attachment entry, ST_X_NO_ENTRY when not listed. */
size_t st_x_attach_begin(st_extract *x, const st_mime_part *p);
void st_x_attach_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n);
void st_x_attach_end(st_extract *x, const st_mime_part *p);
void st_x_attach_free(st_extract *x);
void st_x_suspicious(st_extract *x, unsigned flags, const char *path);
/* 1 when one more entry may be listed; else counts it (too_many_attachments). */
int st_x_entry_room(st_extract *x);
/* Appends a (its strings taken) and opens its file object; NULL when out
 * of memory (a freed). The pointer is valid until the next entry. */
st_xattach *st_x_entry_add(st_extract *x, st_xattach *a, size_t *index);
void st_x_entry_write(st_extract *x, st_xattach *a, const uint8_t *d, size_t n);
/* All bytes seen: the file object is closed (one not kept: store_error). */
void st_x_entry_close(st_extract *x, st_xattach *a);
/* A part's bytes were all seen: none missing, the message not cut off. */
int st_x_complete(const st_extract *x, uint64_t missing);
/* A file object closed, moved apart first when it is not complete. */
void st_x_file_close(st_extract *x, void *file, int complete, const char *mime_path);
/* Room for one more entry in a stack of open entities (at most
 * ST_X_OPEN_MAX): -1 when there is none. */
int st_x_stack_room(void **stack, size_t n, size_t *cap, size_t elem);
/* The file name of p (Content-Disposition filename, else Content-Type
 * name, decoded and cleaned; anomalies suspicious_filename and
 * filename_mismatch); absent when none. */
st_xstr st_x_filename(st_extract *x, const st_mime_part *p);
/* An entry for a multipart whose preamble is all it holds (its strings
 * from its parts entry, file: the preamble's object, taken). */
size_t st_x_attach_preamble(st_extract *x, const st_mime_part *p, const st_xpart *e, void *file);

/* parts.c: the parts list; pre.c: the preamble of a multipart. */
void st_x_part_begin(st_extract *x, const st_mime_part *p);
void st_x_part_attach(st_extract *x, const st_mime_part *p, size_t attach);
void st_x_part_own(st_extract *x, const st_mime_part *p);
void st_x_part_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n);
void st_x_part_end(st_extract *x, const st_mime_part *p);
/* p's parts entry while its part is open; NULL: not listed. */
st_xpart *st_x_part_of(st_extract *x, unsigned part_id);
/* A multipart p that holds no part is one leaf: the path a leaf has
 * there ("1" for the message's root, "P.1" for an attached message's,
 * its own for a part of a multipart) replaces its parts entry's. */
void st_x_part_as_leaf(st_extract *x, const st_mime_part *p, st_xpart *e);
void st_x_parts_free(st_extract *x);
void st_x_pre_begin(st_extract *x, const st_mime_part *p);
void st_x_pre_child(st_extract *x, const st_mime_part *child);
void st_x_pre_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n);
void st_x_pre_end(st_extract *x, const st_mime_part *p);
void st_x_pre_free(st_extract *x);

/* inner.c: entries for files inside another part's bytes. */
int st_x_inner_begin(st_extract *x, st_x_inner *in, const char *path);
void st_x_inner_data(st_extract *x, st_x_inner *in, const uint8_t *d, size_t n);
/* filename: stolen (absent: none); ctype: NULL keeps application/octet-stream */
void st_x_inner_end(st_extract *x, st_x_inner *in, st_xstr filename, const char *ctype);
void st_x_inner_abort(st_extract *x, st_x_inner *in);
const char *st_x_inner_path(const st_extract *x, const st_x_inner *in);
st_xstr st_x_inner_name(st_extract *x, const char *charset, const void *name, size_t n,
                        const char *path);

/* uu.c: uuencoded files in a text/plain part, listed after it. */
void st_x_uu_begin(st_extract *x, const st_mime_part *p);
void st_x_uu_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n);
void st_x_uu_end(st_extract *x, const st_mime_part *p);
void st_x_uu_free(st_extract *x);

/* tnef.c: a TNEF part's inner attachments, listed after it. */
int st_x_tnef_wanted(const st_mime_part *p);
void st_x_tnef_begin(st_extract *x, const st_mime_part *p);
void st_x_tnef_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n);
void st_x_tnef_end(st_extract *x, const st_mime_part *p);
void st_x_tnef_free(st_extract *x);

#endif
