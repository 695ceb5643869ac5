#!/usr/bin/env python3
"""MQTT relay, the gateway beside the library's floor, in one command (issue 15).

The job: readings arrive as JSON on in/<device>/temperature (QoS 0), go through a threshold rule,
and leave as one message per record on out/... (QoS 0). Subjects, each on a fresh mosquitto
broker (free loopback port) and measured in the same run, alternating run by run:

  gateway    processnow: MQTT driver -> rules (one threshold rule; one reading in six is above
             it, so one anomaly event per six readings goes out too) -> SQLite store -> MQTT
             upstream, payload "json"
  bare       mqtt_bare_relay: a bare Paho MQTT C++ client that republishes each message's payload
             unchanged (no parsing, no rules, no store): the floor Paho and the broker set
  before     (--before PATH) an earlier processnow on the same job, for before/after figures
  node-red   (--node-red PATH, when installed) Node-RED with an mqtt in -> switch -> mqtt out flow

mqtt_relay_load publishes at --rate for --warm-s + --measure-s + 1 s and counts what comes back.
CPU is the time on a CPU of the subject's threads (/proc/PID/task/*/schedstat) over the
--measure-s window, divided by the messages published in it; by thread too (--threads). Loss is the share
of readings published that did not come back; lag is how long after the last publish the last
message came back (a subject that keeps up answers within its batching latency).

  run_relay.py --binary build/release/gateway/service/processnow \\
      --load build/release/bench/peers/mqtt_relay_load \\
      --bare build/release/bench/peers/mqtt_bare_relay --rate 10000 --runs 3

--perf FILE records the gateway's measuring window with `perf record` (Debian's linux-perf).
--max-rate also steps the rate up (--rates) and reports the highest one each subject sustains
(loss < 1 % and lag < 1 s). Bounded: every run lasts warm + measure + at most 11 s.

Target (issue 15): <= 15 us CPU per message at 10k msg/s and within 1.3x of the bare Paho relay.
"""
import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "peers"))
from mqtt_broker import Broker, free_port  # noqa: E402
sys.path.insert(0, os.path.join(HERE, ".."))
from benchlib import NS_PER_S, cpu_ns, stop_process, vmrss_kib  # noqa: E402


GATEWAY = """
[gateway]
id = "bench"
data_dir = "{dir}/data"
log_level = "warn"
rules = ["{dir}/rules.toml"]
[clock]
sync_source = "none"
[drivers.in]
type = "mqtt"
broker = "{uri}"
topics = ["in/{{device}}/{{series}}"]
qos = 0
payload = "json"
json_time = "ts"
[upstreams.out]
type = "mqtt"
servers = ["{uri}"]
qos = 0
payload = "json"
topic = "out/{{device}}/{{series}}"
event_topic = "out/{{device}}/{{kind}}"
status_topic = ""
"""

RULES = """
[[rule]]
name = "hot"
devices = ["*"]
series = ["temperature"]
[rule.detector]
type = "threshold"
above = 5.0
"""

NODE_RED_FLOW = """[
 {{"id":"b","type":"mqtt-broker","broker":"127.0.0.1","port":"{port}","clientid":"pn-nr",
   "protocolVersion":"4","keepalive":"60","cleansession":true}},
 {{"id":"i","type":"mqtt in","topic":"in/#","qos":"0","datatype":"json","broker":"b",
   "wires":[["s"]]}},
 {{"id":"s","type":"function","func":"msg.topic='out/'+msg.topic.slice(3);\\nif(msg.payload.value>5)node.send({{topic:msg.topic.replace('temperature','anomaly'),payload:msg.payload}});\\nreturn msg;",
   "outputs":1,"wires":[["o"]]}},
 {{"id":"o","type":"mqtt out","qos":"0","retain":"false","broker":"b","wires":[]}}
]"""


