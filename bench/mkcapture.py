#!/usr/bin/env python3
"""mkcapture.py - build a large benchmark capture from recorded SMTP sessions.

Reads template captures (classic pcap; Ethernet, Linux cooked v1/v2, BSD
loopback or raw IP), cuts them into complete IPv4 TCP sessions (SYN ... FIN
or RST, no sequence gap, server greets with "220"), and writes a classic
pcap (Ethernet, microsecond timestamps) of at least --size bytes by
replaying those sessions again and again.  Every copy gets fresh addresses
(client 10.x.y.z, server 172.16-31.x.y), a fresh client port, server port
25 (mailsnarf and tshark look only there), sequence numbers shifted by a
random offset per direction (acks shifted to match), and recomputed IP and
TCP checksums, so that any reassembler (libnids checks both) sees each copy
as a whole, valid session.  --concurrency copies are in flight at once,
interleaved packet by packet in a seeded random order; each copy keeps its
template's packet order.  Once --size is reached no new copy starts and the
copies in flight are finished, so the file holds only whole sessions.

Nothing is sent anywhere: the addresses are only bytes in a file.

Output is cached under bench/work/ keyed by the templates' contents and
every parameter; an existing file with the same key is reused.  A JSON file
beside it records what was generated (sessions, packets, bytes).

How it fails: a template that cannot be read is skipped with a warning; no
usable session at all is an error (exit 2).  The output is written to a
temporary name and renamed, so an interrupted run leaves no half file that
would later be taken for a finished one.

Speed: per packet a few struct packs and integer sums; payload bytes are
never touched after loading (checksums are precomputed per template packet
and completed with the new header fields), so 1 GiB takes well under a
minute on one core.
"""

import argparse
import glob
import hashlib
import json
import os
import random
import struct
import sys
import time

GEN_VERSION = 6  # bump when the output for the same parameters changes

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
# Development fallback while pcaps/ is still empty.
CORPUS = "/work/shared/corpus"

SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10
M32 = 0xFFFFFFFF

PCAP_HDR = struct.Struct("<IHHiIII")
REC_HDR = struct.Struct("<IIII")
IP_CSUM_ADDRS = struct.Struct(">HII")  # checksum, src, dst at IP offset 10
TCP_PORTS_SEQ = struct.Struct(">HHII")  # sport, dport, seq, ack
U16 = struct.Struct(">H")

FAKE_ETH = bytes.fromhex("020000000002" "020000000001" "0800")


def parse_size(text):
    """'1G', '20M', '500k', '123' -> bytes (binary multiples)."""
    t = text.strip().upper().rstrip("B").rstrip("I")
    mult = 1
    for suffix, m in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)):
        if t.endswith(suffix):
            t, mult = t[:-1], m
            break
    return int(float(t) * mult)


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return str(n)


# ---------------------------------------------------------------- reading


