"""The stoQ seed's use case end to end (issue 8): smtptap watches a Postfix Maildir/new while
mail arrives, dispatches every attachment to hash, yara and magic, archives it, extracts IOCs
from headers and body, and writes one record per delivered message.

Two deliveries, the same checks (class Checks):
- PostfixDelivery: a private Postfix instance (its own config, queue and data directories under
  a temp dir; 127.0.0.1 on a free high port; no relay; virtual(8) delivery of pfx.smtptap.test
  into a Maildir under the temp dir as a uid no account uses, so no system user is made and
  nothing outside the temp dir is touched), fed by swaks and smtplib. Skipped, with the reason,
  when Postfix cannot run here (not installed, not root, does not start).
- AgentDelivery: always runs. The test is the delivery agent: it writes each message with the
  trace headers Postfix adds (Return-Path, X-Original-To, Delivered-To, Received) and LF line
  ends, in tmp/, then puts it in new/ by link() and unlink(), as Postfix's virtual(8) and
  local(8) do (and the Maildir spec says), or by rename(), as other agents do.

Each class runs `smtptap --maildir` while the mail arrives, stops it with SIGTERM, then reads
the same Maildir once more with `--maildir-once`. The content checks read the --maildir-once
records; the watch tests check that the watch wrote the same record for every message. (Postfix
delivers by link(), which raises only IN_CREATE in new/: smtptap's watch does not see it, so
the content of Postfix's deliveries could not be checked at all from the watch alone.)

Truth: the values the test sends (subjects, addresses, attachment bytes, hashed with hashlib),
the queue id in Postfix's 250 reply, the delivered files read back from new/ and parsed with
Python's email package (bodies, MIME sections), the YARA rule as the test writes it, file(1)
for the type of each attachment's bytes, the IOCs planted in the message.
"""
import atexit
import grp
import hashlib
import json
import os
import pwd
import random
import re
import select
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import zlib
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate

from common import BIN, ENV, Run, SmtptapCase, sha256, smtptap
from test_msgfile import snapshot

DOMAIN = "pfx.smtptap.test"
MX = "mx." + DOMAIN
HELO = "client.pfx.test"
RCPT = "bob@" + DOMAIN
DEADLINE = 20  # seconds for anything that must happen (a start, a delivery, a record)
GRACE = 5  # seconds the watch is given for its records once every message is in new/

# ---------------------------------------------------------------- what is sent

YARA_META = {"author": "test_maildir_postfix", "family": "planted", "severity": 9,
             "confirmed": True}
MARKER = b"PFX-STOQ-YARA-MARKER-7f3a9c"


def yara_rule():
    meta = "\n".join("        %s = %s" % (k, "true" if v is True else v if isinstance(v, int)
                                          else '"%s"' % v) for k, v in YARA_META.items())
    return ("rule StoqPlantedInvoice : stoq invoice_malware\n{\n    meta:\n%s\n"
            "    strings:\n        $marker = \"%s\"\n        $mz = { 4D 5A }\n"
            "    condition:\n        $mz at 0 and $marker\n}\n" % (meta, MARKER.decode()))


YARA_MATCH = {"rule": "StoqPlantedInvoice", "namespace": "stoq.yar",
              "tags": ["stoq", "invoice_malware"], "meta": YARA_META,
              "strings": ["$marker", "$mz"]}


