/*
 * maildir.c - the messages of a Maildir's new/, and those delivered later.
 *
 * A Maildir is delivered to by writing in tmp/ and renaming (IN_MOVED_TO)
 * or linking (IN_CREATE: Postfix's local and virtual) into new/, so a name
 * that appears in new/ is a whole message; IN_CLOSE_WRITE catches writers
 * that skip tmp/. A name that appears while some process still has it
 * open for writing (a read lease cannot be had) is left for the
 * IN_CLOSE_WRITE that will follow; where no lease can be asked for (not
 * the file's owner, no CAP_LEASE) the Maildir convention is trusted. The watch is set before
 * new/ is scanned, so a message delivered during the scan is not missed.
 * A name seen twice (by the scan and an event, by a rescan after the
 * event queue overflowed, or by two events) is processed once: names are
 * remembered in a bounded set. Names starting with a dot are ignored, as
 * the Maildir convention asks; cur/ and tmp/ are never looked at.
 *
 * Nothing in the Maildir is ever written, renamed or removed: a mail
 * reader owns it, and may move a message to cur/ while we look (it is
 * then skipped silently).
 *
 * How it fails: DIR/new that cannot be opened or watched gives -1 at
 * once; new/ removed or moved away ends the watch with -1. A message that
 * cannot be read is skipped and the watch goes on; the errors (as many as
 * fit one line, then a count) are returned when the watch ends. Beyond 65536
 * names the oldest half is forgotten; a forgotten name would be processed
 * again only if delivered again, which Maildir writers never do.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "capture/maildir.h"

#define SEEN_GEN   32768 /* names per generation; two generations are kept */
#define SEEN_SLOTS 65536 /* per generation: at most half full */
#define POLL_MS    250   /* how soon a stop from another thread is noticed */
#define WATCH_MASK                                                                                 \
    (IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* A name is kept as 128 bits of its SHA-256: a fixed size whatever its
 * length, and no crafted name collides with another. Never all zero. */
typedef struct {
    unsigned char k[16];
} seen_key;

typedef struct {
    seen_key *gen[2]; /* [0] fills up, [1] is the previous generation */
    size_t count;     /* names in gen[0] */
} seen_set;

typedef struct {
    st_maildir_fn fn;
    void *ctx;
    char dir[4096]; /* as given, without trailing slashes */
    int dirfd;      /* DIR/new */
    int ino;        /* inotify, -1 when not following */
    seen_set seen;
    volatile sig_atomic_t *stop;
    unsigned long untold; /* messages that could not be read, beyond errs */
    char errs[1024];      /* "path: why; path: why" */
} watch;

static int seen_find(const seen_key *tab, const seen_key *k, size_t *slot)
{
    static const seen_key empty;
    size_t i;
    memcpy(&i, k->k, sizeof i);
    for (i &= SEEN_SLOTS - 1;; i = (i + 1) & (SEEN_SLOTS - 1)) {
        *slot = i;
        if (memcmp(&tab[i], k, sizeof *k) == 0)
            return 1;
        if (memcmp(&tab[i], &empty, sizeof empty) == 0)
            return 0;
    }
}

/* 1 when name was seen before; otherwise it is remembered. */
static int seen_add(seen_set *s, const char *name)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    seen_key k;
    size_t slot;
    SHA256((const unsigned char *)name, strlen(name), d);
    memcpy(k.k, d, sizeof k.k);
    k.k[15] |= 1;
    if (seen_find(s->gen[1], &k, &slot) || seen_find(s->gen[0], &k, &slot))
        return 1;
    if (s->count == SEEN_GEN) {
        seen_key *old = s->gen[1];
        s->gen[1] = s->gen[0];
        s->gen[0] = memset(old, 0, SEEN_SLOTS * sizeof *old);
        s->count = 0;
        seen_find(s->gen[0], &k, &slot);
    }
    s->gen[0][slot] = k;
    s->count++;
    return 0;
}

/* As many errors as fit in one line, and how many more there were. */
static void note_error(watch *w, const char *why)
{
    size_t used = strlen(w->errs), n = strlen(why);
    size_t room = sizeof w->errs - 64; /* 64: for "(and N more)" */
    if (used && used + 2 + n >= room) {
        w->untold++;
        return;
    }
    if (used) {
        memcpy(w->errs + used, "; ", 2);
        used += 2;
    }
    if (n > room - 1 - used) /* only the first error can be that long */
        n = room - 1 - used;
    memcpy(w->errs + used, why, n);
    w->errs[used + n] = 0;
}

/* Some process has the file open for writing: a read lease is refused
 * with EAGAIN exactly then (fcntl(2)). */
