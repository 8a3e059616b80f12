/*
 * message_json.c - facts of one message into its record fields.
 *
 * Every string fact is valid UTF-8 already (extract/ made it so); it is
 * passed through st_json_stringn all the same, which leaves valid text as
 * it is, so that no input can make jansson refuse a value. The summary
 * anomalies (headers_capped, too_many_attachments, parts_capped,
 * too_many_anomalies) are added beyond the anomaly cap, so a cut list
 * still says that and how much was cut.
 */
#include <stdio.h>

#include "analyze/file.h"
#include "output/message_json.h"
#include "output/record.h"

static json_t *text(const st_xstr *s)
{
    return s->s ? st_json_stringn(s->s, s->n, s->n) : json_null();
}

static json_t *texts(const st_xstrs *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        json_array_append_new(a, text(&l->v[i]));
    return a;
}

static json_t *headers(const st_xfacts *f)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < f->nheaders; i++) {
        const st_xheader *e = &f->headers[i];
        json_object_set_new(o, e->name, st_json_stringn(e->val ? e->val : "", e->len, e->len));
    }
    return o ? o : json_null();
}

static void fields(const st_xfacts *f, json_t *obj)
{
    json_object_set_new(obj, "headers", headers(f));
    json_object_set_new(obj, "from", text(&f->from));
    json_object_set_new(obj, "to", texts(&f->to));
    json_object_set_new(obj, "cc", texts(&f->cc));
    json_object_set_new(obj, "reply_to", text(&f->reply_to));
    json_object_set_new(obj, "subject", text(&f->subject));
    json_object_set_new(obj, "date", text(&f->date));
    json_object_set_new(obj, "message_id", text(&f->message_id));
    json_object_set_new(obj, "in_reply_to", text(&f->in_reply_to));
    json_object_set_new(obj, "user_agent", text(&f->user_agent));
    json_object_set_new(obj, "x_originating_ip", text(&f->x_orig_ip));
    json_object_set_new(obj, "received", texts(&f->received));
    json_object_set_new(obj, "path", texts(&f->path));
}

static json_t *body_text(const st_xbody *b)
{
    if (!b->present)
        return json_null();
    const char *s = b->text ? b->text : "";
    json_t *j = json_stringn(s, b->len); /* valid UTF-8 from the conversion */
    return j ? j : st_json_stringn(s, b->len, b->len);
}

static void bodies(const st_xfacts *f, json_t *obj)
{
    static const char *names[2][2] = {{"body", "body_truncated"},
                                      {"body_html", "body_html_truncated"}};
    for (int i = 0; i < 2; i++) {
        const st_xbody *b = &f->body[i];
        json_object_set_new(obj, names[i][0], f->omit_body ? json_null() : body_text(b));
        json_object_set_new(obj, names[i][1], json_boolean(b->truncated));
    }
}

static json_t *attachment(const st_xattach *a, json_t *found)
{
    json_t *e = json_object();
    if (!e)
        return NULL;
    json_object_set_new(e, "filename", text(&a->filename));
    json_object_set_new(e, "content_type", text(&a->content_type));
    json_object_set_new(e, "charset", text(&a->charset));
    json_object_set_new(e, "disposition", text(&a->disposition));
    json_object_set_new(e, "content_description", text(&a->description));
    json_object_set_new(e, "content_id", text(&a->content_id));
    json_object_set_new(e, "mime_path", text(&a->mime_path));
    if (!a->closed)
        return e; /* its part never ended: nothing more is known */
    json_object_set_new(e, "size", json_integer((json_int_t)a->size));
    if (a->file)
        st_file_report(a->file, e, found);
    json_object_set_new(e, "missing_bytes", json_integer((json_int_t)a->missing));
    json_object_set_new(e, "complete", json_boolean(a->complete));
    return e;
}

/* One entity of "parts": its bytes' digests (those the file layer made:
 * sha256 always, the others when the hash analyzer runs; null when not
 * made) and where they are, from its attachment's file object or its own. */
