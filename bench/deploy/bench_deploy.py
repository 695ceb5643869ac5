#!/usr/bin/env python3
"""Deployment benchmark: stripped binary size, start-up time to READY=1 (sd_notify) and idle RSS,
for a small config (1 sim driver, no rules: the baseline) and a large one (1000 Modbus tags on
10 units polled every second from a real Modbus TCP server, 50 threshold rules, a file upstream),
and the large one with the health endpoint on (which loads the HTTP module and its libraries),
without and with the status page's live view.
Medians over --runs runs; ratios against the baseline measured in the same run.

  bench_deploy.py --binary build/release/gateway/service/processnow \
      --modbus-server build/debug/tests/integration/peers/modbus_server/pn_modbus_server

Targets (issue #6): binary <= 5 MB stripped (aarch64), READY <= 100 ms, idle RSS <= 16 MB with
1000 Modbus tags and 50 rules. Bounded: about 10 s per run of each config.
"""
import argparse
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SMALL = """
[gateway]
id = "bench"
data_dir = "{dir}/data"
log_level = "warn"
[drivers.plant]
type = "sim"
devices = 1
interval_ms = 1000
[upstreams.out]
type = "file"
path = "{dir}/out.jsonl"
"""

LARGE_HEAD = """
[gateway]
id = "bench"
data_dir = "{dir}/data"
log_level = "warn"
rules = ["rules.toml"]
[drivers.plc]
type = "modbus"
host = "127.0.0.1"
port = {port}
poll_interval_ms = 1000
[upstreams.out]
type = "file"
path = "{dir}/out.jsonl"
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
[rule.alarm]
raise_after = 3
clear_after = 3
severity = "warning"
"""


HEALTH = """
[health]
enabled = true
port = {port}
"""


