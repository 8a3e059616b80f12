/*
 * test_join.c - joining a dialogue mid-stream (smtp/join.c, st_smtp_midstream).
 *
 * A capture that began after the session did: the parser gets the bytes of
 * each direction from some point on, at a command, at a reply, inside DATA
 * or BDAT content, inside an AUTH exchange. The truth is the dialogue each
 * test writes and RFC 5321: which command each reply answers (4.3.2: 354
 * only DATA; a reply to the end of data ends a message), that the server
 * says nothing while DATA content flows (so a lone dot then a reply is the
 * end of a message), that BDAT octets come in exact counts (RFC 3030), and
 * which bytes of each message the test sent after the cut. A message whose
 * beginning was not seen must say so (MSG_GAP 0 and message_start_not_seen),
 * never pass for whole; everything after the footing must come out as
 * from a whole session; hostile content ("MAIL FROM" lines inside a message
 * whose DATA was not seen) must never become an envelope. Every dialogue is
 * also fed split at every byte and byte by byte, with the same events.
 */
#include "dialogue.h"

#define MSG2 "Subject: two\r\n\r\nsecond message\r\n"

/* What follows a cut: one whole transaction and QUIT. */
#define NEXT_TX                                                                                    \
    C("MAIL FROM:<a@example.org>\r\n"), S("250 2.1.0 Ok\r\n"), C("RCPT TO:<b@example.net>\r\n"),   \
        S("250 2.1.5 Ok\r\n"), C("DATA\r\n"), S("354 End data with <CR><LF>.<CR><LF>\r\n"),        \
        C(MSG2 ".\r\n"), S("250 2.0.0 Ok: queued as 2B\r\n"), C("QUIT\r\n"),                       \
        S("221 2.0.0 Bye\r\n")

#define NEXT_TX_EVENTS                                                                             \
    "MAIL v=MAIL a=a@example.org p=~ u=~ c=250 t=250 2.1.0 Ok f=0 s=- g=0 x=\n"                    \
    "RCPT v=RCPT a=b@example.net p=~ u=~ c=250 t=250 2.1.5 Ok f=1 s=- g=0 x=\n"                    \
    "DATA_BEGIN v=DATA a=~ p=~ u=~ c=354 t=354 End data with <CR><LF>.<CR><LF> f=0 s=- g=0 x=\n"

static st_smtp *join_lim(const turn *t, size_t nt, rec *r, int mode, size_t k)
{
    st_smtp *p = st_smtp_new(NULL, on_event, r);
    assert_non_null(p);
    assert_int_equal(st_smtp_midstream(p), 0);
    for (size_t i = 0, at = 0; i < nt; i++) {
        feed_turn(p, &t[i], mode, at, k);
        at += t[i].b ? t[i].n : 0;
    }
    return p;
}

/* Runs a joined dialogue whole; *detected gets st_smtp_detected. */
static void join_run(const turn *t, size_t nt, rec *r, int *detected)
{
    st_smtp *p = join_lim(t, nt, r, 0, 0);
    if (detected)
        *detected = st_smtp_detected(p);
    st_smtp_finish(p);
    st_smtp_free(p);
}

static void join_split_check(const turn *t, size_t nt)
{
    rec whole = {0};
    join_run(t, nt, &whole, NULL);
    for (int mode = 1; mode <= 2; mode++) {
        size_t last = mode == 1 ? total_bytes(t, nt) : 1;
        for (size_t k = 1; k < last || (mode == 2 && k == 1); k++) {
            rec r = {0};
            st_smtp *p = join_lim(t, nt, &r, mode, k);
            st_smtp_finish(p);
            st_smtp_free(p);
            if (strcmp(whole.log, r.log) != 0)
                fail_msg("mode %d k=%zu:\n--- whole\n%s--- split\n%s", mode, k, whole.log, r.log);
            rec_free(&r);
        }
    }
    rec_free(&whole);
}

