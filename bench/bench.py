#!/usr/bin/env python3
"""bench.py - throughput and peak memory of smtptap against tcpdump, tshark and mailsnarf.

Builds (or reuses) a capture of at least --size bytes with mkcapture.py and a
~20 MiB slice for mailsnarf, then runs each measurement of MEASUREMENTS in
turn: wall time of the child process and its peak RSS (ru_maxrss from
wait4).  Prints a table and the issue's targets as PASS/MISS lines.

Each measurement also reports what the tool found (sessions, messages,
files; for the analyzer rows YARA matches, checked against yara(1), and
IOCs), so that a tool that silently dropped everything cannot pass for
fast.

How it fails: a missing tool or an unbuilt build/smtptap is reported and
skipped; a tool that exits non-zero or dies on a signal is reported with
the tail of its stderr and makes the exit status 1.  A MISS of a target is
not a failure: the exit status stays 0.
"""

import argparse
import dataclasses
import glob
import gzip
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import mkcapture  # noqa: E402
import mkmime  # noqa: E402
import mkrules  # noqa: E402

MIB = 1 << 20
SMTPTAP = os.path.join(REPO, "build", "smtptap")
RULES = mkrules.RULES  # bench/rules: ~300 YARA rules written by mkrules.py

# Targets from the issue.
TARGET_SPEEDUP = 40.0  # smtptap MiB/s / tshark MiB/s (issue 12)
TARGET_FLOOR_STORE = 1.25  # smtptap wall time / hash floor, storing on (issue 12)
TARGET_FLOOR_NOSTORE = 1.10  # the same with storing off
HASH_FLOOR = ("md5", "sha1", "sha256")  # openssl dgst over the capture, each timed, added up
TARGET_RSS_MIB = 64.0
ISSUE_TSHARK_MIBS = 11.0  # tshark measured on a 1 GB capture when the issue was written
TARGET_MIME_OVERHEAD = 0.50  # MIME core time / (base64 decoding + md5+sha1+sha256) time - 1
TARGET_ANALYZER_COST = 2.0  # YARA (a few hundred rules) + IOC extraction time / hash-only time


def smtptap_opts(dispatch="hash"):
    """smtptap's end-to-end options, spelled out: the defaults, but the figures
    must not silently drop them if a default changes."""
    return ["--set", "store_messages=true", "--set", "archive_attachments=true",
            "--set", f"always_dispatch={dispatch}"]


SMTPTAP_STORE_ON = smtptap_opts()


# ---------------------------------------------------------------- inputs


class Context:
    """Parsed options and the capture files, built on first use."""

    def __init__(self, args):
        self.args = args
        self._inputs = {}

    def input(self, name):
        """(path, meta) of a named input, generated or taken from the cache."""
        if name not in self._inputs:
            self._inputs[name] = INPUTS[name](self)
        return self._inputs[name]


def _capture(ctx, size):
    a = ctx.args
    return mkcapture.make(
        size,
        templates=a.templates,
        concurrency=a.concurrency,
        seed=a.seed,
        workdir=a.workdir,
        log=lambda m: print(m, flush=True),
    )


