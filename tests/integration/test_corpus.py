"""Peers' captures (../shared/corpus): every fact their baselines state must
come out of smtptap, as the peer states it.

expected.json holds only what the peer's own baseline states (see
../shared/corpus/README.md for how to read it). FACTS below names every key
an expected.json may hold and what this test does with it; a key it does not
know fails test_every_fact_has_a_use, so no fact is loaded and left unused.
A fact is compared as the peer states it: whole sets and lists, counts,
bounds where the peer gives a bound (`_count_gt`, `_includes`, `partial`),
no "any one value matches", and a fact about a transaction or a message
fails when smtptap has none.

The peers' reading rules are applied as their code has them (Zeek's
main.zeek and MIME.cc, Arkime's capture/parsers/smtp.c), each cited where
it is used. Where smtptap is right and the peer wrong, PEER_WRONG says so by
name, case by case, with what the RFC or the capture's bytes give and why;
where a peer's records do not map one to one onto transactions, ALIGN says
how they map and why. Where smtptap is wrong and the fix belongs to another
open issue, XFAIL marks that case's group of facts as an expected failure
naming the issue and the failing fact.

Each capture runs once; its facts are checked in groups, one test each, so
that one wrong fact does not hide the others: `session` (the run, records,
endpoints, banner, TLS, AUTH, tunnel, peer tags), `counters` (packets and
bytes), `envelope` (transactions, commands, replies), `content` (headers,
messages, MIME entities, attachments) and `anomalies` (the peer's weirds).
A group is tested when the peer states a fact of it; every case is named in
CASES, so a machine without the corpus shows each as skipped with the reason.
"""
import email
import email.header
import email.policy
import email.utils
import glob
import gzip
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import unittest

from common import CORPUS, parse_endpoint, smtptap

GROUPS = ("session", "counters", "envelope", "content", "anomalies")

# Every key an expected.json may hold (path without list indices) and its use.
# A value ending in "(data)" means the key's own children are data (header
# names, file names), not further keys.
FACTS = {
    "schema": "must be smtp-holdout-expected/1, the format this test reads",
    "peer": "selects the peer's reading rules (zeek, arkime, ndpi)",
    "capture": "the capture smtptap reads (its .gz when only that is there)",
    "features": "'NEGATIVE' (no SMTP session may be reported) and 'implicit TLS' (no record: "
                "nothing in the clear) are used; the rest describes what the other keys state",
    "notes": "prose: the reading rules it gives are applied where the facts are compared",
    "source": "provenance (data)",
    "source.repo": "provenance: the peer's repository",
    "source.commit": "provenance: the peer's commit",
    "source.pcap_path": "provenance: the capture's path in the peer's repository",
    "source.baseline_path": "provenance: the baseline's path; the file is in the folder",
    "source.sessions_parsed_from": "provenance: the baseline the sessions were read from",
    "source.tests": "provenance: each baseline file named is checked to be in the folder (data)",
    "pcap": "measured here, not by the peer (data)",
    "pcap.sha256": "the capture is the one the facts were measured on",
    "pcap.decompressed_sha256": "the gunzipped capture is the decompressed copy measured",
    "pcap.decompressed_copy": "the decompressed copy's name",
    "pcap.capinfos_packets": "stats.json packets read",
    "pcap.tcpdump_packet_count": "stats.json packets read",
    "pcap.tshark_tcp_conversations": "every record's endpoints are one of them",
    "pcap.bytes": "the capture's size in bytes",
    "pcap.file": "describes the file (its name)",
    "pcap.format": "describes the file (pcap/pcapng), read by smtptap either way",
    "pcap.capinfos_encapsulation": "describes the link type, read by smtptap",
    "pcap.tcpdump_link_type": "describes the link type, read by smtptap",
    "pcap.capinfos_snaplen": "describes the file; no record field",
    "pcap.tcpdump_first_lines": "tcpdump's text rendering; no record field",
    "pcap.tcpdump_rc": "tcpdump read it (0); smtptap's own exit status is checked instead",
    "pcap.ipv6_packets": "IPv6 packets of any protocol; stats counts IPv6 TCP only, so at most this",
    "pcap.vlan_packets": "802.1Q frames; no record field (the flows inside them are checked)",
    "pcap.tshark_tcp_expert": "tshark's TCP analysis; the retransmission count keeps the nDPI "
                              "byte counts exact (only flows without any are compared) (data)",
    "peer_event_trace": "the peer's event log of the dialogue",
    "peer_event_trace.from": "provenance of the trace",
    "peer_event_trace.lines": "EHLO, MAIL (address and parameters), RCPT, BDAT (sizes, "
                              "validity), DATA and the replies to the greeting, EHLO, MAIL, RCPT "
                              "and BDAT; QUIT, '.' and (UNKNOWN) have no record field (data)",
    "peer_weirds": "each weird maps to the smtptap anomaly or flag that reports the same "
                   "observation (ZEEK_WEIRDS), counted per session as Zeek logs it",
    "peer_weirds.name": "see peer_weirds",
    "peer_weirds.addl": "which invalid transaction, the count of a limit, or compared with "
                        "smtptap's detail where it states the same value",
    "peer_weirds.from": "which baseline (and so which Zeek options) the weird comes from",
    "known_facts": "the kinds of facts the peer's baselines state: each names the keys "
                   "checked for it (KNOWN_FACTS)",
    "sessions": "one per TCP connection the peer reported; their number is smtptap's",
    "sessions.client": "endpoint: the record with these endpoints",
    "sessions.server": "endpoint: the record with these endpoints",
    "sessions.endpoint_a": "nDPI's first endpoint, the client",
    "sessions.endpoint_b": "nDPI's second endpoint, the server",
    "sessions.note": "prose",
    "sessions.partial": "the peer's transactions are a subset: count not compared",
    "sessions.peer_uid": "Zeek's connection uid: joins the event trace to the session",
    "sessions.conn_missed_bytes": "the record's missing_bytes, both directions",
    "sessions.peer_protocols": "Arkime's protocols: smtp (a record), socks (tunnel), tls "
                               "(STARTTLS then TLS), ntlm (AUTH NTLM)",
    "sessions.peer_tags": "Arkime's smtp:* tags (AUTH, STARTTLS, the reply to each DATA's "
                          "end); its other tags are not SMTP facts (ARKIME_OTHER_TAGS)",
    "sessions.peer_packets": "the record's packets, both directions",
    "sessions.ndpi_proto": "SMTP: a record in the clear; SMTPS: STARTTLS then TLS, or no record "
                           "(implicit TLS)",
    "sessions.ndpi_encrypted": "starttls.encrypted true, or no record (implicit TLS)",
    "sessions.ndpi_cleartext": "a record without TLS",
    "sessions.ndpi_hostname": "in the clear, the host of the 220 greeting; after TLS nDPI "
                              "names the TLS server (SNI/certificate), which smtptap does not parse",
    "sessions.ndpi_banner_prefix": "the start of the record's banner",
    "sessions.ndpi_tls_version": "a TLS handshake fact: smtptap does not parse TLS after STARTTLS",
    "sessions.ndpi_vlan": "no record field: the flow is found inside its 802.1Q tag",
    "sessions.ndpi_c2s_pkts": "the record's client packets, and with the others stats.json's",
    "sessions.ndpi_s2c_pkts": "the record's server packets",
    "sessions.ndpi_c2s_bytes": "frame bytes: stats.json bytes in total; per direction the "
                               "record's payload bytes once the frames' headers are taken off",
    "sessions.ndpi_s2c_bytes": "see ndpi_c2s_bytes",
    "sessions.session_email_facts": "Arkime's aggregate over the session",
    "sessions.session_email_facts.helo": "the record's helo (lower-cased as Arkime does)",
    "sessions.session_email_facts.senders_envelope_or_header_lowercased":
        "MAIL FROM of every transaction and the From address of every message, as a set",
    "sessions.session_email_facts.recipients_envelope_or_header_lowercased":
        "every RCPT (accepted or refused) and every To and Cc address, as a set",
    "sessions.session_email_facts.subjects": "every message's subject, as a set",
    "sessions.session_email_facts.user_agents": "every message's user_agent, as a set",
    "sessions.session_email_facts.message_ids": "every message's message_id without <>",
    "sessions.session_email_facts.top_content_types": "every message's Content-Type header",
    "sessions.session_email_facts.mime_versions": "every message's MIME-Version header",
    "sessions.session_email_facts.received_hosts":
        "hosts Arkime's Received parser takes from every message's received headers",
    "sessions.session_email_facts.received_ips":
        "IPs Arkime's Received parser takes from them, and x_originating_ip",
    "sessions.session_email_facts.custom_header_values": "the named headers' values (data)",
    "sessions.session_email_facts.peer_header_inventory": "top-level header names and the values "
                                                          "of those Arkime keeps as is",
    "sessions.session_email_facts.peer_header_inventory.header": "every top-level header name",
    "sessions.session_email_facts.peer_header_inventory.headerField": "names whose values follow",
    "sessions.session_email_facts.peer_header_inventory.headerValue": "their values, as a set",
    "sessions.session_email_facts.attachment_filenames": "every attachment's filename, as a set",
    "sessions.session_email_facts.base64_part_md5s": "md5 of every base64 part inside a multipart",
    "sessions.session_email_facts.base64_part_sha256s": "sha256 of the same parts",
    "sessions.session_email_facts.base64_part_magic_types":
        "the type of the same parts (compared with the declared type: smtptap sniffs none)",
    "sessions.transactions": "Zeek: one per smtp.log record, in order (ALIGN where not one to one); "
                             "nDPI: [] is not stated, except that encrypted flows have none",
    "sessions.transactions.peer_trans_depth": "messages the server acknowledged earlier in the "
                                              "session, plus one",
    "sessions.transactions.helo": "the record's helo",
    "sessions.transactions.tls": "true: STARTTLS answered 220 and TLS followed; false: no 220 to "
                                 "STARTTLS",
    "sessions.transactions.path": "Zeek's path: server, client, then the message's path (Zeek's "
                                  "rule: a repeat of the previous address is skipped)",
    "sessions.transactions.received_path_count_gt": "a bound on the length of that path",
    "sessions.transactions.mail_from": "the transaction's mail_from",
    "sessions.transactions.rcpt_to": "its recipients, accepted and refused, as a set",
    "sessions.transactions.rcpt_to_includes": "a subset of them",
    "sessions.transactions.rcpt_to_count_gt": "a bound on their number",
    "sessions.transactions.last_reply": "the last line of the transaction's reply (Zeek logs the "
                                        "last line); its code gives the status",
    "sessions.transactions.peer_fuids": "Zeek's file entities: their number is the number of MIME "
                                        "leaves Zeek's MIME analyzer gives data for",
    "sessions.transactions.headers": "the top-level header values Zeek logs",
    "sessions.transactions.headers.from": "message from",
    "sessions.transactions.headers.from_includes": "addresses in message from",
    "sessions.transactions.headers.to": "message to, as a set (addresses and display names)",
    "sessions.transactions.headers.to_includes": "addresses in message to",
    "sessions.transactions.headers.to_count_gt": "a bound on len(message to)",
    "sessions.transactions.headers.cc": "message cc, as a set",
    "sessions.transactions.headers.cc_count_gt": "a bound on len(message cc)",
    "sessions.transactions.headers.subject": "message subject",
    "sessions.transactions.headers.date": "message date",
    "sessions.transactions.headers.message_id": "message message_id",
    "sessions.transactions.headers.in_reply_to": "message in_reply_to",
    "sessions.transactions.headers.user_agent": "message user_agent",
    "sessions.transactions.headers.first_received": "the bottom Received (Zeek keeps the last seen)",
    "sessions.transactions.headers.second_received": "the one above it",
    "sessions.transactions.headers_from_message_baseline": "header values read from the peer's "
                                                           "message bytes: as headers",
    "sessions.transactions.headers_from_message_baseline.from": "message from",
    "sessions.transactions.headers_from_message_baseline.to": "message to, as a set",
    "sessions.transactions.headers_from_message_baseline.subject": "message subject",
    "sessions.transactions.rfc822_message": "the whole message (Zeek's rfc822 file)",
    "sessions.transactions.rfc822_message.size": "message size",
    "sessions.transactions.rfc822_message.sha1": "sha1 of the stored message",
    "sessions.transactions.rfc822_message.expected_content_file": "the stored message's bytes",
    "sessions.transactions.rfc822_messages": "the whole messages of a record that spans several",
    "sessions.transactions.rfc822_messages.size_seen": "message size",
    "sessions.transactions.rfc822_messages.missing_bytes": "message missing_bytes",
    "sessions.transactions.rfc822_messages.expected_content_file": "the stored message's bytes",
    "sessions.transactions.rfc822_messages.peer_fuid": "Zeek's file id (identifies, no fact)",
    "sessions.transactions.rfc822_messages.note": "prose",
    "sessions.transactions.mime_entities": "every leaf Zeek gave data, in order, one to one with "
                                           "smtptap's leaves",
    "sessions.transactions.mime_entities.depth": "Zeek's count of entities begun in the session, "
                                                 "containers included: the leaf's place",
    "sessions.transactions.mime_entities.mime_type": "Zeek's content sniffing; compared with the "
                                                     "declared type (PEER_WRONG where they differ)",
    "sessions.transactions.mime_entities.filename": "the leaf's filename (null for bodies)",
    "sessions.transactions.mime_entities.size": "the leaf's decoded bytes, in Zeek's rendering",
    "sessions.transactions.mime_entities.md5": "of those bytes",
    "sessions.transactions.mime_entities.sha1": "of those bytes",
    "sessions.transactions.mime_entities.sha256": "of those bytes",
    "sessions.transactions.mime_entities.expected_content_file": "those bytes",
    "sessions.transactions.mime_entities.missing_bytes": "the leaf's missing bytes",
    "sessions.transactions.mime_entities.peer_fuid": "Zeek's file id (identifies, no fact; "
                                                     "attachments are matched by filename)",
    "sessions.transactions.mime_entities.peer_fuid_rfc822_run": "the file id in another Zeek run",
    "sessions.transactions.mime_entities.note": "prose",
    "sessions.transactions.attachments": "the entities Zeek names, as a set of filenames",
    "sessions.transactions.attachments.filename": "an attachment's filename",
    "sessions.transactions.attachments.mime_type": "as mime_entities.mime_type",
    "sessions.transactions.attachments.content_type": "its declared type",
    "sessions.transactions.attachments.content_transfer_encoding": "the stored part's CTE",
    "sessions.transactions.attachments.disposition": "its disposition",
    "sessions.transactions.attachments.depth": "as mime_entities.depth",
    "sessions.transactions.attachments.size": "as mime_entities.size",
    "sessions.transactions.attachments.md5": "as mime_entities",
    "sessions.transactions.attachments.sha1": "as mime_entities",
    "sessions.transactions.attachments.sha256": "as mime_entities",
    "sessions.transactions.attachments.expected_content_file": "as mime_entities",
    "sessions.transactions.attachments.peer_fuid": "Zeek's file id (identifies, no fact)",
    "sessions.transactions.attachments.note": "prose",
    "sessions.transactions.zeek_mime_content_hash": "Zeek's hash over all the entities' data",
    "sessions.transactions.zeek_mime_content_hash.content_len": "their total length",
    "sessions.transactions.zeek_mime_content_hash.md5": "md5 of their concatenation",
    "sessions.transactions.zeek_mime_content_hash.sha256": "sha256 of their concatenation",
}

