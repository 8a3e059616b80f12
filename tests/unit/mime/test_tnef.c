/*
 * test_tnef.c - the streaming TNEF decoder: streams built here by a small
 * encoder (attributes with checksums, MAPI property lists with named,
 * multi-valued, fixed and variable properties), decoded whole, split at
 * every byte and byte by byte; exact names, code pages, MIME types, sizes
 * and bytes of every attachment; hostile streams (bad signature, truncation,
 * huge lengths, 100,000 attachments, random bytes) end in anomalies only,
 * with memory fixed.
 *
 * No real winmail.dat with a clear licence was found in Debian packages
 * (tnef, ytnef-tools and libytnef0 ship none), so the streams come from the
 * encoder below. The encoder was checked against tnef(1) of the Debian
 * package `tnef`: TNEF_DUMP=file.dat writes the main stream, and
 * `tnef --unix-paths -C dir file.dat` extracts the same three files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime/tnef.h"

/* ---- a growing byte buffer and the encoder ---- */

typedef struct buf {
    uint8_t *b;
    size_t len, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->b = realloc(b->b, b->cap);
        assert_non_null(b->b);
    }
    if (n)
        memcpy(b->b + b->len, p, n);
    b->len += n;
}

static void put_u8(buf *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put_u16(buf *b, unsigned v)
{
    put_u8(b, v & 0xFF);
    put_u8(b, v >> 8 & 0xFF);
}

static void put_u32(buf *b, uint32_t v)
{
    put_u16(b, v & 0xFFFF);
    put_u16(b, v >> 16);
}

static void pad4(buf *b, size_t n)
{
    while (n++ % 4)
        put_u8(b, 0);
}

static unsigned sum16(const uint8_t *p, size_t n)
{
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s & 0xFFFF;
}

static void attr_sum(buf *b, unsigned level, uint32_t id, const void *d, size_t n, unsigned sum)
{
    put_u8(b, level);
    put_u32(b, id);
    put_u32(b, (uint32_t)n);
    put(b, d, n);
    put_u16(b, sum);
}

static void attr(buf *b, unsigned level, uint32_t id, const void *d, size_t n)
{
    attr_sum(b, level, id, d, n, sum16(d, n));
}

#define ATT_TNEF_VERSION  0x00089006u
#define ATT_OEM_CODEPAGE  0x00069007u
#define ATT_MESSAGE_CLASS 0x00078008u
#define ATT_BODY          0x0002800Cu
#define ATT_ATTACH_REND   0x00069002u
#define ATT_ATTACH_TITLE  0x00018010u
#define ATT_ATTACH_DATA   0x0006800Fu
#define ATT_ATTACHMENT    0x00069005u

static void tnef_begin(buf *b, unsigned codepage)
{
    uint8_t ver[4] = {0, 0, 1, 0};
    put_u32(b, 0x223E9F78u);
    put_u16(b, 0x4C2A);
    attr(b, 1, ATT_TNEF_VERSION, ver, 4);
    if (codepage) {
        buf cp = {0};
        put_u32(&cp, codepage);
        put_u32(&cp, 0);
        attr(b, 1, ATT_OEM_CODEPAGE, cp.b, cp.len);
        free(cp.b);
    }
    attr(b, 1, ATT_MESSAGE_CLASS, "IPM.Microsoft Mail.Note", 24);
}

static void rend(buf *b)
{
    uint8_t r[14] = {1, 0, 0xFF, 0xFF, 0xFF, 0xFF};
    attr(b, 2, ATT_ATTACH_REND, r, sizeof r);
}

static void title(buf *b, const char *s)
{
    attr(b, 2, ATT_ATTACH_TITLE, s, strlen(s) + 1);
}

/* UTF-8 (well-formed, test-chosen) to UTF-16LE with surrogate pairs, NUL included. */
static void utf16(buf *o, const char *s)
{
    const uint8_t *u = (const uint8_t *)s;
    while (*u) {
        uint32_t c = *u++;
        int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        c &= more == 3 ? 0x07 : more == 2 ? 0x0F : more == 1 ? 0x1F : 0x7F;
        while (more--)
            c = c << 6 | (*u++ & 0x3F);
        if (c >= 0x10000) {
            put_u16(o, 0xD800 + ((c - 0x10000) >> 10));
            put_u16(o, 0xDC00 + ((c - 0x10000) & 0x3FF));
        } else {
            put_u16(o, c);
        }
    }
    put_u16(o, 0);
}

/* ---- MAPI property lists ---- */

typedef struct props {
    buf b;
    uint32_t count;
} props;

static void tag(props *p, unsigned type, unsigned id)
{
    put_u16(&p->b, type);
    put_u16(&p->b, id);
    p->count++;
}

static void value_var(props *p, const void *d, size_t n)
{
    put_u32(&p->b, 1); /* value count */
    put_u32(&p->b, (uint32_t)n);
    put(&p->b, d, n);
    pad4(&p->b, n);
}

static void prop_unicode(props *p, unsigned id, const char *s)
{
    buf u = {0};
    utf16(&u, s);
    tag(p, 0x001F, id);
    value_var(p, u.b, u.len);
    free(u.b);
}

static void prop_string8(props *p, unsigned id, const char *s)
{
    tag(p, 0x001E, id);
    value_var(p, s, strlen(s) + 1);
}

static void prop_binary(props *p, unsigned type, unsigned id, const void *d, size_t n)
{
    tag(p, type, id);
    value_var(p, d, n);
}

static void prop_u32(props *p, unsigned type, unsigned id, uint32_t v)
{
    tag(p, type, id);
    put_u32(&p->b, v);
}

static void prop_u64(props *p, unsigned type, unsigned id, uint64_t v)
{
    tag(p, type, id);
    put_u32(&p->b, (uint32_t)v);
    put_u32(&p->b, (uint32_t)(v >> 32));
}

static void prop_mv_long(props *p, unsigned id, uint32_t n)
{
    tag(p, 0x1003, id);
    put_u32(&p->b, n);
    for (uint32_t i = 0; i < n; i++)
        put_u32(&p->b, i * 7);
}

static void prop_mv_unicode(props *p, unsigned id, const char *a, const char *b)
{
    buf u = {0}, v = {0};
    utf16(&u, a);
    utf16(&v, b);
    tag(p, 0x101F, id);
    put_u32(&p->b, 2);
    put_u32(&p->b, (uint32_t)u.len);
    put(&p->b, u.b, u.len);
    pad4(&p->b, u.len);
    put_u32(&p->b, (uint32_t)v.len);
    put(&p->b, v.b, v.len);
    pad4(&p->b, v.len);
    free(u.b);
    free(v.b);
}

static const uint8_t GUID[16] = {0x08, 0x20, 0x06, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46};

static void prop_named_id(props *p, unsigned lid, uint32_t v)
{
    tag(p, 0x0003, 0x8001);
    put(&p->b, GUID, 16);
    put_u32(&p->b, 0); /* MNID_ID */
    put_u32(&p->b, lid);
    put_u32(&p->b, v);
}

static void prop_named_string(props *p, const char *name, const char *val)
{
    buf u = {0};
    utf16(&u, name);
    tag(p, 0x001F, 0x8002);
    put(&p->b, GUID, 16);
    put_u32(&p->b, 1); /* MNID_STRING */
    put_u32(&p->b, (uint32_t)u.len);
    put(&p->b, u.b, u.len);
    pad4(&p->b, u.len);
    u.len = 0;
    utf16(&u, val);
    value_var(p, u.b, u.len);
    free(u.b);
}

/* Write the property list as attAttachment and free it. */
static void attachment(buf *b, props *p)
{
    buf a = {0};
    put_u32(&a, p->count);
    put(&a, p->b.b, p->b.len);
    attr(b, 2, ATT_ATTACHMENT, a.b, a.len);
    free(a.b);
    free(p->b.b);
    memset(p, 0, sizeof *p);
}

static uint8_t *pseudo(size_t n, uint32_t seed)
{
    uint8_t *d = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        d[i] = (uint8_t)(seed >> 16);
    }
    return d;
}

