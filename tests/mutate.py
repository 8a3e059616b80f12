#!/usr/bin/env python3
"""Mutation check: does the suite notice small deliberate bugs?

Each entry of tests/mutations.txt plants one plausible bug (an off-by-one, a
swapped condition, a dropped field, a wrong cap) by replacing an exact piece
of text in one source file. This script applies them one at a time, each in
a private copy of the tree (never in the tree itself: others work in it),
rebuilds what changed there, runs the tests the entry names, and reports
which mutants survive. A survivor is a missing test or, when the entry says
"equivalent:", a mutant that cannot change behaviour (the reason is given).

    python3 tests/mutate.py              every entry, its own test selection
    python3 tests/mutate.py --full       every entry, the whole suite
    python3 tests/mutate.py --confirm    survivors run again on the whole suite
    python3 tests/mutate.py --only ID    entries whose id contains ID (repeatable)
    python3 tests/mutate.py --check      only check that every entry still applies
    make mutate                          the same as the first line

The copies live in --work (default /tmp/smtptap-mutate/slotN): the tree's
tracked and untracked, not ignored, files (git ls-files), or those of --rev
REV, each with its own build directory, so a second run rebuilds only what
changed since. -j N runs N mutants at a time (default 2: one per core of
the reference machine, and no more).

Before any mutant, the unmutated copy runs the whole suite once: a test that
already fails there (someone's work in progress) cannot kill a mutant. A
mutant is killed when a test fails that passed unmutated, a test binary
crashes, or the run exceeds --timeout; one that does not compile is reported
as such (fix the entry). An entry whose text is no longer found exactly once
(the code moved or changed) is reported as stale, never silently skipped.

The exit status is 0 when every mutant was killed or is a documented
equivalent, no entry is stale and every mutant compiled; 1 otherwise.
"""
import argparse
import concurrent.futures
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIST = os.path.join(ROOT, "tests", "mutations.txt")
KEYS = ("id", "file", "desc", "tests", "old", "new", "equivalent")
REQUIRED = ("id", "file", "desc", "tests", "old", "new")


# ------------------------------------------------------------------ the list

class Entry:
    def __init__(self, fields, line):
        self.line = line
        self.id = fields["id"]
        self.file = fields["file"]
        self.desc = fields["desc"]
        self.tests = fields["tests"].split()
        self.old = fields["old"]
        self.new = fields["new"]
        self.equivalent = fields.get("equivalent")


def parse_list(path):
    """Blocks of 'key: value' lines separated by blank lines; '#' lines are
    comments; a line starting with '|' continues the previous value on a
    new line (the text after '|' exactly). Values are literal text."""
    entries, errors = [], []
    fields, start, last = {}, 0, None

    def close(lineno):
        nonlocal fields, last
        if not fields:
            return
        missing = [k for k in REQUIRED if k not in fields]
        if missing:
            errors.append(f"{path}:{start}: entry without {', '.join(missing)}")
        elif fields["old"] == fields["new"]:
            errors.append(f"{path}:{start}: {fields['id']}: old and new are the same")
        else:
            entries.append(Entry(fields, start))
        fields, last = {}, None

    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for n, raw in enumerate(lines, 1):
        if raw.startswith("#"):
            continue
        if not raw.strip():
            close(n)
            continue
        if raw.startswith("|"):
            if last is None:
                errors.append(f"{path}:{n}: continuation line without a value before it")
            else:
                fields[last] += "\n" + raw[1:]
            continue
        key, sep, value = raw.partition(":")
        if not sep or key not in KEYS:
            errors.append(f"{path}:{n}: expected one of {', '.join(KEYS)} then ':'")
            continue
        if key in fields:
            errors.append(f"{path}:{n}: {key} given twice in one entry")
        if not fields:
            start = n
        fields[key] = value[1:] if value.startswith(" ") else value
        last = key
    close(len(lines))
    seen = set()
    for e in entries:
        if e.id in seen:
            errors.append(f"{path}:{e.line}: id {e.id} used twice")
        seen.add(e.id)
    return entries, errors


