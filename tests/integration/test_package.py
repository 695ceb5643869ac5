"""The Debian package: `cpack -G DEB` builds it from the build directory; it holds the binary,
the HTTP module, the unit, sysusers and tmpfiles entries and /etc/processnow as conffiles;
installed with `dpkg -i` on this machine, `processnow check` accepts the installed config and the
demo, the system user exists, the installed binary finds its HTTP module and serves /health;
`dpkg -P` removes it all. The install part needs root and no processnow
package already installed; it is skipped, saying why, otherwise."""
import glob
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from pn_testlib import SOURCE_DIR, free_port

BUILD_DIR = os.environ.get("PN_BUILD_DIR", "")


def run(*cmd, timeout=120):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)


@unittest.skipIf(not BUILD_DIR or not os.path.exists(os.path.join(BUILD_DIR, "CPackConfig.cmake")),
                 "PN_BUILD_DIR with CPackConfig.cmake not set (run through ctest)")
@unittest.skipIf(shutil.which("cpack") is None or shutil.which("dpkg-deb") is None,
                 "cpack or dpkg-deb not installed")
class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = os.path.join(BUILD_DIR, "package-test")
        shutil.rmtree(cls.out, ignore_errors=True)
        os.makedirs(cls.out)
        res = run("cpack", "-G", "DEB", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"),
                  "-B", cls.out, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        (cls.deb,) = glob.glob(os.path.join(cls.out, "processnow_*.deb"))

    def test_contents_and_conffiles(self):
        listing = run("dpkg-deb", "-c", self.deb).stdout
        for path in ["./usr/bin/processnow", "./usr/lib/processnow/processnow-http.so",
                     "./usr/lib/processnow/processnow-kafka.so",
                     "./usr/lib/systemd/system/processnow.service",
                     "./usr/lib/sysusers.d/processnow.conf", "./usr/lib/tmpfiles.d/processnow.conf",
                     "./etc/processnow/gateway.toml", "./etc/processnow/demo.toml",
                     "./etc/processnow/rules.d/demo.toml"]:
            self.assertIn(path, listing)
        self.assertEqual(run("dpkg-deb", "-f", self.deb, "Package").stdout.strip(), "processnow")
        ctrl = os.path.join(self.out, "control")
        run("dpkg-deb", "-e", self.deb, ctrl)
        with open(os.path.join(ctrl, "conffiles")) as f:
            self.assertEqual(sorted(f.read().split()),
                             ["/etc/processnow/demo.toml", "/etc/processnow/gateway.toml",
                              "/etc/processnow/rules.d/demo.toml"])
        depends = run("dpkg-deb", "-f", self.deb, "Depends").stdout
        self.assertIn("libsqlite3-0", depends)
        self.assertIn("libcpp-httplib", depends)  # from the module, by dpkg-shlibdeps
        self.assertIn("librdkafka1", depends)  # from the Kafka module, likewise
        # The packaged binary is stripped.
        data = os.path.join(self.out, "data")
        run("dpkg-deb", "-x", self.deb, data)
        sections = run("readelf", "-S", os.path.join(data, "usr/bin/processnow")).stdout
        self.assertNotIn(".debug_info", sections)
        self.assertNotIn(".symtab", sections)

    def test_install_check_and_purge(self):
        if os.geteuid() != 0:
            self.skipTest("dpkg -i needs root")
        if run("dpkg-query", "-W", "-f=${Status}", "processnow").stdout.startswith("install ok"):
            self.skipTest("a processnow package is already installed here; not touching it")
        res = run("dpkg", "-i", self.deb, timeout=300)
        try:
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
            self.assertTrue(os.path.exists("/usr/bin/processnow"))
            res = run("/usr/bin/processnow", "check", "--config", "/etc/processnow/gateway.toml")
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertIn("OK", res.stdout)
            res = run("/usr/bin/processnow", "check", "--config", "/etc/processnow/demo.toml")
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertIn("1 rules", res.stdout)
            self.assertEqual(run("getent", "passwd", "processnow").returncode, 0)
            st = os.stat("/etc/processnow/gateway.toml")
            self.assertEqual(st.st_mode & 0o777, 0o640)
            self.assertEqual(os.stat("/var/lib/processnow").st_mode & 0o777, 0o700)
            self.assert_installed_binary_serves_health()
        finally:
            purge = run("dpkg", "-P", "processnow", timeout=300)
        self.assertEqual(purge.returncode, 0, purge.stdout + purge.stderr)
        self.assertFalse(os.path.exists("/usr/bin/processnow"))
        self.assertFalse(os.path.exists("/etc/processnow/gateway.toml"))
        self.assertFalse(os.path.exists("/var/lib/processnow"))

    def assert_installed_binary_serves_health(self):
        """/usr/bin/processnow loads /usr/lib/processnow/processnow-http.so and answers."""
        with tempfile.TemporaryDirectory(prefix="pn-pkg-") as d:
            port = free_port()
            cfg = os.path.join(d, "gateway.toml")
            with open(cfg, "w") as f:
                f.write(f'[gateway]\ndata_dir = "{d}/data"\n[health]\nenabled = true\n'
                        f'port = {port}\n[drivers.plant]\ntype = "sim"\n')
            proc = subprocess.Popen(["/usr/bin/processnow", "run", "--config", cfg],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                status, end = None, time.monotonic() + 30
                while status is None and time.monotonic() < end and proc.poll() is None:
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health",
                                                    timeout=5) as r:
                            status = r.status
                    except (urllib.error.URLError, ConnectionError):
                        time.sleep(0.1)
                self.assertEqual(status, 200, proc.stderr.read() if proc.poll() is not None
                                 else "no answer in 30 s")
            finally:
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    unittest.main()
