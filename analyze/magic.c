/*
 * magic.c - the "magic" analyzer: what the bytes of a file object are, by
 * libmagic, against what its headers declare.
 *
 * The first ST_MAGIC_BYTES of each object are kept (grown as they come,
 * freed at the end) and given to magic_buffer for a MIME type and a
 * description; that is what libmagic itself reads of a file by default
 * for most types (executables, archives, images and documents are known by
 * their first bytes). Where the content's type disagrees with the declared
 * Content-Type (the disguised executable: invoice.pdf that is a PE file),
 * the anomaly content_type_mismatch says both.
 *
 * Entry point: st_analyzer_magic (analyzers.c). Fields: "magic": {"mime",
 * "description", "bytes"} (bytes: how many were looked at).
 *
 * Limits: ST_MAGIC_BYTES per open object; a type known only by bytes
 * beyond them is not found (libmagic then says application/octet-stream
 * or its best guess). Strings are cut at ST_MAGIC_TEXT bytes.
 *
 * How it fails: libmagic that cannot load its database fails setup, at
 * start, with its message; out of memory or a libmagic error for one
 * object gives "magic": null for it.
 *
 * Not handled: types declared only by the file name's extension (the
 * record has the name: a consumer may compare), encodings (charset=).
 */
#include <magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyze/analyzer.h"

#define ST_MAGIC_BYTES (16 * 1024)
#define ST_MAGIC_TEXT  256

/* One cookie, set up once, switched between the MIME type and the
 * description with magic_setflags: each cookie maps and touches most of
 * the compiled database (about 7 MiB of resident memory). */
static magic_t cookie;

typedef struct {
    unsigned char *buf;
    size_t n, cap;
    char mime[ST_MAGIC_TEXT], text[ST_MAGIC_TEXT];
    int known;
} magic_state;

static magic_t open_cookie(int flags, char *err, size_t errlen)
{
    magic_t m = magic_open(flags | MAGIC_ERROR);
    if (m && magic_load(m, NULL) == 0)
        return m;
    snprintf(err, errlen, "magic: %s",
             m && magic_error(m) ? magic_error(m) : "cannot open libmagic");
    if (m)
        magic_close(m);
    return NULL;
}

static void magic_teardown(void)
{
    if (cookie)
        magic_close(cookie);
    cookie = NULL;
}

static int magic_setup(st_option_fn opt, void *ctx, char *err, size_t errlen)
{
    (void)opt, (void)ctx;
    cookie = open_cookie(MAGIC_MIME_TYPE, err, errlen);
    return cookie ? 0 : -1;
}

static void *magic_begin(void)
{
    return calloc(1, sizeof(magic_state));
}

static void magic_data(void *state, const uint8_t *d, size_t n)
{
    magic_state *m = state;
    if (!m || m->n == ST_MAGIC_BYTES || n == 0)
        return;
    size_t take = ST_MAGIC_BYTES - m->n < n ? ST_MAGIC_BYTES - m->n : n;
    if (m->n + take > m->cap) {
        size_t cap = m->cap ? m->cap : 1024;
        while (cap < m->n + take)
            cap *= 2;
        cap = cap < ST_MAGIC_BYTES ? cap : ST_MAGIC_BYTES;
        unsigned char *b = realloc(m->buf, cap);
        if (!b)
            return; /* out of memory: what is there is looked at */
        m->buf = b;
        m->cap = cap;
    }
    memcpy(m->buf + m->n, d, take);
    m->n += take;
}

static void magic_end(void *state, const st_file_result *r)
{
    magic_state *m = state;
    (void)r;
    if (!m)
        return;
    const void *b = m->n ? m->buf : (const void *)"";
    const char *mime = magic_setflags(cookie, MAGIC_MIME_TYPE | MAGIC_ERROR) == 0
                           ? magic_buffer(cookie, b, m->n)
                           : NULL;
    if (mime)
        snprintf(m->mime, sizeof m->mime, "%s", mime); /* the next call reuses libmagic's buffer */
    const char *text =
        mime && magic_setflags(cookie, MAGIC_ERROR) == 0 ? magic_buffer(cookie, b, m->n) : NULL;
    if (text) {
        snprintf(m->text, sizeof m->text, "%s", text);
        m->known = 1;
    }
    free(m->buf);
    m->buf = NULL;
    m->cap = 0;
}

/* Types that say nothing of what a file is: no mismatch with them. */
static int vague(const char *t)
{
    static const char *const v[] = {"",
                                    "application/octet-stream",
                                    "text/plain",
                                    "application/x-empty",
                                    "inode/x-empty",
                                    "application/unknown"};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        if (strcasecmp(t, v[i]) == 0)
            return 1;
    return 0;
}

static int same_kind(const char *declared, const char *found)
{
    if (strcasecmp(declared, found) == 0)
        return 1;
    /* text declared as another text type (text/html found as text/xml...) */
    if (!strncasecmp(declared, "text/", 5) && !strncasecmp(found, "text/", 5))
        return 1;
    /* usual aliases of the same format */
    static const char *const alias[][2] = {
        {"image/jpg", "image/jpeg"},
        {"image/pjpeg", "image/jpeg"},
        {"application/x-zip-compressed", "application/zip"},
        {"application/x-pdf", "application/pdf"},
        {"message/global", "message/rfc822"},
    };
    for (size_t i = 0; i < sizeof alias / sizeof *alias; i++)
        if (!strcasecmp(declared, alias[i][0]) && !strcasecmp(found, alias[i][1]))
            return 1;
    return 0;
}

static void magic_report(void *state, const st_file_result *r, json_t *entry, json_t *anomalies)
{
    magic_state *m = state;
    (void)r;
    if (!m || !m->known) {
        json_object_set_new(entry, "magic", json_null());
        return;
    }
    json_object_set_new(entry, "magic",
                        json_pack("{s:s, s:s, s:I}", "mime", m->mime, "description", m->text,
                                  "bytes", (json_int_t)m->n));
    const char *declared = json_string_value(json_object_get(entry, "content_type"));
    if (!declared || vague(declared) || vague(m->mime) || same_kind(declared, m->mime))
        return;
    char detail[2 * ST_MAGIC_TEXT + 32];
    snprintf(detail, sizeof detail, "declared %.255s, content %s", declared, m->mime);
    st_analyzer_anomaly(anomalies, entry, "content_type_mismatch", detail);
}

static void magic_free(void *state)
{
    magic_state *m = state;
    free(m->buf);
    free(m);
}

const st_analyzer st_analyzer_magic = {
    .name = "magic",
    .help = "libmagic MIME type and description of the first 16 KiB",
    .setup = magic_setup,
    .teardown = magic_teardown,
    .begin = magic_begin,
    .data = magic_data,
    .end = magic_end,
    .report = magic_report,
    .free = magic_free,
};
