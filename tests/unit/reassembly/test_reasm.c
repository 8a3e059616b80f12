/*
 * test_reasm.c - whole TCP sessions through the reassembly layer
 * (reassembly/reasm.c): what the consumer is told from the handshake to
 * the close, and the counters.
 *
 * Truth: packet sequences written here (harness.h) from the TCP rules -
 * which bytes each side sent, which packets exist, how the session ends -
 * so every delivered byte, close reason, per-direction byte and packet
 * count and counter is known before the layer runs. Cases: an in-order
 * session over IPv4 and IPv6; two interleaved sessions; more than a window
 * of data with the receiver's ACKs missing; RST from either side; a 4-tuple reused by a
 * new SYN after libnids' 5 s flow timeout (old session closed "evicted"
 * with its record, new one opened) and a SYN inside it (ignored); a
 * capture with only the client's side (the layer makes up the SYN-ACK),
 * with and without a hole; a connection the consumer refuses; a consumer
 * that drops a stream; libnids' stream table (flushed streams leave it, a
 * full table evicts the oldest with a record); init and shutdown several
 * times in one process.
 */
#include "harness.h"

/* ---- in-order sessions --------------------------------------------------- */

static void assert_endpoint4(const st_endpoint *e, const char *addr, uint16_t port)
{
    uint8_t a[4];
    assert_int_equal(inet_pton(AF_INET, addr, a), 1);
    assert_int_equal(e->family, AF_INET);
    assert_memory_equal(e->addr, a, 4);
    assert_int_equal(e->port, port);
}

static void test_in_order(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    assert_log("open 0\n");
    say(&c, S, 8);
    say(&c, C, 10);
    say(&c, S, 8);
    say(&c, C, 6);
    say(&c, S, 9);
    close_fin(&c);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "data 0 s 8\n"
               "data 0 c 6\n"
               "data 0 s 9\n"
               "close 0 fin\n");
    mstream *s = &M.s[0];
    assert_endpoint4(&s->cli, "10.0.0.1", 40000);
    assert_endpoint4(&s->srv, "10.0.0.2", 25);
    assert_whole(s, C, 16);
    assert_whole(s, S, 25);
    /* Client: SYN, ACK, 2 data, FIN and the last ACK (it closes the stream
     * inside libnids, and is counted all the same); server: SYN-ACK, 3
     * data, ACK, FIN. */
    assert_stats(s, C, 16, 6, 0);
    assert_stats(s, S, 25, 6, 0);

    st_reasm_counters k = counters();
    assert_int_equal(k.packets, 12);
    assert_int_equal(k.packets, sent_frames);
    assert_int_equal(k.bytes, sent_bytes);
    assert_int_equal(k.streams, 1);
    assert_int_equal(k.holes, 0);
    assert_int_equal(k.hole_bytes, 0);
    assert_int_equal(k.not_ip + k.l2_errors + k.ip_errors + k.not_tcp, 0);
    assert_int_equal(k.idle_closed + k.reused + k.evicted + k.one_sided + k.trimmed, 0);

    /* After the close the 4-tuple is unknown: a late retransmission is
     * nobody's. */
    seg(&c, C, 10, 6);
    st_reasm_flush();
    assert_int_equal(M.n, 1);
    assert_string_equal(M.err, "");
    assert_true(strstr(M.log, "close 0 fin\n") + strlen("close 0 fin\n") == M.log + M.loglen);
}

static void test_ipv6(void **state)
{
    start(NULL);
    conn c = conn_new6(40000);
    handshake(&c);
    say(&c, S, 8);
    say(&c, C, 12);
    close_fin(&c);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 12\n"
               "close 0 fin\n");
    mstream *s = &M.s[0];
    assert_int_equal(s->cli.family, AF_INET6);
    assert_memory_equal(s->cli.addr, c.ip6[C], 16);
    assert_int_equal(s->cli.port, 40000);
    assert_int_equal(s->srv.family, AF_INET6);
    assert_memory_equal(s->srv.addr, c.ip6[S], 16);
    assert_int_equal(s->srv.port, 25);
    assert_whole(s, C, 12);
    assert_whole(s, S, 8);
    assert_stats(s, C, 12, 5, 0); /* SYN, ACK, data, FIN, last ACK */
    assert_stats(s, S, 8, 4, 0);
    st_reasm_counters k = counters();
    assert_int_equal(k.ipv6_tcp, sent_frames);
    assert_int_equal(k.streams, 1);
}

