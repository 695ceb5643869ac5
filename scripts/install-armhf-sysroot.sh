#!/usr/bin/env bash
# Installs what cross-compiling processnow for 32-bit ARM (armhf, arm-linux-gnueabihf: Raspberry
# Pi OS 32-bit, ARMv7 boards) needs on this Debian 12 amd64 machine, WITHOUT adding the armhf
# architecture to dpkg (on this machine that breaks apt-get update: its mirror serves an armhf
# bookworm-security index that does not match the signed Release file):
#   - the cross compilers (crossbuild-essential-armhf: amd64 packages), qemu-user for running
#     the tests, and mmdebstrap;
#   - a target sysroot in $SYSROOT: the armhf -dev packages (and what they depend on) unpacked by
#     `mmdebstrap --variant=extract` (no maintainer scripts, so no emulation needed), from the
#     same Debian mirror and suites the host's apt uses.
# toolchains/arm-linux-gnueabihf.cmake points CMAKE_SYSROOT and pkg-config at $SYSROOT; the armhf
# test preset runs the tests with `qemu-arm -L $SYSROOT`.
# Safety: the host install is simulated first and refused if apt would remove any package.
# Idempotent: installed host packages are skipped, and the sysroot is rebuilt only when the
# package list below or RECIPE changes (beside the old one, then swapped in). About 10 s.
# Runs as root directly, or through sudo.
# Usage: scripts/install-armhf-sysroot.sh
#   then cmake --preset armhf && cmake --build --preset armhf && ctest --preset armhf
set -euo pipefail

SYSROOT=/opt/processnow-cross/armhf/sysroot
HOST_PACKAGES=(crossbuild-essential-armhf qemu-user mmdebstrap gpg protobuf-c-compiler)  # gpg: mmdebstrap signed-by
TARGET_DEV=(
  libc6-dev libstdc++-12-dev
  libsqlite3-dev libspdlog-dev libfmt-dev libtomlplusplus-dev libsystemd-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev libmodbus-dev librdkafka-dev libcpp-httplib-dev
  libpcre2-dev libssl-dev zlib1g-dev libbrotli-dev libsimdjson-dev libprotobuf-c-dev
  # header-only (Architecture: all), in the sysroot too so that nothing is taken from the host
  libcli11-dev libexpected-dev doctest-dev
)
# Another apt may be running (unattended upgrades, a parallel install): wait for its lock.
APT=(apt-get -o DPkg::Lock::Timeout=600)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

# 1. Host packages (amd64), skipped when present.
missing=()
for p in "${HOST_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO "${APT[@]}" update -q
  echo "install-armhf-sysroot: simulating the install of ${missing[*]}"
  sim=$($SUDO "${APT[@]}" install -s -y --no-install-recommends "${missing[@]}")
  if echo "$sim" | grep -q '^Remv '; then
    echo "install-armhf-sysroot: refusing: apt would remove packages:" >&2
    echo "$sim" | grep '^Remv ' >&2
    exit 1
  fi
  $SUDO "${APT[@]}" install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. The sysroot, rebuilt only when the package list changed.
RECIPE=1  # bump when the way the sysroot is made changes, so that existing ones are rebuilt
stamp="$SYSROOT/.processnow-sysroot"
want_stamp="armhf recipe $RECIPE: ${TARGET_DEV[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ]; then
  echo "install-armhf-sysroot: $SYSROOT is up to date"
  exit 0
fi

# The Debian repositories the host uses (a mirror or proxy URL is kept as is), component main.
# shellcheck disable=SC2016  # $(FIELD) is apt's placeholder, not the shell's
mapfile -t repos < <(apt-get indextargets --format '$(ORIGIN) $(REPO_URI) $(RELEASE)' \
  'Created-By: Packages' | awk '$1 == "Debian" { print $2 " " $3 }' | sort -u)
if [ "${#repos[@]}" -eq 0 ]; then
  # shellcheck source=/dev/null
  . /etc/os-release
  repos=("http://deb.debian.org/debian/ $VERSION_CODENAME"
         "http://deb.debian.org/debian/ $VERSION_CODENAME-updates"
         "http://deb.debian.org/debian-security/ $VERSION_CODENAME-security")
