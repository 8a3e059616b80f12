/*
 * tnef.c - winmail.dat: the attachments inside a TNEF part.
 *
 * Outlook wraps attachments in application/ms-tnef. The TNEF part is
 * listed like any attachment; while its decoded bytes stream past, a TNEF
 * decoder (mime/tnef.c) unpacks them, and each inner attachment becomes an
 * entry of its own right after it, with mime_path "<part>.tnef.<n>", its
 * name converted from its code page, its bytes hashed and stored like any
 * other. One TNEF part is unpacked at a time (they never nest in a MIME
 * part's bytes); a TNEF inside a TNEF is listed, not unpacked.
 *
 * How it fails: a malformed TNEF stream gives tnef_* anomalies; what was
 * unpacked before stays listed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime/tnef.h"
#include "extract/extract_int.h"

typedef struct st_x_tnef {
    st_tnef *dec;
    unsigned part_id;
    char path[64];
    st_x_inner cur; /* the inner attachment in progress */
} st_x_tnef;

int st_x_tnef_wanted(const st_mime_part *p)
{
    const char *ct = p->content_type ? p->content_type : "";
    if (!strcmp(ct, "application/ms-tnef") || !strcmp(ct, "application/vnd.ms-tnef"))
        return 1;
    return p->filename.value && p->filename.len == 11 &&
           !strncasecmp((const char *)p->filename.value, "winmail.dat", 11);
}

static void inner_end(st_extract *x, st_x_tnef *t, const st_tnef_ev *ev)
{
    char cs[16];
    if (ev->name_cp == ST_TNEF_CP_UTF8)
        snprintf(cs, sizeof cs, "utf-8");
    else if (ev->name_cp)
        snprintf(cs, sizeof cs, "cp%u", ev->name_cp);
    else
        snprintf(cs, sizeof cs, "windows-1252");
    const char *path = st_x_inner_path(x, &t->cur);
    st_xstr name = st_x_inner_name(x, cs, ev->name, ev->name_len, path);
    st_x_inner_end(x, &t->cur, name, ev->mime);
}

static void on_tnef(void *ctx, const st_tnef_ev *ev)
{
    st_extract *x = ctx;
    st_x_tnef *t = x->tnef;
    if (ev->type == ST_TNEF_ATTACH_BEGIN) {
        char path[96];
        snprintf(path, sizeof path, "%s.tnef.%ld", t->path, ev->index + 1);
        st_x_inner_begin(x, &t->cur, path);
    } else if (ev->type == ST_TNEF_ATTACH_DATA) {
        st_x_inner_data(x, &t->cur, ev->data, ev->len);
    } else if (ev->type == ST_TNEF_ATTACH_END) {
        inner_end(x, t, ev);
    } else if (ev->type == ST_TNEF_ANOMALY) {
        const char *d = ev->detail;
        st_x_anomaly(x, ev->anomaly, d, d ? strlen(d) : 0, t->path);
    }
}

void st_x_tnef_begin(st_extract *x, const st_mime_part *p)
{
    if (x->tnef)
        return; /* a TNEF inside a TNEF part's bytes is listed, not unpacked */
    st_x_tnef *t = calloc(1, sizeof *t);
    if (!t)
        return;
    t->part_id = p->id;
    snprintf(t->path, sizeof t->path, "%s", p->path ? p->path : "");
    x->tnef = t;
    t->dec = st_tnef_new(NULL, on_tnef, x);
    if (!t->dec)
        st_x_tnef_free(x);
}

void st_x_tnef_data(st_extract *x, const st_mime_part *p, const uint8_t *d, size_t n)
{
    if (x->tnef && x->tnef->part_id == p->id)
        st_tnef_feed(x->tnef->dec, d, n);
}

void st_x_tnef_end(st_extract *x, const st_mime_part *p)
{
    if (!x->tnef || x->tnef->part_id != p->id)
        return;
    st_tnef_finish(x->tnef->dec);
    st_x_tnef_free(x);
}

void st_x_tnef_free(st_extract *x)
{
    st_x_tnef *t = x->tnef;
    if (!t)
        return;
    st_x_inner_abort(x, &t->cur); /* freed inside an inner attachment */
    st_tnef_free(t->dec);
    free(t);
    x->tnef = NULL;
}