# known_facts: the kinds of facts a peer's baselines state, each with the
# keys that carry it (so a kind named without its keys is noticed).
KNOWN_FACTS = {
    "attachment_filenames": ("attachments",),
    "entity_bytes": ("expected_content_file",),
    "entity_count(fuids)": ("peer_fuids",),
    "entity_md5": ("md5",), "entity_sha1": ("sha1",), "entity_sha256": ("sha256",),
    "entity_size": ("size",),
    "header_cc": ("cc",), "header_cc_count_gt": ("cc_count_gt",),
    "header_date": ("date",), "header_first_received": ("first_received",),
    "header_from": ("from",), "header_from_includes": ("from_includes",),
    "header_in_reply_to": ("in_reply_to",), "header_message_id": ("message_id",),
    "header_second_received": ("second_received",), "header_subject": ("subject",),
    "header_to": ("to",), "header_to_count_gt": ("to_count_gt",),
    "header_to_includes": ("to_includes",), "header_user_agent": ("user_agent",),
    "helo": ("helo",), "last_reply": ("last_reply",), "mail_from": ("mail_from",),
    "mime_entities": ("mime_entities",), "partial_address_lists": ("partial",),
    "rcpt_to": ("rcpt_to",), "session_endpoints": ("client",),
    "whole_message_size_sha1": ("rfc822_message", "rfc822_messages"),
}

# Arkime tags that are no SMTP fact: its test configuration's tagger and
# WISE/intel plugins (srcip, dstip, zeek:intel), its certificate parser,
# and its TCP analysis of ACKs covering bytes not seen yet (an ordering
# observation: in arkime/smtp-decrypted session 3 the bytes arrive in frame
# 86, after the ACK in frame 85; the record has no field for it).
ARKIME_OTHER_TAGS = ("srcip", "dstip", "zeek:intel", "cert:", "acked-unseen-segment-")

