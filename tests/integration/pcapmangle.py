#!/usr/bin/env python3
"""pcapmangle - damage a recorded capture the way taps and SPAN ports do, and
say exactly what was damaged (issue 9, section 4).

usage: pcapmangle.py IN OUT [--seed N] [--cut] [--drop-rate R]
                     [--drop-frames N,...] [--drop WHAT [--occurrence K]]
                     [--conflict R] [--duplicate R]
                     [--reorder W [--reorder-dir client|server]
                      [--reorder-only K,...]] [--swap A,B]... [--log FILE.json]

The operations, applied in this order whatever the order of the options,
each with its own random generator derived from the seed and the input's
file name (so adding one does not change what another does, and two copies
of the same traffic in different encapsulations get different damage):
  --cut            every TCP connection starts after a random number of its
                   packets (1 .. n-1): mid-stream pickup, the handshake gone
  --drop-rate R    each packet carrying TCP payload is dropped with
                   probability R (0.01 = 1%)
  --drop-frames N,N,...  drop these frames (1-based numbers of the input, as
                   editcap and tshark count them): minimal reproducers
  --drop WHAT      drop exactly the packet(s) carrying WHAT, found in the
                   dialogue (below), every occurrence or only the K-th
                   (--occurrence K, 0-based, in capture order): banner,
                   ehlo-reply, data (the DATA command), 354, dot (the final
                   ".\\r\\n"), data-end-reply (the reply after the dot: 250 or
                   550), bdat (a BDAT command line)
  --conflict R     each payload packet is, with probability R, followed 0-2
                   packets later by a retransmission of the same sequence
                   range with different bytes (an overlap conflict; the
                   first copy is the true one)
  --duplicate R    each packet is, with probability R, repeated unchanged
                   0-3 packets later
  --reorder W      the packets are shuffled within consecutive windows of W;
                   with --reorder-dir only the packets of that direction
                   (client: sent by the side that opened the connection) are
                   shuffled among their own positions, the others stay.
                   Timestamps stay with the positions, so time still
                   increases, as at a sensor that received them in that order.
                   --reorder-only K,... applies only the shuffles of those
                   windows (0-based; the others are drawn and left undone):
                   minimal reproducers
  --swap A,B       frames A and B (input numbers) change places; repeatable
Nothing is lost by --conflict, --duplicate and --reorder.

What was removed is computed at the end, from the packets that survive: per
connection and direction, the payload byte ranges (relative to the first byte
after the SYN, or to the first byte seen when the SYN is not in the input)
that no surviving true copy carries. --log writes it as JSON; `removed_bytes`
is their sum, `removed_bounded` the part of it lying before the last
surviving payload byte of that direction (a hole any reassembler can see).

The dialogue (for --drop and for the tests) is found by reassembling each
connection of the undamaged input and pairing the client's commands with the
server's replies in order (a clean capture of a real client and server):
byte ranges of every command, reply, DATA content, final dot, BDAT chunk and
transaction. It is independent of smtptap.

Reads classic pcap (us or ns, either byte order, gzip-compressed too) of link
types EN10MB (with 802.1Q/802.1ad/QinQ tags, MPLS, PPPoE session), LINUX_SLL,
LINUX_SLL2, raw IP and BSD loopback; IPv4 (unfragmented) and IPv6 (with
hop-by-hop, routing and destination options headers). A frame it cannot
parse is kept unchanged, at its place (not counted as TCP). Writes classic
pcap with the input's header. Checksums are left as they were (a changed
payload keeps the old TCP checksum: sensors behind checksum offload, and
smtptap, do not verify it). Pure Python, no scapy.
"""
import argparse
import gzip
import hashlib
import ipaddress
import json
import random
import struct
import sys

SMTP_PORTS = (25, 465, 587, 2525)
TARGETS = ("banner", "ehlo-reply", "data", "354", "dot", "data-end-reply", "bdat")
DIRS = ("client", "server")


# ---------------------------------------------------------------- pcap I/O

