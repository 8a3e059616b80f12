/*
 * ioc_html.c - HTML character references (&amp; &#104; &#x68; &colon;)
 * decoded as a stream, for the texts the IOC engine reads as HTML:
 * phishing mail spells its links with them (h&#116;tp&#58;//) so that a
 * filter reading the bytes sees no URL.
 *
 * An '&' and what follows it are held (at most 15 bytes) until they are
 * known to be a reference or not, so any split of the input gives the
 * same output. Numeric references are taken with or without their ';'
 * (browsers do); named ones only with it, from a short table of those
 * that spell URL and address punctuation. A character outside ASCII
 * becomes a blank: nothing the engine finds holds one, and it ends a
 * value as the character itself would.
 *
 * Entry points: st_ioc_ent_feed, st_ioc_ent_flush.
 *
 * Not handled: the named references beyond the table (left as they are),
 * references inside <script> or CDATA treated otherwise than elsewhere.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "analyze/ioc_int.h"

#define DIGITS_MAX 8 /* digits of a numeric reference: &#00000104; */
#define NAME_MAX_  10

static const struct {
    const char *name;
    char c;
} names[] = {
    {"amp", '&'},    {"lt", '<'},    {"gt", '>'},       {"quot", '"'},   {"apos", '\''},
    {"nbsp", ' '},   {"colon", ':'}, {"sol", '/'},      {"period", '.'}, {"commat", '@'},
    {"lpar", '('},   {"rpar", ')'},  {"lsqb", '['},     {"rsqb", ']'},   {"lbrack", '['},
    {"rbrack", ']'}, {"lcub", '{'},  {"rcub", '}'},     {"lbrace", '{'}, {"rbrace", '}'},
    {"percnt", '%'}, {"num", '#'},   {"quest", '?'},    {"equals", '='}, {"plus", '+'},
    {"comma", ','},  {"semi", ';'},  {"lowbar", '_'},   {"excl", '!'},   {"ast", '*'},
    {"dollar", '$'}, {"tab", '\t'},  {"newline", '\n'},
};

static int named(const char *s, size_t n, char *out)
{
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i].name) == n && strncasecmp(names[i].name, s, n) == 0) {
            *out = names[i].c;
            return 1;
        }
    return 0;
}

/* The code point of pend "&#123" or "&#x7b" as one byte. */
static uint8_t numeric(const st_ioc_ent *e)
{
    int hex = e->pend[2] == 'x' || e->pend[2] == 'X';
    unsigned long v = 0;
    for (size_t i = hex ? 3 : 2; i < e->n; i++) {
        int c = (unsigned char)e->pend[i];
        v = v * (hex ? 16 : 10) + (unsigned long)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
    }
    return v < 0x80 ? (uint8_t)v : ' ';
}

static size_t flush(st_ioc_ent *e, uint8_t *out)
{
    size_t n = e->n;
    memcpy(out, e->pend, n);
    e->n = 0;
    return n;
}

/* pend holds "&#", "&#x" or more: c continues it, ends it, or not. */
static size_t in_numeric(st_ioc_ent *e, int c, uint8_t *out, int *again)
{
    int hex = e->n >= 3 && (e->pend[2] == 'x' || e->pend[2] == 'X');
    size_t digits = e->n - (hex ? 3 : 2);
    if (e->n == 2 && (c == 'x' || c == 'X')) {
        e->pend[e->n++] = (char)c;
        return 0;
    }
    if ((hex ? isxdigit(c) : isdigit(c)) && digits < DIGITS_MAX) {
        e->pend[e->n++] = (char)c;
        return 0;
    }
    if (digits == 0 || (hex ? isxdigit(c) : isdigit(c))) {
        *again = 1; /* not a reference, or too long to be one */
        return flush(e, out);
    }
    out[0] = numeric(e);
    e->n = 0;
    *again = c != ';';
    return 1;
}

static size_t in_named(st_ioc_ent *e, int c, uint8_t *out, int *again)
{
    char ch;
    if (isalnum(c) && e->n - 1 < NAME_MAX_ && (e->n > 1 || isalpha(c))) {
        e->pend[e->n++] = (char)c;
        return 0;
    }
    if (c == ';' && e->n > 1 && named(e->pend + 1, e->n - 1, &ch)) {
        out[0] = (uint8_t)ch;
        e->n = 0;
        return 1;
    }
    *again = 1;
    return flush(e, out);
}

static size_t one(st_ioc_ent *e, int c, uint8_t *out)
{
    size_t w = 0;
    for (int again = 1; again;) {
        again = 0;
        if (e->n == 0) {
            if (c == '&')
                e->pend[e->n++] = '&';
            else
                out[w++] = (uint8_t)c;
        } else if (e->n == 1 && c == '#') {
            e->pend[e->n++] = '#';
        } else if (e->n >= 2 && e->pend[1] == '#') {
            w += in_numeric(e, c, out + w, &again);
        } else {
            w += in_named(e, c, out + w, &again);
        }
    }
    return w;
}

size_t st_ioc_ent_feed(st_ioc_ent *e, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (e->n == 0 && in[i] != '&') {
            /* the common case: a run without '&' is copied whole */
            const uint8_t *amp = memchr(in + i, '&', n - i);
            size_t run = amp ? (size_t)(amp - (in + i)) : n - i;
            memcpy(out + w, in + i, run);
            w += run;
            i += run - 1;
            continue;
        }
        w += one(e, in[i], out + w);
    }
    return w;
}

size_t st_ioc_ent_flush(st_ioc_ent *e, uint8_t *out)
{
    return flush(e, out);
}
