"""SIGHUP reloads the whole configuration while the daemon runs: rules, drivers and upstreams
(per instance: unchanged ones keep running, changed ones restart, added ones start, removed ones
stop), the log level and the other live settings; a config with errors or a change to a setting
that cannot change while running (data_dir, the store file, ...) is refused as a whole and the
running configuration stays. No reading is lost or duplicated across reloads: the store, its
sequence numbers and every upstream's cursor stay."""
import json
import os
import signal
import subprocess
import unittest
import urllib.error
import urllib.request

from pn_testlib import BINARY, GatewayTestCase, free_port

QUIET = """
[[rule]]
name = "never"
series = ["temperature"]
[rule.detector]
type = "threshold"
above = 1e9
"""

LOUD = QUIET + """
[[rule]]
name = "always"
devices = ["pump-1"]
series = ["temperature"]
[rule.detector]
type = "threshold"
below = 1e9
"""


def sim(name, interval_ms=20, prefix=None, extra=""):
    """A sim driver with one device named PREFIX-1 reporting temperature only."""
    return (f'\n[drivers.{name}]\ntype = "sim"\ndevices = 1\ndevice_prefix = "{prefix or name}"\n'
            f'series = ["temperature"]\ninterval_ms = {interval_ms}\n{extra}')


def file_upstream(name, path, extra=""):
    return f'\n[upstreams.{name}]\ntype = "file"\npath = "{path}"\n{extra}'


class ReloadTestCase(GatewayTestCase):
    """Runs the gateway with its log in a file, so a test can wait for a log line."""

    def start(self, cfg):
        self.log_path = os.path.join(self.dir, "gateway.log")
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen([BINARY, "run", "--config", cfg], stdout=subprocess.DEVNULL,
                                     stderr=self.log_file, text=True)
        self.addCleanup(self.cleanup)
        return self.proc

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.log_file.close()

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def log_count(self, text):
        return self.log().count(text)

    def reload(self, what="reload: "):
        """Sends SIGHUP and waits until the reload was handled (a `reload: done` or a refusal
        line appeared after the ones before)."""
        done = self.log_count("reload: done") + self.log_count("the running configuration stays")
        self.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: self.log_count("reload: done") +
                      self.log_count("the running configuration stays") > done,
                      what=f"the reload to be handled ({what})")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=30), 0, self.log())
        return self.log()

    def records(self, path=None, device=None):
        lines = self.read_out(path)
        if device is not None:
            lines = [r for r in lines if r.get("device") == device]
        return lines

    def assert_every_seq_once(self, lines):
        seqs = [r["seq"] for r in lines]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "a seq is missing or repeated")

    def assert_regular(self, lines, interval_ms):
        """The readings of one sim series: consecutive ticks, none missing, none repeated."""
        ts = [r["ts_ns"] for r in lines if r["type"] == "reading"]
        self.assertGreater(len(ts), 2)
        steps = {b - a for a, b in zip(ts, ts[1:])}
        self.assertEqual(steps, {interval_ms * 1_000_000}, "a tick is missing or repeated")


