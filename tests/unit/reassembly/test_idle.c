/*
 * test_idle.c - packet time: reassembly/idle.c (the idle list, the 2 s
 * trim that skips holes and calls idle(), the idle timeout) driven by
 * st_reasm_tick() and by other streams' packets.
 *
 * Truth: packet timestamps chosen here, whole seconds apart, against the
 * layer's documented rules (reasm.h, docs/design.md "Memory"): a stream
 * silent 2 s of packet time has its holes skipped (gap with the exact
 * length, queued bytes delivered) and then gets one idle() call per
 * silence; one silent more than idle_timeout seconds is closed with
 * ST_CLOSE_TIMEOUT, its queued bytes delivered first. Silence is counted
 * from a stream's own last packet, so streams age in the order they went
 * quiet, not the order they opened. Packet time never goes back.
 */
#include "harness.h"

static st_reasm_config with_idle_timeout(int sec)
{
    st_reasm_config cfg;
    st_reasm_config_default(&cfg);
    cfg.idle_timeout = sec;
    return cfg;
}

/* ---- idle(), then the timeout, by st_reasm_tick ------------------------------ */

static void test_idle_then_timeout(void **state)
{
    st_reasm_config cfg = with_idle_timeout(10);
    start(&cfg);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, S, 8);
    say(&c, C, 10);
    const char *active = "open 0\n"
                         "data 0 s 8\n"
                         "data 0 c 10\n";
    tick(1);
    assert_log(active);
    tick(2);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "idle 0\n");
    tick(3);
    tick(10); /* silent exactly idle_timeout: not yet */
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "idle 0\n");
    tick(11);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "idle 0\n"
               "close 0 timeout\n");
    assert_stats(&M.s[0], C, 10, 3, 0);
    assert_stats(&M.s[0], S, 8, 2, 0);
    st_reasm_counters k = counters();
    assert_int_equal(k.trimmed, 1);
    assert_int_equal(k.idle_closed, 1);
    /* libnids forgot the stream too: a late segment is nobody's, and the
     * flush has nothing to close */
    say(&c, C, 4);
    st_reasm_flush();
    assert_log_tail("close 0 timeout\n");
    assert_int_equal(M.n, 1);
}

static void test_default_timeout(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, C, 10);
    tick(300);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "idle 0\n");
    tick(301);
    assert_log_tail("close 0 timeout\n");
}

/* Jumping straight past the timeout: the close comes first; queued bytes
 * are delivered before it; no idle() for a stream that is gone. */
static void test_timeout_delivers_queue(void **state)
{
    st_reasm_config cfg = with_idle_timeout(10);
    start(&cfg);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 16, 4);
    tick(100);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 6\n"
               "data 0 c 4\n"
               "close 0 timeout\n");
    assert_stats(&M.s[0], C, 14, 4, 6);
    st_reasm_counters k = counters();
    assert_int_equal(k.trimmed, 0);
    assert_int_equal(k.idle_closed, 1);
    assert_int_equal(k.hole_bytes, 6);
}

/* ---- the 2 s idle path skips holes ----------------------------------------------- */

static void test_idle_skips_hole(void **state)
{
    st_reasm_config cfg = with_idle_timeout(10);
    start(&cfg);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, S, 8);
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10); /* nobody acknowledges past [10,20) */
    tick(1);            /* a retransmission may still come */
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n");
    tick(2);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n"
               "idle 0\n");
    assert_bytes(&M.s[0], C, 10, 20, 10);
    /* later bytes continue in order: libnids' counters moved past the hole */
    at(3);
    say(&c, C, 6);
    say(&c, S, 4);
    close_fin(&c);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n"
               "idle 0\n"
               "data 0 c 6\n"
               "data 0 s 4\n"
               "close 0 fin\n");
    assert_int_equal(M.s[0].len[C], 26);
    assert_bytes(&M.s[0], C, 20, 30, 6);
    assert_whole(&M.s[0], S, 12);
    assert_stats(&M.s[0], C, 26, 7, 10);
    st_reasm_counters k = counters();
    assert_int_equal(k.holes, 1);
    assert_int_equal(k.trimmed, 1);
    assert_int_equal(k.idle_closed, 0);
}

