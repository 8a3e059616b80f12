/*
 * message_headers.c - the top-level message's header fields: the `headers`
 * object (stoQ format: repeats joined with "\n") and the structured fields
 * (from, to, cc, subject, ..., received, path).
 *
 * Values are RFC 2047-decoded into one scratch buffer, then copied into a
 * per-name buffer. The scratch is sized for the value at hand and decoded
 * again at the full header_value_max only when that was cut, so the result
 * is the same as with a buffer of the full size; a large one is given back
 * after the value. The object is capped at
 * ST_MSG_HDR_NAMES names and ST_MSG_HDR_BYTES bytes (what does not fit is
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

#include "mailhdr/mailhdr.h"
#include "output/message_int.h"
#include "output/record.h"

int st_msg_headers_init(st_message *m)
{
    st_msg_headers *h = &m->hdr;
    h->scratch = malloc(ST_MSG_SCRATCH_MIN);
    h->scratch_cap = h->scratch ? ST_MSG_SCRATCH_MIN : 0;
    h->to = json_array();
    h->cc = json_array();
    h->received = json_array();
    h->path = json_array();
    return h->scratch && h->to && h->cc && h->received && h->path ? 0 : -1;
}

void st_msg_headers_free(st_msg_headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].val);
    }
    free(h->v);
    free(h->scratch);
    st_msg_str *strs[] = {&h->from,         &h->reply_to,    &h->subject,    &h->date,
                          &h->message_id,   &h->in_reply_to, &h->user_agent, &h->x_mailer,
                          &h->x_user_agent, &h->x_orig_ip};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(strs[i]->s);
    json_decref(h->to);
    json_decref(h->cc);
    json_decref(h->received);
    json_decref(h->path);
    memset(h, 0, sizeof *h);
}

static void scratch_reserve(st_msg_headers *h, size_t cap)
{
    if (cap <= h->scratch_cap)
        return;
    char *s = realloc(h->scratch, cap);
    if (s) {
        h->scratch = s;
        h->scratch_cap = cap;
    }
}

size_t st_msg_decode(st_message *m, const char *v, size_t n, unsigned *flags)
{
    st_msg_headers *h = &m->hdr;
    size_t full = m->cfg.header_value_max + 1;
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

void st_msg_scratch_trim(st_message *m)
{
    st_msg_headers *h = &m->hdr;
    if (h->scratch_cap <= 4 * ST_MSG_SCRATCH_MIN)
        return;
    char *s = realloc(h->scratch, ST_MSG_SCRATCH_MIN);
    if (s) {
        h->scratch = s;
        h->scratch_cap = ST_MSG_SCRATCH_MIN;
    }
}

static size_t str_memory(const st_msg_str *s)
{
    return s->s ? s->n + 1 : 0;
}

size_t st_msg_headers_memory(const st_msg_headers *h)
{
    size_t n = h->scratch_cap + h->cap * sizeof *h->v;
    for (size_t i = 0; i < h->n; i++)
        n += strlen(h->v[i].name) + 1 + h->v[i].cap;
    const st_msg_str *strs[] = {&h->from,         &h->reply_to,    &h->subject,    &h->date,
                                &h->message_id,   &h->in_reply_to, &h->user_agent, &h->x_mailer,
                                &h->x_user_agent, &h->x_orig_ip};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        n += str_memory(strs[i]);
    return n;
}

/* ------------------------------------------------------ headers object */

static st_msg_hdr *hdr_slot(st_msg_headers *h, const char *name, size_t need)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->v[i].name, name) == 0)
            return &h->v[i];
    if (h->n == ST_MSG_HDR_NAMES || h->bytes + strlen(name) + need > ST_MSG_HDR_BYTES)
        return NULL;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        st_msg_hdr *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return NULL;
        h->v = v;
        h->cap = cap;
    }
    st_msg_hdr *e = &h->v[h->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name)
        return NULL;
    h->bytes += strlen(name);
    h->n++;
    return e;
}

