#!/usr/bin/env python3
"""Modbus TCP -> MQTT, CPU per value: the gateway beside a bare Paho publisher (issue 15).

The gateway polls 1000 uint16 tags on 10 units of the real pn_modbus_server (bench/deploy's large
config: every other register, coalesced into one read per unit, 50 threshold rules) and forwards
every reading through the SQLite store to mosquitto (free loopback port) with payload "json"
(one message per value, topic out/DEVICE/SERIES) or "json_batch" (arrays of up to 500 values,
topic out/DEVICE). --rates sets the values per
second (1000 tags every 1000 / 200 ms for 1k / 5k). CPU is the time on a CPU of the process's
threads (/proc/PID/task/*/schedstat, nanoseconds) over --measure-s, divided by the values polled in the window; medians of --runs, the configs
alternating run by run. In the same run, mqtt_bare_pub publishes the same number of messages of
the same shape at the same rate (json_batch: 500 values per message), its CPU per value being
the floor Paho sets (no polling, no rules, no store).

  run_modbus.py --binary build/release/gateway/service/processnow \\
      --modbus-server build/release/tests/integration/peers/modbus_server/pn_modbus_server \\
      --bare-pub build/release/bench/mqtt_forward/mqtt_bare_pub

Targets (issue 15): json_batch at 1k values/s <= 8 us per value; json at 5k/s <= 15 us.
Bounded: every run lasts about warm + measure s.
"""
import argparse
import collections
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "peers"))
sys.path.insert(0, os.path.join(HERE, "..", "deploy"))
from mqtt_broker import Broker  # noqa: E402
import bench_deploy  # noqa: E402
sys.path.insert(0, os.path.join(HERE, ".."))
from benchlib import NS_PER_S, cpu_ns, stop_process, vmrss_kib  # noqa: E402

MQTT_UP = """
[upstreams.out]
type = "mqtt"
servers = ["{uri}"]
qos = 1
payload = "{payload}"
topic = "{topic}"
status_topic = ""
"""


def gateway_config(d, modbus_port, uri, payload, interval_ms):
    cfg = bench_deploy.write_large(d, modbus_port)
    with open(cfg) as f:
        text = f.read()
    head, _, rest = text.partition("[upstreams.out]")
    # The file upstream's two lines go; the MQTT one comes instead.
    rest = rest.split("\n", 3)[3]
    # json: one message per value on its own topic; json_batch: one topic per device, so that a
    # message carries up to batch_max_records values (a topic per series would give batches of
    # one value each).
    topic = "out/{device}/{series}" if payload == "json" else "out/{device}"
    text = head + rest + MQTT_UP.format(uri=uri, payload=payload, topic=topic)
    text = text.replace("poll_interval_ms = 1000", f"poll_interval_ms = {interval_ms}")
    text = text.replace('log_level = "warn"', 'log_level = "warn"\n[clock]\nsync_source = "none"')
    # The [clock] table must not split [gateway]'s keys: it goes after rules = [...].
    text = text.replace('[clock]\nsync_source = "none"\nrules = ["rules.toml"]',
                        'rules = ["rules.toml"]\n[clock]\nsync_source = "none"')
    with open(cfg, "w") as f:
        f.write(text)
    return cfg


def count_messages(port):
    import paho.mqtt.client as mqtt
    n = [0]
    c = mqtt.Client(client_id=f"pn-bench-count-{os.getpid()}")
    c.on_message = lambda *_: n.__setitem__(0, n[0] + 1)
    c.connect("127.0.0.1", port)
    c.subscribe("out/#", 0)
    c.loop_start()
    return c, n