/* The second transaction came out as from a whole session. */
static void assert_next_tx(const rec *r, int msg_index)
{
    assert_has(r, NEXT_TX_EVENTS);
    assert_has(r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 2B f=0 s=ACCEPTED");
    assert_has(r, "COMMAND v=QUIT a=~ p=~ u=~ c=221 t=221 2.0.0 Bye ");
    ASSERT_MSG(r, msg_index, MSG2);
}

/* ---- at the start of the dialogue -------------------------------------------- */

/* Cut after the handshake: a 220 before any client byte is the banner,
 * and the session is whole from there. */
static const turn d_after_handshake[] = {EHLO_TURNS, NEXT_TX};

static void test_after_handshake(void **state)
{
    (void)state;
    rec r = {0}, plain = {0};
    int det;
    join_run(d_after_handshake, NT(d_after_handshake), &r, &det);
    run(d_after_handshake, NT(d_after_handshake), &plain); /* the same, never joined */
    assert_string_equal(r.log, plain.log);
    assert_has(&r, "BANNER v=~ a=~ p=~ u=~ c=220 ");
    assert_true(det);
    rec_free(&r);
    rec_free(&plain);
    join_split_check(d_after_handshake, NT(d_after_handshake));
}

/* Cut after the banner: the EHLO and its reply fit; no banner. */
static const turn d_after_banner[] = {
    C("EHLO client.example.org\r\n"),
    S("250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
    NEXT_TX,
};

static void test_after_banner(void **state)
{
    (void)state;
    rec r = {0};
    int det;
    join_run(d_after_banner, NT(d_after_banner), &r, &det);
    assert_false(has(&r, "BANNER"));
    assert_has(&r, "HELO v=EHLO a=client.example.org p=~ u=~ c=250 ");
    assert_has(&r, "x=PIPELINING|8BITMIME\n");
    assert_next_tx(&r, 0);
    assert_false(has(&r, "ANOMALY"));
    assert_true(det);
    rec_free(&r);
    join_split_check(d_after_banner, NT(d_after_banner));
}

/* Cut between EHLO and its reply: the reply answers what was not seen;
 * it is passed over, silently. */
static const turn d_at_a_reply[] = {
    S("PELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"), /* a reply begun before the cut */
    NEXT_TX,
};

static void test_at_a_reply(void **state)
{
    (void)state;
    rec r = {0};
    int det;
    join_run(d_at_a_reply, NT(d_at_a_reply), &r, &det);
    assert_types(&r, "MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END COMMAND");
    assert_next_tx(&r, 0);
    assert_true(det);
    rec_free(&r);
    join_split_check(d_at_a_reply, NT(d_at_a_reply));
}

/* Cut inside a command line: its tail is no command, and the reply to
 * it answers what was not seen. */
static const turn d_inside_a_command[] = {
    C("xample.org>\r\n"),  S("250 2.1.0 Ok\r\n"), C("RCPT TO:<c@example.net>\r\n"),
    S("250 2.1.5 Ok\r\n"), C("QUIT\r\n"),         S("221 2.0.0 Bye\r\n"),
};

static void test_inside_a_command(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_inside_a_command, NT(d_inside_a_command), &r, NULL);
    assert_has(&r, "ANOMALY v=command_inferred a=MAIL "); /* 250 2.1.0: a MAIL it was */
    assert_has(&r, "MAIL v=MAIL a=~ p=~ u=~ c=250 t=250 2.1.0 Ok ");
    assert_has(&r, "RCPT v=RCPT a=c@example.net p=~ u=~ c=250 t=250 2.1.5 Ok f=1 ");
    assert_false(has(&r, "unknown_command"));
    rec_free(&r);
    join_split_check(d_inside_a_command, NT(d_inside_a_command));
}

/* ---- inside DATA ------------------------------------------------------------------ */

#define TAIL                                                                                       \
    "ody of the first message\r\n"                                                                 \
    "MAIL FROM:<evil@example.com>\r\n"                                                             \
    "RCPT TO:<victim@example.com>\r\n"                                                             \
    "DATA\r\n"                                                                                     \
    "..a dot-stuffed line\r\n"                                                                     \
    "the end\r\n"
#define TAIL_SEEN                                                                                  \
    "ody of the first message\r\n"                                                                 \
    "MAIL FROM:<evil@example.com>\r\n"                                                             \
    "RCPT TO:<victim@example.com>\r\n"                                                             \
    "DATA\r\n"                                                                                     \
    ".a dot-stuffed line\r\n"                                                                      \
    "the end\r\n"

/* Cut inside DATA content whose lines look like commands: the lone dot
 * and the server's reply say it was content; the commands in it are none. */
static const turn d_inside_data[] = {
    C(TAIL),
    C(".\r\n"),
    S("250 2.0.0 Ok: queued as 1A\r\n"),
    NEXT_TX,
};

static void test_inside_data(void **state)
{
    (void)state;
    rec r = {0};
    int det;
    join_run(d_inside_data, NT(d_inside_data), &r, &det);
    assert_types(&r, "DATA_BEGIN ANOMALY MSG_GAP MSG_DATA MSG_END TX_END MAIL RCPT DATA_BEGIN "
                     "MSG_DATA MSG_END TX_END COMMAND");
    assert_has(&r, "DATA_BEGIN v=DATA a=~ p=~ u=~ c=0 t=~ f=0 s=- g=0 x=\n"
                   "ANOMALY v=message_start_not_seen a=~ p=~ u=~ c=0 t=~ f=0 s=- g=0 x=\n"
                   "MSG_GAP v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=- g=0 x=\n");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 1A f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, TAIL_SEEN);
    assert_false(has(&r, "evil@example.com p"));
    assert_false(has(&r, "victim@example.com p"));
    assert_false(has(&r, "data_without_rcpt"));
    assert_next_tx(&r, 1);
    assert_true(det);
    rec_free(&r);
    join_split_check(d_inside_data, NT(d_inside_data));
}

