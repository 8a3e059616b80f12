"""Analyzers named by always_dispatch, on every attachment.

magic: the MIME type libmagic gives an attachment's decoded bytes must be
what file(1) says of the same bytes written to a file (file(1) is the
oracle: the same database, reached through another program and a file,
not a buffer); a PE executable declared application/pdf and named
invoice.pdf gives content_type_mismatch with its mime_path, and nothing
else does. Without magic in always_dispatch there is no magic field.

hash: md5, sha1, sha256, sha512 of each attachment are hashlib's of its
decoded bytes; ssdeep is what ssdeep(1) -b prints for the same bytes."""
import hashlib
import shutil
import base64
import io
import os
import struct
import subprocess
import tempfile
import unittest
import zipfile
import zlib
from email.message import EmailMessage

from common import smtptap


def png():
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"\x00\xff\x00\x00" * 1
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def gif():
    return (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00"
            b"\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def jpeg():
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            b"\xff\xdb\x00C\x00" + bytes(range(64)) + b"\xff\xd9")


def pdf():
    return b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def zipped():
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("a.txt", "hello " * 100)
    return b.getvalue()


def pe():
    """A minimal PE32 header: MZ, e_lfanew at 0x3c, PE\\0\\0, a COFF header."""
    mz = bytearray(b"MZ" + b"\x00" * 0x3e)
    struct.pack_into("<I", mz, 0x3c, 0x40)
    coff = struct.pack("<HHIIIHH", 0x14c, 1, 0, 0, 0, 0xe0, 0x102)
    opt = struct.pack("<H", 0x10b) + b"\x00" * (0xe0 - 2)
    return bytes(mz) + b"PE\x00\x00" + coff + opt + b"\x00" * 512


PARTS = [("pixel.png", "image/png", png()), ("anim.gif", "image/gif", gif()),
         ("photo.jpg", "image/jpeg", jpeg()), ("doc.pdf", "application/pdf", pdf()),
         ("files.zip", "application/zip", zipped()),
         ("invoice.pdf", "application/pdf", pe())]


def message(parts=PARTS):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.test", "b@example.test", "types"
    m.set_content("see attached\n")
    for name, ctype, data in parts:
        main, sub = ctype.split("/")
        m.add_attachment(data, maintype=main, subtype=sub, filename=name)
    fd, path = tempfile.mkstemp(suffix=".eml")
    with os.fdopen(fd, "wb") as f:
        f.write(m.as_bytes())
    return path


