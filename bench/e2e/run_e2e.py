#!/usr/bin/env python3
"""End-to-end benchmark of the foundation pipeline (issue 2):

  sim driver (as fast as possible) -> bounded queue -> threshold rule -> SQLite store -> file upstream

and beside it, in the same run, the bare SQLite loop of bench/store (same rows, same batch size).
Also runs the same pipeline paced at 10k readings/s to measure peak RSS and CPU per 10k readings/s.

usage: bench/e2e/run_e2e.py [--build build/release] [--readings 2000000] [--reps 3]
Prints a markdown table; medians over the repetitions. Bounded: each run has a fixed number of
readings (max_samples) and a timeout.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

CONFIG = """
[gateway]
id = "bench"
data_dir = "{dir}/data"
log_level = "warn"
rules = ["{dir}/rules.toml"]

[store]
batch_records = {batch}
batch_ms = 100

[drivers.plant]
type = "sim"
devices = {devices}
realtime = {realtime}
interval_ms = {interval_ms}
max_samples = {samples}
batch = 1024

[upstreams.out]
type = "file"
path = "{dir}/out.jsonl"
batch_records = {batch}
"""

RULES = """
[[rule]]
name = "temperature_high"
series = ["temperature"]
[rule.detector]
type = "threshold"
above = 100.0
"""


def run_once(binary, workdir, **kw):
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    with open(os.path.join(workdir, "rules.toml"), "w") as f:
        f.write(RULES)
    cfg = os.path.join(workdir, "gateway.toml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(dir=workdir, **kw))
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "run", "--config", cfg, "--exit-when-drained"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4 gives this child's own rusage: its peak RSS and CPU time.
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"processnow failed: {err[-2000:]}")
    with open(os.path.join(workdir, "out.jsonl"), "rb") as f:
        lines = sum(1 for _ in f)
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "lines": lines, "cpu": cpu, "maxrss_kb": usage.ru_maxrss}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--readings", type=int, default=2_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    binary = os.path.join(args.build, "gateway/service/processnow")
    store_bench = os.path.join(args.build, "bench/store/store_bench")
    tmp = tempfile.mkdtemp(prefix="pn-e2e-")
    devices = 20
    samples = args.readings // (devices * 5)
    try:
        rates, cpus = [], []
        for _ in range(args.reps):
            r = run_once(binary, os.path.join(tmp, "fast"), batch=args.batch, devices=devices,
                         realtime="false", interval_ms=1000, samples=samples)
            readings = devices * 5 * samples
            if r["lines"] < readings:
                raise SystemExit(f"only {r['lines']} of {readings} readings arrived")
            rates.append(readings / r["wall"])
            cpus.append(r["cpu"] / r["wall"])
        # Paced at 10k readings/s: 20 devices x 5 series every 10 ms, for 10 s.
        paced = run_once(binary, os.path.join(tmp, "paced"), batch=1000, devices=20,
                         realtime="true", interval_ms=10, samples=1000)
        paced_rate = paced["lines"] / paced["wall"]
        cpu_per_10k = paced["cpu"] / paced["wall"] / (paced_rate / 10_000) * 100

        bare = subprocess.run([store_bench, "--rows", "200000", "--reps", str(max(3, args.reps)),
                               "--dir", tmp], capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"| measure | value |")
    print(f"|---|---|")
    print(f"| end to end, sim full speed -> threshold -> store -> file (median of {args.reps}) "
          f"| {statistics.median(rates):,.0f} readings/s (runs: "
          + ", ".join(f"{x:,.0f}" for x in rates) + ") |")
    print(f"| CPU while at full speed | {statistics.median(cpus) * 100:.0f}% of one core |")
    print(f"| paced run | {paced_rate:,.0f} readings/s for {paced['wall']:.1f} s |")
    print(f"| peak RSS at 10k readings/s | {paced['maxrss_kb'] / 1024:.1f} MB |")
    print(f"| CPU per 10k readings/s | {cpu_per_10k:.1f}% of one core |")
    print()
    print("Store commit rate against the bare SQLite loop (bench/store/store_bench, same run):")
    print()
    print(bare.stdout.strip())


if __name__ == "__main__":
    main()
