"""pcapgen - build TCP sessions packet by packet, for tests that need a
capture no real software would produce on demand (lost segments, reused
4-tuples, idle sessions, hostile framing). set_ack and fragment_ipv4 rewrite
one frame: ACKs that stop at a hole, a segment as two IPv4 fragments.

Independent of smtptap: plain struct packing of Ethernet/IPv4/IPv6/TCP.
TCP checksums are left zero (smtptap, like a sensor behind checksum
offload, does not verify them); IPv4 header checksums are right.
"""
import ipaddress
import struct


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Session:
    """One TCP connection. Every method appends packets to self.packets as
    (ts, frame, tag) tuples; tag names the packet kind for tests that drop
    some ('data-c', 'data-s', 'ack-c', 'ack-s', 'syn', 'fin', ...)."""

    def __init__(self, client=("10.0.0.1", 40000), server=("10.0.0.2", 25), t0=1700000000.0,
                 mss=1460, isn_c=1000, isn_s=5000, gap_s=0.001):
        self.cip, self.cport = client
        self.sip, self.sport = server
        self.v6 = ":" in self.cip
        self.t = t0
        self.mss = mss
        self.seq = {"c": isn_c, "s": isn_s}
        self.packets = []
        self.gap_s = gap_s

    def _frame(self, frm, flags, payload=b"", seq=None, ack=None):
        src, dst = (self.cip, self.sip) if frm == "c" else (self.sip, self.cip)
        sp, dp = (self.cport, self.sport) if frm == "c" else (self.sport, self.cport)
        other = "s" if frm == "c" else "c"
        seq = self.seq[frm] if seq is None else seq
        ack = self.seq[other] if ack is None else ack
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4,
                          flags, 65535, 0, 0) + payload
        if self.v6:
            ip = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + \
                ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
            eth_type = 0x86DD
        else:
            hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                              ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
            ip = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
            eth_type = 0x0800
        eth = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02" + struct.pack("!H", eth_type)
        return eth + ip + tcp

    def _emit(self, frm, flags, payload=b"", tag=""):
        self.packets.append((self.t, self._frame(frm, flags, payload), tag))
        self.t += self.gap_s

    def handshake(self):
        self._emit("c", 0x02, tag="syn")
        self.seq["c"] += 1
        self._emit("s", 0x12, tag="synack")
        self.seq["s"] += 1
        self._emit("c", 0x10, tag="ack-c")
        return self

    def send(self, frm, data, ack_each=True):
        """frm 'c' or 's' sends data in MSS-sized segments; the peer ACKs each."""
        other = "s" if frm == "c" else "c"
        for i in range(0, len(data), self.mss):
            seg = data[i:i + self.mss]
            self._emit(frm, 0x18, seg, tag="data-" + frm)
            self.seq[frm] += len(seg)
            if ack_each:
                self._emit(other, 0x10, tag="ack-" + other)
        return self

    def client(self, data):
        return self.send("c", data)

    def server(self, data):
        return self.send("s", data)

    def fin(self):
        self._emit("c", 0x11, tag="fin")
        self.seq["c"] += 1
        self._emit("s", 0x11, tag="fin")
        self.seq["s"] += 1
        self._emit("c", 0x10, tag="ack-c")
        return self

    def rst(self):
        self._emit("c", 0x14, tag="rst")
        return self

    def wait(self, seconds):
        self.t += seconds
        return self


def smtp_dialogue(sess, transactions, banner=b"220 mx.example.test ESMTP\r\n",
                  helo=b"EHLO client.example.test\r\n"):
    """A plain SMTP dialogue: transactions is a list of (mail_from, [rcpts],
    message bytes (already dot-stuffed, ending in CRLF)). Returns sess."""
    sess.server(banner)
    sess.client(helo)
    sess.server(b"250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
    for frm, rcpts, msg in transactions:
        sess.client(b"MAIL FROM:<" + frm + b">\r\n")
        sess.server(b"250 2.1.0 Ok\r\n")
        for r in rcpts:
            sess.client(b"RCPT TO:<" + r + b">\r\n")
            sess.server(b"250 2.1.5 Ok\r\n")
        sess.client(b"DATA\r\n")
        sess.server(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        sess.client(msg + b".\r\n")
        sess.server(b"250 2.0.0 Ok: queued\r\n")
    sess.client(b"QUIT\r\n")
    sess.server(b"221 2.0.0 Bye\r\n")
    return sess


def write_pcap(path, packets, linktype=1):
    """packets: iterable of (ts, frame[, tag]); sorted by ts when written."""
    pk = sorted(packets, key=lambda p: p[0])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for p in pk:
            ts, frame = p[0], p[1]
            sec = int(ts)
            usec = int(round((ts - sec) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            f.write(frame)


def set_ack(frame, ack):
    """The frame with its TCP acknowledgement number replaced (IPv4 or IPv6
    over Ethernet, as Session builds them)."""
    v6 = frame[12:14] == b"\x86\xdd"
    th = 14 + (40 if v6 else (frame[14] & 15) * 4)
    return frame[:th + 8] + struct.pack("!I", ack & 0xFFFFFFFF) + frame[th + 12:]


def fragment_ipv4(frame, first, ident=0x4242):
    """Split an IPv4 frame (as Session builds them) into two fragments: the
    first carries `first` bytes of the IP payload (a multiple of 8; the TCP
    header and the start of the data), More Fragments set; the second the
    rest at that offset; both with identification ident. Each gets its own
    header checksum (RFC 791)."""
    assert frame[12:14] == b"\x08\x00" and first % 8 == 0
    eth, ip = frame[:14], frame[14:]
    ihl = (ip[0] & 15) * 4
    hdr, payload = ip[:ihl], ip[ihl:]
    assert 0 < first < len(payload)
    out = []
    for off, part, mf in ((0, payload[:first], 1), (first, payload[first:], 0)):
        h = bytearray(hdr)
        struct.pack_into("!H", h, 2, ihl + len(part))
        struct.pack_into("!H", h, 4, ident)
        struct.pack_into("!H", h, 6, (mf << 13) | (off // 8))  # DF cleared
        struct.pack_into("!H", h, 10, 0)
        struct.pack_into("!H", h, 10, _csum(bytes(h)))
        out.append(eth + bytes(h) + part)
    return out
