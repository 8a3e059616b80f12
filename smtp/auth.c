/*
 * auth.c - AUTH: the mechanism, the user name, the exchange lines.
 *
 * The user is decoded from PLAIN (authzid NUL authcid NUL password: the
 * authcid, or the authzid when it is empty) and LOGIN (the first base64
 * line). The password is decoded into the work buffer only to find where
 * the user name ends, then wiped; it is never kept, queued or emitted.
 * The user name has its own buffer from its line to the end of the AUTH,
 * then it is wiped and freed; the work buffer shrinks back after the
 * decoding. With no memory for either, there is no user name.
 * Which client lines belong to the exchange: one per 334 reply seen, and
 * for PLAIN and LOGIN as many as the mechanism needs even when the 334s
 * were not captured. A line that does not decode gives no user and an
 * anomaly.
 */
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "smtp/smtp_int.h"

static int mech_of(const char *m, size_t n)
{
    if (n == 5 && strncasecmp(m, "PLAIN", 5) == 0)
        return ST_MECH_PLAIN;
    if (n == 5 && strncasecmp(m, "LOGIN", 5) == 0)
        return ST_MECH_LOGIN;
    return ST_MECH_OTHER;
}

/* Base64 into p->work; returns the decoded length, -1 for bad base64,
 * -2 for no memory. */
static long b64_decode(st_smtp *p, const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 1 && s[0] == '=')
        return 0; /* RFC 4954: an empty initial response */
    if (n == 0 || n % 4 != 0 || n > st_smtp_work_max(p) / 4 * 3 || n > 0x7fffffff)
        return -1;
    if (!st_smtp_work(p, n / 4 * 3))
        return -2;
    int len = EVP_DecodeBlock((unsigned char *)p->work, (const unsigned char *)s, (int)n);
    if (len < 0)
        return -1;
    len -= (s[n - 1] == '=') + (s[n - 2] == '=');
    return len;
}

static void set_user(st_smtp *p, const char *u, size_t n)
{
    st_smtp_buf_release(&p->user, &p->user_cap);
    p->auth.has_user = 0;
    if (st_smtp_buf_reserve(&p->user, &p->user_cap, n + 1, n + 1) != 0)
        return;
    memcpy(p->user, u, n);
    p->user[n] = 0;
    p->auth.has_user = 1;
}

/* The user name in decoded PLAIN or LOGIN data. */
static void user_from(st_smtp *p, const char *d, size_t len)
{
    const char *nul1 = memchr(d, 0, len);
    if (p->auth.mech == ST_MECH_LOGIN) {
        set_user(p, d, nul1 ? (size_t)(nul1 - d) : len);
        return;
    }
    const char *c = nul1 ? nul1 + 1 : NULL;
    const char *nul2 = c ? memchr(c, 0, len - (size_t)(c - d)) : NULL;
    if (!nul2)
        st_smtp_anomaly(p, "auth_plain_malformed", NULL);
    else if (nul2 > c)
        set_user(p, c, (size_t)(nul2 - c));
    else
        set_user(p, d, (size_t)(nul1 - d));
}

/* Whatever was decoded (a password too) is wiped, whether it parsed or not. */
static void decode_user(st_smtp *p, const char *s, size_t n)
{
    long len = b64_decode(p, s, n);
    if (len == -1)
        st_smtp_anomaly(p, "auth_bad_base64", NULL);
    else if (len >= 0)
        user_from(p, p->work, (size_t)len);
    explicit_bzero(p->work, p->work_cap);
    st_smtp_work_trim(p);
}

void st_smtp_auth_start(st_smtp *p, const char *arg)
{
    st_smtp_auth *a = &p->auth;
    size_t ml = strcspn(arg, " \t");
    const char *ir = arg + ml;
    ir += strspn(ir, " \t");
    memset(a, 0, sizeof(*a));
    a->open = 1;
    a->mech = mech_of(arg, ml);
    a->ir = *ir != 0;
    if (a->ir && a->mech != ST_MECH_OTHER)
        decode_user(p, ir, strlen(ir));
}

static int expected_lines(const st_smtp_auth *a)
{
    if (a->mech == ST_MECH_LOGIN)
        return a->ir ? 1 : 2;
    if (a->mech == ST_MECH_PLAIN)
        return a->ir ? 0 : 1;
    return 0;
}

int st_smtp_auth_is_line(const st_smtp *p)
{
    const st_smtp_auth *a = &p->auth;
    if (!a->open || a->cancel)
        return 0;
    return a->lines < a->n334 || a->lines < expected_lines(a);
}

void st_smtp_auth_line(st_smtp *p, const char *line, size_t len)
{
    st_smtp_auth *a = &p->auth;
    a->lines++;
    if (len == 1 && line[0] == '*') {
        a->cancel = 1;
        return;
    }
    if (a->lines == 1 && !a->ir && !a->has_user && a->mech != ST_MECH_OTHER)
        decode_user(p, line, len);
}

void st_smtp_auth_done(st_smtp *p)
{
    memset(&p->auth, 0, sizeof(p->auth));
    st_smtp_buf_release(&p->user, &p->user_cap);
}
