#!/usr/bin/env bash
# Builds the libFuzzer targets (preset "fuzz", clang 14) and runs each one for a fixed time on a
# copy of its seed corpus, then prints one row per target: executions, exec/s, libFuzzer's final
# coverage ("cov:" edges, "ft:" features), corpus size, and the crash / timeout / OOM / leak
# artifacts it wrote. Nothing is written into the repository: corpora, logs and artifacts go to
# a results directory under $TMPDIR (kept, and printed at the end).
#
#   tests/fuzz/run_fuzzers.sh [--seconds N] [--jobs 1] [--build-dir DIR] [--results DIR]
#                             [--no-build] [TARGET...]
#
#   --seconds N     time per target (libFuzzer -max_total_time), default 60
#   --jobs J        targets run one at a time; J is the build's -j (default 1). The fuzzers
#                   themselves always run one at a time, single process.
#   --build-dir DIR build tree of the fuzz preset, default build/fuzz (configured with
#                   `cmake --preset fuzz -B DIR` if it has no build.ninja)
#   --results DIR   where corpora, logs and artifacts go (default: a new mktemp -d)
#   --no-build      use the binaries already in DIR
#   TARGET          target names without "_fuzz" (default: every target in CMakeLists.txt)
#
# Exit status: 0 if no target wrote an artifact (crash-*, leak-*, deadly-*, timeout-*, oom-*),
# 1 if any did, 2 on a usage or build error.
# Environment: FUZZ_NICE (default 10) is the nice level of the build and the fuzzers;
# FUZZ_EXTRA_ARGS is appended to every libFuzzer command line.
# shellcheck disable=SC2059  # the table uses one printf format for its header and rows
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds=60
jobs=1
build_dir="$root/build/fuzz"
results=""
do_build=1
targets=()

usage() {
  awk 'NR > 1 && /^#/ && !/shellcheck/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit "${1:-2}"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="${2:?}"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --jobs) jobs="${2:?}"; shift 2 ;;
    --jobs=*) jobs="${1#*=}"; shift ;;
    --build-dir) build_dir="${2:?}"; shift 2 ;;
    --build-dir=*) build_dir="${1#*=}"; shift ;;
    --results) results="${2:?}"; shift 2 ;;
    --results=*) results="${1#*=}"; shift ;;
    --no-build) do_build=0; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "run_fuzzers.sh: unknown option $1" >&2; usage ;;
    *) targets+=("${1%_fuzz}"); shift ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] ||
  { echo "--seconds: a positive integer" >&2; exit 2; }
