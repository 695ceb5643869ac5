"""The status page of the health endpoint as a technician sees it: the real daemon (a realtime sim
with a step fault that raises a critical alarm within seconds, an MQTT upstream where no broker
listens) serves the page at / and the document at /status.json; headless Chromium (Debian's
chromium and chromium-driver, driven by python3-selenium) shows the alarm, live values, the
disconnected upstream, the degraded badge and a sparkline per device. With [health] token_file
both need `Authorization: Bearer TOKEN`. A screenshot is saved under the build folder
(status-page.png) for a person to look at."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from pn_testlib import BINARY, GatewayTestCase, free_port
from test_replay_report import chromium_driver

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from mqtt_broker import Broker, have_mosquitto  # noqa: E402

BUILD_DIR = os.environ.get("PN_BUILD_DIR", tempfile.gettempdir())
WAIT_S = 60

RULES = """
[[rule]]
name = "pump_overheat"
devices = ["pump-*"]
series = ["temperature"]
[rule.detector]
type = "threshold"
above = 85.0
[rule.alarm]
raise_after = 3
clear_after = 5
severity = "critical"
"""

BODY = """
[health]
enabled = true
listen = "127.0.0.1"
port = {port}
{token}

[drivers.plant]
type = "sim"
seed = 42
devices = 3
interval_ms = 200
realtime = true

## pump-2 overheats 3 s in, for ten minutes. The sim follows the wall clock's time of day: a pump
## runs between about 22 degC (02:00 UTC, low load) and 55 degC (14:00), so the step of 80 puts it
## above the rule's 85 at any hour (45 did not at night: the alarm never came).
[[drivers.plant.fault]]
device = "pump-2"
series = "temperature"
kind = "step"
at_s = 3.0
duration_s = 600.0
magnitude = 80.0

## Nothing listens there: the upstream stays disconnected.
[upstreams.cloud]
type = "mqtt"
servers = ["tcp://127.0.0.1:{mqtt_port}"]
connect_timeout_ms = 1000
retry_initial_ms = 200
retry_max_ms = 1000
"""


# A machine's state as text and a counter as an integer, from MQTT line protocol.
TEXT_BODY = """
[health]
enabled = true
listen = "127.0.0.1"
port = {port}
{token}

