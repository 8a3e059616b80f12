/*
 * sink.h - where record lines go, behind one small interface.
 *
 * A sink takes the record lines the core writes (one JSON object each,
 * without its newline) and delivers them: the "file" sink appends them to
 * OUT/sessions.jsonl. Each sink is one file that fills an st_sink_ops
 * table, and one line in the table of st_sink_find; the core knows sinks
 * only through the st_sink handle below, as Redis knows its event
 * backends only through a few functions.
 *
 * Entry points: st_sink_open (by name), st_sink_write, st_sink_flush,
 * st_sink_reopen (logrotate), st_sink_close. st_sink_find looks a sink up
 * without opening it. st_sink_redis_lost counts what the Redis sink could
 * keep nowhere (stats.json).
 *
 * Beside the named sink, st_sink_open opens the "redis" sink when the
 * redis option is set (a server address): every line then goes to both,
 * in the same order. Only the named sink's losses are given up lines (the
 * record is not in the output); the Redis sink counts its own
 * (st_sink_redis_lost), and st_sink_close fails when it lost any.
 *
 * Whole lines only: a line is taken whole or given up whole, never cut.
 * A sink may buffer lines it has taken; when a buffer cannot be written
 * out, every line in it is given up, and the call that found out says how
 * many. Callers count what was given up as output errors.
 *
 * How it fails: no call aborts the process. write and flush return the
 * number of lines given up (0: none), with errno telling why; the handle
 * keeps the first failure, and st_sink_close reports it (sink: reason)
 * the way ferror(3) and fclose(3) would. An unknown name or a sink that
 * cannot open fails st_sink_open with a message.
 *
 * Limits: lines are delivered in the order they were written; one handle
 * is used by one thread. What a line holds is not looked at: it must not
 * contain a newline (not checked).
 *
 * Not handled: retrying lines that were given up, fsync(2), more than
 * the named sink and the Redis one at once.
 */
#ifndef ST_OUTPUT_SINK_H
#define ST_OUTPUT_SINK_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What sinks may need to open. */
typedef struct st_sink_options {
    const char *output_dir; /* OUT, made before the sink is opened */
    /* A sink's own options by name, as text (numbers in decimal), NULL
     * when there is no such option, as analyzers get theirs; no getter:
     * every option is unset. */
    const char *(*option)(void *ctx, const char *name);
    void *option_ctx;
} st_sink_options;

typedef struct st_sink_ops {
    const char *name;
    /* The sink's state, or NULL with err set. where receives what errors
     * should name (a path, an address). */
    void *(*open)(const st_sink_options *opt, char *where, size_t wherelen, char *err,
                  size_t errlen);
    /* One line, without its newline. 0 when it was taken whole; otherwise
     * it was given up, and the result counts it and every line taken
     * earlier that was given up with it (errno set). */
    size_t (*write)(void *s, const char *line, size_t len);
    /* Deliver what is buffered; the number of lines given up (errno set). */
    size_t (*flush)(void *s);
    /* Let go of the target and take it again (after logrotate). Called
     * with nothing buffered. -1 with err set when the old target did not
     * close cleanly or the new one did not open; in the latter case the
     * sink gives up every line until a reopen succeeds. */
    int (*reopen)(void *s, char *err, size_t errlen);
    /* Release s. Called with nothing buffered. -1 with err set when the
     * target reported an error on closing. */
    int (*close)(void *s, char *err, size_t errlen);
} st_sink_ops;

extern const st_sink_ops st_sink_file;   /* output/sink_file.c: OUT/sessions.jsonl */
extern const st_sink_ops st_sink_redis;  /* output/sink_redis.c: a Redis stream, list, channel */
extern const st_sink_ops st_sink_stdout; /* output/sink_stdout.c: standard output (-o -) */

/* Records the Redis sink could neither deliver nor keep in its queue or
 * spool since the process started (or, in a fork, since the fork). */
unsigned long long st_sink_redis_lost(void);

/* The sinks, by name; NULL for a name not known. */
static inline const st_sink_ops *st_sink_find(const char *name)
{
    static const st_sink_ops *const sinks[] = {
        &st_sink_file,
        &st_sink_redis,
        &st_sink_stdout,
    };
    for (size_t i = 0; i < sizeof sinks / sizeof *sinks; i++)
        if (strcmp(sinks[i]->name, name) == 0)
            return sinks[i];
    return NULL;
}

