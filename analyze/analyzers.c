/*
 * analyzers.c - the table of analyzers, and the always_dispatch list read
 * against it.
 *
 * How it fails: a name not in the table, or given twice, gives -1 and a
 * message naming it and the names there are; nothing is half set up.
 */
#include <stdio.h>
#include <string.h>

#include "analyze/analyzer.h"

/* Built in, one file each. */
extern const st_analyzer st_analyzer_hash;  /* hash.c */
extern const st_analyzer st_analyzer_magic; /* magic.c */
extern const st_analyzer st_analyzer_yara;  /* yara.c */
extern const st_analyzer st_analyzer_iocs;  /* ioc_analyzer.c */

static const st_analyzer *const table[] = {
    &st_analyzer_hash,
    &st_analyzer_magic,
    &st_analyzer_yara,
    &st_analyzer_iocs,
};

#define NTABLE (sizeof table / sizeof table[0])

const st_analyzer *st_analyzer_find(const char *name)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (strcmp(table[i]->name, name) == 0)
            return table[i];
    return NULL;
}

void st_analyzer_each(void (*fn)(void *arg, const st_analyzer *a), void *arg)
{
    for (size_t i = 0; i < NTABLE; i++)
        fn(arg, table[i]);
}

static void known(char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < NTABLE && n < cap; i++) {
        int w = snprintf(out + n, cap - n, "%s%s", i ? ", " : "", table[i]->name);
        n += w > 0 ? (size_t)w : 0;
    }
}

static int add(const char *name, size_t len, const st_analyzer **chain, size_t *n, char *err,
               size_t errlen)
{
    char buf[64], names[256];
    if (len >= sizeof buf) {
        snprintf(err, errlen, "always_dispatch: analyzer name too long");
        return -1;
    }
    memcpy(buf, name, len);
    buf[len] = 0;
    const st_analyzer *a = st_analyzer_find(buf);
    if (!a) {
        known(names, sizeof names);
        snprintf(err, errlen, "always_dispatch: no analyzer '%s' (there are: %s)", buf, names);
        return -1;
    }
    for (size_t i = 0; i < *n; i++) {
        if (chain[i] == a) {
            snprintf(err, errlen, "always_dispatch: '%s' given twice", buf);
            return -1;
        }
    }
    if (*n == ST_ANALYZERS_MAX) {
        snprintf(err, errlen, "always_dispatch: more than %d analyzers", ST_ANALYZERS_MAX);
        return -1;
    }
    chain[(*n)++] = a;
    return 0;
}

int st_analyzer_chain(const char *list, const st_analyzer **chain, size_t *n, char *err,
                      size_t errlen)
{
    *n = 0;
    for (const char *p = list ? list : ""; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        if (end > 0 && add(p, end, chain, n, err, errlen) != 0)
            return -1;
        p += len;
    }
    return 0;
}

void st_analyzer_anomaly(json_t *anomalies, const json_t *entry, const char *name,
                         const char *detail)
{
    json_t *a = json_object(), *path = json_object_get(entry, "mime_path");
    if (!a)
        return;
    json_object_set_new(a, "name", json_string(name));
    json_object_set_new(a, "detail", detail ? json_string(detail) : json_null());
    json_object_set_new(a, "mime_path", path ? json_incref(path) : json_null());
    json_array_append_new(anomalies, a);
}

int st_analyzer_setup(const st_analyzer *const *chain, size_t n, st_option_fn opt, void *ctx,
                      char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (chain[i]->setup && chain[i]->setup(opt, ctx, err, errlen) != 0) {
            st_analyzer_teardown(chain, i);
            return -1;
        }
    }
    return 0;
}

void st_analyzer_teardown(const st_analyzer *const *chain, size_t n)
{
    for (size_t i = n; i-- > 0;)
        if (chain[i]->teardown)
            chain[i]->teardown();
}
