/*
 * test_emit.c - the transaction's status at its end (smtp/emit.c).
 *
 * The truth is smtp.h's statuses and the RFCs behind them: REJECTED when
 * the server refused the envelope or the message, "or no accepted RCPT"
 * (RFC 5321 3.3: a transaction with no accepted recipient delivers to
 * nobody, whatever ends it); RFC 3030 2: "If a 5XX or 4XX code is received
 * by the sender-SMTP in response to any BDAT chunk, the transaction should
 * be considered failed", so a later 250 to BDAT LAST does not accept it.
 * ABORTED is for a transaction the client gave up (RSET) while some
 * recipient was accepted.
 */
#include "dialogue.h"

static const turn d_all_rcpts_refused[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody@example.net>\r\n"
      "RCPT TO:<noone@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n550 5.1.1 <nobody@example.net>: Recipient address rejected\r\n"
      "550 5.1.1 <noone@example.net>: Recipient address rejected\r\n"),
    C("RSET\r\n"),
    S("250 2.0.0 Ok\r\n"),
};

static const turn d_one_rcpt_accepted[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody@example.net>\r\n"
      "RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n550 5.1.1 <nobody@example.net>: Recipient address rejected\r\n"
      "250 2.1.5 Ok\r\n"),
    C("RSET\r\n"),
    S("250 2.0.0 Ok\r\n"),
};

static void test_all_rcpts_refused_is_rejected(void **state)
{
    (void)state;
    rec r = {0};
    run(d_all_rcpts_refused, NT(d_all_rcpts_refused), &r);
    assert_types(&r, "BANNER HELO MAIL RCPT RCPT TX_END COMMAND");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok f=0 s=REJECTED g=0 x=\n"
                   "COMMAND v=RSET ");
    rec_free(&r);
    split_check(d_all_rcpts_refused, NT(d_all_rcpts_refused));

    rec q = {0};
    run(d_one_rcpt_accepted, NT(d_one_rcpt_accepted), &q);
    assert_types(&q, "BANNER HELO MAIL RCPT RCPT TX_END COMMAND");
    assert_has(&q, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok f=0 s=ABORTED g=0 x=\n"
                   "COMMAND v=RSET ");
    rec_free(&q);
}

/* Two chunks pipelined, as RFC 3030's examples do; the first is refused,
 * the server still says 250 to the last one. */
static const turn d_bdat_chunk_refused[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("BDAT 5\r\nhelloBDAT 7 LAST\r\n world\n"),
    S("452 4.3.1 Insufficient system storage\r\n250 2.0.0 Ok: 12 octets\r\n"),
};

static void test_final_250_after_refused_chunk(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bdat_chunk_refused, NT(d_bdat_chunk_refused), &r);
    assert_types(&r, "BANNER HELO MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END");
    ASSERT_MSG(&r, 0, "hello world\n");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: 12 octets f=0 s=REJECTED");
    assert_false(has(&r, "s=ACCEPTED"));
    rec_free(&r);
    split_check(d_bdat_chunk_refused, NT(d_bdat_chunk_refused));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_rcpts_refused_is_rejected),
        cmocka_unit_test(test_final_250_after_refused_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
