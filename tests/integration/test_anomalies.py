"""Every anomaly name is produced by a test that asserts it by name.

ANOMALY_TESTS maps each anomaly name of docs/record.md (section Anomalies) to the tests
that produce it and assert it by name, as "unit/<layer>/test_x.c:function" or
"integration/test_x.py:Class.method". UNREACHABLE
holds the names no input can produce, with the reason. The Catalogue tests keep the
table honest: every documented name has an entry (a new anomaly without a test fails
the suite), every test named exists (a cmocka case registered in its file, a unittest
method) and names the anomaly in a string of its own body or of a helper it calls, and
every name the code emits is documented.

The tests below produce the names no other test did: SMTP dialogues built packet by
packet (pcapgen) and run through smtptap, MIME and extraction anomalies from message
files (--eml). Each asserts the anomaly by name, its detail and mime_path where they
say something, and what the anomaly stands for in the record (what was kept, what was
cut); each limit is tried exactly at its value (no anomaly) and one past it. Python's
email package is the oracle where it has an opinion (its defects, its decoded bytes).
"""
import ast
import base64
import binascii
import email
import email.errors
import errno
import glob
import hashlib
import json
import os
import re
import subprocess
import tempfile
import unittest

from common import BIN, ENV, ROOT, Run, SmtptapCase, sha256, smtptap
from pcapgen import Session, write_pcap

U, I = "unit/", "integration/"
SMTP_C = U + "smtp/test_smtp.c:"
PARSER_C = U + "mime/test_parser.c:"
TNEF_C = U + "mime/test_tnef.c:"
EXTRACT_C = U + "extract/test_extract.c:"
HERE = I + "test_anomalies.py:"

ANOMALY_TESTS = {
    # Session, from the SMTP layer
    "line_too_long": [SMTP_C + "test_long_lines", HERE + "SmtpAnomalies.test_line_too_long_at_max_line"],
    "bare_lf": [SMTP_C + "test_bare_lf_and_nul"],
    "nul_in_command": [SMTP_C + "test_bare_lf_and_nul"],
    "nul_in_reply": [HERE + "SmtpAnomalies.test_nul_in_reply"],
    "invalid_reply": [SMTP_C + "test_anomaly_cap"],
    "reply_too_long": [HERE + "SmtpAnomalies.test_reply_too_long_lines",
                       HERE + "SmtpAnomalies.test_reply_too_long_bytes",
                       HERE + "SmtpAnomalies.test_ehlo_keywords_cut_with_the_reply",
                       U + "smtp/test_anomalies.c:test_reply_lines_come_first"],
    "unmatched_reply": [SMTP_C + "test_unknown_and_unmatched", SMTP_C + "test_resync_by_code"],
    "unknown_command": [SMTP_C + "test_unknown_and_unmatched",
                        I + "test_synthetic.py:Synthetic.test_pause_mid_transaction_changes_nothing",
                        HERE + "RecordLimits.test_too_many_anomalies_in_session"],
    "unknown_command_limit": [SMTP_C + "test_unknown_and_unmatched"],
    "pending_queue_overflow": [SMTP_C + "test_queue_overflow"],
    "rcpt_without_mail": [SMTP_C + "test_rcpt_without_mail"],
    "data_without_rcpt": [SMTP_C + "test_rejections"],
    "mail_syntax": [HERE + "SmtpAnomalies.test_mail_syntax"],
    "rcpt_syntax": [HERE + "SmtpAnomalies.test_rcpt_syntax"],
    "bdat_invalid_size": [SMTP_C + "test_bdat_invalid"],
    "bdat_missing_last": [SMTP_C + "test_bdat_invalid"],
    "data_bdat_mixed": [HERE + "SmtpAnomalies.test_data_bdat_mixed"],
    "data_end_bare_lf": [SMTP_C + "test_dot_stuffing"],
    "data_end_not_seen": [SMTP_C + "test_gap_in_data"],
    "reply_lost": [U + "smtp/test_resync.c:test_lost_ehlo_reply", U + "smtp/test_resync.c:test_lost_final_reply"],
    "command_inferred": [U + "smtp/test_resync.c:test_lost_pipelined_group", U + "smtp/test_resync.c:test_lost_quit"],
    "bdat_size_mismatch": [U + "smtp/test_resync.c:test_bdat_count_contradicted"],
    "message_start_not_seen": [U + "smtp/test_join.c:test_inside_data", U + "smtp/test_join.c:test_between_chunks"],
    "boundary_not_found": [PARSER_C + "boundary_not_found", I + "test_evasion.py:Evasion.test_a_boundary_that_never_occurs"],
    "multipart_without_parts": [PARSER_C + "multipart_without_parts", I + "test_evasion.py:Evasion.test_nested_multiparts_without_parts"],
    "part_after_final_boundary": [PARSER_C + "part_after_final_boundary", I + "test_evasion.py:Evasion.test_parts_after_the_close_delimiter"],
    "boundary_reused": [PARSER_C + "boundary_reused", I + "test_evasion.py:Evasion.test_nested_multipart_reusing_its_parents_boundary"],
    "encoded_message": [PARSER_C + "rfc822_base64_and_simple", I + "test_evasion.py:Evasion.test_suricata_message_parts_are_decoded"],
    "message_not_base64": [PARSER_C + "message_not_base64", I + "test_evasion.py:Evasion.test_a_message_labelled_base64_that_is_not"],
    "filename_mismatch": [U + "extract/test_parts.c:filename_mismatch", I + "test_evasion.py:Evasion.test_filename_and_name_that_differ"],
    "parts_capped": [I + "test_evasion.py:PartsLimit.test_parts_capped"],
    "data_inferred": [U + "smtp/test_verdict.c:test_354_after_a_hole_is_data"],
    "overlap_conflict": [HERE + "SmtpAnomalies.test_overlap_conflict"],
    "auth_bad_base64": [HERE + "SmtpAnomalies.test_auth_bad_base64_initial_response",
                        HERE + "SmtpAnomalies.test_auth_bad_base64_login_line"],
    "auth_plain_malformed": [HERE + "SmtpAnomalies.test_auth_plain_malformed"],
    "too_many_extensions": [U + "smtp/test_anomalies.c:test_too_many_extensions"],
    "anomaly_limit": [SMTP_C + "test_anomaly_cap"],
    # Session, from the record
    "too_many_transactions": [HERE + "RecordLimits.test_too_many_transactions"],
    "too_many_rcpts": [HERE + "RecordLimits.test_too_many_rcpts"],
    "too_many_anomalies": [EXTRACT_C + "test_many_anomalies",
                           HERE + "RecordLimits.test_too_many_anomalies_in_session"],
    # Message, from the MIME parser
    "header_too_large": [PARSER_C + "huge_header_bounded",
                         I + "test_hostile.py:Hostile.test_hundred_megabyte_header"],
    "too_many_headers": [PARSER_C + "too_many_headers",
                         HERE + "ExtractAnomalies.test_too_many_received_and_path_ips"],
    "headers_not_terminated": [HERE + "MimeAnomalies.test_headers_not_terminated"],
    "missing_header_separator": [PARSER_C + "missing_header_separator"],
    "gap_in_headers": [HERE + "SmtpAnomalies.test_gap_in_headers"],
    "orphan_continuation": [HERE + "MimeAnomalies.test_orphan_continuation"],
    "mbox_from_line": [HERE + "MimeAnomalies.test_mbox_from_line"],
    "malformed_content_type": [PARSER_C + "content_type_defaults"],
    "malformed_content_transfer_encoding": [
        HERE + "MimeAnomalies.test_malformed_content_transfer_encoding"],
    "malformed_content_disposition": [HERE + "MimeAnomalies.test_malformed_content_disposition"],
    "duplicate_content_type": [PARSER_C + "content_type_defaults"],
    "duplicate_content_transfer_encoding": [
        HERE + "MimeAnomalies.test_duplicate_content_transfer_encoding"],
    "duplicate_content_disposition": [HERE + "MimeAnomalies.test_duplicate_content_disposition"],
    "duplicate_parameter": [HERE + "MimeAnomalies.test_duplicate_parameter"],
    "attribute_truncated": [EXTRACT_C + "test_long_filenames"],
    "multipart_without_boundary": [PARSER_C + "content_type_defaults"],
    "boundary_too_long": [HERE + "MimeAnomalies.test_boundary_too_long"],
    "boundary_in_headers": [PARSER_C + "missing_header_separator"],
    "encoded_multipart": [HERE + "MimeAnomalies.test_encoded_multipart"],
    "outer_boundary_closes_inner": [PARSER_C + "boundary_padding_and_prefixes"],
    "missing_final_boundary": [PARSER_C + "missing_final_boundary", PARSER_C + "boundary_never_closes",
                               I + "test_hostile.py:Hostile.test_boundary_never_closes"],
    "depth_exceeded": [PARSER_C + "deep_nesting_bounded", EXTRACT_C + "test_deep_nesting",
                       I + "test_cli.py:Cli.test_mime_limits_are_options",
                       I + "test_hostile.py:Hostile.test_ten_thousand_nested_multiparts"],
    "message_depth_exceeded": [PARSER_C + "deep_rfc822_bounded"],
    "too_many_parts": [PARSER_C + "many_parts", EXTRACT_C + "test_many_parts",
                       I + "test_hostile.py:Hostile.test_hundred_thousand_parts"],
    "unknown_transfer_encoding": [PARSER_C + "qp_and_unknown_parts"],
    "qp_bad_escape": [HERE + "MimeAnomalies.test_qp_bad_escape"],
    "uu_bad_line": [HERE + "MimeAnomalies.test_uuencode_parts"],
    "uu_missing_begin": [HERE + "MimeAnomalies.test_uuencode_parts"],
    "uu_missing_end": [HERE + "MimeAnomalies.test_uuencode_parts",
                       HERE + "ExtractAnomalies.test_uuencode_in_text_without_end"],
    "out_of_memory": [HERE + "OutOfMemory.test_out_of_memory_in_header_block"],
    # Message, from the extractor
    "suspicious_filename": [EXTRACT_C + "test_hostile_filenames",
                            I + "test_hostile.py:Hostile.test_hostile_filenames_never_paths"],
    "header_value_capped": [EXTRACT_C + "test_header_value_max"],
    "headers_capped": [EXTRACT_C + "test_headers_capped"],
    "too_many_addresses": [EXTRACT_C + "test_too_many_addresses"],
    "too_many_received": [HERE + "ExtractAnomalies.test_too_many_received_and_path_ips"],
    "too_many_path_ips": [HERE + "ExtractAnomalies.test_too_many_received_and_path_ips"],
    "too_many_attachments": [EXTRACT_C + "test_many_parts",
                             I + "test_cli.py:Cli.test_mime_limits_are_options",
                             I + "test_hostile.py:Hostile.test_hundred_thousand_parts"],
    "store_error": [HERE + "ExtractAnomalies.test_store_error"],
    # Message, from the analyzers
    "content_type_mismatch": [
        I + "test_analyzers.py:Magic.test_types_as_file_says_and_the_disguised_executable"],
    # Message, from the IOC search
    "too_many_iocs": [I + "test_iocs.py:MessageIocs.test_caps_are_counted_and_said"],
    "ioc_bytes_unscanned": [I + "test_iocs.py:MessageIocs.test_caps_are_counted_and_said"],
    # Message, from the TNEF decoder
    "tnef_bad_signature": [TNEF_C + "test_bad_signature",
                           HERE + "ExtractAnomalies.test_tnef_bad_signature"],
    "tnef_bad_level": [TNEF_C + "test_bad_checksum_and_level"],
    "tnef_bad_checksum": [TNEF_C + "test_bad_checksum_and_level", TNEF_C + "test_anomaly_cap"],
    "tnef_truncated": [TNEF_C + "test_bad_signature", TNEF_C + "test_truncated_in_length"],
    "tnef_length_overrun": [TNEF_C + "test_truncated_in_length", TNEF_C + "test_length_ffffffff"],
    "tnef_too_many_attachments": [TNEF_C + "test_many_attachments"],
    "tnef_orphan_attribute": [TNEF_C + "test_orphan_and_mapi_errors"],
    "tnef_duplicate_data": [TNEF_C + "test_duplicate_data"],
    "tnef_mapi_malformed": [TNEF_C + "test_orphan_and_mapi_errors"],
    "tnef_name_too_long": [TNEF_C + "test_name_too_long"],
    "tnef_too_many_anomalies": [TNEF_C + "test_anomaly_cap"],
    # Message-file record
    "read_error": [HERE + "ExtractAnomalies.test_read_error"],
    # From the MIME parser's decoders and parameter parser
    "base64_garbage": [PARSER_C + "base64_garbage_part", HERE + "MimeAnomalies.test_base64_anomalies"],
    "base64_data_after_padding": [HERE + "MimeAnomalies.test_base64_anomalies"],
    "base64_truncated": [HERE + "MimeAnomalies.test_base64_anomalies"],
    "rfc2231_missing_section": [HERE + "MimeAnomalies.test_rfc2231_anomalies"],
    "rfc2231_malformed": [HERE + "MimeAnomalies.test_rfc2231_anomalies"],
}

