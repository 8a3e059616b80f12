"""Hostile messages end to end: each ends with a record carrying anomalies,
no sanitizer report (ASan/UBSan build), and bounded memory (the release
build's peak RSS is measured, since ASan inflates it)."""
import os
import shutil
import subprocess
import tempfile
import unittest

from common import BIN, ENV, RELEASE, ROOT, Run, load_output, smtptap

RSS_LIMIT_KIB = 64 * 1024


def head(extra=b""):
    return (b"From: attacker@evil.test\r\nTo: victim@corp.test\r\nSubject: hostile\r\n"
            b"MIME-Version: 1.0\r\n" + extra)


class Hostile(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-hostile-")

    def write(self, name, chunks):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            for c in chunks:
                f.write(c)
        return path

    def run_both(self, path):
        """The ASan build for correctness, the release build for memory."""
        run = smtptap("--eml", path)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        out = tempfile.mkdtemp(prefix="smtptap-hostile-out-")
        # GNU time forks the child itself: a child forked from this (large)
        # Python process would report Python's RSS as its own peak.
        p = subprocess.run(["/usr/bin/time", "-f", "maxrss=%M", RELEASE, "-q", "-o", out, "--eml",
                            path], env=ENV, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        rss = int(p.stderr.strip().splitlines()[-1].split("=")[1])
        self.assertLess(rss, RSS_LIMIT_KIB, "peak RSS %d KiB" % rss)
        released, _ = load_output(out)  # the release build's record: valid, and the same
        shutil.rmtree(out)
        self.assertEqual(released, run.records)
        return run.records[0]["transactions"][0]["message"]

    def names(self, m):
        return {a["name"] for a in m["anomalies"]}

    def test_ten_thousand_nested_multiparts(self):
        n = 10000
        opens = b"".join(b"Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n" % (i, i)
                         for i in range(n))
        path = self.write("nested.eml", [head(), opens, b"Content-Type: text/plain\r\n\r\ndeep\r\n"])
        m = self.run_both(path)
        self.assertIn("depth_exceeded", self.names(m))

    def test_hundred_megabyte_header(self):
        line = b" " + b"a" * 998 + b"\r\n"
        path = self.write("bighdr.eml", [head(b"X-Big: start\r\n")] + [line * 1000] * 100 +
                          [b"\r\nbody survives\r\n"])
        self.assertGreater(os.path.getsize(path), 100 * 1000 * 1000)
        m = self.run_both(path)
        self.assertIn("header_too_large", self.names(m))
        self.assertIn("body survives", m["body"])

    def test_padded_header_hides_nothing(self):
        """900 Received lines (84 KB, over mime_header_bytes) before From, To (folded over 13
        lines), Cc, Subject and the Content-Type of a multipart: the fields that matter are
        read past the cap, as Python's email reads them."""
        import email
        from email import policy
        from email.message import EmailMessage
        msg = EmailMessage()
        for i in range(900):
            msg["Received"] = ("from relay%d.example.net (relay%d.example.net [192.0.2.%d]) by "
                               "mx.example.com" % (i, i, i % 250))
        msg["From"] = "a@example.com"
        msg["To"] = ", ".join("user%d@example.org" % i for i in range(40))
        msg["Cc"] = "boss@example.org"
        msg["Subject"] = "padded"
        msg.set_content("body text\n")
        msg.add_attachment(b"MZ" + b"\x00" * 500, maintype="application",
                           subtype="octet-stream", filename="evil.exe")
        data = msg.as_bytes()
        self.assertGreater(len(data), 65536)
        path = self.write("padded.eml", [data])
        m = self.run_both(path)
        want = email.message_from_bytes(data, policy=policy.default)
        self.assertEqual(self.names(m), {"header_too_large"})
        self.assertEqual(m["to"], [a.addr_spec for a in want["to"].addresses])
        self.assertEqual(m["cc"], [a.addr_spec for a in want["cc"].addresses])
        self.assertEqual((m["from"], m["subject"]), (str(want["from"]), str(want["subject"])))
        self.assertEqual([a["filename"] for a in m["attachments"]],
                         [p.get_filename() for p in want.iter_attachments()])
        self.assertEqual(m["body"], want.get_body(("plain",)).get_content())

    def test_boundary_never_closes(self):
        path = self.write("open.eml", [head(b"Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n"
                                            b"--x\r\nContent-Type: application/octet-stream\r\n"
                                            b"Content-Disposition: attachment; filename=a.bin\r\n\r\n"),
                                       (b"0123456789abcdef" * 64 + b"\r\n") * 10000])
        m = self.run_both(path)
        self.assertIn("missing_final_boundary", self.names(m))
        self.assertEqual(m["attachments"][0]["filename"], "a.bin")
        self.assertGreater(m["attachments"][0]["size"], 10 * 1000 * 1000)

    def test_base64_of_pure_garbage(self):
        junk = bytes((i * 131 + 7) % 256 for i in range(1 << 16)) * 80  # 5 MiB, most not base64
        path = self.write("garbage.eml", [head(b"Content-Type: multipart/mixed; boundary=\"g\"\r\n\r\n"
                                               b"--g\r\nContent-Type: application/octet-stream\r\n"
                                               b"Content-Transfer-Encoding: base64\r\n"
                                               b"Content-Disposition: attachment; filename=g.bin\r\n\r\n"),
                                          junk, b"\r\n--g--\r\n"])
        m = self.run_both(path)
        self.assertEqual(len(m["attachments"]), 1)
        self.assertTrue(m["anomalies"], "garbage in base64 must leave a trace")

    def test_hostile_filenames_never_paths(self):
        parts = b""
        for i, fn in enumerate([b"filename=\"../../etc/passwd\"",
                                b"filename*=utf-8''evil%00.exe%00.txt",
                                b"filename=\"/etc/shadow\""]):
            parts += (b"--h\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Disposition: attachment; " + fn + b"\r\n\r\npayload %d\r\n" % i)
        path = self.write("names.eml", [head(b"Content-Type: multipart/mixed; boundary=\"h\"\r\n\r\n"),
                                        parts, b"--h--\r\n"])
        run = smtptap("--eml", path)
        m = run.records[0]["transactions"][0]["message"]
        got = [a["filename"] for a in m["attachments"]]
        self.assertEqual(got[0], "../../etc/passwd")
        self.assertEqual(got[1], "evil\x00.exe\x00.txt")
        for a in m["attachments"]:
            self.assertRegex(a["stored"], r"^files/[0-9a-f]{2}/[0-9a-f]{64}$")
        self.assertIn("suspicious_filename", self.names(m))
        for root, _, files in os.walk(run.out):
            for f in files:
                self.assertNotIn(f, ("passwd", "shadow"))

    def test_hundred_thousand_parts(self):
        parts = b"".join(b"--p\r\nContent-Type: application/x-part\r\n\r\n%d\r\n" % i
                         for i in range(100000))
        path = self.write("parts.eml", [head(b"Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n"),
                                        parts, b"--p--\r\n"])
        m = self.run_both(path)
        self.assertIn("too_many_parts", self.names(m))
        self.assertIn("too_many_attachments", self.names(m))
        self.assertEqual(len(m["attachments"]), 1000)


if __name__ == "__main__":
    unittest.main()