# Where a peer is wrong, what is right, and why: (case, group, where, fact).
# `where` is s<session>[.t<transaction>][.e<entity>|.m<message>] in the
# peer's lists. A dict {"anomaly": name} means: the peer's value answers
# something that is no transaction fact, and the record shows it as that
# anomaly instead.
PEER_WRONG = {
    ("zeek/smtp-bdat-gap", "content", "s0.t0.m1", "size_seen"): (
        78, "Zeek's rfc822 view reports 86 bytes, but the DATA payload is 81 bytes (frame 30) "
            "and 78 without its '.CRLF' terminator (RFC 5321 4.1.1.4)"),
    ("arkime/arkime_synthetic", "session", "s1", "session"): (
        None, "Arkime's second document for 10.0.5.100:54323 has 0 packets (packetPos empty), the "
              "same community_id and times as the first: a second save of one connection, not a "
              "second connection; the capture has one SYN for this 4-tuple (frame 233)"),
    ("arkime/smtp-moloch-bof", "content", "s0", "subjects"): (
        ["MIME test"], "the header is 'Subject:  MIME test' with two blanks; Arkime strips exactly "
                       "one (smtp.c: line->str+9), but the blanks before the text are folding white "
                       "space, not part of it (RFC 5322 3.2.2, 2.2.3)"),
    ("arkime/smtp-moloch-bof", "content", "s0", "attachment_filenames"): (
        "the whole name", "the Content-Disposition filename is 8192 'A's; Arkime's copy "
                                  "is cut at 4095 bytes by its output buffer (smtp.c "
                                  "smtp_email_add_encoded, char output[0xfff]): smtptap's must be "
                                  "the whole name, of which Arkime's is the start"),
    ("arkime/smtp-subject-windows", "session", "s0", "peer_tags"): (
        ["smtp:statuscode:250"], "the client ends DATA with '\\r\\n.\\n' (frame 4) and the server "
                                 "answers '250 2.0.0 ... Message accepted for delivery' (frame "
                                 "18), so the data ended there; Arkime splits lines only at CR "
                                 "(smtp.c EMAIL_DATA), never sees the '.' line, and tags no "
                                 "status"),
    ("zeek/smtp-bdat-pipeline-8bitmime", "content", "s0.t0", "path"): (
        ["217.146.107.83", "23.128.96.18", "23.128.96.19", "2607:f8b0:4864:20::42f"],
        "the third Received header names '[IPv6:2607:f8b0:4864:20::42f]', an IPv6 address literal "
        "(RFC 5321 4.1.3); Zeek's extract_ip_addresses(check_wrapping=T) takes only addresses "
        "directly inside brackets, so it skips it"),
    ("zeek/smtp-bdat-pipeline-8bitmime", "content", "s0.t1", "path"): (
        ["217.146.107.83", "23.128.96.18", "23.128.96.19", "2a00:1450:4864:20::431",
         "170.253.51.130"],
        "the third Received header names '[IPv6:2a00:1450:4864:20::431]', an IPv6 address literal "
        "(RFC 5321 4.1.3) Zeek skips as in the first transaction"),
    ("zeek/smtp-bdat-pipeline-8bitmime", "content", "s0.t1.e0", "mime_type"): (
        "text/plain", "Zeek's mime_type is libmagic's guess from the content (a git patch: "
                      "text/x-diff); the part is declared 'Content-Type: text/plain' (RFC 2045 5)"),
    ("zeek/smtp-one-side-only", "content", "s0.t0", "peer_fuids"): (
        1, "no empty line ends the header block: after 'Subject: Hello1!' come 150 lines of "
           "'XXXX...' without a colon, which are no header fields (RFC 5322 2.2); Zeek's MIME "
           "parser takes them for (illegal) header lines and so gives no entity, smtptap keeps "
           "them as the body with anomaly missing_header_separator, as Python's email package "
           "does (MissingHeaderBodySeparatorDefect)"),
    ("zeek/smtp-one-side-only", "content", "s0.t1", "peer_fuids"): (
        1, "as in the first transaction, after 'Subject: Hello2!'"),
    ("zeek/smtp-mail-transactions-invalid", "content", "s0.t0", "peer_fuids"): (
        1, "the message is the one line 'Hello, Alice (1)' (frame 18) without a colon, no header "
           "field (RFC 5322 2.2): Zeek's MIME parser takes it for an illegal header and gives no "
           "entity, smtptap keeps it as the body (missing_header_separator)"),
    ("zeek/smtp-mail-transactions-invalid", "content", "s0.t3", "peer_fuids"): (
        1, "the message is the one line 'Hello, Alice... do you still like me?' (frame 67), as in "
           "the first transaction"),
    ("zeek/smtp-mail-transactions-invalid", "envelope", "s0.t1", "last_reply"): (
        "503 valid RCPT command must precede DATA",
        "the transaction (RCPT refused with 503, frame 25) ends with the DATA refused by '503 "
        "valid RCPT command must precede DATA' (frame 28); Zeek's last_reply is the last reply "
        "before the next MAIL, '500 unrecognized command' (frame 34), which answers the '.' line "
        "the client sent after the refused DATA, a command by RFC 5321 4.1.1.4, not mail data"),
    ("zeek/smtp-mail-transactions-invalid", "envelope", "s0.t2", "last_reply"): (
        {"anomaly": "unknown_command"},
        "this record is the start of the transaction it is merged with (ALIGN); its last reply, "
        "'500 unrecognized command' (frame 55), answers the '.' line sent after the refused DATA "
        "(frame 49): RFC 5321 4.2.4's 500 for an unrecognized command, which the record flags as "
        "unknown_command"),
}

# Peer records that are not one to one with transactions: (case, session) ->
# ([(peer record indices, smtptap transaction indices)], why).
ALIGN = {
    ("zeek/smtp-bdat-gap", 0): (
        [([0], [0, 1])],
        "Zeek logs one record for two transactions: BDAT 200 without LAST (frame 18), then DATA "
        "answered 354 (frame 28); RFC 3030 2 forbids DATA in the transaction of a BDAT, so the "
        "server's 354 means the BDAT transaction ended in the 1000 lost bytes; Zeek closes a "
        "record only on the reply to '.' or to BDAT LAST (main.zeek smtp_reply)"),
    ("zeek/smtp-mail-transactions-invalid", 0): (
        [([0], [0]), ([1], [1]), ([2, 3], [2])],
        "Zeek starts a record at every MAIL command (main.zeek smtp_message in smtp_request), also "
        "at 'MAIL FROM:<bob@example.org>' refused with '503 sender already given' (frame 58); the "
        "refusal proves the transaction begun by the accepted MAIL (frame 36/37) still open "
        "(RFC 5321 4.1.1.2, 3.3), and it ends with '250 OK id=1pgobM-001mwq-Vc' (frame 71): "
        "Zeek's records 3 and 4 are one transaction"),
}

# Packets after the close (an ACK after the FIN exchange, a packet after the other side's
# RST) are counted: the record waits 5 s of packet time for them (reassembly/linger.c),
# as Zeek's tcp_close_delay.

# Cases whose group of facts fails until another open issue is done.
XFAIL = {
}


def capture_of(folder, exp):
    name = exp["capture"]
    path = os.path.join(folder, name)
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    return path


def sha(alg, data):
    return hashlib.new(alg, data).hexdigest()


def last_line(reply):
    return reply.split("\n")[-1] if reply is not None else None


def all_rcpts(tx):
    return list(tx["rcpt_to"]) + [r["addr"] for r in tx["rcpt_rejected"]]


def addr_of(entry):
    """The addr-spec in 'Name <a@b>', '<a@b>' or 'a@b'."""
    entry = entry.strip()
    if entry.endswith(">") and "<" in entry:
        return entry[entry.rindex("<") + 1:-1].strip()
    return entry


def zeek_address(entry):
    """A Zeek to/cc set member ('"Name" <a@b>', '<a@b>', 'a@b') the way smtptap
    writes addresses: 'Name <a@b>' with the quotes of a quoted name removed,
    else 'a@b' (docs/record.md)."""
    entry = entry.strip()
    if not (entry.endswith(">") and "<" in entry):
        return entry
    name, addr = entry[:entry.rindex("<")].strip(), addr_of(entry)
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return "%s <%s>" % (name, addr) if name else addr


def lenient_ip(text):
    """An address as Arkime's moloch_field_ip_add_str takes it (dotted quads
    with leading zeros included), or None."""
    text = text.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", text) and all(int(x) < 256 for x in text.split(".")):
        return ".".join(str(int(x)) for x in text.split("."))
    return None


def arkime_received(value):
    """Arkime's smtp_parse_email_received on one Received value: the hosts after
    'from ' and 'by ', and what stands in [brackets]. Arkime's unfolding turns
    a fold into a blank, smtptap keeps the fold's tab: read tabs as blanks."""
    data, hosts, ips = value.replace("\t", " "), set(), set()
    i, n = 0, len(value)
    while i < n:
        if n - i > 10:
            if data.startswith("from ", i) and (i == 0 or data[i - 1] != "-"):
                i += 5
                while i < n and data[i].isspace():
                    i += 1
                if i < n and data[i] == "[":
                    j = data.find("]", i + 1)
                    j = n if j < 0 else j
                    ips.add(data[i + 1:j])
                    i = j + 1
                    continue
                start = i
                while i < n and data[i] not in " )":
                    if data[i] == "@":
                        start = i + 1
                    i += 1
                hosts.add(data[start:i].lower())
            elif data.startswith("by ", i):
                i += 3
                while i < n and data[i].isspace():
                    i += 1
                start = i
                while i < n and data[i] not in " )":
                    if data[i] == "@":
                        start = i + 1
                    i += 1
                hosts.add(data[start:i].lower())
        if i < n and data[i] == "[":
            j = data.find("]", i + 1)
            j = n if j < 0 else j
            ips.add(data[i + 1:j])
            i = j
        i += 1
    return hosts, {x for x in (lenient_ip(ip) for ip in ips) if x}


def decoded(value):
    """A raw header value with its RFC 2047 encoded words decoded."""
    if "=?" not in value:
        return value
    return str(email.header.make_header(email.header.decode_header(value)))


def arkime_addresses(value):
    """Arkime's smtp_parse_email_addresses: per comma-separated entry, the text
    in <> or up to the comma, lower-cased."""
    out, i, n = [], 0, len(value)
    while i < n:
        while i < n and value[i].isspace():
            i += 1
        start = i
        if i < n and value[i] == '"':
            i += 1
            while i < n and value[i] != '"':
                i += 1
            i += 1
            while i < n and value[i].isspace():
                i += 1
            start = i
        while i < n and value[i] not in "<,":
            i += 1
        if i < n and value[i] == "<":
            i += 1
            start = i
            while i < n and value[i] != ">":
                i += 1
        out.append(value[start:i].lower())
        while i < n and value[i] != ",":
            i += 1
        if i < n:
            i += 1
    return out


def zeek_path(rec, messages):
    """Zeek's path for a record: server, client, then per message the
    Received addresses, a repeat of the previous one skipped (main.zeek
    mime_one_header). smtptap's message path is per header the address Zeek's
    find_address_in_smtp_header takes, with its own repeats skipped."""
    path = [rec["server"]["ip"], rec["client"]["ip"]]
    for m in messages:
        for ip in m["path"]:
            if ip != path[-1]:
                path.append(ip)
    return path


