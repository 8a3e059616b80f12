"""Where options come from: one table, three sources, one precedence.

Truth: the effect of each option on the records and files of a run (body
null with omit_body, no files/ without archive_attachments, the number of
recipients kept under max_rcpts), never the config's own echo. Covered:
the INI config file as stoQ writes it ([smtp], stoQ's [options], [S] key
resolving to S_key), comments, errors naming file:line, the precedence
command line > file > default in either order, stoQ's -O and
--plugin-opts forms with True/False, always_dispatch checked at start
(before any output is created or truncated), and docs/smtptap.conf kept in
step with the option table."""
import os
import re
import subprocess
import tempfile
import unittest

from common import BIN, ENV, ROOT, load_output, smtptap

EML = os.path.join(ROOT, "tests", "mime", "01-nested-4-levels.eml")
CONF = os.path.join(ROOT, "docs", "smtptap.conf")


def write(text):
    fd, path = tempfile.mkstemp(suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def message(run):
    """The one message of a --eml run."""
    assert run.rc == 0, run.stderr
    (rec,) = run.records
    return rec["transactions"][0]["message"]


def help_options():
    out = subprocess.run([BIN, "--help"], env=ENV, capture_output=True, text=True).stdout
    found = re.findall(r"^  --([a-z0-9-]+)\s+.*\(default: (.*)\)$", out, re.M)
    return {n.replace("-", "_"): ("" if d == '""' else d) for n, d in found}


class ConfigFile(unittest.TestCase):
    def tearDown(self):
        for p in getattr(self, "_files", []):
            os.unlink(p)

    def conf(self, text):
        p = write(text)
        self._files = getattr(self, "_files", []) + [p]
        return p

    def test_stoq_sections_and_comments(self):
        # stoQ's plugin file keeps its options in [options]; ours in [smtp]
        for section in ("smtp", "options"):
            c = self.conf(f"; stoQ style\n[{section}]\nomit_body = True  # inline comment\n")
            m = message(smtptap("-c", c, "--eml", EML))
            self.assertIsNone(m["body"], section)
        # the default, without any file: a body
        self.assertIsNotNone(message(smtptap("--eml", EML))["body"])

    def test_section_key_resolves_to_section_underscore_key(self):
        d = tempfile.mkdtemp(prefix="smtptap-conf-")
        c = self.conf(f"[output]\ndir = {d}\n")  # output_dir
        p = subprocess.run([BIN, "-q", "-c", c, "--eml", EML], env=ENV, capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(load_output(d)[0]), 1)
        subprocess.run(["rm", "-rf", d])

    def test_value_with_hash_not_after_blank_is_kept(self):
        d = tempfile.mkdtemp(prefix="smtptap-conf-")
        c = self.conf(f"output_dir = {d}/a#b ; comment\n")
        p = subprocess.run([BIN, "-q", "-c", c, "--eml", EML], env=ENV, capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(load_output(os.path.join(d, "a#b"))[0]), 1)
        subprocess.run(["rm", "-rf", d])

    def test_errors_name_file_and_line(self):
        cases = [("[smtp]\nnosuch = 1\n", "2: unknown option 'nosuch' in [smtp]"),
                 ("omit_body = maybe\n", "1: omit_body: expected true or false"),
                 ("\n\nmax_rcpts\n", "3: expected key = value"),
                 ("[smtp\nomit_body = true\n", "1: expected [section]"),
                 ("max_rcpts = 0\n", "1: max_rcpts: expected a number from 1")]
        for text, want in cases:
            c = self.conf(text)
            r = smtptap("-c", c, "--eml", EML)
            self.assertEqual(r.rc, 2, text)
            self.assertIn(f"{c}:{want}", r.stderr, text)
            self.assertEqual(r.records, [], text)

    def test_example_config_lists_every_option_with_its_default(self):
        text = open(CONF, encoding="utf-8").read()
        listed = dict(re.findall(r"^# ([a-z0-9_]+) = (.*)$", text, re.M))
        options = help_options()
        self.assertGreater(len(options), 20)
        self.assertEqual(sorted(listed), sorted(options), "docs/smtptap.conf vs the option table")
        for name, default in options.items():
            self.assertEqual(listed[name], default, name)
        # uncommented, it is a valid config that changes nothing
        plain = re.sub(r"^# ([a-z0-9_]+ = .*)$", r"\1", text, flags=re.M)
        plain = re.sub(r"^output_dir = .*$", "", plain, flags=re.M)  # the test's -o stands
        m = message(smtptap("-c", self.conf(plain), "--eml", EML))
        self.assertEqual(m, message(smtptap("--eml", EML)))


class Precedence(unittest.TestCase):
    def test_command_line_beats_file_in_either_order(self):
        c = write("[smtp]\nomit_body = true\n")
        try:
            before = message(smtptap("--omit-body=false", "-c", c, "--eml", EML))
            after = message(smtptap("-c", c, "--omit-body=false", "--eml", EML))
            set_ = message(smtptap("--set", "omit_body=false", "-c", c, "--eml", EML))
            only_file = message(smtptap("-c", c, "--eml", EML))
        finally:
            os.unlink(c)
        for m in (before, after, set_):
            self.assertIsNotNone(m["body"])
        self.assertIsNone(only_file["body"])

    def test_later_file_does_not_undo_earlier_file_value_it_repeats(self):
        a, b = write("omit_body = true\n"), write("omit_body = false\n")
        try:  # two files: the later one wins, as two lines of one file would
            self.assertIsNotNone(message(smtptap("-c", a, "-c", b, "--eml", EML))["body"])
            self.assertIsNone(message(smtptap("-c", b, "-c", a, "--eml", EML))["body"])
        finally:
            os.unlink(a)
            os.unlink(b)


class StoqForms(unittest.TestCase):
    def test_dash_O_and_plugin_opts(self):
        self.assertIsNone(message(smtptap("-O", "smtp:omit_body=True", "--eml", EML))["body"])
        r = smtptap("--plugin-opts", "smtp:omit_body=True", "smtp:archive_attachments=False",
                    "--eml", EML)
        m = message(r)
        self.assertIsNone(m["body"])
        self.assertTrue(m["attachments"], "the message has attachments")
        self.assertTrue(all(a["stored"] is None for a in m["attachments"]))
        self.assertFalse(os.path.exists(os.path.join(r.out, "files")))
        # and archived by default: the same attachments stored
        m2 = message(smtptap("--eml", EML))
        self.assertTrue(all(a["stored"] for a in m2["attachments"]))

    def test_bad_plugin_option(self):
        for bad in ("omit_body=true", "smtp:omit_body", "smtp:nosuch=1", ":x=1"):
            r = smtptap("-O", bad, "--eml", EML)
            self.assertEqual(r.rc, 2, bad)
            self.assertIn("smtptap:", r.stderr)

    def test_unknown_analyzer_fails_before_any_output(self):
        d = tempfile.mkdtemp(prefix="smtptap-conf-")
        with open(os.path.join(d, "sessions.jsonl"), "w") as f:
            f.write("earlier\n")
        p = subprocess.run([BIN, "-q", "-o", d, "-O", "smtp:always_dispatch=hash,nosuch",
                            "--eml", EML], env=ENV, capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no analyzer 'nosuch'", p.stderr)
        self.assertEqual(open(os.path.join(d, "sessions.jsonl")).read(), "earlier\n")
        subprocess.run(["rm", "-rf", d])

    def test_without_hash_analyzer_no_digests_but_sha256_names_the_file(self):
        m = message(smtptap("-O", "smtp:always_dispatch=", "--eml", EML))
        for a in m["attachments"]:
            self.assertNotIn("md5", a)
            self.assertTrue(a["stored"].endswith("/" + os.path.basename(a["stored"])))
        with_hash = message(smtptap("--eml", EML))
        self.assertEqual([a["stored"] for a in m["attachments"]],
                         [a["stored"] for a in with_hash["attachments"]])


if __name__ == "__main__":
    unittest.main()