[[ "$jobs" =~ ^[0-9]+$ && "$jobs" -gt 0 ]] || { echo "--jobs: a positive integer" >&2; exit 2; }
[[ "$build_dir" = /* ]] || build_dir="$root/$build_dir"

mapfile -t all_targets < <(sed -n 's/^pn_add_fuzz_target(\([a-z0-9_]*\).*/\1/p' "$here/CMakeLists.txt")
if [[ ${#targets[@]} -eq 0 ]]; then targets=("${all_targets[@]}"); fi
for t in "${targets[@]}"; do
  if [[ " ${all_targets[*]} " != *" $t "* ]]; then
    echo "run_fuzzers.sh: unknown target '$t' (known: ${all_targets[*]})" >&2
    exit 2
  fi
done

nice_level="${FUZZ_NICE:-10}"
if [[ $do_build -eq 1 ]]; then
  if [[ ! -f "$build_dir/build.ninja" ]]; then
    (cd "$root" && cmake --preset fuzz -B "$build_dir") || exit 2
  fi
  build_targets=()
  for t in "${targets[@]}"; do build_targets+=("${t}_fuzz"); done
  nice -n "$nice_level" cmake --build "$build_dir" -j "$jobs" --target "${build_targets[@]}" ||
    exit 2
fi

if [[ -z "$results" ]]; then
  results="$(mktemp -d "${TMPDIR:-/tmp}/pn-fuzz-results.XXXXXX")"
fi
[[ "$results" = /* ]] || results="$PWD/$results"
case "$(realpath -m "$results")/" in
  "$root"/*) echo "run_fuzzers.sh: --results must be outside the repository" >&2; exit 2 ;;
esac
mkdir -p "$results"

# Reads libFuzzer's log: the final stats (-print_final_stats), the INITED line (coverage of the
# seeds), the last status line ("#N DONE|pulse|NEW ... cov: C ft: F corp: K/S exec/s: E") and
# the "Done N runs in S second(s)" line.
summarize() {
  local log="$1"
  awk '
    /^#[0-9]+[ \t]+INITED/ {
      for (i = 2; i <= NF; i++) if ($i == "cov:") cov0 = $(i + 1)
    }
    /^#[0-9]+[ \t]/ {
      line = $0
      execs = substr($1, 2)
      for (i = 2; i <= NF; i++) {
        if ($i == "cov:") cov = $(i + 1)
        if ($i == "ft:") ft = $(i + 1)
        if ($i == "corp:") corp = $(i + 1)
        if ($i == "exec/s:") eps = $(i + 1)
      }
    }
    /^Done [0-9]+ runs in [0-9]+ second/ { execs = $2; secs = $5 }
    /^stat::number_of_executed_units:/ { units = $2 }
    /^stat::average_exec_per_sec:/ { avg = $2 }
    END {
      if (secs > 0) eps = int(execs / secs)
      if (units != "") execs = units
      if (avg != "") eps = avg
      printf "%s %s %s %s %s %s\n", (execs == "" ? "-" : execs), (eps == "" ? "-" : eps),
             (cov0 == "" ? "-" : cov0), (cov == "" ? "-" : cov), (ft == "" ? "-" : ft),
             (corp == "" ? "-" : corp)
    }' "$log"
}

status=0
rows=()
for t in "${targets[@]}"; do
  bin="$build_dir/tests/fuzz/${t}_fuzz"
  if [[ ! -x "$bin" ]]; then
    echo "run_fuzzers.sh: $bin is missing (build it, or drop --no-build)" >&2
    exit 2
  fi
  work="$results/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  if [[ -d "$here/corpus/$t" ]]; then
    cp -R "$here/corpus/$t/." "$work/corpus/"
  else
    echo "run_fuzzers.sh: warning: no seed corpus tests/fuzz/corpus/$t" >&2
  fi
  seeds=$(find "$work/corpus" -type f | wc -l)
  echo "== $t: ${seconds}s on $seeds seeds (log: $work/fuzz.log)" >&2
  # The fuzzer runs in its own directory, so that nothing it writes to its working directory
  # lands in the repository. A crash ends the run early; the exit status is read from the
  # artifacts, not from libFuzzer's exit code.
  # shellcheck disable=SC2086  # FUZZ_EXTRA_ARGS is split into arguments on purpose
  (cd "$work" && nice -n "$nice_level" "$bin" -max_total_time="$seconds" -timeout=25 \
      -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/" ${FUZZ_EXTRA_ARGS:-} "$work/corpus" \
      > "$work/fuzz.log" 2>&1) || true
  read -r execs eps cov0 cov ft corp < <(summarize "$work/fuzz.log")
  crashes=$(find "$work/artifacts" -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'deadly-*' \) | wc -l)
  timeouts=$(find "$work/artifacts" -type f -name 'timeout-*' | wc -l)
  ooms=$(find "$work/artifacts" -type f -name 'oom-*' | wc -l)
  files=$(find "$work/corpus" -type f | wc -l)
  bytes=$(find "$work/corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  if [[ $((crashes + timeouts + ooms)) -gt 0 ]]; then
    status=1
    echo "   artifacts in $work/artifacts:" >&2
    ls -l "$work/artifacts" >&2
  fi
  rows+=("$t|$execs|$eps|$cov0|$cov|$ft|$seeds -> $files files, $bytes B|$crashes/$timeouts/$ooms")
done

fmt='| %-18s | %11s | %7s | %9s | %5s | %6s | %-28s | %-17s |\n'
printf "\n$fmt" target executions 'exec/s' 'seed cov' cov ft 'corpus (seeds -> end)' \
  'crash/timeout/oom'
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' -------------------- ------------- --------- \
  ----------- ------- -------- ------------------------------ -------------------
for r in "${rows[@]}"; do
  IFS='|' read -r t execs eps cov0 cov ft corp art <<< "$r"
  printf "$fmt" "$t" "$execs" "$eps" "$cov0" "$cov" "$ft" "$corp" "$art"
done
echo
echo "results (corpora, logs, artifacts): $results"
exit $status
