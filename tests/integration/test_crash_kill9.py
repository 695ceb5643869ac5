"""kill -9 of the real daemon at random moments, 20 seeded cycles: after every restart the file
upstream's output, deduplicated by (gateway, seq), holds every record the store ever committed
(seq contiguous from 1 to the store's final last seq) and each series' readings in time order.

Shared with bench/soak/kill9_soak.sh (which runs more cycles): `python3 test_crash_kill9.py
--cycles N --seed S` runs the same check standalone and prints a summary."""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import unittest

from pn_testlib import BINARY, GatewayTestCase

CONFIG = """
[store]
batch_ms = 20

[drivers.plant]
type = "sim"
seed = 11
devices = 3
interval_ms = 10
realtime = true

[[drivers.plant.fault]]
device = "pump-1"
series = "temperature"
kind = "step"
at_s = 0.0
duration_s = 100000.0
magnitude = 80.0

[upstreams.out]
type = "file"
path = "{out}"
"""

# pump-1's temperature is pushed far over the threshold: an alarm event at every start.
RULES = """
[[rule]]
name = "temperature_high"
devices = ["pump-*"]
series = ["temperature"]
[rule.detector]
type = "threshold"
above = 90.0
[rule.alarm]
raise_after = 2
clear_after = 2
"""


def parse_output(path):
    """Records from the file upstream's JSON lines. A kill -9 in the middle of a write may leave
    a partial line; the file upstream then sends those records again, whole. Lines that do not
    parse are counted and skipped, as the file upstream's README tells readers to."""
    records, bad = [], 0
    if not os.path.exists(path):
        return records, bad
    with open(path, "rb") as f:
        for raw in f:
            try:
                records.append(json.loads(raw))
            except ValueError:
                bad += 1
    return records, bad


def buffer_report(config):
    proc = subprocess.run([BINARY, "buffer", "--config", config, "--json"], capture_output=True,
                          text=True, timeout=30)
    if proc.returncode != 0:
        raise AssertionError(f"processnow buffer failed ({proc.returncode}): {proc.stderr}")
    return json.loads(proc.stdout)


def check_output(records, last_seq):
    """Returns a list of problems (empty when every committed record arrived, in order)."""
    problems = []
    by_seq = {}
    for r in records:
        if r.get("gateway") != "it-gw":
            problems.append(f"record without the gateway id: {r}")
            continue
        prev = by_seq.get(r["seq"])
        if prev is not None and prev != r:
            problems.append(f"seq {r['seq']} arrived with two different contents")
        by_seq[r["seq"]] = r
    missing = [s for s in range(1, last_seq + 1) if s not in by_seq]
    if missing:
        problems.append(f"{len(missing)} committed records never arrived, first {missing[:10]}")
    extra = [s for s in by_seq if s < 1 or s > last_seq]
    if extra:
        problems.append(f"records beyond the store's last seq {last_seq}: {sorted(extra)[:10]}")
    last_ts = {}
    for seq in sorted(by_seq):
        r = by_seq[seq]
        if r["type"] != "reading":
            continue
        key = (r["device"], r["series"])
        if key in last_ts and r["ts_ns"] <= last_ts[key]:
            problems.append(f"{key}: seq {seq} at ts {r['ts_ns']} not after {last_ts[key]}")
            break
        last_ts[key] = r["ts_ns"]
    return problems


def run_cycles(workdir, config, out, cycles, seed, log=print, min_s=0.05, max_s=1.0):
    """Starts the daemon `cycles` times and SIGKILLs it after a random delay; then runs it once
    more and stops it with SIGTERM so it forwards what is left. Returns a summary dict."""
    rng = random.Random(seed)
    kills = 0
    started = time.monotonic()
    for i in range(cycles):
        with open(os.path.join(workdir, "daemon.log"), "ab") as err:
            proc = subprocess.Popen([BINARY, "run", "--config", config],
                                    stdout=subprocess.DEVNULL, stderr=err)
            time.sleep(rng.uniform(min_s, max_s))
            if proc.poll() is not None:
                raise AssertionError(f"cycle {i}: the daemon exited by itself with "
                                     f"{proc.returncode}; see {workdir}/daemon.log")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
    with open(os.path.join(workdir, "daemon.log"), "ab") as err:
        proc = subprocess.Popen([BINARY, "run", "--config", config], stdout=subprocess.DEVNULL,
                                stderr=err)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    if rc != 0:
        raise AssertionError(f"final graceful stop exited with {rc}")
    report = buffer_report(config)
    records, bad = parse_output(out)
    unique = len({r["seq"] for r in records if "seq" in r})
    summary = {
        "cycles": cycles, "kills": kills, "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
        "last_seq": report["last_seq"], "lines": len(records) + bad, "unique": unique,
        "duplicates": len(records) - unique, "partial_lines": bad,
        "events": sum(1 for r in records if r.get("type") == "event"),
        "held_after_stop": report["records"],
        "dropped": report["dropped"]["total"],
        "problems": check_output(records, report["last_seq"]),
    }
    if report["records"] != 0 or any(u["depth"] != 0 for u in report["upstreams"]):
        summary["problems"].append(f"the store still holds records after a graceful stop: "
                                   f"{report}")
    if report["dropped"]["total"] != 0:
        summary["problems"].append(f"the store dropped records: {report['dropped']}")
    return summary


def write_config(workdir):
    out = os.path.join(workdir, "out.jsonl")
    data_dir = os.path.join(workdir, "data")
    rules_dir = os.path.join(workdir, "rules.d")
    os.makedirs(rules_dir, exist_ok=True)
    with open(os.path.join(rules_dir, "temp.toml"), "w") as f:
        f.write(RULES)
    config = os.path.join(workdir, "gateway.toml")
    with open(config, "w") as f:
        f.write(f'[gateway]\nid = "it-gw"\ndata_dir = "{data_dir}"\nlog_level = "info"\n'
                f'rules = ["rules.d/*.toml"]\nshutdown_timeout_ms = 20000\n' +
                CONFIG.format(out=out))
    return config, out


class KillNine(GatewayTestCase):
    def test_twenty_random_kill9_cycles_lose_no_committed_record(self):
        config, out = write_config(self.dir)
        summary = run_cycles(self.dir, config, out, cycles=20, seed=20261125, min_s=0.05,
                             max_s=0.9)
        print(f"\nkill -9 summary: {json.dumps(summary)}", file=sys.stderr)
        self.assertEqual(summary["problems"], [])
        self.assertEqual(summary["kills"], 20)
        # The daemon really committed and forwarded across the cycles (not an empty pass).
        self.assertGreater(summary["last_seq"], 5000)
        self.assertGreater(summary["events"], 0)


if __name__ == "__main__" and "--cycles" in sys.argv:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-s", type=float, default=0.05)
    ap.add_argument("--max-s", type=float, default=1.0)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    cfg, out_path = write_config(args.workdir)
    result = run_cycles(args.workdir, cfg, out_path, args.cycles, args.seed, min_s=args.min_s,
                        max_s=args.max_s)
    print(json.dumps(result, indent=2))
    sys.exit(1 if result["problems"] else 0)
