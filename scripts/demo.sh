#!/usr/bin/env bash
# Installs what is missing, builds processnow (release preset) and runs it on the demo config:
# a simulated plant of three pumps whose readings flow through the rules, the SQLite buffer and
# the file upstream to this terminal. Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset release
cmake --build --preset release --target processnow
exec ./build/release/gateway/service/processnow run --config config/demo.toml "$@"
