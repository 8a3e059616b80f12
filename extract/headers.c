/*
 * headers.c - the top-level message's header fields: the headers list
 * (stoQ format: repeats joined with "\n") and the structured fields
 * (from, to, cc, subject, ..., received, path).
 *
 * Values are RFC 2047-decoded into one scratch buffer, then copied into a
 * per-name buffer. The scratch is sized for the value at hand and decoded
 * again at the full header_value_max only when that was cut, so the result
 * is the same as with a buffer of the full size; a large one is given back
 * after the value. The object is capped at
 * ST_X_HDR_NAMES names and ST_X_HDR_BYTES bytes (what does not fit is
 * counted: anomaly headers_capped); address lists, received and path at
 * their own caps (anomalies too_many_addresses, too_many_received,
 * too_many_path_ips). The structured fields are filled from every field,
 * whether the object had room for it or not.
 *
 * How it fails: a value cut at header_value_max gives the anomaly
 * header_value_capped; out of memory drops the value (counted as capped).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract/extract_int.h"
#include "mailhdr/mailhdr.h"

int st_x_headers_init(st_extract *x)
{
    st_x_headers *h = &x->hdr;
    h->scratch = malloc(ST_X_SCRATCH_MIN);
    h->scratch_cap = h->scratch ? ST_X_SCRATCH_MIN : 0;
    return h->scratch ? 0 : -1;
}

/* The structured fields that are one string each, by header name. */
static st_xstr *once_field(st_extract *x, const char *name)
{
    st_xfacts *f = &x->f;
    st_x_headers *h = &x->hdr;
    const struct {
        const char *name;
        st_xstr *field;
    } once[] = {
        {"from", &f->from},
        {"reply-to", &f->reply_to},
        {"subject", &f->subject},
        {"date", &f->date},
        {"message-id", &f->message_id},
        {"in-reply-to", &f->in_reply_to},
        {"user-agent", &f->user_agent},
        {"x-mailer", &h->x_mailer},
        {"x-user-agent", &h->x_user_agent},
        {"x-originating-ip", &f->x_orig_ip},
    };
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
        if (strcmp(name, once[i].name) == 0)
            return once[i].field;
    return NULL;
}

static const char *const once_names[] = {
    "from",        "reply-to",   "subject",  "date",         "message-id",
    "in-reply-to", "user-agent", "x-mailer", "x-user-agent", "x-originating-ip"};

void st_x_headers_free(st_extract *x)
{
    st_x_headers *h = &x->hdr;
    st_xfacts *f = &x->f;
    for (size_t i = 0; i < f->nheaders; i++) {
        free(f->headers[i].name);
        free(f->headers[i].val);
    }
    free(f->headers);
    f->headers = NULL;
    f->nheaders = 0;
    free(h->scratch);
    for (size_t i = 0; i < sizeof once_names / sizeof once_names[0]; i++)
        st_x_str_free(once_field(x, once_names[i]));
    st_x_strs_free(&f->to);
    st_x_strs_free(&f->cc);
    st_x_strs_free(&f->received);
    st_x_strs_free(&f->path);
    memset(h, 0, sizeof *h);
}

/* user_agent: User-Agent, else X-Mailer, else X-User-Agent. */
void st_x_headers_finish(st_extract *x)
{
    st_x_headers *h = &x->hdr;
    st_xstr *ua = &x->f.user_agent;
    st_xstr *from = h->x_mailer.s ? &h->x_mailer : &h->x_user_agent;
    if (ua->s || !from->s)
        return;
    *ua = *from;
    from->s = NULL;
    from->n = 0;
}

static void scratch_reserve(st_x_headers *h, size_t cap)
{
    if (cap <= h->scratch_cap)
        return;
    char *s = realloc(h->scratch, cap);
    if (s) {
        h->scratch = s;
        h->scratch_cap = cap;
    }
}

