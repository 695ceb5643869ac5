"""Every example.toml in the tree passes `processnow check`, so that the examples a user copies
from a driver's, upstream's, detector's or health model's folder cannot drift from the keys the
code declares. A gateway example is checked as it is; a rule-file example (it holds [[rule]]) is
checked through a minimal gateway config that loads it. The only errors allowed are files the
example names for a real deployment that this machine does not have: secrets and certificates
under /etc, and a health model's reference library of the user's own machines; every other
message fails the test."""
import os
import re
import subprocess
import unittest

from pn_testlib import BINARY, SOURCE_DIR, GatewayTestCase

# "FILE:LINE:COL: key.path_file: cannot read "/etc/...": No such file or directory"
DEPLOYMENT_FILE = re.compile(
    r'^[^:]+:\d+:\d+: [\w.\[\]-]+_file: cannot read "/etc/[^"]+": No such file or directory$'
    r"|^[^:]+:\d+:\d+: rule\[\d+\]\.health\.library: cannot read reference library '[^']+': "
    r"No such file or directory$")


def example_files():
    found = []
    for top in ("drivers", "gateway", "rules", "config"):
        for root, dirs, files in os.walk(os.path.join(SOURCE_DIR, top)):
            dirs[:] = sorted(d for d in dirs if d != "build")
            found += [os.path.join(root, f) for f in sorted(files) if f == "example.toml"]
    return found


class ExamplesTest(GatewayTestCase):
    def test_every_example_toml_passes_check(self):
        files = example_files()
        # The tree has examples for 4 drivers, 3 upstreams, the store, health, 7 detectors,
        # 2 health models and the rules engine: a walk that finds few has gone wrong.
        self.assertGreaterEqual(len(files), 19, files)
        for path in files:
            rel = os.path.relpath(path, SOURCE_DIR)
            with self.subTest(example=rel):
                with open(path) as f:
                    is_rules = re.search(r"^\[\[rule\]\]", f.read(), re.M) is not None
                config = path
                if is_rules:
                    config = self.config(f'rules = ["{path}"]\n', name=rel.replace("/", "_"))
                proc = subprocess.run([BINARY, "check", "--config", config],
                                      capture_output=True, text=True, timeout=60)
                errors = [l for l in proc.stderr.splitlines() if re.match(r"^\S+:\d+:\d+: ", l)]
                unexpected = [l for l in errors if not DEPLOYMENT_FILE.match(l)]
                self.assertEqual(unexpected, [], proc.stdout + proc.stderr)
                if not errors:
                    self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
                    self.assertIn(": OK (", proc.stdout)
                    if is_rules:
                        self.assertNotIn(" 0 rules)", proc.stdout)
                else:
                    self.assertEqual(proc.returncode, 78, proc.stderr)

    def test_check_warns_about_deprecated_key_names_and_rejects_both_names(self):
        old = self.config('[drivers.line]\ntype = "serial"\ndevice = "/dev/ttyUSB0"\n'
                          'reconnect_min_ms = 100\nreconnect_max_ms = 400\n', name="old.toml")
        proc = subprocess.run([BINARY, "check", "--config", old], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(": OK (1 drivers", proc.stdout)
        self.assertIn('drivers.line.reconnect_min_ms: warning: "reconnect_min_ms" is deprecated; '
                      'use "retry_initial_ms" instead', proc.stderr)
        self.assertIn('drivers.line.reconnect_max_ms: warning: "reconnect_max_ms" is deprecated; '
                      'use "retry_max_ms" instead', proc.stderr)
        both = self.config('[drivers.line]\ntype = "serial"\ndevice = "/dev/ttyUSB0"\n'
                           'retry_initial_ms = 100\nreconnect_min_ms = 100\n', name="both.toml")
        proc = subprocess.run([BINARY, "check", "--config", both], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 78, proc.stderr)
        self.assertIn("drivers.line.reconnect_min_ms: is the deprecated name of retry_initial_ms "
                      "and retry_initial_ms is set too", proc.stderr)


if __name__ == "__main__":
    unittest.main()
