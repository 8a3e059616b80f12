/*
 * test_reply.c - server replies (smtp/reply.c): multi-line assembly, the
 * banner, and matching a reply to the command it answers.
 *
 * The truth is RFC 5321 and the bytes each dialogue writes: the reply
 * grammar of 4.2 (a continuation line is the code and '-', its text
 * optional), which replies each command can get (4.2.3, 4.3.2: 354 only
 * answers DATA, 421 may answer any command), 3.1 (a 554 greeting instead
 * of 220, then 503 to every command but QUIT) and smtp.h's contract for
 * st_smtp_detected (a 220 banner and a client EHLO/HELO). Each dialogue
 * is also fed split at every byte and byte by byte (split_check).
 */
#include "dialogue.h"

/* After a gap (resync), the oldest command is still the first one a reply
 * may answer: a 421 to DATA is DATA's refusal, not a reply for nobody. The
 * RCPT line is lost (the capture missed it), so its 250 finds nothing
 * pending; its enhanced code 2.1.5 (RFC 3463: destination address valid)
 * says a RCPT was sent and accepted. */
static const turn d_421_to_data[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    CGAP(25), /* "RCPT TO:<b@example.net>\r\n" */
    S("250 2.1.5 Ok\r\n"),
    C("DATA\r\n"),
    S("421 4.3.2 mx.example.net Service shutting down, closing channel\r\n"),
};

static void test_4xx_to_data_after_gap(void **state)
{
    (void)state;
    rec r = {0};
    run(d_421_to_data, NT(d_421_to_data), &r);
    assert_has(&r, "DATA_BEGIN v=DATA a=~ p=~ u=~ c=421 t=421 4.3.2 mx.example.net Service "
                   "shutting down, closing channel ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=421 t=421 4.3.2 mx.example.net Service shutting "
                   "down, closing channel f=0 s=REJECTED");
    /* the lost RCPT is inferred, not listed: its address was never seen */
    assert_false(has(&r, "unmatched_reply"));
    assert_int_equal(count(&r, "ANOMALY v=command_inferred a=RCPT "), 1);
    assert_false(has(&r, "RCPT v="));
    assert_false(has(&r, "data_without_rcpt")); /* the inferred RCPT was accepted */
    assert_int_equal(r.nmsg, 1);
    ASSERT_MSG(&r, 0, ""); /* DATA was refused: no content */
    rec_free(&r);
    split_check(d_421_to_data, NT(d_421_to_data));
}

/* PIPELINING (RFC 2920): MAIL, RCPT and DATA in one go. The reply to RCPT
 * is lost; the 354 can only be DATA's (the command right after RCPT), so
 * RCPT is reported with no reply and DATA gets its 354. */
static const turn d_lost_rcpt_reply[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
    S("250 2.1.0 Ok\r\n"),
    SGAP(14), /* "250 2.1.5 Ok\r\n" */
    S("354 End data with <CR><LF>.<CR><LF>\r\n"),
    C("Subject: t\r\n\r\nhi\r\n.\r\n"),
    S("250 2.0.0 Ok: queued as 4A1\r\n"),
};

