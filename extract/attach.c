/*
 * attach.c - the attachments list: every leaf part that is not a
 * body, and every message/rfc822|global part (its DATA is the embedded
 * message), in the order the parts begin, at any depth.
 *
 * The entry is made at PART_BEGIN (description fields, a file object
 * opened) and completed at PART_END (size, bytes lost, the file object
 * closed). Decoded bytes are written to the file object as they come. A
 * message part stays open while its own parts stream, so the open
 * attachments form a stack keyed by part id (one message part per level
 * plus one leaf: at most max_msg_depth + 2, and never more than
 * ST_X_OPEN_MAX: beyond, the part is not listed, anomaly
 * too_many_open_attachments). Every open one has its file object: none is
 * quietly left unstored.
 *
 * File names are data, never paths: RFC 2231 bytes are converted from
 * their declared charset, RFC 2047 words decoded, the result made valid
 * UTF-8 and capped (st_hdr_fname_clean). Suspicious names (path
 * separators, "..", NUL, RTLO...) give the anomaly suspicious_filename;
 * a Content-Type name that differs from the Content-Disposition filename
 * (which wins) gives filename_mismatch. A multipart that held no part is
 * an entry too (st_x_attach_preamble, from preamble.c).
 *
 * How it fails: beyond max_attachments, parts are counted, not listed
 * (anomaly too_many_attachments at the end); a file object that could not
 * be kept gives the anomaly store_error; out of memory drops the entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract/extract_int.h"
#include "mailhdr/mailhdr.h"

/* -------------------------------------------------------------- names */

static const struct {
    unsigned flag;
    const char *name;
} fs_names[] = {
    {ST_HDR_FS_PATHSEP, "path_separator"},
    {ST_HDR_FS_DOTDOT, "dotdot"},
    {ST_HDR_FS_NUL, "nul"},
    {ST_HDR_FS_CTRL, "control"},
    {ST_HDR_FS_LONG, "long"},
    {ST_HDR_FS_BIDI, "bidi"},
    {ST_HDR_FS_DOUBLE, "double_extension"},
    {ST_HDR_FS_ABSOLUTE, "absolute"},
    {ST_HDR_FS_BADUTF8, "bad_utf8"},
    {ST_HDR_FS_EMPTY, "empty"},
    {ST_HDR_FS_PADDING, "padding"},
    {ST_HDR_FS_INVIS, "invisible"},
};

void st_x_suspicious(st_extract *x, unsigned flags, const char *path)
{
    char d[256];
    size_t n = 0;
    for (size_t i = 0; i < sizeof fs_names / sizeof fs_names[0]; i++) {
        if (!(flags & fs_names[i].flag))
            continue;
        int w = snprintf(d + n, sizeof d - n, "%s%s", n ? "," : "", fs_names[i].name);
        if (w > 0 && (size_t)w < sizeof d - n)
            n += (size_t)w;
    }
    st_x_anomaly(x, "suspicious_filename", d, n, path);
}

enum { FN_CHARSET, FN_2047, FN_CLEAN };

/* One step of the file name; *cut when the output did not fit in cap. */
static size_t fn_step(int step, const char *cs, const char *in, size_t n, char *out, size_t cap,
                      int *cut)
{
    unsigned fl = 0;
    size_t o;
    if (step == FN_CHARSET) {
        o = st_charset_to_utf8(cs, in, n, out, cap, &fl);
        *cut = (fl & ST_CHARSET_F_TRUNCATED) != 0;
    } else if (step == FN_2047) {
        o = st_hdr_decode(in, n, out, cap, NULL, &fl);
        *cut = (fl & ST_HDR_F_TRUNCATED) != 0;
    } else {
        o = st_hdr_fname_clean(in, n, out, cap, &fl);
        *cut = (fl & ST_HDR_FN_CUT) != 0;
    }
    return o;
}

/* A step into a heap buffer sized for n input bytes, run again with the
 * full ST_X_FNAME_BUF only when that was cut: the result is the same as
 * with buffers of the full size, which normal names never need. */
static char *fn_run(int step, const char *cs, const char *in, size_t *n)
{
    size_t cap = 4 * *n + 16 < ST_X_FNAME_BUF ? 4 * *n + 16 : ST_X_FNAME_BUF;
    for (;;) {
        char *out = malloc(cap);
        int cut = 0;
        if (!out)
            return NULL;
        size_t o = fn_step(step, cs, in, *n, out, cap, &cut);
        if (!cut || cap == ST_X_FNAME_BUF) {
            *n = o;
            return out;
        }
        free(out);
        cap = ST_X_FNAME_BUF;
    }
}

