"""The serial driver end to end: the real binary reads an emulated NMEA sensor through a socat
pty pair started by the test. The emulator writes good sentences, sentences with bad checksums
and line noise; then the "USB adapter" is unplugged (socat killed, its pty links vanish) and
plugged back (socat started again on the same link paths), and readings flow again."""
import os
import signal
import subprocess
import threading
import time
import unittest

from pn_testlib import GatewayTestCase


def nmea(body):
    cs = 0
    for c in body.encode():
        cs ^= c
    return "$%s*%02X\r\n" % (body, cs)


class Socat:
    """A pty pair: `gateway` is the driver's end, `sensor` the emulator's."""

    def __init__(self, directory):
        self.gateway = os.path.join(directory, "ttyGW")
        self.sensor = os.path.join(directory, "ttySENSOR")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.gateway}",
             f"pty,raw,echo=0,link={self.sensor}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if os.path.exists(self.gateway) and os.path.exists(self.sensor):
                return
            time.sleep(0.02)
        raise RuntimeError("socat did not create its pty links")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None


class Emulator(threading.Thread):
    """Writes, every 20 ms: an MTW sentence with value `base + i`, and every few lines a bad
    checksum, a sentence without checksum or raw noise. Stops when the line goes away."""

    def __init__(self, path, base):
        super().__init__(daemon=True)
        self.path, self.base = path, base
        self.stop_flag = threading.Event()
        self.sent_good = 0

    def run(self):
        fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY)
        try:
            i = 0
            while not self.stop_flag.is_set():
                out = nmea(f"YXMTW,{self.base + i:.1f},C")
                if i % 3 == 1:
                    bad = nmea(f"YXMTW,{self.base + i + 0.5:.1f},C")
                    out += bad[:-4] + ("00" if bad[-4:-2] != "00" else "11") + "\r\n"
                if i % 5 == 2:
                    out += "\x00\x13\xff~~noise~~\r\n"
                try:
                    os.write(fd, out.encode("latin-1"))
                except OSError:
                    return
                self.sent_good += 1
                i += 1
                time.sleep(0.02)
        finally:
            os.close(fd)


class SerialSensor(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.socat = Socat(self.dir)
        self.emulators = []

    def tearDown(self):
        for e in self.emulators:
            e.stop_flag.set()
        self.socat.stop()
        super().tearDown()

    def values(self):
        return [r["value"] for r in self.read_out()
                if r.get("type") == "reading" and r.get("series") == "water_temperature"]

    def test_readings_survive_noise_and_an_unplugged_adapter(self):
        self.socat.start()
        cfg = self.config(f"""
[drivers.probe]
type = "serial"
device = "{self.socat.gateway}"
baud_rate = 4800
device_name = "tank-1"
parser = "nmea"
reconnect_min_ms = 100
reconnect_max_ms = 400
log_interval_ms = 1000

[upstreams.out]
type = "file"
path = "{self.out}"
""")
        gw = self.start_gateway(cfg)
        try:
            first = Emulator(self.socat.sensor, 0.0)
            self.emulators.append(first)
            # The driver may open the port a moment after the emulator starts: fine, lines
            # written before the open are simply not seen.
            time.sleep(0.3)
            first.start()
            self.wait_for(lambda: len(self.values()) >= 20, what="readings before the unplug")
            before = self.values()
            # Every value is an integer + 0.0: the bad-checksum sentences (x.5) never got in.
            self.assertTrue(all(v == int(v) and v < 1000 for v in before), before[:30])

            # Unplug: socat dies, both pty links vanish, the emulator's writes fail.
            self.socat.stop()
            first.stop_flag.set()
            first.join(timeout=5)
            time.sleep(1.0)  # the driver retries with backoff meanwhile
            self.assertIsNone(gw.poll(), "the gateway must keep running while the line is gone")

            # Plug back in on the same path; values now start at 1000.
            self.socat.start()
            second = Emulator(self.socat.sensor, 1000.0)
            self.emulators.append(second)
            second.start()
            self.wait_for(lambda: sum(1 for v in self.values() if v >= 1000) >= 20, timeout=30,
                          what="readings after the adapter came back")
            after = [v for v in self.values() if v >= 1000]
            self.assertTrue(all(v == int(v) for v in after), after[:30])
            # Readings are in order within each plug-in period.
            self.assertEqual(after, sorted(after))
        finally:
            gw.send_signal(signal.SIGTERM)
            _, err = gw.communicate(timeout=20)
        self.assertEqual(gw.returncode, 0, err)
        self.assertIn("went away", err)          # the unplug was noticed
        self.assertIn("bad checksum", err)       # bad sentences were logged ...
        self.assertIn("in the last", err)        # ... rate-limited, with a count
        self.assertGreaterEqual(err.count("opened"), 2, err)


if __name__ == "__main__":
    unittest.main()
