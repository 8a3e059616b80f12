"""Records that are never lost: faults of the machine and of earlier runs (issue 10, section 3).

Truth: the files the test itself puts in OUT before a run (earlier records, a torn line, the
tmp files of a dead and of a live process), the bytes of the message it feeds, and the
permission bits asked of the kernel, read back with os.stat.
"""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from common import BIN, ENV, ROOT, load_output, sha256

MSG = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: faults\r\n\r\nbody\r\n"


def dead_pid():
    """A pid no process has: above every live one, below pid_max."""
    with open("/proc/sys/kernel/pid_max") as f:
        pid = int(f.read()) - 1
    while os.path.exists("/proc/%d" % pid):
        pid -= 1
    return pid


class Faults(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-faults-")
        self.out = os.path.join(self.dir, "out")
        self.eml = os.path.join(self.dir, "m.eml")
        with open(self.eml, "wb") as f:
            f.write(MSG)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def run_once(self):
        p = subprocess.run([BIN, "-q", "-o", self.out, "--eml", self.eml], env=ENV,
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))

    def lines(self):
        with open(os.path.join(self.out, "sessions.jsonl"), "rb") as f:
            return f.read().split(b"\n")

    def test_a_rerun_appends_and_never_truncates(self):
        self.run_once()
        self.run_once()
        records, _ = load_output(self.out)
        self.assertEqual(len(records), 2)
        self.assertEqual({r["transactions"][0]["message"]["sha256"] for r in records},
                         {sha256(MSG)})

    def test_a_torn_last_line_is_set_aside(self):
        os.makedirs(self.out)
        earlier = json.dumps({"uid": "earlier"}).encode()
        torn = b'{"uid": "S00000000000000000", "transac'
        with open(os.path.join(self.out, "sessions.jsonl"), "wb") as f:
            f.write(earlier + b"\n" + torn)
        self.run_once()
        lines = self.lines()
        self.assertEqual(lines[0], earlier)
        self.assertEqual(lines[-1], b"")  # ends with a newline
        self.assertEqual(len(lines), 3)
        self.assertEqual(json.loads(lines[1])["transactions"][0]["message"]["sha256"],
                         sha256(MSG))
        with open(os.path.join(self.out, "sessions.jsonl.torn"), "rb") as f:
            self.assertEqual(f.read(), torn + b"\n")

    def test_a_torn_line_too_long_to_set_aside_is_ended(self):
        os.makedirs(self.out)
        torn = b'{"uid": "' + b"x" * (17 << 20)  # over the 16 MiB looked back over
        with open(os.path.join(self.out, "sessions.jsonl"), "wb") as f:
            f.write(torn)
        self.run_once()
        lines = self.lines()
        self.assertEqual(lines[0], torn)  # left where it was, ended
        self.assertEqual(json.loads(lines[1])["transactions"][0]["message"]["sha256"],
                         sha256(MSG))
        self.assertEqual(lines[2:], [b""])
        self.assertFalse(os.path.exists(os.path.join(self.out, "sessions.jsonl.torn")))

    def test_stale_tmp_files_of_dead_processes_are_removed(self):
        tmp = os.path.join(self.out, "messages", ".tmp")
        os.makedirs(tmp)
        dead = os.path.join(tmp, "%d.7" % dead_pid())
        live = os.path.join(tmp, "%d.3" % os.getpid())  # this test runs: it is alive
        other = os.path.join(tmp, "notes.txt")
        for p in (dead, live, other):
            with open(p, "wb") as f:
                f.write(b"partial")
        self.run_once()
        self.assertFalse(os.path.exists(dead))
        self.assertTrue(os.path.exists(live))
        self.assertTrue(os.path.exists(other))

    def test_stats_json_is_replaced_whole(self):
        self.run_once()
        self.assertFalse(os.path.exists(os.path.join(self.out, "stats.json.tmp")))
        with open(os.path.join(self.out, "stats.json")) as f:
            self.assertEqual(json.load(f)["messages"], 1)

    def test_stored_files_are_not_world_readable(self):
        old = os.umask(0o022)
        try:
            self.run_once()
        finally:
            os.umask(old)
        eml = os.path.join(self.out, "messages", sha256(MSG)[:2], sha256(MSG) + ".eml")
        self.assertEqual(stat.S_IMODE(os.stat(eml).st_mode), 0o640)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(eml)).st_mode), 0o750)
        for name in ("sessions.jsonl", "stats.json"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.out, name)).st_mode), 0o640,
                             name)

    def test_a_link_planted_as_an_output_file_is_not_followed(self):
        os.makedirs(self.out)
        victim = os.path.join(self.dir, "victim")
        with open(victim, "wb") as f:
            f.write(b"keep")
        os.symlink(victim, os.path.join(self.out, "sessions.jsonl"))
        p = subprocess.run([BIN, "-q", "-o", self.out, "--eml", self.eml], env=ENV,
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 1)
        self.assertIn("sessions.jsonl", p.stderr.decode(errors="replace"))
        os.unlink(os.path.join(self.out, "sessions.jsonl"))
        os.symlink(victim, os.path.join(self.out, "stats.json.tmp"))
        self.run_once()  # the link is removed, not written through
        with open(victim, "rb") as f:
            self.assertEqual(f.read(), b"keep")
        self.assertFalse(os.path.islink(os.path.join(self.out, "stats.json")))


