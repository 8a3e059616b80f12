"""What smtptap must report about a message, computed independently with
Python's email package (policy.default), never from smtptap's output.

    oracle(data: bytes) -> dict    (see the keys in oracle() below)
    python3 tests/integration/mime_oracle.py FILE...    prints the oracle's view

"Attachment" and "body" follow docs/record.md ("Message contents"):
the body is the first text/plain (and the first text/html) leaf that has no
'Content-Disposition: attachment', no filename and is not inside an attached
message; every other leaf part is an attachment, and a message/rfc822 or
message/global part is listed too (its transfer-decoded body: the embedded
message's bytes) before its own parts.  mime_path is the IMAP section number
(RFC 3501 6.4.5): a top-level single part is "1"; the parts of a
message/rfc822 at P are P.1, P.2 ... (P.1 being its whole body when that is
not a multipart).

How the raw bytes of message/* parts are obtained: Python parses message/*
parts into Message objects and can only give them back re-serialised (header
refolding, line endings, boundaries), so the hash of the embedded message
would be Python's, not the sender's.  The parser below is given a message
class whose get_content_maintype() hides the 'message' type from the feed
parser, so every message/* part stays a leaf whose payload is its raw body as
sent (up to the CRLF that belongs to the next delimiter).  It is then
transfer-decoded like any leaf and parsed again, on its own, to walk the
embedded message.  This also handles a base64-encoded message/rfc822 (which
Python otherwise parses as if the base64 text were headers), and the
message/rfc822 default type of multipart/digest children.

Where Python departs from the RFCs, the oracle asserts the RFC behaviour and
says so in `notes` (the list of deviations hit by the message):
  qp               quoted-printable, see qp_decode(): RFC 2045 6.7 (3) deletes
                   trailing SPACE/TAB of each line before decoding ('=' +
                   padding + CRLF is a soft break; Python keeps the padding),
                   and 6.7 note (2) copies an invalid '=X' as is (Python's
                   a2b_qp turns '==' into '=').
  ct-invalid       RFC 2045 5.2: a syntactically invalid Content-Type
                   ('application/', missing subtype) is treated as
                   text/plain.  Python accepts any value with exactly one '/'.
  filename-ext     filename= and filename*= both present: the RFC 2231 value
                   is taken (it is the sender's exact name; RFC 6266 4.3 / RFC
                   8187 practice, what MUAs do).  Python returns whichever
                   comes first.  RFC 2231 itself does not rank them: a
                   judgement call, kept to corpus file 33 only.
  b64-dangling     base64 whose length is 1 mod 4 after removing non-alphabet
                   characters: the last character cannot carry a byte and is
                   dropped (RFC 4648 3.3 / RFC 2045 6.8); Python (bpo-27397)
                   returns the undecoded text instead.
And where docs/record.md ("Ambiguous MIME") reads a message the way that hides
nothing, the oracle follows that rule with Python's own parsing:
  epilogue-parts   a delimiter line in a multipart's epilogue opens one more
                   part: the epilogue is parsed again by Python as the body of
                   the same multipart, its parts numbered on.
  no-parts         a multipart in which no part opens is one leaf, its body
                   (Python's text payload), minus the line end before the
                   enclosing multipart's next delimiter (RFC 2046 5.1.1,
                   which Python keeps there).
  rfc822-raw       a base64 message part whose first 64 bytes are no base64
                   is taken as it is (Python parses that raw text too).
The rules Python cannot follow (both boundaries of a repeated parameter,
innermost-first boundaries, base64 data after padding) are in
test_mime_oracle.DEPARTS and checked by test_evasion.py.
"entities" lists every entity in the walk's order (docs/record.md "parts"):
a container (multipart with parts) as such, a leaf with its decoded bytes'
size and digests.
Python behaviours checked and kept because they are the RFC's:
  - the CRLF before a delimiter line belongs to the delimiter (RFC 2046
    5.1.1): Python strips it from the part before;
  - a delimiter line may carry trailing SPACE/TAB (transport padding), and
    '--b' followed by anything else is not a delimiter of 'b' (boundaries
    that are prefixes of one another);
  - preamble and epilogue are not parts; a part after the close delimiter is
    epilogue;
  - adjacent RFC 2047 encoded words separated only by whitespace (folding
    included) are joined without it (RFC 2047 6.2);
  - RFC 2231 continuations are put in numeric order before the charset is
    applied to the whole value (a UTF-8 sequence split across segments);
  - bare LF line ends are line ends (not an RFC rule but what every MTA
    does); the decoded bytes of 7bit/8bit/binary parts keep the line ends
    they were sent with (no canonicalisation is asserted);
  - a missing close delimiter: the last part runs to the end of the data
    (RFC 2046 does not say more; the corpus keeps its last part base64, so
    whether the final CRLF is part of it cannot change the decoded bytes).
Not decided by any RFC, taken from Python as is:
  - duplicate filename= parameters: the first one (RFC 2231 calls repeated
    parameters an error);
  - charset decoding of bodies: Python's codecs with errors='replace'
    ('iso-8859-1' is ISO 8859-1, not windows-1252).
"""
import base64
import binascii
import hashlib
import os
import shutil
import subprocess
import tempfile
import quopri
import re
import sys
from email import errors as email_errors
from email import policy, utils
from email.message import EmailMessage
from email.message import Message as compat32_message
from email.parser import BytesParser

