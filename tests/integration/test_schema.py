"""docs/record.md, docs/record.schema.json, docs/stats.schema.json and the code kept in step.

Every field named in record.md's tables is a property of the schema object that table
describes, with the same type, required unless the table says `absent`, and the other way
round; the keys of a small object (auth, starttls, an anomaly...) are those its row names. The
anomaly names listed in record.md, the schema's enums and the names the code emits are the
same three sets, per kind (session, message-file record, message). And the validation that
tests/integration/common.py runs on every record can fail: records with a renamed field, a
wrong type, an unknown anomaly name are rejected, naming the path and the rule.
"""
import copy
import glob
import json
import os
import re
import tempfile
import unittest

from common import (RECORD_SCHEMA, ROOT, STATS_SCHEMA, SmtptapCase, Run, record_errors,
                    smtptap, stats_errors)
from pcapgen import Session, smtp_dialogue, write_pcap

RECORD_MD = os.path.join(ROOT, "docs", "record.md")
IDENT = r"[a-z_][a-z0-9_]*"

# record.md's table headings -> the schema object they describe ("stats:" = stats.schema.json;
# a path below a definition is a chain of properties).
TABLES = {
    "Session": "session_record",
    "Transaction": "transaction",
    "Message": "message",
    "Message contents": "message",
    "Message-file record": "message_file_record",
    "Attachment": "attachment",
    "IOCs": "iocs",
    "stats.json": "stats:",
    "Under `reassembly`": "stats:reassembly",
}
# Definitions with a table of their own: a row pointing to one is not checked for its keys.
TABLED = {"transaction", "smtp_transaction", "file_transaction", "message", "attachment",
          "iocs", "stats:reassembly"}
DOC_TYPES = {"string": "string", "number": "integer", "bool": "boolean", "array": "array",
             "object": "object", "null": "null"}
# The anomaly lists of record.md (a bullet's first word) -> the schema's enum.
ANOMALY_KINDS = {"Session": "session_anomaly_name", "Message-file record": "file_anomaly_name",
                 "Message": "message_anomaly_name"}


def doc_tables():
    """{heading: [(names, types, meaning)]} for every | field | type | meaning | table."""
    tables, heading, rows = {}, None, None
    for line in open(RECORD_MD, encoding="utf-8").read().splitlines():
        if line.startswith("#"):
            heading, rows = line.lstrip("#").strip(), None
        elif line.startswith("| field | type |"):
            rows = tables.setdefault(heading, [])
        elif rows is not None and line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            names = re.findall(r"`(%s)`" % IDENT, cells[0])
            rows.append((names, cells[1].split("/"), "|".join(cells[2:])))
        elif not line.startswith("|"):
            rows = None
    return tables


def doc_anomalies():
    """{kind: [names]} from the bullets of record.md's Anomalies section: a bullet's kind is its
    first words, its names the backquoted identifiers after its first colon and outside
    parentheses (a remark about a name may name other things)."""
    text = open(RECORD_MD, encoding="utf-8").read()
    section = text[text.index("\n## Anomalies"):]
    section = section[:section.index("\n## ", 1)]
    out = {}
    for bullet in re.split(r"\n- ", section)[1:]:
        label, _, names = bullet.partition(":")
        names = re.sub(r"\([^()]*\)", "", names)
        kind = next(k for k in sorted(ANOMALY_KINDS, key=len, reverse=True) if label.startswith(k))
        out.setdefault(kind, []).extend(re.findall(r"`(%s)`" % IDENT, names))
    return out


