#!/usr/bin/env python3
"""mkmime.py - message files heavy in base64 attachments, for the MIME benchmark.

Writes, under bench/work/ (cached, keyed by every parameter):

  mime-<size>-<key>/msg-NNNNNN.eml
      RFC 5322 messages, CRLF, each multipart/mixed with a short text/plain
      body and 1-5 base64 attachments (random bytes, 76-character lines).
      Attachment sizes are log-uniform between --min-attach and
      --max-attach (default 1 KiB .. 20 MiB): many small ones, a few large
      ones carry most of the bytes.  Files are written until their total
      reaches --size.
  mime-<size>-<key>/msg-NNNNNN.eml.b64
      the sidecar of each message, one line per attachment:
      "<offset> <length> <decoded size> <sha256>": where its base64 text lies
      in the file (the lines and their CRLFs, up to the CRLF before the next
      boundary) and what it decodes to.  mimebench's baseline decodes
      exactly these ranges; its mime mode checks the pipeline's hashes
      against the sha256 column.
  mime-<size>-<key>/index.json
      totals: messages, bytes, attachments, decoded bytes.

  mime-big-<size>/msg.eml (+ .b64, index.json), with --big
      one message whose single attachment is --big-size random bytes
      (default 1 GiB, ~1.37 GiB of base64 on disk), written as a stream in
      ~4 MiB pieces: this script never holds the attachment in memory.

Output is deterministic (--seed).  Everything is written under a temporary
name and renamed when complete, so an interrupted run never leaves a set that
would later be taken for a finished one.  An older set of another key is
replaced (each may be gigabytes).

How it fails: a write error (full disk) raises and leaves only the
temporary directory, removed on the next run.
"""

import argparse
import base64
import glob
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
GEN_VERSION = 1  # bump when the output for the same parameters changes

LINE_RAW = 57  # raw bytes per 76-character base64 line
PIECE_LINES = 65536  # lines encoded at once (3.6 MiB raw)


def parse_size(text):
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = str(text).strip().upper().rstrip("IB").rstrip("B")
    num = t.rstrip("KMGT")
    return int(float(num) * units[t[len(num):]])


def human(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n}B"


def b64_lines(raw):
    """raw bytes -> base64 in 76-character CRLF lines (the last one ends with CRLF too)."""
    return base64.encodebytes(raw).replace(b"\n", b"\r\n")


def write_attachment(f, rng, size):
    """Stream size random bytes as base64 into f; return (offset, length, sha256)."""
    h = hashlib.sha256()
    start = f.tell()
    left = size
    while left:
        n = min(left, LINE_RAW * PIECE_LINES)  # a multiple of 57: lines stay whole
        raw = rng.randbytes(n)
        h.update(raw)
        f.write(b64_lines(raw))
        left -= n
    return start, f.tell() - start, h.hexdigest()


def headers(n, seed, boundary):
    return (
        "From: Bench Sender <sender@bench.test>\r\n"
        f"To: Recipient {n} <rcpt{n}@bench.test>\r\n"
        f"Subject: mime bench message {n}\r\n"
        f"Date: Mon, 01 Jan 2024 00:{n // 60 % 60:02d}:{n % 60:02d} +0000\r\n"
        f"Message-ID: <{n}.{seed}@bench.test>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'
        "\r\n"
        "This is a multi-part message in MIME format.\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
        f"Hello,\r\n\r\nplease find attached the files of message {n}.\r\n\r\n-- \r\nBench\r\n"
    ).encode()


def write_message(path, n, seed, rng, sizes):
    """One message with one attachment per entry of sizes; returns its sidecar rows."""
    boundary = f"=_bench_{seed}_{n}_{rng.getrandbits(48):012x}"
    rows = []
    with open(path, "wb") as f:
        f.write(headers(n, seed, boundary))
        for k, size in enumerate(sizes):
            name = f"file-{n}-{k + 1}.bin"
            f.write(
                (
                    f"--{boundary}\r\n"
                    f'Content-Type: application/octet-stream; name="{name}"\r\n'
                    f'Content-Disposition: attachment; filename="{name}"\r\n'
                    "Content-Transfer-Encoding: base64\r\n"
                    "\r\n"
                ).encode()
            )
            off, length, digest = write_attachment(f, rng, size)
            rows.append((off, length, size, digest))
        f.write(f"--{boundary}--\r\n".encode())
    with open(path + ".b64", "w") as f:
        for r in rows:
            f.write("%d %d %d %s\n" % r)
    return rows


