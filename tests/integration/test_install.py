"""make install and what a sensor operator deploys (contrib/).

`make install DESTDIR=stage PREFIX=/usr` (the build of SMTPTAP_BUILD, so no
other build races it) must put exactly the command, the static library, the
header, the man page, the example config and smtptap.pc in place with sane
modes; a program that knows only the installed header and `pkg-config
--static` must build and get the record of a message file through
smtptap_on_record; `make uninstall` must leave folders only. The systemd
unit must pass `systemd-analyze verify`; its capability set must be enough
for -Z and leave nothing once smtptap runs (emulated with setpriv: no
systemd runs here); every system call smtptap makes must be in the unit's
SystemCallFilter; the logrotate snippet must parse and rotate a running
smtptap's record file without losing a record.

Truth: the files of the tree (bytes compared), the link line of
mk/common.mk and VERSION, Python's hashlib and email package for the
message, the kernel's /proc/PID/status, strace(1) for the system calls and
systemd-analyze's own list of @system-service, logrotate(8) itself."""
import email
import email.policy
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
import unittest

from common import BUILD, PCAPS, ROOT, holds_packet_socket, load_output, sha256
from test_live import TinySmtpServer, proc_status

UNIT = os.path.join(ROOT, "contrib", "smtptap@.service")
LOGROTATE = os.path.join(ROOT, "contrib", "smtptap.logrotate")
SYSUSERS = os.path.join(ROOT, "contrib", "smtptap.sysusers")
EML = os.path.join(ROOT, "tests", "mime", "09-subject-utf8.eml")
VERSION = open(os.path.join(ROOT, "VERSION")).read().strip()

# What make install must put under DESTDIR with PREFIX=/usr, and its mode.
INSTALLED = {
    "usr/bin/smtptap": 0o755,
    "usr/lib/libsmtptap.a": 0o644,
    "usr/include/smtptap.h": 0o644,
    "usr/share/man/man1/smtptap.1": 0o644,
    "usr/share/doc/smtptap/examples/smtptap.conf": 0o644,
    "usr/lib/pkgconfig/smtptap.pc": 0o644,
}
# Folders make install is responsible for (the others exist on a real system).
FOLDERS = {os.path.dirname(p) for p in INSTALLED} | {"usr/share/doc/smtptap"}
# Installed copies of files of the tree, byte for byte.
COPIES = {
    "usr/include/smtptap.h": "include/smtptap.h",
    "usr/share/man/man1/smtptap.1": "docs/smtptap.1",
    "usr/share/doc/smtptap/examples/smtptap.conf": "docs/smtptap.conf",
}

PROGRAM = r'''
/* Knows only the installed header: opens a config, reads one message file,
 * prints what the record callback saw. */
#include <smtptap.h>
#include <stdio.h>

typedef struct {
    int records;
    char sha256[65], subject[512], source[32], body[8];
} seen;

static void copy(char *to, size_t n, const char *v)
{
    snprintf(to, n, "%s", v ? v : "(null)");
}

static void on_record(void *arg, const smtptap_record *r)
{
    seen *s = arg;
    s->records++;
    copy(s->sha256, sizeof s->sha256, smtptap_record_get(r, "transactions.0.message.sha256"));
    copy(s->subject, sizeof s->subject, smtptap_record_get(r, "transactions.0.message.subject"));
    copy(s->source, sizeof s->source, smtptap_record_get(r, "source"));
    copy(s->body, sizeof s->body, smtptap_record_get(r, "transactions.0.message.body"));
}

int main(int argc, char **argv)
{
    char err[512];
    seen s = {0};
    if (argc != 3)
        return 2;
    smtptap_config *c = smtptap_config_new();
    if (!c || smtptap_config_load(c, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return 1;
    }
    smtptap *t = smtptap_open(c, err, sizeof err);
    smtptap_config_free(c);
    if (!t) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    smtptap_on_record(t, on_record, &s);
    int rc = smtptap_read_eml(t, argv[2], err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "read: %s\n", err);
    if (smtptap_close(t, err, sizeof err) != 0) {
        fprintf(stderr, "close: %s\n", err);
        rc = -1;
    }
    printf("version\t%s\nrecords\t%d\nsha256\t%s\nsubject\t%s\nsource\t%s\nbody\t%s\n",
           smtptap_version(), s.records, s.sha256, s.subject, s.source, s.body);
    return rc == 0 ? 0 : 1;
}
'''