/* ---- what the decoder said ---- */

typedef struct att {
    buf data;
    char name[9000];
    size_t name_len;
    unsigned cp;
    char mime[256];
    uint64_t size;
    int ended;
    int names; /* ATTACH_NAME events */
} att;

typedef struct col {
    att *a;
    size_t n;
    int store; /* keep data and names */
    size_t begins, ends, data_bytes;
    char anom[200][48];
    char detail[200][160];
    size_t nanom;
    int bad_order;
} col;

static att *cur(col *c, long index)
{
    if (index < 0 || (size_t)index + 1 != c->n || c->a[index].ended) {
        c->bad_order = 1;
        return NULL;
    }
    return &c->a[index];
}

static void on_begin(col *c, const st_tnef_ev *ev)
{
    if (ev->index != (long)c->n)
        c->bad_order = 1;
    if (c->n > 0 && !c->a[c->n - 1].ended)
        c->bad_order = 1;
    c->a = realloc(c->a, (c->n + 1) * sizeof *c->a);
    memset(&c->a[c->n++], 0, sizeof *c->a);
    c->begins++;
}

static void on_end(col *c, att *a, const st_tnef_ev *ev)
{
    a->ended = 1;
    a->size = ev->size;
    c->ends++;
    if (ev->name) {
        assert_true(ev->name_len < sizeof a->name);
        memcpy(a->name, ev->name, ev->name_len);
        a->name_len = ev->name_len;
        a->cp = ev->name_cp;
    }
    if (ev->mime)
        snprintf(a->mime, sizeof a->mime, "%s", ev->mime);
    if (ev->size != a->data.len && c->store)
        c->bad_order = 1;
}

