/*
 * main.c - the smtptap command: a thin client of libsmtptap.
 *
 * Parses the command line into a config (every library option is also a
 * --long-option, and -c/--config and --set take the same keys), then runs
 * the sources in a fixed order: the -r files, in order, as one capture;
 * the --eml files and --maildir-once directories, in command-line order;
 * the -i interface; the --maildir watch. Words that are not options form
 * a BPF filter for the packet sources. SIGINT and SIGTERM call
 * smtptap_stop: the capture or Maildir watch in progress, and any after
 * it, end cleanly; what was seen is flushed and a short summary goes to
 * stderr (not with -q).
 *
 * Errors that concern the whole run come before the output folder is
 * touched: the interface is opened and the filter compiled (for the first
 * -r file that opens) first, and when no capture file of a run that has
 * nothing else to read can be opened, nothing is written at all.
 *
 * Exit status: 0 all well; 1 a source or an output failed, or the library
 * did not open (what could be read was still processed and written);
 * 2 bad usage.
 *
 * Limits: at most 1024 -r files and 1024 message inputs; one -i and one
 * --maildir (the last given wins), and not both.
 *
 * Privileges: -Z USER (or "smtptap", when root captures live and that
 * user exists) is taken once the inputs opened early and the outputs are
 * open (core/privs.c).
 *
 * SIGHUP reopens the record file by its name before the next record
 * (logrotate's postrotate); no record is lost or split.
 *
 * -o - sends the records to standard output (the stdout sink); the rest
 * of OUT is --store-dir DIR, or, without it, a private temporary folder
 * removed at the end, with nothing stored. SIGPIPE then ends the run.
 *
 * Not handled: daemonising, several interfaces.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "smtptap.h"

#define MAX_FILES           1024
#define ST_CLI_DEFAULT_USER "smtptap"

typedef struct {
    const char *path;
    int maildir; /* 0: --eml FILE, 1: --maildir-once DIR */
} msg_input;

typedef struct {
    const char *files[MAX_FILES];
    int n_files;
    msg_input msgs[MAX_FILES]; /* in command-line order */
    int n_msgs;
    const char *iface;
    const char *follow_dir; /* --maildir */
    const char *user;       /* -Z */
    const char *pidfile;    /* --pidfile */
    int to_stdout;          /* -o -: records on standard output */
    const char *store_dir;  /* --store-dir: OUT when the records go to standard output */
    char scratch[64];       /* -o - without --store-dir: a private OUT, removed at the end */
    char *bpf;
    int quiet;
} cli_args;

static smtptap *running;

static void on_signal(int sig)
{
    if (running && sig == SIGHUP)
        smtptap_reopen(running);
    else if (running && sig == SIGUSR1)
        smtptap_stats_now(running);
    else if (running)
        smtptap_stop(running);
}

static void print_option(void *arg, const char *name, const char *def, const char *help)
{
    FILE *f = arg;
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", name);
    for (char *p = flag + 2; *p; p++)
        if (*p == '_')
            *p = '-';
    fprintf(f, "  %-24s %s (default: %s)\n", flag, help, *def ? def : "\"\"");
}

