/*
 * test_resync.c - a reply says what the client sent (issue 9): after a
 * hole, replies are paired by what they can answer, a lost reply or a lost
 * command is inferred and flagged, and a BDAT whose count the server's
 * reply contradicts is cut where the server says.
 *
 * The truth is RFC 5321 4.3.2 (the replies each command can get: 354 only
 * DATA, 221 QUIT, 235/334 AUTH, 220 the greeting or STARTTLS), RFC 3463
 * (enhanced codes: X.1.X is address status, so MAIL or RCPT; X.1.0 "other
 * address status" is what Postfix, Sendmail, Exchange and Gmail give MAIL,
 * X.1.5 "destination address valid" what they give RCPT; X.6.X message
 * content), RFC 3030 2 (the server answers a BDAT once it has its octets)
 * and the bytes each dialogue writes. Every dialogue is also fed split at
 * every byte and byte by byte (split_check).
 */
#include "dialogue.h"

#define BODY "Subject: t\r\n\r\nhi\r\n"

/* The EHLO reply is lost; the client (no PIPELINING) sent MAIL after it.
 * "250 2.1.0" is an address status: MAIL's, not EHLO's. */
static const turn d_lost_ehlo_reply[] = {
    S("220 mx.example.net ESMTP\r\n"),
    C("EHLO c.example.org\r\n"),
    SGAP(40),
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"),
    C("DATA\r\n"),
    S("354 go\r\n"),
    C(BODY ".\r\n"),
    S("250 2.0.0 Ok: queued as 1A\r\n"),
};

static void test_lost_ehlo_reply(void **state)
{
    (void)state;
    rec r = {0};
    run(d_lost_ehlo_reply, NT(d_lost_ehlo_reply), &r);
    assert_has(&r, "ANOMALY v=reply_lost a=EHLO ");
    assert_has(&r, "HELO v=EHLO a=c.example.org p=~ u=~ c=0 ");
    assert_has(&r, "MAIL v=MAIL a=a@example.org p=~ u=~ c=250 t=250 2.1.0 Ok ");
    assert_has(&r, "RCPT v=RCPT a=b@example.net p=~ u=~ c=250 t=250 2.1.5 Ok f=1 ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 1A f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, BODY);
    rec_free(&r);
    split_check(d_lost_ehlo_reply, NT(d_lost_ehlo_reply));
}

/* The packet holding a pipelined MAIL, RCPT and DATA is lost: three
 * replies say what it held. The sender and recipient are unknown, the
 * server accepted both, and the message it queued is what follows the
 * 354, flagged as missing the lost bytes. */
static const turn d_lost_group[] = {
    EHLO_TURNS,
    CGAP(58), /* "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n" */
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
    C(BODY ".\r\n"),
    S("250 2.0.0 Ok: queued as 2B\r\n"),
};

static void test_lost_pipelined_group(void **state)
{
    (void)state;
    rec r = {0};
    run(d_lost_group, NT(d_lost_group), &r);
    assert_has(&r, "ANOMALY v=command_inferred a=MAIL ");
    assert_has(&r, "MAIL v=MAIL a=~ p=~ u=~ c=250 t=250 2.1.0 Ok ");
    assert_has(&r, "ANOMALY v=command_inferred a=RCPT ");
    assert_has(&r, "ANOMALY v=data_inferred ");
    assert_false(has(&r, "unmatched_reply"));
    assert_false(has(&r, "data_without_rcpt"));
    assert_has(&r, "MSG_GAP v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=- g=58 ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 2B f=0 s=ACCEPTED");
    assert_int_equal(count(&r, "TX_END "), 1);
    ASSERT_MSG(&r, 0, BODY);
    rec_free(&r);
    split_check(d_lost_group, NT(d_lost_group));
}

/* The only RCPT was lost and refused: a refusal says nothing of which
 * command it answers, so it stays unmatched, and the transaction is not
 * called rejected for want of a recipient it never saw refused. */
static const turn d_lost_refused_rcpt[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    CGAP(25),
    S("550 5.1.1 <b@example.net>: Recipient address rejected\r\n"),
    C("QUIT\r\n"),
    S("221 2.0.0 Bye\r\n"),
};

static void test_lost_refused_rcpt(void **state)
{
    (void)state;
    rec r = {0};
    run(d_lost_refused_rcpt, NT(d_lost_refused_rcpt), &r);
    assert_has(&r, "ANOMALY v=unmatched_reply a=550 5.1.1");
    assert_false(has(&r, "command_inferred"));
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=221 t=221 2.0.0 Bye f=0 s=ABORTED");
    rec_free(&r);
    split_check(d_lost_refused_rcpt, NT(d_lost_refused_rcpt));
}

/* The 250 after the final dot is lost; the 221 can only be QUIT's. The
 * message's fate is unknown: incomplete, never accepted by guess. */
static const turn d_lost_final_reply[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"),
    C("DATA\r\n"),
    S("354 go\r\n"),
    C(BODY ".\r\nQUIT\r\n"),
    SGAP(30),
    S("221 2.0.0 Bye\r\n"),
};

static void test_lost_final_reply(void **state)
{
    (void)state;
    rec r = {0};
    run(d_lost_final_reply, NT(d_lost_final_reply), &r);
    assert_has(&r, "ANOMALY v=reply_lost a=end of data ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=INCOMPLETE");
    assert_has(&r, "COMMAND v=QUIT a=~ p=~ u=~ c=221 t=221 2.0.0 Bye ");
    assert_false(has(&r, "s=ACCEPTED"));
    ASSERT_MSG(&r, 0, BODY);
    rec_free(&r);
    split_check(d_lost_final_reply, NT(d_lost_final_reply));
}

/* QUIT itself is lost: its 221 says it was sent. */
static const turn d_lost_quit[] = {
    EHLO_TURNS, C("NOOP\r\n"), S("250 2.0.0 Ok\r\n"), CGAP(6), S("221 2.0.0 Bye\r\n"),
};

static void test_lost_quit(void **state)
{
    (void)state;
    rec r = {0};
    run(d_lost_quit, NT(d_lost_quit), &r);
    assert_has(&r, "ANOMALY v=command_inferred a=QUIT ");
    assert_has(&r, "COMMAND v=QUIT a=~ p=~ u=~ c=221 t=221 2.0.0 Bye ");
    assert_false(has(&r, "unmatched_reply"));
    rec_free(&r);
    split_check(d_lost_quit, NT(d_lost_quit));
}

/* Two RCPTs pipelined, the reply of the first lost: "queued" cannot be a
 * RCPT's, so the reply after the data end is not taken by the second RCPT
 * (pairing by position would give it the final verdict). */
static const turn d_queued_skips_rcpt[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\n"
      "DATA\r\n"),
    S("250 2.1.0 Ok\r\n"),
    SGAP(28), /* both RCPT replies */
    S("354 go\r\n"),
    C(BODY ".\r\n"),
    S("250 2.0.0 Ok: queued as 3C\r\n"),
};

