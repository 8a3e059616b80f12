"""Fuzz seeds and crash reproducers replayed through the sanitized build, twice.

Every file under fuzz/seeds/<target>/ and fuzz/regress/<target>/ goes

1. through the target itself, without libFuzzer: fuzz/standalone.c gives each file to the
   target's LLVMFuzzerTestOneInput, built with cc against the library of the sanitized
   build (`make -f fuzz/fuzz.mk B=<build> replay`, no clang needed). So every property a
   target checks holds on its seeds (split invariance of the SMTP and MIME parsers, JSON
   that parses back, the record callback equal to the record file, the same records from a
   pcap, a pcapng, a gzip file and the packet path, fuzz_tcp's differential mode: the same
   records with packets reordered and duplicated as without, and a clean run that loses no
   byte), with no AddressSanitizer, LeakSanitizer or UBSan report and exit status 0;

2. through the command line, build/asan/smtptap: captures (fuzz_pcap capture files as they
   are; its packet inputs, fuzz_l2 frames, fuzz_smtp and fuzz_tunnel dialogue scripts, and
   the captures fuzz_tcp writes, rebuilt as pcap files) through -r, messages (fuzz_mime,
   fuzz_message, fuzz_eml, and fuzz_hdr values placed in the headers of a small message)
   through --eml, fuzz_config files through -c. Exit status 0 (1 only for a regression input
   that is a corrupt capture, with a message; fuzz_config: 0 or 2 as the file loads or not,
   with a message naming it), every record valid against docs/record.schema.json and
   stats.json against docs/stats.schema.json, and per input what the input itself says:
   a message file gives one record whose size and SHA-256 are the file's (hashlib), a
   dialogue script one record per detected session whose client and server are the script's
   and whose bytes plus missing_bytes are what the script sent per direction, and a fuzz_tcp
   conversation in differential mode the same records from its mangled capture as from its
   clean one.

fuzz/known/<target>/ holds reproducers of open issues (fuzz/known/README.md); they are
replayed with the check they fail as expected failures that name the issue.

One smtptap run per target and kind keeps it fast; when a run fails, its files are replayed
one by one to name the culprit. The input formats are those at the top of each
fuzz/fuzz_<target>.c.
"""
import glob
import hashlib
import json
import os
import struct
import subprocess
import tempfile
import unittest

from common import BIN, BUILD, ENV, ROOT, load_output
from pcapgen import Session, write_pcap

FUZZ = os.path.join(ROOT, "fuzz")
REPLAY = os.path.join(BUILD, "fuzz", "replay")
TARGETS = ("fuzz_l2", "fuzz_smtp", "fuzz_mime", "fuzz_message", "fuzz_hdr", "fuzz_tunnel",
           "fuzz_pcap", "fuzz_tcp", "fuzz_eml", "fuzz_config", "fuzz_ioc")
LT_L2 = [0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276, 105]
LT_PCAP = LT_L2[:-1]
CAPTURE_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                  b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")
CHARSETS = 36  # entries of the charset list in fuzz_hdr.c
REPORTS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "FUZZ CHECK FAILED")
PORT0 = 20000  # client port of the first rebuilt dialogue; one port per input


def inputs(target, kinds=("seeds", "regress")):
    files = []
    for kind in kinds:
        files += sorted(p for p in glob.glob(os.path.join(FUZZ, kind, target, "*"))
                        if os.path.isfile(p))
    return files


