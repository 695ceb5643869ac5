#!/usr/bin/env python3
"""A/B of two processnow binaries on the end-to-end run of run_e2e.py (sim at full speed ->
threshold rule -> SQLite store -> file upstream), alternating them run by run so that both see
the same machine load. Prints the median readings/s and peak RSS of each and the ratio.

    python3 bench/e2e/ab_e2e.py --before OLD/processnow --after build/release/gateway/service/processnow

Build the "before" binary from a worktree of the older commit with the same build type."""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_e2e import run_once  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="the baseline binary")
    ap.add_argument("--after", required=True, help="the binary under test")
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    devices = 20
    samples = args.readings // (devices * 5)
    readings = devices * 5 * samples
    bins = {"before": args.before, "after": args.after}
    res = {k: {"rate": [], "rss": []} for k in bins}
    tmp = tempfile.mkdtemp(prefix="pn-ab-")
    try:
        for rep in range(args.reps):
            for name, binary in bins.items():
                r = run_once(binary, os.path.join(tmp, f"{rep}-{name}"), batch=5000,
                             devices=devices, realtime="false", interval_ms=1000,
                             samples=samples)
                if r["lines"] < readings:
                    raise SystemExit(f"{name}: only {r['lines']} of {readings} readings arrived")
                res[name]["rate"].append(readings / r["wall"])
                res[name]["rss"].append(r["maxrss_kb"] / 1024)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| binary | readings/s (median) | runs | peak RSS (median) |")
    print("|---|---:|---|---:|")
    for name, v in res.items():
        runs = ", ".join(f"{x:,.0f}" for x in v["rate"])
        print(f"| {name} | {statistics.median(v['rate']):,.0f} | {runs} | "
              f"{statistics.median(v['rss']):.1f} MB |")
    ratio = statistics.median(res["after"]["rate"]) / statistics.median(res["before"]["rate"])
    print(f"\nafter / before readings/s: {ratio:.3f}")


if __name__ == "__main__":
    main()
