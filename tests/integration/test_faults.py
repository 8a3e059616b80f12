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

from common import BIN, ENV, load_output, sha256

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
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.out, "sessions.jsonl")).st_mode),
                         0o640)


if __name__ == "__main__":
    unittest.main()


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
