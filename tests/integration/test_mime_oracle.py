"""MIME contents against an independent oracle (mime_oracle.py: Python's email
package, with the RFC corrections documented there).

- every tests/mime/*.eml through `smtptap --eml FILE`: one record, whose
  transactions[0].message must hold the oracle's subject, from, to/cc,
  body, body_html and attachments (mime_path, content_type, filename, size,
  md5/sha1/sha256), and every stored attachment file must hash to its
  reported sha256 and lie under OUT/files/; its `parts` must be every
  entity of the oracle's walk, in order, each leaf with the hashes of its
  decoded payload, each container (a multipart with parts) without (the
  files in DEPARTS, read otherwise on purpose, are test_evasion.py's);
- every pcaps/mime-*.pcap(.gz) through `smtptap -r`: envelopes and message
  size/sha256 as in pcaps/mime-manifest.json (written from the clients'
  logs, cross-checked with tshark and Postfix's Maildir), then the stored
  .eml of each message through the same oracle comparison.

One test method per file, so a failure names the message.

Normalisation, and why:
- body/body_html: CRLF -> LF on both sides.  The decoded text keeps the
  message's line ends (CRLF on the wire, LF in a bare-LF message); the record
  format does not promise either, so line ends are not asserted.
- to/cc: compared as (display name, address) pairs; smtptap writes
  `Name <addr>` or `addr`, a display name possibly in double quotes.
  from: the address and the display name must appear in smtptap's string.
- filename: JSON strings are capped at 4096 bytes (docs/record.md), so a
  longer name must come out as a prefix of the oracle's, 4093..4096 bytes
  long in UTF-8 (cut on a character boundary).
"""
import glob
import json
import os
import re
import unittest

from common import PCAPS, ROOT, SmtptapCase, parse_endpoint, sha256, smtptap
from mime_oracle import oracle, qp_decode

MIME_DIR = os.path.join(ROOT, "tests", "mime")
MANIFEST_PATH = os.path.join(PCAPS, "mime-manifest.json")
STRING_CAP = 8192  # file names are kept up to 8 KiB (docs/record.md)


def _norm(s):
    return None if s is None else s.replace("\r\n", "\n")


def _split_addr(s):
    """'Name <a@b>' / '"Name, X" <a@b>' / 'a@b' -> (name, addr)."""
    s = s.strip()
    m = re.match(r'^(.*?)\s*<([^<>]*)>$', s)
    if not m:
        return ("", s)
    name = m.group(1).strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r'\\(.)', r'\1', name[1:-1])
    return (name, m.group(2))