class Resolver:
    """Walks a schema through $ref, remembering the definitions passed."""

    def __init__(self, schema, prefix=""):
        self.schema, self.prefix = schema, prefix

    def ref(self, s, seen):
        while "$ref" in s:
            name = s["$ref"].split("/")[-1]
            seen.append(self.prefix + name)
            s = self.schema["$defs"][name]
        return s

    def types(self, s, seen=None):
        """The JSON types a value under s may have."""
        seen = [] if seen is None else seen
        if "type" in s:
            t = s["type"]
            return set(t if isinstance(t, list) else [t])
        if "$ref" in s:
            return self.types(self.ref(s, seen), seen)
        if "enum" in s or "const" in s:
            vals = s.get("enum", [s.get("const")])
            return {"null" if v is None else "string" if isinstance(v, str) else
                    "boolean" if isinstance(v, bool) else "integer" for v in vals}
        if "if" in s:
            return self.types(s["then"], seen) | self.types(s.get("else", {}), seen)
        for k in ("anyOf", "oneOf"):
            if k in s:
                return set().union(*(self.types(x, seen) for x in s[k]))
        if "allOf" in s:
            sets = [self.types(x, seen) for x in s["allOf"]]
            sets = [x for x in sets if x]
            return set.intersection(*sets) if sets else set()
        return set()

    def obj(self, s, seen):
        """The object schema (with properties) a value under s is, or None."""
        s = self.ref(s, seen)
        if "properties" in s:
            return s
        for k in ("then", "allOf", "anyOf"):
            subs = s.get(k)
            for x in (subs if isinstance(subs, list) else [subs] if subs else []):
                o = self.obj(x, seen)
                if o:
                    return o
        return None


def schema_object(path):
    """(resolver, object schema) for a TABLES value."""
    if path.startswith("stats:"):
        r, s = Resolver(STATS_SCHEMA.schema, "stats:"), STATS_SCHEMA.schema
        for p in filter(None, path[len("stats:"):].split(".")):
            s = s["properties"][p]
        return r, s
    r = Resolver(RECORD_SCHEMA.schema)
    return r, r.obj({"$ref": "#/$defs/" + path}, [])


def subfields_named(meaning):
    """(keys, exact) a row's meaning names for a small object: those of a JSON shape in it
    ({"a": ..., "b": ...} or {"a", "b"}), exactly; else its backquoted identifiers, among
    which the keys must be (the text may name other things too)."""
    shape = re.search(r"`\{(.*?)\}`", meaning)
    if shape:
        inner = shape.group(1)
        after = ":" if ":" in inner else "[,}]"  # {"a": x} or {"a", "b"}
        return set(re.findall(r'"(%s)"\s*%s' % (IDENT, after), inner + "}")), True
    return set(re.findall(r"`(%s)`" % IDENT, meaning)), False


class DocAndSchema(unittest.TestCase):
    maxDiff = None

    def test_every_table_has_its_schema_object(self):
        self.assertEqual(set(doc_tables()), set(TABLES), "record.md's tables against TABLES")

    def test_fields_types_and_presence(self):
        by_object = {}
        for heading, rows in doc_tables().items():
            by_object.setdefault(TABLES[heading], []).extend(rows)
        for path, rows in by_object.items():
            r, obj = schema_object(path)
            with self.subTest(schema=path):
                self.assertIsNotNone(obj, path)
                doc = {n: (types, meaning) for names, types, meaning in rows for n in names}
                self.assertEqual(sorted(doc), sorted(obj["properties"]),
                                 "%s: record.md's fields against the schema's" % path)
                self.assertIs(obj.get("additionalProperties"), False, path + " is closed")
                for name, (types, meaning) in doc.items():
                    if name not in obj["properties"]:
                        continue
                    unknown = set(types) - set(DOC_TYPES) - {"absent"}
                    self.assertFalse(unknown, "%s.%s: types %s" % (path, name, unknown))
                    want = {DOC_TYPES[t] for t in types if t in DOC_TYPES}
                    self.assertEqual(r.types(obj["properties"][name]), want,
                                     "%s.%s: record.md says %s" % (path, name, "/".join(types)))
                    self.assertEqual(name in obj.get("required", []), "absent" not in types,
                                     "%s.%s: required unless record.md says absent"
                                     % (path, name))

    def test_small_objects_have_the_keys_their_row_names(self):
        for heading, rows in doc_tables().items():
            r, obj = schema_object(TABLES[heading])
            for names, _, meaning in rows:
                for name in names:
                    seen = []
                    prop = obj["properties"].get(name, {})
                    sub = r.obj(prop, seen)
                    if sub is None:  # an array of objects
                        items = r.ref(prop, seen).get("items")
                        sub = r.obj(items, seen) if items else None
                    if sub is None or TABLED & set(seen) or \
                            (TABLES[heading] + "." + name).replace(":.", ":") in TABLED:
                        continue
                    with self.subTest(field=heading + " / " + name):
                        named, exact = subfields_named(meaning)
                        if exact:
                            self.assertEqual(sorted(named), sorted(sub["properties"]), meaning)
                        else:
                            self.assertEqual(sorted(set(sub["properties"]) - named), [],
                                             "keys the row does not name: " + meaning)
                        self.assertIs(sub.get("additionalProperties"), False)
                        self.assertEqual(sorted(sub.get("required", [])), sorted(sub["properties"]))


