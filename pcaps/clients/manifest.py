#!/usr/bin/env python3
"""Check every capture of pcaps/ and write pcaps/manifest.json.

usage: manifest.py --work DIR --pcaps DIR --maildir DIR --password PW --out FILE

For each file in FILES: tshark dumps every TCP segment; this script
reassembles both directions of each TCP stream itself and parses the SMTP
dialogue with its own small parser (replies paired with commands in order,
DATA content unstuffed, BDAT chunks counted), independently of the clients.
The result must equal what the clients logged (their own account of the
bytes they wrote), session by session and transaction by transaction, and
every accepted message must be in the Maildir (minus the headers Postfix
prepends) while no rejected one is.  tshark must report no lost segment;
retransmissions and out-of-order segments are counted (reordered_segments).
Any difference: exit 1, no manifest.
"""
import argparse
import base64
import datetime
import glob
import gzip
import hashlib
import json
import os
import re
import struct
import subprocess
import sys

# name -> (what it shows, recording or derivation)
FILES = {
    "smtp-pipelining.pcap": "swaks --pipeline on port 25: MAIL, two RCPT and DATA in one write; message "
                            "built by swaks --attach (text/plain part + base64 attachment)",
    "smtp-auth-plain.pcap": "swaks on submission port 587, AUTH PLAIN with an initial response, in clear",
    "smtp-auth-login.pcap": "swaks on submission port 587, AUTH LOGIN (334 user/password prompts), in clear",
    "smtp-starttls.pcap": "swaks --tls on port 25: EHLO, STARTTLS, 220, then only TLS; the transaction is "
                          "encrypted (listed under encrypted_transactions, invisible to a passive tap)",
    "smtp-bdat.pcap": "raw client, CHUNKING: five BDAT chunks (boundaries mid-line and between CR and LF, "
                      "lines '.' and '..' not stuffed), then a pipelined lower-case transaction "
                      "'bdat N' + 'bdat 0 LAST' whose content does not end in CRLF",
    "smtp-rset.pcap": "smtplib: a transaction aborted by RSET, an accepted one, one aborted by QUIT",
    "smtp-rcpt-rejected.pcap": "smtplib: RCPT blocked@ refused with 550 while two others are accepted; then a "
                               "transaction whose only RCPT is refused, so DATA gets 554 and no content",
    "smtp-multi-transaction.pcap": "smtplib: four transactions in one connection (two recipients, "
                                   "BODY=8BITMIME UTF-8 body, bare-LF str fixed to CRLF by smtplib)",
    "smtp-ipv6.pcap": "swaks -6 to [::1]:25",
    "smtp-dot-stuffing.pcap": "smtplib dot-stuffing: lines '.', '..', '...', '. ', last line '.', a message "
                              "whose first line starts with a dot",
    "smtp-data-rejected.pcap": "smtplib: header_checks refuses a message after the final dot (550 5.7.1), "
                               "RSET, then an accepted transaction",
    "smtp-port2525.pcap": "smtplib SMTP session on port 2525 (port independence), two recipients",
    "non-smtp-port8025.pcap": "not SMTP: an HTTP/1.1 exchange and a session of pseudo-random bytes with our "
                              "own server on 127.0.0.1:8025 (127.0.0.1:25 belongs to Postfix)",
    "non-smtp-port25.pcap": "non-smtp-port8025.pcap with port 8025 rewritten to 25 (encap.py --map-port): "
                            "non-SMTP traffic on port 25",
    "smtp-four-sessions.pcap": "four sessions: smtplib 127.0.0.1:25, smtplib [::1]:25, raw BDAT "
                               "127.0.0.1:2525, raw BDAT [::1]:2525 (source of the encapsulated files)",
    "smtp-four-sessions-vlan.pcap": "smtp-four-sessions.pcap, every frame 802.1Q VLAN 100",
    "smtp-four-sessions-qinq.pcap": "smtp-four-sessions.pcap, every frame QinQ: 0x88a8 VLAN 200 + 0x8100 VLAN 300",
    "smtp-four-sessions-mpls.pcap": "smtp-four-sessions.pcap, every frame MPLS labels 1001/2002",
    "smtp-four-sessions-pppoe.pcap": "smtp-four-sessions.pcap, every frame PPPoE session 0x1234, "
                                     "PPP 0x0021 (IPv4) / 0x0057 (IPv6)",
    "smtp-four-sessions-mixed-encap.pcap": "smtp-four-sessions.pcap, session 1 VLAN, 2 QinQ, 3 MPLS, 4 PPPoE",
    "smtp-any-sll2.pcap": "tcpdump -i any (LINUX_SLL2): smtplib sessions to 127.0.0.1:25 and [::1]:25",
    "smtp-big.pcap": "swaks, 3 MiB random binary attachment base64 (~4.3 MB message), lo MTU 1500 and "
                     "TSO/GSO off: thousands of 1514-byte frames",
    "smtp-bdat.pcap.gz": "gzip -9 -n of smtp-bdat.pcap",
    "smtp-multi-transaction.pcapng": "editcap -F pcapng of smtp-multi-transaction.pcap",
}