# ------------------------------------------------------------------ sources

def tree_files(rev):
    """{path: (bytes, mode)} of the tree to mutate: the work tree's tracked and
    untracked, not ignored, files, or those of commit rev."""
    out = {}
    if rev:
        tar = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", rev],
                             capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as t:
            for m in t.getmembers():
                if m.isfile():
                    out[m.name] = (t.extractfile(m).read(), m.mode & 0o777)
        return out
    names = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "-c", "-o", "--exclude-standard"],
                           capture_output=True, check=True).stdout.split(b"\0")
    for name in names:
        name = name.decode()
        path = os.path.join(ROOT, name)
        if not name or not os.path.isfile(path) or os.path.islink(path):
            continue  # deleted in the work tree, or a symlink (none are built)
        with open(path, "rb") as f:
            out[name] = (f.read(), os.stat(path).st_mode & 0o777)
    return out


def occurrences(files, e):
    data = files.get(e.file)
    if data is None:
        return -1
    return data[0].decode("utf-8", "replace").count(e.old)


def write_file(path, data, mode=None):
    """Write and give the file a new modification time, so that make
    rebuilds what depends on it (never an older time: a restored file must
    be rebuilt too)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def sync(src_dir, files):
    """Make src_dir hold exactly files (those a previous sync wrote and that
    are gone are removed; the build directory is left alone). Only changed
    files are written, so make rebuilds only what changed."""
    manifest = os.path.join(src_dir, ".mutate-files")
    old = set()
    if os.path.exists(manifest):
        with open(manifest) as f:
            old = set(f.read().split("\0")) - {""}
    for name in old - set(files):
        try:
            os.unlink(os.path.join(src_dir, name))
        except FileNotFoundError:
            pass
    changed = 0
    for name, (data, mode) in files.items():
        path = os.path.join(src_dir, name)
        try:
            with open(path, "rb") as f:
                same = f.read() == data
        except FileNotFoundError:
            same = False
        if not same:
            write_file(path, data, mode)
            changed += 1
    with open(manifest, "w") as f:
        f.write("\0".join(sorted(files)))
    return changed


# ------------------------------------------------------------------ build and test

def make(src, targets, jobs, log):
    p = subprocess.run(["make", "--no-print-directory", "-j%d" % jobs, "B=build"] + targets,
                       cwd=src, capture_output=True, text=True, errors="replace")
    if p.returncode != 0:
        log.append(p.stdout[-3000:] + p.stderr[-3000:])
    return p.returncode == 0


def unit_names(src):
    top = os.path.join(src, "tests", "unit")
    names = []
    for layer in sorted(os.listdir(top)):
        d = os.path.join(top, layer)
        if os.path.isdir(d):
            names += [f"{layer}/{f[:-2]}" for f in sorted(os.listdir(d))
                      if f.startswith("test_") and f.endswith(".c")]
    return names


def module_names(src):
    d = os.path.join(src, "tests", "integration")
    return sorted(f[:-3] for f in os.listdir(d) if f.startswith("test_") and f.endswith(".py"))


def targets_for(src, token):
    """What must be built for run.py's selection token ('' = everything)."""
    units = [u for u in unit_names(src) if token in u]
    mods = [m for m in module_names(src) if token in m]
    t = ["build/asan/smtptap"] + ["build/asan/tests/" + u for u in units]
    # The optimised binary, for the tests that measure it (peak RSS).
    for m in mods:
        with open(os.path.join(src, "tests", "integration", m + ".py"), encoding="utf-8") as f:
            if "RELEASE" in f.read():
                t.append("build/smtptap")
                break
    return t, units, mods


UNIT_LINE = re.compile(r"^unit (\S+): (?:.* (ok|FAIL)|not built.*)$")
TAP_NOT_OK = re.compile(r"^not ok \d+ - (.*)$")
PY_FAIL = re.compile(r"^(FAIL|ERROR|UNEXPECTED SUCCESS): (\S+) \(([^)\s]+)\)")
PY_VERBOSE = re.compile(r"^(\S+) \(([^)\s]+)\) \.\.\. (FAIL|ERROR|unexpected success)$")