def png_bytes():
    """A valid 2x2 RGB PNG."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    rows = (b"\x00" + b"\xff\x00\x00" * 2) + (b"\x00" + b"\x00\x00\xff" * 2)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def pe_bytes():
    """The headers of a Windows executable (MZ stub, PE signature, i386 COFF header)."""
    b = bytearray(b"MZ\x90\x00\x03" + bytes(0x3b))
    b[0x3c:0x40] = struct.pack("<I", 0x80)
    b += bytes(0x80 - len(b)) + b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x14c, 0, 0, 0, 0, 0xe0,
                                                              0x102)
    return bytes(b + bytes(0xe0))


# Planted for the rule: MZ at 0 and the marker. The other attachments have neither both.
INVOICE = b"MZ" + bytes(62) + b"This program cannot be run in DOS mode.\r\n" + MARKER + bytes(64)
README = b"Nothing to see here, only text.\n" * 4
STATEMENT = pe_bytes()  # an executable named .pdf: magic must say so
CHART = png_bytes()
RESUME = "Résumé: ten years of mail, no markers.\n".encode()
DATA = random.Random(8).randbytes(5000)

IOC_BODY = ("Dear customer,\n"
            "please log in at http://evil.example.com/x before Friday.\n"
            "Our backup server is 198.51.100.77 (port 8080).\n")
XOIP = "[203.0.113.45]"
# docs/record.md, IOCs: by type, each value with the texts it was found in
IOC_WANT = {"url": [{"value": "http://evil.example.com/x", "where": ["body"]}],
            "domain": [{"value": "evil.example.com", "where": ["body"]}],
            "ipv4": [{"value": "198.51.100.77", "where": ["body"]},
                     {"value": "203.0.113.45", "where": ["x-originating-ip"]}]}


class Mail:
    """One message: what is sent, and what the record must say about it."""

    def __init__(self, key, via, sender, subject, body, from_=None, to=RCPT, to_want=None,
                 html=None, headers=(), attachments=()):
        self.key, self.via, self.sender, self.subject, self.body = key, via, sender, subject, body
        self.from_ = from_ or sender  # swaks writes From: as the bare envelope sender
        self.to, self.to_want = to, to_want or [to]
        self.html, self.headers, self.attachments = html, list(headers), list(attachments)
        self.msgid = "<%s.%d@example.org>" % (key, os.getpid())

    def email(self):
        """The message as a mail client would write it (smtplib's, and the agent's)."""
        m = EmailMessage()
        m["Date"] = formatdate(usegmt=True)
        m["From"] = self.from_
        m["To"] = self.to
        m["Subject"] = self.subject
        m["Message-ID"] = self.msgid
        for k, v in self.headers:
            m[k] = v
        m.set_content(self.body)
        if self.html is not None:
            m.add_alternative(self.html, subtype="html")
        for name, ctype, data in self.attachments:
            maintype, subtype = ctype.split("/")
            m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        return m.as_bytes(policy=policy.SMTP)

    def swaks(self, port, attach_dir):
        argv = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--ehlo", HELO,
                "--from", self.sender, "--to", RCPT, "--header", "Subject: " + self.subject,
                "--header", "Message-Id: " + self.msgid, "--body", self.body]
        for k, v in self.headers:
            argv += ["--header", "%s: %s" % (k, v)]
        for name, ctype, data in self.attachments:
            path = os.path.join(attach_dir, "%s-%s" % (self.key, name))
            with open(path, "wb") as f:
                f.write(data)
            argv += ["--attach-type", ctype, "--attach-name", name, "--attach", "@" + path]
        return argv


# Delivered before the watch starts (the mailbox as smtptap finds it), then the rest while it runs.
PRIMER = Mail("primer", "smtplib", "postmaster@example.org", "Waiting in new/ already",
              "This one was delivered before smtptap started.\n")
MAILS = [
    Mail("yara", "swaks", "alice@example.org", "Invoice 2291 attached",
         "Please find the invoice attached.",
         attachments=[("invoice.exe", "application/octet-stream", INVOICE),
                      ("readme.txt", "text/plain", README)]),
    Mail("magic", "swaks", "billing@example.com", "Your statement",
         "Your statement and a chart.",
         attachments=[("statement.pdf", "application/pdf", STATEMENT),
                      ("chart.png", "image/png", CHART)]),
    Mail("iocs", "swaks", "mallory@example.net", "Account verification needed", IOC_BODY,
         headers=[("X-Originating-IP", XOIP)]),
    Mail("multipart", "smtplib", "carol@example.net", "Quartalsbericht – Übersicht Q3",
         "Hallo Bob,\nanbei der Bericht. Grüße, Carol\n",
         from_="Carol Example <carol@example.net>", to="Bob Recipient <%s>" % RCPT,
         html="<p>Hallo Bob, anbei der <b>Bericht</b>.</p>\n",
         attachments=[("résumé.txt", "text/plain", RESUME),
                      ("data.bin", "application/octet-stream", DATA)]),
]
ALL_MAILS = [PRIMER] + MAILS

SMTPTAP_OPTS = ["-O", "smtp:always_dispatch=hash,yara,magic", "-O", "smtp:archive_attachments=true",
                "-O", "smtp:extract_iocs=true"]

# Postfix's trace headers, as its cleanup(8) (Received) and virtual(8) (the other three) write
# them for a message received over ESMTP from 127.0.0.1 and delivered to a Maildir.
RECEIVED = re.compile(r"^from %s \(\S+ \[127\.0\.0\.1\]\) by %s \(Postfix\) with ESMTP id "
                      r"(?P<qid>[0-9A-Za-z]+) for <%s>; \w{3}, {1,2}\d{1,2} \w{3} \d{4} "
                      r"\d\d:\d\d:\d\d [+-]\d{4}(?: \(\w+\))?$"
                      % (re.escape(HELO), re.escape(MX), re.escape(RCPT)))


def postfix_trace(mail, qid, when):
    return ("Return-Path: <%s>\nX-Original-To: %s\nDelivered-To: %s\n"
            "Received: from %s (localhost [127.0.0.1])\n\tby %s (Postfix) with ESMTP id %s\n"
            "\tfor <%s>; %s\n" % (mail.sender, RCPT, RCPT, HELO, MX, qid, RCPT,
                                  time.strftime("%a, %e %b %Y %H:%M:%S +0000 (UTC)",
                                                time.gmtime(when)))).encode()


# ---------------------------------------------------------------- oracles


def file_mime(data):
    """file(1)'s MIME type for these bytes, over the first 16 KiB as the magic analyzer reads."""
    p = subprocess.run(["file", "-b", "--mime-type", "-P", "bytes=16384", "-"], input=data,
                       capture_output=True, check=True)
    return p.stdout.decode().strip()


