/*
 * store.c - tmp file, rename.
 *
 * Writes go through a small per-object buffer so that many objects can be
 * open at once (one per session in flight) without much memory. The tmp
 * file is only created at the first flush, so empty objects and objects
 * with a cap of 0 cost no file at all.
 *
 * An object over its cap keeps its first cap bytes in the tmp file until
 * it ends, so that a consumer that needs the object as a file (YARA) can
 * still read that much of it; a scratch object (st_store_begin_scratch)
 * is only that: a tmp file for such a consumer, never given a name.
 *
 * Files are created 0640 and folders 0750 (before the umask): mail and
 * attachments are not for every local user to read.
 *
 * Tmp files are named <pid>.<n>: at open, those of processes that no
 * longer run (a killed run) are removed; those of live ones (another
 * smtptap writing to the same store) are left alone.
 */
#include "analyze/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_STORE_BUF 8192

struct st_store {
    char *base; /* <root>/<dir> */
    char *rel;  /* <dir> */
    char suffix[16];
    uint64_t seq; /* tmp file names */
    uint64_t errors;
};

struct st_store_obj {
    st_store *s;
    uint64_t cap, size;
    int fd;
    int err;
    int truncated;
    int scratch; /* never committed: its tmp file is for st_store_end_fd only */
    char tmp[512];
    size_t fill;
    unsigned char *buf; /* allocated at the first write */
};

static int mkdir_p(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

/* The tmp files a dead process left behind. */
static void remove_stale(const char *tmpdir)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *dot;
        long pid = strtol(e->d_name, &dot, 10);
        if (pid <= 0 || *dot != '.' || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d)
        closedir(d);
}

st_store *st_store_open(const char *root, const char *dir, const char *suffix, char *err,
                        size_t errlen)
{
    st_store *s = calloc(1, sizeof *s);
    char tmpdir[4096];
    if (!s || asprintf(&s->base, "%s/%s", root, dir) < 0) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->rel = strdup(dir);
    snprintf(s->suffix, sizeof s->suffix, "%s", suffix);
    snprintf(tmpdir, sizeof tmpdir, "%s/.tmp", s->base);
    if (!s->rel || mkdir_p(tmpdir) != 0) {
        snprintf(err, errlen, "%s: %s", tmpdir, strerror(errno));
        st_store_close(s);
        return NULL;
    }
    remove_stale(tmpdir);
    return s;
}

void st_store_close(st_store *s)
{
    if (!s)
        return;
    free(s->base);
    free(s->rel);
    free(s);
}

uint64_t st_store_errors(const st_store *s)
{
    return s->errors;
}

st_store_obj *st_store_begin_scratch(st_store *s, uint64_t cap)
{
    st_store_obj *o = st_store_begin(s, cap);
    if (o)
        o->scratch = 1;
    return o;
}

st_store_obj *st_store_begin(st_store *s, uint64_t cap)
{
    st_store_obj *o = malloc(sizeof *o);
    if (!o)
        return NULL;
    o->s = s;
    o->cap = cap;
    o->size = 0;
    o->fd = -1;
    o->err = 0;
    o->truncated = 0;
    o->scratch = 0;
    o->fill = 0;
    o->buf = NULL;
    o->tmp[0] = 0;
    return o;
}

static int create_tmp(st_store_obj *o)
{
    snprintf(o->tmp, sizeof o->tmp, "%s/.tmp/%ld.%llu", o->s->base, (long)getpid(),
             (unsigned long long)o->s->seq++);
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (o->fd < 0) {
        o->err = errno;
        o->tmp[0] = 0;
        return -1;
    }
    return 0;
}

static void flush_buf(st_store_obj *o)
{
    if (o->fill == 0 || o->err)
        return;
    if (o->fd < 0 && create_tmp(o) != 0)
        return;
    size_t off = 0;
    while (off < o->fill) {
        ssize_t w = write(o->fd, o->buf + off, o->fill - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            o->err = w < 0 ? errno : EIO;
            return;
        }
        off += (size_t)w;
    }
    o->fill = 0;
}

