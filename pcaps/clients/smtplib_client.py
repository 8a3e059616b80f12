#!/usr/bin/env python3
"""smtplib client of pcaps/record.sh: one scenario = one SMTP session.

usage: smtplib_client.py SCENARIO --host H --port P [--log FILE] [--tag T]

The SMTP subclass below logs every byte smtplib writes and every reply code
it gets, so the transaction list in the session log is what really happened
on the wire, not what the scenario intended.  The message content of each
DATA is taken twice -- unstuffed from the logged bytes and predicted from
smtplib's documented transformations (str: lone CR/LF -> CRLF; CRLF appended
if missing) -- and the client fails if the two differ.
"""
import argparse
import os
import re
import smtplib
import sys

import common as c

CRLF = b"\r\n"


def predict(msg):
    if isinstance(msg, str):
        msg = re.sub(r"(?:\r\n|\n|\r(?!\n))", "\r\n", msg).encode("ascii")
    if msg[-2:] != CRLF:
        msg += CRLF
    return msg


class RecordingSMTP(smtplib.SMTP):
    def __init__(self, log, **kw):
        self.wire = bytearray()
        self.txns = []
        self.cur = None
        self.log = log
        super().__init__(**kw)

    def send(self, s):
        if isinstance(s, str):
            s = s.encode(self.command_encoding)
        self.wire += s
        super().send(s)

    def _close_txn(self, status):
        if self.cur is not None:
            self.cur["status"] = status
            self.cur = None

    def mail(self, sender, options=()):
        self._close_txn("aborted")
        code, resp = super().mail(sender, options)
        if code == 250:
            self.cur = c.new_txn(sender)
            self.txns.append(self.cur)
        return code, resp

    def rcpt(self, recip, options=()):
        code, resp = super().rcpt(recip, options)
        key = "rcpt_to" if code in (250, 251) else "rcpt_rejected"
        self.cur[key].append(recip)
        return code, resp

    def data(self, msg):
        t = self.cur
        t["mode"] = "DATA"
        start = len(self.wire)
        try:
            code, resp = super().data(msg)
        except smtplib.SMTPDataError as e:  # DATA itself refused: no content
            t["final_reply_code"] = e.smtp_code
            self._close_txn("rejected")
            raise
        sent = bytes(self.wire[start:])
        assert sent.startswith(b"data\r\n") and sent.endswith(b"\r\n.\r\n"), sent[:40]
        content = c.unstuff(sent[len(b"data\r\n") : -len(b".\r\n")])
        if content != predict(msg):
            sys.exit("smtplib_client: sent content differs from prediction")
        t.update(c.message_record(content, self.log))
        t["final_reply_code"] = code
        self._close_txn("accepted" if 200 <= code < 300 else "rejected")
        return code, resp

    def rset(self):
        self._close_txn("aborted")
        return super().rset()

    def quit(self):
        self._close_txn("aborted")
        return super().quit()


def msg(tag, n, subject, body, to=("alice",), extra=()):
    return c.headers("%s-%d" % (tag, n), subject, to=to, extra=extra) + "\r\n" + body


def sc_simple(s, tag):
    s.sendmail(c.addr("sender"), [c.addr("alice")],
               msg(tag, 1, "smtplib simple message", "One transaction sent by smtplib.\r\n").encode())


def sc_port2525(s, tag):
    s.sendmail(c.addr("sender"), [c.addr("alice"), c.addr("bob")],
               msg(tag, 1, "SMTP on port 2525", "Same SMTP, a port that is not 25 or 587.\r\n",
                   to=("alice", "bob")).encode())


