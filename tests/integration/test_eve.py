"""record_format = eve: the records as Suricata EVE smtp and fileinfo events (output/eve.c).

Two ways in: a small C driver built here against the sanitized library hands each line of a
normal run's sessions.jsonl to st_eve_text, and the command itself with --record-format eve
(which must write exactly the driver's events, in the same order).

Truth, never the code under test: pcaps/manifest.json (endpoints, envelopes, message sha256);
the nested records of a normal run of the same capture (each EVE field equal to the record field
it comes from, in Suricata's value format: "<path>", IPv6 written whole as Python's
ipaddress.exploded writes it, times as CreateIsoTimeString writes them in UTC); hashlib over the
stored files; Python's email package over the stored .eml (X-Mailer, Message-ID) and over a
message it builds with a URL in its body; flow_id from hashlib (the first 8 bytes of SHA-256 of
the uid, big endian, cut to Suricata's 51 bits). Suricata's own EVE schema (etc/schema.json of
Suricata 8.0) validates every event when it is found (SMTPTAP_EVE_SCHEMA, or
tests/support/suricata-eve-schema.json); the only key added to it is the "smtptap" object.
"""
import base64
import datetime
import email
import email.message
import email.policy
import hashlib
import ipaddress
import json
import os
import subprocess
import tempfile
import unittest

from common import (BIN, BUILD, ENV, PCAPS, ROOT, jsonschema, parse_endpoint, schema_errors,
                    smtptap)
from pcapgen import Session, write_pcap

OPTS = ["--set", "always_dispatch=hash,magic", "--set", "extract_iocs=true"]
CAPTURES = ("smtp-pipelining.pcap", "smtp-multi-transaction.pcap", "smtp-ipv6.pcap",
            "smtp-rcpt-rejected.pcap", "smtp-four-sessions.pcap", "smtp-starttls.pcap",
            "smtp-data-rejected.pcap", "mime-swaks.pcap", "mime-mutt.pcap", "mime-builder.pcap")
SCHEMA_PATHS = [os.environ.get("SMTPTAP_EVE_SCHEMA", ""),
                os.path.join(ROOT, "tests", "support", "suricata-eve-schema.json")]

DRIVER = r'''
#include <stdio.h>
#include <stdlib.h>
#include "output/eve.h"
static void out(void *arg, char *line)
{
    (void)arg;
    puts(line ? line : "NULL");
    free(line);
}
int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0)
        if (st_eve_text(line, (size_t)n, out, NULL) < 0)
            return 3;
    free(line);
    return 0;
}
'''


def ldlibs():
    with open(os.path.join(ROOT, "mk", "common.mk")) as f:
        for line in f:
            if line.startswith("LDLIBS"):
                return line.split(":=", 1)[1].split()
    raise AssertionError("no LDLIBS in mk/common.mk")


def build_driver():
    d = tempfile.mkdtemp(prefix="smtptap-eve-")
    src, exe = os.path.join(d, "drv.c"), os.path.join(d, "drv")
    with open(src, "w") as f:
        f.write(DRIVER)
    p = subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-g",
                        "-fsanitize=address,undefined", "-I" + ROOT, "-I" + os.path.join(ROOT,
                        "include"), src, os.path.join(BUILD, "asan", "libsmtptap.a"), *ldlibs(),
                        "-o", exe], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("the EVE driver does not build:\n" + p.stderr)
    return exe


def eve_schema():
    for path in SCHEMA_PATHS:
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                schema = json.load(f)
            schema["properties"]["smtptap"] = {"type": "object"}
            return jsonschema.Draft202012Validator(schema)
    return None


def flow_id(uid):
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big") & (2 ** 51 - 1)


def eve_ip(ip):
    a = ipaddress.ip_address(ip)
    return a.exploded if a.version == 6 else str(a)


