"""The modbus driver in the real binary against real peers started here: pn_modbus_server over
Modbus TCP on a free loopback port and over Modbus RTU on a socat pty pair. Checks the decoded
readings, bad readings from a unit that never answers while the live one keeps going, reconnect
after a server restart, and `processnow check` on a bad register map."""
import os
import shutil
import signal
import subprocess
import time
import unittest

from pn_testlib import BINARY, GatewayTestCase


def server_path():
    if os.environ.get("PN_MODBUS_SERVER"):
        return os.environ["PN_MODBUS_SERVER"]
    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(BINARY))))
    return os.path.join(build, "tests", "integration", "peers", "modbus_server", "pn_modbus_server")


class ModbusServer:
    """pn_modbus_server --tcp; start() waits for its READY line and returns the port."""

    def __init__(self, *args):
        self.args = list(args)
        self.proc = None
        self.port = 0

    def start(self, port=0, attempts=50):
        for _ in range(attempts):
            self.proc = subprocess.Popen([server_path(), "--tcp", str(port), *self.args],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         text=True)
            line = self.proc.stdout.readline()
            if line.startswith("READY "):
                self.port = int(line.split()[1])
                return self.port
            self.stop()
            time.sleep(0.1)  # the port may still be held by the old process
        raise RuntimeError("pn_modbus_server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
        self.proc = None


TAGS = """
[[drivers.plc.tag]]
name = "speed"
device = "pump"
table = "holding"
address = 0
unit = "rpm"
poll_interval_ms = 100

[[drivers.plc.tag]]
name = "flow"
device = "pump"
table = "holding"
address = 20
type = "float32"
order = "CDAB"
scale = -0.01
unit = "m3/h"
poll_interval_ms = 100

[[drivers.plc.tag]]
name = "running"
device = "pump"
table = "coil"
address = 0
poll_interval_ms = 100

[[drivers.plc.tag]]
name = "speed"
device = "ghost"
unit_id = 9
table = "holding"
address = 0
poll_interval_ms = 100
"""


@unittest.skipUnless(os.path.exists(server_path()), "pn_modbus_server not built")
class ModbusTcp(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.server = ModbusServer("--dead-unit", "9")
        self.port = self.server.start()
        self.gw = None

    def tearDown(self):
        if self.gw and self.gw.poll() is None:
            self.gw.send_signal(signal.SIGTERM)
            try:
                self.gw.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self.gw.kill()
                self.gw.communicate()
        self.server.stop()
        super().tearDown()

    def readings(self, device=None, series=None, quality=None):
        out = []
        for r in self.read_out():
            if r.get("type") != "reading":
                continue
            if device and r["device"] != device or series and r["series"] != series:
                continue
            if quality and r["quality"] != quality:
                continue
            out.append(r)
        return out

    def test_readings_dead_unit_and_reconnect_after_server_restart(self):
        cfg = self.config(f"""
[drivers.plc]
type = "modbus"
port = {self.port}
timeout_ms = 200
retries = 1
retry_initial_ms = 200
retry_max_ms = 1000
{TAGS}
[upstreams.out]
type = "file"
path = "{self.out}"
""")
        self.gw = self.start_gateway(cfg)
        self.wait_for(lambda: len(self.readings("pump", "speed", "good")) >= 5, timeout=30,
                      what="good readings of the live unit")
        self.wait_for(lambda: len(self.readings("ghost", quality="bad")) >= 2, timeout=30,
                      what="bad readings of the dead unit")
        speed = self.readings("pump", "speed", "good")[0]
        self.assertEqual(speed["value"], 1001)
        self.assertEqual(speed["unit"], "rpm")
        flow = self.readings("pump", "flow", "good")[0]
        self.assertAlmostEqual(flow["value"], 12.345)
        self.assertEqual(self.readings("pump", "running", "good")[0]["value"], 1)
        ghost = self.readings("ghost")
        self.assertTrue(all(r["quality"] == "bad" and r["value"] is None for r in ghost))
        # The dead unit does not stall the live one: its readings keep coming at ~10/s.
        n = len(self.readings("pump", "speed", "good"))
        time.sleep(1.5)
        self.assertGreaterEqual(len(self.readings("pump", "speed", "good")) - n, 5)

        # Server gone: the live unit's readings turn bad; back: good again after a reconnect.
        self.server.stop()
        self.wait_for(lambda: len(self.readings("pump", "speed", "bad")) >= 2, timeout=30,
                      what="bad readings while the server is down")
        good_before = len(self.readings("pump", "speed", "good"))
        self.server.start(self.port)
        self.wait_for(lambda: len(self.readings("pump", "speed", "good")) >= good_before + 3,
                      timeout=30, what="good readings after the server restarted")
        self.gw.send_signal(signal.SIGTERM)
        _, err = self.gw.communicate(timeout=30)
        self.assertEqual(self.gw.returncode, 0, err)
        self.assertIn("reconnecting", err)
        self.assertIn("unit 9 is down", err)


@unittest.skipUnless(os.path.exists(server_path()) and shutil.which("socat"),
                     "pn_modbus_server or socat missing")
class ModbusRtu(GatewayTestCase):
    def test_rtu_over_a_pty_pair(self):
        a, b = os.path.join(self.dir, "a"), os.path.join(self.dir, "b")
        socat = subprocess.Popen(["socat", "-d", "-d", f"pty,raw,echo=0,link={a}",
                                  f"pty,raw,echo=0,link={b}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = gw = None
        try:
            self.wait_for(lambda: os.path.exists(a) and os.path.exists(b), timeout=10,
                          what="socat ptys")
            server = subprocess.Popen([server_path(), "--rtu", a, "--unit", "1"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.assertEqual(server.stdout.readline().strip(), "READY")
            cfg = self.config(f"""
[drivers.plc]
type = "modbus"
transport = "rtu"
device_path = "{b}"
baud_rate = 115200
parity = "none"
timeout_ms = 200
retries = 0
inter_request_delay_ms = 2
{TAGS}
[upstreams.out]
type = "file"
path = "{self.out}"
""")
            gw = self.start_gateway(cfg)

            def good():
                return [r for r in self.read_out()
                        if r.get("type") == "reading" and r["quality"] == "good"]

            self.wait_for(lambda: len([r for r in good() if r["series"] == "flow"]) >= 5,
                          timeout=30, what="RTU readings")
            values = {(r["device"], r["series"]): r["value"] for r in good()}
            self.assertEqual(values[("pump", "speed")], 1001)
            self.assertAlmostEqual(values[("pump", "flow")], 12.345)
            self.assertEqual(values[("pump", "running")], 1)
            self.assertNotIn(("ghost", "speed"), values)
            self.assertTrue(any(r["device"] == "ghost" and r["quality"] == "bad"
                                for r in self.read_out() if r.get("type") == "reading"))
            gw.send_signal(signal.SIGTERM)
            _, err = gw.communicate(timeout=30)
            self.assertEqual(gw.returncode, 0, err)
        finally:
            for p in (gw, server, socat):
                if p and p.poll() is None:
                    p.kill()
                    p.communicate()


class ModbusCheck(GatewayTestCase):
    def test_check_reports_every_bad_tag(self):
        cfg = self.config("""
[drivers.plc]
type = "modbus"

[[drivers.plc.tag]]
name = "run"
table = "coil"
address = 3
type = "int32"

[[drivers.plc.tag]]
name = "serial"
table = "holding"
address = 65534
type = "string"
length = 4
""")
        proc = subprocess.run([BINARY, "check", "--config", cfg], capture_output=True, text=True,
                              timeout=30)
        self.assertEqual(proc.returncode, 78, proc.stdout + proc.stderr)
        text = proc.stdout + proc.stderr
        self.assertIn('drivers.plc.tag[0].type: "int32" is not allowed for table "coil"', text)
        self.assertIn("drivers.plc.tag[1].length: registers 65534..65537 run past the last "
                      "address 65535", text)


if __name__ == "__main__":
    unittest.main()