EMBEDDED = ("message/rfc822", "message/global")
TOKEN = r"[!#$%&'*+\-.^_`|~0-9a-z]+"
CT_RE = re.compile(r"^%s/%s$" % (TOKEN, TOKEN))


class _LeafMessage(EmailMessage):
    """Keeps message/* parts as leaves: the feed parser decides to parse a
    part as an embedded message by get_content_maintype() == 'message'."""

    def get_content_maintype(self):
        mt = super().get_content_maintype()
        return "x-oracle-leaf" if mt == "message" else mt


def parse(data):
    return BytesParser(_class=_LeafMessage, policy=policy.default).parsebytes(data)


def content_type(part, notes):
    ct = part.get_content_type()
    if not CT_RE.match(ct):
        notes.add("ct-invalid")
        return "text/plain"
    return ct


def _raw_header(part, name):
    """The header value as sent (policy.default keeps it until fetched)."""
    for k, v in part.raw_items():
        if k.lower() == name:
            return v
    return None


def filename(part, notes):
    """Content-Disposition filename, else Content-Type name (Python's
    get_filename(), which also decodes RFC 2047 words inside the quotes);
    when a parameter comes both plain and as RFC 2231 (filename*=), the
    RFC 2231 value wins.  policy.default's parsed header has already dropped
    one of the two, so the raw header is re-read with compat32's parameter
    parser, which keeps both."""
    py = part.get_filename()
    for header, key in (("content-disposition", "filename"), ("content-type", "name")):
        raw = _raw_header(part, header)
        if raw is None:
            continue
        old = compat32_message()
        old[header] = raw
        vals = [v for k, v in (old.get_params(header=header) or []) if k.lower() == key]
        if not vals:
            continue
        ext = [v for v in vals if isinstance(v, tuple)]
        if ext and len(ext) < len(vals):
            v = utils.collapse_rfc2231_value(ext[0]).strip()
            if v != py:
                notes.add("filename-ext")
            return v
        return py
    return py


def _raw_payload(part):
    payload = part.get_payload()
    if isinstance(payload, bytes):
        return payload
    return payload.encode("ascii", "surrogateescape")


def decode(part, notes):
    """Transfer-decoded bytes of a leaf part."""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "quoted-printable":
        raw = _raw_payload(part)
        mine = qp_decode(raw)
        if mine != quopri.decodestring(raw):
            notes.add("qp")
        return mine
    if cte == "base64":
        got = part.get_payload(decode=True)
        if any(isinstance(d, email_errors.InvalidBase64LengthDefect) for d in part.defects):
            notes.add("b64-dangling")
            alpha = re.sub(rb"[^A-Za-z0-9+/]", b"", _raw_payload(part))
            if len(alpha) % 4 == 1:
                alpha = alpha[:-1]
            got = base64.b64decode(alpha + b"=" * (-len(alpha) % 4))
        return got
    got = part.get_payload(decode=True)
    return got if got is not None else b""