fi
suite=$(printf '%s\n' "${repos[@]}" | awk '{ print $2 }' | grep -v -- - | head -n1)

# Fetches one repository's armhf index into a throwaway apt directory: 0 if it verifies.
armhf_index_ok() {
  local d rc=0
  d=$(mktemp -d)
  mkdir -p "$d/lists/partial" "$d/cache" "$d/parts"
  echo "deb $1 main" >"$d/sources.list"
  apt-get -q -o APT::Architecture=armhf -o APT::Architectures=armhf \
    -o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts="$d/parts" \
    -o Dir::State::Lists="$d/lists" -o Dir::Cache="$d/cache" -o Dir::State::status=/dev/null \
    -o APT::Sandbox::User="$(id -un)" --error-on=any update >"$d/log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then sed 's/^/    /' "$d/log" | grep -E '^ +(E|W):' >&2 || true; fi
  rm -rf "$d"
  return "$rc"
}
# A mirror can hold an armhf index that does not match its signed Release file (this machine's
# mirror does for bookworm-security, which is why `dpkg --add-architecture armhf` breaks its
# apt-get update): such an extra suite is left out, loudly; the release suite itself must work.
sources=""
for r in "${repos[@]}"; do
  if armhf_index_ok "$r"; then
    sources+="deb ${r} main"$'\n'
  elif [ "${r##* }" = "$suite" ]; then
    echo "install-armhf-sysroot: the armhf index of $r does not verify" >&2
    exit 1
  else
    echo "install-armhf-sysroot: WARNING: leaving out $r: its armhf index does not verify" \
      "against its Release file; the sysroot gets $suite's versions of those packages" >&2
  fi
done
echo "install-armhf-sysroot: building $SYSROOT (suite $suite) from:"
printf '%s' "$sources"

include=$(IFS=,; echo "${TARGET_DEV[*]}")
new="$SYSROOT.new"
$SUDO rm -rf "$new"
$SUDO mkdir -p "$(dirname "$SYSROOT")"
# extract: unpack the packages and their dependencies, run nothing (no qemu, no binfmt needed).
printf '%s' "$sources" | $SUDO mmdebstrap --mode=root --variant=extract --architectures=armhf \
  --include="$include" "$suite" "$new" -

# Absolute symlinks (/usr/lib/.../libfoo.so -> /lib/...) would point into the host once the
# sysroot is not /: make every one relative to its place inside the sysroot.
$SUDO find "$new" -type l -lname '/*' -print0 | while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  $SUDO ln -sfn "$(realpath -m -s --relative-to="$(dirname "$link")" "$new$target")" "$link"
done
# A build sysroot, also qemu-arm's -L prefix: qemu opens a path inside the prefix when it exists
# there, so the device nodes mmdebstrap made (/dev/ptmx would allocate ptys outside this
# container's /dev/pts), /tmp and the host's copied resolv.conf/hostname must go.
$SUDO rm -rf "$new/dev" "$new/tmp" "$new/etc/resolv.conf" "$new/etc/hostname"
for f in lib/ld-linux-armhf.so.3 usr/include/simdjson.h usr/include/doctest/doctest.h \
  usr/lib/arm-linux-gnueabihf/pkgconfig/sqlite3.pc; do
  if [ ! -e "$new/$f" ]; then
    echo "install-armhf-sysroot: $new/$f is missing; the sysroot is incomplete" >&2
    exit 1
  fi
done
echo "$want_stamp" | $SUDO tee "$new/.processnow-sysroot" >/dev/null

$SUDO rm -rf "$SYSROOT.old"
if [ -d "$SYSROOT" ]; then $SUDO mv "$SYSROOT" "$SYSROOT.old"; fi
$SUDO mv "$new" "$SYSROOT"
$SUDO rm -rf "$SYSROOT.old"
echo "install-armhf-sysroot: done ($(du -sh "$SYSROOT" | cut -f1) in $SYSROOT;" \
  "arm-linux-gnueabihf-g++: $(command -v arm-linux-gnueabihf-g++))"