class MimeOracleCase(SmtptapCase):
    maxDiff = None

    def check_message(self, run, msg, data, label):
        """msg: the record's message object; data: the message bytes."""
        want = oracle(data)
        self.assertEqual(msg.get("subject"), want["subject"], label + ": subject")
        if want["from"]:
            got = msg.get("from") or ""
            name, addr = want["from"][0]
            self.assertIn(addr, got, label + ": from address")
            self.assertIn(name, got, label + ": from display name")
        else:
            self.assertIsNone(msg.get("from"), label + ": from")
        for key in ("to", "cc"):
            got = [_split_addr(x) for x in msg.get(key) or []]
            self.assertEqual(got, [tuple(x) for x in want[key]], "%s: %s" % (label, key))
        self.assertEqual(_norm(msg.get("body")), _norm(want["body"]), label + ": body")
        self.assertEqual(_norm(msg.get("body_html")), _norm(want["body_html"]), label + ": body_html")
        all_atts = msg.get("attachments") or []
        got_atts = [a for a in all_atts if ".tnef." not in a["mime_path"]]
        self.check_tnef(all_atts, want, label)
        fields = ("mime_path", "content_type", "size", "sha256", "md5", "sha1")
        self.assertEqual([{k: a.get(k) for k in fields} for a in got_atts],
                         [{k: a[k] for k in fields} for a in want["attachments"]],
                         label + ": attachments (oracle notes: %s)" % want["notes"])
        self.check_parts(run, msg, want, label)
        for got, exp in zip(got_atts, want["attachments"]):
            where = "%s: attachment %s" % (label, exp["mime_path"])
            self.check_filename(got.get("filename"), exp["filename"], where)
            stored = got.get("stored")
            if stored is not None:
                self.assertTrue(re.match(r"^files/[0-9a-f]{2}/[0-9a-f]{64}$", stored), stored)
                self.assertEqual(sha256(run.file_bytes(stored)), exp["sha256"], where + ": stored file")
            elif not got.get("truncated"):
                self.fail(where + ": not stored and not truncated")
        return want

    def check_parts(self, run, msg, want, label):
        """`parts`: every entity Python's walk yields, in order; a leaf's
        decoded bytes hashed as the oracle hashes them, a container (a
        multipart with parts) without size or hashes; every stored part
        file holds the bytes its sha256 names."""
        def view(p):
            if p["size"] is None:
                return {"mime_path": p["mime_path"], "content_type": p["content_type"],
                        "container": True}
            return {"mime_path": p["mime_path"], "content_type": p["content_type"],
                    "container": False, "size": p["size"], "md5": p.get("md5"),
                    "sha1": p.get("sha1"), "sha256": p.get("sha256")}
        def oracle_view(e):
            return {k: e[k] for k in ("mime_path", "content_type", "container", "size", "md5",
                                      "sha1", "sha256") if k in e}
        got = msg.get("parts")
        self.assertIsNotNone(got, label + ": no parts")
        self.assertEqual([view(p) for p in got], [oracle_view(e) for e in want["entities"]],
                         label + ": parts (oracle notes: %s)" % want["notes"])
        for p in got:
            if p["stored"] is not None:
                self.assertEqual(sha256(run.file_bytes(p["stored"])), p["sha256"],
                                 "%s: part %s: stored file" % (label, p["mime_path"]))
            elif p["size"] is not None:
                self.fail("%s: part %s is not stored" % (label, p["mime_path"]))

    def check_tnef(self, atts, want, label):
        """Inner attachments of winmail.dat parts against Debian's tnef(1)."""
        for path, files in want["tnef"].items():
            inner = [a for a in atts if a["mime_path"].startswith(path + ".tnef.")]
            if files is None:
                self.skipTest("tnef(1) is not installed")
            self.assertEqual({a["filename"]: a["sha256"] for a in inner}, files,
                             label + ": TNEF inner attachments of part " + path)

    def check_filename(self, got, exp, where):
        if exp is None or len(exp.encode("utf-8")) <= STRING_CAP:
            self.assertEqual(got, exp, where + ": filename")
            return
        self.assertIsNotNone(got, where + ": filename")
        n = len(got.encode("utf-8"))
        self.assertTrue(exp.startswith(got) and STRING_CAP - 3 <= n <= STRING_CAP,
                        "%s: filename of %d bytes is not the oracle's cut at %d" % (where, n, STRING_CAP))

    # -------------------------------------------------------------- --eml

    def check_eml(self, path):
        with open(path, "rb") as f:
            data = f.read()
        run = smtptap("--eml", path)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 1, run.stderr)
        rec = run.records[0]
        self.assertEqual(len(rec["transactions"]), 1)
        msg = rec["transactions"][0]["message"]
        self.assertEqual((msg["size"], msg["sha256"]), (len(data), sha256(data)))
        self.check_message(run, msg, data, os.path.basename(path))

    # -------------------------------------------------------------- pcaps

    def check_pcap(self, name, info):
        run = smtptap("-r", os.path.join(PCAPS, name))
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), info["smtp_sessions"], name)
        by_client = {(r["client"]["ip"], r["client"]["port"]): r for r in run.records}
        for s in info["sessions"]:
            rec = by_client.get(parse_endpoint(s["client"]))
            self.assertIsNotNone(rec, "%s: no record for %s" % (name, s["client"]))
            self.assertEqual(len(rec["transactions"]), len(s["transactions"]))
            for i, (tx, want) in enumerate(zip(rec["transactions"], s["transactions"])):
                label = "%s session %s txn %d (%s)" % (name, s["client"], i, want["source"])
                self.assertEqual(tx["mail_from"], want["mail_from"], label)
                self.assertEqual(tx["rcpt_to"], want["rcpt_to"], label)
                self.assertEqual(tx["status"], want["status"], label)
                m = tx["message"]
                self.assertEqual((m["size"], m["sha256"]), (want["size"], want["sha256"]), label)
                self.assertEqual(m["missing_bytes"], 0, label)
                data = run.file_bytes(m["eml"])
                self.assertEqual(sha256(data), want["sha256"], label + ": stored .eml")
                self.check_message(run, m, data, label)


