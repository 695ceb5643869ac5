"""Mutual TLS for the MQTT upstream: the real processnow binary publishes to a real mosquitto
that listens on a free loopback port with `require_certificate true`.

The certificates come from Debian's openssl CLI, made once per run in a temporary directory: a
throw-away CA, the broker's certificate (127.0.0.1 and localhost), a valid client certificate,
an expired one (`openssl ca -startdate/-enddate`: openssl 3.0 has no `x509 -not_before`), and
one signed by an unrelated CA. With the valid certificate every record arrives (counted by a
mosquitto_sub that itself connects over TLS with a client certificate). With the expired one,
the wrong-CA one and none at all, the daemon keeps running and retrying, keeps every record in
its buffer (`processnow buffer --json`), says why in its log, and delivers everything once it is
restarted with the valid certificate."""
import getpass
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))

from pn_testlib import BINARY, GatewayTestCase  # noqa: E402
from mqtt_broker import Broker, Subscriber, have_mosquitto  # noqa: E402

SIM = """
[drivers.plant]
type = "sim"
devices = 1
realtime = false
max_samples = {samples}
"""

CA_CONF = """[ca]
default_ca = test
[test]
dir = .
database = DB/index.txt
serial = DB/serial
new_certs_dir = DB
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[client]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
[server]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
"""


def have_openssl():
    return shutil.which("openssl") is not None


