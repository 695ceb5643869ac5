#!/bin/bash
# shellcheck disable=SC2016  # ${Status} and the like are dpkg-query's fields
# Installs the arm64 and armhf processnow .debs into Debian 12 root file systems of their own
# architecture and checks them there, every ARM program (dpkg, the maintainer scripts,
# systemd-sysusers, processnow) running under qemu-user: install, user, files and modes,
# `processnow check` of the installed configs, a rule test, the demo config for a few seconds
# (its JSON lines, /health through the dlopen'ed HTTP module, `processnow status`, a clean stop)
# and purge. Run by hand as root; tests/system/README.md says how long it takes and why it is not
# in the test command.
#
#   tests/system/arm_packages.sh [--arch arm64,armhf] [--build] [--deb FILE]... [--seconds N]
#
#   --arch LIST   architectures to check (default arm64,armhf; amd64 works too, natively)
#   --build       build the packages first with scripts/build-packages.sh (default: only when
#                 build/pkg-<arch>/processnow_*_<arch>.deb is missing)
#   --deb FILE    check this .deb (its Architecture says which root file system); repeatable
#   --seconds N   how long the demo runs (default 8)
#
# How ARM programs run here: this container has no qemu binfmt_misc handler, and registering one
# in the kernel's global binfmt_misc would change how every process on the machine executes ARM
# binaries. Linux >= 6.7 gives each user namespace its own binfmt_misc instance, so the script
# re-runs itself in a new user namespace (uids and gids 0-65535 mapped to themselves, so file
# owners stay right) with its own mount and PID namespaces (and, for the checks, a network
# namespace with only loopback), mounts a private binfmt_misc at /proc/sys/fs/binfmt_misc of its
# own /proc and registers
# qemu-aarch64-static/qemu-arm-static with the F flag (the kernel opens the emulator at
# registration, so it need not exist inside the root file system). Inside that namespace
# mmdebstrap builds the root file system with maintainer scripts running emulated, and plain
# `chroot` runs dpkg -i and processnow. The static emulators come from Debian's qemu-user-static
# .deb (apt-get download, unpacked under $PN_ARM_DIR; nothing is installed on the host).
#
# Environment: PN_ARM_DIR (cache and work files, default /var/tmp/pn-arm-packages).
# Exit: 0 every check passed; 1 a check failed; 2 could not set up (no root, no user namespace
# binfmt_misc, no mirror).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
WORK=${PN_ARM_DIR:-/var/tmp/pn-arm-packages}
QEMU_DIR=$WORK/qemu
say() { echo "[arm_packages $(date +%H:%M:%S)] $*"; }

qemu_name() { case "$1" in arm64) echo aarch64 ;; armhf) echo arm ;; *) echo "" ;; esac; }

# Mounts a binfmt_misc instance private to this user namespace and registers the static qemu
# for ARCH (nothing to do for amd64).
setup_binfmt() {
  local q conf name type off magic mask _interp _flags
  q=$(qemu_name "$1")
  [ -n "$q" ] || return 0
  # At the usual place (this namespace has its own /proc): mmdebstrap reads the F flag there.
  local bm=/proc/sys/fs/binfmt_misc
  mountpoint -q $bm || mount -t binfmt_misc binfmt_misc $bm
  [ -e "$bm/qemu-$q" ] && return 0
  conf="$QEMU_DIR/usr/lib/binfmt.d/qemu-$q.conf"
  IFS=: read -r _ name type off magic mask _interp _flags <"$conf"
  echo ":$name:$type:$off:$magic:$mask:$QEMU_DIR/usr/bin/qemu-$q-static:F" >$bm/register
}

# Runs "$@" in a new user namespace whose uids and gids 0-65535 are the same as outside (written
# by this root process: unshare's --map-users needs newuidmap, which is not installed), with its
# own mount and PID namespaces and /proc; options before the command go to the inner unshare
# (--net).
ns_run() {
  local d pid self rc=0
  d=$(mktemp -d)
  mkfifo "$d/go"
  unshare --user sh -c 'read -r _ <"$0" && exec "$@"' "$d/go" \
    unshare --mount --propagation private --pid --fork --mount-proc "$@" &
  pid=$!
  self=$(readlink /proc/self/ns/user)
  while [ "$(readlink "/proc/$pid/ns/user" 2>/dev/null || echo "$self")" = "$self" ]; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  echo '0 0 65536' >"/proc/$pid/uid_map"
  echo '0 0 65536' >"/proc/$pid/gid_map"
  echo go >"$d/go"
  rm -rf "$d"
  wait "$pid" || rc=$?
  return "$rc"
}