/* An open sink: its operations and state, and its first failure. */
typedef struct st_sink {
    const st_sink_ops *ops;
    void *state;
    int error;            /* errno of the first failure since open, 0 if none */
    char where[4096];     /* what the sink's errors name */
    struct st_sink *also; /* the Redis sink beside it, or NULL */
} st_sink;

static inline st_sink *st_sink_open_one(const char *name, const st_sink_options *opt, char *err,
                                        size_t errlen)
{
    const st_sink_ops *ops = st_sink_find(name);
    if (!ops) {
        snprintf(err, errlen, "%s: no such output", name);
        return NULL;
    }
    st_sink *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->ops = ops;
    k->state = ops->open(opt, k->where, sizeof k->where, err, errlen);
    if (!k->state) {
        free(k);
        return NULL;
    }
    return k;
}

static inline int st_sink_close(st_sink *k, size_t *given_up, char *err, size_t errlen);

/* The sink name, and the Redis one beside it when the redis option names
 * a server (unless name is "redis" itself). */
static inline st_sink *st_sink_open(const char *name, const st_sink_options *opt, char *err,
                                    size_t errlen)
{
    st_sink *k = st_sink_open_one(name, opt, err, errlen);
    const char *redis = opt->option ? opt->option(opt->option_ctx, "redis") : NULL;
    if (!k || !redis || !*redis || strcmp(name, "redis") == 0)
        return k;
    if (!(k->also = st_sink_open_one("redis", opt, err, errlen))) {
        st_sink_close(k, NULL, NULL, 0);
        return NULL;
    }
    return k;
}

/* (internal) keeps the first failure */
static inline size_t st_sink_note(st_sink *k, size_t given_up)
{
    if (given_up && !k->error)
        k->error = errno ? errno : EIO;
    return given_up;
}

/* 0 when line was taken whole; otherwise the lines given up, this one
 * included (see st_sink_ops.write). k NULL (no sink: records go to a
 * callback only) takes everything. */
static inline size_t st_sink_write(st_sink *k, const char *line, size_t len)
{
    if (k && k->also) /* it counts its own losses, and close reports them */
        (void)k->also->ops->write(k->also->state, line, len);
    return k ? st_sink_note(k, k->ops->write(k->state, line, len)) : 0;
}

/* Lines given up because they could not be delivered; 0 normally. */
static inline size_t st_sink_flush(st_sink *k)
{
    if (k && k->also)
        (void)k->also->ops->flush(k->also->state);
    return k ? st_sink_note(k, k->ops->flush(k->state)) : 0;
}

/* Flush, then reopen; *given_up (if not NULL) receives what the flush
 * gave up. -1 with err set when the reopen failed. */
static inline int st_sink_reopen(st_sink *k, size_t *given_up, char *err, size_t errlen)
{
    size_t n = st_sink_flush(k);
    if (given_up)
        *given_up = n;
    if (k->also)
        (void)k->also->ops->reopen(k->also->state, err, errlen);
    if (k->ops->reopen(k->state, err, errlen) == 0)
        return 0;
    if (!k->error)
        k->error = errno ? errno : EIO;
    return -1;
}

/* (internal) closes and frees one handle, flushed: 0, or -1 with err */
static inline int st_sink_close_one(st_sink *k, char *err, size_t errlen)
{
    int rc = k->ops->close(k->state, err, errlen);
    if (k->error) {
        snprintf(err, errlen, "%s: %s", k->where, strerror(k->error));
        rc = -1;
    }
    free(k);
    return rc;
}

/* Flush, close and free k (NULL is allowed); *given_up as for reopen.
 * 0 when every line taken since open was delivered; -1 with err set
 * ("where: reason", for the first failure) otherwise. */
static inline int st_sink_close(st_sink *k, size_t *given_up, char *err, size_t errlen)
{
    if (given_up)
        *given_up = 0;
    if (!k)
        return 0;
    size_t n = st_sink_flush(k);
    if (given_up)
        *given_up = n;
    st_sink *also = k->also;
    int rc = st_sink_close_one(k, err, errlen);
    /* after the named sink, which then holds every line: the Redis sink may
     * wait for its server (redis_close_wait) */
    if (also && st_sink_close_one(also, rc == 0 ? err : NULL, rc == 0 ? errlen : 0) != 0)
        rc = -1;
    return rc;
}

#endif
