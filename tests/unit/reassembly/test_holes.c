/*
 * test_holes.c - lost segments: reassembly/holes.c, the code that reads and
 * writes libnids' private out-of-order queue (struct skbuff of 1.26).
 *
 * Truth: each test sends chosen slices of a known byte pattern (harness.h)
 * and leaves out others, so the bytes the consumer must get, each gap's
 * exact length and the order of events are fixed by the test before the
 * layer runs. A hole must be skipped, announced with its exact length and
 * followed by the queued bytes in order, each byte delivered once, when:
 * the receiver acknowledges past it (either direction, ACK before or after
 * the queued segment, ACK inside the hole); the queue behind it passes
 * ooo_limit (at the boundary: "passes" is >); libnids itself is about to
 * prune its queue at 64 KiB (the BIGQUEUE warning path); the stream ends
 * by flush, shutdown or libnids' closing timer. It must not be skipped on
 * a duplicate ACK, or when the missing segment arrives late (swapped
 * segments, overlapping retransmissions). Queued segments that overlap
 * each other are delivered from the delivered edge. After a skip the
 * stream goes on in order, and libnids' queue is empty (read white-box
 * through reassembly/stream.h). A consumer that drops the stream while
 * queued bytes are delivered gets no more callbacks.
 */
#include "harness.h"
#include "reassembly/stream.h"

/* What libnids still holds queued for direction `from` of mock stream ms
 * (white-box: struct half_stream is public in nids.h; the layer promises
 * to free the queue once it has delivered it). */
static int queued(const mstream *ms, int from)
{
    for (st_rs_stream *rs = st_rs.idle_head; rs; rs = rs->next)
        if (rs->user == ms) {
            const struct half_stream *rcv = from == C ? &rs->tcp->server : &rs->tcp->client;
            assert_true((rcv->list == NULL) == (rcv->rmem_alloc == 0));
            return rcv->rmem_alloc;
        }
    fail_msg("stream %d is not open", ms->id);
    return -1;
}

static st_reasm_config with_ooo_limit(int limit)
{
    st_reasm_config cfg;
    st_reasm_config_default(&cfg);
    cfg.ooo_limit = limit;
    return cfg;
}

/* ---- skipped on the receiver's ACK ------------------------------------------- */

/* Client bytes [10,20) are lost; the server acknowledges past them. */
static void test_hole_acked(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, S, 8);
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n");              /* [20,30) waits behind the hole */
    assert_int_equal(queued(&M.s[0], C), 80); /* round16(40 + 10 + 16) */
    ack_to(&c, S, 30);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"); /* the segment may still come: a tap reorders */
    reorder_window_passes(&c, S);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n");
    assert_int_equal(queued(&M.s[0], C), 0);
    /* the stream goes on in order past the skipped hole */
    say(&c, C, 7);
    say(&c, S, 5);
    close_fin(&c);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 17\n"
               "data 0 s 5\n"
               "close 0 fin\n");
    mstream *s = &M.s[0];
    assert_int_equal(s->len[C], 27);
    assert_bytes(s, C, 0, 0, 10);
    assert_bytes(s, C, 10, 20, 17);
    assert_whole(s, S, 13);
    /* client: SYN, ACK, 3 data, FIN, last ACK */
    assert_stats(s, C, 27, 7, 10);
    assert_stats(s, S, 13, 7, 0);
    st_reasm_counters k = counters();
    assert_int_equal(k.holes, 1);
    assert_int_equal(k.hole_bytes, 10);
}

/* The same in the other direction: server bytes [8,20) lost, the client
 * acknowledges past them. */
static void test_hole_acked_server(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, S, 0, 8);
    seg(&c, S, 20, 6);
    seg(&c, S, 26, 4);
    say(&c, C, 5);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 5\n");
    ack_to(&c, C, 30);
    reorder_window_passes(&c, C);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 5\n"
               "gap 0 s 12\n"
               "data 0 s 10\n");
    assert_int_equal(queued(&M.s[0], S), 0);
    assert_int_equal(M.s[0].len[S], 18);
    assert_bytes(&M.s[0], S, 0, 0, 8);
    assert_bytes(&M.s[0], S, 8, 20, 10);
    assert_whole(&M.s[0], C, 5);
    assert_int_equal(M.s[0].ngap[C], 0);
    st_reasm_flush();
    assert_stats(&M.s[0], S, 18, 4, 12);
    assert_stats(&M.s[0], C, 5, 5, 0);
}

