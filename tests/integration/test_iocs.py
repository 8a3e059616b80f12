"""extract_iocs, ioc_keys, ioc_allowlist, ioc_max, ioc_max_bytes and the iocs
analyzer, end to end: message files and a capture.

Truth: the values the test plants in the messages, written out in their
refanged form by hand beside each defanged one (docs/record.md, IOCs). The
engine's own cases (every defang form, the false-positive traps) are in
tests/unit/analyze/test_ioc.c; here: where the texts come from, the options
and the record.
"""
import base64
import os
import sys
import tempfile
import unittest
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import smtptap  # noqa: E402
import pcapgen  # noqa: E402

BODY = ("Dear user,\n"
        "please log in at hxxps://login[.]evil-bank[.]com/verify?id=7 today.\n"
        "Our other server is 198.51.100.23 (not 1.2.3.4.5, nor report.pdf).\n"
        "Write to support[at]evil-bank.com.\n"
        "The file's md5 is D41D8CD98F00B204E9800998ECF8427E.\n")
HTML = ('<html><body><a href="http://phish.example.net/a?x=1&amp;y=2">here</a>'
        '<img src="https://cdn.example.org/pixel.gif"></body></html>')
RECEIVED = "from mx.sender.example (mx.sender.example [192.0.2.44]) by mx.example.test"
XOIP = "[203.0.113.7]"


def message(body=BODY, html=HTML, attachments=()):
    m = EmailMessage()
    m["From"] = "a@example.test"
    m["To"] = "b@example.test"
    m["Subject"] = "iocs"
    m["Received"] = RECEIVED
    m["X-Originating-IP"] = XOIP
    m.set_content(body)
    if html is not None:
        m.add_alternative(html, subtype="html")
    for name, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()


def write(data, suffix=".eml"):
    fd, path = tempfile.mkstemp(prefix="smtptap-iocs-", suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def values(iocs, kind):
    return [v["value"] for v in iocs.get(kind, [])]


def where(iocs, kind, value):
    for v in iocs.get(kind, []):
        if v["value"] == value:
            return v["where"]
    return None


class MessageIocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.eml = write(message())

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.eml)

    def msg(self, *opts, eml=None):
        r = smtptap(*opts, "--eml", eml or self.eml)
        self.assertEqual(r.rc, 0, r.stderr)
        return r.records[0]["transactions"][0]["message"]

    def test_off_by_default(self):
        self.assertNotIn("iocs", self.msg())

    def test_headers_and_bodies_refanged_with_where(self):
        i = self.msg("-O", "smtp:extract_iocs=true")["iocs"]
        self.assertEqual(values(i, "url"), ["https://login.evil-bank.com/verify?id=7",
                                            "http://phish.example.net/a?x=1&y=2",
                                            "https://cdn.example.org/pixel.gif"])
        self.assertEqual(where(i, "url", "http://phish.example.net/a?x=1&y=2"), ["body_html"])
        self.assertEqual(where(i, "ipv4", "198.51.100.23"), ["body"])
        self.assertEqual(where(i, "ipv4", "192.0.2.44"), ["received"])
        self.assertEqual(where(i, "ipv4", "203.0.113.7"), ["x-originating-ip"])
        self.assertNotIn("1.2.3.4", values(i, "ipv4"))
        self.assertEqual(values(i, "email"), ["support@evil-bank.com"])
        self.assertEqual(values(i, "md5"), ["d41d8cd98f00b204e9800998ecf8427e"])
        doms = values(i, "domain")
        for d in ("login.evil-bank.com", "evil-bank.com", "phish.example.net", "cdn.example.org"):
            self.assertIn(d, doms)
        self.assertNotIn("mx.sender.example", doms)  # .example is reserved, not in the list
        self.assertNotIn("report.pdf", doms)
        self.assertNotIn("mx.example.test", doms)  # .test is reserved, not a public suffix
        for kind, lst in i.items():
            self.assertEqual(len({v["value"] for v in lst}), len(lst), kind)

    def test_ioc_keys_choose_the_texts(self):
        i = self.msg("-O", "smtp:extract_iocs=true", "-O", "smtp:ioc_keys=x-originating-ip")["iocs"]
        self.assertEqual(values(i, "ipv4"), ["203.0.113.7"])
        self.assertNotIn("url", i)
        i = self.msg("-O", "smtp:extract_iocs=true", "-O", "smtp:ioc_keys=Body_HTML")["iocs"]
        self.assertEqual(sorted(i), ["domain", "url"])
        self.assertEqual({w for v in i["url"] for w in v["where"]}, {"body_html"})

    def test_omit_body_and_body_max_do_not_bound_the_search(self):
        pad = "x" * 3000 + "\n"
        eml = write(message(body=pad + BODY))
        try:
            for opts in (("-O", "smtp:omit_body=true"), ("--set", "body_max=100")):
                m = self.msg("-O", "smtp:extract_iocs=true", *opts, eml=eml)
                self.assertIn("https://login.evil-bank.com/verify?id=7", values(m["iocs"], "url"),
                              opts)
            self.assertIsNone(self.msg("-O", "smtp:omit_body=true", eml=eml)["body"])
        finally:
            os.unlink(eml)

    def test_caps_are_counted_and_said(self):
        m = self.msg("-O", "smtp:extract_iocs=true", "--set", "ioc_max=2")
        kept = sum(len(v) for v in m["iocs"].values())
        self.assertEqual(kept, 2)
        (a,) = [x for x in m["anomalies"] if x["name"] == "too_many_iocs"]
        self.assertRegex(a["detail"], r"^[1-9][0-9]* more not kept$")
        m = self.msg("-O", "smtp:extract_iocs=true", "--set", "ioc_max_bytes=10",
                     "-O", "smtp:ioc_keys=body")
        (a,) = [x for x in m["anomalies"] if x["name"] == "ioc_bytes_unscanned"]
        self.assertRegex(a["detail"], r"^[1-9][0-9]* bytes not scanned$")
        self.assertNotIn("url", m["iocs"])

    def test_allowlist_drops_known_good(self):
        allow = write(b"# known good\nphish.example.net\nipv4:198.51.100.0/24\n.example.org\n",
                      suffix=".txt")
        try:
            i = self.msg("-O", "smtp:extract_iocs=true", "--set", "ioc_allowlist=" + allow)["iocs"]
            self.assertNotIn("198.51.100.23", values(i, "ipv4"))
            self.assertIn("203.0.113.7", values(i, "ipv4"))
            for v in values(i, "url") + values(i, "domain"):
                self.assertNotIn("example.net", v)
                self.assertNotIn("example.org", v)
            self.assertIn("https://login.evil-bank.com/verify?id=7", values(i, "url"))
        finally:
            os.unlink(allow)

    def test_from_the_config_file_and_its_precedence(self):
        conf = write(b"[smtp]\nextract_iocs = True\nioc_keys = x-originating-ip\n"
                     b"[limits]\nioc_max = 5\n", suffix=".conf")
        try:
            i = self.msg("-c", conf)["iocs"]
            self.assertEqual(values(i, "ipv4"), ["203.0.113.7"])
            self.assertNotIn("iocs", self.msg("-c", conf, "-O", "smtp:extract_iocs=False"))
            i = self.msg("-O", "smtp:ioc_keys=body", "-c", conf)["iocs"]  # any order
            self.assertNotIn("203.0.113.7", values(i, "ipv4"))
            self.assertIn("198.51.100.23", values(i, "ipv4"))
        finally:
            os.unlink(conf)

    def test_a_broken_allowlist_fails_at_start_naming_the_line(self):
        allow = write(b"# fine\n10.0.0.0/8\nipv4:999.1.1.1/99\n", suffix=".txt")
        try:
            r = smtptap("-O", "smtp:extract_iocs=true", "--set", "ioc_allowlist=" + allow,
                        "--eml", self.eml)
            self.assertNotEqual(r.rc, 0)
            self.assertIn("%s:3" % allow, r.stderr)
            self.assertEqual(r.records, [])
        finally:
            os.unlink(allow)


