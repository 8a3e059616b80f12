/*
 * test_data.c - message content (smtp/data.c): BDAT octets and the bytes
 * lost around them.
 *
 * The truth is the bytes each dialogue writes and the ones it leaves out
 * (a client gap stands for bytes the test names in a comment). When the
 * loss runs past the end of a BDAT chunk into the command after it, what
 * follows is the tail of a command line whose start was lost: it is not a
 * command the client sent, and must not be reported as one.
 */
#include "dialogue.h"

static const turn d_bdat_gap_past_chunk[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("BDAT 10\r\nabc"),
    CGAP(14), /* "defghij" (the rest of the chunk), "NOOP ab" */
    C("cd\r\nQUIT\r\n"),
};

static void test_gap_past_bdat_chunk(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bdat_gap_past_chunk, NT(d_bdat_gap_past_chunk), &r);
    assert_has(&r, "DATA_BEGIN v=BDAT ");
    ASSERT_MSG(&r, 0, "abc");
    assert_has(&r, "MSG_GAP ");
    assert_has(&r, "COMMAND v=QUIT ");
    assert_false(has(&r, "unknown_command"));
    assert_false(has(&r, "COMMAND v=CD"));
    assert_false(has(&r, "COMMAND v=cd"));
    rec_free(&r);
    split_check(d_bdat_gap_past_chunk, NT(d_bdat_gap_past_chunk));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gap_past_bdat_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