/* Two connections interleaved packet by packet stay apart. */
static void test_two_streams(void **state)
{
    start(NULL);
    conn a = conn_new(40000), b = conn_new(40001);
    handshake(&a);
    handshake(&b);
    say(&a, S, 5);
    say(&b, S, 7);
    say(&a, C, 11);
    say(&b, C, 13);
    close_fin(&b);
    close_fin(&a);
    assert_log("open 0\n"
               "open 1\n"
               "data 0 s 5\n"
               "data 1 s 7\n"
               "data 0 c 11\n"
               "data 1 c 13\n"
               "close 1 fin\n"
               "close 0 fin\n");
    assert_whole(&M.s[0], C, 11);
    assert_whole(&M.s[0], S, 5);
    assert_whole(&M.s[1], C, 13);
    assert_whole(&M.s[1], S, 7);
    assert_int_equal(M.s[1].cli.port, 40001);
}

/* The server's ACKs are missing from the capture (an asymmetric tap that
 * lost them, a synthetic trace): libnids would drop every segment past the
 * last ACK plus one window (65535 here); the layer keeps the window open. */
static void test_acks_missing(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    for (int i = 0; i < 100; i++)
        say(&c, C, 1400);
    say(&c, S, 10);
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 c 140000\n"
               "data 0 s 10\n"
               "close 0 eof\n");
    assert_whole(&M.s[0], C, 140000);
}

/* ---- RST ------------------------------------------------------------------- */

static void test_rst_from_client(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, S, 8);
    say(&c, C, 10);
    rst(&c, C);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "close 0 rst\n");
    /* SYN, ACK, data, and the RST that closes it inside libnids */
    assert_stats(&M.s[0], C, 10, 4, 0);
    assert_stats(&M.s[0], S, 8, 2, 0);
    /* nothing more on that 4-tuple */
    say(&c, S, 4);
    st_reasm_flush();
    assert_int_equal(M.n, 1);
    assert_string_equal(M.err, "");
}

static void test_rst_from_server(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, S, 8);
    say(&c, C, 10);
    ack_all(&c, S);
    rst(&c, S);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "close 0 rst\n");
    assert_stats(&M.s[0], C, 10, 3, 0);
    assert_stats(&M.s[0], S, 8, 4, 0); /* SYN-ACK, data, ACK, RST */
}

/* A RST before the handshake completed is nobody's business. */
static void test_rst_in_handshake(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    send_raw(&c, C, F_SYN, c.isn[C], 0, NULL, 0);
    send_raw(&c, S, F_RST | F_ACK, 0, c.isn[C] + 1, NULL, 0);
    st_reasm_flush();
    assert_log("");
    assert_int_equal(counters().streams, 0);
}

/* ---- 4-tuple reuse ---------------------------------------------------------- */

/* The same client port, a new ISN. */
static conn conn_again(const conn *old)
{
    conn c = conn_new(old->port[C]);
    c.isn[C] = old->isn[C] + 0x01000000u;
    c.isn[S] = old->isn[S] + 0x02000000u;
    return c;
}

static void test_reuse_after_flow_timeout(void **state)
{
    start(NULL);
    conn a = conn_new(40000);
    handshake(&a);
    say(&a, S, 8);
    say(&a, C, 10);
    /* libnids replaces a stream whose handshake is more than
     * tcp_flow_timeout (5 s) old when its client sends a new SYN; the layer
     * closes the old one first so that its record is written. */
    at(6);
    conn b = conn_again(&a);
    handshake(&b);
    say(&b, S, 4);
    say(&b, C, 3);
    close_fin(&b);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "close 0 evicted\n"
               "open 1\n"
               "data 1 s 4\n"
               "data 1 c 3\n"
               "close 1 fin\n");
    assert_whole(&M.s[0], C, 10);
    assert_whole(&M.s[0], S, 8);
    assert_stats(&M.s[0], C, 10, 3, 0); /* the new SYN is not the old stream's */
    assert_stats(&M.s[0], S, 8, 2, 0);
    assert_whole(&M.s[1], C, 3);
    assert_whole(&M.s[1], S, 4);
    assert_stats(&M.s[1], C, 3, 5, 0); /* SYN, ACK, data, FIN, last ACK */
    st_reasm_counters k = counters();
    assert_int_equal(k.reused, 1);
    assert_int_equal(k.evicted, 0);
    assert_int_equal(k.streams, 2);
}