def read_pcap(path):
    """Yield (linktype, caplen, origlen, frame) for each record of a classic pcap."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError("too short for a pcap header")
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise ValueError("not a classic pcap (pcapng is not supported)")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    rec = struct.Struct(endian + "IIII")
    off = 24
    n = len(data)
    while off + 16 <= n:
        _, _, caplen, origlen = rec.unpack_from(data, off)
        off += 16
        if off + caplen > n:
            break  # truncated last record
        yield linktype, caplen, origlen, data[off : off + caplen]
        off += caplen


def to_ethernet_ipv4(linktype, frame):
    """Return (eth_header14, ip_packet) for an IPv4 frame, else None."""
    if linktype == 1:  # EN10MB; tagged frames (VLAN, MPLS, PPPoE) are left out
        if frame[12:14] != b"\x08\x00":
            return None
        return frame[:14], frame[14:]
    if linktype == 113:  # LINUX_SLL
        if frame[14:16] != b"\x08\x00":
            return None
        return FAKE_ETH, frame[16:]
    if linktype == 276:  # LINUX_SLL2
        if frame[0:2] != b"\x08\x00":
            return None
        return FAKE_ETH, frame[20:]
    if linktype in (0, 108):  # NULL / LOOP: 4-byte family, host or network order
        fam = frame[:4]
        if fam not in (b"\x02\x00\x00\x00", b"\x00\x00\x00\x02"):
            return None
        return FAKE_ETH, frame[4:]
    if linktype in (101, 12, 228):  # RAW / IPV4
        if not frame or frame[0] >> 4 != 4:
            return None
        return FAKE_ETH, frame
    return None


def words_sum(b):
    """Ones-complement-compatible sum of big-endian 16-bit words, mod 0xFFFF.

    2**16 == 1 (mod 0xFFFF), so the integer value of the bytes is congruent
    to the sum of its 16-bit words: one C-level conversion per packet, no
    per-byte Python loop."""
    if len(b) & 1:
        b = b + b"\0"
    return int.from_bytes(b, "big") % 0xFFFF


class Packet:
    """One template packet, ready to be stamped with new header fields."""

    __slots__ = ("dir", "flags", "seq", "ack", "front", "ipopts", "mid", "tail", "ipsum", "tcpsum", "wire")

    def __init__(self, direction, flags, seq, ack, eth, ip, ihl, tcp):
        self.dir = direction
        self.flags = flags
        self.seq = seq
        self.ack = ack
        # Layout: eth | ip[0:10] | csum src dst | ip[20:ihl] | ports seq ack |
        #         tcp[12:16] | tcp csum | tcp[18:] (urgent ptr, options, payload)
        self.front = eth + ip[:10]
        self.ipopts = ip[20:ihl]
        self.mid = tcp[12:16]
        self.tail = tcp[18:]
        # Sums over everything that stays fixed; the new addresses, ports,
        # seq and ack are added per copy.
        self.ipsum = words_sum(ip[:10] + ip[20:ihl])
        self.tcpsum = words_sum(tcp[12:16] + tcp[18:]) + 6 + len(tcp)
        self.wire = 14 + len(ip)


class Session:
    __slots__ = ("client", "pkts", "ok", "nxt", "fin", "synack", "first_srv", "sport")

    def __init__(self, client, sport):
        self.client = client
        self.pkts = []
        self.ok = True
        self.nxt = [None, None]
        self.fin = False
        self.synack = False
        self.first_srv = None
        self.sport = sport


def _track(s, d, flags, seq, plen):
    """Follow each direction's next sequence number; a hole means a lost segment."""
    span = plen + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
    if flags & SYN:
        if s.nxt[d] is None:
            s.nxt[d] = (seq + span) & M32
        return
    if s.nxt[d] is None:
        s.ok = False  # data before this side's SYN: not a clean session
        return
    if span == 0:
        return
    delta = (seq - s.nxt[d]) & M32
    if 0 < delta < 0x80000000:
        s.ok = False  # gap: bytes the receiver never saw
        return
    end = (seq + span) & M32
    if 0 < ((end - s.nxt[d]) & M32) < 0x80000000:
        s.nxt[d] = end


def load_sessions(paths, log):
    """Cut the template captures into complete IPv4 TCP SMTP sessions.

    A session seen twice (the same recording in two files, e.g. one with
    its ports rewritten) is kept once, so that no recording weighs double."""
    sessions = []
    seen = set()
    dups = 0
    for path in paths:
        try:
            records = list(read_pcap(path))
        except (OSError, ValueError) as e:
            log(f"mkcapture: skip {path}: {e}")
            continue
        open_ = {}
        done = []
        for linktype, caplen, origlen, frame in records:
            r = to_ethernet_ipv4(linktype, frame)
            if r is None:
                continue
            eth, ip = r
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            totlen = (ip[2] << 8) | ip[3]
            if ihl < 20 or totlen < ihl + 20:
                continue
            if (((ip[6] << 8) | ip[7]) & 0x3FFF) != 0:
                continue  # fragment
            trunc = caplen < origlen or len(ip) < totlen
            ip = ip[:totlen]
            tcp = ip[ihl:]
            src = (ip[12:16], (tcp[0] << 8) | tcp[1])
            dst = (ip[16:20], (tcp[2] << 8) | tcp[3])
            key = (src, dst) if src < dst else (dst, src)
            seq, ack = struct.unpack_from(">II", tcp, 4)
            flags = tcp[13]
            doff = (tcp[12] >> 4) * 4
            if doff < 20 or doff > len(tcp):
                continue
            plen = len(tcp) - doff
            if flags & SYN and not flags & ACK:
                old = open_.get(key)
                # A retransmitted SYN belongs to the session it repeats.
                if old is None or old.client != src or old.synack:
                    if old is not None:
                        done.append(old)
                    open_[key] = Session(src, (tcp[2] << 8) | tcp[3])
            s = open_.get(key)
            if s is None:
                continue
            d = 0 if src == s.client else 1
            if trunc:
                s.ok = False
            if d == 1 and flags & SYN and flags & ACK:
                s.synack = True
            if flags & (FIN | RST):
                s.fin = True
            if d == 1 and plen and s.first_srv is None:
                s.first_srv = tcp[doff : doff + 3]
            _track(s, d, flags, seq, plen)
            s.pkts.append(Packet(d, flags, seq, ack, eth, ip, ihl, tcp))
        done.extend(open_.values())
        kept = 0
        for s in done:
            if not (s.ok and s.synack and s.fin and s.first_srv == b"220"):
                continue
            digest = hashlib.sha1(b"".join(p.tail for p in s.pkts)).digest()
            if digest in seen:
                dups += 1
                continue
            seen.add(digest)
            sessions.append(s)
            kept += 1
        if kept < len(done):
            log(f"mkcapture: {os.path.relpath(path)}: {kept} of {len(done)} TCP sessions kept")
    if dups:
        log(f"mkcapture: {dups} duplicate sessions left out")
    return sessions


