#!/usr/bin/env python3
"""MIME clients of pcaps/record-mime.sh, and its manifest.

usage: mime_client.py builder|corpus FILE...|big|swaks|mutt [--host H] [--port P] [--tag T]
       mime_client.py mutt-sendmail -- RCPT...      (mutt's $sendmail; reads the message on stdin)
       mime_client.py manifest --work DIR --pcaps DIR --maildir DIR --root DIR --out FILE

Every session is logged like the other clients do (common.py, JSON lines in
$SMTPTAP_SESSION_LOG), each transaction with a "source": the tests/mime file
or the builder that produced the message.  smtplib sessions go through
smtplib_client.RecordingSMTP, which logs the bytes written and checks the
content against smtplib's documented transformations.  swaks sessions reuse
swaks_client's prediction of swaks' --data processing.  mutt builds its
message itself (random boundary, Message-ID and Date): once through its
$sendmail interface (this script, which sends the message with smtplib,
line ends made CRLF as a sendmail would), and once with its own SMTP client
(smtp_url), whose content is taken from what Postfix stored in the Maildir
(minus the headers Postfix prepends) -- the manifest then checks it against
the capture, so two independent accounts must agree.

The manifest step reuses manifest.py's capture reassembly, SMTP parser and
Maildir check, with the list of files below.
"""
import argparse
import glob
import json
import os
import random
import re
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage

import common as c
import smtplib_client as sc
import swaks_client as sw

HERE = os.path.dirname(os.path.abspath(__file__))
MUTT_MARKER = "SMTPTAP-MUTT-SMTP"
BIG_SIZE = 20_000_000

FILES = {
    "mime-builder.pcap": "smtplib, one session, 5 messages built by Python's email package "
                         "(EmailMessage.add_attachment/add_related/add_alternative): nested "
                         "multiparts, non-ASCII filenames in RFC 2231 (continuations), a forwarded "
                         "message/rfc822 with its own attachments, quoted-printable text, 8bit UTF-8 "
                         "text with BODY=8BITMIME",
    "mime-swaks.pcap": "swaks --attach: text body + --attach-body HTML alternative, four attachments "
                       "(text/plain, application/octet-stream, application/pdf, one without a name)",
    "mime-mutt.pcap": "mutt 2.2 (Debian) batch mode, message built by mutt with -a attachments "
                      "(non-ASCII filename, RFC 2231 iso-8859-1; 8bit iso-8859-1 body; RFC 2047 "
                      "subject): session 1 via mutt's $sendmail pipe and smtplib, session 2 mutt's own "
                      "SMTP client (smtp_url)",
    "mime-corpus.pcap": "smtplib, one session, tests/mime/*.eml messages sent as raw bytes",
    "mime-big.pcap.gz": "smtplib, 20,000,000-byte random attachment in base64 (~27 MB message), lo MTU "
                        "1500 and TSO/GSO off, gzip -9 -n of the recording",
}
DERIVED = {"mime-big.pcap.gz": ("mime-big.pcap", "gzip -9 -n")}
MTU = {"mime-big.pcap": 1500}

# corpus files sent in mime-corpus.pcap: CRLF throughout, no NUL, lines < 998
CORPUS = ["01-nested-4-levels.eml", "03-forwarded-rfc822-with-attachments.eml",
          "04-rfc822-base64.eml", "05-rfc2231-continuations-utf8.eml", "07-rfc2047-filename-b.eml",
          "12-subject-gb2312.eml", "15-qp-soft-breaks.eml", "17-base64-odd-lines.eml",
          "18-8bit-text.eml", "23-missing-final-boundary.eml", "25-boundary-prefixes.eml",
          "29-uuencode.eml", "35-filename-nul.eml", "38-multipart-digest.eml",
          "39-message-global.eml"]


def serialise(msg, tag):
    """CRLF bytes with fixed boundaries (the email package draws random ones)."""
    for i, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary("=_smtptap_%s_%d" % (tag, i))
    return msg.as_bytes(policy=policy.SMTP)


def base_msg(tag, n, subject, to=("alice",), cc=()):
    m = EmailMessage()
    m["From"] = "Builder Sender <%s>" % c.addr("sender")
    m["To"] = ", ".join(c.addr(t) for t in to)
    if cc:
        m["Cc"] = ", ".join(c.addr(x) for x in cc)
    m["Subject"] = subject
    m["Date"] = c.DATE
    m["Message-ID"] = "<%s-%d@%s>" % (tag, n, c.DOMAIN)
    return m