UNREACHABLE = {
    "malformed_header":
        "mime/headers.c field_done() rejects a field whose name is empty or has no colon, but a "
        "field is only opened (field_open) by a line that passed is_header_line(), the same test; "
        "no other line reaches field_done(), so the check never fails (10000 random header blocks "
        "did not produce it either)",
    "too_many_open_attachments":
        "extract/attach.c: at most max_msg_depth + 2 attachments are open at once (one message "
        "part per level and a leaf); max_msg_depth is 20 and at most 100, ST_X_OPEN_MAX is 256, so "
        "only a failed realloc of the 4..256-entry open stack gives it",
}

# Words in backquotes in the Anomalies section that are no anomaly names.
NOT_ANOMALY_WORDS = {
    "mime_path": "the field beside each message anomaly",
    "magic": "the analyzer that gives content_type_mismatch",
}

# Names the code emits that are not anomaly names of any record.
NOT_NAMES = {
    "mime": "extract/extract.c: the name used when a MIME ANOMALY event has none; the parser "
            "always gives one",
}


# ---------------------------------------------------------------- helpers

def names(anomalies):
    return [a["name"] for a in anomalies]


def only(anomalies, name):
    """The one anomaly of that name (asserting there is exactly one)."""
    found = [a for a in anomalies if a["name"] == name]
    if len(found) != 1:
        raise AssertionError("%d %s in %r" % (len(found), name, anomalies))
    return found[0]


HELLO = [("s", b"220 mx.example.test ESMTP\r\n"),
         ("c", b"EHLO client.example.test\r\n"),
         ("s", b"250-mx.example.test\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 CHUNKING\r\n")]
BYE = [("c", b"QUIT\r\n"), ("s", b"221 2.0.0 Bye\r\n")]


