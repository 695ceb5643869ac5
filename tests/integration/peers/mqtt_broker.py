"""Test peers for the MQTT forwarder: a mosquitto broker on a free loopback port (generated
mosquitto.conf) and a mosquitto_sub subscriber that records every message it receives."""
import getpass
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

PEERS_DIR = os.path.dirname(os.path.abspath(__file__))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def have_mosquitto():
    return os.access(MOSQUITTO, os.X_OK) and shutil.which("mosquitto_sub") is not None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def make_test_ca(directory):
    """Runs mqtt_test_ca.sh: ca.pem, server.{pem,key} (127.0.0.1/localhost), wrong.{pem,key}."""
    subprocess.run(["sh", os.path.join(PEERS_DIR, "mqtt_test_ca.sh"), directory], check=True,
                   timeout=60)
    return directory


class Broker:
    """mosquitto on 127.0.0.1. `port` is plain MQTT; with tls=(ca, cert, key) a second listener
    `tls_port` speaks TLS. persistence=True keeps sessions and queued messages across a
    restart (saved when the broker is stopped with SIGTERM). tcp_nodelay=True sets mosquitto's
    set_tcp_nodelay (off by default: then its small PUBACKs can wait ~40 ms for our delayed
    ACK once a burst of publishes ends)."""

    def __init__(self, directory, tls=None, persistence=False, tcp_nodelay=False):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        self.tls_port = free_port() if tls else None
        self.persistence = persistence
        self.tcp_nodelay = tcp_nodelay
        self.proc = None
        self.log_path = os.path.join(directory, "mosquitto.log")

    @property
    def uri(self):
        return f"tcp://127.0.0.1:{self.port}"

    def _write_conf(self):
        # As root mosquitto would switch to the "mosquitto" user, who cannot read our temp dir.
        lines = [f"user {getpass.getuser()}", f"listener {self.port} 127.0.0.1",
                 "allow_anonymous true"]
        if self.tls:
            ca, cert, key = self.tls
            lines += [f"listener {self.tls_port} 127.0.0.1", f"cafile {ca}", f"certfile {cert}",
                      f"keyfile {key}"]
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/",
                      "autosave_interval 0"]
        else:
            lines += ["persistence false"]
        lines += ["max_queued_messages 0", "max_inflight_messages 0"]
        if self.tcp_nodelay:
            lines += ["set_tcp_nodelay true"]
        path = os.path.join(self.dir, "mosquitto.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, timeout=15.0):
        conf = self._write_conf()
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=log, stderr=log)
        log.close()
        end = time.monotonic() + timeout
        ports = [self.port] + ([self.tls_port] if self.tls_port else [])
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited: " + self.log())
            if all(can_connect(p) for p in ports):
                return self
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen in time: " + self.log())

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-4000:]
        except OSError:
            return ""


class Subscriber:
    """mosquitto_sub on `topic` at QoS 1 with a persistent session (reconnects and resubscribes
    by itself). messages() -> [(topic, retained, payload_bytes)] in arrival order."""

    def __init__(self, broker, topic="#", client_id=None):
        self.broker = broker
        self.topic = topic
        self.client_id = client_id or f"pn-it-sub-{os.getpid()}-{id(self)}"
        self._lock = threading.Lock()
        self._messages = []
        self.proc = None
        self._thread = None

    def start(self, probe_topic="pn-probe/ready", timeout=15.0):
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-q", "1",
               "-c", "-i", self.client_id, "-t", self.topic, "-t", probe_topic,
               "-F", "%r %t %x"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        # Subscribed once a probe published after the start comes back.
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port),
                            "-q", "1", "-t", probe_topic, "-m", "probe"], timeout=10,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                if any(t == probe_topic for t, _, _ in self.messages()):
                    return self
                time.sleep(0.02)
        raise RuntimeError("mosquitto_sub did not subscribe in time")

    def _read(self):
        for line in self.proc.stdout:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) < 2:
                continue
            payload = bytes.fromhex(parts[2]) if len(parts) == 3 else b""
            with self._lock:
                self._messages.append((parts[1], parts[0] == "1", payload))

    def messages(self, topic_prefix=None):
        with self._lock:
            msgs = list(self._messages)
        if topic_prefix is not None:
            msgs = [m for m in msgs if m[0].startswith(topic_prefix)]
        return msgs

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._thread:
            self._thread.join(timeout=5)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