def built_messages(tag):
    rnd = random.Random(777)
    png, pdf, bin_ = rnd.randbytes(500), b"%PDF-1.4\n" + rnd.randbytes(2000), rnd.randbytes(3000)
    out = []
    # 1: mixed[alternative[plain, related[html, png]], pdf, non-ASCII names, text attachment]
    m = base_msg(tag, 1, "Gr\u00fc\u00dfe aus dem Builder \u2014 \u65e5\u672c", to=("alice", "bob"),
                 cc=("carol",))
    m.set_content("Plain body built by EmailMessage.\nSecond line.\n")
    m.add_alternative('<html><body><p>HTML body</p><img src="cid:logo@smtptap.test"></body></html>\n',
                      subtype="html")
    m.get_payload()[1].add_related(png, "image", "png", cid="<logo@smtptap.test>")
    m.add_attachment(pdf, "application", "pdf", filename="report.pdf")
    m.add_attachment(bin_[:1000], "application", "octet-stream",
                     filename="R\u00e9sum\u00e9 \u2013 \u5c65\u6b74\u66f8.bin")
    m.add_attachment(bin_[1000:1100], "application", "octet-stream",
                     filename="\u975e\u5e38\u306b\u9577\u3044\u30d5\u30a1\u30a4\u30eb\u540d" * 4 + ".dat")
    m.add_attachment("attached text\nline 2\n", subtype="plain", filename="notes.txt")
    out.append(("builder:nested", m, []))
    # 2: forwarded message with its own attachments
    inner = base_msg(tag, 20, "the forwarded original", to=("dave",))
    inner.replace_header("From", "Original Author <author@example.org>")
    inner.set_content("The original body.\n")
    inner.add_attachment(bin_[1100:1400], "application", "zip", filename="inner.zip")
    inner.add_attachment("inner text attachment\n", subtype="plain", filename="inner.txt")
    m = base_msg(tag, 2, "Fwd: the forwarded original")
    m.set_content("Forwarding a message with attachments.\n")
    m.add_attachment(inner)
    m.add_attachment(bin_[1400:1500], "application", "octet-stream", filename="after.bin")
    out.append(("builder:forward", m, []))
    # 3: quoted-printable text, long lines and non-ASCII
    m = base_msg(tag, 3, "quoted-printable body")
    m.set_content("Caf\u00e9 cr\u00e8me = 1 \u20ac. " * 12 + "\nshort line\n" + "x" * 200 + "\n",
                  cte="quoted-printable")
    out.append(("builder:quoted-printable", m, []))
    # 4: 8bit UTF-8 text, sent with BODY=8BITMIME
    m = base_msg(tag, 4, "8bit UTF-8 \u00fcber")
    m.set_content("8bit UTF-8 text: caf\u00e9, \u00fcber, \u65e5\u672c\u8a9e, \U0001F4CE\n", cte="8bit")
    m.add_attachment("\u00e9t\u00e9\n", subtype="plain", cte="8bit", filename="\u00e9t\u00e9.txt")
    out.append(("builder:8bit-utf8", m, ["BODY=8BITMIME"]))
    # 5: html only body + base64 text attachment in another charset
    m = base_msg(tag, 5, "html body, koi8-r text attachment")
    m.set_content("<p>only html</p>\n", subtype="html")
    m.add_attachment("\u041f\u0440\u0438\u0432\u0435\u0442\n".encode("koi8-r"), "text", "plain",
                     filename="privet.txt", params={"charset": "koi8-r"})
    out.append(("builder:html-only", m, []))
    return [(src, serialise(m, "%s%d" % (tag, i)), opts) for i, (src, m, opts) in enumerate(out, 1)]


def session(a, body):
    """Run body(s) in one RecordingSMTP session and log it."""
    s = sc.RecordingSMTP(a.log, local_hostname=c.CLIENT_NAME, timeout=120)
    s.connect(a.host, a.port)
    s.ehlo()
    local = s.sock.getsockname()
    body(s)
    s.quit()
    c.write_session(a.log, {
        "client_library": "python smtplib %d.%d" % sys.version_info[:2],
        "client": c.endpoint(local[0], local[1]), "server": c.endpoint(a.host, a.port),
        "server_port": a.port, "ip_version": 6 if ":" in a.host else 4, "pipelining": False,
        "starttls": False, "auth": None, "transactions": s.txns})


