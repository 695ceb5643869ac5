#!/usr/bin/env bash
# kill -9 soak: starts the real daemon (sim driver, realtime, 3 pumps x 5 series every 10 ms,
# threshold alarm rule, file upstream) N times and SIGKILLs it after a random, seeded delay;
# then runs it once more, stops it with SIGTERM, and checks that the file upstream's output,
# deduplicated by (gateway, seq), holds every record the store ever committed (seq 1..last seq,
# no gaps), each series' readings in time order, and that the store dropped nothing.
# The check is the same as the integration test tests/integration/test_crash_kill9.py (20 cycles).
#
# Usage: bench/soak/kill9_soak.sh [-n CYCLES] [-s SEED] [-b BINARY] [-t TIMEOUT_S] [-k]
#   -n  cycles (default 200)            -s  seed (default: the date, printed)
#   -b  processnow binary (default: build/debug/gateway/service/processnow)
#   -t  overall time limit in seconds (default 1200)    -k  keep the work directory
# Prints a JSON summary; exits 0 when nothing was lost, 1 otherwise.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cycles=200
seed="$(date +%Y%m%d)"
binary="$root/build/debug/gateway/service/processnow"
limit=1200
keep=0
while getopts "n:s:b:t:k" opt; do
  case "$opt" in
    n) cycles="$OPTARG" ;;
    s) seed="$OPTARG" ;;
    b) binary="$OPTARG" ;;
    t) limit="$OPTARG" ;;
    k) keep=1 ;;
    *) sed -n '2,14p' "$0"; exit 64 ;;
  esac
done
[[ -x "$binary" ]] || { echo "kill9_soak: no binary at $binary (use -b)" >&2; exit 66; }
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
work="$(mktemp -d /tmp/pn-kill9-soak.XXXXXX)"
if [[ "$keep" == 0 ]]; then trap 'rm -rf "$work"' EXIT; else echo "work directory: $work" >&2; fi
echo "kill9_soak: $cycles cycles, seed $seed, binary $binary" >&2
cd "$root/tests/integration"
PN_BINARY="$binary" timeout --signal=KILL "$limit" \
  /usr/bin/python3 test_crash_kill9.py --cycles "$cycles" --seed "$seed" --workdir "$work"
