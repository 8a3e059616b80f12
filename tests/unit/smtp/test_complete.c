/*
 * test_complete.c - a command and its reply become events (smtp/complete.c):
 * EHLO keywords, AUTH success, the transaction a MAIL refusal or a STARTTLS
 * leaves behind.
 *
 * The truth is the RFCs and the bytes each dialogue writes: only the EHLO
 * (and LMTP's LHLO) response lists service extensions (RFC 5321 4.1.1.1,
 * RFC 2033 4.1), a HELO response is a greeting; a 4xx to AUTH is a failure
 * (RFC 4954 6: 454 "Temporary authentication failure", 432 "A password
 * transition is needed"); after a 220 to STARTTLS "the SMTP protocol is
 * reset to the initial state" (RFC 3207 4.2), so an open transaction is
 * gone; and smtp.h's statuses (REJECTED when MAIL was refused).
 */
#include "dialogue.h"

#define BANNER S("220 mx.example.net ESMTP\r\n")

static const turn d_helo_multiline[] = {
    BANNER,
    C("HELO client.example.org\r\n"),
    S("250-mx.example.net Hello client.example.org\r\n250 PIPELINING\r\n"),
    C("LHLO client.example.org\r\n"),
    S("250-mx.example.net\r\n250 PIPELINING\r\n"),
};

static void test_helo_reply_has_no_extensions(void **state)
{
    (void)state;
    rec r = {0};
    run(d_helo_multiline, NT(d_helo_multiline), &r);
    assert_types(&r, "BANNER HELO HELO");
    assert_has(&r, "HELO v=HELO a=client.example.org p=~ u=~ c=250 t=250-mx.example.net Hello "
                   "client.example.org\\n250 PIPELINING f=0 s=- g=0 x=\n");
    assert_has(&r, "HELO v=LHLO a=client.example.org p=~ u=~ c=250 t=250-mx.example.net\\n"
                   "250 PIPELINING f=0 s=- g=0 x=PIPELINING\n");
    rec_free(&r);
    split_check(d_helo_multiline, NT(d_helo_multiline));
}

static const turn d_auth_4xx[] = {
    EHLO_TURNS,
    C("AUTH PLAIN AGJvYgBodW50ZXIy\r\n"),
    S("454 4.7.0 Temporary authentication failure\r\n"),
    C("AUTH LOGIN Ym9i\r\n"),
    S("334 UGFzc3dvcmQ6\r\n"),
    C("aHVudGVyMg==\r\n"),
    S("432 4.7.12 A password transition is needed\r\n"),
    C("QUIT\r\n"),
    S("221 2.0.0 Bye\r\n"),
};

static void test_auth_4xx_is_failure(void **state)
{
    (void)state;
    rec r = {0};
    run(d_auth_4xx, NT(d_auth_4xx), &r);
    assert_types(&r, "BANNER HELO AUTH AUTH COMMAND");
    assert_has(&r, "AUTH v=AUTH a=PLAIN p=~ u=bob c=454 t=454 4.7.0 Temporary authentication "
                   "failure f=0 ");
    assert_has(&r, "AUTH v=AUTH a=LOGIN p=~ u=bob c=432 t=432 4.7.12 A password transition is "
                   "needed f=0 ");
    assert_false(has(&r, "hunter2"));
    assert_false(has(&r, "aHVudGVyMg"));
    rec_free(&r);
    split_check(d_auth_4xx, NT(d_auth_4xx));
}

/* A refused MAIL leaves a refused transaction, whatever ends it. */
static const turn d_mail_refused[] = {
    EHLO_TURNS,
    C("MAIL FROM:<spammer@example.com>\r\n"),
    S("550 5.7.1 <spammer@example.com>: Sender address rejected: Access denied\r\n"),
    C("QUIT\r\n"),
    S("221 2.0.0 Bye\r\n"),
};

static const turn d_mail_refused_retry[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("451 4.3.0 <a@example.org>: Temporary lookup failure\r\n"),
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RSET\r\n"),
    S("250 2.0.0 Ok\r\n"),
};

static void test_mail_refusal_rejects(void **state)
{
    (void)state;
    rec r = {0};
    run(d_mail_refused, NT(d_mail_refused), &r);
    assert_types(&r, "BANNER HELO MAIL TX_END COMMAND");
    assert_has(&r, "MAIL v=MAIL a=spammer@example.com p=~ u=~ c=550 ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=221 t=221 2.0.0 Bye f=0 s=REJECTED");
    rec_free(&r);
    split_check(d_mail_refused, NT(d_mail_refused));

    /* the first MAIL's transaction ends at the second MAIL, refused; the
     * second one, accepted, is abandoned at RSET */
    rec q = {0};
    run(d_mail_refused_retry, NT(d_mail_refused_retry), &q);
    assert_types(&q, "BANNER HELO MAIL TX_END MAIL TX_END COMMAND");
    assert_has(&q, "TX_END v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=REJECTED g=0 x=\n"
                   "MAIL v=MAIL a=a@example.org p=~ u=~ c=250 ");
    assert_has(&q, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok f=0 s=ABORTED g=0 x=\n"
                   "COMMAND v=RSET ");
    rec_free(&q);
}

/* A TLS 1.2 ClientHello record header, then the start of its body. */
#define CLIENT_HELLO "\x16\x03\x01\x00\x3a\x01\x00\x00\x36\x03\x03"

static const turn d_starttls_in_tx[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"),
    C("STARTTLS\r\n"),
    S("220 2.0.0 Ready to start TLS\r\n"),
    C(CLIENT_HELLO),
};

static void test_starttls_forgets_transaction(void **state)
{
    (void)state;
    rec r = {0};
    run(d_starttls_in_tx, NT(d_starttls_in_tx), &r);
    assert_types(&r, "BANNER HELO MAIL RCPT TX_END STARTTLS TLS");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=220 t=220 2.0.0 Ready to start TLS f=0 s=ABORTED");
    assert_has(&r, "STARTTLS v=~ a=~ p=~ u=~ c=220 t=220 2.0.0 Ready to start TLS f=1 ");
    assert_has(&r, "TLS v=~ a=~ p=~ u=~ c=0 t=~ f=1 ");
    rec_free(&r);
    split_check(d_starttls_in_tx, NT(d_starttls_in_tx));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_helo_reply_has_no_extensions),
        cmocka_unit_test(test_auth_4xx_is_failure),
        cmocka_unit_test(test_mail_refusal_rejects),
        cmocka_unit_test(test_starttls_forgets_transaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