static json_t *part(const st_xfacts *f, const st_xpart *p)
{
    json_t *e = json_object();
    if (!e)
        return NULL;
    json_object_set_new(e, "mime_path", text(&p->mime_path));
    json_object_set_new(e, "content_type", text(&p->content_type));
    json_object_set_new(e, "charset", text(&p->charset));
    json_object_set_new(e, "disposition", text(&p->disposition));
    json_object_set_new(e, "filename", text(&p->filename));
    const st_file *file = p->attach != ST_X_NO_ENTRY ? f->attach[p->attach].file : p->file;
    int bytes = p->closed && !p->container;
    json_object_set_new(e, "size", bytes ? json_integer((json_int_t)p->size) : json_null());
    const st_file_result *r = bytes && file ? st_file_result_of(file) : NULL;
    const char *names[] = {"md5", "sha1", "sha256", "sha512"};
    const char *vals[] = {r ? r->digest.md5 : "", r ? r->digest.sha1 : "",
                          r ? r->digest.sha256 : "", r ? r->digest.sha512 : ""};
    for (size_t i = 0; i < 4; i++)
        json_object_set_new(e, names[i], vals[i][0] ? json_string(vals[i]) : json_null());
    json_object_set_new(e, "stored", r && r->stored ? json_string(r->path) : json_null());
    json_object_set_new(e, "missing_bytes", json_integer((json_int_t)p->missing));
    json_object_set_new(e, "complete", json_boolean(p->closed && p->complete));
    return e;
}

static json_t *anomaly(const char *name, const st_xstr *detail, const st_xstr *path)
{
    json_t *a = json_object();
    if (!a)
        return NULL;
    json_object_set_new(a, "name", json_string(name));
    json_object_set_new(a, "detail", text(detail));
    json_object_set_new(a, "mime_path", text(path));
    return a;
}

static void summary(json_t *list, const char *name, uint64_t n)
{
    char d[24];
    st_xstr detail = {d, (size_t)snprintf(d, sizeof d, "%llu", (unsigned long long)n)};
    st_xstr none = {NULL, 0};
    if (n)
        json_array_append_new(list, anomaly(name, &detail, &none));
}

/* The extractor's anomalies, then the analyzers' (found), then the
 * summaries. */
static json_t *anomalies(const st_xfacts *f, json_t *found)
{
    json_t *list = json_array();
    if (!list)
        return NULL;
    for (size_t i = 0; i < f->nanomalies; i++) {
        const st_xanomaly *a = &f->anomalies[i];
        json_t *j = anomaly("", &a->detail, &a->mime_path);
        if (j)
            json_object_set_new(j, "name", text(&a->name));
        json_array_append_new(list, j);
    }
    size_t room = f->nanomalies < ST_X_ANOMALIES_MAX ? ST_X_ANOMALIES_MAX - f->nanomalies : 0;
    size_t nfound = json_array_size(found), keep = nfound < room ? nfound : room;
    for (size_t i = 0; i < keep; i++)
        json_array_append(list, json_array_get(found, i));
    summary(list, "headers_capped", f->headers_dropped);
    summary(list, "too_many_attachments", f->attach_dropped);
    summary(list, "parts_capped", f->parts_dropped);
    summary(list, "too_many_anomalies", f->anomalies_dropped + (nfound - keep));
    return list;
}

/* message.iocs, and the anomalies of its caps. */
static void iocs(const st_ioc_set *s, json_t *obj, json_t *found)
{
    char d[48];
    json_t *j = st_ioc_set_json(s);
    json_object_set_new(obj, "iocs", j ? j : json_object());
    for (int i = 0; i < 2; i++) {
        const char *name = st_ioc_cap_anomaly(s, i, d, sizeof d);
        if (name)
            json_array_append_new(
                found, json_pack("{s:s, s:s, s:n}", "name", name, "detail", d, "mime_path"));
    }
}

void st_message_json(const st_xfacts *f, json_t *obj)
{
    st_message_json_more(f, NULL, obj);
}

void st_message_json_more(const st_xfacts *f, const st_message_more *more, json_t *obj)
{
    fields(f, obj);
    bodies(f, obj);
    json_t *list = json_array(), *found = json_array();
    for (size_t i = 0; list && i < f->nattach; i++)
        json_array_append_new(list, attachment(&f->attach[i], found));
    json_object_set_new(obj, "attachments", list);
    json_t *parts = json_array();
    for (size_t i = 0; parts && i < f->nparts; i++)
        json_array_append_new(parts, part(f, &f->parts[i]));
    json_object_set_new(obj, "parts", parts);
    if (more && more->eml)
        st_file_report_analyzers(more->eml, obj, found);
    if (more && more->iocs)
        iocs(more->iocs, obj, found);
    json_t *an = anomalies(f, found);
    if (an)
        json_object_set_new(obj, "anomalies", an);
    json_decref(found);
}