static void on_ev(void *ctx, const st_tnef_ev *ev)
{
    col *c = ctx;
    att *a;
    if (ev->type == ST_TNEF_ANOMALY) {
        if (c->nanom < 200) {
            snprintf(c->anom[c->nanom], 48, "%s", ev->anomaly);
            snprintf(c->detail[c->nanom], 160, "%s", ev->detail ? ev->detail : "");
        }
        c->nanom++;
        return;
    }
    if (ev->type == ST_TNEF_ATTACH_BEGIN) {
        on_begin(c, ev);
        return;
    }
    if (!(a = cur(c, ev->index)))
        return;
    if (ev->type == ST_TNEF_ATTACH_DATA) {
        if (ev->len == 0 || !ev->data)
            c->bad_order = 1;
        c->data_bytes += ev->len;
        if (c->store)
            put(&a->data, ev->data, ev->len);
    } else if (ev->type == ST_TNEF_ATTACH_NAME) {
        a->names++;
    } else {
        on_end(c, a, ev);
    }
}

static void col_free(col *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->a[i].data.b);
    free(c->a);
    free(c);
}

/* Decode s[n] fed in pieces of at most `chunk` bytes (0: whole), after a
 * first piece of `first` bytes. */
static col *run_lim(const uint8_t *s, size_t n, size_t first, size_t chunk,
                    const st_tnef_limits *lim)
{
    col *c = calloc(1, sizeof *c);
    c->store = 1;
    st_tnef *t = st_tnef_new(lim, on_ev, c);
    assert_non_null(t);
    size_t mem = st_tnef_memory(t);
    size_t pos = first < n ? first : n;
    st_tnef_feed(t, s, pos);
    while (pos < n) {
        size_t k = chunk && chunk < n - pos ? chunk : n - pos;
        st_tnef_feed(t, s + pos, k);
        pos += k;
    }
    st_tnef_finish(t);
    st_tnef_feed(t, s, n); /* ignored after finish */
    st_tnef_finish(t);
    assert_int_equal(st_tnef_memory(t), mem);
    st_tnef_free(t);
    assert_false(c->bad_order);
    assert_int_equal(c->begins, c->ends);
    return c;
}

static col *run(const uint8_t *s, size_t n, size_t first, size_t chunk)
{
    return run_lim(s, n, first, chunk, NULL);
}

static int has_anom(const col *c, const char *name)
{
    int k = 0;
    for (size_t i = 0; i < c->nanom && i < 200; i++)
        k += strcmp(c->anom[i], name) == 0;
    return k;
}