/* The server refused the message: the verdict of a message half seen. */
static const turn d_inside_data_refused[] = {
    C("just the tail\r\n.\r\n"),
    S("550 5.7.1 Message content rejected\r\n"),
    NEXT_TX,
};

static void test_inside_data_refused(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_inside_data_refused, NT(d_inside_data_refused), &r, NULL);
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=550 t=550 5.7.1 Message content rejected f=0 "
                   "s=REJECTED");
    ASSERT_MSG(&r, 0, "just the tail\r\n");
    assert_next_tx(&r, 1);
    rec_free(&r);
    join_split_check(d_inside_data_refused, NT(d_inside_data_refused));
}

/* The capture begins with the final dot itself: an empty tail. */
static const turn d_at_the_dot[] = {
    C(".\r\n"),
    S("250 2.0.0 Ok: queued as 1A\r\n"),
    NEXT_TX,
};

static void test_at_the_dot(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_at_the_dot, NT(d_at_the_dot), &r, NULL);
    assert_types(&r, "DATA_BEGIN ANOMALY MSG_GAP MSG_END TX_END MAIL RCPT DATA_BEGIN MSG_DATA "
                     "MSG_END TX_END COMMAND");
    ASSERT_MSG(&r, 0, "");
    assert_next_tx(&r, 1);
    rec_free(&r);
    join_split_check(d_at_the_dot, NT(d_at_the_dot));
}

/* A segment that begins ".\r\n" mid-line ("etc." + CRLF): no end of
 * data, since content follows it before the real dot. */
static const turn d_dot_tail[] = {
    C(".\r\nmore content\r\n.\r\n"),
    S("250 2.0.0 Ok: queued as 1A\r\n"),
    NEXT_TX,
};

