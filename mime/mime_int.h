/*
 * mime_int.h - private to mime/: the state of the streaming MIME parser and
 * the functions its files share. Other layers use mime/mime.h only.
 *
 * Files. The parser is one state machine split by concept:
 *   parser.c    st_mime_new, feed, gap, finish, free, memory; memory accounting
 *   level.c     levels: each one byte stream, its bytes dispatched by state
 *   headers.c   header blocks: lines, fields, the end of a block
 *   describe.c  the Content-* fields -> what PART_BEGIN reports
 *   scan.c      body lines of a level with open multiparts: boundary lines
 *   body.c      body bytes through the transfer decoders -> DATA
 *   part.c      the entity stack, frame strings, events, the end of a part
 * and it uses the stateless pieces that mime.h also offers on their own:
 * boundary.c (is a line a boundary line), params.c (header values), b64.c,
 * qp.c, uu.c (transfer decoders).
 *
 * Structure. A "level" (struct level) is one byte stream parsed as a
 * message: level 0 is the fed message, level k+1 the decoded body of the
 * message/... part open at level k. Entities (struct frame) form one explicit
 * stack, root first; each level owns a contiguous run of it, and the frame
 * index is the entity's depth. Only the innermost level can be inside a
 * header block, so one header buffer (in struct st_mime) serves all levels.
 * Functions take the parser p and a level number k; "the innermost entity
 * of level k" is the top of its run of the stack (st_mime_ltop).
 *
 * Body bytes of a level with open multiparts go through a line scanner that
 * holds back the line end before a line starting with "--" (it belongs to
 * the boundary if the line is one) and at most max_line bytes of that line.
 * Everything else is passed on in runs, without copying, to the decoder of
 * the innermost entity of the level.
 *
 * Memory. Thousands of messages may be open at once, so everything is sized
 * to what the message needs, not to the caps: frames and levels exist only
 * as deep as the message goes (plus one spare each), a frame's strings
 * (path, content type, parameters, Content-ID...) share one buffer grown to
 * fit, the hold and decoder buffers start small inside the level and grow
 * up to max_line + 4 and DBUF (body.c) only for a line or a slice that needs
 * it, and large buffers are given back when the line, part or header block
 * is over. Every allocation goes through st_mime_xalloc/st_mime_mem_resize,
 * which keep p->mem (st_mime_memory) right.
 *
 * How it fails: never; see mime.h. Every buffer has a cap; allocation
 * happens lazily up to the caps and a failure degrades like a limit.
 *
 * Callbacks: every event goes out through p->fn while the parser is in the
 * middle of a call; nothing here expects the callback to re-enter.
 */
#ifndef ST_MIME_MIME_INT_H
#define ST_MIME_MIME_INT_H

#include "mime/mime.h"

#include <stddef.h>
#include <stdint.h>

#define DBUF_MIN 160        /* in the level: decoding always progresses, even out of memory */
#define HOLD_MIN 128        /* in the level: most boundary lines fit */
#define NONE     UINT32_MAX /* no string */

enum { L_HEADERS, L_BODY, L_DONE };
enum { END_NORMAL, END_OUTER, END_EOM };

struct fparam {
    uint32_t val, cs, lang; /* offsets in the frame's strings */
    size_t len;
    unsigned flags; /* ST_MIME_PARAM_*; 0: absent */
};

#define SNIFF_MAX 64 /* first body bytes of a base64 message part looked at (body.c) */

struct frame {
    st_mime_part pub;
    unsigned level;
    unsigned nchild;
    size_t blen, blen2; /* boundary, and a second one declared (0: none) */
    int closed;         /* multipart: its close delimiter was seen (the epilogue follows) */
    uint64_t close_off; /* where its body ended then */
    int digest;         /* multipart/digest: children default to message/rfc822 */
    int digest_child;   /* this entity is a child of a digest */
    int seen_ct, seen_cte, seen_cd, seen_cid, seen_desc;
    int ct_bad, has_charset, has_boundary, boundary_long;
    st_b64 b64;
    uint8_t sniff[SNIFF_MAX]; /* base64 message part: its first raw bytes, until they tell */
    uint8_t nsniff, sniffing;
    st_qp *qp; /* quoted-printable and uuencode states (large): only for such a part */
    st_uu *uu;
    /* the entity's strings, each NUL-terminated, in one buffer sized to need */
    char *s;
    size_t slen, scap;
    uint32_t o_path, o_ctype, o_charset, o_boundary, o_boundary2, o_disp, o_cte, o_cid, o_desc;
    struct fparam name, fname;
};

struct level {
    unsigned base; /* index of the level's root frame */
    int state;
    uint64_t off;    /* stream offset of the next byte */
    unsigned nbound; /* open multiparts of this level */
    int bol;         /* hold = line end + start of a line beginning with "-" */
    int held_cr;     /* a CR ended the last input: maybe half of a line end */
    size_t hold_len, hold_eol;
    uint8_t *hold; /* hold_small or heap, up to max_line + 4 */
    uint8_t *dbuf; /* dbuf_small or heap, up to DBUF: decoder output */
    size_t hold_cap, dbuf_cap;
    uint8_t hold_small[HOLD_MIN];
    uint8_t dbuf_small[DBUF_MIN];
};

struct hfield {
    size_t name, val, vlen; /* offsets into hb */
};

struct st_mime {
    st_mime_limits lim;
    st_mime_event_fn fn;
    void *ctx;
    struct frame **fr; /* fr_n slots, grown up to fr_cap */
    unsigned nfr, fr_n, fr_cap;
    struct level **lv; /* lv_n slots, grown up to lv_cap */
    unsigned nlv, lv_n, lv_cap;