class Leaf:
    """One MIME entity of a stored message as smtptap reports it. The tree is
    read from the stored .eml with Python's email package only to place
    smtptap's parts (IMAP numbers, container entities, transfer encodings);
    every byte compared comes from smtptap's record and store."""

    def __init__(self, path, part, ancestors, leaf):
        self.path, self.part, self.ancestors, self.leaf = path, part, ancestors, leaf
        self.att = None       # smtptap's attachment for this entity
        self.kind = None      # "attachment", "body", "body_html"
        self.data = None      # smtptap's decoded bytes
        self.missing = 0
        self.depth = 0        # Zeek's entity count in the session
        self.container_has_body = False  # of an attached message: a line after its headers

    @property
    def cte(self):
        return (self.part.get("Content-Transfer-Encoding") or "7bit").strip().lower()

    @property
    def declared_type(self):
        return self.att["content_type"] if self.att else self.part.get_content_type()

    @property
    def filename(self):
        return self.att["filename"] if self.att else None

    def zeek_bytes(self):
        """The bytes Zeek's MIME analyzer delivers for this leaf (MIME.cc
        DecodeQuotedPrintable, DecodeBinary): quoted-printable gets a CRLF
        after every line that does not end in a soft break; 7bit/8bit/binary
        after every line, except the last one's when the parent is a multipart
        (that CRLF belongs to the boundary, RFC 2046 5.1.1); base64 none. So a
        leaf followed by a boundary has in Zeek's view the boundary's CRLF
        more than RFC 2046 gives it when it is quoted-printable, or 7bit/8bit
        with an attached message for parent and a body line in it."""
        in_multipart = any(a.is_multipart() and not is_message(a) for a in self.ancestors)
        parent = self.ancestors[-1] if self.ancestors else None
        extra = b""
        if in_multipart and self.cte == "quoted-printable":
            extra = b"\r\n"
        elif in_multipart and self.cte != "base64" and parent is not None and is_message(parent):
            if self.container_has_body:
                extra = b"\r\n"
        return self.data + extra

    def zeek_entity(self):
        """Zeek opens a file for a leaf when data or a gap reaches it."""
        return bool(self.zeek_bytes()) or self.missing > 0


def is_message(part):
    return part.get_content_type() in ("message/rfc822", "message/global")


def entities_of(msg, path, ancestors, out):
    """Every entity in Zeek's order (pre-order, containers included), with
    smtptap's mime_path numbering (IMAP section numbers)."""
    if is_message(msg) and isinstance(msg.get_payload(), list):
        out.append(Leaf(path, msg, ancestors, False))
        inner = msg.get_payload(0)
        if inner.is_multipart():
            out.append(Leaf(path, inner, ancestors + [msg], False))
            for i, sub in enumerate(inner.get_payload(), 1):
                entities_of(sub, "%s.%d" % (path, i), ancestors + [msg, inner], out)
        else:
            out.append(Leaf(path + ".1", inner, ancestors + [msg], True))
    elif msg.is_multipart():
        out.append(Leaf(path, msg, ancestors, False))
        for i, sub in enumerate(msg.get_payload(), 1):
            entities_of(sub, "%s.%d" % (path, i) if path else str(i), ancestors + [msg], out)
    else:
        out.append(Leaf(path or "1", msg, ancestors, True))


class Case:
    """One capture: its facts and smtptap's run, computed once."""

    def __init__(self, name):
        self.name = name
        self.folder = os.path.join(CORPUS, name)
        with open(os.path.join(self.folder, "expected.json")) as f:
            self.exp = json.load(f)
        self.capture = capture_of(self.folder, self.exp)
        self.run = smtptap("-r", self.capture)
        with open(os.path.join(self.run.out, "stats.json")) as f:
            self.stats = json.load(f)
        self.used = set()
        self._leaves = {}

    def records_of(self, s):
        if not s.get("client"):
            return list(self.run.records)  # the peer does not name endpoints
        key = (parse_endpoint(s["client"]), parse_endpoint(s["server"]))
        return [r for r in self.run.records
                if ((r["client"]["ip"], r["client"]["port"]),
                    (r["server"]["ip"], r["server"]["port"])) == key]

    def leaves(self, msg):
        """smtptap's MIME entities of one message, in order, each placed."""
        if msg["eml"] in self._leaves:
            return self._leaves[msg["eml"]]
        raw = self.run.file_bytes(msg["eml"])
        tree = email.message_from_bytes(raw, policy=email.policy.compat32)
        ents = []
        entities_of(tree, "", [], ents)
        by_path = {}
        for e in ents:
            by_path.setdefault(e.path, []).append(e)
        for a in msg["attachments"]:
            if ".uu." in a["mime_path"] or ".tnef." in a["mime_path"]:
                continue  # files smtptap finds inside a part: no MIME entity
            cands = [e for e in by_path.get(a["mime_path"], [])
                     if e.leaf != (a["content_type"] in ("message/rfc822", "message/global"))]
            if len(cands) != 1:
                raise AssertionError("smtptap's attachment at mime_path %s is no MIME entity of "
                                     "the stored message %s" % (a["mime_path"], msg["eml"]))
            e = cands[0]
            e.att, e.kind, e.missing = a, "attachment", a["missing_bytes"]
            if a["stored"]:
                e.data = self.run.file_bytes(a["stored"])
        for e in ents:  # does an attached message have a body line after its headers?
            if e.att and not e.leaf and e.data is not None:
                for x in ents:
                    if x.leaf and x.ancestors and x.ancestors[-1] is e.part:
                        x.container_has_body = b"\r\n\r\n" in e.data or e.data.startswith(b"\r\n")
        seen = set()
        for e in ents:
            if not e.leaf or e.att:
                continue
            kind = {"text/plain": "body", "text/html": "body_html"}.get(e.part.get_content_type())
            if kind is None or kind in seen or msg[kind] is None:
                raise AssertionError("the part at mime_path %s (%s) of %s is neither an "
                                     "attachment nor the body in smtptap's record"
                                     % (e.path, e.part.get_content_type(), msg["eml"]))
            seen.add(kind)
            e.kind = kind
            # the body part's decoded bytes as stored (record.md "parts"),
            # else the body text in its charset
            stored = [p["stored"] for p in msg.get("parts", [])
                      if p["mime_path"] == e.path and p["size"] is not None and p["stored"]]
            e.data = (self.run.file_bytes(stored[0]) if stored else
                      msg[kind].encode(e.part.get_content_charset() or "us-ascii"))
        body_missing = msg["missing_bytes"] - sum(a["missing_bytes"] for a in msg["attachments"])
        for e in ents:
            if e.kind in ("body", "body_html"):
                e.missing, body_missing = body_missing, 0
        self._leaves[msg["eml"]] = ents
        return ents


_CASES = {}


def case(name):
    if name not in _CASES:
        _CASES[name] = Case(name)
    return _CASES[name]


def groups_of(exp):
    """The groups of facts the peer states for a capture."""
    sessions = exp["sessions"]
    txs = [t for s in sessions for t in s.get("transactions", [])]
    out = {"session"}
    if any(k in s for s in sessions for k in ("peer_packets", "ndpi_c2s_pkts")):
        out.add("counters")
    envelope_keys = ("mail_from", "rcpt_to", "rcpt_to_includes", "rcpt_to_count_gt", "last_reply",
                     "helo", "tls", "peer_trans_depth")
    if any(k in t for t in txs for k in envelope_keys) or exp.get("peer_event_trace") or any(
            k in s.get("session_email_facts", {}) for s in sessions
            for k in ("senders_envelope_or_header_lowercased",
                      "recipients_envelope_or_header_lowercased")) or any(
            s.get("ndpi_encrypted") and "transactions" in s for s in sessions):
        out.add("envelope")
    content_keys = ("headers", "headers_from_message_baseline", "rfc822_message",
                    "rfc822_messages", "mime_entities", "attachments", "peer_fuids",
                    "zeek_mime_content_hash", "path", "received_path_count_gt")
    arkime_content = ("subjects", "user_agents", "message_ids", "top_content_types",
                      "mime_versions", "received_hosts", "received_ips", "custom_header_values",
                      "peer_header_inventory", "attachment_filenames", "base64_part_md5s",
                      "base64_part_sha256s", "base64_part_magic_types")
    if any(k in t for t in txs for k in content_keys) or any(
            k in s.get("session_email_facts", {}) for s in sessions for k in arkime_content):
        out.add("content")
    if exp.get("peer_weirds"):
        out.add("anomalies")
    return out


def trace_of(exp, s):
    """The peer's event trace lines of this session: ('request', cmd, arg) and
    ('reply', code, cmd, msg), in order."""
    out = []
    for line in (exp.get("peer_event_trace") or {}).get("lines", []):
        if line.startswith("smtp_request, ") or line.startswith("smtp_reply, "):
            kind, rest = line.split(", ", 1)
        else:
            kind, rest = "smtp_request", line
        if kind == "smtp_request":
            uid, _orig, cmd, arg = rest.split(", ", 3)
            item = ("request", cmd, arg)
        else:
            uid, _orig, code, cmd, msg = rest.split(", ", 4)
            item = ("reply", int(code), cmd, msg)
        if uid == s.get("peer_uid"):
            out.append(item)
    return out


BDAT_ARG = re.compile(r"^[0-9]+( LAST)?$", re.I)  # RFC 3030 2: chunk-size [SP end-marker]


