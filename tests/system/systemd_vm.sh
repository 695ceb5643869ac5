#!/bin/bash
# Boots a real Debian 12 with systemd as PID 1 and checks the processnow .deb under it: install,
# Type=notify start, STATUS=, user and StateDirectory, reload, watchdog (frozen process and hung
# thread), hardening, journal priorities, online `systemd-analyze security`, stop, exit 78, purge.
# Run by hand as root; tests/system/README.md says why it is not in ctest or CI.
#
#   tests/system/systemd_vm.sh [--backend qemu|nspawn|both] [--no-build] [--deb FILE]
#
#   --backend qemu    (default) a qemu-system-x86_64 VM (TCG) booting Debian's kernel and initrd
#   --backend nspawn  a systemd-nspawn --boot container on this host's kernel (faster, less real)
#   --no-build        use the .deb already in $PN_VM_BUILD_DIR/vm-deb instead of building one
#   --deb FILE        check this .deb (no build)
#
# Environment: PN_VM_DIR (artefacts, default /var/tmp/pn-systemd-vm), PN_VM_BUILD_DIR (default
# build/vm-release), PN_VM_TIMEOUT (hard limit of one guest run in seconds, default 1200),
# PN_VM_ACCEL (qemu accelerator, default tcg; kvm where nested virtualisation works).
# Exit: 0 every check passed; 1 a check failed; 2 the guest gave no result (boot, timeout).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
VMDIR=${PN_VM_DIR:-/var/tmp/pn-systemd-vm}
BUILD_DIR=${PN_VM_BUILD_DIR:-$SRC/build/vm-release}
GUEST_TIMEOUT=${PN_VM_TIMEOUT:-1200}
ACCEL=${PN_VM_ACCEL:-tcg}
BACKEND=qemu
BUILD=1
DEB=""

while [ $# -gt 0 ]; do
    case "$1" in
        --backend) BACKEND=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --deb) DEB=$(realpath "$2"); BUILD=0; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
    esac
done
case "$BACKEND" in qemu|nspawn|both) ;; *) echo "--backend qemu|nspawn|both" >&2; exit 64 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "run as root (mmdebstrap, nspawn, mke2fs -d keep owners)" >&2; exit 77; }

T_ALL=$(date +%s)
say() { echo "[systemd_vm $(date +%H:%M:%S)] $*"; }

# ---- tools -----------------------------------------------------------------------------------
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v mke2fs >/dev/null || need+=(e2fsprogs)
command -v dpkg-deb >/dev/null || need+=(dpkg)
if [ "$BACKEND" != nspawn ]; then command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86); fi
if [ "$BACKEND" != qemu ]; then command -v systemd-nspawn >/dev/null || need+=(systemd-container); fi
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- the .deb --------------------------------------------------------------------------------
T=$(date +%s)
if [ $BUILD -eq 1 ]; then
    say "building the .deb in $BUILD_DIR (RelWithDebInfo, no tests or benchmarks)"
    cmake -S "$SRC" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPN_BUILD_TESTS=OFF -DPN_BUILD_BENCH=OFF >"$BUILD_DIR.configure.log" 2>&1 ||
        { cat "$BUILD_DIR.configure.log"; echo "configure failed (scripts/install-deps.sh?)" >&2; exit 1; }
    cmake --build "$BUILD_DIR" >"$BUILD_DIR.build.log" 2>&1 ||
        { tail -40 "$BUILD_DIR.build.log"; echo "build failed" >&2; exit 1; }
    rm -rf "$BUILD_DIR/vm-deb"
    cpack -G DEB --config "$BUILD_DIR/CPackConfig.cmake" -B "$BUILD_DIR/vm-deb" >"$BUILD_DIR.cpack.log" 2>&1 ||
        { cat "$BUILD_DIR.cpack.log"; exit 1; }
fi
if [ -z "$DEB" ]; then
    DEB=$(ls "$BUILD_DIR"/vm-deb/processnow_*.deb 2>/dev/null | head -1)
    [ -n "$DEB" ] || { echo "no .deb in $BUILD_DIR/vm-deb (drop --no-build)" >&2; exit 1; }
fi
T_BUILD=$(($(date +%s) - T))
say ".deb: $DEB ($(dpkg-deb -f "$DEB" Version), built in ${T_BUILD} s)"