static void same(const col *x, const col *y)
{
    assert_int_equal(x->n, y->n);
    assert_int_equal(x->nanom, y->nanom);
    for (size_t i = 0; i < x->nanom && i < 200; i++) {
        assert_string_equal(x->anom[i], y->anom[i]);
        assert_string_equal(x->detail[i], y->detail[i]);
    }
    for (size_t i = 0; i < x->n; i++) {
        const att *a = &x->a[i], *b = &y->a[i];
        assert_int_equal(a->name_len, b->name_len);
        assert_memory_equal(a->name, b->name, a->name_len);
        assert_int_equal(a->cp, b->cp);
        assert_string_equal(a->mime, b->mime);
        assert_int_equal(a->data.len, b->data.len);
        if (a->data.len)
            assert_memory_equal(a->data.b, b->data.b, a->data.len);
        assert_int_equal(a->names, b->names);
    }
}

static void check_att(const att *a, const char *name, unsigned cp, const char *mime,
                      const uint8_t *d, size_t n)
{
    assert_true(a->ended);
    assert_int_equal(a->name_len, strlen(name));
    assert_memory_equal(a->name, name, a->name_len);
    assert_int_equal(a->cp, cp);
    assert_string_equal(a->mime, mime);
    assert_int_equal(a->size, n);
    assert_int_equal(a->data.len, n);
    if (n)
        assert_memory_equal(a->data.b, d, n);
}

/* ---- the main stream: three attachments ---- */

#define LONG_NAME                                                                                  \
    "\xc3\x9c"                                                                                     \
    "bersicht \xe2\x82\xac.pdf" /* "Übersicht €.pdf" */

static const uint8_t ONE[1] = {0xA5};

/* B: title first, then 1 byte of data, then the property list whose
 * PR_ATTACH_LONG_FILENAME replaces the title. */
static void attach_b(buf *b)
{
    props p = {0};
    rend(b);
    title(b, "UEBERS~1.PDF");
    attr(b, 2, ATT_ATTACH_DATA, ONE, 1);
    prop_u32(&p, 0x0003, 0x0E20, 1); /* PR_ATTACH_SIZE */
    prop_u32(&p, 0x000B, 0x7FFE, 1); /* a boolean */
    prop_u64(&p, 0x0040, 0x3007, 0x01D9A1B2C3D4E5F6ull);
    prop_mv_long(&p, 0x6700, 5);
    prop_mv_unicode(&p, 0x3707, "not.this", "nor.this"); /* multi-valued: ignored */
    prop_named_id(&p, 0x8514, 42);
    prop_named_string(&p, "x-custom-name", "value");
    prop_binary(&p, 0x0102, 0x3709, "\x01\x02\x03\x04\x05", 5);
    prop_string8(&p, 0x3704, "UEBERS~1.PDF");
    prop_unicode(&p, 0x3707, LONG_NAME);
    prop_unicode(&p, 0x370E, "application/pdf");
    prop_u32(&p, 0x0003, 0x3705, 1); /* PR_ATTACH_METHOD after the name */
    attachment(b, &p);
}

static buf main_stream(const uint8_t *a_data, size_t a_len)
{
    buf b = {0};
    props p = {0};
    tnef_begin(&b, 1252);
    attr(&b, 1, ATT_BODY, "Hello\r\n", 7);
    rend(&b);
    title(&b, "report.txt");
    attr(&b, 2, ATT_ATTACH_DATA, a_data, a_len);
    prop_string8(&p, 0x370E, "text/plain");
    attachment(&b, &p);
    attach_b(&b);
    rend(&b);
    title(&b, "empty.bin");
    attr(&b, 2, ATT_ATTACH_DATA, "", 0);
    return b;
}

static void check_main(const col *c, const uint8_t *a_data, size_t a_len)
{
    assert_int_equal(c->nanom, 0);
    assert_int_equal(c->n, 3);
    check_att(&c->a[0], "report.txt", 1252, "text/plain", a_data, a_len);
    check_att(&c->a[1], LONG_NAME, ST_TNEF_CP_UTF8, "application/pdf", ONE, 1);
    check_att(&c->a[2], "empty.bin", 1252, "", NULL, 0);
    assert_int_equal(c->a[1].names, 2); /* title, long name; the 8.3 name ranks lower */
}