class CorpusCase(unittest.TestCase):
    maxDiff = None

    # ---- helpers ---------------------------------------------------------

    def peer(self, c, group, where, fact, value):
        """The peer's value, or what is right where PEER_WRONG names it."""
        key = (c.name, group, where, fact)
        if key in PEER_WRONG:
            c.used.add(key)
            return PEER_WRONG[key][0]
        return value

    def all_named_used(self, c, group):
        stale = [k for k in PEER_WRONG if k[:2] == (c.name, group) and k not in c.used]
        self.assertEqual(stale, [], "PEER_WRONG entries this case no longer needs")

    def messages(self, recs):
        return [t["message"] for r in recs for t in r["transactions"] if t["message"]]

    def sessions(self, c):
        """(index, peer session, records) for the sessions the peer reports as
        SMTP sessions in the clear, minus named duplicates."""
        out = []
        for i, s in enumerate(c.exp["sessions"]):
            if self.peer(c, "session", "s%d" % i, "session", s) is None:
                continue
            if self.not_smtp(c, s):
                continue
            out.append((i, s, c.records_of(s)))
        return out

    def not_smtp(self, c, s):
        feats = " ".join(c.exp["features"])
        if "NEGATIVE" in feats:
            return True
        return bool(s.get("ndpi_encrypted") and "implicit TLS" in feats)

    # ---- session ---------------------------------------------------------

    def check_session(self, c):
        exp, run = c.exp, c.run
        self.assertEqual(exp["schema"], "smtp-holdout-expected/1")
        self.assertIn(exp["peer"], ("zeek", "arkime", "ndpi"))
        self.assertEqual(run.rc, 0, "exit status of smtptap -r %s: %s" % (c.capture, run.stderr))
        self.assertNotIn("AddressSanitizer", run.stderr)
        src = exp["source"]
        names = ["baseline-" + os.path.basename(src["baseline_path"])] if "baseline_path" in src \
            else []
        names += ["baseline-%s--%s" % (os.path.basename(t["baseline_dir"]), f)
                  for t in src.get("tests", []) for f in t["baseline_files"]]
        for name in names:
            self.assertTrue(os.path.exists(os.path.join(c.folder, name)), name)
        p = exp["pcap"]
        with open(c.capture, "rb") as f:
            raw = f.read()
        self.assertEqual(sha("sha256", raw), p["sha256"], "not the capture the facts are about")
        self.assertEqual(len(raw), p["bytes"])
        if p.get("decompressed_sha256"):
            with open(os.path.join(c.folder, p["decompressed_copy"]), "rb") as f:
                plain = f.read()
            self.assertEqual(sha("sha256", plain), p["decompressed_sha256"])
            self.assertEqual(gzip.decompress(raw), plain)
        self.assertEqual(c.stats["packets"], int(p["capinfos_packets"]))
        self.assertEqual(c.stats["packets"], int(p["tcpdump_packet_count"]))
        self.assertLessEqual(c.stats["reassembly"]["ipv6_tcp"], p["ipv6_packets"])
        convs = set()
        for conv in p["tshark_tcp_conversations"]:
            a, b = conv.split(" <-> ")
            convs.add(frozenset((parse_endpoint(a), parse_endpoint(b))))
        for r in run.records:
            ep = frozenset(((r["client"]["ip"], r["client"]["port"]),
                            (r["server"]["ip"], r["server"]["port"])))
            self.assertIn(ep, convs, "a record for no TCP conversation of the capture")
        for k in exp.get("known_facts", []):
            self.assertIn(k, KNOWN_FACTS, "known fact %s has no keys here" % k)
            self.assertTrue(any(key in json.dumps(exp["sessions"]) for key in
                                ('"%s"' % x for x in KNOWN_FACTS[k])),
                            "known fact %s is stated by no key" % k)
        # Sessions: the peer's SMTP sessions are smtptap's records, no more.
        expected = 0
        for i, s in enumerate(exp["sessions"]):
            if self.peer(c, "session", "s%d" % i, "session", s) is None:
                continue
            recs = c.records_of(s)
            if self.not_smtp(c, s):
                self.assertEqual(recs, [], "session %d is not SMTP in the clear, yet reported" % i)
                continue
            expected += 1
            self.assertEqual(len(recs), 1, "session %d (%s -> %s): %d records"
                             % (i, s.get("client"), s.get("server"), len(recs)))
            self.check_one_session(c, i, s, recs[0])
        self.assertEqual(len(run.records), expected, "records: %s" % [
            (r["client"], r["server"]) for r in run.records])
        self.assertEqual(c.stats["sessions"], expected)
        self.all_named_used(c, "session")

    def check_one_session(self, c, i, s, rec):
        where = "s%d" % i
        if "conn_missed_bytes" in s:
            self.assertEqual(rec["missing_bytes"]["client"] + rec["missing_bytes"]["server"],
                             s["conn_missed_bytes"])
        if "endpoint_a" in s:
            self.assertEqual((parse_endpoint(s["endpoint_a"]), parse_endpoint(s["endpoint_b"])),
                             ((rec["client"]["ip"], rec["client"]["port"]),
                              (rec["server"]["ip"], rec["server"]["port"])))
        # nDPI
        if "ndpi_proto" in s:
            proto = s["ndpi_proto"].split("/")[1].split(".")[0]
            self.assertIn(proto, ("SMTP", "SMTPS"))
            tls = bool(rec["starttls"] and rec["starttls"]["encrypted"])
            self.assertEqual(tls, proto == "SMTPS", "nDPI %s, starttls %s" % (proto, rec["starttls"]))
            self.assertEqual(tls, s["ndpi_encrypted"])
            self.assertEqual(not tls, s["ndpi_cleartext"])
            if "ndpi_hostname" in s and not s["ndpi_encrypted"]:
                # nDPI's SMTP dissector names the host of the 220 greeting
                self.assertEqual(rec["banner"].split("\n")[0].split()[1], s["ndpi_hostname"])
            if "ndpi_banner_prefix" in s:
                self.assertTrue(rec["banner"].startswith(s["ndpi_banner_prefix"]), rec["banner"])
        # Arkime
        if "peer_protocols" in s:
            want = {"tcp", "smtp"}
            if rec["tunnel"] in ("socks4", "socks5"):
                want.add("socks")
            if rec["starttls"] and rec["starttls"]["encrypted"]:
                want.add("tls")
            if rec["auth"] and rec["auth"]["mechanism"] == "NTLM":
                want.add("ntlm")
            self.assertEqual(set(s["peer_protocols"]), want)
        if "peer_tags" in s:
            mine = set()
            if rec["auth"]:
                mine.add("smtp:auth" + rec["auth"]["mechanism"].lower())
            if rec["starttls"]:
                mine.add("smtp:starttls")
            for t in rec["transactions"]:  # Arkime tags the reply to each DATA's '.'
                if t["mode"] == "DATA" and t["message"] is not None and t["reply"]:
                    mine.add("smtp:statuscode:%d" % int(t["reply"][:3]))
            for tag in s["peer_tags"]:
                if not tag.startswith("smtp:"):
                    self.assertTrue(tag.startswith(ARKIME_OTHER_TAGS), "unknown Arkime tag " + tag)
            stated = {t for t in s["peer_tags"] if t.startswith("smtp:")}
            named = self.peer(c, "session", where, "peer_tags", None)
            if named is not None:
                stated |= set(named)
            self.assertEqual(mine, stated)
        facts = s.get("session_email_facts", {})
        if "helo" in facts:  # Arkime lower-cases it
            self.assertEqual({(rec["helo"] or "").lower()}, set(facts["helo"]))
        # Zeek's event trace: greeting and EHLO replies
        trace = trace_of(c.exp, s)
        greeting = [x for x in trace if x[0] == "reply" and x[2] == ">"]
        if greeting:
            self.assertEqual(rec["banner"].split("\n"), ["%d%s%s" % (
                x[1], "-" if k < len(greeting) - 1 else " ", x[3]) for k, x in enumerate(greeting)])
        ehlo = [x for x in trace if x[0] == "reply" and x[2] == "EHLO"]
        if ehlo:  # the first line greets, the others are the keywords
            self.assertEqual(rec["extensions"], [x[3] for x in ehlo[1:]])
        for t in s.get("transactions", []):
            if "helo" in t:
                self.assertEqual(rec["helo"], t["helo"])

    # ---- counters --------------------------------------------------------

    def check_counters(self, c):
        sessions = self.sessions(c)
        ndpi = [s for s in c.exp["sessions"] if "ndpi_c2s_pkts" in s]
        if ndpi:
            # stats.json counts the capture, which holds the peer's flows only
            self.assertEqual(len(c.exp["pcap"]["tshark_tcp_conversations"]), len(ndpi))
            self.assertEqual(c.stats["packets"], sum(s["ndpi_c2s_pkts"] + s["ndpi_s2c_pkts"]
                                                     for s in ndpi))
            self.assertEqual(c.stats["bytes"], sum(s["ndpi_c2s_bytes"] + s["ndpi_s2c_bytes"]
                                                   for s in ndpi))
            self.assertNotIn("retransmission", c.exp["pcap"]["tshark_tcp_expert"])
            headers = self.frame_headers(c)
        wrong = []  # every session's, so that one report shows them all
        for i, s, recs in sessions:
            self.assertEqual(len(recs), 1, "session %d has no record" % i)
            rec = recs[0]
            got = rec["packets"]["client"], rec["packets"]["server"]
            if "peer_packets" in s and sum(got) != s["peer_packets"]:
                wrong.append("session %d %s: packets %s, the peer counts %d"
                             % (i, s["client"], rec["packets"], s["peer_packets"]))
            if "ndpi_c2s_pkts" in s:
                cli = (rec["client"]["ip"], rec["client"]["port"])
                self.assertEqual((rec["bytes"]["client"], rec["bytes"]["server"]),
                                 (s["ndpi_c2s_bytes"] - headers[cli, True],
                                  s["ndpi_s2c_bytes"] - headers[cli, False]),
                                 "session %d payload bytes" % i)
                if got != (s["ndpi_c2s_pkts"], s["ndpi_s2c_pkts"]):
                    wrong.append("session %d %s: packets %s, the peer counts %d/%d"
                                 % (i, s["client"], rec["packets"], s["ndpi_c2s_pkts"],
                                    s["ndpi_s2c_pkts"]))
        self.assertFalse(wrong, "; ".join(wrong))
        self.all_named_used(c, "counters")

    def frame_headers(self, c):
        """Per (client, from client): frame bytes that are no TCP payload."""
        out = {}
        lines = subprocess.run(
            ["tshark", "-r", c.capture, "-T", "fields", "-e", "ip.src", "-e", "ipv6.src",
             "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "tcp.dstport",
             "-e", "frame.len", "-e", "tcp.len"],
            capture_output=True, text=True, check=True).stdout.splitlines()
        clients = {(r["client"]["ip"], r["client"]["port"]) for r in c.run.records}
        for line in lines:
            s4, s6, d4, d6, sport, dport, flen, tlen = line.split("\t")
            src = (str(ipaddress.ip_address(s4 or s6)), int(sport))
            dst = (str(ipaddress.ip_address(d4 or d6)), int(dport))
            key = (src, True) if src in clients else (dst, False) if dst in clients else None
            if key:
                out[key] = out.get(key, 0) + int(flen) - int(tlen)
        return out

    # ---- envelope --------------------------------------------------------

    def check_envelope(self, c):
        for i, s, recs in self.sessions(c):
            self.assertEqual(len(recs), 1, "session %d has no record" % i)
            rec = recs[0]
            if c.exp["peer"] == "ndpi":
                if s.get("ndpi_encrypted"):  # no cleartext mail exists
                    self.assertEqual(rec["transactions"], [])
                continue
            if c.exp["peer"] == "arkime":
                self.check_arkime_envelope(c, i, s, rec)
                continue
            self.check_zeek_transactions(c, i, s, rec)
            self.check_zeek_trace(c, i, s, rec)
        self.all_named_used(c, "envelope")

    def check_arkime_envelope(self, c, i, s, rec):
        facts = s["session_email_facts"]
        txs, msgs = rec["transactions"], self.messages([rec])
        if "senders_envelope_or_header_lowercased" in facts:
            mine = {t["mail_from"].lower() for t in txs if t["mail_from"] is not None}
            for m in msgs:
                if m["from"] is not None:
                    mine |= set(arkime_addresses(m["from"]))
            self.assertEqual(mine, set(facts["senders_envelope_or_header_lowercased"]))
        if "recipients_envelope_or_header_lowercased" in facts:
            mine = {a.lower() for t in txs for a in all_rcpts(t)}
            for m in msgs:
                mine |= {addr_of(a).lower() for a in m["to"] + m["cc"]}
            self.assertEqual(mine, set(facts["recipients_envelope_or_header_lowercased"]))

    def aligned(self, c, i, s, rec):
        """[(peer records, their indices, smtptap transactions, their indices)]"""
        peer = list(enumerate(s.get("transactions", [])))
        # A record Zeek logs for STARTTLS alone (smtp_starttls sets
        # has_client_activity): the session's STARTTLS, not a transaction.
        starttls_only = [(k, t) for k, t in peer if t.get("tls") and not (
            {"mail_from", "rcpt_to", "headers", "mime_entities"} & set(t)) and not t["peer_fuids"]]
        for k, t in starttls_only:
            self.assertIsNotNone(rec["starttls"], "record %d: STARTTLS not seen" % k)
            self.assertEqual(t["peer_trans_depth"], 1 + sum(
                1 for tx in rec["transactions"] if tx["message"] is not None and tx["reply"]))
            self.assertEqual(rec["starttls"]["code"], 220)
            self.assertTrue(rec["starttls"]["encrypted"])
            self.assertEqual(last_line(rec["starttls"]["reply"]),
                             self.peer(c, "envelope", "s%d.t%d" % (i, k), "last_reply",
                                       t["last_reply"]))
            self.assertEqual(t["path"], zeek_path(rec, []))
        peer = [(k, t) for k, t in peer if (k, t) not in starttls_only]
        txs = rec["transactions"]
        if (c.name, i) in ALIGN:
            pairs = ALIGN[(c.name, i)][0]
            self.assertEqual([k for p, _ in pairs for k in p], [k for k, _ in peer])
            self.assertEqual(len(txs), sum(len(m) for _, m in pairs),
                             "transactions: %s" % [(t["mail_from"], all_rcpts(t), t["reply"])
                                                   for t in txs])
            return [([t for k, t in peer if k in p], p, [txs[j] for j in m], m) for p, m in pairs]
        if s.get("partial"):
            # a subset: each peer record is the next transaction its stated
            # envelope names
            out, j = [], 0
            for k, t in peer:
                while j < len(txs) and not self.envelope_matches(t, txs[j]):
                    j += 1
                self.assertLess(j, len(txs), "no transaction for record %d in %s" % (
                    k, [(x["mail_from"], all_rcpts(x)) for x in txs]))
                out.append(([t], [k], [txs[j]], [j]))
                j += 1
            return out
        self.assertEqual(len(txs), len(peer), "transactions: %s" % [
            (t["mail_from"], all_rcpts(t), t["reply"]) for t in txs])
        return [([t], [k], [txs[k2]], [k2]) for k2, (k, t) in enumerate(peer)]

    def envelope_matches(self, t, tx):
        if "mail_from" in t and tx["mail_from"] != t["mail_from"]:
            return False
        if "rcpt_to" in t and set(all_rcpts(tx)) != set(t["rcpt_to"]):
            return False
        return set(t.get("rcpt_to_includes", [])) <= set(all_rcpts(tx))

    def check_zeek_transactions(self, c, i, s, rec):
        groups = self.aligned(c, i, s, rec)
        txs = rec["transactions"]
        for prs, pks, mine, mks in groups:
            where = ["s%d.t%d" % (i, k) for k in pks]
            label = "records %s / transactions %s" % (pks, mks)
            # mail_from: the MAIL that began it; a later one would have ended
            # Zeek's record (main.zeek smtp_message on MAIL)
            for w, t in zip(where, prs):
                if "mail_from" in t:
                    self.assertEqual(mine[0]["mail_from"],
                                     self.peer(c, "envelope", w, "mail_from", t["mail_from"]), label)
            for tx in mine[1:]:
                self.assertIsNone(tx["mail_from"], label)
            rcpts = {a for tx in mine for a in all_rcpts(tx)}
            if any("rcpt_to" in t for t in prs):
                self.assertEqual(rcpts, {a for t in prs for a in t.get("rcpt_to", [])}, label)
            for t in prs:
                self.assertLessEqual(set(t.get("rcpt_to_includes", [])), rcpts, label)
                if "rcpt_to_count_gt" in t:
                    self.assertGreater(len(rcpts), t["rcpt_to_count_gt"], label)
            # last_reply: of the last record, the transaction's final reply
            for n, (w, t) in enumerate(zip(where, prs)):
                if "last_reply" not in t:
                    continue
                want = self.peer(c, "envelope", w, "last_reply", t["last_reply"])
                if isinstance(want, dict):
                    self.assertIn(want["anomaly"], [a["name"] for a in rec["anomalies"]], label)
                    continue
                self.assertEqual(n, len(prs) - 1, "%s: last_reply of a record that is not the "
                                 "last of its transaction needs a reason" % w)
                self.assertEqual(last_line(mine[-1]["reply"]), want, label)
                if mine[-1]["message"] is not None:
                    status = {"2": "accepted", "4": "rejected", "5": "rejected"}[want[0]]
                    self.assertEqual(mine[-1]["status"], status, label)
                elif want[0] in "45":
                    self.assertEqual(mine[-1]["status"], "rejected", label)
            # trans_depth: messages the server acknowledged before, plus one
            # (main.zeek new_smtp_log: messages_transferred + 1)
            done = sum(1 for tx in txs[:mks[0]] if tx["message"] is not None and tx["reply"])
            for t in prs:
                if "peer_trans_depth" in t:
                    self.assertEqual(t["peer_trans_depth"], done + 1, label)
            for w, t in zip(where, prs):
                if "tls" in t:
                    if t["tls"]:
                        self.assertEqual(rec["starttls"]["code"], 220, label)
                    else:
                        self.assertFalse(rec["starttls"] and rec["starttls"]["code"] == 220, label)

    def check_zeek_trace(self, c, i, s, rec):
        trace = trace_of(c.exp, s)
        if not trace:
            return
        txs = rec["transactions"]
        reqs = [x for x in trace if x[0] == "request"]
        ehlos = [x[2] for x in reqs if x[1] in ("EHLO", "HELO")]
        if ehlos:
            self.assertEqual(rec["helo"], ehlos[-1])
        # MAIL: address and parameters of each transaction that has a sender
        mails = []
        for x in reqs:
            if x[1] == "MAIL":
                m = re.match(r"(?i)from:\s*<([^>]*)>\s*(.*)$", x[2])
                mails.append((m.group(1), m.group(2) or None))
        self.assertEqual(mails, [(t["mail_from"], t["mail_params"]) for t in txs
                                 if t["mail_from"] is not None])
        rcpts = [re.match(r"(?i)to:\s*<([^>]*)>", x[2]).group(1) for x in reqs if x[1] == "RCPT"]
        self.assertEqual(sorted(rcpts), sorted(a for t in txs for a in all_rcpts(t)))
        # Replies: MAIL 250 each began a transaction, RCPT 250 accepted it
        replies = [x for x in trace if x[0] == "reply"]
        if replies:
            mail_ok = [x for x in replies if x[2] == "MAIL" and x[1] == 250]
            self.assertEqual(len(mail_ok), len([t for t in txs if t["mail_from"] is not None]))
            rcpt_ok = [x for x in replies if x[2] == "RCPT" and x[1] in (250, 251)]
            self.assertEqual(len(rcpt_ok), sum(len(t["rcpt_to"]) for t in txs))
        # BDAT and DATA, per transaction (a MAIL begins the next)
        per_tx, cur = [], None
        for x in trace:
            if x[0] == "request" and x[1] == "MAIL":
                cur = {"bdat": [], "data": False, "reply": None}
                per_tx.append(cur)
            elif cur is None:
                continue
            elif x[0] == "request" and x[1] == "BDAT":
                cur["bdat"].append(x[2])
            elif x[0] == "request" and x[1] == "DATA":
                cur["data"] = True
            elif x[0] == "reply" and x[2] == "BDAT":
                cur["reply"] = "%d %s" % (x[1], x[3])
        with_mail = [t for t in txs if t["mail_from"] is not None]
        self.assertEqual(len(per_tx), len(with_mail))
        for n, (want, tx) in enumerate(zip(per_tx, with_mail)):
            label = "transaction %d" % n
            if want["bdat"]:  # refused or not, the transaction used BDAT
                self.assertEqual(tx["mode"], "BDAT", label)
            if want["data"] and not want["bdat"]:
                self.assertEqual(tx["mode"], "DATA", label)
            if want["reply"] and want["reply"][0] in "45":  # a BDAT refused (RFC 3030 2)
                self.assertEqual((tx["reply"], tx["status"]), (want["reply"], "rejected"), label)
            # the sizes of the chunks (arguments RFC 3030's grammar accepts;
            # the others are the peer's weirds, checked in anomalies)
            sizes = [int(a.split()[0]) for a in want["bdat"] if BDAT_ARG.match(a)]
            if tx["message"] is not None and want["bdat"]:
                if tx["message"]["missing_bytes"] == 0:
                    self.assertEqual(tx["message"]["size"], sum(sizes), label)
                self.assertEqual(tx["message"]["complete"],
                                 bool(want["bdat"]) and want["bdat"][-1].upper().endswith(" LAST")
                                 and tx["message"]["missing_bytes"] == 0, label)

    # ---- content ---------------------------------------------------------

    def check_content(self, c):
        for i, s, recs in self.sessions(c):
            self.assertEqual(len(recs), 1, "session %d has no record" % i)
            rec = recs[0]
            if c.exp["peer"] == "arkime":
                self.check_arkime_content(c, i, s, rec)
            else:
                self.check_zeek_content(c, i, s, rec)
        self.all_named_used(c, "content")

    def check_arkime_content(self, c, i, s, rec):
        facts, where = s["session_email_facts"], "s%d" % i
        msgs = self.messages([rec])
        if any(k in facts for k in ("subjects", "user_agents", "message_ids", "top_content_types",
                                    "mime_versions", "attachment_filenames")):
            self.assertTrue(msgs, "the peer states message facts, smtptap has no message")

        def values(get):
            return {v for v in (get(m) for m in msgs) if v is not None}
        if "subjects" in facts:
            self.assertEqual(values(lambda m: m["subject"]),
                             set(self.peer(c, "content", where, "subjects", facts["subjects"])))
        if "user_agents" in facts:
            self.assertEqual(values(lambda m: m["user_agent"]), set(facts["user_agents"]))
        if "message_ids" in facts:  # Arkime strips the <>
            self.assertEqual(values(lambda m: m["message_id"] and m["message_id"].strip("<>")),
                             set(facts["message_ids"]))
        # Arkime turns a fold into one blank (smtp.c EMAIL_DATA_HEADER_DONE),
        # smtptap keeps the fold's white space (RFC 5322 2.2.3): tabs as blanks
        if "top_content_types" in facts:
            self.assertEqual(values(lambda m: m["headers"].get("content-type", "").replace(
                "\t", " ") or None), set(facts["top_content_types"]))
        if "mime_versions" in facts:
            self.assertEqual(values(lambda m: m["headers"].get("mime-version")),
                             set(facts["mime_versions"]))
        if "received_hosts" in facts or "received_ips" in facts:
            hosts, ips = set(), set()
            for m in msgs:
                for r in m["received"]:
                    h, a = arkime_received(r)
                    hosts |= h
                    ips |= a
                if m["x_originating_ip"]:  # Arkime's test configuration's smtpIpHeaders
                    ips.add(lenient_ip(m["x_originating_ip"]))
            if "received_hosts" in facts:
                self.assertEqual(hosts, set(facts["received_hosts"]))
            if "received_ips" in facts:
                self.assertEqual(ips, set(facts["received_ips"]))
        for name, vals in facts.get("custom_header_values", {}).items():
            self.assertEqual(values(lambda m: m["headers"].get(name)), set(vals), name)
        inv = facts.get("peer_header_inventory")
        if inv:
            self.assertEqual({h for m in msgs for h in m["headers"]}, set(inv["header"]))
            if "headerField" in inv:
                self.assertLessEqual(set(inv["headerField"]), set(inv["header"]))
                # Arkime keeps these values raw; smtptap decodes RFC 2047 words
                # in every header: the peer's are decoded with Python's email
                self.assertEqual({m["headers"][h].replace("\t", " ") for m in msgs
                                  for h in inv["headerField"] if h in m["headers"]},
                                 {decoded(v) for v in inv["headerValue"]})
        if "attachment_filenames" in facts:
            names = {a["filename"] for m in msgs for a in m["attachments"] if a["filename"]}
            named = self.peer(c, "content", where, "attachment_filenames", None)
            if named == "the whole name":
                (fn,) = facts["attachment_filenames"]
                (mine,) = names
                self.assertTrue(mine.startswith(fn) and len(mine) > len(fn))
                (m,) = msgs
                parsed = email.message_from_bytes(c.run.file_bytes(m["eml"]),
                                                  policy=email.policy.compat32)
                self.assertIn(mine, [p.get_filename() for p in parsed.walk()])
            else:
                self.assertEqual(names, set(facts["attachment_filenames"]))
        if any(k in facts for k in ("base64_part_md5s", "base64_part_sha256s",
                                    "base64_part_magic_types")):
            # Arkime hashes each base64 part whose headers it reads as a MIME
            # part (inside a multipart), bodies included (smtp.c EMAIL_MIME_DONE)
            parts = [e for m in msgs for e in c.leaves(m) if e.leaf and e.cte == "base64"
                     and e.ancestors and e.ancestors[-1].is_multipart()
                     and not is_message(e.ancestors[-1])]
            for e in parts:
                self.assertEqual(e.missing, 0, "session %d, part %s (%s): %d bytes missing"
                                 % (i, e.path, e.filename, e.missing))
            for e in parts:  # an attachment's hashes in the record are of its stored bytes
                if e.att:
                    self.assertEqual((e.att["md5"], e.att["sha256"]),
                                     (sha("md5", e.data), sha("sha256", e.data)), e.path)
            for key, alg in (("base64_part_md5s", "md5"), ("base64_part_sha256s", "sha256")):
                if key in facts:
                    self.assertEqual({sha(alg, e.data) for e in parts}, set(facts[key]), key)
            if "base64_part_magic_types" in facts:
                self.assertEqual({e.declared_type for e in parts},
                                 set(facts["base64_part_magic_types"]))

    def check_zeek_content(self, c, i, s, rec):
        groups = self.aligned(c, i, s, rec)
        depth = 0  # Zeek counts entities over the session (mime_begin_entity)
        for tx in rec["transactions"]:
            for e in c.leaves(tx["message"]) if tx["message"] else []:
                depth += 1
                e.depth = depth
        for prs, pks, mine, mks in groups:
            label = "records %s / transactions %s" % (pks, mks)
            msgs = [tx["message"] for tx in mine if tx["message"]]
            for n, (k, t) in enumerate(zip(pks, prs)):
                where = "s%d.t%d" % (i, k)
                own = msgs if n == len(prs) - 1 else []
                self.check_zeek_record_content(c, rec, where, t, own, label)

    def check_zeek_record_content(self, c, rec, where, t, msgs, label):
        if "path" in t:
            self.assertEqual(zeek_path(rec, msgs),
                             self.peer(c, "content", where, "path", t["path"]), label)
        if "received_path_count_gt" in t:
            self.assertGreater(len(zeek_path(rec, msgs)), t["received_path_count_gt"], label)
        headers = dict(t.get("headers") or {}, **(t.get("headers_from_message_baseline") or {}))
        if headers:
            self.assertEqual(len(msgs), 1, "%s: headers of no single message" % label)
            m = msgs[0]
            for k in ("from", "subject", "date", "message_id", "in_reply_to", "user_agent"):
                if k in headers:
                    self.assertEqual(m[k], headers[k], k)
            for k in ("to", "cc"):
                if k in headers:
                    self.assertEqual(set(m[k]), {zeek_address(x) for x in headers[k]}, k)
                if k + "_includes" in headers:
                    self.assertLessEqual(set(headers[k + "_includes"]), {addr_of(x) for x in m[k]},
                                         k)
                if k + "_count_gt" in headers:
                    self.assertGreater(len(m[k]), headers[k + "_count_gt"], k)
            if "from_includes" in headers:
                self.assertLessEqual(set(headers["from_includes"]),
                                     {a for _, a in email.utils.getaddresses([m["from"] or ""])})
            # Zeek's first_received is the last Received it saw, the bottom one
            if "first_received" in headers:
                self.assertEqual(m["received"][-1], headers["first_received"])
            if "second_received" in headers:
                self.assertEqual(m["received"][-2], headers["second_received"])
        one = t.get("rfc822_message")
        if one:
            self.assertEqual(len(msgs), 1, label)
            self.check_whole(c, msgs[0], one["size"], one["sha1"], 0,
                             one.get("expected_content_file"))
        if "rfc822_messages" in t:
            self.assertEqual(len(msgs), len(t["rfc822_messages"]), label)
            for n, (m, want) in enumerate(zip(msgs, t["rfc822_messages"])):
                size = self.peer(c, "content", "%s.m%d" % (where, n), "size_seen", want["size_seen"])
                self.check_whole(c, m, size, None, want["missing_bytes"],
                                 want.get("expected_content_file"))
        leaves = [e for m in msgs for e in c.leaves(m) if e.leaf]
        ents = [e for e in leaves if e.zeek_entity()]
        if "peer_fuids" in t:
            want = self.peer(c, "content", where, "peer_fuids", len(t["peer_fuids"]))
            self.assertEqual(len(ents), want, "%s: entities %s" % (label, [
                (e.path, e.declared_type, len(e.data)) for e in ents]))
        if "mime_entities" in t:
            self.assertEqual(len(ents), len(t["mime_entities"]), label)
            for n, (e, want) in enumerate(zip(ents, t["mime_entities"])):
                self.check_entity(c, "%s.e%d" % (where, n), e, want)
        if "attachments" in t:
            named = [e for e in leaves + [x for m in msgs for x in c.leaves(m) if not x.leaf]
                     if e.filename]
            self.assertEqual(sorted(e.filename for e in named),
                             sorted(a["filename"] for a in t["attachments"]), label)
            for n, want in enumerate(t["attachments"]):
                (e,) = [x for x in named if x.filename == want["filename"]]
                if "content_type" in want:
                    self.assertEqual(e.att["content_type"], want["content_type"])
                if "disposition" in want:
                    self.assertEqual(e.att["disposition"], want["disposition"])
                if "content_transfer_encoding" in want:
                    self.assertEqual(e.cte, want["content_transfer_encoding"])
                if e.leaf:
                    self.check_entity(c, "%s.a%d" % (where, n), e, want)
        if "zeek_mime_content_hash" in t:
            h = t["zeek_mime_content_hash"]
            data = b"".join(e.zeek_bytes() for e in ents)
            self.assertEqual((len(data), sha("md5", data), sha("sha256", data)),
                             (h["content_len"], h["md5"], h["sha256"]))

    def check_whole(self, c, m, size, sha1, missing, content_file):
        data = c.run.file_bytes(m["eml"])
        self.assertEqual((m["size"], len(data)), (size, size))
        self.assertEqual(m["missing_bytes"], missing)
        if sha1:
            self.assertEqual(sha("sha1", data), sha1)
        if content_file:
            with open(os.path.join(c.folder, content_file), "rb") as f:
                self.assertEqual(data, f.read())

    def check_entity(self, c, where, e, want):
        label = "%s (mime_path %s)" % (where, e.path)
        if "depth" in want:
            self.assertEqual(e.depth, want["depth"], label)
        if want.get("mime_type"):  # null: Zeek's sniffing found nothing
            self.assertEqual(e.declared_type,
                             self.peer(c, "content", where, "mime_type", want["mime_type"]), label)
        if "filename" in want:
            self.assertEqual(e.filename, want["filename"], label)
        if "missing_bytes" in want:
            self.assertEqual(e.missing, want["missing_bytes"], label)
        data = e.zeek_bytes()
        if e.att:
            self.assertIsNotNone(e.data, "%s: not stored" % label)
            self.assertEqual((e.att["size"], e.att["md5"], e.att["sha1"], e.att["sha256"]),
                             (len(e.data), sha("md5", e.data), sha("sha1", e.data),
                              sha("sha256", e.data)), label)
        if "size" in want:
            self.assertEqual(len(data), want["size"], label)
        for alg in ("md5", "sha1", "sha256"):
            if alg in want:
                self.assertEqual(sha(alg, data), want[alg], "%s %s" % (label, alg))
        if want.get("expected_content_file"):
            with open(os.path.join(c.folder, want["expected_content_file"]), "rb") as f:
                self.assertEqual(data, f.read(), label)

    # ---- anomalies -------------------------------------------------------

    def check_anomalies(self, c):
        recs = [r for _, _, rs in self.sessions(c) for r in rs]
        by_from = {}
        for w in c.exp["peer_weirds"]:
            by_from.setdefault(w["from"], []).append(w)
        for origin, weirds in by_from.items():
            names = {}
            for w in weirds:
                names.setdefault(w["name"], []).append(w)
            for name, ws in names.items():
                self.assertIn(name, ZEEK_WEIRDS, "weird %s has no counterpart here" % name)
                check = ZEEK_WEIRDS[name]
                if check is None:
                    continue
                # Zeek's weird.log holds a name once per connection (with
                # the first addl), so it counts the sessions that saw it
                hits = [r for r in recs if check(self, c, r, ws[0])]
                self.assertEqual(len(hits), len(ws), "%s (%s)" % (name, origin))
        self.all_named_used(c, "anomalies")