static void test_dot_tail_is_no_end(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_dot_tail, NT(d_dot_tail), &r, NULL);
    ASSERT_MSG(&r, 0, ".\r\nmore content\r\n");
    assert_next_tx(&r, 1);
    rec_free(&r);
    join_split_check(d_dot_tail, NT(d_dot_tail));
}

/* A long message's middle: more than the bytes held (8 KiB) before any
 * reply. Text without commands is content: it streams from there on. */
static char long_tail[9000 + 1];
static turn d_long[3 + 10];

static void make_long(void)
{
    size_t n = 0;
    while (n + 60 < sizeof long_tail - 1)
        n += (size_t)snprintf(long_tail + n, sizeof long_tail - n,
                              "%05zu a line of the message, long enough to count bytes\r\n", n);
    turn t[] = {
        {ST_DIR_CLIENT, long_tail, n}, C(".\r\n"), S("250 2.0.0 Ok: queued as 1A\r\n"), NEXT_TX};
    memcpy(d_long, t, sizeof t);
}

static void test_long_middle(void **state)
{
    (void)state;
    make_long();
    rec r = {0};
    join_run(d_long, NT(d_long), &r, NULL);
    assert_has(&r, "ANOMALY v=message_start_not_seen ");
    assert_msg(&r, 0, long_tail, d_long[0].n);
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 1A f=0 s=ACCEPTED");
    assert_next_tx(&r, 1);
    rec_free(&r);
    join_split_check(d_long, NT(d_long));
}

/* More than the bytes held of commands and no reply yet (the server is
 * slow, or its side is late): commands only are commands; their replies
 * then pair with them in order. */
static char many_rcpts[9600 + 1];
static turn d_many_rcpts[6];

static void make_many_rcpts(void)
{
    size_t n = (size_t)snprintf(many_rcpts, sizeof many_rcpts, "MAIL FROM:<a@example.org>\r\n");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(many_rcpts + n, sizeof many_rcpts - n,
                              "RCPT TO:<u%03d@example.net>\r\n", i);
    n += (size_t)snprintf(many_rcpts + n, sizeof many_rcpts - n, "DATA\r\n");
    static char replies[301 * 14 + 64];
    size_t m = 0;
    m += (size_t)snprintf(replies + m, sizeof replies - m, "250 2.1.0 Ok\r\n");
    for (int i = 0; i < 300; i++)
        m += (size_t)snprintf(replies + m, sizeof replies - m, "250 2.1.5 Ok\r\n");
    m += (size_t)snprintf(replies + m, sizeof replies - m, "354 go\r\n");
    turn t[] = {{ST_DIR_CLIENT, many_rcpts, n},
                {ST_DIR_SERVER, replies, m},
                C("Subject: many\r\n\r\nhi\r\n.\r\n"),
                S("250 2.0.0 Ok: queued as 7\r\n"),
                C("QUIT\r\n"),
                S("221 2.0.0 Bye\r\n")};
    memcpy(d_many_rcpts, t, sizeof t);
}

static void test_commands_over_the_hold(void **state)
{
    (void)state;
    make_many_rcpts();
    assert_true(d_many_rcpts[0].n > 8192);
    rec r = {0};
    join_run(d_many_rcpts, NT(d_many_rcpts), &r, NULL);
    assert_has(&r, "MAIL v=MAIL a=a@example.org p=~ u=~ c=250 ");
    assert_int_equal(count(&r, "RCPT v=RCPT a=u"), 300);
    assert_int_equal(count(&r, "c=250 t=250 2.1.5 Ok f=1 "), 300);
    assert_has(&r, "RCPT v=RCPT a=u299@example.net p=~ u=~ c=250 ");
    ASSERT_MSG(&r, 0, "Subject: many\r\n\r\nhi\r\n");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 7 f=0 s=ACCEPTED");
    assert_false(has(&r, "message_start_not_seen"));
    rec_free(&r);
}