/* Both directions have a hole: both are skipped. */
static void test_idle_skips_both_directions(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, S, 0, 8);
    seg(&c, S, 9, 3);
    seg(&c, C, 0, 10);
    seg(&c, C, 12, 8);
    tick(2);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "gap 0 c 2\n"
               "data 0 c 8\n"
               "gap 0 s 1\n"
               "data 0 s 3\n"
               "idle 0\n");
}

/* One idle() per silence: again only after the stream spoke and went
 * quiet again for 2 s. (A second stream opened after it, so that speaking
 * again moves it to the idle list's tail; test_idle_again_as_tail has
 * it alone.) */
static void test_idle_once_per_silence(void **state)
{
    st_reasm_config cfg = with_idle_timeout(100);
    start(&cfg);
    conn c = conn_new(40000), other = conn_new(40001);
    handshake(&c);
    handshake(&other);
    say(&c, C, 5);
    say(&other, C, 1); /* the idle list: c, other */
    tick(2);
    tick(3);
    tick(4);
    assert_log("open 0\n"
               "open 1\n"
               "data 0 c 5\n"
               "data 1 c 1\n"
               "idle 0\n"
               "idle 1\n");
    at(5);
    say(&c, C, 5);
    tick(6);
    assert_log_tail("data 0 c 5\n");
    tick(7);
    assert_log_tail("idle 1\n"
                    "data 0 c 5\n"
                    "idle 0\n");
    assert_int_equal(M.s[0].idles, 2);
    assert_int_equal(M.s[1].idles, 1);
    assert_int_equal(counters().trimmed, 3);
    /* buffers given back at idle are taken again: the bytes still arrive */
    at(8);
    say(&c, C, 3000);
    close_fin(&c);
    assert_whole(&M.s[0], C, 3010);
}

/* ---- packet time from other streams --------------------------------------------- */

/* Nobody calls tick: the packets of a busy stream move time for a quiet
 * one. */
static void test_time_from_other_packets(void **state)
{
    st_reasm_config cfg = with_idle_timeout(10);
    start(&cfg);
    conn quiet = conn_new(40000), busy = conn_new(40001);
    handshake(&quiet);
    say(&quiet, C, 4);
    handshake(&busy);
    for (long t = 1; t <= 10; t++) {
        at(t);
        say(&busy, C, 1);
        if (t == 1)
            assert_log_tail("open 1\ndata 1 c 1\n");
        if (t == 2)
            assert_log_tail("open 1\ndata 1 c 2\nidle 0\n");
    }
    assert_false(M.s[0].closed);
    at(11);
    say(&busy, C, 1);
    assert_log_tail("idle 0\ndata 1 c 9\nclose 0 timeout\n");
    assert_false(M.s[1].closed);
    assert_int_equal(M.s[1].idles, 0);
    assert_whole(&M.s[1], C, 11);
    st_reasm_flush();
    assert_log_tail("close 1 eof\n");
}

/* Streams age from their own last packet: the one that spoke last is
 * closed last, whatever the order they opened in. */
static void test_least_recent_first(void **state)
{
    st_reasm_config cfg = with_idle_timeout(10);
    start(&cfg);
    conn a = conn_new(40000), b = conn_new(40001), c = conn_new(40002);
    handshake(&a);
    handshake(&b);
    handshake(&c);
    at(5);
    say(&b, C, 3);
    assert_log("open 0\n"
               "open 1\n"
               "open 2\n"
               "data 1 c 3\n"
               "idle 0\n"
               "idle 2\n");
    tick(11);
    assert_log_tail("data 1 c 3\n"
                    "idle 0\n"
                    "idle 2\n"
                    "close 0 timeout\n"
                    "close 2 timeout\n"
                    "idle 1\n");
    tick(15);
    assert_false(M.s[1].closed);
    tick(16);
    assert_log_tail("close 1 timeout\n");
    assert_int_equal(counters().idle_closed, 3);
}

/* Packet time never goes back: a tick earlier than the last packet does
 * nothing, and neither does one within its second. */
