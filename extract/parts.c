/*
 * parts.c - the parts list: one entry per MIME entity of the message, at
 * any depth, in the order the entities begin, bodies and containers
 * included (Zeek's files.log lists every entity, Arkime hashes every
 * base64 part). The attachments list is the subset that are attachments.
 *
 * The entry is made at PART_BEGIN and completed at PART_END. A leaf's
 * decoded bytes are hashed (and stored) once, as they stream, by a file
 * object: an attachment's entry and its parts entry share the attachment's
 * (attach.c writes it); a body, which is no attachment, gets one of its
 * own (st_extract_on_plain: hashed and stored, seen by no analyzer). A message/rfc822 part is a
 * leaf here too: its bytes are the embedded message's, and that message's entities follow. A
 * multipart is a container with no bytes of its own, unless no part opened in it: then its preamble
 * is all it holds and is kept as an attachment (preamble.c). Files found inside a part (TNEF,
 * uuencode) are no MIME entities: they are attachments only.
 *
 * Limits: ST_X_PARTS_MAX entries, room for every attachment listed, a
 * container for each and the two bodies (the rest are counted,
 * parts_dropped: the summary anomaly parts_capped);
 * one stack slot per open entity listed (the MIME depth limits bound them,
 * ST_X_OPEN_MAX beyond: the entity is not listed).
 *
 * How it fails: out of memory drops the entry (or its file object: no
 * hashes), and the record still lists the others.
 */
#include <stdlib.h>
#include <string.h>

#include "extract/extract_int.h"

/* ------------------------------------------------------- open entities */

static int popen_push(st_extract *x, const st_mime_part *p, size_t entry)
{
    if (st_x_stack_room((void **)&x->popen, x->npopen, &x->popencap, sizeof *x->popen) != 0)
        return -1;
    x->popen[x->npopen].part_id = p->id;
    x->popen[x->npopen].kind = p->kind;
    x->popen[x->npopen].entry = entry;
    x->npopen++;
    return 0;
}

st_xpart *st_x_part_of(st_extract *x, unsigned part_id)
{
    for (size_t i = x->npopen; i-- > 0;)
        if (x->popen[i].part_id == part_id)
            return &x->f.parts[x->popen[i].entry];
    return NULL;
}

/* Is p the root entity of a message (the fed one, or one in a message
 * part)? Its parent, when listed, is open below it. */
static int level_root(const st_extract *x, const st_mime_part *p)
{
    if (p->parent_id < 0)
        return 1;
    for (size_t i = x->npopen; i-- > 0;)
        if ((int)x->popen[i].part_id == p->parent_id)
            return x->popen[i].kind == ST_MIME_MESSAGE;
    return p->depth == 0;
}

void st_x_part_as_leaf(st_extract *x, const st_mime_part *p, st_xpart *e)
{
    if (!level_root(x, p) || !e->mime_path.s)
        return;
    size_t n = e->mime_path.n;
    char *s = malloc(n + 3);
    if (!s)
        return;
    memcpy(s, e->mime_path.s, n);
    memcpy(s + n, n ? ".1" : "1", n ? 3 : 2);
    st_x_str_free(&e->mime_path);
    e->mime_path = st_x_cstr(s, ST_X_PATH_MAX);
    free(s);
}

/* ------------------------------------------------------------- entries */

static int parts_room(st_extract *x)
{
    st_xfacts *f = &x->f;
    if (f->nparts >= ST_X_PARTS_MAX(x->cfg.max_attachments)) {
        f->parts_dropped++;
        return 0;
    }
    if (f->nparts == f->parts_cap) {
        size_t cap = f->parts_cap ? f->parts_cap * 2 : 4;
        st_xpart *v = realloc(f->parts, cap * sizeof *v);
        if (!v)
            return 0;
        f->parts = v;
        f->parts_cap = cap;
    }
    return 1;
}

static void entry_free(st_extract *x, st_xpart *e)
{
    st_xstr *s[] = {&e->mime_path, &e->content_type, &e->charset, &e->disposition, &e->filename};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        st_x_str_free(s[i]);
    if (e->file)
        x->files.release(e->file);
    e->file = NULL;
}

void st_x_part_begin(st_extract *x, const st_mime_part *p)
{
    if (!parts_room(x))
        return;
    st_xpart e;
    memset(&e, 0, sizeof e);
    e.attach = ST_X_NO_ENTRY;
    e.container = p->kind == ST_MIME_MULTIPART;
    e.mime_path = st_x_cstr(p->path ? p->path : "", ST_X_PATH_MAX);
    e.content_type = st_x_cstr(p->content_type, ST_X_TYPE_MAX);
    e.charset = st_x_cstr(p->charset, ST_MIME_CHARSET_MAX);
    e.disposition = st_x_cstr(p->disposition, ST_X_TYPE_MAX);
    if (e.container) /* a leaf's name comes with its attachment entry */
        e.filename = st_x_filename(x, p);
    if (popen_push(x, p, x->f.nparts) != 0) {
        entry_free(x, &e);
        x->f.parts_dropped++;
        return;
    }
    x->f.parts[x->f.nparts++] = e;
}

/* p is listed as attachments[attach] too: that entry's file and name. */
void st_x_part_attach(st_extract *x, const st_mime_part *p, size_t attach)
{
    st_xpart *e = st_x_part_of(x, p->id);
    if (!e || attach == ST_X_NO_ENTRY)
        return;
    const st_xattach *a = &x->f.attach[attach];
    e->attach = attach;
    e->container = 0;
    st_x_str_free(&e->filename);
    if (a->filename.s)
        e->filename = st_x_text(a->filename.s, a->filename.n, a->filename.n);
}

/* p is no attachment (a body): a file object of its own. */
void st_x_part_own(st_extract *x, const st_mime_part *p)
{
    st_xpart *e = st_x_part_of(x, p->id);
    void *(*open)(void *) = x->open_plain ? x->open_plain : x->files.open;
    if (e && open)
        e->file = open(x->files.ctx);
}

void st_x_part_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n)
{
    st_xpart *e = st_x_part_of(x, p->id);
    if (e && e->file)
        x->files.write(e->file, d, n);
}

void st_x_part_end(st_extract *x, const st_mime_part *p)
{
    if (!x->npopen || x->popen[x->npopen - 1].part_id != p->id)
        return; /* not listed (entities end innermost first) */
    st_xpart *e = &x->f.parts[x->popen[--x->npopen].entry];
    e->size = p->decoded_size;
    e->missing = p->missing;
    e->closed = 1;
    e->complete = st_x_complete(x, e->missing);
    st_x_file_close(x, e->file, e->complete, e->mime_path.s);
}

void st_x_parts_free(st_extract *x)
{
    st_xfacts *f = &x->f;
    for (size_t i = 0; i < f->nparts; i++)
        entry_free(x, &f->parts[i]);
    free(f->parts);
    f->parts = NULL;
    f->nparts = f->parts_cap = 0;
    free(x->popen);
    x->popen = NULL;
    x->npopen = x->popencap = 0;
}
