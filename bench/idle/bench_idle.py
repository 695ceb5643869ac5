#!/usr/bin/env python3
"""Cost at low rates: CPU and wake-ups per second of the running daemon when it has little or
nothing to do, per thread. A gateway next to a machine spends its life nearly idle; every
wake-up there costs power and, on a Raspberry Pi, latency for everything else.

Configs (each run for --measure-s after --settle-s; medians over --runs runs):
  nothing   one sim driver that samples every 30 s, a file upstream: next to nothing to do
  modbus    1000 Modbus tags on 10 units polled every second from the real pn_modbus_server,
            50 threshold rules, a file upstream (bench/deploy's large config)
  mqtt      (--mqtt) an MQTT driver subscribed on a mosquitto broker (free loopback port) where
            nobody publishes, a file upstream

Wake-ups are context switches (voluntary + involuntary) of all the daemon's threads, from
/proc/PID/task/*/status; CPU is utime + stime from /proc/PID/stat. Per-thread figures are
grouped by the thread's name (comm). Bounded: about (settle + measure) s per run and config.

  bench_idle.py --binary build/release/gateway/service/processnow \\
      --modbus-server build/release/tests/integration/peers/modbus_server/pn_modbus_server

Targets (issue 15): idle with 1000 tags polled every second <= 1 % of a core and <= 20
wake-ups per second besides the poll itself.
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import bench_deploy  # noqa: E402  (the large Modbus config)

NOTHING = """
[gateway]
id = "bench"
data_dir = "{dir}/data"
log_level = "warn"
[drivers.plant]
type = "sim"
devices = 1
interval_ms = 30000
[upstreams.out]
type = "file"
path = "{dir}/out.jsonl"
"""

MQTT = """
[gateway]
id = "bench"
data_dir = "{dir}/data"
log_level = "warn"
[drivers.sub]
type = "mqtt"
broker = "{broker}"
topics = ["plant/{{device}}/{{series}}"]
payload = "plain"
[upstreams.out]
type = "file"
path = "{dir}/out.jsonl"
"""

TICK = os.sysconf("SC_CLK_TCK")


def threads(pid):
    """{tid: (comm, context switches)} of every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            switches = 0
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
            out[tid] = (comm, switches)
        except FileNotFoundError:
            pass  # the thread ended between listdir and open
    return out


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def one_run(binary, config, settle_s, measure_s):
    """(CPU % of a core, wake-ups/s, {thread name: wake-ups/s})."""
    proc = subprocess.Popen([binary, "run", "--config", config], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        time.sleep(settle_s)  # a benchmark's settling time, not a test's wait
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        t0, c0, th0 = time.monotonic(), cpu_s(proc.pid), threads(proc.pid)
        time.sleep(measure_s)
        t1, c1, th1 = time.monotonic(), cpu_s(proc.pid), threads(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    secs = t1 - t0
    per = collections.Counter()
    for tid, (comm, sw) in th1.items():
        per[comm] += (sw - th0.get(tid, (comm, 0))[1]) / secs
    return 100 * (c1 - c0) / secs, sum(per.values()), per


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--modbus-server", help="pn_modbus_server (tests/integration/peers)")
    ap.add_argument("--mqtt", action="store_true", help="also an idle MQTT subscription")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settle-s", type=float, default=3.0)
    ap.add_argument("--measure-s", type=float, default=10.0)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pn-bench-idle-")
    server = None
    broker = None
    try:
        configs = []
        d = os.path.join(work, "nothing")
        os.makedirs(d)
        with open(os.path.join(d, "gateway.toml"), "w") as f:
            f.write(NOTHING.format(dir=d))
        configs.append(("nothing to do (1 sim sample every 30 s)", os.path.join(d, "gateway.toml")))
        if a.modbus_server:
            server = subprocess.Popen([a.modbus_server, "--tcp", "0", "--no-holes"],
                                      stdout=subprocess.PIPE, text=True)
            line = server.stdout.readline().split()
            assert line and line[0] == "READY", line
            d = os.path.join(work, "modbus")
            os.makedirs(d)
            configs.append(("1000 Modbus tags polled every 1 s, 50 rules",
                            bench_deploy.write_large(d, int(line[1]))))
        if a.mqtt:
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                            "..", "tests", "integration", "peers"))
            from mqtt_broker import Broker
            d = os.path.join(work, "mqtt")
            os.makedirs(d)
            broker = Broker(os.path.join(d, "broker")).start()
            with open(os.path.join(d, "gateway.toml"), "w") as f:
                f.write(MQTT.format(dir=d, broker=broker.uri))
            configs.append(("MQTT driver subscribed, nothing published",
                            os.path.join(d, "gateway.toml")))
        print(f"binary: {a.binary}; medians of {a.runs} runs of {a.measure_s:.0f} s")
        print("| config | CPU (% of a core) | wake-ups/s | by thread (wake-ups/s) |")
        print("|---|---|---|---|")
        for name, cfg in configs:
            runs = [one_run(a.binary, cfg, a.settle_s, a.measure_s) for _ in range(a.runs)]
            cpu = statistics.median(r[0] for r in runs)
            wake = statistics.median(r[1] for r in runs)
            names = sorted({n for r in runs for n in r[2]})
            per = {n: statistics.median(r[2].get(n, 0) for r in runs) for n in names}
            detail = ", ".join(f"{n} {v:.0f}" for n, v in sorted(per.items(), key=lambda x: -x[1])
                               if v >= 0.5)
            print(f"| {name} | {cpu:.2f} | {wake:.0f} | {detail} |")
    finally:
        if broker is not None:
            broker.stop()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