static void test_tick_never_back(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, C, 4);
    at(1);
    say(&c, C, 4);
    struct timeval past = {T0 - 1000, 0}, same = {T0 + 1, 999999};
    st_reasm_tick(&past);
    st_reasm_tick(&same);
    assert_log("open 0\n"
               "data 0 c 8\n");
    tick(3);
    assert_log_tail("idle 0\n");
}

/* Streams closed by the idle sweep leave libnids' table too: 30 sessions
 * one after the other in a table of 18 streams, each closed by timeout,
 * and libnids never has to evict. */
static void test_timeout_frees_libnids_streams(void **state)
{
    st_reasm_config cfg = with_idle_timeout(10);
    cfg.max_streams = 16; /* libnids: 18 streams */
    start(&cfg);
    for (int i = 0; i < 30; i++) {
        conn c = conn_new((uint16_t)(40000 + i));
        at(i * 20L);
        handshake(&c);
        say(&c, C, 4);
        tick(i * 20L + 11);
        assert_true(M.s[i].closed);
        assert_int_equal(M.s[i].why, ST_CLOSE_TIMEOUT);
    }
    st_reasm_counters k = counters();
    assert_int_equal(k.idle_closed, 30);
    assert_int_equal(k.evicted, 0);
    assert_int_equal(k.nids_warnings[6 /* NIDS_WARN_TCP_TOOMUCH */], 0);
}

/* ---- the consumer drops the stream while the idle path delivers ------------------ */

static void test_drop_in_idle_skip(void **state)
{
    st_reasm_config cfg = with_idle_timeout(10);
    start(&cfg);
    conn c = conn_new(40000), d = conn_new(40001);
    handshake(&c);
    handshake(&d);
    M.s[0].drop_at[C] = 12;
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    say(&d, C, 3);
    tick(2);
    /* stream 0 dropped in the skip: no idle(), but the sweep goes on to
     * stream 1 */
    assert_log("open 0\n"
               "open 1\n"
               "data 0 c 10\n"
               "data 1 c 3\n"
               "gap 0 c 10\n"
               "data 0 c 10\n"
               "drop 0\n"
               "idle 1\n");
    at(3);
    seg(&c, C, 30, 5);
    tick(20);
    assert_log_tail("drop 0\n"
                    "idle 1\n"
                    "close 1 timeout\n");
    assert_false(M.s[0].closed);
    assert_int_equal(counters().idle_closed, 1);
}

/* A single long session with pauses: after the sweep has trimmed every
 * stream, the one at the idle list's tail speaks again; when it falls
 * silent once more it gets idle() again and its new hole is skipped (it
 * was not, while a packet on the tail never re-armed the trim walk). */
static void test_idle_again_as_tail(void **state)
{
    st_reasm_config cfg = with_idle_timeout(100);
    start(&cfg);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, C, 5);
    tick(2);
    assert_log("open 0\n"
               "data 0 c 5\n"
               "idle 0\n");
    at(5);
    seg(&c, C, 5, 5);
    seg(&c, C, 20, 5); /* hole [10,20) */
    tick(7);
    assert_log("open 0\n"
               "data 0 c 5\n"
               "idle 0\n"
               "data 0 c 5\n"
               "gap 0 c 10\n"
               "data 0 c 5\n"
               "idle 0\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_idle_then_timeout, stop),
        cmocka_unit_test_teardown(test_default_timeout, stop),
        cmocka_unit_test_teardown(test_timeout_delivers_queue, stop),
        cmocka_unit_test_teardown(test_idle_skips_hole, stop),
        cmocka_unit_test_teardown(test_idle_skips_both_directions, stop),
        cmocka_unit_test_teardown(test_idle_once_per_silence, stop),
        cmocka_unit_test_teardown(test_time_from_other_packets, stop),
        cmocka_unit_test_teardown(test_least_recent_first, stop),
        cmocka_unit_test_teardown(test_tick_never_back, stop),
        cmocka_unit_test_teardown(test_timeout_frees_libnids_streams, stop),
        cmocka_unit_test_teardown(test_drop_in_idle_skip, stop),
        cmocka_unit_test_teardown(test_idle_again_as_tail, stop),
    };
    return cmocka_run_group_tests_name("reassembly_idle", tests, NULL, NULL);
}
