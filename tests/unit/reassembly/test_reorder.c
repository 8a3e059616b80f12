/*
 * test_reorder.c - reordering is not loss: reassembly/reorder.c.
 *
 * Truth: each test chooses which slices of a known byte pattern (harness.h)
 * each side sends, in which order they are captured and what each packet
 * acknowledges, so what the consumer must get, in which order, and which
 * gaps, are fixed before the layer runs. Bytes whose packet acknowledges
 * bytes of the other side that are not there yet wait for them: when the
 * late segment comes, everything is delivered in the order it happened and
 * nothing is missing; when it never comes (the reordering window passes,
 * the bytes held pass ooo_limit, the stream ends), the missing bytes are a
 * gap announced before what waited for them.
 */
#include "harness.h"

/* The client's second command [10,20) is captured after the server's reply
 * that acknowledges it (a SPAN port merging two directions). */
static void test_reply_waits_for_late_command(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, S, 8);
    ack_to(&c, C, 8);
    seg(&c, C, 0, 10);
    ack_to(&c, S, 20); /* the server has [10,20) already */
    say(&c, S, 6);     /* and answers it */
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n");
    seg(&c, C, 10, 10); /* the late copy */
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 20\n" /* the mock joins data in a row */
               "data 0 s 6\n");
    close_fin(&c);
    assert_whole(&M.s[0], C, 20);
    assert_whole(&M.s[0], S, 14);
    assert_int_equal(M.s[0].ngap[C] + M.s[0].ngap[S], 0);
    st_reasm_counters k = counters();
    assert_int_equal(k.holes, 0);
    assert_int_equal(k.held_bytes, 6);
}

/* The same, but the command was lost by the capture: once the reordering
 * window has passed, its bytes are a gap, and the reply follows it. */
static void test_lost_command_then_reply(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    c.next[C] = 20; /* [10,20) sent, never captured */
    ack_to(&c, S, 20);
    say(&c, S, 6);
    advance_ms(st_rs.cfg.hole_grace - 10);
    ack_to(&c, S, 20); /* still within the window */
    assert_log("open 0\n"
               "data 0 c 10\n");
    reorder_window_passes(&c, S);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 s 6\n");
    say(&c, C, 5); /* the stream goes on in order */
    close_fin(&c);
    assert_bytes(&M.s[0], C, 10, 20, 5);
    assert_whole(&M.s[0], S, 6);
    assert_int_equal(counters().hole_bytes, 10);
}

/* More held than ooo_limit: waiting stops at once. */
static void test_held_past_ooo_limit(void **state)
{
    st_reasm_config cfg;
    st_reasm_config_default(&cfg);
    cfg.ooo_limit = 1500;
    start(&cfg);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    ack_to(&c, S, 20);
    say(&c, S, 1000);
    assert_log("open 0\n"
               "data 0 c 10\n");
    say(&c, S, 1000);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 s 2000\n");
    assert_whole(&M.s[0], S, 2000);
}

/* The stream ends while bytes are held: the gap, then them, then the close. */
static void test_end_releases_held(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    ack_to(&c, S, 20);
    say(&c, S, 6);
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 s 6\n"
               "close 0 eof\n");
    assert_stats(&M.s[0], C, 10, 3, 10);
}

/* The banner is lost; the client's EHLO (which acknowledges it) waits; the
 * EHLO reply (which acknowledges the EHLO) waits in libnids behind the
 * banner's hole; the next command acknowledges the reply. Each goes in the
 * order it was sent: the gap, EHLO, its reply, the next command. */
static void test_each_run_waits_for_its_own_ack(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    ack_to(&c, C, 40);
    seg(&c, C, 0, 26);
    ack_to(&c, S, 26);
    seg(&c, S, 40, 64);
    ack_to(&c, C, 104);
    seg(&c, C, 26, 30);
    assert_log("open 0\n");
    reorder_window_passes(&c, S);
    assert_log("open 0\n"
               "gap 0 s 40\n"
               "data 0 c 26\n"
               "data 0 s 64\n"
               "data 0 c 30\n");
    assert_bytes(&M.s[0], S, 0, 40, 64);
    assert_whole(&M.s[0], C, 56);
}

/* A duplicate of data already delivered is not held, and what the client
 * acknowledges of the server's bytes it has is no reason to wait. */
static void test_in_order_is_not_held(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, S, 8);
    ack_to(&c, C, 8);
    say(&c, C, 10);
    seg(&c, C, 0, 10);
    ack_to(&c, S, 10);
    say(&c, S, 4);
    close_fin(&c);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "data 0 s 4\n"
               "close 0 fin\n");
    assert_int_equal(counters().held_bytes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reply_waits_for_late_command, stop),
        cmocka_unit_test_teardown(test_lost_command_then_reply, stop),
        cmocka_unit_test_teardown(test_held_past_ooo_limit, stop),
        cmocka_unit_test_teardown(test_end_releases_held, stop),
        cmocka_unit_test_teardown(test_each_run_waits_for_its_own_ack, stop),
        cmocka_unit_test_teardown(test_in_order_is_not_held, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
