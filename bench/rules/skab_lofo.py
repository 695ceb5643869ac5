#!/usr/bin/env python3
"""Leave-one-file-out (LOFO) choice of the SKAB `hotelling` parameters, and the anomaly-free rate.

Run from the repository root (paths to ../shared are relative to it):

  python3 bench/rules/skab_lofo.py [--replay build/h-skab/rules/pn_replay] [--set KEY=V1,V2 ...]

For each detector setting of the grid the replay runs once per file with min_score = 0, so every
scored row emits an `anomaly` event carrying its raw score; the rule's min_score (the flag
threshold) is then swept here in Python over THRESHOLDS. Rows are matched to events by time
stamp and the first 400 rows of every valve1 file are not scored, as in score_skab.py (the
labels are stripped from the copies the replay reads).

Selection rule (the same everywhere): among the (setting, threshold) pairs whose pooled false-
alarm rate on the files used is at most the budget (--max-far; 8% keeps a margin below the 10%
target, 10% is the target itself), the highest pooled F1 (ties: lower FAR); if none
qualifies, the highest F1. LOFO: for each of the 16 valve1 files, select on the other 15
and score the left-out file with that choice; the left-out rows of all 16 folds are pooled.
In-sample: select on all 16 files. The anomaly-free file (../shared/data/skab/anomaly-free) is
not used for selection; its rate (distinct flagged rows / all rows, and / rows after the 400-row
warm-up) is reported for the chosen settings.
"""
import argparse
import calendar
import csv
import glob
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True

SHARED = os.path.join('..', 'shared')
VALVE1 = os.path.join(SHARED, 'data', 'skab', 'valve1')
ANOMALY_FREE = os.path.join(SHARED, 'data', 'skab', 'anomaly-free', 'anomaly-free.csv')
TRAIN_ROWS = 400
THRESHOLDS = [0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 0.99995, 0.99999, 0.999995, 0.999999,
              0.9999999, 0.99999999]
SERIES = ['Accelerometer1RMS', 'Accelerometer2RMS', 'Current', 'Pressure', 'Temperature',
          'Thermocouple', 'Voltage', 'Volume Flow RateRMS']
# Fixed keys (those of the committed config before this harness).
BASE = {'baseline': 400, 'variance': 0.9, 'shrinkage': 0.05}


# The grid searched (every combination; keys that cannot matter are not varied twice).
AXES = {
    'smoothing': [3, 5, 10],
    'min_relative_std': [0.005],
    'trim_level': [0.0, 0.999999],
    'adapt_memory': [250, 500, 1000, 2000],
    'adapt_level': [0.9999, 0.99999, 0.999999],
    'adapt_holdoff': [25, 50, 100],
    'rebaseline_after': [0, 300],
    'rebaseline_window': [120],
    'rebaseline_spread': [3.0],
}


def grids(overrides):
    """Detector settings (dicts of keys on top of BASE) to try."""
    axes = dict(AXES)
    for item in overrides:
        k, _, vs = item.partition('=')
        axes[k] = [json.loads(v) for v in vs.split(',')]
    keys = list(axes)
    for values in itertools.product(*(axes[k] for k in keys)):
        s = dict(zip(keys, values))
        if s.get('rebaseline_after', 0) == 0 and any(
                s.get(k, axes.get(k, [None])[0]) != axes.get(k, [None])[0]
                for k in ('rebaseline_window', 'rebaseline_spread')):
            continue
        if s.get('adapt_memory', 0) == 0 and s.get('adapt_holdoff', 0) != axes.get(
                'adapt_holdoff', [0])[0]:
            continue
        if s.get('adapt_memory', 0) == 0 and s.get('rebaseline_after', 0) == 0 and s.get(
                'adapt_level') != axes.get('adapt_level', [None])[0]:
            continue  # adapt_level only matters with adaptation or rebaselining
        yield s


def toml_value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    return repr(v)


def rule_text(setting, min_score):
    lines = ['[[rule]]', 'name = "skab_pump"', 'devices = ["*"]',
             'series = [' + ', '.join(f'"{s}"' for s in SERIES) + ']', '',
             '[rule.detector]', 'type = "hotelling"', f'min_score = {toml_value(min_score)}']
    for k, v in {**BASE, **setting}.items():
        lines.append(f'{k} = {toml_value(v)}')
    return '\n'.join(lines) + '\n'


def read_rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f, delimiter=';'))


def parse_ms(text):
    return calendar.timegm(time.strptime(text.strip().split('.')[0], '%Y-%m-%d %H:%M:%S')) * 1000


def unlabelled_copy(rows, dst):
    keep = [c for c in rows[0] if c not in ('anomaly', 'changepoint')]
    with open(dst, 'w', newline='') as out:
        w = csv.writer(out, delimiter=';')
        w.writerow(keep)
        for row in rows:
            w.writerow([row[c] for c in keep])


def row_scores(replay, rules_path, csv_path, times):
    """Score of each row (max over events at its time stamp; -1 when none)."""
    proc = subprocess.run([replay, '--rules', rules_path, '--csv', csv_path],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f'replay failed ({proc.returncode}): {proc.stderr[-2000:]}')
    by_ts = {}
    for line in proc.stdout.splitlines():
        ev = json.loads(line)
        if ev.get('kind') == 'anomaly':
            by_ts[ev['ts']] = max(by_ts.get(ev['ts'], -1.0), ev['score'])
    return [by_ts.get(t, -1.0) for t in times]


def counts(scores, labels, threshold):
    tp = fp = tn = fn = 0
    for s, a in zip(scores, labels):
        hit = s >= threshold
        if a and hit:
            tp += 1
        elif a:
            fn += 1
        elif hit:
            fp += 1
        else:
            tn += 1
    return (tp, fp, tn, fn)