def write_large(d, port, tags=1000, rules=50, health_port=0, status_series=None):
    body = LARGE_HEAD.format(dir=d, port=port)
    if health_port:
        body += HEALTH.format(port=health_port)
        if status_series is not None:
            body += f"status_series = {status_series}\n"
    for i in range(tags):
        # 10 units x 100 tags, every other register (gaps the planner coalesces).
        body += TAG.format(i=i, unit=1 + i // 100, address=1000 + 2 * (i % 100))
    with open(os.path.join(d, "gateway.toml"), "w") as f:
        f.write(body)
    with open(os.path.join(d, "rules.toml"), "w") as f:
        f.write("".join(RULE.format(i=i) for i in range(rules)))
    return os.path.join(d, "gateway.toml")


def write_small(d):
    with open(os.path.join(d, "gateway.toml"), "w") as f:
        f.write(SMALL.format(dir=d))
    return os.path.join(d, "gateway.toml")


def memory_kib(pid):
    """(Rss, Pss, Anonymous) in KiB from /proc/PID/smaps_rollup. Rss counts shared library pages
    in full; Pss shares them out; Anonymous is the process's own heap and stacks."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in ("Rss:", "Pss:", "Anonymous:"):
                out[parts[0][:-1]] = int(parts[1])
    return out["Rss"], out["Pss"], out["Anonymous"]


EMULATOR = []  # e.g. ["qemu-aarch64"] for a cross-built binary


def one_run(binary, config, settle_s):
    """Returns (seconds to READY=1, (Rss, Pss, Anonymous) KiB after settle_s)."""
    d = tempfile.mkdtemp(prefix="pn-bench-notify-")
    path = os.path.join(d, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    t0 = time.monotonic()
    proc = subprocess.Popen(EMULATOR + [binary, "run", "--config", config], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ready = None
        while ready is None:
            msg = sock.recv(4096).decode()
            if "READY=1" in msg.split("\n"):
                ready = time.monotonic() - t0
        time.sleep(settle_s)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        rss = memory_kib(proc.pid)
        # The pipeline is live: the file upstream received records.
        out = os.path.join(os.path.dirname(config), "out.jsonl")
        if not os.path.exists(out) or os.path.getsize(out) == 0:
            raise RuntimeError(f"no records reached {out}: the config is not running")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        sock.close()
        shutil.rmtree(d, ignore_errors=True)
    return ready, rss


def exec_time(binary):
    t0 = time.monotonic()
    subprocess.run(EMULATOR + [binary, "version"], stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--modbus-server", help="pn_modbus_server (tests/integration/peers)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle-s", type=float, default=5.0)
    ap.add_argument("--strip", default="strip", help="strip for the binary's architecture")
    ap.add_argument("--emulator", default="",
                    help="run the binary under this command (\"qemu-aarch64\", "
                         "\"qemu-arm -L SYSROOT\"); RSS then includes qemu")
    a = ap.parse_args()
    if a.emulator:
        EMULATOR.extend(shlex.split(a.emulator))

    work = tempfile.mkdtemp(prefix="pn-bench-deploy-")
    server = None
    try:
        stripped = os.path.join(work, "processnow.stripped")
        subprocess.run([a.strip, "-o", stripped, a.binary], check=True)
        size = os.path.getsize(stripped)
        print(f"binary: {a.binary}" + (f" (under {a.emulator})" if a.emulator else ""))
        print(f"stripped size: {size / 1e6:.2f} MB ({size / 5e6:.2f} x the 5 MB target); "
              f"unstripped {os.path.getsize(a.binary) / 1e6:.1f} MB")
        module = os.path.join(os.path.dirname(a.binary), "processnow-http.so")
        if os.path.exists(module):
            subprocess.run([a.strip, "-o", stripped + ".http", module], check=True)
            print(f"HTTP module (loaded only with [health] enabled), stripped: "
                  f"{os.path.getsize(stripped + '.http') / 1e6:.2f} MB")
        module = os.path.join(os.path.dirname(a.binary), "processnow-kafka.so")
        if os.path.exists(module):
            subprocess.run([a.strip, "-o", stripped + ".kafka", module], check=True)
            print(f"Kafka module (loaded only with a kafka upstream), stripped: "
                  f"{os.path.getsize(stripped + '.kafka') / 1e6:.2f} MB")

        exec_s = statistics.median(exec_time(a.binary) for _ in range(a.runs))

        small_dir = os.path.join(work, "small")
        os.makedirs(small_dir)
        small = write_small(small_dir)
        configs = [("small: 1 sim driver, 0 rules (baseline)", small)]
        if a.modbus_server:
            server = subprocess.Popen([a.modbus_server, "--tcp", "0", "--no-holes"],
                                      stdout=subprocess.PIPE, text=True)
            line = server.stdout.readline().split()
            assert line and line[0] == "READY", line
            large_dir = os.path.join(work, "large")
            os.makedirs(large_dir)
            configs.append(("large: 1000 Modbus tags, 50 rules",
                            write_large(large_dir, int(line[1]))))
            # The endpoint without and with the status page's live view (1000 series kept).
            for name, series in (("large + health endpoint on, no live view", 0),
                                 ("large + health endpoint on (status page, 1000 series)", None)):
                health_dir = os.path.join(work, f"health{series}")
                os.makedirs(health_dir)
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    health_port = s.getsockname()[1]
                configs.append((name, write_large(health_dir, int(line[1]),
                                                  health_port=health_port,
                                                  status_series=series)))
        else:
            print("no --modbus-server: the large config is skipped", file=sys.stderr)

        rows = []
        for name, cfg in configs:
            readies, rsss = [], []
            for _ in range(a.runs):
                r, m = one_run(a.binary, cfg, a.settle_s)
                readies.append(r)
                rsss.append(m)
            rows.append((name, statistics.median(readies),
                         [statistics.median(m[i] for m in rsss) for i in range(3)]))

        base_ready, base_rss = rows[0][1], rows[0][2][0]
        print(f"\nmedians of {a.runs} runs; `processnow version` exec+exit: "
              f"{exec_s * 1000:.1f} ms")
        print("| config | start-up to READY=1 (ms) | vs baseline | idle RSS (MiB) | vs baseline "
              "| PSS (MiB) | anonymous (MiB) |")
        print("|---|---|---|---|---|---|---|")
        for name, ready, (rss, pss, anon) in rows:
            print(f"| {name} | {ready * 1000:.1f} | {ready / base_ready:.2f}x | "
                  f"{rss / 1024:.1f} | {rss / base_rss:.2f}x | {pss / 1024:.1f} | "
                  f"{anon / 1024:.1f} |")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
