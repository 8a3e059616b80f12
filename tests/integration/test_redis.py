"""The Redis sink (output/sink_redis.c, issue 11 "Many sensors, one place").

A real redis-server, started by each test in a temporary directory of its own (its own config,
a Unix socket there, `port 0`: no TCP port), waited for with PING and killed and removed
afterwards. smtptap writes every record to OUT/sessions.jsonl and, with `redis` set, to Redis.

Truth: the file sink's lines of the same run (read back from disk), themselves checked against
what the captures are known to hold (pcaps/manifest.json: sessions and each accepted message's
sha256), and what Redis holds, read here over the socket with a few lines of RESP of our own
(XRANGE, LRANGE, a SUBSCRIBE of the test's). Captures are real recordings from pcaps/, sent to
smtptap on its standard input (-r -) as one pcap stream, each file's packets moved in time after
the previous one's, so that the test decides when which records exist.

- stream, list and publish modes: Redis gets exactly the file's lines, in order; sinks = redis
  sends them to Redis alone.
- A server down at start that comes back: the records made meanwhile (seen waiting in
  OUT/redis-spool.jsonl with redis_queue = 0, or in memory) are delivered after it is back, then
  the rest, in order, each once; the spool is gone at the end.
- A server killed mid-run (AOF on, so what it acknowledged survives): after its restart every
  record is in Redis, in order; killed for good, what Redis has plus OUT/redis-spool.jsonl is
  every record, in order, none lost (redis_lost 0), and the next run delivers the spool before
  its own records.
- Queue and spool too small for a server that never comes: the spool holds what fitted, in
  order, the rest is counted in stats.json's redis_lost and the exit status says so.
- redis_maxlen trims the stream (MAXLEN ~, with stream-node-max-entries 4 so that it can).
- A bad address or mode fails before anything is written.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from common import BIN, ENV, PCAPS, load_output

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
with open(os.path.join(PCAPS, "manifest.json")) as _f:
    MANIFEST = json.load(_f)
# Recorded captures (no derived copies: they would repeat the same sessions), Ethernet, small.
CAPTURES = sorted(n for n, i in MANIFEST["files"].items()
                  if i["format"] == "pcap" and i["link_type"] == "EN10MB"
                  and not i["derived_from"] and i["bytes"] < 100000)


# ------------------------------------------------------------ a little RESP

class Resp:
    """A Redis connection over a Unix socket: commands out, replies parsed."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)

    def read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)

    def cmd(self, *args):
        self.send(*args)
        return self.read()

    def close(self):
        self.f.close()
        self.s.close()