/* A retransmitted SYN and a repeated SYN-ACK are packets of the session
 * (tshark counts them in the conversation): each side one more. */
static void test_handshake_retransmissions_counted(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    send_raw(&c, C, F_SYN, c.isn[C], 0, NULL, 0);
    advance_ms(1000);
    send_raw(&c, C, F_SYN, c.isn[C], 0, NULL, 0); /* the SYN again: no answer came */
    send_raw(&c, S, F_SYN | F_ACK, c.isn[S], c.isn[C] + 1, NULL, 0);
    send_raw(&c, S, F_SYN | F_ACK, c.isn[S], c.isn[C] + 1, NULL, 0); /* and its answer twice */
    send_raw(&c, C, F_ACK, c.isn[C] + 1, c.isn[S] + 1, NULL, 0);
    say(&c, C, 10);
    close_fin(&c);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "close 0 fin\n");
    assert_stats(&M.s[0], C, 10, 6, 0); /* SYN twice, ACK, data, FIN, last ACK */
    assert_stats(&M.s[0], S, 0, 4, 0);  /* SYN-ACK twice, the ACK of the FIN, FIN */
}

/* A SYN on a live 4-tuple within the flow timeout is a retransmission or a
 * stray: libnids ignores it, and so must the layer. */
static void test_syn_within_flow_timeout(void **state)
{
    start(NULL);
    conn a = conn_new(40000);
    handshake(&a);
    say(&a, C, 10);
    at(5); /* handshake + 5 s: not yet past the timeout */
    conn b = conn_again(&a);
    send_raw(&b, C, F_SYN, b.isn[C], 0, NULL, 0);
    say(&a, C, 4);
    close_fin(&a);
    assert_log("open 0\n"
               "data 0 c 14\n"
               "close 0 fin\n");
    assert_whole(&M.s[0], C, 14);
    assert_int_equal(counters().reused, 0);
}

/* ---- one-sided captures ------------------------------------------------------ */

static void test_one_sided(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake_client_only(&c);
    assert_log("open 0\n");
    say(&c, C, 10);
    say(&c, C, 7);
    fin(&c, C);
    /* No server ACK will ever confirm the FIN: the stream ends with the
     * input. */
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 c 17\n"
               "close 0 eof\n");
    assert_whole(&M.s[0], C, 17);
    assert_whole(&M.s[0], S, 0);
    assert_endpoint4(&M.s[0].srv, "10.0.0.2", 25);
    assert_stats(&M.s[0], C, 17, 5, 0); /* SYN, ACK, 2 data, FIN */
    assert_stats(&M.s[0], S, 0, 0, 0);  /* the made-up SYN-ACK is not counted */
    st_reasm_counters k = counters();
    assert_int_equal(k.one_sided, 1);
    assert_int_equal(k.streams, 1);
}

/* More data than one 65535-byte window, with no server ACK to move it: the
 * layer keeps the window open. */
static void test_one_sided_long(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake_client_only(&c);
    for (int i = 0; i < 100; i++)
        say(&c, C, 1400);
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 c 140000\n"
               "close 0 eof\n");
    assert_whole(&M.s[0], C, 140000);
}

/* Without server ACKs a hole is known only when the stream ends. */
static void test_one_sided_hole(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake_client_only(&c);
    seg(&c, C, 0, 10);
    seg(&c, C, 20, 10);
    seg(&c, C, 30, 5);
    assert_log("open 0\n"
               "data 0 c 10\n");
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 c 10\n"
               "gap 0 c 10\n"
               "data 0 c 15\n"
               "close 0 eof\n");
    assert_int_equal(M.s[0].len[C], 25);
    assert_bytes(&M.s[0], C, 0, 0, 10);
    assert_bytes(&M.s[0], C, 10, 20, 15);
    assert_stats(&M.s[0], C, 25, 5, 10);
}

/* A SYN-ACK that does answer the SYN is used, not replaced. */
static void test_two_sided_not_one_sided(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, C, 5);
    st_reasm_flush();
    assert_int_equal(counters().one_sided, 0);
    assert_stats(&M.s[0], S, 0, 1, 0); /* its SYN-ACK */
}

