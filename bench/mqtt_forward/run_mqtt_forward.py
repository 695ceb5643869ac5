#!/usr/bin/env python3
"""Benchmark of the MQTT forwarder (issue 5), mosquitto on loopback, medians over repetitions.

In the same run:
  bare      mqtt_bare_pub: a bare Paho publisher sending json_batch payloads of the same size
            (records per message) at QoS 1 with the same in-flight window: the MQTT ceiling;
  file      processnow, sim -> rules -> store -> file upstream to /dev/null: the pipeline ceiling;
  json_batch processnow, sim -> rules -> store -> MQTT, json_batch payloads (the target:
            >= 200k readings/s);
  json      the same with one record per message;
  latency   processnow with a realtime sim at 10k readings/s, store synchronous = normal:
            reading time (the sim's ts_ns, wall clock) to arrival at a mosquitto_sub subscriber
            (%U timestamp), p50/p99. Arrival at the subscriber and the gateway's PUBACK leave the
            broker at about the same moment; it is the closest outside view of reading -> PUBACK.

usage: bench/mqtt_forward/run_mqtt_forward.py [--build build/release] [--readings 600000]
       [--reps 3] [--latency-seconds 10] [--binary PATH] [--before PATH]
--before runs the json_batch rows and the latency again with an earlier processnow, alternating
with the current one, for before/after figures in the same run.
Bounded: each run has a fixed number of readings and a timeout.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration", "peers"))
from mqtt_broker import Broker  # noqa: E402

RULES = """
[[rule]]
name = "temperature_high"
devices = ["pump-*"]
series = ["temperature"]
[rule.detector]
type = "threshold"
above = 90.0
[rule.alarm]
raise_after = 3
clear_after = 3
severity = "critical"
"""

CONFIG = """
[gateway]
id = "bench"
data_dir = "{dir}/data"
log_level = "warn"
rules = ["{dir}/rules.toml"]
shutdown_timeout_ms = 120000

[store]
batch_records = {store_batch}
batch_ms = {batch_ms}
synchronous = "normal"