/* Lines too long for mail text (over 1000 bytes) fill the bytes held
 * with no reply: not taken for content, dropped; the message is then the
 * part after the drop, the dot and the server's reply say so. */
static char long_lines[5 * 2002 + 1];
static turn d_long_lines[4];

static void make_long_lines(void)
{
    for (int i = 0; i < 5; i++) {
        memset(long_lines + i * 2002, 'a' + i, 2000);
        memcpy(long_lines + i * 2002 + 2000, "\r\n", 2);
    }
    turn t[] = {{ST_DIR_CLIENT, long_lines, sizeof long_lines - 1},
                C(".\r\n"),
                S("250 2.0.0 Ok: queued as 8\r\n"),
                C("QUIT\r\n")};
    memcpy(d_long_lines, t, sizeof t);
}

static void test_long_lines_dropped(void **state)
{
    (void)state;
    make_long_lines();
    rec r = {0};
    join_run(d_long_lines, NT(d_long_lines), &r, NULL);
    size_t n = sizeof long_lines - 1 - 8192; /* what came after the first 8 KiB */
    assert_msg(&r, 0, long_lines + 8192, n);
    assert_has(&r, "ANOMALY v=message_start_not_seen ");
    assert_has(&r, "s=ACCEPTED");
    rec_free(&r);
    join_split_check(d_long_lines, NT(d_long_lines));
}

/* Lost client bytes while the footing is not found: what was held is
 * forgotten, the message is what came after. */
static const turn d_gap_seeking[] = {
    C("early content\r\n"),        CGAP(100),     C("late content\r\n.\r\n"),
    S("250 2.0.0 Ok: queued\r\n"), C("QUIT\r\n"), S("221 2.0.0 Bye\r\n"),
};

static void test_gap_while_seeking(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_gap_seeking, NT(d_gap_seeking), &r, NULL);
    ASSERT_MSG(&r, 0, "late content\r\n"); /* what came after the hole */
    assert_has(&r, "s=ACCEPTED");
    rec_free(&r);
    join_split_check(d_gap_seeking, NT(d_gap_seeking));
}

/* The replies to a pipelined group sent before the cut say what it held:
 * the message after the 354 is whole, its envelope unknown. */
static const turn d_pipelined_replies[] = {
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
    C("Subject: one\r\n\r\nwhole\r\n.\r\n"),
    S("250 2.0.0 Ok: queued as 1A\r\n"),
    NEXT_TX,
};

static void test_pipelined_replies(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_pipelined_replies, NT(d_pipelined_replies), &r, NULL);
    assert_has(&r, "ANOMALY v=command_inferred a=MAIL ");
    assert_has(&r, "ANOMALY v=data_inferred ");
    assert_false(has(&r, "message_start_not_seen"));
    assert_false(has(&r, "MSG_GAP"));
    ASSERT_MSG(&r, 0, "Subject: one\r\n\r\nwhole\r\n");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 1A f=0 s=ACCEPTED");
    assert_next_tx(&r, 1);
    rec_free(&r);
    join_split_check(d_pipelined_replies, NT(d_pipelined_replies));
}

/* The tail of a line begun before the cut, then a DATA line, then the
 * 354: only DATA earns a 354, and a client sends nothing after DATA until
 * it comes (RFC 2920: DATA ends a group), so the 354 answers the DATA
 * held, which is a command, not the message's first line. */
#define WHOLE_MSG "Subject: one\r\n\r\nwhole\r\n"
static const turn d_data_held[] = {
    C("xample.net>\r\nDATA\r\n"),
    S("354 End data with <CR><LF>.<CR><LF>\r\n"),
    C(WHOLE_MSG ".\r\n"),
    S("250 2.0.0 Ok: queued as 1A\r\n"),
    NEXT_TX,
};