/* ---- the consumer's choices ----------------------------------------------------- */

static void test_refused(void **state)
{
    start(NULL);
    M.refuse = 1;
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, S, 8);
    say(&c, C, 10);
    close_fin(&c);
    st_reasm_flush();
    assert_log("refused\n");
    assert_int_equal(counters().streams, 0);
}

/* data() returning 0 drops the stream: no close, no more callbacks. */
static void test_consumer_drops(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, S, 8);
    M.s[0].drop_at[C] = 10;
    say(&c, C, 10);
    say(&c, S, 8);
    say(&c, C, 4);
    close_fin(&c);
    st_reasm_flush();
    assert_log("open 0\n"
               "data 0 s 8\n"
               "data 0 c 10\n"
               "drop 0\n");
    assert_false(M.s[0].closed);
}

/* ---- libnids' stream table ------------------------------------------------- */

/* After a flush the 4-tuple is free at once: libnids ignores a client SYN
 * on a stream it still holds whose handshake is less than 5 s old. And
 * the flushed streams leave libnids' small table, which would otherwise
 * fill up and evict. */
static void test_flush_frees_libnids_streams(void **state)
{
    st_reasm_config cfg;
    st_reasm_config_default(&cfg);
    cfg.max_streams = 16; /* libnids: 24 buckets, 18 streams */
    start(&cfg);
    for (int i = 0; i < 30; i++) {
        conn c = conn_new(40000);
        c.isn[C] += (uint32_t)i * 0x10000u;
        handshake(&c);
        say(&c, C, 4);
        st_reasm_flush();
    }
    assert_int_equal(M.n, 30);
    for (int i = 0; i < 30; i++) {
        assert_true(M.s[i].closed);
        assert_int_equal(M.s[i].why, ST_CLOSE_EOF);
        assert_whole(&M.s[i], C, 4);
    }
    st_reasm_counters k = counters();
    assert_int_equal(k.evicted, 0);
    assert_int_equal(k.reused, 0);
    assert_int_equal(k.nids_warnings[6 /* NIDS_WARN_TCP_TOOMUCH */], 0);
}

/* A full table: libnids evicts the oldest stream for a new SYN, and the
 * layer closes it "evicted" with its record. max_streams 16 gives libnids
 * 16/3*4+4 = 24 buckets and 3/4 of that, 18, streams; it evicts when a SYN
 * comes while more than 18 exist, so on the 20th. */
static void test_table_full_evicts_oldest(void **state)
{
    st_reasm_config cfg;
    st_reasm_config_default(&cfg);
    cfg.max_streams = 16; /* exactly: libnids' table is sized to keep 16 */
    start(&cfg);
    conn c[17];
    for (int i = 0; i < 16; i++) {
        c[i] = conn_new((uint16_t)(40000 + i));
        handshake(&c[i]);
        say(&c[i], C, (size_t)(i + 1));
    }
    assert_int_equal(M.n, 16);
    for (int i = 0; i < 16; i++)
        assert_false(M.s[i].closed);
    c[16] = conn_new(40016);
    handshake(&c[16]);
    assert_log_tail("open 15\n"
                    "data 15 c 16\n"
                    "close 0 evicted\n"
                    "open 16\n");
    assert_stats(&M.s[0], C, 1, 3, 0);
    for (int i = 1; i < 17; i++)
        assert_false(M.s[i].closed);
    st_reasm_counters k = counters();
    assert_int_equal(k.evicted, 1);
    /* the table never fills for libnids: reassembly/evict.c makes room first */
    assert_int_equal(k.nids_warnings[6 /* NIDS_WARN_TCP_TOOMUCH */], 0);
    say(&c[0], C, 5); /* nobody's now */
    say(&c[1], C, 5);
    assert_int_equal(M.s[1].len[C], 7);
}

/* ---- life cycle ------------------------------------------------------------ */

/* libnids keeps global state; st_reasm_init after st_reasm_shutdown must
 * start clean: a session left open at shutdown is closed "eof", and the
 * next cycle sees the same 4-tuple as new. */