/* One name parameter decoded: RFC 2231 charset, RFC 2047 words, cleaned;
 * suspicious ones said when flag (the name that is used). Absent when out
 * of memory. */
static st_xstr name_of(st_extract *x, const st_mime_part *p, const st_mime_param *pa, int flag)
{
    char *buf = NULL, *next;
    const char *s = (const char *)pa->value;
    size_t n = pa->len;
    st_xstr none = {NULL, 0};
    if (pa->charset && pa->charset[0]) {
        if (!(buf = fn_run(FN_CHARSET, pa->charset, s, &n)))
            return none;
        s = buf;
    }
    if (memmem(s, n, "=?", 2)) {
        next = fn_run(FN_2047, NULL, s, &n);
        free(buf);
        if (!(s = buf = next))
            return none;
    }
    unsigned fs = flag ? st_hdr_fname_is_suspicious(s, n) : 0;
    if (fs)
        st_x_suspicious(x, fs, p->path);
    next = fn_run(FN_CLEAN, NULL, s, &n);
    free(buf);
    st_xstr name = st_x_text(next, n, ST_X_FNAME_BUF);
    free(next);
    return name;
}

static int given(const st_mime_param *pa)
{
    return (pa->flags & ST_MIME_PARAM_PRESENT) && pa->value;
}

/* Disposition filename, else Content-Type name (RFC 2183, as Python's
 * email package and mail clients do; Suricata takes whichever header
 * comes first, Zeek the last); absent when neither (or out of memory).
 * When both are given and differ, the anomaly filename_mismatch names the
 * Content-Type one: a scanner that reads the other name sees another file. */
st_xstr st_x_filename(st_extract *x, const st_mime_part *p)
{
    st_xstr none = {NULL, 0};
    if (!given(&p->filename))
        return given(&p->name) ? name_of(x, p, &p->name, 1) : none;
    st_xstr fn = name_of(x, p, &p->filename, 1);
    if (fn.s && given(&p->name)) {
        st_xstr nm = name_of(x, p, &p->name, 0);
        if (nm.s && (nm.n != fn.n || memcmp(nm.s, fn.s, fn.n) != 0))
            st_x_anomaly(x, "filename_mismatch", nm.s, nm.n, p->path);
        st_x_str_free(&nm);
    }
    return fn;
}

static st_xattach describe(st_extract *x, const st_mime_part *p, st_xstr filename)
{
    st_xattach a;
    memset(&a, 0, sizeof a);
    a.filename = filename;
    a.content_type = st_x_cstr(p->content_type, ST_X_TYPE_MAX);
    a.charset = st_x_cstr(p->charset, ST_MIME_CHARSET_MAX);
    a.disposition = st_x_cstr(p->disposition, ST_X_TYPE_MAX);
    if (p->description) {
        unsigned fl = 0;
        size_t dn = st_x_decode(x, p->description, strlen(p->description), &fl);
        a.description = st_x_text(x->hdr.scratch, dn, dn);
        st_x_scratch_trim(x);
    }
    a.content_id = st_x_cstr(p->content_id, x->cfg.header_value_max);
    a.mime_path = st_x_cstr(p->path ? p->path : "", ST_X_PATH_MAX);
    return a;
}

/* ------------------------------------------------------------ entries */

int st_x_entry_room(st_extract *x)
{
    if (x->f.nattach < x->cfg.max_attachments)
        return 1;
    x->f.attach_dropped++;
    return 0;
}

static void entry_strings_free(st_xattach *a)
{
    st_xstr *s[] = {&a->filename,    &a->content_type, &a->charset,  &a->disposition,
                    &a->description, &a->content_id,   &a->mime_path};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        st_x_str_free(s[i]);
}

st_xattach *st_x_entry_add(st_extract *x, st_xattach *a, size_t *index)
{
    st_xfacts *f = &x->f;
    if (f->nattach == f->attach_cap) {
        size_t cap = f->attach_cap ? f->attach_cap * 2 : 4;
        st_xattach *v = realloc(f->attach, cap * sizeof *v);
        if (!v) {
            entry_strings_free(a);
            return NULL;
        }
        f->attach = v;
        f->attach_cap = cap;
    }
    st_xattach *e = &f->attach[f->nattach];
    *e = *a;
    if (!e->file) /* one given (a preamble's) is taken */
        e->file = x->files.open ? x->files.open(x->files.ctx) : NULL;
    *index = f->nattach++;
    return e;
}

void st_x_entry_write(st_extract *x, st_xattach *a, const uint8_t *d, size_t n)
{
    if (a->file)
        x->files.write(a->file, d, n);
}

int st_x_complete(const st_extract *x, uint64_t missing)
{
    return missing == 0 && !(x->cut && x->finishing);
}

