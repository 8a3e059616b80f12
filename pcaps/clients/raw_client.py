#!/usr/bin/env python3
"""Raw-socket SMTP client of pcaps/record.sh, for exact control of the bytes.

usage: raw_client.py SCENARIO --host H --port P [--log FILE] [--tag T]

Used for CHUNKING (RFC 3030), which smtplib lacks.  Every write is one
sendall() of exactly the bytes shown, so chunk boundaries fall where the
scenario puts them (between CR and LF, in the middle of a line); the capture
may still merge writes into one segment.  BDAT content is never dot-stuffed,
so lines "." and ".." inside it are content.  Fails if the server does not
advertise CHUNKING or answers anything unexpected.
"""
import argparse
import os
import socket
import sys

import common as c


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=30)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def reply(self):
        """One (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                more = self.s.recv(65536)
                if not more:
                    sys.exit("raw_client: server closed the connection")
                self.buf += more
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), lines

    def expect(self, want):
        code, lines = self.reply()
        if code != want:
            sys.exit("raw_client: expected %d, got %r" % (want, lines))
        return code


def bdat_txn(conn, log, t, chunks, lower=False, pipelined=False):
    """One transaction carried by BDAT chunks; the last chunk gets LAST."""
    mail = b"mail from:<%s>\r\n" if lower else b"MAIL FROM:<%s>\r\n"
    rcpt = b"rcpt to:<%s>\r\n" if lower else b"RCPT TO:<%s>\r\n"
    bdat = b"bdat" if lower else b"BDAT"
    cmds = [mail % t["mail_from"].encode()] + [rcpt % r.encode() for r in t["rcpt_to"]]
    for i, ch in enumerate(chunks):
        last = b" LAST" if i == len(chunks) - 1 else b""
        cmds.append(b"%s %d%s\r\n" % (bdat, len(ch), last) + ch)
    if pipelined:  # RFC 3030 allows BDAT in a pipelined group
        conn.send(b"".join(cmds))
        codes = [conn.reply()[0] for _ in cmds]
    else:
        codes = []
        for cmd in cmds:
            conn.send(cmd)
            codes.append(conn.reply()[0])
    if any(code != 250 for code in codes):
        sys.exit("raw_client: unexpected replies %r" % codes)
    t["mode"] = "BDAT"
    t["final_reply_code"] = codes[-1]
    t["status"] = "accepted"
    t["bdat_chunk_sizes"] = [len(ch) for ch in chunks]
    t.update(c.message_record(b"".join(chunks), log))
    return t


def sc_bdat(conn, log, tag):
    body = (
        "BDAT content is not dot-stuffed: the next lines go over the wire as is.\r\n"
        ".\r\n"
        "..\r\n"
        ".leading dot\r\n"
        "A line that is split across two chunks in the middle of a word.\r\n"
        "Last line, before a CR/LF pair split between chunks.\r\n"
        "End.\r\n"
    )
    m = (c.headers(tag + "-1", "BDAT chunks", to=("alice", "bob")) + "\r\n" + body).encode()
    mid = m.index(b"middle of a word") + len(b"middle of a w")
    cr = m.index(b"between chunks.\r\n") + len(b"between chunks.\r")
    chunks = [m[:40], m[40:mid], m[mid:cr], m[cr:cr + 1], m[cr + 1:]]
    assert chunks[2].endswith(b"\r") and chunks[3] == b"\n"
    t1 = c.new_txn(c.addr("sender"))
    t1["rcpt_to"] = [c.addr("alice"), c.addr("bob")]
    bdat_txn(conn, log, t1, chunks)
    # second transaction: lower-case verbs, whole message in one chunk, then
    # BDAT 0 LAST; the content does not end in CRLF; all of it pipelined
    m2 = (c.headers(tag + "-2", "BDAT 0 LAST") + "\r\nNo CRLF at the end of this content.").encode()
    t2 = c.new_txn(c.addr("sender"))
    t2["rcpt_to"] = [c.addr("carol")]
    bdat_txn(conn, log, t2, [m2, b""], lower=True, pipelined=True)
    return [t1, t2]


def sc_bdat_simple(conn, log, tag):
    m = (c.headers(tag + "-1", "one BDAT LAST chunk") + "\r\nA single BDAT chunk.\r\n").encode()
    t = c.new_txn(c.addr("sender"))
    t["rcpt_to"] = [c.addr("alice")]
    return [bdat_txn(conn, log, t, [m])]


SCENARIOS = {"bdat": sc_bdat, "bdat-simple": sc_bdat_simple}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--log", default=os.environ.get("SMTPTAP_SESSION_LOG"))
    ap.add_argument("--tag", default=None)
    a = ap.parse_args()
    if not a.log:
        ap.error("--log FILE or SMTPTAP_SESSION_LOG is required")
    conn = Conn(a.host, a.port)
    local = conn.s.getsockname()
    conn.expect(220)
    conn.send(b"EHLO %s\r\n" % c.CLIENT_NAME.encode())
    code, lines = conn.reply()
    if code != 250 or not any(l[4:].upper() == b"CHUNKING" for l in lines):
        sys.exit("raw_client: no CHUNKING in %r" % lines)
    txns = SCENARIOS[a.scenario](conn, a.log, a.tag or a.scenario)
    conn.send(b"QUIT\r\n")
    conn.expect(221)
    conn.s.close()
    c.write_session(a.log, {
        "client_library": "python raw socket",
        "client": c.endpoint(local[0], local[1]),
        "server": c.endpoint(a.host, a.port),
        "server_port": a.port,
        "ip_version": 6 if ":" in a.host else 4,
        "pipelining": a.scenario == "bdat",
        "starttls": False,
        "auth": None,
        "transactions": txns,
    })


if __name__ == "__main__":
    main()
