/*
 * yara.c - the "yara" analyzer: libyara rules over every file object.
 *
 * Rules come from yara_rules: one file, or a directory whose *.yar and
 * *.yara files are compiled in name order, each in the namespace of its
 * file name. They are compiled once, at start; a rule that does not
 * compile fails the start with "file:line: message" before any input is
 * read. Each object is scanned when it is whole, from its stored file or,
 * when the store does not keep it (archive_attachments off, over
 * attachment_store_max), from a tmp copy of its first yara_max_bytes that
 * the file layer makes for us, mapped read-only (never a heap copy), over
 * its first yara_max_bytes bytes (then "truncated": true). An object over
 * the store's cap that is stored in part is scanned over that part.
 *
 * Entry point: st_analyzer_yara (analyzers.c). Fields: "yara": {"matches":
 * [{"rule", "namespace", "tags", "meta", "strings"}], "scanned_bytes",
 * "truncated", "matches_dropped", "error", "skipped"}; skipped is "no
 * copy" when no copy of the object could be written (the store_error
 * anomaly says why), null when it was scanned.
 *
 * Limits: ST_YARA_MATCHES matches an object and ST_YARA_IDS string
 * identifiers a match (the rest counted in "matches_dropped"); a scan
 * stops after ST_YARA_TIMEOUT seconds ("error": "timeout").
 *
 * The same analyzer scans whole messages when yara_scan_messages is on (the
 * core puts it in the message kind's chain): it does not know the
 * difference.
 *
 * Not handled: external variables, rule includes outside the rules' own
 * directory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yara.h>

#include "analyze/analyzer.h"

#define ST_YARA_MATCHES 100
#define ST_YARA_IDS     32
#define ST_YARA_TIMEOUT 60
#define ST_YARA_FILES   4096

static YR_RULES *rules;
static uint64_t max_bytes;
static int initialized;

typedef struct {
    json_t *matches;
    uint64_t scanned, dropped;
    int truncated, done;
    const char *error;
} yara_state;

/* ------------------------------------------------------------- set-up */

typedef struct {
    char *err;
    size_t errlen;
    int failed;
} compile_ctx;

static void on_compile(int level, const char *file, int line, const YR_RULE *rule,
                       const char *message, void *arg)
{
    compile_ctx *c = arg;
    (void)rule;
    if (level != YARA_ERROR_LEVEL_ERROR || c->failed)
        return;
    c->failed = 1;
    snprintf(c->err, c->errlen, "yara: %s:%d: %s", file ? file : "?", line, message);
}

static int add_file(YR_COMPILER *comp, const char *path, const char *ns, compile_ctx *c)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(c->err, c->errlen, "yara: %s: %s", path, strerror(errno));
        return -1;
    }
    int errors = yr_compiler_add_file(comp, f, ns, path);
    fclose(f);
    return errors || c->failed ? -1 : 0;
}