static void test_three_attachments(void **state)
{
    (void)state;
    uint8_t *d = pseudo(100000, 1);
    buf b = main_stream(d, 100000);
    const char *dump = getenv("TNEF_DUMP");
    if (dump) {
        FILE *f = fopen(dump, "wb");
        assert_non_null(f);
        fwrite(b.b, 1, b.len, f);
        fclose(f);
    }
    col *c = run(b.b, b.len, 0, 0);
    check_main(c, d, 100000);
    col_free(c);
    c = run(b.b, b.len, 0, 1); /* byte by byte */
    check_main(c, d, 100000);
    col_free(c);
    for (size_t chunk = 2; chunk < 5000; chunk = chunk * 3 + 1) {
        c = run(b.b, b.len, chunk / 2, chunk);
        check_main(c, d, 100000);
        col_free(c);
    }
    free(b.b);
    free(d);
}

static void test_split_every_byte(void **state)
{
    (void)state;
    uint8_t *d = pseudo(100, 2);
    buf b = main_stream(d, 100);
    col *whole = run(b.b, b.len, 0, 0);
    check_main(whole, d, 100);
    for (size_t i = 0; i <= b.len; i++) {
        col *c = run(b.b, b.len, i, 0);
        same(whole, c);
        col_free(c);
    }
    col_free(whole);
    free(b.b);
    free(d);
}

/* ---- data as a MAPI property, names ---- */

static void test_data_obj(void **state)
{
    (void)state;
    uint8_t *d = pseudo(70000, 3);
    uint8_t obj[16 + 300];
    memset(obj, 0xEE, 16); /* interface id, not data */
    memcpy(obj + 16, d, 300);
    buf b = {0};
    props p = {0};
    tnef_begin(&b, 0);
    rend(&b);
    prop_unicode(&p, 0x3707, "big.bin");
    prop_binary(&p, 0x0102, 0x3701, d, 70000);
    attachment(&b, &p);
    rend(&b);
    prop_binary(&p, 0x000D, 0x3701, obj, sizeof obj);
    prop_string8(&p, 0x3704, "EMBED.MSG");
    attachment(&b, &p);
    for (size_t chunk = 0; chunk < 200; chunk = chunk * 2 + 7) {
        col *c = run(b.b, b.len, 3, chunk);
        assert_int_equal(c->nanom, 0);
        assert_int_equal(c->n, 2);
        check_att(&c->a[0], "big.bin", ST_TNEF_CP_UTF8, "", d, 70000);
        check_att(&c->a[1], "EMBED.MSG", 0, "", d, 300);
        col_free(c);
    }
    free(b.b);
    free(d);
}

static void test_duplicate_data(void **state)
{
    (void)state;
    buf b = {0};
    props p = {0};
    tnef_begin(&b, 0);
    rend(&b);
    attr(&b, 2, ATT_ATTACH_DATA, "first", 5);
    prop_binary(&p, 0x0102, 0x3701, "second", 6);
    attachment(&b, &p);
    attr(&b, 2, ATT_ATTACH_DATA, "third", 5);
    col *c = run(b.b, b.len, 0, 0);
    assert_int_equal(c->n, 1);
    check_att(&c->a[0], "", 0, "", (const uint8_t *)"first", 5);
    assert_int_equal(c->nanom, 2);
    assert_int_equal(has_anom(c, "tnef_duplicate_data"), 2);
    assert_string_equal(c->detail[0], "PR_ATTACH_DATA_OBJ skipped");
    assert_string_equal(c->detail[1], "attAttachData skipped");
    col_free(c);
    free(b.b);
}

static void test_unicode_names(void **state)
{
    (void)state;
    buf b = {0};
    props p = {0};
    tnef_begin(&b, 0);
    rend(&b);
    prop_unicode(&p, 0x3707, "a\xf0\x9f\x98\x80z.txt"); /* U+1F600: a surrogate pair */
    attachment(&b, &p);
    rend(&b);
    /* A lone high surrogate, then "b": U+FFFD. Written by hand. */
    const uint8_t lone[] = {0x00, 0xD8, 'b', 0, 0, 0};
    prop_binary(&p, 0x001F, 0x3707, lone, sizeof lone);
    attachment(&b, &p);
    rend(&b);
    title(&b, "\xdc"
              "bersicht.doc"); /* cp1252 Ü, passed raw */
    col *c = run(b.b, b.len, 0, 1);
    assert_int_equal(c->nanom, 0);
    assert_int_equal(c->n, 3);
    check_att(&c->a[0], "a\xf0\x9f\x98\x80z.txt", ST_TNEF_CP_UTF8, "", NULL, 0);
    check_att(&c->a[1],
              "\xef\xbf\xbd"
              "b",
              ST_TNEF_CP_UTF8, "", NULL, 0);
    check_att(&c->a[2],
              "\xdc"
              "bersicht.doc",
              0, "", NULL, 0);
    col_free(c);
    free(b.b);
}