def _mime_templates(ctx):
    """pcaps/mime-*.pcap plus mime-big.pcap.gz unpacked into the work directory (mkcapture
    reads classic pcap only): sessions whose messages carry base64 attachments."""
    tdir = os.path.join(ctx.args.workdir, "mime-templates")
    os.makedirs(tdir, exist_ok=True)
    paths = sorted(p for p in glob.glob(os.path.join(REPO, "pcaps", "mime-*.pcap")))
    for gz in sorted(glob.glob(os.path.join(REPO, "pcaps", "mime-*.pcap.gz"))):
        out = os.path.join(tdir, os.path.basename(gz)[:-3])
        if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(gz):
            with gzip.open(gz, "rb") as src, open(out + ".part", "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(out + ".part", out)
        paths.append(out)
    if not paths:
        raise SystemExit("bench: no pcaps/mime-*.pcap[.gz] for the MIME capture (--skip-mime-capture)")
    return paths


def _mime_capture(ctx):
    # Its own directory: mkcapture replaces a capture of the same size label in
    # its workdir, which would be the main capture when both are 1 GiB.
    a = ctx.args
    return mkcapture.make(
        a.mime_capture_size,
        templates=_mime_templates(ctx),
        concurrency=a.concurrency,
        seed=a.seed,
        workdir=os.path.join(a.workdir, "mime-capture"),
        log=lambda m: print(m, flush=True),
    )


INPUTS = {
    "capture": lambda ctx: _capture(ctx, ctx.args.size),
    "slice": lambda ctx: _capture(ctx, ctx.args.slice_size),
    # message files heavy in base64 attachments, and one with a 1 GiB attachment
    "mime": lambda ctx: mkmime.make_stream(ctx.args.mime_size, ctx.args.seed, log=lambda m: print(m, flush=True)),
    "mime-big": lambda ctx: mkmime.make_big(ctx.args.big_size, ctx.args.seed, log=lambda m: print(m, flush=True)),
    "mime-capture": _mime_capture,
}


def describe_input(name, path, meta):
    made = " (cached)" if meta.get("cached") else f" (written in {meta['write_seconds']:.1f} s)"
    where = os.path.relpath(path, REPO)
    if "sessions" in meta:
        return (
            f"{name}: {where}: {meta['bytes'] / MIB:.1f} MiB, {meta['sessions']} sessions, "
            f"{meta['packets']} packets, {meta['concurrency']} in flight" + made
        )
    return (
        f"{name}: {where}: {meta['bytes'] / MIB:.1f} MiB in {meta['messages']} message file(s), "
        f"{meta['attachments']} base64 attachment(s) = {meta['decoded_bytes'] / MIB:.1f} MiB decoded" + made
    )


def input_files(path):
    """The message files of a mime input (a directory or one file)."""
    if os.path.isdir(path):
        return sorted(glob.glob(os.path.join(path, "*.eml")))
    return [path]


# ---------------------------------------------------------------- measurements


@dataclasses.dataclass
class Run:
    seconds: float
    rss_kib: int
    status: int  # waitstatus_to_exitcode: negative = signal
    found: str = ""
    data: Optional[dict] = None  # what found() parsed (mimebench's JSON line)
    cpu: float = 0.0  # user + system seconds of the child (less sensitive than wall time to a busy machine)


@dataclasses.dataclass
class Measurement:
    """One row of the table.

    argv(ctx, infile, outdir) gives the command; outdir is a fresh empty
    directory, deleted afterwards.  found(ctx, meta, outdir, stdout_path)
    says what the tool produced: a string, or (string, dict) to keep
    figures for the targets."""

    name: str
    input: str
    argv: Callable
    found: Optional[Callable] = None
    needs: Optional[str] = None  # executable that must exist
    skip: Optional[Callable] = None  # args -> reason to skip, or None
    reference: bool = False  # the row the ratios are taken against
    mime: bool = False  # repeated --mime-repeat times (short, noisy runs)


def _count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return None


def _smtptap_found(ctx, meta, outdir, stdout_path):
    n = _count_lines(os.path.join(outdir, "sessions.jsonl"))
    if n is None:
        return "no sessions.jsonl"
    mark = "" if n == meta["sessions"] else "  <-- MISMATCH"
    return f"{n}/{meta['sessions']} sessions{mark}"


def _iocs_count(obj):
    """Values in an iocs object ({"url": [{"value", "where"}], ...}); 0 for null or absent."""
    return sum(len(v) for v in obj.values() if isinstance(v, list)) if isinstance(obj, dict) else 0


def _yara_oracle(ctx, outdir, objects):
    """Compare the records' YARA matches with yara(1) run over the stored files.

    objects: {stored path: set of (namespace, rule)} for the objects scanned whole.
    Returns (text, disagreeing files) or (text, None) when yara(1) is not installed."""
    yara = shutil.which("yara")
    if not yara:
        return "not checked: no yara(1)", None
    if not objects:
        return "no stored file to check", 0
    listing = os.path.join(os.path.dirname(outdir), "yara-scan-list")
    with open(listing, "w") as f:
        for rel in sorted(objects):
            f.write(os.path.join(outdir, rel) + "\n")
    r = subprocess.run([yara, "-w", "-e", *mkrules.yara_args(ctx.args.yara_rules), "--scan-list", listing],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"yara(1) failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}", len(objects)
    want = {rel: set() for rel in objects}
    for line in r.stdout.splitlines():
        name, _, path = line.partition(" ")
        ns, _, rule = name.partition(":")
        rel = os.path.relpath(path, outdir)
        if rel in want:
            want[rel].add((ns, rule))
    bad = sum(1 for rel in objects if objects[rel] != want[rel])
    return (f"= yara(1) on {len(objects)} files" if not bad else f"{bad}/{len(objects)} files differ from yara(1)"), bad


def _analysis_found(yara, iocs):
    """found() of the analyzer rows: sessions as _smtptap_found, then what the analyzers reported."""

    def found(ctx, meta, outdir, stdout_path):
        recs, atts, scanned, matches, errors, msg_iocs, att_iocs = 0, 0, 0, 0, 0, 0, 0
        rules, whole, inconsistent = set(), {}, 0
        try:
            with open(os.path.join(outdir, "sessions.jsonl")) as f:
                for line in f:
                    recs += 1
                    for t in json.loads(line).get("transactions", []):
                        m = t.get("message") or {}
                        msg_iocs += _iocs_count(m.get("iocs"))
                        for a in m.get("attachments", []):
                            atts += 1
                            att_iocs += _iocs_count(a.get("iocs"))
                            if not yara:
                                continue
                            y = a.get("yara")
                            if not isinstance(y, dict) or y.get("error") or y.get("skipped"):
                                errors += 1
                                continue
                            scanned += 1
                            got = {(x["namespace"], x["rule"]) for x in y.get("matches", [])}
                            matches += len(got)
                            rules |= got
                            if a.get("stored") and a.get("complete") and not y.get("truncated") \
                                    and not y.get("matches_dropped"):
                                if whole.setdefault(a["stored"], got) != got:
                                    inconsistent += 1  # the same bytes matched differently
        except (OSError, ValueError):
            return "no sessions.jsonl"
        bad = recs != meta["sessions"]
        parts = [f"{recs}/{meta['sessions']} sessions"]
        data = {"sessions": recs, "attachments": atts}
        if yara:
            oracle, differ = _yara_oracle(ctx, outdir, whole)
            bad = bad or errors > 0 or inconsistent > 0 or bool(differ)
            parts.append(f"{matches} yara matches ({len(rules)} rules; {scanned}/{atts} scanned"
                         + (f", {errors} not" if errors else "") + f"; {oracle}"
                         + (f"; {inconsistent} inconsistent" if inconsistent else "") + ")")
            data.update(yara_matches=matches, yara_rules_matched=len(rules), yara_scanned=scanned,
                        yara_errors=errors, yara_oracle_differ=differ)
        if iocs:
            parts.append(f"{msg_iocs + att_iocs} IOCs ({msg_iocs} messages, {att_iocs} attachments"
                         + ("" if ctx.iocs_analyzer else "; no iocs analyzer") + ")")
            data.update(iocs=msg_iocs + att_iocs, message_iocs=msg_iocs, attachment_iocs=att_iocs,
                        iocs_analyzer=ctx.iocs_analyzer)
        return ", ".join(parts) + ("  <-- MISMATCH" if bad else ""), data

    return found


def _analysis_row(name, inp, dispatch, yara=False, iocs=False, skip=None):
    """smtptap on a capture with more analyzers than hash (always_dispatch), the YARA rules of --yara-rules
    and/or extract_iocs; without an iocs analyzer in the build (before analyze/ioc.c), iocs is left out."""

    def argv(ctx, inp, out):
        d = ",".join(x for x in dispatch.split(",") if x != "iocs" or ctx.iocs_analyzer)
        extra = ["--yara-rules", ctx.args.yara_rules] if yara else []
        extra += ["--set", "extract_iocs=true"] if iocs else []
        return [ctx.args.smtptap, "-r", inp, "-o", out, *smtptap_opts(d), *extra]

    return Measurement(name, inp, argv, found=_analysis_found(yara, iocs), needs="smtptap",
                       skip=lambda a: "--skip-analyzers" if a.skip_analyzers else (skip(a) if skip else None))


# The analyzer rows, against smtptap's hash-only row on the same capture.
ANALYZER_ROWS = {
    "smtptap-yara": dict(dispatch="hash,magic,yara", yara=True),
    "smtptap-iocs": dict(dispatch="hash,iocs", iocs=True),
    "smtptap-all": dict(dispatch="hash,magic,yara,iocs", yara=True, iocs=True),
}


def _tshark_found(ctx, meta, outdir, stdout_path):
    d = os.path.join(outdir, "imf")
    n = len(os.listdir(d)) if os.path.isdir(d) else 0
    return f"{n} messages"


def _mailsnarf_found(ctx, meta, outdir, stdout_path):
    n = 0
    with open(stdout_path, "rb") as f:
        for line in f:
            if line.startswith(b"From "):
                n += 1
    return f"{n} messages"


def _mimebench_found(ctx, meta, outdir, stdout_path):
    try:
        with open(stdout_path) as f:
            d = json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return "no report"
    want = meta["attachments"]
    bad = "" if d["ok"] == want and not d["mismatch"] else "  <-- MISMATCH"
    txt = f"{d['ok']}/{want} sha256 ok{bad}, {d['decoded'] / MIB:.0f} MiB decoded"
    if d["mode"] != "baseline":
        txt += f", {d['stored']} stored"
    else:
        txt += f" ({d['decoder']})"
    return txt, d


def _sidecar_hashes(path):
    out = []
    for f in input_files(path):
        with open(f + ".b64") as s:
            out.extend(line.split()[3] for line in s if line.strip())
    return out


def _smtptap_eml_found(ctx, meta, outdir, stdout_path):
    want = _sidecar_hashes(ctx.input("mime")[0])
    got, stored, recs = [], 0, 0
    try:
        with open(os.path.join(outdir, "sessions.jsonl")) as f:
            for line in f:
                recs += 1
                for t in json.loads(line).get("transactions", []):
                    for a in (t.get("message") or {}).get("attachments", []):
                        got.append(a.get("sha256"))
                        stored += 1 if a.get("stored") else 0
    except (OSError, ValueError):
        return "no sessions.jsonl"
    ok = sum(1 for a, b in zip(got, want) if a == b)
    bad = "" if ok == len(want) == len(got) and recs == meta["messages"] else "  <-- MISMATCH"
    return f"{recs}/{meta['messages']} records, {ok}/{len(want)} sha256 ok{bad}, {stored} stored", {
        "ok": ok,
        "stored": stored,
    }


def _mimebench(mode, *extra):
    return lambda c, inp, out: [c.mimebench, mode, *extra, "--store", out, inp] if mode != "baseline" else [
        c.mimebench, mode, *extra, inp]


MEASUREMENTS = [
    Measurement(
        "tcpdump",
        "capture",
        lambda ctx, inp, out: ["tcpdump", "-r", inp, "-w", "/dev/null"],
        needs="tcpdump",
    ),
    Measurement(
        "smtptap",
        "capture",
        lambda ctx, inp, out: [ctx.args.smtptap, "-r", inp, "-o", out, *SMTPTAP_STORE_ON],
        found=_smtptap_found,
        needs="smtptap",
        reference=True,
    ),
    # The hash floor: what hashing every byte of the capture costs (issue 12).
    *[Measurement(f"openssl-{alg}", "capture",
                  (lambda a: lambda ctx, inp, out: ["openssl", "dgst", f"-{a}", inp])(alg),
                  needs="openssl") for alg in HASH_FLOOR],
    Measurement(
        "smtptap-nostore",
        "capture",
        lambda ctx, inp, out: [ctx.args.smtptap, "-r", inp, "-o", out, "--set", "store_messages=false",
                               "--set", "archive_attachments=false", "--set", "always_dispatch=hash"],
        found=_smtptap_found,
        needs="smtptap",
    ),
    # The same capture with YARA (bench/rules), magic and IOC extraction.
    *[_analysis_row(name, "capture", **kw) for name, kw in ANALYZER_ROWS.items()],
    Measurement(
        "tshark",
        "capture",
        lambda ctx, inp, out: ["tshark", "-r", inp, "-q", "--export-objects", "imf," + os.path.join(out, "imf")],
        found=_tshark_found,
        needs="tshark",
        skip=lambda a: "--skip-tshark" if a.skip_tshark else None,
    ),
    # mailsnarf reads well under 1 MB/s, hence the slice; smtptap is run on
    # the same slice so that the ratio compares like with like.
    Measurement(
        "smtptap",
        "slice",
        lambda ctx, inp, out: [ctx.args.smtptap, "-r", inp, "-o", out, *SMTPTAP_STORE_ON],
        found=_smtptap_found,
        needs="smtptap",
        reference=True,
        skip=lambda a: "--skip-mailsnarf" if a.skip_mailsnarf else None,
    ),
    Measurement(
        "mailsnarf",
        "slice",
        lambda ctx, inp, out: ["mailsnarf", "-p", inp],
        found=_mailsnarf_found,
        needs="mailsnarf",
        skip=lambda a: "--skip-mailsnarf" if a.skip_mailsnarf else None,
    ),
    # End to end on a capture of sessions with base64 attachments (pcaps/mime-*).
    Measurement(
        "smtptap",
        "mime-capture",
        lambda ctx, inp, out: [ctx.args.smtptap, "-r", inp, "-o", out, *SMTPTAP_STORE_ON],
        found=_smtptap_found,
        needs="smtptap",
        reference=True,
        skip=lambda a: "--skip-mime-capture" if a.skip_mime_capture else None,
    ),
    # Every analyzer on it: large attachments, each mapped whole for YARA (peak RSS).
    _analysis_row("smtptap-all", "mime-capture", **ANALYZER_ROWS["smtptap-all"],
                  skip=lambda a: "--skip-mime-capture" if a.skip_mime_capture else None),
    # The MIME core alone (bench/mimebench.c) against decode + hash.
    Measurement("mime-core", "mime", _mimebench("mime"), found=_mimebench_found, needs="mimebench",
                reference=True, mime=True, skip=lambda a: "--skip-mime" if a.skip_mime else None),
    Measurement("mime-core-nostore", "mime", _mimebench("mime", "--no-store"), found=_mimebench_found,
                needs="mimebench", mime=True, skip=lambda a: "--skip-mime" if a.skip_mime else None),
    Measurement("baseline", "mime", _mimebench("baseline"), found=_mimebench_found, needs="mimebench",
                mime=True, skip=lambda a: "--skip-mime" if a.skip_mime else None),
    Measurement("baseline-evp", "mime", _mimebench("baseline", "--evp"), found=_mimebench_found,
                needs="mimebench", mime=True, skip=lambda a: "--skip-mime" if a.skip_mime else None),
    Measurement(
        "smtptap-eml",
        "mime",
        lambda ctx, inp, out: [ctx.args.smtptap, "-q", "-o", out, *SMTPTAP_STORE_ON]
        + [x for f in input_files(inp) for x in ("--eml", f)],
        found=_smtptap_eml_found,
        needs="smtptap",
        mime=True,
        skip=lambda a: "--skip-mime" if a.skip_mime else None,
    ),
    Measurement("mime-core", "mime-big", _mimebench("rss-big"), found=_mimebench_found, needs="mimebench",
                skip=lambda a: "--skip-big" if a.skip_big else None),
]


# ---------------------------------------------------------------- running


# Linux keeps a process's peak RSS across execve: a tool forked straight
# from this Python process would report at least Python's own peak.  A tiny
# C launcher forks the tool from a process of ~1 MiB instead and reports
# wait4's rusage.  Compiled on first use into the work directory.
LAUNCHER_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct timespec t0, t1;
    struct rusage ru;
    int st;
    if (argc < 3) return 127;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) { execvp(argv[2], argv + 2); _exit(127); }
    if (wait4(pid, &st, 0, &ru) < 0) return 127;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    FILE *f = fopen(argv[1], "w");
    if (!f) return 127;
    fprintf(f, "%.6f %ld %d %d %.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, ru.ru_maxrss,
            WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st), WIFEXITED(st) ? 0 : 1,
            ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    return fclose(f) == 0 ? 0 : 127;
}
"""


def launcher(workdir):
    """Path of the compiled launcher, or None if no C compiler worked."""
    exe = os.path.join(workdir, "launch")
    src = exe + ".c"
    if os.path.exists(exe):
        with open(src) as f:
            if f.read() == LAUNCHER_C:
                return exe
    with open(src, "w") as f:
        f.write(LAUNCHER_C)
    cc = os.environ.get("CC", "cc")
    r = subprocess.run([cc, "-O1", "-o", exe, src], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"bench: cannot compile the launcher ({r.stderr.strip()}); peak RSS will include Python's own")
        return None
    return exe


def _makefile_flags():
    """Warnings and LDLIBS as mk/common.mk (the Makefile's) has them, so that mimebench is built like smtptap."""
    flags = {"WARN": "-Wall -Wextra -Werror", "LDLIBS": "-lcrypto -ljansson"}
    try:
        with open(os.path.join(REPO, "mk", "common.mk")) as f:
            for line in f:
                m = re.match(r"^(WARN|LDLIBS)\s*:=\s*(.*)$", line)
                if m:
                    flags[m.group(1)] = m.group(2).strip()
    except OSError:
        pass
    return flags


def build_mimebench(workdir):
    """Compile bench/mimebench.c against build/libsmtptap.a; (path, None) or (None, reason)."""
    src = os.path.join(HERE, "mimebench.c")
    lib = os.path.join(REPO, "build", "libsmtptap.a")
    exe = os.path.join(workdir, "mimebench")
    if not os.path.exists(lib):
        return None, "build/libsmtptap.a not built (`make build/libsmtptap.a`)"
    if os.path.exists(exe) and os.path.getmtime(exe) >= max(os.path.getmtime(src), os.path.getmtime(lib)):
        return exe, None
    f = _makefile_flags()
    cc = os.environ.get("CC", "cc")
    argv = (
        [cc, "-O2", "-g", "-std=c11", "-D_GNU_SOURCE", "-Iinclude", "-I."]
        + f["WARN"].split()
        + ["-fno-strict-aliasing", "-o", exe + ".part", src, lib]
        + f["LDLIBS"].split()
    )
    r = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        return None, "cannot build mimebench: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    os.replace(exe + ".part", exe)
    return exe, None


def run_once(argv, rundir, stdout_path, stderr_path, launch):
    """Run argv; return Run with wall time and the child's peak RSS."""
    with open(stdout_path, "wb") as so, open(stderr_path, "wb") as se:
        if launch:
            report = os.path.join(rundir, "rusage")
            rc = subprocess.call([launch, report] + argv, stdin=subprocess.DEVNULL, stdout=so, stderr=se, cwd=rundir)
            if rc == 0:
                with open(report) as f:
                    secs, rss, status, _, cpu = f.read().split()
                return Run(float(secs), int(rss), int(status), cpu=float(cpu))
            return Run(0.0, 0, 127 if rc > 0 else rc)
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=so, stderr=se, cwd=rundir)
        _, status, ru = os.wait4(p.pid, 0)
        t1 = time.perf_counter()
    p.returncode = os.waitstatus_to_exitcode(status)  # already reaped
    return Run(t1 - t0, ru.ru_maxrss, p.returncode, cpu=ru.ru_utime + ru.ru_stime)