def wait_relaying(port, timeout=30.0):
    """Publishes a probe on in/probe/temperature every 0.5 s until it comes back on out/#."""
    import paho.mqtt.client as mqtt  # Debian's python3-paho-mqtt
    got = []
    c = mqtt.Client(client_id="pn-bench-probe")
    c.on_message = lambda _c, _u, m: got.append(m.topic)
    c.connect("127.0.0.1", port)
    c.subscribe("out/#", 0)
    c.loop_start()
    try:
        end = time.monotonic() + timeout
        while not got:
            if time.monotonic() > end:
                raise RuntimeError("the subject relays nothing")
            c.publish("in/probe/temperature", '{"value":1.0,"ts":%d}' % int(time.time() * 1000))
            time.sleep(0.5)
    finally:
        c.loop_stop()
        c.disconnect()


def start_subject(kind, args, broker, d):
    if kind in ("gateway", "before"):
        with open(os.path.join(d, "rules.toml"), "w") as f:
            f.write(RULES)
        cfg = os.path.join(d, "gateway.toml")
        with open(cfg, "w") as f:
            f.write(GATEWAY.format(dir=d, uri=broker.uri))
        binary = args.binary if kind == "gateway" else args.before
        return subprocess.Popen([binary, "run", "--config", cfg],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "gw.log"), "w"))
    if kind == "bare":
        return subprocess.Popen([args.bare, broker.uri], stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(d, "bare.log"), "w"))
    if kind == "node-red":
        flows = os.path.join(d, "flows.json")
        with open(flows, "w") as f:
            f.write(NODE_RED_FLOW.format(port=broker.port))
        return subprocess.Popen([args.node_red, "--userDir", d, "--port", str(free_port()), flows],
                                stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(d, "node-red.log"), "w"))
    raise ValueError(kind)


def one_run(kind, args, rate, threads):
    d = tempfile.mkdtemp(prefix=f"pn-bench-relay-{kind}-")
    broker = Broker(os.path.join(d, "broker"), tcp_nodelay=args.tcp_nodelay).start()
    proc = None
    try:
        proc = start_subject(kind, args, broker, d)
        wait_relaying(broker.port)
        seconds = args.warm_s + args.measure_s + 1
        load = subprocess.Popen([args.load, broker.uri, str(rate), str(seconds)],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(args.warm_s)  # a benchmark's measuring window, not a test's wait
        c0, t0 = cpu_ns(proc.pid, threads), time.monotonic()
        if args.perf and kind == "gateway":
            # Call graphs of the whole window (DWARF unwinding: the libraries have no frame
            # pointers); read with `perf report -i FILE --no-children --sort comm,dso,sym`.
            subprocess.run(["perf", "record", "-q", "-F", "999", "--call-graph", "dwarf,16384",
                            "-p", str(proc.pid), "-o", args.perf, "--", "sleep",
                            str(args.measure_s)], check=True, stdout=subprocess.DEVNULL)
        else:
            time.sleep(args.measure_s)
        c1, t1 = cpu_ns(proc.pid, threads), time.monotonic()
        rss = vmrss_kib(proc.pid)
        out, _ = load.communicate(timeout=seconds + 30)
        if load.returncode != 0 or proc.poll() is not None:
            raise RuntimeError(f"{kind}: load rc={load.returncode}, subject rc={proc.poll()}")
        r = dict(kv.split("=") for kv in out.split())
        messages = rate * (t1 - t0)
        if threads:
            per_thread = {k: (c1[k] - c0.get(k, 0)) / NS_PER_S * 1e6 / messages for k in c1}
            cpu_us = sum(per_thread.values())
        else:
            per_thread = {}
            cpu_us = (c1 - c0) / NS_PER_S * 1e6 / messages
        sent, data = int(r["sent"]), int(r["data_received"])
        return {"cpu_us": cpu_us, "rss_mib": rss / 1024, "loss": max(0.0, 1 - data / sent),
                "lag_s": float(r["lag_s"]), "received": int(r["received"]), "sent": sent,
                "threads": per_thread}
    finally:
        stop_process(proc)
        broker.stop()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True, help="processnow")
    ap.add_argument("--load", required=True, help="mqtt_relay_load")
    ap.add_argument("--bare", required=True, help="mqtt_bare_relay")
    ap.add_argument("--node-red", help="node-red executable (optional)")
    ap.add_argument("--before", help="an earlier processnow, measured as subject 'before'")
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warm-s", type=float, default=3)
    ap.add_argument("--measure-s", type=float, default=10)
    ap.add_argument("--tcp-nodelay", action="store_true", help="mosquitto set_tcp_nodelay true")
    ap.add_argument("--threads", action="store_true", help="CPU per message by thread name")
    ap.add_argument("--only", help="comma-separated subjects")
    ap.add_argument("--perf", metavar="FILE", help="perf record the gateway's window into FILE")
    ap.add_argument("--max-rate", action="store_true")
    ap.add_argument("--rates", default="8000,12000,16000,20000,24000,28000,32000")
    args = ap.parse_args()
    subjects = (["gateway"] + (["before"] if args.before else []) + ["bare"] +
                (["node-red"] if args.node_red else []))
    if args.only:
        subjects = [s for s in subjects if s in args.only.split(",")]

    results = collections.defaultdict(list)
    for run in range(args.runs):
        for kind in subjects:
            res = one_run(kind, args, args.rate, args.threads)
            results[kind].append(res)
            print(f"run {run + 1} {kind}: {res['cpu_us']:.1f} us/msg, {res['rss_mib']:.1f} MiB, "
                  f"loss {res['loss'] * 100:.2f} %, lag {res['lag_s']:.2f} s", flush=True)
            if args.threads:
                top = sorted(res["threads"].items(), key=lambda kv: -kv[1])
                print("   " + ", ".join(f"{k} {v:.1f}" for k, v in top if v > 0.05))

    if args.runs > 0:
        report(args, subjects, results)
    if args.max_rate:
        max_rate(args, subjects)