def sc_multi(s, tag):
    # 4 transactions: plain, two recipients, 8BITMIME UTF-8 body, str with bare LF
    s.sendmail(c.addr("sender"), [c.addr("alice")],
               msg(tag, 1, "multi 1 of 4", "First transaction.\r\n").encode())
    s.sendmail(c.addr("sender"), [c.addr("bob"), c.addr("carol")],
               msg(tag, 2, "multi 2 of 4", "Second transaction, two recipients.\r\n",
                   to=("bob", "carol")).encode())
    body = "Third transaction, 8bit UTF-8 body: caf\u00e9, \u00fcber, \u65e5\u672c.\r\n"
    s.sendmail(c.addr("sender"), [c.addr("alice")],
               msg(tag, 3, "multi 3 of 4", body,
                   extra=("MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                          "Content-Transfer-Encoding: 8bit")).encode("utf-8"),
               mail_options=["BODY=8BITMIME"])
    # a str with bare LF line ends and no final newline: smtplib fixes both
    m = msg(tag, 4, "multi 4 of 4", "Fourth transaction,\nbare LF line ends\nno final newline")
    s.sendmail(c.addr("sender"), [c.addr("dave")], m.replace("\r\n", "\n"))


def sc_rset(s, tag):
    s.mail(c.addr("sender"))
    s.rcpt(c.addr("alice"))
    s.rset()  # aborted by RSET
    s.sendmail(c.addr("sender"), [c.addr("bob")],
               msg(tag, 2, "after RSET", "Sent after an RSET aborted the first transaction.\r\n",
                   to=("bob",)).encode())
    s.mail(c.addr("sender"))
    s.rcpt(c.addr("carol"))
    # aborted by QUIT (main() quits)


def sc_rcpt_rejected(s, tag):
    # one recipient refused (550 from check_recipient_access), message accepted for the others
    s.sendmail(c.addr("sender"), [c.addr("alice"), c.REJECTED_RCPT, c.addr("bob")],
               msg(tag, 1, "one recipient rejected", "alice and bob get this, blocked does not.\r\n",
                   to=("alice", "blocked", "bob")).encode())
    # the only recipient refused: DATA gets 554, no content is sent
    s.mail(c.addr("sender"))
    s.rcpt(c.REJECTED_RCPT)
    try:
        s.data(b"never sent\r\n")
    except smtplib.SMTPDataError:
        pass
    s.rset()


def sc_data_rejected(s, tag):
    m = msg(tag, 1, "refuse me %s please" % c.REJECT_SUBJECT_MARKER,
            "header_checks rejects this after the final dot.\r\n")
    try:
        s.sendmail(c.addr("sender"), [c.addr("alice")], m.encode())
    except smtplib.SMTPDataError:
        pass
    s.sendmail(c.addr("sender"), [c.addr("alice")],
               msg(tag, 2, "accepted after a rejection", "The session goes on after the 550.\r\n").encode())


def sc_dot_stuffing(s, tag):
    # str with bare LF: smtplib converts to CRLF, stuffs leading dots, appends CRLF
    body = "\n".join([
        "first line",
        ".one leading dot",
        "..two leading dots",
        ".",
        "line after a lone dot",
        "...three dots",
        ". dot space",
        ".\t.dot tab",
        "",
        ".",  # last line is a lone dot, no final newline
    ])
    m = msg(tag, 1, "dot stuffing", "").replace("\r\n", "\n") + body
    s.sendmail(c.addr("sender"), [c.addr("alice")], m)
    # bytes whose very first line starts with a dot (no header block at all)
    s.sendmail(c.addr("sender"), [c.addr("bob")],
               b".first line of the content starts with a dot\r\n..and the second with two\r\n.\r\n")


SCENARIOS = {
    "simple": sc_simple,
    "port2525": sc_port2525,
    "multi": sc_multi,
    "rset": sc_rset,
    "rcpt-rejected": sc_rcpt_rejected,
    "data-rejected": sc_data_rejected,
    "dot-stuffing": sc_dot_stuffing,
}


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
    tag = a.tag or a.scenario
    s = RecordingSMTP(a.log, local_hostname=c.CLIENT_NAME, timeout=30)
    s.connect(a.host, a.port)
    s.ehlo()
    local = s.sock.getsockname()
    SCENARIOS[a.scenario](s, tag)
    s.quit()
    c.write_session(a.log, {
        "client_library": "python smtplib %d.%d" % sys.version_info[:2],
        "client": c.endpoint(local[0], local[1]),
        "server": c.endpoint(a.host, a.port),
        "server_port": a.port,
        "ip_version": 6 if ":" in a.host else 4,
        "pipelining": False,
        "starttls": False,
        "auth": None,
        "transactions": s.txns,
    })


if __name__ == "__main__":
    main()
