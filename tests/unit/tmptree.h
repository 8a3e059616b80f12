/*
 * tmptree.h - a scratch directory tree for a unit test: made with
 * mkdtemp(3) by the test, removed whole by st_tmptree_remove (nftw,
 * depth first, links removed and never followed). Header-only, since
 * every unit test is one program of one file; include it after cmocka.h.
 */
#ifndef ST_TEST_TMPTREE_H
#define ST_TEST_TMPTREE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static inline int st_tmptree_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static inline int st_tmptree_remove(const char *root)
{
    return nftw(root, st_tmptree_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory root/name; its path in out. */
static inline void st_tmptree_subdir(const char *root, char *out, size_t outlen, const char *name)
{
    snprintf(out, outlen, "%s/%s", root, name);
    assert_int_equal(mkdir(out, 0777), 0);
}

#endif