def c_calls(text, fn):
    """The arguments of every call of fn in C source text (comments removed), as a list of
    argument texts."""
    for m in re.finditer(r"(?<![\w.>])%s\s*\(" % re.escape(fn), text):
        depth, i, args, start = 1, m.end(), [], m.end()
        while depth and i < len(text):
            c = text[i]
            if c in "\"'":  # a string or character literal: to its closing quote
                i += 1
                while text[i] != c:
                    i += 2 if text[i] == "\\" else 1
            elif c == "," and depth == 1:
                args.append(text[start:i])
                start = i + 1
            depth += (c == "(") - (c == ")")
            i += 1
        yield args + [text[start:i - 1]]


NAME_LITERAL = r'"([a-z][a-z0-9]*(?:_[a-z0-9]+)+)"'
# How the code names an anomaly: the name argument of these calls (the SMTP layer's nul_in_*
# and the MIME parser's boundary ending pick one of two in a ternary), a name assigned in an
# emitter (anomaly_limit, tnef_too_many_anomalies), and the record's own "name", "..." JSON
# (too_many_anomalies).
EMITTERS = ["st_smtp_anomaly", "st_mime_anomaly", "st_mime_anomaly_n", "st_x_anomaly",
            "st_x_anomaly_count", "st_record_anomaly", "st_analyzer_anomaly", "anomaly", "summary",
            "hdr_overflow"]
ASSIGNED = [r'\bname\s*=\s*' + NAME_LITERAL, r'\.anomaly\s*=\s*' + NAME_LITERAL,
            r'"name",\s*' + NAME_LITERAL]
# Where each kind comes from (record.md's Anomalies section says the same in words).
CODE_KINDS = {"session_anomaly_name": ["smtp/*.c", "output/record.c", "core/session.c"],
              "file_anomaly_name": ["core/msgfile.c"],
              "message_anomaly_name": ["mime/*.c", "extract/*.c", "analyze/*.c",
                                       "output/message_json.c"]}


def code_anomalies(patterns):
    names = {}
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            text = re.sub(r"/\*.*?\*/", "", open(path, encoding="utf-8").read(), flags=re.S)
            rel = os.path.relpath(path, ROOT)
            for fn in EMITTERS:
                for args in c_calls(text, fn):
                    # the name is the first argument with a name literal in it (two in a
                    # ternary); a detail after it is not a name, whatever it looks like
                    for arg in args:
                        found = re.findall(NAME_LITERAL, arg)
                        for n in found:
                            names.setdefault(n, set()).add(rel)
                        if found:
                            break
            for a in ASSIGNED:
                for n in re.findall(a, text):
                    names.setdefault(n, set()).add(rel)
    return names