[drivers.lab]
type = "mqtt"
broker = "{broker}"
topics = ["lab/{{device}}"]
payload = "line_protocol"
"""


def get(port, path, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


class StatusPage(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.proc = None
        self.driver = None

    def tearDown(self):
        if self.driver is not None:
            self.driver.quit()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate(timeout=10)
        super().tearDown()

    def start(self, token_file=None, body=BODY):
        """Starts the daemon on a free loopback port (retrying if another process took it)."""
        self.write("rules.d/demo.toml", RULES)
        token = f'token_file = "{token_file}"' if token_file else ""
        for _ in range(3):
            self.port = free_port()
            # The broker never comes: a short shutdown deadline keeps the teardown quick.
            cfg = self.config('rules = ["rules.d/*.toml"]\nshutdown_timeout_ms = 1000\n' +
                              body.format(port=self.port, token=token, mqtt_port=free_port()))
            self.cfg_path = cfg
            self.proc = self.start_gateway(cfg)
            end = time.monotonic() + 30
            while time.monotonic() < end and self.proc.poll() is None:
                try:
                    get(self.port, "/status.json")  # any HTTP answer (401 too): it is up
                    return
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.1)
            err = self.proc.communicate(timeout=10)[1] if self.proc.poll() is not None else ""
            if "cannot listen" not in err:
                self.fail(f"endpoint did not come up: {err}")
        self.fail("no free port after 3 attempts")

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def text(self, selector):
        """textContent of the first match (the page re-renders every 2 s: never hold elements)."""
        return self.js("const e = document.querySelector(arguments[0]); "
                       "return e ? e.textContent.trim() : null", selector)

    def until(self, predicate, what):
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, WAIT_S, poll_frequency=0.2).until(
            lambda _: predicate(), message=f"waiting {WAIT_S} s for {what}")

    def test_page_shows_the_alarm_live_values_upstream_and_sparklines(self):
        self.start()
        self.driver = chromium_driver()
        self.driver.get(f"http://127.0.0.1:{self.port}/")
        self.until(lambda: self.driver.title == "processnow — it-gw", "the title")

        # The step fault makes pump-2's temperature hot: a critical alarm of the demo rule.
        alarm = '.alarm[data-device="pump-2"][data-series="temperature"]'
        self.until(lambda: self.text(alarm) is not None, "the pump-2 temperature alarm")
        self.assertEqual(self.js("return document.querySelector(arguments[0]).dataset.severity",
                                 alarm), "critical")
        self.assertEqual(self.js("return document.querySelector(arguments[0]).dataset.rule",
                                 alarm), "pump_overheat")

        # The latest value of a series changes between two refreshes.
        value = '[data-device="pump-1"][data-series="temperature"] .value'
        first = self.until(lambda: self.text(value) not in (None, "", "—") and self.text(value),
                           "a pump-1 temperature value")
        self.until(lambda: self.text(value) not in (None, "", "—", first),
                   f"the pump-1 temperature to change from {first}")

        # No broker: the upstream is disconnected and the gateway degraded.
        self.until(lambda: self.text('[data-upstream="cloud"] .conn') == "disconnected",
                   "the upstream shown disconnected")
        self.until(lambda: self.text("#status") == "degraded", "the degraded badge")

        # One card per device, each with a sparkline drawn from spark.values.
        cards = ("return [...document.querySelectorAll('#devices .dev')].map(c => {"
                 " const p = c.querySelector('tr[data-series] svg.spark path');"
                 " return [c.dataset.device, p ? p.getAttribute('d') : null]; })")
        self.until(lambda: len(self.js(cards)) == 3 and all(d for _, d in self.js(cards)),
                   "a sparkline with a path in every device card")
        self.assertEqual(sorted(name for name, _ in self.js(cards)), ["pump-1", "pump-2", "pump-3"])
        # Once two spark buckets have data (step_s is 10 s) each sparkline is a line, not a dot.
        self.until(lambda: all(d and "L" in d for _, d in self.js(cards)), "sparkline lines")
        self.until(lambda: self.text("#banner") == "", "no 'not answering' banner")

        # No script error on the page.
        errors = [e for e in self.driver.get_log("browser") if e.get("source") == "javascript"]
        self.assertEqual(errors, [])

        shot = os.path.join(BUILD_DIR, "status-page.png")
        self.assertTrue(self.driver.save_screenshot(shot))
        self.assertGreater(os.path.getsize(shot), 10_000)

    @unittest.skipUnless(have_mosquitto(), "mosquitto is needed")
    def test_a_text_series_shows_its_text_and_an_integer_its_digits(self):
        """A machine publishes line protocol with a string and an integer field; the page shows
        the text as the series' value (not a dash for "not a number") and the integer."""
        broker = Broker(os.path.join(self.dir, "broker")).start()
        self.addCleanup(broker.stop)
        self.start(body=TEXT_BODY.replace("{broker}", broker.uri))
        self.driver = chromium_driver()
        self.driver.get(f"http://127.0.0.1:{self.port}/")
        state = '[data-device="press-1"][data-series="state"] .value'
        count = '[data-device="press-1"][data-series="count"] .value'
        pub = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
               "-t", "lab/press-1", "-m", 'press state="RUNNING A",count=42i']
        # The driver subscribes after the daemon starts: publish until the row is there.
        deadline = time.monotonic() + WAIT_S
        while self.text(state) != "RUNNING A":
            self.assertLess(time.monotonic(), deadline, "the press-1 state row")
            subprocess.run(pub, check=True, timeout=20)
            end = time.monotonic() + 2.5  # the page refreshes every 2 s
            while time.monotonic() < end and self.text(state) != "RUNNING A":
                time.sleep(0.1)
        self.assertEqual(self.text(count), "42")
        errors = [e for e in self.driver.get_log("browser") if e.get("source") == "javascript"]
        self.assertEqual(errors, [])
        shot = os.path.join(BUILD_DIR, "status-page-text.png")
        self.assertTrue(self.driver.save_screenshot(shot))

    def test_a_token_guards_the_page_and_the_document(self):
        token = "t0ken-" + os.urandom(12).hex()
        self.start(token_file=self.write("health.token", token + "\n"))
        for path in ("/", "/status.json"):
            self.assertEqual(get(self.port, path)[0], 401, path)
            self.assertEqual(get(self.port, path, {"Authorization": "Bearer wrong"})[0], 401, path)
            status, ctype, body = get(self.port, path, {"Authorization": f"Bearer {token}"})
            self.assertEqual(status, 200, path)
            if path == "/":
                self.assertTrue(ctype.startswith("text/html"), ctype)
                # gateway/health/status_page.html: self-contained, it loads nothing but the
                # document, by a relative URL (so it works behind a proxy under a sub-path).
                self.assertTrue(body.startswith("<!doctype html>"), body[:100])
                self.assertIn('fetch("status.json"', body)
                self.assertEqual(re.findall(r"https?://[^\s\"']*", body), [])
            else:
                self.assertEqual(ctype, "application/json")
                doc = json.loads(body)
                self.assertEqual(doc["gateway"], "it-gw")
                self.assertIn(doc["status"], ("ok", "degraded", "stalled"))
        # `processnow status` reads the same token file and sends it.
        proc = subprocess.run([BINARY, "status", "--config", self.cfg_path], capture_output=True,
                              text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("gateway it-gw", proc.stdout)
        self.assertNotIn(token, proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