/* The ACK past the hole is captured before the segment behind it: the hole
 * is skipped as soon as there is something to deliver behind it. */
static void test_hole_ack_first(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    ack_to(&c, S, 30);
    assert_log("open 0\n"
               "data 0 c 10\n");
    seg(&c, C, 20, 10);
    assert_log("open 0\n"
               "data 0 c 10\n");
    reorder_window_passes(&c, S);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n");
    assert_bytes(&M.s[0], C, 10, 20, 10);
}

/* An ACK inside the hole proves it too; the gap is the whole hole. */
static void test_hole_ack_inside(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    ack_to(&c, S, 11);
    reorder_window_passes(&c, S);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n");
}

/* A duplicate ACK (up to the hole, not past it) proves nothing: the
 * segment may still come, and when it does nothing is missing. */
static void test_dup_ack_no_skip(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    ack_to(&c, S, 10);
    ack_to(&c, S, 10);
    assert_log("open 0\n"
               "data 0 c 10\n");
    seg(&c, C, 10, 10); /* the retransmission */
    ack_to(&c, S, 30);
    assert_log("open 0\n"
               "data 0 c 30\n");
    assert_whole(&M.s[0], C, 30);
    assert_int_equal(counters().holes, 0);
}

/* Two holes behind one ACK: each announced with its own length, in order. */
static void test_two_holes(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10); /* hole [10,20) */
    seg(&c, C, 33, 7);  /* hole [30,33) */
    ack_to(&c, S, 40);
    reorder_window_passes(&c, S);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n"
               "gap 0 c 3\n"
               "data 0 c 7\n");
    assert_int_equal(M.s[0].len[C], 27);
    assert_bytes(&M.s[0], C, 10, 20, 10);
    assert_bytes(&M.s[0], C, 20, 33, 7);
    st_reasm_counters k = counters();
    assert_int_equal(k.holes, 2);
    assert_int_equal(k.hole_bytes, 13);
}

/* ---- late, not lost ------------------------------------------------------ */

static void test_swapped(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    seg(&c, C, 10, 10);
    ack_all(&c, S);
    seg(&c, S, 6, 6);
    seg(&c, S, 0, 6);
    close_fin(&c);
    assert_log("open 0\n"
               "data 0 c 30\n"
               "data 0 s 12\n"
               "close 0 fin\n");
    assert_whole(&M.s[0], C, 30);
    assert_whole(&M.s[0], S, 12);
    assert_stats(&M.s[0], C, 30, 7, 0);
    assert_int_equal(counters().holes, 0);
}

/* The late segment overlaps what is queued: libnids delivers the overlap
 * once. */
static void test_late_overlapping_fill(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 15, 15);
    seg(&c, C, 10, 10); /* [10,20): fills the hole and overlaps [15,20) */
    ack_all(&c, S);
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 c 30\n"
               "close 0 eof\n");
    assert_whole(&M.s[0], C, 30);
}

/* ---- skipped when the queue grows --------------------------------------- */

/* libnids charges a queued segment round16(IP length + 16) bytes (DLT_RAW,
 * sk_buff_size 0): 112 for 50 bytes of payload. */