static void test_354_and_queued_pair_by_meaning(void **state)
{
    (void)state;
    rec r = {0};
    run(d_queued_skips_rcpt, NT(d_queued_skips_rcpt), &r);
    assert_int_equal(count(&r, "ANOMALY v=reply_lost a=RCPT "), 2);
    assert_int_equal(count(&r, "c=0 t=~ f=-1 "), 2); /* both RCPTs: no reply seen */
    assert_has(&r, "DATA_BEGIN v=DATA a=~ p=~ u=~ c=354 t=354 go ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 3C f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, BODY);
    rec_free(&r);
    split_check(d_queued_skips_rcpt, NT(d_queued_skips_rcpt));
}

/* In step (no gap) replies pair by position whatever they say: a server
 * is free to word them as it likes, and nothing was lost to explain a
 * mismatch. */
static const turn d_in_step[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.0.0 Ok: queued for nothing\r\n"),
    C("RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"),
};

static void test_in_step_pairs_by_position(void **state)
{
    (void)state;
    rec r = {0};
    run(d_in_step, NT(d_in_step), &r);
    assert_has(&r, "MAIL v=MAIL a=a@example.org p=~ u=~ c=250 t=250 2.0.0 Ok: queued for nothing ");
    assert_has(&r, "RCPT v=RCPT a=b@example.net p=~ u=~ c=250 t=250 2.1.5 Ok f=1 ");
    assert_false(has(&r, "reply_lost"));
    assert_false(has(&r, "unmatched_reply"));
    rec_free(&r);
    split_check(d_in_step, NT(d_in_step));
}

/* BDAT 20 announced, 8 octets sent, then the server's reply to it: the
 * server had the chunk, the capture did not see 12 of its octets. The
 * next command is read as a command, not as the missing octets. */
static const turn d_bdat_short[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"),
    C("BDAT 20\r\nSubject:"),
    S("250 2.0.0 Ok: 20 octets received\r\n"),
    C("BDAT 6 LAST\r\nhi\r\n\r\n"),
    S("250 2.0.0 Ok: queued as 4D\r\n"),
};

static void test_bdat_count_contradicted(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bdat_short, NT(d_bdat_short), &r);
    assert_has(&r, "ANOMALY v=bdat_size_mismatch ");
    assert_has(&r, "MSG_GAP v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=- g=12 ");
    assert_has(&r, "MSG_END ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 4D f=0 s=ACCEPTED");
    assert_int_equal(r.nmsg, 1);
    ASSERT_MSG(&r, 0, "Subject:hi\r\n\r\n");
    rec_free(&r);
    split_check(d_bdat_short, NT(d_bdat_short));
}

