"""Message files: --eml, --maildir-once and --maildir give the session record without the network.

The same extraction as for SMTP messages; the Maildir is only ever read (its tree, mtimes
included, is the same afterwards); a symbolic link in new/ is not followed; follow mode sees a
message delivered the Maildir way (tmp/, then rename into new/) and writes its record at once.
Message and attachment fields (reply_to, x_originating_ip, omit_body, charset, description,
content id, the 200-name headers cap) against Python's email package; attachment_store_max and
message_store_max at their value and one past, against hashlib and the bytes on disk.
"""
import base64
import email
import email.policy
import hashlib
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


# ---------------------------------------------------------------- message fields

def parsed(data):
    return email.message_from_bytes(data, policy=email.policy.default)


FIELDS = (b"From: Alice <alice@example.test>\r\n"
          b"To: bob@example.test\r\n"
          b"Reply-To: Carol Replies <carol@elsewhere.test>\r\n"
          b"Subject: fields of a message file\r\n"
          b"X-Originating-IP: [192.0.2.44]\r\n"
          b"MIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=\"F-1\"\r\n"
          b"\r\n"
          b"--F-1\r\n"
          b"Content-Type: multipart/alternative; boundary=\"F-2\"\r\n"
          b"\r\n"
          b"--F-2\r\n"
          b"Content-Type: text/plain; charset=us-ascii\r\n"
          b"\r\n"
          b"The plain body.\r\n"
          b"--F-2\r\n"
          b"Content-Type: text/html; charset=us-ascii\r\n"
          b"\r\n"
          b"<p>The html body.</p>\r\n"
          b"--F-2--\r\n"
          b"--F-1\r\n"
          b"Content-Type: text/plain; charset=iso-8859-1; name=\"notes.txt\"\r\n"
          b"Content-Description: =?utf-8?q?R=C3=A9sum=C3=A9?= of the quarter\r\n"
          b"Content-ID: <notes.1@example.test>\r\n"
          b"Content-Disposition: attachment; filename=\"notes.txt\"\r\n"
          b"Content-Transfer-Encoding: quoted-printable\r\n"
          b"\r\n"
          b"caf=E9 notes\r\n"
          b"--F-1\r\n"
          b"Content-Type: image/png; name=\"logo.png\"\r\n"
          b"Content-Transfer-Encoding: base64\r\n"
          b"\r\n" + base64.b64encode(b"\x89PNG\r\n\x1a\n not really") + b"\r\n"
          b"--F-1--\r\n")


