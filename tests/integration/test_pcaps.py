"""Captures recorded from real mail software (pcaps/, see pcaps/README.md):
every session, envelope and message the clients sent must come out exact,
and no secret may reach the output. The manifest was written by the
recording script from what the clients sent, cross-checked against what
Postfix stored, independently of smtptap."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from common import PCAPS, SmtptapCase, parse_endpoint, sha256, smtptap

with open(os.path.join(PCAPS, "manifest.json")) as _f:
    MANIFEST = json.load(_f)


def endpoint_key(r):
    return (r["client"]["ip"], r["client"]["port"])


class RecordedPcaps(SmtptapCase):
    maxDiff = None

    def check_file(self, name, info):
        run = smtptap("-r", os.path.join(PCAPS, name))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), info["smtp_sessions"], name)
        by_client = {endpoint_key(r): r for r in run.records}
        for s in info["sessions"]:
            rec = by_client.get(parse_endpoint(s["client"]))
            self.assertIsNotNone(rec, "%s: no record for %s" % (name, s["client"]))
            self.assertEqual(rec["server"]["port"], s["server_port"])
            self.check_session(run, rec, s)
        with open(os.path.join(run.out, "sessions.jsonl")) as f:
            text = f.read()
        for secret in MANIFEST["auth"]["must_never_appear_in_output"]:
            self.assertNotIn(secret, text)
        return run

    def check_session(self, run, rec, s):
        self.assertEqual((rec["server"]["ip"], rec["server"]["port"]), parse_endpoint(s["server"]))
        if s.get("auth"):
            self.assertEqual(rec["auth"]["mechanism"], s["auth"]["mechanism"])
            self.assertEqual(rec["auth"]["username"], s["auth"]["user"])
            self.assertIs(rec["auth"]["success"], True)  # the transaction after it went through
        else:
            self.assertIsNone(rec["auth"])
        if s.get("starttls"):
            self.assertIsNotNone(rec["starttls"])
            self.assertEqual(rec["starttls"]["code"], 220)
            self.assertIs(rec["starttls"]["encrypted"], True)
        else:
            self.assertIsNone(rec["starttls"])
        self.assertIsNone(rec["tunnel"])  # the clients spoke to Postfix directly
        self.assertEqual(len(rec["transactions"]), len(s["transactions"]))
        for mine, want in zip(rec["transactions"], s["transactions"]):
            self.assertEqual(mine["mail_from"], want["mail_from"])
            self.assertEqual(mine["rcpt_to"], want["rcpt_to"])
            self.assertEqual([r["addr"] for r in mine["rcpt_rejected"]], want["rcpt_rejected"])
            self.assertEqual(mine["status"], want["status"])
            self.assertEqual(mine["mode"], want["mode"])  # null where no DATA/BDAT was sent
            if want["sha256"]:
                m = mine["message"]
                self.assertEqual((m["size"], m["sha256"]), (want["size"], want["sha256"]))
                self.assertEqual(sha256(run.file_bytes(m["eml"])), want["sha256"])
                self.assertEqual(m["missing_bytes"], 0)
                self.assertIs(m["complete"], True)
            else:
                self.assertIsNone(mine["message"])  # no content crossed the wire
            if want["final_reply_code"]:
                self.assertEqual(int(mine["reply"][:3]), want["final_reply_code"], mine["reply"])

    def test_lost_packet_in_big_message(self):
        """Drop one packet in the middle of the big DATA: the session is still
        recorded, missing_bytes says exactly how much, the rest is there."""
        name = "smtp-big.pcap"
        info = MANIFEST["files"][name]
        path = os.path.join(PCAPS, name)
        fields = subprocess.run(
            ["tshark", "-r", path, "-Y", "tcp.len > 0 && tcp.dstport == %d" %
             info["sessions"][0]["server_port"], "-T", "fields", "-e", "frame.number",
             "-e", "tcp.len"], capture_output=True, text=True, check=True).stdout.split("\n")
        rows = [tuple(map(int, l.split())) for l in fields if l.strip()]
        frame, lost = rows[len(rows) // 2]
        tmp = tempfile.mkdtemp(prefix="smtptap-drop-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cut = os.path.join(tmp, "dropped.pcap")
        subprocess.run(["editcap", path, cut, str(frame)], check=True)
        run = smtptap("-r", cut)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        rec = run.records[0]
        self.assertEqual(rec["missing_bytes"]["client"], lost)
        want = info["sessions"][0]["transactions"][-1]
        tx = rec["transactions"][-1]
        self.assertEqual(tx["message"]["missing_bytes"], lost)
        self.assertEqual(tx["message"]["size"], want["size"] - lost)
        self.assertEqual(tx["status"], "accepted")
        # docs/record.md: complete is false when anything of the message is missing
        self.assertIs(tx["message"]["complete"], False)
        self.assertEqual(rec["missing_bytes"]["server"], 0)
        self.assertEqual(rec["close"], "fin")


def _make(name, info):
    def test(self):
        self.check_file(name, info)
    return test


for _name, _info in sorted(MANIFEST["files"].items()):
    setattr(RecordedPcaps, "test_" + _name.replace("-", "_").replace(".", "_"), _make(_name, _info))

if __name__ == "__main__":
    unittest.main()
