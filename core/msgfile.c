/*
 * msgfile.c - one message file (.eml, Maildir entry) into one record.
 *
 * The file is streamed in 64 KiB chunks through the message extractor
 * and into the message store, never held whole. Its record has the shape
 * of a session record without the network fields: one accepted
 * transaction whose message is the file. The uid comes from the file's
 * sha256 and the time stamps from its mtime, so the same file gives the
 * same record run after run.
 *
 * The file may be hostile, and so may its directory: a symbolic link is
 * not followed (it could point anywhere the reader may read), anything
 * but a regular file is refused, and a FIFO cannot block the open. The
 * file and its directory are only ever read, and the file's access time
 * is left alone when we are allowed to (O_NOATIME: its owner or root).
 *
 * How it fails: a file that cannot be opened, or is not a regular file,
 * gives -1 and a message naming it, and no record. A read error part-way
 * gives -1 too, but the record of what was read is still written
 * (complete false, anomaly read_error).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

#define CHUNK 65536
#define GONE  (-2)

typedef struct {
    st_core *core;
    st_store_obj *eml;
    st_message *msg; /* NULL when out of memory: the record has no contents */
    uint64_t missing;
    int read_errno;
} msgfile;

static int open_regular(int dirfd, const char *name, const char *shown, int gone_ok,
                        struct stat *st, char *err, size_t errlen)
{
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    /* No access time either, where we may: mail readers look at it. */
    int fd = openat(dirfd, name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, flags);
    if (fd < 0 && errno == ENOENT && gone_ok)
        return GONE;
    if (fd < 0 && errno == ELOOP) {
        snprintf(err, errlen, "%s: a symbolic link, not followed", shown);
        return -1;
    }
    if (fd < 0 || fstat(fd, st) != 0) {
        snprintf(err, errlen, "%s: %s", shown, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "%s: not a regular file, skipped", shown);
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads to the end of the file, not to st_size: the file may still grow. */
static void pump(msgfile *f, int fd, const struct stat *st)
{
    uint8_t *buf = malloc(CHUNK);
    uint64_t done = 0;
    for (ssize_t n = 1; buf && n > 0;) {
        n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR) {
            n = 1;
            continue;
        }
        if (n < 0)
            f->read_errno = errno;
        if (n <= 0)
            break;
        st_store_write(f->eml, buf, (size_t)n);
        if (f->msg)
            st_message_feed(f->msg, buf, (size_t)n);
        done += (uint64_t)n;
    }
    if (!buf)
        f->read_errno = ENOMEM;
    if (f->read_errno && (uint64_t)st->st_size > done)
        f->missing = (uint64_t)st->st_size - done;
    if (f->missing && f->msg)
        st_message_gap(f->msg, f->missing);
    free(buf);
}

static json_t *message_json(msgfile *f, const st_store_result *r)
{
    json_t *m = st_record_message_json(r, f->missing, f->read_errno == 0);
    if (f->msg)
        st_message_finish(f->msg, m);
    return m;
}

/* The fields of an SMTP transaction that a file cannot tell are null. */
static json_t *transaction(json_t *message)
{
    json_t *tx = json_object();
    json_object_set_new(tx, "mail_from", json_null());
    json_object_set_new(tx, "mail_params", json_null());
    json_object_set_new(tx, "rcpt_to", json_array());
    json_object_set_new(tx, "rcpt_rejected", json_array());
    json_object_set_new(tx, "mode", json_null());
    json_object_set_new(tx, "reply", json_null());
    json_object_set_new(tx, "status", json_string("accepted"));
    json_object_set_new(tx, "message", message);
    return tx;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

/* "M" + 18 base62 characters from the content's sha256. */
static void make_uid(const char *sha256, char out[20])
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t n = strlen(sha256); /* empty only if hashing had no memory */
    out[0] = 'M';
    for (size_t i = 0; i < 18; i++) {
        int byte = 2 * i + 1 < n ? hexval(sha256[2 * i]) << 4 | hexval(sha256[2 * i + 1]) : 0;
        out[i + 1] = b62[byte % 62];
    }
    out[19] = 0;
}

static json_t *record(msgfile *f, const struct stat *st, const char *shown, const char *source)
{
    st_store_result r;
    st_store_end(f->eml, &r);
    json_t *m = message_json(f, &r);
    st_core *c = f->core;
    c->stats.messages++;
    c->stats.transactions++;
    if (r.stored)
        c->stats.messages_stored++;
    else if (r.write_error)
        c->stats.output_errors++;
    char uid[20], when[40];
    struct timeval tv = {st->st_mtim.tv_sec, st->st_mtim.tv_nsec / 1000};
    make_uid(r.digest.sha256, uid);
    st_format_time(&tv, when, sizeof when);
    json_t *anomalies = json_array();
    if (f->read_errno)
        json_array_append_new(anomalies, json_pack("{s:s, s:s}", "name", "read_error", "detail",
                                                   strerror(f->read_errno)));
    json_t *rec = json_object();
    json_object_set_new(rec, "uid", json_string(uid));
    json_object_set_new(rec, "source", json_string(source));
    json_object_set_new(rec, "file", st_json_string(shown, 4096));
    json_object_set_new(rec, "ts_start", json_string(when));
    json_object_set_new(rec, "ts_end", json_string(when));
    json_object_set_new(rec, "transactions", json_pack("[o]", transaction(m)));
    json_object_set_new(rec, "anomalies", anomalies);
    return rec;
}

int st_msgfile_read(st_core *c, int dirfd, const char *name, const char *shown, const char *source,
                    int gone_ok, char *err, size_t errlen)
{
    struct stat st;
    int fd = open_regular(dirfd, name, shown, gone_ok, &st, err, errlen);
    if (fd < 0)
        return fd == GONE ? 0 : -1;
    uint64_t cap = c->cfg->store_messages ? (uint64_t)c->cfg->message_store_max : 0;
    msgfile f = {c, st_store_begin(c->messages, cap, 0), NULL, 0, 0};
    if (!f.eml) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory", shown);
        return -1;
    }
    f.msg = st_message_new(&c->msg_config);
    pump(&f, fd, &st);
    close(fd);
    st_core_emit(c, record(&f, &st, shown, source));
    if (f.msg)
        st_message_free(f.msg);
    if (f.read_errno) {
        snprintf(err, errlen, "%s: %s", shown, strerror(f.read_errno));
        return -1;
    }
    return 1;
}
