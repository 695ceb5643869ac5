"""The mqtt driver end to end: the real binary subscribes to a real mosquitto broker started by
the test on a free loopback port (generated config, `mosquitto -c FILE`), fed with mosquitto_pub.
Covers plain and JSON payloads at QoS 0 and 1, bad payloads counted and logged, a broker restart
(the driver reconnects, resubscribes and readings flow again), a password from a file that is
never logged, and TLS with a CA, a client certificate and hostname verification."""
import os
import signal
import socket
import subprocess
import time
import unittest

from pn_testlib import GatewayTestCase, free_port


class Broker:
    def __init__(self, directory, extra="", listener_host="127.0.0.1"):
        self.port = free_port()
        self.conf = os.path.join(directory, f"mosquitto-{self.port}.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} {listener_host}\n{extra}\n")
        self.log = os.path.join(directory, f"mosquitto-{self.port}.log")
        self.proc = None

    def start(self):
        self.log_file = open(self.log, "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=self.log_file)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited: " + open(self.log).read())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        if self.proc:
            self.log_file.close()
        self.proc = None

    def publish(self, topic, payload, qos=1, extra=()):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", str(qos),
                        "-t", topic, "-m", payload, *extra], check=True, timeout=10,
                       capture_output=True)


class MqttTestCase(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.brokers = []
        self.gw = None

    def tearDown(self):
        if self.gw and self.gw.poll() is None:
            self.gw.kill()
            self.gw.communicate()
        for b in self.brokers:
            b.stop()
        super().tearDown()

    def broker(self, **kw):
        # Started as root, mosquitto drops to its own user: it must be able to read our files.
        os.chmod(self.dir, 0o755)
        for name in os.listdir(self.dir):
            os.chmod(os.path.join(self.dir, name), 0o644)
        b = Broker(self.dir, **kw)
        self.brokers.append(b)
        b.start()
        return b

    def readings(self, series=None):
        return [r for r in self.read_out() if r.get("type") == "reading" and
                (series is None or r["series"] == series)]

    def stop_gateway(self):
        self.gw.send_signal(signal.SIGTERM)
        _, err = self.gw.communicate(timeout=20)
        self.assertEqual(self.gw.returncode, 0, err)
        return err

    def publish_until(self, broker, topic, make_payload, done, what, timeout=30.0):
        """Publishes make_payload(i) every 200 ms until done() (the driver may still be
        connecting or resubscribing, and QoS 0 messages sent before that are gone)."""
        end = time.monotonic() + timeout
        i = 0
        while time.monotonic() < end:
            broker.publish(topic, make_payload(i))
            i += 1
            deadline = time.monotonic() + 0.2
            while time.monotonic() < deadline:
                if done():
                    return
                time.sleep(0.02)
        self.fail(f"timed out after {timeout} s waiting for {what}")


class Subscribe(MqttTestCase):
    def test_plain_and_json_at_qos_0_and_1_bad_payloads_and_a_broker_restart(self):
        broker = self.broker(extra="allow_anonymous true")
        cfg = self.config(f"""
[drivers.plain]
type = "mqtt"
broker = "tcp://127.0.0.1:{broker.port}"
topics = ["plant/{{device}}/{{series}}"]
qos = 1
retry_initial_ms = 100
retry_max_ms = 500
log_interval_ms = 500

[drivers.json]
type = "mqtt"
broker = "tcp://127.0.0.1:{broker.port}"
topics = ["sensors/{{device}}/state"]
qos = 0
payload = "json"
json_fields = ["temperature=temp", "humidity=/env/rh"]
json_time = "ts"
retry_initial_ms = 100
retry_max_ms = 500

[upstreams.out]
type = "file"
path = "{self.out}"
""")
        self.gw = self.start_gateway(cfg)
        # QoS 1 messages published before the subscription exists are not ours: publish until
        # the first arrives, then the rest.
        self.publish_until(broker, "plant/pump-1/temperature", lambda i: "20.0",
                           lambda: self.readings("temperature"), "the first plain reading")
        for v in ("21.5", "not-a-number", "22.5", "{}"):
            broker.publish("plant/pump-1/temperature", v, qos=1)
        broker.publish("plant/pump-2/pressure", "5.25", qos=1)
        self.wait_for(lambda: any(r["value"] == 22.5 for r in self.readings("temperature")) and
                      self.readings("pressure"), what="plain readings")
        temps = [r["value"] for r in self.readings("temperature")]
        self.assertEqual([v for v in temps if v != 20.0], [21.5, 22.5])
        self.assertEqual([(r["device"], r["value"]) for r in self.readings("pressure")],
                         [("pump-2", 5.25)])

        self.publish_until(broker, "sensors/room-1/state",
                           lambda i: '{"temp": 21.0, "env": {"rh": 40.5}, "ts": 1767225600000}',
                           lambda: self.readings("humidity"), "JSON readings at QoS 0")
        hum = self.readings("humidity")[0]
        self.assertEqual((hum["device"], hum["value"], hum["ts_ns"]),
                         ("room-1", 40.5, 1767225600000000000))

        # Broker restart: the driver notices, reconnects with backoff and subscribes again.
        broker.stop()
        time.sleep(1.0)
        self.assertIsNone(self.gw.poll())
        broker.start()
        self.publish_until(broker, "plant/pump-3/temperature", lambda i: str(100 + i),
                           lambda: any(r["device"] == "pump-3" for r in self.readings()),
                           "a plain reading after the broker restart")
        self.publish_until(broker, "sensors/room-9/state", lambda i: '{"temp": 5}',
                           lambda: any(r["device"] == "room-9" for r in self.readings()),
                           "a JSON reading after the broker restart")
        err = self.stop_gateway()
        self.assertIn("bad payload", err)  # logged ...
        self.assertIn("not a number", err)
        self.assertIn("lost the connection", err)
        self.assertGreaterEqual(err.count("subscribed to plant/+/+"), 2, err)


class Password(MqttTestCase):
    def test_the_password_from_a_file_authenticates_and_is_never_logged(self):
        secret = "s3cr3t-Pa55word"
        passwd = os.path.join(self.dir, "passwd")
        subprocess.run(["mosquitto_passwd", "-b", "-c", passwd, "gw", secret], check=True,
                       capture_output=True)
        broker = self.broker(extra=f"allow_anonymous false\npassword_file {passwd}")
        good = self.write("good.pw", secret + "\n")
        bad = self.write("bad.pw", "wrong-" + secret + "\n")
        cfg = self.config(f"""
[drivers.good]
type = "mqtt"
broker = "tcp://127.0.0.1:{broker.port}"
topics = ["a/{{device}}/{{series}}"]
username = "gw"
password_file = "{good}"

[drivers.bad]
type = "mqtt"
broker = "tcp://127.0.0.1:{broker.port}"
topics = ["b/{{device}}/{{series}}"]
username = "gw"
password_file = "{bad}"
retry_initial_ms = 100
retry_max_ms = 200

[upstreams.out]
type = "file"
path = "{self.out}"
""")
        self.gw = self.start_gateway(cfg)
        end = time.monotonic() + 30
        while not self.readings() and time.monotonic() < end:
            subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-h", "127.0.0.1", "-u", "gw",
                            "-P", secret, "-t", "a/d1/x", "-m", "1.5", "-q", "1"], check=True,
                           capture_output=True, timeout=10)
            time.sleep(0.2)
        self.assertTrue(self.readings(), "no reading through the authenticated driver")
        err = self.stop_gateway()
        self.assertIn("driver bad", err)        # the wrong password was refused and logged ...
        self.assertNotIn(secret, err)           # ... without the password
        self.assertNotIn("s3cr3t", err)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Tls(MqttTestCase):
    def make_pki(self):
        d = self.dir
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
                "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
        for name, ext in (("server", "subjectAltName=DNS:localhost"),
                          ("client", "extendedKeyUsage=clientAuth")):
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                    "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
            self.write(f"{name}.ext", ext + "\n")
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                    "-out", f"{name}.pem", cwd=d)
        return {k: os.path.join(d, k) for k in
                ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}

    def test_tls_with_client_certificate_and_hostname_verification(self):
        pki = self.make_pki()
        broker = self.broker(extra=f"""allow_anonymous true
cafile {pki['ca.pem']}
certfile {pki['server.pem']}
keyfile {pki['server.key']}
require_certificate true
""")
        common = f"""ca_file = "{pki['ca.pem']}"
cert_file = "{pki['client.pem']}"
key_file = "{pki['client.key']}"
retry_initial_ms = 200
retry_max_ms = 400
"""
        # "good" connects by the name in the certificate; "wrong_host" by an address the
        # certificate does not name, so hostname verification (on by default) must refuse it;
        # "no_verify" turns verification off and gets through.
        cfg = self.config(f"""
[drivers.good]
type = "mqtt"
broker = "ssl://localhost:{broker.port}"
topics = ["good/{{device}}/{{series}}"]
{common}
[drivers.wrong_host]
type = "mqtt"
broker = "ssl://127.0.0.1:{broker.port}"
topics = ["good/{{device}}/{{series}}"]
device_name = "wrong"
{common}
[drivers.no_verify]
type = "mqtt"
broker = "ssl://127.0.0.1:{broker.port}"
topics = ["nv/{{device}}/{{series}}"]
tls_verify_hostname = false
{common}
[upstreams.out]
type = "file"
path = "{self.out}"
""")
        self.gw = self.start_gateway(cfg)
        tls = ["--cafile", pki["ca.pem"], "--cert", pki["client.pem"], "--key", pki["client.key"]]

        def publish(topic):
            subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(broker.port), "-q", "1",
                            "-t", topic, "-m", "7", *tls], check=True, capture_output=True,
                           timeout=10)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            publish("good/dev-a/level")
            publish("nv/dev-b/level")
            devices = {r["device"] for r in self.readings()}
            if {"dev-a", "dev-b"} <= devices:
                break
            time.sleep(0.3)
        devices = [r["device"] for r in self.readings()]
        self.assertIn("dev-a", devices)
        self.assertIn("dev-b", devices)
        # wrong_host subscribes to the same topic as good: had it connected, each good/ message
        # would appear twice.
        self.assertEqual(devices.count("dev-a"), len(set(
            r["ts_ns"] for r in self.readings() if r["device"] == "dev-a")))
        err = self.stop_gateway()
        if os.environ.get("PN_SHOW_LOG"):
            print(err)
        self.assertIn("driver wrong_host", err)
        self.assertNotIn("driver wrong_host: connected", err)
        self.assertIn("driver good: connected", err)


if __name__ == "__main__":
    unittest.main()