static void test_ooo_limit(void **state)
{
    st_reasm_config cfg = with_ooo_limit(224);
    start(&cfg);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 50);
    seg(&c, C, 100, 50);
    seg(&c, C, 150, 50); /* 224 queued: not past the limit */
    assert_log("open 0\n"
               "data 0 c 50\n");
    assert_int_equal(queued(&M.s[0], C), 224);
    seg(&c, C, 200, 50); /* 336 */
    assert_int_equal(queued(&M.s[0], C), 0);
    assert_log("open 0\n"
               "data 0 c 50\n"
               "gap 0 c 50\n"
               "data 0 c 150\n");
    assert_int_equal(M.s[0].len[C], 200);
    assert_bytes(&M.s[0], C, 50, 100, 150);
    /* the queue was freed: what follows is in order */
    seg(&c, C, 250, 20);
    assert_int_equal(M.s[0].len[C], 220);
    assert_bytes(&M.s[0], C, 200, 250, 20);
    st_reasm_flush();
    assert_stats(&M.s[0], C, 220, 7, 50);
    st_reasm_counters k = counters();
    assert_int_equal(k.holes, 1);
    assert_int_equal(k.hole_bytes, 50);
    assert_int_equal(k.nids_warnings[8 /* NIDS_WARN_TCP_BIGQUEUE */], 0);
}

/* With ooo_limit out of the way, libnids' own 64 KiB limit: it warns
 * (BIGQUEUE) and frees its queue; the layer delivers the queue from the
 * warning first. 1000-byte segments are charged 1056: the 63rd passes
 * 65535. */
static void test_libnids_bigqueue(void **state)
{
    st_reasm_config cfg = with_ooo_limit(1 << 30);
    start(&cfg);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 1000);
    for (uint32_t i = 0; i < 62; i++)
        seg(&c, C, 2000 + i * 1000, 1000);
    assert_log("open 0\n"
               "data 0 c 1000\n");
    seg(&c, C, 64000, 1000);
    assert_log("open 0\n"
               "data 0 c 1000\n"
               "gap 0 c 1000\n"
               "data 0 c 63000\n");
    assert_int_equal(M.s[0].len[C], 64000);
    assert_bytes(&M.s[0], C, 1000, 2000, 63000);
    assert_int_equal(counters().nids_warnings[8 /* NIDS_WARN_TCP_BIGQUEUE */], 1);
    seg(&c, C, 65000, 500);
    assert_bytes(&M.s[0], C, 64000, 65000, 500);
    st_reasm_flush();
    assert_stats(&M.s[0], C, 64500, 67, 1000); /* SYN, ACK, 65 data */
}

/* ---- overlapping queued segments ------------------------------------------ */

/* Queued behind the hole: [20,30), [22,28) (inside it) and [25,40)
 * (overlapping it). After [20,30) is delivered the edge is 30: [22,28)
 * brings nothing, [25,40) only [30,40). */
static void test_overlap_from_edge(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    seg(&c, C, 22, 6);
    seg(&c, C, 25, 15);
    ack_to(&c, S, 40);
    reorder_window_passes(&c, S);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 20\n");
    assert_int_equal(M.s[0].len[C], 30);
    assert_bytes(&M.s[0], C, 0, 0, 10);
    assert_bytes(&M.s[0], C, 10, 20, 20);
    say(&c, C, 5);
    assert_int_equal(M.s[0].len[C], 35);
    assert_bytes(&M.s[0], C, 30, 40, 5);
    st_reasm_flush();
    assert_stats(&M.s[0], C, 35, 7, 10);
}

/* The same queue, salvaged by flush instead of an ACK, and with the
 * overlapping segments captured first (the queue is sorted by sequence
 * number, not arrival). */
static void test_overlap_at_flush(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 25, 15);
    seg(&c, C, 22, 6);
    seg(&c, C, 20, 10);
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 20\n"
               "close 0 eof\n");
    assert_int_equal(M.s[0].len[C], 30);
    assert_bytes(&M.s[0], C, 10, 20, 20);
}

/* ---- at the end of the stream --------------------------------------------- */

static void test_hole_at_flush(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, S, 0, 8);
    seg(&c, S, 12, 4); /* server hole [8,12) */
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10); /* client hole [10,20) */
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n");
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n"
               "gap 0 s 4\n"
               "data 0 s 4\n"
               "close 0 eof\n");
    assert_bytes(&M.s[0], C, 10, 20, 10);
    assert_bytes(&M.s[0], S, 8, 12, 4);
    assert_stats(&M.s[0], C, 20, 4, 10);
    assert_stats(&M.s[0], S, 12, 3, 4);
    st_reasm_counters k = counters();
    assert_int_equal(k.holes, 2);
    assert_int_equal(k.hole_bytes, 14);
}

