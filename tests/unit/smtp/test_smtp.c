/*
 * test_smtp.c - the SMTP dialogue parser, driven by scripted dialogues.
 *
 * Whole sessions (ESMTP, AUTH, STARTTLS, dot-stuffing, BDAT, rejections,
 * gaps, one-sided captures, pipelining, caps and memory) through the
 * recorder of dialogue.h: events as canonical text lines, messages checked
 * byte for byte against bytes written here. The split tests feed each
 * dialogue whole per turn, split at every byte, and byte by byte, and
 * require the same text each time.
 */
#include <openssl/evp.h>

#include "dialogue.h"

/* A full ESMTP session, Postfix replies, PIPELINING, two transactions. */
static const turn d_full[] = {
    EHLO_TURNS,
    C("AUTH PLAIN AGFsaWNlAHMzY3IzdA==\r\n"),
    S("235 2.7.0 Authentication successful\r\n"),
    C("MAIL FROM:<alice@example.org> SIZE=321\r\nRCPT TO:<bob@example.net>\r\n"
      "RCPT TO:<nobody@example.net>\r\nRCPT TO:<carol@example.net> NOTIFY=NEVER\r\nDATA\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <nobody@example.net>: Recipient address "
      "rejected: User unknown in local recipient table\r\n250 2.1.5 Ok\r\n"
      "354 End data with <CR><LF>.<CR><LF>\r\n"),
    C("From: alice@example.org\r\nSubject: test\r\n\r\n..x\r\n..\r\n. leading\r\n"
      "body\r\n.\r\n"),
    S("250 2.0.0 Ok: queued as 4ABC123\r\n"),
    C("MAIL FROM:<> \r\nRCPT TO:<bob@example.net>\r\nDATA\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
    C("second\r\n.\r\n"),
    S("250 2.0.0 Ok: queued as 4ABC124\r\n"),
    C("QUIT\r\n"),
    S("221 2.0.0 Bye\r\n"),
};

static void test_full_dialogue(void **state)
{
    (void)state;
    rec r = {0};
    run(d_full, NT(d_full), &r);
    assert_types(&r, "BANNER HELO AUTH MAIL RCPT RCPT RCPT DATA_BEGIN MSG_DATA MSG_END TX_END "
                     "MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END COMMAND");
    assert_has(&r, "BANNER v=~ a=~ p=~ u=~ c=220 t=220 mx.example.net ESMTP Postfix (Debian/GNU) ");
    assert_has(&r, "HELO v=EHLO a=client.example.org p=~ u=~ c=250 t=250-mx.example.net\\n"
                   "250-PIPELINING\\n");
    assert_has(&r, " x=PIPELINING|SIZE 10240000|VRFY|ETRN|STARTTLS|AUTH PLAIN LOGIN|"
                   "ENHANCEDSTATUSCODES|8BITMIME|DSN|SMTPUTF8|CHUNKING\n");
    assert_has(&r, "AUTH v=AUTH a=PLAIN p=~ u=alice c=235 t=235 2.7.0 Authentication successful "
                   "f=1 ");
    assert_has(&r, "MAIL v=MAIL a=alice@example.org p=SIZE=321 u=~ c=250 t=250 2.1.0 Ok ");
    assert_has(&r, "RCPT v=RCPT a=bob@example.net p=~ u=~ c=250 t=250 2.1.5 Ok f=1 ");
    assert_has(&r, "RCPT v=RCPT a=nobody@example.net p=~ u=~ c=550 ");
    assert_has(&r, "User unknown in local recipient table f=0 ");
    assert_has(&r, "RCPT v=RCPT a=carol@example.net p=NOTIFY=NEVER u=~ c=250 t=250 2.1.5 Ok f=1 ");
    assert_has(&r, "DATA_BEGIN v=DATA a=~ p=~ u=~ c=354 ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok: queued as 4ABC123 f=0 s=ACCEPTED");
    assert_has(&r, "MAIL v=MAIL a= p=~ u=~ c=250 ");
    assert_has(&r, "COMMAND v=QUIT a=~ p=~ u=~ c=221 t=221 2.0.0 Bye ");
    ASSERT_MSG(&r, 0,
               "From: alice@example.org\r\nSubject: test\r\n\r\n.x\r\n.\r\n leading\r\n"
               "body\r\n");
    ASSERT_MSG(&r, 1, "second\r\n");
    assert_false(has(&r, "s3cr3t"));
    assert_false(has(&r, "AGFsaWNlAHMzY3IzdA"));
    assert_false(has(&r, "ANOMALY"));
    rec_free(&r);
}

static const turn d_login[] = {
    EHLO_TURNS,
    C("AUTH LOGIN\r\n"),
    S("334 VXNlcm5hbWU6\r\n"),
    C("Ym9i\r\n"),
    S("334 UGFzc3dvcmQ6\r\n"),
    C("aHVudGVyMg==\r\n"),
    S("235 2.7.0 Authentication successful\r\n"),
    C("QUIT\r\n"),
    S("221 2.0.0 Bye\r\n"),
};

static void no_secret(const rec *r)
{
    static const char *secrets[] = {"hunter2", "aHVudGVyMg",     "pw1",   "cHcx",
                                    "pw2",     "cGEgc3M6d29yZA", "pa ss", "s3cr3t"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (has(r, secrets[i]))
            fail_msg("secret %s leaked:\n%s", secrets[i], r->log);
}

static void test_auth_login(void **state)
{
    (void)state;
    rec r = {0};
    run(d_login, NT(d_login), &r);
    assert_types(&r, "BANNER HELO AUTH COMMAND");
    assert_has(&r, "AUTH v=AUTH a=LOGIN p=~ u=bob c=235 ");
    no_secret(&r);
    rec_free(&r);
}

static void test_auth_variants(void **state)
{
    (void)state;
    static const turn t[] = {
        EHLO_TURNS,
        C("AUTH PLAIN\r\n"),
        S("334 \r\n"),
        C("YWRtaW4AYWxpY2UAcHcx\r\n"),
        S("535 5.7.8 Error: authentication failed\r\n"),
        C("auth plain Y2Fyb2wAAHB3Mg==\r\n"),
        S("235 2.7.0 Authentication successful\r\n"),
        C("AUTH LOGIN ZGF2ZQ==\r\n"),
        S("334 UGFzc3dvcmQ6\r\n"),
        C("cGEgc3M6d29yZA==\r\n"),
        S("235 2.7.0 Authentication successful\r\n"),
        C("AUTH LOGIN\r\n"),
        S("334 VXNlcm5hbWU6\r\n"),
        C("*\r\n"),
        S("501 5.7.0 Authentication aborted\r\n"),
        C("AUTH CRAM-MD5\r\n"),
        S("334 PDQxOTI5NDIzNDEuMTI4Mjg0NzJAc291cmNlZm91cj4=\r\n"),
        C("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"),
        S("235 2.7.0 Authentication successful\r\n"),
        C("NOOP\r\n"),
        S("250 2.0.0 Ok\r\n"),
    };
    rec r = {0};
    run(t, NT(t), &r);
    assert_types(&r, "BANNER HELO AUTH AUTH AUTH AUTH AUTH COMMAND");
    assert_has(&r, "AUTH v=AUTH a=PLAIN p=~ u=alice c=535 ");
    assert_has(&r, "failed f=0 ");
    assert_has(&r, "AUTH v=AUTH a=PLAIN p=~ u=carol c=235 ");
    assert_has(&r, "AUTH v=AUTH a=LOGIN p=~ u=dave c=235 ");
    assert_has(&r, "AUTH v=AUTH a=LOGIN p=~ u=~ c=501 ");
    assert_has(&r, "AUTH v=AUTH a=CRAM-MD5 p=~ u=~ c=235 ");
    assert_has(&r, "COMMAND v=NOOP a=~ p=~ u=~ c=250 ");
    no_secret(&r);
    rec_free(&r);
}

static const turn d_tls[] = {
    EHLO_TURNS,
    C("STARTTLS\r\n"),
    S("220 2.0.0 Ready to start TLS\r\n"),
    C("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00garbage\r\nMAIL FROM:<x@y>\r\n"),
    S("\x16\x03\x03\x00\x02\x02\x00\r\n250 fake\r\n"),
};

static void test_starttls_tls(void **state)
{
    (void)state;
    rec r = {0};
    st_smtp *p = run_lim(d_tls, NT(d_tls), &r, 0, 0, NULL);
    assert_int_equal(st_smtp_wants_data(p), 0);
    assert_int_equal(st_smtp_detected(p), 1);
    st_smtp_finish(p);
    st_smtp_free(p);
    assert_types(&r, "BANNER HELO STARTTLS TLS");
    assert_has(&r, "STARTTLS v=~ a=~ p=~ u=~ c=220 t=220 2.0.0 Ready to start TLS f=1 ");
    assert_has(&r, "TLS v=~ a=~ p=~ u=~ c=0 t=~ f=1 ");
    rec_free(&r);
}

static const turn d_tls_plain[] = {
    EHLO_TURNS,
    C("STARTTLS\r\n"),
    S("220 2.0.0 Ready to start TLS\r\n"),
    C("EHLO client.example.org\r\n"),
    S("250-mx.example.net\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n"),
    C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"),
    C("hello\r\n.\r\n"),
    S("250 2.0.0 Ok: queued\r\n"),
};

static void test_starttls_plaintext(void **state)
{
    (void)state;
    rec r = {0};
    st_smtp *p = run_lim(d_tls_plain, NT(d_tls_plain), &r, 0, 0, NULL);
    assert_int_equal(st_smtp_wants_data(p), 1);
    st_smtp_finish(p);
    st_smtp_free(p);
    assert_types(&r, "BANNER HELO STARTTLS TLS HELO MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END");
    assert_has(&r, "TLS v=~ a=~ p=~ u=~ c=0 t=~ f=0 ");
    assert_has(&r, " x=PIPELINING|AUTH PLAIN LOGIN\n");
    ASSERT_MSG(&r, 0, "hello\r\n");
    rec_free(&r);
}

/* Dot-stuffing: a leading dot goes, a lone dot ends, ". x" keeps " x".
 * The content always ends with CRLF: the terminating dot must start a
 * line, so "abc" directly before the dot cannot end a message. */
static const turn d_dot[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
    S("250 Ok\r\n250 Ok\r\n354 go\r\n"),
    C("..x\r\n.\r\r\n..\r\n. sp\r\n.\rx\r\n...\r\nabc.\r\n.abc\r\nend\r\n.\r\n"),
    S("250 Ok\r\n"),
    C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
    S("250 Ok\r\n250 Ok\r\n354 go\r\n"),
    C(".\r\n"),
    S("250 Ok\r\n"),
    C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
    S("250 Ok\r\n250 Ok\r\n354 go\r\n"),
    C("bare\n.\nNOOP\r\n"),
    S("250 Ok\r\n250 Ok\r\n"),
};

static void test_dot_stuffing(void **state)
{
    (void)state;
    rec r = {0};
    run(d_dot, NT(d_dot), &r);
    ASSERT_MSG(&r, 0, ".x\r\n\r\r\n.\r\n sp\r\n\rx\r\n..\r\nabc.\r\nabc\r\nend\r\n");
    ASSERT_MSG(&r, 1, "");
    ASSERT_MSG(&r, 2, "bare\n");
    assert_int_equal(count(&r, "s=ACCEPTED"), 3);
    assert_has(&r, "ANOMALY v=data_end_bare_lf ");
    assert_has(&r, "COMMAND v=NOOP ");
    rec_free(&r);
}

static const turn d_bdat[] = {
    EHLO_TURNS,
    C("MAIL FROM:<a@x>\r\n"),
    S("250 2.1.0 Ok\r\n"),
    C("RCPT TO:<b@y>\r\n"),
    S("250 2.1.5 Ok\r\n"),
    /* chunk 1 ends between CR and LF; chunk 2 starts "\n.\r\n": no dot rule */
    C("BDAT 20\r\nSubject: b\r\n\r\nline1\rBDAT 13 LAST\r\n\n.\r\n..\r\nend\r\n"),
    S("250 2.0.0 Ok: 20 octets received\r\n250 2.0.0 Ok: queued as X1\r\n"),
    C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("BDAT 0 LAST\r\n"),
    S("250 2.0.0 Ok: queued as X2\r\n"),
    C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"),
    S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
    C("BDAT 3\r\nabcBDAT 2 LAST\r\nde"),
    S("250 Ok\r\n554 5.6.0 rejected\r\n"),
};

static void test_bdat(void **state)
{
    (void)state;
    rec r = {0};
    run(d_bdat, NT(d_bdat), &r);
    assert_types(&r, "BANNER HELO MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END "
                     "MAIL RCPT DATA_BEGIN MSG_END TX_END MAIL RCPT DATA_BEGIN MSG_DATA MSG_END "
                     "TX_END");
    assert_has(&r, "DATA_BEGIN v=BDAT a=~ p=~ u=~ c=0 ");
    assert_has(&r, "c=250 t=250 2.0.0 Ok: queued as X1 f=0 s=ACCEPTED");
    assert_has(&r, "c=250 t=250 2.0.0 Ok: queued as X2 f=0 s=ACCEPTED");
    assert_has(&r, "c=554 t=554 5.6.0 rejected f=0 s=REJECTED");
    ASSERT_MSG(&r, 0, "Subject: b\r\n\r\nline1\r\n.\r\n..\r\nend\r\n");
    ASSERT_MSG(&r, 1, "");
    ASSERT_MSG(&r, 2, "abcde");
    assert_false(has(&r, "ANOMALY"));
    rec_free(&r);
}

static void test_bdat_invalid(void **state)
{
    (void)state;
    static const turn t[] = {
        EHLO_TURNS,
        C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"),
        S("250 Ok\r\n250 Ok\r\n"),
        C("BDAT -5\r\nBDAT abc\r\nBDAT 15555555557777777777 LAST\r\nBDAT\r\nBDAT 5 LAS\r\n"
          "NOOP\r\n"),
        S("501 bad\r\n501 bad\r\n501 bad\r\n501 bad\r\n501 bad\r\n250 Ok\r\n"),
        C("BDAT 3\r\nabcNOOP\r\n"),
        S("250 Ok\r\n250 Ok\r\n"),
    };
    rec r = {0};
    run(t, NT(t), &r);
    assert_int_equal(count(&r, "ANOMALY v=bdat_invalid_size "), 5);
    assert_int_equal(count(&r, "COMMAND v=BDAT "), 5);
    assert_has(&r, "COMMAND v=BDAT a=15555555557777777777 LAST p=~ u=~ c=501 ");
    assert_int_equal(count(&r, "COMMAND v=NOOP "), 2);
    assert_has(&r, "ANOMALY v=bdat_missing_last ");
    ASSERT_MSG(&r, 0, "abc");
    /* RFC 3030 2: the first refused BDAT failed the transaction */
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=501 t=501 bad f=0 s=REJECTED");
    rec_free(&r);
}

static void test_rset_and_second_ehlo(void **state)
{
    (void)state;
    static const turn t[] = {
        EHLO_TURNS,
        C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRSET\r\n"),
        S("250 Ok\r\n250 Ok\r\n250 2.0.0 Ok\r\n"),
        C("MAIL FROM:<c@x>\r\n"),
        S("250 Ok\r\n"),
        C("EHLO again\r\n"),
        S("250-mx\r\n250 8BITMIME\r\n"),
        C("MAIL FROM:<d@x>\r\nRCPT TO:<e@y>\r\nDATA\r\n"),
        S("250 Ok\r\n250 Ok\r\n354 go\r\n"),
        C("x\r\n.\r\n"),
        S("250 Ok\r\n"),
    };
    rec r = {0};
    run(t, NT(t), &r);
    assert_types(&r, "BANNER HELO MAIL RCPT TX_END COMMAND MAIL TX_END HELO MAIL RCPT "
                     "DATA_BEGIN MSG_DATA MSG_END TX_END");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250 2.0.0 Ok f=0 s=ABORTED g=0 x=\n"
                   "COMMAND v=RSET ");
    assert_has(&r, "TX_END v=~ a=~ p=~ u=~ c=250 t=250-mx\\n250 8BITMIME f=0 s=ABORTED g=0 x=\n"
                   "HELO v=EHLO a=again ");
    assert_has(&r, "s=ACCEPTED");
    ASSERT_MSG(&r, 0, "x\r\n");
    rec_free(&r);
}

static void test_rejections(void **state)
{
    (void)state;
    static const turn t[] = {
        EHLO_TURNS,
        C("MAIL FROM:<a@x>\r\nRCPT TO:<nobody@y>\r\nDATA\r\n"),
        S("250 Ok\r\n550 5.1.1 unknown\r\n554 5.5.1 Error: no valid recipients\r\n"),
        C("RSET\r\n"),
        S("250 Ok\r\n"),
        C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
        S("250 Ok\r\n250 Ok\r\n354 go\r\n"),
        C("spam\r\n.\r\n"),
        S("550 5.7.1 Message content rejected\r\n"),
        C("MAIL FROM:<bad@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
        S("553 5.7.1 Sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n"),
        C("QUIT\r\n"),
        S("221 Bye\r\n"),
    };
    rec r = {0};
    run(t, NT(t), &r);
    /* a refused DATA still says DATA was tried (the record's mode), with no message */
    assert_types(&r, "BANNER HELO MAIL RCPT ANOMALY DATA_BEGIN TX_END COMMAND MAIL RCPT DATA_BEGIN "
                     "MSG_DATA MSG_END TX_END MAIL RCPT ANOMALY DATA_BEGIN TX_END COMMAND");
    assert_has(&r, "c=554 t=554 5.5.1 Error: no valid recipients f=0 s=REJECTED");
    assert_has(&r, "ANOMALY v=data_without_rcpt ");
    assert_has(&r, "c=550 t=550 5.7.1 Message content rejected f=0 s=REJECTED");
    assert_has(&r, "c=503 t=503 5.5.1 need RCPT f=0 s=REJECTED");
    assert_has(&r, "COMMAND v=RSET ");
    ASSERT_MSG(&r, 0, ""); /* the refused DATA: no content */
    ASSERT_MSG(&r, 1, "spam\r\n");
    rec_free(&r);
}

static void test_unknown_and_unmatched(void **state)
{
    (void)state;
    static const turn t[] = {
        EHLO_TURNS,
        C("XYZZY foo bar\r\n"),
        S("502 5.5.2 Error: command not recognized\r\n"),
        S("250 spurious\r\n"),
        C("x1\r\nx2\r\nx3\r\nx4\r\nx5\r\nx6\r\nx7\r\nx8\r\nx9\r\nx10\r\nx11\r\nx12\r\n"),
    };
    rec r = {0};
    run(t, NT(t), &r);
    assert_has(&r, "ANOMALY v=unknown_command a=XYZZY ");
    assert_has(&r, "COMMAND v=XYZZY a=foo bar p=~ u=~ c=502 ");
    assert_has(&r, "ANOMALY v=unmatched_reply a=250 spurious ");
    assert_int_equal(count(&r, "ANOMALY v=unknown_command "), 10);
    assert_int_equal(count(&r, "ANOMALY v=unknown_command_limit "), 1);
    assert_int_equal(count(&r, "COMMAND v=X"), 13);
    rec_free(&r);
}

static void test_long_lines(void **state)
{
    (void)state;
    rec r = {0};
    st_smtp *p = st_smtp_new(NULL, on_event, &r);
    char *big = malloc(9000);
    memcpy(big, "NOOP ", 5);
    memset(big + 5, 'a', 8000);
    memcpy(big + 8005, "\r\nNOOP\r\n", 8);
    FEEDS(p, ST_DIR_SERVER, "220 hi\r\n");
    FEEDS(p, ST_DIR_CLIENT, "HELO c\r\n"); /* else it gives up: not SMTP */
    FEEDS(p, ST_DIR_SERVER, "250 hi\r\n");
    feed(p, ST_DIR_CLIENT, big, 8013);
    memcpy(big, "250 ", 4);
    memset(big + 4, 'b', 8001);
    memcpy(big + 8005, "\r\n", 2);
    feed(p, ST_DIR_SERVER, big, 8007);
    /* exactly max_line bytes then CRLF is not too long */
    memset(big, 'c', 4096);
    memcpy(big, "NOOP ", 5);
    memcpy(big + 4096, "\r\n", 2);
    feed(p, ST_DIR_CLIENT, big, 4098);
    FEEDS(p, ST_DIR_SERVER, "250 ok\r\n");
    st_smtp_finish(p);
    st_smtp_free(p);
    free(big);
    assert_int_equal(count(&r, "ANOMALY v=line_too_long a=client"), 1);
    assert_int_equal(count(&r, "ANOMALY v=line_too_long a=server"), 1);
    assert_int_equal(count(&r, "COMMAND v=NOOP"), 3);
    assert_has(&r, "COMMAND v=NOOP a=~ p=~ u=~ c=250 t=250 ok ");
    /* the cut NOOP keeps 4096 bytes: "NOOP " and 4091 a's */
    const char *a = strstr(r.log, "COMMAND v=NOOP a=a");
    assert_non_null(a);
    assert_int_equal(strspn(a + 17, "a"), 4091);
    rec_free(&r);
}

/* 2000 lines of content; bytes lost from the middle of them. */
static char *big_content(size_t *n)
{
    char *b = malloc(2000 * 40 + 1);
    size_t len = 0;
    for (int i = 0; i < 2000; i++)
        len += (size_t)sprintf(b + len, "line %05d of the first message ....\r\n", i);
    *n = len;
    return b;
}

static void gap_dialogue(rec *r, size_t cut_from, size_t cut_to, int keep_end)
{
    size_t n;
    char *b = big_content(&n);
    st_smtp *p = st_smtp_new(NULL, on_event, r);
    FEEDS(p, ST_DIR_SERVER, "220 mx ESMTP\r\n");
    FEEDS(p, ST_DIR_CLIENT, "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    FEEDS(p, ST_DIR_SERVER, "250 mx\r\n250 Ok\r\n250 Ok\r\n354 go\r\n");
    feed(p, ST_DIR_CLIENT, b, cut_from);
    st_smtp_gap(p, ST_DIR_CLIENT, cut_to - cut_from);
    feed(p, ST_DIR_CLIENT, b + cut_to, n - cut_to);
    if (keep_end)
        FEEDS(p, ST_DIR_CLIENT, ".\r\n");
    FEEDS(p, ST_DIR_SERVER, "250 2.0.0 Ok: queued as A\r\n");
    FEEDS(p, ST_DIR_CLIENT, "MAIL FROM:<second@x>\r\nRCPT TO:<two@y>\r\nDATA\r\n");
    FEEDS(p, ST_DIR_SERVER, "250 Ok\r\n250 Ok\r\n354 go\r\n");
    FEEDS(p, ST_DIR_CLIENT, "Subject: 2\r\n\r\n..two\r\n.\r\n");
    FEEDS(p, ST_DIR_SERVER, "250 2.0.0 Ok: queued as B\r\n");
    st_smtp_finish(p);
    st_smtp_free(p);
    free(b);
}

static void check_second(const rec *r)
{
    assert_has(r, "MAIL v=MAIL a=second@x p=~ u=~ c=250 ");
    assert_has(r, "RCPT v=RCPT a=two@y p=~ u=~ c=250 t=250 Ok f=1 ");
    assert_int_equal(r->nmsg, 2);
    ASSERT_MSG(r, 1, "Subject: 2\r\n\r\n.two\r\n");
    assert_has(r, "c=250 t=250 2.0.0 Ok: queued as B f=0 s=ACCEPTED");
}

static void test_gap_in_data(void **state)
{
    (void)state;
    rec r = {0};
    gap_dialogue(&r, 30017, 31433, 1);
    assert_types(&r, "BANNER HELO MAIL RCPT DATA_BEGIN MSG_DATA MSG_GAP MSG_DATA MSG_END TX_END "
                     "MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END");
    assert_has(&r, "MSG_GAP v=~ a=~ p=~ u=~ c=0 t=~ f=0 s=- g=1416 ");
    assert_has(&r, "c=250 t=250 2.0.0 Ok: queued as A f=0 s=ACCEPTED");
    check_second(&r);
    rec_free(&r);
    /* the gap swallows the end of the message: the server's reply ends it */
    size_t n;
    free(big_content(&n));
    rec r2 = {0};
    gap_dialogue(&r2, n - 100, n, 0);
    assert_has(&r2, "ANOMALY v=data_end_not_seen ");
    assert_has(&r2, "c=250 t=250 2.0.0 Ok: queued as A f=0 s=ACCEPTED");
    check_second(&r2);
    rec_free(&r2);
}

static const turn d_server_gap[] = {
    S("220 mx ESMTP\r\n"),
    C("EHLO c\r\n"),
    S("250 mx\r\n"),
    C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
    SGAP(40),
    C("hello\r\n.\r\n"),
    S("250 Ok: queued as A\r\n"),
    C("MAIL FROM:<c@x>\r\nRCPT TO:<d@y>\r\nDATA\r\n"),
    S("250 Ok\r\n250 Ok\r\n354 go\r\n"),
    C("two\r\n.\r\n"),
    S("250 Ok: queued as B\r\n"),
};

/* A client (or a fuzzer, as in Arkime's smtp-moloch-bof capture) that
 * sends its whole dialogue before any reply: the late replies belong to the
 * commands, not to the message, which ends at its dot only. */
static const turn d_no_wait[] = {
    C("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n"),
    S("220 mx ESMTP\r\n250 mx\r\n250 Ok\r\n250 Ok\r\n354 go\r\n"),
    C("more\r\n.\r\nQUIT\r\n"),
    S("250 Ok: queued as A\r\n221 Bye\r\n"),
};

static void test_client_does_not_wait(void **state)
{
    (void)state;
    rec r = {0};
    run(d_no_wait, NT(d_no_wait), &r);
    /* the banner is reported when it arrives: after the client has started its message */
    assert_types(&r, "HELO MAIL RCPT DATA_BEGIN MSG_DATA BANNER MSG_DATA MSG_END TX_END COMMAND");
    assert_has(&r, "c=250 t=250 Ok: queued as A f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, "Subject: x\r\n\r\nbody\r\nmore\r\n");
    rec_free(&r);
}

static void test_server_gap(void **state)
{
    (void)state;
    rec r = {0};
    run(d_server_gap, NT(d_server_gap), &r);
    assert_types(&r, "BANNER HELO MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END "
                     "MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END");
    assert_has(&r, "MAIL v=MAIL a=a@x p=~ u=~ c=0 ");
    assert_has(&r, "c=250 t=250 Ok: queued as A f=0 s=ACCEPTED");
    assert_has(&r, "RCPT v=RCPT a=d@y p=~ u=~ c=250 t=250 Ok f=1 ");
    assert_has(&r, "c=250 t=250 Ok: queued as B f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, "hello\r\n");
    ASSERT_MSG(&r, 1, "two\r\n");
    rec_free(&r);
}

/* After a gap, replies are matched by what they can answer: a 354 skips
 * the commands whose replies were lost (each said so); a reply to a lost
 * command that does not say what it answers (no enhanced code) is left
 * unmatched instead of taking the 354's place. */
static const turn d_resync[] = {
    S("220 mx ESMTP\r\n"),
    C("EHLO c\r\n"),
    S("250 mx\r\n"),
    C("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
    SGAP(16),
    S("354 go\r\n"),
    C("hi\r\n.\r\n"),
    S("250 Ok: queued as A\r\n"),
    C("MAIL FROM:<c@x>\r\nRCPT TO:<d@y>\r\n"),
    CGAP(6),
    C("DATA\r\n"),
    S("250 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n"),
    C("two\r\n.\r\n"),
    S("250 Ok: queued as B\r\n"),
};

static void test_resync_by_code(void **state)
{
    (void)state;
    rec r = {0};
    run(d_resync, NT(d_resync), &r);
    assert_types(&r, "BANNER HELO ANOMALY MAIL ANOMALY RCPT DATA_BEGIN MSG_DATA MSG_END TX_END "
                     "MAIL RCPT ANOMALY DATA_BEGIN MSG_DATA MSG_END TX_END");
    assert_has(&r, "ANOMALY v=reply_lost a=MAIL ");
    assert_has(&r, "ANOMALY v=reply_lost a=RCPT ");
    assert_has(&r, "MAIL v=MAIL a=a@x p=~ u=~ c=0 ");
    assert_has(&r, "RCPT v=RCPT a=b@y p=~ u=~ c=0 t=~ f=-1 ");
    assert_int_equal(count(&r, "DATA_BEGIN v=DATA a=~ p=~ u=~ c=354 t=354 go "), 2);
    assert_has(&r, "ANOMALY v=unmatched_reply a=250 Ok ");
    assert_has(&r, "c=250 t=250 Ok: queued as A f=0 s=ACCEPTED");
    assert_has(&r, "c=250 t=250 Ok: queued as B f=0 s=ACCEPTED");
    ASSERT_MSG(&r, 0, "hi\r\n");
    ASSERT_MSG(&r, 1, "two\r\n");
    rec_free(&r);
}

static const turn d_onesided[] = {
    C("EHLO client\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
    C("first\r\n..dot\r\n.\r\n"),
    C("MAIL FROM:<c@x>\r\nRCPT TO:<d@y>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n"),
};

static void test_one_sided(void **state)
{
    (void)state;
    rec r = {0};
    run(d_onesided, NT(d_onesided), &r);
    assert_types(&r, "HELO MAIL RCPT DATA_BEGIN MSG_DATA MSG_END TX_END MAIL RCPT DATA_BEGIN "
                     "MSG_DATA MSG_END TX_END COMMAND");
    assert_has(&r, "HELO v=EHLO a=client p=~ u=~ c=0 t=~ ");
    assert_has(&r, "RCPT v=RCPT a=b@y p=~ u=~ c=0 t=~ f=-1 ");
    assert_int_equal(count(&r, "s=INCOMPLETE"), 2);
    ASSERT_MSG(&r, 0, "first\r\n.dot\r\n");
    ASSERT_MSG(&r, 1, "second\r\n");
    assert_false(has(&r, "ANOMALY"));
    rec_free(&r);
}

static void test_queue_overflow(void **state)
{
    (void)state;
    st_smtp_limits lim;
    st_smtp_limits_default(&lim);
    lim.max_pending = 4;
    static const turn t[] = {
        S("220 mx\r\n"),
        C("NOOP 1\r\nNOOP 2\r\nNOOP 3\r\nNOOP 4\r\nNOOP 5\r\nNOOP 6\r\n"),
        S("250 r1\r\n250 r2\r\n250 r3\r\n250 r4\r\n250 r5\r\n250 r6\r\n"),
    };
    rec r = {0};
    st_smtp *p = run_lim(t, NT(t), &r, 0, 0, &lim);
    st_smtp_finish(p);
    st_smtp_free(p);
    assert_int_equal(count(&r, "ANOMALY v=pending_queue_overflow "), 1);
    assert_has(&r, "COMMAND v=NOOP a=1 p=~ u=~ c=0 ");
    assert_has(&r, "COMMAND v=NOOP a=2 p=~ u=~ c=0 ");
    assert_has(&r, "COMMAND v=NOOP a=3 p=~ u=~ c=250 t=250 r1 ");
    assert_int_equal(count(&r, "COMMAND v=NOOP"), 6);
    rec_free(&r);
}

static void test_detection(void **state)
{
    (void)state;
    rec r = {0};
    st_smtp *p = st_smtp_new(NULL, on_event, &r);
    assert_int_equal(st_smtp_detected(p), 0);
    FEEDS(p, ST_DIR_SERVER, "220 mx\r\n");
    assert_int_equal(st_smtp_detected(p), 0);
    FEEDS(p, ST_DIR_CLIENT, "HELO c\r\n");
    assert_int_equal(st_smtp_detected(p), 1);
    st_smtp_free(p);
    /* banner missed: EHLO answered 250 */
    p = st_smtp_new(NULL, on_event, &r);
    FEEDS(p, ST_DIR_CLIENT, "EHLO c\r\n");
    FEEDS(p, ST_DIR_SERVER, "250-mx\r\n250 SIZE 1\r\n");
    assert_int_equal(st_smtp_detected(p), 1);
    st_smtp_free(p);
    /* not SMTP: gives up after 4 KiB both ways */
    char junk[5000];
    memset(junk, 'z', sizeof(junk));
    p = st_smtp_new(NULL, on_event, &r);
    feed(p, ST_DIR_CLIENT, junk, sizeof(junk));
    assert_int_equal(st_smtp_wants_data(p), 1);
    feed(p, ST_DIR_SERVER, junk, sizeof(junk));
    assert_int_equal(st_smtp_wants_data(p), 0);
    st_smtp_finish(p);
    st_smtp_free(p);
    rec_free(&r);
}

static void test_mail_syntax(void **state)
{
    (void)state;
    static const turn t[] = {
        S("220 mx\r\n"),
        C("mail from:<a@x>\r\nMAIL FROM: <b@x> BODY=8BITMIME SMTPUTF8\r\nMAIL FROM:c@x\r\n"
          "MAIL FROM : <\"q>\"@x>\r\nrcpt to:<@r1,@r2:d@y>\r\n"),
        S("250 Ok\r\n250 Ok\r\n250 Ok\r\n250 Ok\r\n250 Ok\r\n"),
    };
    rec r = {0};
    run(t, NT(t), &r);
    assert_has(&r, "MAIL v=MAIL a=a@x p=~ ");
    assert_has(&r, "MAIL v=MAIL a=b@x p=BODY=8BITMIME SMTPUTF8 ");
    assert_has(&r, "MAIL v=MAIL a=c@x p=~ ");
    assert_has(&r, "MAIL v=MAIL a=\"q>\"@x p=~ ");
    assert_has(&r, "RCPT v=RCPT a=@r1,@r2:d@y p=~ ");
    assert_int_equal(count(&r, "s=ABORTED"), 3);
    assert_false(has(&r, "ANOMALY"));
    rec_free(&r);
}

static void test_rcpt_without_mail(void **state)
{
    (void)state;
    static const turn t[] = {
        S("220 mx\r\n"),
        C("EHLO c\r\nRCPT TO:<b@y>\r\n"),
        S("250 mx\r\n503 need MAIL\r\n"),
        C("QUIT\r\n"),
        S("221 Bye\r\n"),
    };
    rec r = {0};
    run(t, NT(t), &r);
    assert_has(&r, "ANOMALY v=rcpt_without_mail ");
    assert_has(&r, "RCPT v=RCPT a=b@y p=~ u=~ c=503 ");
    rec_free(&r);
}

static void test_bare_lf_and_nul(void **state)
{
    (void)state;
    static const turn t[] = {
        S("220 mx\n"),
        C("EHLO c\nNOOP\nNO\0P\r\n"),
        S("250 mx\n250 ok\n500 bad\n"),
    };
    rec r = {0};
    run(t, NT(t), &r);
    assert_int_equal(count(&r, "ANOMALY v=bare_lf "), 2);
    assert_has(&r, "ANOMALY v=nul_in_command ");
    assert_has(&r, "COMMAND v=NOOP a=~ p=~ u=~ c=250 t=250 ok ");
    rec_free(&r);
}

/* Random bytes, random pieces, random gaps: nothing may crash or leak. */
static void test_garbage(void **state)
{
    (void)state;
    static const char *words[] = {"MAIL FROM:<a@b>\r\n",
                                  "RCPT TO:<c@d>\r\n",
                                  "DATA\r\n",
                                  "\r\n.\r\n",
                                  "BDAT 7\r\n",
                                  "BDAT 3 LAST\r\n",
                                  "354 go\r\n",
                                  "250-x\r\n",
                                  "250 ok\r\n",
                                  "AUTH LOGIN\r\n",
                                  "334 x\r\n",
                                  "STARTTLS\r\n",
                                  "220 go\r\n",
                                  "\x16\x03\x01",
                                  ".",
                                  "\r",
                                  "\n"};
    srand(7);
    st_smtp_limits lim = {32, 3, 5};
    for (int round = 0; round < 300; round++) {
        rec r = {0};
        st_smtp *p = st_smtp_new(round % 2 ? &lim : NULL, on_event, &r);
        for (int i = 0; i < 200; i++) {
            st_dir dir = rand() % 2 ? ST_DIR_CLIENT : ST_DIR_SERVER;
            const char *w = words[rand() % (sizeof(words) / sizeof(words[0]))];
            if (rand() % 40 == 0)
                st_smtp_gap(p, dir, (uint64_t)(rand() % 50 + 1));
            else if (rand() % 8 == 0) {
                char junk[16];
                for (size_t k = 0; k < sizeof(junk); k++)
                    junk[k] = (char)rand();
                feed(p, dir, junk, (size_t)(rand() % 16));
            } else
                feed(p, dir, w, strlen(w));
        }
        st_smtp_finish(p);
        st_smtp_free(p);
        rec_free(&r);
    }
}

static void test_split_full(void **state)
{
    (void)state;
    split_check(d_full, NT(d_full));
}

static void test_split_login(void **state)
{
    (void)state;
    split_check(d_login, NT(d_login));
}

static void test_split_bdat(void **state)
{
    (void)state;
    split_check(d_bdat, NT(d_bdat));
}

static void test_split_tls(void **state)
{
    (void)state;
    split_check(d_tls, NT(d_tls));
    split_check(d_tls_plain, NT(d_tls_plain));
}

static void test_split_gaps(void **state)
{
    (void)state;
    split_check(d_server_gap, NT(d_server_gap));
    split_check(d_onesided, NT(d_onesided));
    split_check(d_resync, NT(d_resync));
}

static void test_split_dot(void **state)
{
    (void)state;
    split_check(d_dot, NT(d_dot));
}

/* MSG_DATA points into the caller's buffer: content is never copied
 * (the one exception: the CR after a line-start dot, held back). */
typedef struct zc {
    const char *in;
    size_t n;
    int events;
} zc;

static void on_zc(void *ctx, const st_smtp_event *ev)
{
    zc *z = ctx;
    if (ev->type != ST_SMTP_EV_MSG_DATA)
        return;
    const char *d = (const char *)ev->data;
    z->events++;
    if (ev->len == 1 && d[0] == '\r' && (d < z->in || d >= z->in + z->n))
        return;
    assert_true(d >= z->in && d + ev->len <= z->in + z->n);
}

static void test_zero_copy(void **state)
{
    (void)state;
    static const char content[] = "a\r\n..b\r\n.\rc\r\n"
                                  "0123456789012345678901234567890\r\n"
                                  ".\r\n";
    zc z = {content, sizeof(content) - 1, 0};
    st_smtp *p = st_smtp_new(NULL, on_zc, &z);
    FEEDS(p, ST_DIR_SERVER, "220 mx\r\n");
    FEEDS(p, ST_DIR_CLIENT, "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    FEEDS(p, ST_DIR_SERVER, "250 mx\r\n250 Ok\r\n250 Ok\r\n354 go\r\n");
    st_smtp_feed(p, ST_DIR_CLIENT, (const uint8_t *)content, sizeof(content) - 1);
    st_smtp_finish(p);
    st_smtp_free(p);
    assert_int_equal(z.events, 4);
}

/* Not SMTP: where the parser gives up must not depend on segmentation. */
static void test_give_up_split(void **state)
{
    (void)state;
    char *c = malloc(6000), *sv = malloc(6000);
    for (int i = 0; i < 6000; i++) {
        c[i] = i % 13 == 12 ? '\n' : 'q';
        sv[i] = i % 7 == 6 ? '\n' : 'z';
    }
    turn t[] = {{ST_DIR_CLIENT, c, 3000}, {ST_DIR_SERVER, sv, 6000}, {ST_DIR_CLIENT, c, 6000}};
    rec a = {0}, b = {0};
    st_smtp *p = run_lim(t, NT(t), &a, 0, 0, NULL);
    assert_int_equal(st_smtp_wants_data(p), 0);
    st_smtp_free(p);
    p = run_lim(t, NT(t), &b, 2, 0, NULL);
    st_smtp_free(p);
    assert_string_equal(a.log, b.log);
    assert_true(count(&a, "ANOMALY v=unknown_command ") == 10);
    rec_free(&a);
    rec_free(&b);
    free(c);
    free(sv);
}

/* A flood of bad replies: 100 anomalies, then one anomaly_limit. */
static void test_anomaly_cap(void **state)
{
    (void)state;
    rec r = {0};
    st_smtp *p = st_smtp_new(NULL, on_event, &r);
    FEEDS(p, ST_DIR_SERVER, "220 mx\r\n");
    FEEDS(p, ST_DIR_CLIENT, "EHLO c\r\n");
    for (int i = 0; i < 300; i++)
        FEEDS(p, ST_DIR_SERVER, "bad reply\r\n");
    FEEDS(p, ST_DIR_SERVER, "250 mx\r\n");
    st_smtp_finish(p);
    st_smtp_free(p);
    assert_int_equal(count(&r, "ANOMALY v=invalid_reply "), 100);
    assert_int_equal(count(&r, "ANOMALY v=anomaly_limit "), 1);
    assert_int_equal(count(&r, "ANOMALY"), 101);
    assert_has(&r, "HELO v=EHLO a=c p=~ u=~ c=250 ");
    rec_free(&r);
}

/* ---- memory ------------------------------------------------------------- */

/* Records the events and the most memory the parser held at any event or
 * between two feeds. */
typedef struct memrec {
    rec r;
    st_smtp *p;
    size_t peak;
} memrec;

static void mem_peak(memrec *m)
{
    size_t n = st_smtp_memory(m->p);
    if (n > m->peak)
        m->peak = n;
}

static void on_mem_event(void *ctx, const st_smtp_event *ev)
{
    memrec *m = ctx;
    on_event(&m->r, ev);
    mem_peak(m);
}

static void mem_feed(memrec *m, st_dir dir, const char *b, size_t n)
{
    feed(m->p, dir, b, n);
    mem_peak(m);
}

#define MEM_FEEDS(m, dir, lit) mem_feed(m, dir, lit, sizeof(lit) - 1)

static void test_memory_fresh(void **state)
{
    (void)state;
    rec r = {0};
    st_smtp *p = st_smtp_new(NULL, on_event, &r);
    size_t fresh = st_smtp_memory(p);
    print_message("fresh parser: %zu bytes\n", fresh);
    assert_true(fresh > 0);
    assert_true(fresh < 2048);
    st_smtp_finish(p);
    assert_true(st_smtp_memory(p) <= fresh);
    st_smtp_free(p);
    assert_int_equal(st_smtp_memory(NULL), 0);
    rec_free(&r);
}

/* 100 KB of content: 2500 lines of 40 bytes, some starting with a dot. */
static char *content_100k(size_t *n, char **unstuffed, size_t *un)
{
    char *b = malloc(2500 * 41 + 1), *u = malloc(2500 * 41 + 1);
    size_t len = 0, ulen = 0;
    for (int i = 0; i < 2500; i++) {
        int dot = i % 100 == 7;
        len += (size_t)sprintf(b + len, "%sline %05d of a typical message body..\r\n",
                               dot ? ".." : "", i);
        ulen += (size_t)sprintf(u + ulen, "%sline %05d of a typical message body..\r\n",
                                dot ? "." : "", i);
    }
    *n = len;
    *unstuffed = u;
    *un = ulen;
    return b;
}

static void typical_session(memrec *m)
{
    size_t n, un;
    char *u, *b = content_100k(&n, &u, &un);
    static const turn t[] = {EHLO_TURNS};
    for (size_t i = 0; i < NT(t); i++)
        mem_feed(m, t[i].dir, t[i].b, t[i].n);
    MEM_FEEDS(m, ST_DIR_CLIENT,
              "MAIL FROM:<alice@example.org> SIZE=102400\r\nRCPT TO:<bob@example.net>\r\n"
              "RCPT TO:<carol@example.net>\r\nRCPT TO:<dave@example.net>\r\nDATA\r\n");
    MEM_FEEDS(m, ST_DIR_SERVER,
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
              "354 End data with <CR><LF>.<CR><LF>\r\n");
    for (size_t at = 0; at < n; at += 1448)
        mem_feed(m, ST_DIR_CLIENT, b + at, n - at < 1448 ? n - at : 1448);
    MEM_FEEDS(m, ST_DIR_CLIENT, ".\r\nQUIT\r\n");
    MEM_FEEDS(m, ST_DIR_SERVER, "250 2.0.0 Ok: queued as 4ABC123\r\n221 2.0.0 Bye\r\n");
    assert_msg(&m->r, 0, u, un);
    free(b);
    free(u);
}

static void test_memory_typical(void **state)
{
    (void)state;
    memrec m = {0};
    m.p = st_smtp_new(NULL, on_mem_event, &m);
    typical_session(&m);
    size_t after = st_smtp_memory(m.p);
    print_message("typical session: peak %zu, after %zu bytes\n", m.peak, after);
    assert_true(m.peak < 4096);
    assert_true(after < 2048);
    st_smtp_finish(m.p);
    st_smtp_free(m.p);
    assert_types(&m.r, "BANNER HELO MAIL RCPT RCPT RCPT DATA_BEGIN MSG_DATA MSG_END TX_END "
                       "COMMAND");
    assert_has(&m.r, " x=PIPELINING|SIZE 10240000|VRFY|ETRN|STARTTLS|AUTH PLAIN LOGIN|"
                     "ENHANCEDSTATUSCODES|8BITMIME|DSN|SMTPUTF8|CHUNKING\n");
    assert_has(&m.r, "RCPT v=RCPT a=dave@example.net p=~ u=~ c=250 t=250 2.1.5 Ok f=1 ");
    assert_has(&m.r, "c=250 t=250 2.0.0 Ok: queued as 4ABC123 f=0 s=ACCEPTED");
    assert_has(&m.r, "COMMAND v=QUIT a=~ p=~ u=~ c=221 t=221 2.0.0 Bye ");
    assert_false(has(&m.r, "ANOMALY"));
    rec_free(&m.r);
}

/* A 4000-byte command and a 60-line EHLO reply (59 keywords). */
static void long_turns(char *cmd, char *reply, char *want_text, char *want_ext)
{
    size_t at = (size_t)sprintf(cmd, "NOOP ");
    memset(cmd + at, 'x', 3993);
    strcpy(cmd + at + 3993, "\r\n");
    at = (size_t)sprintf(reply, "250-mx.example.net\r\n");
    size_t wt = (size_t)sprintf(want_text, "250-mx.example.net");
    want_ext[0] = 0;
    for (int i = 1; i < 60; i++) {
        char kw[64];
        snprintf(kw, sizeof(kw), "X-KEYWORD-%02d with some parameters after it", i);
        at += (size_t)sprintf(reply + at, "250%c%s\r\n", i < 59 ? '-' : ' ', kw);
        wt += (size_t)sprintf(want_text + wt, "\\n250%c%s", i < 59 ? '-' : ' ', kw);
        strcat(want_ext, i > 1 ? "|" : "");
        strcat(want_ext, kw);
    }
}

static void long_session(memrec *m, int bytewise, const char *cmd, const char *reply)
{
    static const turn t[] = {
        S("220 mx.example.net ESMTP\r\n"),
        C("EHLO client.example.org\r\n"),
        {ST_DIR_SERVER, NULL, 0}, /* the long reply */
        {ST_DIR_CLIENT, NULL, 0}, /* the long command */
        S("250 2.0.0 Ok\r\n"),
        C("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nQUIT\r\n"),
        S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n221 2.0.0 Bye\r\n"),
    };
    for (size_t i = 0; i < NT(t); i++) {
        const char *b = i == 2 ? reply : i == 3 ? cmd : t[i].b;
        size_t n = i == 2 || i == 3 ? strlen(b) : t[i].n;
        for (size_t k = 0; k < n; k += bytewise ? 1 : n)
            mem_feed(m, t[i].dir, b + k, bytewise ? 1 : n);
    }
}

static void test_memory_long(void **state)
{
    (void)state;
    char *cmd = malloc(4100), *reply = malloc(4096), *text = malloc(8192), *ext = malloc(4096);
    long_turns(cmd, reply, text, ext);
    memrec m = {0}, bw = {0};
    m.p = st_smtp_new(NULL, on_mem_event, &m);
    size_t fresh = st_smtp_memory(m.p);
    long_session(&m, 0, cmd, reply);
    size_t after = st_smtp_memory(m.p);
    print_message("long lines: fresh %zu, peak %zu, after %zu bytes\n", fresh, m.peak, after);
    assert_true(m.peak > fresh + 4000);
    assert_true(after < 4096);
    st_smtp_finish(m.p);
    assert_true(st_smtp_memory(m.p) < fresh);
    st_smtp_free(m.p);
    assert_types(&m.r, "BANNER HELO COMMAND MAIL RCPT TX_END COMMAND");
    char *want = malloc(16384);
    sprintf(want, "HELO v=EHLO a=client.example.org p=~ u=~ c=250 t=%s f=0 s=- g=0 x=%s\n", text,
            ext);
    assert_has(&m.r, want);
    sprintf(want, "COMMAND v=NOOP a=%s p=~ u=~ c=250 t=250 2.0.0 Ok ", cmd + 5);
    strcpy(strstr(want, "\r\n"), " p=~ u=~ c=250 t=250 2.0.0 Ok ");
    assert_has(&m.r, want);
    assert_false(has(&m.r, "ANOMALY"));
    /* byte by byte: the buffers grow one byte at a time, same events */
    bw.p = st_smtp_new(NULL, on_mem_event, &bw);
    long_session(&bw, 1, cmd, reply);
    st_smtp_finish(bw.p);
    st_smtp_free(bw.p);
    assert_string_equal(m.r.log, bw.r.log);
    rec_free(&m.r);
    rec_free(&bw.r);
    free(want);
    free(cmd);
    free(reply);
    free(text);
    free(ext);
}

/* AUTH PLAIN of a 1500-byte user name: its memory goes with the AUTH. */
static void auth_long_user(memrec *m, size_t before)
{
    char *b = malloc(1505), *line = malloc(3000);
    memset(b, 'u', 1502); /* NUL, the user name, NUL, "pw1" */
    b[0] = b[1501] = 0;
    memcpy(b + 1502, "pw1", 3);
    strcpy(line, "AUTH PLAIN ");
    EVP_EncodeBlock((unsigned char *)line + 11, (const unsigned char *)b, 1505);
    strcat(line, "\r\n");
    mem_feed(m, ST_DIR_CLIENT, line, strlen(line));
    MEM_FEEDS(m, ST_DIR_SERVER, "235 2.7.0 Authentication successful\r\n");
    assert_true(m->peak > before + 1000);        /* the user name, until the AUTH event */
    assert_true(st_smtp_memory(m->p) <= before); /* no user, work and line back to small */
    free(line);
    free(b);
}

/* 300 RCPTs pipelined, then their replies; returns the memory between. */
static size_t deep_pipelining(memrec *m)
{
    char *b = malloc(300 * 40);
    size_t len = 0;
    for (int i = 0; i < 300; i++)
        len += (size_t)sprintf(b + len, "RCPT TO:<user%03d@example.net>\r\n", i);
    MEM_FEEDS(m, ST_DIR_CLIENT, "MAIL FROM:<a@example.org>\r\n");
    mem_feed(m, ST_DIR_CLIENT, b, len);
    size_t deep = st_smtp_memory(m->p);
    len = (size_t)sprintf(b, "250 2.1.0 Ok\r\n");
    for (int i = 0; i < 300; i++)
        len += (size_t)sprintf(b + len, "250 2.1.5 Ok %d\r\n", i);
    mem_feed(m, ST_DIR_SERVER, b, len);
    free(b);
    return deep;
}

/* AUTH and deep pipelining take memory only while they last. */
static void test_memory_shrinks(void **state)
{
    (void)state;
    static const turn t[] = {EHLO_TURNS};
    memrec m = {0};
    m.p = st_smtp_new(NULL, on_mem_event, &m);
    for (size_t i = 0; i < NT(t); i++)
        mem_feed(&m, t[i].dir, t[i].b, t[i].n);
    size_t before = st_smtp_memory(m.p);
    auth_long_user(&m, before);
    size_t deep = deep_pipelining(&m), after = st_smtp_memory(m.p);
    print_message("auth/pipelining: before %zu, peak %zu, 301 pending %zu, after %zu bytes\n",
                  before, m.peak, deep, after);
    assert_true(deep > before + 300 * 12);
    assert_true(after < 2048);
    st_smtp_finish(m.p);
    st_smtp_free(m.p);
    assert_int_equal(count(&m.r, "RCPT v=RCPT a=user"), 300);
    assert_has(&m.r, "RCPT v=RCPT a=user299@example.net p=~ u=~ c=250 t=250 2.1.5 Ok 299 f=1 ");
    assert_has(&m.r, "AUTH v=AUTH a=PLAIN p=~ u=uuuuuuuu");
    assert_false(has(&m.r, "pw1"));
    assert_false(has(&m.r, "ANOMALY"));
    rec_free(&m.r);
}

/* TLS after STARTTLS, and not SMTP at all: the readers' buffers go. */
static void test_memory_idle(void **state)
{
    (void)state;
    rec r = {0};
    st_smtp *p = run_lim(d_tls, NT(d_tls), &r, 0, 0, NULL);
    size_t tls = st_smtp_memory(p);
    assert_int_equal(st_smtp_wants_data(p), 0);
    st_smtp_finish(p);
    size_t done = st_smtp_memory(p);
    st_smtp_free(p);
    char junk[5000];
    memset(junk, 'z', sizeof(junk));
    p = st_smtp_new(NULL, on_event, &r);
    size_t fresh = st_smtp_memory(p);
    feed(p, ST_DIR_CLIENT, junk, sizeof(junk));
    feed(p, ST_DIR_SERVER, junk, sizeof(junk));
    assert_int_equal(st_smtp_wants_data(p), 0);
    size_t gave_up = st_smtp_memory(p);
    st_smtp_finish(p);
    st_smtp_free(p);
    print_message("tls %zu, finished %zu, not smtp %zu bytes\n", tls, done, gave_up);
    assert_true(tls < fresh); /* no line buffers, no reply text */
    assert_true(done < tls && gave_up == done);
    rec_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_dialogue),
        cmocka_unit_test(test_auth_login),
        cmocka_unit_test(test_auth_variants),
        cmocka_unit_test(test_starttls_tls),
        cmocka_unit_test(test_starttls_plaintext),
        cmocka_unit_test(test_dot_stuffing),
        cmocka_unit_test(test_bdat),
        cmocka_unit_test(test_bdat_invalid),
        cmocka_unit_test(test_rset_and_second_ehlo),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_unknown_and_unmatched),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_gap_in_data),
        cmocka_unit_test(test_server_gap),
        cmocka_unit_test(test_resync_by_code),
        cmocka_unit_test(test_one_sided),
        cmocka_unit_test(test_client_does_not_wait),
        cmocka_unit_test(test_queue_overflow),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_mail_syntax),
        cmocka_unit_test(test_rcpt_without_mail),
        cmocka_unit_test(test_bare_lf_and_nul),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_split_full),
        cmocka_unit_test(test_split_login),
        cmocka_unit_test(test_split_bdat),
        cmocka_unit_test(test_split_tls),
        cmocka_unit_test(test_split_gaps),
        cmocka_unit_test(test_split_dot),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_anomaly_cap),
        cmocka_unit_test(test_give_up_split),
        cmocka_unit_test(test_memory_fresh),
        cmocka_unit_test(test_memory_typical),
        cmocka_unit_test(test_memory_long),
        cmocka_unit_test(test_memory_shrinks),
        cmocka_unit_test(test_memory_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