size_t st_x_decode(st_extract *x, const char *v, size_t n, unsigned *flags)
{
    st_x_headers *h = &x->hdr;
    size_t full = x->cfg.header_value_max + 1;
    size_t cap = 2 * n + 64 < full ? 2 * n + 64 : full;
    for (;;) {
        unsigned fl = 0;
        scratch_reserve(h, cap); /* out of memory: the value is cut to what there is */
        size_t use = h->scratch_cap < full ? h->scratch_cap : full;
        size_t dn = st_hdr_decode(v, n, h->scratch, use, NULL, &fl);
        if (!(fl & ST_HDR_F_TRUNCATED) || use == full || h->scratch_cap < cap) {
            *flags |= fl;
            return dn;
        }
        cap = full;
    }
}

void st_x_scratch_trim(st_extract *x)
{
    st_x_headers *h = &x->hdr;
    if (h->scratch_cap <= 4 * ST_X_SCRATCH_MIN)
        return;
    char *s = realloc(h->scratch, ST_X_SCRATCH_MIN);
    if (s) {
        h->scratch = s;
        h->scratch_cap = ST_X_SCRATCH_MIN;
    }
}

size_t st_x_headers_memory(const st_extract *x)
{
    const st_xfacts *f = &x->f;
    size_t n = x->hdr.scratch_cap + x->hdr.cap * sizeof *f->headers;
    for (size_t i = 0; i < f->nheaders; i++)
        n += strlen(f->headers[i].name) + 1 + f->headers[i].cap;
    for (size_t i = 0; i < sizeof once_names / sizeof once_names[0]; i++) {
        const st_xstr *s = once_field((st_extract *)x, once_names[i]);
        n += s->s ? s->n + 1 : 0;
    }
    return n;
}

/* ------------------------------------------------------- headers list */

static st_xheader *hdr_slot(st_extract *x, const char *name, size_t need)
{
    st_xfacts *f = &x->f;
    st_x_headers *h = &x->hdr;
    for (size_t i = 0; i < f->nheaders; i++)
        if (strcmp(f->headers[i].name, name) == 0)
            return &f->headers[i];
    if (f->nheaders == ST_X_HDR_NAMES || h->bytes + strlen(name) + need > ST_X_HDR_BYTES)
        return NULL;
    if (f->nheaders == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        st_xheader *v = realloc(f->headers, cap * sizeof *v);
        if (!v)
            return NULL;
        f->headers = v;
        h->cap = cap;
    }
    st_xheader *e = &f->headers[f->nheaders];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name)
        return NULL;
    h->bytes += strlen(name);
    f->nheaders++;
    return e;
}

/* Append one decoded value; 0 when it did not fit. */
static int hdr_append(st_extract *x, const char *name, const char *v, size_t n)
{
    st_x_headers *h = &x->hdr;
    st_xheader *e = hdr_slot(x, name, n);
    if (!e)
        return 0;
    size_t add = n + (e->val ? 1 : 0);
    if (h->bytes + add > ST_X_HDR_BYTES)
        return 0;
    if (e->len + add + 1 > e->cap) {
        size_t cap = e->cap ? e->cap : e->len + add + 1; /* most names come once: exact */
        while (cap < e->len + add + 1)
            cap *= 2;
        char *p = realloc(e->val, cap);
        if (!p)
            return 0;
        e->val = p;
        e->cap = cap;
    }
    if (e->len || add > n)
        e->val[e->len++] = '\n';
    memcpy(e->val + e->len, v, n);
    e->len += n;
    e->val[e->len] = 0;
    h->bytes += add;
    return 1;
}

/* ---------------------------------------------------- structured fields */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* X-Originating-IP: "[192.0.2.1]" -> "192.0.2.1". */
static void orig_ip(const char **v, size_t *n)
{
    const char *s = *v;
    size_t k = *n;
    while (k && is_blank(*s))
        s++, k--;
    while (k && is_blank(s[k - 1]))
        k--;
    if (k && *s == '[')
        s++, k--;
    if (k && s[k - 1] == ']')
        k--;
    while (k && is_blank(*s))
        s++, k--;
    while (k && is_blank(s[k - 1]))
        k--;
    *v = s;
    *n = k;
}

