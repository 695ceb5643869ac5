"""`processnow replay --report` as a person sees it: the HTML report opened in headless Chromium
(Debian's chromium and chromium-driver, driven by python3-selenium). Every anomaly event that the
replay printed is a mark in the plot, every alarm is a shaded interval from its raise to its
clear, the labelled windows are shaded, and the per-rule summary shows what was flagged. A
screenshot is saved under the build folder (replay-report.png) for a person to look at."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from pn_testlib import BINARY

BUILD_DIR = os.environ.get("PN_BUILD_DIR", tempfile.gettempdir())

RULES = """
[[rule]]
name = "overheat"
devices = ["*"]
series = ["temperature"]
[rule.detector]
type = "threshold"
above = 80.0
[rule.alarm]
raise_after = 3
clear_after = 5
severity = "critical"

[[rule]]
name = "flow_default"
devices = ["*"]
series = ["flow"]
[rule.detector]
"""


def make_csv(path):
    """Two hours of one pump at 10 s: temperature with two hot spells (each a raised and cleared
    alarm), flow with a daily-free pattern and one drop. Deterministic."""
    rows = ["timestamp,temperature,flow"]
    for i in range(720):
        h, m, s = 10 + i * 10 // 3600, (i * 10 // 60) % 60, i * 10 % 60
        temp = 60.0 + (i % 7) * 0.5
        if 200 <= i < 215 or 500 <= i < 520:
            temp = 95.0
        flow = 12.0 + ((i * 37) % 11) * 0.1
        if 600 <= i < 610:
            flow = 2.0
        rows.append(f"2024-05-01 {h:02d}:{m:02d}:{s:02d},{temp},{flow}")
    with open(path, "w") as f:
        f.write("\n".join(rows) + "\n")


def chromium_driver(shot_size=(1200, 1600)):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--window-size={shot_size[0]},{shot_size[1]}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class ReplayReportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pn-report-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_report_shows_every_event_alarm_and_label_in_a_browser(self):
        rules = os.path.join(self.dir, "rules.toml")
        with open(rules, "w") as f:
            f.write(RULES)
        csv = os.path.join(self.dir, "pump-7.csv")
        make_csv(csv)
        labels = os.path.join(self.dir, "windows.json")
        with open(labels, "w") as f:
            json.dump({"data/pump-7.csv": [["2024-05-01 10:33:00", "2024-05-01 10:36:00"]],
                       "pump-7.csv": [["2024-05-01 10:30:00", "2024-05-01 10:38:00"],
                                      ["2024-05-01 11:20:00", "2024-05-01 11:30:00"]]}, f)
        report = os.path.join(self.dir, "report.html")
        proc = subprocess.run([BINARY, "replay", "--rules", rules, "--csv", csv, "--labels",
                               labels, "--report", report], capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        events = [json.loads(line) for line in proc.stdout.splitlines()]
        anomalies = [e for e in events if e["kind"] == "anomaly"]
        alarms = [e for e in events if e["kind"] == "alarm"]
        clears = [e for e in events if e["kind"] == "clear"]
        # The data makes two hot spells: 35 hot readings, two alarms, two clears.
        self.assertEqual(len([e for e in anomalies if e["rule"] == "overheat"]), 35)
        self.assertEqual(len(alarms), 2)
        self.assertEqual(len(clears), 2)
        self.assertIn("replay: rule overheat: 720 samples", proc.stderr)

        driver = chromium_driver()
        try:
            driver.get("file://" + report)
            self.assertEqual(driver.execute_script("return document.readyState"), "complete")
            self.assertEqual(driver.title, "Replay of pump-7.csv")
            # Every anomaly event is a mark of its own, at its time.
            marks = driver.execute_script(
                "return [...document.querySelectorAll('circle.event')].map("
                "c => [c.dataset.rule, Number(c.dataset.ts)])")
            self.assertEqual(sorted((r, t // 1_000_000) for r, t in marks),
                             sorted((e["rule"], e["ts"]) for e in anomalies))
            # Every alarm is shaded from its raise to its clear.
            shaded = driver.execute_script(
                "return [...document.querySelectorAll('rect.alarm')].map("
                "r => [r.dataset.rule, Number(r.dataset.raise), Number(r.dataset.clear)])")
            self.assertEqual(sorted((r, a // 1_000_000, c // 1_000_000) for r, a, c in shaded),
                             sorted(("overheat", a["ts"], c["ts"]) for a, c in zip(alarms, clears)))
            for rect in driver.find_elements("css selector", "rect.alarm"):
                self.assertGreater(float(rect.get_attribute("width")), 1.0)
                self.assertTrue(rect.is_displayed())
            # The labels entry is the longest key that ends the CSV's path (2 windows), shaded
            # on each of the two panels.
            self.assertEqual(len(driver.find_elements("css selector", "rect.label")), 4)
            # The summary names each rule with what it flagged.
            row = driver.find_element("css selector", 'tr[data-rule="overheat"]').text
            self.assertIn("720", row)
            self.assertIn("35 (4.86%)", row)
            panels = [e.text for e in driver.find_elements("css selector", "h2")]
            self.assertIn("pump-7 / temperature", panels)
            self.assertIn("pump-7 / flow", panels)
            shot = os.path.join(BUILD_DIR, "replay-report.png")
            self.assertTrue(driver.save_screenshot(shot))
            self.assertGreater(os.path.getsize(shot), 10_000)
        finally:
            driver.quit()


if __name__ == "__main__":
    unittest.main()
