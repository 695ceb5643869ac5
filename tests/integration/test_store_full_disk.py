"""A full disk, made with RLIMIT_FSIZE (set in the child before exec; the daemon ignores SIGXFSZ,
so a write past the limit fails with EFBIG like a write to a full disk): the daemon logs a clear
error naming the store, the drop policy applies (counted), the daemon keeps running, and once the
upstream works again every committed record arrives or is counted as dropped.

The upstream is down while the store fills (the file upstream's directory does not exist yet),
so nothing is acknowledged and every record must stay in the store or be dropped by the policy."""
import json
import os
import resource
import signal
import subprocess
import threading
import time
import unittest

from pn_testlib import BINARY, GatewayTestCase

LIMIT_BYTES = 8 << 20

SIM = """
[drivers.plant]
type = "sim"
seed = 5
devices = 10
interval_ms = 1000
realtime = false
max_samples = {samples}

[[drivers.plant.fault]]
device = "pump-3"
series = "temperature"
kind = "step"
at_s = 500.0
duration_s = 50.0
magnitude = 80.0
"""

RULES = """
[[rule]]
name = "temperature_high"
devices = ["pump-*"]
series = ["temperature"]
[rule.detector]
type = "threshold"
above = 90.0
[rule.alarm]
raise_after = 2
clear_after = 2
"""


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))


class FullDisk(GatewayTestCase):
    def make_config(self, policy, samples, out):
        self.write("rules.d/temp.toml", RULES)
        return self.config(
            'rules = ["rules.d/*.toml"]\nshutdown_timeout_ms = 2000\n'
            f'[store]\nfull_policy = "{policy}"\n' + SIM.format(samples=samples) +
            f'\n[upstreams.out]\ntype = "file"\npath = "{out}"\n'
            "retry_initial_ms = 50\nretry_max_ms = 200\n")

    def buffer(self, cfg, not_yet_ok=False):
        proc = subprocess.run([BINARY, "buffer", "--config", cfg, "--json"], capture_output=True,
                              text=True, timeout=30)
        if not_yet_ok and proc.returncode == 66:  # the daemon is still creating the store
            return None
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def fill_then_recover(self, policy):
        out_dir = os.path.join(self.dir, "later")  # missing: the upstream cannot write yet
        out = os.path.join(out_dir, "out.jsonl")
        # 10 pumps x 5 series x 3000 samples = 150k readings, ~40 MB in the store: 5x the limit.
        cfg = self.make_config(policy, 3000, out)
        log_path = os.path.join(self.dir, "daemon.log")
        store = os.path.join(self.data_dir, "buffer.db")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([BINARY, "run", "--config", cfg], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, preexec_fn=limit_file_size)
            # stderr through a pipe we copy: the log file itself must not be under the limit.
            copier = threading.Thread(target=lambda: log.write(proc.stderr.read()), daemon=True)
            copier.start()

            reports = []

            def dropped():
                rep = self.buffer(cfg, not_yet_ok=True)
                if rep is not None:
                    reports.append((round(time.monotonic(), 1), rep["last_seq"], rep["dropped"]))
                return rep is not None and rep["dropped"]["total"] > 0 and rep["last_seq"] + rep[
                    "dropped"]["rejected"] >= 150000

            try:
                self.wait_for(dropped, timeout=60, what="the store to hit the file size limit")
            except AssertionError as e:  # say whether the daemon was slow or stuck
                proc.kill()
                proc.wait(timeout=30)
                copier.join(timeout=10)
                log.flush()
                with open(log_path, encoding="utf-8", errors="replace") as f:
                    tail = f.read()[-3000:]
                sizes = {n: os.path.getsize(os.path.join(self.data_dir, n))
                         for n in sorted(os.listdir(self.data_dir))}
                raise AssertionError(f"{e}\nbuffer reports (time, last_seq, dropped), first and "
                                     f"last 5: {reports[:5]} ... {reports[-5:]}\n"
                                     f"files (limit {LIMIT_BYTES}): {sizes}\n"
                                     f"daemon log tail:\n{tail}") from None
            time.sleep(0.5)
            self.assertIsNone(proc.poll(), "the daemon must keep running on a full disk")
            during = self.buffer(cfg)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            copier.join(timeout=10)
            proc.stderr.close()
        with open(log_path, encoding="utf-8", errors="replace") as f:
            log_text = f.read()
        # A clear error naming the store and the policy that applies.
        self.assertRegex(log_text, rf"error store {store}: disk full.*full_policy {policy}")
        for name in ("buffer.db", "buffer.db-wal"):
            path = os.path.join(self.data_dir, name)
            if os.path.exists(path):
                self.assertLessEqual(os.path.getsize(path), LIMIT_BYTES)

        # The upstream comes back; no limit. One more sample per pump, then drain and exit.
        os.makedirs(out_dir)
        cfg = self.make_config(policy, 1, out)
        proc = self.run_gateway(cfg, "--exit-when-drained", timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        after = self.buffer(cfg)
        lines = self.read_out(out)
        seqs = [r["seq"] for r in lines]
        unique = set(seqs)
        self.assertEqual(after["records"], 0)
        self.assertTrue(all(1 <= s <= after["last_seq"] for s in unique))
        return during, after, lines, unique

    def test_drop_oldest_on_a_full_disk_drops_counted_readings_and_loses_nothing_else(self):
        during, after, lines, unique = self.fill_then_recover("drop_oldest")
        d = after["dropped"]
        self.assertGreater(d["size_readings"], 0)
        self.assertEqual(d["size_events"], 0)
        self.assertEqual(d["rejected"], 0)
        # Every committed record arrived or was counted as dropped.
        self.assertEqual(len(unique) + d["total"], after["last_seq"])
        # The alarm and its clear (events) outlive the dropped readings.
        kinds = [r["kind"] for r in lines if r["type"] == "event"]
        self.assertIn("alarm", kinds)
        self.assertIn("clear", kinds)

    def test_reject_new_on_a_full_disk_refuses_new_batches_and_keeps_every_committed_one(self):
        during, after, lines, unique = self.fill_then_recover("reject_new")
        d = after["dropped"]
        self.assertGreater(d["rejected"], 0)
        self.assertEqual(d["size_readings"] + d["size_events"], 0)
        # Nothing committed was dropped: seq 1..last_seq all arrived.
        self.assertEqual(unique, set(range(1, after["last_seq"] + 1)))


if __name__ == "__main__":
    unittest.main()
