#!/usr/bin/env python3
"""mkseeds.py - build the seed corpora of fuzz/seeds/<target>/ from the repo.

Run from the repository root: python3 fuzz/mkseeds.py. Deterministic; it
rewrites fuzz/seeds/ entirely, and fuzz/dict/config.dict (the option names
and sections of docs/smtptap.conf). Sources: the small captures of pcaps/,
the messages of tests/mime/, docs/smtptap.conf, and a few hand-written
inputs. Input formats are those documented at the top of each
fuzz/fuzz_<target>.c.
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


# fuzz_tcp headers (fuzz_tcp.c): h0 mode, h1 options, h2-h3 seed, h4 segments and reorder
# window, h5 rates. The differential ones first: most seeds check that reordering and
# duplicates change nothing.
TCP_HEADERS = [
    (0x01, 0x00, 0x00, 0x00),  # diff, 1460-byte segments, in order: the baseline
    (0x01, 0x00, 0x43, 0x05),  # diff, 3-byte segments, window 4, duplicates, same-byte overlaps
    (0x81, 0x01, 0x86, 0x15),  # diff, pure ACKs, ooo_limit 1024, 16-byte segments, window 8
    (0x03, 0x02, 0xf8, 0x0a),  # diff, IPv6, ooo_limit 4096, 256-byte segments, window 15
    (0x05, 0x00, 0x37, 0x01),  # diff, client side only, 64-byte segments, window 3
    (0x0d, 0x13, 0x25, 0x02),  # diff, third ACK lost, store limits, 5-byte segments
    (0x00, 0x10, 0x47, 0x55),  # copies with different bytes, losses, store limits
    (0x30, 0x20, 0x44, 0xc0),  # no end (EOF), half the segments lost, MIME limits
    (0x12, 0x34, 0x29, 0x30),  # IPv6, RST from the client, SMTP limits, conflicting copies
    (0xa0, 0x4c, 0x5b, 0x40),  # RST from the server, pure ACKs, idle_timeout 60, losses
    (0x41, 0x80, 0x36, 0x00),  # diff with late segments (FUZZ_TCP_DIFF=2: issue 9)
    (0x48, 0xc5, 0x33, 0x01),  # server side only, late segments
]
TCP_GAPS_US = [0, 1000, 20000, 300000, 1500000, 3000000, 70000000, 400000000]


def tcp_flows(lt, frames):
    """Per TCP flow, its turns in capture order: (direction, gap code, payload); payload
    of one direction merged until the other speaks; retransmissions dropped."""
    flows = {}
    for sec, usec, fr in frames:
        try:
            t = tcp_of(lt, fr)
        except (IndexError, struct.error):
            continue
        if not t:
            continue
        src, sp, dst, dp, seq, flags, pl = t
        key = tuple(sorted([(src, sp), (dst, dp)]))
        fl = flows.setdefault(key, {"client": None, "next": {}, "turns": [], "last": None})
        if flags & 0x02 and not flags & 0x10:
            fl["client"] = (src, sp)
        if fl["client"] is None:
            fl["client"] = (src, sp) if dp in SMTP_PORTS else (dst, dp)
        d = 0 if (src, sp) == fl["client"] else 1
        if flags & 0x02:
            fl["next"][d] = seq + 1
            continue
        nxt = fl["next"].get(d, seq)
        if not pl or (seq - nxt) & 0xFFFFFFFF >= 0x80000000:
            continue  # nothing, or a retransmission; after a hole, what follows is kept
        fl["next"][d] = seq + len(pl)
        now = sec * 1000000 + usec
        turns = fl["turns"]
        if turns and turns[-1][0] == d:
            turns[-1][2] += pl
        else:
            dt = now - fl["last"] if fl["last"] is not None else 0
            gap = max(i for i, g in enumerate(TCP_GAPS_US) if g <= max(dt, 0))
            turns.append([d, max(gap, 1), bytearray(pl)])
        fl["last"] = now
    return [fl["turns"] for fl in flows.values() if fl["turns"]]


def tcp_script(header, seed, turns):
    """A fuzz_tcp input: the header, then each turn (split at 32767 bytes)."""
    h0, h1, h4, h5 = header
    s = bytearray([h0, h1, seed >> 8 & 255, seed & 255, h4, h5])
    for d, gap, b in turns:
        b = bytes(b)
        while True:
            piece, b = b[:32767], b[32767:]
            s.append(d | gap << 1)
            n = len(piece)
            s += bytes([n]) if n < 128 else bytes([0x80 | n >> 8, n & 255])
            s += piece
            gap = 0
            if not b:
                break
    return bytes(s)


def pcap_container(pi, container, gz=False, cut=False):
    """fuzz_pcap packet input with byte 0's container bits set (fuzz_pcap.c)."""
    return bytes([pi[0] | container << 4 | gz << 6 | cut << 7]) + pi[1:]


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


