"""End to end to Kafka: the real binary forwards a sim plant to librdkafka's mock cluster, run as a
separate program (kafka_mock_cluster, built from tests/unit/upstream/kafka/) that prints what it
reads back; the cluster goes down for a while mid-run and everything still arrives. librdkafka is
in a module (processnow-kafka.so) the binary loads only when a kafka upstream is configured."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import unittest

from pn_testlib import BINARY, GatewayTestCase

MOCK = os.environ.get("PN_KAFKA_MOCK", "kafka_mock_cluster")


class MockCluster:
    """kafka_mock_cluster as a child process: its bootstrap servers and the messages it read."""

    def __init__(self, topics):
        self.proc = subprocess.Popen([MOCK, "--brokers", "3", "--partitions", "4", *topics],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line.startswith("BOOTSTRAP "):
            self.proc.kill()
            raise RuntimeError(f"kafka_mock_cluster said {line!r}")
        self.bootstraps = line.split()[1].split(",")
        self.messages = []
        self.acks = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                if line.startswith("OK "):
                    self.acks.append(line.strip())
                elif line.startswith("{"):
                    self.messages.append(json.loads(line))

    def command(self, what):
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()

    def got(self):
        with self.lock:
            return list(self.messages)

    def stop(self):
        try:
            self.command("quit")
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except Exception:
                pass


class KafkaTestCase(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.mock = MockCluster(["it-gw.readings", "it-gw.events"])

    def tearDown(self):
        self.mock.stop()
        super().tearDown()

    def upstream(self, extra=""):
        servers = ", ".join(f'"{s}"' for s in self.mock.bootstraps)
        return (f'\n[upstreams.lake]\ntype = "kafka"\nbootstrap_servers = [{servers}]\n'
                'topic = "{gateway}.readings"\nevent_topic = "{gateway}.events"\n' + extra)

    def check_messages(self, msgs):
        for m in msgs:
            v = m["value"]
            self.assertEqual(m["gateway"], "it-gw")
            self.assertEqual(v["gateway"], "it-gw")
            self.assertEqual(int(m["seq"]), v["seq"])
            self.assertEqual(m["key"], v["device"])
            self.assertEqual(m["topic"], "it-gw.events" if v["type"] == "event" else "it-gw.readings")


class RunToCompletion(KafkaTestCase):
    def test_every_record_arrives_once_with_key_and_headers(self):
        samples = 200
        cfg = self.config(f"""
[drivers.plant]
type = "sim"
seed = 3
devices = 2
realtime = false
interval_ms = 1000
max_samples = {samples}
""" + self.upstream())
        proc = self.run_gateway(cfg, "--exit-when-drained")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.store_rows(), 0)
        n = 2 * 5 * samples
        self.wait_for(lambda: len({m["seq"] for m in self.mock.got()}) >= n, timeout=30,
                      what=f"{n} records read back from Kafka")
        msgs = self.mock.got()
        self.check_messages(msgs)
        seqs = sorted(int(m["seq"]) for m in msgs)
        self.assertEqual(seqs, list(range(1, n + 1)))  # no faults: each exactly once


class ClusterDownMidRun(KafkaTestCase):
    def test_everything_arrives_after_the_cluster_was_down(self):
        cfg = self.config("shutdown_timeout_ms = 10000\n" + """
[drivers.plant]
type = "sim"
devices = 3
interval_ms = 10
""" + self.upstream("delivery_timeout_ms = 1500\nretry_initial_ms = 100\nretry_max_ms = 500\n"))
        proc = self.start_gateway(cfg)
        try:
            self.wait_for(lambda: len(self.mock.got()) > 200, timeout=30,
                          what="records before the outage")
            self.mock.command("down")
            time.sleep(4.0)
            during = len(self.mock.got())
            self.mock.command("up")
            self.wait_for(lambda: len(self.mock.got()) > during + 500, timeout=40,
                          what="records after the outage")
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(self.store_rows(), 0, err)  # everything acknowledged
        # The store numbers records 1, 2, 3, ...: every one acknowledged must be in Kafka.
        time.sleep(1.0)
        msgs = self.mock.got()
        last = max(int(m["seq"]) for m in msgs)
        self.wait_for(lambda: {int(m["seq"]) for m in self.mock.got()} >= set(range(1, last + 1)),
                      timeout=20, what="every seq up to the last")
        self.check_messages(self.mock.got())
        self.assertIn("upstream lake: send failed, retrying", err)


class TheModule(KafkaTestCase):
    """gateway/upstream/kafka/kafka_module.h: librdkafka is mapped only with a kafka upstream."""

    def mapped_files(self, pid):
        with open(f"/proc/{pid}/maps") as f:
            return {line.split()[-1] for line in f if "/" in line}

    def test_librdkafka_is_mapped_only_with_a_kafka_upstream(self):
        cfg = self.config('[drivers.plant]\ntype = "sim"\ninterval_ms = 50\n'
                          f'[upstreams.out]\ntype = "file"\npath = "{self.out}"\n')
        proc = self.start_gateway(cfg)
        try:
            self.wait_for(lambda: len(self.read_out()) > 0, what="records in the file upstream")
            off = self.mapped_files(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
        self.assertFalse([m for m in off if "rdkafka" in m or "processnow-kafka" in m], off)

        cfg = self.config('[drivers.plant]\ntype = "sim"\ninterval_ms = 50\n' + self.upstream(),
                          name="kafka.toml")
        proc = self.start_gateway(cfg)
        try:
            self.wait_for(lambda: len(self.mock.got()) > 0, timeout=30, what="records in Kafka")
            on = self.mapped_files(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        self.assertTrue([m for m in on if m.endswith("/processnow-kafka.so")], on)
        self.assertTrue([m for m in on if "/librdkafka.so" in m], on)

    def test_a_missing_kafka_module_is_a_clear_error(self):
        # A binary with no module beside it nor in ../lib/processnow (a copy in a bare folder).
        bare = os.path.join(self.dir, "bare", "bin")
        os.makedirs(bare)
        binary = shutil.copy(shutil.which(BINARY) or BINARY, bare)
        cfg = self.config('[drivers.plant]\ntype = "sim"\n' + self.upstream())
        for command in ("check", "run"):
            res = subprocess.run([binary, command, "--config", cfg], capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(res.returncode, 78, res.stderr)
            out = res.stdout + res.stderr
            self.assertIn("upstreams.lake.type: cannot load the Kafka module processnow-kafka.so",
                          out)
            self.assertIn(os.path.join(bare, "processnow-kafka.so") + ": No such file", out)
            self.assertIn(os.path.join(self.dir, "bare", "lib", "processnow",
                                       "processnow-kafka.so"), out)
        # Without a kafka upstream the bare binary needs no module.
        cfg = self.config('[drivers.plant]\ntype = "sim"\n'
                          f'[upstreams.out]\ntype = "file"\npath = "{self.out}"\n',
                          name="file.toml")
        res = subprocess.run([binary, "check", "--config", cfg], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)


if __name__ == "__main__":
    unittest.main()
