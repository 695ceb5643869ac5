"""`processnow buffer --config FILE [--json]` against the real daemon's store, while it runs:
depth and oldest pending age per upstream, records held, size on disk, last seq, drops."""
import json
import os
import signal
import subprocess
import time
import unittest

from pn_testlib import BINARY, GatewayTestCase


class BufferCommand(GatewayTestCase):
    def buffer(self, cfg, *extra):
        return subprocess.run([BINARY, "buffer", "--config", cfg, *extra], capture_output=True,
                              text=True, timeout=30)

    def test_reports_depth_and_age_per_upstream_while_the_daemon_runs(self):
        down = os.path.join(self.dir, "missing", "out.jsonl")  # this upstream cannot write
        cfg = self.config(f"""shutdown_timeout_ms = 1000
[store]
max_bytes = 0
[drivers.plant]
type = "sim"
devices = 2
interval_ms = 20
realtime = true

[upstreams.ok]
type = "file"
path = "{self.out}"

[upstreams.down]
type = "file"
path = "{down}"
""")
        proc = self.start_gateway(cfg)
        try:
            time.sleep(2.0)
            self.assertIsNone(proc.poll())
            got = self.buffer(cfg, "--json")
            self.assertEqual(got.returncode, 0, got.stderr)
            rep = json.loads(got.stdout)
            ups = {u["name"]: u for u in rep["upstreams"]}
            self.assertEqual(set(ups), {"ok", "down"})
            # "down" has acknowledged nothing: everything held waits for it, the oldest ~2 s old.
            self.assertEqual(ups["down"]["cursor"], 0)
            self.assertEqual(ups["down"]["depth"], rep["records"])
            self.assertGreater(ups["down"]["depth"], 100)
            self.assertGreater(ups["down"]["oldest_pending_age_s"], 0.5)
            self.assertLess(ups["down"]["oldest_pending_age_s"], 60)
            # "ok" keeps up: little or nothing pending.
            self.assertLess(ups["ok"]["depth"], ups["down"]["depth"])
            self.assertGreater(ups["ok"]["cursor"], 0)
            self.assertGreaterEqual(rep["last_seq"], rep["records"])
            self.assertGreater(rep["bytes_on_disk"], 0)
            self.assertEqual(rep["max_bytes"], 0)
            self.assertEqual(rep["dropped"], {"age": 0, "size_readings": 0, "size_events": 0,
                                              "rejected": 0, "total": 0})
            text = self.buffer(cfg)
            self.assertEqual(text.returncode, 0, text.stderr)
            self.assertIn("records held", text.stdout)
            self.assertIn("size on disk", text.stdout)
            self.assertIn("dropped        0 age, 0 size_readings, 0 size_events, 0 rejected",
                          text.stdout)
            self.assertRegex(text.stdout, r"\n  down +0 +\d+  \d+\.\d s\n")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)

    def test_no_store_yet_exits_66_and_creates_nothing(self):
        cfg = self.config(f'\n[upstreams.out]\ntype = "file"\npath = "{self.out}"\n')
        got = self.buffer(cfg)
        self.assertEqual(got.returncode, 66, got.stderr)
        self.assertIn("buffer.db: no such file", got.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "buffer.db")))

    def test_a_foreign_file_exits_65_and_is_left_untouched(self):
        os.makedirs(self.data_dir, exist_ok=True)
        path = os.path.join(self.data_dir, "buffer.db")
        with open(path, "wb") as f:
            f.write(b"garbage " * 1000)
        cfg = self.config(f'\n[upstreams.out]\ntype = "file"\npath = "{self.out}"\n')
        got = self.buffer(cfg)
        self.assertEqual(got.returncode, 65, got.stderr)
        self.assertIn("file is not a database", got.stderr)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"garbage " * 1000)


class StoreKeys(GatewayTestCase):
    def check(self, body):
        cfg = self.config(body)
        return subprocess.run([BINARY, "check", "--config", cfg], capture_output=True, text=True,
                              timeout=30)

    def test_check_rejects_a_max_bytes_between_0_and_256_kib_and_an_unknown_policy(self):
        got = self.check("[store]\nmax_bytes = 1000\n")
        self.assertEqual(got.returncode, 78, got.stderr)
        self.assertRegex(got.stderr, r"gateway\.toml:\d+:\d+: store\.max_bytes: must be 0 "
                                     r"\(unbounded\) or at least 262144")
        got = self.check('[store]\nfull_policy = "drop_newest"\non_corrupt = "wipe"\n')
        self.assertEqual(got.returncode, 78, got.stderr)
        self.assertRegex(got.stderr, r"gateway\.toml:\d+:\d+: store\.full_policy: ")
        self.assertRegex(got.stderr, r"gateway\.toml:\d+:\d+: store\.on_corrupt: ")
        self.assertEqual(self.check("[store]\nmax_bytes = 0\nmax_age_s = 86400\n").returncode, 0)

if __name__ == "__main__":
    unittest.main()
