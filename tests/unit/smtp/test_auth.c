/*
 * test_auth.c - the AUTH exchange (smtp/auth.c) when the server's 334
 * challenges were not captured (a one-sided capture: client bytes only).
 *
 * The truth is the mechanisms' definitions: LOGIN (draft-murchison-sasl-
 * login: the server asks "Username:" then "Password:", the client answers
 * each with one base64 line, so two lines without an initial response)
 * and PLAIN (RFC 4616: one message, authzid NUL authcid NUL passwd; RFC
 * 4954 4: without an initial response it comes as the one line after the
 * server's empty 334). The credentials are written here in base64:
 * "Ym9i" is "bob", "aHVudGVyMg==" is "hunter2", "AGJvYgBodW50ZXIy" is
 * "\0bob\0hunter2". A credential line is never a command, and no event
 * may carry the password in any form.
 */
#include <strings.h>

#include "dialogue.h"

static void no_credential(const rec *r)
{
    static const char *const secrets[] = {"hunter2", "aHVudGVyMg", "AGJvYgBodW50ZXIy"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        for (const char *c = r->log; c && *c; c++)
            if (strncasecmp(c, secrets[i], strlen(secrets[i])) == 0)
                fail_msg("credential %s leaked:\n%s", secrets[i], r->log);
    if (has(r, "unknown_command"))
        fail_msg("a credential line was read as a command:\n%s", r->log);
}

static const turn d_login_one_sided[] = {
    C("EHLO client.example.org\r\n"),
    C("AUTH LOGIN\r\n"),
    C("Ym9i\r\n"),         /* after "334 VXNlcm5hbWU6" (Username:), not captured */
    C("aHVudGVyMg==\r\n"), /* after "334 UGFzc3dvcmQ6" (Password:), not captured */
    C("MAIL FROM:<bob@example.org>\r\n"),
};

static void test_login_two_lines(void **state)
{
    (void)state;
    rec r = {0};
    run(d_login_one_sided, NT(d_login_one_sided), &r);
    assert_types(&r, "HELO AUTH MAIL TX_END");
    assert_has(&r, "AUTH v=AUTH a=LOGIN p=~ u=bob c=0 t=~ f=-1 ");
    assert_has(&r, "MAIL v=MAIL a=bob@example.org ");
    no_credential(&r);
    rec_free(&r);
    split_check(d_login_one_sided, NT(d_login_one_sided));
}

static const turn d_plain_one_sided[] = {
    C("EHLO client.example.org\r\n"),
    C("AUTH PLAIN\r\n"),
    C("AGJvYgBodW50ZXIy\r\n"), /* after "334 ", not captured */
    C("MAIL FROM:<bob@example.org>\r\n"),
};

static void test_plain_one_line(void **state)
{
    (void)state;
    rec r = {0};
    run(d_plain_one_sided, NT(d_plain_one_sided), &r);
    assert_types(&r, "HELO AUTH MAIL TX_END");
    assert_has(&r, "AUTH v=AUTH a=PLAIN p=~ u=bob c=0 t=~ f=-1 ");
    assert_has(&r, "MAIL v=MAIL a=bob@example.org ");
    no_credential(&r);
    rec_free(&r);
    split_check(d_plain_one_sided, NT(d_plain_one_sided));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_two_lines),
        cmocka_unit_test(test_plain_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