def send(s, data, source, rcpts=("alice",), opts=()):
    s.sendmail(c.addr("sender"), [c.addr(r) for r in rcpts], data, mail_options=list(opts))
    s.txns[-1]["source"] = source


def sc_builder(a):
    def body(s):
        for src, data, opts in built_messages(a.tag):
            send(s, data, src, opts=opts)
    session(a, body)


def sc_corpus(a):
    def body(s):
        for path in a.files:
            with open(path, "rb") as f:
                data = f.read()
            if b"\0" in data or re.search(rb"(?<!\r)\n", data) or not data.endswith(b"\r\n"):
                sys.exit("mime_client: %s is not CRLF-clean, not sent" % path)
            send(s, data, "tests/mime/" + os.path.basename(path), opts=["BODY=8BITMIME"])
    session(a, body)


def sc_big(a):
    m = base_msg(a.tag, 1, "big: %d-byte random attachment" % BIG_SIZE)
    m.set_content("A %d-byte random binary attachment follows, base64.\n" % BIG_SIZE)
    m.add_attachment(random.Random(20260).randbytes(BIG_SIZE), "application", "octet-stream",
                     filename="random-20MB.bin")
    data = serialise(m, a.tag)
    session(a, lambda s: send(s, data, "builder:big"))


def sc_swaks(a):
    work = os.path.dirname(os.path.abspath(a.log))
    files = {"notes.txt": b"swaks text attachment\nsecond line\n" * 3,
             "blob.bin": random.Random(99).randbytes(4096),
             "report 2025.pdf": b"%PDF-1.4\n" + random.Random(98).randbytes(1500),
             "noname.dat": random.Random(97).randbytes(300)}
    for name, data in files.items():
        with open(os.path.join(work, "swaks-" + name), "wb") as f:
            f.write(data)
    p = lambda n: "@" + os.path.join(work, "swaks-" + n)
    to = "%s,%s" % (c.addr("alice"), c.addr("bob"))
    cmd = ["swaks", "--dump-mail", "--from", c.addr("sender"), "--to", to,
           "--header", "Subject: swaks --attach, four attachments",
           "--header", "Date: " + c.DATE, "--header", "Message-Id: <%s@%s>" % (a.tag, c.DOMAIN),
           "--body", "Plain body from swaks.",
           "--attach-type", "text/html", "--attach-body", "<p>HTML alternative from swaks</p>",
           "--attach-type", "text/plain", "--attach-name", "notes.txt", "--attach", p("notes.txt"),
           "--attach-name", "blob.bin", "--attach", p("blob.bin"),
           "--attach-type", "application/pdf", "--attach-name", "report 2025.pdf",
           "--attach", p("report 2025.pdf"),
           "--attach-name", "--attach", p("noname.dat")]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    out = re.sub(rb"_MIME_BOUNDARY_(\d{3})_\d+", rb"_MIME_BOUNDARY_\1_smtptap", out)
    out = out.rstrip(b"\r\n").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    msgfile = a.log + "." + a.tag + ".data"
    with open(msgfile, "wb") as f:
        f.write(out)
    content = c.unstuff(sw.predict_wire(out)[: -len(b".\r\n")])
    run = ["swaks", "--server", a.host, "--port", str(a.port), "--ehlo", c.CLIENT_NAME,
           "--from", c.addr("sender"), "--to", to, "--data", "@" + msgfile, "--timeout", "60"]
    r = subprocess.run(run, capture_output=True, text=True, errors="replace")
    with open(a.log + "." + a.tag + ".swaks.log", "w") as f:
        f.write(" ".join(run) + "\n" + r.stdout + r.stderr)
    if r.returncode != 0:
        sys.exit("mime_client: swaks failed")
    t = c.new_txn(c.addr("sender"))
    t.update(rcpt_to=to.split(","), mode="DATA", status="accepted", final_reply_code=250,
             source="swaks --attach")
    t.update(c.message_record(content, a.log))
    c.write_session(a.log, {
        "client_library": sw.swaks_version(), "client": None,
        "server": c.endpoint(a.host, a.port), "server_port": a.port, "ip_version": 4,
        "pipelining": False, "starttls": False, "auth": None, "transactions": [t]})


