/*
 * msgfile.c - one message file (.eml, Maildir entry) into one record.
 *
 * The file (opened and read by capture/msgfile.c) goes through the message
 * pipeline (core/message.c) like an SMTP message, and its record is built
 * by the same record builder (output/record.c): the shape of a session
 * record without the network fields, one accepted transaction whose
 * message is the file. The uid comes from the file's sha256 and the time
 * stamps from its mtime, so the same file gives the same record run after
 * run.
 *
 * A message from memory (smtptap_feed_message) takes the same way, with
 * "source": "memory" and the caller's time stamp.
 *
 * How it fails: a file that cannot be opened, or is not a regular file,
 * gives -1 and a message naming it, and no record. A read error part-way
 * gives -1 too, but the record of what was read is still written
 * (complete false, anomaly read_error).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "capture/msgfile.h"
#include "core/core.h"

static void to_message(void *ctx, const uint8_t *d, size_t n)
{
    st_core_msg_data(ctx, d, n);
}

static char *record(st_core *c, st_core_msg *m, const struct timeval *mtime, const char *shown,
                    const char *source, int read_errno)
{
    st_record *r = st_record_new_file(&c->record_limits, source, shown, mtime);
    char sha256[65];
    m->ended = read_errno == 0;
    json_t *j = st_core_msg_end(c, m, read_errno == 0, sha256);
    c->stats.transactions++;
    if (!r) {
        json_decref(j);
        return NULL;
    }
    st_record_set_message(r, j);
    if (read_errno)
        st_record_anomaly(r, "read_error", strerror(read_errno));
    char *line = st_record_finish_file(r, sha256);
    st_record_free(r);
    return line;
}

int st_msgfile_read(st_core *c, int dirfd, const char *name, const char *shown, const char *source,
                    int gone_ok, char *err, size_t errlen)
{
    struct stat st;
    int fd = st_msgfile_open(dirfd, name, shown, gone_ok, &st, err, errlen);
    if (fd < 0)
        return fd == ST_MSGFILE_GONE ? 0 : -1;
    st_core_msg m;
    st_core_msg_begin(c, &m);
    if (!m.eml) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory", shown);
        return -1;
    }
    uint64_t missing = 0;
    int read_errno = st_msgfile_pump(fd, &st, to_message, &m, &missing);
    close(fd);
    st_core_msg_gap(&m, missing);
    struct timeval mtime = {st.st_mtim.tv_sec, st.st_mtim.tv_nsec / 1000};
    st_core_emit_text(c, record(c, &m, &mtime, shown, source, read_errno));
    if (read_errno) {
        snprintf(err, errlen, "%s: %s", shown, strerror(read_errno));
        return -1;
    }
    return 1;
}

int st_msgmem_read(st_core *c, const char *name, const void *data, size_t len,
                   const struct timeval *ts, char *err, size_t errlen)
{
    st_core_msg m;
    st_core_msg_begin(c, &m);
    if (!m.eml) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    st_core_msg_data(&m, data, len);
    uint64_t before = c->stats.output_errors;
    st_core_emit_text(c, record(c, &m, ts, name, "memory", 0));
    if (c->stats.output_errors != before) {
        snprintf(err, errlen, "%s: the record could not be written", name);
        return -1;
    }
    return 0;
}

static int maildir_file(void *ctx, int dirfd, const char *name, const char *shown, char *err,
                        size_t errlen)
{
    return st_msgfile_read(ctx, dirfd, name, shown, "maildir", 1, err, errlen);
}

int st_core_maildir(st_core *c, const char *dir, int follow, volatile sig_atomic_t *stop, char *err,
                    size_t errlen)
{
    return st_maildir_watch(dir, follow, maildir_file, c, stop, err, errlen);
}
