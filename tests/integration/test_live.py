"""Live capture: smtptap -i lo sees a real SMTP exchange on loopback and
writes its record; SIGTERM ends it cleanly with every session flushed."""
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from common import BIN, ENV, Run, children, holds_packet_socket, packet_sockets, sha256



class TinySmtpServer(threading.Thread):
    """Just enough of an SMTP server for one client, on 127.0.0.1."""

    def __init__(self, hold_open=False):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.hold_open = hold_open
        self.conns = []

    def run(self):
        conn, _ = self.sock.accept()
        self.conns.append(conn)
        f = conn.makefile("rb")
        conn.sendall(b"220 live.test ESMTP\r\n")
        in_data = False
        for line in f:
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    conn.sendall(b"250 2.0.0 queued\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-live.test\r\n250 PIPELINING\r\n")
            elif verb == b"DATA":
                in_data = True
                conn.sendall(b"354 go\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                break
            else:
                conn.sendall(b"250 ok\r\n")
        if not self.hold_open:
            conn.close()


class LiveHelpers:
    def start(self, port):
        out = tempfile.mkdtemp(prefix="smtptap-live-")
        p = subprocess.Popen([BIN, "-q", "-i", "lo", "-o", out, "tcp port %d" % port], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.wait_capturing(p)
        return p, out

    def wait_capturing(self, p, limit=20.0, procs=1):
        """Until procs processes (smtptap, or its workers: --workers N captures in the
        children, not in the parent) hold a packet socket (libpcap activated), not a guess."""
        end = time.time() + limit
        while time.time() < end:
            self.assertIsNone(p.poll(), "smtptap exited early")
            inodes = packet_sockets()
            holding = [pid for pid in [p.pid] + children(p.pid) if holds_packet_socket(pid, inodes)]
            if len(holding) >= procs:
                time.sleep(0.3)  # the filter is set right after activation
                return
            time.sleep(0.1)
        self.fail("smtptap did not start capturing within %.0f s" % limit)

    def stop(self, p, out):
        p.send_signal(signal.SIGTERM)
        stdout, stderr = p.communicate(timeout=20)
        stderr = stderr.decode("utf-8", "replace")
        self.assertNotIn("AddressSanitizer", stderr)
        self.assertEqual(p.returncode, 0, stderr)
        return Run(p.returncode, stdout, stderr, out)



# Opening a packet socket on lo needs root (CAP_NET_RAW): without it both
# tests are skipped, and tests/run.py lists them with this reason.
@unittest.skipUnless(os.geteuid() == 0,
                     "live capture on lo needs root (running as uid %d)" % os.geteuid())
class Live(LiveHelpers, unittest.TestCase):
    def test_live_session_recorded(self):
        srv = TinySmtpServer()
        srv.start()
        p, out = self.start(srv.port)
        body = b"Subject: live\r\n\r\nseen on the wire\r\n"
        with smtplib.SMTP("127.0.0.1", srv.port) as c:
            c.sendmail("a@live.test", ["b@live.test"], body)
        time.sleep(1.0)
        run = self.stop(p, out)
        self.assertEqual(len(run.records), 1)
        tx = run.records[0]["transactions"][0]
        self.assertEqual((tx["mail_from"], tx["rcpt_to"], tx["status"]),
                         ("a@live.test", ["b@live.test"], "accepted"))
        self.assertEqual(tx["message"]["sha256"], sha256(body))
        self.assertEqual(run.records[0]["close"], "fin")

    def test_sigterm_flushes_open_session(self):
        srv = TinySmtpServer(hold_open=True)
        srv.start()
        p, out = self.start(srv.port)
        s = socket.create_connection(("127.0.0.1", srv.port))
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"EHLO me\r\n")
        f.readline(), f.readline()
        s.sendall(b"MAIL FROM:<open@live.test>\r\n")
        f.readline()
        time.sleep(1.0)
        run = self.stop(p, out)  # the connection is still open
        s.close()
        self.assertEqual(len(run.records), 1)
        self.assertEqual(run.records[0]["close"], "eof")
        self.assertEqual(run.records[0]["transactions"][0]["mail_from"], "open@live.test")


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


@unittest.skipUnless(os.geteuid() == 0,
                     "switching user needs root (running as uid %d)" % os.geteuid())
class NoRoot(LiveHelpers, unittest.TestCase):
    """-Z USER as tcpdump's: once the packet socket and OUT are open, the running process has
    the user's uid and gid in all four slots, its groups, and no capability left; what it
    writes afterwards (the record, the stored message) is the user's. Truth: the kernel's
    /proc/PID/status, and a user the test makes with useradd and removes afterwards."""

    def setUp(self):
        self.user = "smtptap-t%d" % os.getpid()
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", self.user], check=True, capture_output=True)
        import pwd
        pw = pwd.getpwnam(self.user)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid

    def tearDown(self):
        subprocess.run(["userdel", self.user], capture_output=True)

    def test_user_after_open(self):
        srv = TinySmtpServer()
        srv.start()
        out = tempfile.mkdtemp(prefix="smtptap-live-")
        os.chmod(out, 0o700)  # only root may enter: smtptap must give it to the user
        p = subprocess.Popen([BIN, "-q", "-Z", self.user, "-i", "lo", "-o", out,
                              "tcp port %d" % srv.port], env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.wait_capturing(p)
        st = proc_status(p.pid)
        self.assertEqual(st["Uid"].split(), [str(self.uid)] * 4)
        self.assertEqual(st["Gid"].split(), [str(self.gid)] * 4)
        self.assertEqual(st["Groups"].split(), [str(self.gid)])
        for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
            self.assertEqual(int(st[cap], 16), 0, cap)
        body = b"Subject: unprivileged\r\n\r\nwritten by the user\r\n"
        with smtplib.SMTP("127.0.0.1", srv.port) as c:
            c.sendmail("a@live.test", ["b@live.test"], body)
        time.sleep(1.0)
        run = self.stop(p, out)
        (rec,) = run.records
        msg = rec["transactions"][0]["message"]
        self.assertEqual(msg["sha256"], sha256(body))
        eml = os.stat(os.path.join(out, msg["eml"]))
        self.assertEqual((eml.st_uid, eml.st_gid), (self.uid, self.gid))
        self.assertEqual(os.stat(out).st_uid, self.uid)

    def test_output_the_user_cannot_reach(self):
        """OUT inside a folder only root may enter: said at once, not as write errors later."""
        d = tempfile.mkdtemp(prefix="smtptap-live-")  # 0700, root's
        try:
            p = subprocess.run([BIN, "-q", "-Z", self.user, "-i", "lo", "-o",
                                os.path.join(d, "out"), "tcp port 9"], env=ENV,
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertIn("not usable by " + self.user, p.stderr.decode())
        finally:
            shutil.rmtree(d)

    def test_unknown_user_is_an_error(self):
        out = tempfile.mkdtemp(prefix="smtptap-live-")
        p = subprocess.run([BIN, "-q", "-Z", self.user + "-none", "-i", "lo", "-o", out,
                            "tcp port 9"], env=ENV, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such user", p.stderr.decode())


if __name__ == "__main__":
    unittest.main()