def run_gateway(args, payload, rate, binary=None):
    d = tempfile.mkdtemp(prefix="pn-bench-mb-")
    broker = Broker(os.path.join(d, "broker")).start()
    server = subprocess.Popen([args.modbus_server, "--tcp", "0", "--no-holes"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proc = None
    counter = None
    try:
        line = server.stdout.readline().split()  # "READY PORT"
        assert line and line[0] == "READY", line
        mport = int(line[1])
        interval_ms = int(1000 * 1000 / rate)
        cfg = gateway_config(d, mport, broker.uri, payload, interval_ms)
        counter, n = count_messages(broker.port)
        proc = subprocess.Popen([os.path.abspath(binary or args.binary), "run", "--config", cfg],
                                cwd=d,
                                stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(d, "gw.log"), "w"))
        time.sleep(args.warm_s)  # a benchmark's window, not a test's wait
        m0 = n[0]
        c0, t0 = cpu_ns(proc.pid), time.monotonic()
        if args.perf and binary is None:
            subprocess.run(["perf", "record", "-q", "-F", "999", "--call-graph", "dwarf,16384",
                            "-p", str(proc.pid), "-o", f"{args.perf}.{payload}.{rate}", "--",
                            "sleep", str(args.measure_s)], check=True, stdout=subprocess.DEVNULL)
        else:
            time.sleep(args.measure_s)
        c1, t1 = cpu_ns(proc.pid), time.monotonic()
        rss = vmrss_kib(proc.pid)
        if proc.poll() is not None or n[0] == m0:
            with open(os.path.join(d, "gw.log")) as f:
                raise RuntimeError(f"gateway delivered nothing: {f.read()[-2000:]}")
        values = rate * (t1 - t0)
        return {"cpu_us": (c1 - c0) / NS_PER_S * 1e6 / values, "rss_mib": rss / 1024,
                "msgs_per_value": (n[0] - m0) / values}
    finally:
        if counter:
            counter.loop_stop()
            counter.disconnect()
        stop_process(proc)
        stop_process(server)
        broker.stop()
        shutil.rmtree(d, ignore_errors=True)


def run_bare(args, per_msg, values, rate):
    """CPU per value of mqtt_bare_pub sending `values` readings, per_msg to a message, QoS 1,
    paced at `rate` values per second."""
    d = tempfile.mkdtemp(prefix="pn-bench-mb-bare-")
    broker = Broker(os.path.join(d, "broker")).start()
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([args.bare_pub, broker.uri, str(values), str(per_msg), "64", "1",
                        str(rate / per_msg)],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {"cpu_us": cpu * 1e6 / values}
    finally:
        broker.stop()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--modbus-server", required=True)
    ap.add_argument("--bare-pub", required=True, help="bench/mqtt_forward's mqtt_bare_pub")
    ap.add_argument("--before", help="an earlier processnow, measured alternately")
    ap.add_argument("--perf", metavar="PREFIX",
                    help="perf record each gateway window into PREFIX.PAYLOAD.RATE")
    ap.add_argument("--rates", default="1000,5000")
    ap.add_argument("--payloads", default="json_batch,json")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warm-s", type=float, default=4)
    ap.add_argument("--measure-s", type=float, default=10)
    args = ap.parse_args()
    cases = [(p, int(r)) for r in args.rates.split(",") for p in args.payloads.split(",")]
    res = collections.defaultdict(list)
    for run in range(args.runs):
        for payload, rate in cases:
            # With --before, the two binaries take turns going first, so that a machine getting
            # busier or quieter during a pair does not favour one of them.
            if args.before and run % 2 == 1:
                rb = run_gateway(args, payload, rate, args.before)
            r = run_gateway(args, payload, rate)
            res[(payload, rate)].append(r)
            if args.before:
                if run % 2 == 0:
                    rb = run_gateway(args, payload, rate, args.before)
                res[(payload, rate, "before")].append(rb)
                print(f"run {run + 1} {payload} {rate}/s: before {rb['cpu_us']:.1f} us/value",
                      flush=True)
            per = 500 if payload == "json_batch" else 1
            # As many values as the gateway's window, at its rate.
            b = run_bare(args, per, int(rate * args.measure_s), rate)
            res[("bare", payload, rate)].append(b)
            print(f"run {run + 1} {payload} {rate}/s: gateway {r['cpu_us']:.1f} us/value "
                  f"({r['msgs_per_value']:.3f} msgs/value, {r['rss_mib']:.1f} MiB); "
                  f"bare Paho publisher {b['cpu_us']:.2f} us/value", flush=True)
    print(f"\nModbus TCP -> MQTT (QoS 1), 1000 tags, medians of {args.runs}:\n")
    print("| payload | values/s | gateway CPU us per value | --before binary | bare Paho "
          "publisher us per value | gateway VmRSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for payload, rate in cases:
        g = res[(payload, rate)]
        gb = res.get((payload, rate, "before"))
        b = res[("bare", payload, rate)]
        before = f"{statistics.median(x['cpu_us'] for x in gb):.1f}" if gb else "-"
        print(f"| {payload} | {rate} | {statistics.median(x['cpu_us'] for x in g):.1f} | "
              f"{before} | {statistics.median(x['cpu_us'] for x in b):.2f} | "
              f"{statistics.median(x['rss_mib'] for x in g):.1f} |")


if __name__ == "__main__":
    main()