/* Pipelined chunks: the reply to the first comes while the second is
 * being read. That is no contradiction: the first was whole. */
static const turn d_bdat_pipelined[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("BDAT 4\r\nabcdBDAT 6 LAST\r\nef"),
    S("250 2.0.0 Ok: 4 octets received\r\n"),
    C("gh\r\n"),
    S("250 2.0.0 Ok: queued as 5E\r\n"),
};

static void test_bdat_pipelined_reply_is_no_mismatch(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bdat_pipelined, NT(d_bdat_pipelined), &r);
    assert_false(has(&r, "bdat_size_mismatch"));
    assert_false(has(&r, "MSG_GAP"));
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 5E f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, "abcdefgh\r\n");
    rec_free(&r);
    split_check(d_bdat_pipelined, NT(d_bdat_pipelined));
}

/* A server that answers the BDAT command before any of its octets came
 * (Zeek's bdat-gap trace does) has not read them: the octets that follow
 * are still the chunk's. */
static const turn d_bdat_early_reply[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"),
    C("BDAT 12 LAST\r\n"),
    S("250 2.0.0 Ok\r\n"),
    C("Subject: x\r\n"),
    C("QUIT\r\n"),
    S("221 2.0.0 Bye\r\n"),
};

static void test_bdat_reply_before_octets(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bdat_early_reply, NT(d_bdat_early_reply), &r);
    assert_false(has(&r, "bdat_size_mismatch"));
    assert_false(has(&r, "MSG_GAP"));
    ASSERT_MSG(&r, 0, "Subject: x\r\n");
    assert_has(&r, "COMMAND v=QUIT a=~ p=~ u=~ c=221 ");
    rec_free(&r);
    split_check(d_bdat_early_reply, NT(d_bdat_early_reply));
}

/* "DATA" right after a hole may be the tail of another line: the client
 * sent "XDATA" and the server refused it. Only a 354 makes what follows a
 * message; here the client goes on with commands, and the lone dot it
 * sends is a command line, not the end of a message. */
static const turn d_data_tail_refused[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"),
    CGAP(1), /* "X" */
    C("DATA\r\n"),
    S("502 5.5.2 Error: command not recognized\r\n"),
    C("RSET\r\n.\r\n"),
    S("250 2.0.0 Ok\r\n"),
};

static void test_data_after_hole_needs_its_354(void **state)
{
    (void)state;
    rec r = {0};
    run(d_data_tail_refused, NT(d_data_tail_refused), &r);
    /* a refusal is on the record as DATA tried, with no content */
    assert_false(has(&r, "MSG_END"));
    assert_false(has(&r, "MSG_DATA"));
    assert_int_equal(r.nmsg, 1);
    ASSERT_MSG(&r, 0, "");
    assert_false(has(&r, "s=ACCEPTED"));
    assert_has(&r, "COMMAND v=RSET a=~ p=~ u=~ c=250 t=250 2.0.0 Ok ");
    rec_free(&r);
    split_check(d_data_tail_refused, NT(d_data_tail_refused));
}

/* The same after a hole, answered 354: it was DATA, and the message is
 * whole (the hole was before the command). */
static const turn d_data_tail_354[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"),
    CGAP(6), /* "NOOP\r\n", whose reply the server merged: lost too */
    C("DATA\r\n"),
    S("354 go\r\n"),
    C(BODY ".\r\n"),
    S("250 2.0.0 Ok: queued as 6F\r\n"),
};

static void test_data_after_hole_with_354(void **state)
{
    (void)state;
    rec r = {0};
    run(d_data_tail_354, NT(d_data_tail_354), &r);
    assert_has(&r, "DATA_BEGIN v=DATA a=~ p=~ u=~ c=354 t=354 go ");
    assert_false(has(&r, "MSG_GAP"));
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 6F f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, BODY);
    rec_free(&r);
    split_check(d_data_tail_354, NT(d_data_tail_354));
}

/* A packet holding a whole BDAT command and its chunk is lost between two
 * chunks: the message cannot look whole (it did, with every remaining
 * byte exact: a silent corruption). The lost bytes count as missing. */