/* The same with a pipelined RCPT before the DATA whose reply was lost. */
static const turn d_data_held_pipelined[] = {
    C("xample.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n"),
    S("354 End data with <CR><LF>.<CR><LF>\r\n"),
    C(WHOLE_MSG ".\r\n"),
    S("250 2.0.0 Ok: queued as 1A\r\n"),
    NEXT_TX,
};

static void test_data_held_is_the_command(void **state)
{
    (void)state;
    const turn *ds[] = {d_data_held, d_data_held_pipelined};
    size_t ns[] = {NT(d_data_held), NT(d_data_held_pipelined)};
    for (size_t i = 0; i < 2; i++) {
        rec r = {0};
        join_run(ds[i], ns[i], &r, NULL);
        ASSERT_MSG(&r, 0, WHOLE_MSG); /* not "DATA\r\n" first */
        assert_has(&r, "DATA_BEGIN v=DATA a=~ p=~ u=~ c=354 ");
        assert_false(has(&r, "data_inferred"));
        assert_false(has(&r, "MSG_GAP"));
        assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 1A f=0 "
                       "s=ACCEPTED");
        assert_next_tx(&r, 1);
        rec_free(&r);
        join_split_check(ds[i], ns[i]);
    }
}

/* A DATA line, then content the client sent before the 354 reached the
 * capture (a retransmission that carried both, reordering): the content
 * after the DATA line is the message, from its first byte. */
static const turn d_content_before_354[] = {
    C("DATA\r\nSubject: one\r\n"),
    S("354 End data with <CR><LF>.<CR><LF>\r\n"),
    C("\r\nwhole\r\n.\r\n"),
    S("250 2.0.0 Ok: queued as 1A\r\n"),
    NEXT_TX,
};

static void test_content_before_354(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_content_before_354, NT(d_content_before_354), &r, NULL);
    ASSERT_MSG(&r, 0, WHOLE_MSG);
    assert_has(&r, "DATA_BEGIN v=DATA a=~ p=~ u=~ c=354 ");
    assert_false(has(&r, "unknown_command"));
    assert_next_tx(&r, 1);
    rec_free(&r);
    join_split_check(d_content_before_354, NT(d_content_before_354));
}

/* A QUIT held behind a tail, then 221: the QUIT seen is the one the 221
 * answers, not a second one after an inferred QUIT. */
static const turn d_quit_held[] = {
    C("xample.net>\r\nQUIT\r\n"),
    S("221 2.0.0 Bye\r\n"),
};

static void test_quit_held_is_the_command(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_quit_held, NT(d_quit_held), &r, NULL);
    assert_int_equal(count(&r, "COMMAND v=QUIT"), 1);
    assert_has(&r, "COMMAND v=QUIT a=~ p=~ u=~ c=221 t=221 2.0.0 Bye ");
    assert_false(has(&r, "command_inferred"));
    rec_free(&r);
    join_split_check(d_quit_held, NT(d_quit_held));
}

/* ---- inside BDAT -------------------------------------------------------------- */

/* Cut between chunks: the chunks seen are the end of a message whose
 * first ones may have been before the cut. */
static const turn d_between_chunks[] = {
    C("BDAT 12\r\nsecond chunk"),
    S("250 2.0.0 Ok: 12 octets\r\n"),
    C("BDAT 7 LAST\r\n, end\r\n"),
    S("250 2.0.0 Ok: queued as 3C\r\n"),
    NEXT_TX,
};

static void test_between_chunks(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_between_chunks, NT(d_between_chunks), &r, NULL);
    assert_has(&r, "DATA_BEGIN v=BDAT a=~ p=~ u=~ c=0 t=~ f=0 s=- g=0 x=\n"
                   "ANOMALY v=message_start_not_seen a=~ p=~ u=~ c=0 t=~ f=0 s=- g=0 x=\n"
                   "MSG_GAP v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=- g=0 x=\n");
    assert_false(has(&r, "data_without_rcpt"));
    ASSERT_MSG(&r, 0, "second chunk, end\r\n");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 3C f=0 s=ACCEPTED");
    assert_next_tx(&r, 1);
    rec_free(&r);
    join_split_check(d_between_chunks, NT(d_between_chunks));
}

