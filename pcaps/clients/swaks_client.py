#!/usr/bin/env python3
"""Run one swaks session for pcaps/record.sh and log what it sent.

usage: swaks_client.py [--log FILE] --server H --port P --tag T --to a,b
                       [--subject S] [--body TEXT] [--attach FILE --attach-name N]
                       [--pipeline] [--tls] [--auth PLAIN|LOGIN]

swaks builds the message (with --attach if asked) under --dump-mail first;
its process-id boundary is replaced by a fixed one and fixed Date and
Message-Id headers are used, so the message bytes do not change from one
recording to the next.  The real session then sends that file with
--data @FILE, so the bytes are known.  What swaks does to --data before
sending (header re-folding, \\n and %TOKEN% replacement, dot-stuffing, CRLF
fixing, appending CRLF.CRLF) is re-done here to predict the content on the
wire; manifest.py checks the prediction against the capture.
"""
import argparse
import os
import re
import subprocess
import sys

import common as c


def swaks_version():
    out = subprocess.run(["swaks", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"swaks version (\S+)", out)
    return "swaks " + (m.group(1) if m else "?")


def build_message(a, path):
    cmd = ["swaks", "--dump-mail", "--from", c.addr("sender"), "--to", a.to,
           "--header", "Subject: " + a.subject,
           "--header", "Date: " + c.DATE,
           "--header", "Message-Id: <%s@%s>" % (a.tag, c.DOMAIN),
           "--add-header", "X-Smtptap-Tag: " + a.tag,
           "--body", a.body]
    if a.attach:
        cmd += ["--attach-name", a.attach_name or "attachment.bin",
                "--attach-type", a.attach_type, "--attach", "@" + a.attach]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    out = re.sub(rb"_MIME_BOUNDARY_(\d{3})_\d+", rb"_MIME_BOUNDARY_\1_smtptap", out)
    out = out.rstrip(b"\r\n").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with open(path, "wb") as f:
        f.write(out)  # no final CRLF: swaks adds CRLF.CRLF itself
    return out


def predict_wire(data):
    """Port of swaks 20201014's --data processing (sub get_data...)."""
    s = data.decode("latin-1")
    m = re.match(r"(.*?)\r?\n\r?\n", s, re.S)
    header, s = (m.group(1), s[m.end():]) if m else (s, "")
    s = "".join(l + "\r\n" for l in re.split(r"\r?\n", header)) + "\r\n" + s
    s = re.sub(r"\\n|%NEWLINE%", "\r\n", s)
    if re.search(r"%(FROM_ADDRESS|TO_ADDRESS|MESSAGEID|SWAKS_VERSION|DATE)%", s):
        sys.exit("swaks_client: message contains a swaks token")
    s = re.sub(r"\AFrom [^\n]*\n", "", s)
    s = re.sub(r"\r?\n\.\r?\n?\Z", "", s, flags=re.S)
    s = s.replace("\n.", "\n..")
    s = re.sub(r"([^\r])\n", "\\1\r\n", s)
    s = re.sub(r"([^\r])\n", "\\1\r\n", s)
    return (s + "\r\n." + "\r\n").encode("latin-1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", default=os.environ.get("SMTPTAP_SESSION_LOG"))
    ap.add_argument("--server", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--to", default=c.addr("alice"))
    ap.add_argument("--subject", default="swaks message")
    ap.add_argument("--body", default="Sent by swaks.")
    ap.add_argument("--attach")
    ap.add_argument("--attach-name")
    ap.add_argument("--attach-type", default="application/octet-stream")
    ap.add_argument("--pipeline", action="store_true")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--auth", choices=["PLAIN", "LOGIN"])
    a = ap.parse_args()
    if not a.log:
        ap.error("--log FILE or SMTPTAP_SESSION_LOG is required")

    msgfile = a.log + "." + a.tag + ".data"
    data = build_message(a, msgfile)
    wire = predict_wire(data)
    content = c.unstuff(wire[: -len(b".\r\n")])

    cmd = ["swaks", "--server", a.server, "--port", str(a.port), "--ehlo", c.CLIENT_NAME,
           "--from", c.addr("sender"), "--to", a.to, "--data", "@" + msgfile,
           "--timeout", "60"]
    if ":" in a.server:
        cmd.append("-6")
    if a.pipeline:
        cmd.append("--pipeline")
    if a.tls:
        cmd.append("--tls")
    if a.auth:
        cmd += ["--auth", a.auth, "--auth-user", c.AUTH_USER, "--auth-password", c.AUTH_PASSWORD]
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    with open(a.log + "." + a.tag + ".swaks.log", "w") as f:
        f.write(" ".join(cmd) + "\n" + r.stdout + r.stderr)
    if r.returncode != 0:
        sys.exit("swaks_client: swaks failed (%d), see %s.%s.swaks.log" % (r.returncode, a.log, a.tag))
    if a.pipeline and "PIPELINING" not in r.stdout:
        sys.exit("swaks_client: server did not offer PIPELINING")
    t = c.new_txn(c.addr("sender"))
    t["rcpt_to"] = a.to.split(",")
    t.update(mode="DATA", status="accepted", final_reply_code=250)
    t.update(c.message_record(content, a.log))
    session = {
        "client_library": swaks_version(),
        "client": None,  # swaks does not say; manifest.py takes it from the capture
        "server": c.endpoint(a.server, a.port),
        "server_port": a.port,
        "ip_version": 6 if ":" in a.server else 4,
        "pipelining": a.pipeline,
        "starttls": a.tls,
        "auth": {"mechanism": a.auth, "user": c.AUTH_USER} if a.auth else None,
        "transactions": [t],
    }
    if a.tls:  # everything after STARTTLS is encrypted: invisible to a passive tap
        session["transactions"] = []
        session["encrypted_transactions"] = [t]
    c.write_session(a.log, session)


if __name__ == "__main__":
    main()
