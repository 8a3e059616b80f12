/*
 * fuzz_config.c - the config file loader (smtptap_config_load) on the
 * input as a file.
 *
 * Input: the file's bytes (see fuzz/seeds/fuzz_config/ and docs/smtptap.conf).
 *
 * Properties: no sanitizer report; after a failure (-1) the message is
 * NUL-terminated within its buffer and names the file; every option (smtptap_config_describe) has a
 * value afterwards; each value loaded reads back through smtptap_config_set into a fresh config as
 * the same text (what the file gave, the API takes), and a second load of the same file gives the
 * same result and the same values. Nothing is opened or created from the values (output_dir may
 * name anything).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz_common.h"
#include "smtptap.h"

#define MAX_OPTS 256

static char path[256];
static const char *names[MAX_OPTS];
static size_t n_names;

static void rm_file(void)
{
    if (path[0])
        unlink(path);
}

static void add_name(void *arg, const char *name, const char *def, const char *help)
{
    (void)arg, (void)def, (void)help;
    FZ_CHECK(n_names < MAX_OPTS, "more than %d options", MAX_OPTS);
    names[n_names++] = name;
}

static int load(smtptap_config *c, char *err, size_t errlen)
{
    memset(err, 'x', errlen);
    int rc = smtptap_config_load(c, path, err, errlen);
    if (rc != 0) {
        FZ_CHECK(memchr(err, 0, errlen), "message not NUL-terminated");
        FZ_CHECK(rc == -1 && err[0] && strstr(err, path), "load %d: '%s'", rc, err);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        struct stat st;
        const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/smtptap-fuzz-config.%ld.conf", base, (long)getpid());
        atexit(rm_file);
        smtptap_config_describe(add_name, NULL);
        FZ_CHECK(n_names > 0, "no options");
    }
    FILE *f = fopen(path, "wb");
    FZ_CHECK(f, "cannot write %s", path);
    FZ_CHECK(fwrite(data, 1, size, f) == size, "short write");
    fclose(f);

    char err[512], err2[512];
    smtptap_config *a = smtptap_config_new(), *b = smtptap_config_new();
    FZ_CHECK(a && b, "config_new");
    int rc = load(a, err, sizeof err);
    int rc2 = load(b, err2, sizeof err2);
    FZ_CHECK(rc == rc2 && (rc == 0 || !strcmp(err, err2)), "two loads differ: '%s' / '%s'", err,
             err2);
    smtptap_config *c = smtptap_config_new();
    FZ_CHECK(c, "config_new");
    for (size_t i = 0; i < n_names; i++) {
        const char *v = smtptap_config_get(a, names[i]), *w = smtptap_config_get(b, names[i]);
        FZ_CHECK(v && w && !strcmp(v, w), "%s: '%s' then '%s'", names[i], v ? v : "(null)",
                 w ? w : "(null)");
        char e[256];
        FZ_CHECK(smtptap_config_set(c, names[i], v, e, sizeof e) == 0,
                 "%s = '%s' loaded, but set refuses it: %s", names[i], v, e);
        const char *x = smtptap_config_get(c, names[i]);
        FZ_CHECK(x && !strcmp(x, v), "%s: set '%s', get '%s'", names[i], v, x ? x : "(null)");
    }
    smtptap_config_free(a);
    smtptap_config_free(b);
    smtptap_config_free(c);
    rm_file();
    return 0;
}
