/*
 * boundary.c - is a line a MIME boundary line (RFC 2046 5.1.1)?
 *
 * A delimiter line is "--" boundary, a close delimiter "--" boundary "--",
 * each followed only by transport padding (spaces, tabs) and the line end.
 * The whole line must match: boundary "abc" never matches "--abcd", which
 * is what keeps boundaries that are prefixes of one another apart.
 *
 * How it fails: never; it only reads line[0..len).
 */
#include "mime/mime.h"

#include <string.h>

static int only_padding(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

int st_mime_boundary_match(const uint8_t *line, size_t len, const uint8_t *b, size_t blen)
{
    if (blen == 0 || len < blen + 2 || line[0] != '-' || line[1] != '-' ||
        memcmp(line + 2, b, blen) != 0)
        return ST_MIME_BD_NONE;
    const uint8_t *rest = line + 2 + blen;
    size_t n = len - 2 - blen;
    if (only_padding(rest, n))
        return ST_MIME_BD_DELIM;
    if (n >= 2 && rest[0] == '-' && rest[1] == '-' && only_padding(rest + 2, n - 2))
        return ST_MIME_BD_CLOSE;
    return ST_MIME_BD_NONE;
}
