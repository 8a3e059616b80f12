"""The C API without files: examples/embed.c, built here against the
sanitized library, feeds packets it read with libpcap itself
(smtptap_feed_packet), a message from memory (smtptap_feed_message), and
prints what the record callback's field accessors give.

Truth: the records the smtptap command writes for the same capture and the
same message file (uids, subjects), and the absence of sessions.jsonl with
sinks = "". Every record the callback got is validated against the
schema."""
import json
import os
import subprocess
import tempfile
import unittest

from common import BUILD, ENV, PCAPS, ROOT, load_output, smtptap

EML = os.path.join(ROOT, "tests", "mime", "09-subject-utf8.eml")
SAN = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]


def ldlibs():
    """The link line of the build (mk/common.mk), with libpcap for the example."""
    with open(os.path.join(ROOT, "mk", "common.mk")) as f:
        for line in f:
            if line.startswith("LDLIBS"):
                return ["-lpcap"] + line.split(":=", 1)[1].split()
    raise AssertionError("no LDLIBS in mk/common.mk")


def build():
    exe = os.path.join(tempfile.mkdtemp(prefix="smtptap-embed-"), "embed")
    lib = os.path.join(BUILD, "asan", "libsmtptap.a")
    cmd = ["cc", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-g", *SAN,
           "-I" + os.path.join(ROOT, "include"), os.path.join(ROOT, "examples", "embed.c"), lib,
           *ldlibs(), "-o", exe]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("examples/embed.c does not build:\n" + p.stderr)
    return exe


class Embed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.exe = build()

    def run_embed(self, *args):
        out = tempfile.mkdtemp(prefix="smtptap-embed-out-")
        p = subprocess.run([self.exe, *args], env=dict(ENV, EMBED_OUT=out), capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "sessions.jsonl")), "sinks = \"\"")
        subprocess.run(["rm", "-rf", out])
        return [line.split("\t") for line in p.stdout.splitlines()]

    def test_packets_fed_give_the_commands_records(self):
        for name in ("smtp-multi-transaction.pcap", "smtp-four-sessions-vlan.pcap",
                     "smtp-any-sll2.pcap", "mime-swaks.pcap"):
            got = self.run_embed(os.path.join(PCAPS, name))
            want = [[r["uid"]] + [(t["message"] or {}).get("subject") or "-"
                                  for t in r["transactions"]]
                    for r in smtptap("-r", os.path.join(PCAPS, name)).records]
            self.assertTrue(want, name)
            self.assertEqual(sorted(got), sorted(want), name)

    def test_message_from_memory_is_the_message_file_record(self):
        got = self.run_embed(os.path.join(PCAPS, "smtp-rset.pcap"), EML)
        (eml,) = smtptap("--eml", EML).records
        self.assertEqual(got[-1], [eml["uid"], eml["transactions"][0]["message"]["subject"]])

    def test_callback_records_are_the_file_records(self):
        """The callback's JSON text is the record file's line, schema-valid."""
        src = r'''
#include <stdio.h>
#include "smtptap.h"
static void cb(void *arg, const smtptap_record *r)
{
    size_t n;
    const char *j = smtptap_record_json(r, &n);
    fwrite(j, 1, n, arg);
    fputc('\n', arg);
}
int main(int argc, char **argv)
{
    char err[256];
    smtptap_config *c = smtptap_config_new();
    smtptap_config_set(c, "output_dir", argv[2], err, sizeof err);
    smtptap *t = smtptap_open(c, err, sizeof err);
    smtptap_config_free(c);
    FILE *f = fopen(argv[3], "w");
    smtptap_on_record(t, cb, f);
    int rc = smtptap_read_file(t, argv[1], NULL, err, sizeof err);
    if (argc > 4) { /* and a message from memory, named and unnamed */
        static char buf[1 << 20];
        FILE *m = fopen(argv[4], "rb");
        size_t n = m ? fread(buf, 1, sizeof buf, m) : 0;
        struct timeval ts = {1700000000, 5};
        if (m)
            fclose(m);
        rc |= smtptap_feed_message(t, argv[4], buf, n, &ts, err, sizeof err);
        rc |= smtptap_feed_message(t, NULL, buf, n, &ts, err, sizeof err);
    }
    rc |= smtptap_close(t, err, sizeof err);
    fclose(f);
    return rc ? 1 : 0;
}
'''
        d = tempfile.mkdtemp(prefix="smtptap-cb-")
        with open(os.path.join(d, "cb.c"), "w") as f:
            f.write(src)
        exe = os.path.join(d, "cb")
        lib = os.path.join(BUILD, "asan", "libsmtptap.a")
        p = subprocess.run(["cc", "-std=c11", "-g", *SAN, "-I" + os.path.join(ROOT, "include"),
                            os.path.join(d, "cb.c"), lib, *ldlibs(), "-o", exe],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        out, lines = os.path.join(d, "out"), os.path.join(d, "cb.jsonl")
        p = subprocess.run([exe, os.path.join(PCAPS, "smtp-pipelining.pcap"), out, lines, EML],
                           env=ENV, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = open(lines, encoding="utf-8").read()
        self.assertEqual(got, open(os.path.join(out, "sessions.jsonl"), encoding="utf-8").read())
        self.assertTrue(got)
        records, _ = load_output(out)  # and valid
        named, unnamed = records[-2:]
        (eml,) = smtptap("--eml", EML).records
        for r, name in ((named, EML), (unnamed, None)):
            self.assertEqual((r["source"], r["file"]), ("memory", name))
            self.assertEqual(r["ts_start"], "2023-11-14T22:13:20.000005Z")
            self.assertEqual(r["uid"], eml["uid"])  # from the content
            self.assertEqual(r["transactions"], eml["transactions"])
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    unittest.main()