static void test_name_too_long(void **state)
{
    (void)state;
    char longname[101];
    memset(longname, 'n', 100);
    longname[100] = 0;
    buf b = {0};
    props p = {0};
    tnef_begin(&b, 0);
    rend(&b);
    title(&b, longname);
    rend(&b);
    prop_unicode(&p, 0x3707,
                 "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
                 "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"); /* 8 x € */
    attachment(&b, &p);
    st_tnef_limits lim = {.max_name = 20};
    col *c = run_lim(b.b, b.len, 0, 0, &lim);
    assert_int_equal(c->n, 2);
    check_att(&c->a[0], "nnnnnnnnnnnnnnnnnnnn", 0, "", NULL, 0);
    /* All 18 UTF-16 bytes are captured; 6 of the 8 signs fit in 20 UTF-8 bytes. */
    check_att(&c->a[1], "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
              ST_TNEF_CP_UTF8, "", NULL, 0);
    assert_int_equal(has_anom(c, "tnef_name_too_long"), 2);
    col_free(c);
    free(b.b);
}

/* ---- hostile streams ---- */

static void test_bad_signature(void **state)
{
    (void)state;
    uint8_t *d = pseudo(10, 4);
    buf b = main_stream(d, 10);
    b.b[0] ^= 1;
    col *c = run(b.b, b.len, 0, 0);
    assert_int_equal(c->n, 0);
    assert_int_equal(c->nanom, 1);
    assert_string_equal(c->anom[0], "tnef_bad_signature");
    assert_string_equal(c->detail[0], "0x223e9f79");
    col_free(c);
    c = run(b.b, 3, 0, 1);
    assert_int_equal(c->nanom, 1);
    assert_string_equal(c->anom[0], "tnef_truncated");
    col_free(c);
    c = run(b.b, 0, 0, 0);
    assert_int_equal(c->nanom, 1);
    assert_string_equal(c->anom[0], "tnef_truncated");
    col_free(c);
    free(b.b);
    free(d);
}

static void test_truncated_in_length(void **state)
{
    (void)state;
    buf b = {0};
    tnef_begin(&b, 0);
    rend(&b);
    title(&b, "cut.txt");
    attr(&b, 2, ATT_ATTACH_DATA, "abcdef", 6);
    size_t cut = b.len - 2 - 6 - 2; /* two bytes into the length field */
    for (size_t chunk = 0; chunk < 3; chunk++) {
        col *c = run(b.b, cut, 0, chunk);
        assert_int_equal(c->n, 1);
        check_att(&c->a[0], "cut.txt", 0, "", NULL, 0);
        assert_int_equal(c->nanom, 1);
        assert_string_equal(c->anom[0], "tnef_truncated");
        assert_string_equal(c->detail[0], "in an attribute header (7 of 9 bytes)");
        col_free(c);
    }
    /* Cut inside the checksum and inside the data. */
    col *c = run(b.b, b.len - 1, 0, 0);
    assert_string_equal(c->anom[0], "tnef_truncated");
    check_att(&c->a[0], "cut.txt", 0, "", (const uint8_t *)"abcdef", 6);
    col_free(c);
    c = run(b.b, b.len - 4, 0, 0);
    assert_string_equal(c->anom[0], "tnef_length_overrun");
    assert_string_equal(c->detail[0], "attribute 0x0006800f: 4 of 6 bytes");
    check_att(&c->a[0], "cut.txt", 0, "", (const uint8_t *)"abcd", 4);
    col_free(c);
    free(b.b);
}