class Packet:
    """One frame: n is its 1-based number in the input (editcap's numbering;
    a copy keeps its original's n), tcp its parsed TCP header or None;
    altered is True for a copy whose payload was changed (--conflict)."""
    __slots__ = ("n", "sec", "frac", "orig_len", "frame", "tcp", "altered")

    def __init__(self, n, sec, frac, orig_len, frame):
        self.n, self.sec, self.frac, self.orig_len, self.frame = n, sec, frac, orig_len, frame
        self.tcp = None
        self.altered = False

    def copy(self):
        p = Packet(self.n, self.sec, self.frac, self.orig_len, self.frame)
        p.tcp, p.altered = self.tcp, self.altered
        return p


class Tcp:
    """conn: Conn; dir: 'client'/'server'; off: payload offset in the frame;
    rel: the payload's offset in its direction's stream."""
    __slots__ = ("conn", "dir", "src", "dst", "seq", "ack", "flags", "off", "len", "rel")

    def __init__(self, src, dst, seq, ack, flags, off, length):
        self.src, self.dst, self.seq, self.ack, self.flags = src, dst, seq, ack, flags
        self.off, self.len = off, length
        self.conn = self.dir = None
        self.rel = None


class Capture:
    def __init__(self, path, header, endian, linktype, packets):
        self.path, self.header, self.endian, self.linktype = path, header, endian, linktype
        self.nano = False
        self.packets = packets
        self.conns = []  # Conn, in order of first packet
        _assign_conns(self)

    @classmethod
    def read(cls, path):
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        magic = data[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            raise ValueError("%s: not a classic pcap file (pcapng: convert it with editcap -F pcap)"
                             % path)
        linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
        packets, off, n = [], 24, 0
        while off + 16 <= len(data):
            sec, frac, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
            n += 1
            p = Packet(n, sec, frac, orig, data[off + 16:off + 16 + incl])
            p.tcp = parse_tcp(p.frame, linktype)
            packets.append(p)
            off += 16 + incl
        cap = cls(path, data[:24], endian, linktype, packets)
        cap.nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        return cap

    def write(self, path, packets):
        with open(path, "wb") as f:
            f.write(self.header)
            for p in packets:
                f.write(struct.pack(self.endian + "IIII", p.sec, p.frac, len(p.frame),
                                    max(p.orig_len, len(p.frame))))
                f.write(p.frame)


# ------------------------------------------------------------- dissection

def _l3(frame, linktype):
    """(offset of the IP header, 4 or 6), or None."""
    if linktype == 1:  # EN10MB
        if len(frame) < 14:
            return None
        off, etype = 12, struct.unpack("!H", frame[12:14])[0]
        while etype in (0x8100, 0x88A8, 0x9100) and len(frame) >= off + 6:
            off += 4
            etype = struct.unpack("!H", frame[off:off + 2])[0]
        off += 2
        if etype == 0x8847:  # MPLS: labels to the bottom of stack, then IP by its version
            while len(frame) >= off + 4:
                bos = frame[off + 2] & 1
                off += 4
                if bos:
                    break
            if len(frame) <= off:
                return None
            v = frame[off] >> 4
            return (off, v) if v in (4, 6) else None
        if etype == 0x8864:  # PPPoE session: 6-byte header, PPP protocol
            if len(frame) < off + 8:
                return None
            proto = struct.unpack("!H", frame[off + 6:off + 8])[0]
            return {0x0021: (off + 8, 4), 0x0057: (off + 8, 6)}.get(proto)
        return {0x0800: (off, 4), 0x86DD: (off, 6)}.get(etype)
    if linktype == 276:  # LINUX_SLL2
        if len(frame) < 20:
            return None
        return {0x0800: (20, 4), 0x86DD: (20, 6)}.get(struct.unpack("!H", frame[0:2])[0])
    if linktype == 113:  # LINUX_SLL
        if len(frame) < 16:
            return None
        return {0x0800: (16, 4), 0x86DD: (16, 6)}.get(struct.unpack("!H", frame[14:16])[0])
    if linktype in (12, 14, 101):  # raw IP
        return (0, frame[0] >> 4) if frame and frame[0] >> 4 in (4, 6) else None
    if linktype == 0:  # BSD loopback: 4-byte address family, host order
        if len(frame) < 5:
            return None
        return (4, frame[4] >> 4) if frame[4] >> 4 in (4, 6) else None
    return None


def parse_tcp(frame, linktype):
    """The TCP header of an unfragmented IPv4/IPv6 frame, or None."""
    l3 = _l3(frame, linktype)
    if not l3:
        return None
    off, v = l3
    if v == 4:
        if len(frame) < off + 20:
            return None
        ihl = (frame[off] & 15) * 4
        total = struct.unpack("!H", frame[off + 2:off + 4])[0]
        frag = struct.unpack("!H", frame[off + 6:off + 8])[0]
        if frame[off + 9] != 6 or frag & 0x3FFF or ihl < 20:
            return None
        src = ipaddress.IPv4Address(frame[off + 12:off + 16])
        dst = ipaddress.IPv4Address(frame[off + 16:off + 20])
        l4, end = off + ihl, min(len(frame), off + total)
    else:
        if len(frame) < off + 40:
            return None
        plen = struct.unpack("!H", frame[off + 4:off + 6])[0]
        nxt, l4 = frame[off + 6], off + 40
        src = ipaddress.IPv6Address(frame[off + 8:off + 24])
        dst = ipaddress.IPv6Address(frame[off + 24:off + 40])
        end = min(len(frame), off + 40 + plen)
        while nxt in (0, 43, 60) and len(frame) >= l4 + 8:
            nxt, l4 = frame[l4], l4 + (frame[l4 + 1] + 1) * 8
        if nxt != 6:
            return None
    if end < l4 + 20:
        return None
    sport, dport, seq, ack, doff, flags = struct.unpack("!HHIIBB", frame[l4:l4 + 14])
    poff = l4 + (doff >> 4) * 4
    if poff > end:
        return None
    return Tcp((str(src), sport), (str(dst), dport), seq, ack, flags, poff, end - poff)


def fmt_ep(ep):
    ip, port = ep
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)


