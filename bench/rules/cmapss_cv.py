#!/usr/bin/env python3
"""Cross-validation of a C-MAPSS health rule file on the training engines only.

Splits the training engines of TRAIN into FOLDS folds (seeded shuffle). For each fold, the other
folds' engines become the reference library (a temporary CSV; the rule file's `library` key is
pointed at it in a temporary copy of the rule file) and the held-out engines are replayed in full
through pn_replay. Each held-out engine is scored at TRUNCATIONS random cycles drawn uniformly from
[min(31, life - 1), life - 1] (31: the shortest test engine of FD001), as the test sets truncate
their engines: the estimate is the `rul` event at that cycle (a streaming model's state at a cycle
depends only on the rows before it) and the truth is min(life - cycle, --truth-cap); with a cap,
a second line scores the same estimates against the uncapped truth (life - cycle).
With --cut-lengths CSV the cut is instead the observed length (cycles) of a random engine of that
CSV (e.g. a test set: only its lengths are read, never its RUL truth), redrawn while it is not
shorter than the held-out engine's life, so the cuts follow the test set's observed lengths.

Optionally (--test, --truth) also scores the rule file as given on a test set, exactly like
../shared/tools/score_rul.py (last estimate per engine against the RUL file, uncapped truth).

Parameters can be overridden without editing the rule file: --set memory=50 --set neighbours=20
(a key of the rule file, replaced where it is, or added to [rule.health]).

Usage (from the checkout):
  python3 bench/rules/cmapss_cv.py --config config/eval/cmapss.toml \\
      --train ../shared/data/cmapss/train_FD001.csv \\
      --test ../shared/data/cmapss/test_FD001.csv --truth ../shared/data/cmapss/RUL_FD001.txt
No data is written outside a temporary folder.
"""
import argparse
import csv
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile


def read_units(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    ui, ci = header.index("unit"), header.index("cycle")
    units = {}
    order = []
    for r in body:
        if not r:
            continue
        u = r[ui]
        if u not in units:
            units[u] = []
            order.append(u)
        units[u].append(r)
    return header, ui, ci, order, units


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def rule_text(config_path, library, overrides):
    text = open(config_path).read()
    sets = dict(overrides)
    sets["library"] = json.dumps(os.path.abspath(library))
    for key, value in sets.items():
        pattern = re.compile(r"^(" + re.escape(key) + r")\s*=\s*(\[.*?\]|[^\n]*)$", re.M | re.S)
        if pattern.search(text):
            text = pattern.sub(lambda m: m.group(1) + " = " + value, text, count=1)
        else:
            text = re.sub(r"^(method\s*=.*)$", lambda m: m.group(1) + "\n" + key + " = " + value,
                          text, count=1, flags=re.M)
    return text


def replay(replay_cmd, rules, csv_path):
    cmd = replay_cmd.split() + ["--rules", rules, "--csv", csv_path, "--device-column", "unit",
                                "--time-column", "cycle"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("replay failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr[-3000:]))
    out = {}
    for line in p.stdout.splitlines():
        e = json.loads(line)
        if e.get("kind") == "rul":
            out[(str(e["device"]), int(round(float(e["ts"]))))] = float(e["rul"])
    return out


def scores(errors):
    rmse = math.sqrt(sum(d * d for d in errors) / len(errors))
    phm = sum(math.exp(-d / 13) - 1 if d < 0 else math.exp(d / 10) - 1 for d in errors)
    return rmse, phm


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--truncations", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--truth-cap", type=float, default=125.0, help="0: uncapped")
    ap.add_argument("--replay", default="build/h-cmapss/rules/pn_replay")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--cut-lengths", metavar="CSV",
                    help="draw cuts from the observed lengths of this CSV's engines")
    ap.add_argument("--test")
    ap.add_argument("--truth")
    args = ap.parse_args()
    overrides = [tuple(s.split("=", 1)) for s in args.set]

    header, _, ci, order, units = read_units(args.train)
    cut_lengths = None
    if args.cut_lengths:
        _, _, _, corder, cunits = read_units(args.cut_lengths)
        cut_lengths = [len(cunits[u]) for u in corder]
    rng = random.Random(args.seed)
    shuffled = list(order)
    rng.shuffle(shuffled)
    folds = [shuffled[i::args.folds] for i in range(args.folds)]
    errors = []
    uncapped = []  # the same estimates against the true remaining life
    with tempfile.TemporaryDirectory(prefix="pn_cmapss_cv_") as tmp:
        for k, held in enumerate(folds):
            held_set = set(held)
            lib = os.path.join(tmp, "library_%d.csv" % k)
            write_csv(lib, header, [r for u in order if u not in held_set for r in units[u]])
            test = os.path.join(tmp, "heldout_%d.csv" % k)
            write_csv(test, header, [r for u in held for r in units[u]])
            rules = os.path.join(tmp, "rules_%d.toml" % k)
            with open(rules, "w") as f:
                f.write(rule_text(args.config, lib, overrides))
            est = replay(args.replay, rules, test)
            fold_err = []
            for u in held:
                cycles = [int(float(r[ci])) for r in units[u]]
                life = cycles[-1]
                lo = min(31, len(cycles) - 1)
                for _ in range(args.truncations):
                    if cut_lengths:
                        n = rng.choice(cut_lengths)
                        while n > len(cycles) - 1:
                            n = rng.choice(cut_lengths)
                        t = cycles[n - 1]
                    else:
                        t = cycles[rng.randint(lo, len(cycles) - 1) - 1]
                    truth = min(life - t, args.truth_cap) if args.truth_cap > 0 else life - t
                    if (u, t) not in est:
                        sys.exit("no estimate for unit %s at cycle %d" % (u, t))
                    fold_err.append(est[(u, t)] - truth)
                    uncapped.append(est[(u, t)] - (life - t))
            errors += fold_err
            print("fold %d: %d engines, RMSE %.2f" % (k, len(held), scores(fold_err)[0]))
        rmse, phm = scores(errors)
        print("CV RMSE %.2f  PHM08 %.0f  (%d folds x %d truncations, %d estimates)" %
              (rmse, phm, args.folds, args.truncations, len(errors)))
        if args.truth_cap > 0:
            rmse, phm = scores(uncapped)
            print("CV RMSE uncapped %.2f  PHM08 %.0f  (the same estimates against the true "
                  "remaining life)" % (rmse, phm))
        if args.test and args.truth:
            rules = os.path.join(tmp, "rules_test.toml")
            cfg_dir = os.path.dirname(os.path.abspath(args.config))
            lib_line = re.search(r'^library\s*=\s*"([^"]*)"', open(args.config).read(), re.M)
            lib_path = os.path.join(cfg_dir, lib_line.group(1))
            with open(rules, "w") as f:
                f.write(rule_text(args.config, lib_path, overrides))
            est = replay(args.replay, rules, args.test)
            last = {}
            for (u, t), v in est.items():
                if u not in last or t > last[u][0]:
                    last[u] = (t, v)
            truth = [float(x) for x in open(args.truth).read().split()]
            errs = [last[str(i + 1)][1] - truth[i] for i in range(len(truth))]
            rmse, phm = scores(errs)
            capped = [last[str(i + 1)][1] - min(truth[i], args.truth_cap or math.inf)
                      for i in range(len(truth))]
            print("TEST RMSE %.2f  PHM08 %.0f  (%d engines; truth capped at %g: RMSE %.2f)" %
                  (rmse, phm, len(errs), args.truth_cap, scores(capped)[0]))


if __name__ == "__main__":
    main()