class RedisServer:
    """redis-server in its own directory: Unix socket only, no TCP, no RDB; AOF when asked
    (appendfsync always: what it acknowledged is on disk when it is killed)."""

    def __init__(self, d, aof=False, node_entries=None):
        self.dir, self.sock, self.proc = d, os.path.join(d, "redis.sock"), None
        conf = ["port 0", "unixsocket %s" % self.sock, "unixsocketperm 700", "dir %s" % d,
                "daemonize no", 'save ""', "logfile %s" % os.path.join(d, "redis.log"),
                "appendonly %s" % ("yes" if aof else "no"), "appendfsync always"]
        if node_entries:
            conf.append("stream-node-max-entries %d" % node_entries)
        self.conf = os.path.join(d, "redis.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")

    def start(self, timeout=15):
        self.proc = subprocess.Popen([REDIS, self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited: %s" % self.log())
            try:
                c = Resp(self.sock, timeout=2)
                try:
                    if c.cmd("PING") == "PONG":
                        return self
                finally:
                    c.close()
            except (OSError, ConnectionError, RuntimeError):  # not listening, or LOADING
                pass
            time.sleep(0.05)
        raise AssertionError("redis-server did not answer PING: %s" % self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def client(self):
        return Resp(self.sock)


# ---------------------------------------------------------- pcap streams

def read_pcap(path):
    """[(ts seconds, frame bytes, original length)] of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    out, at = [], 24
    while at + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[at:at + 16])
        out.append((sec + frac / (1e9 if nano else 1e6), data[at + 16:at + 16 + incl], orig))
        at += 16 + incl
    return out


def pcap_stream(rounds, t0=1800000000.0):
    """One pcap stream (header, packets) per chunk: chunk i holds rounds[i], a list of capture
    names, each capture's packets moved to start 10 s after the previous one ended."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    chunks, t = [], t0
    for names in rounds:
        out = b""
        for name in names:
            pkts = read_pcap(os.path.join(PCAPS, name))
            base = pkts[0][0]
            for ts, frame, orig in pkts:
                at = t + (ts - base)
                sec = int(at)
                usec = int(round((at - sec) * 1e6))
                out += struct.pack("<IIII", sec, usec, len(frame), orig) + frame
            t += (pkts[-1][0] - base) + 10
        chunks.append(out)
    return header, chunks


def sessions_in(names):
    return sum(MANIFEST["files"][n]["smtp_sessions"] for n in names)


def accepted_digests(names):
    """sha256 of every accepted message the captures hold, as the recording script saw them."""
    return sorted(tx["sha256"] for n in names for s in MANIFEST["files"][n]["sessions"]
                  for tx in s["transactions"] if tx["status"] == "accepted")


def file_lines(out):
    path = os.path.join(out, "sessions.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return f.read().decode().splitlines()


def spool_lines(out, running=False):
    """OUT/redis-spool.jsonl's waiting lines (a delivered stretch is zeros), [] if absent;
    running: smtptap may be writing it, so a last line without its newline is not counted."""
    path = os.path.join(out, "redis-spool.jsonl")
    try:
        with open(path, "rb") as f:
            data = f.read().lstrip(b"\0")
    except FileNotFoundError:
        return []
    if running:
        data = data[:data.rfind(b"\n") + 1]
    assert data == b"" or data.endswith(b"\n"), "a torn line in the spool"
    return data.decode().splitlines()


def wait_for(what, cond, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class RedisCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        if not os.access(REDIS, os.X_OK):
            self.skipTest("redis-server not installed (Debian redis-server: sh scripts/deps.sh test)")
        self.dir = tempfile.mkdtemp(prefix="smtptap-redis-")
        self.out = os.path.join(self.dir, "out")
        self.servers = []
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for s in self.servers:
            s.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def server(self, name="redis", **kw):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        s = RedisServer(d, **kw)
        self.servers.append(s)
        return s

    def sock(self, name="redis"):
        return os.path.join(self.dir, name, "redis.sock")

    def start_smtptap(self, *opts, out=None):
        argv = [BIN, "-q", "-o", out or self.out, "-r", "-", "--set",
                "redis=unix:" + self.sock()] + [a for o in opts for a in ("--set", o)]
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=ENV)
        self.procs.append(p)
        return p

    def finish(self, p, timeout=120):
        p.stdin.close()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            raise
        err = p.stderr.read().decode(errors="replace")
        self.assertNotIn("AddressSanitizer", err)
        self.assertNotIn("runtime error:", err)
        return p.returncode, err

    def run_all(self, rounds, *opts, out=None):
        """smtptap fed every round at once; (rc, stderr, file lines, stats)."""
        header, chunks = pcap_stream(rounds)
        p = self.start_smtptap(*opts, out=out)
        p.stdin.write(header + b"".join(chunks))
        rc, err = self.finish(p)
        records, stats = load_output(out or self.out)
        return rc, err, file_lines(out or self.out), stats

    def check_file_oracle(self, lines, rounds):
        """The file sink's lines are the captures' sessions, with their messages."""
        names = [n for r in rounds for n in r]
        recs = [json.loads(x) for x in lines]
        self.assertEqual(len(recs), sessions_in(names))
        got = sorted(tx["message"]["sha256"] for r in recs for tx in r["transactions"]
                     if tx.get("message") and tx["message"].get("sha256")
                     and tx.get("status") == "accepted")
        self.assertEqual(got, accepted_digests(names))

    def xrange(self, key="smtptap", name="redis"):
        c = Resp(self.sock(name))
        try:
            return [dict(zip(e[1][::2], e[1][1::2]))[b"record"].decode()
                    for e in c.cmd("XRANGE", key, "-", "+")]
        finally:
            c.close()


class Modes(RedisCase):
    def test_stream_holds_the_file_lines(self):
        self.server().start()
        rounds = [CAPTURES]
        rc, err, lines, stats = self.run_all(rounds)
        self.assertEqual(rc, 0, err)
        self.check_file_oracle(lines, rounds)
        self.assertEqual(self.xrange(), lines)
        self.assertEqual(stats["redis_lost"], 0)
        self.assertFalse(os.path.exists(os.path.join(self.out, "redis-spool.jsonl")))

    def test_list_holds_the_file_lines(self):
        self.server().start()
        rc, err, lines, _ = self.run_all([CAPTURES], "redis_mode=list", "redis_key=eve")
        self.assertEqual(rc, 0, err)
        c = Resp(self.sock())
        got = [x.decode() for x in c.cmd("LRANGE", "eve", 0, -1)]
        c.close()
        self.assertEqual(got, lines)
        self.assertTrue(lines)

    def test_publish_reaches_a_subscriber(self):
        self.server().start()
        sub = Resp(self.sock())
        sub.send("SUBSCRIBE", "smtptap-ch")
        self.assertEqual(sub.read()[0], b"subscribe")
        rc, err, lines, _ = self.run_all([CAPTURES], "redis_mode=publish", "redis_key=smtptap-ch")
        self.assertEqual(rc, 0, err)
        got = []
        for _ in lines:
            kind, channel, data = sub.read()
            self.assertEqual((kind, channel), (b"message", b"smtptap-ch"))
            got.append(data.decode())
        sub.close()
        self.assertEqual(got, lines)

    def test_redis_alone(self):
        self.server().start()
        rounds = [CAPTURES]
        rc, err, lines, stats = self.run_all(rounds, "sinks=redis")
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, [], "sinks = redis writes no sessions.jsonl")
        got = self.xrange()
        self.check_file_oracle(got, rounds)
        self.assertEqual(stats["sessions"], len(got))

    def test_maxlen_trims(self):
        self.server(node_entries=4).start()
        rounds = [CAPTURES * 3]
        rc, err, lines, _ = self.run_all(rounds, "redis_maxlen=5")
        self.assertEqual(rc, 0, err)
        got = self.xrange()
        self.assertGreater(len(lines), 40)
        # MAXLEN ~ drops whole nodes of 4 entries: between 5 and 5 + 4 stay, the newest
        self.assertGreaterEqual(len(got), 5)
        self.assertLess(len(got), 5 + 4)
        self.assertEqual(got, lines[-len(got):])

    def test_workers_each_deliver_and_spool(self):
        """--workers 2: each worker process has its own queue and connection (and its own spool,
        OUT/redis-spool.PID.jsonl, when the server is away); the next run delivers those first."""
        files = [a for n in CAPTURES for a in ("-r", os.path.join(PCAPS, n))]
        srv = self.server()
        for up in (True, False):
            out = os.path.join(self.dir, "workers-%s" % up)
            if up:
                srv.start()
            p = subprocess.run([BIN, "-q", "-o", out, "--workers", "2", "--set",
                                "redis=unix:" + self.sock(), "--set", "redis_close_wait=1"]
                               + files, env=ENV, capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            lines = file_lines(out)
            self.check_file_oracle(lines, [CAPTURES])
            if up:  # workers interleave: the same lines, each once
                self.assertEqual(sorted(self.xrange()), sorted(lines))
                srv.kill()
                continue
            spools = [f for f in os.listdir(out) if f.startswith("redis-spool.")]
            self.assertTrue(spools)
            kept = []
            for f in spools:
                with open(os.path.join(out, f)) as fh:
                    kept += fh.read().splitlines()
            self.assertEqual(sorted(kept), sorted(lines))
            srv.start()  # empty again: it kept nothing
            p = subprocess.run([BIN, "-q", "-o", out, "--set", "redis=unix:" + self.sock(),
                                "-r", os.path.join(PCAPS, CAPTURES[0])], env=ENV,
                               capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            got, new = self.xrange(), file_lines(out)[len(lines):]
            self.assertEqual(sorted(got[:len(lines)]), sorted(lines), "the spools first")
            self.assertEqual(got[len(lines):], new)
            self.assertEqual([f for f in os.listdir(out) if f.startswith("redis-spool")], [])

    def test_bad_options_fail_before_output(self):
        for opt, want in (("redis=tcp://x", "redis: expected redis://"),
                          ("redis_mode=hash", "redis_mode: expected stream, list or publish"),
                          ("redis_maxlen=-1", "redis_maxlen")):
            out = os.path.join(self.dir, "bad")
            p = subprocess.run([BIN, "-q", "-o", out, "-r", os.path.join(PCAPS, CAPTURES[0]),
                                "--set", "redis=unix:/nonexistent/redis.sock", "--set", opt],
                               env=ENV, capture_output=True, timeout=60)
            self.assertNotEqual(p.returncode, 0, opt)
            self.assertIn(want, p.stderr.decode(), opt)
            self.assertEqual(file_lines(out), [], opt)


class Outages(RedisCase):
    def feed(self, p, data):
        p.stdin.write(data)
        p.stdin.flush()

    def down_at_start(self, *opts, spool_visible):
        srv = self.server()
        rounds = [CAPTURES, CAPTURES]
        header, chunks = pcap_stream(rounds)
        p = self.start_smtptap(*opts)
        self.feed(p, header + chunks[0])
        n1 = sessions_in(rounds[0])
        if spool_visible:  # the records of round 1 exist, and wait on disk
            wait_for("the spool to hold round 1",
                     lambda: len(spool_lines(self.out, running=True)) == n1)
        else:
            time.sleep(1.5)
        srv.start()
        c = srv.client()
        wait_for("round 1 in redis", lambda: c.cmd("XLEN", "smtptap") >= n1)
        if spool_visible:
            wait_for("the spool to empty", lambda: spool_lines(self.out, running=True) == [])
        self.feed(p, chunks[1])
        rc, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        lines = file_lines(self.out)
        self.check_file_oracle(lines, rounds)
        self.assertEqual(self.xrange(), lines, "delivered in order, each once")
        self.assertFalse(os.path.exists(os.path.join(self.out, "redis-spool.jsonl")))
        self.assertEqual(load_output(self.out)[1]["redis_lost"], 0)
        c.close()

    def test_down_at_start_comes_back_memory(self):
        self.down_at_start(spool_visible=False)

    def test_down_at_start_comes_back_spool(self):
        self.down_at_start("redis_queue=0", spool_visible=True)

    def killed_mid_run(self, *opts):
        srv = self.server(aof=True)
        srv.start()
        rounds = [CAPTURES, CAPTURES, CAPTURES]
        header, chunks = pcap_stream(rounds)
        p = self.start_smtptap(*opts)
        self.feed(p, header + chunks[0])
        n1 = sessions_in(rounds[0])
        c = srv.client()
        wait_for("round 1 in redis", lambda: c.cmd("XLEN", "smtptap") >= n1)
        c.close()
        srv.kill()
        self.feed(p, chunks[1])
        time.sleep(1.5)  # round 2 made while the server is dead
        return srv, p, rounds, chunks

    def test_killed_mid_run_and_restarted(self):
        srv, p, rounds, chunks = self.killed_mid_run("redis_queue=4096")
        srv.start()
        self.feed(p, chunks[2])
        rc, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        lines = file_lines(self.out)
        self.check_file_oracle(lines, rounds)
        self.assertEqual(self.xrange(), lines, "every record in redis, in order, once")
        self.assertEqual(load_output(self.out)[1]["redis_lost"], 0)
        self.assertEqual(spool_lines(self.out), [])

    def test_killed_for_good_spool_then_next_run(self):
        srv, p, rounds, chunks = self.killed_mid_run("redis_close_wait=1")
        self.feed(p, chunks[2])
        rc, err = self.finish(p)
        self.assertEqual(rc, 0, err)  # nothing lost: the rest waits in the spool
        lines = file_lines(self.out)
        self.check_file_oracle(lines, rounds)
        self.assertEqual(load_output(self.out)[1]["redis_lost"], 0)
        srv.start()  # what it acknowledged before it died, from its AOF
        in_redis, spooled = self.xrange(), spool_lines(self.out)
        self.assertGreaterEqual(len(in_redis), sessions_in(rounds[0]))
        self.assertTrue(spooled)
        self.assertEqual(in_redis + spooled, lines, "redis, then the spool: every record once")
        # the next run delivers the spool first, then its own
        header, more = pcap_stream([CAPTURES[:3]], t0=1900000000.0)
        p2 = self.start_smtptap()
        p2.stdin.write(header + more[0])
        rc, err = self.finish(p2)
        self.assertEqual(rc, 0, err)
        new = file_lines(self.out)[len(lines):]
        self.assertEqual(len(new), sessions_in(CAPTURES[:3]))
        self.assertEqual(self.xrange(), lines + new)
        self.assertFalse(os.path.exists(os.path.join(self.out, "redis-spool.jsonl")))

    def test_what_cannot_be_kept_is_counted(self):
        self.server()  # never started
        rounds = [CAPTURES]
        rc, err, lines, stats = self.run_all(rounds, "redis_queue=0", "redis_spool_max=12000",
                                             "redis_close_wait=0")
        self.check_file_oracle(lines, rounds)  # the file output went on
        kept = spool_lines(self.out)
        self.assertTrue(kept)
        self.assertLess(len(kept), len(lines))
        self.assertLessEqual(sum(len(x) + 1 for x in kept), 12000)
        it = iter(lines)  # an ordered subsequence: a record that no longer fits is lost,
        self.assertTrue(all(k in it for k in kept), "kept in order")  # a smaller later one not
        self.assertEqual(len(set(kept)), len(kept))
        self.assertEqual(stats["redis_lost"], len(lines) - len(kept))
        self.assertEqual(rc, 1)
        self.assertIn("%d records kept neither in Redis nor in the spool"
                      % (len(lines) - len(kept)), err)


if __name__ == "__main__":
    unittest.main()