DERIVED = {  # name -> (source, transform)
    "non-smtp-port25.pcap": ("non-smtp-port8025.pcap", "encap.py --mode none --map-port 8025=25"),
    "smtp-four-sessions-vlan.pcap": ("smtp-four-sessions.pcap", "encap.py --mode vlan"),
    "smtp-four-sessions-qinq.pcap": ("smtp-four-sessions.pcap", "encap.py --mode qinq"),
    "smtp-four-sessions-mpls.pcap": ("smtp-four-sessions.pcap", "encap.py --mode mpls"),
    "smtp-four-sessions-pppoe.pcap": ("smtp-four-sessions.pcap", "encap.py --mode pppoe"),
    "smtp-four-sessions-mixed-encap.pcap": ("smtp-four-sessions.pcap",
                                            "encap.py --mode mixed:vlan,qinq,mpls,pppoe"),
    "smtp-bdat.pcap.gz": ("smtp-bdat.pcap", "gzip -9 -n"),
    "smtp-multi-transaction.pcapng": ("smtp-multi-transaction.pcap", "editcap -F pcapng"),
}
PORT_MAP = {"non-smtp-port25.pcap": {8025: 25}}
MTU = {"smtp-big.pcap": 1500}
DLT_NAMES = {1: "EN10MB", 276: "LINUX_SLL2", 113: "LINUX_SLL"}
TXN_KEYS = ["mail_from", "rcpt_to", "rcpt_rejected", "status", "mode", "final_reply_code",
            "size", "sha256"]
# A lost segment would make a capture useless as a reference; reordering or
# a retransmission (seen on loopback with several CPUs, for the big
# capture) leaves every byte there, so it is counted, not fatal.
ANOMALIES = "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment"
REORDERED = ("tcp.analysis.retransmission || tcp.analysis.fast_retransmission || "
             "tcp.analysis.spurious_retransmission || tcp.analysis.out_of_order")
FIELDS = ["frame.number", "tcp.stream", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport",
          "tcp.dstport", "tcp.seq", "tcp.flags.syn", "tcp.flags.ack", "tcp.len", "tcp.payload",
          "ieee8021ad.id", "vlan.id", "mpls.label", "pppoe.session_id", "ppp.protocol", "eth.type"]

errors = []


def fail(msg):
    errors.append(msg)
    print("manifest.py: " + msg, file=sys.stderr)


def sha(b):
    return hashlib.sha256(b).hexdigest()


# ------------------------------------------------------------------ capture reading

def link_type(path):
    data = open(path, "rb").read(4096)
    if path.endswith(".gz"):
        data = gzip.open(path).read(4096)
    if data[:4] == b"\x0a\x0d\x0d\x0a":  # pcapng: SHB then IDB
        end = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        shb_len = struct.unpack(end + "I", data[4:8])[0]
        idb = data[shb_len:]
        assert struct.unpack(end + "I", idb[:4])[0] == 1, "no IDB after SHB"
        return struct.unpack(end + "H", idb[8:10])[0]
    end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    return struct.unpack(end + "I", data[20:24])[0]


def tshark_segments(path):
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
           "-E", "aggregator=,"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        rows.append(v)
    return rows


def count_anomalies(path, expr=ANOMALIES):
    out = subprocess.run(["tshark", "-n", "-r", path, "-Y", expr, "-T", "fields",
                          "-e", "frame.number"], capture_output=True, text=True, check=True).stdout
    return len(out.split())


def ep(ip, port):
    return ("[%s]:%s" % (ip, port)) if ":" in ip else ("%s:%s" % (ip, port))