static const turn d_bdat_chunk_lost[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("BDAT 4\r\nabcd"),
    S("250 2.0.0 Ok: 4 octets received\r\n"),
    CGAP(13), /* "BDAT 4\r\nefgh" */
    S("250 2.0.0 Ok: 4 octets received\r\n"),
    C("BDAT 2 LAST\r\n\r\n"),
    S("250 2.0.0 Ok: queued as 7A\r\n"),
};

static void test_bdat_chunk_lost_between_chunks(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bdat_chunk_lost, NT(d_bdat_chunk_lost), &r);
    assert_has(&r, "MSG_GAP v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=- g=13 ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 7A f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, "abcd\r\n");
    rec_free(&r);
    split_check(d_bdat_chunk_lost, NT(d_bdat_chunk_lost));
}

/* The first BDAT and its chunk are lost (one packet): the chunks that
 * follow are no whole message. */
static const turn d_bdat_first_lost[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    CGAP(12), /* "BDAT 4\r\nabcd" */
    S("250 2.0.0 Ok: 4 octets received\r\n"),
    C("BDAT 6 LAST\r\nefgh\r\n"),
    S("250 2.0.0 Ok: queued as 9C\r\n"),
};

static void test_bdat_first_chunk_lost(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bdat_first_lost, NT(d_bdat_first_lost), &r);
    assert_has(&r, "MSG_GAP v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=- g=12 ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 9C f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, "efgh\r\n");
    rec_free(&r);
    split_check(d_bdat_first_lost, NT(d_bdat_first_lost));
}

/* The last BDAT is lost: the server's "queued" says it was sent and
 * ended the message, which counts the lost bytes as missing. */
static const turn d_bdat_last_lost[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("BDAT 4\r\nabcd"),
    S("250 2.0.0 Ok: 4 octets received\r\n"),
    CGAP(19), /* "BDAT 6 LAST\r\nefgh\r\n" */
    S("250 2.0.0 Ok: 10 bytes queued as 8B\r\n"),
};

static void test_bdat_last_lost(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bdat_last_lost, NT(d_bdat_last_lost), &r);
    assert_has(&r, "ANOMALY v=command_inferred a=BDAT LAST ");
    assert_has(&r, "MSG_GAP v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=- g=19 ");
    assert_has(&r, "MSG_END ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: 10 bytes queued as 8B f=0 "
                   "s=ACCEPTED");
    assert_false(has(&r, "unmatched_reply"));
    ASSERT_MSG(&r, 0, "abcd");
    rec_free(&r);
    split_check(d_bdat_last_lost, NT(d_bdat_last_lost));
}

/* The 550 to the final dot is lost; the next reply, a plain 250, may be
 * the RSET's as well as a verdict on the message: no verdict is taken
 * from it (incomplete, never accepted by a guess). */
static const turn d_verdict_lost[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<b@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"),
    C("DATA\r\n"),
    S("354 go\r\n"),
    C(BODY ".\r\nRSET\r\n"),
    SGAP(30), /* "550 5.7.1 Message content rejected\r\n" */
    S("250 2.0.0 Ok\r\n"),
};

static void test_verdict_lost_is_no_acceptance(void **state)
{
    (void)state;
    rec r = {0};
    run(d_verdict_lost, NT(d_verdict_lost), &r);
    assert_has(&r, "ANOMALY v=reply_lost a=end of data ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=INCOMPLETE");
    assert_has(&r, "COMMAND v=RSET a=~ p=~ u=~ c=250 t=250 2.0.0 Ok ");
    assert_false(has(&r, "s=ACCEPTED"));
    rec_free(&r);
    split_check(d_verdict_lost, NT(d_verdict_lost));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lost_ehlo_reply),
        cmocka_unit_test(test_lost_pipelined_group),
        cmocka_unit_test(test_lost_refused_rcpt),
        cmocka_unit_test(test_lost_final_reply),
        cmocka_unit_test(test_lost_quit),
        cmocka_unit_test(test_354_and_queued_pair_by_meaning),
        cmocka_unit_test(test_in_step_pairs_by_position),
        cmocka_unit_test(test_bdat_count_contradicted),
        cmocka_unit_test(test_bdat_pipelined_reply_is_no_mismatch),
        cmocka_unit_test(test_bdat_reply_before_octets),
        cmocka_unit_test(test_data_after_hole_needs_its_354),
        cmocka_unit_test(test_data_after_hole_with_354),
        cmocka_unit_test(test_bdat_chunk_lost_between_chunks),
        cmocka_unit_test(test_bdat_last_lost),
        cmocka_unit_test(test_bdat_first_chunk_lost),
        cmocka_unit_test(test_verdict_lost_is_no_acceptance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
