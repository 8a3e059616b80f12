/*
 * fuzz_message.c - message extraction end to end: MIME, decoding, hashing,
 * attachment store, JSON.
 *
 * Input: byte 0 chooses the split (as fuzz_mime), byte 1 options:
 *   bit 0 gaps, bit 1 omit_body, bit 2 body_max 64, bit 3 no attachment
 *   store, bit 4 attachment_store_max 16, bit 5 header_value_max 32,
 *   bit 6 max_attachments 2, bit 7 small MIME limits;
 * the rest is the message.
 *
 * Properties: no sanitizer report; the object tmsg_finish fills
 * serialises (json_dumps, compact and ASCII-only) and the text parses back
 * (jansson checks UTF-8 on load); a "stored" path is relative, under
 * files/, and has no "..".
 *
 * The store lives under /tmp and is created once; it is emptied every
 * FZ_STORE_RESET inputs so that a long run does not fill the disk.
 */

#include <ftw.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/fuzz_common.h"
#include "tests/support/xmsg.h"
#include "analyze/store.h"

#define FZ_STORE_RESET 256

static char root[256];
static st_store *files;
static unsigned long runs;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_root(void)
{
    if (root[0])
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void open_store(void)
{
    char err[256];
    st_store_close(files);
    rm_root();
    files = st_store_open(root, "files", "", err, sizeof err);
    if (!files) {
        fprintf(stderr, "fuzz_message: %s\n", err);
        abort();
    }
}

static void check_stored(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (!strcmp(k, "stored") && json_is_string(x)) {
                const char *s = json_string_value(x);
                FZ_CHECK(!strncmp(s, "files/", 6) && !strstr(s, ".."), "stored path '%s'", s);
            }
            check_stored(x);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) check_stored(x);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/smtptap-fuzz-message.%ld", (long)getpid());
        atexit(rm_root);
    }
    if (runs++ % FZ_STORE_RESET == 0)
        open_store();
    if (size < 2)
        return 0;
    uint8_t split = data[0], opt = data[1];
    const uint8_t *msg = data + 2;
    size_t n = size - 2;

    tcfg cfg;
    tcfg_default(&cfg);
    cfg.files = (opt & 8) ? NULL : files;
    if (opt & 2)
        cfg.x.omit_body = 1;
    if (opt & 4)
        cfg.x.body_max = 64;
    if (opt & 16)
        cfg.attachment_store_max = 16;
    if (opt & 32)
        cfg.x.header_value_max = 32;
    if (opt & 64)
        cfg.x.max_attachments = 2;
    if (opt & 128) {
        cfg.x.mime.max_header_bytes = 512;
        cfg.x.mime.max_headers = 4;
        cfg.x.mime.max_depth = 3;
        cfg.x.mime.max_msg_depth = 2;
        cfg.x.mime.max_parts = 5;
        cfg.x.mime.max_line = 300;
    }
    tmsg *m = tmsg_new(&cfg);
    if (!m)
        return 0;
    uint32_t seed = (uint32_t)split * 2654435761u ^ opt;
    size_t maxpiece = 1 + (size_t)(split >> 1) * (split >> 1);
    size_t at = 0;
    while (at < n) {
        size_t k = split == 0 ? n - at : split == 1 ? 1 : 1 + fz_rand(&seed) % maxpiece;
        if (k > n - at)
            k = n - at;
        if ((opt & 1) && fz_rand(&seed) % 8 == 0) {
            tmsg_gap(m, k);
        } else {
            uint8_t *c = malloc(k);
            if (!c)
                abort();
            memcpy(c, msg + at, k);
            tmsg_feed(m, c, k);
            free(c);
        }
        at += k;
    }
    json_t *obj = json_object();
    tmsg_finish(m, obj);
    tmsg_free(m);

    for (int f = 0; f < 2; f++) {
        char *s = json_dumps(obj, JSON_COMPACT | (f ? JSON_ENSURE_ASCII : 0));
        FZ_CHECK(s, "json_dumps failed");
        json_error_t e;
        json_t *back = json_loads(s, JSON_ALLOW_NUL, &e);
        FZ_CHECK(back, "output does not parse back: %s at %d", e.text, e.position);
        FZ_CHECK(json_is_object(back), "not an object");
        json_decref(back);
        free(s);
    }
    check_stored(obj);
    json_decref(obj);
    return 0;
}