static bool add_addr(const struct st_hdr_addr *a, void *ctx)
{
    st_xstrs *list = ctx;
    char buf[ST_HDR_NAME_MAX + ST_HDR_ADDR_MAX + 4];
    if (!a->addr[0] && !a->name[0])
        return true; /* an empty group "undisclosed-recipients:;" names nobody */
    size_t n;
    if (a->name[0]) {
        size_t nl = strlen(a->name), al = strlen(a->addr);
        memcpy(buf, a->name, nl);
        buf[nl] = ' ';
        buf[nl + 1] = '<';
        memcpy(buf + nl + 2, a->addr, al);
        buf[nl + 2 + al] = '>';
        n = nl + al + 3;
    } else {
        n = strlen(a->addr);
        memcpy(buf, a->addr, n);
    }
    st_x_strs_add(list, st_x_text(buf, n, sizeof buf));
    return true;
}

static void add_addrs(st_extract *x, st_xstrs *list, int *cut, const char *which, const uint8_t *v,
                      size_t n)
{
    unsigned fl = 0;
    size_t room = list->n < ST_X_MAX_ADDRS ? ST_X_MAX_ADDRS - list->n : 0;
    if (*cut)
        return;
    st_hdr_addrs_foreach((const char *)v, n, room, add_addr, list, &fl);
    if (fl & ST_HDR_AL_TOO_MANY) {
        *cut = 1;
        st_x_anomaly(x, "too_many_addresses", which, strlen(which), NULL);
    }
}

static void add_received(st_extract *x, const uint8_t *raw, size_t rn, const char *dec, size_t dn)
{
    st_x_headers *h = &x->hdr;
    st_xfacts *f = &x->f;
    if (f->received.n < ST_X_MAX_RECEIVED) {
        st_x_strs_add(&f->received, st_x_text(dec, dn, dn));
    } else if (!h->received_cut) {
        h->received_cut = 1;
        st_x_anomaly(x, "too_many_received", NULL, 0, NULL);
    }

    struct st_hdr_ip ip;
    if (!st_hdr_received_path_ip((const char *)raw, rn, &ip) || strcmp(ip.text, h->last_ip) == 0)
        return;
    snprintf(h->last_ip, sizeof h->last_ip, "%s", ip.text);
    if (f->path.n < ST_X_MAX_PATH) {
        st_x_strs_add(&f->path, st_x_cstr(ip.text, sizeof ip.text));
    } else if (!h->path_cut) {
        h->path_cut = 1;
        st_x_anomaly(x, "too_many_path_ips", NULL, 0, NULL);
    }
}

static void structured(st_extract *x, const char *name, const uint8_t *raw, size_t rn,
                       const char *dec, size_t dn)
{
    st_x_headers *h = &x->hdr;
    st_xstr *once = once_field(x, name);
    if (once) {
        if (strcmp(name, "x-originating-ip") == 0)
            orig_ip(&dec, &dn);
        if (!once->s) /* the first field of a name wins */
            *once = st_x_text(dec, dn, dn);
    } else if (strcmp(name, "to") == 0) {
        add_addrs(x, &x->f.to, &h->to_cut, "to", raw, rn);
    } else if (strcmp(name, "cc") == 0) {
        add_addrs(x, &x->f.cc, &h->cc_cut, "cc", raw, rn);
    } else if (strcmp(name, "received") == 0) {
        add_received(x, raw, rn, dec, dn);
    }
}

void st_x_headers_add(st_extract *x, const char *name, const uint8_t *v, size_t n)
{
    st_x_headers *h = &x->hdr;
    unsigned fl = 0;
    size_t dn = st_x_decode(x, (const char *)v, n, &fl);
    if (fl & ST_HDR_F_TRUNCATED)
        st_x_anomaly(x, "header_value_capped", name, strlen(name), NULL);
    if (!hdr_append(x, name, h->scratch, dn))
        x->f.headers_dropped++;
    structured(x, name, v, n, h->scratch, dn);
    st_x_scratch_trim(x);
}