def tx(frm, rcpts, msg, final=b"250 2.0.0 Ok: queued\r\n", mail=None):
    """The turns of one DATA transaction: rcpts are addresses or (address, reply)."""
    t = [("c", mail or b"MAIL FROM:<" + frm + b">\r\n"), ("s", b"250 2.1.0 Ok\r\n")]
    for r in rcpts:
        addr, reply = r if isinstance(r, tuple) else (r, b"250 2.1.5 Ok\r\n")
        t += [("c", b"RCPT TO:<" + addr + b">\r\n"), ("s", reply)]
    return t + [("c", b"DATA\r\n"), ("s", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
                ("c", msg + b".\r\n"), ("s", final)]


def session(turns, port=40000):
    s = Session(client=("10.0.0.1", port)).handshake()
    for who, data in turns:
        s.send(who, data)
    return s.fin()


MSG = b"Subject: anomalies\r\n\r\nhello\r\n"


def eml_message(text_parts=b"", extra_parts=()):
    """multipart/mixed with a text part and then the given raw parts (headers + body)."""
    out = b"Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
    out += b"--B\r\nContent-Type: text/plain\r\n\r\nthe text" + text_parts + b"\r\n"
    for p in extra_parts:
        out += b"--B\r\n" + p + b"\r\n"
    return out + b"--B--\r\n"


def py_parts(data):
    """Python's reading of a multipart message: [root, part 1, part 2, ...]."""
    m = email.message_from_bytes(data)
    return [m] + (m.get_payload() if m.is_multipart() else [])


def is_asan(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


class Base(SmtptapCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="smtptap-anom-")

    def pcap(self, *sessions, opts=()):
        path = os.path.join(self.dir, "x.pcap")
        write_pcap(path, [p for s in sessions for p in s.packets])
        run = smtptap(*opts, "-r", path)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), len(sessions))
        return run

    def eml(self, *datas, opts=()):
        """One record per message (in order); returns (run, [message...])."""
        paths = []
        for i, data in enumerate(datas):
            paths.append(os.path.join(self.dir, "m%d.eml" % i))
            with open(paths[-1], "wb") as f:
                f.write(data)
        run = smtptap(*opts, "--eml", *paths)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), len(datas))
        for r in run.records:
            self.assertEqual(r["anomalies"], [])
        by_file = {r["file"]: r for r in run.records}
        return run, [by_file[p]["transactions"][0]["message"] for p in paths]

    def att(self, m, path):
        found = [a for a in m["attachments"] if a["mime_path"] == path]
        self.assertEqual(len(found), 1, m["attachments"])
        return found[0]


# ---------------------------------------------------------------- the table

def c_functions(src):
    """name -> body of every top-level function definition in a C file."""
    out = {}
    for m in re.finditer(r"^(?:static\s+)?[\w \*]+?\b(\w+)\s*\([^;{]*\)\s*\{(.*?)^\}", src, re.M | re.S):
        out[m.group(1)] = m.group(2)
    return out


