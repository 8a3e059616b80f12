"""Fuzz seeds and crash reproducers replayed through the sanitized smtptap binary.

Every file under fuzz/seeds/<target>/ and fuzz/regress/<target>/ is turned into what the
command line reads (no clang needed) and given to build/asan/smtptap: captures (fuzz_pcap
capture files as they are; its packet scripts, fuzz_l2 frames, and fuzz_smtp / fuzz_tunnel
dialogue scripts rebuilt as pcap files) through -r, messages (fuzz_mime, fuzz_message, and
fuzz_hdr values placed in the headers of a small message) through --eml. The run must end
with exit status 0 or 1 and no AddressSanitizer / UBSan report. One smtptap run per target
keeps it fast; when a run fails, its files are replayed one by one to name the culprit.
The input formats are those at the top of each fuzz/fuzz_<target>.c.
"""
import glob
import os
import struct
import subprocess
import tempfile
import unittest

from common import BIN, ENV, ROOT
from pcapgen import Session, write_pcap

FUZZ = os.path.join(ROOT, "fuzz")
LT_L2 = [0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276, 105]
LT_PCAP = LT_L2[:-1]
CAPTURE_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                  b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")
CHARSETS = 36  # entries of the charset list in fuzz_hdr.c


def inputs(target):
    files = []
    for kind in ("seeds", "regress"):
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
    """fuzz_pcap packet route: link type index, then (t, len16, frame)."""
    lt = LT_PCAP[data[0] % len(LT_PCAP)]
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


def pcap_of_smtp_script(data, path):
    """fuzz_smtp script as one TCP session; gaps become real holes (capped)."""
    s = Session().handshake()
    pos = 0
    while pos < len(data):
        c = data[pos]
        pos += 1
        op = c & 3
        if op == 2:
            g = (data[pos] if pos < len(data) else 0) + 1
            pos += 1
            frm = "cs"[(c >> 4) & 1]
            s.seq[frm] += min(g * (1, 97, 65536, 1 << 32)[(c >> 2) & 3], 100000)
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
        pos += n
    s.fin()
    write_pcap(path, s.packets)


def pcap_of_tunnel_script(data, path):
    s = Session().handshake()
    pos = 0
    while pos < len(data):
        c = data[pos]
        pos += 1
        n = c >> 1
        if n == 127:
            n = len(data) - pos
        if data[pos:pos + n]:
            s.send("cs"[c & 1], data[pos:pos + n])
        pos += n
    s.fin()
    write_pcap(path, s.packets)


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


def prepare(target, src, dst):
    """(option, file) to give smtptap, or None when the input has no CLI form."""
    with open(src, "rb") as f:
        data = f.read()
    base = os.path.join(dst, target + "-" + os.path.basename(src))
    if target in ("fuzz_mime", "fuzz_message"):
        with open(base + ".eml", "wb") as f:
            f.write(data[2:])
        return "--eml", base + ".eml"
    if target == "fuzz_hdr":
        if len(data) < 2:
            return None
        eml_of_header(data, base + ".eml")
        return "--eml", base + ".eml"
    if target == "fuzz_pcap":
        if data[:4] in CAPTURE_MAGICS or data[:2] == b"\x1f\x8b":
            return "-r", src
        if not data:
            return None
        pcap_of_packets(data, base + ".pcap")
        return "-r", base + ".pcap"
    if target == "fuzz_l2":
        if not data:
            return None
        raw_pcap(base + ".pcap", LT_L2[data[0] % len(LT_L2)], [(1700000000, 0, data[1:])])
        return "-r", base + ".pcap"
    if target == "fuzz_smtp":
        pcap_of_smtp_script(data, base + ".pcap")
        return "-r", base + ".pcap"
    if target == "fuzz_tunnel":
        pcap_of_tunnel_script(data, base + ".pcap")
        return "-r", base + ".pcap"
    return None


def run(args):
    with tempfile.TemporaryDirectory(prefix="smtptap-fuzzreg-") as out:
        p = subprocess.run([BIN, "-q", "-o", out] + args, env=ENV, capture_output=True,
                           timeout=120)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def bad(rc, err):
    return rc not in (0, 1) or "AddressSanitizer" in err or "runtime error:" in err \
        or "LeakSanitizer" in err


class FuzzRegress(unittest.TestCase):
    def replay(self, target):
        files = inputs(target)
        if not files:
            self.skipTest("no seeds for " + target)
        with tempfile.TemporaryDirectory(prefix="smtptap-fuzzreg-in-") as tmp:
            args, pairs = [], []
            for src in files:
                a = prepare(target, src, tmp)
                if a:
                    args += list(a)
                    pairs.append((src, list(a)))
            self.assertTrue(pairs)
            for i in range(0, len(pairs), 500):  # the CLI takes up to 1024 files of each kind
                chunk = pairs[i:i + 500]
                rc, err = run([x for _, a in chunk for x in a])
                if not bad(rc, err):
                    continue
                for src, a in chunk:  # name the input that fails
                    rc1, err1 = run(a)
                    if bad(rc1, err1):
                        self.fail(f"{os.path.relpath(src, ROOT)}: exit {rc1}\n{err1[-6000:]}")
                self.fail(f"{target}: exit {rc} for the whole set only\n{err[-6000:]}")

    def test_l2(self):
        self.replay("fuzz_l2")

    def test_smtp(self):
        self.replay("fuzz_smtp")

    def test_mime(self):
        self.replay("fuzz_mime")

    def test_message(self):
        self.replay("fuzz_message")

    def test_hdr(self):
        self.replay("fuzz_hdr")

    def test_tunnel(self):
        self.replay("fuzz_tunnel")

    def test_pcap(self):
        self.replay("fuzz_pcap")


if __name__ == "__main__":
    unittest.main()
