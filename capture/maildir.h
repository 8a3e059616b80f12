/*
 * maildir.h - a Maildir's new/ as a source of message files: every name in
 * it once, then (following) every name delivered into it, each handed to
 * a callback that reads the file (see maildir.c for how names are found,
 * remembered and never acted on twice).
 */
#ifndef ST_CAPTURE_MAILDIR_H
#define ST_CAPTURE_MAILDIR_H

#include <signal.h>
#include <stddef.h>

/* One message: dirfd and name as for openat(2), shown as the path to
 * print. 1: read; 0: gone before it could be opened; -1 with err: not
 * read (the watch goes on and reports it at the end). */
typedef int (*st_maildir_fn)(void *ctx, int dirfd, const char *name, const char *shown, char *err,
                             size_t errlen);

/* DIR/new: every message in it once, then, with follow, every message
 * delivered into it until *stop is set. */
int st_maildir_watch(const char *dir, int follow, st_maildir_fn fn, void *ctx,
                     volatile sig_atomic_t *stop, char *err, size_t errlen);

#endif