# ---- inside the namespaces -------------------------------------------------------------------
if [ "${1:-}" = --inside-rootfs ]; then
  # --inside-rootfs ARCH DIR SOURCES_FILE PACKAGES(comma-separated)
  arch=$2 dir=$3 sources=$4 pkgs=$5
  setup_binfmt "$arch"
  mmdebstrap --mode=root --variant=minbase --architectures="$arch" --skip=check/qemu \
    --include="$pkgs" bookworm "$dir" - <"$sources"
  exit
fi

if [ "${1:-}" = --inside-check ]; then
  # --inside-check ARCH ROOTFS DEB SECONDS
  arch=$2 rootfs=$3 deb=$4 secs=$5
  setup_binfmt "$arch"
  ip link set lo up
  pass=0 fail=0
  ok() { echo "PASS $arch $1"; pass=$((pass + 1)); }
  bad() { echo "FAIL $arch $1"; shift; for l in "$@"; do printf '  %s\n' "$l"; done; fail=$((fail + 1)); }
  W=$WORK/run-$arch
  rm -rf "$W"
  cp -a --reflink=auto "$rootfs" "$W"
  mount -t proc proc "$W/proc"
  mount --rbind /dev "$W/dev"
  cp "$deb" "$W/tmp/processnow.deb"
  in_root() { chroot "$W" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

  # 1. dpkg -i: the maintainer scripts run emulated; systemd is installed but not running.
  if out=$(timeout 600 chroot "$W" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      dpkg -i /tmp/processnow.deb 2>&1) &&
    [ "$(in_root dpkg-query -W -f='${Status} ${Architecture}' processnow)" = "install ok installed $arch" ]; then
    ok "install: dpkg -i in a Debian 12 $arch root file system: install ok installed $arch"
  else
    bad "install: dpkg -i" "$out"
    echo "$arch: $pass passed, $fail failed"; exit 1
  fi
  machine=$(readelf -h "$W/usr/bin/processnow" | sed -n 's/ *Machine: *//p')
  version=$(in_root /usr/bin/processnow version 2>&1 || true)
  if [[ "$version" == *"$(dpkg-deb -f "$deb" Version)"* ]]; then
    ok "binary: /usr/bin/processnow is $machine; 'processnow version': $version"
  else
    bad "binary: processnow version" "$version"
  fi

  # 2. The user, the directories and modes (postinst: systemd-sysusers, systemd-tmpfiles).
  ids=$(in_root id processnow 2>&1 || true)
  if [[ "$ids" == *"(processnow)"* && "$ids" == *"(dialout)"* ]]; then
    ok "user: $ids"
  else
    bad "user: processnow in dialout" "$ids"
  fi
  modes=$(in_root stat -c '%n %a %U:%G' /var/lib/processnow /etc/processnow \
    /etc/processnow/gateway.toml /etc/processnow/demo.toml /etc/processnow/rules.d/demo.toml 2>&1 || true)
  want="/var/lib/processnow 700 processnow:processnow
/etc/processnow 750 root:processnow
/etc/processnow/gateway.toml 640 root:processnow
/etc/processnow/demo.toml 640 root:processnow
/etc/processnow/rules.d/demo.toml 640 root:processnow"
  if [ "$modes" = "$want" ]; then ok "modes: $(echo "$modes" | tr '\n' ';')"; else bad "modes" "$modes"; fi
  conffiles=$(in_root dpkg-query -W -f='${Conffiles}' processnow | awk 'NF { print $1 }' | sort | tr '\n' ' ' || true)
  missing=""
  for f in /usr/lib/systemd/system/processnow.service /usr/lib/sysusers.d/processnow.conf \
    /usr/lib/tmpfiles.d/processnow.conf /usr/lib/processnow/processnow-http.so \
    /usr/lib/processnow/processnow-kafka.so; do
    [ -e "$W$f" ] || missing+=" $f"
  done
  if [ "$conffiles" = "/etc/processnow/demo.toml /etc/processnow/gateway.toml /etc/processnow/rules.d/demo.toml " ] &&
    [ -z "$missing" ]; then
    ok "files: unit, sysusers, tmpfiles, HTTP and Kafka modules; conffiles: $conffiles"
  else
    bad "files" "conffiles: $conffiles" "missing:$missing"
  fi

  # 3. processnow check of the installed configs, and the demo's rule test on the installed rule.
  for cfg in gateway demo; do
    if out=$(in_root /usr/bin/processnow check --config "/etc/processnow/$cfg.toml" 2>&1); then
      ok "check: /etc/processnow/$cfg.toml: $out"
    else
      bad "check /etc/processnow/$cfg.toml" "$out"
    fi
  done
  # A kafka upstream: `check` loads /usr/lib/processnow/processnow-kafka.so (librdkafka checks
  # every property), which the installed configs never do. No producer, no network.
  printf '[gateway]\ndata_dir = "/tmp/pn-kafka-check"\n[drivers.plant]\ntype = "sim"\n[upstreams.lake]\ntype = "kafka"\nbootstrap_servers = ["127.0.0.1:9092"]\n[upstreams.lake.properties]\n"linger.ms" = 20\n' \
    >"$W/tmp/kafka-check.toml"
  if out=$(in_root /usr/bin/processnow check --config /tmp/kafka-check.toml 2>&1); then
    ok "check: a kafka upstream (the Kafka module loaded): $out"
  else
    bad "check of a kafka upstream (the Kafka module)" "$out"
  fi
  rm -rf "$W/tmp/kafka-check.toml" "$W/tmp/pn-kafka-check"
  mkdir -p "$W/etc/processnow/tests"  # the test names ../rules.d/demo.toml
  cp "$W/usr/share/doc/processnow/demo_rules_test.toml" "$W/etc/processnow/tests/"
  if out=$(in_root /usr/bin/processnow test-rules /etc/processnow/tests/demo_rules_test.toml 2>&1); then
    ok "test-rules: $(echo "$out" | grep -c ': ok$') rule tests ok ($(echo "$out" | head -1))"
  else
    bad "test-rules" "$out"
  fi
  rm -rf "$W/etc/processnow/tests"

  # 4. The demo as the service's user, for $secs seconds, in this namespace's own loopback.
  # `check` (run as root above) creates data_dir, /tmp/processnow-demo, owned by root: the
  # processnow user could not write it. Start from none, as on a fresh machine.
  rm -rf "$W/tmp/processnow-demo"
  uid_gid=$(awk -F: '$1 == "processnow" { print $3 ":" $4 }' "$W/etc/passwd")
  dialout=$(awk -F: '$1 == "dialout" { print $3 }' "$W/etc/group")
  t0=$(date +%s%N)
  chroot --userspec="$uid_gid" --groups="$dialout" "$W" /usr/bin/env -i \
    PATH=/usr/bin:/bin LANG=C.UTF-8 /usr/bin/processnow run --config /etc/processnow/demo.toml \
    >"$WORK/demo-$arch.out" 2>"$WORK/demo-$arch.err" &
  pid=$!
  health=""
  for _ in $(seq 1 100); do
    health=$(python3 -c 'import urllib.request as u
r = u.urlopen("http://127.0.0.1:9470/health", timeout=2); print(r.status, r.read().decode()[:160])' \
      2>/dev/null) && break
    sleep 0.2
  done
  t_ready=$((($(date +%s%N) - t0) / 1000000))
  if [[ "$health" == "200 "* ]]; then
    ok "health: /health answered ${t_ready} ms after the start: $health"
  else
    bad "health: no answer from http://127.0.0.1:9470/health" "$(cat "$WORK/demo-$arch.err")"
  fi
  sleep "$secs"
  if out=$(in_root /usr/bin/processnow status --config /etc/processnow/demo.toml 2>&1); then
    ok "status: $(echo "$out" | head -3 | tr '\n' ';')"
  else
    bad "status" "$out"
  fi
  kill -TERM "$pid" 2>/dev/null || true
  rc=0
  timeout 30 tail --pid="$pid" -f /dev/null || rc=124
  wait "$pid" || rc=$?
  if [ "$rc" -eq 0 ] && tail -1 "$WORK/demo-$arch.err" | grep -q ' info stopped$'; then
    ok "stop: SIGTERM, exit 0, last log line '$(tail -1 "$WORK/demo-$arch.err" | cut -d' ' -f2-)'"
  else
    bad "stop: exit $rc" "$(tail -5 "$WORK/demo-$arch.err")"
  fi
  if out=$(python3 - "$WORK/demo-$arch.out" "$secs" <<'EOF'
import json, sys
recs = [json.loads(line) for line in open(sys.argv[1])]
secs = int(sys.argv[2])
readings = [r for r in recs if r["type"] == "reading"]
pairs = {(r["device"], r["series"]) for r in readings}
seqs = [r["seq"] for r in recs]
errors = []
if {r["gateway"] for r in recs} != {"demo-gateway"}: errors.append("gateway ids")
if len(readings) < 15 * secs: errors.append(f"{len(readings)} readings in {secs} s, want >= {15 * secs}")
want = {(f"pump-{d}", s) for d in (1, 2, 3)
        for s in ("temperature", "vibration_rms", "current", "pressure", "flow")}
if pairs != want: errors.append(f"series {sorted(pairs)}")
if seqs != list(range(1, len(seqs) + 1)): errors.append("seq is not 1, 2, 3, ...")
bad_q = [r for r in readings if r.get("quality") != "good" or not isinstance(r["value"], float)]
if bad_q: errors.append(f"{len(bad_q)} readings not good floats, e.g. {bad_q[0]}")
t = next((r for r in readings if r["device"] == "pump-1" and r["series"] == "temperature"),
         {"value": float("nan"), "unit": "?"})
print(f"{len(readings)} readings ({len(pairs)} device/series pairs), seq 1..{seqs[-1] if seqs else 0} "
      f"without a gap; first pump-1 temperature {t['value']:.2f} {t['unit']}")
if errors: print("; ".join(errors)); sys.exit(1)
EOF
  ); then
    ok "demo output: $out"
  else
    bad "demo output" "$out" "$(head -3 "$WORK/demo-$arch.out")"
  fi
  warns=$(grep -Ev '^[0-9T:.-]+ (info|debug) ' "$WORK/demo-$arch.err" || true)
  if [ -z "$warns" ]; then
    ok "demo log: $(wc -l <"$WORK/demo-$arch.err") lines, no warning or error"
  else
    bad "demo log has warnings or errors" "$warns"
  fi

  # 5. Purge: files, config and the state directory go.
  if out=$(timeout 300 chroot "$W" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      dpkg -P processnow 2>&1) && [ ! -e "$W/usr/bin/processnow" ] &&
    [ ! -e "$W/etc/processnow/gateway.toml" ] && [ ! -e "$W/var/lib/processnow" ]; then
    ok "purge: dpkg -P removes the binary, /etc/processnow and /var/lib/processnow"
  else
    bad "purge" "$out"
  fi
  umount -l "$W/dev" "$W/proc" || true
  echo "$arch: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
fi

# ---- outside: arguments, packages, emulators, root file systems ------------------------------
ARCHES=arm64,armhf
BUILD=auto
SECS=8
DEBS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) ARCHES=$2; shift 2 ;;
    --build) BUILD=yes; shift ;;
    --deb) DEBS+=("$(realpath "$2")"); shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "run as root (namespaces, chroot, mmdebstrap)" >&2; exit 2; }