def _anomaly(name, detail=None):
    def check(self, c, rec, weird):
        found = [a for a in rec["anomalies"] if a["name"] == name] + [
            a for t in rec["transactions"] if t["message"]
            for a in t["message"]["anomalies"] if a["name"] == name]
        if detail and found:
            self.assertIn(weird["addl"], found[0]["detail"] or "", name)
        return bool(found)
    return check


def _invalid_transaction(self, c, rec, weird):
    name = {"rcpt to missing mail from": "rcpt_without_mail",
            "data missing rcpt to": "data_without_rcpt"}[weird["addl"]]
    return name in [a["name"] for a in rec["anomalies"]]


def _excessive(self, c, rec, weird):
    # 'N > M': with max_invalid_mail_transactions=M Zeek counted N invalid ones
    # (RCPT without MAIL, DATA without RCPT) and stopped; smtptap counts all
    n = int(weird["addl"].split(" > ")[0])
    return sum(a["name"] in ("rcpt_without_mail", "data_without_rcpt")
               for a in rec["anomalies"]) >= n


def _bdat_short(self, c, rec, weird):
    # the data ended while the BDAT chunk still had announced bytes to come
    return any(t["mode"] == "BDAT" and t["message"] and not t["message"]["complete"]
               and t["status"] == "incomplete" for t in rec["transactions"])


