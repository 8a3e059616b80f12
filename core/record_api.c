/*
 * record_api.c - records handed to an embedding program (smtptap_on_record):
 * the record's JSON text, and its fields by path on demand.
 *
 * The text is the line the record file gets (without its newline); it is
 * parsed only when the program asks for a field, once per record. A path
 * is dot-separated keys and array indexes: "uid",
 * "transactions.0.message.subject". Values are returned as text: strings
 * as they are (NUL-free up to the first NUL), numbers and booleans
 * formatted; null, objects, arrays and absent fields give NULL.
 *
 * Limits: a record and what is returned from it live during the callback
 * only; a path is at most 255 bytes. Out of memory: fields are NULL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

struct smtptap_record {
    const char *json;
    size_t len;
    json_t *root; /* parsed on demand */
    int parsed;
    char num[32]; /* a formatted number or boolean */
};

void st_record_deliver(smtptap_record_fn fn, void *arg, const char *json, size_t len)
{
    smtptap_record r = {json, len, NULL, 0, ""};
    fn(arg, &r);
    json_decref(r.root);
}

const char *smtptap_record_json(const smtptap_record *r, size_t *len)
{
    if (len)
        *len = r->len;
    return r->json;
}

static const json_t *step(const json_t *j, const char *key)
{
    if (json_is_object(j))
        return json_object_get(j, key);
    char *end;
    unsigned long i = strtoul(key, &end, 10);
    return json_is_array(j) && *key && !*end ? json_array_get(j, i) : NULL;
}

static const json_t *lookup(smtptap_record *r, const char *path)
{
    char buf[256];
    if (!r->parsed) {
        r->parsed = 1;
        r->root = json_loadb(r->json, r->len, JSON_ALLOW_NUL, NULL);
    }
    if (!r->root || snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return NULL;
    const json_t *j = r->root;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); j && k; k = strtok_r(NULL, ".", &save))
        j = step(j, k);
    return j;
}

const char *smtptap_record_get(const smtptap_record *rc, const char *path)
{
    smtptap_record *r = (smtptap_record *)rc; /* the parse is a cache */
    const json_t *j = lookup(r, path);
    if (json_is_string(j))
        return json_string_value(j);
    if (json_is_integer(j))
        snprintf(r->num, sizeof r->num, "%lld", (long long)json_integer_value(j));
    else if (json_is_real(j))
        snprintf(r->num, sizeof r->num, "%g", json_real_value(j));
    else if (json_is_boolean(j))
        snprintf(r->num, sizeof r->num, "%s", json_is_true(j) ? "true" : "false");
    else
        return NULL;
    return r->num;
}

long smtptap_record_count(const smtptap_record *rc, const char *path)
{
    const json_t *j = lookup((smtptap_record *)rc, path);
    return json_is_array(j) ? (long)json_array_size(j) : -1;
}