def add(*cs):
    return tuple(sum(x) for x in zip(*cs))


def metrics(c):
    tp, fp, tn, fn = c
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    far = fp / (fp + tn) if fp + tn else 0.0
    mar = fn / (fn + tp) if fn + tp else 0.0
    return f1, far, mar


def select(table, files, max_far):
    """table[(setting index, threshold)][file] = counts; the best pair on `files`."""
    best = None
    best_key = None
    for key, per_file in table.items():
        f1, far, _ = metrics(add(*(per_file[f] for f in files)))
        rank = (far <= max_far, f1, -far)
        if best is None or rank > best:
            best, best_key = rank, key
    return best_key


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--replay', default='build/h-skab/rules/pn_replay')
    ap.add_argument('--set', action='append', default=[], metavar='KEY=V1,V2',
                    help='replace the values tried for one key of AXES (JSON values)')
    ap.add_argument('--top', type=int, default=10, help='in-sample ranking lines to print')
    ap.add_argument('--max-far', type=float, action='append',
                    help='FAR budget of the selection rule (repeatable; default 0.08 and 0.10)')
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(VALVE1, '*.csv')),
                   key=lambda p: int(os.path.basename(p)[:-4]))
    settings = list(grids(args.set))
    print(f'{len(settings)} detector settings x {len(THRESHOLDS)} thresholds, '
          f'{len(files)} valve1 files + anomaly-free', file=sys.stderr)
    table = {}   # (setting index, threshold) -> {file: counts}
    free = {}    # setting index -> anomaly-free row scores
    with tempfile.TemporaryDirectory() as tmp:
        data = {}
        for path in files:
            rows = read_rows(path)
            copy = os.path.join(tmp, os.path.basename(path))
            unlabelled_copy(rows, copy)
            data[path] = (copy, [parse_ms(r['datetime']) for r in rows],
                          [float(r['anomaly']) > 0.5 for r in rows])
        free_rows = read_rows(ANOMALY_FREE)
        free_times = [parse_ms(r['datetime']) for r in free_rows]
        rules_path = os.path.join(tmp, 'rules.toml')
        for si, setting in enumerate(settings):
            with open(rules_path, 'w') as f:
                f.write(rule_text(setting, 0.0))
            for path in files:
                copy, times, labels = data[path]
                scores = row_scores(args.replay, rules_path, copy, times)[TRAIN_ROWS:]
                for th in THRESHOLDS:
                    table.setdefault((si, th), {})[path] = counts(scores, labels[TRAIN_ROWS:], th)
            free[si] = row_scores(args.replay, rules_path, ANOMALY_FREE, free_times)
            print(f'  {si + 1}/{len(settings)} {setting}', file=sys.stderr)

    def free_rate(si, th):
        flagged = [s >= th for s in free[si]]
        return sum(flagged) / len(flagged), sum(flagged[TRAIN_ROWS:]) / len(flagged[TRAIN_ROWS:])

    def describe(key):
        si, th = key
        return f'min_score={th} ' + ' '.join(f'{k}={v}' for k, v in settings[si].items())

    for max_far in args.max_far or [0.08, 0.10]:
        report(table, files, settings, free, max_far, args.top)


def report(table, files, settings, free, max_far, top):
    def free_rate(si, th):
        flagged = [s >= th for s in free[si]]
        return sum(flagged) / len(flagged), sum(flagged[TRAIN_ROWS:]) / len(flagged[TRAIN_ROWS:])

    def describe(key):
        si, th = key
        return f'min_score={th} ' + ' '.join(f'{k}={v}' for k, v in settings[si].items())

    print(f'== selection rule: FAR <= {100 * max_far:.0f}% on the files used, then highest F1')
    print('In-sample ranking (all 16 files):')
    ranked = sorted(table, key=lambda k: (lambda m: (m[1] <= max_far, m[0], -m[1]))(
        metrics(add(*table[k].values()))), reverse=True)
    for key in ranked[:top]:
        f1, far, mar = metrics(add(*table[key].values()))
        fr = free_rate(*key)
        print(f'  F1 {f1:.3f} FAR {100 * far:5.2f}% MAR {100 * mar:5.2f}% '
              f'anomaly-free {100 * fr[0]:5.2f}% | {describe(key)}')
    print('LOFO folds (left-out file scored with the choice made on the other 15):')
    pooled = []
    for path in files:
        key = select(table, [f for f in files if f != path], max_far)
        c = table[key][path]
        pooled.append(c)
        f1, far, mar = metrics(c)
        fr = free_rate(*key)
        print(f'  {os.path.basename(path):>6}: F1 {f1:.3f} FAR {100 * far:5.2f}% '
              f'MAR {100 * mar:5.2f}% anomaly-free {100 * fr[0]:5.2f}% | {describe(key)}')
    key = select(table, files, max_far)
    ins = metrics(add(*table[key].values()))
    lofo = metrics(add(*pooled))
    fr = free_rate(*key)
    print(f'Chosen on all 16 files: {describe(key)}')
    print(f'  in-sample: F1 {ins[0]:.3f} FAR {100 * ins[1]:.2f}% MAR {100 * ins[2]:.2f}%')
    print(f'  LOFO     : F1 {lofo[0]:.3f} FAR {100 * lofo[1]:.2f}% MAR {100 * lofo[2]:.2f}%')
    print(f'  anomaly-free flagged: {100 * fr[0]:.2f}% of all rows, '
          f'{100 * fr[1]:.2f}% of rows after the {TRAIN_ROWS}-row warm-up')

if __name__ == '__main__':
    main()
