"""Mid-stream pickup (issue 9, section 2) and the stream table's eviction order (section 3).

A capture that begins after a session did holds no handshake, often no banner or EHLO, maybe
half a message. Every recorded capture in pcaps/ is cut here at every packet of every session
(for the large one, at a sample of them): each cut is a copy of the session from that packet on,
its client port moved so that all copies of a file share one run. The oracle is
pcaps/manifest.json (what the clients sent and Postfix accepted, written by the recording, not by
smtptap) and the capture's own packets, read here with struct:
  - every transaction whose MAIL comes at or after the cut is in the copy's record, byte-exact
    (sha256 and size of the manifest), complete, with the manifest's status, sender and
    recipients; the record says "midstream": true;
  - no message anywhere is complete unless it is byte-exact (complete: false otherwise);
  - a cut inside DATA or BDAT content leaves that message complete: false, with the server's
    verdict as its status and, for DATA, the bytes seen: a suffix of the true content (the
    content read from the capture's own client packets, its sha256 checked against the
    manifest first);
  - with --midstream=false the copies leave no record, and stats.json counts every payload
    packet of them (and their bytes) as not followed;
  - with the server port moved off the SMTP ports, the dialogue alone tells client from server:
    the same transactions come out.
Eviction: a SYN flood of 50,000 half-open connections, before and among the packets of live
sessions, with the default table of 32,768 streams, must not evict a session that carries a
dialogue (its message byte-exact, closed by its FIN); connections with a handshake and no data
go before dialogues too; written with pcapgen.py.
"""
import hashlib
import ipaddress
import json
import os
import re
import struct
import tempfile
import unittest

from common import PCAPS, SmtptapCase, parse_endpoint, smtptap
from pcapgen import Session, smtp_dialogue, write_pcap

with open(os.path.join(PCAPS, "manifest.json")) as _f:
    MANIFEST = json.load(_f)

MAIL_LINE = re.compile(rb"(?im)^mail from:")


# ---- reading and writing classic pcap files ------------------------------------------------

def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4, path  # little-endian, usec
    out, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
        out.append([data[off:off + 16], data[off + 16:off + 16 + caplen]])
        off += 16 + caplen
    return data[:24], out


def write_raw(path, header, packets):
    with open(path, "wb") as f:
        f.write(header)
        for rec, frame in packets:
            f.write(struct.pack("<IIII", *struct.unpack("<IIII", rec)[:2], len(frame), len(frame)))
            f.write(frame)


class Pkt:
    """One TCP packet of an Ethernet frame (IPv4 or IPv6, as pcaps/ holds them)."""

    def __init__(self, frame):
        et = frame[12:14]
        self.ip_off = 14
        if et == b"\x08\x00":
            ip = frame[14:]
            self.tcp_off = 14 + (ip[0] & 15) * 4
            end = 14 + struct.unpack("!H", ip[2:4])[0]
            self.src, self.dst = ipaddress.ip_address(ip[12:16]), ipaddress.ip_address(ip[16:20])
            self.ok = ip[9] == 6
        elif et == b"\x86\xdd":
            ip = frame[14:]
            self.tcp_off = 54
            end = 54 + struct.unpack("!H", ip[4:6])[0]
            self.src, self.dst = ipaddress.ip_address(ip[8:24]), ipaddress.ip_address(ip[24:40])
            self.ok = ip[6] == 6
        else:
            self.ok = False
            return
        t = frame[self.tcp_off:]
        self.sport, self.dport, self.seq = struct.unpack("!HHI", t[:8])
        self.flags = t[13]
        self.payload = frame[self.tcp_off + (t[12] >> 4) * 4:end]

    def ends(self):
        return {(str(self.src), self.sport), (str(self.dst), self.dport)}


def with_ports(frame, p, client, cport, sport):
    """The frame with the client's port moved to cport and the server's to sport."""
    t = p.tcp_off
    from_client = (str(p.src), p.sport) == client
    ports = struct.pack("!HH", cport, sport) if from_client else struct.pack("!HH", sport, cport)
    return frame[:t] + ports + frame[t + 4:]


def unstuff(content):
    """DATA content as sent (after the 354, up to and with the final dot line) -> the message."""
    assert content.endswith(b"\r\n.\r\n") or content == b".\r\n", content[-20:]
    body = content[:-3]
    lines = body.split(b"\r\n")
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)


# ---- what each session of a capture holds ----------------------------------------------------