static void usage(FILE *f)
{
    fprintf(f, "usage: smtptap [options] [-r FILE]... [-i IFACE] [BPF expression]\n"
               "       smtptap [options] [--eml FILE]... [--maildir-once DIR]...\n"
               "                         [--maildir DIR]\n"
               "\n"
               "Reassembles SMTP sessions from packets and writes one JSON record per\n"
               "session to OUT/sessions.jsonl, each message to OUT/messages/. Message\n"
               "files give the same record without the network fields.\n"
               "\n"
               "  -r FILE                  read a capture (pcap, pcapng, .gz); repeat to read\n"
               "                           several files as one capture, in order\n"
               "  -i IFACE                 capture live from IFACE (Ctrl-C ends cleanly)\n"
               "  --eml FILE...            read message files (RFC 5322): every word up to\n"
               "                           the next option; repeatable\n"
               "  --maildir-once DIR       read every message in the Maildir DIR/new; repeatable\n"
               "  --maildir DIR            the same, then every message delivered into DIR/new\n"
               "                           until Ctrl-C/SIGTERM (the Maildir is only read)\n"
               "  -o DIR                   output directory (same as --output-dir)\n"
               "  -o -                     records to standard output, a line each as its\n"
               "                           session ends; nothing else is kept unless\n"
               "  --store-dir DIR          names the folder for messages/, files/ and stats\n"
               "  --pidfile FILE           write the pid to FILE (refused while one lives)\n"
               "  -Z, --user USER          run as USER once the inputs and outputs are open;\n"
               "                           root capturing with -i becomes \"smtptap\" when\n"
               "                           that user exists (-Z root keeps root)\n"
               "  -c, --config FILE        read options from FILE (INI: [smtp], [output],\n"
               "                           [capture], [limits]; or key = value lines);\n"
               "                           the command line wins over it, in any order\n"
               "  --set KEY=VALUE          set any option by its config-file name\n"
               "  -O PLUGIN:KEY=VALUE      stoQ's form, e.g. -O smtp:omit_body=True\n"
               "  --plugin-opts P:K=V...   the same, every word up to the next option\n"
               "  -q, --quiet              no progress line or summary on stderr\n"
               "  -h, --help               this help\n"
               "  -V, --version            version\n"
               "\n"
               "A BPF expression after the options filters packets (files too), as in\n"
               "tcpdump. Options (also valid as config-file keys with underscores):\n");
    smtptap_config_describe(print_option, f);
}

static int set_opt(smtptap_config *c, const char *k, const char *v)
{
    char err[512];
    if (smtptap_config_set(c, k, v, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "smtptap: %s\n", err);
    return -1;
}

static int append_bpf(cli_args *a, const char *word)
{
    size_t old = a->bpf ? strlen(a->bpf) : 0;
    char *n = realloc(a->bpf, old + strlen(word) + 2);
    if (!n)
        return -1;
    if (old)
        n[old++] = ' ';
    strcpy(n + old, word);
    a->bpf = n;
    return 0;
}

/* --name[=value]: an option of the library. A boolean needs no value. */
static int long_option(smtptap_config *c, int argc, char **argv, int *i)
{
    char key[128];
    const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
    size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);
    if (klen >= sizeof key)
        klen = sizeof key - 1;
    memcpy(key, arg, klen);
    key[klen] = 0;
    const char *cur = smtptap_config_get(c, key);
    if (!cur) {
        fprintf(stderr, "smtptap: unknown option --%s (see --help)\n", key);
        return -1;
    }
    if (eq)
        return set_opt(c, key, eq + 1);
    if (strcmp(cur, "true") == 0 || strcmp(cur, "false") == 0)
        return set_opt(c, key, "true");
    if (*i + 1 >= argc) {
        fprintf(stderr, "smtptap: --%s needs a value\n", key);
        return -1;
    }
    return set_opt(c, key, argv[++*i]);
}

static int take_value(int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "smtptap: %s needs a value\n", argv[*i]);
        return -1;
    }
    *out = argv[++*i];
    return 0;
}

/* --set KEY=VALUE */
static int set_pair(smtptap_config *c, const char *v)
{
    const char *eq = strchr(v, '=');
    char key[128];
    if (!eq || (size_t)(eq - v) >= sizeof key) {
        fprintf(stderr, "smtptap: --set wants KEY=VALUE\n");
        return -1;
    }
    memcpy(key, v, (size_t)(eq - v));
    key[eq - v] = 0;
    return set_opt(c, key, eq + 1);
}

