#!/usr/bin/env bash
# Installs what cross-compiling processnow for 64-bit ARM (aarch64, Raspberry Pi OS 64-bit) needs
# on this Debian 12 amd64 machine, beside the amd64 packages:
#   - the cross compilers (crossbuild-essential-arm64) and qemu-user for running tests;
#   - the :arm64 -dev packages (dpkg --add-architecture arm64).
# libsimdjson-dev is not Multi-Arch: same in Debian 12, so installing its :arm64 build would
# remove the amd64 one; instead its arm64 .debs are unpacked into /opt/processnow-cross/aarch64,
# which toolchains/aarch64-linux-gnu.cmake adds to the search path.
# Safety: the install is simulated first and refused if apt would remove any package.
# Idempotent. Runs apt-get as root directly, or through sudo.
# Usage: scripts/install-cross-deps.sh   then   cmake --preset aarch64 && cmake --build --preset aarch64
set -euo pipefail

ARCH=arm64
PREFIX=/opt/processnow-cross/aarch64
HOST_PACKAGES=(crossbuild-essential-arm64 qemu-user protobuf-c-compiler)  # protoc-c runs on the host
TARGET_DEV=(
  libsqlite3-dev libspdlog-dev libfmt-dev libtomlplusplus-dev libsystemd-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev libmodbus-dev librdkafka-dev libcpp-httplib-dev
  libpcre2-dev libssl-dev zlib1g-dev libbrotli-dev libprotobuf-c-dev
  libsimdjson14  # the runtime library only; the -dev part goes to $PREFIX (see above)
)
# Header-only, architecture-independent (Architecture: all): the amd64 install serves both.
#   libcli11-dev libexpected-dev doctest-dev

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

if ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
  echo "install-cross-deps: adding architecture $ARCH"
  $SUDO dpkg --add-architecture "$ARCH"
fi
$SUDO apt-get update -q

want=("${HOST_PACKAGES[@]}")
for p in "${TARGET_DEV[@]}"; do want+=("$p:$ARCH"); done

echo "install-cross-deps: simulating the install"
sim=$($SUDO apt-get install -s -y --no-install-recommends "${want[@]}")
if echo "$sim" | grep -q '^Remv '; then
  echo "install-cross-deps: refusing: apt would remove packages:" >&2
  echo "$sim" | grep '^Remv ' >&2
  exit 1
fi
$SUDO apt-get install -y -q --no-install-recommends "${want[@]}"

if [ ! -f "$PREFIX/usr/include/simdjson.h" ]; then
  echo "install-cross-deps: unpacking libsimdjson-dev:$ARCH into $PREFIX"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download "libsimdjson-dev:$ARCH" "libsimdjson14:$ARCH")
  $SUDO mkdir -p "$PREFIX"
  for deb in "$tmp"/*.deb; do
    $SUDO dpkg-deb -x "$deb" "$PREFIX"
  done
fi
echo "install-cross-deps: done (aarch64-linux-gnu-g++: $(command -v aarch64-linux-gnu-g++))"