class OracleSelfCheck(unittest.TestCase):
    """The oracle on its own, against facts written by hand from the corpus
    sources (no smtptap involved): a wrong oracle would make every
    comparison above meaningless."""

    def view(self, name):
        with open(os.path.join(MIME_DIR, name), "rb") as f:
            return oracle(f.read())

    def test_uuencode_decoded(self):
        a = self.view("29-uuencode.eml")["attachments"]
        want = b"Hello from a uuencoded part!\n" + b"x" * 16 + b"second line\n"
        self.assertEqual([(x["filename"], x["sha256"]) for x in a], [("hello.txt", sha256(want))])

    def test_qp_rfc_rules(self):
        self.assertEqual(qp_decode(b"a=3D=3d=\r\nb=  \t\r\nc \r\nd=ZZ==x=4"), b"a==bc\r\nd=ZZ==x=4")
        self.assertEqual(qp_decode(b"end="), b"end")

    def test_filenames(self):
        names = lambda f: [x["filename"] for x in self.view(f)["attachments"]]
        self.assertEqual(names("05-rfc2231-continuations-utf8.eml"),
                         ["\u65e5\u672c\u8a9e\u306e\u30d5\u30a1\u30a4\u30eb.dat", "Gr\u00fc\u00dfe.txt"])
        self.assertEqual(names("06-rfc2231-iso-8859-1.eml"),
                         ["r\u00e9sum\u00e9.txt", "caf\u00e9-menu\u00a0\u00bd.txt"])
        self.assertEqual(names("08-rfc2047-filename-q.eml"),
                         ["r\u00e9sum\u00e9 final.pdf", "\u20acuro \u201cquoted\u201d.bin"])
        self.assertEqual(names("33-filename-and-extended.eml"), ["\u00e9t\u00e9.bin"])
        self.assertEqual(names("35-filename-nul.eml"), ["evil\x00.txt.exe", "second\x00.exe"])
        long_ = names("36-long-filename-5000.eml")
        self.assertEqual([len(x) for x in long_], [5000, 2604])

    def test_structure(self):
        v = self.view("38-multipart-digest.eml")
        self.assertEqual([(a["mime_path"], a["content_type"]) for a in v["attachments"]],
                         [("2.1", "message/rfc822"), ("2.1.1", "text/plain"), ("2.2", "message/rfc822"),
                          ("2.2.1", "text/plain"), ("2.3", "text/plain")])
        v = self.view("04-rfc822-base64.eml")
        self.assertEqual([a["mime_path"] for a in v["attachments"]], ["2", "2.1", "2.2"])
        self.assertTrue(v["attachments"][0]["size"] > 0)
        v = self.view("22-malformed-content-type.eml")
        self.assertEqual([a["content_type"] for a in v["attachments"]],
                         ["text/plain", "image/png", "text/plain"])
        v = self.view("24-preamble-epilogue.eml")  # ghost.txt: a part after the close delimiter
        self.assertEqual((v["body"], [a["filename"] for a in v["attachments"]]),
                         ("the body", ["a.txt", "ghost.txt"]))
        self.assertEqual([(e["mime_path"], e["container"]) for e in v["entities"]],
                         [("", True), ("1", False), ("2", False), ("3", False)])
        v = self.view("41-first-text-is-attachment.eml")
        self.assertEqual((v["body"], v["body_html"]), ("the real body", "<p>the html body</p>"))
        self.assertEqual([a["mime_path"] for a in v["attachments"]], ["1", "2", "5", "6"])
        self.assertEqual(self.view("40-top-level-non-text.eml")["attachments"][0]["mime_path"], "1")
        self.assertEqual(self.view("12-subject-gb2312.eml")["subject"], "\u4e2d\u6587\u90ae\u4ef6\u6d4b\u8bd5")


def _eml_test(path):
    def test(self):
        self.check_eml(path)
    return test


def _pcap_test(name, info):
    def test(self):
        self.check_pcap(name, info)
    return test


def _ident(s):
    return re.sub(r"[^0-9A-Za-z]+", "_", s)


# Files where smtptap reads the message otherwise than Python's email package on purpose
# (docs/record.md, "Ambiguous MIME: how it is read"): test_evasion.py checks each against
# the file's own bytes instead.
DEPARTS = {
    "51-base64-data-after-padding.eml": "base64 after the padding is decoded on; binascii stops",
    "54-duplicate-content-type-boundaries.eml": "both Content-Types' boundaries delimit parts",
    "55-duplicate-boundary-param.eml": "both boundary values delimit parts; Python takes the first",
    "56-nested-boundary-reused.eml": "innermost multipart first; Python matches the outermost",
}

for _path in sorted(glob.glob(os.path.join(MIME_DIR, "*.eml"))):
    if os.path.basename(_path) in DEPARTS:
        continue
    setattr(MimeOracleCase, "test_eml_" + _ident(os.path.basename(_path)[:-4]), _eml_test(_path))

if os.path.exists(MANIFEST_PATH):
    with open(MANIFEST_PATH) as _f:
        _MANIFEST = json.load(_f)
    for _name, _info in sorted(_MANIFEST["files"].items()):
        setattr(MimeOracleCase, "test_pcap_" + _ident(_name), _pcap_test(_name, _info))

if __name__ == "__main__":
    unittest.main()