def mutt_version():
    out = subprocess.run(["mutt", "-v"], capture_output=True, text=True).stdout
    m = re.match(r"Mutt (\S+)", out)
    return "mutt " + (m.group(1) if m else "?")


def mutt_files(work):
    d = os.path.join(work, "mutt")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "Gr\u00fc\u00dfe r\u00e9sum\u00e9.txt"), "w") as f:
        f.write("attached by mutt, non-ASCII file name\n")
    with open(os.path.join(d, "data.bin"), "wb") as f:
        f.write(random.Random(55).randbytes(3000))
    with open(os.path.join(d, "page.html"), "w") as f:
        f.write("<html><body><p>an HTML file attached by mutt</p></body></html>\n")
    with open(os.path.join(d, "body.txt"), "w") as f:
        f.write("Body written by mutt in batch mode: caf\u00e9, na\u00efve.\nSecond line.\n")
    return d


def run_mutt(d, subject, extra):
    cmd = ["mutt", "-F", "/dev/null", "-n",
           "-e", "set from=\"Mutt User <%s>\"" % c.addr("sender"), "-e", "set use_from=yes",
           "-e", "set envelope_from_address=%s" % c.addr("sender"), "-e", "set use_envelope_from=yes",
           "-e", "set charset=utf-8", "-e", "set send_charset=us-ascii:iso-8859-1:utf-8",
           "-e", "set hostname=%s" % c.DOMAIN, "-e", "set record=", "-e", "set copy=no"]
    cmd += extra
    cmd += ["-s", subject, "-c", c.addr("carol"), "-a", os.path.join(d, "data.bin"),
            os.path.join(d, "Gr\u00fc\u00dfe r\u00e9sum\u00e9.txt"), os.path.join(d, "page.html"),
            "--", c.addr("alice")]
    env = dict(os.environ, HOME=d, TERM="dumb")
    with open(os.path.join(d, "body.txt"), "rb") as body:
        r = subprocess.run(cmd, stdin=body, capture_output=True, env=env, timeout=120)
    if r.returncode != 0:
        sys.exit("mime_client: mutt failed: %r" % (r.stdout + r.stderr))


def sc_mutt(a):
    work = os.path.dirname(os.path.abspath(a.log))
    d = mutt_files(work)
    me = os.path.abspath(__file__)
    wrapper = os.path.join(d, "sendmail.sh")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec %s %s mutt-sendmail --host %s --port %d \"$@\"\n"
                % (sys.executable, me, a.host, a.port))
    os.chmod(wrapper, 0o755)
    # session 1: mutt's $sendmail interface, smtplib on the wire
    run_mutt(d, "mutt via sendmail: Gr\u00fc\u00dfe", ["-e", "set sendmail=\"%s\"" % wrapper])
    # session 2: mutt's own SMTP client
    run_mutt(d, "mutt via smtp_url: Gr\u00fc\u00dfe %s" % MUTT_MARKER,
             ["-e", "set smtp_url=smtp://%s:%d/" % (a.host, a.port), "-e", "set ssl_starttls=no",
              "-e", "set ssl_force_tls=no"])
    content = maildir_copy(a.maildir, MUTT_MARKER)
    t = c.new_txn(c.addr("sender"))
    t.update(rcpt_to=[c.addr("alice"), c.addr("carol")], mode="DATA", status="accepted",
             final_reply_code=250, source="mutt -a (smtp_url), content from the Maildir")
    t.update(c.message_record(content, a.log))
    c.write_session(a.log, {
        "client_library": mutt_version() + " smtp_url", "client": None,
        "server": c.endpoint(a.host, a.port), "server_port": a.port, "ip_version": 4,
        "pipelining": False, "starttls": False, "auth": None, "transactions": [t]})


def maildir_copy(maildir, marker):
    """The message Postfix delivered whose Subject holds marker, without the
    Return-Path/X-Original-To/Delivered-To/Received lines Postfix put on top,
    line ends back to CRLF."""
    for _ in range(120):
        for path in sorted(glob.glob(os.path.join(maildir, "new", "*"))):
            data = open(path, "rb").read()
            if marker.encode() not in data.split(b"\n\n", 1)[0]:
                continue
            lines = data.split(b"\n")
            i = 0
            while re.match(rb"(?i)(return-path|x-original-to|delivered-to):", lines[i]):
                i += 1
            if not lines[i].lower().startswith(b"received:"):
                sys.exit("mime_client: no Postfix Received line in %s" % path)
            i += 1
            while lines[i][:1] in (b" ", b"\t"):
                i += 1
            return b"\n".join(lines[i:]).replace(b"\n", b"\r\n")
        time.sleep(0.5)
    sys.exit("mime_client: mutt's smtp_url message never reached the Maildir")