def has_analyzer(smtptap, name, workdir):
    """Whether smtptap accepts always_dispatch=hash,NAME (it fails at start on an unknown analyzer)."""
    tmp = tempfile.mkdtemp(prefix="probe-", dir=workdir)
    try:
        eml = os.path.join(tmp, "m.eml")
        with open(eml, "wb") as f:
            f.write(b"Subject: probe\r\n\r\nprobe\r\n")
        r = subprocess.run([smtptap, "-q", "-o", os.path.join(tmp, "out"), *smtptap_opts("hash," + name),
                            "--eml", eml], stdin=subprocess.DEVNULL, capture_output=True)
        return r.returncode == 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def warm(path):
    """Read the file once so that every tool finds it in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def measure(ctx, m, logdir):
    """Run one measurement --repeat times: best wall time, highest peak RSS."""
    path, meta = ctx.input(m.input)
    runs = []
    repeat = max(ctx.args.repeat, ctx.args.mime_repeat) if m.mime else ctx.args.repeat
    for i in range(repeat):
        tmp = tempfile.mkdtemp(prefix=f"out-{m.name}-", dir=ctx.args.workdir)
        try:
            out = os.path.join(tmp, "out")
            os.mkdir(out)
            argv = m.argv(ctx, path, out)
            stderr_path = os.path.join(logdir, f"{m.name}-{m.input}.stderr")
            # stdout lives beside out/ so that out/ holds only what the tool wrote.
            stdout_path = os.path.join(tmp, "stdout")
            r = run_once(argv, tmp, stdout_path, stderr_path, ctx.launch)
            if m.found and r.status == 0:
                found = m.found(ctx, meta, out, stdout_path) or ""
                r.found, r.data = found if isinstance(found, tuple) else (found, None)
            runs.append(r)
            if r.status != 0:
                break
        finally:
            if not ctx.args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                print(f"  kept {tmp}")
    bad = [r for r in runs if r.status != 0]
    if bad:
        return bad[0], argv, path, meta
    best = min(runs, key=lambda r: r.seconds)
    cpu = min(r.cpu for r in runs)
    return Run(best.seconds, max(r.rss_kib for r in runs), 0, best.found, best.data, cpu), argv, path, meta


def tail(path, n=8):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join("    " + line for line in lines[-n:])
    except OSError:
        return ""


def available(exe):
    return os.path.isfile(exe) and os.access(exe, os.X_OK) if os.sep in exe else shutil.which(exe) is not None


def describe_host():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} CPUs {cpu}, Linux {platform.release()}"


def main(argv=None):
    ap = argparse.ArgumentParser(description="smtptap throughput benchmark (see bench/README.md)")
    ap.add_argument("--size", default="1G", help="size of the main capture (default 1G)")
    ap.add_argument("--slice-size", default="20M", help="size of mailsnarf's slice (default 20M)")
    ap.add_argument("--templates", nargs="+", help="template pcaps or directories (default pcaps/*.pcap)")
    ap.add_argument("--concurrency", type=int, default=200, help="sessions in flight at once (default 200)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; best time is kept (default 1)")
    ap.add_argument("--skip-tshark", action="store_true", help="tshark needs ~90 s and ~3 GB per GB of capture")
    ap.add_argument("--skip-mailsnarf", action="store_true")
    ap.add_argument("--only", nargs="+", metavar="TOOL", help="run only these tools (e.g. smtptap tcpdump)")
    ap.add_argument("--keep", action="store_true", help="keep the tools' output directories")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--workdir", default=mkcapture.WORK)
    ap.add_argument("--smtptap", default=SMTPTAP, help="binary to measure (default build/smtptap)")
    ap.add_argument("--mime-size", default="500M", help="message files of the MIME rows (default 500M)")
    ap.add_argument("--mime-repeat", type=int, default=3, help="runs of each MIME row, best kept (default 3)")
    ap.add_argument("--big-size", default="1G", help="attachment of the peak-RSS message (default 1G)")
    ap.add_argument("--skip-big", action="store_true", help="no 1 GiB-attachment message (1.4 GiB of disk)")
    ap.add_argument("--skip-mime", action="store_true", help="no MIME core / baseline rows")
    ap.add_argument("--mime-capture-size", default=None, help="capture of pcaps/mime-* sessions (default --size)")
    ap.add_argument("--skip-mime-capture", action="store_true")
    ap.add_argument("--yara-rules", default=RULES, help="rules of the yara rows: a file or directory (bench/rules)")
    ap.add_argument("--skip-analyzers", action="store_true", help="no yara / IOC rows")
    args = ap.parse_args(argv)
    args.yara_rules = os.path.abspath(args.yara_rules)
    args.mime_size = mkcapture.parse_size(args.mime_size)
    args.big_size = mkcapture.parse_size(args.big_size)
    args.mime_capture_size = mkcapture.parse_size(args.mime_capture_size or args.size)
    args.size = mkcapture.parse_size(args.size)
    args.slice_size = mkcapture.parse_size(args.slice_size)
    args.repeat = max(1, args.repeat)
    os.makedirs(args.workdir, exist_ok=True)
    logdir = os.path.join(args.workdir, "logs")
    os.makedirs(logdir, exist_ok=True)

    ctx = Context(args)
    ctx.launch = launcher(args.workdir)
    print(describe_host())
    ctx.mimebench, mimebench_why = None, None
    if any(m.needs == "mimebench" for m in MEASUREMENTS):
        ctx.mimebench, mimebench_why = build_mimebench(args.workdir)

    ctx.iocs_analyzer = True
    plan = []
    for m in MEASUREMENTS:
        if args.only and m.name not in args.only:
            continue
        reason = m.skip(args) if m.skip else None
        exe = args.smtptap if m.needs == "smtptap" else m.needs
        if m.needs == "mimebench":
            exe = ctx.mimebench
            if reason is None and exe is None:
                reason = mimebench_why
        if reason is None and exe and not available(exe):
            reason = f"{exe} not found"
            if m.needs == "smtptap":
                reason += " (not built yet? `make build/smtptap`)"
        plan.append((m, reason))
    if any(m.name in ANALYZER_ROWS and reason is None for m, reason in plan):
        n, files = mkrules.count_rules(args.yara_rules) if os.path.exists(args.yara_rules) else (0, [])
        where = args.yara_rules
        where = os.path.relpath(where, REPO) if where.startswith(REPO + os.sep) else where
        print(f"yara rules: {where}: {n} rules in {len(files)} files")
        ctx.iocs_analyzer = has_analyzer(args.smtptap, "iocs", args.workdir)
        if not ctx.iocs_analyzer:
            print("note: this smtptap has no 'iocs' analyzer (analyze/ioc.c not in the build yet?): "
                  "the IOC rows run without it")

    # Build the inputs first so that generation time is not mixed with the runs.
    for name in dict.fromkeys(m.input for m, reason in plan if reason is None):
        path, meta = ctx.input(name)
        print(describe_input(name, path, meta))
        for f in input_files(path) if name.startswith("mime") and name != "mime-capture" else [path]:
            warm(f)
    print("page cache warmed by reading each input once before the timed runs\n", flush=True)

    results = []
    failed = False
    for m, reason in plan:
        label = f"{m.name} [{m.input}]"
        if reason:
            print(f"{label}: skipped: {reason}", flush=True)
            results.append({"tool": m.name, "input": m.input, "skipped": reason})
            continue
        print(f"{label}: running ...", end="", flush=True)
        r, argv, path, meta = measure(ctx, m, logdir)
        res = {
            "tool": m.name,
            "input": m.input,
            "argv": argv,
            "mib": meta["bytes"] / MIB,
            "seconds": r.seconds,
            "mibs": meta["bytes"] / MIB / max(r.seconds, 1e-9),
            "rss_mib": r.rss_kib / 1024.0,
            "cpu_seconds": r.cpu,
            "status": r.status,
            "found": r.found,
            "reference": m.reference,
            "data": r.data,
        }
        if r.status != 0:
            failed = True
            how = f"signal {-r.status}" if r.status < 0 else f"exit {r.status}"
            print(f" FAILED ({how}) after {r.seconds:.1f} s: {' '.join(argv)}")
            print(tail(os.path.join(logdir, f"{m.name}-{m.input}.stderr")))
        else:
            print(f" {r.seconds:.2f} s", flush=True)
        results.append(res)

    print_table(results)
    print_targets(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"host": describe_host(), "results": results}, f, indent=1)
    return 1 if failed else 0


def _ref(results, inp):
    for r in results:
        if r.get("reference") and r["input"] == inp and r.get("status") == 0:
            return r
    return None


def print_table(results):
    rows = [r for r in results if "seconds" in r]
    if not rows:
        return
    head = ("tool", "input", "MiB", "seconds", "MiB/s", "x smtptap", "peak RSS MiB", "found")
    table = [head]
    for r in rows:
        ref = _ref(results, r["input"])
        if r["status"] != 0:
            table.append((r["tool"], r["input"], f"{r['mib']:.0f}", f"{r['seconds']:.2f}", "-", "-", "-", "FAILED"))
            continue
        ratio = f"{r['mibs'] / ref['mibs']:.3g}" if ref else "-"
        table.append(
            (
                r["tool"],
                r["input"],
                f"{r['mib']:.0f}",
                f"{r['seconds']:.2f}",
                f"{r['mibs']:.1f}",
                ratio,
                f"{r['rss_mib']:.1f}",
                r["found"],
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    print()
    for n, row in enumerate(table):
        cells = [c.ljust(w) if i in (0, 1, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("x smtptap: the tool's MiB/s divided by smtptap's on the same input (below 1: slower than smtptap);")
    print("  on the mime inputs, by mime-core's (st_message, store on); MiB/s there are of message bytes")


def print_targets(results, args):
    print()
    print_capture_targets(results, args)
    print_analyzer_targets(results, args)
    print_mime_targets(results, args)


def _ok(results, tool, inp):
    return next((r for r in results if r["tool"] == tool and r["input"] == inp and r.get("status") == 0), None)


def print_mime_targets(results, args):
    core = _ok(results, "mime-core", "mime")
    bases = [r for r in (_ok(results, "baseline", "mime"), _ok(results, "baseline-evp", "mime")) if r]
    if core and bases:
        d = core["data"] or {}
        base = min(bases, key=lambda r: r["seconds"])  # the faster decoder: the stricter target
        over = core["seconds"] / base["seconds"] - 1
        dec = d.get("decoded", 0) / MIB
        print(
            f"MIME core: {core['mibs']:.1f} MiB/s of message bytes = {dec / core['seconds']:.1f} MiB/s of decoded "
            f"attachments (decode, md5+sha1+sha256, store, record); baseline ({(base['data'] or {}).get('decoder')} "
            f"decode + md5+sha1+sha256): {base['mibs']:.1f} MiB/s = {dec / base['seconds']:.1f} MiB/s decoded"
        )
        verdict = "PASS" if over < TARGET_MIME_OVERHEAD else "MISS"
        print(
            f"{verdict}: MIME core overhead beyond base64 decoding + md5+sha1+sha256: {over * 100:+.1f}% "
            f"({core['seconds']:.2f} s / {base['seconds']:.2f} s; target < {TARGET_MIME_OVERHEAD * 100:.0f}%)"
        )
        ns = _ok(results, "mime-core-nostore", "mime")
        if ns:
            print(
                f"  without the store (hashed only): {(ns['seconds'] / base['seconds'] - 1) * 100:+.1f}%; "
                f"the store's writes cost "
                f"{core['seconds'] - ns['seconds']:.2f} s"
            )
        eml = _ok(results, "smtptap-eml", "mime")
        if eml:
            print(
                f"  smtptap --eml end to end (also messages/*.eml, sessions.jsonl): {eml['mibs']:.1f} MiB/s, "
                f"{eml['seconds'] / base['seconds'] - 1:+.1%} over the baseline"
            )
        if args.mime_size < (500 << 20):
            print(f"note: MIME input is {args.mime_size / MIB:.0f} MiB; the issue's figure is for ~500 MB")
    elif not args.skip_mime:
        print("MIME core overhead: not checked (mime-core or the baselines did not run)")
    big = _ok(results, "mime-core", "mime-big")
    if big:
        verdict = "PASS" if big["rss_mib"] < TARGET_RSS_MIB else "MISS"
        print(
            f"{verdict}: peak RSS {big['rss_mib']:.1f} MiB for one message with a "
            f"{args.big_size / MIB:.0f} MiB attachment, decoded, hashed and stored whole "
            f"({big['mibs']:.1f} MiB/s; target < {TARGET_RSS_MIB:.0f} MiB)"
        )
        if args.big_size < (1 << 30):
            print(f"note: the attachment is {args.big_size / MIB:.0f} MiB; the target is stated for 1 GB")


def print_floor_targets(results, st):
    """smtptap's wall time against the hash floor, storing on and off."""
    ok = {r["tool"]: r for r in results if r["input"] == "capture" and r.get("status") == 0}
    parts = [ok.get(f"openssl-{alg}") for alg in HASH_FLOOR]
    if not all(parts):
        print("targets: hash floor not measured (openssl missing or failed)")
        return
    floor = sum(r["seconds"] for r in parts)
    terms = " + ".join("%.2f" % r["seconds"] for r in parts)
    print(f"hash floor: {terms} = {floor:.2f} s "
          f"(openssl dgst {', '.join(HASH_FLOOR)} over the capture)")
    rows = [(st, TARGET_FLOOR_STORE, "storing on"), (ok.get("smtptap-nostore"), TARGET_FLOOR_NOSTORE, "storing off")]
    for r, target, what in rows:
        if r is None:
            continue
        ratio = r["seconds"] / floor
        verdict = "PASS" if ratio <= target else "MISS"
        print(f"{verdict}: smtptap {what} {r['seconds']:.2f} s = {ratio:.2f}x the hash floor (target <= {target}x)")


