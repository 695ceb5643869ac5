"""The health endpoint of the real binary on a free loopback port: /health JSON, /metrics
Prometheus text, /status and `processnow status`; off by default; a hung driver makes /health
answer 503 and name it. Its HTTP module (processnow-http.so) is mapped only when the endpoint is
on, and a missing module is a clear error."""
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from pn_testlib import BINARY, SOURCE_DIR, GatewayTestCase, free_port

BODY = """
[health]
enabled = true
port = {port}
stall_timeout_ms = {stall_ms}

[drivers.plant]
type = "sim"
devices = 2
interval_ms = 100
stall_after_samples = {stall_after}

[upstreams.out]
type = "file"
path = "{out}"
"""

RULES = """
[[rule]]
name = "temperature_high"
devices = ["pump-*"]
series = ["temperature"]
[rule.detector]
type = "threshold"
above = -1000.0
[rule.alarm]
raise_after = 1
clear_after = 1
severity = "warning"
"""


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def parse_metrics(text):
    """{(name, labels-string): value} from Prometheus text; checks every line's shape."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.startswith("# HELP ") or line.startswith("# TYPE "), line
            continue
        name_labels, value = line.rsplit(" ", 1)
        if "{" in name_labels:
            name, labels = name_labels.split("{", 1)
            labels = labels.rstrip("}")
        else:
            name, labels = name_labels, ""
        out[(name, labels)] = float(value)
    return out


def kernel_clock_synchronised():
    """What adjtimex(2) says, as `timedatectl` shows it: not TIME_ERROR and STA_UNSYNC clear."""
    class Timex(ctypes.Structure):
        _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                    ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                    ("status", ctypes.c_int)] + [(f"pad{i}", ctypes.c_long) for i in range(24)]
    tx = Timex()
    rc = ctypes.CDLL(None, use_errno=True).adjtimex(ctypes.byref(tx))
    return rc != 5 and not tx.status & 0x40  # TIME_ERROR, STA_UNSYNC


class HealthEndpoint(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.proc = None

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        super().tearDown()

    def start(self, stall_after=0, stall_ms=60000):
        """Starts the daemon on a free port (retrying if another process took it meanwhile)."""
        self.write("rules.d/r.toml", RULES)
        for _ in range(3):
            self.port = free_port()
            self.cfg = self.config('rules = ["rules.d/*.toml"]\n' + BODY.format(
                port=self.port, stall_ms=stall_ms, stall_after=stall_after, out=self.out))
            self.proc = self.start_gateway(self.cfg)
            end = time.monotonic() + 30
            while time.monotonic() < end and self.proc.poll() is None:
                try:
                    get(self.port, "/health")
                    return
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.1)
            err = self.proc.communicate(timeout=10)[1] if self.proc.poll() is not None else ""
            if "cannot listen" not in err:
                self.fail(f"endpoint did not come up: {err}")
        self.fail("no free port after 3 attempts")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return err

    def test_health_json_reports_drivers_and_upstreams(self):
        self.start()
        self.wait_for(lambda: json.loads(get(self.port, "/health")[2])["upstreams"][0]["sent"] > 0,
                      what="records forwarded")
        status, ctype, body = get(self.port, "/health")
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "application/json")
        h = json.loads(body)
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["gateway"], "it-gw")
        self.assertTrue(h["ready"])
        self.assertEqual(h["stalled"], [])
        (drv,) = h["drivers"]
        self.assertEqual((drv["name"], drv["type"], drv["state"]), ("plant", "sim", "running"))
        self.assertGreater(drv["readings"], 0)
        self.assertEqual(drv["errors"], 0)
        self.assertLess(abs(drv["last_success"] - time.time()), 60)
        (up,) = h["upstreams"]
        self.assertEqual((up["name"], up["state"]), ("out", "ok"))
        self.assertLess(abs(up["last_success"] - time.time()), 60)
        self.assertIn("records", h["store"])
        self.assertEqual(h["queue"]["capacity"], 65536)
        # The clock as the kernel says it is (the default sync_source), no jump seen.
        self.assertEqual(h["clock"]["source"], "kernel (adjtimex)")
        self.assertEqual(h["clock"]["synced"], kernel_clock_synchronised())
        self.assertEqual(h["clock"]["steps"], 0)
        err = self.stop()
        self.assertEqual(self.proc.returncode, 0, err)

    def test_metrics_count_readings_events_and_upstream(self):
        self.start()
        self.wait_for(lambda: parse_metrics(get(self.port, "/metrics")[2]).get(
            ("processnow_upstream_sent_total", 'upstream="out"'), 0) > 0, what="records sent")
        status, ctype, body = get(self.port, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        m = parse_metrics(body)
        self.assertGreater(m[("processnow_readings_in_total", "")], 0)
        self.assertGreater(m[("processnow_driver_readings_total", 'driver="plant"')], 0)
        self.assertGreater(m[("processnow_rule_evaluations_total", 'trigger="reading"')], 0)
        # The threshold rule fires on every temperature reading: an alarm per pump.
        self.wait_for(lambda: parse_metrics(get(self.port, "/metrics")[2])[
            ("processnow_alarms_total", "")] >= 2, what="alarms counted")
        self.assertEqual(m[("processnow_dropped_total", 'reason="queue_overflow"')], 0)
        self.assertEqual(m[("processnow_upstream_up", 'upstream="out"')], 1)
        for key in [("processnow_queue_depth", ""), ("processnow_store_records", ""),
                    ("processnow_store_bytes", ""), ("processnow_store_oldest_age_seconds", ""),
                    ("processnow_upstream_lag_records", 'upstream="out"'),
                    ("processnow_upstream_reconnects_total", 'upstream="out"'),
                    ("processnow_anomalies_total", ""), ("processnow_threads_stalled", ""),
                    ("processnow_clock_steps_total", ""),
                    ("processnow_clock_corrected_records_total", "")]:
            self.assertIn(key, m)
        self.assertGreater(m[("processnow_store_bytes", "")], 0)
        self.assertEqual(m[("processnow_threads_stalled", "")], 0)
        self.assertEqual(m[("processnow_clock_synchronized", "")],
                         1 if kernel_clock_synchronised() else 0)
        self.assertEqual(get(self.port, "/nope")[0], 404)
        self.stop()
        self.assertEqual(self.proc.returncode, 0)

    def test_every_metric_the_grafana_dashboard_uses_is_served(self):
        self.start()
        served = {name for name, _ in parse_metrics(get(self.port, "/metrics")[2])}
        with open(os.path.join(SOURCE_DIR, "config", "grafana-dashboard.json")) as f:
            dash = json.load(f)
        used = set()
        for panel in dash["panels"]:
            for target in panel["targets"]:
                used |= set(re.findall(r"processnow_[a-z_]+", target["expr"]))
        self.assertTrue(used)
        self.assertEqual(used - served, set())
        self.stop()

    def test_status_command_prints_the_state_for_a_person(self):
        self.start()
        self.wait_for(lambda: json.loads(get(self.port, "/health")[2])["upstreams"][0]["sent"] > 0,
                      what="records forwarded")
        res = subprocess.run([BINARY, "status", "--config", self.cfg], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("gateway it-gw: ok", res.stdout)
        self.assertIn("plant (sim): running", res.stdout)
        self.assertIn("out: ok", res.stdout)
        self.assertRegex(res.stdout, r"clock: (NOT )?synchronised \(kernel \(adjtimex\)\), 0 jumps")
        self.stop()
        # Nobody answers any more: 69 (EX_UNAVAILABLE) and a message.
        res = subprocess.run([BINARY, "status", "--config", self.cfg], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(res.returncode, 69, res.stdout)
        self.assertIn("not answering", res.stderr)

    def test_a_hung_driver_makes_health_503_and_names_it(self):
        self.start(stall_after=5, stall_ms=300)
        self.wait_for(lambda: get(self.port, "/health")[0] == 503, what="503")
        h = json.loads(get(self.port, "/health")[2])
        self.assertEqual(h["status"], "stalled")
        self.assertIn("driver plant", h["stalled"])
        res = subprocess.run([BINARY, "status", "--config", self.cfg], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(res.returncode, 1)
        self.assertRegex(res.stdout, r"STALLED threads: .*driver plant")
        self.stop()
        self.assertEqual(self.proc.returncode, 0)

    def test_off_by_default_and_status_says_so(self):
        cfg = self.config('[drivers.plant]\ntype = "sim"\nrealtime = false\nmax_samples = 3\n')
        run = self.run_gateway(cfg, "--exit-when-drained")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertNotIn("health endpoint", run.stderr)
        res = subprocess.run([BINARY, "status", "--config", cfg], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(res.returncode, 78)
        self.assertIn("[health] enabled = true", res.stderr)

    def mapped_files(self, pid):
        with open(f"/proc/{pid}/maps") as f:
            return {line.split()[-1] for line in f if "/" in line}

    def test_the_http_library_is_mapped_only_when_the_endpoint_is_on(self):
        # Debian's cpp-httplib initialises OpenSSL when loaded (~3.5 MiB resident): off, the
        # daemon must not load it at all.
        cfg = self.config('[drivers.plant]\ntype = "sim"\ninterval_ms = 50\n'
                          f'[upstreams.out]\ntype = "file"\npath = "{self.out}"\n')
        self.proc = self.start_gateway(cfg)
        self.wait_for(lambda: len(self.read_out()) > 0, what="records in the upstream")
        off = self.mapped_files(self.proc.pid)
        self.stop()
        self.assertFalse([m for m in off if "httplib" in m or "processnow-http" in m], off)

        self.start()
        on = self.mapped_files(self.proc.pid)
        self.assertTrue([m for m in on if m.endswith("/processnow-http.so")], on)
        self.assertTrue([m for m in on if "libcpp-httplib" in m], on)
        self.stop()

    def test_a_missing_http_module_is_a_clear_error(self):
        # A binary with no module beside it nor in ../lib/processnow (a copy in a bare folder).
        bare = os.path.join(self.dir, "bare", "bin")
        os.makedirs(bare)
        binary = shutil.copy(shutil.which(BINARY) or BINARY, bare)
        self.port = free_port()
        cfg = self.config(BODY.format(port=self.port, stall_ms=60000, stall_after=0, out=self.out))
        run = subprocess.run([binary, "run", "--config", cfg], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn("cannot load the HTTP module processnow-http.so", run.stderr)
        self.assertIn(os.path.join(bare, "processnow-http.so") + ": No such file", run.stderr)
        self.assertIn(os.path.join(self.dir, "bare", "lib", "processnow", "processnow-http.so"),
                      run.stderr)
        res = subprocess.run([binary, "status", "--config", cfg], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(res.returncode, 69, res.stderr)
        self.assertIn("cannot load the HTTP module", res.stderr)


if __name__ == "__main__":
    unittest.main()
