#!/usr/bin/env bash
# Installs what is missing, builds and runs every test:
#   1. the unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (clang 14, asan preset);
#   2. every test, unit and integration (real binary, real peers on loopback), with GCC 12
#      (debug preset). ctest's summary of this run is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)

echo "== ASan+UBSan build, unit tests"
cmake --preset asan
cmake --build --preset asan -j "$jobs"
ctest --preset asan -j "$jobs"

echo "== GCC build, all tests"
cmake --preset debug
cmake --build --preset debug -j "$jobs"
ctest --preset debug -j "$jobs"
