"""Shared helpers for the integration tests: run smtptap, read its output."""
import atexit
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

try:
    import jsonschema
except ImportError:
    # python3 may not be Debian's (a pyenv or venv interpreter): Debian's
    # python3-jsonschema is then in its dist-packages, for the same 3.x.
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import jsonschema
    except ImportError:
        raise ImportError("the integration tests validate every record: python3-jsonschema is "
                          "needed (sh scripts/deps.sh test)") from None

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


def _validator(name):
    """A draft 2020-12 validator for docs/<name>, itself checked against the draft."""
    with open(os.path.join(ROOT, "docs", name), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


# Loaded once: every record any test produces is checked against them.
RECORD_SCHEMA = _validator("record.schema.json")
STATS_SCHEMA = _validator("stats.schema.json")


def json_path(parts):
    """deque(['transactions', 0, 'mode']) -> '$.transactions[0].mode'"""
    return "$" + "".join("[%d]" % p if isinstance(p, int) else "." + str(p) for p in parts)


def _short(text, n=300):
    return text if len(text) <= n else text[:n] + "..."


def schema_errors(validator, instance, limit=10):
    """What is wrong with instance, one line per error: the path in the
    instance, the rule (keyword and where it is in the schema), the message."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    lines = []
    for e in errors[:limit]:
        rule = "/".join(map(str, e.absolute_schema_path))
        lines.append("%s: %s [rule %s: %s]" % (json_path(e.absolute_path), _short(e.message),
                                               e.validator, rule))
        for c in sorted(e.context or [], key=lambda c: len(c.absolute_path))[-1:]:
            lines.append("    because %s: %s" % (json_path(c.absolute_path), _short(c.message)))
    if len(errors) > limit:
        lines.append("... and %d more" % (len(errors) - limit))
    return lines


def record_errors(record):
    return schema_errors(RECORD_SCHEMA, record)


def stats_errors(stats):
    return schema_errors(STATS_SCHEMA, stats)


def load_output(out):
    """OUT's records (sessions.jsonl, [] if absent) and stats.json (None if
    absent), each validated against its schema in docs/: AssertionError
    naming the file, the line, the path in the record and the rule."""
    records, stats, bad = [], None, []
    path = os.path.join(out, "sessions.jsonl")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                r = json.loads(line)
                records.append(r)
                errors = record_errors(r)
                if errors:
                    uid = r.get("uid") if isinstance(r, dict) else None
                    bad.append("%s line %d (uid %s) does not match docs/record.schema.json:\n  %s"
                               % (path, n, uid, "\n  ".join(errors)))
    path = os.path.join(out, "stats.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            stats = json.load(f)
        errors = stats_errors(stats)
        if errors:
            bad.append("%s does not match docs/stats.schema.json:\n  %s"
                       % (path, "\n  ".join(errors)))
    if bad:
        more = "\n... and %d more records" % (len(bad) - 5) if len(bad) > 5 else ""
        raise AssertionError("\n".join(bad[:5]) + more)
    return records, stats


class Run:
    """The outcome of one smtptap run; its records and stats.json are
    validated against the schemas as they are read."""

    def __init__(self, rc, stdout, stderr, out):
        self.rc, self.stdout, self.stderr, self.out = rc, stdout, stderr, out
        self.records, self.stats = load_output(out)

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


def children(pid):
    """The child processes of pid (every thread's list)."""
    out = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def packet_sockets():
    """The inodes of the machine's packet sockets (libpcap's live handles)."""
    try:
        with open("/proc/net/packet") as f:
            return {line.split()[-1] for line in f.readlines()[1:]}
    except OSError:
        return set()


def holds_packet_socket(pid, inodes=None):
    """Whether pid holds a packet socket open (one of inodes, default all of them)."""
    inodes = packet_sockets() if inodes is None else inodes
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False
