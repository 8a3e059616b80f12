/*
 * spool.c - text that waits, packed with zlib when idle (see spool.h).
 *
 * Appends grow the unpacked tail exactly (a few appends per session, so
 * no slack is worth keeping). Packing unpacks what was packed before,
 * joins the tail and compresses it all again at level 1, fast rather
 * than small, as one zlib stream; a tail under 256 bytes is not worth it.
 * Taking unpacks into one NUL-terminated buffer and empties the spool.
 *
 * Entry points: st_spool_add, st_spool_pack, st_spool_take,
 * st_spool_memory, st_spool_free.
 *
 * Limits: each pack costs time in proportion to all the text so far, and
 * needs all of it unpacked, beside the old and new packed copies, for a
 * moment; fine for a session packed a few times while it idles.
 *
 * How it fails: add without memory drops that piece (-1); a pack without
 * memory keeps the text as it was; take without memory returns NULL and
 * the text is lost, since the spool is emptied all the same.
 */
#include "output/spool.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int st_spool_add(st_spool *s, const char *p, size_t n)
{
    char *t = realloc(s->text, s->len + n + 1); /* exact: a few appends per session */
    if (!t)
        return -1;
    memcpy(t + s->len, p, n);
    s->len += n;
    t[s->len] = 0;
    s->text = t;
    return 0;
}

/* The packed text and the unpacked tail as one buffer (len + 1 bytes). */
static char *unpack_all(const st_spool *s, size_t *len)
{
    char *out = malloc(s->zraw + s->len + 1);
    if (!out)
        return NULL;
    uLongf raw = (uLongf)s->zraw;
    if (s->z && (uncompress((Bytef *)out, &raw, s->z, (uLong)s->zlen) != Z_OK || raw != s->zraw)) {
        free(out);
        return NULL;
    }
    memcpy(out + s->zraw, s->text ? s->text : "", s->len);
    *len = s->zraw + s->len;
    out[*len] = 0;
    return out;
}

void st_spool_pack(st_spool *s)
{
    if (s->len < 256)
        return; /* not worth it */
    size_t all;
    char *raw = unpack_all(s, &all);
    uLongf zl = compressBound((uLong)all);
    uint8_t *z = raw ? malloc(zl) : NULL;
    if (z && compress2(z, &zl, (const Bytef *)raw, (uLong)all, 1) == Z_OK) {
        uint8_t *fit = realloc(z, zl);
        free(s->z);
        free(s->text);
        s->z = fit ? fit : z;
        s->zlen = zl;
        s->zraw = all;
        s->text = NULL;
        s->len = 0;
    } else {
        free(z);
    }
    free(raw);
}

char *st_spool_take(st_spool *s, size_t *len)
{
    *len = 0;
    char *out = unpack_all(s, len);
    st_spool_free(s);
    return out;
}

size_t st_spool_memory(const st_spool *s)
{
    return (s->text ? s->len + 1 : 0) + s->zlen;
}

void st_spool_free(st_spool *s)
{
    free(s->text);
    free(s->z);
    memset(s, 0, sizeof *s);
}
