/*
 * test_evict.c - the order in which a full stream table gives streams up
 * (reassembly/evict.c).
 *
 * Truth: issue 9 section 3, "the stream table evicts, when full,
 * half-open and data-less streams before streams that carry a dialogue",
 * and the packets written here (harness.h): which connections completed
 * their handshake, which carried data and when each last spoke. libnids
 * alone evicts the oldest stream it created, whatever it carries (and
 * warns NIDS_WARN_TCP_TOOMUCH): here libnids never gets full, the layer
 * makes room first, so that warning never comes.
 */
#include "harness.h"

static st_reasm_config small(void)
{
    st_reasm_config cfg;
    st_reasm_config_default(&cfg);
    cfg.max_streams = 16;
    return cfg;
}

static void syn_only(uint16_t port)
{
    conn c = conn_new(port);
    c.ip[C][2] = 9; /* 10.0.9.1: the flood's own addresses */
    send_raw(&c, C, F_SYN, c.isn[C], 0, NULL, 0);
}

/* Live sessions, then a SYN flood far past the table: only half-open
 * streams go, oldest first; the sessions end whole with their FINs. */
static void test_syn_flood(void **state)
{
    st_reasm_config cfg = small();
    start(&cfg);
    conn c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = conn_new((uint16_t)(40000 + i));
        handshake(&c[i]);
        say(&c[i], S, 10);
    }
    for (int i = 0; i < 40; i++)
        syn_only((uint16_t)(50000 + i));
    conn late = conn_new(40100); /* a session that starts inside the flood */
    handshake(&late);
    say(&late, C, 7);
    for (int i = 40; i < 80; i++)
        syn_only((uint16_t)(50000 + i));
    for (int i = 0; i < 4; i++) {
        say(&c[i], C, 20);
        close_fin(&c[i]);
        assert_true(M.s[i].closed);
        assert_int_equal(M.s[i].why, ST_CLOSE_FIN);
        assert_whole(&M.s[i], S, 10);
        assert_whole(&M.s[i], C, 20);
    }
    close_fin(&late);
    assert_int_equal(M.s[4].why, ST_CLOSE_FIN);
    assert_whole(&M.s[4], C, 7);
    st_reasm_counters k = counters();
    assert_int_equal(k.evicted, 0);
    /* 16 streams: the five sessions and 11 of the 80 half-open ones */
    assert_int_equal(k.evicted_half_open, 80 + 5 - 16);
    assert_int_equal(k.nids_warnings[6 /* NIDS_WARN_TCP_TOOMUCH */], 0);
}

/* Connections with a handshake and no payload go before the ones that
 * carry a dialogue, the oldest first, closed "evicted". */
static void test_silent_before_dialogue(void **state)
{
    st_reasm_config cfg = small();
    start(&cfg);
    conn live[4], quiet[13];
    for (int i = 0; i < 4; i++) {
        live[i] = conn_new((uint16_t)(40000 + i));
        handshake(&live[i]);
        say(&live[i], S, 5);
    }
    for (int i = 0; i < 13; i++) { /* streams 4..16: the first is evicted by the 13th */
        quiet[i] = conn_new((uint16_t)(41000 + i));
        handshake(&quiet[i]);
    }
    assert_log_tail("open 15\nclose 4 evicted\nopen 16\n");
    for (int i = 0; i < 4; i++)
        assert_false(M.s[i].closed);
    say(&quiet[5], C, 3); /* stream 9 speaks: it carries a dialogue now */
    conn more[6];
    for (int i = 0; i < 6; i++) {
        more[i] = conn_new((uint16_t)(42000 + i));
        handshake(&more[i]);
    }
    /* 5, 6, 7, 8 went, then 10 and 11 (9 spoke) */
    const int gone[] = {4, 5, 6, 7, 8, 10, 11};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++) {
        assert_true(M.s[gone[i]].closed);
        assert_int_equal(M.s[gone[i]].why, ST_CLOSE_EVICTED);
    }
    assert_false(M.s[9].closed);
    for (int i = 0; i < 4; i++)
        assert_false(M.s[i].closed);
    st_reasm_counters k = counters();
    assert_int_equal(k.evicted, 7);
    assert_int_equal(k.evicted_half_open, 0);
    assert_int_equal(k.nids_warnings[6], 0);
}

/* Every stream carries a dialogue: the one silent the longest goes, not
 * the oldest (libnids would take stream 0, which just spoke). */
static void test_least_recently_active(void **state)
{
    st_reasm_config cfg = small();
    start(&cfg);
    conn c[17];
    for (int i = 0; i < 16; i++) {
        c[i] = conn_new((uint16_t)(40000 + i));
        handshake(&c[i]);
        say(&c[i], C, 2);
    }
    say(&c[0], S, 3);
    c[16] = conn_new(40016);
    handshake(&c[16]);
    assert_log_tail("data 0 s 3\nclose 1 evicted\nopen 16\n");
    assert_false(M.s[0].closed);
    assert_stats(&M.s[1], C, 2, 3, 0);
    st_reasm_counters k = counters();
    assert_int_equal(k.evicted, 1);
    assert_int_equal(k.nids_warnings[6], 0);
}

/* Half-open streams that end (RST) or complete leave the count: after
 * sixteen SYNs reset and sixteen completed, a full table of sessions is
 * still a table of sixteen, with nothing evicted. */
static void test_count_follows_handshakes(void **state)
{
    st_reasm_config cfg = small();
    start(&cfg);
    for (int i = 0; i < 16; i++) {
        conn h = conn_new((uint16_t)(43000 + i));
        send_raw(&h, C, F_SYN, h.isn[C], 0, NULL, 0);
        send_raw(&h, S, F_RST | F_ACK, 0, h.isn[C] + 1, NULL, 0);
    }
    conn c[16];
    for (int i = 0; i < 16; i++) {
        c[i] = conn_new((uint16_t)(44000 + i));
        handshake(&c[i]);
        say(&c[i], C, 1);
    }
    for (int i = 0; i < 16; i++)
        assert_false(M.s[i].closed);
    st_reasm_counters k = counters();
    assert_int_equal(k.evicted, 0);
    assert_int_equal(k.evicted_half_open, 0);
    assert_int_equal(k.nids_warnings[6], 0);
    /* and a seventeenth finds the table full of dialogues */
    conn d = conn_new(45000);
    handshake(&d);
    assert_int_equal(counters().evicted, 1);
}

/* A made-up handshake (midstream.c) needs room too, and takes it from a
 * half-open stream. */
static void test_midstream_makes_room(void **state)
{
    st_reasm_config cfg = small();
    start(&cfg);
    conn c[15];
    for (int i = 0; i < 15; i++) {
        c[i] = conn_new((uint16_t)(40000 + i));
        handshake(&c[i]);
        say(&c[i], C, 1);
    }
    syn_only(50000);
    conn m = conn_new(46000);
    say(&m, C, 5); /* no handshake: picked up, port 25 */
    assert_log_tail("open 15\ndata 15 c 5\n");
    st_reasm_counters k = counters();
    assert_int_equal(k.evicted_half_open, 1);
    assert_int_equal(k.evicted, 0);
    assert_int_equal(k.midstream, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_syn_flood, stop),
        cmocka_unit_test_teardown(test_silent_before_dialogue, stop),
        cmocka_unit_test_teardown(test_least_recently_active, stop),
        cmocka_unit_test_teardown(test_count_follows_handshakes, stop),
        cmocka_unit_test_teardown(test_midstream_makes_room, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
