"""MIME evasion: each bypass the peers were reported for (../shared/reference/peers.md
2.5 and 3.6) and each ambiguous structure of issue 10, as a message file of tests/mime/,
with the rule docs/record.md ("Ambiguous MIME: how it is read") gives it.

Truth: the bytes of the message file itself. Each test cuts the part it is about out of
the file with plain string operations, decodes it with Python's base64/binascii (or
parses it with Python's email package where Python's reading is the rule), and hashes it
with hashlib; smtptap's record must list that part (in `attachments` and in `parts`),
with those hashes, its stored file must hold those bytes, and the anomaly the rule names
must be there. Where smtptap departs from Python's email package on purpose (so that
the generic oracle comparison of test_mime_oracle.py leaves the file out), the docstring
says what Python does.
"""
import base64
import binascii
import email
import email.policy
import os
import re
import shutil
import subprocess
import tempfile

from common import BIN, ENV, ROOT, SmtptapCase, load_output, sha256, smtptap

MIME_DIR = os.path.join(ROOT, "tests", "mime")


def raw(name):
    with open(os.path.join(MIME_DIR, name), "rb") as f:
        return f.read()


def section(data, start, end):
    """data between the first `start` and the next `end` after it."""
    i = data.index(start) + len(start)
    return data[i:data.index(end, i)]


def b64_after(data, header_line, end):
    """The base64 text of the part whose header block holds header_line, decoded."""
    i = data.index(header_line)
    body = section(data[i:], b"\r\n\r\n", end)
    return base64.b64decode(body)