def make(*args):
    """make in the tree with this test's build directory; the CompletedProcess. Under
    umask 027, as a hardened root's: what make install creates must still be 0755."""
    return subprocess.run(["make", "--no-print-directory", "-C", ROOT, "-j2", "B=" + BUILD]
                          + list(args), capture_output=True, text=True, timeout=1200,
                          umask=0o027)


def install(dest):
    p = make("install", "DESTDIR=" + dest, "PREFIX=/usr")
    if p.returncode != 0:
        raise AssertionError("make install failed:\n" + p.stdout[-3000:] + p.stderr[-3000:])


def ldlibs():
    """The link line of mk/common.mk, read here, not through the Makefile."""
    with open(os.path.join(ROOT, "mk", "common.mk")) as f:
        for line in f:
            if line.startswith("LDLIBS"):
                return line.split(":=", 1)[1].split()
    raise AssertionError("no LDLIBS in mk/common.mk")


def unit_settings():
    """The unit's [Service] settings: name -> list of values, in order."""
    settings, section = {}, None
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
                continue
            k, v = line.split("=", 1)
            settings.setdefault((section, k), []).append(v)
    return settings


def system_service_calls():
    """@system-service as this systemd defines it, nested groups expanded."""
    def expand(group, seen):
        p = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True,
                           text=True, check=True)
        names = set()
        for line in p.stdout.splitlines()[1:]:
            w = line.strip()
            if not w or w.startswith("#"):
                continue
            if w.startswith("@"):
                if w not in seen:
                    seen.add(w)
                    names |= expand(w, seen)
            else:
                names.add(w)
        return names
    return expand("@system-service", set())


def traced_calls(trace, binary):
    """System call names in an strace -f log, after the execve of binary."""
    calls, started = set(), False
    with open(trace, errors="replace") as f:
        text = f.read()
    for line in text.splitlines():
        m = re.match(r"^\d+\s+([a-z_0-9]+)\(", line)
        if not m:
            continue
        if m.group(1) == "execve" and '"%s"' % binary in line and "= 0" in line:
            started = True
        elif started:
            calls.add(m.group(1))
    return calls