def failures(text):
    """The failing tests in run.py's output: 'unit <binary>' (and
    'unit <binary>: <case>' where the TAP line names it) and unittest ids."""
    bad, unit = set(), None
    for line in text.splitlines():
        m = UNIT_LINE.match(line)
        if m:
            unit = m.group(1) if m.group(2) != "ok" else None
            if unit:
                bad.add("unit " + unit)
            continue
        m = TAP_NOT_OK.match(line)
        if m and unit and "# SKIP" not in line:
            bad.add(f"unit {unit}: {m.group(1).strip()}")
            continue
        m = PY_FAIL.match(line)
        if m:
            bad.add(m.group(3))
            continue
        m = PY_VERBOSE.match(line)
        if m:
            bad.add(m.group(2))
    return bad


CLOSING = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped", re.M)


def run_tests(src, token, timeout, env):
    """run.py on the selection token; (failing ids, tests run, seconds, note)."""
    e = dict(env, SMTPTAP_BUILD="build")
    if token:
        e["SMTPTAP_TESTS"] = token
    else:
        e.pop("SMTPTAP_TESTS", None)
    t0 = time.time()
    # Its own process group: on a timeout the smtptap runs it started go too.
    p = subprocess.Popen([sys.executable, "tests/run.py"], cwd=src, env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, errors="replace",
                         start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return None, 0, time.time() - t0, "timeout after %ds" % timeout
    out = stdout + stderr
    m = list(CLOSING.finditer(stdout))
    ran = sum(int(x) for x in m[-1].groups()) if m else 0
    bad = failures(out)
    note = ""
    if p.returncode != 0 and not bad:
        bad = {"run.py exit %d" % p.returncode}
        note = out[-2000:]
    return bad, ran, time.time() - t0, note


# ------------------------------------------------------------------ one mutant

class Result:
    def __init__(self, e):
        self.e = e
        self.status = None  # killed, survived, equivalent, stale, nobuild, notests
        self.by = []        # tests that failed
        self.detail = ""
        self.build_s = self.test_s = 0.0
        self.full_killed = None  # --confirm: the whole suite killed it


def try_mutant(slot, e, args, base_bad, env, full):
    r = Result(e)
    path = os.path.join(slot.src, e.file)
    try:
        with open(path, "rb") as f:
            orig = f.read()
    except FileNotFoundError:
        r.status, r.detail = "stale", "file not found"
        return r
    text = orig.decode("utf-8", "surrogateescape")
    n = text.count(e.old)
    if n != 1:
        r.status = "stale"
        r.detail = "text not found" if n == 0 else "text found %d times" % n
        return r
    write_file(path, text.replace(e.old, e.new).encode("utf-8", "surrogateescape"))
    try:
        tokens = [""] if full else e.tests
        matched = 0
        for token in tokens:
            targets, units, mods = targets_for(slot.src, token)
            if not units and not mods:
                r.detail += "selection '%s' matches no test; " % token
                continue
            t0 = time.time()
            log = []
            ok = make(slot.src, targets, args.make_jobs, log)
            r.build_s += time.time() - t0
            if not ok:
                lines = log[0].splitlines() if log else []
                errs = [x for x in lines if "error" in x] or lines[-1:]
                r.status, r.detail = "nobuild", errs[0].strip() if errs else ""
                return r
            bad, ran, secs, note = run_tests(slot.src, token, args.timeout, env)
            r.test_s += secs
            if bad is None:
                r.status, r.by = "killed", [note]
                return r
            matched += ran
            new = sorted(bad - base_bad)
            if new:
                r.status, r.by = "killed", new
                if note:
                    r.detail = note
                return r
        if not matched:
            r.status = "notests"
            return r
        r.status = "equivalent" if e.equivalent else "survived"
        return r
    finally:
        write_file(path, orig)  # a new mtime: the next build recompiles it


# ------------------------------------------------------------------ slots

class Slot:
    def __init__(self, base, i):
        self.dir = os.path.join(base, "slot%d" % i)
        self.src = os.path.join(self.dir, "src")


def prepare_slots(args, files, env):
    slots = [Slot(args.work, i) for i in range(args.jobs)]
    first = slots[0]
    os.makedirs(first.src, exist_ok=True)
    changed = sync(first.src, files)
    t0 = time.time()
    log = []
    every = ["build/smtptap", "build/asan/smtptap", "unit"]
    if not make(first.src, every, max(args.jobs, args.make_jobs), log):
        sys.exit("mutate: the unmutated copy does not build:\n" + (log[0] if log else ""))
    print(f"mutate: {first.src}: {changed} files updated, built in {time.time() - t0:.0f}s",
          flush=True)
    for s in slots[1:]:
        # The same sources and build: a copy keeps the modification times,
        # and the dependency files name paths relative to the copy.
        if os.path.isdir(s.src):
            sync(s.src, files)
        else:
            shutil.copytree(first.src, s.src, symlinks=True)
        log = []
        if not make(s.src, every, args.make_jobs, log):
            sys.exit("mutate: %s does not build:\n%s" % (s.src, log[0] if log else ""))
    return slots


# ------------------------------------------------------------------ report

def show(r, i, total):
    e = r.e
    head = f"[{i:3d}/{total}] {r.status:10s} {e.id}"
    if r.status == "killed":
        more = f" (+{len(r.by) - 1})" if len(r.by) > 1 else ""
        print(f"{head}  by {r.by[0]}{more}  [{r.build_s:.0f}s build, {r.test_s:.0f}s tests]",
              flush=True)
    elif r.status in ("survived", "equivalent"):
        print(f"{head}  {e.file}: {e.desc}  [{r.build_s:.0f}s build, {r.test_s:.0f}s tests]",
              flush=True)
    else:
        print(f"{head}  {e.file}: {r.detail}", flush=True)


def summary(results, secs, full):
    by = {}
    for r in results:
        by.setdefault(r.status, []).append(r)
    live = [r for r in results if r.status in ("killed", "survived", "equivalent")]
    killed = len(by.get("killed", []))
    print()
    print("mutate: %s, %d mutants in %.0fs" %
          ("whole suite per mutant" if full else "each mutant's own tests", len(results), secs))
    for status, title in (("survived", "survived (a missing test)"),
                          ("equivalent", "survived, documented equivalent"),
                          ("stale", "stale (text not found exactly once: update the entry)"),
                          ("nobuild", "did not compile (fix the entry)"),
                          ("notests", "no test selected (fix the entry's tests)")):
        if by.get(status):
            print(f"\n{title}:")
            for r in by[status]:
                e = r.e
                print(f"  {e.id}  {e.file}: {e.desc}")
                if status == "equivalent":
                    print(f"      why: {e.equivalent}")
                if status in ("stale", "nobuild", "notests") and r.detail:
                    print(f"      {r.detail}")
                if r.full_killed:
                    print(f"      killed by the whole suite: {', '.join(r.full_killed[:3])}"
                          " (add that test to the entry)")
                elif r.full_killed is not None and status == "survived":
                    print("      the whole suite does not kill it either")
    wrong = [r for r in by.get("killed", []) if r.e.equivalent]
    if wrong:
        print("\nkilled although documented equivalent (the reason is wrong: drop it):")
        for r in wrong:
            print(f"  {r.e.id}  by {r.by[0]}")
    print(f"\n{killed} killed / {len(live)} mutants"
          f" ({len(by.get('survived', []))} survived, {len(by.get('equivalent', []))} equivalent)"
          f"; {len(by.get('stale', []))} stale, {len(by.get('nobuild', []))} not compiled")
    return not by.get("survived") and not by.get("stale") and not by.get("nobuild") \
        and not by.get("notests") and not wrong


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", default=LIST, help="the mutation list (default tests/mutations.txt)")
    ap.add_argument("--only", action="append", default=[],
                    help="entries whose id contains this (repeatable)")
    ap.add_argument("--full", action="store_true", help="run the whole suite for every mutant")
    ap.add_argument("--confirm", action="store_true",
                    help="run survivors again against the whole suite")
    ap.add_argument("--check", action="store_true",
                    help="only check that every entry applies (no build, no test)")
    ap.add_argument("-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="mutants at a time (default 2)")
    ap.add_argument("--make-jobs", type=int, default=1, help="make -j per mutant (default 1)")
    ap.add_argument("--work", default="/tmp/smtptap-mutate",
                    help="where the copies and their builds live")
    ap.add_argument("--rev", help="mutate this commit instead of the work tree")
    ap.add_argument("--timeout", type=int, default=0,
                    help="seconds per test run (default: 5 times the unmutated suite, >= 120)")
    ap.add_argument("--report", help="also write the results here as JSON")
    args = ap.parse_args()

    entries, errors = parse_list(args.list)
    for msg in errors:
        print("mutate: " + msg, file=sys.stderr)
    if errors:
        return 2
    if args.only:
        entries = [e for e in entries if any(o in e.id for o in args.only)]
    if not entries:
        print("mutate: no entry selected", file=sys.stderr)
        return 2

    files = tree_files(args.rev)
    stale = [(e, occurrences(files, e)) for e in entries]
    stale = [(e, n) for e, n in stale if n != 1]
    if args.check:
        for e, n in stale:
            why = "no such file" if n < 0 else "text not found" if n == 0 else f"found {n} times"
            print(f"stale  {e.id}  {e.file}: {why}")
        print(f"mutate: {len(entries)} entries, {len(stale)} stale")
        return 1 if stale else 0

    t_start = time.time()
    env = dict(os.environ)
    corpus = os.path.normpath(os.path.join(ROOT, "..", "shared", "corpus"))
    if "SMTPTAP_CORPUS" not in env and os.path.isdir(corpus):
        env["SMTPTAP_CORPUS"] = corpus  # the copies are not beside ../shared
    slots = prepare_slots(args, files, env)

    # Baseline: the whole suite on the unmutated copy.
    base_bad, ran, secs, note = run_tests(slots[0].src, "", 3600, env)
    if base_bad is None or not ran:
        sys.exit("mutate: the unmutated suite did not run: " + note)
    if not args.timeout:
        args.timeout = max(120, int(5 * secs))
    print(f"mutate: unmutated suite: {ran} tests in {secs:.0f}s, {len(base_bad)} failing"
          + (": " + ", ".join(sorted(base_bad)) if base_bad else ""), flush=True)

    free = list(slots)
    lock = threading.Lock()
    results = [None] * len(entries)
    done = [0]

    def work(i):
        with lock:
            slot = free.pop()
        try:
            r = try_mutant(slot, entries[i], args, base_bad, env, args.full)
            if args.confirm and not args.full and r.status == "survived":
                r2 = try_mutant(slot, entries[i], args, base_bad, env, True)
                r.full_killed = r2.by if r2.status == "killed" else []
                r.test_s += r2.test_s
                r.build_s += r2.build_s
        finally:
            with lock:
                free.append(slot)
        with lock:
            results[i] = r
            done[0] += 1
            show(r, done[0], len(entries))

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(slots)) as pool:
        list(pool.map(work, range(len(entries))))

    ok = summary(results, time.time() - t_start, args.full)
    if args.report:
        with open(args.report, "w") as f:
            json.dump([{"id": r.e.id, "file": r.e.file, "desc": r.e.desc, "status": r.status,
                        "by": r.by, "detail": r.detail, "full_killed": r.full_killed,
                        "build_s": round(r.build_s, 1), "test_s": round(r.test_s, 1)}
                       for r in results], f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
