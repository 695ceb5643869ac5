"""SIGHUP reloads the rule files while the daemon runs: new rules take effect, a broken rule file
is refused (the old rules stay), and no reading is lost or duplicated across reloads."""
import signal
import time
import unittest

from pn_testlib import GatewayTestCase

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


class ReloadOnSighup(GatewayTestCase):
    def test_sighup_swaps_rules_refuses_broken_ones_and_loses_nothing(self):
        self.write("rules.d/r.toml", QUIET)
        cfg = self.config('rules = ["rules.d/*.toml"]\n' + """
[drivers.plant]
type = "sim"
devices = 2
interval_ms = 20
""" + f'\n[upstreams.out]\ntype = "file"\npath = "{self.out}"\n')
        proc = self.start_gateway(cfg)
        try:
            self.wait_for(lambda: len(self.read_out()) > 50, what="first readings")
            self.assertFalse([r for r in self.read_out() if r["type"] == "event"])

            # A broken file: the reload is refused and the old rules keep running.
            self.write("rules.d/r.toml", "[[rule]]\nname = 3\n")
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            self.assertFalse([r for r in self.read_out() if r["type"] == "event"])

            # A good file with a second rule: its anomalies appear for pump-1 only.
            self.write("rules.d/r.toml", LOUD)
            proc.send_signal(signal.SIGHUP)
            self.wait_for(lambda: any(r["type"] == "event" for r in self.read_out()),
                          what="events from the reloaded rule")
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("reload: rule files have errors, keeping the current rules", err)
        self.assertIn("rules reloaded: 2 rules", err)
        lines = self.read_out()
        events = [r for r in lines if r["type"] == "event"]
        self.assertTrue(all(e["rule"] == "always" and e["device"] == "pump-1" for e in events))
        self.assertEqual([r["seq"] for r in lines], list(range(1, len(lines) + 1)))
        # Per series, readings arrive in time order with no repeats.
        last = {}
        for r in (x for x in lines if x["type"] == "reading"):
            key = (r["device"], r["series"])
            self.assertGreater(r["ts_ns"], last.get(key, -1))
            last[key] = r["ts_ns"]


if __name__ == "__main__":
    unittest.main()
