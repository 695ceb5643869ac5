#!/usr/bin/env python3
"""Memory of the running daemon (issue 15, item 4), idle and under load, for the common configs,
for one binary or a before/after pair run interleaved in the same session:

  modbus-mqtt   Modbus TCP (the real pn_modbus_server) -> MQTT upstream (mosquitto on a free
                loopback port). Idle: 10 tags polled every second. Load: 1000 tags on 10 units
                polled every 100 ms (10,000 readings/s) and 50 threshold rules.
  modbus-file   the idle Modbus config forwarding to a file: no MQTT or Kafka peer at all (what
                Paho and OpenSSL, still linked, cost a gateway that does not use them).
  serial-kafka  (--kafka-mock) a serial line (a pty this script writes to) -> Kafka upstream
                (librdkafka's mock cluster, the kafka_mock_cluster program of the tests). Idle: one
                line a second. Load: 2,000 lines/s (4,000 readings/s).

Each run starts the daemon, waits for READY=1 (sd_notify), lets it settle (--settle-s) and, for
load, keeps the load on for --load-s; then reads VmRSS and VmHWM (peak) from /proc/PID/status
and Pss and Anonymous from /proc/PID/smaps_rollup, checks that records reached the upstream,
and stops the daemon. Medians over --runs runs; with --before, the two binaries alternate run by
run so that a noisy machine treats them alike. Also lists which of librdkafka, Paho and
libcpp-httplib each binary has mapped (/proc/PID/maps).

  bench_memory.py --binary build/release/gateway/service/processnow \\
      --before build/before/gateway/service/processnow \\
      --modbus-server build/release/tests/integration/peers/modbus_server/pn_modbus_server \\
      --kafka-mock build/release/tests/unit/upstream/kafka/kafka_mock_cluster

Bounded: about (settle + load + 2) s per run, config, phase and binary.
"""
import argparse
import os
import pty
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "peers"))
from mqtt_broker import Broker  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import benchlib  # noqa: E402

HEAD = """
[gateway]
id = "bench"
data_dir = "{dir}/data"
log_level = "warn"
"""

MODBUS = """
[drivers.plc]
type = "modbus"
host = "127.0.0.1"
port = {port}
poll_interval_ms = {poll_ms}
"""

TAG = """[[drivers.plc.tag]]
name = "tag{i}"
unit_id = {unit}
table = "holding"
address = {address}
type = "uint16"
"""

RULE = """[[rule]]
name = "high_{i}"
devices = ["plc-*"]
series = ["tag{i}"]
[rule.detector]
type = "threshold"
above = 100000.0
"""

MQTT_UP = """
[upstreams.scada]
type = "mqtt"
servers = ["{broker}"]
"""

SERIAL = """
[drivers.probe]
type = "serial"
device = "{device}"
baud_rate = 115200
device_name = "probe-1"
parser = "regex"
pattern = '^T=(?<temperature>-?[0-9.]+)C RH=(?<humidity>[0-9.]+)%$'
max_line_bytes = 256
"""

KAFKA_UP = """
[upstreams.lake]
type = "kafka"
bootstrap_servers = [{servers}]
topic = "bench.readings"
event_topic = "bench.events"
"""

LIBS = {"librdkafka": "librdkafka", "paho": "libpaho-mqtt", "httplib": "libcpp-httplib"}
# Resident pages of these libraries' mappings (file pages and their private copies), summed by
# group from /proc/PID/smaps: what mapping each costs this process.
GROUPS = {"librdkafka + libsasl2 + module": ("librdkafka", "libsasl2", "processnow-kafka"),
          "Paho (C and C++)": ("libpaho-mqtt",),
          "OpenSSL (libssl, libcrypto)": ("libssl", "libcrypto")}


