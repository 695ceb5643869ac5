#!/usr/bin/env bash
# Runs the test suite repeatedly with the machine kept busy, to find tests that depend on timing
# luck. Not part of the README's test command: it takes as long as you let it.
#
#   scripts/stress-tests.sh [-r REPEATS] [-p PRESET] [-R REGEX] [-L LABEL] [-j JOBS]
#
#   -r  repeats per test: ctest --repeat until-fail:REPEATS (default 5)
#   -p  ctest preset, built first (default debug)
#   -R  only tests whose name matches REGEX; -L only tests with this label (unit, integration)
#   -j  ctest parallelism (default: the number of cores)
#
# Load: stress-ng keeps every core busy with CPU work (one worker per core, at normal priority:
# the tests compete with it as they would with a parallel build), plus one worker writing to
# disk, for the whole run. It is installed from Debian if missing. The run ends with
# ctest's summary; a test that fails once fails the run (exit 8 from ctest).
set -euo pipefail
cd "$(dirname "$0")/.."

repeats=5
preset=debug
jobs=$(nproc)
filter=()
while getopts "r:p:R:L:j:" opt; do
  case $opt in
    r) repeats=$OPTARG ;;
    p) preset=$OPTARG ;;
    R) filter+=(-R "$OPTARG") ;;
    L) filter+=(-L "$OPTARG") ;;
    j) jobs=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 64 ;;
  esac
done

./scripts/install-deps.sh
if ! command -v stress-ng >/dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends stress-ng
fi

cmake --preset "$preset"
cmake --build --preset "$preset" -j "$jobs"

stress-ng --cpu "$(nproc)" --hdd 1 --hdd-bytes 64M --timeout 0 --quiet &
stress_pid=$!
trap 'kill "$stress_pid" 2>/dev/null || true; wait "$stress_pid" 2>/dev/null || true' EXIT
echo "stress-tests: stress-ng (pid $stress_pid) keeps $(nproc) cores and the disk busy"

start=$(date +%s)
status=0
ctest --preset "$preset" -j "$jobs" --repeat "until-fail:$repeats" "${filter[@]}" || status=$?
echo "stress-tests: ${repeats} repeats per test under load, $(( $(date +%s) - start )) s, exit $status"
exit "$status"