class AnomalyNames(unittest.TestCase):
    maxDiff = None

    def schema_enum(self, kind):
        return RECORD_SCHEMA.schema["$defs"][kind]["enum"]

    def test_record_md_lists_the_schema_enums(self):
        doc = doc_anomalies()
        self.assertEqual(set(doc), set(ANOMALY_KINDS))
        for kind, names in doc.items():
            with self.subTest(kind=kind):
                enum = self.schema_enum(ANOMALY_KINDS[kind])
                self.assertEqual(len(names), len(set(names)), "a name listed twice")
                self.assertEqual(len(enum), len(set(enum)), "a name twice in the enum")
                self.assertEqual(sorted(set(names) - set(enum)), [], "in record.md, not the schema")
                self.assertEqual(sorted(set(enum) - set(names)), [], "in the schema, not record.md")

    def test_the_code_emits_the_schema_enums(self):
        for kind, patterns in CODE_KINDS.items():
            with self.subTest(kind=kind):
                code = code_anomalies(patterns)
                self.assertGreater(len(code), 0, patterns)
                enum = set(self.schema_enum(kind))
                self.assertEqual({n: sorted(w) for n, w in code.items() if n not in enum}, {},
                                 "emitted by the code, not in the schema (nor record.md)")
                self.assertEqual(sorted(enum - set(code)), [],
                                 "in the schema, emitted nowhere in %s" % patterns)


