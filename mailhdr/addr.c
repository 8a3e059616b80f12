/*
 * addr.c - split an address-list header (From, To, Cc, ...) into {display name,
 * addr-spec, group} entries, and pull the mailbox out of an SMTP MAIL/RCPT path.
 *
 * One left-to-right pass with a small state machine, no recursion (comment nesting
 * is a counter), no allocation: each entry is collected in fixed buffers and handed
 * to a callback. Input that does not follow RFC 5322 still yields something useful:
 * unterminated quotes/comments/angles end at the end of input, stray specials are
 * skipped, words before a bare address are dropped; each such repair sets a flag.
 * Overlong names/addresses are cut (flag); more entries than the cap: flag, stop.
 */
#include "mailhdr/mailhdr.h"

#include <string.h>
#include <strings.h>

#define RAW_MAX 1024 /* raw (still encoded) display name */

struct ent {
    char phrase[RAW_MAX];
    size_t pn;
    bool pws; /* blank seen since the last phrase word */
    char bare[ST_HDR_ADDR_MAX];
    size_t bn;
    bool bws;      /* blank seen since the last bare-address token */
    bool bare_off; /* the bare address is complete; later words are junk */
    bool bare_junk;
    char angle[ST_HDR_ADDR_MAX];
    size_t an;
    char comment[ST_HDR_NAME_MAX];
    size_t cn;
    bool have_comment, has_angle, in_angle, skip_angle;
    unsigned flags;
};

struct parser {
    const char *p, *end;
    struct ent e;
    struct st_hdr_addr out;
    char group[ST_HDR_GROUP_MAX];
    bool in_group;
    size_t group_members, count, max;
    st_hdr_addr_cb cb;
    void *ctx;
    bool stop;
    unsigned lflags;
};

static bool is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void put(char *buf, size_t *n, size_t cap, char c, unsigned *flags, unsigned cut)
{
    if (*n + 1 < cap)
        buf[(*n)++] = c;
    else
        *flags |= cut;
}

/* One character of a phrase word; a blank before it becomes one space. */
static void phrase_put(struct ent *e, char c)
{
    if (e->pws && e->pn > 0)
        put(e->phrase, &e->pn, sizeof(e->phrase), ' ', &e->flags, ST_HDR_A_NAME_CUT);
    e->pws = false;
    put(e->phrase, &e->pn, sizeof(e->phrase), c, &e->flags, ST_HDR_A_NAME_CUT);
}

/* Start of a token of the bare (un-bracketed) address. "John Doe j@x": the words
   before the address are dropped; "j@x junk": the junk is. */
static void bare_token(struct ent *e, char first)
{
    if (e->bws && e->bn > 0 && !e->bare_off) {
        char last = e->bare[e->bn - 1];
        if (last != '.' && last != '@' && first != '.' && first != '@') {
            e->bare_junk = true;
            if (memchr(e->bare, '@', e->bn))
                e->bare_off = true;
            else
                e->bn = 0;
        }
    }
    e->bws = false;
}

static void bare_put(struct ent *e, char c)
{
    if (!e->bare_off && !e->has_angle)
        put(e->bare, &e->bn, sizeof(e->bare), c, &e->flags, ST_HDR_A_ADDR_CUT);
}

static void angle_put(struct ent *e, char c)
{
    if (!e->skip_angle && !is_lws(c))
        put(e->angle, &e->an, sizeof(e->angle), c, &e->flags, ST_HDR_A_ADDR_CUT);
}

/* Plain character (atom text, '.', '@', 8-bit) outside quotes and comments. */
static void ordinary(struct ent *e, char c)
{
    if (e->in_angle) {
        angle_put(e, c);
        return;
    }
    if (e->has_angle) {
        e->flags |= ST_HDR_A_JUNK;
        return;
    }
    bare_token(e, c);
    bare_put(e, c);
    phrase_put(e, c);
}

static void comment(struct parser *ps)
{
    struct ent *e = &ps->e;
    unsigned depth = 1;
    bool keep = !e->have_comment;

    ps->p++;
    while (ps->p < ps->end) {
        char c = *ps->p++;
        if (c == '\\' && ps->p < ps->end)
            c = *ps->p++;
        else if (c == '(')
            depth++;
        else if (c == ')' && --depth == 0)
            break;
        if (keep && c != '\r' && c != '\n')
            put(e->comment, &e->cn, sizeof(e->comment), c, &e->flags, ST_HDR_A_NAME_CUT);
    }
    if (depth)
        e->flags |= ST_HDR_A_UNTERM;
    e->have_comment = true;
    e->pws = e->bws = true;
}

/* Raw byte of a quoted string or domain literal: to the angle-addr or bare address. */
static void raw_put(struct ent *e, char c)
{
    if (e->in_angle) {
        if (!e->skip_angle)
            put(e->angle, &e->an, sizeof(e->angle), c, &e->flags, ST_HDR_A_ADDR_CUT);
    } else {
        bare_put(e, c);
    }
}

/* "..." or [...]: raw copy (with delimiters and escapes) to the address, unescaped
   content to the phrase. Folds inside are unfolded. */
