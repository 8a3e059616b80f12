/*
 * preamble.c - a multipart whose boundary never occurs keeps its body.
 *
 * The MIME parser gives a multipart's preamble (the bytes before its first
 * delimiter line) as the multipart's DATA. Most preambles are a line for
 * readers without MIME and end at the first part; but when no part opens
 * (the boundary never occurs, or only as a close delimiter) the preamble
 * is the whole body, and dropping it would lose what was sent. So the
 * preamble streams into a file object of the attachment kind from its
 * first byte, and the first part to open in the multipart throws it away;
 * when none does, it becomes an attachment entry (listed, hashed, stored,
 * analysed like any) and the multipart's parts entry gets its hashes. The
 * parser says why (boundary_not_found, multipart_without_parts).
 *
 * Bounded: one preamble at a time. A part opening in a multipart ends its
 * preamble, and any other multipart begins inside one of its parts, so no
 * two multiparts are in their preamble at once. Its file object holds
 * what every file object holds (hash contexts, a write buffer).
 *
 * How it fails: out of memory for the file object, the preamble is not
 * kept (the parts entry has no hashes).
 *
 * Not handled: the preamble of a multipart that has parts, even one
 * opened only after its close delimiter (part_after_final_boundary), is
 * dropped as RFC 2046 says; the message file keeps it.
 */
#include "extract/extract_int.h"

/* The pending preamble is settled: kept when its multipart ended
 * without a part (at its PART_END), else thrown away. */
static void settle(st_extract *x)
{
    const st_mime_part *mp = x->pre.mp;
    void *file = x->pre.file;
    x->pre.mp = NULL;
    x->pre.file = NULL;
    st_xpart *e = st_x_part_of(x, mp->id);
    if (!(mp->flags & ST_MIME_PF_NO_PARTS) || !e) {
        if (file)
            x->files.release(file);
        return;
    }
    if (!file && x->files.open) /* an empty body is a part too */
        file = x->files.open(x->files.ctx);
    if (!file)
        return;
    st_x_part_as_leaf(x, mp, e);
    size_t i = st_x_attach_preamble(x, mp, e, file);
    if (i != ST_X_NO_ENTRY) {
        e->attach = i;
        e->container = 0;
    }
}

void st_x_pre_begin(st_extract *x, const st_mime_part *p)
{
    if (x->pre.mp)
        settle(x);
    x->pre.mp = p;
    x->pre.file = NULL; /* opened by its first byte: most preambles are empty */
}

void st_x_pre_child(st_extract *x, const st_mime_part *child)
{
    if (x->pre.mp && (int)x->pre.mp->id == child->parent_id)
        settle(x);
}

void st_x_pre_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n)
{
    if (x->pre.mp != p)
        return;
    if (!x->pre.file && x->files.open)
        x->pre.file = x->files.open(x->files.ctx);
    if (x->pre.file)
        x->files.write(x->pre.file, d, n);
}

void st_x_pre_end(st_extract *x, const st_mime_part *p)
{
    if (x->pre.mp == p)
        settle(x);
}

void st_x_pre_free(st_extract *x)
{
    if (x->pre.file)
        x->files.release(x->pre.file);
    x->pre.mp = NULL;
    x->pre.file = NULL;
}
