/*
 * addr.c - splitting a command line: verb, argument, MAIL/RCPT paths.
 *
 * Everything works in place on a NUL-terminated copy of the line and is
 * lenient the way servers are: any case, "FROM:<a>", "FROM: <a>",
 * "FROM:a", "FROM : <a>", the null path <>. A line that does not parse
 * still gives a path (possibly empty) and a -1 for the caller to flag.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_int.h"

static char *skip_sp(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Upper-cases the verb in place and cuts it off; returns the argument
 * after the blanks that follow it, or NULL when there is none. */
char *st_smtp_split_verb(char *s)
{
    char *e = s;
    while (*e && *e != ' ' && *e != '\t') {
        *e = (char)toupper((unsigned char)*e);
        e++;
    }
    if (!*e)
        return NULL;
    *e = 0;
    char *arg = skip_sp(e + 1);
    return *arg ? arg : NULL;
}

static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
}

/* The end of a <path>: the first '>' outside a quoted local part. */
static char *angle_end(char *s)
{
    int quoted = 0;
    for (; *s; s++) {
        if (*s == '\\' && quoted && s[1])
            s++;
        else if (*s == '"')
            quoted = !quoted;
        else if (*s == '>' && !quoted)
            return s;
    }
    return NULL;
}

/* Consumes "KW:" (any case, blanks around the colon); 0 when found. */
static int eat_keyword(char **s, const char *kw)
{
    size_t n = strlen(kw);
    if (strncasecmp(*s, kw, n) != 0)
        return -1;
    char *t = skip_sp(*s + n);
    if (*t != ':')
        return -1;
    *s = skip_sp(t + 1);
    return 0;
}

int st_smtp_parse_path(char *arg, const char *kw, const char **path, const char **params)
{
    static char empty[1];
    *path = empty;
    *params = NULL;
    if (!arg)
        return -1;
    char *s = arg;
    int rc = eat_keyword(&s, kw);
    char *end;
    if (*s == '<' && (end = angle_end(s + 1)) != NULL) {
        *path = s + 1;
        *end = 0;
        s = end + 1;
    } else {
        rc = *s == '<' ? -1 : rc;
        *path = s + (*s == '<');
        s += strcspn(s, " \t");
        if (*s)
            *s++ = 0;
    }
    s = skip_sp(s);
    rtrim(s);
    *params = *s ? s : NULL;
    return rc;
}
