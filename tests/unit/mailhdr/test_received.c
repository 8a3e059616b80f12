/*
 * test_hdr_received.c - IP addresses from Received / X-Originating-IP values, and
 * the Zeek path choice (2nd address of a header, else the 1st).
 *
 * Real lines: zeek/smtp-bdat-pipeline-8bitmime (vger, Postfix, Gmail, Exim-like),
 * arkime smtp-originating / smtp-subject-8859-b / smtp-subject-utf8-q /
 * smtp-decrypted (received_ips in their expected.json).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "mailhdr/mailhdr.h"

static struct st_hdr_ip IP[16];
static unsigned FL;

static size_t ips(const char *s)
{
    FL = 0;
    return st_hdr_received_ips(s, strlen(s), IP, 16, &FL);
}

static const char *path_ip(const char *s)
{
    static struct st_hdr_ip ip;
    if (!st_hdr_received_path_ip(s, strlen(s), &ip))
        return "";
    return ip.text;
}

static void postfix(void **st)
{
    (void)st;
    const char *s = "from mail.example.com (mail.example.com [192.0.2.1])\r\n\tby mx.example.org "
                    "(Postfix) with ESMTPS id 4F1B2C3D4E\r\n\tfor <u@example.org>; Tue,  8 Dec "
                    "2015 22:30:01 +0100 (CET)";
    assert_int_equal(ips(s), 1);
    assert_string_equal(IP[0].text, "192.0.2.1");
    assert_int_equal(IP[0].af, AF_INET);
    assert_memory_equal(IP[0].bytes, "\xc0\x00\x02\x01", 4);
    assert_int_equal(FL, 0);
    /* Postfix IPv6 form; zeek capture: Gmail to vger's Postfix */
    assert_int_equal(ips("from mail-pf1-x42f.google.com (mail-pf1-x42f.google.com "
                         "[IPv6:2607:f8b0:4864:20::42f])\r\n        by lindbergh.monkeyblade.net "
                         "(Postfix) with ESMTPS id A02A7C061574\r\n        for "
                         "<linux-kernel@vger.kernel.org>; Thu,  4 Mar 2021 01:39:13 -0800 (PST)"),
                     1);
    assert_string_equal(IP[0].text, "2607:f8b0:4864:20::42f");
    assert_int_equal(IP[0].af, AF_INET6);
    /* arkime smtp-decrypted: "unknown [ip]" */
    assert_int_equal(ips("from INTRA-DMZ-MTA (unknown [60.20.0.15])\r\n\tby TRANSIT-MTA (Postfix) "
                         "with ESMTPS id 4EFA8A00CB"),
                     1);
    assert_string_equal(IP[0].text, "60.20.0.15");
}

static void zeek_vger(void **st)
{
    (void)st;
    /* zeek path for this message: ..., 23.128.96.19 (2nd header), and no IP from the
       listexpand header */
    assert_int_equal(ips("(majordomo@vger.kernel.org) by vger.kernel.org via listexpand\r\n       "
                         " id S237790AbhCDJkQ (ORCPT\r\n        "
                         "<rfc822;trafficwatcher@foundit.scootmail.com>);\r\n        Thu, 4 Mar "
                         "2021 04:40:16 -0500"),
                     0);
    const char *s = "from lindbergh.monkeyblade.net ([23.128.96.19]:56766 \"EHLO\r\n        "
                    "lindbergh.monkeyblade.net\" rhost-flags-OK-OK-OK-OK) by vger.kernel.org\r\n   "
                    "     with ESMTP id S237779AbhCDJjx (ORCPT";
    assert_int_equal(ips(s), 1);
    assert_string_equal(IP[0].text, "23.128.96.19");
    assert_string_equal(path_ip(s), "23.128.96.19");
    /* Gmail submission: queue id with dotted numbers must not match */
    s = "from localhost.localdomain ([170.253.51.130])\r\n        by smtp.googlemail.com with "
        "ESMTPSA id l2sm6127295wml.38.2021.03.04.01.40.17\r\n        (version=TLS1_3 "
        "cipher=TLS_AES_256_GCM_SHA384 bits=256/256);\r\n        Thu, 04 Mar 2021 01:40:18 -0800 "
        "(PST)";
    assert_int_equal(ips(s), 1);
    assert_string_equal(IP[0].text, "170.253.51.130");
}

