"""Message files: --eml, --maildir-once and --maildir give the session record without the network.

The same extraction as for SMTP messages; the Maildir is only ever read (its tree, mtimes
included, is the same afterwards); a symbolic link in new/ is not followed; follow mode sees a
message delivered the Maildir way (tmp/, then rename into new/) and writes its record at once.
"""
import base64
import os
import shutil
import signal
import subprocess
import tempfile
import time

from common import BIN, ENV, Run, SmtptapCase, sha256, smtptap

NETWORK_FIELDS = ("client", "server", "community_id", "banner", "helo", "extensions", "auth",
                  "starttls", "bytes", "packets", "missing_bytes", "close")

MTIME = 1700000000.25  # 2023-11-14T22:13:20.250000Z

PLAIN = (b"Return-Path: <alice@example.test>\r\n"
         b"Delivered-To: bob@example.test\r\n"
         b"From: Alice <alice@example.test>\r\n"
         b"To: bob@example.test\r\n"
         b"Subject: plain one\r\n"
         b"Message-ID: <p1@example.test>\r\n"
         b"\r\n"
         b"Hello Bob.\r\n")

PAYLOAD = bytes(range(256)) * 300 + b"tail"  # binary, 76800 bytes: more than one read chunk


def with_attachment(payload, name=b"data.bin"):
    b64 = base64.b64encode(payload)
    lines = b"\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    return (b"From: alice@example.test\r\n"
            b"To: bob@example.test\r\n"
            b"Subject: with attachment\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n"
            b"\r\n"
            b"--XyZ\r\n"
            b"Content-Type: text/plain; charset=us-ascii\r\n"
            b"\r\n"
            b"See attached.\r\n"
            b"--XyZ\r\n"
            b"Content-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"" + name + b"\"\r\n"
            b"\r\n" + lines + b"\r\n"
            b"--XyZ--\r\n")


def numbered(i):
    return PLAIN.replace(b"plain one", b"message %d" % i)


def read_noatime(path):
    """Read without touching the access time, so that a snapshot does not change the tree."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOATIME", 0))
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    finally:
        os.close(fd)


def snapshot(root):
    """Every entry under root: kind, bytes (files) or target (links), mode, mtime, atime, inode.

    Directory atimes change with every listing (ours too), so only files' atimes are telling."""
    tree = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            if os.path.islink(p):
                what = ("link", os.readlink(p))
            elif os.path.isdir(p):
                what = ("dir", None)
            else:
                what = ("file", read_noatime(p))
            atime = None if what[0] == "dir" else st.st_atime_ns
            tree[os.path.relpath(p, root)] = (what, st.st_mode, st.st_mtime_ns, atime, st.st_ino)
    st = os.lstat(root)
    tree["."] = (("dir", None), st.st_mode, st.st_mtime_ns, None, st.st_ino)
    return tree


