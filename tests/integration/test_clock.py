"""A gateway without a real-time clock (a Raspberry Pi): the daemon runs on a wall clock that
boots in 1972 (libfaketime; the monotonic clock stays real) with systemd-timesyncd's flag file
absent, then "NTP" steps the clock to the real time and creates the flag. Records taken before
are marked "clock":"unsynced"; once synchronised, the ones still in the store and the ones still
on their way are corrected by the measured offset ("clock":"corrected"); the age bound never
drops them for their 1972 times; the stale-data rule sees no 55-year gap."""
import glob
import os
import sqlite3
import time
import unittest
import json

import urllib.request

from pn_testlib import BINARY, GatewayTestCase, free_port

INTERVAL_MS = 50
NS = 1_000_000_000


def libfaketime():
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise AssertionError("libfaketime is missing: scripts/install-deps.sh installs `faketime`")
    return found[0]


class ClockWithoutRtc(GatewayTestCase):
    def start(self, cfg):
        self.faketime = self.write("faketime.rc", "-20000d\n")  # 2026 - 54.8 years: 1972
        env = dict(os.environ,
                   LD_PRELOAD=libfaketime(),
                   FAKETIME_TIMESTAMP_FILE=self.faketime,
                   FAKETIME_NO_CACHE="1",  # the file is read at every clock call: no lag
                   FAKETIME_DONT_FAKE_MONOTONIC="1")
        self.log_path = os.path.join(self.dir, "gateway.log")
        self.log_file = open(self.log_path, "w")
        import subprocess
        self.proc = subprocess.Popen([BINARY, "run", "--config", cfg], stdout=subprocess.DEVNULL,
                                     stderr=self.log_file, env=env)
        self.addCleanup(self.cleanup)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.log_file.close()

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def held_rows(self):
        """Every record in the store (upstream `held` never acknowledges), in seq order."""
        db = sqlite3.connect(os.path.join(self.data_dir, "buffer.db"), timeout=10)
        try:
            rows = db.execute("SELECT seq, ts_ns, body FROM records ORDER BY seq").fetchall()
            drops = dict(db.execute("SELECT key, value FROM meta WHERE key LIKE 'dropped_%'"))
        finally:
            db.close()
        return [(seq, ts, json.loads(body)) for seq, ts, body in rows], drops

    def test_records_taken_before_the_first_sync_are_marked_then_corrected_none_aged_out(self):
        synced_flag = os.path.join(self.dir, "timesync", "synchronized")
        self.write("rules.d/stale.toml", """
[[rule]]
name = "stale-temperature"
series = ["temperature"]
[rule.validate]
stale_after_ms = 3000
""")
        port = free_port()
        cfg = self.config(f"""rules = ["rules.d/*.toml"]
[health]
enabled = true
port = {port}
[clock]
sync_source = "timesyncd"
timesyncd_file = "{synced_flag}"
[store]
max_age_s = 3600
[drivers.plant]
type = "sim"
devices = 1
device_prefix = "pump"
series = ["temperature"]
interval_ms = {INTERVAL_MS}
realtime = true
[upstreams.out]
type = "file"
path = "{self.out}"
[upstreams.held]
type = "file"
path = "{self.dir}/no-such-dir/held.jsonl"
""")
        self.start(cfg)
        # Before the sync: records go out marked, with the 1972 clock's times.
        self.wait_for(lambda: len(self.read_out()) >= 40, what="readings before the sync")
        early = self.read_out()
        self.assertTrue(all(r.get("clock") == "unsynced" for r in early), early[:3])
        self.assertLess(early[0]["ts_ns"], 100_000_000 * NS, "not a 1972 time")
        self.assertIn('"clock":"unsynced" until it is', self.log())
        # The oldest record held has no known age yet: not 55 years.
        store = self.health(port)["store"]
        self.assertIsNone(store["oldest_age_s"])
        self.assertEqual(store["oldest_clock"], "unsynced")

        # NTP: the clock is stepped to the real time, then timesyncd creates its flag.
        real_before = time.time_ns()
        with open(self.faketime, "w") as f:
            f.write("+0\n")
        os.makedirs(os.path.dirname(synced_flag))
        with open(synced_flag, "w"):
            pass
        self.wait_for(lambda: "clock: corrected the times of" in self.log(),
                      what="the correction of the stored records")
        n_out = len(self.read_out())
        self.wait_for(lambda: len(self.read_out()) >= n_out + 40, what="readings after the sync")

        rows, drops = self.held_rows()
        readings = [(seq, ts, b) for seq, ts, b in rows if b["type"] == "reading"]
        self.assertGreater(len(readings), 80)
        # Nothing left unsynced, nothing dropped: the 1972 times never counted against max_age_s.
        self.assertEqual([b for _, _, b in rows if b.get("clock") == "unsynced"], [])
        self.assertEqual(drops.get("dropped_age", 0), 0)
        self.assertEqual([seq for seq, _, _ in rows], list(range(1, len(rows) + 1)))
        # The column and the body agree, and the corrected times continue the real ones: the
        # sim's ticks are exactly INTERVAL_MS apart across the sync, with no 55-year gap.
        for _, ts, b in readings:
            self.assertEqual(ts, b["ts_ns"])
        marks = {b.get("clock") for _, _, b in readings}
        self.assertIn("corrected", marks)
        ts = [t for _, t, _ in readings]
        self.assertEqual({b - a for a, b in zip(ts, ts[1:])}, {INTERVAL_MS * 1_000_000})
        self.assertLess(abs(ts[0] - real_before), 120 * NS, "corrected time is not the real one")
        # The stale-data rule saw no gap across the jump: no alarm.
        events = [b for _, _, b in rows if b["type"] == "event"]
        self.assertEqual(events, [])
        # What went out before the sync stays as sent (marked); what went out after is right.
        late = self.read_out()[n_out:]
        self.assertTrue(all(abs(r["ts_ns"] - real_before) < 600 * NS for r in late), late[:2])
        self.assertIn("clock: the wall clock jumped by +", self.log())
        store = self.health(port)["store"]
        self.assertNotIn("oldest_clock", store)
        self.assertLess(store["oldest_age_s"], 600)

    def health(self, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            return json.loads(r.read())


if __name__ == "__main__":
    unittest.main()
