/*
 * fit.c - which commands a reply can answer, and which command a reply
 * proves the client sent.
 *
 * RFC 5321 4.3.2 lists the replies of each command; with the enhanced
 * status codes of RFC 3463 (sent first on the reply line by Postfix,
 * Exim with them on, Sendmail, Exchange and Gmail alike) a success also
 * says what it is about. The rules, strongest first:
 *   - 354 answers DATA only; 334 and 235 AUTH only; 220 STARTTLS (or is
 *     the greeting); 221 QUIT, or a command the server closes on (Postfix
 *     answers a forbidden command with 221 2.7.0);
 *   - a success answers neither DATA (354 comes first), AUTH, STARTTLS
 *     nor QUIT, which have their own codes;
 *   - a success with an X.1.X enhanced code (address status) answers
 *     MAIL, RCPT or VRFY/EXPN (ST_K_OTHER), never the end of a message;
 *   - a success that says "queued" or has an X.6.X code (message content)
 *     ends a message: the final dot or a BDAT;
 *   - a refusal (4xx, 5xx) may answer any command.
 * A reply line with no enhanced code constrains only by its code.
 *
 * Entry points: st_smtp_reply_fits, st_smtp_reply_implies.
 *
 * Not handled: the order of recipients when a refusal names none (two
 * RCPTs, one reply lost: which one it was is not in the bytes).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_int.h"

/* The subject of the enhanced code after the reply code (RFC 3463:
 * class "." subject "." detail, class equal to the code's first digit);
 * -1 when there is none. *detail gets the detail. */
static int enhanced(const st_smtp_reply *r, int *detail)
{
    const char *s = r->text;
    int v[3] = {0, 0, 0};
    if (!s || strlen(s) < 4 || (s[3] != ' ' && s[3] != '-'))
        return -1;
    s += 4;
    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        for (; n < 3 && isdigit((unsigned char)s[n]); n++)
            v[i] = v[i] * 10 + (s[n] - '0');
        if (n == 0 || (i < 2 && s[n] != '.'))
            return -1;
        s += n + (i < 2);
    }
    if ((*s != 0 && *s != ' ' && *s != '\n') || v[0] != r->code / 100)
        return -1;
    *detail = v[2];
    return v[1];
}

/* "queued" in the first line: the words of a final reply (Postfix
 * "queued as", Sendmail "Message accepted for delivery" has X.0.0, Exim
 * "OK id=" has none: it constrains nothing). */
static int says_queued(const st_smtp_reply *r)
{
    const char *s = r->text;
    size_t n = s ? strcspn(s, "\n") : 0;
    for (size_t i = 0; i + 6 <= n; i++)
        if (strncasecmp(s + i, "queued", 6) == 0)
            return 1;
    return 0;
}

static int success_fits(int kind, const st_smtp_reply *r)
{
    int detail, subject = enhanced(r, &detail);
    if (kind == ST_K_DATA || kind == ST_K_AUTH || kind == ST_K_STARTTLS || kind == ST_K_QUIT)
        return 0;
    if (subject == 1)
        return kind == ST_K_MAIL || kind == ST_K_RCPT || kind == ST_K_OTHER;
    if (subject == 6 || says_queued(r))
        return kind == ST_K_DATA_END || kind == ST_K_BDAT;
    return 1;
}

int st_smtp_reply_fits(int kind, const st_smtp_reply *r)
{
    switch (r->code) {
    case 354:
        return kind == ST_K_DATA;
    case 334:
    case 235:
        return kind == ST_K_AUTH;
    case 220:
        return kind == ST_K_STARTTLS;
    case 221:
        return kind == ST_K_QUIT || kind == ST_K_OTHER;
    default:
        break;
    }
    if (r->code >= 400)
        return 1;
    if (r->code >= 200 && r->code < 300)
        return success_fits(kind, r);
    return kind != ST_K_DATA;
}

/* The command a success proves was sent when no pending one can have
 * earned it: a 354 a DATA, the end of a message while BDAT chunks were
 * coming the BDAT LAST, an address success a MAIL (no transaction
 * open, or detail 0 of RFC 3463 "other address status", which MTAs give
 * to MAIL) or a RCPT (detail 5, "destination address valid"), a 221 a
 * QUIT. -1 when the reply does not say. */
/* A success that says a message ended ("queued", X.6.X). */
int st_smtp_reply_ends_message(const st_smtp_reply *r)
{
    int detail;
    return r->code >= 200 && r->code < 300 && (enhanced(r, &detail) == 6 || says_queued(r));
}

int st_smtp_reply_implies(const st_smtp *p, const st_smtp_reply *r)
{
    int detail = 0, subject = enhanced(r, &detail);
    if (r->code == 354)
        return ST_K_DATA;
    if (p->bdat_open && st_smtp_reply_ends_message(r))
        return ST_K_BDAT; /* the lost command was the BDAT ... LAST */
    if (r->code == 221)
        return ST_K_QUIT;
    if (r->code < 200 || r->code >= 300 || subject != 1)
        return -1;
    return detail == 0 && !p->tx.open ? ST_K_MAIL : ST_K_RCPT;
}