class Conn:
    """One TCP connection (a 4-tuple). base: the stream offset 0 of each
    direction as a sequence number."""

    def __init__(self, index, client, server):
        self.index, self.client, self.server = index, client, server
        self.base = {}
        self.packets = []

    def key(self):
        return frozenset((self.client, self.server))

    def describe(self):
        return {"client": fmt_ep(self.client), "server": fmt_ep(self.server)}


def _assign_conns(cap):
    by_key = {}
    for p in cap.packets:
        t = p.tcp
        if not t:
            continue
        key = frozenset((t.src, t.dst))
        c = by_key.get(key)
        if c is None:
            if t.flags & 0x12 == 0x02:  # SYN without ACK: its sender is the client
                client, server = t.src, t.dst
            elif t.flags & 0x12 == 0x12:
                client, server = t.dst, t.src
            elif (t.dst[1] in SMTP_PORTS) != (t.src[1] in SMTP_PORTS):
                client, server = (t.src, t.dst) if t.dst[1] in SMTP_PORTS else (t.dst, t.src)
            else:
                client, server = (t.src, t.dst) if t.src[1] > t.dst[1] else (t.dst, t.src)
            c = by_key[key] = Conn(len(cap.conns), client, server)
            cap.conns.append(c)
        t.conn, t.dir = c, "client" if t.src == c.client else "server"
        c.packets.append(p)
        if t.flags & 0x02 and t.dir not in c.base:
            c.base[t.dir] = (t.seq + 1) & 0xFFFFFFFF
    for c in cap.conns:
        for p in c.packets:
            t = p.tcp
            if t.dir not in c.base and t.len:
                c.base[t.dir] = t.seq
            if t.dir in c.base:
                d = (t.seq - c.base[t.dir]) & 0xFFFFFFFF
                t.rel = d - (1 << 32) if d >= 1 << 31 else d


# -------------------------------------------------------------- dialogue