def streams_of(rows):
    """tcp.stream -> dict(client, server, c2s bytes, s2c bytes, segments, encaps)."""
    st = {}
    for r in rows:
        if r["tcp.stream"] == "":
            continue
        sid = int(r["tcp.stream"])
        src = ep(r["ip.src"] or r["ipv6.src"], r["tcp.srcport"])
        dst = ep(r["ip.dst"] or r["ipv6.dst"], r["tcp.dstport"])
        s = st.setdefault(sid, {"first_frame": int(r["frame.number"]), "client": None, "server": None,
                                "seg": {}, "client_segments": [], "encaps": set()})
        s["encaps"].add((",".join(x for x in (r["ieee8021ad.id"], r["vlan.id"]) if x), r["mpls.label"], r["pppoe.session_id"], r["ppp.protocol"],
                         r["eth.type"]))
        if r["tcp.flags.syn"] in ("1", "True") and r["tcp.flags.ack"] in ("0", "False"):
            s["client"], s["server"] = src, dst
        payload = bytes.fromhex(r["tcp.payload"].replace(":", "")) if r["tcp.payload"] else b""
        if payload:
            s["seg"].setdefault((src, dst), []).append((int(r["tcp.seq"]), payload))
    for sid, s in st.items():
        if s["client"] is None:
            fail("stream %d: no SYN seen" % sid)
            continue
        for key, name in (((s["client"], s["server"]), "c2s"), ((s["server"], s["client"]), "s2c")):
            buf = bytearray()
            for seq, payload in sorted(s["seg"].get(key, [])):
                off = seq - 1  # relative sequence numbers: SYN is 0
                if off > len(buf):
                    fail("stream %d %s: hole at %d" % (sid, name, len(buf)))
                    break
                if off + len(payload) > len(buf):
                    if bytes(buf[off:]) != payload[:len(buf) - off]:
                        fail("stream %d %s: overlapping data differs" % (sid, name))
                    buf[off:] = payload
            s[name] = bytes(buf)
        s["client_segments"] = [p for _, p in sorted(s["seg"].get((s["client"], s["server"]), []))]
    return st


# ------------------------------------------------------------------ SMTP parsing

def parse_replies(data):
    replies, cur = [], []
    for line in data.split(b"\r\n")[:-1]:
        cur.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            replies.append((int(line[:3]) if line[:3].isdigit() else 0, cur))
            cur = []
    return replies


def unstuff(b):
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in b.split(b"\r\n"))