static void exim(void **st)
{
    (void)st;
    const char *s = "from [192.0.2.7] (port=54321 helo=client.example.com)\r\n\tby mx.example.org "
                    "with esmtpsa  (TLS1.3) tls TLS_AES_256_GCM_SHA384\r\n\t(Exim 4.96)\r\n\t"
                    "(envelope-from <a@b.example>)\r\n\tid 1qXyZ-000Abc-12\r\n\tfor c@d.example; "
                    "Mon, 13 Jan 2014 10:01:13 -0500";
    assert_int_equal(ips(s), 1);
    assert_string_equal(IP[0].text, "192.0.2.7");
    assert_int_equal(ips("from host.example ([2001:db8::25]:41234 helo=host.example) by mx with "
                         "esmtp (Exim 4.94.2)"),
                     1);
    assert_string_equal(IP[0].text, "2001:db8::25");
    /* arkime smtp-originating: anonymised with leading zeros, Arkime reads 10.0.0.2/3 */
    s = "from [10.000.000.002] (helo=[10.000.00.03])\r\n\tby xxxxxxxxxxxx.xxxxxxxxx.net with "
        "esmtpa "
        "(Exim 4.67)\r\n\t(envelope-from <xxxxxxxx@xxxxxxxxx.net>)";
    assert_int_equal(ips(s), 2);
    assert_string_equal(IP[0].text, "10.0.0.2");
    assert_string_equal(IP[1].text, "10.0.0.3");
    assert_int_equal(FL, ST_HDR_R_LEADING_ZERO);
    assert_string_equal(path_ip(s), "10.0.0.3");
    assert_int_equal(ips("10.000.000.004"), 1); /* X-Originating-IP */
    assert_string_equal(IP[0].text, "10.0.0.4");
    assert_int_equal(ips("[10.00.00.004]"), 1);
    assert_string_equal(IP[0].text, "10.0.0.4");
}

static void sendmail(void **st)
{
    (void)st;
    const char *s =
        "from gras-os-desk.cern.ch (localhost [127.0.0.1])\r\n\tby gras-os-desk.cern.ch "
        "(8.14.7/8.14.7) with ESMTP id tB8LU1sU014630;\r\n\tTue, 8 Dec 2015 22:30:01 "
        "+0100";
    assert_int_equal(ips(s), 1);
    assert_string_equal(IP[0].text, "127.0.0.1");
    assert_int_equal(ips("(from root@localhost)\r\n\tby gras-os-desk.cern.ch "
                         "(8.14.7/8.14.7/Submit) id tB8LU0vs014629;"),
                     0);
    s = "from client.example (client.example [198.51.100.4] (may be forged))\r\n\tby "
        "mx.example (8.15.2/8.15.2) with ESMTP id x1;";
    assert_int_equal(ips(s), 1);
    assert_string_equal(IP[0].text, "198.51.100.4");
}

static void exchange(void **st)
{
    (void)st;
    const char *s = "from EX01.corp.example.com (2001:db8:1::5) by EX02.corp.example.com\r\n "
                    "(2001:db8:1::6) with Microsoft SMTP Server (version=TLS1_2,\r\n "
                    "cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.2.1118.40; Tue, 1 Feb "
                    "2022 10:00:00 +0000";
    assert_int_equal(ips(s), 2);
    assert_string_equal(IP[0].text, "2001:db8:1::5");
    assert_string_equal(IP[1].text, "2001:db8:1::6");
    assert_string_equal(path_ip(s), "2001:db8:1::6");
    /* zone index and upper case hex */
    assert_int_equal(ips("from AM0PR01MB1234.eurprd01.prod.exchangelabs.com "
                         "([fe80::1234:5678:9ABC:DEF0%5]) by AM0PR01MB5678.eurprd01.prod"
                         ".exchangelabs.com ([fe80::1%eth0%5]) with mapi id 15.20.4866.025"),
                     2);
    assert_string_equal(IP[0].text, "fe80::1234:5678:9abc:def0");
    assert_string_equal(IP[1].text, "fe80::1");
    /* arkime smtp-subject-8859-b: mapi id 14.03.0123.003 must not match */
    s = "from xxxxxxxxxxxxxxxxx2.xxxxx.net ([169.254.4.195]) by\r\n xxxxxxxxxxxxxxxxx1.xxxxx.net "
        "([10.180.121.108]) with mapi id 14.03.0123.003;\r\n Fri, 6 Dec 2013 14:31:10 -0500";
    assert_int_equal(ips(s), 2);
    assert_string_equal(IP[0].text, "169.254.4.195");
    assert_string_equal(IP[1].text, "10.180.121.108");
    assert_int_equal(ips("mail.example (10.1.2.3) by x (::ffff:192.0.2.9)"), 2);
    assert_string_equal(IP[1].text, "::ffff:192.0.2.9");
}

