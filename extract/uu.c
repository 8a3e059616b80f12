/*
 * uu.c - uuencoded files inside text parts.
 *
 * Old mailers and some malware put files in a text body as
 * "begin 644 name" ... "end" blocks. While a text/plain part's decoded
 * bytes stream past, each line goes through the uudecoder (mime/uu.c);
 * every begin line opens an attachment entry "<part>.uu.<n>" named as the
 * line says, every end line closes it. The text itself is left as it is,
 * in the body or in its own attachment.
 *
 * Bounded: one text part at a time, a line at most ST_UU_LINE_MAX bytes
 * (the decoder holds it); a block without "end" is closed at the end of
 * its part with uu_missing_end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract/extract_int.h"

typedef struct st_x_uu {
    st_uu dec;
    unsigned part_id;
    unsigned n; /* blocks opened */
    char path[64];
    st_x_inner cur;
} st_x_uu;

void st_x_uu_begin(st_extract *x, const st_mime_part *p)
{
    if (x->uu || p->kind != ST_MIME_LEAF || p->encoding == ST_MIME_ENC_UUENCODE ||
        !p->content_type || strcmp(p->content_type, "text/plain") != 0)
        return;
    st_x_uu *u = calloc(1, sizeof *u);
    if (!u)
        return;
    st_uu_init(&u->dec);
    u->part_id = p->id;
    snprintf(u->path, sizeof u->path, "%s", p->path ? p->path : "");
    x->uu = u;
}

static void close_block(st_extract *x, st_x_uu *u)
{
    const char *path = st_x_inner_path(x, &u->cur);
    st_xstr name = st_x_inner_name(x, "utf-8", u->dec.name, strlen(u->dec.name), path);
    st_x_inner_end(x, &u->cur, name, NULL);
}

/* One line (or the tail of the input) through the decoder, watching the
 * begin/end transitions so every block is an entry of its own. */
static void line(st_extract *x, st_x_uu *u, const uint8_t *d, size_t n)
{
    uint8_t out[ST_UU_OUT_MAX(ST_UU_LINE_MAX)];
    int was = u->dec.st;
    unsigned blocks = u->dec.blocks;
    size_t k = st_uu_feed(&u->dec, d, n, out);
    if (u->dec.blocks != blocks) { /* a begin line: a new file */
        if (u->cur.open)
            close_block(x, u);
        char path[96];
        snprintf(path, sizeof path, "%s.uu.%u", u->path, ++u->n);
        st_x_inner_begin(x, &u->cur, path);
    }
    st_x_inner_data(x, &u->cur, out, k);
    if (was == 1 && u->dec.st == 2 && u->cur.open)
        close_block(x, u);
}

void st_x_uu_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n)
{
    st_x_uu *u = x->uu;
    if (!u || u->part_id != p->id)
        return;
    while (n > 0) {
        const uint8_t *nl = memchr(d, '\n', n);
        size_t k = nl ? (size_t)(nl - d) + 1 : n;
        if (k > ST_UU_LINE_MAX)
            k = ST_UU_LINE_MAX; /* the decoder flags over-long lines itself */
        line(x, u, d, k);
        d += k;
        n -= k;
    }
}

void st_x_uu_end(st_extract *x, const st_mime_part *p)
{
    st_x_uu *u = x->uu;
    if (!u || u->part_id != p->id)
        return;
    uint8_t out[ST_UU_OUT_MAX(0)];
    size_t k = st_uu_finish(&u->dec, out);
    st_x_inner_data(x, &u->cur, out, k);
    if (u->cur.open) {
        st_x_anomaly(x, "uu_missing_end", NULL, 0, u->path);
        close_block(x, u);
    }
    st_x_uu_free(x);
}

void st_x_uu_free(st_extract *x)
{
    if (!x->uu)
        return;
    st_x_inner_abort(x, &x->uu->cur);
    free(x->uu);
    x->uu = NULL;
}
