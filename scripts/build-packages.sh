#!/usr/bin/env bash
# Builds the processnow Debian packages for amd64, arm64 and armhf from this tree:
#   build/pkg-amd64/processnow_<version>_amd64.deb   the `release` preset (this machine)
#   build/pkg-arm64/processnow_<version>_arm64.deb   the `aarch64` preset's toolchain
#   build/pkg-armhf/processnow_<version>_armhf.deb   the `armhf` preset's toolchain and sysroot
# Each in its own build directory (RelWithDebInfo as the presets, tests and benchmarks off, so
# only what the package holds is built), packaged by `cpack -G DEB` (cmake/Packaging.cmake:
# Architecture from the target, Depends by dpkg-shlibdeps from the target's libraries), then
# checked: Architecture, the files and conffiles, the ELF machine of the binary and the HTTP and
# Kafka modules, stripped, and every library they need (NEEDED) mapped to its package and found
# in Depends. Prints `dpkg-deb -I` of each.
# Installs what it needs first (scripts/install-deps.sh, install-cross-deps.sh,
# install-armhf-sysroot.sh, install-armhf-dpkg-db.sh; as root or through sudo).
#
#   scripts/build-packages.sh [--arch amd64,arm64,armhf] [--no-deps] [-j N]
#
#   --arch LIST   only these (comma-separated; default all three)
#   --no-deps     skip the install scripts (everything is installed already)
#   -j N          build jobs (default 2)
# Exit: 0 every package built and checked; 1 otherwise.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
ARCHES=amd64,arm64,armhf
DEPS=1
JOBS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) ARCHES=$2; shift 2 ;;
    --no-deps) DEPS=0; shift ;;
    -j) JOBS=$2; shift 2 ;;
    -j*) JOBS=${1#-j}; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
done
IFS=, read -r -a arches <<<"$ARCHES"
for a in "${arches[@]}"; do
  case "$a" in amd64|arm64|armhf) ;; *) echo "unknown architecture $a" >&2; exit 64 ;; esac
done

ARMHF_SYSROOT=/opt/processnow-cross/armhf/sysroot
ARMHF_DB=/opt/processnow-cross/armhf/dpkg
T_ALL=$(date +%s)
say() { echo "[build-packages $(date +%H:%M:%S)] $*"; }
has() { case ",$ARCHES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

if [ "$DEPS" -eq 1 ]; then
  "$SRC/scripts/install-deps.sh"
  if has arm64; then "$SRC/scripts/install-cross-deps.sh"; fi
  if has armhf; then
    "$SRC/scripts/install-armhf-sysroot.sh"
    "$SRC/scripts/install-armhf-dpkg-db.sh"
  fi
fi

# preset, ELF machine (readelf -h), multiarch triplet, root of the target's libraries and the
# dpkg database that owns them (for the NEEDED -> package check).
preset_of() { case "$1" in amd64) echo release ;; arm64) echo aarch64 ;; armhf) echo armhf ;; esac; }
machine_of() {
  case "$1" in amd64) echo X86-64 ;; arm64) echo AArch64 ;; armhf) echo ARM ;; esac
}
triplet_of() {
  case "$1" in
    amd64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;;
  esac
}
libroot_of() { if [ "$1" = armhf ]; then echo "$ARMHF_SYSROOT"; fi; }
admindir_of() { if [ "$1" = armhf ]; then echo "$ARMHF_DB"; else echo /var/lib/dpkg; fi; }