def status_kib(pid):
    """VmRSS, VmHWM in KiB (/proc/PID/status); Pss, Anonymous in KiB (smaps_rollup)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in ("Pss:", "Anonymous:"):
                out[parts[0][:-1]] = int(parts[1])
    return out


def group_rss_kib(pid):
    out = dict.fromkeys(GROUPS, 0)
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                name = os.path.basename(parts[5]) if len(parts) > 5 else ""
            elif parts and parts[0] == "Rss:" and name:
                for g, pats in GROUPS.items():
                    if any(name.startswith(p) for p in pats):
                        out[g] += int(parts[1])
    return out


def mapped_libs(pid):
    with open(f"/proc/{pid}/maps") as f:
        files = {line.split()[-1] for line in f if "/" in line}
    return sorted(k for k, pat in LIBS.items() if any(pat in os.path.basename(m) for m in files))


class MockKafka:
    """kafka_mock_cluster as a child: its bootstrap servers; counts the messages it reads."""

    def __init__(self, program):
        self.proc = subprocess.Popen([program, "--brokers", "1", "--partitions", "4",
                                      "bench.readings", "bench.events"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line.startswith("BOOTSTRAP "):
            self.proc.kill()
            raise RuntimeError(f"kafka_mock_cluster said {line!r}")
        self.servers = line.split()[1].split(",")
        self.count = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.count += 1

    def stop(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


class SerialFeeder:
    """Writes probe lines to a pty master at `rate` lines/s on a thread, until stopped."""

    def __init__(self, master, rate):
        self.master, self.rate = master, rate
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        period = 1.0 / self.rate
        batch = max(1, int(self.rate / 100))  # write in 10 ms chunks
        n = 0
        t = time.monotonic()
        while not self.stop_flag.is_set():
            data = "".join(f"T={20 + (n + i) % 50 / 10:.2f}C RH={40 + (n + i) % 7:.1f}%\n"
                           for i in range(batch)).encode()
            try:
                os.write(self.master, data)
            except BlockingIOError:
                pass  # the daemon is behind: this chunk is dropped, like a real line would be
            except OSError:
                return
            n += batch
            t += period * batch
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(timeout=5)


def run_daemon(binary, config, settle_s, load_s, delivered):
    """Starts binary on config; after READY=1 + settle_s + load_s returns (memory, libs, records
    delivered meanwhile)."""
    # A fresh store every run: no backlog from the previous one.
    shutil.rmtree(os.path.join(os.path.dirname(config), "data"), ignore_errors=True)
    d = tempfile.mkdtemp(prefix="pn-bench-mem-")
    path = os.path.join(d, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    proc = subprocess.Popen([binary, "run", "--config", config], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while "READY=1" not in sock.recv(4096).decode().split("\n"):
            pass
        n0 = delivered()
        time.sleep(settle_s + load_s)  # a benchmark's measuring time, not a test's wait
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        mem = status_kib(proc.pid)
        mem.update(group_rss_kib(proc.pid))
        libs = mapped_libs(proc.pid)
        n = delivered() - n0
    finally:
        benchlib.stop_process(proc)
        sock.close()
        shutil.rmtree(d, ignore_errors=True)
    if n <= 0:
        raise RuntimeError(f"no records reached the upstream with {config}: not running")
    return mem, libs, n


def mib(kib):
    return f"{kib / 1024:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True, help="the processnow binary (\"after\")")
    ap.add_argument("--before", help="a second binary to compare with, run alternately")
    ap.add_argument("--modbus-server", required=True,
                    help="pn_modbus_server (tests/integration/peers/modbus_server)")
    ap.add_argument("--kafka-mock", help="kafka_mock_cluster (tests/unit/upstream/kafka)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle-s", type=float, default=3.0)
    ap.add_argument("--load-s", type=float, default=10.0)
    a = ap.parse_args()
    binaries = [("after", a.binary)] if not a.before else [("before", a.before),
                                                           ("after", a.binary)]
    work = tempfile.mkdtemp(prefix="pn-bench-memory-")
    server = broker = kafka = None
    master = slave = None
    try:
        server = subprocess.Popen([a.modbus_server, "--tcp", "0", "--no-holes"],
                                  stdout=subprocess.PIPE, text=True)
        line = server.stdout.readline().split()
        assert line and line[0] == "READY", line
        port = int(line[1])
        broker = Broker(os.path.join(work, "broker")).start()
        # Messages the broker took: count what a subscriber on "#" sees.
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(broker.port), "-t", "#", "-q", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        mqtt_count = [0]

        def drain_sub():
            for _ in sub.stdout:
                mqtt_count[0] += 1
        threading.Thread(target=drain_sub, daemon=True).start()

        # (name, phase, config, records-delivered counter, load starter)
        cases = []

        def modbus_cfg(name, tags, poll_ms, rules, upstream=None):
            d = os.path.join(work, name)
            os.makedirs(d)
            body = HEAD.format(dir=d)
            if rules:
                body += 'rules = ["rules.toml"]\n'
                with open(os.path.join(d, "rules.toml"), "w") as f:
                    f.write("".join(RULE.format(i=i) for i in range(rules)))
            body += MODBUS.format(port=port, poll_ms=poll_ms)
            for i in range(tags):
                body += TAG.format(i=i, unit=1 + i // 100, address=1000 + 2 * (i % 100))
            body += upstream or MQTT_UP.format(broker=broker.uri)
            with open(os.path.join(d, "gateway.toml"), "w") as f:
                f.write(body)
            return os.path.join(d, "gateway.toml")

        cases.append(("Modbus -> MQTT", "idle: 10 tags / 1 s", modbus_cfg("mm-idle", 10, 1000, 0),
                      lambda: mqtt_count[0], None))
        cases.append(("Modbus -> MQTT", "load: 1000 tags / 100 ms, 50 rules",
                      modbus_cfg("mm-load", 1000, 100, 50), lambda: mqtt_count[0], None))
        out = os.path.join(work, "mf-idle.jsonl")

        def file_lines():
            try:
                with open(out, "rb") as f:
                    return sum(1 for _ in f)
            except FileNotFoundError:
                return 0
        cases.append(("Modbus -> file", "idle: 10 tags / 1 s",
                      modbus_cfg("mf-idle", 10, 1000, 0,
                                 f'[upstreams.out]\ntype = "file"\npath = "{out}"\n'),
                      file_lines, None))
        if a.kafka_mock:
            kafka = MockKafka(a.kafka_mock)
            master, slave = pty.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            device = os.ttyname(slave)
            d = os.path.join(work, "sk")
            os.makedirs(d)
            servers = ", ".join(f'"{s}"' for s in kafka.servers)
            with open(os.path.join(d, "gateway.toml"), "w") as f:
                f.write(HEAD.format(dir=d) + SERIAL.format(device=device) +
                        KAFKA_UP.format(servers=servers))
            cfg = os.path.join(d, "gateway.toml")
            cases.append(("serial -> Kafka", "idle: 1 line/s", cfg, lambda: kafka.count, 1))
            cases.append(("serial -> Kafka", "load: 2000 lines/s", cfg, lambda: kafka.count, 2000))

        results = {}  # (case index, binary name) -> list of (mem, libs, n)
        for run in range(a.runs):
            for ci, (_, phase, cfg, counter, rate) in enumerate(cases):
                load_s = a.load_s if phase.startswith("load") else 0.0
                order = binaries if run % 2 == 0 else list(reversed(binaries))
                for bname, binary in order:
                    feeder = SerialFeeder(master, rate) if rate else None
                    try:
                        r = run_daemon(binary, cfg, a.settle_s, load_s, counter)
                    finally:
                        if feeder:
                            feeder.stop()
                    results.setdefault((ci, bname), []).append(r)
                    print(f"run {run + 1}: {cases[ci][0]}, {phase}, {bname}: "
                          f"VmRSS {mib(r[0]['VmRSS'])} MiB, VmHWM {mib(r[0]['VmHWM'])} MiB, "
                          f"{r[2]} records, libs {','.join(r[1]) or '-'}", file=sys.stderr)

        print(f"\nmedians of {a.runs} runs; settle {a.settle_s:.0f} s, load {a.load_s:.0f} s; "
              "MiB")
        print("| config | phase | binary | VmRSS | VmHWM (peak) | Pss | Anonymous | records/s "
              "| mapped |")
        print("|---|---|---|---:|---:|---:|---:|---:|---|")
        rows = []
        for ci, (cname, phase, _, _, _) in enumerate(cases):
            for bname, _ in binaries:
                rs = results[(ci, bname)]
                med = {k: statistics.median(r[0][k] for r in rs) for k in rs[0][0]}
                rows.append((cname, phase, bname, med))
                secs = a.settle_s + (a.load_s if phase.startswith("load") else 0.0)
                rate = statistics.median(r[2] for r in rs) / secs
                print(f"| {cname} | {phase} | {bname} | {mib(med['VmRSS'])} | "
                      f"{mib(med['VmHWM'])} | {mib(med['Pss'])} | {mib(med['Anonymous'])} | "
                      f"{rate:,.0f} | {', '.join(rs[-1][1]) or '-'} |")
        print("\nresident in the mappings of (MiB, medians):")
        print("| config | phase | binary | " + " | ".join(GROUPS) + " |")
        print("|---|---|---|" + "---:|" * len(GROUPS))
        for cname, phase, bname, med in rows:
            print(f"| {cname} | {phase} | {bname} | " +
                  " | ".join(mib(med[g]) for g in GROUPS) + " |")
    finally:
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)
        if kafka is not None:
            kafka.stop()
        if broker is not None:
            try:
                sub.terminate()
            except Exception:
                pass
            broker.stop()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