def raw_pcap(path, linktype, frames):
    """frames: (sec, usec, bytes); written as they are (linktype may be anything)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for sec, usec, fr in frames:
            f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)))
            f.write(fr)


def pcap_of_packets(data, path):
    """fuzz_pcap packet input: byte 0 (bits 0-3 link type index), then (t, len16, frame)."""
    lt = LT_PCAP[(data[0] & 15) % len(LT_PCAP)]
    pos, sec, usec, frames = 1, 1700000000, 0, []
    while pos < len(data):
        t = data[pos]
        pos += 1
        if t & 0x80:
            sec += (t & 0x7F) * 10
        else:
            usec += t * 1000
            sec, usec = sec + usec // 1000000, usec % 1000000
        n = struct.unpack(">H", data[pos:pos + 2])[0] if len(data) - pos >= 2 else 0
        pos += min(2, len(data) - pos)
        frames.append((sec, usec, data[pos:pos + n]))
        pos += n
    raw_pcap(path, lt, frames)


class Sent:
    """What a rebuilt dialogue put on the wire per direction: payload bytes and holes."""

    def __init__(self, port):
        self.port = port
        self.bytes = {"c": 0, "s": 0}
        self.holes = {"c": 0, "s": 0}


def pcap_of_smtp_script(data, path, port):
    """fuzz_smtp script as one TCP session; gaps become real holes (capped)."""
    s = Session(client=("10.0.0.1", port)).handshake()
    sent = Sent(port)
    pos = 0
    while pos < len(data):
        c = data[pos]
        pos += 1
        op = c & 3
        if op == 2:
            g = (data[pos] if pos < len(data) else 0) + 1
            pos += 1
            frm = "cs"[(c >> 4) & 1]
            hole = min(g * (1, 97, 65536, 1 << 32)[(c >> 2) & 3], 100000)
            s.seq[frm] += hole
            sent.holes[frm] += hole
            continue
        if op == 3:
            frm, n = "cs"[(c >> 2) & 1], len(data) - pos
        else:
            frm = "cs"[op]
            n = data[pos] if pos < len(data) else 0
            pos += 1
            if n >= 250 and pos < len(data):
                n = (n - 250) * 256 + data[pos] + 250
                pos += 1
        if data[pos:pos + n]:
            s.send(frm, data[pos:pos + n])
            sent.bytes[frm] += len(data[pos:pos + n])
        pos += n
    s.fin()
    write_pcap(path, s.packets)
    return sent


def pcap_of_tunnel_script(data, path, port):
    s = Session(client=("10.0.0.1", port)).handshake()
    sent = Sent(port)
    pos = 0
    while pos < len(data):
        c = data[pos]
        pos += 1
        n = c >> 1
        if n == 127:
            n = len(data) - pos
        if data[pos:pos + n]:
            s.send("cs"[c & 1], data[pos:pos + n])
            sent.bytes["cs"[c & 1]] += len(data[pos:pos + n])
        pos += n
    s.fin()
    write_pcap(path, s.packets)
    return sent


def tcp_streams(data):
    """A fuzz_tcp input's header and the bytes each direction sends (fuzz_tcp.c)."""
    h = (data[:6] + bytes(6))[:6]
    sent, pos = [0, 0], 6
    while pos < len(data):
        c = data[pos]
        pos += 1
        n = data[pos] if pos < len(data) else 0
        pos += 1
        if n & 0x80:
            n = (n & 0x7F) << 8 | (data[pos] if pos < len(data) else 0)
            pos += 1
        n = min(n, max(len(data) - pos, 0))
        sent[c & 1] += n
        pos += n
    return h, sent


def eml_of_header(data, path):
    """fuzz_hdr value in the headers that go through each decoder."""
    v = data[2:].replace(b"\r", b" ").replace(b"\n", b" ")
    cs = b"utf-8" if data[0] % CHARSETS % 2 else b"iso-8859-1"
    msg = (b"From: " + v + b"\r\nTo: " + v + b"\r\nSubject: " + v + b"\r\nReceived: " + v +
           b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain; charset=" + cs + b"\r\n\r\n" + data[2:] +
           b"\r\n--b\r\nContent-Type: application/octet-stream; name=\"" + v +
           b"\"\r\nContent-Disposition: attachment; filename=\"" + v +
           b"\"\r\n\r\nxyz\r\n--b--\r\n")
    with open(path, "wb") as f:
        f.write(msg)


def prepare(target, src, dst, index):
    """(option, file, expectation) to give smtptap, or None when the input has no CLI form.
    expectation: None, ("eml", bytes) or ("sent", Sent)."""
    with open(src, "rb") as f:
        data = f.read()
    base = os.path.join(dst, target + "-" + os.path.basename(src))
    if target in ("fuzz_mime", "fuzz_message", "fuzz_eml"):
        with open(base + ".eml", "wb") as f:
            f.write(data[2:])
        return "--eml", base + ".eml", ("eml", data[2:])
    if target == "fuzz_hdr":
        if len(data) < 2:
            return None
        eml_of_header(data, base + ".eml")
        with open(base + ".eml", "rb") as f:
            return "--eml", base + ".eml", ("eml", f.read())
    if target == "fuzz_pcap":
        if data[:4] in CAPTURE_MAGICS or data[:2] == b"\x1f\x8b":
            return "-r", src, None
        if not data:
            return None
        pcap_of_packets(data, base + ".pcap")
        return "-r", base + ".pcap", None
    if target == "fuzz_l2":
        if not data:
            return None
        raw_pcap(base + ".pcap", LT_L2[data[0] % len(LT_L2)], [(1700000000, 0, data[1:])])
        return "-r", base + ".pcap", None
    if target == "fuzz_smtp":
        return "-r", base + ".pcap", ("sent", pcap_of_smtp_script(data, base + ".pcap",
                                                                   PORT0 + index))
    if target == "fuzz_tunnel":
        return "-r", base + ".pcap", ("sent", pcap_of_tunnel_script(data, base + ".pcap",
                                                                    PORT0 + index))
    return None