def wait_for(cond, what, limit=30.0):
    end = time.time() + limit
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def child_running(parent, binary):
    """The pid of parent's child whose command is binary, or None."""
    try:
        with open("/proc/%d/task/%d/children" % (parent, parent)) as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        return None
    for kid in kids:
        try:
            with open("/proc/%d/cmdline" % kid, "rb") as f:
                if f.read().split(b"\0")[0] == binary.encode():
                    return kid
        except OSError:
            pass
    return None


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smtptap-install-")
        cls.dest = os.path.join(cls.tmp, "stage")
        install(cls.dest)
        cls.bin = os.path.join(cls.dest, "usr", "bin", "smtptap")
        cls.pc_env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(cls.dest, "usr/lib/pkgconfig"),
                          PKG_CONFIG_SYSROOT_DIR=cls.dest, PKG_CONFIG_LIBDIR="")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def pkg_config(self, *args):
        p = subprocess.run(["pkg-config", *args, "smtptap"], env=self.pc_env, capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.split()

    def test_every_file_lands_with_its_mode(self):
        found = {}
        for d, dirs, files in os.walk(self.dest):
            for name in dirs:
                rel = os.path.relpath(os.path.join(d, name), self.dest)
                if rel in FOLDERS:
                    self.assertEqual(os.stat(os.path.join(d, name)).st_mode & 0o7777, 0o755, rel)
            for name in files:
                path = os.path.join(d, name)
                found[os.path.relpath(path, self.dest)] = os.lstat(path).st_mode & 0o7777
        self.assertEqual(found, INSTALLED)  # nothing missing, nothing more
        for inst, src in COPIES.items():
            with open(os.path.join(self.dest, inst), "rb") as a, \
                    open(os.path.join(ROOT, src), "rb") as b:
                self.assertEqual(a.read(), b.read(), inst)
        p = subprocess.run([self.bin, "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(VERSION, p.stdout + p.stderr)
        if shutil.which("man"):  # man(1) finds it where it was put
            p = subprocess.run(["man", "-M", os.path.join(self.dest, "usr/share/man"), "-w",
                                "smtptap"], capture_output=True, text=True)
            self.assertEqual(p.stdout.strip(),
                             os.path.join(self.dest, "usr/share/man/man1/smtptap.1"), p.stderr)

    def test_pkg_config_file(self):
        self.assertEqual(self.pkg_config("--modversion"), [VERSION])
        self.assertEqual(self.pkg_config("--cflags"),
                         ["-I" + os.path.join(self.dest, "usr/include")])
        self.assertEqual(self.pkg_config("--libs"),
                         ["-L" + os.path.join(self.dest, "usr/lib"), "-lsmtptap"])
        static = self.pkg_config("--libs", "--static")
        self.assertEqual(static[:2], ["-L" + os.path.join(self.dest, "usr/lib"), "-lsmtptap"])
        self.assertEqual(static[2:], ldlibs())
        # relocatable: the same file read from where it lies
        env = dict(self.pc_env)
        del env["PKG_CONFIG_SYSROOT_DIR"]
        p = subprocess.run(["pkg-config", "--define-prefix", "--cflags", "smtptap"], env=env,
                           capture_output=True, text=True)
        self.assertEqual(p.stdout.split(), ["-I" + os.path.join(self.dest, "usr/include")])

    def test_program_built_against_the_installed_files(self):
        work = os.path.join(self.tmp, "program")  # outside the tree: no header to find there
        os.makedirs(work)
        with open(os.path.join(work, "prog.c"), "w") as f:
            f.write(PROGRAM)
        flags = self.pkg_config("--cflags", "--libs", "--static")
        cmd = ["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-MD", "prog.c", *flags, "-o",
               "prog"]
        p = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, " ".join(cmd) + "\n" + p.stderr)
        with open(os.path.join(work, "prog.d")) as f:
            deps = f.read()
        self.assertIn(os.path.join(self.dest, "usr/include/smtptap.h"), deps)
        self.assertNotIn(ROOT + "/", deps)

        out = os.path.join(work, "out")
        conf = os.path.join(work, "test.conf")
        with open(conf, "w") as f:
            f.write("# written by test_install\n[output]\noutput_dir = %s\n[smtp]\n"
                    "omit_body = true\n" % out)
        p = subprocess.run(["./prog", conf, EML], cwd=work, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode("utf-8", "replace"))
        got = dict(line.split("\t", 1) for line in p.stdout.decode("utf-8").splitlines())

        data = open(EML, "rb").read()
        msg = email.message_from_bytes(data, policy=email.policy.default)
        self.assertEqual(got["version"], VERSION)
        self.assertEqual(got["records"], "1")
        self.assertEqual(got["sha256"], sha256(data))
        self.assertEqual(got["subject"], str(msg["subject"]))
        self.assertEqual(got["source"], "eml")
        self.assertTrue(msg.get_content().strip())
        self.assertEqual(got["body"], "(null)")  # omit_body from the config file
        records, _ = load_output(out)  # output_dir from the config file; schema-valid
        (rec,) = records
        m = rec["transactions"][0]["message"]
        with open(os.path.join(out, m["eml"]), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_uninstall_leaves_only_folders(self):
        dest = os.path.join(self.tmp, "again")
        install(dest)
        p = make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        left = [os.path.join(d, n) for d, _, files in os.walk(dest) for n in files]
        self.assertEqual(left, [])
        self.assertFalse(os.path.exists(os.path.join(dest, "usr/share/doc/smtptap")))
        self.assertTrue(os.path.isdir(os.path.join(dest, "usr/bin")))  # shared: left

    def test_default_prefix_is_the_units(self):
        p = make("-n", "install", "DESTDIR=/nonexistent")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("/nonexistent/usr/local/bin/smtptap", p.stdout)
        (start,) = unit_settings()[("[Service]", "ExecStart")]
        self.assertEqual(shlex.split(start)[0], "/usr/local/bin/smtptap")


@unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
class Unit(unittest.TestCase):
    """The unit as systemd reads it: verify, and its own security review."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smtptap-unit-")
        cls.dest = os.path.join(cls.tmp, "stage")
        install(cls.dest)
        # verify checks that ExecStart's binary exists: point it at the installed one
        cls.units = os.path.join(cls.tmp, "units")
        os.makedirs(cls.units)
        with open(UNIT) as f:
            text = f.read().replace("/usr/local/bin/smtptap",
                                    os.path.join(cls.dest, "usr/bin/smtptap"))
        with open(os.path.join(cls.units, os.path.basename(UNIT)), "w") as f:
            f.write(text)
        cls.instance = os.path.join(cls.units, "smtptap@eth0.service")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_verify_is_clean(self):
        # Documentation=man:smtptap(1) is looked up with man(1): in the installed pages
        env = dict(os.environ, MANPATH=os.path.join(self.dest, "usr/share/man"))
        p = subprocess.run(["systemd-analyze", "verify", self.instance], env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))

    def test_security_review(self):
        """The exposure systemd computes (it cannot see -Z, so counts the service as root)."""
        p = subprocess.run(["systemd-analyze", "security", "--offline=yes", self.instance],
                           capture_output=True, text=True, timeout=120)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
        if not m:
            self.skipTest("systemd-analyze security --offline is not supported here")
        self.assertLessEqual(float(m.group(1)), 3.5, p.stdout)

    def test_sysusers_line(self):
        """The user the unit's -Z names is the one contrib/smtptap.sysusers makes."""
        if not shutil.which("systemd-sysusers"):
            self.skipTest("systemd-sysusers is not installed")
        root = os.path.join(self.tmp, "root")
        os.makedirs(os.path.join(root, "etc"))
        p = subprocess.run(["systemd-sysusers", "--root=" + root, SYSUSERS], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(root, "etc", "passwd")) as f:
            (entry,) = [line.split(":") for line in f if line.startswith("smtptap:")]
        self.assertEqual(entry[5:], ["/var/lib/smtptap", "/usr/sbin/nologin\n"])
        self.assertLess(int(entry[2]), 1000)  # a system user
        (start,) = unit_settings()[("[Service]", "ExecStart")]
        argv = shlex.split(start)
        self.assertEqual(argv[argv.index("-Z") + 1], "smtptap")


@unittest.skipUnless(os.geteuid() == 0,
                     "running the unit's privileges needs root (running as uid %d)"
                     % os.geteuid())
@unittest.skipUnless(shutil.which("setpriv") and shutil.which("useradd"),
                     "setpriv(1) and useradd(8) are needed to run the unit's privileges")
class UnitPrivileges(unittest.TestCase):
    """The unit's ExecStart with its CapabilityBoundingSet, NoNewPrivileges and UMask,
    as systemd would start it (setpriv does what systemd does before exec), capturing on
    lo. Started twice: the second start finds OUT already the user's. ProtectSystem and
    the other namespaces are not emulated. With strace, every system call after the exec
    must be in @system-service (the unit's SystemCallFilter)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smtptap-unitpriv-")
        os.chmod(cls.tmp, 0o755)  # as /var/lib/smtptap: root's, the user may pass
        cls.dest = os.path.join(cls.tmp, "stage")
        install(cls.dest)
        cls.bin = os.path.join(cls.dest, "usr", "bin", "smtptap")
        cls.user = "smtptap-i%d" % os.getpid()
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", cls.user], check=True, capture_output=True)
        cls.pw = pwd.getpwnam(cls.user)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["userdel", cls.user], capture_output=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def command(self, out, port):
        """setpriv + the unit's ExecStart for the instance lo, OUT and user replaced."""
        s = unit_settings()
        caps = s[("[Service]", "CapabilityBoundingSet")][-1].split()
        self.assertEqual(s[("[Service]", "NoNewPrivileges")], ["yes"])
        self.assertEqual(s[("[Service]", "AmbientCapabilities")], [""])
        bounding = "-all" + "".join(",+" + c.lower().replace("cap_", "", 1) for c in caps)
        (start,) = s[("[Service]", "ExecStart")]
        argv = [a.replace("%i", "lo") for a in shlex.split(start) if a != "$SMTPTAP_OPTS"]
        argv[0] = self.bin
        argv[argv.index("-Z") + 1] = self.user
        argv[argv.index("-o") + 1] = out
        umask = int(s[("[Service]", "UMask")][-1], 8)
        return ["setpriv", "--bounding-set=" + bounding, "--inh-caps=-all", "--nnp", *argv,
                "tcp port %d" % port], umask

    def start_once(self, out, trace=None):
        srv = TinySmtpServer()
        srv.start()
        cmd, umask = self.command(out, srv.port)
        if trace:
            cmd = ["strace", "-f", "-qq", "-o", trace] + cmd
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, umask=umask)
        try:
            pid = p.pid
            if trace:  # strace's child running smtptap (it forks probes of its own first)
                pid = wait_for(lambda: child_running(p.pid, self.bin), "strace's child")
            wait_for(lambda: p.poll() is not None or holds_packet_socket(pid), "the capture")
            if p.poll() is not None:
                self.fail("smtptap exited: %s" % p.stderr.read().decode("utf-8", "replace"))
            # the user switch comes once the output is open too (slower under strace)
            uid = [str(self.pw.pw_uid)] * 4
            wait_for(lambda: p.poll() is not None or proc_status(pid)["Uid"].split() == uid,
                     "the switch to " + self.user)
            time.sleep(0.3)  # the filter is set right after activation
            st = proc_status(pid)
            self.assertEqual(st["Uid"].split(), uid)
            self.assertEqual(st["Gid"].split(), [str(self.pw.pw_gid)] * 4)
            for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
                self.assertEqual(int(st[cap], 16), 0, cap)
            self.assertEqual(st["NoNewPrivs"], "1")
            body = b"Subject: from the unit\r\n\r\nstarted as the unit starts it\r\n"
            with smtplib.SMTP("127.0.0.1", srv.port) as c:
                c.sendmail("a@unit.test", ["b@unit.test"], body)
            time.sleep(1.0)
            os.kill(pid, signal.SIGTERM)
            _, stderr = p.communicate(timeout=60)
        finally:
            if p.poll() is None:  # smtptap first: killing strace would leave it running
                for victim in [v for v in (child_running(p.pid, self.bin), pid, p.pid) if v]:
                    try:
                        os.kill(victim, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                p.wait()
            srv.sock.close()
        self.assertEqual(p.returncode, 0, stderr.decode("utf-8", "replace"))
        return sha256(body)

    def test_started_twice_as_the_unit_starts_it(self):
        out = os.path.join(self.tmp, "lo")
        trace = os.path.join(self.tmp, "trace") if shutil.which("strace") else None
        want = [self.start_once(out, trace), self.start_once(out)]
        records, _ = load_output(out)
        self.assertEqual([r["transactions"][0]["message"]["sha256"] for r in records], want)
        for d, dirs, files in os.walk(out):
            for name in dirs + files:
                st = os.lstat(os.path.join(d, name))
                self.assertEqual((st.st_uid, st.st_gid), (self.pw.pw_uid, self.pw.pw_gid),
                                 os.path.join(d, name))
                self.assertEqual(st.st_mode & 0o027, 0, os.path.join(d, name))  # UMask
        if not trace:
            self.skipTest("strace is not installed: system calls not checked")
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed: system calls not checked")
        calls = traced_calls(trace, self.bin)
        self.assertTrue(calls & {"setuid", "setresuid"}, "the trace covers the switch")
        self.assertEqual(sorted(calls - system_service_calls()), [])


@unittest.skipUnless(shutil.which("strace") and shutil.which("systemd-analyze"),
                     "strace and systemd-analyze are needed to check the system calls")
class SystemCalls(unittest.TestCase):
    """Offline, on two worker processes, with every analyzer and IOC extraction: the
    unit's SystemCallFilter (@system-service) must allow every call the installed
    command makes."""

    def test_offline_with_every_analyzer(self):
        tmp = tempfile.mkdtemp(prefix="smtptap-syscalls-")
        try:
            dest = os.path.join(tmp, "stage")
            install(dest)
            binary = os.path.join(dest, "usr", "bin", "smtptap")
            rules = os.path.join(tmp, "r.yar")
            with open(rules, "w") as f:
                f.write('rule any_a { strings: $a = "a" condition: $a }\n')
            trace, out = os.path.join(tmp, "trace"), os.path.join(tmp, "out")
            p = subprocess.run(["strace", "-f", "-qq", "-o", trace, binary, "-q", "-o", out,
                                "--workers", "2", "--always-dispatch=hash,magic,yara,iocs",
                                "--extract-iocs", "--yara-rules", rules,
                                "-r", os.path.join(PCAPS, "mime-swaks.pcap"),
                                "-r", os.path.join(PCAPS, "smtp-four-sessions.pcap"),
                                "--eml", EML], capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 0, p.stderr)
            records, _ = load_output(out)
            self.assertGreaterEqual(len(records), 6)
            calls = traced_calls(trace, binary)
            self.assertIn("openat", calls)
            self.assertEqual(sorted(calls - system_service_calls()), [])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@unittest.skipUnless(shutil.which("logrotate"), "logrotate is not installed")
class Logrotate(unittest.TestCase):
    """contrib/smtptap.logrotate, with its paths moved into a temporary folder, its su
    user made the test's own and its postrotate a kill -HUP of the running smtptap."""

    def snippet(self, base, postrotate=None):
        me = pwd.getpwuid(os.geteuid())
        text = open(LOGROTATE).read().replace("/var/lib/smtptap", base)
        text, n = re.subn(r"(?m)^(\s*su) smtptap smtptap$",
                          r"\1 %s %s" % (me.pw_name, me.pw_name), text)
        self.assertEqual(n, 1, "the snippet's su line")
        if postrotate:
            text, n = re.subn(r"(?ms)^(\s*postrotate\n).*?(^\s*endscript)",
                              lambda m: m.group(1) + "\t\t" + postrotate + "\n" + m.group(2),
                              text)
            self.assertEqual(n, 1, "the snippet's postrotate")
        path = os.path.join(base, "smtptap.logrotate")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smtptap-logrotate-")
        os.chmod(self.tmp, 0o755)
        self.dest = os.path.join(self.tmp, "stage")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_parses(self):
        base = os.path.join(self.tmp, "lib")
        os.makedirs(os.path.join(base, "eth0"), mode=0o750)
        with open(os.path.join(base, "eth0", "sessions.jsonl"), "w") as f:
            f.write("{}\n")
        p = subprocess.run(["logrotate", "-d", "-s", os.path.join(self.tmp, "state"),
                            self.snippet(base)], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("error", (p.stdout + p.stderr).lower())
        self.assertIn("eth0/sessions.jsonl", p.stdout + p.stderr)

    def test_rotation_under_a_running_smtptap(self):
        """Records before the rotation stay in the renamed file, the next go to a new
        one smtptap makes itself: each message once, nothing lost."""
        install(self.dest)
        base = os.path.join(self.tmp, "lib")
        out, maildir = os.path.join(base, "eth0"), os.path.join(self.tmp, "Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(maildir, sub))
        p = subprocess.Popen([os.path.join(self.dest, "usr/bin/smtptap"), "-q", "-o", out,
                              "--maildir", maildir], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        bodies = [b"Subject: before\r\n\r\nbefore the rotation\r\n",
                  b"Subject: after\r\n\r\nafter the rotation\r\n"]
        records = os.path.join(out, "sessions.jsonl")

        def deliver(i):
            t = os.path.join(maildir, "tmp", "m%d" % i)
            with open(t, "wb") as f:
                f.write(bodies[i])
            os.rename(t, os.path.join(maildir, "new", "m%d" % i))
            wait_for(lambda: os.path.exists(records) and len(lines(records)) == 1,
                     "the record of message %d" % i)
        try:
            time.sleep(1.0)  # the inotify watch is set up at start
            deliver(0)
            conf = self.snippet(base, "kill -HUP %d" % p.pid)
            r = subprocess.run(["logrotate", "-f", "-s", os.path.join(self.tmp, "state"), conf],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            (rotated,) = [n for n in os.listdir(out) if n.startswith("sessions.jsonl-")]
            deliver(1)
        finally:
            p.send_signal(signal.SIGTERM)
            _, stderr = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, stderr.decode("utf-8", "replace"))
        self.assertRegex(rotated, r"^sessions\.jsonl-\d{8}$")  # dateext, delaycompress
        got = [[r["transactions"][0]["message"]["sha256"] for r in lines(os.path.join(out, n))]
               for n in (rotated, "sessions.jsonl")]
        self.assertEqual(got, [[sha256(bodies[0])], [sha256(bodies[1])]])
        st = os.stat(records)  # made by smtptap (nocreate), not by logrotate
        self.assertEqual(st.st_mode & 0o777, 0o640)


if __name__ == "__main__":
    unittest.main()