def stream_bytes(conn, direction):
    """The bytes of one direction, first copy wins; stops at the first gap."""
    segs = sorted(((p.tcp.rel, i, p) for i, p in enumerate(conn.packets)
                   if p.tcp.dir == direction and p.tcp.len and p.tcp.rel is not None and
                   not p.altered), key=lambda x: (x[0], x[1]))
    out = bytearray()
    for rel, _, p in segs:
        t = p.tcp
        if rel > len(out):
            break
        if rel + t.len > len(out):
            out += p.frame[t.off + len(out) - rel:t.off + t.len]
    return bytes(out)


def parse_replies(s):
    """Every reply of a server stream: (start, end, code, first line)."""
    out, pos, start = [], 0, 0
    while True:
        nl = s.find(b"\n", pos)
        if nl < 0:
            return out
        line = s[pos:nl + 1]
        pos = nl + 1
        if len(line) < 4 or line[3:4] != b"-":
            code = int(line[:3]) if line[:3].isdigit() else 0
            first = s[start:s.find(b"\n", start)].rstrip(b"\r")
            out.append((start, pos, code, first))
            start = pos


def unstuff(content):
    out = []
    for line in content.splitlines(keepends=True):
        out.append(line[1:] if line.startswith(b".") else line)
    return b"".join(out)


def dialogue(conn):
    """The SMTP dialogue of one undamaged connection: its transactions (in
    order) and the byte ranges of what --drop can remove. Ranges are
    (direction, start, end), end exclusive."""
    cs, ss = stream_bytes(conn, "client"), stream_bytes(conn, "server")
    replies = parse_replies(ss)
    ri = [0]

    def reply():
        if ri[0] >= len(replies):
            return None
        ri[0] += 1
        return replies[ri[0] - 1]

    targets = {t: [] for t in TARGETS}
    txs, tx, pos = [], None, 0
    banner = reply()
    if banner:
        targets["banner"].append(("server", banner[0], banner[1]))

    def close(status, cend, r, code=None):
        tx["status"], tx["client_span"] = status, (tx["client_span"][0], cend)
        if r:
            tx["server_span"] = (tx["server_span"][0], r[1])
            tx["final_reply_code"] = code if code is not None else r[2]
        txs.append(tx)

    while True:
        nl = cs.find(b"\n", pos)
        if nl < 0:
            break
        start, line, pos = pos, cs[pos:nl + 1], nl + 1
        words = line.split()
        verb = words[0].upper().decode("latin-1") if words else ""
        r = None
        if verb == "MAIL":
            r = reply()
            arg = line[line.find(b":") + 1:].strip()
            mail_from = arg[1:arg.find(b">")] if arg.startswith(b"<") else arg.split()[0]
            tx = {"mail_from": mail_from.decode("utf-8", "replace"), "mode": None,
                  "client_span": (start, pos), "server_span": (r[0] if r else len(ss), None),
                  "content": None, "content_spans": [], "final_reply_code": None}
        elif verb == "RCPT":
            r = reply()
        elif verb == "DATA":
            targets["data"].append(("client", start, pos))
            r = reply()
            if r and r[2] == 354:
                targets["354"].append(("server", r[0], r[1]))
                end = pos
                while True:
                    e = cs.find(b"\n", end)
                    if e < 0 or cs[end:e + 1] == b".\r\n":
                        break
                    end = e + 1
                if tx:
                    tx["mode"], tx["content"] = "DATA", unstuff(cs[pos:end])
                    tx["content_spans"] = [(pos, end)]
                targets["dot"].append(("client", end, end + 3))
                pos = end + 3
                r = reply()
                if r:
                    targets["data-end-reply"].append(("server", r[0], r[1]))
                if tx:
                    close("accepted" if r and r[2] < 400 else "rejected", pos, r)
                    tx = None
            elif tx:
                tx["mode"] = "DATA"
                close("rejected", pos, r)
                tx = None
        elif verb == "BDAT":
            targets["bdat"].append(("client", start, pos))
            n = int(words[1])
            last = len(words) > 2 and words[2].upper() == b"LAST"
            if tx:
                tx["mode"] = "BDAT"
                tx["content"] = (tx["content"] or b"") + cs[pos:pos + n]
                tx["content_spans"].append((pos, pos + n))
            pos += n
            r = reply()
            if tx and (last or (r and r[2] >= 400)):
                close("accepted" if r and r[2] < 400 else "rejected", pos, r)
                tx = None
        elif verb == "AUTH":
            r = reply()
            while r and r[2] == 334:
                nl = cs.find(b"\n", pos)
                if nl < 0:
                    break
                pos = nl + 1
                r = reply()
        else:
            r = reply()
            if verb in ("EHLO", "HELO", "LHLO") and r:
                targets["ehlo-reply"].append(("server", r[0], r[1]))
            if tx and verb in ("RSET", "QUIT", "EHLO", "HELO", "LHLO", "STARTTLS"):
                close("aborted", pos, r, code=0)
                tx = None
            if verb == "STARTTLS" and r and r[2] == 220:
                break  # TLS follows: nothing more to read in the clear
    if tx:
        close("aborted", pos, None)
    for t in txs:
        if t["server_span"][1] is None:
            t["server_span"] = (t["server_span"][0], len(ss))
        c = t["content"]
        t["size"] = None if c is None else len(c)
        t["sha256"] = None if c is None else hashlib.sha256(c).hexdigest()
        if t["final_reply_code"] == 0:
            t["final_reply_code"] = None
    text = ss[banner[0]:banner[1]].decode("utf-8", "replace") if banner else None
    return {"transactions": txs, "targets": targets, "client_bytes": len(cs),
            "banner": text and "\n".join(text.splitlines()),
            "server_bytes": len(ss)}