def run(args):
    """smtptap -q -o OUT args: (exit status, stderr, records, stats), the records and
    stats.json validated against their schemas (load_output raises AssertionError)."""
    with tempfile.TemporaryDirectory(prefix="smtptap-fuzzreg-") as out:
        p = subprocess.run([BIN, "-q", "-o", out] + args, env=ENV, capture_output=True,
                           timeout=300)
        err = p.stderr.decode("utf-8", "replace")
        records, stats = [], None
        if not reported(err):
            records, stats = load_output(out)
    return p.returncode, err, records, stats


def reported(err):
    return any(r in err for r in REPORTS)


def without(r, *keys):
    return {k: v for k, v in r.items() if k not in keys}


_built = {}


def replayers():
    """Build the targets without libFuzzer, once per test run; the make output on failure."""
    if "rc" not in _built:
        p = subprocess.run(["make", "-s", "-j2", "-f", "fuzz/fuzz.mk", "B=" + BUILD, "replay"],
                           cwd=ROOT, capture_output=True, timeout=600)
        _built["rc"] = p.returncode
        _built["out"] = (p.stdout + p.stderr).decode("utf-8", "replace")
    return _built["rc"], _built["out"]


def replay_env(**extra):
    env = dict(ENV, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1", FUZZ_TCP_DIFF="1")
    env.update(extra)
    return env


class FuzzRegress(unittest.TestCase):
    def harness(self, target, files=None, **env):
        """Run the target's own checks over files (default: its seeds and reproducers)."""
        rc, out = replayers()
        self.assertEqual(rc, 0, "make -f fuzz/fuzz.mk replay failed:\n" + out[-6000:])
        files = inputs(target) if files is None else files
        if not files:
            self.skipTest("no seeds for " + target)
        exe = os.path.join(REPLAY, target)
        p = subprocess.run([exe] + files, env=replay_env(**env), capture_output=True,
                           timeout=600, cwd=ROOT)
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode == 0 and not reported(err):
            return
        for f in files:  # name the input that fails
            p1 = subprocess.run([exe, f], env=replay_env(**env), capture_output=True,
                                timeout=600, cwd=ROOT)
            err1 = p1.stderr.decode("utf-8", "replace")
            if p1.returncode != 0 or reported(err1):
                self.fail(f"{target} on {os.path.relpath(f, ROOT)}: exit {p1.returncode}\n"
                          f"{err1[-6000:]}")
        self.fail(f"{target}: exit {p.returncode} for the whole set only\n{err[-6000:]}")

    def cli(self, target):
        files = inputs(target)
        if not files:
            self.skipTest("no seeds for " + target)
        with tempfile.TemporaryDirectory(prefix="smtptap-fuzzreg-in-") as tmp:
            pairs = []
            for i, src in enumerate(files):
                a = prepare(target, src, tmp, i)
                if a:
                    pairs.append((src, a))
            self.assertTrue(pairs)
            for i in range(0, len(pairs), 500):  # the CLI takes up to 1024 files of each kind
                chunk = pairs[i:i + 500]
                args = [x for _, (opt, path, _) in chunk for x in (opt, path)]
                try:
                    rc, err, records, _ = run(args)
                    if not reported(err):
                        self.check(target, chunk, rc, err, records)
                        continue
                except AssertionError:
                    if len(chunk) == 1:
                        raise
                for src, a in chunk:  # name the input that fails
                    try:
                        rc1, err1, rec1, _ = run([a[0], a[1]])
                        self.assertFalse(reported(err1), err1[-6000:])
                        self.check(target, [(src, a)], rc1, err1, rec1)
                    except AssertionError as e:
                        self.fail(f"{os.path.relpath(src, ROOT)}: {e}")
                self.fail(f"{target}: the whole set fails, no file alone:\n{err[-6000:]}")

    def check(self, target, chunk, rc, err, records):
        corrupt_ok = any("/regress/" in src and a[0] == "-r" and a[1] == src
                         for src, a in chunk)
        if corrupt_ok and rc == 1:
            self.assertTrue(err.strip(), "exit 1 without a message")
        else:
            self.assertEqual(rc, 0, err[-3000:])
        emls = {a[1]: a[2][1] for _, a in chunk if a[2] and a[2][0] == "eml"}
        if emls:
            self.assertEqual(len(records), len(emls), "one record per message file")
            for r in records:
                self.assertIn(r["file"], emls)
                b = emls[r["file"]]
                self.assertEqual(r["source"], "eml")
                m = r["transactions"][0]["message"]
                self.assertEqual(m["size"], len(b), r["file"])
                self.assertEqual(m["sha256"], hashlib.sha256(b).hexdigest(), r["file"])
        sent = {a[2][1].port: a[2][1] for _, a in chunk if a[2] and a[2][0] == "sent"}
        for r in records if sent else []:
            self.assertEqual((r["server"]["ip"], r["server"]["port"]), ("10.0.0.2", 25))
            self.assertEqual(r["client"]["ip"], "10.0.0.1")
            s = sent.get(r["client"]["port"])
            self.assertIsNotNone(s, "a record for a session no script made")
            self.assertEqual(r["close"], "fin")
            for d, k in (("c", "client"), ("s", "server")):
                self.assertEqual(r["bytes"][k] + r["missing_bytes"][k], s.bytes[d] + s.holes[d],
                                 "%s port %d: bytes + missing_bytes" % (k, s.port))
                self.assertLessEqual(r["bytes"][k], s.bytes[d])

    def test_l2(self):
        self.cli("fuzz_l2")

    def test_smtp(self):
        self.cli("fuzz_smtp")

    def test_mime(self):
        self.cli("fuzz_mime")

    def test_message(self):
        self.cli("fuzz_message")

    def test_hdr(self):
        self.cli("fuzz_hdr")

    def test_tunnel(self):
        self.cli("fuzz_tunnel")

    def test_pcap(self):
        self.cli("fuzz_pcap")

    def test_eml(self):
        self.cli("fuzz_eml")

    def test_config(self):
        """Each config file through -c: it loads (exit 0, records of a tiny capture) or is
        refused with exit status 2 and a message naming the file."""
        cap = os.path.join(ROOT, "pcaps", "smtp-rset.pcap")
        for src in inputs("fuzz_config"):
            with tempfile.TemporaryDirectory(prefix="smtptap-fuzzreg-conf-") as out:
                conf = os.path.join(out, "in.conf")
                with open(src, "rb") as f, open(conf, "wb") as g:
                    # output_dir and sinks come from the command line: the file may name any
                    g.write(f.read())
                p = subprocess.run([BIN, "-q", "-c", conf, "-o", out + "/o", "--sinks=file",
                                    "-r", cap], env=ENV, capture_output=True, timeout=120)
                err = p.stderr.decode("utf-8", "replace")
                self.assertFalse(reported(err), err[-3000:])
                self.assertIn(p.returncode, (0, 2), "%s: %s" % (src, err[-2000:]))
                if p.returncode == 2:
                    self.assertIn(conf, err, src)
                else:
                    records, stats = load_output(out + "/o")
                    self.assertTrue(records, src)
                    self.assertIsNotNone(stats, src)

    def test_harness_targets(self):
        """Every target's own properties over its seeds and reproducers (cc + ASan)."""
        for t in TARGETS:
            if t == "fuzz_tcp":
                continue  # test_tcp runs it, writing the captures it checks further
            with self.subTest(target=t):
                self.harness(t)

    def test_tcp(self):
        """fuzz_tcp: its own checks (differential mode without late segments, clean runs that
        lose nothing), then its captures through the command line: valid records whose
        endpoints and byte counts are the conversation's, and the same records from each
        mangled capture as from its clean one (packets and ts_end aside)."""
        files = inputs("fuzz_tcp")
        with tempfile.TemporaryDirectory(prefix="smtptap-fuzzreg-tcp-") as tmp:
            self.harness("fuzz_tcp", files, FUZZ_TCP_PCAP=tmp + "/")
            convs = [tcp_streams(open(f, "rb").read()) for f in files]
            mangled = [os.path.join(tmp, "%d.pcap" % i) for i in range(len(files))]
            clean = {i: os.path.join(tmp, "%d-clean.pcap" % i) for i in range(len(files))
                     if os.path.exists(os.path.join(tmp, "%d-clean.pcap" % i))}
            self.assertTrue(all(map(os.path.exists, mangled)))
            # the diff-mode inputs without late segments have a clean run
            self.assertEqual(sorted(clean), [i for i, (h, _) in enumerate(convs)
                                             if h[0] & 1 and not h[0] & 0x40])
            # ooo_limit at its largest: a reordering that fits the input's own fits it too
            opts = ["--ooo-limit=60000"]
            rc, err, rec_m, _ = run(opts + [x for p in mangled for x in ("-r", p)])
            self.assertEqual(rc, 0, err[-3000:])
            rc, err, rec_c, _ = run(opts + [x for p in clean.values() for x in ("-r", p)])
            self.assertEqual(rc, 0, err[-3000:])
        by_port = {}
        for kind, recs in (("mangled", rec_m), ("clean", rec_c)):
            for r in recs:
                i = r["client"]["port"] - 40000
                self.assertTrue(0 <= i < len(files), r["client"])
                self.assertEqual(r["server"]["port"], 25)
                v6 = convs[i][0][0] & 2
                self.assertEqual(r["client"]["ip"], "2001:db8::1" if v6 else "10.1.0.1")
                self.assertEqual(r["server"]["ip"], "2001:db8::2" if v6 else "10.1.0.2")
                sides = convs[i][0][0] >> 2 & 3
                for d, k in enumerate(("client", "server")):
                    # a side never captured (sides 1: client only, 2: server only) is known
                    # from the peer's ACKs alone, and an ACK of its FIN counts the FIN
                    fin = (sides == 1 and d == 1) or (sides == 2 and d == 0)
                    self.assertLessEqual(r["bytes"][k] + r["missing_bytes"][k],
                                         convs[i][1][d] + fin,
                                         "%s %s: more bytes than sent" % (files[i], k))
                    # a record picked up mid-stream (after an idle timeout closed the first
                    # one) knows nothing before it
                    if (kind == "clean" and r["close"] != "timeout" and not (sides == 1 and d)
                            and not r.get("midstream")):
                        self.assertEqual((r["bytes"][k], r["missing_bytes"][k]),
                                         (convs[i][1][d], 0),
                                         "%s %s: the clean run lost bytes" % (files[i], k))
                by_port.setdefault((kind, i), []).append(
                    json.dumps(without(r, "packets", "ts_end"), sort_keys=True))
        for i in clean:
            # a conversation silent past idle_timeout is picked up mid-stream at its next
            # packet, which a duplicate or a reordering moves: such runs are not compared
            runs = by_port.get(("mangled", i), []) + by_port.get(("clean", i), [])
            if any('"midstream": true' in r for r in runs):
                continue
            self.assertEqual(by_port.get(("mangled", i)), by_port.get(("clean", i)),
                             "%s: reordered and duplicated, not the clean run's records"
                             % os.path.relpath(files[i], ROOT))

    def test_tcp_late_segments(self):
        """fuzz_tcp's differential mode with late segments (FUZZ_TCP_DIFF=2): the seeds whose
        header asks for segments captured after the peer's ACK, and fuzz/known/fuzz_tcp/late-*,
        give the clean run's records."""
        late = [f for f in inputs("fuzz_tcp") if open(f, "rb").read(1)[0] & 0x41 == 0x41]
        late += inputs("fuzz_tcp", ("known",))
        late = [f for f in late if "/known/" not in f or os.path.basename(f).startswith("late-")]
        self.assertTrue(late)
        self.harness("fuzz_tcp", late, FUZZ_TCP_DIFF="2")

    def test_tcp_exact(self):
        """fuzz_tcp's exact mode (FUZZ_TCP_DIFF=4) on fuzz/known/fuzz_tcp/exact-*: with
        segments lost, every message a record calls complete is one the client sent."""
        known = [f for f in inputs("fuzz_tcp", ("known",))
                 if os.path.basename(f).startswith("exact-")]
        self.assertTrue(known)
        self.harness("fuzz_tcp", known, FUZZ_TCP_DIFF="4")


if __name__ == "__main__":
    unittest.main()