static void test_reinit(void **state)
{
    for (int cycle = 0; cycle < 3; cycle++) {
        if (running)
            stop(NULL);
        start(NULL);
        conn c = conn_new(40000);
        handshake(&c);
        say(&c, C, (size_t)(5 + cycle));
        st_reasm_shutdown();
        running = 0;
        assert_string_equal(M.err, "");
        char want[64];
        snprintf(want, sizeof want, "open 0\ndata 0 c %d\nclose 0 eof\n", 5 + cycle);
        assert_string_equal(M.log, want);
        assert_whole(&M.s[0], C, (size_t)(5 + cycle));
        assert_int_equal(counters().streams, 1);
    }
}

/* The packet that closes a stream (the last ACK of the FIN exchange, a
 * RST) is in the record's packet counts (docs/record.md: "packets per
 * direction, SYN and SYN-ACK included"), though libnids frees the stream
 * while it handles that packet (it was missing while packets were counted
 * after libnids). */
static void test_closing_packet_counted(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    handshake(&c);
    say(&c, C, 10);
    close_fin(&c);
    conn d = conn_new(40001);
    handshake(&d);
    say(&d, C, 10);
    rst(&d, C);
    assert_log("open 0\n"
               "data 0 c 10\n"
               "close 0 fin\n"
               "open 1\n"
               "data 1 c 10\n"
               "close 1 rst\n");
    assert_stats(&M.s[0], C, 10, 5, 0); /* SYN, ACK, data, FIN, last ACK */
    assert_stats(&M.s[1], C, 10, 4, 0); /* SYN, ACK, data, RST */
}

/* libnids reuses a freed stream's slot for the next new stream: the next
 * two-sided connection after a one-sided one must not be taken for
 * one-sided (it was, while reasm.c kept the stream it gave a made-up
 * SYN-ACK in a pointer never cleared: its SYN-ACK went uncounted and a
 * hole the server acknowledged was not skipped until the stream idled). */
static void test_one_sided_does_not_mark_next(void **state)
{
    start(NULL);
    conn a = conn_new(40000);
    handshake_client_only(&a);
    say(&a, C, 5);
    rst(&a, C);
    conn b = conn_new(40001);
    handshake(&b);
    seg(&b, C, 0, 10);
    seg(&b, C, 20, 10);
    ack_to(&b, S, 30);
    reorder_window_passes(&b, S);
    assert_log("open 0\n"
               "data 0 c 5\n"
               "close 0 rst\n"
               "open 1\n"
               "data 1 c 10\n"
               "gap 1 c 10\n"
               "data 1 c 10\n");
    st_reasm_flush();
    assert_stats(&M.s[1], S, 0, 3, 0); /* SYN-ACK, ACK, the same ACK later */
    assert_int_equal(counters().one_sided, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_in_order, stop),
        cmocka_unit_test_teardown(test_ipv6, stop),
        cmocka_unit_test_teardown(test_two_streams, stop),
        cmocka_unit_test_teardown(test_acks_missing, stop),
        cmocka_unit_test_teardown(test_rst_from_client, stop),
        cmocka_unit_test_teardown(test_rst_from_server, stop),
        cmocka_unit_test_teardown(test_rst_in_handshake, stop),
        cmocka_unit_test_teardown(test_reuse_after_flow_timeout, stop),
        cmocka_unit_test_teardown(test_syn_within_flow_timeout, stop),
        cmocka_unit_test_teardown(test_one_sided, stop),
        cmocka_unit_test_teardown(test_one_sided_long, stop),
        cmocka_unit_test_teardown(test_one_sided_hole, stop),
        cmocka_unit_test_teardown(test_two_sided_not_one_sided, stop),
        cmocka_unit_test_teardown(test_refused, stop),
        cmocka_unit_test_teardown(test_consumer_drops, stop),
        cmocka_unit_test_teardown(test_flush_frees_libnids_streams, stop),
        cmocka_unit_test_teardown(test_table_full_evicts_oldest, stop),
        cmocka_unit_test_teardown(test_handshake_retransmissions_counted, stop),
        cmocka_unit_test_teardown(test_reinit, stop),
        cmocka_unit_test_teardown(test_one_sided_does_not_mark_next, stop),
        cmocka_unit_test_teardown(test_closing_packet_counted, stop),
    };
    return cmocka_run_group_tests_name("reassembly", tests, NULL, NULL);
}