def file_mime(data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return subprocess.run(["file", "-b", "--mime-type", f.name], capture_output=True,
                              text=True, check=True).stdout.strip()


def ssdeep_of(data):
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["ssdeep", "-b", "-s", f.name], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    return out[-1].split(",")[0]


class Hash(unittest.TestCase):
    def test_digests_and_ssdeep_against_hashlib_and_ssdeep(self):
        if not shutil.which("ssdeep"):
            self.skipTest("ssdeep(1) is not installed (sh scripts/deps.sh test)")
        big = bytes((i * 7 + i // 251) % 256 for i in range(300000))  # ssdeep needs some length
        parts = PARTS + [("big.bin", "application/octet-stream", big)]
        eml = message(parts)
        try:
            r = smtptap("--set", "hash_algorithms=md5, sha1,sha256,sha512,ssdeep", "--eml", eml)
        finally:
            os.unlink(eml)
        self.assertEqual(r.rc, 0, r.stderr)
        atts = {a["filename"]: a for a in r.records[0]["transactions"][0]["message"]["attachments"]}
        for name, _, data in parts:
            a = atts[name]
            for alg in ("md5", "sha1", "sha256", "sha512"):
                self.assertEqual(a[alg], hashlib.new(alg, data).hexdigest(), (name, alg))
            self.assertEqual(a["ssdeep"], ssdeep_of(data), name)

    def test_only_the_digests_asked_for(self):
        """hash_algorithms decides which digests are computed and listed (default md5, sha1,
        sha256, as stoQ's hash worker); sha256 names the object and is always there, in the
        attachment and in its part; a digest not asked for is absent from the attachment and
        null in parts."""
        eml = message(PARTS)
        try:
            cases = [(None, {"md5", "sha1", "sha256"}),
                     ("sha256", {"sha256"}),
                     ("sha512", {"sha256", "sha512"}),
                     ("ssdeep,md5", {"sha256", "md5", "ssdeep"})]
            for value, want in cases:
                args = ["--set", f"hash_algorithms={value}"] if value is not None else []
                r = smtptap(*args, "--eml", eml)
                self.assertEqual(r.rc, 0, r.stderr)
                m = r.records[0]["transactions"][0]["message"]
                parts = {p["mime_path"]: p for p in m["parts"]}
                for (name, _, data), a in zip(PARTS, m["attachments"]):
                    got = {k for k in ("md5", "sha1", "sha256", "sha512", "ssdeep") if k in a}
                    self.assertEqual(got, want, (value, name))
                    for alg in want - {"ssdeep"}:
                        self.assertEqual(a[alg], hashlib.new(alg, data).hexdigest(), (value, alg))
                    p = parts[a["mime_path"]]
                    for alg in ("md5", "sha1", "sha256", "sha512"):
                        exp = hashlib.new(alg, data).hexdigest() if alg in want else None
                        self.assertEqual(p[alg], exp, (value, name, alg))
            r = smtptap("--set", "hash_algorithms=md5,crc32", "--eml", eml)
            self.assertEqual(r.rc, 1, r.stderr)  # as an unknown always_dispatch name
            self.assertIn("hash_algorithms: no algorithm 'crc32'", r.stderr)
            self.assertEqual(r.records, [])
        finally:
            os.unlink(eml)


class Magic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.eml = message()

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.eml)

    def run_eml(self, dispatch):
        r = smtptap("-O", "smtp:always_dispatch=" + dispatch, "--eml", self.eml)
        self.assertEqual(r.rc, 0, r.stderr)
        return r.records[0]["transactions"][0]["message"]

    def test_types_as_file_says_and_the_disguised_executable(self):
        m = self.run_eml("hash,magic")
        atts = {a["filename"]: a for a in m["attachments"]}
        for name, ctype, data in PARTS:
            a = atts[name]
            self.assertEqual(a["size"], len(data), name)
            self.assertEqual(a["magic"]["mime"], file_mime(data), name)
            self.assertEqual(a["magic"]["bytes"], len(data), name)
            self.assertTrue(a["magic"]["description"], name)
        mism = [x for x in m["anomalies"] if x["name"] == "content_type_mismatch"]
        self.assertEqual(len(mism), 1, m["anomalies"])
        self.assertEqual(mism[0]["mime_path"], atts["invoice.pdf"]["mime_path"])
        self.assertIn("declared application/pdf", mism[0]["detail"])
        self.assertIn(file_mime(pe()), mism[0]["detail"])

    def test_no_magic_unless_dispatched(self):
        m = self.run_eml("hash")
        for a in m["attachments"]:
            self.assertNotIn("magic", a)
        self.assertFalse([x for x in m["anomalies"] if x["name"] == "content_type_mismatch"])

    def test_order_of_dispatch_is_the_order_of_fields(self):
        m = self.run_eml("magic,hash")
        keys = list(m["attachments"][0])
        self.assertLess(keys.index("magic"), keys.index("md5"))


if __name__ == "__main__":
    unittest.main()


RULES = {
    "marker.yar": r'''
rule PlantedMarker : evil test
{
    meta:
        author = "smtptap tests"
        score = 7
        active = true
    strings:
        $m = "SMTPTAP-YARA-MARKER"
        $mz = { 4D 5A }
        $never = "not in the attachment at all"
    condition:
        $m and $mz and not $never
}
''',
    "other.yara": 'rule NeverMatches { strings: $x = "no such bytes anywhere 1234567890" '
                  'condition: $x }\n',
    "ignored.txt": "this is not a rule file and must not be compiled {{{\n",
}
PLANTED = b"MZ" + b"\x00" * 100 + b"SMTPTAP-YARA-MARKER" + b"\x00" * 100


class Yara(unittest.TestCase):
    """Truth: the rules written here and the bytes planted for them; the match
    must name exactly the rule, file, tags, meta and matched strings written."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smtptap-yara-")
        cls.rules = os.path.join(cls.dir, "rules")
        os.makedirs(cls.rules)
        for name, text in RULES.items():
            with open(os.path.join(cls.rules, name), "w") as f:
                f.write(text)
        cls.eml = message([("planted.exe", "application/octet-stream", PLANTED),
                           ("clean.bin", "application/octet-stream", b"nothing to see" * 10),
                           ("late.bin", "application/octet-stream", b"\x00" * 5000 + PLANTED)])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)
        os.unlink(cls.eml)

    def atts(self, *opts):
        r = smtptap("-O", "smtp:always_dispatch=hash,yara", *opts, "--eml", self.eml)
        self.assertEqual(r.rc, 0, r.stderr)
        return {a["filename"]: a for a in r.records[0]["transactions"][0]["message"]["attachments"]}

    def test_match_and_non_match_from_a_directory(self):
        a = self.atts("--yara-rules", self.rules)
        (m,) = a["planted.exe"]["yara"]["matches"]
        self.assertEqual(m, {"rule": "PlantedMarker", "namespace": "marker.yar",
                             "tags": ["evil", "test"],
                             "meta": {"author": "smtptap tests", "score": 7, "active": True},
                             "strings": ["$m", "$mz"]})
        self.assertEqual(a["planted.exe"]["yara"]["scanned_bytes"], len(PLANTED))
        self.assertFalse(a["planted.exe"]["yara"]["truncated"])
        self.assertIsNone(a["planted.exe"]["yara"]["skipped"])
        self.assertEqual(a["clean.bin"]["yara"]["matches"], [])
        self.assertEqual(len(a["late.bin"]["yara"]["matches"]), 1)

    def test_one_rule_file_and_the_config_file_section(self):
        c = os.path.join(self.dir, "y.conf")
        with open(c, "w") as f:
            f.write("[yara]\nrules = %s\n" % os.path.join(self.rules, "other.yara"))
        a = self.atts("-c", c)
        self.assertEqual(a["planted.exe"]["yara"]["matches"], [])  # only NeverMatches compiled

    def test_yara_max_bytes_scans_the_first_bytes_and_says_so(self):
        a = self.atts("--yara-rules", self.rules, "--set", "yara_max_bytes=4000")
        late = a["late.bin"]["yara"]
        self.assertEqual((late["matches"], late["scanned_bytes"], late["truncated"]), ([], 4000, True))
        self.assertEqual(len(a["planted.exe"]["yara"]["matches"]), 1)  # within the first bytes

    def test_not_stored_is_scanned_from_a_copy_that_is_removed(self):
        r = smtptap("-O", "smtp:always_dispatch=hash,yara", "--yara-rules", self.rules,
                    "-O", "smtp:archive_attachments=false", "--eml", self.eml)
        out = r.out
        self.assertEqual(r.rc, 0, r.stderr)
        a = {x["filename"]: x for x in r.records[0]["transactions"][0]["message"]["attachments"]}
        self.assertEqual([m["rule"] for m in a["planted.exe"]["yara"]["matches"]],
                         ["PlantedMarker"])
        self.assertEqual(a["late.bin"]["yara"]["scanned_bytes"], 5000 + len(PLANTED))
        self.assertEqual(a["clean.bin"]["yara"]["matches"], [])
        for x in a.values():
            self.assertIsNone(x["stored"])
            self.assertIsNone(x["yara"]["skipped"])
        self.assertFalse(os.path.exists(os.path.join(out, "files")))
        left = [f for d, _, fs in os.walk(out) for f in fs if ".tmp" in d]
        self.assertEqual(left, [], "scratch copies left behind")

    def test_over_the_store_cap_is_scanned_over_the_part_kept(self):
        # late.bin: 5000 zero bytes, then the planted bytes; a cap of 5100
        # keeps the MZ but not the marker, a cap above its size keeps all
        a = self.atts("--yara-rules", self.rules, "--set", "attachment_store_max=5100")
        late = a["late.bin"]
        self.assertEqual((late["stored"], late["truncated"]), (None, True))
        self.assertEqual((late["yara"]["matches"], late["yara"]["scanned_bytes"],
                          late["yara"]["truncated"]), ([], 5100, True))
        self.assertEqual(len(a["planted.exe"]["yara"]["matches"]), 1)  # under the cap: stored

    def test_yara_scan_messages_scans_the_whole_message(self):
        with open(self.eml, "rb") as f:
            raw = f.read()
        for stored in ("true", "false"):
            r = smtptap("-O", "smtp:always_dispatch=hash", "--yara-rules", self.rules,
                        "--set", "yara_scan_messages=true", "--set", "store_messages=" + stored,
                        "--eml", self.eml)
            self.assertEqual(r.rc, 0, r.stderr)
            m = r.records[0]["transactions"][0]["message"]
            # the planted bytes are base64 in the message: only rules over the
            # raw text can match it, so write one that does
            self.assertEqual(m["yara"]["scanned_bytes"], len(raw), stored)
            self.assertEqual(m["yara"]["matches"], [], stored)
            for a in m["attachments"]:
                self.assertNotIn("yara", a)
        rule = os.path.join(self.dir, "raw.yar")
        with open(rule, "w") as f:
            f.write('rule RawSubject { strings: $s = "Content-Disposition" condition: $s }\n')
        r = smtptap("--yara-rules", rule, "--set", "yara_scan_messages=true", "--eml", self.eml)
        m = r.records[0]["transactions"][0]["message"]
        self.assertIn(b"Content-Disposition", raw)
        self.assertEqual([x["rule"] for x in m["yara"]["matches"]], ["RawSubject"])
        r = smtptap("--eml", self.eml)
        self.assertNotIn("yara", r.records[0]["transactions"][0]["message"])

    def test_broken_rules_fail_at_start_naming_file_and_line(self):
        bad = os.path.join(self.dir, "bad.yar")
        with open(bad, "w") as f:
            f.write("rule Fine { condition: true }\n\nrule Broken { strings: $a = \"x\" "
                    "condition: $b }\n")
        r = smtptap("-O", "smtp:always_dispatch=yara", "--yara-rules", bad, "--eml", self.eml)
        self.assertEqual(r.rc, 1)
        self.assertIn("yara: %s:3: " % bad, r.stderr)
        self.assertIn("$b", r.stderr)
        self.assertEqual(r.records, [])
        r = smtptap("-O", "smtp:always_dispatch=yara", "--eml", self.eml)
        self.assertEqual(r.rc, 1)
        self.assertIn("yara: no rules", r.stderr)