/* Append one decoded value; 0 when it did not fit. */
static int hdr_append(st_msg_headers *h, const char *name, const char *v, size_t n)
{
    st_msg_hdr *e = hdr_slot(h, name, n);
    if (!e)
        return 0;
    size_t add = n + (e->val ? 1 : 0);
    if (h->bytes + add > ST_MSG_HDR_BYTES)
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

static void set_once(st_msg_str *s, const char *v, size_t n)
{
    if (s->s)
        return;
    s->s = malloc(n + 1);
    if (!s->s)
        return;
    memcpy(s->s, v, n);
    s->s[n] = 0;
    s->n = n;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* X-Originating-IP: "[192.0.2.1]" -> "192.0.2.1". */
static void set_orig_ip(st_msg_str *s, const char *v, size_t n)
{
    while (n && is_blank(*v))
        v++, n--;
    while (n && is_blank(v[n - 1]))
        n--;
    if (n && *v == '[')
        v++, n--;
    if (n && v[n - 1] == ']')
        n--;
    while (n && is_blank(*v))
        v++, n--;
    while (n && is_blank(v[n - 1]))
        n--;
    set_once(s, v, n);
}

struct addr_ctx {
    json_t *list;
};

static bool add_addr(const struct st_hdr_addr *a, void *ctx)
{
    struct addr_ctx *c = ctx;
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
    json_array_append_new(c->list, st_json_stringn(buf, n, sizeof buf));
    return true;
}

static void add_addrs(st_message *m, json_t *list, int *cut, const char *which, const uint8_t *v,
                      size_t n)
{
    struct addr_ctx c = {list};
    unsigned fl = 0;
    size_t have = json_array_size(list);
    size_t room = have < ST_MSG_MAX_ADDRS ? ST_MSG_MAX_ADDRS - have : 0;
    if (*cut)
        return;
    st_hdr_addrs_foreach((const char *)v, n, room, add_addr, &c, &fl);
    if (fl & ST_HDR_AL_TOO_MANY) {
        *cut = 1;
        st_msg_anomaly(m, "too_many_addresses", which, strlen(which), NULL);
    }
}

static void add_received(st_message *m, const uint8_t *raw, size_t rn, const char *dec, size_t dn)
{
    st_msg_headers *h = &m->hdr;
    if (json_array_size(h->received) < ST_MSG_MAX_RECEIVED) {
        json_array_append_new(h->received, st_json_stringn(dec, dn, dn));
    } else if (!h->received_cut) {
        h->received_cut = 1;
        st_msg_anomaly(m, "too_many_received", NULL, 0, NULL);
    }

    struct st_hdr_ip ip;
    if (!st_hdr_received_path_ip((const char *)raw, rn, &ip) || strcmp(ip.text, h->last_ip) == 0)
        return;
    snprintf(h->last_ip, sizeof h->last_ip, "%s", ip.text);
    if (json_array_size(h->path) < ST_MSG_MAX_PATH) {
        json_array_append_new(h->path, json_string(ip.text));
    } else if (!h->path_cut) {
        h->path_cut = 1;
        st_msg_anomaly(m, "too_many_path_ips", NULL, 0, NULL);
    }
}

static void structured(st_message *m, const char *name, const uint8_t *raw, size_t rn,
                       const char *dec, size_t dn)
{
    st_msg_headers *h = &m->hdr;
    static const struct {
        const char *name;
        size_t off;
    } once[] = {
        {"from", offsetof(st_msg_headers, from)},
        {"reply-to", offsetof(st_msg_headers, reply_to)},
        {"subject", offsetof(st_msg_headers, subject)},
        {"date", offsetof(st_msg_headers, date)},
        {"message-id", offsetof(st_msg_headers, message_id)},
        {"in-reply-to", offsetof(st_msg_headers, in_reply_to)},
        {"user-agent", offsetof(st_msg_headers, user_agent)},
        {"x-mailer", offsetof(st_msg_headers, x_mailer)},
        {"x-user-agent", offsetof(st_msg_headers, x_user_agent)},
    };
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++) {
        if (strcmp(name, once[i].name) == 0) {
            set_once((st_msg_str *)((char *)h + once[i].off), dec, dn);
            return;
        }
    }
    if (strcmp(name, "to") == 0)
        add_addrs(m, h->to, &h->to_cut, "to", raw, rn);
    else if (strcmp(name, "cc") == 0)
        add_addrs(m, h->cc, &h->cc_cut, "cc", raw, rn);
    else if (strcmp(name, "x-originating-ip") == 0)
        set_orig_ip(&h->x_orig_ip, dec, dn);
    else if (strcmp(name, "received") == 0)
        add_received(m, raw, rn, dec, dn);
}

void st_msg_headers_add(st_message *m, const char *name, const uint8_t *v, size_t n)
{
    st_msg_headers *h = &m->hdr;
    unsigned fl = 0;
    size_t dn = st_msg_decode(m, (const char *)v, n, &fl);
    if (fl & ST_HDR_F_TRUNCATED)
        st_msg_anomaly(m, "header_value_capped", name, strlen(name), NULL);
    if (!hdr_append(h, name, h->scratch, dn))
        h->dropped++;
    structured(m, name, v, n, h->scratch, dn);
    st_msg_scratch_trim(m);
}

/* ------------------------------------------------------------- output */

static json_t *str_json(const st_msg_str *s)
{
    return s->s ? st_json_stringn(s->s, s->n, s->n) : json_null();
}

void st_msg_headers_json(st_message *m, json_t *obj)
{
    st_msg_headers *h = &m->hdr;
    json_t *o = json_object();
    for (size_t i = 0; o && i < h->n; i++) {
        const st_msg_hdr *e = &h->v[i];
        json_t *val = st_json_stringn(e->val ? e->val : "", e->len, e->len);
        json_object_set_new(o, e->name, val);
    }
    json_object_set_new(obj, "headers", o ? o : json_null());
    json_object_set_new(obj, "from", str_json(&h->from));
    json_object_set(obj, "to", h->to);
    json_object_set(obj, "cc", h->cc);
    json_object_set_new(obj, "reply_to", str_json(&h->reply_to));
    json_object_set_new(obj, "subject", str_json(&h->subject));
    json_object_set_new(obj, "date", str_json(&h->date));
    json_object_set_new(obj, "message_id", str_json(&h->message_id));
    json_object_set_new(obj, "in_reply_to", str_json(&h->in_reply_to));
    const st_msg_str *ua = h->user_agent.s ? &h->user_agent
                           : h->x_mailer.s ? &h->x_mailer
                                           : &h->x_user_agent;
    json_object_set_new(obj, "user_agent", str_json(ua));
    json_object_set_new(obj, "x_originating_ip", str_json(&h->x_orig_ip));
    json_object_set(obj, "received", h->received);
    json_object_set(obj, "path", h->path);
}
