/*
 * privs.c - running as an ordinary user once capture and outputs are open.
 *
 * As tcpdump's -Z: root is needed to open a packet socket, never to
 * parse what comes through it. After every capture handle and output is
 * open, the output folder is given to the user (its folders, which new
 * objects are created in, and the record and stats files, which are
 * reopened or replaced; stored objects are written once and stay as
 * they are), then the supplementary groups, the group and the user are
 * switched, in that order (setuid last: after it nothing else could be
 * changed). The switch is checked: root cannot be regained and no
 * capability is left (CapEff and CapPrm of /proc/self/status are zero).
 *
 * Entry point: st_core_setuser.
 *
 * Limits: folders of the output up to ST_PRIVS_DEPTH deep are given
 * (OUT/messages/partial/ab is 3): the store never goes deeper.
 *
 * How it fails: -1 and a message (no such user, when it must exist; not
 * root; a chown or a switch refused; a capability still held); the
 * process may then hold some of the new identity, and the caller is
 * expected to stop. 1 when the user need not exist and does not.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

#define ST_PRIVS_DEPTH 3

static uid_t give_uid;
static gid_t give_gid;
static int give_errno;

/* Folders are given, and the files at the top; below a fan-out folder
 * ("ab", or anything at the depth limit) the stored objects are not
 * walked: there may be millions, and they are never written again. */
static int give_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    int give = type == FTW_D || (type == FTW_F && ftw->level == 1);
    if (give && (st->st_uid != give_uid || st->st_gid != give_gid) &&
        lchown(path, give_uid, give_gid) != 0) {
        give_errno = errno;
        return FTW_STOP;
    }
    int leaf = ftw->level >= ST_PRIVS_DEPTH || (ftw->level == 2 && strlen(path + ftw->base) == 2);
    return type == FTW_D && leaf ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
}

static int give_output(const char *out, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    give_uid = uid;
    give_gid = gid;
    give_errno = 0;
    int rc = nftw(out, give_one, 16, FTW_PHYS | FTW_ACTIONRETVAL);
    if (rc == 0 && give_errno == 0)
        return 0;
    snprintf(err, errlen, "%s: cannot give it to uid %u: %s", out, (unsigned)uid,
             strerror(give_errno ? give_errno : errno));
    return -1;
}

/* Both capability sets of /proc/self/status are empty. */
static int no_capability(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int bad = 0, seen = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "CapPrm:", 7)) {
            seen++;
            bad |= strtoull(line + 7, NULL, 16) != 0;
        }
    fclose(f);
    return seen == 2 && !bad;
}

static int switch_to(const struct passwd *pw, char *err, size_t errlen)
{
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "cannot become %s: %s", pw->pw_name, strerror(errno));
        return -1;
    }
    if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0 || !no_capability())) {
        snprintf(err, errlen, "became %s but could still act as root", pw->pw_name);
        return -1;
    }
    return 0;
}

int st_core_setuser(const char *out, const char *user, int must_exist, char *err, size_t errlen)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw && !must_exist && (errno == 0 || errno == ENOENT))
        return 1;
    if (!pw) {
        snprintf(err, errlen, "no such user: %s%s%s", user, errno ? ": " : "",
                 errno ? strerror(errno) : "");
        return -1;
    }
    if (pw->pw_uid == geteuid() && pw->pw_uid == getuid())
        return 0; /* already that user: nothing to give up */
    if (geteuid() != 0) {
        snprintf(err, errlen, "only root can become %s", user);
        return -1;
    }
    if (give_output(out, pw->pw_uid, pw->pw_gid, err, errlen) != 0 ||
        switch_to(pw, err, errlen) != 0)
        return -1;
    /* a folder above OUT that the user may not enter (a 0700 home, a
     * mkdtemp folder) would fail every write from now on: say it now */
    if (access(out, R_OK | W_OK | X_OK) != 0) {
        snprintf(err, errlen, "%s: not usable by %s: %s", out, pw->pw_name, strerror(errno));
        return -1;
    }
    return 0;
}