def make_pki(d):
    """ca.pem, server.{pem,key}, client.{pem,key} (valid), expired.{pem,key} (Jan 2020),
    rogue.{pem,key} (signed by other-ca.pem). Unencrypted EC P-256 keys."""
    os.makedirs(d, exist_ok=True)
    def ossl(*args):
        p = subprocess.run(["openssl", *args], cwd=d, timeout=60, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)}: {p.stderr}")

    def key(name):
        ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
             f"{name}.key")

    for ca, cn in (("ca", "processnow mTLS test CA"), ("other-ca", "unrelated test CA")):
        key(ca)
        ossl("req", "-x509", "-new", "-key", f"{ca}.key", "-days", "2", "-subj", f"/CN={cn}",
             "-out", f"{ca}.pem")
        os.makedirs(os.path.join(d, f"db-{ca}"))
        open(os.path.join(d, f"db-{ca}", "index.txt"), "w").close()
        with open(os.path.join(d, f"db-{ca}", "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(d, f"{ca}.cnf"), "w") as f:
            f.write(CA_CONF.replace("DB", f"db-{ca}"))

    def leaf(name, ca, ext, dates):
        key(name)
        ossl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN=pn-{name}", "-out",
             f"{name}.csr")
        ossl("ca", "-batch", "-notext", "-config", f"{ca}.cnf", "-cert", f"{ca}.pem", "-keyfile",
             f"{ca}.key", "-extensions", ext, "-in", f"{name}.csr", "-out", f"{name}.pem", *dates)

    leaf("server", "ca", "server", ["-days", "2"])
    leaf("client", "ca", "client", ["-days", "2"])
    leaf("expired", "ca", "client", ["-startdate", "20200101000000Z", "-enddate",
                                     "20200201000000Z"])
    leaf("rogue", "other-ca", "client", ["-days", "2"])
    return d


class MtlsBroker(Broker):
    """mosquitto with one TLS listener that requires a client certificate signed by ca.pem."""

    def __init__(self, directory, pki):
        super().__init__(directory, tls=(f"{pki}/ca.pem", f"{pki}/server.pem",
                                         f"{pki}/server.key"))
        self.port = self.tls_port  # the only listener: Broker.start() waits for it

    def _write_conf(self):
        ca, cert, key = self.tls
        lines = [f"user {getpass.getuser()}", "per_listener_settings false",
                 "allow_anonymous true", f"listener {self.tls_port} 127.0.0.1",
                 f"cafile {ca}", f"certfile {cert}", f"keyfile {key}",
                 "require_certificate true", "persistence false", "max_queued_messages 0",
                 "log_type all"]
        path = os.path.join(self.dir, "mosquitto.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path


class TlsSubscriber(Subscriber):
    """mosquitto_sub over TLS with the valid client certificate."""

    def __init__(self, broker, pki, topic="it-gw/#"):
        super().__init__(broker, topic)
        self.tls_args = ["--cafile", f"{pki}/ca.pem", "--cert", f"{pki}/client.pem", "--key",
                         f"{pki}/client.key"]

    def start(self, probe_topic="pn-probe/ready", timeout=15.0):
        common = ["-h", "127.0.0.1", "-p", str(self.broker.tls_port), "-q", "1", *self.tls_args]
        self.proc = subprocess.Popen(["mosquitto_sub", *common, "-c", "-i", self.client_id,
                                      "-t", self.topic, "-t", probe_topic, "-F", "%r %t %x"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            subprocess.run(["mosquitto_pub", *common, "-t", probe_topic, "-m", "probe"],
                           timeout=10, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                if any(t == probe_topic for t, _, _ in self.messages()):
                    return self
                time.sleep(0.02)
        raise RuntimeError("mosquitto_sub did not subscribe in time")


class StderrReader:
    """Collects a process's stderr lines on a thread (so the pipe never fills)."""

    def __init__(self, proc):
        self._lines = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc):
        for line in proc.stderr:
            with self._lock:
                self._lines.append(line)

    def text(self):
        with self._lock:
            return "".join(self._lines)

    def join(self):
        self._thread.join(timeout=10)


@unittest.skipUnless(have_mosquitto() and have_openssl(), "mosquitto and openssl are needed")
class MutualTls(GatewayTestCase):
    SAMPLES = 20  # one sim pump: 5 series -> 100 records

    @classmethod
    def setUpClass(cls):
        cls.pki = make_pki(tempfile.mkdtemp(prefix="pn-it-pki-"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.peers = []
        self.procs = []
        self.broker = MtlsBroker(os.path.join(self.dir, "broker"), self.pki).start()
        self.peers.append(self.broker)
        self.sub = TlsSubscriber(self.broker, self.pki).start()
        self.peers.append(self.sub)

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
        for peer in reversed(self.peers):
            peer.stop()
        super().tearDown()

    def cfg(self, cert=None, extra=""):
        tls = f'ca_file = "{self.pki}/ca.pem"\n'
        if cert:
            tls += f'cert_file = "{self.pki}/{cert}.pem"\nkey_file = "{self.pki}/{cert}.key"\n'
        return self.config(
            "shutdown_timeout_ms = 2000\n" + SIM.format(samples=self.SAMPLES) +
            f'\n[upstreams.scada]\ntype = "mqtt"\n'
            f'servers = ["ssl://127.0.0.1:{self.broker.tls_port}"]\n'
            f"retry_initial_ms = 200\nretry_max_ms = 500\nconnect_timeout_ms = 2000\n" + tls +
            extra)

    def data(self):
        return [json.loads(m[2]) for m in self.sub.messages("it-gw/")
                if not m[0].endswith("/status")]

    def buffer(self, cfg):
        got = subprocess.run([BINARY, "buffer", "--config", cfg, "--json"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(got.returncode, 0, got.stderr)
        return json.loads(got.stdout)

    def test_valid_client_certificate_delivers_every_record(self):
        cfg = self.cfg("client")
        proc = self.run_gateway(cfg, "--exit-when-drained", timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(f"connected to ssl://127.0.0.1:{self.broker.tls_port}", proc.stderr)
        total = 5 * self.SAMPLES
        self.wait_for(lambda: len(self.data()) >= total, timeout=30, what=f"{total} records")
        self.assertEqual(sorted(r["seq"] for r in self.data()), list(range(1, total + 1)))
        self.assertEqual(self.store_rows(), 0, "everything was acknowledged")

    def refused(self, cert, expected):
        """Runs the daemon with `cert` (None: no client certificate) until it has failed to
        connect at least twice with `expected` in its log, checks that it still runs and holds
        every record, stops it and returns its log; then a run with the valid certificate on
        the same data_dir delivers every record."""
        total = 5 * self.SAMPLES
        cfg = self.cfg(cert)
        proc = self.start_gateway(cfg)
        self.procs.append(proc)
        err = StderrReader(proc)
        # Two refused attempts: the first at start-up, the next from the forwarder's retries.
        end = time.monotonic() + 30
        while err.text().count(expected) < 2:
            if time.monotonic() > end or proc.poll() is not None:
                self.fail(f"no two attempts refused with {expected!r}; log:\n{err.text()}")
            time.sleep(0.05)
        self.assertIsNone(proc.poll(), "the daemon keeps running")
        rep = self.buffer(cfg)
        up = {u["name"]: u for u in rep["upstreams"]}["scada"]
        self.assertEqual(rep["records"], total, "every record is still in the buffer")
        self.assertEqual(up["cursor"], 0, "nothing was acknowledged")
        self.assertEqual(up["depth"], total)
        self.assertEqual(rep["dropped"]["total"], 0)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        err.join()
        proc.stdout.close()
        proc.stderr.close()
        log = err.text()
        self.assertNotIn("connected to ssl://", log)
        self.assertIn("not yet forwarded, kept in the store for the next start: scada "
                      f"({total} records)", log)
        self.assertEqual(self.data(), [])
        # The buffer survived: with the right certificate the same data_dir delivers it all,
        # followed by the 100 records the sim makes in this second run.
        good = self.run_gateway(self.cfg("client"), "--exit-when-drained", timeout=120)
        self.assertEqual(good.returncode, 0, good.stderr)
        self.wait_for(lambda: len(self.data()) >= 2 * total, timeout=30,
                      what=f"{2 * total} records")
        self.assertEqual(sorted(r["seq"] for r in self.data()), list(range(1, 2 * total + 1)))
        return log

    def test_expired_client_certificate_is_refused_and_nothing_is_lost(self):
        log = self.refused("expired", "the broker refused the client certificate: it has expired")
        self.assertIn("sslv3 alert certificate expired", log)  # the broker's TLS alert
        # What the certificate is, from the file, and that it expired (also said at start-up).
        self.assertIn(f"cert_file {self.pki}/expired.pem: subject CN=pn-expired, issued by "
                      "CN=processnow mTLS test CA, valid from 2020-01-01 00:00:00 UTC, not valid "
                      "after 2020-02-01 00:00:00 UTC: EXPIRED", log)
        self.assertRegex(log, r"error upstream scada: cert_file .*EXPIRED: brokers that check "
                              r"client certificates will refuse it")

    def test_client_certificate_from_another_ca_is_refused_and_nothing_is_lost(self):
        log = self.refused("rogue", "the broker refused the client certificate: it does not "
                                    "trust the CA that issued it")
        self.assertIn("tlsv1 alert unknown ca", log)
        self.assertIn("subject CN=pn-rogue, issued by CN=unrelated test CA", log)
        self.assertNotIn("EXPIRED", log)

    def test_no_client_certificate_is_refused_and_nothing_is_lost(self):
        log = self.refused(None, "the broker requires a client certificate: set cert_file and "
                                 "key_file")
        self.assertIn("alert certificate required", log)


class AlpnServer:
    """A TLS server on a free loopback port (Python's ssl, the test PKI's server certificate)
    that offers the ALPN protocol `proto` and records, per handshake, what the client and it
    agreed on (None: the client offered nothing it knows). It speaks no MQTT: the gateway's
    connect then fails and is retried, which is all the test needs."""

    def __init__(self, pki, proto):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(f"{pki}/server.pem", f"{pki}/server.key")
        self.ctx.set_alpn_protocols([proto])
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.selected = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the 0.2 s accept timeout: look at `stopping` again
                continue
            try:
                conn.settimeout(10)
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    self.selected.append(tls.selected_alpn_protocol())
            except (OSError, ssl.SSLError):
                conn.close()

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=10)
        self.sock.close()


@unittest.skipUnless(have_openssl(), "openssl is needed")
class Alpn(GatewayTestCase):
    """alpn = ["x-amzn-mqtt-ca"] (AWS IoT Core on port 443) is offered in the TLS handshake."""

    def handshakes(self, alpn_line):
        pki = make_pki(os.path.join(self.dir, "pki"))
        server = AlpnServer(pki, "x-amzn-mqtt-ca")
        self.addCleanup(server.stop)
        cfg = self.config(
            "shutdown_timeout_ms = 1000\n" + SIM.format(samples=5) +
            f'\n[upstreams.cloud]\ntype = "mqtt"\nservers = ["ssl://127.0.0.1:{server.port}"]\n'
            f'ca_file = "{pki}/ca.pem"\nretry_initial_ms = 100\nretry_max_ms = 200\n'
            f"connect_timeout_ms = 2000\n{alpn_line}")
        proc = self.start_gateway(cfg)
        self.wait_for(lambda: len(server.selected) >= 2, timeout=30, what="two TLS handshakes")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        return server.selected

    def test_alpn_offers_x_amzn_mqtt_ca_in_the_handshake(self):
        self.assertEqual(set(self.handshakes('alpn = ["x-amzn-mqtt-ca"]\n')), {"x-amzn-mqtt-ca"})

    def test_without_alpn_nothing_is_offered(self):
        self.assertEqual(set(self.handshakes("")), {None})

    def test_check_refuses_alpn_without_a_tls_server(self):
        cfg = self.config('[drivers.plant]\ntype = "sim"\n\n[upstreams.cloud]\ntype = "mqtt"\n'
                          'servers = ["tcp://127.0.0.1:1883"]\nalpn = ["x-amzn-mqtt-ca"]\n')
        got = subprocess.run([BINARY, "check", "--config", cfg], capture_output=True, text=True,
                             timeout=30)
        self.assertNotEqual(got.returncode, 0)
        self.assertIn("alpn: ALPN is part of TLS, but no server URI uses TLS",
                      got.stdout + got.stderr)


@unittest.skipUnless(have_openssl(), "openssl is needed")
class Check(GatewayTestCase):
    """`processnow check`: the client certificate file and the AWS IoT Core limits."""

    def check(self, upstream):
        cfg = self.config('[drivers.plant]\ntype = "sim"\n\n[upstreams.cloud]\ntype = "mqtt"\n' +
                          upstream)
        return subprocess.run([BINARY, "check", "--config", cfg], capture_output=True, text=True,
                              timeout=30)

    def test_a_cert_file_that_holds_no_certificate_is_an_error(self):
        key = self.write("client.key", "not a certificate\n")
        got = self.check(f'servers = ["ssl://127.0.0.1:8883"]\ncert_file = "{key}"\n')
        self.assertNotEqual(got.returncode, 0)
        self.assertIn("holds no PEM certificate", got.stdout + got.stderr)

    def test_an_expired_certificate_is_not_a_config_error(self):
        # A certificate that expires must not stop the gateway from starting and buffering.
        pki = make_pki(os.path.join(self.dir, "pki"))
        got = self.check(f'servers = ["ssl://127.0.0.1:8883"]\ncert_file = "{pki}/expired.pem"\n'
                         f'key_file = "{pki}/expired.key"\n')
        self.assertEqual(got.returncode, 0, got.stdout + got.stderr)

    AWS = 'servers = ["ssl://a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com:8883"]\n'

    def test_aws_iot_core_profile_passes(self):
        got = self.check(self.AWS + 'client_id = "pump-house-7"\nqos = 1\nmax_inflight = 50\n'
                         'topic = "dt/plant/{gateway}/{device}/{series}"\n')
        self.assertEqual(got.returncode, 0, got.stdout + got.stderr)

    def test_aws_iot_core_limits_are_checked(self):
        got = self.check(self.AWS + "qos = 2\nmax_inflight = 200\n" + f'client_id = "{"c" * 129}"\n'
                         'topic = "a/b/c/d/e/f/g/{device}/{series}"\n')
        out = got.stdout + got.stderr
        self.assertNotEqual(got.returncode, 0, out)
        self.assertIn("AWS IoT Core supports QoS 0 and 1 only", out)
        self.assertIn("AWS IoT Core allows at most 100 unacknowledged messages", out)
        self.assertIn("AWS IoT Core allows at most 7 '/' in a topic", out)
        self.assertIn("client_id", out)
        # The same settings for any other broker are fine.
        other = self.check('servers = ["ssl://broker.plant.example:8883"]\nqos = 2\n'
                           'max_inflight = 200\ntopic = "a/b/c/d/e/f/g/{device}/{series}"\n')
        self.assertEqual(other.returncode, 0, other.stdout + other.stderr)


if __name__ == "__main__":
    unittest.main()