class MessageFields(SmtptapCase):
    """Fields of docs/record.md "Message contents" and "Attachment" read from
    a message file; the truth is Python's email package over the same bytes,
    and the bytes this test wrote."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-msgfields-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def eml(self, data, *args, name="m.eml"):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        run = smtptap(*(list(args) + ["--eml", path]))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        tx = run.records[0]["transactions"][0]
        self.assertMessage(run, tx, data)
        return run, tx["message"]

    def test_reply_to_and_x_originating_ip(self):
        want = parsed(FIELDS)
        run, m = self.eml(FIELDS)
        self.assertEqual(m["reply_to"], str(want["reply-to"]))
        self.assertEqual(m["reply_to"], "Carol Replies <carol@elsewhere.test>")
        self.assertNotEqual(m["reply_to"], m["from"])
        self.assertEqual(m["x_originating_ip"], str(want["x-originating-ip"]).strip("[]"))
        # without those headers: null
        run, m = self.eml(PLAIN, name="plain.eml")
        self.assertIsNone(m["reply_to"])
        self.assertIsNone(m["x_originating_ip"])

    def test_attachment_declared_fields(self):
        want = [p for p in parsed(FIELDS).walk()
                if not p.is_multipart() and p.get_content_type() != "text/html"
                and not (p.get_content_type() == "text/plain" and p.get_filename() is None)]
        run, m = self.eml(FIELDS)
        got = m["attachments"]
        self.assertEqual([a["filename"] for a in got], [p.get_filename() for p in want])
        for a, p in zip(got, want):
            with self.subTest(attachment=a["filename"]):
                self.assertEqual(a["content_type"], p.get_content_type())
                self.assertEqual(a["charset"], p.get_param("charset"))
                self.assertEqual(a["disposition"], p.get_content_disposition())
                desc = p["content-description"]
                self.assertEqual(a["content_description"], None if desc is None else str(desc))
                cid = p["content-id"]
                self.assertEqual(a["content_id"], None if cid is None else str(cid))
                self.assertEqual(a["size"], len(p.get_payload(decode=True)))
                self.assertEqual(a["missing_bytes"], 0)
        notes = got[0]
        self.assertEqual((notes["charset"], notes["content_description"], notes["content_id"]),
                         ("iso-8859-1", "R\u00e9sum\u00e9 of the quarter",
                          "<notes.1@example.test>"))
        self.assertEqual((got[1]["charset"], got[1]["content_description"], got[1]["content_id"]),
                         (None, None, None))

    def test_omit_body(self):
        # docs/record.md: body and body_html null with omit_body; the message
        # has both (email finds them), and they are there without the option
        want = parsed(FIELDS)
        plain = want.get_body(("plain",)).get_payload(decode=True).decode()
        html = want.get_body(("html",)).get_payload(decode=True).decode()
        run, m = self.eml(FIELDS)
        self.assertEqual((m["body"], m["body_html"]), (plain, html))
        for opt in (["--omit-body"], ["--set", "omit_body=true"]):
            with self.subTest(opt=opt):
                run, m = self.eml(FIELDS, *opt)
                self.assertIsNone(m["body"])
                self.assertIsNone(m["body_html"])
                self.assertIs(m["body_truncated"], False)
                self.assertIs(m["body_html_truncated"], False)
                self.assertEqual(len(m["attachments"]), 2)  # the rest is as it was

    def names_message(self, n):
        fields = b"".join(b"X-Name-%03d: value %d\r\n" % (i, i) for i in range(n - 3))
        return b"From: a@example.test\r\nTo: b@example.test\r\nSubject: many names\r\n" + \
            fields + b"\r\nbody\r\n"

    def test_headers_capped_at_200_names(self):
        # docs/record.md "Fixed caps": 200 header names per headers object;
        # beyond, the summary anomaly headers_capped with the fields dropped
        for n, dropped in ((200, 0), (203, 3)):
            with self.subTest(names=n):
                data = self.names_message(n)
                want = [(k.lower(), str(v)) for k, v in parsed(data).items()]
                self.assertEqual(len(want), n)
                run, m = self.eml(data, "--set", "mime_max_headers=1000")
                self.assertEqual(sorted(m["headers"].items()), sorted(want[:200]))
                if dropped:
                    self.assertEqual(m["anomalies"], [{"name": "headers_capped",
                                                       "detail": str(dropped),
                                                       "mime_path": None}])
                else:
                    self.assertEqual(m["anomalies"], [])


class StoreLimits(SmtptapCase):
    """attachment_store_max and message_store_max (docs/record.md#limits), each
    at its value (stored, the bytes on disk are the object's) and one past it
    (not stored, still hashed whole: hashlib over the bytes written here)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-storemax-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def eml(self, data, *args):
        path = os.path.join(self.dir, "m.eml")
        with open(path, "wb") as f:
            f.write(data)
        run = smtptap(*(list(args) + ["--eml", path]))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        return run, run.records[0]["transactions"][0]["message"]

    def test_attachment_store_max(self):
        payload = bytes(range(256)) * 20  # 5120 bytes
        data = with_attachment(payload)
        for limit, over in ((len(payload), False), (len(payload) - 1, True)):
            with self.subTest(attachment_store_max=limit):
                run, m = self.eml(data, "--set", "attachment_store_max=%d" % limit)
                a, = [a for a in m["attachments"] if a["filename"] == "data.bin"]
                self.assertEqual(a["size"], len(payload))
                self.assertEqual((a["md5"], a["sha1"], a["sha256"]),
                                 (hashlib.md5(payload).hexdigest(),
                                  hashlib.sha1(payload).hexdigest(), sha256(payload)))
                self.assertIs(a["truncated"], over)
                where = os.path.join(run.out, "files", sha256(payload)[:2], sha256(payload))
                if over:
                    self.assertIsNone(a["stored"])
                    self.assertFalse(os.path.exists(where))
                else:
                    self.assertEqual(a["stored"], "files/%s/%s" % (sha256(payload)[:2],
                                                                   sha256(payload)))
                    self.assertEqual(run.file_bytes(a["stored"]), payload)
                # the message itself is far below message_store_max: stored whole
                self.assertEqual(run.file_bytes(m["eml"]), data)

    def test_message_store_max(self):
        data = with_attachment(PAYLOAD)
        for limit, over in ((len(data), False), (len(data) - 1, True)):
            with self.subTest(message_store_max=limit):
                run, m = self.eml(data, "--set", "message_store_max=%d" % limit)
                self.assertEqual((m["size"], m["sha256"]), (len(data), sha256(data)))
                where = os.path.join(run.out, "messages", sha256(data)[:2], sha256(data) + ".eml")
                if over:
                    self.assertIsNone(m["eml"])
                    self.assertEqual(m["store_skipped"], "message_store_max")
                    self.assertFalse(os.path.exists(where))
                else:
                    self.assertEqual(m["eml"], "messages/%s/%s.eml" % (sha256(data)[:2],
                                                                       sha256(data)))
                    self.assertNotIn("store_skipped", m)
                    self.assertEqual(run.file_bytes(m["eml"]), data)
                # the attachment is far below attachment_store_max: stored
                a, = [a for a in m["attachments"] if a["filename"] == "data.bin"]
                self.assertIs(a["truncated"], False)
                self.assertEqual(run.file_bytes(a["stored"]), PAYLOAD)