/* Cut inside a chunk's octets: they are passed over (their reply answers
 * a BDAT not seen); the next chunk is the message's part that was seen. */
static const turn d_inside_chunk[] = {
    C("ets of a chunk\r\nthat look like lines\r\n"),
    S("250 2.0.0 Ok: 40 octets\r\n"),
    C("BDAT 5 LAST\r\nabcde"),
    S("250 2.0.0 Ok: queued as 4D\r\n"),
    NEXT_TX,
};

static void test_inside_chunk(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_inside_chunk, NT(d_inside_chunk), &r, NULL);
    assert_has(&r, "ANOMALY v=message_start_not_seen ");
    ASSERT_MSG(&r, 0, "abcde");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 4D f=0 s=ACCEPTED");
    assert_next_tx(&r, 1);
    assert_false(has(&r, "unknown_command"));
    rec_free(&r);
    join_split_check(d_inside_chunk, NT(d_inside_chunk));
}

/* A whole BDAT transaction after the cut is whole. */
static const turn d_bdat_whole[] = {
    C("MAIL FROM:<a@example.org>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<b@example.net>\r\nBDAT 7 LAST\r\nchunked"),
    S("250 2.1.5 Ok\r\n250 2.0.0 Ok: queued as 5E\r\n"),
};

static void test_bdat_after_the_cut(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_bdat_whole, NT(d_bdat_whole), &r, NULL);
    assert_false(has(&r, "message_start_not_seen"));
    assert_false(has(&r, "MSG_GAP"));
    ASSERT_MSG(&r, 0, "chunked");
    assert_has(&r, "s=ACCEPTED");
    rec_free(&r);
    join_split_check(d_bdat_whole, NT(d_bdat_whole));
}

/* ---- AUTH, not SMTP, detection ------------------------------------------------------ */

/* Cut inside AUTH LOGIN: the client's base64 lines answer 334 prompts;
 * they are passed over and never reported anywhere. */
static const turn d_inside_auth[] = {
    C("dGFwdXNlcg==\r\n"),
    S("334 UGFzc3dvcmQ6\r\n"),
    C("czNjcjN0LXBhc3M=\r\n"),
    S("235 2.7.0 Authentication successful\r\n"),
    NEXT_TX,
};

static void test_inside_auth(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_inside_auth, NT(d_inside_auth), &r, NULL);
    assert_false(has(&r, "dGFwdXNlcg"));
    assert_false(has(&r, "czNjcjN0"));
    assert_false(has(&r, "ANOMALY"));
    assert_next_tx(&r, 0);
    rec_free(&r);
    join_split_check(d_inside_auth, NT(d_inside_auth));
}

/* The first line may be the tail of "XDATA": refused, it opened no
 * message, and what follows is commands. */
static const turn d_data_tail[] = {
    C("DATA\r\n"),
    S("500 5.5.2 Error: command not recognized\r\n"),
    NEXT_TX,
};

static void test_data_tail_waits_for_354(void **state)
{
    (void)state;
    rec r = {0};
    join_run(d_data_tail, NT(d_data_tail), &r, NULL);
    assert_next_tx(&r, r.nmsg - 1);
    assert_has(&r, "DATA_BEGIN v=DATA a=~ p=~ u=~ c=500 "); /* refused: no content */
    assert_int_equal(count(&r, "MSG_DATA"), 1);
    rec_free(&r);
    join_split_check(d_data_tail, NT(d_data_tail));
}

static uint8_t noise[6000];

/* Binary both ways (TLS after STARTTLS, or not SMTP): nothing is
 * reported, nothing is detected, and the parser gives up after 4 KiB both
 * ways, as for any stream. */
