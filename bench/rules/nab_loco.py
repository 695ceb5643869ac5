#!/usr/bin/env python3
"""NAB parameter selection with leave-one-category-out, for config/eval/nab.toml.

Runs `replay` once per detector setting with min_score = 0 and hold = 0, so that every scored
row prints its raw score; caches those scores; then applies every (min_score, hold) pair of the
grid in Python exactly as the engine would (a detection at a row whose score >= min_score, then
`hold` rows scored 0) and scores the detections with the shared NAB scorer's own `score_file`.

It reports:
  in-sample   the best setting over all four categories, and its per-category scores;
  left-out    for each category, the setting that scores best on the other three, scored on
              the left-out category; the corpus score of those four left-out results together.

Usage (from the repository root):
  python3 bench/rules/nab_loco.py --replay build/release/rules/pn_replay \\
      --rules config/eval/nab.toml [--set key=v1,v2 ...] [--min-score 0.99,0.999] [--hold 0,300]

`--set key=v1,v2` varies a key of [rule.detector] over the listed values (several --set make a
grid); the rule file's other keys stay as written. Scores are cached under build/nab-cache/.
Every figure this prints is computed on ../shared/data only.
"""
import argparse
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get('SHARED', os.path.join(os.path.dirname(ROOT), 'shared'))
sys.path.insert(0, os.path.join(SHARED, 'tools'))
from replay_events import parse_time  # noqa: E402
from score_nab import PROFILES, score_file  # noqa: E402

DATA = os.path.join(SHARED, 'data', 'nab')


def set_key(text, key, value):
    """Sets `key = value` inside the [rule.detector] table of a rule file's text."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == '[rule.detector]')
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith('[')), len(lines))
    pat = re.compile(r'^\s*' + re.escape(key) + r'\s*=')
    for i in range(start + 1, end):
        if pat.match(lines[i]):
            lines[i] = f'{key} = {value}'
            return '\n'.join(lines) + '\n'
    lines.insert(end, f'{key} = {value}')
    return '\n'.join(lines) + '\n'


def load_files():
    windows = json.load(open(os.path.join(DATA, 'combined_windows.json')))
    files = []
    for rel in sorted(windows):
        path = os.path.join(DATA, 'data', rel)
        if os.path.exists(path):
            with open(path) as f:
                times = [parse_time(line.split(',')[0]) for line in f.read().splitlines()[1:] if line]
            files.append((rel, path, times, windows[rel]))
    return files


def raw_scores(replay, rules_text, files, jobs):
    """Per file, a list of scores (None while warming up), cached by rule text and binary."""
    key = hashlib.sha1((rules_text + str(os.path.getmtime(replay))).encode()).hexdigest()[:16]
    cache = os.path.join(ROOT, 'build', 'nab-cache', key)
    os.makedirs(cache, exist_ok=True)
    rules_path = os.path.join(cache, 'rules.toml')
    with open(rules_path, 'w') as f:
        f.write(rules_text)

    def one(item):
        rel, path, times, _ = item
        out = os.path.join(cache, rel.replace('/', '__') + '.json')
        if os.path.exists(out):
            return rel, json.load(open(out))
        proc = subprocess.run([replay, '--rules', rules_path, '--csv', path],
                              capture_output=True, text=True, check=True)
        index = {t: i for i, t in enumerate(times)}
        scores = [None] * len(times)
        for line in proc.stdout.splitlines():
            ev = json.loads(line)
            if ev.get('kind') == 'anomaly':
                scores[index[float(ev['ts'])]] = ev.get('score', 1.0)
        with open(out, 'w') as f:
            json.dump(scores, f)
        return rel, scores

    with ThreadPoolExecutor(jobs) as ex:
        return dict(ex.map(one, files))


def detections(scores, min_score, hold):
    out, last = [], -10**9
    for i, s in enumerate(scores):
        if s is not None and s >= min_score and i > last + hold:
            out.append(i)
            last = i
    return out


def evaluate(files, scores, min_score, hold, weights):
    """Per category: [raw, null, perfect, tp, fn, fp]."""
    cats = {}
    for rel, _, times, wins in files:
        raw, tp, fn, fp, nwin = score_file(times, detections(scores[rel], min_score, hold), wins,
                                           weights)
        c = cats.setdefault(rel.split('/')[0], [0.0, 0.0, 0.0, 0, 0, 0])
        for k, v in enumerate((raw, -weights[2] * nwin, weights[0] * nwin, tp, fn, fp)):
            c[k] += v
    return cats


def corpus(cats, names=None):
    names = names if names is not None else list(cats)
    raw = sum(cats[n][0] for n in names)
    null = sum(cats[n][1] for n in names)
    perfect = sum(cats[n][2] for n in names)
    return 100 * (raw - null) / (perfect - null) if perfect != null else float('nan')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--replay', required=True)
    ap.add_argument('--rules', default=os.path.join(ROOT, 'config', 'eval', 'nab.toml'))
    ap.add_argument('--set', action='append', default=[], help='key=v1,v2 of [rule.detector]')
    ap.add_argument('--min-score', default='0.99,0.995,0.998,0.999,0.9995,0.9999')
    ap.add_argument('--hold', default='0,100,200,300,400,600')
    ap.add_argument('--profile', default='standard', choices=sorted(PROFILES))
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--show', type=int, default=5, help='best settings listed')
    args = ap.parse_args()
    weights = PROFILES[args.profile]
    files = load_files()
    base = open(args.rules).read()
    base = set_key(set_key(base, 'min_score', '0.0'), 'hold', '0')
    grid_keys = [s.split('=', 1)[0] for s in args.set]
    grid_vals = [s.split('=', 1)[1].split(',') for s in args.set]
    thresholds = [float(x) for x in args.min_score.split(',')]
    holds = [int(x) for x in args.hold.split(',')]

    results = []  # (setting dict, per-category results)
    for combo in itertools.product(*grid_vals):
        text = base
        for k, v in zip(grid_keys, combo):
            text = set_key(text, k, v)
        scores = raw_scores(args.replay, text, files, args.jobs)
        for t in thresholds:
            for h in holds:
                setting = dict(zip(grid_keys, combo), min_score=t, hold=h)
                results.append((setting, evaluate(files, scores, t, h, weights)))

    cat_names = sorted(results[0][1])
    ranked = sorted(results, key=lambda r: -corpus(r[1]))
    print(f'{len(results)} settings; profile {args.profile}')
    for setting, cats in ranked[:args.show]:
        per = ' '.join(f'{n[:14]} {corpus(cats, [n]):.1f}' for n in cat_names)
        tp = sum(c[3] for c in cats.values())
        fn = sum(c[4] for c in cats.values())
        fp = sum(c[5] for c in cats.values())
        print(f'in-sample {corpus(cats):.1f}  [{per}]  tp {tp} fn {fn} fp {fp}  {setting}')
    left = {}
    for n in cat_names:
        others = [m for m in cat_names if m != n]
        best = max(results, key=lambda r: corpus(r[1], others))
        left[n] = best[1][n]
        print(f'left out {n}: chosen on the others {best[0]} -> {corpus(best[1], [n]):.1f} '
              f'(in-sample best for it {max(corpus(r[1], [n]) for r in results):.1f})')
    print(f'left-out corpus score (each category with the setting chosen without it): '
          f'{corpus(left):.1f}')
    print(f'in-sample corpus score (one setting for all): {corpus(ranked[0][1]):.1f}')


if __name__ == '__main__':
    main()