def eve_time(iso_z):
    """The record's time (UTC, ...Z) as the datetime the EVE timestamp must parse to."""
    return datetime.datetime.strptime(iso_z, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def manifest():
    with open(os.path.join(PCAPS, "manifest.json")) as f:
        return json.load(f)["files"]


def attachment_message(payloads):
    parts = [b"From: a@example.com\r\nTo: b@example.com\r\nSubject: cut\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n"
             b"Content-Type: text/plain\r\n\r\nsee attached\r\n"]
    for name, data in payloads:
        b64 = base64.b64encode(data)
        lines = b"\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
        parts.append(b"--B\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Transfer-Encoding: base64\r\n"
                     b"Content-Disposition: attachment; filename=\"" + name + b"\"\r\n\r\n" +
                     lines + b"\r\n")
    return b"".join(parts) + b"--B--\r\n"


def up_to_data(s):
    s.handshake()
    for frm, line in (("s", b"220 mx.example.com ESMTP\r\n"), ("c", b"EHLO c.example.com\r\n"),
                      ("s", b"250 mx.example.com\r\n"), ("c", b"MAIL FROM:<a@example.com>\r\n"),
                      ("s", b"250 2.1.0 Ok\r\n"), ("c", b"RCPT TO:<b@example.com>\r\n"),
                      ("s", b"250 2.1.5 Ok\r\n"), ("c", b"DATA\r\n"), ("s", b"354 go\r\n")):
        s.send(frm, line)
    return s


def lossy_sessions():
    """Two sessions with a.bin and b.bin: the first loses the 4th segment of its message
    (inside a.bin; the server's ACK of it stays), the second ends three quarters into it."""
    payload = bytes(range(256)) * 40
    msg = attachment_message([(b"a.bin", payload), (b"b.bin", payload[::-1])])
    s1 = up_to_data(Session(client=("10.0.0.1", 40001)))
    start = len(s1.packets)
    s1.client(msg + b".\r\n")
    assert s1.packets[start + 6][2] == "data-c"
    del s1.packets[start + 6]
    s1.server(b"250 2.0.0 Ok\r\n").client(b"QUIT\r\n").server(b"221 Bye\r\n").fin()
    s2 = up_to_data(Session(client=("10.0.0.1", 40002), t0=1700000100.0))
    s2.client(msg[:len(msg) * 3 // 4]).fin()
    return s1.packets + s2.packets


class Eve(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.drv = build_driver()
        cls.schema = eve_schema()

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", os.path.dirname(cls.drv)])

    def driver_events(self, run):
        with open(os.path.join(run.out, "sessions.jsonl"), "rb") as f:
            p = subprocess.run([self.drv], stdin=f, env=ENV, capture_output=True, timeout=120)
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn("runtime error", err)
        lines = p.stdout.decode("utf-8").splitlines()
        self.assertNotIn("NULL", lines, "an event could not be built")
        return lines

    def command_events(self, *args):
        out = tempfile.mkdtemp(prefix="smtptap-eve-out-")
        p = subprocess.run([BIN, "-q", "-o", out, "--record-format", "eve", *args], env=ENV,
                           capture_output=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr.decode("utf-8", "replace")[-3000:])
        with open(os.path.join(out, "sessions.jsonl"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        subprocess.run(["rm", "-rf", out])
        nested = sum('"transactions":' in x for x in lines)
        self.assertEqual(nested, 0, "--record-format eve wrote nested records: record_format is "
                         "not wired in core/smtptap.c (st_core_emit_text) yet")
        return lines

    # -- the oracle: every event against the record it comes from --------------------------

    def check_header(self, ev, rec, tx):
        self.assertEqual(ev["flow_id"], flow_id(rec["uid"]))
        self.assertEqual(ev["smtptap"]["uid"], rec["uid"])
        ts = (tx or {}).get("ts_end") or rec["ts_end"]
        self.assertRegex(ev["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000$")
        self.assertEqual(datetime.datetime.strptime(ev["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z"),
                         eve_time(ts))
        if "client" not in rec:  # a message file: no network fields
            for k in ("src_ip", "src_port", "dest_ip", "dest_port", "proto", "ip_v", "app_proto"):
                self.assertNotIn(k, ev)
            return
        self.assertEqual(ev["src_ip"], eve_ip(rec["client"]["ip"]))
        self.assertEqual(ev["src_port"], rec["client"]["port"])
        self.assertEqual(ev["dest_ip"], eve_ip(rec["server"]["ip"]))
        self.assertEqual(ev["dest_port"], rec["server"]["port"])
        self.assertEqual(ev["proto"], "TCP")
        self.assertEqual(ev["ip_v"], ipaddress.ip_address(rec["client"]["ip"]).version)
        self.assertEqual(ev["community_id"], rec["community_id"])

    def check_smtp(self, smtp, rec, tx, cut=False):
        want = {}
        if rec.get("helo") is not None:
            want["helo"] = rec["helo"]
        if tx and tx["mail_from"] is not None:
            want["mail_from"] = "<%s>" % tx["mail_from"]
        if tx and tx["rcpt_to"] and not cut:
            want["rcpt_to"] = ["<%s>" % r for r in tx["rcpt_to"]]
        self.assertEqual(smtp, want)

    def check_email(self, em, run, msg, extended, cut=False):
        want = {}
        if msg["from"] is not None:
            want["from"] = msg["from"]
        for k in ("to", "cc"):
            if msg[k]:
                want[k] = msg[k]
        want["status"] = "PARSE_DONE"
        names = [a["filename"] for a in msg["attachments"] if a["filename"] is not None]
        if names:
            want["attachment"] = names
        urls = [u["value"] for u in (msg.get("iocs") or {}).get("url", [])
                if {"body", "body_html"} & set(u["where"])]
        if urls:
            want["url"] = urls
        if extended:
            parsed = email.message_from_bytes(run.file_bytes(msg["eml"]),
                                              policy=email.policy.default)
            if msg["message_id"] is not None:
                want["message_id"] = str(parsed["Message-ID"])
            if msg["subject"] is not None:
                want["subject"] = msg["subject"]
            if parsed["X-Mailer"] is not None:
                want["x_mailer"] = str(parsed.get_all("X-Mailer")[0])
            if msg["received"]:
                want["received"] = msg["received"]
            if msg["date"] is not None:
                want["date"] = msg["date"]
        if cut:  # the lists a fileinfo event repeats, left out past 64 KiB
            for k in ("to", "cc", "attachment", "url"):
                want.pop(k, None)
        self.assertEqual(list(em), list(want), "keys in Suricata's order")
        self.assertEqual(em, want)

    def check_fileinfo(self, fi, run, att, tx_id):
        self.assertEqual(fi["filename"], att["filename"] if att["filename"] is not None else "")
        self.assertEqual(fi["size"], att["size"])
        self.assertEqual(fi["tx_id"], tx_id)
        self.assertEqual(fi["gaps"], att["missing_bytes"] > 0)
        self.assertEqual(fi["state"], "CLOSED" if att["complete"] else "TRUNCATED")
        self.assertEqual(fi["stored"], att["stored"] is not None)
        if att.get("magic"):
            self.assertEqual(fi["magic"], att["magic"]["description"])
        if att["stored"] is not None and att["complete"]:
            data = run.file_bytes(att["stored"])
            self.assertEqual(len(data), fi["size"])
            self.assertEqual(fi["md5"], hashlib.md5(data).hexdigest())
            self.assertEqual(fi["sha1"], hashlib.sha1(data).hexdigest())
            self.assertEqual(fi["sha256"], hashlib.sha256(data).hexdigest())
        if not att["complete"]:
            self.assertNotIn("md5", fi)
            self.assertNotIn("sha1", fi)
        if att["missing_bytes"]:
            self.assertNotIn("sha256", fi)
        self.assertNotIn("file_id", fi)

    def check_record(self, run, rec, events):
        """events: this record's, in order."""
        want = []
        for i, tx in enumerate(rec["transactions"]):
            atts = (tx["message"] or {}).get("attachments", [])
            want += [("fileinfo", i, a) for a in atts] + [("smtp", i, None)]
        tx_ids = [t.get("trans_depth", i + 1) - 1 for i, t in enumerate(rec["transactions"])]
        if not rec["transactions"]:
            want = [("smtp", 0, None)]
        self.assertEqual([e["event_type"] for e in events], [w[0] for w in want], rec["uid"])
        for ev, (kind, i, att) in zip(events, want):
            tx = rec["transactions"][i] if rec["transactions"] else None
            msg = tx["message"] if tx else None
            cut = ev["smtptap"].get("metadata_cut", False)
            self.check_header(ev, rec, tx)
            self.check_smtp(ev["smtp"], rec, tx, cut)
            if kind == "fileinfo":
                self.assertNotIn("tx_id", ev)
                self.assertEqual(ev.get("app_proto"), "smtp" if "client" in rec else None)
                self.assertLess(len(json.dumps(ev["smtp"])) + len(json.dumps(ev["email"])),
                                70000 if cut else 1 << 30)
                self.check_email(ev["email"], run, msg, extended=False, cut=cut)
                self.check_fileinfo(ev["fileinfo"], run, att, tx_ids[i])
                self.assertEqual(ev["smtptap"]["mime_path"], att["mime_path"])
                self.assertEqual(ev["smtptap"]["stored"], att["stored"])
                continue
            self.assertEqual(ev["tx_id"], tx_ids[i] if tx else 0)
            if msg:
                self.check_email(ev["email"], run, msg, extended=True)
                self.assertEqual(ev["smtptap"]["message"]["sha256"], msg["sha256"])
            else:
                self.assertNotIn("email", ev)
            if tx:
                self.assertEqual(ev["smtptap"]["status"], tx["status"])
                self.assertEqual(ev["smtptap"].get("rcpt_rejected", []), tx["rcpt_rejected"])
        self.validate(events)

    def validate(self, events):
        if self.schema is None:
            return
        for ev in events:
            errors = schema_errors(self.schema, ev)
            self.assertFalse(errors, "not valid against Suricata's EVE schema:\n  " +
                             "\n  ".join(errors) + "\n" + json.dumps(ev)[:2000])

    def check_run(self, run, lines):
        events = [json.loads(line) for line in lines]
        self.assertEqual(len({e["flow_id"] for e in events}), len(run.records))
        for rec in run.records:
            mine = [e for e in events if e["smtptap"]["uid"] == rec["uid"]]
            self.check_record(run, rec, mine)
        self.assertEqual(sum(len([e for e in events if e["smtptap"]["uid"] == r["uid"]])
                             for r in run.records), len(events))
        return events

    # -- the tests ---------------------------------------------------------------------------

    def test_events_follow_the_records_and_the_manifest(self):
        files = manifest()
        for name in CAPTURES:
            with self.subTest(capture=name):
                run = smtptap("-r", os.path.join(PCAPS, name), *OPTS)
                self.assertTrue(run.records, name)
                events = self.check_run(run, self.driver_events(run))
                self.check_manifest(files.get(name), events)

    def check_manifest(self, m, events):
        """The envelopes, endpoints and message digests the recording says were sent."""
        if not m:
            return
        smtp = [e for e in events if e["event_type"] == "smtp"]
        got = sorted((e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"],
                      e["smtp"].get("mail_from"), tuple(e["smtp"].get("rcpt_to", [])),
                      (e["smtptap"].get("message") or {}).get("sha256"))
                     for e in smtp if "status" in e["smtptap"])
        want = []
        for s in m["sessions"]:
            (cip, cport), (sip, sport) = parse_endpoint(s["client"]), parse_endpoint(s["server"])
            for t in s["transactions"]:
                want.append((eve_ip(cip), cport, eve_ip(sip), sport,
                             None if t["mail_from"] is None else "<%s>" % t["mail_from"],
                             tuple("<%s>" % r for r in t["rcpt_to"]), t.get("sha256")))
        self.assertEqual(got, sorted(want))

    def test_message_file_has_no_network_fields_and_body_urls(self):
        msg = email.message.EmailMessage()
        msg["From"] = "Alice <alice@example.test>"
        msg["To"] = "bob@example.test"
        msg["Subject"] = "links"
        msg["Message-ID"] = "<links@example.test>"
        msg["X-Mailer"] = "hand made"
        msg.set_content("Read http://www.example.com/path?q=1 now.\n")
        msg.add_attachment(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", maintype="application",
                           subtype="pdf", filename="r.pdf")
        d = tempfile.mkdtemp(prefix="smtptap-eve-eml-")
        path = os.path.join(d, "m.eml")
        with open(path, "wb") as f:
            f.write(msg.as_bytes(policy=email.policy.SMTP))
        run = smtptap("--eml", path, *OPTS)
        events = self.check_run(run, self.driver_events(run))
        self.assertEqual([e["event_type"] for e in events], ["fileinfo", "smtp"])
        self.assertEqual(events[1]["email"]["url"], ["http://www.example.com/path?q=1"])
        self.assertEqual(events[1]["email"]["x_mailer"], "hand made")
        self.assertEqual(events[0]["fileinfo"]["filename"], "r.pdf")
        self.assertEqual(events[1]["smtptap"]["source"], "eml")
        self.assertEqual(events[1]["smtptap"]["file"], path)
        subprocess.run(["rm", "-rf", d])

    def test_lost_and_cut_files_are_truncated(self):
        """A segment lost inside a.bin (a gap: TRUNCATED, gaps true, no hash at all) and a
        session that ends inside b.bin (TRUNCATED: sha256 of what was seen, no md5 or sha1),
        as Suricata's FileFlagGap and FileCloseFilePtr say of such files."""
        d = tempfile.mkdtemp(prefix="smtptap-eve-cut-")
        path = os.path.join(d, "cut.pcap")
        write_pcap(path, lossy_sessions())
        run = smtptap("-r", path, *OPTS)
        atts = [(a["filename"], a["complete"], a["missing_bytes"] > 0) for r in run.records
                for t in r["transactions"] for a in t["message"]["attachments"]]
        self.assertEqual(atts, [("a.bin", False, True), ("b.bin", True, False),
                                ("a.bin", True, False), ("b.bin", False, False)])
        events = self.check_run(run, self.driver_events(run))
        files = [e["fileinfo"] for e in events if e["event_type"] == "fileinfo"]
        self.assertEqual([(f["state"], f["gaps"], "sha256" in f, "md5" in f) for f in files],
                         [("TRUNCATED", True, False, False), ("CLOSED", False, True, True),
                          ("CLOSED", False, True, True), ("TRUNCATED", False, True, False)])
        seen = run.file_bytes([e for e in events if e["event_type"] == "fileinfo"][3]
                              ["smtptap"]["stored"])
        self.assertEqual(files[3]["sha256"], hashlib.sha256(seen).hexdigest())
        self.assertEqual(files[3]["size"], len(seen))
        subprocess.run(["rm", "-rf", d])

    def test_command_writes_the_same_events(self):
        for args in (["-r", os.path.join(PCAPS, "smtp-pipelining.pcap")],
                     ["-r", os.path.join(PCAPS, "mime-mutt.pcap")],
                     ["-r", os.path.join(PCAPS, "smtp-starttls.pcap")]):
            with self.subTest(args=args[-1]):
                run = smtptap(*args, *OPTS)
                self.assertEqual(self.command_events(*args, *OPTS), self.driver_events(run))

    def test_suricata_schema(self):
        if self.schema is None:
            self.skipTest("Suricata's EVE schema not found: set SMTPTAP_EVE_SCHEMA to "
                          "etc/schema.json of Suricata 8.0")
        # the schema is strict: a key it does not know is an error, so passing means something
        bad = {"timestamp": "2026-01-01T00:00:00.000000+0000", "event_type": "smtp",
               "smtp": {"helo": "x", "nosuch": 1}}
        self.assertTrue(schema_errors(self.schema, bad))
        run = smtptap("-r", os.path.join(PCAPS, "mime-builder.pcap"), *OPTS)
        self.validate([json.loads(line) for line in self.driver_events(run)])

    def test_unknown_record_format_is_refused(self):
        out = tempfile.mkdtemp(prefix="smtptap-eve-bad-")
        p = subprocess.run([BIN, "-q", "-o", out, "--record-format", "json", "-r",
                            os.path.join(PCAPS, "smtp-pipelining.pcap")],
                           env=ENV, capture_output=True, text=True, timeout=60)
        subprocess.run(["rm", "-rf", out])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("record_format: expected smtptap or eve, not 'json'", p.stderr)


if __name__ == "__main__":
    unittest.main()