class SessionPackets:
    """A manifest session and its packets: where each transaction's MAIL is, where each DATA
    message's content is (from the capture's client packets, checked against the manifest)."""

    def __init__(self, info, frames):
        self.info = info
        self.client = parse_endpoint(info["client"])
        self.server = parse_endpoint(info["server"])
        want = {self.client, self.server}
        self.idx = [i for i, (_, f) in enumerate(frames) if Pkt(f).ok and Pkt(f).ends() == want]
        self.pk = [Pkt(frames[i][1]) for i in self.idx]
        self.mail_at = []  # per MAIL line of the client: the index (in self.pk) of its packet
        for n, p in enumerate(self.pk):
            if self.from_client(p):
                self.mail_at += [n] * len(MAIL_LINE.findall(p.payload))
        self.txs = info["transactions"]
        self.usable = len(self.mail_at) == len(self.txs)
        self.content = {}  # transaction index -> (first content packet, last, true message)
        self.find_content()

    def from_client(self, p):
        return (str(p.src), p.sport) == self.client

    def find_content(self):
        data_txs = [i for i, t in enumerate(self.txs) if t["mode"] == "DATA" and t["sha256"]]
        n, k = 0, 0
        while n < len(self.pk) and k < len(data_txs):
            p = self.pk[n]
            if not self.from_client(p) and p.payload.startswith(b"354"):
                first = n + 1
                last = first
                while last < len(self.pk) and (self.from_client(self.pk[last]) or
                                                not self.pk[last].payload):
                    last += 1
                segs = [q for q in self.pk[first:last] if self.from_client(q) and q.payload]
                msg = unstuff(b"".join(q.payload for q in segs))
                t = data_txs[k]
                assert hashlib.sha256(msg).hexdigest() == self.txs[t]["sha256"], \
                    "the capture's DATA content is not the manifest's message"
                self.content[t] = (first, last, msg)
                k, n = k + 1, last
            n += 1

    def inside(self, cut):
        """The transaction whose message content the cut falls inside (DATA or BDAT), or None."""
        for t, (first, last, _) in self.content.items():
            if first < cut < last or (cut == first and self.pk[cut].payload):
                if any(q.payload for q in self.pk[cut:last] if self.from_client(q)):
                    return t
        for t, tx in enumerate(self.txs):
            if tx["mode"] != "BDAT" or not self.usable:
                continue
            end = self.mail_at[t + 1] if t + 1 < len(self.txs) else len(self.pk)
            chunks = [n for n in range(self.mail_at[t], end) if self.from_client(self.pk[n]) and
                      self.pk[n].payload[:5].upper() == b"BDAT "]
            if chunks and chunks[0] < cut <= chunks[-1] and self.from_client(self.pk[cut]):
                return t
        return None


class Copies:
    """Every cut of every session of one capture, in one pcap: copy j of a session is that
    session from its packet cuts[j] on, with the client on port 30000 + copy number."""

    def __init__(self, name, cuts_for=None, server_port=None):
        self.name = name
        header, frames = read_pcap(os.path.join(PCAPS, name))
        self.sessions = [SessionPackets(s, frames) for s in MANIFEST["files"][name]["sessions"]]
        self.copies = []  # (session, cut, client port)
        out = []
        port = 30000
        for s in self.sessions:
            cuts = cuts_for(s) if cuts_for else range(1, len(s.pk))
            for cut in cuts:
                sport = server_port or s.server[1]
                self.copies.append((s, cut, port))
                for n in range(cut, len(s.pk)):
                    rec, frame = frames[s.idx[n]]
                    out.append((rec, with_ports(frame, s.pk[n], s.client, port, sport)))
                port += 1
        out.sort(key=lambda rf: struct.unpack("<II", rf[0][:8]))
        fd, self.path = tempfile.mkstemp(prefix="smtptap-mid-", suffix=".pcap")
        os.close(fd)
        write_raw(self.path, header, out)

    def __del__(self):
        if os.path.exists(self.path):
            os.unlink(self.path)

    def payload_after(self, s, cut):
        return [p for p in s.pk[cut:] if p.payload]


# ---- the checks -------------------------------------------------------------------------------