def print_capture_targets(results, args):
    st = _ref(results, "capture")
    if st is None:
        print("targets: not checked (smtptap was not measured on the capture)")
        return
    ts = next((r for r in results if r["tool"] == "tshark" and r.get("status") == 0), None)
    if ts:
        speedup, basis = st["mibs"] / ts["mibs"], f"tshark measured here at {ts['mibs']:.1f} MiB/s"
    else:
        speedup, basis = st["mibs"] / ISSUE_TSHARK_MIBS, f"tshark not run; the issue's {ISSUE_TSHARK_MIBS:.0f} MB/s"
    print_floor_targets(results, st)
    verdict = "PASS" if speedup >= TARGET_SPEEDUP else "MISS"
    print(f"{verdict}: smtptap {st['mibs']:.1f} MiB/s = {speedup:.1f}x tshark (target >= {TARGET_SPEEDUP:.0f}x; {basis})")
    peak = max(r["rss_mib"] for r in results
               if r["tool"].startswith("smtptap") and r["tool"] not in ANALYZER_ROWS and r.get("status") == 0)
    verdict = "PASS" if peak < TARGET_RSS_MIB else "MISS"
    print(f"{verdict}: smtptap peak RSS {peak:.1f} MiB, all inputs, hash only (target < {TARGET_RSS_MIB:.0f} MiB)")
    mc = _ref(results, "mime-capture")
    if mc:
        print(f"  on the capture of attachment-heavy sessions (pcaps/mime-*): {mc['mibs']:.1f} MiB/s")
    if args.size < (1 << 30):
        print(f"note: capture is {args.size / MIB:.0f} MiB; the targets are stated for at least 1 GiB")
    for r in results:
        if r["tool"].startswith("smtptap") and r["input"] != "mime" and "MISMATCH" in r.get("found", ""):
            got = r["found"].split()[0]
            print(f"MISS: {r['tool']} reported {got} of the sessions generated in the {r['input']}"
                  + (" (or its analyzers' findings disagree: see the row)" if r["tool"] in ANALYZER_ROWS else ""))