static void quoted(struct parser *ps, char close)
{
    struct ent *e = &ps->e;
    char open = *ps->p++;
    bool closed = false, to_phrase = !e->in_angle && !e->has_angle, lit = close == ']';

    if (!e->in_angle && e->has_angle)
        e->flags |= ST_HDR_A_JUNK;
    if (to_phrase) {
        bare_token(e, open);
        if (e->pws && e->pn > 0)
            put(e->phrase, &e->pn, sizeof(e->phrase), ' ', &e->flags, ST_HDR_A_NAME_CUT);
        e->pws = false;
        if (lit)
            put(e->phrase, &e->pn, sizeof(e->phrase), open, &e->flags, ST_HDR_A_NAME_CUT);
    }
    raw_put(e, open);
    while (ps->p < ps->end) {
        char c = *ps->p++;
        if (c == '\\' && ps->p < ps->end) {
            raw_put(e, c);
            c = *ps->p++;
        } else if (c == close) {
            closed = true;
            break;
        } else if (c == '\r' || c == '\n') {
            continue;
        }
        raw_put(e, c);
        if (to_phrase)
            put(e->phrase, &e->pn, sizeof(e->phrase), c, &e->flags, ST_HDR_A_NAME_CUT);
    }
    if (!closed) {
        e->flags |= ST_HDR_A_UNTERM;
        return;
    }
    raw_put(e, close);
    if (to_phrase && lit)
        put(e->phrase, &e->pn, sizeof(e->phrase), close, &e->flags, ST_HDR_A_NAME_CUT);
}

static void decode_into(const char *raw, size_t n, char *dst, size_t cap, unsigned *flags,
                        unsigned cut)
{
    unsigned f = 0;

    st_hdr_decode(raw, n, dst, cap, NULL, &f);
    if (f & ST_HDR_F_TRUNCATED)
        *flags |= cut;
    if (f & ~ST_HDR_F_TRUNCATED)
        *flags |= ST_HDR_A_NAME_FLAGS;
}

static void deliver(struct parser *ps)
{
    if (ps->count >= ps->max) {
        ps->lflags |= ST_HDR_AL_TOO_MANY;
        ps->stop = true;
        return;
    }
    ps->count++;
    if (ps->cb && !ps->cb(&ps->out, ps->ctx))
        ps->stop = true;
}

static void end_entry(struct parser *ps)
{
    struct ent *e = &ps->e;
    struct st_hdr_addr *a = &ps->out;
    const char *raw = e->has_angle ? e->angle : e->bare;
    size_t rn = e->has_angle ? e->an : e->bn;
    unsigned cf = 0;

    if (e->in_angle)
        e->flags |= ST_HDR_A_UNTERM;
    if (!e->has_angle && e->bare_junk)
        e->flags |= ST_HDR_A_JUNK;
    memset(a, 0, sizeof(*a));
    a->flags = e->flags;
    if (e->has_angle && e->pn > 0)
        decode_into(e->phrase, e->pn, a->name, sizeof(a->name), &a->flags, ST_HDR_A_NAME_CUT);
    else if (e->have_comment)
        decode_into(e->comment, e->cn, a->name, sizeof(a->name), &a->flags, ST_HDR_A_NAME_CUT);
    st_charset_utf8_sanitize(raw, rn, a->addr, sizeof(a->addr), &cf);
    if (cf & ST_CHARSET_F_TRUNCATED)
        a->flags |= ST_HDR_A_ADDR_CUT;
    memcpy(a->group, ps->group, sizeof(a->group));
    if (rn > 0 && !memchr(raw, '@', rn))
        a->flags |= ST_HDR_A_NO_AT;
    if (rn > 0 || e->has_angle) { /* a lone comment is not an entry */
        if (rn == 0)
            a->flags |= ST_HDR_A_NO_AT;
        ps->group_members++;
        deliver(ps);
    }
    memset(e, 0, sizeof(*e));
}

static void end_group(struct parser *ps)
{
    if (ps->in_group && ps->group_members == 0 && !ps->stop) {
        memset(&ps->out, 0, sizeof(ps->out));
        memcpy(ps->out.group, ps->group, sizeof(ps->group));
        ps->out.flags = ST_HDR_A_EMPTY_GROUP;
        deliver(ps);
    }
    ps->in_group = false;
    ps->group[0] = 0;
}

static void start_group(struct parser *ps)
{
    struct ent *e = &ps->e;
    unsigned f = 0;

    decode_into(e->phrase, e->pn, ps->group, sizeof(ps->group), &f, 0);
    ps->in_group = true;
    ps->group_members = 0;
    memset(e, 0, sizeof(*e));
}

/* The ':' of "group: a, b;" or of an obsolete route "<@a,@b:x@y>". */
static void colon(struct parser *ps)
{
    struct ent *e = &ps->e;

    if (e->in_angle) {
        if (e->an > 0 && e->angle[0] == '@') {
            e->an = 0;
            e->flags |= ST_HDR_A_ROUTE;
        } else {
            angle_put(e, ':');
        }
    } else if (!ps->in_group && !e->has_angle && !memchr(e->bare, '@', e->bn)) {
        start_group(ps);
    } else {
        ordinary(e, ':');
    }
}