def _too_many_rcpts(self, c, rec, weird):
    # Zeek's test lowered max_rcptto_addresses to 500: the same cap for smtptap
    if not hasattr(c, "capped"):
        c.capped = smtptap("--max-rcpts=500", "-r", c.capture)
        self.assertEqual(c.capped.rc, 0, c.capped.stderr)
    (capped,) = [r for r in c.capped.records if r["client"] == rec["client"]]
    self.assertEqual(len(capped["transactions"][0]["rcpt_to"]), 500)
    return "too_many_rcpts" in [a["name"] for a in capped["anomalies"]]


# Zeek weird -> the check that smtptap reports the same observation in a
# record, or None where smtptap has no such observation (with why).
ZEEK_WEIRDS = {
    "exceeded_mime_max_header_bytes": _anomaly("header_too_large", detail=True),
    "smtp_huge_bdat_chunk": _anomaly("bdat_invalid_size"),
    "smtp_invalid_bdat_command": _anomaly("bdat_invalid_size"),
    "smtp_mail_transaction_invalid": _invalid_transaction,
    "smtp_excessive_invalid_mail_transactions": _excessive,
    "smtp_bdat_remaining_at_end_data": _bdat_short,
    # SMTP_BDAT Done(): a line without CRLF still buffered when the chunk
    # data ended (the 100 'A's before the gap)
    "smtp_bdat_undelivered_at_done": _anomaly("headers_not_terminated"),
    "smtp_too_many_rcptto_addresses": _too_many_rcpts,
    # Zeek's test lowered max_to/cc_addresses and max_path_length to 500;
    # smtptap's caps on to, cc and Received are fixed at 1000 (record.md,
    # Limits): no counterpart. The bound they imply (> 500) is checked with
    # to_count_gt, cc_count_gt and received_path_count_gt.
    "smtp_too_many_to_addresses": None,
    "smtp_too_many_cc_addresses": None,
    "smtp_max_path_length_exceeded": None,
    # Zeek's log writer cut a set when writing smtp.log: no SMTP observation
    "log_container_field_truncated": None,
}


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