def literals_name(code, name, lang):
    """Does some string literal in code hold name as a word?"""
    lits = re.findall(r'"(?:[^"\\\n]|\\.)*"', code) if lang == "c" else \
        re.findall(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', code)
    return any(re.search(r"(?<![a-z0-9_])%s(?![a-z0-9_])" % re.escape(name), s) for s in lits)


def documented_names():
    with open(os.path.join(ROOT, "docs", "record.md"), encoding="utf-8") as f:
        doc = f.read()
    section = re.search(r"^## Anomalies\n(.*?)^## ", doc, re.M | re.S).group(1)
    return set(re.findall(r"`([a-z][a-z0-9_]*)`", section)) - set(NOT_ANOMALY_WORDS)


# (function, index of its name argument)
EMITTERS = {"st_smtp_anomaly": 1, "st_mime_anomaly": 2, "st_mime_anomaly_n": 2, "st_x_anomaly": 1,
            "st_x_anomaly_count": 1, "st_record_anomaly": 1, "st_analyzer_anomaly": 2, "anomaly": 1,
            "summary": 1, "hdr_overflow": 2}
LAYERS = ("smtp", "mime", "extract", "analyze", "output", "core")


def call_args(src, at):
    """The top-level arguments of the call whose '(' ends at src[at-1]."""
    depth, args, cur, i = 0, [], [], at
    while i < len(src):
        c = src[i]
        if c == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            cur.append(src[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append("".join(cur))
                return args
            depth -= 1
        elif c == "," and depth == 0:
            args.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    return args


def emitted_names():
    """name -> files, for every anomaly name the code of LAYERS emits: the name argument of
    an EMITTERS call, a name assigned inside a function about anomalies (the cap's own name),
    a "name" key packed with a literal."""
    found = {}
    for layer in LAYERS:
        for path in sorted(glob.glob(os.path.join(ROOT, layer, "*.c"))):
            with open(path, encoding="utf-8") as f:
                src = re.sub(r"/\*.*?\*/", lambda m: " " * len(m.group(0)), f.read(), flags=re.S)
            rel = os.path.relpath(path, ROOT)
            lits = []
            for m in re.finditer(r"\b(%s)\s*\(" % "|".join(EMITTERS), src):
                args = call_args(src, m.end())
                if len(args) > EMITTERS[m.group(1)]:
                    lits += re.findall(r'"([a-z][a-z0-9_]*)"', args[EMITTERS[m.group(1)]])
            for fn, body in c_functions(src).items():
                if "anomal" in fn:
                    lits += re.findall(r'\b(?:name|ev\.anomaly)\s*=\s*"([a-z][a-z0-9_]*)"', body)
            lits += re.findall(r'"name",\s*"([a-z][a-z0-9_]*)"', src)
            for n in lits:
                found.setdefault(n, set()).add(rel)
    return found


class Catalogue(unittest.TestCase):
    def test_every_documented_name_has_a_test(self):
        doc = documented_names()
        self.assertGreater(len(doc), 70)
        self.assertEqual(set(ANOMALY_TESTS) & set(UNREACHABLE), set())
        missing = sorted(doc - set(ANOMALY_TESTS) - set(UNREACHABLE))
        self.assertEqual(missing, [], "documented anomalies with no test in ANOMALY_TESTS")
        for name, tests in ANOMALY_TESTS.items():
            self.assertTrue(tests, name)

    def test_every_listed_test_exists_and_names_it(self):
        c_cache, py_cache = {}, {}
        for name, tests in sorted(ANOMALY_TESTS.items()):
            for ref in tests:
                with self.subTest(anomaly=name, test=ref):
                    path, test = ref.split(":")
                    full = os.path.join(ROOT, "tests", path)
                    self.assertTrue(os.path.exists(full), full)
                    if path.endswith(".c"):
                        self.check_c(c_cache, full, test, name)
                    else:
                        self.check_py(py_cache, full, test, name)

    def check_c(self, cache, full, fn, name):
        if full not in cache:
            with open(full, encoding="utf-8") as f:
                src = f.read()
            cache[full] = (src, c_functions(src))
        src, funcs = cache[full]
        self.assertIn(fn, funcs, "no function %s in %s" % (fn, full))
        self.assertRegex(src, r"cmocka_unit_test(?:_setup_teardown|_setup|_teardown)?\(\s*%s\b" % fn,
                         "%s is not registered with cmocka" % fn)
        body = funcs[fn]
        helpers = [funcs[c] for c in set(re.findall(r"\b(\w+)\s*\(", body)) if c in funcs and c != fn]
        self.assertTrue(any(literals_name(b, name, "c") for b in [body] + helpers),
                        "%s does not name %s" % (fn, name))

    def check_py(self, cache, full, test, name):
        if full not in cache:
            with open(full, encoding="utf-8") as f:
                src = f.read()
            tree = ast.parse(src)
            funcs = {n.name: ast.get_source_segment(src, n) for n in tree.body
                     if isinstance(n, ast.FunctionDef)}
            classes = {n.name: {m.name: ast.get_source_segment(src, m) for m in n.body
                                if isinstance(m, ast.FunctionDef)}
                       for n in tree.body if isinstance(n, ast.ClassDef)}
            cache[full] = (funcs, classes)
        funcs, classes = cache[full]
        cls, meth = test.split(".")
        self.assertIn(cls, classes, "no class %s in %s" % (cls, full))
        self.assertTrue(meth.startswith("test"), test)
        self.assertIn(meth, classes[cls], "no method %s.%s in %s" % (cls, meth, full))
        body = classes[cls][meth]
        called = set(re.findall(r"\b(\w+)\s*\(", body))
        helpers = [src for n, src in list(funcs.items()) + list(classes[cls].items())
                   if n in called and n != meth]
        self.assertTrue(any(literals_name(b, name, "py") for b in [body] + helpers),
                        "%s does not name %s" % (test, name))

    def test_every_emitted_name_is_documented(self):
        emitted = emitted_names()
        self.assertGreater(len(emitted), 70)
        for n in NOT_NAMES:
            emitted.pop(n, None)
        doc = documented_names()
        undocumented = {n: sorted(f) for n, f in emitted.items() if n not in doc}
        self.assertEqual(undocumented, {}, "anomalies the code emits that docs/record.md does not list")
        never = sorted(doc - set(emitted))
        self.assertEqual(never, [], "documented anomalies that no code emits")

    def test_unreachable_names_are_still_in_the_code(self):
        """An UNREACHABLE entry is about code that exists: when the name goes, so must the entry."""
        emitted = emitted_names()
        for n in UNREACHABLE:
            self.assertIn(n, emitted)


# ---------------------------------------------------------------- SMTP

class SmtpAnomalies(Base):
    def test_clean_dialogue_has_no_anomaly(self):
        run = self.pcap(session(HELLO + tx(b"a@x.test", [b"b@y.test"], MSG) + BYE))
        r = run.records[0]
        self.assertEqual(r["anomalies"], [])
        self.assertEqual(r["transactions"][0]["message"]["anomalies"], [])
        self.assertEqual(r["transactions"][0]["status"], "accepted")

    def test_nul_in_reply(self):
        sent = b"250 2.0.0 Ok\x00queued as X"
        run = self.pcap(session(HELLO + tx(b"a@x.test", [b"b@y.test"], MSG, final=sent + b"\r\n") + BYE))
        r = run.records[0]
        self.assertEqual(names(r["anomalies"]), ["nul_in_reply"])
        self.assertIsNone(only(r["anomalies"], "nul_in_reply")["detail"])
        t = r["transactions"][0]
        self.assertEqual(t["status"], "accepted")  # the code before the NUL still counts
        self.assertTrue(t["reply"].startswith("250 2.0.0 Ok"), t["reply"])
        self.assertTrue(sent.decode("ascii").startswith(t["reply"]), t["reply"])  # nothing invented
        self.assertMessage(run, t, MSG)

    def test_line_too_long_at_max_line(self):
        # max_line counts the line without its CRLF: 512 bytes pass, 513 are cut to 512.
        h1 = b"a" * (512 - len(b"EHLO "))
        h2 = b"b" * (513 - len(b"EHLO "))
        self.assertEqual((len(b"EHLO " + h1), len(b"EHLO " + h2)), (512, 513))
        r1 = b"250 " + b"r" * 508
        r2 = b"250 " + b"s" * 509
        ehlo_reply = b"250-mx.example.test\r\n250 PIPELINING\r\n"

        def one(helo, reply, port):
            turns = [("s", b"220 mx.example.test ESMTP\r\n"), ("c", b"EHLO " + helo + b"\r\n"),
                     ("s", ehlo_reply)]
            return session(turns + tx(b"a@x.test", [b"b@y.test"], MSG, final=reply + b"\r\n") + BYE, port)
        s1, s2 = one(h1, r1, 40001), one(h2, r2, 40002)
        run = self.pcap(s1, s2, opts=("--set", "max_line=512"))
        at, past = sorted(run.records, key=lambda r: r["client"]["port"])
        self.assertEqual(at["anomalies"], [])
        self.assertEqual(at["helo"], h1.decode())
        self.assertEqual(at["transactions"][0]["reply"], r1.decode())
        self.assertEqual(names(past["anomalies"]), ["line_too_long", "line_too_long"])
        self.assertEqual([a["detail"] for a in past["anomalies"]], ["client", "server"])
        self.assertEqual(past["helo"], h2[:512 - len(b"EHLO ")].decode())
        self.assertEqual(past["transactions"][0]["reply"], r2[:512].decode())
        self.assertEqual(past["transactions"][0]["status"], "accepted")

    def banner_run(self, banner, opts=()):
        turns = [("s", banner), ("c", b"EHLO c.test\r\n"), ("s", b"250 mx.example.test\r\n")] + BYE
        return self.pcap(session(turns), opts=opts).records[0]

    def test_reply_too_long_lines(self):
        # 64 lines of one reply are kept (the parser's max_reply_lines); the 65th is cut.
        def banner(n):
            lines = [b"220-line %02d" % i for i in range(n - 1)] + [b"220 last"]
            return lines, b"".join(l + b"\r\n" for l in lines)
        lines, b = banner(64)
        r = self.banner_run(b)
        self.assertEqual(r["anomalies"], [])
        self.assertEqual(r["banner"], b"\n".join(lines).decode())
        lines, b = banner(65)
        r = self.banner_run(b)
        self.assertEqual(names(r["anomalies"]), ["reply_too_long"])
        self.assertIsNone(r["anomalies"][0]["detail"])
        self.assertEqual(r["banner"], b"\n".join(lines[:64]).decode())
        self.assertEqual(r["helo"], "c.test")  # the dialogue goes on

    def test_reply_too_long_bytes(self):
        # The text of one reply holds 2 * max_line bytes (lines joined by '\n').
        first, second = b"220-" + b"a" * 336, b"220-" + b"b" * 336
        for last, cut in ((b"220 " + b"c" * 338, False), (b"220 " + b"c" * 339, True)):
            total = len(first) + 1 + len(second) + 1 + len(last)
            self.assertEqual(total, 1024 + cut)
            r = self.banner_run(first + b"\r\n" + second + b"\r\n" + last + b"\r\n",
                                opts=("--set", "max_line=512"))
            if cut:
                self.assertEqual(names(r["anomalies"]), ["reply_too_long"])
                self.assertEqual(r["banner"], (first + b"\n" + second).decode())
            else:
                self.assertEqual(r["anomalies"], [])
                self.assertEqual(r["banner"], (first + b"\n" + second + b"\n" + last).decode())

    def test_ehlo_keywords_cut_with_the_reply(self):
        """Through smtptap an EHLO reply keeps 64 lines, so 63 keywords: too_many_extensions
        (a cap of 64) cannot come; tests/unit/smtp/test_anomalies.c reaches it."""
        kw = [b"EXT%d" % i for i in range(100)]
        reply = b"250-mx.example.test\r\n" + b"".join(b"250-" + k + b"\r\n" for k in kw[:-1]) + \
            b"250 " + kw[-1] + b"\r\n"
        turns = [("s", b"220 mx.example.test ESMTP\r\n"), ("c", b"EHLO c.test\r\n"), ("s", reply)]
        r = self.pcap(session(turns + BYE)).records[0]
        self.assertEqual(names(r["anomalies"]), ["reply_too_long"])
        self.assertEqual(r["extensions"], [k.decode() for k in kw[:63]])

    def test_mail_syntax(self):
        good = b"MAIL FROM:<carol@x.test> SIZE=20\r\n"
        turns = HELLO + tx(b"", [b"b@y.test"], MSG, mail=b"MAIL FROM:<alice@x.test\r\n")  # no '>'
        turns += tx(b"", [b"b@y.test"], MSG, mail=b"MAIL FROM <bob@x.test>\r\n")  # no ':'
        turns += tx(b"", [b"b@y.test"], MSG, mail=good) + BYE
        run = self.pcap(session(turns))
        r = run.records[0]
        self.assertEqual(names(r["anomalies"]), ["mail_syntax", "mail_syntax"])
        t1, t2, t3 = r["transactions"]
        self.assertEqual(t1["mail_from"], "alice@x.test")
        for t in (t1, t2, t3):  # each still a transaction, its message kept
            self.assertEqual((t["rcpt_to"], t["status"]), (["b@y.test"], "accepted"))
            self.assertMessage(run, t, MSG)
        self.assertEqual((t3["mail_from"], t3["mail_params"]), ("carol@x.test", "SIZE=20"))

    def test_rcpt_syntax(self):
        turns = HELLO + [("c", b"MAIL FROM:<a@x.test>\r\n"), ("s", b"250 2.1.0 Ok\r\n"),
                         ("c", b"RCPT TO:<bob@y.test\r\n"), ("s", b"250 2.1.5 Ok\r\n"),
                         ("c", b"RCPT <carol@y.test>\r\n"),
                         ("s", b"501 5.5.4 Syntax: RCPT TO:<address>\r\n"),
                         ("c", b"RCPT TO:<dave@y.test>\r\n"), ("s", b"250 2.1.5 Ok\r\n"),
                         ("c", b"DATA\r\n"), ("s", b"354 go\r\n"), ("c", MSG + b".\r\n"),
                         ("s", b"250 2.0.0 Ok\r\n")] + BYE
        run = self.pcap(session(turns))
        r = run.records[0]
        self.assertEqual(names(r["anomalies"]), ["rcpt_syntax", "rcpt_syntax"])
        t = r["transactions"][0]
        self.assertEqual(t["rcpt_to"], ["bob@y.test", "dave@y.test"])
        self.assertEqual(len(t["rcpt_rejected"]), 1)
        self.assertEqual(t["rcpt_rejected"][0]["reply"], "501 5.5.4 Syntax: RCPT TO:<address>")
        self.assertEqual(t["status"], "accepted")
        self.assertMessage(run, t, MSG)

    def auth_run(self, turns):
        r = self.pcap(session(HELLO + turns + tx(b"a@x.test", [b"b@y.test"], MSG) + BYE)).records[0]
        self.assertEqual(r["transactions"][0]["status"], "accepted")
        return r

    def test_auth_bad_base64_initial_response(self):
        for ir in (b"not base64!", b"YWxpY2U"):  # a bad byte; no padding
            with self.subTest(ir=ir):
                with self.assertRaises(binascii.Error):
                    base64.b64decode(ir, validate=True)
                r = self.auth_run([("c", b"AUTH PLAIN " + ir + b"\r\n"),
                                   ("s", b"535 5.7.8 Authentication failed\r\n")])
                self.assertEqual(names(r["anomalies"]), ["auth_bad_base64"])
                self.assertEqual(r["auth"], {"mechanism": "PLAIN", "username": None, "success": False,
                                             "reply": "535 5.7.8 Authentication failed"})

    def test_auth_bad_base64_login_line(self):
        r = self.auth_run([("c", b"AUTH LOGIN\r\n"), ("s", b"334 VXNlcm5hbWU6\r\n"),
                           ("c", b"@@@@\r\n"), ("s", b"334 UGFzc3dvcmQ6\r\n"),
                           ("c", base64.b64encode(b"hunter2") + b"\r\n"),
                           ("s", b"235 2.7.0 Authentication successful\r\n")])
        self.assertEqual(names(r["anomalies"]), ["auth_bad_base64"])
        self.assertEqual(r["auth"]["mechanism"], "LOGIN")
        self.assertIsNone(r["auth"]["username"])
        self.assertIs(r["auth"]["success"], True)
        self.assertNotIn("hunter2", json.dumps(r))

    def test_auth_plain_malformed(self):
        bad = base64.b64encode(b"alice")  # no NUL: not authzid NUL authcid NUL password
        good = base64.b64encode(b"\0alice\0s3cret-pw")
        r = self.auth_run([("c", b"AUTH PLAIN " + bad + b"\r\n"), ("s", b"535 5.7.8 no\r\n"),
                           ("c", b"AUTH PLAIN " + good + b"\r\n"), ("s", b"235 2.7.0 ok\r\n")])
        self.assertEqual(names(r["anomalies"]), ["auth_plain_malformed"])
        self.assertEqual(r["auth"], {"mechanism": "PLAIN", "username": "alice", "success": True,
                                     "reply": "235 2.7.0 ok"})
        self.assertNotIn("s3cret-pw", json.dumps(r))

    def test_data_bdat_mixed(self):
        # BDAT chunks, then DATA in the same transaction (RFC 3030 forbids it): the BDAT
        # transaction ends incomplete, the DATA content is a message of its own.
        turns = HELLO + [("c", b"MAIL FROM:<a@x.test>\r\n"), ("s", b"250 2.1.0 Ok\r\n"),
                         ("c", b"RCPT TO:<b@y.test>\r\n"), ("s", b"250 2.1.5 Ok\r\n"),
                         ("c", b"BDAT 5\r\nchunk"), ("s", b"250 2.0.0 5 octets\r\n"),
                         ("c", b"DATA\r\n"), ("s", b"354 go\r\n"), ("c", MSG + b".\r\n"),
                         ("s", b"250 2.0.0 Ok\r\n")] + BYE
        run = self.pcap(session(turns))
        r = run.records[0]
        self.assertEqual(names(r["anomalies"]).count("data_bdat_mixed"), 1)
        self.assertIsNone(only(r["anomalies"], "data_bdat_mixed")["detail"])
        t1, t2 = r["transactions"]
        self.assertEqual((t1["mail_from"], t1["rcpt_to"], t1["mode"], t1["status"]),
                         ("a@x.test", ["b@y.test"], "BDAT", "incomplete"))
        self.assertMessage(run, t1, b"chunk")
        self.assertIs(t1["message"]["complete"], False)
        self.assertEqual((t2["mode"], t2["status"], t2["reply"]), ("DATA", "accepted", "250 2.0.0 Ok"))
        self.assertMessage(run, t2, MSG)

    def test_overlap_conflict(self):
        """A retransmission of a message segment with other bytes: the first copy is kept
        (it is the message stored), and the session says overlap_conflict; an identical
        retransmission says nothing."""
        msg = b"Subject: first\r\n\r\nthe first copy of this line\r\n"
        # other bytes in one 8-byte word only (9-13): the weakest case for a digest
        evil = b"Subject: other\r\n\r\nthe first copy of this line\r\n"
        self.assertEqual(len(msg), len(evil))
        runs = []
        for again in (evil, msg):
            s = Session().handshake()
            for who, data in HELLO + tx(b"a@x.test", [b"b@y.test"], b"")[:-2]:
                s.send(who, data)
            seq = s.seq["c"]
            s.client(msg)
            s.packets.append((s.t, s._frame("c", 0x18, again, seq=seq), "retransmission"))
            s.t += s.gap_s
            s.client(b".\r\n")
            s.server(b"250 2.0.0 Ok\r\n")
            for who, data in BYE:
                s.send(who, data)
            s.fin()
            runs.append(self.pcap(s))
        (r,) = runs[0].records
        self.assertEqual([(a["name"], a["detail"]) for a in r["anomalies"]],
                         [("overlap_conflict", "client 1, server 0")])
        self.assertMessage(runs[0], r["transactions"][0], msg)
        self.assertEqual(runs[0].stats["reassembly"]["overlap_conflicts"], 1)
        (r,) = runs[1].records
        self.assertEqual(r["anomalies"], [])
        self.assertEqual(runs[1].stats["reassembly"]["overlap_conflicts"], 0)

    def test_gap_in_headers(self):
        hdr = b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"v" * 60) for i in range(80))
        msg = b"Subject: gap\r\n" + hdr + b"\r\nbody line\r\n"
        s = Session().handshake()
        for who, data in HELLO + tx(b"a@x.test", [b"b@y.test"], b"")[:-2]:
            s.send(who, data)
        before = len(s.packets)
        s.client(msg + b".\r\n")
        segs = [i for i in range(before, len(s.packets)) if s.packets[i][2] == "data-c"]
        s.server(b"250 2.0.0 Ok\r\n")
        for who, data in BYE:
            s.send(who, data)
        s.fin()
        g0, g1 = s.mss, 2 * s.mss  # the second segment of the message is lost
        self.assertNotEqual(msg[g1 - 1:g1], b"\n")
        s.packets = [p for i, p in enumerate(s.packets) if i != segs[1]]
        run = self.pcap(s)
        r = run.records[0]
        self.assertEqual(r["anomalies"], [])
        self.assertEqual(r["missing_bytes"]["client"], g1 - g0)
        t = r["transactions"][0]
        m = t["message"]
        a = only(m["anomalies"], "gap_in_headers")
        self.assertEqual(a["detail"], "%d bytes lost" % (g1 - g0))
        self.assertIsNone(a["mime_path"])
        self.assertEqual((m["missing_bytes"], m["size"], m["complete"]),
                         (g1 - g0, len(msg) - (g1 - g0), False))
        # The header lines whole before the gap and those after the line it ends in stay.
        resume = msg.index(b"\n", g1) + 1
        kept, off = [], 0
        for line in msg[:msg.index(b"\r\n\r\n") + 2].split(b"\r\n")[:-1]:
            end = off + len(line) + 2
            if end <= g0 or off >= resume:
                kept.append(line.split(b":")[0].decode().lower())
            off = end
        self.assertEqual(list(m["headers"]), kept)
        self.assertEqual(m["body"], "body line\r\n")
        self.assertEqual(t["status"], "accepted")


# ---------------------------------------------------------------- record limits

class RecordLimits(Base):
    def test_too_many_rcpts(self):
        ok, no = b"250 2.1.5 Ok\r\n", b"550 5.1.1 no such user\r\n"
        turns = HELLO + tx(b"t1@x.test", [b"r1@y", b"r2@y", b"r3@y"], MSG)  # exactly max_rcpts
        turns += tx(b"t2@x.test", [b"r1@y", (b"r2@y", no), b"r3@y", b"r4@y", b"r5@y"], MSG)
        turns += tx(b"t3@x.test", [b"r1@y", b"r2@y", b"r3@y", (b"r4@y", no)], MSG) + BYE
        run = self.pcap(session(turns), opts=("--set", "max_rcpts=3"))
        r = run.records[0]
        self.assertEqual(names(r["anomalies"]), ["too_many_rcpts", "too_many_rcpts"])  # one per transaction
        self.assertEqual([a["detail"] for a in r["anomalies"]], [None, None])
        t1, t2, t3 = r["transactions"]
        self.assertEqual((t1["rcpt_to"], t1["rcpt_rejected"]), (["r1@y", "r2@y", "r3@y"], []))
        # the first three recipients are kept, accepted and refused alike
        self.assertEqual(t2["rcpt_to"], ["r1@y", "r3@y"])
        self.assertEqual(t2["rcpt_rejected"], [{"addr": "r2@y", "reply": "550 5.1.1 no such user"}])
        self.assertEqual((t3["rcpt_to"], t3["rcpt_rejected"]), (["r1@y", "r2@y", "r3@y"], []))
        for t in (t1, t2, t3):
            self.assertEqual(t["status"], "accepted")
            self.assertMessage(run, t, MSG)

    def test_too_many_transactions(self):
        def many(n, port):
            turns = HELLO
            for i in range(n):
                turns = turns + tx(b"s%d@x.test" % i, [b"b@y.test"], MSG.replace(b"hello", b"msg %d" % i),
                                   final=b"250 2.0.0 queued %d\r\n" % i)
            return session(turns + BYE, port=port)
        run = self.pcap(many(2, 40001), many(4, 40002), opts=("--set", "max_transactions=2"))
        at, past = sorted(run.records, key=lambda r: r["client"]["port"])
        self.assertEqual(at["anomalies"], [])
        self.assertEqual(names(past["anomalies"]), ["too_many_transactions"])  # once, for 2 past
        self.assertIsNone(past["anomalies"][0]["detail"])
        for rec in (at, past):
            self.assertEqual([t["mail_from"] for t in rec["transactions"]], ["s0@x.test", "s1@x.test"])
            self.assertEqual([t["reply"] for t in rec["transactions"]],
                             ["250 2.0.0 queued 0", "250 2.0.0 queued 1"])
            for i, t in enumerate(rec["transactions"]):
                self.assertMessage(run, t, MSG.replace(b"hello", b"msg %d" % i))
            self.assertEqual(rec["close"], "fin")

    def test_too_many_anomalies_in_session(self):
        def unknown(n, port):
            turns = HELLO
            for i in range(n):
                turns = turns + [("c", b"XYZZY%d\r\n" % i), ("s", b"500 5.5.2 unrecognized\r\n")]
            return session(turns + tx(b"a@x.test", [b"b@y.test"], MSG) + BYE, port=port)
        run = self.pcap(unknown(3, 40001), unknown(5, 40002), opts=("--set", "max_anomalies=3"))
        at, past = sorted(run.records, key=lambda r: r["client"]["port"])
        self.assertEqual(names(at["anomalies"]), ["unknown_command"] * 3)
        self.assertEqual([a["detail"] for a in at["anomalies"]], ["XYZZY0", "XYZZY1", "XYZZY2"])
        # the first three are kept, then one entry counts the two left out
        self.assertEqual(names(past["anomalies"]), ["unknown_command"] * 3 + ["too_many_anomalies"])
        self.assertEqual([a["detail"] for a in past["anomalies"][:3]], ["XYZZY0", "XYZZY1", "XYZZY2"])
        self.assertEqual(past["anomalies"][3]["detail"], 2)  # a number here (a string in a message)
        self.assertEqual(past["transactions"][0]["status"], "accepted")


# ---------------------------------------------------------------- MIME

class MimeAnomalies(Base):
    def test_orphan_continuation(self):
        CONTINUATION = email.errors.FirstHeaderLineIsContinuationDefect
        top = b" folded\r\nSubject: x\r\n\r\nbody\r\n"
        part = eml_message(extra_parts=[b" folded too\r\nContent-Type: application/x-thing\r\n\r\nzz"])
        run, (m1, m2) = self.eml(top, part)
        a = only(m1["anomalies"], "orphan_continuation")
        self.assertEqual((a["detail"], a["mime_path"]), (" folded", None))
        py = email.message_from_bytes(top)
        self.assertTrue(any(isinstance(d, CONTINUATION) for d in py.defects))
        self.assertEqual(m1["subject"], py["subject"])
        self.assertEqual(m1["body"], py.get_payload())
        a = only(m2["anomalies"], "orphan_continuation")
        self.assertEqual((a["detail"], a["mime_path"]), (" folded too", "2"))
        p2 = py_parts(part)[2]
        self.assertTrue(any(isinstance(d, CONTINUATION) for d in p2.defects))
        self.assertEqual(self.att(m2, "2")["content_type"], p2.get_content_type())

    def test_mbox_from_line(self):
        line = b"From alice@example.test Mon Jan  1 00:00:00 2024"
        data = line + b"\r\nSubject: x\r\nFrom: alice@example.test\r\n\r\nbody\r\n"
        run, (m,) = self.eml(data)
        a = only(m["anomalies"], "mbox_from_line")
        self.assertEqual((a["detail"], a["mime_path"]), (line.decode(), None))
        py = email.message_from_bytes(data)
        self.assertEqual(py.get_unixfrom(), line.decode())
        self.assertEqual(sorted(m["headers"]), sorted(k.lower() for k in py.keys()))
        self.assertEqual((m["subject"], m["from"]), (py["subject"], py["from"]))
        self.assertEqual(m["body"], py.get_payload())

    def test_headers_not_terminated(self):
        data = b"Subject: only headers\r\nFrom: alice@example.test\r\n"
        control = b"Subject: only headers\r\nFrom: alice@example.test\r\n\r\n"
        run, (m, c) = self.eml(data, control)
        a = only(m["anomalies"], "headers_not_terminated")
        self.assertEqual((a["detail"], a["mime_path"]), (None, None))
        self.assertEqual(c["anomalies"], [])
        py = email.message_from_bytes(data)
        for x in (m, c):
            self.assertEqual((x["subject"], x["from"]), (py["subject"], py["from"]))
            self.assertEqual(x["body"], py.get_payload())

    def test_malformed_content_transfer_encoding(self):
        # A quoted encoding is no token (RFC 2045): the body is not decoded, as by Python.
        part = (b"Content-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: \"base64\"\r\n\r\naGVsbG8=")
        data = eml_message(extra_parts=[part])
        run, (m,) = self.eml(data)
        a = only(m["anomalies"], "malformed_content_transfer_encoding")
        self.assertEqual((a["detail"], a["mime_path"]), ('"base64"', "2"))
        self.assertEqual(self.att(m, "2")["sha256"], sha256(py_parts(data)[2].get_payload(decode=True)))

    def test_malformed_content_disposition(self):
        # No disposition token, but the filename after it is still seen (as by Python).
        part = (b"Content-Type: application/octet-stream\r\n"
                b"Content-Disposition: \"attachment\"; filename=evil.exe\r\n\r\nMZ")
        data = eml_message(extra_parts=[part])
        run, (m,) = self.eml(data)
        a = only(m["anomalies"], "malformed_content_disposition")
        self.assertEqual((a["detail"], a["mime_path"]), ('"attachment"; filename=evil.exe', "2"))
        att = self.att(m, "2")
        self.assertEqual(att["filename"], py_parts(data)[2].get_filename())
        self.assertIsNone(att["disposition"])

    def test_duplicate_content_transfer_encoding(self):
        part = (b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
                b"Content-Transfer-Encoding: 7bit\r\n\r\naGVsbG8gd29ybGQ=")
        data = eml_message(extra_parts=[part])
        run, (m,) = self.eml(data)
        a = only(m["anomalies"], "duplicate_content_transfer_encoding")
        self.assertEqual((a["detail"], a["mime_path"]), ("7bit", "2"))
        py = py_parts(data)[2]  # the first field wins, for Python too
        self.assertEqual(py.get_payload(decode=True), b"hello world")
        self.assertEqual(self.att(m, "2")["sha256"], sha256(b"hello world"))

    def test_duplicate_content_disposition(self):
        part = (b"Content-Type: application/octet-stream\r\n"
                b"Content-Disposition: attachment; filename=a.bin\r\n"
                b"Content-Disposition: inline; filename=b.bin\r\n\r\nxyz")
        data = eml_message(extra_parts=[part])
        run, (m,) = self.eml(data)
        a = only(m["anomalies"], "duplicate_content_disposition")
        self.assertEqual((a["detail"], a["mime_path"]), ("inline; filename=b.bin", "2"))
        py = py_parts(data)[2]
        att = self.att(m, "2")
        self.assertEqual((att["disposition"], att["filename"]),
                         (py.get_content_disposition(), py.get_filename()))
        self.assertEqual(att["filename"], "a.bin")

    def test_duplicate_parameter(self):
        part = b"Content-Type: application/octet-stream; name=a.bin; name=b.exe\r\n\r\nxyz"
        data = eml_message(extra_parts=[part])
        run, (m,) = self.eml(data)
        a = only(m["anomalies"], "duplicate_parameter")
        self.assertEqual((a["detail"], a["mime_path"]), ("name", "2"))
        self.assertEqual(self.att(m, "2")["filename"], py_parts(data)[2].get_filename())

    def test_rfc2231_anomalies(self):
        parts = [b"Content-Type: application/octet-stream\r\n"
                 b"Content-Disposition: attachment; filename*0=\"ab\"; filename*2=\"ef\"\r\n\r\nx",
                 b"Content-Type: application/octet-stream\r\n"
                 b"Content-Disposition: attachment; filename*=plain.txt\r\n\r\nx",
                 b"Content-Type: application/octet-stream\r\n"
                 b"Content-Disposition: attachment; filename*=utf-8''a%zzb.txt\r\n\r\nx"]
        data = eml_message(extra_parts=parts)
        run, (m,) = self.eml(data)
        self.assertEqual([(a["name"], a["detail"], a["mime_path"]) for a in m["anomalies"]],
                         [("rfc2231_missing_section", "filename", "2"),
                          ("rfc2231_malformed", "filename", "3"),
                          ("rfc2231_malformed", "filename", "4")])
        py = py_parts(data)
        # the sections that are there, a malformed value kept literally: as Python reads them
        for i in (2, 3, 4):
            self.assertEqual(self.att(m, str(i))["filename"], py[i].get_filename())

    def test_boundary_too_long(self):
        def msg(n):
            b = b"x" * n
            return (b"Subject: b\r\nContent-Type: multipart/mixed; boundary=\"" + b + b"\"\r\n\r\n"
                    b"--" + b + b"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--" + b + b"--\r\n")
        run, (at, past) = self.eml(msg(256), msg(257))
        self.assertEqual(at["anomalies"], [])
        self.assertEqual(at["body"], py_parts(msg(256))[1].get_payload())
        # one past: the multipart is one opaque part (Python, with no cap, still splits it)
        self.assertEqual(len(py_parts(msg(257))), 2)
        a = only(past["anomalies"], "boundary_too_long")
        self.assertEqual((a["detail"], a["mime_path"]), (None, None))
        self.assertIsNone(past["body"])
        data = msg(257)
        content = data[data.index(b"\r\n\r\n") + 4:]
        att = self.att(past, "1")
        self.assertEqual((att["content_type"], att["size"], att["sha256"]),
                         ("multipart/mixed", len(content), sha256(content)))

    def test_encoded_multipart(self):
        data = (b"Subject: e\r\nContent-Type: multipart/mixed; boundary=B\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n"
                b"--B\r\nContent-Type: text/plain\r\n\r\nhi there\r\n--B--\r\n")
        run, (m,) = self.eml(data)
        a = only(m["anomalies"], "encoded_multipart")
        self.assertEqual((a["detail"], a["mime_path"]), ("base64", None))
        py = email.message_from_bytes(data)
        self.assertTrue(any(isinstance(d, email.errors.InvalidMultipartContentTransferEncodingDefect)
                            for d in py.defects))
        self.assertEqual(m["body"], py.get_payload()[0].get_payload())  # parsed as if not encoded

    def test_qp_bad_escape(self):
        part = (b"Content-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\na=ZZb=3Dc=4")
        data = eml_message(extra_parts=[part])
        run, (m,) = self.eml(data)
        a = only(m["anomalies"], "qp_bad_escape")
        self.assertEqual((a["detail"], a["mime_path"]), ("2 kept literally", "2"))
        decoded = py_parts(data)[2].get_payload(decode=True)  # Python keeps bad escapes too
        self.assertEqual(decoded, b"a=ZZb=c=4")
        self.assertEqual(self.att(m, "2")["sha256"], sha256(decoded))

    def test_uuencode_parts(self):
        good = b"%:&5L;&\\`"  # 'hello'
        self.assertEqual(binascii.a2b_uu(good), b"hello")
        uu = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
        parts = [uu + b"begin 644 a.bin\r\n" + good + b"\r\n!!!\r\nend",   # 2: a bad line
                 uu + b"begin 644 b.bin\r\n" + good,                       # 3: no end
                 uu + good + b"\r\nend",                                   # 4: no begin
                 uu + b"begin 644 d.bin\r\n" + good + b"\r\n`\r\nend"]     # 5: whole
        run, (m,) = self.eml(eml_message(extra_parts=parts))
        self.assertEqual([(a["name"], a["detail"], a["mime_path"]) for a in m["anomalies"]],
                         [("uu_bad_line", None, "2"), ("uu_missing_end", None, "3"),
                          ("uu_missing_begin", None, "4")])
        self.assertEqual(self.att(m, "3")["sha256"], sha256(b"hello"))
        self.assertEqual(self.att(m, "4")["size"], 0)  # only what stands between begin and end
        self.assertEqual(self.att(m, "5")["sha256"], sha256(b"hello"))

    def test_base64_anomalies(self):
        b64 = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        parts = [b64 + b"aGVs!!bG8=",     # 2: garbage skipped
                 b64 + b"aGVsbG8=aGk=",   # 3: data after padding, decoded on
                 b64 + b"aGVsbG8",        # 4: padding missing
                 b64 + b"aGVsbG8="]       # 5: whole
        data = eml_message(extra_parts=parts)
        run, (m,) = self.eml(data)
        self.assertEqual([(a["name"], a["detail"], a["mime_path"]) for a in m["anomalies"]],
                         [("base64_garbage", "2 bytes skipped", "2"),
                          ("base64_data_after_padding", None, "3"),
                          ("base64_truncated", None, "4")])
        py = py_parts(data)
        py[2].get_payload(decode=True)  # Python notes its defects while decoding
        self.assertTrue(any(isinstance(d, email.errors.InvalidBase64CharactersDefect) for d in py[2].defects))
        for i in (2, 4, 5):
            self.assertEqual(self.att(m, str(i))["sha256"], sha256(py[i].get_payload(decode=True)))
        self.assertTrue(any(isinstance(d, email.errors.InvalidBase64PaddingDefect) for d in py[4].defects))
        on = base64.b64decode(b"aGVsbG8=") + base64.b64decode(b"aGk=")
        self.assertEqual(self.att(m, "3")["sha256"], sha256(on))


# ---------------------------------------------------------------- extraction

class ExtractAnomalies(Base):
    def test_too_many_received_and_path_ips(self):
        def msg(n):
            rcv = b"".join(b"Received: from [10.0.%d.%d]\r\n" % (i // 250, i % 250 + 1) for i in range(n))
            return rcv + b"Subject: hops\r\n\r\nbody\r\n"
        wide = ("--set", "mime_max_headers=3000")
        run, (at, past) = self.eml(msg(1000), msg(1001), opts=wide)
        self.assertEqual(at["anomalies"], [])
        py = email.message_from_bytes(msg(1001)).get_all("received")
        self.assertEqual(at["received"], py[:1000])
        self.assertEqual(at["path"], [re.search(r"\[(.*)\]", v).group(1) for v in py[:1000]])
        self.assertEqual(names(past["anomalies"]), ["too_many_received", "too_many_path_ips"])
        self.assertEqual([(a["detail"], a["mime_path"]) for a in past["anomalies"]], [(None, None)] * 2)
        self.assertEqual(past["received"], py[:1000])
        self.assertEqual(past["path"], at["path"])
        self.assertEqual(past["subject"], "hops")
        # With the default mime_max_headers (1000) the 1001st Received is a header too many.
        run, (dflt,) = self.eml(msg(1001))
        self.assertEqual(names(dflt["anomalies"]), ["too_many_headers"])
        self.assertEqual(dflt["received"], py[:1000])

    def test_store_error(self):
        payload = b"store me, if you can\n"
        h = hashlib.sha256(payload).hexdigest()
        data = eml_message(extra_parts=[b"Content-Type: application/octet-stream\r\n"
                                        b"Content-Transfer-Encoding: base64\r\n"
                                        b"Content-Disposition: attachment; filename=x.bin\r\n\r\n" +
                                        base64.b64encode(payload)])
        path = os.path.join(self.dir, "m.eml")
        with open(path, "wb") as f:
            f.write(data)
        out = os.path.join(self.dir, "out")
        os.makedirs(os.path.join(out, "files"))
        with open(os.path.join(out, "files", h[:2]), "w"):  # a file where its directory goes
            pass
        p = subprocess.run([BIN, "-q", "-o", out, "--eml", path], env=ENV, capture_output=True,
                           timeout=60)
        stderr = p.stderr.decode("utf-8", "replace")
        self.assertNotIn("AddressSanitizer", stderr)
        self.assertNotIn("runtime error:", stderr)
        run = Run(p.returncode, "", stderr, out)
        # said in the record, in stats.json and in the exit status
        self.assertEqual(run.rc, 1, stderr)
        self.assertIn("1 records or files could not be written", stderr)
        with open(os.path.join(out, "stats.json")) as f:
            self.assertEqual(json.load(f)["output_errors"], 1)
        m = run.records[0]["transactions"][0]["message"]
        a = only(m["anomalies"], "store_error")
        self.assertEqual((a["detail"], a["mime_path"]), (os.strerror(errno.ENOTDIR), "2"))
        att = self.att(m, "2")
        self.assertIsNone(att["stored"])
        self.assertEqual((att["sha256"], att["size"]), (h, len(payload)))  # hashed all the same
        self.assertEqual(os.listdir(os.path.join(out, "files", ".tmp")), [])  # nothing left behind
        self.assertEqual(run.file_bytes(m["eml"]), data)  # the message store is unharmed

    def test_uuencode_in_text_without_end(self):
        good = b"%:&5L;&\\`"
        data = eml_message(text_parts=b"\r\nbegin 644 a.txt\r\n" + good)
        run, (m,) = self.eml(data)
        a = only(m["anomalies"], "uu_missing_end")
        self.assertEqual((a["detail"], a["mime_path"]), (None, "1"))
        att = self.att(m, "1.uu.1")
        self.assertEqual((att["filename"], att["sha256"]), ("a.txt", sha256(binascii.a2b_uu(good))))
        self.assertEqual(m["body"], py_parts(data)[1].get_payload())  # the text left as it is

    def test_tnef_bad_signature(self):
        junk = b"XXXXXXXX"
        data = eml_message(extra_parts=[b"Content-Type: application/ms-tnef; name=winmail.dat\r\n"
                                        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(junk)])
        run, (m,) = self.eml(data)
        a = only(m["anomalies"], "tnef_bad_signature")
        signature = "0x%08x" % int.from_bytes(junk[:4], "little")  # read as TNEF does
        self.assertEqual((a["detail"], a["mime_path"]), (signature, "2"))
        self.assertEqual([x["mime_path"] for x in m["attachments"]], ["2"])  # nothing decoded from it
        self.assertEqual(self.att(m, "2")["sha256"], sha256(junk))

    def test_read_error(self):
        # /proc/self/mem is a regular file whose first read fails (page 0 is never mapped).
        with self.assertRaises(OSError) as cm, open("/proc/self/mem", "rb") as f:
            f.read(1)
        self.assertEqual(cm.exception.errno, errno.EIO)
        run = smtptap("--eml", "/proc/self/mem")
        self.assertEqual(run.rc, 1)
        self.assertIn("/proc/self/mem: " + os.strerror(errno.EIO), run.stderr)
        self.assertEqual(len(run.records), 1)
        r = run.records[0]
        a = only(r["anomalies"], "read_error")
        self.assertEqual(a["detail"], os.strerror(errno.EIO))
        m = r["transactions"][0]["message"]
        self.assertEqual((m["size"], m["complete"]), (0, False))


# ---------------------------------------------------------------- out of memory

class OutOfMemory(Base):
    """ASan's allocator refuses any allocation over 2 MiB here: the header block, allowed
    to grow to 16 MiB, finds no memory when it passes 2 MiB."""

    HEADERS_AFTER = b"".join(b"X-After-%d: %s\r\n" % (i, b"z" * 30) for i in range(3))
    DATA = (b"Subject: big\r\nX-Big: " + b"a" * (3 << 20) + b"\r\n" + HEADERS_AFTER +
            b"\r\nbody survives\r\n")

    def oom_run(self):
        if not is_asan(BIN):
            self.skipTest("needs the ASan build (allocation limit from ASAN_OPTIONS): " + BIN)
        path = os.path.join(self.dir, "big.eml")
        with open(path, "wb") as f:
            f.write(self.DATA)
        out = os.path.join(self.dir, "out")
        env = dict(ENV, ASAN_OPTIONS="allocator_may_return_null=1:max_allocation_size_mb=2:"
                                     "detect_leaks=1")
        p = subprocess.run([BIN, "-q", "-o", out, "--set", "max_streams=1024",
                            "--set", "mime_header_bytes=16777216", "--eml", path],
                           env=env, capture_output=True, timeout=120)
        stderr = p.stderr.decode("utf-8", "replace")
        self.assertNotIn("ERROR: AddressSanitizer", stderr)
        self.assertNotIn("ERROR: LeakSanitizer", stderr)
        self.assertNotIn("runtime error:", stderr)
        run = Run(p.returncode, "", stderr, out)
        self.assertEqual(run.rc, 0, stderr[-2000:])
        self.assertEqual(len(run.records), 1)
        return run.records[0]["transactions"][0]["message"]

    def test_out_of_memory_in_header_block(self):
        m = self.oom_run()
        a = only(m["anomalies"], "out_of_memory")
        self.assertIsNone(a["mime_path"])
        self.assertNotIn("header_too_large", names(m["anomalies"]))  # no limit was reached
        self.assertEqual(m["subject"], "big")
        self.assertTrue(m["headers"]["x-big"].startswith("aaaa"))
        self.assertEqual(m["size"], len(self.DATA))

    # after the failed allocation the header block still ends at its empty line (it once
    # ended at the next line, an unstored one looking empty, and the headers became body)
    def test_out_of_memory_header_block_ends_at_its_empty_line(self):
        m = self.oom_run()
        self.assertEqual(m["body"], "body survives\r\n")


if __name__ == "__main__":
    unittest.main()
