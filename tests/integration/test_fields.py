"""Every field of the session record, each against a truth that does not come
from smtptap (docs/record.md is the contract):

- the recorded captures of pcaps/: their bytes as tshark reassembles them
  (pcaps/clients/manifest.py's tshark_segments/streams_of, the recording's own
  checker), read by a small RFC 5321 walk in this file (each command takes the
  next reply in order; AUTH takes its 334s; DATA its 354 and the end-of-data
  reply; BDAT skips its octets), tshark's frame counts and TLS dissector, and
  the clients' logs kept in pcaps/manifest.json;
- sessions built packet by packet (pcapgen.py) where no recording shows a case:
  the truth is the bytes the test wrote (what a client and a server said), and
  for message contents Python's email package;
- the limits of docs/record.md#limits, each hit exactly at its value (nothing
  cut, no anomaly) and one past it (cut, and said by name).
"""
import base64
import concurrent.futures
import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from common import PCAPS, SmtptapCase, parse_endpoint, smtptap
from pcapgen import Session, fragment_ipv4, set_ack, write_pcap

sys.path.insert(0, os.path.join(PCAPS, "clients"))
import manifest as recorder  # noqa: E402  pcaps/clients/manifest.py: tshark reassembly, no smtptap

with open(os.path.join(PCAPS, "manifest.json")) as _f:
    MANIFEST = json.load(_f)

# Every recorded SMTP capture of the manifest, but for the ~4.6 MB one, read
# only where its size matters (bytes and packets).
SMALL = sorted(n for n, i in MANIFEST["files"].items()
               if i["smtp_sessions"] and n != "smtp-big.pcap")
SMTP_FILES = SMALL + ["smtp-big.pcap"]


# ---------------------------------------------------------------- recorded truth

def text_of(lines):
    """A reply as docs/record.md writes it: its lines as sent, joined by \\n."""
    return "\n".join(l.decode("utf-8", "replace") for l in lines)


def b64_text(s):
    return base64.b64decode(s).decode("utf-8", "replace")


def dialogue_truth(c2s, s2c):
    """Walk one session's two byte streams as RFC 5321 orders them: every
    client line takes the next reply. Returns the fields a record must hold
    (a transaction's reply is None where docs/record.md does not define it:
    aborted transactions)."""
    replies = recorder.parse_replies(s2c)
    ri = [1]
    t = {"banner": text_of(replies[0][1]) if replies else None, "helo": None,
         "extensions": None, "auth": None, "starttls": None, "transactions": []}
    pos = 0

    def reply():
        r = replies[ri[0]] if ri[0] < len(replies) else (0, [])
        ri[0] += 1
        return r

    def line():
        nonlocal pos
        eol = c2s.find(b"\r\n", pos)
        if eol < 0:
            return None
        s, pos = c2s[pos:eol], eol + 2
        return s

    tx = None
    while True:
        cmd = line()
        if cmd is None:
            break
        code, lines = reply()
        verb, _, arg = cmd.partition(b" ")
        verb = verb.upper()
        if verb in (b"EHLO", b"HELO", b"RSET", b"QUIT"):
            tx = None  # an open transaction is aborted; its reply is not defined
        if verb in (b"EHLO", b"HELO") and 200 <= code < 300:
            t["helo"] = arg.decode()
            if verb == b"EHLO":
                t["extensions"] = [l[4:].decode() for l in lines[1:]]
        elif verb == b"AUTH":
            words = arg.split()
            mech = words[0].decode()
            exchange = words[1:]
            while code == 334:
                exchange.append(line())
                code, lines = reply()
            user = None
            if mech.upper() == "PLAIN":
                authzid, authcid, _pw = base64.b64decode(exchange[0]).split(b"\0")
                user = (authcid or authzid).decode()
            elif mech.upper() == "LOGIN":
                user = b64_text(exchange[0])
            t["auth"] = {"mechanism": mech, "username": user, "success": 200 <= code < 300,
                         "reply": text_of(lines)}
        elif verb == b"STARTTLS":
            t["starttls"] = {"code": code, "reply": text_of(lines)}
            if code == 220:
                break  # TLS from here on
        elif verb == b"MAIL":
            path, _, params = arg.partition(b">")
            tx = {"mail_from": path.split(b"<", 1)[1].decode(),
                  "mail_params": params.strip().decode() or None,
                  "rcpt_to": [], "rcpt_rejected": [], "reply": None}
            t["transactions"].append(tx)
        elif verb == b"RCPT":
            addr = arg.split(b"<", 1)[1].split(b">", 1)[0].decode()
            if 200 <= code < 300:
                tx["rcpt_to"].append(addr)
            else:
                tx["rcpt_rejected"].append({"addr": addr, "reply": text_of(lines)})
        elif verb == b"DATA":
            if code == 354:
                end = 0 if c2s.startswith(b".\r\n", pos) else c2s.find(b"\r\n.\r\n", pos) + 2
                pos = (pos if end == 0 else end) + 3
                code, lines = reply()
            tx["reply"] = text_of(lines)
            tx = None
        elif verb == b"BDAT":
            size, _, last = arg.partition(b" ")
            pos += int(size)
            if not 200 <= code < 300 or last.strip().upper() == b"LAST":
                tx["reply"] = text_of(lines)
                tx = None
    return t


# Beside the segments manifest.py reads: how each stream ended, TLS ClientHellos.
MARKS = ["tcp.flags.fin", "tcp.flags.reset", "tls.handshake.type"]


def tshark_rows(path):
    """recorder.tshark_segments' rows with MARKS too, from one tshark run."""
    fields = recorder.FIELDS + MARKS
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=\t", "-E",
           "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [dict(zip(fields, line.split("\t"))) for line in out.splitlines()]


def file_truth(name):
    """{client endpoint: truth} for one recorded capture."""
    path = os.path.join(PCAPS, name)
    rows = tshark_rows(path)
    errors = len(recorder.errors)
    streams = recorder.streams_of(rows)
    assert len(recorder.errors) == errors, recorder.errors[errors:]
    truth = {}
    for sid, s in streams.items():
        frames, ends, hello = {"client": 0, "server": 0}, set(), False
        for r in rows:
            if r["tcp.stream"] != str(sid):
                continue
            src = recorder.ep(r["ip.src"] or r["ipv6.src"], r["tcp.srcport"])
            side = "client" if src == s["client"] else "server"
            frames[side] += 1
            if r["tcp.flags.reset"] in ("1", "True"):
                ends.add("rst")
            elif r["tcp.flags.fin"] in ("1", "True"):
                ends.add(side)
            hello |= side == "client" and "1" in r["tls.handshake.type"].split(",")
        t = dialogue_truth(s["c2s"], s["s2c"]) if name != "smtp-big.pcap" else {}
        close = "rst" if "rst" in ends else "fin" if len(ends) == 2 else "eof"
        t.update(bytes={"client": len(s["c2s"]), "server": len(s["s2c"])}, packets=frames,
                 client_hello=hello, close=close)
        truth[parse_endpoint(s["client"])] = t
    return truth