static int is_rule_file(const char *name)
{
    const char *dot = strrchr(name, '.');
    return name[0] != '.' && dot && (!strcmp(dot, ".yar") || !strcmp(dot, ".yara"));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's rule files, in name order (NULL-terminated; n set). */
static char **rule_files(const char *dir, size_t *n, compile_ctx *c)
{
    DIR *d = opendir(dir);
    char **v = calloc(ST_YARA_FILES + 1, sizeof *v);
    *n = 0;
    for (struct dirent *e; d && v && (e = readdir(d)) && *n < ST_YARA_FILES;)
        if (is_rule_file(e->d_name))
            v[(*n)++] = strdup(e->d_name);
    if (d)
        closedir(d);
    if (!d || !v) {
        snprintf(c->err, c->errlen, "yara: %s: %s", dir, !d ? strerror(errno) : "out of memory");
        free(v);
        return NULL;
    }
    qsort(v, *n, sizeof *v, by_name);
    return v;
}

static int add_dir(YR_COMPILER *comp, const char *dir, compile_ctx *c)
{
    size_t n;
    char **names = rule_files(dir, &n, c), path[4096];
    int rc = names && n ? 0 : -1;
    if (names && !n)
        snprintf(c->err, c->errlen, "yara: %s: no .yar or .yara files", dir);
    for (size_t i = 0; names && i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc == 0 && add_file(comp, path, names[i], c) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

static int compile(const char *path, compile_ctx *c)
{
    struct stat st;
    YR_COMPILER *comp = NULL;
    if (stat(path, &st) != 0) {
        snprintf(c->err, c->errlen, "yara: %s: %s", path, strerror(errno));
        return -1;
    }
    if (yr_compiler_create(&comp) != ERROR_SUCCESS) {
        snprintf(c->err, c->errlen, "yara: out of memory");
        return -1;
    }
    yr_compiler_set_callback(comp, on_compile, c);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int rc = S_ISDIR(st.st_mode) ? add_dir(comp, path, c) : add_file(comp, path, base, c);
    if (rc == 0 && yr_compiler_get_rules(comp, &rules) != ERROR_SUCCESS) {
        snprintf(c->err, c->errlen, "yara: %s: could not build the rules", path);
        rc = -1;
    }
    yr_compiler_destroy(comp);
    return rc;
}

static void yara_teardown(void)
{
    if (rules)
        yr_rules_destroy(rules);
    rules = NULL;
    if (initialized)
        yr_finalize();
    initialized = 0;
}

static int yara_setup(st_option_fn opt, void *ctx, char *err, size_t errlen)
{
    const char *path = opt(ctx, "yara_rules");
    const char *max = opt(ctx, "yara_max_bytes");
    compile_ctx c = {err, errlen, 0};
    if (!path || !*path) {
        snprintf(err, errlen, "yara: no rules: set yara_rules (a file or a directory)");
        return -1;
    }
    max_bytes = max ? strtoull(max, NULL, 10) : 0;
    if (yr_initialize() != ERROR_SUCCESS) {
        snprintf(err, errlen, "yara: libyara did not initialise");
        return -1;
    }
    initialized = 1;
    if (compile(path, &c) == 0)
        return 0;
    yara_teardown();
    return -1;
}

/* ------------------------------------------------------------ objects */

static void *yara_begin(void)
{
    yara_state *y = calloc(1, sizeof *y);
    if (y && !(y->matches = json_array())) {
        free(y);
        return NULL;
    }
    return y;
}

/* Whether s has a match that is not private. libyara 4.2 keeps YR_MATCH
 * records in a notebook at any alignment, so each is copied before it is
 * read (yr_string_matches_foreach would read them in place). */
static int string_matched(const YR_SCAN_CONTEXT *ctx, const YR_STRING *s)
{
    const YR_MATCH *p = ctx->matches[s->idx].head;
    for (int n = 0; p && n < 1000000; n++) {
        YR_MATCH m;
        memcpy(&m, p, sizeof m);
        if (!m.is_private)
            return 1;
        p = m.next;
    }
    return 0;
}

static json_t *match_json(YR_SCAN_CONTEXT *ctx, const YR_RULE *r)
{
    const char *tag;
    const YR_META *m;
    const YR_STRING *s;
    json_t *tags = json_array(), *meta = json_object(), *ids = json_array();
    yr_rule_tags_foreach(r, tag) json_array_append_new(tags, json_string(tag));
    yr_rule_metas_foreach(r, m)
    {
        json_t *v = m->type == META_TYPE_INTEGER   ? json_integer(m->integer)
                    : m->type == META_TYPE_BOOLEAN ? json_boolean(m->integer)
                                                   : json_string(m->string ? m->string : "");
        json_object_set_new(meta, m->identifier, v);
    }
    yr_rule_strings_foreach(r, s)
    {
        if (json_array_size(ids) < ST_YARA_IDS && string_matched(ctx, s))
            json_array_append_new(ids, json_string(s->identifier));
    }
    return json_pack("{s:s, s:s, s:o, s:o, s:o}", "rule", r->identifier, "namespace", r->ns->name,
                     "tags", tags, "meta", meta, "strings", ids);
}

static int on_scan(YR_SCAN_CONTEXT *ctx, int message, void *data, void *arg)
{
    yara_state *y = arg;
    if (message != CALLBACK_MSG_RULE_MATCHING)
        return CALLBACK_CONTINUE;
    if (json_array_size(y->matches) >= ST_YARA_MATCHES) {
        y->dropped++;
        return CALLBACK_CONTINUE;
    }
    json_t *j = match_json(ctx, data);
    if (j)
        json_array_append_new(y->matches, j);
    return CALLBACK_CONTINUE;
}

static void yara_whole(void *state, int fd, const st_file_result *r)
{
    yara_state *y = state;
    if (!y || !rules)
        return;
    y->done = 1;
    struct stat st;
    uint64_t n = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (n > r->size)
        n = r->size;
    if (max_bytes && n > max_bytes)
        n = max_bytes;
    y->truncated = n < r->size;
    y->scanned = n;
    void *map = n ? mmap(NULL, (size_t)n, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    if (n && map == MAP_FAILED) {
        y->error = "could not map the file";
        return;
    }
    int rc = yr_rules_scan_mem(rules, map ? map : (const uint8_t *)"", (size_t)n, 0, on_scan, y,
                               ST_YARA_TIMEOUT);
    if (rc == ERROR_SCAN_TIMEOUT)
        y->error = "timeout";
    else if (rc != ERROR_SUCCESS)
        y->error = "scan error";
    if (map)
        munmap(map, (size_t)n);
}

static uint64_t yara_whole_bytes(void)
{
    return max_bytes;
}

static void yara_report(void *state, const st_file_result *r, json_t *entry, json_t *anomalies)
{
    yara_state *y = state;
    (void)anomalies;
    const char *skipped = !y || y->done ? NULL : "no copy";
    json_t *o =
        y ? json_pack("{s:O, s:I, s:b, s:I, s:s?, s:s?}", "matches", y->matches, "scanned_bytes",
                      (json_int_t)y->scanned, "truncated", y->truncated, "matches_dropped",
                      (json_int_t)y->dropped, "error", y->error, "skipped", skipped)
          : NULL;
    json_object_set_new(entry, "yara", o ? o : json_null());
}

static void yara_free(void *state)
{
    yara_state *y = state;
    json_decref(y->matches);
    free(y);
}

const st_analyzer st_analyzer_yara = {
    .name = "yara",
    .help = "libyara rules (yara_rules) over each attachment",
    .setup = yara_setup,
    .teardown = yara_teardown,
    .begin = yara_begin,
    .whole = yara_whole,
    .whole_bytes = yara_whole_bytes,
    .report = yara_report,
    .free = yara_free,
};