void st_x_file_close(st_extract *x, void *file, int complete, const char *mime_path)
{
    if (!file)
        return;
    if (!complete && x->files.partial)
        x->files.partial(file); /* never under the name of a whole object */
    int err = x->files.close(file);
    if (err)
        st_x_anomaly(x, "store_error", strerror(err), strlen(strerror(err)), mime_path);
}

void st_x_entry_close(st_extract *x, st_xattach *a)
{
    a->complete = st_x_complete(x, a->missing);
    a->closed = 1;
    st_x_file_close(x, a->file, a->complete, a->mime_path.s);
}

int st_x_stack_room(void **stack, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return 0;
    if (*cap >= ST_X_OPEN_MAX)
        return -1;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *o = realloc(*stack, ncap * elem);
    if (!o)
        return -1;
    *stack = o;
    *cap = ncap;
    return 0;
}

/* ---------------------------------------------------- open attachments */

static int open_push(st_extract *x, unsigned id, size_t entry)
{
    if (st_x_stack_room((void **)&x->open, x->nopen, &x->opencap, sizeof *x->open) != 0)
        return -1;
    x->open[x->nopen].part_id = id;
    x->open[x->nopen].entry = entry;
    x->nopen++;
    return 0;
}

static st_xattach *open_find(st_extract *x, unsigned id, size_t *slot)
{
    for (size_t i = x->nopen; i-- > 0;) {
        if (x->open[i].part_id == id) {
            *slot = i;
            return &x->f.attach[x->open[i].entry];
        }
    }
    return NULL;
}

static void open_remove(st_extract *x, size_t i)
{
    memmove(&x->open[i], &x->open[i + 1], (x->nopen - i - 1) * sizeof *x->open);
    x->nopen--;
}

/* ------------------------------------------------------------- events */

size_t st_x_attach_begin(st_extract *x, const st_mime_part *p)
{
    if (!st_x_entry_room(x))
        return ST_X_NO_ENTRY;
    st_xattach a = describe(x, p, st_x_filename(x, p));
    size_t index = x->f.nattach;
    if (open_push(x, p->id, index) != 0) {
        entry_strings_free(&a);
        st_x_anomaly(x, "too_many_open_attachments", NULL, 0, p->path);
        return ST_X_NO_ENTRY;
    }
    if (!st_x_entry_add(x, &a, &index)) {
        x->nopen--;
        return ST_X_NO_ENTRY;
    }
    if (st_x_tnef_wanted(p))
        st_x_tnef_begin(x, p);
    return index;
}

static st_xstr dup(const st_xstr *s)
{
    return s->s ? st_x_text(s->s, s->n, s->n) : *s;
}

size_t st_x_attach_preamble(st_extract *x, const st_mime_part *p, const st_xpart *e, void *file)
{
    if (!st_x_entry_room(x)) {
        x->files.release(file);
        return ST_X_NO_ENTRY;
    }
    st_xattach a = describe(x, p, dup(&e->filename));
    size_t index;
    st_x_str_free(&a.mime_path);
    a.mime_path = dup(&e->mime_path);
    a.file = file;
    a.size = p->decoded_size;
    a.missing = p->missing;
    st_xattach *n = st_x_entry_add(x, &a, &index);
    if (!n) {
        x->files.release(file);
        return ST_X_NO_ENTRY;
    }
    st_x_entry_close(x, n);
    return index;
}

void st_x_attach_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n)
{
    size_t slot;
    st_xattach *a = open_find(x, p->id, &slot);
    if (!a)
        return;
    st_x_entry_write(x, a, d, n);
    st_x_tnef_data(x, p, d, n);
}

void st_x_attach_end(st_extract *x, const st_mime_part *p)
{
    size_t slot;
    st_xattach *a = open_find(x, p->id, &slot);
    if (!a)
        return;
    a->size = p->decoded_size;
    a->missing = p->missing;
    st_x_entry_close(x, a);
    open_remove(x, slot);
    st_x_tnef_end(x, p); /* its inner attachments follow the winmail.dat entry */
}

/* Every entry's strings and file handle (a handle never closed keeps
 * nothing: its part never ended). */
void st_x_attach_free(st_extract *x)
{
    st_x_tnef_free(x);
    st_xfacts *f = &x->f;
    for (size_t i = 0; i < f->nattach; i++) {
        if (f->attach[i].file)
            x->files.release(f->attach[i].file);
        entry_strings_free(&f->attach[i]);
    }
    free(f->attach);
    f->attach = NULL;
    f->nattach = f->attach_cap = 0;
    free(x->open);
    x->open = NULL;
    x->nopen = x->opencap = 0;
}