def qp_decode(raw):
    """RFC 2045 6.7 quoted-printable decoding.  Differs from Python's
    quopri/binascii.a2b_qp in two places, both by the RFC: trailing SPACE/TAB
    of each line is deleted first (rule 3: it was added in transport; so
    '=' + padding + line end is a soft break), and '==' is an invalid escape
    copied as is (note 2: '=' and the following character go through
    unchanged; a2b_qp turns '==' into '=').  '=' at the very end of the data
    is a soft break whose line end went to the next delimiter: dropped, as
    a2b_qp does."""
    raw = re.sub(rb"[ \t]+(?=\r\n|\n|$)", b"", raw)
    out = bytearray()
    i, n = 0, len(raw)
    hexd = frozenset(b"0123456789abcdefABCDEF")
    while i < n:
        c = raw[i:i + 1]
        if c != b"=":
            out += c
            i += 1
        elif i + 1 >= n:
            i += 1
        elif raw[i + 1:i + 3] == b"\r\n":
            i += 3
        elif raw[i + 1:i + 2] == b"\n":
            i += 2
        elif i + 2 < n and raw[i + 1] in hexd and raw[i + 2] in hexd:
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
        else:
            out += raw[i:i + 2]
            i += 2
    return bytes(out)


def _text(part, data):
    charset = part.get_content_charset("us-ascii")
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return None


def _addrs(msg, name):
    h = msg.get(name)
    if h is None:
        return []
    try:
        return [(a.display_name, a.addr_spec) for a in h.addresses]
    except AttributeError:
        return []


def _hdr(msg, name):
    v = msg.get(name)
    return None if v is None else str(v)


def _digest(data):
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest()}


def _looks_base64(raw):
    """smtptap's rule (record.md, message_not_base64): the first 64 bytes
    of a base64 message part's body tell whether it is base64 at all."""
    return re.match(rb"^[A-Za-z0-9+/= \t\r\n]*$", raw[:64]) is not None


def _reparse_epilogue(part):
    """The parts after a multipart's close delimiter (RFC 2046: epilogue;
    smtptap lists them, record.md part_after_final_boundary): Python's own
    parser run again over the epilogue as the body of the same multipart."""
    epi = part.epilogue
    b = part.get_boundary()
    if not epi or b is None:
        return []
    raw = epi.encode("utf-8", "surrogateescape") if isinstance(epi, str) else epi
    delim = re.compile(rb"^--" + re.escape(b.encode("utf-8", "surrogateescape")) + rb"[ \t]*\r?$",
                       re.M)
    if not delim.search(raw):
        return []
    bb = b.encode("utf-8", "surrogateescape")
    head = b'Content-Type: multipart/mixed; boundary="%s"\r\n\r\n' % (
        bb.replace(b"\\", b"\\\\").replace(b'"', b'\\"'))
    # a close delimiter after it, so that the last part keeps its own last
    # line end (the epilogue ended at the end of the data or before the
    # enclosing multipart's delimiter, whose line end Python left out)
    again = parse(head + raw + b"\r\n--" + bb + b"--\r\n")
    return again.get_payload() if again.is_multipart() else []