# ---- the guest root file system (cached by what goes in it) -----------------------------------
# Its packages: systemd as init, udev and dbus (systemctl, systemd-analyze security online),
# Debian's kernel and initrd (qemu), and the .deb's Depends so that `dpkg -i` works offline.
deps=$(dpkg-deb -f "$DEB" Depends | sed -e 's/([^)]*)//g' -e 's/ //g' -e 's/|[^,]*//g')
pkgs="systemd,systemd-sysv,dbus,udev,procps,linux-image-amd64,initramfs-tools,$deps"
key=$( { echo "v1 $pkgs"; cat "$HERE/guest/pn-check.service"; } | sha256sum | cut -c1-12)
ROOTFS=$VMDIR/rootfs-$key
IMG=$VMDIR/rootfs-$key.ext4
mkdir -p "$VMDIR"
T=$(date +%s)
if [ ! -d "$ROOTFS" ]; then
    say "building the Debian 12 root file system $ROOTFS (mmdebstrap, a few minutes)"
    # Only one cached root file system is kept.
    rm -rf "$VMDIR"/rootfs-*
    mirror=()
    [ -f /etc/apt/sources.list.d/debian.sources ] && mirror=(/etc/apt/sources.list.d/debian.sources)
    [ -s /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list && mirror=(/etc/apt/sources.list)
    timeout 1800 mmdebstrap --variant=minbase --include="$pkgs" \
        --customize-hook='echo pn-vm >"$1/etc/hostname"' \
        --customize-hook='mkdir -p "$1/mnt/pn"' \
        --customize-hook="cp $HERE/guest/pn-check.service \"\$1/etc/systemd/system/\"" \
        --customize-hook='systemctl --root="$1" enable pn-check.service' \
        --customize-hook='systemctl --root="$1" mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer' \
        bookworm "$ROOTFS.tmp" "${mirror[@]}" >"$VMDIR/mmdebstrap.log" 2>&1 ||
        { tail -30 "$VMDIR/mmdebstrap.log"; rm -rf "$ROOTFS.tmp"; exit 1; }
    mv "$ROOTFS.tmp" "$ROOTFS"
fi
if [ "$BACKEND" != nspawn ] && [ ! -f "$IMG" ]; then
    say "making the ext4 disk image $IMG"
    size_mb=$(( $(du -sm "$ROOTFS" | cut -f1) + 1024 ))
    mke2fs -q -t ext4 -L pnroot -d "$ROOTFS" -E root_owner=0:0 "$IMG.tmp" "${size_mb}M" >/dev/null
    mv "$IMG.tmp" "$IMG"
fi
T_ROOTFS=$(($(date +%s) - T))

# ---- one guest run ----------------------------------------------------------------------------
# run_guest BACKEND: the share (in/: the .deb and the check script; out/: results) is a 9p share
# under qemu and a bind mount under nspawn; the guest's pn-check.service runs the script and
# powers off. The guest has no network (qemu: no NIC; nspawn: a private namespace, loopback only).
run_guest() {
    local backend=$1 run=$VMDIR/run-$1 t0 rc
    rm -rf "$run"
    mkdir -p "$run/share/in" "$run/share/out"
    cp "$DEB" "$run/share/in/processnow.deb"
    cp "$HERE/guest/pn-check.sh" "$run/share/in/"
    say "$backend: booting (hard limit ${GUEST_TIMEOUT} s; console in $run/console.log)"
    t0=$(date +%s)
    set +e
    if [ "$backend" = qemu ]; then
        local kernel initrd feeder
        kernel=$(ls "$ROOTFS"/boot/vmlinuz-* | sort -V | tail -1)
        initrd=$(ls "$ROOTFS"/boot/initrd.img-* | sort -V | tail -1)
        # The VM's second UART (ttyS1) is a pipe pair: a sensor line a second goes in (the
        # guest's serial driver reads it), what the guest writes is drained.
        mkfifo "$run/ttyS1.in" "$run/ttyS1.out"
        : >"$run/share/in/ttyS1-fed"
        (
            cat "$run/ttyS1.out" >/dev/null &
            for i in $(seq 1 "$GUEST_TIMEOUT"); do
                printf 'T=2%d.%dC RH=40.1%%\r\n' $((i % 10)) $((i % 7)) || exit 0
                sleep 1
            done
        ) >"$run/ttyS1.in" 2>/dev/null &
        feeder=$!
        timeout -k 10 "$GUEST_TIMEOUT" qemu-system-x86_64 \
            -accel "$ACCEL" -cpu max -smp 2 -m 2048 \
            -display none -monitor none -serial "file:$run/console.log" -no-reboot -nic none \
            -kernel "$kernel" -initrd "$initrd" \
            -append "root=/dev/vda rw console=ttyS0 panic=-1 net.ifnames=0" \
            -drive "file=$IMG,format=raw,if=virtio,snapshot=on" \
            -chardev "pipe,id=probe,path=$run/ttyS1" -serial chardev:probe \
            -virtfs "local,path=$run/share,mount_tag=pnshare,security_model=none,multidevs=remap" \
            </dev/null >"$run/qemu.log" 2>&1
        rc=$?
        kill "$feeder" 2>/dev/null
        wait "$feeder" 2>/dev/null
    else
        # systemd-nspawn cleans up under /run/systemd/nspawn and refuses to where /run is not a
        # tmpfs (as in some sandboxes): give it one in a private mount namespace.
        mkdir -p /run/systemd/nspawn
        timeout -k 10 "$GUEST_TIMEOUT" unshare -m --propagation private sh -c '
            mount -t tmpfs tmpfs /run/systemd/nspawn &&
            exec systemd-nspawn --quiet -D "$1" --volatile=overlay --boot --register=no \
                --keep-unit --private-network --console=pipe -M pn-vm --bind="$2:/mnt/pn"' \
            sh "$ROOTFS" "$run/share" </dev/null >"$run/console.log" 2>&1
        rc=$?
    fi
    set -e
    local secs=$(($(date +%s) - t0))
    say "$backend: guest ended (exit $rc) after ${secs} s"
    if [ -s "$run/share/out/results.txt" ]; then
        echo "------------------------------------------------------------------------------"
        cat "$run/share/out/results.txt"
        echo "------------------------------------------------------------------------------"
        say "$backend: artefacts (journal, security report, dpkg logs) in $run/share/out/"
    else
        say "$backend: no results; the console's last lines:"
        tail -40 "$run/console.log" || true
    fi
    if tail -1 "$run/share/out/results.txt" 2>/dev/null | grep -qE '^[0-9]+ passed, 0 failed$'; then
        return 0
    elif tail -1 "$run/share/out/results.txt" 2>/dev/null | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then
        return 1
    fi
    return 2
}

status=0
backends=$BACKEND
[ "$BACKEND" = both ] && backends="nspawn qemu"
for b in $backends; do
    rc=0
    run_guest "$b" || rc=$?
    if [ $rc -gt $status ]; then status=$rc; fi
done
say "timings: .deb ${T_BUILD} s, root file system ${T_ROOTFS} s, total $(($(date +%s) - T_ALL)) s"
exit $status