def parse_smtp(c2s, s2c):
    """Independent parse of one SMTP session from its two byte streams."""
    replies = parse_replies(s2c)
    ri = 1  # replies[0] is the greeting
    sess = {"transactions": [], "starttls": False, "auth": None, "auth_password": None}
    txn = None
    pos = 0
    auth_state = None

    def next_reply():
        nonlocal ri
        r = replies[ri] if ri < len(replies) else (None, [])
        ri += 1
        return r

    def close(status):
        nonlocal txn
        if txn is not None:
            txn["status"] = status
            sess["transactions"].append(txn)
            txn = None

    while pos < len(c2s):
        eol = c2s.find(b"\r\n", pos)
        if eol < 0:
            fail("client stream ends inside a command line")
            break
        line = c2s[pos:eol]
        pos = eol + 2
        code, _ = next_reply()
        if auth_state is not None:  # an AUTH continuation line
            auth_state.append(line)
            if code != 334:
                mech, lines = auth_state[0], auth_state[1:]
                if mech == "PLAIN":
                    parts = base64.b64decode(lines[0]).split(b"\0")
                    user, pw = parts[1], parts[2]
                else:
                    user, pw = base64.b64decode(lines[0]), base64.b64decode(lines[1])
                sess["auth"] = {"mechanism": mech, "user": user.decode()}
                sess["auth_password"] = pw.decode()
                sess["auth_ok"] = code == 235
                auth_state = None
            continue
        verb = line.split(b" ", 1)[0].upper()
        if verb == b"AUTH":
            words = line.split()
            mech = words[1].decode().upper()
            auth_state = [mech] + words[2:]
            if code != 334:  # initial response accepted (or refused) at once
                auth_state.append(b"")
                code2 = code
                mech, lines = auth_state[0], auth_state[1:]
                parts = base64.b64decode(lines[0]).split(b"\0")
                sess["auth"] = {"mechanism": mech, "user": parts[1].decode()}
                sess["auth_password"] = parts[2].decode()
                sess["auth_ok"] = code2 == 235
                auth_state = None
            continue
        if verb == b"STARTTLS" and code == 220:
            close("aborted")
            sess["starttls"] = True
            return sess
        if verb == b"MAIL":
            close("aborted")
            if 200 <= code < 300:
                m = re.match(rb"(?i)mail from:\s*<([^>]*)>", line)
                txn = {"mail_from": m.group(1).decode(), "rcpt_to": [], "rcpt_rejected": [],
                       "status": None, "mode": None, "final_reply_code": None, "size": None,
                       "sha256": None}
        elif verb == b"RCPT":
            m = re.match(rb"(?i)rcpt to:\s*<([^>]*)>", line)
            txn["rcpt_to" if 200 <= code < 300 else "rcpt_rejected"].append(m.group(1).decode())
        elif verb == b"DATA":
            txn["mode"] = "DATA"
            if code != 354:
                txn["final_reply_code"] = code
                close("rejected")
                continue
            if c2s.startswith(b".\r\n", pos):
                content, pos = b"", pos + 3
            else:
                end = c2s.find(b"\r\n.\r\n", pos)
                if end < 0:
                    fail("DATA content without end")
                    break
                content, pos = unstuff(c2s[pos:end + 2]), end + 5
            fcode, _ = next_reply()
            txn.update(size=len(content), sha256=sha(content), final_reply_code=fcode)
            close("accepted" if 200 <= fcode < 300 else "rejected")
        elif verb == b"BDAT":
            m = re.match(rb"(?i)bdat (\d+)( last)?\s*$", line)
            n = int(m.group(1))
            chunk, pos = c2s[pos:pos + n], pos + n
            txn["mode"] = "BDAT"
            txn.setdefault("chunks", []).append(chunk)
            if not 200 <= code < 300:
                txn["final_reply_code"] = code
                close("rejected")
            elif m.group(2):
                content = b"".join(txn["chunks"])
                txn["bdat_chunk_sizes"] = [len(ch) for ch in txn.pop("chunks")]
                txn.update(size=len(content), sha256=sha(content), final_reply_code=code)
                close("accepted")
        elif verb in (b"RSET", b"QUIT", b"EHLO", b"HELO"):
            close("aborted")
    close("aborted")
    return sess


def pipelined(client_segments):
    """True if one client segment holds two or more MAIL/RCPT/DATA/BDAT commands."""
    for p in client_segments:
        if len(re.findall(rb"(?im)^(?:mail from|rcpt to|data\r|bdat \d)", p)) >= 2:
            return True
    return False


# ------------------------------------------------------------------ checks

def load_log(work, name):
    path = os.path.join(work, name + ".sessions.jsonl")
    return [json.loads(l) for l in open(path)] if os.path.exists(path) else []


def remap(endpoint, mapping):
    host, port = endpoint.rsplit(":", 1)
    return "%s:%d" % (host, mapping.get(int(port), int(port)))


