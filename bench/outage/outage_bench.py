#!/usr/bin/env python3
"""Backlog drain after an upstream outage (issue 5):

  sim at RATE readings/s -> rules -> store -> MQTT forwarder (json_batch) -> mosquitto on loopback

The broker runs for a warm-up, is stopped for OUTAGE seconds while readings keep coming and
pile up in the store, then restarted. Measured: the backlog at restart, the time until the
forwarder has caught up (its depth back under one second of readings, read with
`processnow buffer --json`), and that new readings kept flowing meanwhile (the store's last seq
keeps growing at RATE). Target: a 10-minute outage at 10k readings/s drains in <= 60 s.

usage: bench/outage/outage_bench.py [--build build/release] [--outage-s 600] [--rate 10000]
Bounded: the drain phase gives up after --max-drain-s (default 600).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "peers"))
from mqtt_broker import Broker  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "bench"))
import benchlib  # noqa: E402


def buffer_state(binary, cfg):
    out = subprocess.run([binary, "buffer", "--config", cfg, "--json"], capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit("processnow buffer failed: " + out.stderr)
    j = json.loads(out.stdout)
    return j["last_seq"], j["upstreams"][0]["depth"], j["dropped"]["total"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build/release"))
    ap.add_argument("--outage-s", type=float, default=600)
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--warmup-s", type=float, default=5)
    ap.add_argument("--max-drain-s", type=float, default=600)
    ap.add_argument("--batch", type=int, default=20000, help="upstream batch_records")
    args = ap.parse_args()
    binary = os.path.join(args.build, "gateway/service/processnow")
    tmp = tempfile.mkdtemp(prefix="pn-outage-")
    devices = args.rate // 500  # 5 series every 10 ms per device = 500 readings/s per device
    broker = Broker(os.path.join(tmp, "broker"), tcp_nodelay=True).start()
    cfg = os.path.join(tmp, "gateway.toml")
    with open(cfg, "w") as f:
        f.write(f"""
[gateway]
id = "outage"
data_dir = "{tmp}/data"
log_level = "warn"
shutdown_timeout_ms = 2000
[store]
max_bytes = 0
batch_records = 1000
batch_ms = 50
[drivers.plant]
type = "sim"
devices = {devices}
interval_ms = 10
[upstreams.scada]
type = "mqtt"
servers = ["{broker.uri}"]
payload = "json_batch"
batch_records = {args.batch}
max_inflight = 256
retry_initial_ms = 200
retry_max_ms = 2000
""")
    daemon = subprocess.Popen([binary, "run", "--config", cfg], stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(tmp, "daemon.log"), "w"))
    try:
        time.sleep(args.warmup_s)
        broker.stop()
        t_down = time.monotonic()
        print(f"broker stopped; outage of {args.outage_s:.0f} s at {args.rate} readings/s",
              flush=True)
        time.sleep(args.outage_s)
        seq_at_restart, backlog, _ = buffer_state(binary, cfg)
        broker.start()
        t_up = time.monotonic()
        print(f"broker restarted after {t_up - t_down:.0f} s; backlog {backlog:,} records",
              flush=True)
        drained_at = None
        while time.monotonic() - t_up < args.max_drain_s:
            last_seq, depth, _ = buffer_state(binary, cfg)
            if depth <= args.rate:  # under one second of readings behind
                drained_at = time.monotonic()
                break
            time.sleep(1)
        seq_after, depth_after, dropped = buffer_state(binary, cfg)
        new_during_drain = seq_after - seq_at_restart
        elapsed = (drained_at or time.monotonic()) - t_up
        print()
        print("| measure | value |")
        print("|---|---|")
        print(f"| outage | {args.outage_s:.0f} s at {args.rate:,} readings/s; batch_records {args.batch} |")
        print(f"| backlog when the broker came back | {backlog:,} records |")
        if drained_at:
            print(f"| time to drain (depth < 1 s of readings) | {elapsed:.1f} s |")
            print(f"| drain rate (backlog + new) / time | {(backlog + new_during_drain) / elapsed:,.0f} records/s |")
        else:
            print(f"| time to drain | not drained within {args.max_drain_s:.0f} s (depth {depth_after:,}) |")
        print(f"| records dropped by the store | {dropped:,} |")
        print(f"| new records stored while draining | {new_during_drain:,} ({new_during_drain / max(elapsed, 1e-9):,.0f}/s) |")
    finally:
        benchlib.stop_process(daemon)
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
