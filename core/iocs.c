/*
 * iocs.c - stoQ's extract_iocs: the IOCs of each message, from the
 * headers and bodies that ioc_keys names, into message.iocs.
 *
 * Wiring only: the extraction hands the bodies' decoded bytes over as they
 * stream (st_extract_on_body), so that body_max and omit_body, which bound
 * what the record keeps, never bound what is searched; the headers named
 * in ioc_keys are searched from the extraction's facts when the message
 * ends, each as its own text (its name is the "where" of what it yields).
 * The search itself is analyze/ioc.c.
 *
 * Limits: those of the engine (ioc_max values and ioc_max_bytes searched a
 * message, counted beyond); headers as the extraction keeps them.
 *
 * Not handled: bodies in UTF-16 or UTF-32 (their bytes are searched as
 * they are, and IOCs are ASCII).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* ",a,b," from "A, b": names compared whole, case-blind. */
static char *key_list(const char *keys)
{
    size_t n = strlen(keys);
    char *out = malloc(n + 3), *o = out;
    if (!out)
        return NULL;
    *o++ = ',';
    for (const char *p = keys; *p; p++)
        if (!isspace((unsigned char)*p))
            *o++ = (char)tolower((unsigned char)*p);
    *o++ = ',';
    *o = 0;
    return out;
}

static int wanted(const st_core *c, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(c->ioc_keys, name); p; p = strstr(p + 1, name))
        if (p[-1] == ',' && p[n] == ',')
            return 1;
    return 0;
}

int st_core_iocs_setup(st_core *c, char *err, size_t errlen)
{
    const smtptap_config *o = c->cfg;
    if (!o->extract_iocs)
        return 0;
    st_ioc_config ic;
    st_ioc_config_default(&ic);
    ic.max_iocs = (size_t)o->ioc_max;
    ic.max_bytes = (uint64_t)o->ioc_max_bytes;
    ic.allowlist = o->ioc_allowlist;
    c->ioc_keys = key_list(o->ioc_keys);
    c->iocs = c->ioc_keys ? st_ioc_engine_new(&ic, err, errlen) : NULL;
    if (c->iocs)
        return 0;
    if (!c->ioc_keys)
        snprintf(err, errlen, "out of memory");
    return -1;
}

void st_core_iocs_teardown(st_core *c)
{
    st_ioc_engine_free(c->iocs);
    free(c->ioc_keys);
    c->iocs = NULL;
    c->ioc_keys = NULL;
}

static void on_body(void *ctx, int which, const uint8_t *d, size_t n)
{
    st_core_msg *m = ctx;
    if (!(m->ioc_want & (1u << which)))
        return;
    if (!m->ioc_body[which])
        m->ioc_body[which] = which ? st_ioc_begin(m->iocs, "body_html", ST_IOC_HTML)
                                   : st_ioc_begin(m->iocs, "body", 0);
    st_ioc_feed(m->ioc_body[which], d, n);
}

void st_core_iocs_begin(st_core *c, st_core_msg *m)
{
    m->iocs = c->iocs && m->x ? st_ioc_set_new(c->iocs) : NULL;
    m->ioc_body[0] = m->ioc_body[1] = NULL;
    m->ioc_want = 0;
    if (!m->iocs)
        return;
    m->ioc_want = (wanted(c, "body") ? 1u : 0) | (wanted(c, "body_html") ? 2u : 0);
    if (m->ioc_want)
        st_extract_on_body(m->x, on_body, m);
}

static void end_bodies(st_core_msg *m)
{
    for (int i = 0; i < 2; i++) {
        st_ioc_end(m->ioc_body[i]);
        m->ioc_body[i] = NULL;
    }
}

void st_core_iocs_finish(st_core *c, st_core_msg *m, const st_xfacts *f)
{
    if (!m->iocs)
        return;
    end_bodies(m);
    for (size_t i = 0; i < f->nheaders; i++) {
        const st_xheader *h = &f->headers[i];
        if (!h->val || !wanted(c, h->name))
            continue;
        st_ioc_text *t = st_ioc_begin(m->iocs, h->name, 0);
        st_ioc_feed(t, (const uint8_t *)h->val, h->len);
        st_ioc_end(t);
    }
}

void st_core_iocs_free(st_core_msg *m)
{
    end_bodies(m);
    st_ioc_set_free(m->iocs);
    m->iocs = NULL;
}
