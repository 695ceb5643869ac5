#!/usr/bin/env bash
# Scores the committed evaluation rules (config/eval/*.toml) on the shared benchmark data with
# the shared scorers and prints each result:
#   NAB     standard profile over the four given categories (config/eval/nab.toml)
#   SKAB    valve1 row-level F1, false-alarm and missed-alarm rates, and the share of the
#           anomaly-free recording flagged (config/eval/skab.toml)
#   C-MAPSS FD001 and FD002 test-set RUL RMSE (config/eval/cmapss.toml, cmapss_fd002.toml)
#
# Usage: bench/eval.sh [nab] [skab] [cmapss]      (default: all three)
#
# Environment:
#   REPLAY   replay command prefix; `--rules FILE --csv DATA ...` is appended. Default
#            "build/release/processnow replay", configured and built with the release preset if
#            missing. E.g. REPLAY=build/rules/rules/pn_replay for the rules-only dev binary.
#   SHARED   folder holding data/ and tools/ (default: ../shared next to the checkout)
#   PROFILE  NAB profile (default: standard)
#   VERBOSE  1 prints every per-file line of the scorers, not only the summaries
#   JOBS     build parallelism (default 2)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SHARED=${SHARED:-$(cd "$ROOT/.." && pwd)/shared}
DATA=$SHARED/data
TOOLS=$SHARED/tools
PROFILE=${PROFILE:-standard}
VERBOSE=${VERBOSE:-0}
JOBS=${JOBS:-2}

if [[ -z "${REPLAY:-}" ]]; then
  bin=""
  for candidate in build/release/processnow build/release/gateway/service/processnow; do
    if [[ -x $candidate ]]; then bin=$candidate; break; fi
  done
  if [[ -z $bin ]]; then
    echo "eval.sh: building processnow (release preset)..." >&2
    cmake --preset release >/dev/null
    cmake --build build/release --target processnow -j"$JOBS" >&2
    for candidate in build/release/processnow build/release/gateway/service/processnow; do
      if [[ -x $candidate ]]; then bin=$candidate; break; fi
    done
  fi
  [[ -n $bin ]] || { echo "eval.sh: no processnow binary found" >&2; exit 1; }
  REPLAY="$bin replay"
fi

summary() {  # the scorer's own summary lines, or everything with VERBOSE=1
  if [[ $VERBOSE == 1 ]]; then cat; else grep -E '^(category|windows|NAB|rows|SKAB|RMSE|PHM|RUL|units|score)|RMSE|warning' || true; fi
}

run() {  # NAME COMMAND...
  local name=$1 start end
  shift
  echo "== $name"
  printf '$'; printf ' %q' "$@"; echo
  start=$(date +%s%N)
  "$@" | summary
  end=$(date +%s%N)
  echo "($(( (end - start) / 1000000 )) ms)"
  echo
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(nab skab cmapss)
for t in "${targets[@]}"; do
  case $t in
    nab)
      run "NAB ($PROFILE profile, 4 categories)" python3 "$TOOLS/score_nab.py" \
        --data "$DATA/nab/data" --windows "$DATA/nab/combined_windows.json" --profile "$PROFILE" \
        --replay "$REPLAY --rules config/eval/nab.toml --csv {csv}" ;;
    skab)
      run "SKAB valve1" python3 "$TOOLS/score_skab.py" --data "$DATA/skab/valve1" \
        --replay "$REPLAY --rules config/eval/skab.toml --csv {csv}"
      echo "== SKAB anomaly-free: rows flagged (target <= 5%)"
      $REPLAY --rules config/eval/skab.toml --csv "$DATA/skab/anomaly-free/anomaly-free.csv" \
          2>/dev/null | python3 -c '
import json, sys
rows = sum(1 for _ in open(sys.argv[1])) - 1
flagged = {json.loads(l)["ts"] for l in sys.stdin if json.loads(l)["kind"] == "anomaly"}
print(f"anomaly-free: {len(flagged)} of {rows} rows flagged ({100 * len(flagged) / rows:.2f}%)")
' "$DATA/skab/anomaly-free/anomaly-free.csv"
      echo ;;
    cmapss)
      run "C-MAPSS FD001" python3 "$TOOLS/score_rul.py" --test "$DATA/cmapss/test_FD001.csv" \
        --truth "$DATA/cmapss/RUL_FD001.txt" \
        --replay "$REPLAY --rules config/eval/cmapss.toml --csv {csv} --device-column unit --time-column cycle"
      run "C-MAPSS FD002" python3 "$TOOLS/score_rul.py" --test "$DATA/cmapss/test_FD002.csv" \
        --truth "$DATA/cmapss/RUL_FD002.txt" \
        --replay "$REPLAY --rules config/eval/cmapss_fd002.toml --csv {csv} --device-column unit --time-column cycle" ;;
    *) echo "eval.sh: unknown benchmark '$t' (nab, skab, cmapss)" >&2; exit 2 ;;
  esac
done
