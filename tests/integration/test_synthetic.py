"""Reassembly and session behaviour on captures built packet by packet:
lost segments, reused 4-tuples, resets, idle sessions, IPv6, ports."""
import json
import os
import tempfile
import unittest

from common import SmtptapCase, sha256, smtptap
from pcapgen import Session, smtp_dialogue, write_pcap


def message(n_lines, tag):
    body = b"".join(b"%s line %06d abcdefghijklmnopqrstuvwxyz0123456789\r\n" % (tag, i)
                    for i in range(n_lines))
    return b"Subject: " + tag + b"\r\n\r\n" + body


class Synthetic(SmtptapCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-gen-")

    def pcap(self, packets, name="x.pcap"):
        path = os.path.join(self.dir, name)
        write_pcap(path, packets)
        return path

    def test_plain_session(self):
        m1 = message(10, b"one")
        s = smtp_dialogue(Session().handshake(), [(b"a@x.test", [b"b@y.test"], m1)]).fin()
        run = smtptap("-r", self.pcap(s.packets))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        r = run.records[0]
        self.assertEqual(r["client"], {"ip": "10.0.0.1", "port": 40000})
        self.assertEqual(r["server"], {"ip": "10.0.0.2", "port": 25})
        self.assertEqual(r["close"], "fin")
        self.assertEqual(r["helo"], "client.example.test")
        self.assertEqual(r["extensions"], ["PIPELINING", "8BITMIME"])
        tx = r["transactions"][0]
        self.assertEqual((tx["mail_from"], tx["rcpt_to"], tx["status"], tx["mode"]),
                         ("a@x.test", ["b@y.test"], "accepted", "DATA"))
        self.assertEqual(tx["reply"], "250 2.0.0 Ok: queued")
        self.assertMessage(run, tx, m1)
        self.assertEqual(r["missing_bytes"], {"client": 0, "server": 0})

    def test_lost_segment_mid_data_next_transaction_whole(self):
        big, small = message(4000, b"big"), message(20, b"small")
        s = smtp_dialogue(Session().handshake(),
                          [(b"a@x.test", [b"b@y.test"], big), (b"c@x.test", [b"d@y.test"], small)])
        s.fin()
        data_c = [i for i, p in enumerate(s.packets) if p[2] == "data-c"]
        victim = data_c[len(data_c) // 2]  # deep inside the big DATA
        lost = len(s.packets[victim][1]) - 14 - 20 - 20
        pk = [p for i, p in enumerate(s.packets) if i != victim]
        run = smtptap("-r", self.pcap(pk))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        r = run.records[0]
        self.assertEqual(r["missing_bytes"]["client"], lost)
        t1, t2 = r["transactions"]
        self.assertEqual(t1["message"]["missing_bytes"], lost)
        self.assertEqual(t1["message"]["size"], len(big) - lost)
        self.assertEqual((t2["mail_from"], t2["rcpt_to"], t2["status"]),
                         ("c@x.test", ["d@y.test"], "accepted"))
        self.assertMessage(run, t2, small)
        with open(os.path.join(run.out, "stats.json")) as f:
            stats = json.load(f)
        self.assertEqual(stats["reassembly"]["holes"], 1)
        self.assertEqual(stats["reassembly"]["hole_bytes"], lost)
        self.assertEqual((stats["sessions"], stats["transactions"]), (1, 2))

    def test_reused_four_tuple_keeps_both_sessions(self):
        m1, m2 = message(5, b"first"), message(5, b"second")
        a = smtp_dialogue(Session(t0=1700000000).handshake(), [(b"a@x.test", [b"b@y.test"], m1)])
        # no FIN: the old connection is left open, then the same 4-tuple comes again
        b = smtp_dialogue(Session(t0=1700000060, isn_c=777777).handshake(),
                          [(b"c@x.test", [b"d@y.test"], m2)]).fin()
        run = smtptap("-r", self.pcap(a.packets + b.packets))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 2)
        first, second = sorted(run.records, key=lambda r: r["ts_start"])
        self.assertEqual(first["close"], "evicted")
        self.assertMessage(run, first["transactions"][0], m1)
        self.assertMessage(run, second["transactions"][0], m2)
        self.assertEqual(second["close"], "fin")

    def test_reset_and_idle_timeout(self):
        m = message(3, b"m")
        a = smtp_dialogue(Session(client=("10.0.0.5", 1111)).handshake(),
                          [(b"a@x.test", [b"b@y.test"], m)]).rst()
        idle = smtp_dialogue(Session(client=("10.0.0.6", 2222), t0=1700000001).handshake(),
                             [(b"e@x.test", [b"f@y.test"], m)])
        late = Session(client=("10.0.0.7", 3333), t0=1700009999).handshake()
        run = smtptap("--idle-timeout", "300", "-r", self.pcap(a.packets + idle.packets + late.packets))
        self.assertEqual(run.rc, 0, run.stderr)
        closes = {r["client"]["port"]: r["close"] for r in run.records}
        self.assertEqual(closes, {1111: "rst", 2222: "timeout"})  # 3333 said nothing: no record
        for r in run.records:  # both ended after their message was accepted
            tx, = r["transactions"]
            self.assertEqual(tx["status"], "accepted")
            self.assertMessage(run, tx, m)

    def test_pause_mid_transaction_changes_nothing(self):
        # Silent 2 s, a session's buffers are given back and its record packed
        # (reassembly/idle.c, output/spool.c); when it goes on, nothing is lost.
        def dialogue(pause):
            s = Session().handshake()
            s.server(b"220 mx ESMTP\r\n").client(b"EHLO c\r\n").server(b"250-mx\r\n250 8BITMIME\r\n")
            s.client(b"MAIL FROM:<a@x.test>\r\n").server(b"250 ok\r\n")
            s.client(b"RCPT TO:<b@y.test>\r\n").server(b"250 ok\r\n")
            s.client(b"BOGUS\r\n").server(b"500 what\r\n")  # an anomaly before the pause
            other = Session(client=("10.0.0.77", 7777), t0=s.t + 3).handshake() if pause else None
            s.wait(pause)
            s.client(b"DATA\r\n").server(b"354 go\r\n")
            s.client(message(40, b"paused") + b".\r\n").server(b"250 queued\r\n").fin()
            return s.packets + (other.packets if other else [])  # other: time goes by
        runs = [smtptap("-r", self.pcap(dialogue(p), "p%d.pcap" % p)) for p in (0, 5)]
        for run in runs:
            self.assertEqual(run.rc, 0, run.stderr)
            self.assertEqual(len(run.records), 1)  # the other session says nothing: no record
        recs = [r.records[0] for r in runs]
        for r in recs:
            for k in ("uid", "ts_end"):
                r.pop(k)
        with open(os.path.join(runs[1].out, "stats.json")) as f:
            self.assertGreaterEqual(json.load(f)["reassembly"]["trimmed"], 1)  # it did go idle
        self.assertEqual(recs[0], recs[1])
        self.assertEqual(recs[1]["transactions"][0]["status"], "accepted")
        self.assertEqual(recs[1]["anomalies"][0]["name"], "unknown_command")

    def test_ipv6_session(self):
        m = message(50, b"six")
        s = smtp_dialogue(Session(client=("2001:db8::16", 43006), server=("2001:db8::fe", 25))
                          .handshake(), [(b"a@x.test", [b"b@y.test"], m)]).fin()
        run = smtptap("-r", self.pcap(s.packets))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        r = run.records[0]
        self.assertEqual(r["close"], "fin")
        self.assertEqual(r["client"], {"ip": "2001:db8::16", "port": 43006})
        self.assertEqual(r["server"], {"ip": "2001:db8::fe", "port": 25})
        self.assertMessage(run, r["transactions"][0], m)

    def test_smtp_found_by_content_not_port(self):
        m = message(2, b"p")
        smtp_other_port = smtp_dialogue(Session(server=("10.0.0.2", 1224)).handshake(),
                                        [(b"a@x.test", [b"b@y.test"], m)]).fin()
        http_on_25 = Session(client=("10.0.0.9", 5555)).handshake()
        http_on_25.client(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        http_on_25.server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        http_on_25.fin()
        run = smtptap("-r", self.pcap(smtp_other_port.packets + http_on_25.packets))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual([r["server"]["port"] for r in run.records], [1224])
        self.assertMessage(run, run.records[0]["transactions"][0], m)
        with open(os.path.join(run.out, "stats.json")) as f:
            stats = json.load(f)
        self.assertEqual((stats["sessions"], stats["transactions"]), (1, 1))

    def test_community_id(self):
        # the spec's test vector: 128.232.110.120:34855 -> 66.35.250.204:80/tcp
        s = smtp_dialogue(Session(client=("128.232.110.120", 34855), server=("66.35.250.204", 80))
                          .handshake(), [(b"a@x.test", [b"b@y.test"], message(1, b"c"))]).fin()
        run = smtptap("-r", self.pcap(s.packets))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        self.assertEqual(run.records[0]["community_id"], "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")

    def test_many_sessions_in_flight_interleaved(self):
        sessions, msgs = [], {}
        for i in range(60):
            m = message(30 + i, b"s%d" % i)
            port = 20000 + i
            msgs[port] = m
            sessions.append(smtp_dialogue(Session(client=("10.1.0.%d" % (i + 1), port),
                                                  t0=1700000000 + i * 0.0003, gap_s=0.01)
                                          .handshake(), [(b"a@x.test", [b"b@y.test"], m)]).fin())
        run = smtptap("-r", self.pcap([p for s in sessions for p in s.packets]))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 60)
        self.assertEqual(sorted(r["client"]["port"] for r in run.records), sorted(msgs))
        for r in run.records:
            self.assertEqual(r["close"], "fin")
            self.assertMessage(run, r["transactions"][0], msgs[r["client"]["port"]])


if __name__ == "__main__":
    unittest.main()
