"""The command line: errors on bad input, options, filters, several files."""
import gzip
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

from common import BIN, ENV, ROOT, SmtptapCase, smtptap
from pcapgen import Session, smtp_dialogue, write_pcap

MSG1 = b"Subject: one\r\n\r\nfirst message\r\n"
MSG2 = b"Subject: two\r\n\r\nsecond message\r\n" * 200


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def two_sessions():
    a = smtp_dialogue(Session(client=("10.0.0.1", 1001)).handshake(),
                      [(b"a@x.test", [b"b@y.test"], MSG1)]).fin()
    b = smtp_dialogue(Session(client=("10.0.0.3", 1003), t0=1700000100).handshake(),
                      [(b"c@x.test", [b"d@y.test"], MSG2)]).fin()
    return a.packets, b.packets


class Cli(SmtptapCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-cli-")
        a, b = two_sessions()
        self.first = os.path.join(self.dir, "first.pcap")
        self.second = os.path.join(self.dir, "second.pcap")
        self.both = os.path.join(self.dir, "both.pcap")
        write_pcap(self.first, a)
        write_pcap(self.second, b)
        write_pcap(self.both, a + b)

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_truncated_capture_keeps_complete_sessions(self):
        data = open(self.both, "rb").read()
        cut = self.path("cut.pcap")
        with open(cut, "wb") as f:
            f.write(data[:len(data) - 300])  # inside the second session's last packets
        run = smtptap("-r", cut)
        self.assertNotEqual(run.rc, 0)
        self.assertIn("cut.pcap", run.stderr)
        self.assertIn("truncated", run.stderr.lower())
        ports = sorted(r["client"]["port"] for r in run.records)
        self.assertIn(1001, ports)
        first = [r for r in run.records if r["client"]["port"] == 1001][0]
        self.assertMessage(run, first["transactions"][0], MSG1)

    def test_empty_garbage_and_missing_files(self):
        empty = self.path("empty.pcap")
        open(empty, "wb").close()
        junk = self.path("junk.pcap")
        with open(junk, "wb") as f:
            f.write(b"this is not a capture file at all\n" * 10)
        for path in (empty, junk, self.path("nonexistent.pcap")):
            run = smtptap("-r", path)
            self.assertEqual(run.rc, 1, path)
            self.assertIn(os.path.basename(path), run.stderr)
            self.assertEqual(run.records, [])

    def test_bad_file_does_not_lose_the_good_ones(self):
        junk = self.path("junk2.pcap")
        with open(junk, "wb") as f:
            f.write(b"\xd4\xc3\xb2\xa1garbage")
        run = smtptap("-r", self.first, "-r", junk, "-r", self.second)
        self.assertEqual(run.rc, 1)
        self.assertEqual(sorted(r["client"]["port"] for r in run.records), [1001, 1003])

    def test_unknown_link_type(self):
        data = bytearray(open(self.first, "rb").read())
        struct.pack_into("<I", data, 20, 147)  # LINKTYPE_USER0
        odd = self.path("user0.pcap")
        open(odd, "wb").write(bytes(data))
        run = smtptap("-r", odd)
        self.assertEqual(run.rc, 1)
        self.assertIn("link", run.stderr.lower())

    def test_gzip_and_pcapng_read_directly(self):
        gz = self.path("both.pcap.gz")
        with open(self.both, "rb") as f, gzip.open(gz, "wb") as g:
            shutil.copyfileobj(f, g)
        ng = self.path("both.pcapng")
        subprocess.run(["editcap", "-F", "pcapng", self.both, ng], check=True)
        ng_gz = self.path("both.pcapng.gz")
        with open(ng, "rb") as f, gzip.open(ng_gz, "wb") as g:
            shutil.copyfileobj(f, g)
        for path in (gz, ng, ng_gz):
            run = smtptap("-r", path)
            self.assertEqual(run.rc, 0, run.stderr)
            self.assertEqual(len(run.records), 2, path)

    @unittest.skipUnless(shutil.which("zstd"), "no zstd(1)")
    def test_zstd_read_directly(self):
        """.pcap.zst and .pcapng.zst, made by zstd(1), found by their magic bytes (not by name):
        the records equal those of the plain files."""
        ng = self.path("both.pcapng")
        subprocess.run(["editcap", "-F", "pcapng", self.both, ng], check=True)
        for plain in (self.both, ng):
            zst = self.path(os.path.basename(plain) + ".zst")
            subprocess.run(["zstd", "-q", "-19", plain, "-o", zst], check=True)
            misnamed = self.path(os.path.basename(plain) + ".data")
            shutil.copy(zst, misnamed)
            want = smtptap("-r", plain)
            self.assertEqual(want.rc, 0, want.stderr)
            self.assertEqual(len(want.records), 2)
            for path in (zst, misnamed):
                run = smtptap("-r", path)
                self.assertEqual(run.rc, 0, run.stderr)
                self.assertEqual(run.records, want.records, path)
        # frames one after another are one stream (as zstd -d reads them)
        data = read_bytes(self.both)
        half = len(data) // 2
        parts = []
        for i, piece in enumerate((data[:half], data[half:])):
            p = self.path("piece%d" % i)
            write_bytes(p, piece)
            subprocess.run(["zstd", "-q", "-f", p, "-o", p + ".zst"], check=True)
            parts.append(read_bytes(p + ".zst"))
        two = self.path("two-frames.pcap.zst")
        write_bytes(two, b"".join(parts))
        run = smtptap("-r", two)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.records, smtptap("-r", self.both).records)

    @unittest.skipUnless(shutil.which("zstd"), "no zstd(1)")
    def test_truncated_and_corrupt_zstd(self):
        """A .zst cut in the middle: exit 1 with "truncated zstd file", the sessions before the
        cut kept whole, the one cut there flagged (complete false); a frame whose bytes were
        altered: "corrupt zstd file". Truth: the plain file's records, the capture's sessions."""
        big = os.path.join(ROOT, "pcaps", "smtp-big.pcap")  # 4.6 MB: many zstd blocks
        four = os.path.join(ROOT, "pcaps", "smtp-four-sessions.pcap")
        merged = self.path("merged.pcap")
        subprocess.run(["mergecap", "-F", "pcap", "-w", merged, four, big], check=True)
        zst = merged + ".zst"
        subprocess.run(["zstd", "-q", merged, "-o", zst], check=True)
        whole = smtptap("-r", merged)
        self.assertEqual(whole.rc, 0, whole.stderr)
        data = read_bytes(zst)
        cut = self.path("cut.pcap.zst")
        write_bytes(cut, data[:len(data) // 2])
        run = smtptap("-r", cut)
        self.assertEqual(run.rc, 1)
        self.assertIn("cut.pcap.zst: truncated zstd file", run.stderr)
        by_uid = {r["uid"]: r for r in whole.records}
        self.assertEqual(len(run.records), len(whole.records))
        complete = [r for r in run.records if r["close"] != "eof"]
        self.assertEqual(len(complete), len(whole.records) - 1)
        for r in complete:
            self.assertEqual(r, by_uid[r["uid"]])
        (cutrec,) = [r for r in run.records if r["close"] == "eof"]
        self.assertFalse(cutrec["transactions"][0]["message"]["complete"])
        # the frame's checksum: one flipped byte in its last block
        bad = bytearray(data)
        bad[-20] ^= 0x01
        badp = self.path("bad.pcap.zst")
        write_bytes(badp, bytes(bad))
        run = smtptap("-r", badp)
        self.assertEqual(run.rc, 1)
        self.assertIn("bad.pcap.zst: corrupt zstd file", run.stderr)

    def test_records_on_standard_output(self):
        """-o -: the records on standard output equal sessions.jsonl of a run with -o DIR, byte
        for byte with --store-dir (which then holds the store and the stats); without it the
        same sessions and message hashes, nothing stored, no folder left behind, and standard
        output holds nothing but the records (the summary goes to standard error)."""
        cap = os.path.join(ROOT, "pcaps", "smtp-four-sessions.pcap")
        normal = os.path.join(self.dir, "normal")
        p = subprocess.run([BIN, "-q", "-r", cap, "-r", self.both, "-o", normal], env=ENV,
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        want = read_bytes(os.path.join(normal, "sessions.jsonl"))
        self.assertEqual(len(want.splitlines()), 6)
        store = os.path.join(self.dir, "store")
        p = subprocess.run([BIN, "-q", "-r", cap, "-r", self.both, "-o", "-", "--store-dir", store],
                           env=ENV, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, want)
        self.assertFalse(os.path.exists(os.path.join(store, "sessions.jsonl")))
        for rec in (json.loads(line) for line in p.stdout.splitlines()):
            for tx in rec["transactions"]:
                self.assertTrue(os.path.exists(os.path.join(store, tx["message"]["eml"])))
        self.assertTrue(os.path.exists(os.path.join(store, "stats.json")))
        scratch = tempfile.mkdtemp(prefix="tmpdir-", dir=self.dir)
        env = dict(ENV, TMPDIR=scratch)
        p = subprocess.run([BIN, "-r", cap, "-r", self.both, "-o", "-"], env=env,
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"records on standard output", p.stderr)
        got = [json.loads(line) for line in p.stdout.splitlines()]
        whole = [json.loads(line) for line in want.splitlines()]
        self.assertEqual([r["uid"] for r in got], [r["uid"] for r in whole])
        hashes = lambda recs: [[t["message"]["sha256"] for t in r["transactions"]] for r in recs]
        self.assertEqual(hashes(got), hashes(whole))
        self.assertTrue(all(t["message"]["eml"] is None for r in got for t in r["transactions"]))
        self.assertEqual(os.listdir(scratch), [])
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(
            ["first.pcap", "second.pcap", "both.pcap", "normal", "store",
             os.path.basename(scratch)]))

    def test_workers_records_on_standard_output_whole(self):
        """-o - with two workers: both write to the one pipe, and every line of it is one whole
        record (most are longer than PIPE_BUF, which a pipe does not write atomically); the
        lines are those of a single-process -o DIR run over the same captures, in any order."""
        caps = [os.path.join(ROOT, "pcaps", n) for n in
                ("mime-corpus.pcap", "mime-mutt.pcap", "mime-builder.pcap", "smtp-big.pcap",
                 "smtp-four-sessions.pcap", "smtp-multi-transaction.pcap")]
        args = [a for c in caps for a in ("-r", c)]
        normal = os.path.join(self.dir, "normal")
        p = subprocess.run([BIN, "-q", *args, "-o", normal], env=ENV, capture_output=True,
                           timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        want = read_bytes(os.path.join(normal, "sessions.jsonl")).splitlines()
        self.assertGreaterEqual(sum(len(line) > 4096 for line in want), 5)
        store = os.path.join(self.dir, "store")
        p = subprocess.run([BIN, "-q", "--workers", "2", *args, "-o", "-", "--store-dir", store],
                           env=ENV, capture_output=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = p.stdout.splitlines()
        for line in got:
            json.loads(line)  # whole: no line is cut or glued to another
        self.assertEqual(sorted(got), sorted(want))

    def test_several_files_are_one_capture(self):
        # a session split across two files is still one session
        a, b = two_sessions()
        half = len(b) // 2
        p1, p2 = self.path("p1.pcap"), self.path("p2.pcap")
        write_pcap(p1, a + b[:half])
        write_pcap(p2, b[half:])
        run = smtptap("-r", p1, "-r", p2)
        self.assertEqual(run.rc, 0, run.stderr)
        second = [r for r in run.records if r["client"]["port"] == 1003]
        self.assertEqual(len(second), 1)
        self.assertEqual(second[0]["close"], "fin")
        self.assertMessage(run, second[0]["transactions"][0], MSG2)

    def test_bpf_filter_on_files(self):
        run = smtptap("-r", self.both, "host", "10.0.0.3")
        self.assertEqual([r["client"]["port"] for r in run.records], [1003])
        run = smtptap("-r", self.both, "tcp port 9")
        self.assertEqual(run.records, [])
        run = smtptap("-r", self.both, "this is not bpf")
        self.assertEqual(run.rc, 1)

    def test_options_from_config_file_and_command_line(self):
        conf = self.path("smtptap.conf")
        with open(conf, "w") as f:
            f.write("# stoQ option names\nstore_messages = false\nomit_body = true\n")
        run = smtptap("-c", conf, "-r", self.first)
        self.assertEqual(run.rc, 0, run.stderr)
        m = run.records[0]["transactions"][0]["message"]
        self.assertIsNone(m["eml"])
        self.assertEqual(m["size"], len(MSG1))
        run = smtptap("-c", conf, "--store-messages=true", "-r", self.first)
        self.assertIsNotNone(run.records[0]["transactions"][0]["message"]["eml"])
        run = smtptap("--set", "store_messages=0", "-r", self.first)
        self.assertIsNone(run.records[0]["transactions"][0]["message"]["eml"])

    def test_mime_limits_are_options(self):
        eml = os.path.join(ROOT, "tests", "mime", "01-nested-4-levels.eml")
        whole = smtptap("--eml", eml).records[0]["transactions"][0]["message"]
        self.assertFalse(any(a["name"] == "depth_exceeded" for a in whole["anomalies"]))
        cut = smtptap("--mime-max-depth=2", "--max-attachments", "1", "--eml", eml)
        m = cut.records[0]["transactions"][0]["message"]
        self.assertTrue(any(a["name"] == "depth_exceeded" for a in m["anomalies"]), m["anomalies"])
        self.assertEqual(len(m["attachments"]), 1)
        self.assertTrue(any(a["name"] == "too_many_attachments" for a in m["anomalies"]))

    def test_usage_errors(self):
        for args in (["--no-such-option"], [], ["--idle-timeout=abc", "-r", self.first],
                     ["-r"]):
            p = subprocess.run([BIN] + args, env=ENV, capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, args)
            self.assertTrue(p.stderr.strip(), args)

    def test_help_and_version(self):
        p = subprocess.run([BIN, "--help"], env=ENV, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        for opt in ("--omit-body", "--always-dispatch", "--archive-attachments",
                    "--extract-iocs", "--ioc-keys", "-r FILE", "-i IFACE"):
            self.assertIn(opt, p.stdout)
        p = subprocess.run([BIN, "--version"], env=ENV, capture_output=True, text=True)
        version = open(os.path.join(ROOT, "VERSION")).read().strip()
        self.assertEqual(p.stdout.strip(), "smtptap " + version)



class Progress(unittest.TestCase):
    """The progress line of an offline run: on a terminal, redrawn in place with the bytes read
    of the files' sizes, and cleared before the summary; nothing when stderr is no terminal or
    with -q. Truth: the size of the file the test wrote, and os.isatty of the pty it made."""

    def run_on_pty(self, args):
        import pty
        import select
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(BIN, [BIN] + args, ENV)
        out = b""
        while True:
            try:
                r, _, _ = select.select([fd], [], [], 60)
                chunk = os.read(fd, 65536) if r else b""
            except OSError:
                chunk = b""
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out

    def test_progress_on_a_terminal_only(self):
        d = tempfile.mkdtemp(prefix="smtptap-progress-")
        try:
            cap = os.path.join(ROOT, "pcaps", "mime-big.pcap.gz")
            size = os.path.getsize(cap)
            rc, out = self.run_on_pty(["-o", os.path.join(d, "a"), "-r", cap])
            self.assertEqual(rc, 0, out)
            self.assertIn(b"\rsmtptap: ", out)
            self.assertIn(b" of %.1f MiB (" % (size / 1048576.0), out)
            self.assertIn(b"(100%)", out)
            self.assertIn(b"\r\x1b[K", out)  # cleared before the summary
            rc, out = self.run_on_pty(["-q", "-o", os.path.join(d, "b"), "-r", cap])
            self.assertEqual((rc, out), (0, b""))
            p = subprocess.run([BIN, "-o", os.path.join(d, "c"), "-r", cap], env=ENV,
                               capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0)
            self.assertNotIn(b"\r", p.stderr)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