def print_analyzer_targets(results, args):
    """The analyzer rows against the hash-only run: time ratio, peak RSS, and whether they did any work."""
    rows = [r for r in results if r["tool"] in ANALYZER_ROWS and r.get("status") == 0 and _ref(results, r["input"])]
    ref = _ref(results, "capture")
    if not rows or ref is None:
        if not args.skip_analyzers:
            print("analyzers: not checked (the hash-only row or the analyzer rows did not run)")
        return
    n = mkrules.count_rules(args.yara_rules)[0] if os.path.exists(args.yara_rules) else 0
    for r in rows:
        ref = _ref(results, r["input"])
        cpu = f"{r['cpu_seconds'] / ref['cpu_seconds']:.2f}x" if ref.get("cpu_seconds") else "-"
        print(f"  {r['tool']} [{r['input']}]: {r['seconds'] / ref['seconds']:.2f}x the hash-only wall time "
              f"({r['seconds']:.2f} s / {ref['seconds']:.2f} s), {cpu} its CPU time "
              f"({r['cpu_seconds']:.2f} s / {ref['cpu_seconds']:.2f} s), peak RSS {r['rss_mib']:.1f} MiB "
              f"(hash only: {ref['rss_mib']:.1f})")
    ref = _ref(results, "capture")
    full = next((r for r in rows if r["tool"] == "smtptap-all" and r["input"] == "capture"), None)
    if full:
        d = full["data"] or {}
        cost = full["seconds"] / ref["seconds"]
        why = []
        if not d.get("yara_matches"):
            why.append("0 YARA matches: the rules did no visible work")
        if d.get("yara_errors") or d.get("yara_oracle_differ"):
            why.append("YARA results wrong (see the row)")
        if not d.get("iocs_analyzer"):
            why.append("no iocs analyzer in this build: attachments were not searched for IOCs")
        if not d.get("iocs"):
            why.append("0 IOCs found: IOC extraction did no visible work (analyze/ioc_stub.c still linked?)")
        verdict = "PASS" if cost <= TARGET_ANALYZER_COST and not why else "MISS"
        cpu = f", {full['cpu_seconds'] / ref['cpu_seconds']:.2f}x in CPU time" if ref.get("cpu_seconds") else ""
        print(f"{verdict}: YARA ({n} rules) + magic + IOC extraction cost {cost:.2f}x the hash-only run's wall "
              f"time (target <= {TARGET_ANALYZER_COST:.0f}x{cpu}; {d.get('yara_matches', 0)} YARA matches, "
              f"{d.get('iocs', 0)} IOCs)")
        for w in why:
            print(f"  not a pass whatever the time: {w}")
    else:
        print("YARA + IOC cost: not checked (smtptap-all did not run)")
    peak = max(rows, key=lambda r: r["rss_mib"])
    verdict = "PASS" if peak["rss_mib"] < TARGET_RSS_MIB else "MISS"
    print(f"{verdict}: peak RSS with the analyzers {peak['rss_mib']:.1f} MiB ({peak['tool']} [{peak['input']}]; "
          f"target < {TARGET_RSS_MIB:.0f} MiB)")


if __name__ == "__main__":
    sys.exit(main())