T_ALL=$(date +%s)
mkdir -p "$WORK"

declare -A DEB
if [ "${#DEBS[@]}" -gt 0 ]; then
  ARCHES=""
  for d in "${DEBS[@]}"; do
    a=$(dpkg-deb -f "$d" Architecture); DEB[$a]=$d; ARCHES+="${ARCHES:+,}$a"
  done
else
  IFS=, read -r -a want <<<"$ARCHES"
  build=()
  for a in "${want[@]}"; do
    if [ "$BUILD" = yes ] || ! ls "$SRC/build/pkg-$a"/processnow_*_"$a".deb >/dev/null 2>&1; then
      build+=("$a")
    fi
  done
  if [ "${#build[@]}" -gt 0 ]; then
    say "building ${build[*]} with scripts/build-packages.sh"
    "$SRC/scripts/build-packages.sh" --arch "$(IFS=,; echo "${build[*]}")" >"$WORK/build.log" 2>&1 ||
      { tail -40 "$WORK/build.log"; say "build failed ($WORK/build.log)"; exit 1; }
  fi
  for a in "${want[@]}"; do DEB[$a]=$(ls "$SRC/build/pkg-$a"/processnow_*_"$a".deb); done
fi
T_BUILD=$(($(date +%s) - T_ALL))
IFS=, read -r -a arches <<<"$ARCHES"