# Checks one .deb; prints what it checked, returns 1 if anything is wrong.
# shellcheck disable=SC2016  # ${Provides} is dpkg-query's
check_deb() {
  local arch=$1 deb=$2 dir=$3 failed=0
  local x="$dir/check"
  rm -rf "$x" && mkdir -p "$x"
  dpkg-deb -x "$deb" "$x/data" && dpkg-deb -e "$deb" "$x/control"
  fail() { echo "  FAIL: $*" >&2; failed=1; }

  [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "Architecture is not $arch"
  for p in usr/bin/processnow usr/lib/processnow/processnow-http.so \
    usr/lib/processnow/processnow-kafka.so \
    usr/lib/systemd/system/processnow.service usr/lib/sysusers.d/processnow.conf \
    usr/lib/tmpfiles.d/processnow.conf etc/processnow/gateway.toml etc/processnow/demo.toml \
    etc/processnow/rules.d/demo.toml; do
    [ -e "$x/data/$p" ] || fail "/$p missing"
  done
  [ "$(sort "$x/control/conffiles" | tr '\n' ' ')" = \
    "/etc/processnow/demo.toml /etc/processnow/gateway.toml /etc/processnow/rules.d/demo.toml " ] ||
    fail "conffiles: $(tr '\n' ' ' <"$x/control/conffiles")"
  for f in postinst prerm postrm; do [ -x "$x/control/$f" ] || fail "no $f"; done

  local depends elf soname want path cand owner provides named
  depends=$(dpkg-deb -f "$deb" Depends)
  local root triplet admindir
  root=$(libroot_of "$arch"); triplet=$(triplet_of "$arch"); admindir=$(admindir_of "$arch")
  for elf in usr/bin/processnow usr/lib/processnow/processnow-http.so \
    usr/lib/processnow/processnow-kafka.so; do
    want=$(machine_of "$arch")
    readelf -h "$x/data/$elf" | grep -Eq "Machine: +.*$want" ||
      fail "/$elf: $(readelf -h "$x/data/$elf" | grep Machine:) (want $want)"
    if readelf -S "$x/data/$elf" | grep -Eq '\.(symtab|debug_info)'; then fail "/$elf not stripped"; fi
    # Every NEEDED library: the package that ships it in the target's root must be in Depends.
    for soname in $(readelf -d "$x/data/$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      owner=""
      for cand in "$root/lib/$triplet/$soname" "$root/usr/lib/$triplet/$soname"; do
        [ -e "$cand" ] || continue
        for path in "$cand" "$(realpath "$cand")"; do
          owner=$(DPKG_ADMINDIR=$admindir dpkg-query -S "$path" 2>/dev/null | head -1 |
            sed 's/[,]* *: .*//') || true  # "libfoo1:arm64: /usr/lib/..." -> libfoo1:arm64
          [ -n "$owner" ] && break 2
        done
      done
      # The dependency may name the package or a virtual package it provides (libspdlog1.10
      # provides libspdlog1.10-fmt9, which its shlibs file names).
      provides=$(DPKG_ADMINDIR=$admindir dpkg-query -W -f='${Provides}\n' "$owner" 2>/dev/null |
        tr ',' '\n' | sed 's/(.*//; s/ //g' || true)
      named=$(printf '%s\n%s\n' "${owner%%:*}" "$provides" | grep -Fx -f <(echo "$depends" |
        tr ',|' '\n' | sed 's/(.*//; s/ //g') | head -1 || true)
      if [ -z "$owner" ]; then
        fail "/$elf needs $soname: no package in $admindir ships it under ${root:-/}"
      elif [ -z "$named" ]; then
        fail "/$elf needs $soname from $owner, which Depends does not name"
      else
        echo "  $elf: $soname <- $owner${provides:+ (provides $(echo "$provides" | tr '\n' ' '))}: Depends names $named"
      fi
    done
  done
  return "$failed"
}

declare -A DEB_OF SECS_OF
status=0
for arch in "${arches[@]}"; do
  T=$(date +%s)
  dir="$SRC/build/pkg-$arch"
  preset=$(preset_of "$arch")
  say "$arch: configuring $dir (preset $preset, tests and benchmarks off)"
  mkdir -p "$dir"
  if ! cmake --preset "$preset" -S "$SRC" -B "$dir" -DPN_BUILD_TESTS=OFF -DPN_BUILD_BENCH=OFF \
    >"$dir/configure.log" 2>&1; then
    tail -30 "$dir/configure.log"; say "$arch: configure failed ($dir/configure.log)"; status=1; continue
  fi
  say "$arch: building (-j$JOBS)"
  if ! cmake --build "$dir" -j "$JOBS" >"$dir/build.log" 2>&1; then
    grep -E 'error|FAILED' "$dir/build.log" | head -30; say "$arch: build failed ($dir/build.log)"
    status=1; continue
  fi
  say "$arch: cpack -G DEB"
  rm -f "$dir"/processnow_*.deb
  if ! (cd "$dir" && cpack -G DEB --config "$dir/CPackConfig.cmake" -B "$dir") >"$dir/cpack.log" 2>&1; then
    cat "$dir/cpack.log"; say "$arch: cpack failed"; status=1; continue
  fi
  deb=$(ls "$dir"/processnow_*_"$arch".deb 2>/dev/null || true)
  if [ -z "$deb" ]; then
    cat "$dir/cpack.log"; say "$arch: no processnow_*_$arch.deb in $dir"; status=1; continue
  fi
  say "$arch: checking $deb"
  if ! check_deb "$arch" "$deb" "$dir"; then say "$arch: check FAILED"; status=1; fi
  DEB_OF[$arch]=$deb
  SECS_OF[$arch]=$(($(date +%s) - T))
done

for arch in "${arches[@]}"; do
  [ -n "${DEB_OF[$arch]:-}" ] || continue
  echo
  echo "== ${DEB_OF[$arch]} ($(stat -c %s "${DEB_OF[$arch]}") bytes, ${SECS_OF[$arch]} s)"
  dpkg-deb -I "${DEB_OF[$arch]}"
done
echo
if [ "$status" -eq 0 ]; then
  say "all ${#arches[@]} packages built and checked in $(($(date +%s) - T_ALL)) s"
else
  say "FAILED (see above) after $(($(date +%s) - T_ALL)) s"
fi
exit "$status"
