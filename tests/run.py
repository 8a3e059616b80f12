#!/usr/bin/env python3
"""Run every test of smtptap and end with the line 'N passed, N failed'.

Unit tests are cmocka binaries in build/asan/tests/ (built with ASan and
UBSan); each test case counts once, read from cmocka's TAP output. A binary
that crashes counts as one failure more than its TAP lines show.
Integration tests are Python unittest modules in tests/integration/; each
test method counts once. Set SMTPTAP_TESTS=substring to run a subset.
"""
import glob
import os
import re
import subprocess
import sys
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONLY = os.environ.get("SMTPTAP_TESTS", "")


def run_unit(passed, failed):
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP",
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    for exe in sorted(glob.glob(os.path.join(ROOT, "build/asan/tests/*/test_*"))):
        name = os.path.relpath(exe, os.path.join(ROOT, "build/asan/tests"))
        if ONLY and ONLY not in name:
            continue
        t0 = time.time()
        p = subprocess.run([exe], cwd=ROOT, env=env, capture_output=True, text=True,
                           errors="replace", timeout=600)
        ok = len(re.findall(r"^ok \d+", p.stdout, re.M))
        bad = len(re.findall(r"^not ok \d+", p.stdout, re.M))
        if p.returncode != 0 and bad == 0:
            bad = 1  # crashed or sanitizer abort: no TAP line tells
        passed += ok
        failed += bad
        status = "ok" if bad == 0 else "FAIL"
        print(f"unit {name}: {ok} passed, {bad} failed ({time.time() - t0:.1f}s) {status}")
        if bad:
            sys.stdout.write(p.stdout[-4000:])
            sys.stdout.write(p.stderr[-6000:])
    return passed, failed


class Counting(unittest.TextTestResult):
    pass


def run_integration(passed, failed):
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/integration/test_*.py"))):
        mod = os.path.splitext(os.path.basename(path))[0]
        if ONLY and ONLY not in mod:
            continue
        suite.addTests(loader.loadTestsFromName(mod))
    if suite.countTestCases() == 0:
        return passed, failed
    r = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=Counting).run(suite)
    bad = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
    return passed + r.testsRun - bad - len(r.skipped), failed + bad


def main():
    os.chdir(ROOT)
    passed, failed = run_unit(0, 0)
    passed, failed = run_integration(passed, failed)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
