"""The real binary speaks sd_notify to a unix datagram socket the test binds as NOTIFY_SOCKET:
READY=1 only after start-up, WATCHDOG=1 pings while every thread makes progress (WATCHDOG_USEC),
STATUS= lines with readings/s, STOPPING=1 on SIGTERM; a driver that hangs stops the pings; a
config error exits 78 without READY=1."""
import os
import signal
import socket
import subprocess
import time
import unittest

from pn_testlib import BINARY, GatewayTestCase

# A realtime sim (a tick every 100 ms) into the file upstream.
SIM = """
[health]
stall_timeout_ms = {stall_ms}

[drivers.plant]
type = "sim"
devices = 1
interval_ms = 100
stall_after_samples = {stall_after}

[upstreams.out]
type = "file"
path = "{out}"
"""


class NotifySocket:
    """Collects sd_notify datagrams: a list of (monotonic time, message lines)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages = []

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            for line in data.decode().split("\n"):
                if line:
                    self.messages.append((time.monotonic(), line))

    def wait_for(self, predicate, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(predicate(m) for _, m in self.messages):
                return True
            self.pump(0.1)
        return False

    def times(self, message):
        return [t for t, m in self.messages if m == message]

    def close(self):
        self.sock.close()


class SystemdNotify(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.notify = NotifySocket(os.path.join(self.dir, "notify.sock"))
        self.proc = None

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.notify.close()
        super().tearDown()

    def start(self, stall_after=0, stall_ms=60000, watchdog_usec=400000):
        cfg = self.config(SIM.format(stall_ms=stall_ms, stall_after=stall_after, out=self.out))
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC=str(watchdog_usec))
        env.pop("WATCHDOG_PID", None)
        self.proc = subprocess.Popen([BINARY, "run", "--config", cfg, "--stats-interval-ms", "200"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.notify.pump(0.2)
        _, err = self.proc.communicate(timeout=30)
        self.notify.pump(0.3)
        return err

    def test_ready_after_startup_then_watchdog_status_and_stopping(self):
        self.start()
        self.assertTrue(self.notify.wait_for(lambda m: m == "READY=1", 30), self.notify.messages)
        # Start-up said what it was doing before READY=1.
        first = self.notify.messages[0][1]
        self.assertEqual(first, "STATUS=loading configuration")
        ready_at = self.notify.times("READY=1")[0]
        self.notify.pump(2.0)
        pings = [t for t in self.notify.times("WATCHDOG=1") if t > ready_at]
        # Every 200 ms (half of WATCHDOG_USEC); a loaded machine may lose some, not most.
        self.assertGreaterEqual(len(pings), 4, self.notify.messages)
        statuses = [m for _, m in self.notify.messages if m.startswith("STATUS=")]
        self.assertTrue(any("readings/s" in m and "out ok" in m for m in statuses), statuses)
        # Readings flow: the realtime sim produced some, so a rate above 0 appears.
        self.assertTrue(self.notify.wait_for(
            lambda m: m.startswith("STATUS=") and not m.startswith("STATUS=0 readings/s")
            and "readings/s" in m, 10), statuses)
        err = self.stop()
        self.assertEqual(self.proc.returncode, 0, err)
        self.assertEqual(len(self.notify.times("STOPPING=1")), 1, self.notify.messages)
        self.assertGreater(self.notify.times("STOPPING=1")[0], ready_at)

    def test_sighup_reload_reports_reloading_then_ready(self):
        self.start()
        self.assertTrue(self.notify.wait_for(lambda m: m == "READY=1", 30))
        self.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.notify.wait_for(lambda m: m == "RELOADING=1", 10))
        # The reload loads and compares the whole config: wait for its READY=1, not a fixed time.
        end = time.monotonic() + 20
        while len(self.notify.times("READY=1")) < 2 and time.monotonic() < end:
            self.notify.pump(0.1)
        self.assertEqual(len(self.notify.times("READY=1")), 2, self.notify.messages)
        self.assertGreater(self.notify.times("READY=1")[1], self.notify.times("RELOADING=1")[0])
        self.stop()
        self.assertEqual(self.proc.returncode, 0)

    def test_a_hung_driver_stops_the_watchdog_pings(self):
        # The driver hangs after 10 ticks (~1 s); 500 ms later it counts as stalled.
        self.start(stall_after=10, stall_ms=500)
        self.assertTrue(self.notify.wait_for(lambda m: m == "READY=1", 30))
        def driver_stalled(m):
            return m.startswith("STATUS=STALLED") and "driver plant" in m
        self.assertTrue(self.notify.wait_for(driver_stalled, 30), self.notify.messages)
        stalled_at = [t for t, m in self.notify.messages if driver_stalled(m)][0]
        pings_before = [t for t in self.notify.times("WATCHDOG=1") if t < stalled_at]
        self.assertGreaterEqual(len(pings_before), 2, self.notify.messages)
        # No ping for 2 s: far longer than WATCHDOG_USEC (400 ms), so systemd would restart us.
        self.notify.pump(2.0)
        after = [t for t in self.notify.times("WATCHDOG=1") if t > stalled_at + 0.05]
        self.assertEqual(after, [], self.notify.messages)
        self.assertIsNone(self.proc.poll(), "the daemon itself keeps running; systemd acts")
        err = self.stop()
        self.assertEqual(self.proc.returncode, 0, err)
        self.assertIn("withholding watchdog pings", err)

    def test_a_config_error_exits_78_without_ready(self):
        cfg = self.config('[drivers.plant]\ntype = "sim"\nno_such_key = 1\n')
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path)
        proc = subprocess.run([BINARY, "run", "--config", cfg], env=env, capture_output=True,
                              text=True, timeout=30)
        self.notify.pump(0.3)
        self.assertEqual(proc.returncode, 78, proc.stderr)
        self.assertIn("no_such_key", proc.stderr)
        self.assertEqual(self.notify.times("READY=1"), [])

    def test_without_notify_socket_the_daemon_runs_normally(self):
        cfg = self.config(SIM.format(stall_ms=60000, stall_after=0, out=self.out)
                          .replace("interval_ms = 100", "interval_ms = 100\nmax_samples = 5"))
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        proc = subprocess.run([BINARY, "run", "--config", cfg, "--exit-when-drained"], env=env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(self.read_out()), 5 * 5)


if __name__ == "__main__":
    unittest.main()