[drivers.plant]
type = "sim"
devices = {devices}
realtime = {realtime}
interval_ms = {interval_ms}
max_samples = {samples}
batch = 1024
"""

MQTT = """
[upstreams.out]
type = "mqtt"
servers = ["{uri}"]
payload = "{payload}"
topic = "{{gateway}}/{{device}}"
batch_records = {fwd_batch}
batch_max_records = {per_msg}
max_inflight = {window}
"""

FILE = """
[upstreams.out]
type = "file"
path = "/dev/null"
batch_records = {fwd_batch}
"""


def run_gateway(binary, workdir, body, timeout=600):
    shutil.rmtree(os.path.join(workdir, "data"), ignore_errors=True)
    cfg = os.path.join(workdir, "gw.toml")
    with open(cfg, "w") as f:
        f.write(body)
    start = time.monotonic()
    p = subprocess.run([binary, "run", "--config", cfg, "--exit-when-drained"],
                       capture_output=True, text=True, timeout=timeout)
    secs = time.monotonic() - start
    if p.returncode != 0:
        raise RuntimeError(f"processnow failed ({p.returncode}): {p.stderr[-2000:]}")
    return secs


def throughput(args, binary, bare, broker, plain_broker, workdir, before=None):
    devices, series = 3, 5
    samples = args.readings // (devices * series)
    readings = samples * devices * series
    per_msg, window, fwd_batch = 500, 64, 5000
    common = dict(dir=workdir, store_batch=5000, batch_ms=100, devices=devices,
                  realtime="false", interval_ms=1000, samples=samples)
    keys = ["bare", "file", "json_batch", "json_batch_default", "json"]
    if before:
        keys += ["json_batch_before", "json_batch_default_before"]
    rows = {k: [] for k in keys}
    for rep in range(args.reps):
        out = subprocess.run([bare, broker.uri, str(readings), str(per_msg), str(window)],
                             capture_output=True, text=True, timeout=600, check=True).stdout
        fields = dict(kv.split("=") for kv in out.split())
        rows["bare"].append(float(fields["readings_per_s"]))
        body = CONFIG.format(**common)
        rows["file"].append(readings / run_gateway(binary, workdir, body + FILE.format(
            fwd_batch=fwd_batch)))
        rows["json_batch"].append(readings / run_gateway(binary, workdir, body + MQTT.format(
            uri=broker.uri, payload="json_batch", fwd_batch=fwd_batch, per_msg=per_msg,
            window=window)))
        rows["json_batch_default"].append(readings / run_gateway(
            binary, workdir, body + MQTT.format(uri=plain_broker.uri, payload="json_batch",
                                                fwd_batch=fwd_batch, per_msg=per_msg,
                                                window=window)))
        if before:
            for key, b in (("json_batch_before", broker), ("json_batch_default_before",
                                                           plain_broker)):
                rows[key].append(readings / run_gateway(before, workdir, body + MQTT.format(
                    uri=b.uri, payload="json_batch", fwd_batch=fwd_batch, per_msg=per_msg,
                    window=window)))
        # One message per record: a tenth of the readings keeps the run short.
        small = dict(common, samples=max(1, samples // 10))
        rows["json"].append(readings // 10 / run_gateway(binary, workdir, CONFIG.format(
            **small) + MQTT.format(uri=broker.uri, payload="json", fwd_batch=1000, per_msg=1,
                                   window=window)))
        print(f"rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rows.items()),
              file=sys.stderr)
    return readings, per_msg, window, {k: statistics.median(v) for k, v in rows.items()}


def latency(args, binary, broker, workdir):
    """Realtime sim at 10k readings/s: 20 pumps x 5 series every 10 ms."""
    devices, interval_ms = 20, 10
    samples = int(args.latency_seconds * 1000 / interval_ms)
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q",
                            "1", "-t", "bench/#", "-F", "%U %x"], stdout=subprocess.PIPE,
                           text=True)
    arrivals = []

    def read():
        for line in sub.stdout:
            t, _, hexpayload = line.rstrip("\n").partition(" ")
            arrivals.append((float(t), hexpayload))

    th = threading.Thread(target=read, daemon=True)
    th.start()
    time.sleep(1.0)
    body = CONFIG.format(dir=workdir, store_batch=1000, batch_ms=2, devices=devices,
                         realtime="true", interval_ms=interval_ms, samples=samples)
    body += MQTT.format(uri=broker.uri, payload="json_batch", fwd_batch=1000, per_msg=500,
                        window=64)
    run_gateway(binary, workdir, body)
    time.sleep(1.0)
    sub.terminate()
    sub.wait()
    th.join(timeout=5)
    import json
    lat_ms = []
    for t, hexpayload in arrivals:
        payload = bytes.fromhex(hexpayload)
        if not payload.startswith(b"["):
            continue  # bench/status: online / offline
        for r in json.loads(payload):
            if r["type"] == "reading":
                lat_ms.append((t - r["ts_ns"] / 1e9) * 1000.0)
    lat_ms.sort()
    # Leave out the first second (connection set-up, the store's first commits).
    n = len(lat_ms)
    if n == 0:
        raise RuntimeError("no readings arrived at the subscriber")
    q = lambda p: lat_ms[min(n - 1, int(p * n))]
    return n, devices * 5 * 1000 // interval_ms, q(0.5), q(0.99), lat_ms[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SOURCE, "build", "release"))
    ap.add_argument("--readings", type=int, default=600000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--latency-seconds", type=float, default=10.0)
    ap.add_argument("--binary", help="processnow (default: the one in --build)")
    ap.add_argument("--before", help="an earlier processnow for before/after rows")
    args = ap.parse_args()
    binary = args.binary or os.path.join(args.build, "gateway", "service", "processnow")
    bare = os.path.join(args.build, "bench", "mqtt_forward", "mqtt_bare_pub")
    workdir = tempfile.mkdtemp(prefix="pn-bench-mqtt-")
    # The main broker sets set_tcp_nodelay; the second has mosquitto's defaults (Nagle on).
    broker = Broker(os.path.join(workdir, "broker"), tcp_nodelay=True).start()
    plain_broker = Broker(os.path.join(workdir, "broker-default")).start()
    try:
        with open(os.path.join(workdir, "rules.toml"), "w") as f:
            f.write(RULES)
        readings, per_msg, window, med = throughput(args, binary, bare, broker, plain_broker,
                                                    workdir, args.before)
        print(f"\nMQTT forwarder, {readings:,} readings per run, median of {args.reps}; "
              f"json_batch: {per_msg} records per message, max_inflight {window}, QoS 1\n")
        print("| run | readings/s | vs bare Paho publisher |")
        print("|---|---:|---:|")
        labels = {"bare": "bare Paho publisher (json_batch payloads)",
                  "file": "processnow sim -> rules -> store -> file (/dev/null)",
                  "json_batch": "processnow sim -> rules -> store -> MQTT json_batch",
                  "json_batch_default": "the same, broker without set_tcp_nodelay",
                  "json": "processnow sim -> rules -> store -> MQTT json (1 record/message)",
                  "json_batch_before": "json_batch, the --before binary",
                  "json_batch_default_before": "json_batch without set_tcp_nodelay, the --before "
                                               "binary"}
        for k in med:
            print(f"| {labels[k]} | {med[k]:,.0f} | {med[k] / med['bare']:.2f} |")
        if args.latency_seconds > 0:
            print("\n| latency, reading time -> arrival at a subscriber | readings | p50 ms | "
                  "p99 ms | max ms |\n|---|---:|---:|---:|---:|")
            runs = [(label, b, binary) for label, b in (("broker with set_tcp_nodelay", broker),
                                                         ("broker defaults", plain_broker))]
            if args.before:
                runs += [(label + ", --before binary", b, args.before) for label, b, _ in runs]
            for label, b, exe in runs:
                n, rate, p50, p99, mx = latency(args, exe, b, workdir)
                print(f"| {rate:,} readings/s, realtime sim, store batch_ms = 2, synchronous = "
                      f"normal, json_batch; {label} | {n:,} | {p50:.1f} | {p99:.1f} | "
                      f"{mx:.1f} |")
    finally:
        broker.stop()
        plain_broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