void st_store_write(st_store_obj *o, const void *p, size_t n)
{
    uint64_t before = o->size;
    o->size += n;
    if (o->err || o->truncated)
        return;
    if (o->size > o->cap) {
        o->truncated = 1;
        n = (size_t)(o->cap - before); /* the first cap bytes stay, for st_store_end_fd */
    }
    const unsigned char *c = p;
    if (!o->buf && !(o->buf = malloc(ST_STORE_BUF))) {
        o->err = ENOMEM;
        return;
    }
    while (n > 0 && !o->err) {
        size_t take = ST_STORE_BUF - o->fill < n ? ST_STORE_BUF - o->fill : n;
        memcpy(o->buf + o->fill, c, take);
        o->fill += take;
        c += take;
        n -= take;
        if (o->fill == ST_STORE_BUF)
            flush_buf(o);
    }
}

/* Move the finished tmp file to its content address (or drop it when the
 * same content is already there). */
static void commit(st_store_obj *o, const char *h, st_store_result *r)
{
    char dir[4096], final[4096 + 128];
    snprintf(dir, sizeof dir, "%s/%.2s", o->s->base, h);
    snprintf(final, sizeof final, "%s/%s%s", dir, h, o->s->suffix);
    snprintf(r->path, sizeof r->path, "%s/%.2s/%s%s", o->s->rel, h, h, o->s->suffix);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        o->err = errno;
        return;
    }
    if (o->fd < 0) { /* empty object: nothing was flushed */
        int fd = open(final, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0)
            o->err = errno;
        else
            close(fd);
        return;
    }
    if (access(final, F_OK) == 0)
        unlink(o->tmp); /* already stored: content addressing makes it the same */
    else if (rename(o->tmp, final) != 0)
        o->err = errno;
}

/* A read-only descriptor of the bytes the tmp file holds (created empty
 * when nothing was flushed), before it is committed or removed. */
static int open_kept(st_store_obj *o)
{
    if (o->err || (o->fd < 0 && create_tmp(o) != 0))
        return -1;
    return open(o->tmp, O_RDONLY | O_CLOEXEC);
}

void st_store_end(st_store_obj *o, const char *sha256, st_store_result *r)
{
    st_store_end_fd(o, sha256, r, NULL);
}

void st_store_end_fd(st_store_obj *o, const char *sha256, st_store_result *r, int *kept)
{
    memset(r, 0, sizeof *r);
    flush_buf(o);
    if (kept)
        *kept = open_kept(o);
    if (o->fd >= 0 && close(o->fd) != 0 && !o->err)
        o->err = errno;
    r->size = o->size;
    r->truncated = o->truncated;
    if (o->scratch) {
        if (o->tmp[0])
            unlink(o->tmp); /* the descriptor keeps it readable */
        r->write_error = o->err;
        free(o->buf);
        free(o);
        return;
    }
    if (!o->err && strlen(sha256) != 64)
        o->err = ENOMEM; /* the hash had no memory: no name to store under */
    if (!o->err && !o->truncated && o->cap > 0)
        commit(o, sha256, r);
    if (o->err || o->truncated || o->cap == 0) {
        if (o->tmp[0])
            unlink(o->tmp);
        r->path[0] = 0;
        if (o->err)
            o->s->errors++;
    } else {
        r->stored = 1;
    }
    r->write_error = o->err;
    free(o->buf);
    free(o);
}

int st_store_retarget(st_store_obj *o, st_store *s)
{
    if (!s)
        return 0;
    o->s = s; /* the tmp file keeps its full path: commit renames it into s */
    return 1;
}

void st_store_abort(st_store_obj *o)
{
    if (!o)
        return;
    if (o->fd >= 0)
        close(o->fd);
    if (o->tmp[0])
        unlink(o->tmp);
    free(o->buf);
    free(o);
}

int st_store_open_stored(const st_store *s, const char *path)
{
    char full[4096];
    size_t rl = strlen(s->rel);
    if (strncmp(path, s->rel, rl) != 0 || path[rl] != '/' ||
        snprintf(full, sizeof full, "%s%s", s->base, path + rl) >= (int)sizeof full) {
        errno = EINVAL;
        return -1;
    }
    return open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

void st_store_trim(st_store_obj *o)
{
    if (!o || !o->buf)
        return;
    flush_buf(o);
    if (o->fill == 0) { /* a failed flush keeps its bytes, and its error */
        free(o->buf);
        o->buf = NULL;
    }
}