class CutOff(unittest.TestCase):
    """A capture that ends inside an attachment: the attachment and the message say they
    are not whole and are stored apart, never under the name of a whole object. Truth: the
    base64 lines the test let through, decoded by Python."""

    def test_attachment_cut_by_the_end_of_the_session(self):
        import base64
        import random
        from email.message import EmailMessage
        from pcapgen import Session, write_pcap
        data = random.Random(7).randbytes(6000)
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "a@example.test", "b@example.test", "cut"
        m.set_content("see attached\n")
        m.add_attachment(data, maintype="application", subtype="octet-stream",
                         filename="blob.bin")
        raw = m.as_bytes().replace(b"\n", b"\r\n")
        lines = raw.split(b"\r\n")
        start = lines.index(b"", lines.index(b'Content-Disposition: attachment; filename="blob.bin"'))
        keep = start + 1 + 40  # the headers, then 40 base64 lines of the attachment
        sent = b"\r\n".join(lines[:keep]) + b"\r\n"
        seen = base64.b64decode(b"".join(lines[start + 1:keep]))
        s = Session().handshake()
        s.server(b"220 mx ESMTP\r\n")
        s.client(b"EHLO c\r\n")
        s.server(b"250 mx\r\n")
        s.client(b"MAIL FROM:<a@example.test>\r\n")
        s.server(b"250 ok\r\n")
        s.client(b"RCPT TO:<b@example.test>\r\n")
        s.server(b"250 ok\r\n")
        s.client(b"DATA\r\n")
        s.server(b"354 go\r\n")
        s.client(sent)
        s.fin()
        d = tempfile.mkdtemp(prefix="smtptap-cut-")
        try:
            cap = os.path.join(d, "cut.pcap")
            write_pcap(cap, s.packets)
            out = os.path.join(d, "out")
            p = subprocess.run([BIN, "-q", "-o", out, "-r", cap], env=ENV, capture_output=True,
                               timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            records, _ = load_output(out)
            msg = records[0]["transactions"][0]["message"]
            self.assertFalse(msg["complete"])
            self.assertEqual(msg["eml"], "messages/partial/%s/%s.eml" % (sha256(sent)[:2],
                                                                        sha256(sent)))
            (att,) = msg["attachments"]
            self.assertFalse(att["complete"])
            self.assertEqual((att["size"], att["sha256"]), (len(seen), sha256(seen)))
            self.assertEqual(att["stored"], "files/partial/%s/%s" % (sha256(seen)[:2],
                                                                    sha256(seen)))
            with open(os.path.join(out, att["stored"]), "rb") as f:
                self.assertEqual(f.read(), seen)
            self.assertFalse(os.path.exists(os.path.join(out, "files", sha256(seen)[:2])))
        finally:
            shutil.rmtree(d)


PCAPS = os.path.join(ROOT, "pcaps")


class WholeRun(unittest.TestCase):
    """Errors that concern the whole run come before OUT is touched (issue 10, section 3), as
    tcpdump opens its handle before its output: exit 1, a message naming the cause, and no
    OUT at all. Usage errors exit 2. Truth: the paths and names the test made up."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-wholerun-")
        self.out = os.path.join(self.dir, "out")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def fails(self, args, rc, needle):
        p = subprocess.run([BIN, "-o", self.out] + args, env=ENV, capture_output=True, timeout=60)
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, rc, err)
        self.assertIn(needle, err)
        self.assertFalse(os.path.exists(self.out), "OUT was created: " + err)

    def test_errors_before_output(self):
        cap = os.path.join(PCAPS, "smtp-auth-plain.pcap")
        missing = os.path.join(self.dir, "missing")
        with self.subTest("absent interface"):
            self.fails(["-i", "smtptapnosuch0"], 1, "smtptapnosuch0")
        with self.subTest("bad filter"):
            self.fails(["-r", cap, "tcp", "port", "(("], 1, "bad filter")
        with self.subTest("no capture opens"):
            self.fails(["-r", missing + ".pcap"], 1, "missing.pcap")
        with self.subTest("missing YARA rules, yara not even run"):
            self.fails(["-r", cap, "--yara-rules", missing + ".yar"], 1, "yara_rules")
        with self.subTest("missing YARA rules, yara run"):
            self.fails(["-r", cap, "-O", "smtp:always_dispatch=yara", "--yara-rules",
                        missing + ".yar"], 1, "missing.yar")
        with self.subTest("missing IOC allow-list"):
            self.fails(["-r", cap, "-O", "smtp:ioc_allowlist=" + missing], 1, "ioc_allowlist")
        with self.subTest("usage"):
            self.fails(["-r", cap, "--no-such-option"], 2, "--no-such-option")

    def test_pidfile(self):
        """--pidfile holds the pid while the run lives and is removed at its end; a pidfile
        whose pid is a live process refuses the run before OUT is touched, and is left."""
        import time
        pidfile = os.path.join(self.dir, "smtptap.pid")
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            with open(pidfile, "w") as f:
                f.write("%d\n" % sleeper.pid)
            self.fails(["--pidfile", pidfile, "-r", os.path.join(PCAPS, "smtp-auth-plain.pcap")],
                       1, "is running")
            with open(pidfile) as f:
                self.assertEqual(f.read(), "%d\n" % sleeper.pid)
        finally:
            sleeper.kill()
            sleeper.wait()
        fifo = os.path.join(self.dir, "cap.fifo")
        os.mkfifo(fifo)
        p = subprocess.Popen([BIN, "-q", "--pidfile", pidfile, "-o", self.out, "-r", fifo],
                             env=ENV)
        with open(fifo, "wb") as w, open(os.path.join(PCAPS, "smtp-auth-plain.pcap"), "rb") as f:
            w.write(f.read())
            w.flush()
            for _ in range(200):
                with open(pidfile) as pf:
                    if pf.read() == "%d\n" % p.pid:
                        break
                time.sleep(0.01)
            with open(pidfile) as pf:
                self.assertEqual(pf.read(), "%d\n" % p.pid)
        self.assertEqual(p.wait(timeout=60), 0)
        self.assertFalse(os.path.exists(pidfile))

    def test_unwritable_output(self):
        afile = os.path.join(self.dir, "afile")
        open(afile, "w").close()
        p = subprocess.run([BIN, "-o", os.path.join(afile, "out"), "-r",
                            os.path.join(PCAPS, "smtp-auth-plain.pcap")], env=ENV,
                           capture_output=True, timeout=60)
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("Not a directory", err)
        self.assertNotIn("packets", err)  # no input was read: no summary

    def test_a_missing_file_among_good_ones(self):
        """Not a whole-run error: the good files are read, the exit says one failed."""
        p = subprocess.run([BIN, "-q", "-o", self.out, "-r", os.path.join(self.dir, "nope.pcap"),
                            "-r", os.path.join(PCAPS, "smtp-auth-plain.pcap")], env=ENV,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("nope.pcap", p.stderr.decode(errors="replace"))
        records, _ = load_output(self.out)
        self.assertEqual(len(records), 1)


def whole_lines(path):
    """Every line of a JSON-lines file parses; the file ends with a newline."""
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return []
    assert data.endswith(b"\n"), "a torn last line: %r" % data[-80:]
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


def tmp_left(out):
    return [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs
            if os.path.basename(d) == ".tmp" or f.endswith(".tmp")]


class Signals(unittest.TestCase):
    """SIGTERM or SIGINT at any moment: every open session flushed, temporary files removed,
    exit 0; SIGKILL never leaves a line a JSON-lines reader cannot read. The capture comes
    through a FIFO the test writes into, so the signal lands while smtptap waits inside a
    message (the moment that matters: an attachment half seen). Truth: the bytes the test
    let through, and the message's sha256 in pcaps/manifest.json."""

    CAP = os.path.join(PCAPS, "smtp-big.pcap")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-signals-")
        self.out = os.path.join(self.dir, "out")
        self.fifo = os.path.join(self.dir, "cap.fifo")
        os.mkfifo(self.fifo)
        with open(self.CAP, "rb") as f:
            self.data = f.read()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def cut_by(self, sig, fraction):
        import signal
        import time
        p = subprocess.Popen([BIN, "-q", "-o", self.out, "-r", self.fifo], env=ENV,
                             stderr=subprocess.PIPE)
        with open(self.fifo, "wb", buffering=0) as w:
            w.write(self.data[:int(len(self.data) * fraction)])
            sessions = os.path.join(self.out, "sessions.jsonl")
            for _ in range(200):  # until smtptap has opened OUT and read what it was given
                if os.path.exists(sessions):
                    break
                time.sleep(0.01)
            time.sleep(0.3)
            p.send_signal(sig)
            _, err = p.communicate(timeout=60)
        return p.returncode, err.decode(errors="replace")

    def test_sigterm_and_sigint_inside_a_message(self):
        import signal
        for sig in (signal.SIGTERM, signal.SIGINT):
            for fraction in (0.3, 0.7):
                with self.subTest(sig=sig.name, fraction=fraction):
                    shutil.rmtree(self.out, ignore_errors=True)
                    rc, err = self.cut_by(sig, fraction)
                    self.assertEqual(rc, 0, err)
                    self.assertEqual(err, "")
                    (rec,) = whole_lines(os.path.join(self.out, "sessions.jsonl"))
                    (tx,) = rec["transactions"]
                    self.assertEqual(tx["status"], "incomplete")
                    msg = tx["message"]
                    self.assertFalse(msg["complete"])
                    self.assertTrue(msg["eml"].startswith("messages/partial/"), msg["eml"])
                    with open(os.path.join(self.out, msg["eml"]), "rb") as f:
                        kept = f.read()
                    self.assertEqual((len(kept), sha256(kept)), (msg["size"], msg["sha256"]))
                    self.assertGreater(len(kept), 0)
                    self.assertEqual(tmp_left(self.out), [])
                    with open(os.path.join(self.out, "stats.json")) as f:
                        self.assertEqual(json.load(f)["sessions"], 1)

    def test_sigkill_leaves_whole_lines(self):
        import signal
        rc, _ = self.cut_by(signal.SIGKILL, 0.5)
        self.assertEqual(rc, -signal.SIGKILL)
        whole_lines(os.path.join(self.out, "sessions.jsonl"))  # possibly empty: never torn
        # the next run removes what the killed one left, and appends whole lines
        p = subprocess.run([BIN, "-q", "-o", self.out, "-r", self.CAP], env=ENV,
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        self.assertEqual(tmp_left(self.out), [])
        recs = whole_lines(os.path.join(self.out, "sessions.jsonl"))
        with open(os.path.join(PCAPS, "manifest.json")) as f:
            want = json.load(f)["files"]["smtp-big.pcap"]
        msg = recs[-1]["transactions"][0]["message"]
        self.assertTrue(msg["complete"])
        self.assertIn(msg["sha256"], json.dumps(want))


class Rotate(unittest.TestCase):
    """SIGHUP reopens sessions.jsonl by its name (logrotate's postrotate): the file renamed
    away keeps the records written before, the new one gets the rest, and together they are
    the records of an undisturbed run, each once and whole. Truth: that undisturbed run."""

    def test_sighup_after_rename(self):
        import signal
        import time
        cap = os.path.join(PCAPS, "smtp-four-sessions.pcap")
        with open(cap, "rb") as f:
            data = f.read()
        d = tempfile.mkdtemp(prefix="smtptap-rotate-")
        try:
            ref = os.path.join(d, "ref")
            p = subprocess.run([BIN, "-q", "-o", ref, "-r", cap], env=ENV, capture_output=True,
                               timeout=60)
            self.assertEqual(p.returncode, 0)
            want = sorted(whole_lines(os.path.join(ref, "sessions.jsonl")), key=lambda r: r["uid"])
            self.assertEqual(len(want), 4)
            out, fifo = os.path.join(d, "out"), os.path.join(d, "cap.fifo")
            os.mkfifo(fifo)
            p = subprocess.Popen([BIN, "-q", "-o", out, "-r", fifo], env=ENV,
                                 stderr=subprocess.PIPE)
            live = os.path.join(out, "sessions.jsonl")
            with open(fifo, "wb", buffering=0) as w:
                w.write(data[:len(data) // 2])
                for _ in range(200):
                    if os.path.exists(live):
                        break
                    time.sleep(0.01)
                time.sleep(0.3)
                os.rename(live, live + ".1")
                p.send_signal(signal.SIGHUP)
                time.sleep(0.3)
                w.write(data[len(data) // 2:])
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err.decode(errors="replace"))
            old = whole_lines(live + ".1")
            new = whole_lines(live)
            self.assertEqual(sorted(old + new, key=lambda r: r["uid"]), want)
            self.assertTrue(new, "nothing reached the reopened file")
        finally:
            shutil.rmtree(d)


class StatsLines(unittest.TestCase):
    """OUT/stats.jsonl (issue 11): a line every stats_interval seconds, one on SIGUSR1 and a
    final one, each the stats.json object with the time; the last equals stats.json. Truth:
    the clock of the test, the signal it sent, the file smtptap wrote at the end."""

    def test_interval_signal_and_final_line(self):
        import signal
        import time
        cap = os.path.join(PCAPS, "smtp-big.pcap")
        with open(cap, "rb") as f:
            data = f.read()
        d = tempfile.mkdtemp(prefix="smtptap-stats-")
        try:
            out, fifo = os.path.join(d, "out"), os.path.join(d, "cap.fifo")
            os.mkfifo(fifo)
            p = subprocess.Popen([BIN, "-q", "--stats-interval", "1", "-o", out, "-r", fifo],
                                 env=ENV, stderr=subprocess.PIPE)
            lines = os.path.join(out, "stats.jsonl")
            with open(fifo, "wb", buffering=0) as w:
                step = len(data) // 8
                for i in range(0, len(data), step):  # 8 pieces over about 2.4 s
                    w.write(data[i:i + step])
                    time.sleep(0.3)
                    if i == 4 * step:
                        p.send_signal(signal.SIGUSR1)
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err.decode(errors="replace"))
            got = whole_lines(lines)
            self.assertGreaterEqual(len(got), 3, got)
            self.assertEqual([g["final"] for g in got], [False] * (len(got) - 1) + [True])
            self.assertTrue(all(g["worker"] is None for g in got))
            stamps = [g["timestamp"] for g in got]
            self.assertEqual(stamps, sorted(stamps))
            packets = [g["packets"] for g in got]
            self.assertEqual(packets, sorted(packets))
            self.assertTrue(all(g["rss_bytes"] > 0 for g in got))
            with open(os.path.join(out, "stats.json")) as f:
                snap = json.load(f)
            last = dict(got[-1])
            for k in ("timestamp", "uptime", "rss_bytes", "worker", "final"):
                del last[k]
            self.assertEqual(last, snap)
        finally:
            shutil.rmtree(d)


class StandardInput(unittest.TestCase):
    """-r - reads a capture from standard input (tcpdump -w - | smtptap -r -), plain or
    gzip: the records equal those of -r FILE. Truth: the same run on the file."""

    def test_records_equal_the_file_run(self):
        import gzip
        cap = os.path.join(PCAPS, "smtp-multi-transaction.pcap")
        with open(cap, "rb") as f:
            data = f.read()
        d = tempfile.mkdtemp(prefix="smtptap-stdin-")
        try:
            runs = {}
            for name, feed in (("file", None), ("plain", data), ("gzip", gzip.compress(data))):
                out = os.path.join(d, name)
                src = cap if feed is None else "-"
                p = subprocess.run([BIN, "-q", "-o", out, "-r", src], input=feed, env=ENV,
                                   capture_output=True, timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
                runs[name] = whole_lines(os.path.join(out, "sessions.jsonl"))
            self.assertTrue(runs["file"])
            self.assertEqual(runs["plain"], runs["file"])
            self.assertEqual(runs["gzip"], runs["file"])
        finally:
            shutil.rmtree(d)


class DiskFull(unittest.TestCase):
    """A full disk (a 1 MiB tmpfs as OUT, for a 4.6 MB message and a few small ones): a clear
    error and exit 1, every record that could be written written, whole lines only, no
    half-written file under a final name, no temporary file left. Truth: the store's names
    are the sha256 of their bytes, recomputed here."""

    def test_full_disk(self):
        d = tempfile.mkdtemp(prefix="smtptap-full-")
        try:
            if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m",
                                                    "tmpfs", d]).returncode != 0:
                self.skipTest("needs root to mount a small tmpfs")
            try:
                out = os.path.join(d, "out")
                p = subprocess.run([BIN, "-q", "-o", out, "-r", os.path.join(PCAPS, "smtp-big.pcap"),
                                    "-r", os.path.join(PCAPS, "mime-corpus.pcap")], env=ENV,
                                   capture_output=True, timeout=120)
                err = p.stderr.decode(errors="replace")
                self.assertEqual(p.returncode, 1, err)
                self.assertIn("could not be written", err)
                recs = whole_lines(os.path.join(out, "sessions.jsonl"))
                self.assertEqual(len(recs), 2)
                errors = [t["message"].get("store_error") for r in recs for t in r["transactions"]
                          if t["message"]]
                self.assertIn("No space left on device", errors)
                for root, _, files in os.walk(out):
                    for f in files:
                        path = os.path.join(root, f)
                        if root == out:
                            continue  # sessions.jsonl, stats.json
                        with open(path, "rb") as fh:
                            digest = sha256(fh.read())
                        self.assertEqual(f.split(".")[0], digest, path)
                self.assertEqual(tmp_left(out), [])
            finally:
                subprocess.run(["umount", d])
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