class _Walk:
    def __init__(self, notes):
        self.notes = notes
        self.body = None
        self.body_html = None
        self.attachments = []
        self.entities = []  # every MIME entity in order (record.md "parts")
        self.tnef = {}  # mime path of a TNEF part: what tnef(1) unpacks from it

    def multipart(self, part, prefix, inside):
        self.entities.append({"mime_path": prefix, "content_type": part.get_content_type(),
                              "container": True})
        subs = list(part.get_payload())
        extra = _reparse_epilogue(part)
        if extra:
            self.notes.add("epilogue-parts")
        for i, sub in enumerate(subs + extra, 1):
            path = "%s.%d" % (prefix, i) if prefix else str(i)
            self.part(sub, path, prefix, inside, in_multipart=True)

    def entity(self, path, ct, data):
        e = {"mime_path": path, "content_type": ct, "container": False}
        e.update(_digest(data))
        self.entities.append(e)

    def part(self, part, path, prefix, inside, in_multipart=False):
        if part.is_multipart():
            self.multipart(part, path, inside)
            return
        ct = content_type(part, self.notes)
        name = filename(part, self.notes)
        data = decode(part, self.notes)
        if ct.startswith("multipart/"):
            # no part opened in it (its boundary never occurs): Python keeps
            # the body as text, and so does smtptap (record.md
            # boundary_not_found); the line end before the enclosing
            # multipart's next delimiter is that delimiter's (RFC 2046
            # 5.1.1), which Python keeps here
            self.notes.add("no-parts")
            if in_multipart:
                data = re.sub(rb"\r?\n$", b"", data)
        if ct in EMBEDDED and str(part.get("content-transfer-encoding", "")).strip().lower() \
                == "base64" and not _looks_base64(_raw_payload(part)):
            self.notes.add("rfc822-raw")
            data = _raw_payload(part)
        self.entity(path, ct, data)
        if ct in EMBEDDED:
            self.add(part, path, ct, name, data, "message")
            inner = parse(data)
            if inner.is_multipart():
                self.multipart(inner, path, True)
            else:
                self.part(inner, path + ".1", path, True)
            return
        candidate = not inside and not part.is_attachment() and name is None
        if candidate and ct == "text/plain" and self.body is None:
            self.body = _text(part, data)
            self.uu_blocks(path, data)
            return
        if candidate and ct == "text/html" and self.body_html is None:
            self.body_html = _text(part, data)
            return
        self.add(part, path, ct, name, data, "leaf")
        if ct == "text/plain" and part.get("Content-Transfer-Encoding", "").strip().lower() \
                not in ("x-uuencode", "x-uue", "uuencode", "uue"):
            self.uu_blocks(path, data)

    def uu_blocks(self, path, data):
        """uuencoded files inside a text part, decoded with binascii.a2b_uu
        (an implementation independent of smtptap's)."""
        name, chunks, n = None, [], 0
        for line in data.splitlines():
            m = re.match(rb"^begin [0-7]{1,4} (.+)$", line)
            if name is None and m:
                name, chunks = m.group(1), []
                continue
            if name is None:
                continue
            if line.rstrip() == b"end":
                n += 1
                blob = b"".join(chunks)
                a = {"mime_path": "%s.uu.%d" % (path, n), "content_type": "application/octet-stream",
                     "filename": name.decode("utf-8", "replace"), "kind": "uu", "disposition": None}
                a.update(_digest(blob))
                self.attachments.append(a)
                name = None
                continue
            try:
                chunks.append(binascii.a2b_uu(line))
            except binascii.Error:
                pass  # a bad line is skipped, as smtptap does

    def add(self, part, path, ct, name, data, kind):
        a = {"mime_path": path, "content_type": ct, "filename": name, "kind": kind,
             "disposition": part.get_content_disposition()}
        a.update(_digest(data))
        self.attachments.append(a)
        if ct in ("application/ms-tnef", "application/vnd.ms-tnef") or \
                (name or "").lower() == "winmail.dat":
            self.tnef[path] = tnef_files(data)


def tnef_files(data):
    """What Debian's tnef(1), an independent decoder, unpacks from a TNEF
    stream: {file name: sha256}; None when tnef is not installed."""
    if not shutil.which("tnef"):
        return None
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "winmail.dat")
        out = os.path.join(d, "out")
        os.mkdir(out)
        with open(src, "wb") as f:
            f.write(data)
        subprocess.run(["tnef", "-f", src, "-C", out], capture_output=True, check=False)
        files = {}
        for n in os.listdir(out):
            with open(os.path.join(out, n), "rb") as f:
                files[n] = hashlib.sha256(f.read()).hexdigest()
        return files


def oracle(data):
    """The message fields of docs/record.md smtptap must report for data."""
    notes = set()
    msg = parse(data)
    w = _Walk(notes)
    if msg.is_multipart():
        w.multipart(msg, "", False)
    else:
        w.part(msg, "1", "", False)
    return {
        "subject": _hdr(msg, "subject"),
        "from": _addrs(msg, "from"),
        "to": _addrs(msg, "to"),
        "cc": _addrs(msg, "cc"),
        "body": w.body,
        "body_html": w.body_html,
        "attachments": w.attachments,
        "entities": w.entities,
        "tnef": w.tnef,
        "notes": sorted(notes),
        "python_defects": sorted({type(d).__name__ for p in msg.walk() for d in p.defects}),
    }


def main(paths):
    import json
    for p in paths:
        with open(p, "rb") as f:
            o = oracle(f.read())
        for a in o["attachments"]:
            if a["filename"] and len(a["filename"]) > 80:
                a["filename"] = a["filename"][:40] + "...(%d chars)" % len(a["filename"])
            del a["md5"], a["sha1"]
        print("==", p)
        print(json.dumps(o, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
