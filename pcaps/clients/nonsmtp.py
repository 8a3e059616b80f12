#!/usr/bin/env python3
"""Non-SMTP traffic for pcaps/record.sh: our own server and client on loopback.

usage: nonsmtp.py --host H --port P [--log FILE]

Two TCP sessions to a server this script runs itself on H:P (127.0.0.1:25 is
Postfix's, so the recording uses another port and encap.py --map-port can
move it to 25 afterwards):
  http    an HTTP/1.1 GET and its response;
  random  seeded pseudo-random bytes both ways (same bytes every recording).
Each is logged with kind, byte counts and sha256 of both directions.
"""
import argparse
import os
import random
import socket
import threading

import common as c

HTTP_REQ = (b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: smtptap-recorder\r\n"
            b"Accept: */*\r\nConnection: close\r\n\r\n")
HTTP_BODY = b"<html><body>not SMTP</body></html>\n"
HTTP_RESP = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
             b"Connection: close\r\n\r\n" % len(HTTP_BODY)) + HTTP_BODY


def rand_bytes(seed, n):
    return random.Random(seed).randbytes(n)


SESSIONS = [
    ("http", HTTP_REQ, HTTP_RESP),
    ("random", rand_bytes(2525, 3000), rand_bytes(8025, 1000)),
]


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        more = sock.recv(n - len(buf))
        if not more:
            break
        buf += more
    return buf


def serve(lsock):
    for _, req, resp in SESSIONS:
        conn, _ = lsock.accept()
        with conn:
            got = recv_exact(conn, len(req))
            assert got == req, "nonsmtp: server got other bytes"
            conn.sendall(resp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8025)
    ap.add_argument("--log", default=os.environ.get("SMTPTAP_SESSION_LOG"))
    a = ap.parse_args()
    if not a.log:
        ap.error("--log FILE or SMTPTAP_SESSION_LOG is required")
    lsock = socket.socket(c.family(a.host), socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((a.host, a.port))
    lsock.listen(4)
    th = threading.Thread(target=serve, args=(lsock,), daemon=True)
    th.start()
    for kind, req, resp in SESSIONS:
        s = socket.create_connection((a.host, a.port), timeout=30)
        local = s.getsockname()
        s.sendall(req)
        got = recv_exact(s, len(resp))
        s.close()
        assert got == resp, "nonsmtp: client got other bytes"
        c.write_session(a.log, {
            "kind": kind,
            "client": c.endpoint(local[0], local[1]),
            "server": c.endpoint(a.host, a.port),
            "server_port": a.port,
            "ip_version": 6 if ":" in a.host else 4,
            "client_bytes": len(req),
            "client_sha256": c.sha256(req),
            "server_bytes": len(resp),
            "server_sha256": c.sha256(resp),
        })
    th.join(10)
    lsock.close()


if __name__ == "__main__":
    main()
