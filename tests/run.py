#!/usr/bin/env python3
"""Run every test of smtptap and end with the line 'N passed, N failed, N skipped'.

Unit tests are cmocka binaries in <build>/asan/tests/<layer>/test_<file>,
one per tests/unit/<layer>/test_<file>.c (built with ASan and UBSan); each
test case counts once, read from cmocka's TAP output. A binary that crashes
counts as one failure more than its TAP lines show; one not built, as one
failure. A case that calls cmocka's skip() is skipped, neither passed nor
failed; what it printed before skip() is its reason.
Integration tests are Python unittest modules in tests/integration/; each
test method counts once, and a unittest skip is a skip.
Every skipped test is listed with its reason before the closing line, so a
test that did not run (no root, no tnef, no peer corpus) is never taken for
one that passed.
A test marked @unittest.expectedFailure (a bug another open issue fixes)
that fails is an expected failure: neither passed nor failed, listed with
its reason (the test function's `xfail_reason`, else the comment above its
decorators) and what failed, and counted on the line 'N expected to fail' just
before the closing line. One that passes is an unexpected success and
counts as failed: the bug was fixed, so the mark must go.

SMTPTAP_BUILD=dir  the build directory (default build, as `make B=dir`);
                   the integration tests run dir/asan/smtptap unless
                   SMTPTAP_BIN names another binary.
SMTPTAP_TESTS=sub  run only the binaries and modules whose name contains sub.
"""
import glob
import inspect
import os
import re
import subprocess
import sys
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONLY = os.environ.get("SMTPTAP_TESTS", "")
BUILD = os.path.join(ROOT, os.environ.get("SMTPTAP_BUILD", "build"))
# tests/integration/common.py reads it too: both halves test the same build.
os.environ["SMTPTAP_BUILD"] = BUILD

# cmocka's TAP result line: "ok 3 - name", "not ok 3 - name", and for skip()
# "not ok 3 # SKIP name" (cmocka 1.1.5, Debian 12) or "ok 3 - name # SKIP".
TAP_RESULT = re.compile(r"^(not )?ok (\d+)\b(.*)$")
TAP_SKIP = re.compile(r"#\s*SKIP\b\s*(.*)$", re.I)


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = []  # (test, reason)
        self.xfailed = []  # (test, reason, what failed)
        self.xpassed = []  # tests marked as expected to fail that passed


def parse_tap(text, tally, where):
    """Count one cmocka binary's TAP output into tally; returns (ok, bad, skipped)."""
    ok = bad = skipped = 0
    before = []  # lines since the last result: what a skipping test printed
    for line in text.splitlines():
        m = TAP_RESULT.match(line)
        if not m:
            if line.strip() and not line.startswith("1.."):
                before.append(line.lstrip("#").strip())
            continue
        rest = m.group(3)
        s = TAP_SKIP.search(rest)
        if s:
            name = rest[:s.start()].strip().lstrip("-").strip() or s.group(1).strip() \
                or "case " + m.group(2)
            reason = "; ".join(before) or "skip() called, no reason printed"
            tally.skipped.append(("unit %s: %s" % (where, name), reason))
            skipped += 1
        elif m.group(1):
            bad += 1
        else:
            ok += 1
        before = []
    return ok, bad, skipped


def run_unit(tally):
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP",
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    top = os.path.join(BUILD, "asan", "tests")
    # The sources say which binaries there must be: one left in the build
    # directory by a test file since removed does not run, and one not
    # built (a wrong build directory) is a failure, not a quiet absence.
    for src in sorted(glob.glob(os.path.join(ROOT, "tests/unit/*/test_*.c"))):
        name = os.path.splitext(os.path.relpath(src, os.path.join(ROOT, "tests/unit")))[0]
        if ONLY and ONLY not in name:
            continue
        exe = os.path.join(top, name)
        if not os.access(exe, os.X_OK):
            print(f"unit {name}: not built ({exe}) FAIL")
            tally.failed += 1
            continue
        t0 = time.time()
        p = subprocess.run([exe], cwd=ROOT, env=env, capture_output=True, text=True,
                           errors="replace", timeout=600)
        ok, bad, skipped = parse_tap(p.stdout, tally, name)
        if p.returncode != 0 and bad == 0:
            bad = 1  # crashed or sanitizer abort: no TAP line tells
        tally.passed += ok
        tally.failed += bad
        status = "ok" if bad == 0 else "FAIL"
        print(f"unit {name}: {ok} passed, {bad} failed, {skipped} skipped "
              f"({time.time() - t0:.1f}s) {status}")
        if bad:
            sys.stdout.write(p.stdout[-4000:])
            sys.stdout.write(p.stderr[-6000:])


class Counting(unittest.TextTestResult):
    """Counts passes itself: testsRun minus the rest is wrong with subtests
    and class fixtures. An expected failure is no pass."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passes = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passes += 1


def xfail_reason(test):
    """Why a test is expected to fail: its function's `xfail_reason`, else the
    comment just above its decorators ("# expected to fail until issue N
    (...)", naming the open issue that fixes it)."""
    fn = getattr(test, getattr(test, "_testMethodName", ""), None)
    if getattr(fn, "xfail_reason", None):
        return fn.xfail_reason
    try:
        lines, _ = inspect.findsource(fn)
        n = fn.__code__.co_firstlineno - 2  # the line above the first decorator
    except (TypeError, OSError, AttributeError):
        return "no reason given"
    comment = []
    while n >= 0 and lines[n].strip().startswith("#"):
        comment.insert(0, lines[n].strip().lstrip("#").strip())
        n -= 1
    return " ".join(comment) or "no reason given"


def failing_line(err):
    """The line of a traceback that says what failed."""
    lines = [line.strip() for line in err.strip().splitlines() if line.strip()]
    said = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    return (said or lines or ["?"])[-1][:300]


def run_integration(tally):
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/integration/test_*.py"))):
        mod = os.path.splitext(os.path.basename(path))[0]
        if ONLY and ONLY not in mod:
            continue
        suite.addTests(loader.loadTestsFromName(mod))
    if suite.countTestCases() == 0:
        return
    r = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=Counting).run(suite)
    tally.passed += r.passes
    tally.failed += len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
    tally.skipped += [(t.id(), reason) for t, reason in r.skipped]
    tally.xfailed += [(t.id(), xfail_reason(t), failing_line(err)) for t, err in r.expectedFailures]
    tally.xpassed += [t.id() for t in r.unexpectedSuccesses]


def main():
    os.chdir(ROOT)
    tally = Tally()
    run_unit(tally)
    run_integration(tally)
    if tally.skipped:
        print("\nskipped:")
        for test, reason in tally.skipped:
            print(f"  {test}: {reason}")
    if tally.xpassed:
        print("\nunexpected successes, counted as failed (the bug is fixed: remove the mark):")
        for test in tally.xpassed:
            print(f"  {test}")
    if tally.xfailed:
        print("\nexpected to fail:")
        for test, reason, failing in tally.xfailed:
            print(f"  {test}: {reason}")
            print(f"      fails with: {failing}")
    print(f"{len(tally.xfailed)} expected to fail")
    print(f"{tally.passed} passed, {tally.failed} failed, {len(tally.skipped)} skipped")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