static void candidates_rejected(void **st)
{
    (void)st;
    assert_int_equal(ips("1.2.3 1.2.3.4.5 256.1.1.1 1.2.3.4a a1.2.3.4 1.2.3.4-x 22:30:01 "
                         "dead:beef 1234.1.1.1 abc ::g x1::1 host-1.2.3.4 1..2.3"),
                     0);
    assert_int_equal(ips("(HELO x) (1.2.3.4)"), 1);
    assert_string_equal(IP[0].text, "1.2.3.4");
    assert_int_equal(ips("from 192.0.2.1."), 1);          /* end of sentence */
    assert_int_equal(ips("from host [192.0.2.1:25]"), 1); /* v4 with port */
    assert_string_equal(IP[0].text, "192.0.2.1");
    assert_int_equal(ips("ip=1.1.1.1,2.2.2.2;3.3.3.3"), 3);
    assert_string_equal(IP[2].text, "3.3.3.3");
    assert_int_equal(ips(""), 0);
    assert_int_equal(ips("IPv6:"), 0);
    assert_int_equal(ips("[ipv6:::1]"), 1);
    assert_string_equal(IP[0].text, "::1");
    assert_string_equal(path_ip("nothing here"), "");
    assert_string_equal(path_ip("only 192.0.2.1"), "192.0.2.1");
    assert_string_equal(path_ip("a 192.0.2.1 b 192.0.2.2 c 192.0.2.3"), "192.0.2.2");
    /* '_' glues like '-' (received.c's contract): host and queue names with
     * underscores hold no address ("ip_10.1.2.3" is a name), either side */
    assert_int_equal(ips("from ip_10.1.2.3 by mx_198.51.100.2 id 192.0.2.77_q1"), 0);
    assert_int_equal(ips("from ip_10.1.2.3 ([192.0.2.8])"), 1);
    assert_string_equal(IP[0].text, "192.0.2.8");
}

static void bounded(void **st)
{
    (void)st;
    char s[4096], *p = s;
    struct st_hdr_ip few[3];
    unsigned fl = 0;
    for (int i = 0; i < 100; i++)
        p += sprintf(p, "[10.0.0.%d] ", i);
    assert_int_equal(st_hdr_received_ips(s, (size_t)(p - s), few, 3, &fl), 3);
    assert_int_equal(fl, ST_HDR_R_TOO_MANY);
    assert_string_equal(few[2].text, "10.0.0.2");
    /* length honoured: "1.2.3.45" cut to "1.2.3.4" */
    assert_int_equal(st_hdr_received_ips("1.2.3.45", 7, few, 3, NULL), 1);
    assert_string_equal(few[0].text, "1.2.3.4");
    /* long runs of ip characters */
    memset(s, ':', 3000);
    memset(s + 3000, '1', 1000);
    assert_int_equal(st_hdr_received_ips(s, 4000, few, 3, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(postfix),  cmocka_unit_test(zeek_vger),
        cmocka_unit_test(exim),     cmocka_unit_test(sendmail),
        cmocka_unit_test(exchange), cmocka_unit_test(candidates_rejected),
        cmocka_unit_test(bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