# ------------------------------------------------------------- mangling

def _rng(seed, what, cap):
    """One generator per operation, seed and input file name (not its folder)."""
    name = cap.path.replace("\\", "/").rsplit("/", 1)[-1]
    return random.Random("pcapmangle:%s:%s:%s" % (seed, what, name))


def op_cut(packets, conns, rng):
    """Each connection loses its first k packets, k in 1..n-1."""
    drop, cut = set(), {}
    for c in conns:
        n = len(c.packets)
        if n < 2:
            continue
        k = rng.randint(1, n - 1)
        cut[c.index] = k
        drop.update(id(p) for p in c.packets[:k])
    return [p for p in packets if id(p) not in drop], cut


def op_drop_rate(packets, rate, rng):
    out = []
    for p in packets:
        if p.tcp and p.tcp.len and rng.random() < rate:
            continue
        out.append(p)
    return out


def find_targets(cap, what, dialogues):
    """Every occurrence of WHAT in capture order: (conn, direction, start, end)."""
    found = []
    for c in cap.conns:
        for d, s, e in dialogues[c.index]["targets"][what]:
            first = min((p.n for p in c.packets if p.tcp.dir == d and p.tcp.len and
                         p.tcp.rel < e and p.tcp.rel + p.tcp.len > s), default=0)
            found.append((first, c, d, s, e))
    found.sort(key=lambda x: (x[0], x[1].index, x[3]))
    return [f[1:] for f in found]


def op_drop_target(packets, cap, what, occurrence, dialogues):
    hits = find_targets(cap, what, dialogues)
    if occurrence is not None:
        hits = hits[occurrence:occurrence + 1]
    out = []
    for p in packets:
        t = p.tcp
        if t and t.len and t.rel is not None and any(
                t.conn is c and t.dir == d and t.rel < e and t.rel + t.len > s
                for c, d, s, e in hits):
            continue
        out.append(p)
    return out, len(hits)


def _insert_later(packets, chosen, max_delay, rng, make):
    """Each packet for which chosen(p) holds is followed, 0..max_delay
    packets later, by make(p); the copy takes the timestamp of the packet it
    follows, so time never goes back."""
    later = {}
    for i, p in enumerate(packets):
        if chosen(p):
            j = min(len(packets) - 1, i + rng.randint(0, max_delay))
            later.setdefault(j, []).append(make(p))
    out = []
    for i, p in enumerate(packets):
        out.append(p)
        for q in later.get(i, []):
            q.sec, q.frac = p.sec, p.frac
            out.append(q)
    return out, sum(len(v) for v in later.values())