class ValidationCanFail(SmtptapCase):
    """The validation of common.Run rejects what is wrong, naming the path and the rule."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smtptap-schema-")
        s = smtp_dialogue(Session().handshake(), [(b"a@x.test", [b"b@y.test"],
                                                   b"Subject: s\r\n\r\nhello\r\n")]).fin()
        pcap = os.path.join(cls.dir, "s.pcap")
        write_pcap(pcap, s.packets)
        cls.session_run = smtptap("-r", pcap)
        cls.file_run = smtptap("--eml", os.path.join(ROOT, "tests", "mime",
                                                     "03-forwarded-rfc822-with-attachments.eml"))

    def setUp(self):
        self.assertEqual(self.session_run.rc, 0, self.session_run.stderr)
        self.assertEqual(self.file_run.rc, 0, self.file_run.stderr)
        self.session = self.session_run.records[0]
        self.file = self.file_run.records[0]
        self.assertIn("source", self.file)
        self.assertTrue(self.file["transactions"][0]["message"]["attachments"])

    def rejected(self, record, path, rule, errors=record_errors):
        """record fails validation, with an error at path (a JSON path) by rule (a keyword)."""
        errs = errors(record)
        self.assertTrue(errs, "accepted: %s" % json.dumps(record)[:300])
        self.assertTrue(any(e.startswith(path + ":") and "[rule %s:" % rule in e for e in errs),
                        "no %s error at %s in:\n%s" % (rule, path, "\n".join(errs)))

    def test_real_records_are_valid(self):
        self.assertEqual(record_errors(self.session), [])
        self.assertEqual(record_errors(self.file), [])
        self.assertIsNotNone(self.session_run.stats)
        self.assertEqual(stats_errors(self.session_run.stats), [])

    def test_renamed_field(self):
        r = copy.deepcopy(self.session)
        r["greeting"] = r.pop("banner")
        self.rejected(r, "$", "required")
        self.rejected(r, "$", "additionalProperties")
        t = copy.deepcopy(self.session)
        t["transactions"][0]["rcpt"] = t["transactions"][0].pop("rcpt_to")
        self.rejected(t, "$.transactions[0]", "required")
        f = copy.deepcopy(self.file)
        a = f["transactions"][0]["message"]["attachments"][0]
        a["name"] = a.pop("filename")
        self.rejected(f, "$.transactions[0].message.attachments[0]", "additionalProperties")
        f = copy.deepcopy(self.file)
        f["client"] = self.session["client"]  # a network field in a message-file record
        self.rejected(f, "$", "additionalProperties")

    def test_wrong_type(self):
        r = copy.deepcopy(self.session)
        r["bytes"]["client"] = str(r["bytes"]["client"])
        self.rejected(r, "$.bytes.client", "type")
        r = copy.deepcopy(self.session)
        r["auth"] = {"mechanism": "PLAIN", "username": "u", "success": "yes", "reply": "235 ok"}
        self.rejected(r, "$.auth.success", "type")
        r = copy.deepcopy(self.session)
        r["starttls"] = {"code": 220, "reply": "220 go", "encrypted": True, "cipher": None}
        self.rejected(r, "$.starttls", "additionalProperties")
        r = copy.deepcopy(self.session)
        r["transactions"][0]["rcpt_rejected"] = [{"addr": "x@y", "reply": None}]
        self.rejected(r, "$.transactions[0].rcpt_rejected[0].reply", "type")
        r = copy.deepcopy(self.session)
        r["transactions"][0]["status"] = "queued"
        self.rejected(r, "$.transactions[0].status", "enum")
        r = copy.deepcopy(self.session)
        r["close"] = None
        self.rejected(r, "$.close", "enum")
        f = copy.deepcopy(self.file)
        f["transactions"][0]["message"]["attachments"][0]["size"] = -1
        self.rejected(f, "$.transactions[0].message.attachments[0].size", "minimum")
        f = copy.deepcopy(self.file)
        f["file"] = None  # only a message from memory may have no name
        self.rejected(f, "$.file", "type")
        f = copy.deepcopy(self.file)
        f["transactions"][0]["message"]["complete"] = 1
        self.rejected(f, "$.transactions[0].message.complete", "type")
        st = copy.deepcopy(self.session_run.stats)
        st["reassembly"]["holes"] = -1
        self.rejected(st, "$.reassembly.holes", "minimum", stats_errors)
        st = copy.deepcopy(self.session_run.stats)
        st["reassembly"]["nids_warnings"]["tcp_new_kind"] = 0
        self.rejected(st, "$.reassembly.nids_warnings", "additionalProperties", stats_errors)

    def test_unknown_anomaly_name(self):
        r = copy.deepcopy(self.session)
        r["anomalies"].append({"name": "content_gap", "detail": None})
        self.rejected(r, "$.anomalies[%d].name" % (len(r["anomalies"]) - 1), "enum")
        r = copy.deepcopy(self.session)  # a message anomaly among the session's
        r["anomalies"].append({"name": "qp_bad_escape", "detail": None})
        self.rejected(r, "$.anomalies[%d].name" % (len(r["anomalies"]) - 1), "enum")
        f = copy.deepcopy(self.file)
        m = f["transactions"][0]["message"]
        m["anomalies"].append({"name": "no_such_anomaly", "detail": None, "mime_path": "1"})
        self.rejected(f, "$.transactions[0].message.anomalies[%d].name"
                      % (len(m["anomalies"]) - 1), "enum")
        f = copy.deepcopy(self.file)
        f["anomalies"].append({"name": "line_too_long", "detail": "client"})
        self.rejected(f, "$.anomalies[0].name", "enum")

    def test_run_fails_on_an_invalid_record(self):
        out = tempfile.mkdtemp(prefix="smtptap-schema-out-", dir=self.dir)
        bad = copy.deepcopy(self.session)
        bad["close"] = "closed"
        with open(os.path.join(out, "sessions.jsonl"), "w") as f:
            f.write(json.dumps(self.file) + "\n" + json.dumps(bad) + "\n")
        with self.assertRaises(AssertionError) as cm:
            Run(0, "", "", out)
        msg = str(cm.exception)
        self.assertIn("sessions.jsonl line 2 (uid %s)" % bad["uid"], msg)
        self.assertIn("$.close: 'closed' is not one of", msg)
        self.assertIn("[rule enum:", msg)
        os.remove(os.path.join(out, "sessions.jsonl"))
        st = copy.deepcopy(self.session_run.stats)
        del st["streams"]
        with open(os.path.join(out, "stats.json"), "w") as f:
            json.dump(st, f)
        with self.assertRaises(AssertionError) as cm:
            Run(0, "", "", out)
        self.assertIn("stats.json does not match docs/stats.schema.json", str(cm.exception))
        self.assertIn("'streams' is a required property", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