static int being_written(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0; /* gone, or not a file: process() says so */
    int busy = fcntl(fd, F_SETLEASE, F_RDLCK) != 0 && errno == EAGAIN;
    if (!busy)
        fcntl(fd, F_SETLEASE, F_UNLCK);
    close(fd);
    return busy;
}

/* check: the name may still be being written (it was created in new/, or
 * found there by a scan). */
static void process(watch *w, const char *name, int check)
{
    char shown[4096 + 300], why[sizeof w->errs];
    if (name[0] == '.' || name[0] == 0 || (check && being_written(w->dirfd, name)) ||
        seen_add(&w->seen, name))
        return;
    snprintf(shown, sizeof shown, "%s/new/%s", w->dir, name);
    if (w->fn(w->ctx, w->dirfd, name, shown, why, sizeof why) < 0)
        note_error(w, why);
}

static int scan(watch *w, char *err, size_t errlen)
{
    int fd = openat(w->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        snprintf(err, errlen, "%s/new: %s", w->dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (!*w->stop) {
        errno = 0;
        if (!(e = readdir(d))) {
            if (errno) {
                snprintf(err, errlen, "%s/new: %s", w->dir, strerror(errno));
                rc = -1;
            }
            break;
        }
        process(w, e->d_name, 1);
    }
    closedir(d);
    return rc;
}

static int events(watch *w, const char *buf, size_t len, char *err, size_t errlen)
{
    const struct inotify_event *ev;
    for (size_t off = 0; off + sizeof *ev <= len && !*w->stop; off += sizeof *ev + ev->len) {
        ev = (const struct inotify_event *)(buf + off);
        if (off + sizeof *ev + ev->len > len)
            break;
        if (ev->mask & IN_Q_OVERFLOW) {
            if (scan(w, err, errlen) != 0)
                return -1;
        } else if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
            snprintf(err, errlen, "%s/new: removed or moved away, no longer watched", w->dir);
            return -1;
        } else if (ev->len && !(ev->mask & IN_ISDIR)) {
            process(w, ev->name, (ev->mask & IN_CREATE) != 0);
        }
    }
    return 0;
}

static int follow(watch *w, char *err, size_t errlen)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct pollfd p = {w->ino, POLLIN, 0};
    while (!*w->stop) {
        int n = poll(&p, 1, POLL_MS);
        ssize_t len = n > 0 ? read(w->ino, buf, sizeof buf) : 0;
        if ((n < 0 || len < 0) && errno != EINTR && errno != EAGAIN) {
            snprintf(err, errlen, "%s/new: inotify: %s", w->dir, strerror(errno));
            return -1;
        }
        if (len > 0 && events(w, buf, (size_t)len, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int watch_open(watch *w, const char *dir, int follow_it, char *err, size_t errlen)
{
    char path[4096 + 8];
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    snprintf(w->dir, sizeof w->dir, "%.*s", (int)n, dir);
    snprintf(path, sizeof path, "%s/new", w->dir);
    w->seen.gen[0] = calloc(SEEN_SLOTS, sizeof(seen_key));
    w->seen.gen[1] = calloc(SEEN_SLOTS, sizeof(seen_key));
    if (!w->seen.gen[0] || !w->seen.gen[1]) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* The watch first, then the scan: nothing delivered in between is lost. */
    if (follow_it && ((w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
                      inotify_add_watch(w->ino, path, WATCH_MASK) < 0)) {
        snprintf(err, errlen, "%s: inotify: %s", path, strerror(errno));
        return -1;
    }
    if ((w->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void watch_close(watch *w)
{
    if (w->ino >= 0)
        close(w->ino);
    if (w->dirfd >= 0)
        close(w->dirfd);
    free(w->seen.gen[0]);
    free(w->seen.gen[1]);
    free(w);
}

int st_maildir_watch(const char *dir, int follow_it, st_maildir_fn fn, void *ctx,
                     volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    watch *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->fn = fn;
    w->ctx = ctx;
    w->stop = stop;
    w->dirfd = w->ino = -1;
    int rc = watch_open(w, dir, follow_it, err, errlen);
    if (rc == 0)
        rc = scan(w, err, errlen);
    if (rc == 0 && follow_it)
        rc = follow(w, err, errlen);
    if (rc == 0 && w->errs[0]) {
        if (w->untold)
            snprintf(err, errlen, "%s (and %lu more messages could not be read)", w->errs,
                     w->untold);
        else
            snprintf(err, errlen, "%s", w->errs);
        rc = -1;
    }
    watch_close(w);
    return rc;
}
