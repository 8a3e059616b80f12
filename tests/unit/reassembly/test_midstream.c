/*
 * test_midstream.c - connections whose handshake was never seen
 * (reassembly/midstream.c): which are picked up, with which side as the
 * client, from which byte on; which are not, and that those are counted.
 *
 * Truth: the packets written here (harness.h) and the rules of the
 * issue: a reply line ("NNN " / "NNN-") comes from the server, a command
 * verb from the client, the SMTP ports are a hint only; the first byte
 * delivered is the first byte of the packet that was picked up; a
 * connection the consumer gave up, refused or that ended is never picked
 * up again; every payload packet of a connection nobody follows counts in
 * unfollowed / unfollowed_bytes.
 */
#include "harness.h"

/* from sends the bytes s (its next ones), acknowledging all it has seen. */
static void speak(conn *c, int from, const char *s)
{
    size_t n = strlen(s);
    c->acked[from] = c->next[!from];
    send_raw(c, from, F_ACK | F_PSH, seq_of(c, from, c->next[from]), ack_of(c, from),
             (const uint8_t *)s, n);
    c->next[from] += (uint32_t)n;
}

static void assert_got(const mstream *s, int from, const char *want)
{
    size_t n = strlen(want);
    assert_int_equal(s->len[from], n);
    assert_memory_equal(s->bytes[from], want, n);
}

static void assert_endpoint(const st_endpoint *e, const uint8_t ip[4], uint16_t port)
{
    assert_int_equal(e->family, AF_INET);
    assert_memory_equal(e->addr, ip, 4);
    assert_int_equal(e->port, port);
}

/* The client's command first: it is the client, and its first byte is
 * the stream's first. No packet of the made-up handshake is counted. */
static void test_client_first(void **state)
{
    start(NULL);
    conn c = conn_new(40000);
    speak(&c, C, "MAIL FROM:<a@example.org>\r\n");
    speak(&c, S, "250 2.1.0 Ok\r\n");
    speak(&c, C, "QUIT\r\n");
    speak(&c, S, "221 Bye\r\n");
    close_fin(&c);
    assert_log("open 0\n"
               "data 0 c 27\n"
               "data 0 s 14\n"
               "data 0 c 6\n"
               "data 0 s 9\n"
               "close 0 fin\n");
    assert_endpoint(&M.s[0].cli, c.ip[C], 40000);
    assert_endpoint(&M.s[0].srv, c.ip[S], 25);
    assert_got(&M.s[0], C, "MAIL FROM:<a@example.org>\r\nQUIT\r\n");
    assert_got(&M.s[0], S, "250 2.1.0 Ok\r\n221 Bye\r\n");
    assert_stats(&M.s[0], C, 33, 4, 0); /* 2 data, FIN, last ACK */
    assert_stats(&M.s[0], S, 23, 4, 0); /* 2 data, ACK, FIN */
    st_reasm_counters k = counters();
    assert_int_equal(k.midstream, 1);
    assert_int_equal(k.streams, 1);
    assert_int_equal(k.unfollowed, 0);
}

/* The server's reply first: the other side is the client, and its bytes
 * start where the reply's acknowledgement says. */
static void test_server_first(void **state)
{
    start(NULL);
    conn c = conn_new(40001);
    c.next[C] = 500; /* the client sent 500 bytes before the capture began */
    c.next[S] = 300;
    speak(&c, S, "250-mx.example.net\r\n250 8BITMIME\r\n");
    speak(&c, C, "MAIL FROM:<a@example.org>\r\n");
    speak(&c, S, "250 2.1.0 Ok\r\n");
    assert_log("open 0\n"
               "data 0 s 34\n"
               "data 0 c 27\n"
               "data 0 s 14\n");
    assert_endpoint(&M.s[0].cli, c.ip[C], 40001);
    assert_got(&M.s[0], C, "MAIL FROM:<a@example.org>\r\n");
}