_RECORDED = {}


def recorded(name):
    """(smtptap run, {client endpoint: truth}) for one recorded capture. The
    first call reads every capture, two at a time (tshark is most of the time)."""
    if not _RECORDED:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            truths = dict(zip(SMTP_FILES, pool.map(file_truth, SMTP_FILES)))
            runs = dict(zip(SMTP_FILES, pool.map(lambda n: smtptap("-r", os.path.join(PCAPS, n)),
                                                  SMTP_FILES)))
        _RECORDED.update({n: (runs[n], truths[n]) for n in SMTP_FILES})
    return _RECORDED[name]


class RecordedFields(SmtptapCase):
    """Each record of each recorded capture against tshark's bytes of it."""
    maxDiff = None

    def each(self, names):
        for name in names:
            run, truth = recorded(name)
            self.assertEqual(run.rc, 0, run.stderr)
            self.assertEqual(len(run.records), MANIFEST["files"][name]["smtp_sessions"], name)
            for rec in run.records:
                key = (rec["client"]["ip"], rec["client"]["port"])
                self.assertIn(key, truth, name)
                yield name, rec, truth[key]

    def test_banner_helo_extensions(self):
        # truth: the first server reply, and the reply lines after the first
        # of the last accepted EHLO, without their "250-"/"250 " (tshark's bytes)
        for name, rec, t in self.each(SMALL):
            with self.subTest(name=name, client=rec["client"]["port"]):
                self.assertTrue(t["banner"].startswith("220 "), t["banner"])
                self.assertEqual(rec["banner"], t["banner"])
                self.assertEqual(rec["helo"], t["helo"])
                self.assertEqual(rec["extensions"], t["extensions"])
                self.assertIn("PIPELINING", rec["extensions"])  # the walk found the EHLO reply

    def test_auth(self):
        # truth: the AUTH command and its final reply on the wire; the user
        # name also as the client logged it (manifest "auth.user")
        seen = 0
        for name, rec, t in self.each(SMALL):
            info = [s for s in MANIFEST["files"][name]["sessions"]
                    if parse_endpoint(s["client"]) == (rec["client"]["ip"], rec["client"]["port"])]
            with self.subTest(name=name):
                self.assertEqual(rec["auth"], t["auth"])
                if info[0]["auth"]:
                    seen += 1
                    self.assertEqual(rec["auth"]["mechanism"], info[0]["auth"]["mechanism"])
                    self.assertEqual(rec["auth"]["username"], info[0]["auth"]["user"])
                    self.assertIs(rec["auth"]["success"], True)  # 235 on the wire
                else:
                    self.assertIsNone(rec["auth"])
        self.assertEqual(seen, 2)  # smtp-auth-plain, smtp-auth-login

    def test_starttls_and_encrypted(self):
        # truth: the STARTTLS reply on the wire; encrypted: tshark dissects a
        # TLS ClientHello from the client after it
        seen = 0
        for name, rec, t in self.each(SMALL):
            with self.subTest(name=name):
                if t["starttls"] is None:
                    self.assertIsNone(rec["starttls"])
                    self.assertFalse(t["client_hello"])
                    continue
                seen += 1
                self.assertIn("STARTTLS", t["extensions"])
                self.assertTrue(t["client_hello"])
                self.assertEqual(rec["starttls"], dict(t["starttls"], encrypted=True))
                self.assertEqual(rec["transactions"], [])  # the transaction went inside TLS
        self.assertEqual(seen, 1)

    def test_envelope_params_and_replies(self):
        # truth: MAIL's parameters after its path, each RCPT's reply, the
        # transaction's final reply (end of data, or the refusal), on the wire
        params = rejected = 0
        for name, rec, t in self.each(SMALL):
            with self.subTest(name=name, client=rec["client"]["port"]):
                self.assertEqual(len(rec["transactions"]), len(t["transactions"]))
                for mine, want in zip(rec["transactions"], t["transactions"]):
                    self.assertEqual(mine["mail_from"], want["mail_from"])
                    self.assertEqual(mine["mail_params"], want["mail_params"])
                    self.assertEqual(mine["rcpt_to"], want["rcpt_to"])
                    self.assertEqual(mine["rcpt_rejected"], want["rcpt_rejected"])
                    if want["reply"] is not None:
                        self.assertEqual(mine["reply"], want["reply"])
                    params += want["mail_params"] is not None
                    rejected += len(want["rcpt_rejected"])
        self.assertGreater(params, 0)  # some MAIL had parameters (SIZE=, BODY=8BITMIME)
        self.assertEqual(rejected, 2)  # smtp-rcpt-rejected: blocked@ twice

    def test_close(self):
        # truth: tshark's TCP flags: a RST ends it "rst", a FIN from each side "fin"
        seen = set()
        for name, rec, t in self.each(SMTP_FILES):
            with self.subTest(name=name, client=rec["client"]["port"]):
                self.assertEqual(rec["close"], t["close"])
                seen.add(t["close"])
        self.assertEqual(seen, {"fin", "rst"})  # smtp-starttls ends with the client's RST

    def test_bytes_per_direction(self):
        # truth: the payload bytes of each direction of the TCP stream,
        # reassembled from tshark's segments ("payload bytes delivered")
        for name, rec, t in self.each(SMTP_FILES):
            with self.subTest(name=name, client=rec["client"]["port"]):
                self.assertNotEqual(t["bytes"]["client"], t["bytes"]["server"])
                self.assertEqual(rec["bytes"], t["bytes"])
                self.assertEqual(rec["missing_bytes"], {"client": 0, "server": 0})

    def test_packets_per_direction(self):
        # truth: tshark's frames of the stream from each side, the SYN and
        # SYN-ACK included (docs/record.md), up to the packet that closes it
        got, want = {}, {}
        for name, rec, t in self.each(SMTP_FILES):
            got[name, rec["client"]["port"]] = rec["packets"]
            want[name, rec["client"]["port"]] = t["packets"]
        self.assertEqual(got, want)  # one failure for all, not one per capture


# ---------------------------------------------------------------- built sessions