class MessageFiles(SmtptapCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-msgfile-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, rel, data, mtime=MTIME):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (mtime, mtime))
        return p

    def maildir(self, name="Maildir"):
        md = os.path.join(self.dir, name)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        return md

    def assertFileRecord(self, run, rec, source, path, data):
        """The record of one message file: its shape, its times, its message and stored bytes."""
        self.assertEqual(rec["source"], source)
        self.assertEqual(rec["file"], path)
        for field in NETWORK_FIELDS:
            self.assertNotIn(field, rec)
        self.assertRegex(rec["uid"], r"^M[0-9A-Za-z]{18}$")
        self.assertEqual(rec["anomalies"], [])
        self.assertEqual(len(rec["transactions"]), 1)
        tx = rec["transactions"][0]
        self.assertIsNone(tx["mail_from"])
        self.assertEqual(tx["rcpt_to"], [])
        self.assertEqual(tx["rcpt_rejected"], [])
        self.assertIsNone(tx["mode"])
        self.assertIsNone(tx["reply"])
        self.assertEqual(tx["status"], "accepted")
        self.assertMessage(run, tx, data)
        self.assertEqual(tx["message"]["missing_bytes"], 0)
        self.assertIs(tx["message"]["complete"], True)
        return tx["message"]

    def test_eml_takes_several_files(self):
        a = self.write("a.eml", PLAIN)
        b = self.write("b.eml", PLAIN.replace(b"plain one", b"plain two"))
        run = smtptap("--eml", a, b)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual([r["file"] for r in run.records], [a, b])
        self.assertEqual([r["transactions"][0]["message"]["subject"] for r in run.records],
                         ["plain one", "plain two"])

    def test_eml_record(self):
        path = self.write("one.eml", PLAIN)
        run = smtptap("--eml", path)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        rec = run.records[0]
        m = self.assertFileRecord(run, rec, "eml", path, PLAIN)
        self.assertEqual(rec["ts_start"], "2023-11-14T22:13:20.250000Z")
        self.assertEqual(rec["ts_end"], rec["ts_start"])
        # the same extraction as for SMTP: MTA headers are ordinary headers
        self.assertEqual(m["subject"], "plain one")
        self.assertEqual(m["message_id"], "<p1@example.test>")
        self.assertEqual(m["headers"]["delivered-to"], "bob@example.test")
        self.assertEqual(m["body"], "Hello Bob.\r\n")
        # the uid follows the content, not the name or the time
        copy = self.write("copy.eml", PLAIN, mtime=MTIME + 3600)
        other = self.write("other.eml", numbered(2))
        again = smtptap("--eml", copy, "--eml", other)
        self.assertEqual(again.rc, 0, again.stderr)
        self.assertEqual(again.records[0]["uid"], rec["uid"])
        self.assertNotEqual(again.records[1]["uid"], rec["uid"])

    def test_eml_attachment_hashed_and_archived(self):
        data = with_attachment(PAYLOAD)
        path = self.write("att.eml", data)
        run = smtptap("--eml", path)
        self.assertEqual(run.rc, 0, run.stderr)
        m = self.assertFileRecord(run, run.records[0], "eml", path, data)
        atts = [a for a in m["attachments"] if a["filename"] == "data.bin"]
        self.assertEqual(len(atts), 1, m["attachments"])
        a = atts[0]
        self.assertEqual(a["size"], len(PAYLOAD))
        self.assertEqual(a["sha256"], sha256(PAYLOAD))
        self.assertEqual(a["content_type"], "application/octet-stream")
        self.assertEqual(a["stored"], "files/%s/%s" % (sha256(PAYLOAD)[:2], sha256(PAYLOAD)))
        self.assertEqual(run.file_bytes(a["stored"]), PAYLOAD)
        # archive_attachments=false: hashed, not stored
        off = smtptap("--archive-attachments=false", "--eml", path)
        a2 = [a for a in off.transactions()[0]["message"]["attachments"]
              if a["filename"] == "data.bin"][0]
        self.assertEqual(a2["sha256"], sha256(PAYLOAD))
        self.assertIsNone(a2["stored"])

    def test_bad_paths_do_not_lose_the_good_file(self):
        good = self.write("good.eml", PLAIN)
        missing = os.path.join(self.dir, "no-such-file.eml")
        subdir = os.path.join(self.dir, "a-directory")
        os.mkdir(subdir)
        run = smtptap("--eml", missing, "--eml", good, "--eml", subdir)
        self.assertEqual(run.rc, 1)
        self.assertIn(missing + ": No such file or directory", run.stderr)
        self.assertIn(subdir + ": not a regular file", run.stderr)
        self.assertEqual(len(run.records), 1)
        self.assertFileRecord(run, run.records[0], "eml", good, PLAIN)

    def test_maildir_once_reads_new_only_and_changes_nothing(self):
        md = self.maildir()
        news = {}
        for i in range(3):
            rel = "Maildir/new/170000000%d.M%dP1.host" % (i, i)
            news[self.write(rel, numbered(i))] = numbered(i)
        self.write("Maildir/new/.hidden", b"Subject: hidden\r\n\r\nignored\r\n")
        self.write("Maildir/cur/1600000000.M1P1.host:2,S", b"Subject: seen\r\n\r\nread\r\n")
        self.write("Maildir/cur/1600000001.M1P1.host:2,", b"Subject: seen2\r\n\r\nread\r\n")
        self.write("Maildir/tmp/1700000009.M9P9.host", b"Subject: half\r\n\r\nbeing written")
        os.utime(os.path.join(md, "new"), (MTIME, MTIME))
        before = snapshot(md)
        run = smtptap("--maildir-once", md)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(snapshot(md), before)
        self.assertEqual(sorted(r["file"] for r in run.records), sorted(news))
        for rec in run.records:
            self.assertFileRecord(run, rec, "maildir", rec["file"], news[rec["file"]])
        # a trailing slash gives the same paths
        again = smtptap("--maildir-once", md + "/")
        self.assertEqual(sorted(r["file"] for r in again.records), sorted(news))
        self.assertEqual(snapshot(md), before)

    def test_maildir_symlink_not_followed(self):
        md = self.maildir()
        secret = self.write("secret.txt", b"Subject: secret\r\n\r\nroot:x:0:0\r\n")
        good = self.write("Maildir/new/1700000001.M1P1.host", PLAIN)
        link = os.path.join(md, "new", "1700000002.M2P2.host")
        os.symlink(secret, link)
        run = smtptap("--maildir-once", md)
        self.assertEqual(run.rc, 1)
        self.assertIn(link, run.stderr)
        self.assertIn("symbolic link", run.stderr)
        self.assertEqual([r["file"] for r in run.records], [good])
        secret_hash = sha256(open(secret, "rb").read())
        self.assertNotIn(secret_hash, open(os.path.join(run.out, "sessions.jsonl")).read())
        self.assertFalse(os.path.exists(os.path.join(run.out, "messages", secret_hash[:2])))
        self.assertTrue(os.path.islink(link))

    def test_missing_maildir(self):
        md = os.path.join(self.dir, "nowhere")
        for flag in ("--maildir-once", "--maildir"):
            run = smtptap(flag, md, timeout=30)
            self.assertEqual(run.rc, 1, flag)
            self.assertIn(md + "/new", run.stderr)
            self.assertEqual(run.records, [])

    def test_maildir_follow_sees_delivery(self):
        md = self.maildir()
        out = tempfile.mkdtemp(prefix="smtptap-test-")
        jsonl = os.path.join(out, "sessions.jsonl")
        p = subprocess.Popen([BIN, "-q", "-o", out, "--maildir", md], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(0.3)
            # delivered the Maildir way: written in tmp/, then renamed into new/
            tmp = os.path.join(md, "tmp", "1700000100.M1P1.host")
            with open(tmp, "wb") as f:
                f.write(PLAIN[:40])
                f.flush()
                time.sleep(0.3)  # half written in tmp/: nothing may be read yet
                self.assertFalse(os.path.exists(jsonl) and os.path.getsize(jsonl) > 0)
                f.write(PLAIN[40:])
            final = os.path.join(md, "new", "1700000100.M1P1.host")
            os.rename(tmp, final)
            deadline = time.time() + 10
            while time.time() < deadline:
                if os.path.exists(jsonl) and open(jsonl, "rb").read().endswith(b"\n"):
                    break
                time.sleep(0.05)
            else:
                self.fail("no record within 10 s")
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        err = err.decode("utf-8", "replace")
        self.assertNotIn("AddressSanitizer", err)
        self.assertNotIn("runtime error:", err)
        self.assertEqual(p.returncode, 0, err)
        run = Run(p.returncode, "", err, out)
        self.assertEqual(len(run.records), 1)
        self.assertFileRecord(run, run.records[0], "maildir", final, PLAIN)
        self.assertEqual(os.listdir(os.path.join(md, "new")), ["1700000100.M1P1.host"])
        self.assertEqual(os.listdir(os.path.join(md, "tmp")), [])
