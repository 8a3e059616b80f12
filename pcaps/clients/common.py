"""Shared helpers for the recording clients of pcaps/record.sh.

Every client appends one JSON object per TCP session it made to the session
log named by --log (JSON lines).  The log is the clients' own account of what
they sent: manifest.py later checks it against an independent parse of the
capture (tshark) and against what Postfix stored, and fails on any mismatch.
Message bytes are also written to <log dir>/msgs/<sha256>.eml so the
Maildir cross-check can find them.
"""
import hashlib
import json
import os
import socket

DOMAIN = "smtptap.test"
CLIENT_NAME = "client.smtptap.test"
DATE = "Thu, 01 Jan 2026 00:00:00 +0000"
AUTH_USER = "tapuser@smtptap.test"
AUTH_PASSWORD = "s3cr3t-never-logged"
REJECTED_RCPT = "blocked@smtptap.test"
REJECT_SUBJECT_MARKER = "SMTPTAP-REJECT-DATA"


def addr(local):
    return "%s@%s" % (local, DOMAIN)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def headers(msgid, subject, frm="sender", to=("alice",), extra=()):
    """CRLF header block (without the empty line) of a deterministic message."""
    lines = [
        "From: %s" % addr(frm),
        "To: %s" % ", ".join(addr(t) for t in to),
        "Subject: %s" % subject,
        "Date: %s" % DATE,
        "Message-Id: <%s@%s>" % (msgid, DOMAIN),
    ]
    lines.extend(extra)
    return "".join(l + "\r\n" for l in lines)


def unstuff(stuffed):
    """Dot-unstuff DATA content (terminating '.' line already removed)."""
    out = []
    for line in stuffed.split(b"\r\n"):
        out.append(line[1:] if line.startswith(b".") else line)
    return b"\r\n".join(out)


def message_record(content, log_path):
    """size/sha256 of a message and a copy of it for the Maildir check."""
    digest = sha256(content)
    d = os.path.join(os.path.dirname(os.path.abspath(log_path)), "msgs")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, digest + ".eml"), "wb") as f:
        f.write(content)
    return {"size": len(content), "sha256": digest}


def new_txn(mail_from):
    return {
        "mail_from": mail_from,
        "rcpt_to": [],
        "rcpt_rejected": [],
        "status": None,
        "mode": None,
        "final_reply_code": None,
        "size": None,
        "sha256": None,
    }


def write_session(log_path, session):
    with open(log_path, "a") as f:
        f.write(json.dumps(session, sort_keys=True) + "\n")


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def endpoint(host, port):
    return ("[%s]:%d" % (host, port)) if ":" in host else ("%s:%d" % (host, port))
