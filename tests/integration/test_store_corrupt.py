"""A damaged or foreign store file, with the real binary: `run` moves it aside to
<file>.corrupt-<UTC time> (byte for byte), logs exactly where it went, and starts with a fresh
store whose sequence numbers start above the old file's; with on_corrupt = "fail" it refuses to
start (exit 74) and leaves the file untouched."""
import glob
import os
import re
import time
import unittest

from pn_testlib import GatewayTestCase

SIM = """
[drivers.plant]
type = "sim"
devices = 1
realtime = false
max_samples = 20
"""


class CorruptStore(GatewayTestCase):
    def setUp(self):
        super().setUp()
        os.makedirs(self.data_dir)
        self.store = os.path.join(self.data_dir, "buffer.db")
        self.garbage = b"".join(b"this is not an SQLite database %05d\n" % i for i in range(300))
        with open(self.store, "wb") as f:
            f.write(self.garbage)

    def cfg(self, extra=""):
        return self.config(f"[store]\n{extra}\n" + SIM +
                           f'\n[upstreams.out]\ntype = "file"\npath = "{self.out}"\n')

    def test_run_moves_a_foreign_file_aside_logs_where_and_starts_fresh(self):
        before_us = int(time.time() * 1e6)
        proc = self.run_gateway(self.cfg(), "--exit-when-drained")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        moved = glob.glob(self.store + ".corrupt-*")
        self.assertEqual(len(moved), 1, os.listdir(self.data_dir))
        self.assertRegex(moved[0], re.escape(self.store) + r"\.corrupt-\d{8}T\d{6}Z$")
        with open(moved[0], "rb") as f:
            self.assertEqual(f.read(), self.garbage)
        # One loud error line naming the file, the reason and where it went.
        self.assertRegex(proc.stderr, r"error store " + re.escape(self.store) +
                         r": .*file is not a database.*MOVED ASIDE to " + re.escape(moved[0]))
        # The fresh store works; its numbers start above the time in microseconds.
        lines = self.read_out()
        self.assertEqual(len(lines), 5 * 20)
        seqs = [r["seq"] for r in lines]
        self.assertGreater(seqs[0], before_us)
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))

    def test_on_corrupt_fail_refuses_to_start_and_leaves_the_file_untouched(self):
        proc = self.run_gateway(self.cfg('on_corrupt = "fail"'), "--exit-when-drained")
        self.assertEqual(proc.returncode, 74, proc.stderr)
        self.assertIn(self.store, proc.stderr)
        self.assertIn("file is not a database", proc.stderr)
        with open(self.store, "rb") as f:
            self.assertEqual(f.read(), self.garbage)
        self.assertEqual(glob.glob(self.store + ".corrupt-*"), [])


if __name__ == "__main__":
    unittest.main()
