#!/usr/bin/env bash
# Installs every Debian 12 package that building, running and testing processnow needs.
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
# Runs apt-get as root directly, or through sudo for a normal user.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # libraries (found with find_package / pkg-config, never vendored)
  libsqlite3-dev libspdlog-dev libfmt-dev libtomlplusplus-dev libcli11-dev libexpected-dev
  libsystemd-dev libpaho-mqttpp-dev libpaho-mqtt-dev libmodbus-dev librdkafka-dev
  libsimdjson-dev libcpp-httplib-dev
  libpcre2-dev  # serial driver: regex parser with named groups
  libssl-dev  # mqtt upstream: reads client certificates, diagnoses TLS failures
  libprotobuf-c-dev protobuf-c-compiler  # sparkplug upstream: protobuf-c and protoc-c
  # tests
  doctest-dev python3 sqlite3 mosquitto mosquitto-clients socat
  openssl  # test_mqtt_tls makes its CA and certificates
  faketime  # test_clock: the daemon on a wall clock that boots in 1970 and jumps (libfaketime)
  python3-paho-mqtt python3-protobuf protobuf-compiler  # sparkplug test host (protoc --python_out)
  # views tested as a person sees them: headless Chromium driven by Selenium
  chromium chromium-driver python3-selenium
  # deployment tests: systemd-analyze/-sysusers/-tmpfiles (not started in a container),
  # dpkg-shlibdeps for the CPack .deb
  systemd dpkg-dev
  # sanitizers and fuzzing (clang 14 with libFuzzer); the format check (tests/format_check.sh)
  clang-14 libclang-rt-14-dev clang-format-14
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