def fact_paths(obj, path=""):
    """Every key path in an expected.json, list indices dropped; the children
    of a key FACTS marks as data are not keys."""
    if isinstance(obj, list):
        for x in obj:
            yield from fact_paths(x, path)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            p = path + "." + k if path else k
            yield p
            if not FACTS.get(p, "").endswith("(data)"):
                yield from fact_paths(v, p)


class CorpusFacts(unittest.TestCase):
    def test_every_fact_has_a_use(self):
        files = glob.glob(os.path.join(CORPUS, "*", "*", "expected.json"))
        if not files:
            self.skipTest("peer corpus %s not found" % CORPUS)
        unknown = set()
        for f in files:
            with open(f) as fh:
                unknown |= {p for p in fact_paths(json.load(fh)) if p not in FACTS}
        self.assertEqual(sorted(unknown), [], "facts this test does not use")

    def test_named_cases_exist(self):
        for (name, group, _, _) in PEER_WRONG:
            self.assertIn(name, CASES)
            self.assertIn(group, GROUPS)
        for (name, group) in XFAIL:
            self.assertIn(name, CASES)
            self.assertIn(group, GROUPS)
        for (name, _) in ALIGN:
            self.assertIn(name, CASES)


def _make(name, group):
    folder = os.path.join(CORPUS, name)

    def test(self):
        if not os.path.isdir(CORPUS):
            self.skipTest("peer corpus %s not found" % CORPUS)
        if not os.path.exists(os.path.join(folder, "expected.json")):
            self.skipTest("%s/expected.json not in the peer corpus" % name)
        getattr(self, "check_" + group)(case(name))
    if (name, group) in XFAIL:
        test = unittest.expectedFailure(test)
        test.xfail_reason = XFAIL[(name, group)]
    return test


_found = [os.path.relpath(os.path.dirname(f), CORPUS)
          for f in glob.glob(os.path.join(CORPUS, "*", "*", "expected.json"))]
for _case in sorted(set(CASES) | set(_found)):
    _peer, _capture = _case.split("/")
    _base = "test_%s_%s" % (_peer, _capture.replace("-", "_"))
    _expf = os.path.join(CORPUS, _case, "expected.json")
    if os.path.exists(_expf):
        with open(_expf) as _f:
            _groups = groups_of(json.load(_f))
    else:
        _groups = {"session"}  # shown as skipped, with the reason
    for _group in GROUPS:
        if _group in _groups:
            setattr(CorpusCase, "%s__%s" % (_base, _group), _make(_case, _group))

if __name__ == "__main__":
    unittest.main()
