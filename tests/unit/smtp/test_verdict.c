/*
 * test_verdict.c - the server's verdict decides (issue 9): a command changes
 * the transaction only when the server accepts it.
 *
 * The truth is the RFCs: RFC 5321 4.1.4 (only an accepted EHLO/HELO resets
 * the transaction in progress; RSET likewise, 4.1.1.5); RFC 3030 2 ("If a
 * 5XX or 4XX code is received by the sender-SMTP in response to any BDAT
 * chunk, the transaction should be considered failed"), which makes a BDAT
 * refused for its malformed size (Zeek's smtp-bdat-cmd-invalid: "521 5.5.4
 * Syntax: BDAT count [LAST]") the transaction's end: rejected, with that
 * refusal as its reply, even when the client then says QUIT. RFC 5321
 * 4.1.4 too: a MAIL refused inside a transaction ("503 sender already
 * given") neither ends it nor replaces its sender; 3.3: a refused DATA
 * leaves the envelope, and a later DATA may be accepted (Zeek's
 * smtp-mail-transactions-invalid, Exim's replies).
 */
#include "dialogue.h"

static const turn d_refused_ehlo[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("EHLO\r\n"),
    S("501 Syntax: EHLO hostname\r\n"),
    C("DATA\r\n"),
    S("354 End data with <CR><LF>.<CR><LF>\r\n"),
    C("Subject: x\r\n\r\nbody\r\n.\r\n"),
    S("250 2.0.0 Ok: queued as 4Xy\r\n"),
};

static void test_refused_ehlo_keeps_the_transaction(void **state)
{
    (void)state;
    rec r = {0};
    run(d_refused_ehlo, NT(d_refused_ehlo), &r);
    assert_int_equal(count(&r, "TX_END "), 1);
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 4Xy f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, "Subject: x\r\n\r\nbody\r\n");
    rec_free(&r);
    split_check(d_refused_ehlo, NT(d_refused_ehlo));
}

static const turn d_refused_rset[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRSET\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n421 4.3.0 not now\r\n"),
    C("DATA\r\n"),
    S("354 go\r\n"),
    C("hi\r\n.\r\n"),
    S("250 2.0.0 Ok\r\n"),
};

static void test_refused_rset_keeps_the_transaction(void **state)
{
    (void)state;
    rec r = {0};
    run(d_refused_rset, NT(d_refused_rset), &r);
    assert_int_equal(count(&r, "TX_END "), 1);
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok f=0 s=ACCEPTED");
    rec_free(&r);
    split_check(d_refused_rset, NT(d_refused_rset));
}

static const turn d_bad_bdat_then_quit[] = {
    EHLO_TURNS,
    C("MAIL FROM:<zeek@localhost>\r\nRCPT TO:<root@localhost>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("BDAT 1234 SCRAMBLE\r\n"),
    S("521 5.5.4 Syntax: BDAT count [LAST]\r\n"),
    C("QUIT\r\n"),
    S("221 2.0.0 Bye\r\n"),
};

static void test_refused_bdat_fails_the_transaction(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bad_bdat_then_quit, NT(d_bad_bdat_then_quit), &r);
    assert_has(&r, "ANOMALY v=bdat_invalid_size ");
    assert_has(&r, "DATA_BEGIN v=BDAT ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=521 t=521 5.5.4 Syntax: BDAT count [LAST] f=0 "
                   "s=REJECTED");
    assert_int_equal(count(&r, "TX_END "), 1);
    assert_has(&r, "COMMAND v=BDAT a=1234 SCRAMBLE ");
    rec_free(&r);
    split_check(d_bad_bdat_then_quit, NT(d_bad_bdat_then_quit));
}