def check_file(name, pcaps, work, password):
    path = os.path.join(pcaps, name)
    src, transform = DERIVED.get(name, (name, None))
    log = load_log(work, src)
    mapping = PORT_MAP.get(name, {})
    encap = []
    ep_path = os.path.join(work, name[:-len(".pcap")] + ".encap.jsonl") if name.endswith(".pcap") else ""
    if os.path.exists(ep_path):
        encap = [json.loads(l) for l in open(ep_path)]
    if not log:
        fail("%s: no session log for %s" % (name, src))
        return None
    dlt = link_type(path)
    rows = tshark_segments(path)
    streams = streams_of(rows)
    order = sorted(streams, key=lambda sid: streams[sid]["first_frame"])
    if len(order) != len(log):
        fail("%s: %d TCP streams, the clients made %d sessions" % (name, len(order), len(log)))
        return None
    anomalies = count_anomalies(path)
    if anomalies:
        fail("%s: %d lost segments" % (name, anomalies))
    sessions, others = [], []
    for i, (sid, want) in enumerate(zip(order, log)):
        s = streams[sid]
        want = json.loads(json.dumps(want))
        want["server"] = remap(want["server"], mapping)
        want["server_port"] = mapping.get(want["server_port"], want["server_port"])
        if want.get("client") is None:
            want["client"] = s["client"]
        if (s["client"], s["server"]) != (want["client"], want["server"]):
            fail("%s stream %d: endpoints %s->%s, logged %s->%s" % (name, sid, s["client"], s["server"],
                                                                  want["client"], want["server"]))
        enc = encap[i]["encapsulation"] if encap else {"type": "ethernet" if dlt == 1 else
                                                        DLT_NAMES.get(dlt, str(dlt))}
        check_encap(name, sid, s["encaps"], enc)
        if "kind" in want:  # not SMTP
            got = {"client_bytes": len(s["c2s"]), "client_sha256": sha(s["c2s"]),
                   "server_bytes": len(s["s2c"]), "server_sha256": sha(s["s2c"])}
            for k, v in got.items():
                if want[k] != v:
                    fail("%s stream %d: %s %r, logged %r" % (name, sid, k, v, want[k]))
            want["tcp_stream"] = sid
            want["encapsulation"] = enc
            others.append(want)
            continue
        got = parse_smtp(s["c2s"], s["s2c"])
        if not s["s2c"].startswith(b"220 "):
            fail("%s stream %d: no 220 greeting" % (name, sid))
        for k in ("starttls",):
            if got[k] != want[k]:
                fail("%s stream %d: %s=%r, logged %r" % (name, sid, k, got[k], want[k]))
        if want["pipelining"] and not pipelined(s["client_segments"]):
            fail("%s stream %d: no pipelined client segment" % (name, sid))
        if got["auth"] != want["auth"]:
            fail("%s stream %d: auth %r, logged %r" % (name, sid, got["auth"], want["auth"]))
        if want["auth"] and (got["auth_password"] != password or not got.get("auth_ok")):
            fail("%s stream %d: AUTH password/result not as expected" % (name, sid))
        gt, wt = got["transactions"], want["transactions"]
        if len(gt) != len(wt):
            fail("%s stream %d: %d transactions in capture, %d logged" % (name, sid, len(gt), len(wt)))
        for j, (g, w) in enumerate(zip(gt, wt)):
            for k in TXN_KEYS + ["bdat_chunk_sizes"]:
                if g.get(k) != w.get(k):
                    fail("%s stream %d txn %d: %s=%r in capture, %r logged" % (name, sid, j, k,
                                                                             g.get(k), w.get(k)))
        auth = dict(want["auth"]) if want["auth"] else None
        if auth:  # the forms of the secret a test can grep for in smtptap's output
            auth["secrets_on_wire"] = [x for x in secret_forms(password) if x.encode() in s["c2s"]]
        sess = {"tcp_stream": sid, "client": want["client"], "server": want["server"],
                "server_port": want["server_port"], "ip_version": want["ip_version"],
                "client_library": want["client_library"], "pipelining": want["pipelining"],
                "starttls": want["starttls"], "auth": auth, "encapsulation": enc,
                "transactions": [order_txn(t) for t in wt]}
        if "encrypted_transactions" in want:
            sess["encrypted_transactions"] = [order_txn(t) for t in want["encrypted_transactions"]]
        sessions.append(sess)
    fmt = "pcap.gz" if name.endswith(".gz") else ("pcapng" if name.endswith(".pcapng") else "pcap")
    return {
        "shows": FILES[name],
        "format": fmt,
        "link_type": DLT_NAMES.get(dlt, str(dlt)),
        "dlt": dlt,
        "bytes": os.path.getsize(path),
        "packets": len(rows),
        "tcp_streams": len(streams),
        "lo_mtu": MTU.get(src, 65536),
        "derived_from": {"file": src, "transform": transform} if transform else None,
        "expected_tcp_anomalies": 0,
        "reordered_segments": count_anomalies(path, REORDERED),
        "smtp_sessions": len(sessions),
        "transactions": sum(len(s["transactions"]) for s in sessions),
        "sessions": sessions,
        "other_streams": others,
    }


def secret_forms(password):
    """The password, its base64, and the base64 AUTH PLAIN blob of our user."""
    pw = password.encode()
    return [password, base64.b64encode(pw).decode(),
            base64.b64encode(b"\0tapuser@smtptap.test\0" + pw).decode()]


def order_txn(t):
    out = {k: t.get(k) for k in TXN_KEYS}
    if t.get("bdat_chunk_sizes"):
        out["bdat_chunk_sizes"] = t["bdat_chunk_sizes"]
    return out