# ---------------------------------------------------------------- writing


def generate(sessions, out_path, size, concurrency, seed, server_port, rate_mbps):
    """Write the interleaved replay; return statistics."""
    rng = random.Random(seed)
    nt = len(sessions)
    templates = [(s.pkts, s.sport, sum(p.wire + 16 for p in s.pkts)) for s in sessions]
    rec_hdr = REC_HDR.pack
    ip_pack = IP_CSUM_ADDRS.pack
    tcp_pack = TCP_PORTS_SEQ.pack
    u16 = U16.pack
    randrange = rng.randrange
    getrandbits = rng.getrandbits

    t_us = 1704067200 * 1000000  # 2024-01-01T00:00:00Z
    # Microseconds per byte on the nominal link; every packet advances at least 1 us.
    us_per_byte = 8.0 / rate_mbps

    copies = 0
    committed = 24  # bytes of the header and of every copy started so far

    def new_copy():
        nonlocal copies, committed
        k = copies
        copies += 1
        tmpl, tmpl_sport, nbytes = templates[k % nt]
        committed += nbytes
        c = 0x0A000000 + 1 + (k % 0xFFFFFD)  # 10.0.0.1 ...
        sv = 0xAC100000 + 1 + ((k * 40503) % 0xFFFFD)  # 172.16.0.1 ... 172.31.255.254
        cport = 1024 + randrange(64512)
        sport = server_port or tmpl_sport
        off_c = getrandbits(32)
        off_s = getrandbits(32)
        addr_sum = (c >> 16) + (c & 0xFFFF) + (sv >> 16) + (sv & 0xFFFF)
        # [pkts, pos, client, server, client port, server port, addr_sum, off0, off1]
        return [tmpl, 0, c, sv, cport, sport, addr_sum, off_c, off_s]

    # Start no copy once the copies started reach --size: the file then
    # exceeds it by less than one template session.
    slots = []
    while len(slots) < concurrency and committed < size:
        slots.append(new_copy())
    written = 24
    packets = 0
    buf = []
    flush_at = 1 << 22
    pending = 0
    tmp = out_path + ".part"
    with open(tmp, "wb", buffering=0) as f:
        f.write(PCAP_HDR.pack(0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        while slots:
            i = randrange(len(slots))
            st = slots[i]
            pkts = st[0]
            p = pkts[st[1]]
            st[1] += 1
            c, sv, addr_sum = st[2], st[3], st[6]
            if p.dir == 0:
                src, dst = c, sv
                sp, dp = st[4], st[5]
                seq = (p.seq + st[7]) & M32
                ack = (p.ack + st[8]) & M32 if p.flags & ACK else p.ack
            else:
                src, dst = sv, c
                sp, dp = st[5], st[4]
                seq = (p.seq + st[8]) & M32
                ack = (p.ack + st[7]) & M32 if p.flags & ACK else p.ack
            ports = st[4] + st[5]
            # -sum mod 0xFFFF is the complement of the folded sum, and 0
            # rather than 0xFFFF when the sum folds to 0xFFFF (RFC 1624).
            ipc = -(p.ipsum + addr_sum) % 0xFFFF
            tcc = -(p.tcpsum + addr_sum + ports + seq + ack) % 0xFFFF
            w = p.wire
            t_us += max(1, int((w + 24) * us_per_byte))
            buf.append(rec_hdr(t_us // 1000000, t_us % 1000000, w, w))
            buf.append(p.front)
            buf.append(ip_pack(ipc, src, dst))
            if p.ipopts:
                buf.append(p.ipopts)
            buf.append(tcp_pack(sp, dp, seq, ack))
            buf.append(p.mid)
            buf.append(u16(tcc))
            buf.append(p.tail)
            pending += w + 16
            packets += 1
            if st[1] == len(pkts):
                if committed < size:
                    slots[i] = new_copy()
                else:
                    slots[i] = slots[-1]
                    slots.pop()
            if pending >= flush_at:
                f.write(b"".join(buf))
                buf.clear()
                written += pending
                pending = 0
        if buf:
            f.write(b"".join(buf))
            written += pending
    os.replace(tmp, out_path)
    return {"sessions": copies, "packets": packets, "bytes": written}


# ---------------------------------------------------------------- driver


def default_templates():
    mine = sorted(glob.glob(os.path.join(REPO, "pcaps", "*.pcap")))
    if mine:
        return mine, "pcaps/"
    dev = sorted(glob.glob(os.path.join(CORPUS, "**", "*.pcap"), recursive=True))
    return dev, CORPUS + " (development fallback: pcaps/ is empty)"


def cache_key(paths, size, concurrency, seed, server_port, rate_mbps):
    h = hashlib.sha256()
    h.update(json.dumps([GEN_VERSION, size, concurrency, seed, server_port, rate_mbps]).encode())
    for p in sorted(paths):
        with open(p, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:12]


def make(
    size,
    templates=None,
    concurrency=200,
    seed=1,
    server_port=25,
    rate_mbps=1000,
    workdir=WORK,
    force=False,
    log=lambda m: print(m, file=sys.stderr),
):
    """Return (path, meta) of a capture for these parameters, building it if needed."""
    if templates:
        paths = []
        for t in templates:
            if os.path.isdir(t):
                paths.extend(sorted(glob.glob(os.path.join(t, "**", "*.pcap"), recursive=True)))
            else:
                paths.append(t)
        origin = "--templates"
    else:
        paths, origin = default_templates()
    if not paths:
        raise SystemExit("mkcapture: no template captures (pcaps/*.pcap is empty; use --templates)")
    os.makedirs(workdir, exist_ok=True)
    key = cache_key(paths, size, concurrency, seed, server_port, rate_mbps)
    out = os.path.join(workdir, f"capture-{human(size).replace(' ', '').replace('.0', '')}-{key}.pcap")
    # human() rounds: 1.5 GiB and 1.54 GiB share a label, the key tells them apart.
    meta_path = out + ".json"
    if not force and os.path.exists(out) and os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("bytes") == os.path.getsize(out):
            meta["cached"] = True
            return out, meta
    # An older capture of the same size (other templates or parameters) is
    # replaced rather than kept beside it: each one may be gigabytes.
    label = f"capture-{human(size).replace(' ', '').replace('.0', '')}-"
    for old in glob.glob(os.path.join(workdir, label + "*.pcap*")):
        if not os.path.basename(old).startswith(label + key):
            os.unlink(old)
    log(f"mkcapture: templates from {origin}; kept: complete IPv4 TCP sessions whose server greets with 220")
    t0 = time.perf_counter()
    sessions = load_sessions(paths, log)
    if not sessions:
        raise SystemExit("mkcapture: no usable session in the templates")
    t1 = time.perf_counter()
    tmpl_bytes = sum(p.wire + 16 for s in sessions for p in s.pkts)
    log(
        f"mkcapture: {len(sessions)} template sessions, {human(tmpl_bytes)}; "
        f"writing >= {human(size)} with {concurrency} in flight"
    )
    stats = generate(sessions, out, size, concurrency, seed, server_port, rate_mbps)
    t2 = time.perf_counter()
    meta = dict(stats)
    meta.update(
        {
            "size_requested": size,
            "concurrency": concurrency,
            "seed": seed,
            "server_port": server_port,
            "rate_mbps": rate_mbps,
            "template_sessions": len(sessions),
            "template_files": [os.path.relpath(p, REPO) for p in paths],
            "load_seconds": round(t1 - t0, 3),
            "write_seconds": round(t2 - t1, 3),
            "generator_version": GEN_VERSION,
        }
    )
    with open(meta_path + ".part", "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(meta_path + ".part", meta_path)
    log(
        f"mkcapture: wrote {out}: {meta['sessions']} sessions, {meta['packets']} packets, "
        f"{human(meta['bytes'])} in {t2 - t1:.1f} s ({meta['bytes'] / (1 << 20) / max(t2 - t1, 1e-9):.0f} MiB/s)"
    )
    meta["cached"] = False
    return out, meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1G", help="minimum output size (e.g. 1G, 50M; default 1G)")
    ap.add_argument("--templates", nargs="+", help="template pcaps or directories (default pcaps/*.pcap)")
    ap.add_argument("--concurrency", type=int, default=200, help="sessions in flight at once (default 200)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--server-port", type=int, default=25, help="server port of every copy; 0 keeps the template's")
    ap.add_argument("--rate-mbps", type=float, default=1000, help="nominal link rate for timestamps")
    ap.add_argument("--workdir", default=WORK)
    ap.add_argument("--slice", metavar="SIZE", help="also build a small capture (mailsnarf's, e.g. 20M)")
    ap.add_argument("--force", action="store_true", help="rebuild even if cached")
    a = ap.parse_args(argv)
    for size in [a.size] + ([a.slice] if a.slice else []):
        path, meta = make(
            parse_size(size),
            a.templates,
            a.concurrency,
            a.seed,
            a.server_port,
            a.rate_mbps,
            a.workdir,
            a.force,
        )
        print(path)
        print(json.dumps({k: meta[k] for k in ("sessions", "packets", "bytes", "cached")}))


if __name__ == "__main__":
    main()