BANNER = b"220 mx.fields.test ESMTP ready\r\n"
EXTS = [b"PIPELINING", b"SIZE 10240000", b"AUTH PLAIN LOGIN CRAM-MD5", b"STARTTLS", b"8BITMIME"]
EHLO_REPLY = b"250-mx.fields.test\r\n" + b"".join(b"250-" + e + b"\r\n" for e in EXTS[:-1]) + \
    b"250 " + EXTS[-1] + b"\r\n"
QUEUED = b"250 2.0.0 Ok: queued as F1E2D3\r\n"
PASSWORD = b"p4ss-w0rd-never-written"


def wire(b):
    """A reply as the record writes it (lines joined by \\n, no CRLF)."""
    return b.decode().rstrip("\r\n").replace("\r\n", "\n")


def msg(subject=b"fields", body=b"Hello.\r\n", headers=b""):
    return b"From: a@x.test\r\nTo: b@y.test\r\nSubject: " + subject + b"\r\n" + headers + \
        b"\r\n" + body


class Dialogue:
    """A session built in order, keeping every payload byte each side sent
    and the direction of every frame: the truth for bytes and packets."""

    def __init__(self, greet=True, **kw):
        self.s = Session(**kw).handshake()
        self.sent = {"c": 0, "s": 0}
        if greet:
            self.S(BANNER).C(b"EHLO client.fields.test\r\n").S(EHLO_REPLY)

    def C(self, b):
        self.s.client(b)
        self.sent["c"] += len(b)
        return self

    def S(self, b):
        self.s.server(b)
        self.sent["s"] += len(b)
        return self

    def tx(self, frm=b"a@x.test", rcpts=(b"b@y.test",), message=None, params=b""):
        self.C(b"MAIL FROM:<" + frm + b">" + params + b"\r\n").S(b"250 2.1.0 Ok\r\n")
        for r in rcpts:
            self.C(b"RCPT TO:<" + r + b">\r\n").S(b"250 2.1.5 Ok\r\n")
        self.C(b"DATA\r\n").S(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        self.C((message if message is not None else msg()) + b".\r\n").S(QUEUED)
        return self

    def quit(self):
        return self.C(b"QUIT\r\n").S(b"221 2.0.0 Bye\r\n").fin()

    def fin(self):
        self.s.fin()
        return self

    def packets_by_side(self):
        n = {"client": 0, "server": 0}
        for _, frame, _ in self.s.packets:
            off = 14 + (40 if frame[12:14] == b"\x86\xdd" else 20)
            sport = int.from_bytes(frame[off:off + 2], "big")
            n["client" if sport == self.s.cport else "server"] += 1
        return n


class Built(SmtptapCase):
    maxDiff = None

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-fields-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def run_packets(self, packets, *args, name="x.pcap"):
        path = os.path.join(self.dir, name)
        write_pcap(path, packets)
        run = smtptap(*(list(args) + ["-r", path]))
        self.assertEqual(run.rc, 0, run.stderr)
        return run

    def one(self, d, *args):
        run = self.run_packets(d.s.packets, *args)
        self.assertEqual(len(run.records), 1, run.records)
        return run, run.records[0]

    def names(self, anomalies):
        return [a["name"] for a in anomalies]


class BuiltDialogue(Built):
    def test_plain_fields(self):
        # truth: the bytes written here
        d = Dialogue().tx(params=b" SIZE=123 BODY=8BITMIME").tx(frm=b"c@x.test").quit()
        run, r = self.one(d)
        self.assertEqual(r["banner"], wire(BANNER))
        self.assertEqual(r["helo"], "client.fields.test")
        self.assertEqual(r["extensions"], [e.decode() for e in EXTS])
        self.assertEqual((r["auth"], r["starttls"], r["tunnel"]), (None, None, None))
        t1, t2 = r["transactions"]
        self.assertEqual(t1["mail_params"], "SIZE=123 BODY=8BITMIME")
        self.assertIsNone(t2["mail_params"])  # no parameters: null
        self.assertEqual((t1["mode"], t1["reply"], t1["status"]),
                         ("DATA", wire(QUEUED), "accepted"))
        self.assertEqual(r["bytes"], {"client": d.sent["c"], "server": d.sent["s"]})
        self.assertEqual(r["packets"], d.packets_by_side())  # the last ACK after both FINs too

    def test_mail_params_trailing_blanks(self):
        # RFC 5321 4.1.2: Mail-parameters = esmtp-param *(SP esmtp-param);
        # blanks a client leaves after the last one are not a parameter
        d = Dialogue().tx(params=b" SIZE=123 BODY=8BITMIME \t ").tx(frm=b"c@x.test", params=b" \t")
        run, r = self.one(d.quit())
        t1, t2 = r["transactions"]
        self.assertEqual(t1["mail_params"], "SIZE=123 BODY=8BITMIME")
        self.assertIsNone(t2["mail_params"])  # only blanks: no parameters
        self.assertEqual([t["status"] for t in r["transactions"]], ["accepted", "accepted"])
        self.assertEqual(r["anomalies"], [])

    def test_packets_until_eof(self):
        # truth: the frames written from each side, SYN and SYN-ACK included;
        # the capture ends with the session open, so no packet closes it
        d = Dialogue().tx().tx()
        run, r = self.one(d)
        self.assertEqual(r["close"], "eof")
        self.assertEqual(r["packets"], d.packets_by_side())
        self.assertNotEqual(r["packets"]["client"], r["packets"]["server"])

    def test_multiline_banner(self):
        # truth: docs/record.md "all lines joined by \n as sent (codes included)"
        banner = b"220-mx.fields.test ESMTP\r\n220-no UCE\r\n220 ready\r\n"
        d = Dialogue(greet=False).S(banner).C(b"EHLO c.test\r\n").S(b"250 mx.fields.test\r\n")
        run, r = self.one(d.tx().quit())
        self.assertEqual(r["banner"], "220-mx.fields.test ESMTP\n220-no UCE\n220 ready")
        self.assertEqual(r["extensions"], [])  # a one-line EHLO reply advertises nothing

    def test_rcpt_rejected_with_replies(self):
        # truth: the server's refusals written here, each with its own text
        d = Dialogue()
        d.C(b"MAIL FROM:<a@x.test>\r\n").S(b"250 2.1.0 Ok\r\n")
        d.C(b"RCPT TO:<ok@y.test>\r\n").S(b"250 2.1.5 Ok\r\n")
        d.C(b"RCPT TO:<no@y.test>\r\n").S(b"550 5.1.1 <no@y.test>: User unknown\r\n")
        d.C(b"RCPT TO:<later@y.test>\r\n").S(b"450-4.2.0 <later@y.test>: greylisted\r\n"
                                             b"450 4.2.0 try again later\r\n")
        d.C(b"DATA\r\n").S(b"354 go\r\n").C(msg() + b".\r\n").S(QUEUED)
        run, r = self.one(d.quit())
        tx = r["transactions"][0]
        self.assertEqual(tx["rcpt_to"], ["ok@y.test"])
        self.assertEqual(tx["rcpt_rejected"], [
            {"addr": "no@y.test", "reply": "550 5.1.1 <no@y.test>: User unknown"},
            {"addr": "later@y.test",
             "reply": "450-4.2.0 <later@y.test>: greylisted\n450 4.2.0 try again later"}])
        self.assertEqual(tx["status"], "accepted")


class BuiltAuth(Built):
    """AUTH exchanges written here (RFC 4616 PLAIN, the LOGIN convention,
    RFC 2195 CRAM-MD5): mechanism, user name, success, reply; no password."""

    def assertNoSecret(self, run):
        with open(os.path.join(run.out, "sessions.jsonl"), "rb") as f:
            text = f.read()
        for secret in (PASSWORD, base64.b64encode(PASSWORD)):
            self.assertNotIn(secret, text)

    def auth(self, exchange, *args):
        d = Dialogue()
        for frm, b in exchange:
            (d.C if frm == "c" else d.S)(b)
        run, r = self.one(d.tx().quit(), *args)
        self.assertNoSecret(run)
        self.assertEqual(len(r["transactions"]), 1)  # AUTH lines were not taken for commands
        self.assertEqual(r["transactions"][0]["status"], "accepted")
        return r["auth"]

    def test_plain_failure(self):
        ir = base64.b64encode(b"\0alice@x.test\0" + PASSWORD)
        a = self.auth([("c", b"AUTH PLAIN " + ir + b"\r\n"),
                       ("s", b"535 5.7.8 Authentication credentials invalid\r\n")])
        self.assertEqual(a, {"mechanism": "PLAIN", "username": "alice@x.test", "success": False,
                             "reply": "535 5.7.8 Authentication credentials invalid"})

    def test_plain_without_initial_response_authzid(self):
        # RFC 4616: authzid NUL authcid NUL passwd; the user is the authcid
        a = self.auth([("c", b"AUTH PLAIN\r\n"), ("s", b"334 \r\n"),
                       ("c", base64.b64encode(b"admin\0bob\0" + PASSWORD) + b"\r\n"),
                       ("s", b"235 2.7.0 Authentication successful\r\n")])
        self.assertEqual(a, {"mechanism": "PLAIN", "username": "bob", "success": True,
                             "reply": "235 2.7.0 Authentication successful"})

    def test_login_failure(self):
        a = self.auth([("c", b"AUTH LOGIN\r\n"), ("s", b"334 VXNlcm5hbWU6\r\n"),
                       ("c", base64.b64encode(b"carol") + b"\r\n"), ("s", b"334 UGFzc3dvcmQ6\r\n"),
                       ("c", base64.b64encode(PASSWORD) + b"\r\n"),
                       ("s", b"535 5.7.8 Error: authentication failed\r\n")])
        self.assertEqual(a, {"mechanism": "LOGIN", "username": "carol", "success": False,
                             "reply": "535 5.7.8 Error: authentication failed"})

    def test_other_mechanism_has_no_username(self):
        # docs/record.md: username null for mechanisms other than PLAIN and LOGIN
        a = self.auth([("c", b"AUTH CRAM-MD5\r\n"),
                       ("s", b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n"),
                       ("c", base64.b64encode(b"dave 0123456789abcdef0123456789abcdef") + b"\r\n"),
                       ("s", b"235 2.7.0 Authentication successful\r\n")])
        self.assertEqual(a, {"mechanism": "CRAM-MD5", "username": None, "success": True,
                             "reply": "235 2.7.0 Authentication successful"})

    def test_no_reply_success_null(self):
        # docs/record.md: success null without a reply (the capture ends first)
        d = Dialogue().C(b"AUTH PLAIN " + base64.b64encode(b"\0erin\0" + PASSWORD) + b"\r\n")
        run, r = self.one(d)
        self.assertNoSecret(run)
        self.assertEqual(r["auth"], {"mechanism": "PLAIN", "username": "erin", "success": None,
                                     "reply": None})
        self.assertEqual(r["close"], "eof")


# A TLS 1.2 ClientHello record header and the start of its body: what a
# client sends after "220 ready to start TLS" (RFC 5246 6.2.1, 7.4.1.2).
CLIENT_HELLO = bytes.fromhex("160301003a0100003603035f") + bytes(40)


class BuiltStarttls(Built):
    """STARTTLS (RFC 3207) offered, refused, followed by TLS, by plaintext, by nothing."""

    def starttls(self, reply, after=None):
        d = Dialogue().C(b"STARTTLS\r\n").S(reply)
        if after:
            after(d)
        return d

    def test_tls_followed(self):
        def tls(d):
            d.C(CLIENT_HELLO).S(bytes.fromhex("160303003102000031") + bytes(49))
            d.C(b"MAIL FROM:<hidden@x.test>\r\n")  # inside TLS: never parsed
        d = self.starttls(b"220 2.0.0 Ready to start TLS\r\n", tls).fin()
        run, r = self.one(d)
        self.assertEqual(r["starttls"], {"code": 220, "reply": "220 2.0.0 Ready to start TLS",
                                         "encrypted": True})
        self.assertEqual(r["transactions"], [])
        # the TLS bytes are still counted
        self.assertEqual(r["bytes"], {"client": d.sent["c"], "server": d.sent["s"]})

    def test_plaintext_after_220(self):
        # a decrypted capture: EHLO again in the clear, then a transaction
        def plain(d):
            d.C(b"EHLO again.fields.test\r\n").S(b"250-mx.fields.test\r\n250 AUTH PLAIN\r\n")
            d.tx(frm=b"after@x.test").quit()
        run, r = self.one(self.starttls(b"220 2.0.0 Ready to start TLS\r\n", plain))
        self.assertEqual(r["starttls"], {"code": 220, "reply": "220 2.0.0 Ready to start TLS",
                                         "encrypted": False})
        self.assertEqual(r["helo"], "again.fields.test")
        self.assertEqual(r["extensions"], ["AUTH PLAIN"])  # the last EHLO's
        self.assertEqual([t["mail_from"] for t in r["transactions"]], ["after@x.test"])

    def test_refused_then_plaintext(self):
        # docs/record.md: encrypted false when plaintext followed
        def plain(d):
            d.tx(frm=b"clear@x.test").quit()
        run, r = self.one(self.starttls(b"454 4.7.0 TLS not available due to local problem\r\n",
                                        plain))
        self.assertEqual(r["starttls"]["code"], 454)
        self.assertEqual(r["starttls"]["reply"], "454 4.7.0 TLS not available due to local problem")
        self.assertEqual([t["mail_from"] for t in r["transactions"]], ["clear@x.test"])
        self.assertIs(r["starttls"]["encrypted"], False)

    def test_nothing_followed(self):
        # docs/record.md: encrypted null when nothing followed
        run, r = self.one(self.starttls(b"220 2.0.0 Ready to start TLS\r\n").fin())
        self.assertEqual(r["starttls"], {"code": 220, "reply": "220 2.0.0 Ready to start TLS",
                                         "encrypted": None})


class BuiltTunnel(Built):
    """Proxy handshakes written from their specifications before the SMTP
    dialogue: HTTP CONNECT (RFC 9110 9.3.6), SOCKS4/4a, SOCKS5 (RFC 1928, 1929)."""

    def through(self, steps, want):
        d = Dialogue(greet=False)
        for frm, b in steps:
            (d.C if frm == "c" else d.S)(b)
        d.S(BANNER).C(b"EHLO client.fields.test\r\n").S(EHLO_REPLY)
        body = msg(subject=b"tunnelled")
        run, r = self.one(d.tx(message=body).quit())
        self.assertEqual(r["tunnel"], want)
        self.assertEqual(r["banner"], wire(BANNER))  # the proxy's answer is not the banner
        self.assertEqual(r["helo"], "client.fields.test")
        self.assertMessage(run, r["transactions"][0], body)
        self.assertEqual(r["anomalies"], [])
        # every payload byte, the preamble's too, is delivered and counted
        self.assertEqual(r["bytes"], {"client": d.sent["c"], "server": d.sent["s"]})
        with open(os.path.join(run.out, "sessions.jsonl"), "rb") as f:
            self.assertNotIn(b"proxy-secret", f.read())

    def test_http_connect(self):
        self.through([("c", b"CONNECT mx.fields.test:25 HTTP/1.1\r\nHost: mx.fields.test:25\r\n"
                            b"Proxy-Authorization: Basic cHJveHktc2VjcmV0\r\n\r\n"),
                      ("s", b"HTTP/1.1 200 Connection established\r\n\r\n")], "http_connect")

    def test_socks4(self):
        self.through([("c", b"\x04\x01\x00\x19\x0a\x00\x00\x02proxy-secret\x00"),
                      ("s", b"\x00\x5a\x00\x00\x00\x00\x00\x00")], "socks4")

    def test_socks4a(self):
        self.through([("c", b"\x04\x01\x00\x19\x00\x00\x00\x01\x00mx.fields.test\x00"),
                      ("s", b"\x00\x5a\x00\x00\x00\x00\x00\x00")], "socks4")

    def test_socks5(self):
        self.through([("c", b"\x05\x01\x00"), ("s", b"\x05\x00"),
                      ("c", b"\x05\x01\x00\x03\x0emx.fields.test\x00\x19"),
                      ("s", b"\x05\x00\x00\x01\x0a\x00\x00\x02\x00\x19")], "socks5")

    def test_socks5_user_password(self):
        self.through([("c", b"\x05\x01\x02"), ("s", b"\x05\x02"),
                      ("c", b"\x01\x04user\x0cproxy-secret"), ("s", b"\x01\x00"),
                      ("c", b"\x05\x01\x00\x01\x0a\x00\x00\x02\x00\x19"),
                      ("s", b"\x05\x00\x00\x01\x0a\x00\x00\x02\x00\x19")], "socks5")


class BuiltClose(Built):
    """Close reasons (docs/record.md "close"), each from the packets written."""

    def test_fin_rst_eof(self):
        fin = Dialogue(client=("10.0.1.1", 1001)).tx().quit()
        rst = Dialogue(client=("10.0.1.2", 1002)).tx()
        rst.s.rst()
        eof = Dialogue(client=("10.0.1.3", 1003)).tx()  # the capture ends with it open
        run = self.run_packets(fin.s.packets + rst.s.packets + eof.s.packets)
        closes = {r["client"]["port"]: r["close"] for r in run.records}
        self.assertEqual(closes, {1001: "fin", 1002: "rst", 1003: "eof"})
        built = {1001: fin, 1002: rst, 1003: eof}
        for r in run.records:
            self.assertEqual(r["transactions"][0]["status"], "accepted")
            # every packet counted, the one that closed the session included
            self.assertEqual(r["packets"], built[r["client"]["port"]].packets_by_side())

    def test_timeout(self):
        # idle 301 s of packet time with idle_timeout 300, then more traffic
        idle = Dialogue(client=("10.0.2.1", 2001)).tx()
        idle.s.wait(301)
        later = Dialogue(client=("10.0.2.2", 2002), t0=idle.s.t).tx().quit()
        run = self.run_packets(idle.s.packets + later.s.packets, "--set", "idle_timeout=300")
        closes = {r["client"]["port"]: r["close"] for r in run.records}
        self.assertEqual(closes, {2001: "timeout", 2002: "fin"})

    def test_idle_timeout_option(self):
        # idle_timeout=60 (not the default 300): silent 62 s of packet time is
        # closed "timeout"; silent 40 s when the capture ends is still open
        idle = Dialogue(client=("10.0.2.1", 2001)).tx()
        quiet = Dialogue(client=("10.0.2.3", 2003), t0=idle.s.t + 22).tx()
        later = Dialogue(client=("10.0.2.2", 2002), t0=idle.s.t + 62).tx().quit()
        self.assertLess(later.s.t - quiet.s.t, 45)
        run = self.run_packets(idle.s.packets + quiet.s.packets + later.s.packets,
                               "--idle-timeout", "60")
        closes = {r["client"]["port"]: r["close"] for r in run.records}
        self.assertEqual(closes, {2001: "timeout", 2002: "fin", 2003: "eof"})
        for r in run.records:  # each closed after its transaction was accepted
            self.assertEqual([t["status"] for t in r["transactions"]], ["accepted"])

    def open_sessions(self, n, limit):
        """n sessions that spoke SMTP and stay open; their close reasons."""
        ds = [Dialogue(client=("10.0.3.%d" % (i + 1), 3000 + i), t0=1700000000 + i)
              for i in range(n)]
        run = self.run_packets([p for d in ds for p in d.s.packets],
                               "--set", "max_streams=%d" % limit, name="s%d.pcap" % n)
        self.assertEqual(len(run.records), n)
        return [c for _, c in sorted((r["client"]["port"], r["close"]) for r in run.records)]

    def test_evicted_by_max_streams(self):
        # 40 open streams with max_streams=16 (its minimum): the oldest are
        # closed "evicted", the newest 16 stay until the end of input ("eof")
        closes = self.open_sessions(40, 16)
        evicted = closes.count("evicted")
        self.assertGreater(evicted, 0)
        self.assertEqual(closes, ["evicted"] * evicted + ["eof"] * (40 - evicted))
        self.assertLessEqual(evicted, 40 - 16)

    def test_max_streams_exact(self):
        # docs/record.md#limits: the table holds max_streams streams; one more
        # evicts the oldest
        self.assertEqual(self.open_sessions(16, 16), ["eof"] * 16)
        self.assertEqual(self.open_sessions(17, 16), ["evicted"] + ["eof"] * 16)

    def test_evicted_by_reused_four_tuple(self):
        a = Dialogue(t0=1700000000).tx()  # never closed
        b = Dialogue(t0=1700000100, isn_c=777777, isn_s=888888).tx().quit()
        run = self.run_packets(a.s.packets + b.s.packets)
        closes = sorted((r["ts_start"], r["close"]) for r in run.records)
        self.assertEqual([c for _, c in closes], ["evicted", "fin"])


class BuiltLimits(Built):
    """docs/record.md#limits: each limit at its value (nothing cut, no
    anomaly) and one past it (cut, and the anomaly or flag by name). The
    truth is what the test wrote, and Python's email package for MIME."""

    def test_max_transactions(self):
        for n, over in ((3, False), (4, True)):
            with self.subTest(transactions=n):
                d = Dialogue()
                for i in range(n):
                    d.tx(frm=b"t%d@x.test" % i)
                run, r = self.one(d.quit(), "--set", "max_transactions=3")
                self.assertEqual([t["mail_from"] for t in r["transactions"]],
                                 ["t0@x.test", "t1@x.test", "t2@x.test"])
                self.assertEqual(self.names(r["anomalies"]),
                                 ["too_many_transactions"] if over else [])

    def test_max_rcpts(self):
        # the refused recipient counts too: "recipients kept per transaction"
        for n, over in ((3, False), (4, True)):
            with self.subTest(rcpts=n):
                d = Dialogue().C(b"MAIL FROM:<a@x.test>\r\n").S(b"250 2.1.0 Ok\r\n")
                d.C(b"RCPT TO:<r0@y.test>\r\n").S(b"250 2.1.5 Ok\r\n")
                d.C(b"RCPT TO:<r1@y.test>\r\n").S(b"550 5.1.1 no such user\r\n")
                for i in range(2, n):
                    d.C(b"RCPT TO:<r%d@y.test>\r\n" % i).S(b"250 2.1.5 Ok\r\n")
                d.C(b"DATA\r\n").S(b"354 go\r\n").C(msg() + b".\r\n").S(QUEUED)
                run, r = self.one(d.quit(), "--set", "max_rcpts=3")
                tx = r["transactions"][0]
                self.assertEqual(tx["rcpt_to"], ["r0@y.test", "r2@y.test"])
                self.assertEqual(tx["rcpt_rejected"],
                                 [{"addr": "r1@y.test", "reply": "550 5.1.1 no such user"}])
                self.assertEqual(tx["status"], "accepted")
                self.assertEqual(self.names(r["anomalies"]), ["too_many_rcpts"] if over else [])

    def test_max_anomalies(self):
        # three or four unknown commands, each an "unknown_command" anomaly
        for n in (3, 4):
            with self.subTest(anomalies=n):
                d = Dialogue()
                for i in range(n):
                    d.C(b"XBOGUS%d\r\n" % i).S(b"502 5.5.2 Error: command not recognized\r\n")
                run, r = self.one(d.tx().quit(), "--set", "max_anomalies=3")
                want = [{"name": "unknown_command", "detail": "XBOGUS%d" % i} for i in range(3)]
                if n == 4:
                    want.append({"name": "too_many_anomalies", "detail": 1})  # one dropped
                self.assertEqual(r["anomalies"], want)

    def test_max_line_client(self):
        # max_line=512: "EHLO " + name is a 512-byte line at the value, 513 past it
        for n in (512, 513):
            with self.subTest(line=n):
                name = b"h" * (n - 5)
                d = Dialogue(greet=False).S(BANNER).C(b"EHLO " + name + b"\r\n").S(EHLO_REPLY)
                run, r = self.one(d.tx().quit(), "--set", "max_line=512")
                kept = (b"EHLO " + name)[:512][5:].decode()
                self.assertEqual(r["helo"], kept)
                self.assertEqual(len(r["helo"]), 507 if n == 513 else n - 5)
                self.assertEqual(r["anomalies"],
                                 [{"name": "line_too_long", "detail": "client"}] if n > 512 else [])
                self.assertEqual(r["transactions"][0]["status"], "accepted")

    def test_max_line_server(self):
        for n in (512, 513):
            with self.subTest(line=n):
                banner = b"220 " + b"m" * (n - 4)
                d = Dialogue(greet=False).S(banner + b"\r\n").C(b"EHLO c.test\r\n").S(EHLO_REPLY)
                run, r = self.one(d.tx().quit(), "--set", "max_line=512")
                self.assertEqual(r["banner"], banner[:512].decode())
                self.assertEqual(r["anomalies"],
                                 [{"name": "line_too_long", "detail": "server"}] if n > 512 else [])

    def test_max_pending(self):
        # MAIL and two RCPTs pipelined in one segment (RFC 2920), then their
        # three replies: three commands wait at once
        for limit, over in ((3, False), (2, True)):
            with self.subTest(max_pending=limit):
                d = Dialogue()
                d.C(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<ok@y.test>\r\nRCPT TO:<no@y.test>\r\n")
                d.S(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <no@y.test>: unknown\r\n")
                d.C(b"DATA\r\n").S(b"354 go\r\n").C(msg() + b".\r\n").S(QUEUED)
                run, r = self.one(d.quit(), "--set", "max_pending=%d" % limit)
                tx = r["transactions"][0]
                self.assertEqual(tx["mail_from"], "a@x.test")
                if not over:
                    self.assertEqual(r["anomalies"], [])
                    self.assertEqual(tx["rcpt_to"], ["ok@y.test"])
                    self.assertEqual(tx["rcpt_rejected"], [
                        {"addr": "no@y.test", "reply": "550 5.1.1 <no@y.test>: unknown"}])
                else:
                    self.assertIn("pending_queue_overflow", self.names(r["anomalies"]))


class BuiltReassembly(Built):
    """Options and cases of the reassembly that a record shows: ooo_limit,
    IPv4 fragments. The truth is the segments written (and the ones left
    out), and tshark's frame counts of the same capture."""

    def test_ooo_limit(self):
        # One client segment of the first message is lost, and every server
        # ACK after it stays at the hole (nothing acknowledges the missing
        # bytes, so no reordering window applies): only the queue behind
        # the hole can decide. With ooo_limit=4096, far below the ~13 KB
        # sent after the hole, the hole is skipped as soon as the queue
        # passes 4096 bytes, and the rest of the dialogue is in order.
        lines = b"".join(b"ooo line %05d abcdefghijklmnopqrstuvwxyz0123456789\r\n" % i
                         for i in range(300))
        big, small = msg(subject=b"behind a hole", body=lines), msg(subject=b"after it")
        d = Dialogue().tx(message=big).tx(frm=b"c@x.test", message=small).quit()
        segs = [i for i, (_, f, tag) in enumerate(d.s.packets)
                if tag == "data-c" and len(f) - 54 > 1000 and f[54:] in big]
        victim = segs[1]
        frame = d.s.packets[victim][1]
        hole = int.from_bytes(frame[38:42], "big")  # its sequence number
        lost = frame[54:]
        after = sum(len(f) - 54 for _, f, tag in d.s.packets[victim + 1:] if tag == "data-c")
        self.assertGreater(after, 3 * 4096)
        self.assertLess(after, 32768 // 2)  # the default ooo_limit would wait for all of it
        packets = []
        for i, (ts, f, tag) in enumerate(d.s.packets):
            if i == victim:
                continue
            if i > victim and f[26:30] == bytes([10, 0, 0, 2]) and \
                    int.from_bytes(f[42:46], "big") > hole:
                f = set_ack(f, hole)  # the server never acknowledges past the hole
            packets.append((ts, f, tag))
        run = self.run_packets(packets, "--ooo-limit", "4096")
        self.assertEqual(len(run.records), 1)
        r = run.records[0]
        self.assertEqual(r["missing_bytes"], {"client": len(lost), "server": 0})
        self.assertEqual(r["close"], "fin")
        self.assertEqual(r["anomalies"], [])
        t1, t2 = r["transactions"]
        self.assertEqual((t1["status"], t1["reply"]), ("accepted", wire(QUEUED)))
        self.assertEqual(t1["message"]["missing_bytes"], len(lost))
        self.assertEqual(run.file_bytes(t1["message"]["eml"]), big.replace(lost, b"", 1))
        self.assertEqual((t2["mail_from"], t2["status"], t2["reply"]),
                         ("c@x.test", "accepted", wire(QUEUED)))
        self.assertMessage(run, t2, small)

    def tshark_frames(self, path, client_port):
        """tshark's frames of the TCP stream from each side (a fragment is
        the stream's only once its datagram is reassembled)."""
        out = subprocess.run(["tshark", "-n", "-r", path, "-T", "fields", "-e", "tcp.stream",
                              "-e", "tcp.srcport"], capture_output=True, text=True,
                             check=True).stdout
        n = {"client": 0, "server": 0}
        for line in out.splitlines():
            stream, _, sport = line.partition("\t")
            if stream == "0":
                n["client" if sport == str(client_port) else "server"] += 1
        return n

    def test_lone_first_fragment(self):
        # A data segment's first IPv4 fragment (More Fragments set, offset
        # 0) whose second fragment the capture lost, then the segment again
        # whole (the retransmission): the fragment never reached TCP, so it
        # is no packet of the session, and the message is whole
        body = msg(body=b"".join(b"fragment line %04d\r\n" % i for i in range(300)))
        d = Dialogue().tx(message=body).quit()
        packets, done = [], False
        for ts, f, tag in d.s.packets:
            if tag == "data-c" and len(f) > 1000 and not done:
                done = True
                first, _second = fragment_ipv4(f, 512)
                packets.append((ts - 0.0005, first, "frag"))
            packets.append((ts, f, tag))
        self.assertTrue(done)
        path = os.path.join(self.dir, "frag.pcap")
        write_pcap(path, packets)
        run = smtptap("-r", path)
        self.assertEqual(run.rc, 0, run.stderr)
        r, = run.records
        self.assertMessage(run, r["transactions"][0], body)
        self.assertEqual(r["bytes"], {"client": d.sent["c"], "server": d.sent["s"]})
        want = self.tshark_frames(path, d.s.cport)
        self.assertEqual(want, d.packets_by_side())  # the fragment is not the stream's
        self.assertEqual(r["packets"], want)


def mime_msg(b):
    return email.message_from_bytes(b, policy=email.policy.default)


class BuiltContentLimits(Built):
    """Message limits: the truth for what a message holds is Python's email."""

    def message(self, body, *args):
        d = Dialogue().tx(message=body).quit()
        run, r = self.one(d, *args)
        tx = r["transactions"][0]
        self.assertMessage(run, tx, body)
        return tx["message"]

    def test_body_max(self):
        body = msg(body=b"0123456789" * 9 + b"abcdefgh\r\n")
        text = mime_msg(body).get_payload(decode=True).decode()  # email's text/plain body
        for limit, over in ((len(text), False), (len(text) - 1, True)):
            with self.subTest(body_max=limit):
                m = self.message(body, "--set", "body_max=%d" % limit)
                self.assertEqual(m["body"], text[:limit])
                self.assertIs(m["body_truncated"], over)
                self.assertIs(m["body_html_truncated"], False)

    def test_body_max_character_boundary(self):
        # UTF-8 body of 2-byte characters, body_max odd: cut before the
        # character that does not fit whole (docs/record.md#limits)
        body = msg(headers=b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                           b"Content-Transfer-Encoding: 8bit\r\n",
                   body="\u00e9t\u00e9 ".encode() * 5 + b"\r\n")
        raw = mime_msg(body).get_payload(decode=True)  # email's body, UTF-8 bytes
        self.assertEqual(raw[:4].decode("utf-8", "ignore"), "\u00e9t")  # 4 cuts the second é
        for limit, over in ((len(raw), False), (len(raw) - 1, True), (4, True)):
            with self.subTest(body_max=limit):
                m = self.message(body, "--set", "body_max=%d" % limit)
                self.assertEqual(m["body"], raw[:limit].decode("utf-8", "ignore"))
                self.assertIs(m["body_truncated"], over)

    def test_body_max_html(self):
        html = b"<p>" + b"x" * 60 + b"</p>\r\n"
        body = msg(headers=b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n", body=html)
        text = mime_msg(body).get_payload(decode=True).decode()
        for limit, over in ((len(text), False), (len(text) - 1, True)):
            with self.subTest(body_max=limit):
                m = self.message(body, "--set", "body_max=%d" % limit)
                self.assertIsNone(m["body"])
                self.assertEqual(m["body_html"], text[:limit])
                self.assertIs(m["body_html_truncated"], over)

    def multipart(self, parts, boundary=b"b-fields"):
        out = msg(headers=b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" +
                  boundary + b"\"\r\n", body=b"")
        for p in parts:
            out += b"--" + boundary + b"\r\n" + p
        return out + b"--" + boundary + b"--\r\n"

    def attachments(self, n):
        parts = [b"Content-Type: text/plain\r\n\r\nthe body\r\n"]
        for i in range(n):
            parts.append(b"Content-Type: application/octet-stream\r\nContent-Disposition: "
                         b"attachment; filename=\"f%d.bin\"\r\nContent-Transfer-Encoding: "
                         b"base64\r\n\r\n" % i + base64.b64encode(b"file %d" % i) + b"\r\n")
        return self.multipart(parts)

    def test_max_attachments(self):
        for n, over in ((2, False), (3, True)):
            with self.subTest(attachments=n):
                body = self.attachments(n)
                want = [a.get_filename() for a in mime_msg(body).iter_attachments()]
                self.assertEqual(len(want), n)
                m = self.message(body, "--set", "max_attachments=2")
                self.assertEqual([a["filename"] for a in m["attachments"]], want[:2])
                names = self.names(m["anomalies"])
                if over:
                    self.assertEqual(names, ["too_many_attachments"])
                    self.assertEqual(m["anomalies"][0]["detail"], "1")  # one counted, not listed
                else:
                    self.assertEqual(names, [])

    def test_mime_max_headers(self):
        # a one-part message of exactly 5 header fields, or 6
        for n, over in ((5, False), (6, True)):
            with self.subTest(fields=n):
                extra = b"".join(b"X-Field-%d: v%d\r\n" % (i, i) for i in range(n - 3))
                body = msg(headers=extra)
                fields = [(k.lower(), str(v)) for k, v in mime_msg(body).items()]
                self.assertEqual(len(fields), n)
                m = self.message(body, "--set", "mime_max_headers=5")
                self.assertEqual(sorted(m["headers"].items()), sorted(fields[:5]))
                self.assertEqual(self.names(m["anomalies"]), ["too_many_headers"] if over else [])
                self.assertEqual(m["body"], "Hello.\r\n")

    def header_block(self, n):
        """A one-part message whose header block holds n bytes of fields, line
        ends included (the empty line after them ends the block)."""
        head = b"From: a@x.test\r\nTo: b@y.test\r\nSubject: fields\r\n"
        block = head + b"X-Pad: " + b"p" * (n - len(head) - len(b"X-Pad: \r\n")) + b"\r\n"
        self.assertEqual(len(block), n)
        body = block + b"\r\nHello.\r\n"
        want = mime_msg(body)
        m = self.message(body, "--set", "mime_header_bytes=1024")  # its minimum
        self.assertEqual((m["from"], m["to"], m["subject"]),
                         (want["from"], [want["to"]], want["subject"]))
        self.assertEqual(m["body"], want.get_payload(decode=True).decode())
        return m, want

    # a block of exactly mime_header_bytes is whole: the empty line that ends it
    # is not its content (it once was flagged, and the body lost)
    def test_mime_header_bytes_at_value(self):
        m, want = self.header_block(1024)
        self.assertEqual(m["anomalies"], [])
        self.assertEqual(m["headers"]["x-pad"], want["x-pad"])

    # one byte past (the last line end), flagged, and the body still found
    def test_mime_header_bytes_one_past(self):
        m, want = self.header_block(1025)
        self.assertEqual(self.names(m["anomalies"]), ["header_too_large"])

    def test_mime_header_bytes_well_past(self):
        m, want = self.header_block(1100)
        self.assertEqual(self.names(m["anomalies"]), ["header_too_large"])
        self.assertTrue(want["x-pad"].startswith(m["headers"]["x-pad"]))  # cut, not replaced
        self.assertLess(len(m["headers"]["x-pad"]), len(want["x-pad"]))

    def nested(self, levels):
        """levels multipart/mixed containers, one in the other, the innermost
        holding a text/plain part."""
        inner = b"Content-Type: text/plain\r\n\r\ndeepest text\r\n"
        for i in reversed(range(levels)):
            b = b"n%d" % i
            inner = b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"\r\n\r\n--" + b + \
                b"\r\n" + inner + b"--" + b + b"--\r\n"
        return b"From: a@x.test\r\nSubject: nested\r\nMIME-Version: 1.0\r\n" + inner

    def test_mime_max_depth(self):
        # mime_max_depth=3: three containers, one in the other, are parsed;
        # a fourth inside them is one opaque part
        for n, over in ((3, False), (4, True)):
            with self.subTest(containers=n):
                body = self.nested(n)
                want = mime_msg(body)
                kinds = [p.get_content_type() for p in want.walk()]
                self.assertEqual(kinds, ["multipart/mixed"] * n + ["text/plain"])
                leaf = list(want.walk())[-1].get_payload(decode=True).decode()
                m = self.message(body, "--set", "mime_max_depth=3")
                if over:
                    self.assertEqual(self.names(m["anomalies"]), ["depth_exceeded"])
                    self.assertIsNone(m["body"])  # the text is inside the opaque part
                    self.assertEqual([a["content_type"] for a in m["attachments"]],
                                     ["multipart/mixed"])
                else:
                    self.assertEqual(m["anomalies"], [])
                    self.assertEqual(m["body"], leaf)
                    self.assertEqual(m["attachments"], [])

    def test_mime_max_parts(self):
        # a multipart/mixed of a body and two attachments: four entities
        # (email's walk() counts the container too)
        body = self.attachments(2)
        want = mime_msg(body)
        self.assertEqual(len(list(want.walk())), 4)
        names = [a.get_filename() for a in want.iter_attachments()]
        text = want.get_body(("plain",)).get_payload(decode=True).decode()
        for limit, over in ((4, False), (3, True)):
            with self.subTest(mime_max_parts=limit):
                m = self.message(body, "--set", "mime_max_parts=%d" % limit)
                self.assertEqual(m["body"], text)
                got = [a["filename"] for a in m["attachments"]]
                if over:
                    self.assertIn("too_many_parts", self.names(m["anomalies"]))
                    self.assertEqual(got, names[:1])  # the rest stays in the last part
                else:
                    self.assertEqual(m["anomalies"], [])
                    self.assertEqual(got, names)


if __name__ == "__main__":
    unittest.main()