def _replace_old(prefix, keep):
    for old in glob.glob(os.path.join(WORK, prefix + "*")):
        if os.path.basename(old) != keep:
            shutil.rmtree(old, ignore_errors=True)


def _cached(out):
    idx = os.path.join(out, "index.json")
    if os.path.isfile(idx):
        with open(idx) as f:
            meta = json.load(f)
        meta["cached"] = True
        meta["path"] = out
        return meta
    return None


def make_stream(size, seed=1, min_attach=1 << 10, max_attach=20 << 20, log=print):
    """(dir, meta) of the message set, generated if not cached."""
    key = hashlib.sha256(json.dumps([GEN_VERSION, size, seed, min_attach, max_attach]).encode()).hexdigest()[:10]
    name = f"mime-{human(size)}-{key}"
    out = os.path.join(WORK, name)
    meta = _cached(out)
    if meta:
        return out, meta
    os.makedirs(WORK, exist_ok=True)
    _replace_old(f"mime-{human(size)}-", name)
    tmp = out + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    rng = random.Random(seed)
    lo, hi = math.log(min_attach), math.log(max_attach)
    t0 = time.perf_counter()
    total = decoded = attachments = n = 0
    while total < size:
        n += 1
        sizes = [int(math.exp(rng.uniform(lo, hi))) for _ in range(rng.randint(1, 5))]
        path = os.path.join(tmp, f"msg-{n:06d}.eml")
        write_message(path, n, seed, rng, sizes)
        total += os.path.getsize(path)
        decoded += sum(sizes)
        attachments += len(sizes)
    meta = {
        "kind": "stream",
        "messages": n,
        "bytes": total,
        "attachments": attachments,
        "decoded_bytes": decoded,
        "size_requested": size,
        "seed": seed,
        "min_attach": min_attach,
        "max_attach": max_attach,
        "generator_version": GEN_VERSION,
        "write_seconds": round(time.perf_counter() - t0, 3),
    }
    with open(os.path.join(tmp, "index.json"), "w") as f:
        json.dump(meta, f, indent=1)
    os.rename(tmp, out)
    log(
        f"mkmime: wrote {out}: {n} messages, {attachments} attachments, {human(total)} "
        f"({human(decoded)} decoded) in {meta['write_seconds']:.1f} s"
    )
    meta["cached"] = False
    meta["path"] = out
    return out, meta


def make_big(size=1 << 30, seed=1, log=print):
    """(file, meta) of the one message with a size-byte attachment, generated if not cached."""
    name = f"mime-big-{human(size)}-s{seed}-v{GEN_VERSION}"
    out = os.path.join(WORK, name)
    meta = _cached(out)
    if meta:
        return os.path.join(out, "msg.eml"), meta
    os.makedirs(WORK, exist_ok=True)
    _replace_old(f"mime-big-{human(size)}-", name)
    tmp = out + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    log(f"mkmime: writing a message with a {human(size)} attachment ({human(size * 4 // 3)} of base64) ...")
    t0 = time.perf_counter()
    rows = write_message(os.path.join(tmp, "msg.eml"), 1, seed, random.Random(seed), [size])
    total = os.path.getsize(os.path.join(tmp, "msg.eml"))
    meta = {
        "kind": "big",
        "messages": 1,
        "bytes": total,
        "attachments": 1,
        "decoded_bytes": size,
        "sha256": rows[0][3],
        "seed": seed,
        "generator_version": GEN_VERSION,
        "write_seconds": round(time.perf_counter() - t0, 3),
    }
    with open(os.path.join(tmp, "index.json"), "w") as f:
        json.dump(meta, f, indent=1)
    os.rename(tmp, out)
    log(f"mkmime: wrote {out}/msg.eml: {human(total)} in {meta['write_seconds']:.1f} s")
    meta["cached"] = False
    meta["path"] = out
    return os.path.join(out, "msg.eml"), meta


def main(argv=None):
    ap = argparse.ArgumentParser(description="message files heavy in base64 attachments (see bench/README.md)")
    ap.add_argument("--size", default="500M", help="total size of the message files (default 500M)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-attach", default="1K")
    ap.add_argument("--max-attach", default="20M")
    ap.add_argument("--big", action="store_true", help="also the message with one --big-size attachment")
    ap.add_argument("--big-size", default="1G")
    a = ap.parse_args(argv)
    out, meta = make_stream(parse_size(a.size), a.seed, parse_size(a.min_attach), parse_size(a.max_attach))
    print(out)
    if a.big:
        path, _ = make_big(parse_size(a.big_size), a.seed)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