/* stoQ's plugin options: SECTION:KEY=VALUE (-O, --plugin-opts). */
static int set_plugin_opt(smtptap_config *c, const char *v)
{
    const char *colon = strchr(v, ':'), *eq = colon ? strchr(colon, '=') : NULL;
    char sec[64], key[128], err[512];
    if (!eq || colon == v || (size_t)(colon - v) >= sizeof sec ||
        (size_t)(eq - colon - 1) >= sizeof key) {
        fprintf(stderr, "smtptap: expected PLUGIN:KEY=VALUE (e.g. smtp:omit_body=true), not '%s'\n",
                v);
        return -1;
    }
    snprintf(sec, sizeof sec, "%.*s", (int)(colon - v), v);
    snprintf(key, sizeof key, "%.*s", (int)(eq - colon - 1), colon + 1);
    if (smtptap_config_set_in(c, sec, key, eq + 1, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "smtptap: %s\n", err);
    return -1;
}

/* --plugin-opts takes every word up to the next option, as stoQ does. */
static int plugin_opts(int argc, char **argv, int *i, smtptap_config *c)
{
    const char *v = NULL;
    if (take_value(argc, argv, i, &v))
        return -1;
    do {
        if (set_plugin_opt(c, v) != 0)
            return -1;
        v = *i + 1 < argc && argv[*i + 1][0] != '-' && strchr(argv[*i + 1], ':') ? argv[++*i]
                                                                                 : NULL;
    } while (v);
    return 0;
}

static int load_config(smtptap_config *c, const char *path)
{
    char err[512];
    if (smtptap_config_load(c, path, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "smtptap: %s\n", err);
    return -1;
}

/* --eml FILE... (the words up to the next option are all files), --maildir-once DIR */
static int too_many(const char *what)
{
    fprintf(stderr, "smtptap: more than %d %s\n", MAX_FILES, what);
    return -1;
}

static int message_inputs(int argc, char **argv, int *i, cli_args *a)
{
    const char *s = argv[*i], *v = NULL;
    if (take_value(argc, argv, i, &v))
        return -1;
    do {
        if (a->n_msgs == MAX_FILES)
            return too_many("message inputs");
        a->msgs[a->n_msgs++] = (msg_input){v, s[2] == 'm'};
        /* --eml takes every file up to the next option */
        v = s[2] == 'e' && *i + 1 < argc && argv[*i + 1][0] != '-' ? argv[++*i] : NULL;
    } while (v);
    return 0;
}

/* Options that take a value; 1 when s is not one of them. */
static int valued_option(int argc, char **argv, int *i, smtptap_config *c, cli_args *a)
{
    const char *s = argv[*i], *v = NULL;
    if (!strcmp(s, "--eml") || !strcmp(s, "--maildir-once"))
        return message_inputs(argc, argv, i, a);
    if (!strcmp(s, "-r")) {
        if (take_value(argc, argv, i, &v))
            return -1;
        if (a->n_files == MAX_FILES)
            return too_many("-r files");
        a->files[a->n_files++] = v;
        return 0;
    }
    if (!strcmp(s, "--maildir"))
        return take_value(argc, argv, i, &a->follow_dir);
    if (!strcmp(s, "-i"))
        return take_value(argc, argv, i, &a->iface);
    if (!strcmp(s, "-Z") || !strcmp(s, "--user"))
        return take_value(argc, argv, i, &a->user);
    if (!strcmp(s, "--pidfile"))
        return take_value(argc, argv, i, &a->pidfile);
    if (!strcmp(s, "-o")) {
        if (take_value(argc, argv, i, &v))
            return -1;
        a->to_stdout = !strcmp(v, "-");
        return a->to_stdout ? set_opt(c, "sinks", "stdout") : set_opt(c, "output_dir", v);
    }
    if (!strcmp(s, "--store-dir"))
        return take_value(argc, argv, i, &a->store_dir);
    if (!strcmp(s, "-c") || !strcmp(s, "--config"))
        return take_value(argc, argv, i, &v) || load_config(c, v) ? -1 : 0;
    if (!strcmp(s, "--set"))
        return take_value(argc, argv, i, &v) || set_pair(c, v) ? -1 : 0;
    if (!strcmp(s, "-O"))
        return take_value(argc, argv, i, &v) || set_plugin_opt(c, v) ? -1 : 0;
    if (!strcmp(s, "--plugin-opts"))
        return plugin_opts(argc, argv, i, c);
    return 1;
}

static int one_arg(int argc, char **argv, int *i, smtptap_config *c, cli_args *a)
{
    const char *s = argv[*i];
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
        usage(stdout);
        exit(0);
    }
    if (!strcmp(s, "-V") || !strcmp(s, "--version")) {
        printf("smtptap %s\n", smtptap_version());
        exit(0);
    }
    if (!strcmp(s, "-q") || !strcmp(s, "--quiet")) {
        a->quiet = 1;
        return 0;
    }
    int rc = valued_option(argc, argv, i, c, a);
    if (rc != 1)
        return rc;
    if (!strncmp(s, "--", 2) && s[2])
        return long_option(c, argc, argv, i);
    if (s[0] == '-' && s[1]) {
        fprintf(stderr, "smtptap: unknown option %s (see --help)\n", s);
        return -1;
    }
    return append_bpf(a, s);
}

static int parse_args(int argc, char **argv, smtptap_config *c, cli_args *a)
{
    for (int i = 1; i < argc; i++)
        if (one_arg(argc, argv, &i, c, a) != 0)
            return -1;
    if (a->n_files == 0 && !a->iface && a->n_msgs == 0 && !a->follow_dir) {
        fprintf(stderr, "smtptap: nothing to read: give -r FILE, -i IFACE, --eml FILE or "
                        "--maildir DIR (see --help)\n");
        return -1;
    }
    if (a->iface && a->follow_dir) {
        fprintf(stderr, "smtptap: -i and --maildir cannot run together\n");
        return -1;
    }
    if (a->store_dir && !a->to_stdout) {
        fprintf(stderr, "smtptap: --store-dir goes with -o - (else -o DIR is the folder)\n");
        return -1;
    }
    return 0;
}

/* -o -: the records on standard output; messages/, files/ and the stats
 * in --store-dir DIR. Without it nothing but the records is kept: nothing
 * is stored, and the folder the library still needs (its tmp files, the
 * stats) is a private one, removed at the end. */
static int stdout_outputs(smtptap_config *c, cli_args *a)
{
    if (!a->to_stdout)
        return 0;
    if (a->store_dir)
        return set_opt(c, "output_dir", a->store_dir);
    const char *tmp = getenv("TMPDIR");
    snprintf(a->scratch, sizeof a->scratch, "%s/smtptap-XXXXXX",
             tmp && *tmp && strlen(tmp) < sizeof a->scratch - 16 ? tmp : "/tmp");
    if (!mkdtemp(a->scratch)) {
        fprintf(stderr, "smtptap: %s: %s\n", a->scratch, strerror(errno));
        a->scratch[0] = 0;
        return -1;
    }
    return set_opt(c, "output_dir", a->scratch) || set_opt(c, "store_messages", "false") ||
                   set_opt(c, "archive_attachments", "false")
               ? -1
               : 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* The private OUT of -o - without --store-dir; links are not followed. */
static void remove_scratch(const cli_args *a)
{
    if (a->scratch[0])
        nftw(a->scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void where_records(const char *out, const cli_args *a)
{
    if (a->to_stdout)
        fprintf(stderr, "smtptap: records on standard output\n");
    else
        fprintf(stderr, "smtptap: records in %s/sessions.jsonl\n", out);
}

static void summary(smtptap *t, const char *out, const cli_args *a)
{
    smtptap_stats s;
    smtptap_get_stats(t, &s);
    if (a->n_files == 0 && !a->iface) {
        fprintf(stderr, "smtptap: %llu records from message files, %llu messages (%llu stored)\n",
                (unsigned long long)s.sessions, (unsigned long long)s.messages,
                (unsigned long long)s.messages_stored);
        where_records(out, a);
        return;
    }
    const char *iface = a->iface;
    fprintf(stderr,
            "smtptap: %llu packets (%.1f MB) from %s; %llu TCP streams, %llu SMTP sessions, "
            "%llu transactions, %llu messages (%llu stored)",
            (unsigned long long)s.packets, s.bytes / 1e6, iface ? iface : "files",
            (unsigned long long)s.streams, (unsigned long long)s.sessions,
            (unsigned long long)s.transactions, (unsigned long long)s.messages,
            (unsigned long long)s.messages_stored);
    if (s.missing_bytes)
        fprintf(stderr, ", %llu bytes missing", (unsigned long long)s.missing_bytes);
    if (s.pcap_dropped)
        fprintf(stderr, ", %llu packets dropped by the kernel", (unsigned long long)s.pcap_dropped);
    fputc('\n', stderr);
    where_records(out, a);
}

static int read_msgs(smtptap *t, const cli_args *a)
{
    char err[1024];
    int rc = 0;
    for (int i = 0; i < a->n_msgs; i++) {
        const msg_input *m = &a->msgs[i];
        if ((m->maildir ? smtptap_watch_maildir(t, m->path, 0, err, sizeof err)
                        : smtptap_read_eml(t, m->path, err, sizeof err)) != 0) {
            fprintf(stderr, "smtptap: %s\n", err);
            rc = 1;
        }
    }
    return rc;
}

/* What is opened before the output exists. */
typedef struct {
    smtptap_input *first; /* the first -r file that opens, with the filter */
    int first_i;          /* its index; the files before it failed (said so) */
    smtptap_input *live;  /* the -i interface */
} early_inputs;

static int open_input(smtptap_input *in, const char *bpf, smtptap_input **to)
{
    char err[1024];
    if (smtptap_input_filter(in, bpf, err, sizeof err) != 0) {
        fprintf(stderr, "smtptap: %s\n", err);
        smtptap_input_close(in);
        return -1;
    }
    *to = in;
    return 0;
}

static int open_live(const cli_args *a, const smtptap_config *c, early_inputs *e)
{
    char err[1024];
    if (!a->iface)
        return 0;
    smtptap_input *in = smtptap_input_live(c, a->iface, err, sizeof err);
    if (!in) {
        fprintf(stderr, "smtptap: %s\n", err);
        return -1;
    }
    return a->bpf ? open_input(in, a->bpf, &e->live) : (e->live = in, 0);
}

/* Whole-run errors, before smtptap_open creates anything: the interface
 * and the filter (compiled for the first -r file that opens: a link type
 * is needed), and no capture file opening when there is nothing else to
 * read. The inputs opened stay open for run(): a FIFO is read once. */
static int open_early(const cli_args *a, const smtptap_config *c, early_inputs *e)
{
    char err[1024];
    for (e->first_i = 0; e->first_i < a->n_files; e->first_i++) {
        smtptap_input *in = smtptap_input_file(a->files[e->first_i], err, sizeof err);
        if (in)
            return open_input(in, a->bpf, &e->first) != 0 ? -1 : open_live(a, c, e);
        fprintf(stderr, "smtptap: %s\n", err);
    }
    if (a->n_files && !a->iface && !a->n_msgs && !a->follow_dir)
        return -1;
    return open_live(a, c, e);
}

/* The progress line on a terminal: redrawn in place, cleared before
 * anything else is said on stderr. */
typedef struct {
    uint64_t total; /* bytes of the -r files; 0 when one is no regular file */
    double start;
    int shown;
} progress;

static progress prog;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress_clear(void)
{
    if (prog.shown)
        fputs("\r\033[K", stderr);
    prog.shown = 0;
}

static void on_progress(void *arg, const smtptap_progress *p)
{
    (void)arg;
    double secs = now_s() - prog.start, mib = p->file_bytes / 1048576.0;
    double rate = secs > 0 ? mib / secs : 0;
    fprintf(stderr, "\rsmtptap: %.1f", mib);
    if (prog.total) {
        double left = rate > 0 ? (prog.total / 1048576.0 - mib) / rate : 0;
        fprintf(stderr, " of %.1f MiB (%.0f%%), %.1f MiB/s, ETA %d:%02d", prog.total / 1048576.0,
                100.0 * p->file_bytes / prog.total, rate, (int)left / 60, (int)left % 60);
    } else {
        fprintf(stderr, " MiB, %.1f MiB/s", rate);
    }
    fprintf(stderr, ", %llu packets, %llu sessions\033[K", (unsigned long long)p->packets,
            (unsigned long long)p->sessions);
    prog.shown = 1;
}

/* On a terminal, not -q: the sum of the -r files' sizes. */
static void progress_start(smtptap *t, const cli_args *a)
{
    if (a->quiet || !a->n_files || !isatty(STDERR_FILENO))
        return;
    for (int i = 0; i < a->n_files; i++) {
        struct stat st;
        if (stat(a->files[i], &st) != 0 || !S_ISREG(st.st_mode)) {
            prog.total = 0;
            break;
        }
        prog.total += (uint64_t)st.st_size;
    }
    prog.start = now_s();
    smtptap_on_progress(t, on_progress, NULL);
}

static void say(void *arg, const char *msg)
{
    (void)arg;
    progress_clear();
    fprintf(stderr, "smtptap: %s\n", msg);
}

static int run(smtptap *t, const cli_args *a, early_inputs *e)
{
    char err[1024];
    int rc = e->first_i > 0;
    if (e->first_i < a->n_files) {
        const char *const *rest = a->files + e->first_i + 1;
        size_t n = (size_t)(a->n_files - e->first_i - 1);
        progress_start(t, a);
        if (smtptap_read_files(t, e->first, rest, n, a->bpf, say, NULL) != 0)
            rc = 1;
        e->first = NULL;
        smtptap_on_progress(t, NULL, NULL);
        progress_clear();
    }
    if (read_msgs(t, a) != 0)
        rc = 1;
    if (e->live && smtptap_run_input(t, e->live, err, sizeof err) != 0) {
        fprintf(stderr, "smtptap: %s\n", err);
        rc = 1;
    }
    e->live = NULL;
    if (a->follow_dir && smtptap_watch_maildir(t, a->follow_dir, 1, err, sizeof err) != 0) {
        fprintf(stderr, "smtptap: %s\n", err);
        rc = 1;
    }
    return rc;
}

/* --pidfile: the pid, written whole by a rename; refused while the pid
 * already there is a live process (two sensors on one OUT). */
static int write_pidfile(const char *path)
{
    char tmp[4096], line[32];
    FILE *f = fopen(path, "r");
    long old = 0;
    if (f) {
        if (fgets(line, sizeof line, f))
            old = strtol(line, NULL, 10);
        fclose(f);
    }
    if (old > 0 && old != (long)getpid() && (kill((pid_t)old, 0) == 0 || errno == EPERM)) {
        fprintf(stderr, "smtptap: %s: pid %ld is running\n", path, old);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "smtptap: %s: %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* -Z USER, or by default "smtptap" when root captures live and that user
 * exists (a sensor: nothing after the open needs root). -Z root keeps it. */
static int become_user(smtptap *t, const cli_args *a)
{
    char err[1024];
    const char *user = a->user ? a->user : a->iface ? ST_CLI_DEFAULT_USER : NULL;
    if (!user || !strcmp(user, "root"))
        return 0;
    if (smtptap_setuser(t, user, a->user != NULL, err, sizeof err) >= 0)
        return 0;
    fprintf(stderr, "smtptap: %s\n", err);
    return -1;
}

int main(int argc, char **argv)
{
    cli_args a = {0};
    char err[1024];
    smtptap_config *c = smtptap_config_new();
    if (!c || parse_args(argc, argv, c, &a) != 0) {
        smtptap_config_free(c);
        free(a.bpf);
        return 2;
    }
    if (stdout_outputs(c, &a) != 0) {
        remove_scratch(&a);
        smtptap_config_free(c);
        free(a.bpf);
        return 1;
    }
    early_inputs e = {0};
    int early = open_early(&a, c, &e);
    if (early == 0 && a.pidfile && write_pidfile(a.pidfile) != 0)
        early = -1; /* another smtptap lives: its file is left as it is */
    smtptap *t = early == 0 ? smtptap_open(c, err, sizeof err) : NULL;
    if (!t && early == 0)
        fprintf(stderr, "smtptap: %s\n", err);
    if (!t || become_user(t, &a) != 0) {
        if (t)
            smtptap_close(t, err, sizeof err);
        if (early == 0 && a.pidfile)
            remove(a.pidfile); /* ours: a pidfile of another smtptap makes early -1 */
        smtptap_input_close(e.first);
        smtptap_input_close(e.live);
        remove_scratch(&a);
        smtptap_config_free(c);
        free(a.bpf);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    running = t;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    if (a.to_stdout) /* the reader of -o - gone (| head): the run ends, cleanly */
        sigaction(SIGPIPE, &sa, NULL);
    int rc = run(t, &a, &e);
    smtptap_flush(t);
    if (!a.quiet)
        summary(t, smtptap_config_get(c, "output_dir"), &a);
    running = NULL;
    if (smtptap_close(t, err, sizeof err) != 0) {
        fprintf(stderr, "smtptap: %s\n", err);
        rc = 1;
    }
    if (a.pidfile)
        remove(a.pidfile); /* best effort: after -Z the folder may not be ours */
    remove_scratch(&a);
    smtptap_config_free(c);
    free(a.bpf);
    return rc;
}