/* A client on port 25 talking to a server on 40002: bytes and ports
 * disagree, so one side alone decides nothing (a message line may look
 * like a reply); once the other side agrees, the bytes win. The packet
 * before is counted as not followed. */
static void test_bytes_over_ports(void **state)
{
    start(NULL);
    conn c = conn_new(25);
    c.port[S] = 40002;
    speak(&c, C, "EHLO client.example.org\r\n");
    assert_log("");
    speak(&c, S, "250 mx.example.net\r\n");
    speak(&c, C, "QUIT\r\n");
    assert_log("open 0\n"
               "data 0 s 20\n"
               "data 0 c 6\n");
    assert_endpoint(&M.s[0].cli, c.ip[C], 25);
    assert_endpoint(&M.s[0].srv, c.ip[S], 40002);
    st_reasm_counters k = counters();
    assert_int_equal(k.unfollowed, 1);
    assert_int_equal(k.unfollowed_bytes, 25);
}

/* No SMTP port: bytes that say nothing are watched (and counted), the
 * first line that says which side speaks is picked up. */
static void test_no_port_hint(void **state)
{
    start(NULL);
    conn c = conn_new(40003);
    c.port[S] = 8025;
    say(&c, C, 100); /* pattern bytes: no verb, no reply */
    say(&c, S, 50);
    assert_log("");
    speak(&c, C, "RSET\r\n");
    speak(&c, S, "250 2.0.0 Ok\r\n");
    assert_log("open 0\n"
               "data 0 c 6\n"
               "data 0 s 14\n");
    assert_endpoint(&M.s[0].srv, c.ip[S], 8025);
    st_reasm_counters k = counters();
    assert_int_equal(k.unfollowed, 2);
    assert_int_equal(k.unfollowed_bytes, 150);
}

/* Traffic that never says SMTP (and no SMTP port): watched for 64 KiB,
 * then blocked: even a line that looks like a reply is not picked up. */
static void test_not_smtp_blocked(void **state)
{
    start(NULL);
    conn c = conn_new(40004);
    c.port[S] = 443;
    int n = 0;
    for (uint32_t sent = 0; sent <= 65536; sent += 1400, n++)
        say(&c, S, 1400);
    speak(&c, S, "250 looks like a reply\r\n");
    speak(&c, C, "QUIT\r\n");
    assert_log("");
    st_reasm_counters k = counters();
    assert_int_equal(k.midstream, 0);
    assert_int_equal(k.unfollowed, (uint64_t)n + 2);
    assert_int_equal(k.unfollowed_bytes, (uint64_t)n * 1400 + 24 + 6);
}

/* midstream off: nothing without a handshake is followed; all counted. */
static void test_off(void **state)
{
    st_reasm_config cfg;
    st_reasm_config_default(&cfg);
    cfg.midstream = 0;
    start(&cfg);
    conn c = conn_new(40005);
    speak(&c, C, "MAIL FROM:<a@example.org>\r\n");
    speak(&c, S, "250 2.1.0 Ok\r\n");
    assert_log("");
    st_reasm_counters k = counters();
    assert_int_equal(k.unfollowed, 2);
    assert_int_equal(k.unfollowed_bytes, 27 + 14);
    assert_int_equal(k.midstream, 0);
}

/* A stream the consumer gives up is not picked up again from its next
 * packet; those are counted instead. */
static void test_dropped_not_again(void **state)
{
    start(NULL);
    conn c = conn_new(40006);
    handshake(&c);
    M.s[0].drop_at[C] = 0;
    say(&c, C, 10);
    M.s[0].drop_at[C] = 10;
    say(&c, C, 10);
    say(&c, C, 10);
    say(&c, S, 10);
    assert_log("open 0\n"
               "data 0 c 20\n"
               "drop 0\n");
    assert_int_equal(M.n, 1);
    st_reasm_counters k = counters();
    assert_int_equal(k.unfollowed, 2);
    assert_int_equal(k.unfollowed_bytes, 20);
    assert_int_equal(k.midstream, 0);
}

