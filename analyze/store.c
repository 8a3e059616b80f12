/*
 * store.c - objects held in memory or a tmp file until their hash names
 * them, then renamed to that name.
 *
 * An object's bytes stay in memory, in a buffer that grows by doubling up
 * to ST_STORE_MEM, while the store's budget for all such buffers
 * (ST_STORE_BUDGET) allows; beyond, they spill to a tmp file, written in
 * ST_STORE_BUF pieces. An object that ends in memory costs no file at all
 * when its content is already stored (the usual case for mail seen
 * twice), and one file creation, one write and one rename when it is
 * new: never a partial file under a final name. Whether the name is
 * taken is asked of the file system each time (a stat; a cache of the
 * names stored would save that, but a file removed under us would then
 * be named in a record without being there), and each fan-out folder is
 * created once (again when it was removed).
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

#define ST_STORE_BUF    (64 * 1024)       /* a spilled object's write buffer */
#define ST_STORE_MIN    8192              /* an object's first buffer */
#define ST_STORE_MEM    (512 * 1024)      /* an object held in memory at most */
#define ST_STORE_BUDGET (8 * 1024 * 1024) /* all held objects of a store */

struct st_store {
    char *base; /* <root>/<dir> */
    char *rel;  /* <dir> */
    char suffix[16];
    uint64_t seq; /* tmp file names */
    uint64_t errors, files;
    size_t held;           /* bytes of object buffers */
    uint8_t dirs[256 / 8]; /* fan-out folders made */
};

struct st_store_obj {
    st_store *s;
    uint64_t cap, size;
    int fd;
    int err;
    int truncated;
    int scratch; /* never committed: its tmp file is for st_store_end_fd only */
    char tmp[512];
    size_t fill, bufcap;
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
    o->fill = o->bufcap = 0;
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
    o->s->files++;
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

static void set_buf(st_store_obj *o, unsigned char *b, size_t cap)
{
    o->s->held = o->s->held - o->bufcap + cap;
    o->buf = b;
    o->bufcap = cap;
}

static void free_buf(st_store_obj *o)
{
    free(o->buf);
    set_buf(o, NULL, 0);
}

/* Room for n more bytes: a bigger buffer while the object is held in
 * memory and the budget allows, else the buffer written out. */
static void make_room(st_store_obj *o, size_t n)
{
    if (o->fill + n <= o->bufcap)
        return;
    size_t want = o->bufcap ? o->bufcap : ST_STORE_MIN;
    while (want < o->fill + n && want < ST_STORE_MEM)
        want *= 2;
    if (o->fd < 0 && want <= ST_STORE_MEM && o->fill + n <= want &&
        o->s->held - o->bufcap + want <= ST_STORE_BUDGET) {
        unsigned char *b = realloc(o->buf, want);
        if (b) {
            set_buf(o, b, want);
            return;
        }
    }
    flush_buf(o); /* spill: from now on the object is a tmp file */
    if (o->bufcap < ST_STORE_BUF && !o->err) {
        unsigned char *b = realloc(o->buf, ST_STORE_BUF);
        if (b)
            set_buf(o, b, ST_STORE_BUF);
    }
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
    while (n > 0 && !o->err) {
        make_room(o, n < ST_STORE_BUF ? n : ST_STORE_BUF);
        if (!o->bufcap) {
            o->err = ENOMEM;
            return;
        }
        size_t take = o->bufcap - o->fill < n ? o->bufcap - o->fill : n;
        memcpy(o->buf + o->fill, c, take);
        o->fill += take;
        c += take;
        n -= take;
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

static int fanout_dir(st_store *s, const char *h, const char *dir)
{
    unsigned i = (unsigned)(hexval(h[0]) << 4 | hexval(h[1]));
    if (s->dirs[i / 8] & (1u << i % 8))
        return 0;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return -1;
    s->dirs[i / 8] |= (uint8_t)(1u << i % 8);
    return 0;
}

/* Move the finished object to its content address: a held one is
 * written only when the name is not taken; a tmp file is renamed, or
 * dropped when the same content is already there. */
static void commit(st_store_obj *o, const char *h, st_store_result *r)
{
    char dir[4096], final[4096 + 128];
    snprintf(dir, sizeof dir, "%s/%.2s", o->s->base, h);
    snprintf(final, sizeof final, "%s/%s%s", dir, h, o->s->suffix);
    snprintf(r->path, sizeof r->path, "%s/%.2s/%s%s", o->s->rel, h, h, o->s->suffix);
    int there = access(final, F_OK) == 0;
    if (!there && fanout_dir(o->s, h, dir) != 0) {
        o->err = errno;
        return;
    }
    if (!there && !o->tmp[0]) { /* held in memory: written now, whole, then named */
        flush_buf(o);
        if (o->fd < 0 && !o->err && create_tmp(o) != 0)
            return;
        if (o->fd >= 0 && close(o->fd) != 0 && !o->err)
            o->err = errno;
        o->fd = -1;
    }
    if (o->err)
        return;
    if (there) {
        if (o->tmp[0])
            unlink(o->tmp); /* content addressing makes it the same */
    } else if (rename(o->tmp, final) != 0 &&
               (errno != ENOENT || mkdir(dir, 0750) != 0 || rename(o->tmp, final) != 0)) {
        o->err = errno; /* (a fan-out folder removed under us is made again) */
        return;
    }
    o->tmp[0] = 0;
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
    if (o->tmp[0] || kept || o->scratch)
        flush_buf(o); /* a file it is, or must be for the consumer */
    if (kept)
        *kept = open_kept(o);
    if (o->fd >= 0 && close(o->fd) != 0 && !o->err)
        o->err = errno;
    o->fd = -1;
    r->size = o->size;
    r->truncated = o->truncated;
    if (o->scratch) {
        if (o->tmp[0])
            unlink(o->tmp); /* the descriptor keeps it readable */
        r->write_error = o->err;
        free_buf(o);
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
    free_buf(o);
    free(o);
}

int st_store_retarget(st_store_obj *o, st_store *s)
{
    if (!s)
        return 0;
    o->s->held -= o->bufcap; /* its buffer is s's to account for now */
    s->held += o->bufcap;
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
    free_buf(o);
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
    flush_buf(o);     /* an idle object held in memory spills: it costs a file, not memory */
    if (o->fill == 0) /* a failed flush keeps its bytes, and its error */
        free_buf(o);
}

uint64_t st_store_files(const st_store *s)
{
    return s->files;
}