def report(args, subjects, results):
    floor = statistics.median(r["cpu_us"] for r in results["bare"]) if "bare" in results else None
    print(f"\nMQTT relay at {args.rate} msg/s, QoS 0, medians of {args.runs} "
          f"(broker set_tcp_nodelay {'true' if args.tcp_nodelay else 'false'}):\n")
    print("| subject | CPU us per message | vs bare Paho | VmRSS MiB | loss % | lag s |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in subjects:
        rs = results[kind]
        cpu = statistics.median(r["cpu_us"] for r in rs)
        ratio = f"{cpu / floor:.2f}" if floor else "-"
        print(f"| {kind} | {cpu:.1f} | {ratio} | "
              f"{statistics.median(r['rss_mib'] for r in rs):.1f} | "
              f"{statistics.median(r['loss'] for r in rs) * 100:.2f} | "
              f"{statistics.median(r['lag_s'] for r in rs):.2f} |")
    if args.threads and "gateway" in results:
        names = sorted({k for r in results["gateway"] for k in r["threads"]})
        print("\ngateway CPU us per message by thread (medians):")
        for k in sorted(names, key=lambda k: -statistics.median(
                r["threads"].get(k, 0) for r in results["gateway"])):
            v = statistics.median(r["threads"].get(k, 0) for r in results["gateway"])
            if v > 0.05:
                print(f"  {k}: {v:.1f}")


def max_rate(args, subjects):
    """Steps each subject through --rates until one fails; prints the highest that held."""
    print("\n| subject | highest rate sustained (loss < 1 %, lag < 1 s) |")
    print("|---|---:|")
    for kind in subjects:
        best = 0
        for rate in (int(x) for x in args.rates.split(",")):
            res = one_run(kind, args, rate, False)
            ok = res["loss"] < 0.01 and res["lag_s"] < 1.0
            print(f"  {kind} at {rate}: loss {res['loss'] * 100:.2f} %, "
                  f"lag {res['lag_s']:.2f} s, {res['cpu_us']:.1f} us/msg", flush=True)
            if not ok:
                break
            best = rate
        print(f"| {kind} | {best} |")


if __name__ == "__main__":
    main()
