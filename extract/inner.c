/*
 * inner.c - files found inside another part's bytes.
 *
 * A TNEF part (winmail.dat) or a uuencoded block in a text part carries
 * files that no MIME header describes. Each becomes an attachment entry
 * of its own, appended when it starts (so it follows the part holding
 * it), its bytes written to a file object like any other, its name and
 * type filled in when it ends.
 */
#include <stdlib.h>
#include <string.h>

#include "extract/extract_int.h"
#include "mailhdr/mailhdr.h"

int st_x_inner_begin(st_extract *x, st_x_inner *in, const char *path)
{
    memset(in, 0, sizeof *in);
    if (!st_x_entry_room(x))
        return 0;
    st_xattach a;
    memset(&a, 0, sizeof a);
    a.content_type = st_x_cstr("application/octet-stream", ST_X_TYPE_MAX);
    a.mime_path = st_x_cstr(path, ST_X_PATH_MAX);
    if (!st_x_entry_add(x, &a, &in->entry))
        return 0;
    in->open = 1;
    return 1;
}

void st_x_inner_data(st_extract *x, st_x_inner *in, const uint8_t *d, size_t n)
{
    if (!in->open)
        return;
    st_xattach *a = &x->f.attach[in->entry];
    a->size += n;
    st_x_entry_write(x, a, d, n);
}

void st_x_inner_end(st_extract *x, st_x_inner *in, st_xstr filename, const char *ctype)
{
    if (!in->open) {
        st_x_str_free(&filename);
        return;
    }
    st_xattach *a = &x->f.attach[in->entry];
    a->filename = filename;
    if (ctype && *ctype) {
        st_x_str_free(&a->content_type);
        a->content_type = st_x_cstr(ctype, ST_X_TYPE_MAX);
    }
    st_x_entry_close(x, a);
    in->open = 0;
}

/* Freed inside a file: its entry stays, its handle is released unclosed. */
void st_x_inner_abort(st_extract *x, st_x_inner *in)
{
    (void)x;
    in->open = 0;
}

const char *st_x_inner_path(const st_extract *x, const st_x_inner *in)
{
    return in->open ? x->f.attach[in->entry].mime_path.s : NULL;
}

/* A file name from inside a part: to UTF-8 from charset, flagged, cleaned. */
st_xstr st_x_inner_name(st_extract *x, const char *charset, const void *name, size_t n,
                        const char *path)
{
    st_xstr r = {NULL, 0};
    if (!name)
        return r;
    size_t cap = n * 3 + 1;
    char *conv = malloc(cap), *clean = malloc(cap);
    if (conv && clean) {
        size_t k = st_charset_to_utf8(charset, name, n, conv, cap, NULL);
        unsigned fs = st_hdr_fname_is_suspicious(conv, k);
        if (fs)
            st_x_suspicious(x, fs, path);
        k = st_hdr_fname_clean(conv, k, clean, cap, NULL);
        r = st_x_text(clean, k, k);
    }
    free(conv);
    free(clean);
    return r;
}