class Evasion(SmtptapCase):
    maxDiff = None

    def message(self, name):
        run = smtptap("--eml", os.path.join(MIME_DIR, name))
        self.assertEqual(run.rc, 0, run.stderr)
        self.run_ = run
        return run.records[0]["transactions"][0]["message"]

    def anomalies(self, m, name):
        return [(a["detail"], a["mime_path"]) for a in m["anomalies"] if a["name"] == name]

    def has_part(self, m, path, data, filename=None, content_type=None):
        """path is listed in attachments and in parts with data's hashes, stored whole."""
        (a,) = [x for x in m["attachments"] if x["mime_path"] == path]
        (p,) = [x for x in m["parts"] if x["mime_path"] == path and x["size"] is not None]
        want = (len(data), sha256(data))
        self.assertEqual((a["size"], a["sha256"]), want, path)
        self.assertEqual((p["size"], p["sha256"]), want, path)
        self.assertEqual(self.run_.file_bytes(a["stored"]), data, path)
        self.assertEqual(p["stored"], a["stored"])
        if filename is not None:
            self.assertEqual((a["filename"], p["filename"]), (filename, filename), path)
        if content_type is not None:
            self.assertEqual(a["content_type"], content_type, path)
        return a

    # ------------------------------------------------------------ Zeek (2.5)

    def test_zeek_1352_attached_headers_do_not_replace_the_message_ones(self):
        data = raw("03-forwarded-rfc822-with-attachments.eml")
        top = email.message_from_bytes(data, policy=email.policy.default)
        m = self.message("03-forwarded-rfc822-with-attachments.eml")
        self.assertEqual(m["subject"], str(top["subject"]))
        self.assertIn(top["from"].addresses[0].addr_spec, m["from"])
        self.assertNotIn("must not win", m["subject"])

    def test_zeek_1799_a_file_declared_message_rfc822(self):
        """The part says message/rfc822 and holds a PDF: its bytes are listed and stored as
        they are (Zeek MIME-parsed them and the file came out corrupted)."""
        data = raw("47-rfc822-not-a-message.eml")
        pdf = section(data, b'filename="report.pdf"\r\n\r\n', b"\r\n--b47--")
        self.assertTrue(pdf.startswith(b"%PDF-1.7"))
        m = self.message("47-rfc822-not-a-message.eml")
        self.has_part(m, "2", pdf, "report.pdf", "message/rfc822")

    def test_zeek_807_a_cut_attachment_says_so(self):
        """A capture that ends inside an attachment: the attachment and its part are not
        complete and stored apart (Zeek logged seen_bytes < total_bytes, missing 0)."""
        from pcapgen import Session, write_pcap
        data = raw("52-uppercase-param-names.eml")
        start = data.index(b"Content-Transfer-Encoding: BASE64\r\n\r\n") + 37
        line = data[start:data.index(b"\r\n", start)]
        sent = data[:start + len(line) + 2]  # up to the first base64 line of the attachment
        seen = base64.b64decode(line)
        s = Session().handshake()
        for frm, text in (("s", b"220 mx ESMTP\r\n"), ("c", b"EHLO c\r\n"), ("s", b"250 mx\r\n"),
                          ("c", b"MAIL FROM:<a@example.test>\r\n"), ("s", b"250 ok\r\n"),
                          ("c", b"RCPT TO:<b@example.test>\r\n"), ("s", b"250 ok\r\n"),
                          ("c", b"DATA\r\n"), ("s", b"354 go\r\n"), ("c", sent)):
            (s.server if frm == "s" else s.client)(text)
        s.fin()
        d = tempfile.mkdtemp(prefix="smtptap-evasion-")
        try:
            cap = os.path.join(d, "cut.pcap")
            write_pcap(cap, s.packets)
            out = os.path.join(d, "out")
            p = subprocess.run([BIN, "-q", "-o", out, "-r", cap], env=ENV, capture_output=True,
                               timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            records, _ = load_output(out)
            m = records[0]["transactions"][0]["message"]
            (a,) = [x for x in m["attachments"] if x["mime_path"] == "2"]
            (pt,) = [x for x in m["parts"] if x["mime_path"] == "2"]
            for e in (a, pt):
                self.assertFalse(e["complete"])
                self.assertEqual((e["size"], e["sha256"]), (len(seen), sha256(seen)))
                self.assertEqual(e["stored"], "files/partial/%s/%s" % (sha256(seen)[:2],
                                                                      sha256(seen)))
            whole = [x for x in m["parts"] if x["complete"]]
            self.assertEqual([x["mime_path"] for x in whole], ["1"])  # the body before the cut
        finally:
            shutil.rmtree(d)

    # -------------------------------------------------------- Suricata (3.6)

    def test_suricata_4552_long_file_names_are_kept_whole(self):
        """Suricata cuts names at 255 bytes; smtptap keeps 8 KiB."""
        data = raw("36-long-filename-5000.eml")
        want = [p.get_filename() for p in
                email.message_from_bytes(data, policy=email.policy.default).iter_attachments()]
        m = self.message("36-long-filename-5000.eml")
        got = [a["filename"] for a in m["attachments"]]
        self.assertEqual(got, want)
        self.assertEqual(len(got[0]), 5000)
        self.assertEqual([p["filename"] for p in m["parts"] if p["filename"]], want)

    def test_suricata_6177_parameter_names_inside_quoted_values(self):
        """dummy="filename=wrong" (Suricata before PR 6177) and a later x="name=decoy" (Zeek's
        greedy extract_filename_from_content_disposition) are values, never parameters."""
        data = raw("48-param-in-quoted-value.eml")
        py = [p.get_filename() for p in
              email.message_from_bytes(data, policy=email.policy.default).iter_attachments()]
        self.assertEqual(py, ["right1.exe", "right2.exe", "right3.exe", "right4.exe"])
        m = self.message("48-param-in-quoted-value.eml")
        self.assertEqual([a["filename"] for a in m["attachments"]], py)
        for n, (path, text) in enumerate((("2", b"one"), ("3", b"two"), ("4", b"three"),
                                          ("5", b"four"))):
            self.has_part(m, path, text, py[n])

    def test_suricata_verify_1202_the_line_end_before_a_delimiter(self):
        """The CRLF before a delimiter line is the delimiter's (RFC 2046 5.1.1): Suricata
        kept it in the file and its MD5 was wrong."""
        data = raw("49-crlf-before-boundary.eml")
        m = self.message("49-crlf-before-boundary.eml")
        self.has_part(m, "2", b"This single line is the whole attachment.", "line.txt")
        self.has_part(m, "3", b"a line and a blank line\r\n", "blank.txt")
        self.assertIn(b"attachment.\r\n--b49\r\n", data)

    def test_suricata_verify_1313_base64_padding_across_lines(self):
        data = raw("50-base64-padding-across-lines.eml")
        m = self.message("50-base64-padding-across-lines.eml")
        for path, name in (("2", b"a.bin"), ("3", b"b.bin"), ("4", b"c.bin")):
            text = section(data, b'name="%s"\r\nContent-Transfer-Encoding: base64\r\n\r\n' % name,
                           b"\r\n--b50")
            self.has_part(m, path, binascii.a2b_base64(text), name.decode())
        self.assertEqual(self.anomalies(m, "base64_data_after_padding"), [])

    def test_base64_data_after_the_padding_is_decoded_on(self):
        """'NA=' '=' 'Mg==' 'TWFsd2FyZQ==': each padded group decoded, the anomaly said.
        Python's binascii stops at the first padding (b'4'): the rest would be hidden."""
        data = raw("51-base64-data-after-padding.eml")
        text = section(data, b"Content-Transfer-Encoding: base64\r\n\r\n", b"\r\n--b51")
        groups = re.findall(rb"[A-Za-z0-9+/]+=*", text.replace(b"\r\n", b""))
        want = b"".join(binascii.a2b_base64(g + b"=" * (-len(g) % 4)) for g in groups)
        self.assertEqual(want, b"42Malware")
        self.assertEqual(binascii.a2b_base64(text), b"4")
        m = self.message("51-base64-data-after-padding.eml")
        self.has_part(m, "2", want, "after.bin")
        self.assertEqual(self.anomalies(m, "base64_data_after_padding"), [(None, "2")])

    def test_suricata_parameter_names_in_any_case(self):
        """BOUNDARY=, NAME=, FILENAME= (RFC 2045: case-insensitive; Suricata looks for the
        lower-case names only)."""
        data = raw("52-uppercase-param-names.eml")
        m = self.message("52-uppercase-param-names.eml")
        self.assertEqual([p["mime_path"] for p in m["parts"]], ["", "1", "2", "3"])
        self.has_part(m, "2", b64_after(data, b'NAME="upper.bin"', b"\r\n--UP52"), "upper.bin")
        self.has_part(m, "3", b"file two", "upper2.bin")

    def test_suricata_message_parts_are_decoded(self):
        """message/rfc822 in base64 (RFC 2046 5.2.1 forbids it): Suricata and Zeek parse the
        base64 text as headers and never see the inner attachment."""
        data = raw("04-rfc822-base64.eml")
        inner = b64_after(data, b'filename="forwarded.eml"', b"\r\n--b4--")
        att = [p for p in email.message_from_bytes(inner, policy=email.policy.default).walk()
               if p.get_filename() == "in4.bin"][0].get_payload(decode=True)
        m = self.message("04-rfc822-base64.eml")
        self.has_part(m, "2", inner, "forwarded.eml", "message/rfc822")
        self.has_part(m, "2.2", att, "in4.bin")
        self.assertEqual(self.anomalies(m, "encoded_message"), [("base64", "2")])

    def test_boundaries_that_are_prefixes_of_one_another(self):
        """'--=_Px' is no delimiter of '=_P' (Zeek and Suricata match a prefix)."""
        m = self.message("25-boundary-prefixes.eml")
        names = [a["filename"] for a in m["attachments"]]
        self.assertEqual(names, ["deep1.bin", "deep2.txt", "mid.txt", "outer.bin"])
        deep2 = [a for a in m["attachments"] if a["filename"] == "deep2.txt"][0]
        self.assertEqual(self.run_.file_bytes(deep2["stored"]),
                         b"--=_Px is not a delimiter of anything\r\n--=_P_xy neither")

    # ------------------------------------------------- ambiguous structures

    def test_duplicate_content_type_text_first(self):
        """The first Content-Type wins (Python too; Zeek and Suricata take the last): the
        whole body is one text part, so the bytes stay in view."""
        data = raw("53-duplicate-content-type.eml")
        body = data[data.index(b"\r\n\r\n") + 4:]
        m = self.message("53-duplicate-content-type.eml")
        self.assertEqual(m["attachments"], [])
        (p,) = m["parts"]
        self.assertEqual((p["mime_path"], p["content_type"], p["size"], p["sha256"]),
                         ("1", "text/plain", len(body), sha256(body)))
        self.assertEqual(self.run_.file_bytes(p["stored"]), body)
        self.assertEqual(len(self.anomalies(m, "duplicate_content_type")), 1)

    def test_two_multipart_content_types_both_delimit(self):
        """The first describes the part; the second's boundary delimits parts too. Python
        uses the first boundary only and drops what the second one delimits (preamble)."""
        data = raw("54-duplicate-content-type-boundaries.eml")
        m = self.message("54-duplicate-content-type-boundaries.eml")
        self.assertEqual([(p["mime_path"], p["content_type"]) for p in m["parts"]],
                         [("", "multipart/mixed"), ("1", "text/plain"),
                          ("2", "application/octet-stream"), ("3", "application/octet-stream")])
        self.has_part(m, "2", b64_after(data, b'name="second.bin"', b"\r\n--first54"), "second.bin")
        self.has_part(m, "3", b64_after(data, b'name="first.bin"', b"\r\n--first54--"), "first.bin")
        self.assertEqual(len(self.anomalies(m, "duplicate_content_type")), 1)

    def test_boundary_given_twice(self):
        """Both values delimit (Python: the first; Zeek and Suricata: the last)."""
        data = raw("55-duplicate-boundary-param.eml")
        m = self.message("55-duplicate-boundary-param.eml")
        self.has_part(m, "2", b64_after(data, b'name="two.bin"', b"\r\n--one55"), "two.bin")
        self.has_part(m, "3", b64_after(data, b'name="one.bin"', b"\r\n--one55--"), "one.bin")
        self.assertEqual(m["body"], "body under the second value")
        # raised in the message's header block, before its path is known (record.md)
        self.assertEqual(self.anomalies(m, "duplicate_parameter"), [("boundary", None)])

    def test_nested_multipart_reusing_its_parents_boundary(self):
        """Innermost first: the inner multipart's lines until its close delimiter (Suricata
        too); Python and Zeek match the outermost first and leave it empty."""
        data = raw("56-nested-boundary-reused.eml")
        m = self.message("56-nested-boundary-reused.eml")
        self.assertEqual([(p["mime_path"], p["content_type"]) for p in m["parts"]],
                         [("", "multipart/mixed"), ("1", "multipart/alternative"),
                          ("1.1", "text/plain"), ("1.2", "text/html"),
                          ("2", "application/octet-stream")])
        self.assertEqual((m["body"], m["body_html"]), ("inner plain", "<p>inner html</p>"))
        self.has_part(m, "2", b64_after(data, b'name="outer.bin"', b"\r\n--same56--"), "outer.bin")
        self.assertEqual(self.anomalies(m, "boundary_reused"), [("same56", "1")])

    def test_parts_after_the_close_delimiter(self):
        """RFC 2046 calls them epilogue, and Python, Zeek and Suricata drop them: listed."""
        data = raw("24-preamble-epilogue.eml")
        ghost = data[data.index(b'name="ghost.txt"\r\n\r\n') + 20:]
        m = self.message("24-preamble-epilogue.eml")
        self.has_part(m, "3", ghost, "ghost.txt")
        self.assertEqual(self.anomalies(m, "part_after_final_boundary"), [("b24", "")])
        data = raw("57-part-after-close-nested.eml")
        m = self.message("57-part-after-close-nested.eml")
        self.has_part(m, "1.3", b64_after(data, b'name="after.exe"', b"\r\n\r\n--out57"),
                      "after.exe")
        self.has_part(m, "2", b64_after(data, b'name="outer.pdf"', b"\r\n--out57--"), "outer.pdf")
        self.assertEqual(self.anomalies(m, "part_after_final_boundary"), [("in57", "1")])

    def test_filename_and_name_that_differ(self):
        """Content-Disposition filename wins (RFC 2183, Python); the other is said."""
        m = self.message("58-filename-mismatch.eml")
        self.assertEqual([a["filename"] for a in m["attachments"]],
                         ["invoice.pdf.exe", "report.doc", "same.pdf"])
        self.assertEqual(self.anomalies(m, "filename_mismatch"),
                         [("invoice.pdf", "2"), ("report.js", "3")])

    def test_a_boundary_that_never_occurs(self):
        """The body is one part: listed, hashed, stored (Zeek and Suricata drop it)."""
        data = raw("59-boundary-not-found.eml")
        body = data[data.index(b"\r\n\r\n") + 4:]
        m = self.message("59-boundary-not-found.eml")
        self.has_part(m, "1", body, None, "multipart/mixed")
        self.assertEqual([p["mime_path"] for p in m["parts"]], ["1"])
        # the anomaly names the multipart's own path ("" at the top)
        self.assertEqual(self.anomalies(m, "boundary_not_found"), [("never59", "")])

    def test_nested_multiparts_without_parts(self):
        m = self.message("60-boundary-not-found-nested.eml")
        self.assertEqual(m["body"], "body")
        self.has_part(m, "2", b"only text, no delimiter", None, "multipart/mixed")
        self.has_part(m, "3", b"text before a close delimiter", None, "multipart/mixed")
        self.assertEqual(self.anomalies(m, "boundary_not_found"), [("never60", "2")])
        self.assertEqual(self.anomalies(m, "multipart_without_parts"), [("closed60", "3")])

    def test_a_message_labelled_base64_that_is_not(self):
        """Its body is a message as it is: decoding would hide it, so it is parsed raw
        (as Python parses it) and said."""
        data = raw("61-rfc822-labelled-base64.eml")
        inner = section(data, b"Content-Transfer-Encoding: base64\r\n\r\n", b"\r\n--b61--")
        m = self.message("61-rfc822-labelled-base64.eml")
        self.has_part(m, "2", inner, None, "message/rfc822")
        self.has_part(m, "2.2", b64_after(inner, b'name="inner61.bin"', b"\r\n--in61--"),
                      "inner61.bin")
        self.assertEqual(self.anomalies(m, "encoded_message"), [("base64", "2")])
        self.assertEqual([p for d, p in self.anomalies(m, "message_not_base64")], ["2"])


class PartsLimit(SmtptapCase):
    """`parts` keeps 2 x max_attachments + 2 entities; beyond, the record says how many it
    left out (docs/record.md, Limits). Truth: the entity count of Python's walk."""

    def test_parts_capped(self):
        data = raw("01-nested-4-levels.eml")
        n = sum(1 for _ in email.message_from_bytes(data, policy=email.policy.default).walk())
        self.assertEqual(n, 11)
        for cap, left_out in ((5, 0), (4, 1)):  # room for 12, then for 10
            with self.subTest(max_attachments=cap):
                run = smtptap("--eml", os.path.join(MIME_DIR, "01-nested-4-levels.eml"),
                              "--set", "max_attachments=%d" % cap)
                self.assertEqual(run.rc, 0, run.stderr)
                m = run.records[0]["transactions"][0]["message"]
                self.assertEqual(len(m["parts"]), n - left_out)
                capped = [a["detail"] for a in m["anomalies"] if a["name"] == "parts_capped"]
                self.assertEqual(capped, [str(left_out)] if left_out else [])