def leaves(part, section=""):
    """(IMAP section number, part) for every leaf of a parsed message (RFC 3501 6.4.5)."""
    if part.is_multipart():
        for i, sub in enumerate(part.iter_parts(), 1):
            yield from leaves(sub, "%s.%d" % (section, i) if section else str(i))
    else:
        yield section or "1", part


def iso_mtime(path):
    ns = os.stat(path).st_mtime_ns
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) +
            ".%06dZ" % (ns % 10**9 // 1000))


def squeeze(s):
    return " ".join(s.split())


def sanitizer_report(text):
    return "AddressSanitizer" in text or "runtime error:" in text


def complete_records(jsonl):
    """The records whose line is complete, by file: what a reader can use while smtptap runs."""
    try:
        with open(jsonl, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    recs = [json.loads(line) for line in data.split(b"\n")[:-1] if line.strip()]
    return {r.get("file"): r for r in recs}


def wait_for(check, deadline, interval=0.05):
    """Poll check() until it returns something true or the deadline (time.monotonic()) passes."""
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(interval)


# ---------------------------------------------------------------- a private Postfix


class PostfixUnavailable(Exception):
    pass


def run_on_pty(argv, timeout=60):
    """Run a Postfix command; (rc, what it printed). Postfix commands print their errors only to
    a terminal (else only to syslog, which a container may not have), so they get one."""
    master, slave = os.openpty()
    out = []
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                             env=dict(os.environ, LANG="C"))
        os.close(slave)
        slave = -1
        end = time.monotonic() + timeout
        while True:
            done = p.poll() is not None
            while select.select([master], [], [], 0 if done else 0.1)[0]:
                try:
                    b = os.read(master, 4096)
                except OSError:  # EIO: nothing holds the terminal any more
                    b = b""
                if not b:
                    break
                out.append(b)
            if done:
                break
            if time.monotonic() > end:
                p.kill()
                p.wait()
                raise PostfixUnavailable("%s: no answer in %d s" % (" ".join(argv), timeout))
        text = b"".join(out).decode("utf-8", "replace").strip()
        return p.returncode, " | ".join(text.splitlines())
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def unused_id():
    """A uid and gid (the same number) no account or group has: virtual(8) delivers as it."""
    for n in range(61000, 65000):
        try:
            pwd.getpwuid(n)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(n)
        except KeyError:
            return n
    raise PostfixUnavailable("no unused uid in 61000-64999")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postfix:
    """A Postfix instance of our own under root: nothing of the system's Postfix (/etc/postfix,
    /var/spool/postfix, a running instance) is read for its settings, changed or needed."""

    def __init__(self, root, maildir_base, uid):
        self.root, self.base, self.uid = root, maildir_base, uid
        self.etc = os.path.join(root, "pf-etc")
        self.queue = os.path.join(root, "pf-queue")
        self.data = os.path.join(root, "pf-data")
        self.log = os.path.join(root, "postfix.log")
        self.port = free_port()
        self.master = None  # pid of our master(8), once started
        self.children = set()

    def postconf(self, *args):
        rc, out = run_on_pty(["postconf", "-c", self.etc] + list(args))
        if rc != 0:
            raise PostfixUnavailable("postconf %s: %s" % (" ".join(args), out))

    def configure(self):
        owner = pwd.getpwnam("postfix")
        for d in (self.etc, self.queue, self.data):
            os.makedirs(d)
        os.chown(self.data, owner.pw_uid, owner.pw_gid)  # master.lock is made as mail_owner
        # Debian's default master.cf; main.cf starts empty: Postfix's built-in defaults
        tmpl = next((p for p in ("/usr/share/postfix/master.cf.dist",
                                 "/etc/postfix/master.cf.proto") if os.path.exists(p)), None)
        if not tmpl:
            raise PostfixUnavailable("no master.cf template (/usr/share/postfix/master.cf.dist)")
        shutil.copyfile(tmpl, os.path.join(self.etc, "master.cf"))
        open(os.path.join(self.etc, "main.cf"), "w").close()
        with open(os.path.join(self.etc, "vmailbox"), "w") as f:
            f.write("%s bob/Maildir/\n" % RCPT)
        self.postconf(
            "-e", "compatibility_level = 3.6",
            "queue_directory = " + self.queue, "data_directory = " + self.data,
            "myhostname = " + MX, "mydomain = " + DOMAIN, "myorigin = $mydomain",
            "mydestination =", "inet_interfaces = 127.0.0.1", "inet_protocols = ipv4",
            "mynetworks = 127.0.0.0/8", "relayhost =",
            # no relay: only the test domain is accepted, anything else is refused at RCPT
            "smtpd_relay_restrictions = reject_unauth_destination",
            "default_transport = error", "relay_transport = error",
            "alias_maps =", "alias_database =", "biff = no", "append_dot_mydomain = no",
            "virtual_mailbox_domains = " + DOMAIN, "virtual_mailbox_base = " + self.base,
            "virtual_mailbox_maps = texthash:" + os.path.join(self.etc, "vmailbox"),
            "virtual_uid_maps = static:%d" % self.uid, "virtual_gid_maps = static:%d" % self.uid,
            "virtual_minimum_uid = %d" % self.uid, "virtual_mailbox_limit = 0",
            "maillog_file = " + self.log, "maillog_file_prefixes = " + self.root,
            "smtpd_banner = $myhostname ESMTP smtptap-pfx",
            "smtpd_tls_security_level = none", "smtp_tls_security_level = none",
            "smtpd_error_sleep_time = 0")
        self.postconf("-M", "smtp/inet=127.0.0.1:%d inet n - n - - smtpd" % self.port)
        # a chroot needs copies of /etc files in the queue directory (Debian's init script
        # makes them); without one, nothing is needed
        self.postconf("-F", "*/*/chroot = n")
        rc, out = run_on_pty(["postfix", "-c", self.etc, "check"])
        if rc != 0:
            raise PostfixUnavailable("postfix check: %s %s" % (out, self.log_tail()))

    def start(self):
        rc, out = run_on_pty(["postfix", "-c", self.etc, "start"])
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                self.master = int(f.read().strip())
        except (OSError, ValueError):
            pass
        if rc != 0:
            raise PostfixUnavailable("postfix start (rc %d): %s %s" % (rc, out, self.log_tail()))
        end = time.monotonic() + DEADLINE
        last = None
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    banner = s.makefile("rb").readline()
                    s.sendall(b"QUIT\r\n")
                if banner.startswith(b"220 " + MX.encode()):
                    return
                last = "banner %r" % banner
            except OSError as e:
                last = str(e)
            time.sleep(0.1)
        raise PostfixUnavailable("127.0.0.1:%d did not greet in %d s (%s) %s"
                                 % (self.port, DEADLINE, last, self.log_tail()))

    def log_tail(self, n=12):
        try:
            with open(self.log, errors="replace") as f:
                return "; log: " + " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def _children(self):
        kids = set()
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == self.master:
                            kids.add(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        return kids

    def stop(self):
        """postfix stop, then make sure our master and its children are gone (by their pid)."""
        if not self.master:
            return
        self.children |= self._children()
        run_on_pty(["postfix", "-c", self.etc, "stop"])
        pids = {self.master} | self.children

        def alive():
            out = set()
            for pid in pids:
                try:
                    os.kill(pid, 0)
                    out.add(pid)
                except ProcessLookupError:
                    pass
            return out

        if wait_for(lambda: not alive(), time.monotonic() + 10):
            self.master = None
            return
        for pid in alive():
            os.kill(pid, signal.SIGKILL)
        self.master = None


# ---------------------------------------------------------------- the checks


class Checks:
    """What a delivery must give, whoever delivered. A mixin: unittest collects its tests only
    in the classes below, which say how the mail arrives (prepare, deliver)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.root = tempfile.mkdtemp(prefix="smtptap-pfx-")
        cls.addClassCleanup(shutil.rmtree, cls.root, True)
        os.chmod(cls.root, 0o755)  # virtual(8) delivers below it as an unprivileged uid
        cls.base = os.path.join(cls.root, "mail")
        cls.maildir = os.path.join(cls.base, "bob", "Maildir")
        cls.rules = os.path.join(cls.root, "rules")
        cls.attach_dir = os.path.join(cls.root, "attach")
        for d in (cls.rules, cls.attach_dir):
            os.makedirs(d)
        with open(os.path.join(cls.rules, "stoq.yar"), "w") as f:
            f.write(yara_rule())
        owner = cls.prepare()  # may skip; the uid that owns the Maildir, or None
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(cls.maildir, sub), mode=0o700)
        if owner is not None:
            for d in (cls.base, os.path.dirname(cls.maildir), cls.maildir):
                os.chown(d, owner, owner)
            for sub in ("tmp", "new", "cur"):
                os.chown(os.path.join(cls.maildir, sub), owner, owner)
        cls.sent = {}  # key -> (Mail, queue id, how it went into new/)
        cls.deliver([PRIMER])
        cls.wait_delivered(1)
        cls.watch()
        cls.deliver(MAILS)
        cls.wait_delivered(len(ALL_MAILS))
        cls.before = snapshot(cls.maildir)
        cls.landed = time.monotonic()
        cls.stop_watch()
        cls.once = smtptap("--maildir-once", cls.maildir, *SMTPTAP_OPTS, "--yara-rules", cls.rules)
        cls.after = snapshot(cls.maildir)
        cls.read_delivered()

    # ---- the run

    @classmethod
    def watch(cls):
        """Start `smtptap --maildir` and wait until its watch is set: it is set before new/ is
        scanned, so the record of the message already in new/ says so."""
        cls.out = os.path.join(cls.root, "out")
        cls.jsonl = os.path.join(cls.out, "sessions.jsonl")
        cls.watch_log = open(os.path.join(cls.root, "smtptap.stderr"), "w+b")
        cls.addClassCleanup(cls.watch_log.close)
        cls.proc = subprocess.Popen([BIN, "-o", cls.out, "--maildir", cls.maildir] + SMTPTAP_OPTS +
                                    ["--yara-rules", cls.rules], env=ENV,
                                    stdout=subprocess.DEVNULL, stderr=cls.watch_log)
        cls.addClassCleanup(cls.kill_watch)
        if not wait_for(lambda: len(complete_records(cls.jsonl)) >= 1 or
                        cls.proc.poll() is not None, time.monotonic() + DEADLINE):
            raise AssertionError("smtptap --maildir wrote no record of the message in new/ "
                                 "within %d s" % DEADLINE)
        if cls.proc.poll() is not None:
            raise AssertionError("smtptap --maildir ended (rc %d): %s"
                                 % (cls.proc.returncode, cls.watch_stderr()))

    @classmethod
    def watch_stderr(cls):
        cls.watch_log.seek(0)
        return cls.watch_log.read().decode("utf-8", "replace")

    @classmethod
    def kill_watch(cls):
        if cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.wait()

    @classmethod
    def stop_watch(cls):
        """Give the watch GRACE seconds for every message's record, then SIGTERM: it must flush
        and end with status 0."""
        names = set(os.listdir(os.path.join(cls.maildir, "new")))
        wait_for(lambda: {os.path.basename(f) for f in complete_records(cls.jsonl)}
                 >= names, cls.landed + GRACE)
        cls.proc.send_signal(signal.SIGTERM)
        try:
            cls.watch_rc = cls.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            cls.kill_watch()
            cls.watch_rc = None
        cls.watch_err = cls.watch_stderr()
        cls.watched = Run(cls.watch_rc, "", cls.watch_err, cls.out)  # validated on reading

    @classmethod
    def wait_delivered(cls, n):
        new = os.path.join(cls.maildir, "new")
        if not wait_for(lambda: len(os.listdir(new)) >= n,
                        time.monotonic() + DEADLINE):
            raise AssertionError("%d of %d messages in new/ after %d s%s"
                                 % (len(os.listdir(new)), n, DEADLINE, cls.diagnose()))

    @classmethod
    def diagnose(cls):
        return ""

    @classmethod
    def read_delivered(cls):
        """Each file in new/, read back, parsed with email, matched to what was sent by its
        Message-ID."""
        by_id = {m.msgid: m for m in ALL_MAILS}
        cls.files = {}  # key -> (path, bytes, parsed)
        new = os.path.join(cls.maildir, "new")
        for name in sorted(os.listdir(new)):
            path = os.path.join(new, name)
            with open(path, "rb") as f:
                data = f.read()
            parsed = message_from_bytes(data, policy=policy.default)
            mail = by_id[parsed["Message-ID"]]
            cls.files[mail.key] = (path, data, parsed)

    # ---- helpers for the tests

    def rec(self, key, run=None):
        path = self.files[key][0]
        recs = [r for r in (run or self.once).records if r["file"] == path]
        self.assertEqual(len(recs), 1, "records of %s" % path)
        return recs[0]

    def msg(self, key):
        return self.rec(key)["transactions"][0]["message"]

    def atts(self, key):
        return {a["filename"]: a for a in self.msg(key)["attachments"]}

    def assertWatchRecorded(self, keys):
        """The watch wrote, for each of these messages, the record --maildir-once writes."""
        self.assertTrue(keys)
        watched = {r["file"]: r for r in self.watched.records}
        missing = [self.files[k][0] for k in keys if self.files[k][0] not in watched]
        self.assertEqual(missing, [], "no record from smtptap --maildir for %d of %d messages "
                         "(in new/ %.0f s before SIGTERM)" % (len(missing), len(keys), GRACE))
        for k in keys:
            self.assertEqual(watched[self.files[k][0]], self.rec(k), k)
            for a in self.msg(k)["attachments"]:
                self.assertEqual(self.watched.file_bytes(a["stored"]),
                                 self.once.file_bytes(a["stored"]))

    # ---- the tests

    def test_one_record_per_delivered_message(self):
        new = os.path.join(self.maildir, "new")
        paths = sorted(os.path.join(new, n) for n in os.listdir(new))
        self.assertEqual(sorted(self.files), sorted(m.key for m in ALL_MAILS))
        self.assertEqual(sorted(r["file"] for r in self.once.records), paths)
        for key, (path, data, _) in self.files.items():
            rec = self.rec(key)
            self.assertEqual(rec["source"], "maildir")
            self.assertEqual(rec["anomalies"], [])
            self.assertEqual((rec["ts_start"], rec["ts_end"]), (iso_mtime(path),) * 2)
            (tx,) = rec["transactions"]
            self.assertMessage(self.once, tx, data)
            self.assertIs(tx["message"]["complete"], True)
        self.assertEqual(self.once.stats["sessions"], len(paths))

    def test_delivery_headers_as_postfix_writes_them(self):
        for mail in ALL_MAILS:
            path, data, parsed = self.files[mail.key]
            qid = self.sent[mail.key][1]
            with self.subTest(mail.key):
                # virtual(8) prepends these three, in this order, before cleanup's Received
                self.assertEqual(data.split(b"\n")[:3],
                                 [b"Return-Path: <%s>" % mail.sender.encode(),
                                  b"X-Original-To: " + RCPT.encode(),
                                  b"Delivered-To: " + RCPT.encode()])
                self.assertRegex(data.split(b"\n")[3].decode(),
                                 r"^Received: from " + re.escape(HELO))
                m = self.msg(mail.key)
                self.assertEqual(m["headers"]["return-path"], "<%s>" % mail.sender)
                self.assertEqual(m["headers"]["x-original-to"], RCPT)
                self.assertEqual(m["headers"]["delivered-to"], RCPT)
                self.assertEqual(len(m["received"]), 1)
                got = RECEIVED.match(squeeze(m["received"][0]))
                self.assertTrue(got, m["received"][0])
                self.assertEqual(got.group("qid"), qid)
                self.assertEqual(squeeze(m["received"][0]), squeeze(str(parsed["Received"])))
                self.assertEqual(m["path"], ["127.0.0.1"])

    def test_subject_from_to_body_as_sent(self):
        for mail in ALL_MAILS:
            _, _, parsed = self.files[mail.key]
            with self.subTest(mail.key):
                m = self.msg(mail.key)
                self.assertEqual(m["subject"], mail.subject)
                self.assertEqual(m["from"], mail.from_)
                self.assertEqual(m["to"], mail.to_want)
                self.assertEqual(m["cc"], [])
                self.assertEqual(m["message_id"], mail.msgid)
                self.assertEqual(m["body"], parsed.get_body(("plain",)).get_content())
                self.assertEqual(m["body"].rstrip("\n"), mail.body.rstrip("\n"))
                html = parsed.get_body(("html",))
                self.assertEqual(m["body_html"], html.get_content() if html else None)
                self.assertEqual(m["body_html"], mail.html)

    def test_attachments_hashed_and_archived(self):
        for mail in ALL_MAILS:
            _, _, parsed = self.files[mail.key]
            with self.subTest(mail.key):
                m = self.msg(mail.key)
                named = [(s, p.get_filename(), p.get_content_type())
                         for s, p in leaves(parsed) if p.get_filename()]
                self.assertEqual([n for _, n, _ in named], [a[0] for a in mail.attachments])
                self.assertEqual([(a["mime_path"], a["filename"], a["content_type"])
                                  for a in m["attachments"]], named)
                for (name, _, sent), a in zip(mail.attachments, m["attachments"]):
                    self.assertEqual(a["size"], len(sent), name)
                    for algo in ("md5", "sha1", "sha256"):
                        self.assertEqual(a[algo], hashlib.new(algo, sent).hexdigest(), name)
                    self.assertNotIn("sha512", a)  # not in hash_algorithms' default
                    h = sha256(sent)
                    self.assertEqual(a["stored"], "files/%s/%s" % (h[:2], h))
                    self.assertEqual(self.once.file_bytes(a["stored"]), sent, name)
                    self.assertEqual((a["truncated"], a["missing_bytes"]), (False, 0), name)

    def test_yara_match_on_the_planted_attachment_only(self):
        for mail in ALL_MAILS:
            for name, _, sent in mail.attachments:
                y = self.atts(mail.key)[name]["yara"]
                with self.subTest(name):
                    want = [YARA_MATCH] if name == "invoice.exe" else []
                    self.assertEqual(y["matches"], want)
                    self.assertEqual((y["error"], y["skipped"], y["truncated"]),
                                     (None, None, False))
                    self.assertEqual(y["scanned_bytes"], len(sent))

    def test_magic_type_as_file_says(self):
        mismatch = []
        for mail in ALL_MAILS:
            for name, declared, sent in mail.attachments:
                a = self.atts(mail.key)[name]
                with self.subTest(name):
                    self.assertEqual(a["magic"]["mime"], file_mime(sent))
                    self.assertTrue(a["magic"]["description"])
            anomalies = self.msg(mail.key)["anomalies"]
            mismatch += [(mail.key, x["mime_path"], x["detail"]) for x in anomalies]
        # vague types never disagree; application/pdf for an executable does
        self.assertEqual(file_mime(STATEMENT), "application/vnd.microsoft.portable-executable")
        self.assertEqual(mismatch, [("magic", "2", "declared application/pdf, content %s"
                                     % file_mime(STATEMENT))])
        names = [x["name"] for x in self.msg("magic")["anomalies"]]
        self.assertEqual(names, ["content_type_mismatch"])

    def test_x_originating_ip(self):
        self.assertEqual(self.msg("iocs")["x_originating_ip"], XOIP.strip("[]"))
        self.assertIsNone(self.msg("yara")["x_originating_ip"])

    def test_iocs_from_body_and_x_originating_ip(self):
        iocs = self.msg("iocs").get("iocs")
        self.assertIsInstance(iocs, dict, "message.iocs")
        for kind, want in IOC_WANT.items():
            for entry in want:
                self.assertIn(entry, iocs.get(kind, []), kind)

    def test_watch_records_the_mailbox_at_start(self):
        self.assertWatchRecorded(["primer"])

    def test_watch_ends_on_sigterm_and_flushes(self):
        self.assertFalse(sanitizer_report(self.watch_err), self.watch_err[-4000:])
        self.assertEqual(self.watch_rc, 0, self.watch_err[-2000:])
        # what it wrote before it ended: stats.json (written at the end) counts every record
        self.assertIsNotNone(self.watched.stats, "no stats.json after SIGTERM")
        self.assertEqual(self.watched.stats["sessions"], len(self.watched.records))
        files = [r["file"] for r in self.watched.records]
        self.assertEqual(len(files), len(set(files)), "a message recorded twice")
        self.assertIn("smtptap: %d records from message files" % len(self.watched.records),
                      self.watch_err)

    def test_maildir_only_read(self):
        self.assertEqual(self.after, self.before)
        self.assertEqual(os.listdir(os.path.join(self.maildir, "tmp")), [])
        self.assertEqual(os.listdir(os.path.join(self.maildir, "cur")), [])


class PostfixDelivery(Checks, SmtptapCase):
    """The mail goes through a real Postfix: swaks for three, smtplib for the others."""

    @classmethod
    def prepare(cls):
        missing = [t for t in ("postfix", "postconf", "swaks") if not shutil.which(t)]
        if missing:
            raise unittest.SkipTest("Postfix part skipped: %s not installed "
                                    "(sh scripts/deps.sh test installs postfix and swaks)"
                                    % ", ".join(missing))
        if os.geteuid() != 0:
            raise unittest.SkipTest("Postfix part skipped: not root (a Postfix instance needs "
                                    "root to start its daemons)")
        try:
            pwd.getpwnam("postfix")
            uid = unused_id()
            cls.postfix = Postfix(cls.root, cls.base, uid)
            cls.addClassCleanup(cls.postfix.stop)
            atexit.register(cls.postfix.stop)  # also if the run is cut short
            cls.postfix.configure()
            cls.postfix.start()
        except (KeyError, PostfixUnavailable, OSError) as e:
            raise unittest.SkipTest("Postfix part skipped: Postfix does not run here: %s" % e)
        return uid

    @classmethod
    def diagnose(cls):
        return cls.postfix.log_tail()

    @classmethod
    def deliver(cls, mails):
        for mail in mails:
            if mail.via == "swaks":
                p = subprocess.run(mail.swaks(cls.postfix.port, cls.attach_dir),
                                   capture_output=True, timeout=DEADLINE)
                said = p.stdout.decode("utf-8", "replace")
                got = re.search(r"<-  250 [\d.]+ Ok: queued as (\w+)", said)
                if p.returncode != 0 or not got:
                    raise AssertionError("swaks (rc %d): %s" % (p.returncode, said[-2000:]))
                qid = got.group(1)
            else:
                with smtplib.SMTP("127.0.0.1", cls.postfix.port, local_hostname=HELO,
                                  timeout=DEADLINE) as s:
                    s.ehlo()
                    s.mail(mail.sender)
                    code, reply = s.rcpt(RCPT)
                    if code != 250:
                        raise AssertionError("RCPT: %d %s" % (code, reply))
                    code, reply = s.data(mail.email())
                got = re.match(rb"[\d.]+ Ok: queued as (\w+)$", reply)
                if code != 250 or not got:
                    raise AssertionError("DATA: %d %s" % (code, reply))
                qid = got.group(1).decode()
            cls.sent[mail.key] = (mail, qid, "postfix")

    # Postfix's virtual(8) and local(8) put a message in new/ by link() from tmp/,
    # which raises only IN_CREATE (the watch once missed them all)
    def test_watch_records_each_delivery(self):
        self.assertWatchRecorded([m.key for m in MAILS])


class AgentDelivery(Checks, SmtptapCase):
    """The test delivers as Postfix does (link into new/) and as rename()-ing agents do."""

    HOW = {"primer": "link", "yara": "link", "magic": "rename", "iocs": "link",
           "multipart": "rename"}

    @classmethod
    def prepare(cls):
        return None

    @classmethod
    def deliver(cls, mails):
        rng = random.Random(len(cls.sent))
        for mail in mails:
            qid = "%011X" % rng.getrandbits(44)  # Postfix's short queue id form
            now = time.time()
            data = postfix_trace(mail, qid, now) + mail.email().replace(b"\r\n", b"\n")
            name = "%d.V%xI%xM%d.agent" % (int(now), 0xfe00, len(cls.sent) + 1,
                                          int(now * 1e6) % 1000000)
            tmp = os.path.join(cls.maildir, "tmp", name)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            new = os.path.join(cls.maildir, "new", name)
            if cls.HOW[mail.key] == "link":
                os.link(tmp, new)
                os.unlink(tmp)
            else:
                os.rename(tmp, new)
            cls.sent[mail.key] = (mail, qid, cls.HOW[mail.key])

    def keys(self, how):
        return [m.key for m in MAILS if self.HOW[m.key] == how]

    def test_watch_records_renamed_deliveries(self):
        self.assertWatchRecorded(self.keys("rename"))

    # a message put in new/ by link() from tmp/, as Postfix's virtual(8) and
    # local(8) do, raises only IN_CREATE (the watch once missed it)
    def test_watch_records_linked_deliveries(self):
        self.assertWatchRecorded(self.keys("link"))


if __name__ == "__main__":
    unittest.main()


class WriterSkippingTmp(unittest.TestCase):
    """A writer that creates its file in new/ directly and writes it slowly: the
    watch must wait for it to be closed (a read lease is refused while it is open
    for writing), then record it once, whole. Truth: the bytes this test wrote."""

    def test_a_file_still_being_written_is_read_once_closed(self):
        root = tempfile.mkdtemp(prefix="smtptap-slow-")
        out = os.path.join(root, "out")
        md = os.path.join(root, "Maildir")
        for d in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, d))
        msg = (b"From: a@example.test\nTo: b@example.test\nSubject: slow\n\n" +
               b"line of a message written slowly\n" * 200)
        p = subprocess.Popen([BIN, "-q", "-o", out, "--maildir", md], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(0.5)  # the watch is set
            path = os.path.join(md, "new", "1700000000.slow.host")
            with open(path, "wb") as f:
                f.write(msg[:100])
                f.flush()
                time.sleep(0.7)
                jsonl = os.path.join(out, "sessions.jsonl")
                early = open(jsonl).read() if os.path.exists(jsonl) else ""
                self.assertEqual(early, "", "read while still being written")
                f.write(msg[100:])
            self.assertTrue(wait_for(lambda: os.path.exists(jsonl) and open(jsonl).read(),
                                     time.monotonic() + 10))
        finally:
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err.decode(errors="replace"))
        recs = [json.loads(x) for x in open(os.path.join(out, "sessions.jsonl"))]
        shutil.rmtree(root)
        self.assertEqual(len(recs), 1)
        m = recs[0]["transactions"][0]["message"]
        self.assertEqual((m["size"], m["sha256"]), (len(msg), sha256(msg)))
