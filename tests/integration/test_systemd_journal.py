"""Under systemd (stderr is the journal stream named by JOURNAL_STREAM) the daemon logs through
sd_journal with syslog priorities: the test stands in for journald by binding the native journal
socket /run/systemd/journal/socket (only where no journald owns it, as root) and reads the
PRIORITY=/MESSAGE= fields. Without JOURNAL_STREAM, logs go to stderr."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from pn_testlib import BINARY, GatewayTestCase

JOURNAL_DIR = "/run/systemd/journal"
JOURNAL_SOCKET = os.path.join(JOURNAL_DIR, "socket")

CONFIG = """
[drivers.plant]
type = "sim"
devices = 1
interval_ms = 100
stall_after_samples = 2
"""


def parse_native(datagram):
    """Fields of one native-protocol journal entry (text fields only, as sd_journal_send
    sends them)."""
    fields = {}
    for line in datagram.decode(errors="replace").split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            fields[k] = v
    return fields


class FakeJournal:
    """Binds the native journal socket (as root, where no journald owns it) for one test."""

    def __enter__(self):
        self.made_dir = not os.path.isdir(JOURNAL_DIR)
        os.makedirs(JOURNAL_DIR, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(JOURNAL_SOCKET)
        self.sock.settimeout(0.1)
        return self

    def read(self, entries, until, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not until(entries):
            try:
                entries.append(parse_native(self.sock.recv(65536)))
            except socket.timeout:
                pass

    def __exit__(self, *exc):
        self.sock.close()
        os.unlink(JOURNAL_SOCKET)
        if self.made_dir:
            shutil.rmtree(JOURNAL_DIR, ignore_errors=True)


def with_fake_journal(f):
    """Skips, saying why, where FakeJournal cannot bind the socket."""
    f = unittest.skipIf(os.geteuid() != 0, "binding the journal socket needs root")(f)
    return unittest.skipIf(os.path.exists(JOURNAL_SOCKET),
                           "a real journald owns the journal socket")(f)


class JournalLogging(GatewayTestCase):
    def journal_env(self, err):
        st = os.fstat(err.fileno())
        return dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")

    @with_fake_journal
    def test_logs_reach_the_journal_with_priorities(self):
        proc = None
        with FakeJournal() as journal:
            try:
                cfg = self.config(CONFIG)
                err_path = os.path.join(self.dir, "stderr")
                with open(err_path, "w") as err:
                    proc = subprocess.Popen([BINARY, "run", "--config", cfg],
                                            env=self.journal_env(err),
                                            stdout=subprocess.DEVNULL, stderr=err)
                    entries = []
                    journal.read(entries, lambda es: any(
                        "stall_after_samples reached" in e.get("MESSAGE", "") for e in es))
                    proc.send_signal(signal.SIGTERM)
                    self.assertEqual(proc.wait(timeout=30), 0)
                by_message = {e.get("MESSAGE", ""): e for e in entries}
                starting = [e for m, e in by_message.items() if m.startswith("processnow ")]
                self.assertTrue(starting, entries)
                self.assertEqual(starting[0]["PRIORITY"], "6")  # info
                self.assertEqual(starting[0]["SYSLOG_IDENTIFIER"], "processnow")
                stall = [e for m, e in by_message.items() if "stall_after_samples reached" in m]
                self.assertTrue(stall, entries)
                self.assertEqual(stall[0]["PRIORITY"], "4")  # warning
                # Nothing was written to stderr in the journal case (no duplicates).
                with open(err_path) as f:
                    self.assertNotIn("starting", f.read())
            finally:
                if proc is not None and proc.poll() is None:
                    proc.kill()

    @with_fake_journal
    def test_config_errors_reach_the_journal_at_error_priority(self):
        # `journalctl -u processnow -p err` must say why the service exited 78 (found on a real
        # systemd: as text on the stderr stream the lines had priority 6).
        cfg = self.config('bogus_key = 1\n[drivers.plant]\ntype = "sim"\ninterval_mss = 5\n')
        with FakeJournal() as journal:
            err_path = os.path.join(self.dir, "stderr")
            with open(err_path, "w") as err:
                proc = subprocess.run([BINARY, "run", "--config", cfg], env=self.journal_env(err),
                                      stdout=subprocess.DEVNULL, stderr=err, timeout=60)
            self.assertEqual(proc.returncode, 78)
            entries = []
            journal.read(entries, lambda es: sum("interval_mss" in e.get("MESSAGE", "")
                                                 for e in es) > 0, timeout=5)
        errors = [e for e in entries if e.get("PRIORITY") == "3"]
        messages = [e["MESSAGE"] for e in errors]
        self.assertTrue(any(m.startswith(cfg + ":") and "bogus_key" in m for m in messages),
                        entries)
        self.assertTrue(any("interval_mss" in m and "interval_ms" in m for m in messages),
                        entries)  # the "did you mean" suggestion comes along
        with open(err_path) as f:
            self.assertNotIn("bogus_key", f.read())

    def test_without_journal_stream_logs_go_to_stderr(self):
        cfg = self.config('[drivers.plant]\ntype = "sim"\nrealtime = false\nmax_samples = 3\n')
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        proc = subprocess.run([BINARY, "run", "--config", cfg, "--exit-when-drained"], env=env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("info processnow", proc.stderr)


if __name__ == "__main__":
    unittest.main()
