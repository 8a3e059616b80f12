"""Shared helpers for the integration tests: run smtptap, read its output."""
import atexit
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The sanitized build: every integration run is also a memory-safety check.
# SMTPTAP_BUILD is the build directory (make B=...; tests/run.py sets it).
BUILD = os.path.join(ROOT, os.environ.get("SMTPTAP_BUILD", "build"))
BIN = os.environ.get("SMTPTAP_BIN", os.path.join(BUILD, "asan", "smtptap"))
# The optimised build of the same directory, for what ASan would distort (peak RSS).
RELEASE = os.path.join(BUILD, "smtptap")
# The peers' captures beside the project; SMTPTAP_CORPUS points elsewhere
# (or nowhere, to see what a machine without them reports).
CORPUS = os.environ.get("SMTPTAP_CORPUS") or \
    os.path.normpath(os.path.join(ROOT, "..", "shared", "corpus"))
PCAPS = os.path.join(ROOT, "pcaps")
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
           UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")


class Run:
    """The outcome of one smtptap run."""

    def __init__(self, rc, stdout, stderr, out):
        self.rc, self.stdout, self.stderr, self.out = rc, stdout, stderr, out
        path = os.path.join(out, "sessions.jsonl")
        self.records = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.records = [json.loads(line) for line in f if line.strip()]

    def transactions(self):
        return [t for r in self.records for t in r["transactions"]]

    def file_bytes(self, rel):
        with open(os.path.join(self.out, rel), "rb") as f:
            return f.read()


_OUTS = []
atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _OUTS])


def smtptap(*args, timeout=300):
    """Run smtptap with args plus -o <fresh dir> (removed at exit); returns a Run."""
    out = tempfile.mkdtemp(prefix="smtptap-test-")
    _OUTS.append(out)
    p = subprocess.run([BIN, "-q", "-o", out] + [str(a) for a in args], env=ENV,
                       capture_output=True, timeout=timeout)
    stderr = p.stderr.decode("utf-8", "replace")
    if "AddressSanitizer" in stderr or "runtime error:" in stderr:
        raise AssertionError("sanitizer report:\n" + stderr[-6000:])
    return Run(p.returncode, p.stdout.decode("utf-8", "replace"), stderr, out)


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def sha1(b):
    return hashlib.sha1(b).hexdigest()


class SmtptapCase(unittest.TestCase):
    def assertMessage(self, run, tx, expected_bytes):
        """The record's message and the stored .eml both hold exactly these bytes."""
        m = tx["message"]
        self.assertIsNotNone(m, "transaction has no message")
        self.assertEqual(m["size"], len(expected_bytes))
        self.assertEqual(m["sha256"], sha256(expected_bytes))
        self.assertEqual(run.file_bytes(m["eml"]), expected_bytes)


def parse_endpoint(s):
    """'1.2.3.4:25', '[2001:db8::1]:25' or '::1:25' -> (ip, port)."""
    if s.startswith("["):
        ip, port = s[1:].split("]:")
    else:
        ip, port = s.rsplit(":", 1)
    return str(ipaddress.ip_address(ip)), int(port)