static void test_length_ffffffff(void **state)
{
    (void)state;
    uint8_t *d = pseudo(5000, 5);
    buf b = {0};
    tnef_begin(&b, 0);
    rend(&b);
    put_u8(&b, 2);
    put_u32(&b, ATT_ATTACH_DATA);
    put_u32(&b, 0xFFFFFFFFu);
    size_t start = b.len;
    put(&b, d, 5000);
    title(&b, "swallowed.txt"); /* inside the data now */
    col *c = run(b.b, b.len, 0, 333);
    assert_int_equal(c->n, 1);
    check_att(&c->a[0], "", 0, "", b.b + start, b.len - start);
    assert_int_equal(c->nanom, 1);
    assert_string_equal(c->anom[0], "tnef_length_overrun");
    col_free(c);
    /* The same length on a title and on a property list: skipped, bounded. */
    b.b[start - 8] = 0x10; /* attAttachTitle */
    b.b[start - 7] = 0x80;
    b.b[start - 6] = 0x01;
    c = run(b.b, b.len, 0, 0);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->a[0].size, 0);
    assert_int_equal(c->a[0].name_len, 0); /* the title never ended */
    assert_int_equal(c->nanom, 1);
    assert_string_equal(c->anom[0], "tnef_length_overrun");
    col_free(c);
    b.b[start - 8] = 0x05; /* attAttachment */
    b.b[start - 7] = 0x90;
    b.b[start - 6] = 0x06;
    c = run(b.b, b.len, 0, 0);
    assert_int_equal(c->n, 1);
    assert_int_equal(has_anom(c, "tnef_length_overrun"), 1);
    col_free(c);
    free(b.b);
    free(d);
}

static void test_bad_checksum_and_level(void **state)
{
    (void)state;
    buf b = {0};
    tnef_begin(&b, 0);
    rend(&b);
    attr_sum(&b, 2, ATT_ATTACH_DATA, "data", 4, 0x1234);
    title(&b, "kept.txt");
    col *c = run(b.b, b.len, 0, 0);
    assert_int_equal(c->nanom, 1);
    assert_string_equal(c->anom[0], "tnef_bad_checksum");
    assert_string_equal(c->detail[0], "attribute 0x0006800f: 0x1234, computed 0x019a");
    check_att(&c->a[0], "kept.txt", 0, "", (const uint8_t *)"data", 4);
    col_free(c);
    /* Level 3: decoding stops, the open attachment is still ended. */
    buf t = {0};
    title(&t, "lost.txt");
    t.b[0] = 3;
    put(&b, t.b, t.len);
    title(&b, "never.txt");
    c = run(b.b, b.len, 0, 1);
    assert_int_equal(c->n, 1);
    check_att(&c->a[0], "kept.txt", 0, "", (const uint8_t *)"data", 4);
    assert_int_equal(c->nanom, 2);
    assert_string_equal(c->anom[1], "tnef_bad_level");
    assert_string_equal(c->detail[1], "level 3, attribute 0x00018010");
    col_free(c);
    free(t.b);
    free(b.b);
}

static void test_orphan_and_mapi_errors(void **state)
{
    (void)state;
    buf b = {0};
    props p = {0};
    tnef_begin(&b, 0);
    title(&b, "orphan.txt");         /* no attAttachRendData before */
    prop_u32(&p, 0x0999, 0x1234, 0); /* unknown type: the rest is skipped */
    prop_unicode(&p, 0x3707, "unseen.txt");
    attachment(&b, &p);
    rend(&b);
    title(&b, "second.txt");
    prop_unicode(&p, 0x3707, "x");
    p.count = 3; /* claims more properties than there are */
    attachment(&b, &p);
    rend(&b);
    prop_unicode(&p, 0x3707, "third.txt");
    p.count = 0; /* claims none: the property is trailing garbage */
    attachment(&b, &p);
    col *c = run(b.b, b.len, 0, 1);
    assert_int_equal(c->n, 3);
    check_att(&c->a[0], "orphan.txt", 0, "", NULL, 0);
    check_att(&c->a[1], "x", ST_TNEF_CP_UTF8, "", NULL, 0);
    check_att(&c->a[2], "", 0, "", NULL, 0);
    assert_int_equal(c->nanom, 4);
    assert_string_equal(c->anom[0], "tnef_orphan_attribute");
    assert_string_equal(c->anom[1], "tnef_mapi_malformed");
    assert_string_equal(c->detail[1], "unknown property type 0x0999");
    assert_string_equal(c->anom[2], "tnef_mapi_malformed");
    assert_string_equal(c->anom[3], "tnef_mapi_malformed");
    assert_string_equal(c->detail[3], "bytes after the last property");
    col_free(c);
    free(b.b);
}

