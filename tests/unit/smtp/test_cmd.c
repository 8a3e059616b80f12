/*
 * test_cmd.c - client command lines (smtp/cmd.c): what each one is.
 *
 * The truth is RFC 5321 2.4 ("Verbs and argument values ... are not case
 * sensitive") and RFC 3030's grammar, bdat-cmd ::= "BDAT" SP chunk-size
 * [ SP end-marker ] CR LF, end-marker ::= "LAST": "last" and "Last" end
 * the message as "LAST" does. The message bytes are the ones written here.
 */
#include "dialogue.h"

static const turn d_bdat_last_lower[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("bdat 5 last\r\nhello"),
    S("250 2.0.0 Ok: queued as 1A\r\n"),
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("BDAT 3\r\nabcBdat 2 Last\r\nde"),
    S("250 2.0.0 Ok: 3 octets\r\n250 2.0.0 Ok: queued as 2B\r\n"),
    C("QUIT\r\n"),
    S("221 2.0.0 Bye\r\n"),
};

static void test_bdat_last_any_case(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bdat_last_lower, NT(d_bdat_last_lower), &r);
    assert_types(&r, "BANNER HELO MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END "
                     "MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END COMMAND");
    ASSERT_MSG(&r, 0, "hello");
    ASSERT_MSG(&r, 1, "abcde");
    assert_has(&r, "c=250 t=250 2.0.0 Ok: queued as 1A f=0 s=ACCEPTED");
    assert_has(&r, "c=250 t=250 2.0.0 Ok: queued as 2B f=0 s=ACCEPTED");
    assert_has(&r, "COMMAND v=QUIT a=~ p=~ u=~ c=221 ");
    assert_false(has(&r, "ANOMALY"));
    rec_free(&r);
    split_check(d_bdat_last_lower, NT(d_bdat_last_lower));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bdat_last_any_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