    /* the header block in progress (innermost level) */
    uint8_t *hb;
    size_t hb_len, hb_cap, hb_max;
#define ST_MIME_KEEP_OVER   65536 /* fields that matter, kept past the header cap */
#define ST_MIME_KEEP_RECV   32768 /* Received fields kept past it (the path), apart */
#define ST_MIME_KEEP_FIELDS 2048  /* fields that matter kept past max_headers */
    struct hfield *fld;
    size_t nfld, fld_cap;
    size_t field_start, line_start;
    uint64_t line_off, hdr_total;
    int at_bol, cont, field_open, discard, dlong, skip_line;
    size_t kept_over; /* bytes of fields kept past max_header_bytes (ST_MIME_KEEP_OVER) */
    size_t kept_recv; /* of Received fields kept past it (ST_MIME_KEEP_RECV) */
    int over_kind;    /* the open field kept past the cap: 1 one that matters, 2 Received */

    size_t nparts;
    unsigned next_id;
    int nosplit, finished;
    size_t mem;
    char tmp[160];
};

/* ------------------------------------------------------------ accessors */

/* String o of frame f, NULL for NONE. */
static inline const char *st_mime_fstr(const struct frame *f, uint32_t o)
{
    return o == NONE ? NULL : f->s + o;
}

static inline const char *st_mime_fpath(const struct frame *f)
{
    return f->o_path == NONE ? "" : f->s + f->o_path;
}

/* Stack index of level k's innermost entity, -1 when it has none. */
static inline int st_mime_top_index(const st_mime *p, unsigned k)
{
    unsigned end = k + 1 < p->nlv ? p->lv[k + 1]->base : p->nfr;
    return end > p->lv[k]->base ? (int)end - 1 : -1;
}

static inline struct frame *st_mime_ltop(st_mime *p, unsigned k)
{
    int t = st_mime_top_index(p, k);
    return t >= 0 ? p->fr[t] : NULL;
}

/* The body is passed through as it is (no decoder state). */
static inline int st_mime_identity(st_mime_enc e)
{
    return e != ST_MIME_ENC_BASE64 && e != ST_MIME_ENC_QP && e != ST_MIME_ENC_UUENCODE;
}

/* ------------------------------------------------------------ parser.c */

void *st_mime_xalloc(st_mime *p, size_t n);
void *st_mime_mem_resize(st_mime *p, void *q, size_t old, size_t n);

/* ------------------------------------------------------------ level.c */

int st_mime_ensure_level(st_mime *p, unsigned k);
void st_mime_level_free(st_mime *p, unsigned k);
void st_mime_open_level(st_mime *p, unsigned k, int parent_id);
void st_mime_level_feed(st_mime *p, unsigned k, const uint8_t *d, size_t n);
void st_mime_level_finish(st_mime *p, unsigned k);
void st_mime_level_gap(st_mime *p, unsigned k, uint64_t n);

/* ------------------------------------------------------------ part.c */

void st_mime_anomaly(st_mime *p, struct frame *f, const char *name, const char *detail);
void st_mime_anomaly_n(st_mime *p, struct frame *f, const char *name, const char *fmt,
                       unsigned long long n);
const char *st_mime_excerpt(st_mime *p, const uint8_t *s, size_t n);
void st_mime_emit(st_mime *p, st_mime_ev_type t, struct frame *f);
uint32_t st_mime_fstr_add(st_mime *p, struct frame *f, const void *v, size_t n);
void st_mime_set_path(st_mime *p, struct frame *f, const char *pp, const char *sep,
                      const char *last);
void st_mime_frame_release(st_mime *p, struct frame *f);
int st_mime_ensure_frame(st_mime *p);
struct frame *st_mime_push(st_mime *p, unsigned level, int parent_id, uint64_t off);
void st_mime_part_end(st_mime *p, unsigned k, int how, uint64_t end_off);

/* ------------------------------------------------------------ headers.c */

void st_mime_hdr_reset(st_mime *p);
size_t st_mime_hdr_consume(st_mime *p, unsigned k, const uint8_t *d, size_t n);
void st_mime_headers_eom(st_mime *p, unsigned k);
void st_mime_headers_gap(st_mime *p, unsigned k, uint64_t n);

/* ------------------------------------------------------------ describe.c */

void st_mime_interpret(st_mime *p, struct frame *f, const char *name, const uint8_t *v, size_t n);
void st_mime_describe(st_mime *p, unsigned k, struct frame *f);

/* ------------------------------------------------------------ scan.c */

void st_mime_hold_shrink(st_mime *p, struct level *L);
void st_mime_scan_reset(st_mime *p, struct level *L);
int st_mime_match_line(st_mime *p, unsigned k, const uint8_t *line, size_t n, unsigned *fi);
void st_mime_boundary_hit(st_mime *p, unsigned k, unsigned fi, int m, uint64_t end_off,
                          uint64_t next_off);
void st_mime_flush_all(st_mime *p, unsigned k);
size_t st_mime_body_scan(st_mime *p, unsigned k, const uint8_t *d, size_t n);
int st_mime_body_eom(st_mime *p, unsigned k);

/* ------------------------------------------------------------ body.c */

void st_mime_deliver(st_mime *p, unsigned k, const uint8_t *d, size_t n);
void st_mime_decoder_init(st_mime *p, struct frame *f);
void st_mime_decoder_finish(st_mime *p, unsigned k, struct frame *f);
void st_mime_decoder_report(st_mime *p, struct frame *f);
void st_mime_sniff_end(st_mime *p, unsigned k, struct frame *f);
uint64_t st_mime_decoder_gap(struct frame *f, uint64_t n);
void st_mime_dbuf_shrink(st_mime *p, struct level *L);

#endif
