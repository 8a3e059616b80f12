"""Capture on every core (issue 11): the workers option.

Offline, a reader process splits the packets between workers by a symmetric hash of the two
addresses; live, each worker reads its own handle of one AF_PACKET fanout group. Truth: the same
capture read by one process. The records (sorted by uid, which does not depend on the number of
workers), stats.json and every stored object must be the same with 1, 2 and 3 workers; live,
every connection the test itself made must be recorded once, with the message it sent.
"""
import hashlib
import json
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest

from common import BIN, ENV, ROOT, sha256
from test_faults import tmp_left, whole_lines
from test_live import LiveHelpers, TinySmtpServer

BENCH = os.path.join(ROOT, "bench")


def stored(out):
    """{relative path: sha256 of its bytes} for every object in OUT."""
    got = {}
    for sub in ("messages", "files"):
        for d, _, files in os.walk(os.path.join(out, sub)):
            if os.path.basename(d) == ".tmp":
                continue
            for f in files:
                with open(os.path.join(d, f), "rb") as fh:
                    got[os.path.relpath(os.path.join(d, f), out)] = sha256(fh.read())
    return got


class Offline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smtptap-workers-")
        # many whole sessions in flight at once, time running forward (bench/mkcapture.py)
        p = subprocess.run([sys.executable, os.path.join(BENCH, "mkcapture.py"), "--size", "6M",
                            "--concurrency", "40", "--seed", "11", "--workdir", cls.dir],
                           capture_output=True, timeout=300)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        cls.cap = p.stdout.decode().split("\n")[0].strip()
        cls.runs = {n: cls.read(n) for n in (1, 2, 3)}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    @classmethod
    def read(cls, n):
        out = os.path.join(cls.dir, "out%d" % n)
        p = subprocess.run([BIN, "-q", "--workers", str(n), "-o", out, "-r", cls.cap], env=ENV,
                           capture_output=True, timeout=300)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        recs = sorted(whole_lines(os.path.join(out, "sessions.jsonl")), key=lambda r: r["uid"])
        with open(os.path.join(out, "stats.json")) as f:
            stats = json.load(f)
        return recs, stats, stored(out), out

    def test_records_equal_one_process(self):
        recs1 = self.runs[1][0]
        with open(self.cap + ".json") as f:
            self.assertEqual(len(recs1), json.load(f)["sessions"])
        for n in (2, 3):
            with self.subTest(workers=n):
                self.assertEqual(self.runs[n][0], recs1)

    def test_stats_and_store_equal_one_process(self):
        for n in (2, 3):
            with self.subTest(workers=n):
                self.assertEqual(self.runs[n][1], self.runs[1][1])
                self.assertEqual(self.runs[n][2], self.runs[1][2])
                self.assertEqual(tmp_left(self.runs[n][3]), [])

    def test_sigterm_reaches_every_worker(self):
        with open(self.cap, "rb") as f:
            data = f.read()
        out = os.path.join(self.dir, "term")
        fifo = os.path.join(self.dir, "cap.fifo")
        os.mkfifo(fifo)
        p = subprocess.Popen([BIN, "-q", "--workers", "2", "-o", out, "-r", fifo], env=ENV,
                             stderr=subprocess.PIPE)
        with open(fifo, "wb", buffering=0) as w:
            w.write(data[:len(data) // 2])
            time.sleep(1.0)
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err.decode(errors="replace"))
        recs = whole_lines(os.path.join(out, "sessions.jsonl"))
        self.assertTrue(recs)
        self.assertEqual(len({r["uid"] for r in recs}), len(recs))
        self.assertTrue(any(t["status"] == "incomplete" for r in recs for t in r["transactions"]))
        self.assertEqual(tmp_left(out), [])


@unittest.skipUnless(os.geteuid() == 0,
                     "live capture on lo needs root (running as uid %d)" % os.geteuid())
class Live(LiveHelpers, unittest.TestCase):
    def test_fanout_records_every_connection_once(self):
        servers = [TinySmtpServer() for _ in range(6)]
        for s in servers:
            s.start()
        out = tempfile.mkdtemp(prefix="smtptap-fanout-")
        try:
            ports = " or ".join("tcp port %d" % s.port for s in servers)
            p = subprocess.Popen([BIN, "-q", "--workers", "2", "-Z", "root", "-i", "lo", "-o", out,
                                  ports], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.wait_capturing(p, procs=2)  # each worker's own handle
            bodies = {}
            for i, s in enumerate(servers):
                body = ("Subject: fanout %d\r\n\r\nconnection %d\r\n" % (i, i)).encode()
                with smtplib.SMTP("127.0.0.1", s.port) as c:
                    c.sendmail("a@live.test", ["b@live.test"], body)
                bodies[s.port] = body
            time.sleep(1.0)
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err.decode(errors="replace"))
            recs = whole_lines(os.path.join(out, "sessions.jsonl"))
            self.assertEqual(sorted(r["server"]["port"] for r in recs), sorted(bodies))
            for r in recs:
                msg = r["transactions"][0]["message"]
                self.assertEqual(msg["sha256"], sha256(bodies[r["server"]["port"]]))
        finally:
            shutil.rmtree(out)


if __name__ == "__main__":
    unittest.main()