# Tools: mmdebstrap (and gpg for its signed-by check), the static emulators.
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v gpg >/dev/null || need+=(gpg)
if [ "${#need[@]}" -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x "$QEMU_DIR/usr/bin/qemu-aarch64-static" ] || [ ! -x "$QEMU_DIR/usr/bin/qemu-arm-static" ]; then
  say "fetching qemu-user-static (apt-get download; unpacked in $QEMU_DIR, not installed)"
  rm -rf "$QEMU_DIR" "$WORK/qemu-deb" && mkdir -p "$WORK/qemu-deb"
  (cd "$WORK/qemu-deb" && apt-get download -q qemu-user-static >/dev/null)
  dpkg-deb -x "$WORK"/qemu-deb/qemu-user-static_*.deb "$QEMU_DIR"
  find "$QEMU_DIR/usr/bin" -type f ! -name qemu-aarch64-static ! -name qemu-arm-static -delete
  rm -rf "$WORK/qemu-deb" "$QEMU_DIR/usr/share/man"
fi
say "emulators: $("$QEMU_DIR/usr/bin/qemu-aarch64-static" --version | head -1)"

if ! ns_run sh -c 'mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc' 2>"$WORK/ns.err"; then
  say "cannot mount a binfmt_misc private to a user namespace (Linux >= 6.7 needed):" \
    "$(cat "$WORK/ns.err")"
  exit 2
