#!/usr/bin/env python3
"""show.py OUTDIR - a short human view of smtptap's sessions.jsonl."""
import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "out"
path = os.path.join(out, "sessions.jsonl")
with open(path) as f:
    records = [json.loads(line) for line in f if line.strip()]
for r in records:
    if "client" not in r:  # a message file (--eml, --maildir)
        print(f"message file {r['file']}  ({r['source']})")
    else:
        c, s = r["client"], r["server"]
        print(f"session {r['uid']}  {c['ip']}:{c['port']} -> {s['ip']}:{s['port']}  "
              f"{r['ts_start']}  close={r['close']}")
        print(f"  helo: {r.get('helo')}   banner: {(r.get('banner') or '').splitlines()[:1]}")
    if r.get("auth"):
        a = r["auth"]
        print(f"  auth: {a['mechanism']} user={a['username']} success={a['success']}")
    if r.get("starttls"):
        print(f"  starttls: {r['starttls']}")
    for i, t in enumerate(r["transactions"], 1):
        print(f"  transaction {i}: {t['status']}  from <{t['mail_from']}> to {t['rcpt_to']}"
              + (f" rejected {[x['addr'] for x in t['rcpt_rejected']]}" if t["rcpt_rejected"] else ""))
        m = t.get("message")
        if m:
            print(f"    message {m['size']} bytes sha256 {m['sha256'][:16]}...  -> {m['eml']}"
                  + (f"  missing {m['missing_bytes']}" if m["missing_bytes"] else ""))
            if "subject" in m:
                print(f"    subject: {m['subject']!r}  from: {m['from']!r}")
            for a in m.get("attachments", []):
                print(f"      attachment {a['mime_path']}: {a['filename']!r} {a['content_type']} "
                      f"{a['size']} bytes sha256 {a['sha256'][:16]}... -> {a['stored']}")
        print(f"    reply: {t['reply']}")
    for a in r["anomalies"]:
        print(f"  anomaly: {a['name']} {a.get('detail') or ''}")
print(f"\n{len(records)} SMTP session(s); full records: {path}")