static void test_resync_second_pending(void **state)
{
    (void)state;
    rec r = {0};
    run(d_lost_rcpt_reply, NT(d_lost_rcpt_reply), &r);
    assert_types(&r, "BANNER HELO MAIL ANOMALY RCPT DATA_BEGIN MSG_DATA MSG_END TX_END");
    assert_has(&r, "ANOMALY v=reply_lost a=RCPT ");
    assert_has(&r, "MAIL v=MAIL a=a@example.org p=~ u=~ c=250 t=250 2.1.0 Ok ");
    assert_has(&r, "RCPT v=RCPT a=b@example.net p=~ u=~ c=0 t=~ f=-1 ");
    assert_has(&r, "DATA_BEGIN v=DATA a=~ p=~ u=~ c=354 t=354 End data with <CR><LF>.<CR><LF> ");
    assert_has(&r, "c=250 t=250 2.0.0 Ok: queued as 4A1 f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, "Subject: t\r\n\r\nhi\r\n");
    assert_false(has(&r, "unmatched_reply"));
    rec_free(&r);
    split_check(d_lost_rcpt_reply, NT(d_lost_rcpt_reply));
}

/* RFC 5321 3.1: a 554 greeting instead of 220; the server then answers
 * every command but QUIT with 503. The client spoke before the greeting
 * arrived, so EHLO is pending when the 554 comes: the 554 is still the
 * banner, and EHLO's reply is the 503. */
static const turn d_554_banner[] = {
    C("EHLO client.example.org\r\n"),
    S("554 5.3.2 mx.example.net No SMTP service here\r\n"),
    S("503 5.5.1 Error: bad sequence of commands\r\n"),
    C("QUIT\r\n"),
    S("221 2.0.0 Bye\r\n"),
};

static void test_554_banner_with_command_waiting(void **state)
{
    (void)state;
    rec r = {0};
    run(d_554_banner, NT(d_554_banner), &r);
    assert_types(&r, "BANNER HELO COMMAND");
    assert_has(&r, "BANNER v=~ a=~ p=~ u=~ c=554 t=554 5.3.2 mx.example.net No SMTP service here ");
    assert_has(&r, "HELO v=EHLO a=client.example.org p=~ u=~ c=503 t=503 5.5.1 Error: bad "
                   "sequence of commands ");
    assert_has(&r, "COMMAND v=QUIT a=~ p=~ u=~ c=221 t=221 2.0.0 Bye ");
    rec_free(&r);
    split_check(d_554_banner, NT(d_554_banner));
}

/* smtp.h: detected once a 220 banner and a client EHLO/HELO were both seen.
 * A 554 greeting is not that banner; a 220 one is. */
static void test_detection_needs_220(void **state)
{
    (void)state;
    rec r = {0};
    st_smtp *p = st_smtp_new(NULL, on_event, &r);
    assert_non_null(p);
    FEEDS(p, ST_DIR_SERVER, "554 5.3.2 mx.example.net No SMTP service here\r\n");
    FEEDS(p, ST_DIR_CLIENT, "EHLO client.example.org\r\n");
    assert_int_equal(st_smtp_detected(p), 0);
    FEEDS(p, ST_DIR_SERVER, "503 5.5.1 Error: bad sequence of commands\r\n");
    assert_int_equal(st_smtp_detected(p), 0);
    st_smtp_finish(p);
    st_smtp_free(p);
    assert_has(&r, "BANNER v=~ a=~ p=~ u=~ c=554 ");
    rec_free(&r);

    p = st_smtp_new(NULL, on_event, &r);
    assert_non_null(p);
    FEEDS(p, ST_DIR_SERVER, "220 mx.example.net ESMTP\r\n");
    assert_int_equal(st_smtp_detected(p), 0);
    FEEDS(p, ST_DIR_CLIENT, "EHLO client.example.org\r\n");
    assert_int_equal(st_smtp_detected(p), 1); /* before EHLO's reply */
    st_smtp_finish(p);
    st_smtp_free(p);
    rec_free(&r);
}

/* RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 * Reply-code [ SP textstring ] CRLF. "250-" alone continues the reply. */
static const turn d_bare_continuation[] = {
    S("220 mx.example.net ESMTP\r\n"),
    C("EHLO client.example.org\r\n"),
    S("250-mx.example.net\r\n250-\r\n250 8BITMIME\r\n"),
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
};

static void test_bare_continuation_line(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bare_continuation, NT(d_bare_continuation), &r);
    assert_types(&r, "BANNER HELO MAIL TX_END");
    assert_has(&r, "HELO v=EHLO a=client.example.org p=~ u=~ c=250 "
                   "t=250-mx.example.net\\n250-\\n250 8BITMIME f=0 s=- g=0 x=|8BITMIME\n");
    assert_has(&r, "MAIL v=MAIL a=a@example.org p=~ u=~ c=250 t=250 2.1.0 Ok ");
    assert_false(has(&r, "ANOMALY"));
    rec_free(&r);
    split_check(d_bare_continuation, NT(d_bare_continuation));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_4xx_to_data_after_gap),
        cmocka_unit_test(test_resync_second_pending),
        cmocka_unit_test(test_554_banner_with_command_waiting),
        cmocka_unit_test(test_detection_needs_220),
        cmocka_unit_test(test_bare_continuation_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