fi

# The repositories: the armhf sysroot's (those that verified for armhf), else the host's.
SOURCES=$WORK/sources.list
if [ -f /opt/processnow-cross/armhf/sysroot/etc/apt/sources.list ]; then
  cp /opt/processnow-cross/armhf/sysroot/etc/apt/sources.list "$SOURCES"
else
  printf 'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' >"$SOURCES"
fi

declare -A ROOTFS SECS_ROOTFS SECS_CHECK
for a in "${arches[@]}"; do
  # minbase, systemd (as on a Pi: the postinst then uses systemd-sysusers and -tmpfiles) and the
  # package names in Depends, so that dpkg -i works without apt and shows that they suffice.
  deps=$(dpkg-deb -f "${DEB[$a]}" Depends | sed -e 's/([^)]*)//g' -e 's/ //g' -e 's/|[^,]*//g')
  pkgs="systemd,$deps"
  key=$(printf '%s\n' "$a" "$pkgs" "$(cat "$SOURCES")" "minbase 1" | sha256sum | cut -c1-12)
  ROOTFS[$a]=$WORK/rootfs-$a-$key
  T=$(date +%s)
  if [ ! -f "${ROOTFS[$a]}/.complete" ]; then
    say "$a: building the Debian 12 root file system ${ROOTFS[$a]} (mmdebstrap, emulated)"
    rm -rf "$WORK"/rootfs-"$a"-*
    if ! ns_run "$0" --inside-rootfs "$a" "${ROOTFS[$a]}" "$SOURCES" "$pkgs" \
      >"$WORK/rootfs-$a.log" 2>&1; then
      tail -30 "$WORK/rootfs-$a.log"; say "$a: mmdebstrap failed ($WORK/rootfs-$a.log)"; exit 2
    fi
    touch "${ROOTFS[$a]}/.complete"
  fi
  SECS_ROOTFS[$a]=$(($(date +%s) - T))
  say "$a: root file system ready in ${SECS_ROOTFS[$a]} s ($(du -sh "${ROOTFS[$a]}" | cut -f1))"
done

status=0
for a in "${arches[@]}"; do
  T=$(date +%s)
  say "$a: checking ${DEB[$a]}"
  ns_run --net "$0" --inside-check "$a" "${ROOTFS[$a]}" "${DEB[$a]}" "$SECS" || status=1
  SECS_CHECK[$a]=$(($(date +%s) - T))
  rm -rf "$WORK/run-$a"
done
summary="packages ${T_BUILD} s"
for a in "${arches[@]}"; do
  summary+="; $a: root file system ${SECS_ROOTFS[$a]} s, checks ${SECS_CHECK[$a]} s"
done
say "$([ $status -eq 0 ] && echo PASSED || echo FAILED) in $(($(date +%s) - T_ALL)) s ($summary)"
exit $status
