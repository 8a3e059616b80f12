/*
 * message_body.c - body and body_html: the first text/plain and the first
 * text/html leaf of the top-level message that is not an attachment,
 * converted from its charset to UTF-8 and capped at body_max bytes.
 *
 * Decoded bytes go through a block of ST_MSG_BODY_BLOCK bytes (allocated as
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

#include "mailhdr/mailhdr.h"
#include "output/message_int.h"
#include "output/record.h"

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

int st_msg_body_claim(st_message *m, const st_mime_part *p)
{
    int which;
    if (p->kind != ST_MIME_LEAF || p->msg_depth != 0 || !p->content_type ||
        !is_text_body_type(p->content_type, &which))
        return 0;
    if ((p->disposition && strcmp(p->disposition, "attachment") == 0) || has_param(&p->filename) ||
        has_param(&p->name))
        return 0;
    st_msg_body *b = &m->body[which];
    if (b->taken)
        return 0;
    b->taken = 1;
    b->open = 1;
    b->part_id = p->id;
    snprintf(b->charset, sizeof b->charset, "%s", p->charset ? p->charset : "");
    return 1;
}

static st_msg_body *body_of(st_message *m, const st_mime_part *p)
{
    for (int i = 0; i < 2; i++)
        if (m->body[i].open && m->body[i].part_id == p->id)
            return &m->body[i];
    return NULL;
}

/* Room for the output of n more input bytes (UTF-8 needs at most 4 bytes
 * per input byte, U+FFFD 3, plus a shift sequence), never beyond body_max. */
static int reserve(st_message *m, st_msg_body *b, size_t n)
{
    size_t max = m->cfg.body_max;
    size_t want = b->len + 4 * n + 16;
    if (want > max)
        want = max;
    if (want <= b->cap && b->out)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    if (cap > max)
        cap = max;
    char *o = realloc(b->out, cap ? cap : 1);
    if (!o)
        return -1;
    b->out = o;
    b->cap = cap;
    return 0;
}

/* Convert in[0..upto); final: no partial sequence is held back. */
static void convert(st_message *m, st_msg_body *b, size_t upto, int final)
{
    size_t used = 0;
    unsigned fl = 0;
    if (reserve(m, b, upto) != 0) {
        b->truncated = b->stop = 1;
        b->inlen = 0;
        return;
    }
    const char *cs = b->charset[0] ? b->charset : NULL;
    b->len += st_charset_conv(cs, b->in, upto, b->out + b->len, b->cap - b->len, &used,
                              final ? 0 : ST_CHARSET_PARTIAL, &fl);
    if (fl & ST_CHARSET_F_TRUNCATED) {
        b->truncated = b->stop = 1;
        b->inlen = 0;
        return;
    }
    memmove(b->in, b->in + used, b->inlen - used);
    b->inlen -= used;
}

static void convert_block(st_message *m, st_msg_body *b)
{
    size_t upto = b->inlen;
    while (upto > 0 && b->in[upto - 1] != '\n')
        upto--;
    convert(m, b, upto ? upto : b->inlen, 0);
    if (!b->stop && b->inlen == ST_MSG_BODY_BLOCK) /* no progress: the charset holds all back */
        convert(m, b, b->inlen, 1);
}

/* Room for the block to take n more bytes (at most ST_MSG_BODY_BLOCK). */
static int block_room(st_msg_body *b, size_t n)
{
    size_t need = b->inlen + n, cap = b->incap ? b->incap : 256;
    if (need <= b->incap)
        return 0;
    while (cap < need)
        cap *= 2;
    cap = cap < ST_MSG_BODY_BLOCK ? cap : ST_MSG_BODY_BLOCK;
    uint8_t *q = realloc(b->in, cap);
    if (!q)
        return -1;
    b->in = q;
    b->incap = cap;
    return 0;
}

static void block_free(st_msg_body *b)
{
    free(b->in);
    b->in = NULL;
    b->inlen = b->incap = 0;
}

int st_msg_body_data(st_message *m, const st_mime_part *p, const uint8_t *d, size_t n)
{
    st_msg_body *b = body_of(m, p);
    if (!b)
        return 0;
    if (m->cfg.omit_body)
        return 1;
    while (n > 0 && !b->stop) {
        size_t take = ST_MSG_BODY_BLOCK - b->inlen;
        if (take > n)
            take = n;
        if (block_room(b, take) != 0) {
            b->truncated = b->stop = 1;
            break;
        }
        memcpy(b->in + b->inlen, d, take);
        b->inlen += take;
        d += take;
        n -= take;
        if (b->inlen == ST_MSG_BODY_BLOCK)
            convert_block(m, b);
    }
    return 1;
}

int st_msg_body_end(st_message *m, const st_mime_part *p)
{
    st_msg_body *b = body_of(m, p);
    if (!b)
        return 0;
    if (!m->cfg.omit_body && !b->stop && b->inlen) /* nothing left converts to nothing */
        convert(m, b, b->inlen, 1);
    b->open = 0;
    block_free(b);
    return 1;
}

static json_t *body_text(const st_msg_body *b)
{
    if (!b->taken)
        return json_null();
    const char *s = b->out ? b->out : "";
    json_t *j = json_stringn(s, b->len); /* valid UTF-8 from the conversion */
    return j ? j : st_json_stringn(s, b->len, b->len);
}

void st_msg_body_json(st_message *m, json_t *obj)
{
    static const char *names[2][2] = {{"body", "body_truncated"},
                                      {"body_html", "body_html_truncated"}};
    for (int i = 0; i < 2; i++) {
        const st_msg_body *b = &m->body[i];
        json_object_set_new(obj, names[i][0], m->cfg.omit_body ? json_null() : body_text(b));
        json_object_set_new(obj, names[i][1], json_boolean(b->truncated));
    }
}

void st_msg_body_free(st_message *m)
{
    for (int i = 0; i < 2; i++) {
        free(m->body[i].out);
        m->body[i].out = NULL;
        block_free(&m->body[i]);
    }
}

size_t st_msg_body_memory(const st_message *m)
{
    return m->body[0].cap + m->body[0].incap + m->body[1].cap + m->body[1].incap;
}