static void test_many_attachments(void **state)
{
    (void)state;
    buf b = {0};
    tnef_begin(&b, 0);
    for (int i = 0; i < 100000; i++) {
        rend(&b);
        title(&b, "t");
        attr(&b, 2, ATT_ATTACH_DATA, "x", 1);
    }
    col *c = calloc(1, sizeof *c);
    st_tnef *t = st_tnef_new(NULL, on_ev, c);
    size_t mem = st_tnef_memory(t);
    assert_true(mem < 32 * 1024);
    for (size_t pos = 0; pos < b.len; pos += 4096)
        st_tnef_feed(t, b.b + pos, b.len - pos < 4096 ? b.len - pos : 4096);
    st_tnef_finish(t);
    assert_int_equal(st_tnef_memory(t), mem);
    st_tnef_free(t);
    assert_false(c->bad_order);
    assert_int_equal(c->begins, 1000);
    assert_int_equal(c->ends, 1000);
    assert_int_equal(c->data_bytes, 1000);
    assert_int_equal(c->nanom, 1);
    assert_string_equal(c->anom[0], "tnef_too_many_attachments");
    col_free(c);
    free(b.b);
}

static void test_anomaly_cap(void **state)
{
    (void)state;
    buf b = {0};
    tnef_begin(&b, 0);
    rend(&b);
    for (int i = 0; i < 500; i++)
        attr_sum(&b, 2, 0x00060001u, "z", 1, 0);
    st_tnef_limits lim = {.max_anomalies = 10};
    col *c = run_lim(b.b, b.len, 0, 0, &lim);
    assert_int_equal(c->nanom, 11);
    assert_int_equal(has_anom(c, "tnef_bad_checksum"), 10);
    assert_string_equal(c->anom[10], "tnef_too_many_anomalies");
    col_free(c);
    free(b.b);
}

static void test_random_bytes(void **state)
{
    (void)state;
    for (uint32_t seed = 1; seed <= 300; seed++) {
        size_t n = 1 + seed * 37 % 3000;
        uint8_t *d = pseudo(n, seed);
        if (seed % 2 && n >= 6) { /* a valid start, then noise */
            memcpy(d, "\x78\x9f\x3e\x22\x01\x00", 6);
            if (n > 7 && seed % 4 == 1)
                d[6] = 2; /* a valid level */
        }
        col *c = run(d, n, seed % 5, seed % 7);
        assert_true(c->nanom >= 1 || c->n >= 1 || n <= 6);
        assert_true(c->nanom <= 101);
        assert_true(c->n <= 1000);
        col_free(c);
        free(d);
    }
}

/* Noise inside an attachment's property list, at every cut. */
static void test_random_mapi(void **state)
{
    (void)state;
    for (uint32_t seed = 1; seed <= 200; seed++) {
        size_t n = 4 + seed * 13 % 400;
        uint8_t *d = pseudo(n, seed + 1000);
        d[0] = (uint8_t)(seed % 4); /* small property counts */
        d[1] = d[2] = d[3] = 0;
        buf b = {0};
        tnef_begin(&b, 0);
        rend(&b);
        attr(&b, 2, ATT_ATTACHMENT, d, n);
        title(&b, "after.txt");
        col *whole = run(b.b, b.len, 0, 0);
        assert_int_equal(whole->n, 1);
        assert_true(whole->a[0].name_len > 0);
        col *bytes = run(b.b, b.len, 0, 1);
        same(whole, bytes);
        col_free(bytes);
        col_free(whole);
        free(b.b);
        free(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_attachments),
        cmocka_unit_test(test_split_every_byte),
        cmocka_unit_test(test_data_obj),
        cmocka_unit_test(test_duplicate_data),
        cmocka_unit_test(test_unicode_names),
        cmocka_unit_test(test_name_too_long),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_truncated_in_length),
        cmocka_unit_test(test_length_ffffffff),
        cmocka_unit_test(test_bad_checksum_and_level),
        cmocka_unit_test(test_orphan_and_mapi_errors),
        cmocka_unit_test(test_many_attachments),
        cmocka_unit_test(test_anomaly_cap),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_random_mapi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
