"""Peers' captures (../shared/corpus): every envelope and message they name
must come out of smtptap right. expected.json holds only what the peer's
own baseline states; see ../shared/corpus/README.md for how to read it.

One test per capture (CASES below), skipped with the reason when the
corpus or the capture is not there. The peers' MIME facts (headers,
attachment names and hashes) are checked here too, against the records'
message contents."""
import email
import email.policy
import glob
import hashlib
import json
import os
import unittest

from common import CORPUS, parse_endpoint, smtptap


def capture_of(folder, exp):
    name = exp["capture"]
    path = os.path.join(folder, name)
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    return path


# Where a peer is wrong by the RFCs we assert the RFC, with the reason.
PEER_WRONG = {
    # (capture folder, message index in the session): (what the RFC gives, why)
    ("smtp-bdat-gap", 1): (78, "Zeek's rfc822 view reports 86 bytes, but the DATA payload is "
                               "81 bytes (frame 30) and 78 without its '.CRLF' terminator "
                               "(RFC 5321 4.1.1.4)"),
}


def all_rcpts(tx):
    return [r for r in tx["rcpt_to"]] + [r["addr"] for r in tx["rcpt_rejected"]]


def last_line(reply):
    return (reply or "").split("\n")[-1]


class CorpusCase(unittest.TestCase):
    maxDiff = None

    def check_capture(self, folder):
        with open(os.path.join(folder, "expected.json")) as f:
            exp = json.load(f)
        run = smtptap("-r", capture_of(folder, exp))
        self.assertNotIn("AddressSanitizer", run.stderr)
        negative = any("NEGATIVE" in x for x in exp.get("features", []))
        by_ep = {}
        for r in run.records:
            key = ((r["client"]["ip"], r["client"]["port"]), (r["server"]["ip"], r["server"]["port"]))
            by_ep.setdefault(key, []).append(r)
        for s in exp["sessions"]:
            if not s.get("client"):
                recs = run.records  # the peer does not name endpoints
            else:
                key = (parse_endpoint(s["client"]), parse_endpoint(s["server"]))
                recs = by_ep.get(key, [])
                if negative:
                    self.assertEqual(recs, [], "not SMTP, yet reported")
                    continue
                if s.get("ndpi_proto") and s.get("ndpi_encrypted") and "STARTTLS" not in \
                        " ".join(exp.get("features", [])).upper():
                    self.assertEqual(recs, [], "implicit TLS is not SMTP in the clear")
                    continue
                self.assertTrue(recs, "no record for %s -> %s" % key)
            self.check_session(folder, s, recs, run)

    def check_session(self, folder, s, recs, run):
        txs = [t for r in recs for t in r["transactions"]]
        facts = s.get("session_email_facts", {})
        if facts.get("helo"):  # Arkime lower-cases HELO arguments
            self.assertTrue(set(facts["helo"]) & {(r["helo"] or "").lower() for r in recs},
                            "helo %s not in %s" % (facts["helo"], [r["helo"] for r in recs]))
        if "senders_envelope_or_header_lowercased" in facts:
            senders = set(facts["senders_envelope_or_header_lowercased"])
            for t in txs:
                if t["mail_from"] is not None:
                    self.assertIn(t["mail_from"].lower(), senders)
        if "recipients_envelope_or_header_lowercased" in facts:
            rcpts = set(facts["recipients_envelope_or_header_lowercased"])
            for t in txs:
                for a in t["rcpt_to"]:
                    self.assertIn(a.lower(), rcpts)
        self.check_arkime_mime(facts, txs, run)
        used = set()
        for et in s.get("transactions", []):
            self.check_transaction(folder, et, txs, used, recs, run)

    def check_arkime_mime(self, facts, txs, run):
        msgs = [t["message"] for t in txs if t["message"] and "headers" in t["message"]]
        if not msgs:
            return
        if "subjects" in facts:  # Arkime keeps the blank after "Subject: " when there are two
            self.assertTrue({m["subject"] for m in msgs} & {x.lstrip(" ") for x in facts["subjects"]},
                            "%s not in %s" % ([m["subject"] for m in msgs], facts["subjects"]))
        if "user_agents" in facts:
            self.assertTrue({m["user_agent"] for m in msgs} & set(facts["user_agents"]))
        if "message_ids" in facts:
            self.assertTrue({(m["message_id"] or "").strip("<>") for m in msgs}
                            & set(facts["message_ids"]))
        names = {a["filename"] for m in msgs for a in m["attachments"]}
        for fn in facts.get("attachment_filenames", []):
            if len(fn) == 4095:
                # Arkime cuts names at 4095 bytes (smtp-moloch-bof sends 8192 'A's):
                # ours must be the whole name, of which Arkime's is the start.
                self.assertTrue(any(n and len(n) > 4095 and n.startswith(fn) for n in names))
                continue
            self.assertIn(fn, names)
        if "base64_part_md5s" in facts:
            # Arkime hashes every base64 part, bodies too: take them from our
            # stored message with Python's email package, an independent parser.
            seen = set()
            for m in msgs:
                parsed = email.message_from_bytes(run.file_bytes(m["eml"]),
                                                  policy=email.policy.compat32)
                for part in parsed.walk():
                    if part.get("Content-Transfer-Encoding", "").strip().lower() == "base64":
                        seen.add(hashlib.md5(part.get_payload(decode=True)).hexdigest())
                for a in m["attachments"]:
                    if a["md5"] in facts["base64_part_md5s"]:
                        self.assertIn(a["sha256"], facts["base64_part_sha256s"])
            # A part with bytes lost in transit has no true hash: Arkime decodes
            # across the hole, we resynchronise after it. Only whole ones count.
            if not any(m["missing_bytes"] for m in msgs):
                for h in facts["base64_part_md5s"]:
                    self.assertIn(h, seen)

    def check_transaction(self, folder, et, txs, used, recs, run):
        if "helo" in et:
            self.assertIn(et["helo"], [r["helo"] for r in recs])
        if not ({"mail_from", "rcpt_to", "rcpt_to_includes", "rfc822_message", "rfc822_messages"}
                & set(et)) and not et.get("peer_fuids"):
            # Zeek logs a record for a session without any mail transaction
            # (e.g. STARTTLS right after EHLO): its facts are session facts.
            if et.get("tls"):
                self.assertTrue(any(r["starttls"] and r["starttls"]["encrypted"] for r in recs))
                if "last_reply" in et:
                    self.assertIn(et["last_reply"], [r["starttls"]["reply"] for r in recs
                                                     if r["starttls"]])
            return
        cand = [i for i, t in enumerate(txs) if i not in used
                and ("mail_from" not in et or t["mail_from"] == et["mail_from"])
                and ("rcpt_to" not in et or sorted(set(all_rcpts(t))) == sorted(set(et["rcpt_to"])))
                and all(a in all_rcpts(t) for a in et.get("rcpt_to_includes", []))
                and len(all_rcpts(t)) > et.get("rcpt_to_count_gt", -1)]
        if "mail_from" not in et and "rcpt_to" not in et and not cand:
            cand = [i for i in range(len(txs)) if i not in used]
        self.assertTrue(cand, "no transaction matches %s in %s" % (
            {k: et[k] for k in ("mail_from", "rcpt_to") if k in et},
            [(t["mail_from"], all_rcpts(t)) for t in txs]))
        i = cand[0]
        used.add(i)
        t = txs[i]
        msg = et.get("rfc822_message")
        if "headers" in et or "attachments" in et:
            self.check_zeek_mime(folder, et, t, run)
        if msg:
            self.assertIsNotNone(t["message"])
            data = run.file_bytes(t["message"]["eml"])
            self.assertEqual(len(data), msg["size"])
            self.assertEqual(hashlib.sha1(data).hexdigest(), msg["sha1"])
            if msg.get("expected_content_file"):
                with open(os.path.join(folder, msg["expected_content_file"]), "rb") as f:
                    self.assertEqual(data, f.read())
            if "last_reply" in et:
                self.assertEqual(last_line(t["reply"]), et["last_reply"])
        for k, m in enumerate(et.get("rfc822_messages", [])):
            mine = [x["message"] for x in txs if x["message"]][k]
            size = PEER_WRONG.get((os.path.basename(folder), k), (m["size_seen"],))[0]
            self.assertEqual(mine["size"], size)
            self.assertEqual(mine["missing_bytes"], m["missing_bytes"])
            if m.get("expected_content_file"):
                with open(os.path.join(folder, m["expected_content_file"]), "rb") as f:
                    self.assertEqual(run.file_bytes(mine["eml"]), f.read())