static void test_binary_is_not_smtp(void **state)
{
    (void)state;
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (uint8_t)(x >> 16);
    }
    noise[100] = '\n';
    noise[2000] = 0;
    rec r = {0};
    st_smtp *p = st_smtp_new(NULL, on_event, &r);
    assert_int_equal(st_smtp_midstream(p), 0);
    for (size_t off = 0; off < sizeof noise; off += 1000) {
        st_smtp_feed(p, ST_DIR_CLIENT, noise + off, 1000);
        st_smtp_feed(p, ST_DIR_SERVER, noise + sizeof noise - off - 1000, 1000);
    }
    assert_false(st_smtp_detected(p));
    assert_false(st_smtp_wants_data(p));
    st_smtp_finish(p);
    st_smtp_free(p);
    assert_false(has(&r, "MSG_"));
    assert_false(has(&r, "MAIL"));
    rec_free(&r);
}

/* Detection: a command the server accepted with a reply that fits it.
 * An unknown command refused is no proof; MAIL accepted is. */
static const turn d_unknown_refused[] = {
    C("USER anonymous\r\n"),
    S("500 5.5.2 what?\r\n"),
    C("PASS x\r\n"),
    S("500 5.5.2 what?\r\n"),
};
static const turn d_mail_accepted[] = {C("MAIL FROM:<a@example.org>\r\n"), S("250 2.1.0 Ok\r\n")};

static void test_detection(void **state)
{
    (void)state;
    rec r = {0};
    int det;
    join_run(d_unknown_refused, NT(d_unknown_refused), &r, &det);
    assert_false(det);
    rec_free(&r);
    join_run(d_mail_accepted, NT(d_mail_accepted), &r, &det);
    assert_true(det);
    rec_free(&r);
}

/* Memory: the bytes held while seeking are bounded (8 KiB and the
 * struct), and given back once the footing is found. */
static void test_memory(void **state)
{
    (void)state;
    make_long();
    rec r = {0};
    st_smtp *p = st_smtp_new(NULL, on_event, &r);
    size_t fresh = st_smtp_memory(p);
    assert_int_equal(st_smtp_midstream(p), 0);
    st_smtp_feed(p, ST_DIR_CLIENT, (const uint8_t *)long_tail, 8000);
    assert_true(st_smtp_memory(p) > fresh + 7000);
    assert_true(st_smtp_memory(p) < fresh + 8192 + 512);
    st_smtp_feed(p, ST_DIR_CLIENT, (const uint8_t *)long_tail + 8000, d_long[0].n - 8000);
    assert_true(st_smtp_memory(p) < fresh + 512); /* content streams; nothing held */
    st_smtp_finish(p);
    st_smtp_free(p);
    rec_free(&r);
    assert_int_equal(st_smtp_midstream(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_after_handshake),
        cmocka_unit_test(test_after_banner),
        cmocka_unit_test(test_at_a_reply),
        cmocka_unit_test(test_inside_a_command),
        cmocka_unit_test(test_inside_data),
        cmocka_unit_test(test_inside_data_refused),
        cmocka_unit_test(test_at_the_dot),
        cmocka_unit_test(test_dot_tail_is_no_end),
        cmocka_unit_test(test_long_middle),
        cmocka_unit_test(test_commands_over_the_hold),
        cmocka_unit_test(test_long_lines_dropped),
        cmocka_unit_test(test_gap_while_seeking),
        cmocka_unit_test(test_pipelined_replies),
        cmocka_unit_test(test_data_held_is_the_command),
        cmocka_unit_test(test_quit_held_is_the_command),
        cmocka_unit_test(test_content_before_354),
        cmocka_unit_test(test_between_chunks),
        cmocka_unit_test(test_inside_chunk),
        cmocka_unit_test(test_bdat_after_the_cut),
        cmocka_unit_test(test_inside_auth),
        cmocka_unit_test(test_data_tail_waits_for_354),
        cmocka_unit_test(test_binary_is_not_smtp),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