def _altered(p):
    q = p.copy()
    t = p.tcp
    payload = bytes(b ^ 0x01 for b in p.frame[t.off:t.off + t.len])
    q.frame = p.frame[:t.off] + payload + p.frame[t.off + t.len:]
    q.altered = True
    return q


def op_conflict(packets, rate, rng):
    return _insert_later(packets, lambda p: p.tcp and p.tcp.len and not p.altered and
                         rng.random() < rate, 2, rng, _altered)


def op_duplicate(packets, rate, rng):
    return _insert_later(packets, lambda p: rng.random() < rate, 3, rng, lambda p: p.copy())


def op_swap(packets, pairs):
    """Frames a and b (input numbers) change places; timestamps stay with the places."""
    out = list(packets)
    for a, b in pairs:
        i = next(k for k, p in enumerate(out) if p.n == a)
        j = next(k for k, p in enumerate(out) if p.n == b)
        pi, pj = out[i].copy(), out[j].copy()
        pi.sec, pi.frac, pj.sec, pj.frac = pj.sec, pj.frac, pi.sec, pi.frac
        out[i], out[j] = pj, pi
    return out


def op_reorder(packets, window, rng, direction=None, only=None, unit=1e6):
    if direction is None:
        slots = list(range(len(packets)))
    else:
        slots = [i for i, p in enumerate(packets) if p.tcp and p.tcp.dir == direction]
    out = [p.copy() for p in packets]
    moved, late = 0, 0.0
    for w in range(0, len(slots), window):
        chunk = slots[w:w + window]
        perm = chunk[:]
        rng.shuffle(perm)
        if only is not None and w // window not in only:
            continue
        for dst, src in zip(chunk, perm):
            q = packets[src].copy()
            q.sec, q.frac = packets[dst].sec, packets[dst].frac
            out[dst] = q
            moved += dst != src
            late = max(late, (packets[dst].sec - packets[src].sec) +
                       (packets[dst].frac - packets[src].frac) / unit)
    return out, moved, late


# ------------------------------------------------------------- accounting

def _subtract(ranges, cover):
    """ranges minus cover, both lists of (start, end); merged and sorted."""
    out = []
    cover = sorted(cover)
    for s, e in sorted(ranges):
        cur = s
        for cs, ce in cover:
            if ce <= cur or cs >= e:
                continue
            if cs > cur:
                out.append((cur, cs))
            cur = max(cur, ce)
            if cur >= e:
                break
        if cur < e:
            out.append((cur, e))
    merged = []
    for s, e in out:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def account(cap, out):
    """Per connection and direction: the payload ranges of the input that no
    surviving true copy carries."""
    conns = []
    for c in cap.conns:
        entry = c.describe()
        entry.update(removed={}, removed_bytes={}, removed_bounded={}, conflicts={})
        for d in DIRS:
            have = [(p.tcp.rel, p.tcp.rel + p.tcp.len) for p in c.packets
                    if p.tcp.dir == d and p.tcp.len and p.tcp.rel is not None]
            kept = [(p.tcp.rel, p.tcp.rel + p.tcp.len) for p in out
                    if p.tcp and p.tcp.conn is c and p.tcp.dir == d and p.tcp.len and
                    p.tcp.rel is not None and not p.altered]
            removed = _subtract(have, kept)
            last = max((e for _, e in kept), default=0)
            entry["removed"][d] = [list(r) for r in removed]
            entry["removed_bytes"][d] = sum(e - s for s, e in removed)
            entry["removed_bounded"][d] = sum(min(e, last) - s for s, e in removed if s < last)
            entry["conflicts"][d] = sum(1 for p in out if p.altered and p.tcp.conn is c and
                                        p.tcp.dir == d)
        conns.append(entry)
    return conns


