/*
 * body.c - body and body_html: the first text/plain and the first
 * text/html leaf of the top-level message that is not an attachment,
 * converted from its charset to UTF-8 and capped at body_max bytes.
 *
 * Decoded bytes go through a block of ST_X_BODY_BLOCK bytes (allocated as
 * it fills, freed at the end of the part). A block is
 * converted only when it is full (up to its last LF, so that stateful
 * charsets such as ISO-2022-JP restart on a line boundary) and at the end
 * of the part, in partial mode, so that a character split across blocks is
 * kept. The points where conversion happens depend only on the bytes, never
 * on how the parser chunked them: any split of a message gives the same
 * body.
 *
 * How it fails: bytes invalid in the charset become U+FFFD; an unknown
 * charset keeps valid UTF-8; output beyond body_max is dropped (at a
 * character boundary) and the *_truncated flag set; out of memory stops
 * the body where it is and sets the flag too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract/extract_int.h"
#include "mailhdr/mailhdr.h"

static int is_text_body_type(const char *ct, int *which)
{
    if (strcmp(ct, "text/plain") == 0)
        *which = 0;
    else if (strcmp(ct, "text/html") == 0)
        *which = 1;
    else
        return 0;
    return 1;
}

static int has_param(const st_mime_param *pa)
{
    return (pa->flags & ST_MIME_PARAM_PRESENT) != 0;
}

int st_x_body_claim(st_extract *x, const st_mime_part *p)
{
    int which;
    if (p->kind != ST_MIME_LEAF || p->msg_depth != 0 || !p->content_type ||
        !is_text_body_type(p->content_type, &which))
        return 0;
    if ((p->disposition && strcmp(p->disposition, "attachment") == 0) || has_param(&p->filename) ||
        has_param(&p->name))
        return 0;
    if (x->f.body[which].present)
        return 0;
    x->f.body[which].present = 1;
    st_x_body *b = &x->body[which];
    b->open = 1;
    b->part_id = p->id;
    snprintf(b->charset, sizeof b->charset, "%s", p->charset ? p->charset : "");
    return 1;
}

/* The body a part was chosen for (its state and its fact), if any. */
static st_x_body *body_of(st_extract *x, const st_mime_part *p, st_xbody **fact)
{
    for (int i = 0; i < 2; i++) {
        if (x->body[i].open && x->body[i].part_id == p->id) {
            *fact = &x->f.body[i];
            return &x->body[i];
        }
    }
    return NULL;
}

/* Room for the output of n more input bytes (UTF-8 needs at most 4 bytes
 * per input byte, U+FFFD 3, plus a shift sequence), never beyond body_max. */
static int reserve(st_extract *x, st_x_body *b, st_xbody *o, size_t n)
{
    size_t max = x->cfg.body_max;
    size_t want = o->len + 4 * n + 16;
    if (want > max)
        want = max;
    if (want <= b->cap && o->text)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    if (cap > max)
        cap = max;
    char *t = realloc(o->text, cap ? cap : 1);
    if (!t)
        return -1;
    o->text = t;
    b->cap = cap;
    return 0;
}

static void stop(st_x_body *b, st_xbody *o)
{
    o->truncated = b->stop = 1;
    b->inlen = 0;
}

/* Convert in[0..upto); final: no partial sequence is held back. */
static void convert(st_extract *x, st_x_body *b, st_xbody *o, size_t upto, int final)
{
    size_t used = 0;
    unsigned fl = 0;
    if (reserve(x, b, o, upto) != 0) {
        stop(b, o);
        return;
    }
    const char *cs = b->charset[0] ? b->charset : NULL;
    o->len += st_charset_conv(cs, b->in, upto, o->text + o->len, b->cap - o->len, &used,
                              final ? 0 : ST_CHARSET_PARTIAL, &fl);
    if (fl & ST_CHARSET_F_TRUNCATED) {
        stop(b, o);
        return;
    }
    memmove(b->in, b->in + used, b->inlen - used);
    b->inlen -= used;
}

static void convert_block(st_extract *x, st_x_body *b, st_xbody *o)
{
    size_t upto = b->inlen;
    while (upto > 0 && b->in[upto - 1] != '\n')
        upto--;
    convert(x, b, o, upto ? upto : b->inlen, 0);
    if (!b->stop && b->inlen == ST_X_BODY_BLOCK) /* no progress: the charset holds all back */
        convert(x, b, o, b->inlen, 1);
}

/* Room for the block to take n more bytes (at most ST_X_BODY_BLOCK). */
static int block_room(st_x_body *b, size_t n)
{
    size_t need = b->inlen + n, cap = b->incap ? b->incap : 256;
    if (need <= b->incap)
        return 0;
    while (cap < need)
        cap *= 2;
    cap = cap < ST_X_BODY_BLOCK ? cap : ST_X_BODY_BLOCK;
    uint8_t *q = realloc(b->in, cap);
    if (!q)
        return -1;
    b->in = q;
    b->incap = cap;
    return 0;
}

static void block_free(st_x_body *b)
{
    free(b->in);
    b->in = NULL;
    b->inlen = b->incap = 0;
}

int st_x_body_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n)
{
    st_xbody *o;
    st_x_body *b = body_of(x, p, &o);
    if (!b)
        return 0;
    if (x->on_body)
        x->on_body(x->on_body_ctx, (int)(o - x->f.body), d, n);
    if (x->cfg.omit_body)
        return 1;
    while (n > 0 && !b->stop) {
        size_t take = ST_X_BODY_BLOCK - b->inlen;
        if (take > n)
            take = n;
        if (block_room(b, take) != 0) {
            o->truncated = b->stop = 1;
            break;
        }
        memcpy(b->in + b->inlen, d, take);
        b->inlen += take;
        d += take;
        n -= take;
        if (b->inlen == ST_X_BODY_BLOCK)
            convert_block(x, b, o);
    }
    return 1;
}

int st_x_body_end(st_extract *x, const st_mime_part *p)
{
    st_xbody *o;
    st_x_body *b = body_of(x, p, &o);
    if (!b)
        return 0;
    if (!x->cfg.omit_body && !b->stop && b->inlen) /* nothing left converts to nothing */
        convert(x, b, o, b->inlen, 1);
    b->open = 0;
    block_free(b);
    return 1;
}

void st_x_body_free(st_extract *x)
{
    for (int i = 0; i < 2; i++) {
        free(x->f.body[i].text);
        x->f.body[i].text = NULL;
        block_free(&x->body[i]);
    }
}

size_t st_x_body_memory(const st_extract *x)
{
    return x->body[0].cap + x->body[0].incap + x->body[1].cap + x->body[1].incap;
}