def check_encap(name, sid, seen, enc):
    """What tshark decoded for the stream's frames matches the intended encapsulation."""
    if len(seen) != 1 and enc["type"] != "pppoe":
        fail("%s stream %d: frames differ in encapsulation: %r" % (name, sid, seen))
    vlan, mpls, pppoe, pppp, _ = sorted(seen)[0]
    t = enc["type"]
    want = {"ethernet": ("", "", ""), "LINUX_SLL2": ("", "", ""),
            "802.1q": (str(enc.get("vlan_id")), "", ""),
            "qinq": ("%s,%s" % (enc.get("outer_vlan_id"), enc.get("inner_vlan_id")), "", ""),
            "mpls": ("", ",".join(str(x) for x in enc.get("labels", [])), ""),
            "pppoe": ("", "", "0x%04x" % enc.get("session_id", 0))}[t]
    if (vlan, mpls, pppoe.lower()) != want:
        fail("%s stream %d: tshark saw vlan=%r mpls=%r pppoe=%r, want %r" % (name, sid, vlan, mpls,
                                                                            pppoe, want))


def check_maildir(maildir, work, names):
    stored = []
    for f in glob.glob(os.path.join(maildir, "new", "*")) + glob.glob(os.path.join(maildir, "cur", "*")):
        stored.append(open(f, "rb").read())
    checked = 0
    for name in names:
        if name in DERIVED:
            continue
        for sess in load_log(work, name):
            for t in sess.get("transactions", []) + sess.get("encrypted_transactions", []):
                if t.get("sha256") is None:
                    continue
                content = open(os.path.join(work, "msgs", t["sha256"] + ".eml"), "rb").read()
                want = content.replace(b"\r\n", b"\n")
                if not want.endswith(b"\n"):
                    want += b"\n"  # Postfix ends BDAT content without a newline with one
                found = any(s.endswith(want) and (len(s) == len(want) or s[-len(want) - 1:][:1] == b"\n")
                            for s in stored)
                if found != (t["status"] == "accepted"):
                    fail("%s: message %s (%s) %s in the Maildir" % (name, t["sha256"][:12], t["status"],
                                                                    "is" if found else "is not"))
                checked += 1
    return checked, len(stored)


def tool_version(cmd, rx):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        m = re.search(rx, out)
        return m.group(1) if m else None
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--pcaps", required=True)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    files = {}
    for name in FILES:
        if not os.path.exists(os.path.join(a.pcaps, name)):
            fail("%s: missing" % name)
            continue
        entry = check_file(name, a.pcaps, a.work, a.password)
        if entry:
            files[name] = entry
    checked, stored = check_maildir(a.maildir, a.work, FILES)
    if errors:
        sys.exit("manifest.py: %d check(s) failed, manifest not written" % len(errors))
    manifest = {
        "format": "smtptap-pcaps-manifest/1",
        "generated_by": "pcaps/record.sh (pcaps/clients/manifest.py)",
        "recorded": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message_identity": "size and sha256 of the message content as it crosses the wire after "
                            "dot-unstuffing, excluding the terminating '.' line (its CRLF is the last "
                            "line's); for BDAT the chunks concatenated",
        "status_values": {
            "accepted": "2xx reply to the end of data (DATA final dot or BDAT LAST)",
            "rejected": "4xx/5xx to the end of data, or to DATA/BDAT itself (then size/sha256 are null)",
            "aborted": "RSET, QUIT, EHLO, STARTTLS or connection end before the data ended",
        },
        "environment": {
            "postfix": tool_version(["postconf", "-h", "mail_version"], r"(\S+)"),
            "swaks": tool_version(["swaks", "--version"], r"swaks version (\S+)"),
            "python": "%d.%d.%d" % sys.version_info[:3],
            "tcpdump": tool_version(["tcpdump", "--version"], r"tcpdump version (\S+)"),
            "tshark": tool_version(["tshark", "--version"], r"TShark \(Wireshark\) (\S+)"),
        },
        "server": {"hostname": "mx.smtptap.test", "ipv4": "127.0.0.1", "ipv6": "::1",
                   "ports": {"25": "smtp, STARTTLS", "587": "submission, AUTH PLAIN/LOGIN",
                             "2525": "smtp"},
                   "rejected_recipient": "blocked@smtptap.test",
                   "data_reject_subject_marker": "SMTPTAP-REJECT-DATA"},
        "auth": {"user": "tapuser@smtptap.test", "password": a.password,
                 "must_never_appear_in_output": secret_forms(a.password)},
        "checks": {"maildir_messages_checked": checked, "maildir_files": stored},
        "files": files,
    }
    with open(a.out, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)
        f.write("\n")
    print("manifest.py: %d files, %d messages checked against the Maildir" % (len(files), checked))


if __name__ == "__main__":
    main()