def sc_mutt_sendmail(a):
    """mutt's $sendmail: message on stdin (LF line ends), recipients in argv."""
    data = sys.stdin.buffer.read()
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    args = sys.argv[sys.argv.index("mutt-sendmail") + 1:]
    sender = args[args.index("-f") + 1] if "-f" in args else c.addr("sender")
    rcpts = args[args.index("--") + 1:]

    def body(s):
        s.sendmail(sender, rcpts, data)
        s.txns[-1]["source"] = "mutt -a ($sendmail pipe)"
    s_log = a.log
    session(a, body)
    # the client library is mutt + smtplib: rewrite the last line's label
    with open(s_log) as f:
        lines = f.readlines()
    last = json.loads(lines[-1])
    last["client_library"] = mutt_version() + " $sendmail + python smtplib %d.%d" % sys.version_info[:2]
    lines[-1] = json.dumps(last, sort_keys=True) + "\n"
    with open(s_log, "w") as f:
        f.writelines(lines)


def manifest(a):
    import manifest as m
    m.FILES, m.DERIVED, m.MTU, m.PORT_MAP = FILES, DERIVED, MTU, {}
    files = {}
    for name in FILES:
        if not os.path.exists(os.path.join(a.pcaps, name)):
            m.fail("%s: missing" % name)
            continue
        entry = m.check_file(name, a.pcaps, a.work, "")
        if not entry:
            continue
        log = m.load_log(a.work, DERIVED.get(name, (name,))[0])
        for sess, want in zip(entry["sessions"], [s for s in log if "kind" not in s]):
            for t, w in zip(sess["transactions"], want["transactions"]):
                t["source"] = w["source"]
        files[name] = entry
    sources = [DERIVED.get(n, (n,))[0] for n in FILES]
    checked, stored = m.check_maildir(a.maildir, a.work, sources)
    if m.errors:
        sys.exit("mime_client: %d check(s) failed, manifest not written" % len(m.errors))
    out = {
        "format": "smtptap-pcaps-manifest/1",
        "generated_by": "pcaps/record-mime.sh (pcaps/clients/mime_client.py, manifest.py checks)",
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "message_identity": "as pcaps/manifest.json: size and sha256 of the message content as it "
                            "crosses the wire after dot-unstuffing, excluding the terminating '.' line",
        "source_values": {"tests/mime/NAME": "the corpus file, sent as raw bytes",
                          "builder:*": "built by mime_client.py with Python's email package",
                          "swaks --attach": "built by swaks --attach", "mutt -a ...": "built by mutt"},
        "environment": {"postfix": m.tool_version(["postconf", "-h", "mail_version"], r"(\S+)"),
                        "swaks": sw.swaks_version(), "mutt": mutt_version(),
                        "python": "%d.%d.%d" % sys.version_info[:3]},
        "checks": {"maildir_messages_checked": checked, "maildir_files": stored},
        "files": files,
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("mime_client: %d files, %d messages checked against the Maildir" % (len(files), checked))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["builder", "corpus", "big", "swaks", "mutt", "mutt-sendmail",
                                         "manifest"])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--log", default=os.environ.get("SMTPTAP_SESSION_LOG"))
    ap.add_argument("--tag", default=None)
    ap.add_argument("--maildir", default="/home/sink/Maildir")
    ap.add_argument("--work")
    ap.add_argument("--pcaps")
    ap.add_argument("--out")
    a, rest = ap.parse_known_args()
    a.files += [r for r in rest if r != "--"]
    a.tag = a.tag or "mime-" + a.scenario
    if a.scenario == "manifest":
        return manifest(a)
    if not a.log:
        ap.error("--log FILE or SMTPTAP_SESSION_LOG is required")
    {"builder": sc_builder, "corpus": sc_corpus, "big": sc_big, "swaks": sc_swaks, "mutt": sc_mutt,
     "mutt-sendmail": sc_mutt_sendmail}[a.scenario](a)


if __name__ == "__main__":
    main()