class MidstreamCuts(SmtptapCase):
    maxDiff = None

    def check_copies(self, c, run, exact_inside=True):
        by_port = {}
        for r in run.records:
            by_port.setdefault(r["client"]["port"], []).append(r)
        checked = 0
        for s, cut, port in c.copies:
            where = "%s %s cut at packet %d (copy port %d)" % (c.name, s.info["client"], cut, port)
            recs = by_port.get(port, [])
            self.assertLessEqual(len(recs), 1, where)
            shas = {t["sha256"] for t in s.txs}
            for r in recs:
                self.assertIs(r["midstream"], True, where)
                self.assertEqual(r["server"]["ip"], s.server[0], where)  # client and server told apart
                for tx in r["transactions"]:
                    m = tx["message"]
                    if m and m["complete"]:
                        self.assertIn(m["sha256"], shas, where + ": a complete message that is "
                                      "not one the client sent")
            if not s.usable:
                continue
            after = [t for t, at in zip(s.txs, s.mail_at) if at >= cut]
            if after:
                self.assertEqual(len(recs), 1, where + ": no record")
                got = recs[0]["transactions"][-len(after):]
                self.assertEqual(len(got), len(after), where)
                for mine, want in zip(got, after):
                    self.assertEqual(mine["status"], want["status"], where)
                    self.assertEqual(mine["mail_from"], want["mail_from"], where)
                    self.assertEqual(mine["rcpt_to"], want["rcpt_to"], where)
                    if want["sha256"]:
                        self.assertEqual(mine["message"]["sha256"], want["sha256"], where)
                        self.assertEqual(mine["message"]["size"], want["size"], where)
                        self.assertIs(mine["message"]["complete"], True, where)
                checked += 1
            t = s.inside(cut)
            if t is not None and exact_inside:
                self.assertEqual(len(recs), 1, where + ": no record of the message cut")
                txs = recs[0]["transactions"]
                self.assertGreater(len(txs), len(after), where + ": the message cut is missing")
                mine = txs[-len(after) - 1]
                self.assertEqual(mine["status"], s.txs[t]["status"], where)
                self.assertIs(mine["message"]["complete"], False, where)
                names = [a["name"] for a in recs[0]["anomalies"]]
                self.assertIn("message_start_not_seen", names, where)
                if t in s.content:
                    seen = run.file_bytes(mine["message"]["eml"])
                    true = s.content[t][2]
                    self.assertTrue(seen and true.endswith(seen), where + ": not a suffix")
                    wire = b"".join(q.payload for q in s.pk[cut:s.content[t][1]]
                                    if s.from_client(q))[:-3]
                    if not wire.startswith(b".") and b"\r\n." not in wire:
                        self.assertEqual(seen, wire, where + ": bytes after the cut lost")
                    self.assertEqual(mine["message"]["sha256"], hashlib.sha256(seen).hexdigest())
        return checked

    def cut_file(self, name, cuts_for=None):
        c = Copies(name, cuts_for)
        run = smtptap("-r", c.path)
        self.assertEqual(run.rc, 0, run.stderr)
        checked = self.check_copies(c, run)
        picked = sum(1 for s, cut, _ in c.copies if c.payload_after(s, cut))
        self.assertEqual(run.stats["reassembly"]["midstream"], picked, name)
        if not any(s.info["starttls"] for s in c.sessions):
            # a copy cut inside TLS says nothing SMTP: given up, its rest is not followed
            self.assertEqual(run.stats["reassembly"]["unfollowed_packets"], 0, name)
        return c, run, checked

    def test_every_cut_of_every_recorded_capture(self):
        total = 0
        for name, info in MANIFEST["files"].items():
            if info["format"] != "pcap" or info["link_type"] != "EN10MB" or \
                    info["lo_mtu"] != 65536 or not info["sessions"] or \
                    any(s["encapsulation"]["type"] != "ethernet" for s in info["sessions"]):
                continue
            with self.subTest(name=name):
                _, _, checked = self.cut_file(name)
                total += checked
        self.assertGreater(total, 100)  # cuts whose later transactions were all checked

    def test_big_message_cut_inside_data(self):
        """1 500-byte segments: cuts at the handshake, banner, EHLO and all through the content."""
        def cuts(s):
            first, last, _ = s.content[0]
            return list(range(1, 12)) + list(range(first, last, max(1, (last - first) // 12)))
        c, run, _ = self.cut_file("smtp-big.pcap", cuts)
        inside = [cut for s, cut, _ in c.copies if s.inside(cut) is not None]
        self.assertGreater(len(inside), 8)

    def test_midstream_off_counts_what_is_not_followed(self):
        c = Copies("smtp-multi-transaction.pcap")
        run = smtptap("--midstream=false", "-r", c.path)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.records, [])
        pk = [p for s, cut, _ in c.copies for p in c.payload_after(s, cut)]
        st = run.stats["reassembly"]
        self.assertEqual(st["midstream"], 0)
        self.assertEqual(st["unfollowed_packets"], len(pk))
        self.assertEqual(st["unfollowed_bytes"], sum(len(p.payload) for p in pk))

    def test_content_alone_tells_client_from_server(self):
        """The server on port 8025: only what each side says picks the roles. A cut inside a
        message's content waits for a line that says (the message cut is then not reported)."""
        for name in ("smtp-multi-transaction.pcap", "smtp-bdat.pcap", "smtp-pipelining.pcap"):
            with self.subTest(name=name):
                c = Copies(name, server_port=8025)
                run = smtptap("-r", c.path)
                self.assertEqual(run.rc, 0, run.stderr)
                self.check_copies(c, run, exact_inside=False)

    def test_not_smtp_is_not_followed(self):
        """HTTP and random bytes on port 8025, cut after their handshakes: nothing there says
        SMTP, so nothing is picked up and every payload packet is counted."""
        name = "non-smtp-port8025.pcap"
        header, frames = read_pcap(os.path.join(PCAPS, name))
        pk = [(r, f) for r, f in frames if Pkt(f).ok]
        keep = [(r, f) for r, f in pk if not Pkt(f).flags & 0x02]  # no SYN, no SYN-ACK
        fd, path = tempfile.mkstemp(prefix="smtptap-mid-", suffix=".pcap")
        os.close(fd)
        try:
            write_raw(path, header, keep)
            run = smtptap("-r", path)
        finally:
            os.unlink(path)
        self.assertEqual(run.records, [])
        payload = [Pkt(f).payload for _, f in keep if Pkt(f).payload]
        st = run.stats["reassembly"]
        self.assertEqual(st["midstream"], 0)
        self.assertEqual(st["unfollowed_packets"], len(payload))
        self.assertEqual(st["unfollowed_bytes"], sum(map(len, payload)))


class Generated(SmtptapCase):
    """Sessions written with pcapgen: long messages in 1460-byte segments."""

    def run_pcap(self, packets, *args):
        with tempfile.TemporaryDirectory(prefix="smtptap-gen-") as d:
            path = os.path.join(d, "gen.pcap")
            write_pcap(path, packets)
            return smtptap(*args, "-r", path)

    def dialogue(self, msgs, cport=40000):
        s = Session(client=("10.0.0.1", cport), server=("10.0.0.2", 25))
        s.handshake()
        smtp_dialogue(s, [(b"a@example.test", [b"b@example.test"], m) for m in msgs])
        s.fin()
        return s

    def test_cut_at_every_segment_of_a_long_message(self):
        """A 37 KB message in 26 segments, then a short one: a copy of the session cut at
        each of its packets. The second message always comes out whole; the first one, cut,
        is what was seen of it, flagged, never passed off as whole."""
        body = b"".join(b"line %05d of a long message, with some words to fill it up\r\n" % i
                        for i in range(600))
        msgs = [b"Subject: one\r\n\r\n" + body, b"Subject: two\r\n\r\nshort\r\n"]
        whole = self.dialogue(msgs).packets
        pay = [Pkt(f).payload for _, f, _ in whole]
        mails = [n for n, b in enumerate(pay) if b.startswith(b"MAIL FROM:")]
        dot = [n for n, b in enumerate(pay) if b.endswith(b"\r\n.\r\n")][0]
        go_ahead = [n for n, b in enumerate(pay) if b.startswith(b"354 ")][0]
        packets = []
        for k in range(len(whole)):
            packets += self.dialogue(msgs, 31000 + k).packets[k:]
        run = self.run_pcap(packets)
        self.assertEqual(run.rc, 0, run.stderr)
        by_port = {r["client"]["port"]: r for r in run.records}
        sha = [hashlib.sha256(m).hexdigest() for m in msgs]
        for k in range(len(whole)):
            r = by_port.get(31000 + k)
            if k <= mails[1]:
                self.assertIsNotNone(r, k)
                last = r["transactions"][-1]
                self.assertEqual(last["message"]["sha256"], sha[1], k)
                self.assertIs(last["message"]["complete"], True, k)
                self.assertEqual(last["status"], "accepted", k)
            if r is None:
                continue
            self.assertIs(r["midstream"], k > 0, k)
            cut_inside = go_ahead < k <= dot
            for tx in r["transactions"]:
                m = tx["message"]
                if m and m["complete"]:
                    self.assertIn(m["sha256"], sha, k)
                elif m:  # cut: what was seen of a message, its end
                    seen = run.file_bytes(m["eml"])
                    self.assertTrue(any(x.endswith(seen) for x in msgs), k)
                    self.assertEqual(tx["status"], "accepted", k)
            if cut_inside:  # after the 354: every content byte from the cut on
                first = r["transactions"][0]
                self.assertIsNotNone(first["message"], k)
                wire = b"".join(p for p in pay[k:dot + 1])[:-3]  # without the final dot
                self.assertEqual(run.file_bytes(first["message"]["eml"]), wire, k)
                self.assertIs(first["message"]["complete"], False, k)
                self.assertEqual(first["status"], "accepted", k)

    def test_syn_flood_does_not_evict_dialogues(self):
        """50,000 half-open connections against the default table (32,768 streams), before and
        among the packets of two sessions that carry dialogues."""
        msg = b"Subject: under a flood\r\n\r\n" + b"x" * 5000 + b"\r\n"
        a = self.dialogue([msg], 40001).packets
        b = self.dialogue([msg], 40002).packets
        t0 = a[0][0]
        flood = []
        syn = Session(client=("10.9.0.1", 1024), server=("10.0.0.2", 25), t0=t0)
        for i in range(50000):
            syn.cip = "10.9.%d.%d" % (i // 250, i % 250 + 1)
            syn.cport = 1024 + i % 60000
            flood.append((t0 + 0.0005 + i * 0.000001, syn._frame("c", 0x02), "syn"))
        span = flood[-1][0] - flood[0][0]
        # a: handshake and banner before the flood, the rest after; b: among the flood
        a = a[:5] + [(t + span + 0.01, f, g) for t, f, g in a[5:]]
        step = span / len(b)
        b = [(t0 + 0.0005 + i * step, f, g) for i, (_, f, g) in enumerate(b)]
        run = self.run_pcap(a + b + flood)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 2)
        for r in run.records:
            self.assertEqual(r["close"], "fin")
            self.assertIs(r["midstream"], False)
            (tx,) = r["transactions"]
            self.assertEqual(tx["status"], "accepted")
            self.assertEqual(tx["message"]["sha256"], hashlib.sha256(msg).hexdigest())
            self.assertIs(tx["message"]["complete"], True)
        st = run.stats["reassembly"]
        self.assertEqual(st["evicted"], 0)
        self.assertEqual(st["nids_warnings"]["tcp_toomuch"], 0)
        # room for 32,768: the two sessions and the newest half-open ones stay
        self.assertGreaterEqual(st["evicted_half_open"], 50000 - 32768)
        self.assertLessEqual(st["evicted_half_open"], 50000 + 2 - 32768)

    def test_silent_connections_go_before_dialogues(self):
        """max_streams 64: ten sessions in the middle of their dialogue, then 200 connections
        with a handshake and no data: the silent ones are evicted, not the dialogues."""
        msg = b"Subject: kept\r\n\r\nbody\r\n"
        live = [self.dialogue([msg], 41000 + i).packets for i in range(10)]
        t0 = live[0][0][0]
        silent = []
        for i in range(200):
            s = Session(client=("10.8.0.%d" % (i % 250 + 1), 2000 + i), server=("10.0.0.2", 25),
                        t0=t0 + 0.5 + i * 0.001, gap_s=0.0001)
            silent += s.handshake().packets
        packets = []
        for p in live:  # banner and EHLO before the silent ones, the rest after
            packets += p[:7] + [(t + 1.0, f, g) for t, f, g in p[7:]]
        run = self.run_pcap(packets + silent, "--max-streams=64")
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        for r in run.records:
            self.assertEqual(r["close"], "fin")
            self.assertEqual(r["transactions"][0]["message"]["sha256"],
                             hashlib.sha256(msg).hexdigest())
        st = run.stats["reassembly"]
        self.assertEqual(st["evicted"], 10 + 200 - 64)  # silent ones only, each with no record
        self.assertEqual(st["evicted_half_open"], 0)
        self.assertEqual(st["nids_warnings"]["tcp_toomuch"], 0)


if __name__ == "__main__":
    unittest.main()