/* A stream the consumer refuses is asked once. */
static void test_refused_once(void **state)
{
    start(NULL);
    M.refuse = 1;
    conn c = conn_new(40007);
    speak(&c, C, "MAIL FROM:<a@example.org>\r\n");
    speak(&c, S, "250 2.1.0 Ok\r\n");
    speak(&c, C, "QUIT\r\n");
    assert_log("refused\n");
    assert_int_equal(counters().unfollowed, 3);
}

/* After a RST the other side's packets still in flight are stragglers,
 * not a new stream. */
static void test_after_rst(void **state)
{
    start(NULL);
    conn c = conn_new(40008);
    handshake(&c);
    say(&c, S, 8);
    rst(&c, C);
    say(&c, S, 8);
    assert_log("open 0\n"
               "data 0 s 8\n"
               "close 0 rst\n");
    assert_int_equal(counters().unfollowed, 1);
}

/* A first packet without ACK: the other side's sequence number is
 * unknown; the next packet is picked up. */
static void test_needs_an_ack(void **state)
{
    start(NULL);
    conn c = conn_new(40009);
    const char *cmd = "NOOP\r\n";
    send_raw(&c, C, F_PSH, seq_of(&c, C, 0), 0, (const uint8_t *)cmd, 6);
    c.next[C] = 6;
    assert_log("");
    speak(&c, C, "RSET\r\n");
    speak(&c, S, "250 2.0.0 Ok\r\n");
    assert_log("open 0\n"
               "data 0 c 6\n"
               "data 0 s 14\n");
    assert_got(&M.s[0], C, "RSET\r\n");
}

/* IPv6 streams are picked up alike. */
static void test_ipv6(void **state)
{
    start(NULL);
    conn c = conn_new6(40010);
    speak(&c, C, "DATA\r\n");
    speak(&c, S, "354 go\r\n");
    assert_log("open 0\n"
               "data 0 c 6\n"
               "data 0 s 8\n");
    assert_int_equal(M.s[0].cli.family, AF_INET6);
    assert_memory_equal(M.s[0].cli.addr, c.ip6[C], 16);
    assert_int_equal(M.s[0].srv.port, 25);
}

/* A stream closed for eviction (table full) is not picked up by its next
 * packet: that would evict another one. */
static void test_evicted_not_again(void **state)
{
    st_reasm_config cfg;
    st_reasm_config_default(&cfg);
    cfg.max_streams = 16;
    start(&cfg);
    conn c[17];
    for (int i = 0; i < 17; i++) {
        c[i] = conn_new((uint16_t)(41000 + i));
        handshake(&c[i]);
        say(&c[i], C, 4);
    }
    assert_log_tail("close 0 evicted\nopen 16\ndata 16 c 4\n");
    say(&c[0], C, 4);
    assert_log_tail("close 0 evicted\nopen 16\ndata 16 c 4\n");
    assert_int_equal(M.n, 17);
    assert_int_equal(counters().unfollowed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_client_first, stop),
        cmocka_unit_test_teardown(test_server_first, stop),
        cmocka_unit_test_teardown(test_bytes_over_ports, stop),
        cmocka_unit_test_teardown(test_no_port_hint, stop),
        cmocka_unit_test_teardown(test_not_smtp_blocked, stop),
        cmocka_unit_test_teardown(test_off, stop),
        cmocka_unit_test_teardown(test_dropped_not_again, stop),
        cmocka_unit_test_teardown(test_refused_once, stop),
        cmocka_unit_test_teardown(test_after_rst, stop),
        cmocka_unit_test_teardown(test_needs_an_ack, stop),
        cmocka_unit_test_teardown(test_ipv6, stop),
        cmocka_unit_test_teardown(test_evicted_not_again, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
