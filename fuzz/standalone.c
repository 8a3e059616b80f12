/*
 * standalone.c - a main() for the fuzz targets without libFuzzer: runs
 * LLVMFuzzerTestOneInput once per file named on the command line (a
 * directory: every regular file in it, sorted by name).
 *
 * Used to replay seeds and reproducers with gcc and the library of the
 * sanitized build (tests/integration/test_fuzz_regress.py, through
 * `make -f fuzz/fuzz.mk replay`), and for coverage (`make -f fuzz/fuzz.mk cov`:
 * clang -fprofile-instr-generate over each target's corpus). A violated
 * property aborts, as under libFuzzer. Prints one line per file with
 * FUZZ_STANDALONE_VERBOSE=1.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int one(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *d = malloc(cap);
    for (size_t k; d && (k = fread(d + n, 1, cap - n, f)) > 0;) {
        n += k;
        if (n == cap) {
            uint8_t *e = realloc(d, cap *= 2);
            if (!e)
                free(d);
            d = e;
        }
    }
    fclose(f);
    if (!d) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    /* exact size, as libFuzzer gives it: ASan sees a read past the input */
    uint8_t *x = malloc(n ? n : 1);
    if (!x) {
        free(d);
        return 1;
    }
    memcpy(x, d, n);
    free(d);
    if (getenv("FUZZ_STANDALONE_VERBOSE"))
        fprintf(stderr, "running %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(x, n);
    free(x);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int many(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int bad = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **m = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
            if (!m)
                abort();
            names = m;
        }
        size_t l = strlen(dir) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(l)))
            abort();
        snprintf(names[n++], l, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            bad |= one(names[i]);
        free(names[i]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            bad |= many(argv[i]);
        else
            bad |= one(argv[i]);
    }
    return bad;
}