class AttachmentIocs(unittest.TestCase):
    def test_text_attachments_are_searched_binary_ones_are_not(self):
        text = b"beacon to hxxp://c2[.]evil-bank[.]com:8080/gate.php and 198.51.100.99\n"
        binary = b"MZ\x00\x01" + text + bytes(range(256))
        eml = write(message(attachments=[("notes.txt", "text/plain", text),
                                         ("tool.bin", "application/octet-stream", binary),
                                         ("data.bin", "application/octet-stream", text)]))
        try:
            r = smtptap("-O", "smtp:always_dispatch=hash,iocs", "--eml", eml)
            self.assertEqual(r.rc, 0, r.stderr)
            m = r.records[0]["transactions"][0]["message"]
            self.assertNotIn("iocs", m)  # extract_iocs is off: only the analyzer ran
            a = {x["filename"]: x for x in m["attachments"]}
            for name in ("notes.txt", "data.bin"):  # text/*, and valid UTF-8
                i = a[name]["iocs"]
                self.assertEqual(values(i, "url"), ["http://c2.evil-bank.com:8080/gate.php"], name)
                self.assertEqual(values(i, "ipv4"), ["198.51.100.99"], name)
                self.assertEqual(where(i, "ipv4", "198.51.100.99"), ["attachment"], name)
            self.assertIsNone(a["tool.bin"]["iocs"])
        finally:
            os.unlink(eml)


class CaptureIocs(unittest.TestCase):
    def test_the_same_options_apply_to_capture_input(self):
        msg = message().replace(b"\n", b"\r\n")
        stuffed = b"\r\n".join(b"." + ln if ln.startswith(b".") else ln
                               for ln in msg.split(b"\r\n"))
        s = pcapgen.smtp_dialogue(pcapgen.Session().handshake(),
                                  [(b"a@example.test", [b"b@example.test"], stuffed)]).fin()
        cap = write(b"", suffix=".pcap")
        eml = write(msg)
        try:
            pcapgen.write_pcap(cap, s.packets)
            r = smtptap("-O", "smtp:extract_iocs=true", "-r", cap)
            self.assertEqual(r.rc, 0, r.stderr)
            m = r.records[0]["transactions"][0]["message"]
            r2 = smtptap("-O", "smtp:extract_iocs=true", "--eml", eml)
            self.assertEqual(m["iocs"], r2.records[0]["transactions"][0]["message"]["iocs"])
            self.assertIn("203.0.113.7", values(m["iocs"], "ipv4"))
        finally:
            os.unlink(cap)
            os.unlink(eml)


if __name__ == "__main__":
    unittest.main()
