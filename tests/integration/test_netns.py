"""A sensor on a wire (issue 11): live capture on a veth pair inside a network namespace the
test makes (and removes), fed by tcpreplay with recorded captures, smtptap listening on the other
end with --workers 2 -Z nobody (and with one worker). Truth: the offline run of the same captures
(every transaction's envelope, status and message sha256, and the stored messages), and the
kernel's /proc status of every worker process (its uid is not 0). SIGTERM ends the run: exit 0.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from common import BIN, ENV, ROOT
from test_faults import whole_lines
from test_workers import stored

CAPS = [os.path.join(ROOT, "pcaps", f) for f in
        ("smtp-four-sessions.pcap", "smtp-multi-transaction.pcap", "smtp-bdat.pcap",
         "smtp-big.pcap")]


def tool(name):
    return shutil.which(name) or shutil.which("/usr/sbin/" + name) or shutil.which("/usr/bin/" + name)


def transactions(recs):
    """What must not depend on how the packets came: per session its endpoints' ports and
    each transaction's envelope, status and message."""
    out = []
    for r in recs:
        txs = tuple((t["mail_from"], tuple(t["rcpt_to"]), t["status"],
                     t["message"]["sha256"] if t["message"] else None,
                     t["message"]["complete"] if t["message"] else None)
                    for t in r["transactions"])
        out.append((r["client"]["port"], r["server"]["port"], r.get("helo"), txs))
    return sorted(out, key=repr)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    return None


def packet_sockets(pids):
    n = 0
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                    n += 1
            except OSError:
                pass
    return n


@unittest.skipUnless(os.geteuid() == 0, "a network namespace needs root")
@unittest.skipUnless(tool("tcpreplay") and tool("ip"), "needs tcpreplay and iproute2")
class Wire(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="smtptap-netns-")
        os.chmod(cls.dir, 0o755)  # -Z nobody must reach OUT inside it
        out = os.path.join(cls.dir, "offline")
        args = [BIN, "-q", "-o", out]
        for c in CAPS:
            args += ["-r", c]
        p = subprocess.run(args, env=ENV, capture_output=True, timeout=120)
        assert p.returncode == 0, p.stderr
        cls.want = transactions(whole_lines(os.path.join(out, "sessions.jsonl")))
        cls.want_store = {k: v for k, v in stored(out).items() if k.startswith("messages/")}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def setUp(self):
        self.ns = "smtptap-t%d" % os.getpid()
        ip = ["ip", "netns", "exec", self.ns, "ip"]
        for cmd in (["ip", "netns", "add", self.ns],
                    ip + ["link", "add", "va", "type", "veth", "peer", "name", "vb"],
                    ip + ["link", "set", "va", "mtu", "65535", "up"],
                    ip + ["link", "set", "vb", "mtu", "65535", "up"]):
            subprocess.run(cmd, check=True, capture_output=True)

    def tearDown(self):
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

    def replay(self, workers):
        out = os.path.join(self.dir, "live%d" % workers)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns, BIN, "-q", "--workers",
                              str(workers), "-Z", "nobody", "-i", "vb", "-o", out], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # ip netns exec execs smtptap in place: p.pid is smtptap
        procs = []
        for _ in range(100):  # until every worker holds its packet socket
            kids = children(p.pid)
            procs = kids if workers > 1 else [p.pid]
            if len(procs) == workers and packet_sockets(procs) >= workers:
                break
            time.sleep(0.1)
        self.assertEqual(len(procs), workers, "workers did not start")
        time.sleep(0.5)
        for pid in procs:
            self.assertNotIn(0, uid_of(pid), "worker %d runs as root" % pid)
        r = subprocess.run(["ip", "netns", "exec", self.ns, tool("tcpreplay"), "-q", "-i", "va",
                            "--mbps", "200"] + CAPS, capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err.decode(errors="replace"))
        self.assertNotIn(b"dropped by the kernel", err)
        return out

    def check(self, workers):
        out = self.replay(workers)
        got = transactions(whole_lines(os.path.join(out, "sessions.jsonl")))
        self.assertEqual(got, self.want)
        got_store = {k: v for k, v in stored(out).items() if k.startswith("messages/")}
        self.assertEqual(got_store, self.want_store)
        with open(os.path.join(out, "stats.json")) as f:
            self.assertEqual(json.load(f)["pcap_dropped"], 0)

    def test_two_workers_unprivileged(self):
        self.check(2)

    def test_one_worker_unprivileged(self):
        self.check(1)


if __name__ == "__main__":
    unittest.main()
