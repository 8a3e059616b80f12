#!/usr/bin/env python3
"""encap.py - rewrite an Ethernet pcap into other link-layer encapsulations.

usage: encap.py IN.pcap OUT.pcap --mode MODE [--map-port FROM=TO ...]
  MODE  none | vlan | qinq | mpls | pppoe | mixed[:m1,m2,...]
  none    copy frames unchanged (with --map-port: only move ports)
  vlan    802.1Q tag, TPID 0x8100, VID 100
  qinq    802.1ad outer tag (TPID 0x88a8, VID 200) + 802.1Q inner (VID 300)
  mpls    ethertype 0x8847, two labels (1001, then 2002 bottom-of-stack,
          TTL 64), the IP packet follows the label stack directly
  pppoe   PPPoE session (ethertype 0x8864, ver/type 0x11, code 0, session
          0x1234), PPP protocol 0x0021 (IPv4) or 0x0057 (IPv6)
  mixed   each TCP connection in order of first appearance gets the next
          mode of the list (default vlan,qinq,mpls,pppoe), cycling
--map-port FROM=TO rewrites TCP ports FROM to TO in both directions.  The TCP
checksum is left as recorded: on loopback it only holds the pseudo-header
sum (checksum offload), which does not cover ports, so it stays exactly as
(in)valid as before.

Pure Python, no scapy.  Reads classic pcap (us or ns, either byte order) of
link type EN10MB only; writes the same flavour.  Frames that are not
IPv4/IPv6 are copied unchanged.  Prints one JSON line per TCP connection
(endpoints and the encapsulation given to it) on stdout.
"""
import argparse
import json
import struct
import sys

VLAN_ID, QINQ_OUTER, QINQ_INNER = 100, 200, 300
MPLS_LABELS = (1001, 2002)
PPPOE_SESSION = 0x1234
ETH_IP4, ETH_IP6 = 0x0800, 0x86DD


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        sys.exit("encap.py: %s: not a classic pcap file" % path)
    linktype = struct.unpack(end + "I", data[20:24])[0]
    if linktype != 1:
        sys.exit("encap.py: %s: link type %d, need EN10MB (1)" % (path, linktype))
    frames, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(end + "IIII", data[off:off + 16])
        frames.append([sec, frac, orig, data[off + 16:off + 16 + incl]])
        off += 16 + incl
    return end, data[:24], frames


def write_pcap(path, end, header, frames):
    with open(path, "wb") as f:
        f.write(header)
        for sec, frac, orig, frame in frames:
            f.write(struct.pack(end + "IIII", sec, frac, len(frame), orig))
            f.write(frame)


def tcp_endpoints(frame):
    """((src, sport), (dst, dport), l4 offset) of an Ethernet TCP frame, or None."""
    etype = struct.unpack("!H", frame[12:14])[0]
    if etype == ETH_IP4 and len(frame) >= 34 and frame[23] == 6:
        ihl = (frame[14] & 0x0F) * 4
        src, dst, l4 = frame[26:30], frame[30:34], 14 + ihl
    elif etype == ETH_IP6 and len(frame) >= 54 and frame[20] == 6:
        src, dst, l4 = frame[22:38], frame[38:54], 54
    else:
        return None
    if len(frame) < l4 + 4:
        return None
    sport, dport = struct.unpack("!HH", frame[l4:l4 + 4])
    return (src, sport), (dst, dport), l4


def map_ports(frame, mapping):
    ep = tcp_endpoints(frame)
    if not ep or not mapping:
        return frame
    (_, sport), (_, dport), l4 = ep
    b = bytearray(frame)
    b[l4:l4 + 4] = struct.pack("!HH", mapping.get(sport, sport), mapping.get(dport, dport))
    return bytes(b)


def tci(vid, pcp=0):
    return struct.pack("!H", (pcp << 13) | vid)


def wrap(frame, mode):
    macs, etype, payload = frame[:12], struct.unpack("!H", frame[12:14])[0], frame[14:]
    if etype not in (ETH_IP4, ETH_IP6) or mode == "none":
        return frame
    et = struct.pack("!H", etype)
    if mode == "vlan":
        return macs + b"\x81\x00" + tci(VLAN_ID) + et + payload
    if mode == "qinq":
        return macs + b"\x88\xa8" + tci(QINQ_OUTER) + b"\x81\x00" + tci(QINQ_INNER) + et + payload
    if mode == "mpls":
        top = struct.pack("!I", (MPLS_LABELS[0] << 12) | (0 << 8) | 64)
        bottom = struct.pack("!I", (MPLS_LABELS[1] << 12) | (1 << 8) | 64)
        return macs + b"\x88\x47" + top + bottom + payload
    if mode == "pppoe":
        proto = 0x0021 if etype == ETH_IP4 else 0x0057
        ppp = struct.pack("!H", proto) + payload
        return macs + b"\x88\x64" + struct.pack("!BBHH", 0x11, 0, PPPOE_SESSION, len(ppp)) + ppp
    raise ValueError(mode)


def describe(mode):
    return {
        "none": {"type": "ethernet"},
        "vlan": {"type": "802.1q", "vlan_id": VLAN_ID},
        "qinq": {"type": "qinq", "outer_tpid": "0x88a8", "outer_vlan_id": QINQ_OUTER,
                 "inner_tpid": "0x8100", "inner_vlan_id": QINQ_INNER},
        "mpls": {"type": "mpls", "labels": list(MPLS_LABELS)},
        "pppoe": {"type": "pppoe", "session_id": PPPOE_SESSION, "ppp_protocols": ["0x0021", "0x0057"]},
    }[mode]


def fmt(ep):
    ip, port = ep
    if len(ip) == 4:
        return "%s:%d" % (".".join(str(x) for x in ip), port)
    import ipaddress
    return "[%s]:%d" % (ipaddress.IPv6Address(ip), port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--mode", required=True)
    ap.add_argument("--map-port", action="append", default=[])
    a = ap.parse_args()
    mapping = {}
    for m in a.map_port:
        f, t = m.split("=")
        mapping[int(f)] = int(t)
    if a.mode.startswith("mixed"):
        modes = (a.mode.split(":", 1)[1] if ":" in a.mode else "vlan,qinq,mpls,pppoe").split(",")
    else:
        modes = [a.mode]
    for m in modes:
        describe(m)  # validates
    end, header, frames = read_pcap(a.inp)
    conns = {}
    for fr in frames:
        frame = map_ports(fr[3], mapping)
        ep = tcp_endpoints(frame)
        mode = modes[0]
        if ep:
            key = frozenset((ep[0], ep[1]))
            if key not in conns:
                conns[key] = (len(conns), modes[len(conns) % len(modes)], ep[0], ep[1])
            mode = conns[key][1]
        new = wrap(frame, mode)
        fr[2] += len(new) - len(fr[3])
        fr[3] = new
    write_pcap(a.out, end, header, frames)
    for idx, mode, a_ep, b_ep in sorted(conns.values(), key=lambda x: x[0]):
        print(json.dumps({"connection": idx, "first_sender": fmt(a_ep), "first_receiver": fmt(b_ep),
                          "encapsulation": describe(mode)}))


if __name__ == "__main__":
    main()