EML_OPTS = [0x00, 0x01, 0x03, 0x05, 0x08, 0x10, 0x21, 0x40, 0x80, 0x02, 0x07, 0xc1]


def config_seeds_and_dict():
    """fuzz_config: docs/smtptap.conf with its options set, plus broken files; the
    dictionary: every option name, section and a few values."""
    with open(os.path.join(ROOT, "docs", "smtptap.conf"), "rb") as f:
        conf = f.read()
    names, sections = [], []
    for line in conf.splitlines():
        m = re.match(rb"^# ([a-z_]+) = (.*)$", line)
        if m:
            names.append(m.group(1))
        m = re.match(rb"^\[([a-z]+)\]", line)
        if m:
            sections.append(m.group(1))
    put("fuzz_config", "smtptap.conf", conf)
    put("fuzz_config", "smtptap-set.conf", re.sub(rb"(?m)^# ([a-z_]+ = )", rb"\1", conf))
    put("fuzz_config", "stoq", b"[options]\nomit_body = True\nalways_dispatch = hash\n"
        b"archive_attachments = False\n[smtp]\nioc_keys = received,body\n")
    put("fuzz_config", "plain", b"output_dir = /dev/null/x\nmax_streams=16 # c\n; c\n"
        b"ooo_limit = 1024\nidle-timeout = 1\nbody_max=0\n")
    put("fuzz_config", "bad-section", b"[limits\nmax_line = 512\n")
    put("fuzz_config", "bad-value", b"[capture]\nsnaplen = 12x\nmax_line = 99999999999999999999\n")
    put("fuzz_config", "bad-key", b"[yara]\nrules = /nowhere\nnot_an_option = 1\n")
    put("fuzz_config", "long-line", b"output_dir = " + b"a" * 4200 + b"\n")
    put("fuzz_config", "crlf-nul", b"omit_body = on\r\nmax_rcpts = 1\x00\n\tsinks = \n")
    d = ["# config.dict - option names, sections and values of docs/smtptap.conf",
         "# (written by fuzz/mkseeds.py; fuzz_config)."]
    for n in sorted(set(names)):
        d.append('"%s"' % n.decode())
        d.append('"%s = "' % n.decode())
    for n in sorted(set(sections)) + [b"options", b"yara"]:
        d.append('"[%s]"' % n.decode())
    for v in ("true", "false", "yes", "no", "on", "off", "True", "False", "0", "1", "-1",
              "4294967296", "9223372036854775808", " = ", "#", ";", "\\x0a", "\\x0d\\x0a",
              "\\x00"):
        d.append('"%s"' % v)
    with open(os.path.join(ROOT, "fuzz", "dict", "config.dict"), "w") as f:
        f.write("\n".join(d) + "\n")


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    tcp_seeds = []
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
            # the same packets as a pcap file, a pcapng file, gzip-compressed, cut short
            if name in ("smtp-auth-login", "smtp-rset"):
                put("fuzz_pcap", name + "-as-pcap", pcap_container(pi, 1))
                put("fuzz_pcap", name + "-as-pcapng", pcap_container(pi, 2))
                put("fuzz_pcap", name + "-as-pcap-gz", pcap_container(pi, 1, gz=True))
                put("fuzz_pcap", name + "-as-pcapng-gz", pcap_container(pi, 2, gz=True))
                put("fuzz_pcap", name + "-as-gz-cut", pcap_container(pi, 3, gz=True, cut=True))
        for j, turns in enumerate(tcp_flows(lt, frames)[:2]):
            sz = sum(len(t[2]) + 3 for t in turns)
            if sz > 60000:
                continue
            k = len(tcp_seeds)
            tcp_seeds.append((f"{name}-{j}", tcp_script(TCP_HEADERS[k % len(TCP_HEADERS)],
                                                        (k * 7919) & 0xFFFF, turns)))
        if name in ("smtp-auth-plain", "smtp-ipv6", "smtp-any-sll2", "smtp-bdat"):
            with open(p, "rb") as f:
                put("fuzz_pcap", name + ".pcap", f.read())
    emls = sorted(glob.glob(os.path.join(ROOT, "tests", "mime", "*.eml")))
    hdrs = set()
    for i, p in enumerate(emls):
        with open(p, "rb") as f:
            m = f.read()[:60000]
        name = os.path.basename(p)[:-4]
        put("fuzz_eml", name, bytes([EML_OPTS[i % len(EML_OPTS)], (i * 37) & 255]) + m)
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
    for name, data in tcp_seeds:
        put("fuzz_tcp", name, data)
    # hand-written dialogues the captures lack: pipelining, AUTH, STARTTLS then TLS bytes,
    # BDAT, a rejected recipient, a proxy preamble
    hand = {
        "pipelining": [(1, b"220 mx ESMTP\r\n"), (0, b"EHLO c\r\n"),
                       (1, b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
                       (0, b"MAIL FROM:<a@b> SIZE=40\r\nRCPT TO:<c@d>\r\n"
                           b"RCPT TO:<e@f>\r\nDATA\r\n"),
                       (1, b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n"),
                       (0, b"Subject: p\r\n\r\n..dot\r\n.\r\nQUIT\r\n"),
                       (1, b"250 2.0.0 queued\r\n221 bye\r\n")],
        "auth-starttls": [(1, b"220 mx ESMTP\r\n"), (0, b"EHLO c\r\n"),
                          (1, b"250-mx\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n"),
                          (0, b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"), (1, b"235 2.7.0 ok\r\n"),
                          (0, b"STARTTLS\r\n"), (1, b"220 go ahead\r\n"),
                          (0, b"\x16\x03\x01\x00\x05hello"), (1, b"\x16\x03\x03\x00\x02hi")],
        "bdat": [(1, b"220 mx ESMTP\r\n"), (0, b"EHLO c\r\n"), (1, b"250-mx\r\n250 CHUNKING\r\n"),
                 (0, b"MAIL FROM:<>\r\n"), (1, b"250 ok\r\n"), (0, b"RCPT TO:<x@y>\r\n"),
                 (1, b"250 ok\r\n"), (0, b"BDAT 12\r\nSubject: b\r\n"), (1, b"250 ok\r\n"),
                 (0, b"BDAT 6 LAST\r\n\r\nhi\r\n"), (1, b"250 ok\r\n"), (0, b"QUIT\r\n")],
        "connect": [(0, b"CONNECT mx:25 HTTP/1.1\r\n\r\n"),
                    (1, b"HTTP/1.1 200 Connection established\r\n\r\n220 mx ESMTP\r\n"),
                    (0, b"HELO c\r\n"), (1, b"250 mx\r\n"), (0, b"QUIT\r\n"), (1, b"221 bye\r\n")],
    }
    for k, (name, turns) in enumerate(hand.items()):
        for j, hdr in enumerate((TCP_HEADERS[1 + k], TCP_HEADERS[6 + k])):
            put("fuzz_tcp", f"{name}-{j}", tcp_script(hdr, 101 * (k + 1) + j,
                                                      [(d, 1, b) for d, b in turns]))
    config_seeds_and_dict()
    for name, turns in tunnels.items():
        s = bytearray()
        for d, b in turns:
            while b:
                piece, b = b[:126], b[126:]
                s += bytes([d | len(piece) << 1]) + piece
        put("fuzz_tunnel", name, bytes(s))


if __name__ == "__main__":
    main()