/* Shutdown without a flush first (a signal) does the same. */
static void test_hole_at_shutdown(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 15, 5);
    st_reasm_shutdown();
    running = 0;
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 5\n"
               "data 0 c 5\n"
               "close 0 eof\n");
    assert_bytes(&M.s[0], C, 10, 15, 5);
    assert_stats(&M.s[0], C, 15, 4, 5);
}

/* A FIN queued behind a hole that nobody acknowledged past, then the
 * server's FIN: libnids' 10 s closing timer (tcp_workarounds) ends the
 * stream on the first packet after it, and the layer delivers what is
 * queued first. The hole is at the end: a gap before the FIN. */
static void test_fin_behind_hole_closing_timer(void **state)
{
    start(NULL);
    conn c = conn_new(40000), other = conn_new(40001);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    fin(&c, C);
    ack_to(&c, S, 10); /* duplicate ACK: proves nothing */
    fin(&c, S);
    ack_to(&c, C, 0);
    assert_log("open 0\n"
               "data 0 c 10\n");
    at(11);
    handshake(&other); /* any packet runs libnids' timers */
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n"
               "close 0 timeout\n"
               "open 1\n");
    assert_stats(&M.s[0], C, 20, 6, 10); /* SYN, ACK, 2 data, FIN, ACK */
    st_reasm_counters k = counters();
    assert_int_equal(k.idle_closed, 0);
    assert_int_equal(k.evicted, 0);
}

/* ---- the consumer drops the stream during salvage ---------------------------- */

static void test_drop_in_salvage(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    M.s[0].drop_at[C] = 15;
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    seg(&c, C, 30, 10);
    ack_to(&c, S, 40);
    say(&c, C, 5);
    say(&c, S, 5);
    close_fin(&c);
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n"
               "drop 0\n");
    assert_false(M.s[0].closed);
}

static void test_drop_in_flush_salvage(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    M.s[0].drop_at[C] = 15;
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n"
               "drop 0\n");
    assert_false(M.s[0].closed);
    st_reasm_flush();
    assert_int_equal(M.n, 1);
}

/* The client's last data segment before its FIN is lost; the server
 * acknowledges everything, FIN included, and the FIN exchange completes:
 * the session closes "fin" on the last ACK. (It did not, while the queued
 * FIN was freed with the data when the ACK made the layer skip the hole:
 * libnids never learnt of it and the session ended by a timer.) */
static void test_fin_behind_acked_hole(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    fin(&c, C);
    ack_all(&c, S);
    fin(&c, S);
    ack_all(&c, C);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 10\n"
               "close 0 fin\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_hole_acked, stop),
        cmocka_unit_test_teardown(test_hole_acked_server, stop),
        cmocka_unit_test_teardown(test_hole_ack_first, stop),
        cmocka_unit_test_teardown(test_hole_ack_inside, stop),
        cmocka_unit_test_teardown(test_dup_ack_no_skip, stop),
        cmocka_unit_test_teardown(test_two_holes, stop),
        cmocka_unit_test_teardown(test_swapped, stop),
        cmocka_unit_test_teardown(test_late_overlapping_fill, stop),
        cmocka_unit_test_teardown(test_ooo_limit, stop),
        cmocka_unit_test_teardown(test_libnids_bigqueue, stop),
        cmocka_unit_test_teardown(test_overlap_from_edge, stop),
        cmocka_unit_test_teardown(test_overlap_at_flush, stop),
        cmocka_unit_test_teardown(test_hole_at_flush, stop),
        cmocka_unit_test_teardown(test_hole_at_shutdown, stop),
        cmocka_unit_test_teardown(test_fin_behind_hole_closing_timer, stop),
        cmocka_unit_test_teardown(test_drop_in_salvage, stop),
        cmocka_unit_test_teardown(test_drop_in_flush_salvage, stop),
        cmocka_unit_test_teardown(test_fin_behind_acked_hole, stop),
    };
    return cmocka_run_group_tests_name("reassembly_holes", tests, NULL, NULL);
}