def mangle(cap, seed=1, cut=False, drop_rate=0.0, drop_frames=(), drop=None, occurrence=None,
           conflict=0.0, duplicate=0.0, reorder=0, reorder_dir=None, reorder_only=None, swap=()):
    """The damaged packet list and the log saying what was done and removed."""
    packets = list(cap.packets)
    dialogues = {c.index: dialogue(c) for c in cap.conns}
    log = {"input": cap.path, "seed": seed, "packets_in": len(packets)}
    if cut:
        packets, k = op_cut(packets, cap.conns, _rng(seed, "cut", cap))
        log["cut"] = {cap.conns[i].describe()["client"]: n for i, n in k.items()}
    if drop_rate:
        packets = op_drop_rate(packets, drop_rate, _rng(seed, "drop-rate", cap))
        log["drop_rate"] = drop_rate
    if drop_frames:
        packets = [p for p in packets if p.n not in set(drop_frames)]
        log["drop_frames"] = sorted(drop_frames)
    if drop:
        packets, log["drop_hits"] = op_drop_target(packets, cap, drop, occurrence, dialogues)
        log["drop"], log["occurrence"] = drop, occurrence
    kept = {id(p) for p in packets}
    log["dropped_frames"] = [p.n for p in cap.packets if id(p) not in kept]
    if conflict:
        packets, log["conflicts"] = op_conflict(packets, conflict, _rng(seed, "conflict", cap))
    if duplicate:
        packets, log["duplicated"] = op_duplicate(packets, duplicate, _rng(seed, "duplicate", cap))
    if reorder:
        packets, log["moved"], log["max_late_s"] = op_reorder(
            packets, reorder, _rng(seed, "reorder", cap), reorder_dir, reorder_only,
            1e9 if cap.nano else 1e6)
        log["reorder"], log["reorder_dir"] = reorder, reorder_dir
        if reorder_only is not None:
            log["reorder_only"] = sorted(reorder_only)
    if swap:
        packets = op_swap(packets, swap)
        log["swap"] = [list(p) for p in swap]
    log["packets_out"] = len(packets)
    log["connections"] = account(cap, packets)
    return packets, log


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cut", action="store_true")
    ap.add_argument("--drop-rate", type=float, default=0.0)
    ap.add_argument("--drop-frames", default="",
                    help="comma-separated 1-based frame numbers to drop")
    ap.add_argument("--drop", choices=TARGETS)
    ap.add_argument("--occurrence", type=int)
    ap.add_argument("--conflict", type=float, default=0.0)
    ap.add_argument("--duplicate", type=float, default=0.0)
    ap.add_argument("--reorder", type=int, default=0)
    ap.add_argument("--reorder-dir", choices=DIRS)
    ap.add_argument("--reorder-only", help="comma-separated window numbers (0-based): shuffle only "
                    "these windows (the others are drawn, not applied)")
    ap.add_argument("--swap", action="append", default=[], metavar="A,B",
                    help="frames A and B (input numbers) change places")
    ap.add_argument("--log", help="write what was done and removed as JSON")
    a = ap.parse_args(argv)
    cap = Capture.read(a.inp)
    packets, log = mangle(cap, seed=a.seed, cut=a.cut, drop_rate=a.drop_rate,
                          drop_frames=[int(x) for x in a.drop_frames.split(",") if x],
                          drop=a.drop,
                          occurrence=a.occurrence, conflict=a.conflict, duplicate=a.duplicate,
                          reorder=a.reorder, reorder_dir=a.reorder_dir,
                          reorder_only=None if a.reorder_only is None else
                          {int(x) for x in a.reorder_only.split(",") if x},
                          swap=[tuple(int(x) for x in w.split(",")) for w in a.swap])
    cap.write(a.out, packets)
    text = json.dumps(log, indent=1)
    if a.log:
        with open(a.log, "w") as f:
            f.write(text + "\n")
    else:
        removed = {c["client"]: c["removed_bytes"] for c in log["connections"]}
        print(json.dumps({"packets_in": log["packets_in"], "packets_out": log["packets_out"],
                          "dropped_frames": log["dropped_frames"], "removed_bytes": removed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
