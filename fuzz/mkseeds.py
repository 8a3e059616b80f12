#!/usr/bin/env python3
"""mkseeds.py - build the seed corpora of fuzz/seeds/<target>/ from the repo.

Run from the repository root: python3 fuzz/mkseeds.py. Deterministic; it
rewrites fuzz/seeds/ entirely. Sources: the small captures of pcaps/, the
messages of tests/mime/, and a few hand-written inputs. Input formats are
those documented at the top of each fuzz/fuzz_<target>.c.
"""
import glob
import hashlib
import os
import re
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
LT_L2 = [0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276, 105]  # fuzz_l2.c
LT_PCAP = LT_L2[:-1]                                           # fuzz_pcap.c
SMTP_PORTS = {25, 465, 587, 2525}
MAX_PCAP = 40000  # bytes: captures larger than this are not used


def put(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read_pcap(path):
    """(linktype, [(sec, usec, frame)]) of a classic pcap file, or None."""
    with open(path, "rb") as f:
        b = f.read()
    if len(b) < 24:
        return None
    magic = b[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    lt = struct.unpack(e + "I", b[20:24])[0] & 0x0FFFFFFF
    pos, frames = 24, []
    while pos + 16 <= len(b):
        sec, usec, incl, _ = struct.unpack(e + "IIII", b[pos:pos + 16])
        pos += 16
        frames.append((sec, usec, b[pos:pos + incl]))
        pos += incl
    return lt, frames


def ip_of(lt, fr):
    """Offset of the IP header for the link types of our captures (best effort)."""
    if lt == 1:
        off, et = 14, struct.unpack(">H", fr[12:14])[0]
        while et in (0x8100, 0x88A8, 0x9100) and off + 4 <= len(fr):
            et = struct.unpack(">H", fr[off + 2:off + 4])[0]
            off += 4
        if et == 0x8864:  # PPPoE session + PPP
            return off + 8
        if et in (0x8847, 0x8848):
            while off + 4 <= len(fr):
                bos = fr[off + 2] & 1
                off += 4
                if bos:
                    break
            return off
        return off
    if lt == 113:
        return 16
    if lt == 276:
        return 20
    if lt in (0, 108):
        return 4
    if lt in (12, 14, 101, 228, 229):
        return 0
    return None


def tcp_of(lt, fr):
    off = ip_of(lt, fr)
    if off is None or off >= len(fr):
        return None
    v = fr[off] >> 4
    if v == 4:
        ihl = (fr[off] & 15) * 4
        if fr[off + 9] != 6:
            return None
        tot = struct.unpack(">H", fr[off + 2:off + 4])[0]
        src, dst, t = fr[off + 12:off + 16], fr[off + 16:off + 20], off + ihl
        end = off + tot
    elif v == 6:
        if fr[off + 6] != 6:
            return None
        src, dst, t = fr[off + 8:off + 24], fr[off + 24:off + 40], off + 40
        end = t + struct.unpack(">H", fr[off + 4:off + 6])[0]
    else:
        return None
    sp, dp, seq = struct.unpack(">HHI", fr[t:t + 8])
    flags = fr[t + 13]
    doff = (fr[t + 12] >> 4) * 4
    return (src, sp, dst, dp, seq, flags, fr[t + doff:end])


def smtp_script(lt, frames):
    """fuzz_smtp scripts, one per TCP flow, turns in capture order."""
    flows = {}
    for _, _, fr in frames:
        try:
            t = tcp_of(lt, fr)
        except (IndexError, struct.error):
            continue
        if not t:
            continue
        src, sp, dst, dp, seq, flags, pl = t
        key = tuple(sorted([(src, sp), (dst, dp)]))
        fl = flows.setdefault(key, {"client": None, "next": {}, "turns": []})
        if flags & 0x02 and not flags & 0x10:
            fl["client"] = (src, sp)
        if fl["client"] is None:
            fl["client"] = (src, sp) if dp in SMTP_PORTS else (dst, dp)
        d = 0 if (src, sp) == fl["client"] else 1
        if flags & 0x02:
            fl["next"][d] = seq + 1
            continue
        if not pl:
            continue
        nxt = fl["next"].get(d, seq)
        if seq != nxt:  # retransmission or hole: keep the script simple
            if (seq - nxt) & 0xFFFFFFFF < 0x80000000:
                fl["turns"].append((2, d, (seq - nxt) & 0xFFFFFFFF))
            else:
                continue
        fl["next"][d] = seq + len(pl)
        fl["turns"].append((d, d, pl))
    out = []
    for fl in flows.values():
        s = bytearray()
        for i, (op, d, x) in enumerate(fl["turns"]):
            if op == 2:
                s += bytes([2 | (d << 4), min(x, 256) - 1])
                continue
            while x:
                piece, x = x[:600], x[600:]
                pieces = (i * 7) % 16  # vary the split count
                s.append(op | (pieces << 2))
                n = len(piece)
                if n < 250:
                    s.append(n)
                else:
                    n -= 250
                    s += bytes([250 + n // 256, n % 256])
                s += piece
        if s:
            out.append(bytes(s))
    return out


def packet_input(lt, frames):
    """fuzz_pcap packet route: link type index, then (t, len16, frame)."""
    if lt not in LT_PCAP:
        return None
    s = bytearray([LT_PCAP.index(lt)])
    prev = None
    for sec, usec, fr in frames:
        t = 0
        if prev is not None:
            dt = (sec - prev[0]) * 1000 + (usec - prev[1]) // 1000
            t = 0x80 | min(dt // 10000, 127) if dt >= 10000 else max(0, min(dt, 127))
        prev = (sec, usec)
        fr = fr[:65535]
        s += bytes([t]) + struct.pack(">H", len(fr)) + fr
    return bytes(s)


def headers_of(msg):
    """Unfolded header values of a message (top-level block only)."""
    head = re.split(rb"\r?\n\r?\n", msg, maxsplit=1)[0]
    out, cur = [], None
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and cur is not None:
            cur[1] += b"\r\n" + line
        elif b":" in line:
            n, v = line.split(b":", 1)
            cur = [n.strip().lower(), v.strip()]
            out.append(cur)
    return out


HDR_EXTRA = [
    b"=?utf-8?B?w6nDqMOg?= =?utf-8?Q?caf=C3=A9_au_lait?=",
    b"=?iso-8859-1?q?J=F6rg?= <joerg@example.org>, \"Doe, John\" <john@x.y>, undisclosed-recipients:;",
    b"=?gb2312?B?1tDOxA==?==?shift_jis?B?k/qWe4zq?=",
    b"=?utf-8*en?b?SGVsbG8=?= =?x-unknown?Q?=FF=FE?= =?utf-8?B?broken",
    b"from mx.example.net ([192.0.2.1]) by a (Postfix) with ESMTPS id 15.20.4866.25; [IPv6:2001:db8::1] (010.000.00.02)",
    b"Group: a@b, \"q\\\"x\" <c@d>, (comment (nested)) e@f;, <@r1,@r2:g@h>",
    b"..\\..\\evil\xe2\x80\xaecod.exe",
    b"invoice.pdf     .exe",
    b"FROM:<a@b.c> SIZE=100 BODY=8BITMIME",
    b"TO: <\"x y\"@[192.0.2.7]>",
    b"<>",
    b"\xff\xfe\x00a\x80\x81\xc3(",
]


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    caps = sorted(p for p in glob.glob(os.path.join(ROOT, "pcaps", "*.pcap*"))
                  if os.path.getsize(p) <= MAX_PCAP and not p.endswith(".gz"))
    for p in caps:
        name = os.path.basename(p).rsplit(".", 1)[0]
        if p.endswith(".pcapng"):
            with open(p, "rb") as f:
                put("fuzz_pcap", name + ".pcapng", f.read())
            continue
        r = read_pcap(p)
        if not r:
            continue
        lt, frames = r
        # fuzz_l2: distinct frame shapes, first 96 bytes are enough
        seen = set()
        for i, (_, _, fr) in enumerate(frames):
            h = fr[:54]
            if h[:14] + bytes([len(fr) > 60]) in seen or len(seen) >= 6:
                continue
            seen.add(h[:14] + bytes([len(fr) > 60]))
            put("fuzz_l2", f"{name}-{i}", bytes([LT_L2.index(lt)]) + fr[:96])
        for j, s in enumerate(smtp_script(lt, frames)):
            put("fuzz_smtp", f"{name}-{j}", s)
        pi = packet_input(lt, frames)
        if pi and len(pi) < 20000:
            put("fuzz_pcap", name, pi)
        if name in ("smtp-auth-plain", "smtp-ipv6", "smtp-any-sll2", "smtp-bdat"):
            with open(p, "rb") as f:
                put("fuzz_pcap", name + ".pcap", f.read())
    emls = sorted(glob.glob(os.path.join(ROOT, "tests", "mime", "*.eml")))
    hdrs = set()
    for i, p in enumerate(emls):
        with open(p, "rb") as f:
            m = f.read()[:60000]
        name = os.path.basename(p)[:-4]
        # split byte: whole, byte by byte, or random pieces; gap bit on some
        put("fuzz_mime", name, bytes([(0, 1, 37, 200)[i % 4], 1 if i % 5 == 4 else 0]) + m)
        put("fuzz_message", name, bytes([(0, 90, 1, 17)[i % 4], (0, 8, 2, 0x14, 0x40, 0x81)[i % 6]]) + m)
        for n, v in headers_of(m):
            if n in (b"subject", b"from", b"to", b"cc", b"received", b"content-type",
                     b"content-disposition", b"reply-to"):
                hdrs.add(v[:400])
    for j, v in enumerate(sorted(hdrs | set(HDR_EXTRA))):
        put("fuzz_hdr", hashlib.sha1(v).hexdigest()[:12], bytes([j % 36, (j * 37) % 256]) + v)
    smtp = b"220 mx ESMTP\r\n"
    client = b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n"
    tunnels = {
        "http-connect": [(0, b"CONNECT mx:25 HTTP/1.1\r\nHost: mx:25\r\n\r\n"),
                         (1, b"HTTP/1.1 200 Connection established\r\n\r\n" + smtp), (0, client)],
        "socks4": [(0, b"\x04\x01\x00\x19\xc0\x00\x02\x01user\x00"), (1, b"\x00\x5a\x00\x00\x00\x00\x00\x00" + smtp),
                   (0, client)],
        "socks4a": [(0, b"\x04\x01\x00\x19\x00\x00\x00\x01\x00mx.example\x00"), (1, b"\x00\x5a" + b"\x00" * 6),
                    (0, client)],
        "socks5": [(0, b"\x05\x01\x00"), (1, b"\x05\x00"), (0, b"\x05\x01\x00\x03\x0amx.example\x00\x19"),
                   (1, b"\x05\x00\x00\x01\xc0\x00\x02\x01\x00\x19" + smtp), (0, client)],
        "socks5-auth": [(0, b"\x05\x01\x02\x01\x01u\x01p\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x19"),
                        (1, b"\x05\x02\x01\x00\x05\x00\x00\x01\xc0\x00\x02\x01\x00\x19" + smtp), (0, client)],
        "plain-smtp": [(1, smtp), (0, client)],
    }
    for name, turns in tunnels.items():
        s = bytearray()
        for d, b in turns:
            while b:
                piece, b = b[:126], b[126:]
                s += bytes([d | len(piece) << 1]) + piece
        put("fuzz_tunnel", name, bytes(s))


if __name__ == "__main__":
    main()