static void step(struct parser *ps)
{
    struct ent *e = &ps->e;
    char c = *ps->p;

    switch (c) {
    case ' ':
    case '\t':
    case '\r':
    case '\n':
        e->pws = e->bws = true;
        break;
    case '(':
        comment(ps);
        return;
    case '"':
        quoted(ps, '"');
        return;
    case '[':
        quoted(ps, ']');
        return;
    case '<':
        if (e->in_angle || e->has_angle) {
            e->flags |= ST_HDR_A_JUNK;
            e->skip_angle = e->skip_angle || !e->in_angle;
        }
        e->has_angle = e->in_angle = true;
        break;
    case '>':
        if (!e->in_angle)
            e->flags |= ST_HDR_A_JUNK;
        e->in_angle = e->skip_angle = false;
        break;
    case ',':
        if (e->in_angle)
            angle_put(e, c);
        else
            end_entry(ps);
        break;
    case ';':
        if (e->in_angle) {
            angle_put(e, c);
            break;
        }
        end_entry(ps);
        end_group(ps);
        break;
    case ':':
        colon(ps);
        break;
    default:
        ordinary(e, c);
    }
    ps->p++;
}

size_t st_hdr_addrs_foreach(const char *in, size_t len, size_t max, st_hdr_addr_cb cb, void *ctx,
                            unsigned *flags)
{
    static struct parser zero;
    struct parser ps = zero;

    ps.p = in;
    ps.end = in + len;
    ps.max = max;
    ps.cb = cb;
    ps.ctx = ctx;
    while (ps.p < ps.end && !ps.stop)
        step(&ps);
    if (!ps.stop)
        end_entry(&ps);
    if (!ps.stop)
        end_group(&ps);
    if (flags)
        *flags |= ps.lflags;
    return ps.count;
}

struct arr_ctx {
    struct st_hdr_addr *arr;
    size_t n;
};

static bool arr_add(const struct st_hdr_addr *a, void *ctx)
{
    struct arr_ctx *c = ctx;

    c->arr[c->n++] = *a;
    return true;
}

size_t st_hdr_addrs_parse(const char *in, size_t len, struct st_hdr_addr *arr, size_t cap,
                          unsigned *flags)
{
    struct arr_ctx c = {arr, 0};

    return st_hdr_addrs_foreach(in, len, cap, arr_add, &c, flags);
}

/* ---------------------------------------------------------------- SMTP paths */

static size_t path_out(const char *s, size_t n, char *out, size_t cap, unsigned *fl)
{
    unsigned cf = 0;
    size_t w = st_charset_utf8_sanitize(s, n, out, cap, &cf);

    if (cf & ST_CHARSET_F_TRUNCATED)
        *fl |= ST_HDR_P_CUT;
    return w;
}

/* End of a quoted string starting at p ('"'), or end. */
static const char *skip_quoted(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\' && p + 1 < end)
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return end;
}

size_t st_hdr_path_addr(const char *arg, size_t len, char *out, size_t cap, unsigned *flags)
{
    const char *p = arg, *end = arg + len, *s, *e;
    unsigned fl = 0;
    size_t n;

    if (cap)
        out[0] = 0;
    while (p < end && is_lws(*p))
        p++;
    if (end - p >= 5 && strncasecmp(p, "from:", 5) == 0)
        p += 5;
    else if (end - p >= 3 && strncasecmp(p, "to:", 3) == 0)
        p += 3;
    while (p < end && is_lws(*p))
        p++;
    if (p < end && *p == '<') {
        s = ++p;
        while (p < end && *p != '>')
            p = *p == '"' ? skip_quoted(p, end) : p + 1;
        if (p == end) { /* "<a@b SIZE=1": stop at the first blank */
            fl |= ST_HDR_P_UNTERM;
            for (p = s; p < end && !is_lws(*p);)
                p = *p == '"' ? skip_quoted(p, end) : p + 1;
        }
        e = p;
    } else {
        fl |= ST_HDR_P_NO_ANGLE;
        s = p;
        while (p < end && !is_lws(*p))
            p = *p == '"' ? skip_quoted(p, end) : p + 1;
        e = p;
    }
    while (s < e && is_lws(*s))
        s++;
    while (e > s && is_lws(e[-1]))
        e--;
    if (s < e && *s == '@') { /* source route "@a,@b:mailbox" */
        for (p = s; p < e && *p != ':'; p++)
            ;
        if (p < e) {
            s = p + 1;
            fl |= ST_HDR_P_ROUTE;
        }
    }
    if (s == e)
        fl |= (fl & ST_HDR_P_NO_ANGLE) ? ST_HDR_P_EMPTY : ST_HDR_P_NULL;
    n = cap ? path_out(s, (size_t)(e - s), out, cap, &fl) : 0;
    if (!cap && s < e)
        fl |= ST_HDR_P_CUT;
    if (flags)
        *flags |= fl;
    return n;
}
