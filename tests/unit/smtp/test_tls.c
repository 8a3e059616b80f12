/*
 * test_tls.c - what follows STARTTLS (smtp/tls.c).
 *
 * The truth is RFC 3207 and the bytes each dialogue writes: after a
 * refusal (454 "TLS not available due to temporary reason", RFC 3207 4)
 * the session goes on in plaintext, and smtp.h says the TLS event then
 * comes with flag 0 (plaintext followed) once the STARTTLS reply is known,
 * whatever it was (docs/record.md: starttls.encrypted false). A TLS record
 * header after a 220 (RFC 5246 6.2.1: 0x16, version 0x03 0x0n) is flag 1.
 */
#include "dialogue.h"

static const turn d_refused_then_plain[] = {
    EHLO_TURNS,
    C("STARTTLS\r\n"),
    S("454 4.7.0 TLS not available due to local problem\r\n"),
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"),
    C("clear\r\n.\r\n"),
    S("250 2.0.0 Ok: queued as 3C\r\n"),
};

static void test_refused_starttls_then_plaintext(void **state)
{
    (void)state;
    rec r = {0};
    run(d_refused_then_plain, NT(d_refused_then_plain), &r);
    assert_types(&r, "BANNER HELO STARTTLS TLS MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END");
    assert_has(&r, "STARTTLS v=~ a=~ p=~ u=~ c=454 t=454 4.7.0 TLS not available due to local "
                   "problem f=0 ");
    assert_has(&r, "TLS v=~ a=~ p=~ u=~ c=0 t=~ f=0 ");
    ASSERT_MSG(&r, 0, "clear\r\n");
    assert_has(&r, "c=250 t=250 2.0.0 Ok: queued as 3C f=0 s=ACCEPTED");
    rec_free(&r);
    split_check(d_refused_then_plain, NT(d_refused_then_plain));
}

/* The client's TLS bytes arrive before the server's 220 is captured: the
 * TLS event waits for the reply, so it comes after STARTTLS. */
static const turn d_tls_before_reply[] = {
    EHLO_TURNS,
    C("STARTTLS\r\n"),
    C("\x16\x03\x01\x00\x3a\x01\x00\x00\x36\x03\x03"),
    S("220 2.0.0 Ready to start TLS\r\n"),
};

static void test_tls_event_after_reply(void **state)
{
    (void)state;
    rec r = {0};
    run(d_tls_before_reply, NT(d_tls_before_reply), &r);
    assert_types(&r, "BANNER HELO STARTTLS TLS");
    assert_has(&r, "STARTTLS v=~ a=~ p=~ u=~ c=220 t=220 2.0.0 Ready to start TLS f=1 ");
    assert_has(&r, "TLS v=~ a=~ p=~ u=~ c=0 t=~ f=1 ");
    rec_free(&r);
    split_check(d_tls_before_reply, NT(d_tls_before_reply));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_starttls_then_plaintext),
        cmocka_unit_test(test_tls_event_after_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