class ReloadOnSighup(ReloadTestCase):
    def test_sighup_swaps_rules_refuses_broken_ones_and_loses_nothing(self):
        self.write("rules.d/r.toml", QUIET)
        cfg = self.config('rules = ["rules.d/*.toml"]\n' + """
[drivers.plant]
type = "sim"
devices = 2
interval_ms = 20
""" + file_upstream("out", self.out))
        self.start(cfg)
        self.wait_for(lambda: len(self.read_out()) > 50, what="first readings")
        self.assertFalse([r for r in self.read_out() if r["type"] == "event"])

        # A broken file: the reload is refused and the old rules keep running.
        self.write("rules.d/r.toml", "[[rule]]\nname = 3\n")
        self.reload("broken rules")
        self.assertFalse([r for r in self.read_out() if r["type"] == "event"])

        # A good file with a second rule: its anomalies appear for pump-1 only.
        self.write("rules.d/r.toml", LOUD)
        self.reload("good rules")
        self.wait_for(lambda: any(r["type"] == "event" for r in self.read_out()),
                      what="events from the reloaded rule")
        err = self.stop()
        self.assertIn("reload: rule files have errors; the running configuration stays:", err)
        self.assertIn("r.toml:2:", err)
        self.assertIn("rules reloaded: 2 rules", err)
        self.assertNotIn("reload: driver", err)  # drivers untouched by a rules-only change
        lines = self.read_out()
        events = [r for r in lines if r["type"] == "event"]
        self.assertTrue(all(e["rule"] == "always" and e["device"] == "pump-1" for e in events))
        self.assert_every_seq_once(lines)
        # Per series, readings arrive in time order with no repeats.
        last = {}
        for r in (x for x in lines if x["type"] == "reading"):
            key = (r["device"], r["series"])
            self.assertGreater(r["ts_ns"], last.get(key, -1))
            last[key] = r["ts_ns"]

    def test_a_changed_driver_restarts_alone_and_nothing_is_lost(self):
        before = sim("a") + sim("b") + file_upstream("out", self.out)
        cfg = self.config(before)
        self.start(cfg)
        self.wait_for(lambda: len(self.records(device="b-1")) > 10, what="readings from b")

        self.config(sim("a") + sim("b", interval_ms=30) + file_upstream("out", self.out))
        self.reload()
        self.assertIn("reload: driver 'b' changed (interval_ms 20 -> 30); restarting", self.log())
        # b runs again with its new interval: two of its readings 30 ms apart.
        self.wait_for(lambda: any(y["ts_ns"] - x["ts_ns"] == 30_000_000 for x, y in zip(
            self.records(device="b-1"), self.records(device="b-1")[1:])),
            what="b's readings at its new interval")
        n_a = len(self.records(device="a-1"))
        self.wait_for(lambda: len(self.records(device="a-1")) > n_a + 10, what="more from a")
        err = self.stop()
        self.assertNotIn("reload: driver 'a'", err)
        self.assertNotIn("reload: upstream 'out'", err)
        lines = self.read_out()
        self.assert_every_seq_once(lines)
        # a kept running untouched: one arithmetic sequence of ticks across the reload.
        self.assert_regular(self.records(device="a-1"), 20)
        self.assertEqual(err.count("driver a: sim with"), 1)
        self.assertEqual(err.count("driver b: sim with"), 2)

    def test_added_and_removed_drivers_start_and_stop_and_the_status_follows(self):
        port = free_port()
        health = f"\n[health]\nenabled = true\nport = {port}\n"
        cfg = self.config(health + sim("a") + sim("b") + file_upstream("out", self.out))
        self.start(cfg)
        self.wait_for(lambda: len(self.records(device="b-1")) > 5, what="readings from b")

        self.config(health + sim("a") + sim("c") + file_upstream("out", self.out))
        self.reload()
        log = self.log()
        self.assertIn("reload: driver 'c' added; starting", log)
        self.assertIn("reload: driver 'b' removed; stopping", log)
        self.wait_for(lambda: len(self.records(device="c-1")) > 5, what="readings from c")
        status = self.health(port)
        self.assertEqual([d["name"] for d in status["drivers"]], ["a", "c"])
        self.assertEqual([u["name"] for u in status["upstreams"]], ["out"])
        err = self.stop()
        lines = self.read_out()
        self.assert_every_seq_once(lines)
        # b stopped before c started: every b reading comes before the first c reading.
        last_b = max(r["seq"] for r in lines if r.get("device") == "b-1")
        first_c = min(r["seq"] for r in lines if r.get("device") == "c-1")
        self.assertLess(last_b, first_c)
        self.assert_regular(self.records(device="a-1"), 20)
        self.assertEqual(err.count("driver a: sim with"), 1)

    def health(self, port):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
                return json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            return json.loads(e.read().decode())

    def test_a_changed_upstream_resumes_from_its_cursor(self):
        out2 = os.path.join(self.dir, "out2.jsonl")
        keep = os.path.join(self.dir, "keep.jsonl")
        # "down" cannot open its file: it acknowledges nothing, so the store holds every record
        # and a restarted upstream that lost its cursor would get them all again.
        down = file_upstream("down", os.path.join(self.dir, "missing", "down.jsonl"))
        cfg = self.config(sim("a") + file_upstream("moved", self.out) +
                          file_upstream("keep", keep) + down)
        self.start(cfg)
        self.wait_for(lambda: len(self.read_out()) > 20, what="records at the first path")

        self.config(sim("a") + file_upstream("moved", out2, "batch_records = 7\n") +
                    file_upstream("keep", keep) + down)
        self.reload()
        self.assertIn(f"reload: upstream 'moved' changed (batch_records 1000 -> 7, path "
                      f"\"{self.out}\" -> \"{out2}\"); restarting from its cursor", self.log())
        self.wait_for(lambda: len(self.read_out(out2)) > 20, what="records at the new path")
        err = self.stop()
        self.assertNotIn("reload: upstream 'keep'", err)
        self.assertNotIn("reload: upstream 'down'", err)
        self.assertNotIn("reload: driver 'a'", err)
        first, second = self.read_out(), self.read_out(out2)
        self.assert_every_seq_once(first)
        # The new path starts right after the last record the old one acknowledged. (Delivery
        # is at-least-once: a send in flight whose acknowledgement the store refused would go
        # out again. The file upstream acknowledges every write and the store refuses nothing
        # here, so the resume is exact.)
        self.assertEqual(second[0]["seq"], first[-1]["seq"] + 1)
        self.assert_every_seq_once(first + second)
        # The unchanged upstream saw everything exactly once, and the store the same seqs.
        self.assert_every_seq_once(self.read_out(keep))
        self.assertEqual(self.read_out(keep)[-1]["seq"], second[-1]["seq"])

    def test_a_broken_config_keeps_everything_and_says_why(self):
        body = sim("a") + file_upstream("out", self.out)
        cfg = self.config(body)
        self.start(cfg)
        self.wait_for(lambda: len(self.read_out()) > 5, what="first readings")

        self.write("gateway.toml", "[drivers.a\ntype = \"sim\"\n")  # a syntax error
        self.reload("syntax error")
        log = self.log()
        self.assertIn("reload: the configuration has errors; the running configuration stays:",
                      log)
        self.assertIn("gateway.toml:1:", log)
        # Also a driver setting out of range: named with its key path.
        self.config(sim("a", interval_ms=-5) + file_upstream("out", self.out))
        self.reload("bad value")
        self.assertIn("drivers.a.interval_ms", self.log())
        n = len(self.read_out())
        self.wait_for(lambda: len(self.read_out()) > n + 10, what="readings after the reloads")
        err = self.stop()
        self.assertNotIn("reload: done", err)
        self.assertNotIn("reload: driver", err)
        self.assert_every_seq_once(self.read_out())
        self.assert_regular(self.records(device="a-1"), 20)

    def test_a_data_dir_change_is_refused_naming_the_key_and_both_values(self):
        cfg = self.config(sim("a") + file_upstream("out", self.out))
        self.start(cfg)
        self.wait_for(lambda: len(self.read_out()) > 5, what="first readings")
        other = os.path.join(self.dir, "elsewhere")
        self.write("gateway.toml",
                   f'[gateway]\nid = "it-gw"\ndata_dir = "{other}"\nlog_level = "info"\n' +
                   sim("a", interval_ms=40) + file_upstream("out", self.out))
        self.reload("data_dir")
        log = self.log()
        self.assertIn(f"reload: gateway.data_dir: cannot change while running "
                      f"(\"{self.data_dir}\" -> \"{other}\"); restart the service to apply it; "
                      f"the running configuration stays", log)
        n = len(self.read_out())
        self.wait_for(lambda: len(self.read_out()) > n + 10, what="readings after the refusal")
        err = self.stop()
        self.assertNotIn("reload: driver", err)  # a's change was not applied either
        self.assert_regular(self.records(device="a-1"), 20)
        self.assert_every_seq_once(self.read_out())

    def test_the_log_level_applies_at_once(self):
        def with_level(level, body):
            return (f'[gateway]\nid = "it-gw"\ndata_dir = "{self.data_dir}"\n'
                    f'log_level = "{level}"\n' + body)

        self.write("gateway.toml", with_level("info", sim("a") + sim("b") +
                                              file_upstream("out", self.out)))
        self.start(os.path.join(self.dir, "gateway.toml"))
        self.wait_for(lambda: len(self.records(device="b-1")) > 5, what="readings from b")
        self.assertNotIn(" debug ", self.log())
        # debug, and b removed: its thread's debug line "driver b finished" shows.
        self.write("gateway.toml", with_level("debug", sim("a") + file_upstream("out", self.out)))
        self.reload("debug")
        self.assertIn("reload: gateway.log_level \"info\" -> \"debug\"", self.log())
        self.wait_for(lambda: "driver b finished" in self.log(), what="the debug line")
        # warn, and c added: from then on no info line (c's readings show the reload applied).
        self.write("gateway.toml", with_level("warn", sim("a") + sim("c") +
                                              file_upstream("out", self.out)))
        self.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: len(self.records(device="c-1")) > 5, what="readings from c")
        err = self.stop()
        after = err[err.rindex("reload: SIGHUP"):].splitlines()[1:]
        self.assertFalse([x for x in after if " info " in x or " debug " in x], after)


if __name__ == "__main__":
    unittest.main()