static const turn d_exim_refusals[] = {
    EHLO_TURNS,
    C("MAIL FROM:<bob@example.org>\r\n"),
    S("250 OK\r\n"),
    C("DATA\r\n"),
    S("503 valid RCPT command must precede DATA\r\n"),
    C("MAIL FROM:<eve@example.org>\r\n"),
    S("503 sender already given\r\n"),
    C("RCPT TO:<alice@example.org>\r\n"),
    S("250 Accepted\r\n"),
    C("DATA\r\n"),
    S("354 Enter message, ending with \".\" on a line by itself\r\n"),
    C("Subject: s\r\n\r\nhi\r\n.\r\n"),
    S("250 OK id=1pgobM-001mwq-Vc\r\n"),
    C("MAIL FROM:<bob@example.org>\r\nDATA\r\n"), /* DATA ends a pipelined group */
    S("250 OK\r\n503 valid RCPT command must precede DATA\r\n"),
    C("QUIT\r\n"),
    S("221 closing\r\n"),
};

static void test_refused_mail_and_data_change_nothing(void **state)
{
    (void)state;
    rec r = {0};
    run(d_exim_refusals, NT(d_exim_refusals), &r);
    assert_int_equal(count(&r, "TX_END "), 2);
    assert_int_equal(count(&r, "MAIL v=MAIL a=bob@example.org "), 2);
    assert_false(has(&r, "MAIL v=MAIL a=eve@example.org "));
    assert_has(&r, "COMMAND v=MAIL a=eve@example.org p=~ u=~ c=503 ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 OK id=1pgobM-001mwq-Vc f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, "Subject: s\r\n\r\nhi\r\n");
    /* the second: DATA refused, then QUIT: rejected with the refusal */
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=503 t=503 valid RCPT command must precede DATA f=0 "
                   "s=REJECTED");
    rec_free(&r);
    split_check(d_exim_refusals, NT(d_exim_refusals));
}

/* The DATA command is lost in a hole; the server's 354 says it was sent.
 * The message that follows (its body holds command-like lines an attacker
 * chose) is a message, flagged as missing the lost bytes, never an
 * envelope. */
static const turn d_data_lost[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    CGAP(6), /* "DATA\r\n" */
    S("354 End data with <CR><LF>.<CR><LF>\r\n"),
    C("Subject: s\r\n\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<x@example.com>\r\n.\r\n"),
    S("250 2.0.0 Ok: queued as 4Xy\r\n"),
};

static void test_354_after_a_hole_is_data(void **state)
{
    (void)state;
    rec r = {0};
    run(d_data_lost, NT(d_data_lost), &r);
    assert_has(&r, "ANOMALY v=data_inferred ");
    assert_false(has(&r, "evil@example.com p=~ u=~ c="));
    assert_int_equal(count(&r, "TX_END "), 1);
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 4Xy f=0 s=ACCEPTED");
    assert_has(&r, "MSG_GAP v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=- g=6 ");
    ASSERT_MSG(&r, 0,
               "Subject: s\r\n\r\nMAIL FROM:<evil@example.com>\r\n"
               "RCPT TO:<x@example.com>\r\n");
    rec_free(&r);
}

/* The sender was refused: the server opened no transaction (RFC 5321
 * 4.1.1.2), so what follows is no accepted message, whatever 250 the end
 * of the content gets. */
static const turn d_mail_refused_then_data[] = {
    EHLO_TURNS,
    C("MAIL FROM:<spam@example.com>\r\n"),
    S("550 5.7.1 sender refused\r\n"),
    C("RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"),
    C("DATA\r\n"),
    S("354 go\r\n"),
    C("hi\r\n.\r\n"),
    S("250 2.0.0 Ok\r\n"),
};

static void test_refused_sender_is_no_accepted_message(void **state)
{
    (void)state;
    rec r = {0};
    run(d_mail_refused_then_data, NT(d_mail_refused_then_data), &r);
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok f=0 s=REJECTED");
    assert_false(has(&r, "s=ACCEPTED"));
    rec_free(&r);
    split_check(d_mail_refused_then_data, NT(d_mail_refused_then_data));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_ehlo_keeps_the_transaction),
        cmocka_unit_test(test_refused_rset_keeps_the_transaction),
        cmocka_unit_test(test_refused_bdat_fails_the_transaction),
        cmocka_unit_test(test_refused_mail_and_data_change_nothing),
        cmocka_unit_test(test_354_after_a_hole_is_data),
        cmocka_unit_test(test_refused_sender_is_no_accepted_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
