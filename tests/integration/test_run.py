"""End to end: the real binary runs a sim plant through rules, the SQLite store and the file
upstream, and the file receives every reading exactly once, in sequence, with the gateway id."""
import os
import signal
import subprocess
import time
import unittest

from pn_testlib import BINARY, GatewayTestCase

SIM = """
[drivers.plant]
type = "sim"
seed = 7
devices = 2
realtime = false
interval_ms = 1000
max_samples = {samples}

[[drivers.plant.fault]]
device = "pump-2"
series = "temperature"
kind = "step"
at_s = 100.0
duration_s = 50.0
magnitude = 60.0
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
raise_after = 3
clear_after = 3
severity = "critical"
"""


class RunToCompletion(GatewayTestCase):
    def test_every_reading_arrives_once_in_sequence_and_the_fault_raises_an_alarm(self):
        samples = 300
        self.write("rules.d/temp.toml", RULES)
        cfg = self.config('rules = ["rules.d/*.toml"]\n' + SIM.format(samples=samples) +
                          f'\n[upstreams.out]\ntype = "file"\npath = "{self.out}"\n')
        proc = self.run_gateway(cfg, "--exit-when-drained")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = self.read_out()
        readings = [r for r in lines if r["type"] == "reading"]
        events = [r for r in lines if r["type"] == "event"]
        # 2 pumps x 5 series x samples, nothing lost, nothing duplicated.
        self.assertEqual(len(readings), 2 * 5 * samples)
        seqs = [r["seq"] for r in lines]
        self.assertEqual(seqs, list(range(1, len(lines) + 1)))
        self.assertTrue(all(r["gateway"] == "it-gw" for r in lines))
        keys = {(r["device"], r["series"], r["ts_ns"]) for r in readings}
        self.assertEqual(len(keys), len(readings))
        # The injected step pushes pump-2's temperature over 90 degC for 50 s: one alarm, one clear.
        alarms = [e for e in events if e["kind"] == "alarm"]
        clears = [e for e in events if e["kind"] == "clear"]
        self.assertEqual([(e["device"], e["rule"]) for e in alarms], [("pump-2", "temperature_high")])
        self.assertEqual(len(clears), 1)
        self.assertEqual(alarms[0]["severity"], "critical")
        # Everything was acknowledged, so the store holds nothing.
        self.assertEqual(self.store_rows(), 0)


class GracefulStop(GatewayTestCase):
    def test_sigterm_stops_within_the_deadline_and_forwards_everything_stored(self):
        cfg = self.config('shutdown_timeout_ms = 5000\n' + """
[drivers.plant]
type = "sim"
devices = 3
interval_ms = 10
""" + f'\n[upstreams.out]\ntype = "file"\npath = "{self.out}"\n')
        proc = self.start_gateway(cfg)
        self.wait_for(lambda: len(self.read_out()) > 100, what="readings in the output file")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("stopped", err)
        lines = self.read_out()
        self.assertEqual([r["seq"] for r in lines], list(range(1, len(lines) + 1)))
        self.assertEqual(self.store_rows(), 0)


class RestartForwardsWhatWasNotAcknowledged(GatewayTestCase):
    def test_records_kept_while_the_upstream_fails_are_sent_after_a_restart(self):
        blocked = os.path.join(self.dir, "missing-dir", "out.jsonl")  # cannot be opened
        sim = SIM.format(samples=50)
        cfg1 = self.config("shutdown_timeout_ms = 500\n" + sim +
                           f'\n[upstreams.out]\ntype = "file"\npath = "{blocked}"\n'
                           'retry_initial_ms = 50\nretry_max_ms = 100\n', name="one.toml")
        proc = self.run_gateway(cfg1, "--exit-when-drained")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("not yet forwarded, kept in the store", proc.stderr)
        self.assertEqual(self.store_rows(), 2 * 5 * 50)
        # Second start: no drivers, a working upstream. Everything stored arrives, in order.
        cfg2 = self.config(f'\n[upstreams.out]\ntype = "file"\npath = "{self.out}"\n', name="two.toml")
        proc = self.start_gateway(cfg2)
        self.wait_for(lambda: len(self.read_out()) >= 500, what="the backlog")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
        lines = self.read_out()
        self.assertEqual([r["seq"] for r in lines], list(range(1, 501)))
        self.assertEqual(self.store_rows(), 0)


class CheckCommand(GatewayTestCase):
    def test_check_prints_every_error_and_exits_78(self):
        cfg = self.write("bad.toml", '[gateway]\nlog_level = "loud"\n[queue]\ncapacity = 1\n'
                         '[drivers.x]\ntype = "sim"\nseed = "one"\n')
        proc = subprocess.run([BINARY, "check", "--config", cfg], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 78)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 3, proc.stderr)
        self.assertTrue(lines[0].startswith(f"{cfg}:2:1: gateway.log_level: "))
        self.assertTrue(lines[1].startswith(f"{cfg}:4:1: queue.capacity: value 1 is out of range"))
        self.assertTrue(lines[2].startswith(f"{cfg}:7:1: drivers.x.seed: expected an integer"))

    def test_run_refuses_a_bad_config_with_78_too(self):
        cfg = self.write("bad.toml", "[gateway\n")
        proc = self.run_gateway(cfg)
        self.assertEqual(proc.returncode, 78)
        self.assertIn(f"{cfg}:1:", proc.stderr)

    def test_check_accepts_the_demo_and_reference_configs(self):
        from pn_testlib import SOURCE_DIR
        for name in ("config/demo.toml",):
            proc = subprocess.run([BINARY, "check", "--config", os.path.join(SOURCE_DIR, name)],
                                  capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("OK", proc.stdout)


if __name__ == "__main__":
    unittest.main()
