"""The systemd files: the unit's sandbox rates at most 2.0 in `systemd-analyze security`, it has
the directives the deployment relies on, and the sysusers and tmpfiles entries create the user
and directories in a scratch root. Skipped, saying why, where the systemd tools are absent."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from pn_testlib import SOURCE_DIR

SYSTEMD_DIR = os.path.join(SOURCE_DIR, "systemd")
UNIT = os.path.join(SYSTEMD_DIR, "processnow.service")
MAX_EXPOSURE = 2.0


def directives(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                key, value = line.split("=", 1)
                out.setdefault(key, []).append(value)
    return out


class Unit(unittest.TestCase):
    @unittest.skipIf(shutil.which("systemd-analyze") is None,
                     "systemd-analyze not installed (Debian package `systemd`)")
    def test_security_exposure_is_at_most_2(self):
        res = subprocess.run(["systemd-analyze", "security", "--offline=true", UNIT],
                             capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for processnow\.service: (\d+\.\d+)", res.stdout)
        self.assertIsNotNone(m, res.stdout + res.stderr)
        exposure = float(m.group(1))
        print(f"systemd-analyze security: exposure {exposure}")
        self.assertLessEqual(exposure, MAX_EXPOSURE, res.stdout)

    def test_unit_has_notify_watchdog_restart_policy_and_serial_access(self):
        d = directives(UNIT)
        expect = {
            "Type": "notify", "NotifyAccess": "main", "Restart": "on-failure",
            "RestartPreventExitStatus": "78", "User": "processnow", "StateDirectory": "processnow",
            "ConfigurationDirectory": "processnow", "SupplementaryGroups": "dialout",
            "PrivateDevices": "no", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
            "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "UMask": "0077",
            "MemoryDenyWriteExecute": "yes",
        }
        for key, value in expect.items():
            self.assertEqual(d.get(key), [value], key)
        self.assertIn("kill -HUP $MAINPID", d["ExecReload"][0])
        self.assertRegex(d["WatchdogSec"][0], r"^\d+s?$")
        self.assertIn("@system-service", d["SystemCallFilter"])
        self.assertIn("char-ttyUSB rw", d["DeviceAllow"])
        self.assertEqual(d["ExecStart"], ["/usr/bin/processnow run --config "
                                          "/etc/processnow/gateway.toml"])

    @unittest.skipIf(shutil.which("systemd-sysusers") is None or
                     shutil.which("systemd-tmpfiles") is None,
                     "systemd-sysusers/systemd-tmpfiles not installed (Debian package `systemd`)")
    def test_sysusers_and_tmpfiles_create_the_user_and_directories_in_a_scratch_root(self):
        root = tempfile.mkdtemp(prefix="pn-root-")
        try:
            os.makedirs(os.path.join(root, "etc"))
            os.makedirs(os.path.join(root, "var/lib"))
            subprocess.run(["systemd-sysusers", f"--root={root}",
                            os.path.join(SYSTEMD_DIR, "processnow.sysusers")],
                           check=True, capture_output=True, timeout=60)
            with open(os.path.join(root, "etc/passwd")) as f:
                user = [l for l in f if l.startswith("processnow:")]
            self.assertEqual(len(user), 1)
            self.assertTrue(user[0].rstrip().endswith(":/var/lib/processnow:/usr/sbin/nologin"))
            with open(os.path.join(root, "etc/group")) as f:
                dialout = [l for l in f if l.startswith("dialout:")]
            self.assertIn("processnow", dialout[0])
            if os.geteuid() != 0:
                self.skipTest("tmpfiles needs root to chown; sysusers part checked")
            subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create",
                            os.path.join(SYSTEMD_DIR, "processnow.tmpfiles")],
                           check=True, capture_output=True, timeout=60)
            st = os.stat(os.path.join(root, "var/lib/processnow"))
            self.assertEqual(st.st_mode & 0o777, 0o700)
            self.assertEqual(os.stat(os.path.join(root, "etc/processnow")).st_mode & 0o777, 0o750)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
