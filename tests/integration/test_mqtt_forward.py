"""The MQTT forwarder end to end: the real processnow binary publishes to a real mosquitto that
the test starts on a free loopback port, and a mosquitto_sub subscriber checks what arrives.

Every record is identified by (gateway, seq); the file upstream, running next to the MQTT one,
is the list of every record the gateway stored."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))

from pn_testlib import GatewayTestCase  # noqa: E402
from mqtt_broker import Broker, Subscriber, have_mosquitto, make_test_ca  # noqa: E402

FAST_SIM = """
[drivers.plant]
type = "sim"
devices = {devices}
realtime = false
max_samples = {samples}
"""

REALTIME_SIM = """
[drivers.plant]
type = "sim"
devices = {devices}
realtime = true
interval_ms = {interval_ms}
max_samples = {samples}
"""


def mqtt_upstream(servers, extra="", name="scada"):
    servers_toml = ", ".join(f'"{s}"' for s in servers)
    return (f'\n[upstreams.{name}]\ntype = "mqtt"\nservers = [{servers_toml}]\n'
            f'retry_initial_ms = 200\nretry_max_ms = 1000\nconnect_timeout_ms = 2000\n' + extra)


def wire_records(messages, payload="json"):
    """Data records in arrival order from (topic, retained, payload) messages."""
    out = []
    for topic, _, body in messages:
        if payload == "json":
            out.append((topic, json.loads(body)))
        elif payload == "json_batch":
            out.extend((topic, r) for r in json.loads(body))
        else:
            raise ValueError(payload)
    return out


@unittest.skipUnless(have_mosquitto(), "mosquitto and mosquitto_sub are needed")
class MqttForwardTestCase(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.peers = []
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
        for peer in reversed(self.peers):
            peer.stop()
        super().tearDown()

    def broker(self, **kw):
        b = Broker(os.path.join(self.dir, f"broker{len(self.peers)}"), **kw).start()
        self.peers.append(b)
        return b

    def subscriber(self, broker, topic="it-gw/#"):
        s = Subscriber(broker, topic).start()
        self.peers.append(s)
        return s

    def data(self, sub):
        return [m for m in sub.messages("it-gw/") if not m[0].endswith("/status")]

    def wait_count(self, fn, n, timeout=60.0, what="records"):
        self.wait_for(lambda: len(fn()) >= n, timeout=timeout, what=f"{n} {what}")
        return fn()


class ForwardEverything(MqttForwardTestCase):
    def run_and_collect(self, payload, extra=""):
        broker = self.broker()
        sub = self.subscriber(broker)
        samples, devices = 300, 2
        cfg = self.config(FAST_SIM.format(devices=devices, samples=samples) + mqtt_upstream(
            [broker.uri], f'payload = "{payload}"\n' + extra))
        proc = self.run_gateway(cfg, "--exit-when-drained", timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        total = devices * 5 * samples
        recs = self.wait_count(lambda: wire_records(self.data(sub), payload), total)
        self.assertEqual(self.store_rows(), 0, "everything was acknowledged")
        return total, recs, sub

    def test_json_every_record_arrives_once_on_its_device_series_topic(self):
        total, recs, _ = self.run_and_collect("json")
        seqs = [r["seq"] for _, r in recs]
        self.assertEqual(sorted(seqs), list(range(1, total + 1)))
        for topic, r in recs:
            self.assertEqual(r["gateway"], "it-gw")
            self.assertEqual(topic, f"it-gw/{r['device']}/{r['series']}")
            self.assertEqual(r["type"], "reading")

    def test_json_batch_arrays_are_grouped_per_topic_and_capped(self):
        total, recs, sub = self.run_and_collect("json_batch", "batch_max_records = 40\n")
        self.assertEqual(sorted(r["seq"] for _, r in recs), list(range(1, total + 1)))
        for topic, body in [(m[0], json.loads(m[2])) for m in self.data(sub)]:
            self.assertTrue(1 <= len(body) <= 40)
            self.assertTrue(all(topic == f"it-gw/{r['device']}/{r['series']}" for r in body))
            self.assertEqual([r["seq"] for r in body], sorted(r["seq"] for r in body))

    def test_influx_lines_carry_series_tags_value_seq_and_time(self):
        broker = self.broker()
        sub = self.subscriber(broker)
        cfg = self.config(FAST_SIM.format(devices=1, samples=100) + mqtt_upstream(
            [broker.uri], 'payload = "influx"\ntopic = "{gateway}/influx"\n'))
        proc = self.run_gateway(cfg, "--exit-when-drained", timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = self.wait_count(
            lambda: [ln for m in self.data(sub) for ln in m[2].decode().split("\n")], 500)
        seqs = []
        for ln in lines:
            head, fields, ts = ln.split(" ")
            measurement, *tags = head.split(",")
            self.assertIn(measurement, {"temperature", "vibration_rms", "current", "pressure",
                                        "flow"})
            self.assertIn("gateway=it-gw", tags)
            self.assertIn("device=pump-1", tags)
            f = dict(kv.split("=", 1) for kv in fields.split(","))
            float(f["value"])
            seqs.append(int(f["seq"].rstrip("i")))
            self.assertGreater(int(ts), 1_700_000_000 * 10**9)
        self.assertEqual(sorted(seqs), list(range(1, 501)))


class BrokerOutage(MqttForwardTestCase):
    def test_broker_stopped_mid_run_every_record_arrives_in_order_with_bounded_duplicates(self):
        broker = self.broker(persistence=True)  # keeps the subscriber's session over the restart
        sub = self.subscriber(broker)
        batch = 100
        cfg = self.config(
            "shutdown_timeout_ms = 60000\n" +
            REALTIME_SIM.format(devices=2, interval_ms=50, samples=170) +
            mqtt_upstream([broker.uri], f"batch_records = {batch}\npublish_timeout_ms = 3000\n") +
            f'\n[upstreams.archive]\ntype = "file"\npath = "{self.out}"\n')
        proc = self.start_gateway(cfg, "--exit-when-drained")
        self.procs.append(proc)
        self.wait_count(lambda: self.data(sub), 200, timeout=30, what="records before the outage")
        broker.stop()
        down_at = time.monotonic()
        time.sleep(1.0)
        archived = len(self.read_out())
        time.sleep(4.0)
        # The dead broker holds up neither the drivers nor the file upstream next to it.
        self.assertGreater(len(self.read_out()), archived + 100)
        broker.start()
        _, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("connection to the broker lost", err)
        stored = [r["seq"] for r in self.read_out()]
        self.assertEqual(stored, list(range(1, 1701)))  # 2 pumps x 5 series x 170
        self.assertGreater(time.monotonic() - down_at, 5.0)
        recs = self.wait_count(lambda: wire_records(self.data(sub)), len(stored), timeout=60)
        time.sleep(1.0)  # let any late duplicates arrive too
        recs = wire_records(self.data(sub))
        seqs = [r["seq"] for _, r in recs]
        self.assertEqual(set(seqs), set(stored), "every record arrives")
        self.assertTrue(all(r["gateway"] == "it-gw" for _, r in recs))
        # In order per series: first occurrences of each (device, series) strictly increase.
        seen, last = set(), defaultdict(int)
        for _, r in recs:
            if r["seq"] in seen:
                continue
            seen.add(r["seq"])
            key = (r["device"], r["series"])
            self.assertGreater(r["seq"], last[key], f"out of order on {key}")
            last[key] = r["seq"]
        # Duplicates come only from sends that were in flight when the broker went away: at
        # most a couple of sends' worth, never a replay of acknowledged history.
        dupes = len(seqs) - len(set(seqs))
        self.assertLessEqual(dupes, 2 * batch, f"{dupes} duplicates")


    def test_broker_frozen_with_records_in_flight_every_record_arrives_and_none_is_lost(self):
        # SIGSTOP keeps the connection open and answers nothing: the forwarder's records in
        # flight (pipelining) get no acknowledgement, time out, and are sent again.
        broker = self.broker(persistence=True)
        sub = self.subscriber(broker)
        cfg = self.config(
            "shutdown_timeout_ms = 60000\n" +
            REALTIME_SIM.format(devices=2, interval_ms=50, samples=200) +
            mqtt_upstream([broker.uri], "batch_records = 50\npublish_timeout_ms = 1000\n") +
            f'\n[upstreams.archive]\ntype = "file"\npath = "{self.out}"\n')
        proc = self.start_gateway(cfg, "--exit-when-drained")
        self.procs.append(proc)
        self.wait_count(lambda: self.data(sub), 200, timeout=30, what="records before the freeze")
        broker.proc.send_signal(signal.SIGSTOP)
        try:
            # The sim makes 200 records/s at most: 300 more take 1.5 s, past publish_timeout.
            frozen_at = len(self.read_out())
            self.assertLess(frozen_at, 1700, "the run must go on during the freeze")
            self.wait_for(lambda: len(self.read_out()) >= frozen_at + 300, timeout=60,
                          what="records stored while the broker is frozen")
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        _, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("no acknowledgement within publish_timeout_ms", err)
        stored = [r["seq"] for r in self.read_out()]
        self.assertEqual(stored, list(range(1, 2001)))  # 2 pumps x 5 series x 200
        self.wait_for(lambda: {r["seq"] for _, r in wire_records(self.data(sub))} >= set(stored),
                      timeout=60, what="every stored record at the subscriber")
        self.assertEqual(self.store_rows(), 0, "everything was acknowledged")


class Tls(MqttForwardTestCase):
    def tls_broker(self, cert):
        ca = make_test_ca(os.path.join(self.dir, "ca"))
        broker = self.broker(tls=(f"{ca}/ca.pem", f"{ca}/{cert}.pem", f"{ca}/{cert}.key"))
        return ca, broker

    def test_tls_with_the_right_ca_and_hostname_delivers(self):
        ca, broker = self.tls_broker("server")
        sub = self.subscriber(broker)
        cfg = self.config(FAST_SIM.format(devices=1, samples=40) + mqtt_upstream(
            [f"ssl://127.0.0.1:{broker.tls_port}"], f'ca_file = "{ca}/ca.pem"\n'))
        proc = self.run_gateway(cfg, "--exit-when-drained", timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(f"connected to ssl://127.0.0.1:{broker.tls_port}", proc.stderr)
        recs = self.wait_count(lambda: wire_records(self.data(sub)), 200)
        self.assertEqual(sorted(r["seq"] for _, r in recs), list(range(1, 201)))

    def test_certificate_for_the_wrong_hostname_is_refused_and_nothing_is_acknowledged(self):
        ca, broker = self.tls_broker("wrong")
        sub = self.subscriber(broker)
        cfg = self.config("shutdown_timeout_ms = 3000\n" + FAST_SIM.format(devices=1, samples=40) +
                          mqtt_upstream([f"ssl://127.0.0.1:{broker.tls_port}"],
                                        f'ca_file = "{ca}/ca.pem"\n'))
        proc = self.run_gateway(cfg, "--exit-when-drained", timeout=120)
        self.assertIn("upstream scada: cannot", proc.stderr)
        self.assertIn("certificate does not name the host", proc.stderr)
        self.assertNotIn("connected to ssl://", proc.stderr)
        self.assertIn("not yet forwarded", proc.stderr)
        self.assertEqual(self.store_rows(), 200, "nothing acknowledged: all 200 records kept")
        time.sleep(0.5)
        self.assertEqual(self.data(sub), [])

    def test_unrelated_ca_is_refused(self):
        ca, broker = self.tls_broker("server")
        cfg = self.config("shutdown_timeout_ms = 2000\n" + FAST_SIM.format(devices=1, samples=10) +
                          mqtt_upstream([f"ssl://127.0.0.1:{broker.tls_port}"],
                                        f'ca_file = "{ca}/other-ca.pem"\n'))
        proc = self.run_gateway(cfg, "--exit-when-drained", timeout=120)
        self.assertIn("certificate verify failed", proc.stderr)
        self.assertNotIn("connected to ssl://", proc.stderr)
        self.assertEqual(self.store_rows(), 50)

    def test_turning_hostname_verification_off_connects_and_warns(self):
        ca, broker = self.tls_broker("wrong")
        cfg = self.config(FAST_SIM.format(devices=1, samples=10) + mqtt_upstream(
            [f"ssl://127.0.0.1:{broker.tls_port}"],
            f'ca_file = "{ca}/ca.pem"\ntls_verify_hostname = false\n'))
        proc = self.run_gateway(cfg, "--exit-when-drained", timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("tls_verify_hostname = false", proc.stderr)
        self.assertIn("connected to ssl://", proc.stderr)
        self.assertEqual(self.store_rows(), 0)


class BirthAndWill(MqttForwardTestCase):
    def test_online_is_retained_and_the_will_says_offline_after_kill_and_after_stop(self):
        broker = self.broker()
        status = self.subscriber(broker, "it-gw/status")
        cfg = self.config(REALTIME_SIM.format(devices=1, interval_ms=100, samples=0) +
                          mqtt_upstream([broker.uri], "keep_alive_s = 2\n"))
        payloads = lambda: [(m[2].decode(), m[1]) for m in status.messages("it-gw/status")]
        for how in (signal.SIGKILL, signal.SIGTERM):
            before = len(payloads())
            proc = self.start_gateway(cfg)
            self.procs.append(proc)
            self.wait_for(lambda: ("online", False) in payloads()[before:], timeout=30,
                          what="online")
            # A subscriber that comes later gets the retained birth message.
            late = Subscriber(broker, "it-gw/status", client_id=f"late-{how}").start()
            self.peers.append(late)
            self.wait_for(lambda: ("online", True) in [(m[2].decode(), m[1])
                                                       for m in late.messages("it-gw/status")],
                          timeout=15, what="retained online")
            late.stop()
            n = len(payloads())
            proc.send_signal(how)
            proc.communicate(timeout=60)
            self.wait_for(lambda: any(p == "offline" for p, _ in payloads()[n:]), timeout=30,
                          what=f"offline after {how.name}")
        late = Subscriber(broker, "it-gw/status", client_id="late-final").start()
        self.peers.append(late)
        self.wait_for(lambda: ("offline", True) in [(m[2].decode(), m[1])
                                                    for m in late.messages("it-gw/status")],
                      timeout=15, what="retained offline")


if __name__ == "__main__":
    unittest.main()