def addr_of(entry):
    """The addr-spec in 'Name <a@b>', '<a@b>' or 'a@b'."""
    entry = entry.strip()
    if entry.endswith(">") and "<" in entry:
        return entry[entry.rindex("<") + 1:-1].strip()
    return entry


def _zeek_mime(self, folder, et, t, run):
    m = t["message"]
    self.assertIsNotNone(m)
    h = et.get("headers") or {}
    for k in ("from", "subject", "date", "message_id", "in_reply_to", "user_agent"):
        if k in h:
            self.assertEqual(m[k], h[k], k)
    for k in ("to", "cc"):
        if k in h:
            self.assertEqual(sorted(addr_of(x) for x in m[k]), sorted(addr_of(x) for x in h[k]), k)
        if k + "_includes" in h:
            for a in h[k + "_includes"]:
                self.assertIn(a, [addr_of(x) for x in m[k]])
        if k + "_count_gt" in h:
            self.assertGreater(len(m[k]), h[k + "_count_gt"])
    if "from_includes" in h:
        for a in h["from_includes"]:
            self.assertIn(a, m["from"])
    # Zeek's first_received is the earliest hop (the bottom Received header)
    if "first_received" in h:
        self.assertEqual(m["received"][-1], h["first_received"])
    if "second_received" in h:
        self.assertEqual(m["received"][-2], h["second_received"])
    mine = {a["filename"]: a for a in m["attachments"]}
    for a in et.get("attachments", []):
        self.assertIn(a["filename"], mine)
        got = mine[a["filename"]]
        if a.get("mime_type"):
            self.assertEqual(got["content_type"], a["mime_type"])
        if "size" not in a:
            continue
        data = run.file_bytes(got["stored"])
        if a["size"] == len(data) + 2 and got["content_type"].startswith("text/"):
            # Zeek keeps the CRLF before the closing boundary; RFC 2046 gives it
            # to the boundary (corpus README): compare with it added back.
            data += b"\r\n"
        self.assertEqual(len(data), a["size"])
        for alg in ("md5", "sha1", "sha256"):
            if alg in a:
                self.assertEqual(hashlib.new(alg, data).hexdigest(), a[alg], alg)
        if a.get("expected_content_file"):
            with open(os.path.join(folder, a["expected_content_file"]), "rb") as f:
                self.assertEqual(data, f.read())


