#!/usr/bin/env python3
"""lossfig - the loss figures of docs/security.md (issue 9, section 4): the full matrix of
test_loss.py (every capture of pcaps/manifest.json, more seeds), one table row per damage.

usage: lossfig.py [--seeds N] [--only SUBSTRING] [--bin SMTPTAP] [--repro] [--workdir DIR]

Columns, over every run of the row (each capture once per seed):
  runs        smtptap runs: captures x seeds (x BDAT commands for "drop bdat": one each)
  sessions    SMTP sessions of the manifest with a record / all of them
  messages    messages of the manifest (transactions that carried content); for the
              mid-stream cut, those not wholly before the cut
  untouched   of the messages no removed byte touched: byte-exact with the server's verdict /
              all of them
  t.exact     touched, and byte-exact anyway (status the server's or incomplete)
  t.flagged   touched, not exact, and flagged (missing_bytes > 0, complete false or status
              incomplete)
  gone        not in the record, and every byte of its content was removed: nothing to find
  lost        not in the record although some of its content was in the capture
  wrong       content right or flagged, but status, final reply or envelope wrong
  silent      silent corruptions: wrong bytes nothing flags, and messages the client never
              sent presented as complete (phantoms)
  problems    every failed check of test_loss.py (missing_bytes, banner, lossless sessions...)

--repro minimises one failing case of each kind of problem per row (ddmin over the dropped
frames; for reordering over the windows shuffled, then over the cycles of the resulting
permutation, printed as --swap pairs) and prints the pcapmangle and smtptap commands that
show it, with the problem they show.
The default binary is the ASan build test_loss.py runs (SMTPTAP_BUILD, as tests/run.py).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pcapmangle  # noqa: E402
import test_loss as T  # noqa: E402

COLUMNS = ("damage", "runs", "sessions", "messages", "untouched", "t.exact", "t.flagged", "gone",
           "lost", "wrong", "silent", "problems")


def matrix(seeds):
    rows = []
    rnd = range(1, seeds + 1)
    for rate in (0.001, 0.01, 0.05, 0.10):
        rows.append(("loss %g%%" % (rate * 100), [dict(drop_rate=rate, seed=s) for s in rnd]))
    for t in pcapmangle.TARGETS:
        rows.append(("drop %s" % t, [dict(drop=t, seed=1)]))
    for w in (2, 4, 8):
        for d in (None, "client", "server"):
            rows.append(("reorder %d %s" % (w, d or "both"),
                         [dict(reorder=w, reorder_dir=d, seed=s) for s in rnd]))
    for rate in (0.10, 0.50):
        rows.append(("duplicate %g%%" % (rate * 100), [dict(duplicate=rate, seed=s) for s in rnd]))
    for rate in (0.10, 0.30):
        rows.append(("conflict %g%%" % (rate * 100), [dict(conflict=rate, seed=s) for s in rnd]))
    rows.append(("mid-stream cut", [dict(cut=True, seed=s) for s in rnd]))
    return rows


def row_figures(label, res, runs):
    c = res.counts
    untouched = sum(c["untouched", o] for o in T.OUTCOMES)
    messages = untouched + sum(c["touched", o] for o in T.OUTCOMES)
    return (label, str(runs), "%d/%d" % (res.recorded, res.sessions), str(messages),
            "%d/%d" % (c["untouched", "exact"], untouched), str(c["touched", "exact"]),
            str(c["touched", "flagged"]), str(c["untouched", "gone"] + c["touched", "gone"]),
            str(c["untouched", "lost"] + c["touched", "lost"]),
            str(c["untouched", "wrong"] + c["touched", "wrong"]), str(res.silent()),
            str(len(res.problems)))


def table(rows):
    widths = [max(len(r[i]) for r in rows + [COLUMNS]) for i in range(len(COLUMNS))]
    line = lambda r: "| " + " | ".join(v.ljust(w) if i == 0 else v.rjust(w)
                                       for i, (v, w) in enumerate(zip(r, widths))) + " |"
    out = [line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(r) for r in rows])


# ------------------------------------------------------------------ minimising

def _fails(name, ops, session, key, workdir, binary):
    cap, log, run, path = T.mangle_and_run(name, workdir, binary, **ops)
    os.unlink(path)
    res = T.evaluate(name, cap, log, run, T.kind_of(ops))
    return [p for p in res.problems if p.key == key and p.session == session]


def _ddmin(items, test):
    """A 1-minimal subset of items for which test holds (Zeller's ddmin): removing any one
    more item makes it pass."""
    n = 2
    while len(items) >= 2:
        chunk = -(-len(items) // n)
        subsets = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        for sub in subsets:
            if test(sub):
                items, n = sub, 2
                break
        else:
            for i in range(len(subsets)):
                rest = [x for k, sub in enumerate(subsets) if k != i for x in sub]
                if len(subsets) > 2 and test(rest):
                    items, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(items):
                    break
                n = min(len(items), 2 * n)
    return items


def minimise(name, ops, session, key, workdir, binary):
    """(ops that still show the problem, with as little damage as found)."""
    cap = pcapmangle.Capture.read(os.path.join(T.PCAPS, name))
    _, log = pcapmangle.mangle(cap, **ops)
    if ops.get("drop_rate") or ops.get("drop") or ops.get("drop_frames"):
        frames = log["dropped_frames"]
        keep = _ddmin(frames, lambda f: bool(_fails(name, {"drop_frames": f}, session, key,
                                                       workdir, binary)))
        return {"drop_frames": sorted(keep)}
    if ops.get("reorder"):
        n = len(cap.packets)
        windows = list(range((n + ops["reorder"] - 1) // ops["reorder"]))
        keep = _ddmin(windows, lambda w: bool(_fails(name, dict(ops, reorder_only=set(w)),
                                                     session, key, workdir, binary)))
        ops = dict(ops, reorder_only=set(keep))
        packets, _ = pcapmangle.mangle(cap, **ops)
        before, after = [p.n for p in cap.packets], [p.n for p in packets]
        cycles = _cycles(before, after)
        test = lambda cs: bool(_fails(name, {"swap": _swaps(before, _apply(before, after, cs))},
                                      session, key, workdir, binary))
        if cycles and test(cycles):
            return {"swap": _swaps(before, _apply(before, after, _ddmin(cycles, test)))}
    return ops


def _cycles(before, after):
    """The cycles of the slot permutation that turns before into after (lists of slots)."""
    where = {n: i for i, n in enumerate(before)}
    seen, cycles = set(), []
    for i in range(len(before)):
        if i in seen or before[i] == after[i]:
            continue
        cycle, j = [], i
        while j not in seen:
            seen.add(j)
            cycle.append(j)
            j = where[after[j]]
        cycles.append(cycle)
    return cycles


def _apply(before, after, cycles):
    out = list(before)
    for c in cycles:
        for i in c:
            out[i] = after[i]
    return out


def _swaps(before, target):
    """pcapmangle --swap pairs (by frame number, applied in order) turning before into target."""
    cur, pairs = list(before), []
    for i in range(len(cur)):
        if cur[i] != target[i]:
            j = cur.index(target[i])
            pairs.append((cur[i], cur[j]))
            cur[i], cur[j] = cur[j], cur[i]
    return pairs


def command(name, ops):
    args = ["python3 tests/integration/pcapmangle.py", "pcaps/" + name, "/tmp/loss-repro.pcap"]
    for k, v in sorted(ops.items()):
        if v in (None, False, 0, (), []):
            continue
        flag = "--" + k.replace("_", "-")
        if k == "drop_frames":
            args.append("%s %s" % (flag, ",".join(map(str, v))))
        elif k == "reorder_only":
            args.append("%s %s" % (flag, ",".join(map(str, sorted(v)))))
        elif k == "swap":
            args += ["%s %d,%d" % (flag, a, b) for a, b in v]
        elif v is True:
            args.append(flag)
        else:
            args.append("%s %s" % (flag, v))
    return " ".join(args)


def reorder_story(name, ops):
    """Which frames ended up where: 'frames 3,4 -> 4,3' per changed window."""
    cap = pcapmangle.Capture.read(os.path.join(T.PCAPS, name))
    packets, _ = pcapmangle.mangle(cap, **ops)
    before, after = [p.n for p in cap.packets], [p.n for p in packets]
    diff = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    if not diff:
        return ""
    groups, cur = [], [diff[0]]
    for i in diff[1:]:
        if i - cur[-1] > 1:
            groups.append(cur)
            cur = []
        cur.append(i)
    groups.append(cur)
    return "; ".join("frames %s arrive as %s" % (",".join(str(before[i]) for i in g),
                                                 ",".join(str(after[i]) for i in g))
                     for g in groups)


def repro(label, cases, workdir, binary, out):
    seen = set()
    for ops in cases:
        for name in T.FILES:
            one_list = T._occurrences(pcapmangle.Capture.read(os.path.join(T.PCAPS, name)), ops)
            for occ in one_list:
                one = dict(ops, occurrence=occ) if occ is not None else ops
                cap, log, run, path = T.mangle_and_run(name, workdir, binary, **one)
                os.unlink(path)
                res = T.evaluate(name, cap, log, run, T.kind_of(one))
                for p in res.problems:
                    generic = p.key.split(" ", 2)[-1] if p.key.startswith("message") else p.key
                    if generic in seen:
                        continue
                    seen.add(generic)
                    small = minimise(name, one, p.session, p.key, workdir, binary)
                    shown = _fails(name, small, p.session, p.key, workdir, binary)
                    out.write("\n[%s] %s\n  %s\n" % (label, generic, command(name, small)))
                    if small.get("reorder") or small.get("swap"):
                        out.write("  (%s)\n" % reorder_story(name, small))
                    out.write("  smtptap -q -o /tmp/loss-repro-out -r /tmp/loss-repro.pcap\n")
                    out.write("  -> %s\n" % (shown[0] if shown else p))
                    out.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--only", default="", help="rows whose label contains this")
    ap.add_argument("--bin", help="the smtptap binary (default: the ASan build)")
    ap.add_argument("--repro", action="store_true")
    ap.add_argument("--workdir", help="where the damaged captures go (default: a fresh /tmp dir)")
    a = ap.parse_args()
    workdir = a.workdir or tempfile.mkdtemp(prefix="smtptap-lossfig-")
    os.makedirs(workdir, exist_ok=True)
    rows = []
    try:
        for label, cases in matrix(a.seeds):
            if a.only not in label:
                continue
            t0 = time.time()
            total = T.Result()
            for ops in cases:
                total.add(T.run_case(ops, workdir=workdir, binary=a.bin))
            rows.append(row_figures(label, total, total.runs))
            sys.stderr.write("%s: %.1f s\n" % (label, time.time() - t0))
            if a.repro and total.problems:
                repro(label, cases, workdir, a.bin, sys.stderr)
        print(table(rows))
    finally:
        if not a.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