CorpusCase.check_zeek_mime = _zeek_mime


# The corpus's cases (<peer>/<capture folder>), named here so that a machine
# without ../shared/corpus reports each of them as skipped, with the reason,
# instead of running fewer tests without a word. A folder the corpus gains
# runs without being listed; a listed one it loses is skipped, not failed
# (the corpus is the peers', not ours), and shows in the skip list.
CASES = (
    "arkime/arkime_synthetic", "arkime/ntlm_synthetic", "arkime/smtp-data-250",
    "arkime/smtp-data-521", "arkime/smtp-decrypted", "arkime/smtp-html", "arkime/smtp-moloch-bof",
    "arkime/smtp-nospaces", "arkime/smtp-originating", "arkime/smtp-rcpt-553",
    "arkime/smtp-starttls", "arkime/smtp-subject-8859-b", "arkime/smtp-subject-8859-multi",
    "arkime/smtp-subject-8859-q", "arkime/smtp-subject-encoded-empty",
    "arkime/smtp-subject-gb2312-b", "arkime/smtp-subject-multi-nospace",
    "arkime/smtp-subject-utf8-mixed", "arkime/smtp-subject-utf8-q", "arkime/smtp-subject-windows",
    "arkime/smtp-zip", "arkime/socks5-smtp-503", "arkime/wireshark-bdat",
    "ndpi/smtp", "ndpi/smtp-starttls", "ndpi/smtps",
    "zeek/http-connect-with-smtp", "zeek/mime-header-size-limit", "zeek/rfc3030-bdat-0-last",
    "zeek/rfc3030-bdat-example1", "zeek/rfc3030-bdat-multipart",
    "zeek/rfc3030-bdat-multipart-chunked", "zeek/rfc3030-bdat-nonascii", "zeek/smtp",
    "zeek/smtp-attachment-msg", "zeek/smtp-bdat-cmd-chunk-size-overflow",
    "zeek/smtp-bdat-cmd-chunk-size-overflow2", "zeek/smtp-bdat-cmd-invalid",
    "zeek/smtp-bdat-cmd-negative-chunk-size", "zeek/smtp-bdat-gap",
    "zeek/smtp-bdat-pipeline-8bitmime", "zeek/smtp-mail-transactions-invalid",
    "zeek/smtp-many-addresses", "zeek/smtp-multi-addr", "zeek/smtp-one-side-only",
    "zeek/tls-smtp-starttls",
)


def _make(case):
    folder = os.path.join(CORPUS, case)

    def test(self):
        if not os.path.isdir(CORPUS):
            self.skipTest("peer corpus %s not found" % CORPUS)
        if not os.path.exists(os.path.join(folder, "expected.json")):
            self.skipTest("%s/expected.json not in the peer corpus" % case)
        self.check_capture(folder)
    return test


_found = [os.path.relpath(os.path.dirname(f), CORPUS)
          for f in glob.glob(os.path.join(CORPUS, "*", "*", "expected.json"))]
for _case in sorted(set(CASES) | set(_found)):
    _peer, _capture = _case.split("/")
    setattr(CorpusCase, "test_%s_%s" % (_peer, _capture.replace("-", "_")), _make(_case))

if __name__ == "__main__":
    unittest.main()
