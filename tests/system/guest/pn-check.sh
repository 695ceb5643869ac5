#!/bin/bash
# The in-guest half of tests/system/systemd_vm.sh: runs as root inside a booted Debian 12 with
# systemd as PID 1 (pn-check.service), installs the processnow .deb and checks the unit for real.
# One "PASS name: what" or "FAIL name: what" line per check, indented detail lines, and a last
# line "N passed, N failed". Every wait is bounded.
#
#   pn-check.sh SHARE      SHARE/in/processnow.deb is installed; results go to SHARE/out/
set -u
export LC_ALL=C SYSTEMD_PAGER= SYSTEMD_COLORS=0

SHARE=${1:-/mnt/pn}
IN=$SHARE/in
OUT=$SHARE/out
mkdir -p "$OUT"
RES=$OUT/results.txt
: >"$RES"

UNIT=processnow
CONF=/etc/processnow/gateway.toml
STATE=/var/lib/processnow
UPSTREAM=$STATE/upstream.jsonl
DROPIN_DIR=/run/systemd/system/processnow.service.d
PASSED=0
FAILED=0
CHECK_T0=0
ALL_T0=$(date +%s)

say() { echo "$*" | tee -a "$RES"; }
detail() { sed 's/^/      /' | tee -a "$RES"; }
begin() { CHECK_T0=$(date +%s.%N); }
took() { awk -v a="$CHECK_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
pass() { PASSED=$((PASSED + 1)); say "PASS $1: $2 ($(took) s)"; }
fail() { FAILED=$((FAILED + 1)); say "FAIL $1: $2 ($(took) s)"; }
# verdict NAME WHAT CONDITION-ALREADY-EVALUATED(0/1) [why]
verdict() { if [ "$3" -eq 0 ]; then pass "$1" "$2"; else fail "$1" "$2${4:+: $4}"; fi; }

prop() { systemctl show -p "$1" --value "$UNIT"; }
# wait_for SECONDS COMMAND...: polls every 0.5 s; 0 as soon as COMMAND succeeds, 1 at the deadline.
wait_for() {
    local deadline=$(($(date +%s) + $1))
    shift
    while [ "$(date +%s)" -lt "$deadline" ]; do
        "$@" && return 0
        sleep 0.5
    done
    "$@"
}
is_running() { [ "$(prop ActiveState)/$(prop SubState)" = "active/running" ]; }
# A mark in time; journal_since MARK [journalctl args] shows the entries logged after it.
# (Not --after-cursor: here, with journalctl 252 and -u, it lost the first matching entry when the
# cursor's own entry did not match.)
mark() { echo "@$(date +%s.%6N)"; }
journal_since() { local since=$1; shift; journalctl -b --no-pager -q --since="$since" "$@"; }
unit_journal_since() { journal_since "$1" -u "$UNIT" -o cat; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
show_unit_state() {
    systemctl show -p ActiveState,SubState,Result,MainPID,NRestarts,ExecMainCode,ExecMainStatus \
        "$UNIT" | tr '\n' ' '
    echo
}
put_config() { install -m 0640 -o root -g processnow /dev/stdin "$1"; }
dropin() { mkdir -p "$DROPIN_DIR"; printf '[Service]\n%s\n' "$2" >"$DROPIN_DIR/$1.conf"; systemctl daemon-reload; }
dropin_clear() { rm -rf "$DROPIN_DIR"; systemctl daemon-reload; }
# "N x PRIORITY p, ..." from `journalctl -o verbose` on stdin.
prio_counts() {
    sed -n 's/^ *PRIORITY=//p' | sort | uniq -c |
        awk '{ printf "%s%d x PRIORITY=%s", sep, $1, $2; sep = ", " } END { if (!NR) printf "none" }'
}
stop_unit() { timeout 60 systemctl stop "$UNIT"; systemctl reset-failed "$UNIT" 2>/dev/null; true; }

say "== processnow under systemd as PID 1 ($(date -u +%FT%TZ))"
{
    echo "virtualization: $(systemd-detect-virt 2>/dev/null || echo none); kernel $(uname -r)"
    echo "$(systemctl --version | head -1); PID 1 is $(cat /proc/1/comm)"
    echo "cgroup fs: $(stat -fc %T /sys/fs/cgroup) (cgroup2fs = unified v2, tmpfs = v1/hybrid)"
    echo "system state: $(systemctl is-system-running 2>&1) (this check is part of the boot)"
    echo "package: $(dpkg-deb -f "$IN/processnow.deb" Package Version Architecture | tr '\n' ' ')"
} | detail

# ---------------------------------------------------------------------------------------------
# 1. Install, start, Type=notify.
begin
dpkg -i "$IN/processnow.deb" >"$OUT/dpkg-install.log" 2>&1
rc=$?
ok=1
status=$(dpkg-query -W -f='${Status}' processnow 2>/dev/null)
user=$(getent passwd processnow)
groups=$(id -nG processnow 2>/dev/null)
load=$(prop LoadState)/$(prop UnitFileState)/$(prop ActiveState)/$(prop NeedDaemonReload)
{
    echo "dpkg -i exit $rc; status: $status"
    echo "user: $user; groups: $groups"
    echo "unit LoadState/UnitFileState/ActiveState/NeedDaemonReload: $load"
    ls -ld /etc/processnow "$STATE" 2>&1
    dpkg -L processnow | grep -E '^/usr/(bin|lib/processnow)/' || true
} | detail
[ $rc -eq 0 ] && [ "$status" = "install ok installed" ] && [ -n "$user" ] &&
    [[ " $groups " == *" dialout "* ]] && [ "$load" = "loaded/disabled/inactive/no" ] && ok=0
[ $rc -eq 0 ] || tail -20 "$OUT/dpkg-install.log" | detail
verdict 1a-install "dpkg -i installs; user processnow (in dialout); unit loaded, not enabled or started" $ok
# Enabled from here on, as deployed (`systemctl enable --now`); an enabled unit also stays loaded
# after a stop, so its ExecMainCode/ExecMainStatus can still be read then.
systemctl enable "$UNIT" 2>&1 | detail

# The package's own /etc/processnow/gateway.toml (the reference config: no drivers) as shipped.
begin
c=$(mark)
timeout 90 systemctl start "$UNIT"
rc=$?
sleep 2
state=$(prop ActiveState)/$(prop SubState)
{ echo "systemctl start exit $rc; $state"; unit_journal_since "$c" | head -8; } | detail
ok=1
[ $rc -eq 0 ] && [ "$state" = "active/running" ] && ok=0
stop_unit
verdict 1b-shipped-config "the shipped reference config starts (no drivers) and runs" $ok

# The demo (built-in sim driver, demo rule) into a file upstream in the StateDirectory, with the
# health endpoint on 127.0.0.1:9470 as demo.toml has it (it loads the HTTP module inside the
# sandbox).
sed -e 's|^id = .*|id = "vm-gateway"|' \
    -e 's|^data_dir = .*|data_dir = "/var/lib/processnow"|' \
    -e "s|^path = \"-\"|path = \"$UPSTREAM\"|" /etc/processnow/demo.toml >/tmp/vm-demo.toml
# Under qemu the host feeds "T=21.5C RH=40.1%" lines into the VM's second UART (/dev/ttyS1): a
# serial driver with the regex parser reads them, through DeviceAllow=char-ttyS and the dialout
# group, with PCRE2 under MemoryDenyWriteExecute=.
SERIAL=0
if [ -f "$IN/ttyS1-fed" ] && [ -c /dev/ttyS1 ]; then
    SERIAL=1
    cat >>/tmp/vm-demo.toml <<'EOT'

[drivers.probe]
type = "serial"
device = "/dev/ttyS1"
baud_rate = 115200
device_name = "vm-probe"
parser = "regex"
pattern = '^T=(?<temperature>-?[0-9.]+)C RH=(?<humidity>[0-9.]+)%$'
EOT
fi
cp /etc/processnow/gateway.toml "$OUT/shipped-gateway.toml"
put_config "$CONF" </tmp/vm-demo.toml
cp /tmp/vm-demo.toml "$OUT/vm-gateway.toml"

begin
check_out=$(processnow check --config "$CONF" 2>&1)
check_rc=$?
c=$(mark)
timeout 90 systemctl start "$UNIT"
rc=$?
state=$(prop ActiveState)/$(prop SubState)
type=$(prop Type)/$(prop NotifyAccess)
fork_us=$(prop ExecMainStartTimestampMonotonic)
active_us=$(prop ActiveEnterTimestampMonotonic)
# PID 1 and the daemon log through the same journald socket, so the journal's order is the order
# of the events: "pipeline started" (logged right before READY=1) must come before systemd's
# "Started processnow.service" (logged once READY=1 arrived). With Type=simple it would not.
order=$(unit_journal_since "$c" | grep -nE 'pipeline started|Started processnow' | head -2 | tr '\n' '|')
{
    echo "processnow check: exit $check_rc: $check_out" | head -3
    echo "systemctl start exit $rc; $state; Type/NotifyAccess $type"
    echo "fork -> active: $(( (active_us - fork_us) / 1000 )) ms; journal order: $order"
} | detail
ok=1
[ $check_rc -eq 0 ] && [ $rc -eq 0 ] && [ "$state" = "active/running" ] &&
    [ "$type" = "notify/main" ] && [[ "$order" == *"pipeline started"*"|"*"Started processnow"* ]] &&
    ok=0
verdict 1c-notify-ready "demo config: 'systemctl start' returns once READY=1 came; active (running)" $ok

begin
wait_for 30 sh -c "systemctl show -p StatusText --value $UNIT | grep -q 'readings/s, queue [0-9]*, upstreams: console ok'"
rc=$?
{ echo "StatusText=$(prop StatusText)"; systemctl status --no-pager -n 0 "$UNIT" | head -12; } | detail
verdict 1d-status-text "systemctl show -p StatusText carries the daemon's STATUS= line" $rc
NORMAL_FROM=$c

# ---------------------------------------------------------------------------------------------
# 2. Identity, StateDirectory, data in the upstream, sandbox in effect, health endpoint.
begin
pid=$(prop MainPID)
ps_user=$(ps -o user:32=,group:32= -p "$pid" | tr -s ' ')
dialout_gid=$(getent group dialout | cut -d: -f3)
proc_groups=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$pid/status")
state_dir=$(stat -c '%U:%G %a' "$STATE")
db=$(stat -c '%U:%G %a %s bytes' "$STATE/buffer.db" 2>&1)
wait_for 30 sh -c "[ \$(wc -l <$UPSTREAM 2>/dev/null || echo 0) -ge 30 ]"
lines=$(wc -l <"$UPSTREAM" 2>/dev/null || echo 0)
up_owner=$(stat -c '%U:%G %a' "$UPSTREAM" 2>&1)
sample=$(head -1 "$UPSTREAM" 2>/dev/null)
# Mount namespace of the service: / read-only (ProtectSystem=strict), the StateDirectory rw.
root_opts=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo" | head -1)
state_opts=$(awk -v d="$STATE" '$5 == d { print $6 }' "/proc/$pid/mountinfo" | tail -1)
seccomp=$(awk '/^(Seccomp|NoNewPrivs|CapEff):/ { printf "%s %s ", $1, $2 }' "/proc/$pid/status")
{
    echo "MainPID $pid runs as: $ps_user; supplementary groups: $proc_groups (dialout = $dialout_gid)"
    echo "$STATE: $state_dir; buffer.db: $db"
    echo "$UPSTREAM: $up_owner, $lines lines; first: ${sample:0:150}"
    echo "in the service's mount namespace: / $root_opts; $STATE $state_opts"
    echo "$seccomp"
} | detail
ok=1
[ "$ps_user" = "processnow processnow" ] && [[ " $proc_groups " == *" $dialout_gid "* ]] &&
    [ "$state_dir" = "processnow:processnow 700" ] && [[ "$db" == processnow:processnow* ]] &&
    [ "$lines" -ge 30 ] && [[ "$up_owner" == processnow:processnow* ]] &&
    [[ "$sample" == *'"gateway":"vm-gateway"'* ]] && [[ "$root_opts" == ro* ]] &&
    [[ "$state_opts" == rw* ]] && ok=0
verdict 2a-user-state-data "runs as processnow, writes its buffer and the upstream under $STATE, / read-only" $ok

begin
st_out=$(timeout 20 processnow status --config "$CONF" 2>&1)
rc=$?
echo "$st_out" | head -12 | detail
verdict 2b-health "the health endpoint (dlopen'ed HTTP module, inside the sandbox) answers 'processnow status'" $rc

# Serial port and device policy (qemu only: a container has no UART).
begin
if [ $SERIAL -eq 1 ]; then
    pid=$(prop MainPID)
    wait_for 30 grep -q '"device":"vm-probe"' "$UPSTREAM"
    rc=$?
    probe=$(grep -c '"device":"vm-probe"' "$UPSTREAM")
    j=$(journal_since "$NORMAL_FROM" _SYSTEMD_UNIT=processnow.service -o cat)
    fd=$(ls -l "/proc/$pid/fd" 2>/dev/null | grep -c '/dev/ttyS1')
    # DevicePolicy=closed: a process in the service's cgroup may not open a disk, even as root.
    cg=/sys/fs/cgroup$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")
    vda=$(bash -c "echo \$\$ >$cg/cgroup.procs && exec head -c 1 /dev/vda" 2>&1 >/dev/null)
    null=$(bash -c "echo \$\$ >$cg/cgroup.procs && head -c 1 /dev/zero | wc -c" 2>&1)
    {
        echo "$probe readings from vm-probe in the upstream; /dev/ttyS1 open in the daemon: $fd fd"
        echo "$j" | grep -E 'driver probe|PCRE2' | head -3
        echo "in the service's cgroup: read /dev/vda: ${vda:-allowed}; read /dev/zero: $null byte"
    } | detail
    ok=1
    [ $rc -eq 0 ] && [ "$fd" -ge 1 ] && [[ "$j" == *"driver probe: opened /dev/ttyS1"* ]] &&
        [[ "$j" == *"PCRE2 JIT unavailable"* ]] && [[ "$vda" == *"Operation not permitted"* ]] &&
        [ "$null" = 1 ] && ok=0
    verdict 2c-serial-devices "serial driver reads /dev/ttyS1 (regex, JIT refused); DevicePolicy=closed denies /dev/vda" $ok
else
    say "SKIP 2c-serial-devices: no UART fed by the host here (qemu backend only)"
fi

# ---------------------------------------------------------------------------------------------
# 3. Reload (ExecReload = SIGHUP): a second rule file is picked up, the process stays.
begin
sed 's/pump_overheat/vm_reload_probe/' /etc/processnow/rules.d/demo.toml |
    put_config /etc/processnow/rules.d/vm-probe.toml
pid=$(prop MainPID)
c=$(mark)
timeout 60 systemctl reload "$UNIT"
rc=$?
wait_for 20 sh -c "journalctl -b -q --no-pager -u $UNIT --since='$c' -o cat | grep -q 'rules reloaded: 2 rules'"
reloaded=$?
sleep 1
state=$(prop ActiveState)/$(prop SubState)
pid2=$(prop MainPID)
{
    echo "systemctl reload exit $rc; $state; MainPID $pid -> $pid2"
    unit_journal_since "$c" | head -6
} | detail
ok=1
[ $rc -eq 0 ] && [ $reloaded -eq 0 ] && [ "$state" = "active/running" ] && [ "$pid" = "$pid2" ] && ok=0
verdict 3-reload "systemctl reload: SIGHUP reloads the rules (2 rules), same PID, still active (running)" $ok
# Normal operation so far (1c to 3: start, run, reload) logged no warning or error from the daemon.
begin
# (A sensor already sending when the port opens gives a partial first line: the driver drops that
# one quietly, so it does not count as a warning either.)
normal_warn=$(journal_since "$NORMAL_FROM" _SYSTEMD_UNIT=processnow.service -p warning -o cat |
    head -10)
if [ -z "$normal_warn" ]; then
    pass 3b-quiet "the daemon logged no warning or error during start, run and reload"
else
    echo "$normal_warn" | detail
    fail 3b-quiet "the daemon logged warnings/errors in normal operation"
fi

# ---------------------------------------------------------------------------------------------
# 4a. Watchdog: a frozen process stops the pings; systemd kills and restarts it after WatchdogSec.
begin
pid=$(prop MainPID)
n0=$(prop NRestarts)
wd=$(prop WatchdogUSec)
last_ping_ago=$(awk -v p="$(prop WatchdogTimestampMonotonic)" -v u="$(uptime_s)" 'BEGIN { printf "%.1f", u - p / 1e6 }')
c=$(mark)
t_stop=$(uptime_s)
kill -STOP "$pid"
restarted() { [ "$(prop NRestarts)" -gt "$n0" ] && [ "$(prop MainPID)" != "$pid" ] && is_running; }
wait_for 120 restarted
rc=$?
t_timeout=$(journal_since "$c" -u "$UNIT" -o short-monotonic | grep -m1 'Watchdog timeout' |
    sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p')
{
    echo "WatchdogUSec=$wd; last WATCHDOG=1 $last_ping_ago s before the SIGSTOP to $pid;" \
        "systemd's watchdog timeout $(awk -v a="$t_stop" -v b="${t_timeout:-0}" 'BEGIN { printf "%.1f", b - a }') s after it"
    echo "now: $(show_unit_state)"
    unit_journal_since "$c" | grep -vE 'readings/s' | head -10
} | detail
ok=1
[ $rc -eq 0 ] && [ -n "$t_timeout" ] && unit_journal_since "$c" | grep -q "Failed with result 'watchdog'" && ok=0
verdict 4a-watchdog-freeze "SIGSTOPped daemon: 'Watchdog timeout', killed, restarted (NRestarts $n0 -> $(prop NRestarts))" $ok

# 4b. Watchdog fed only while threads make progress: a hung sim driver (stall_after_samples)
# stops the pings by the daemon's own decision, and systemd restarts it. WatchdogSec=10s for
# this check only (runtime drop-in) to keep it short.
begin
sed -e 's|^realtime = true|realtime = true\nstall_after_samples = 6|' \
    -e 's|^enabled = true|enabled = true\nstall_timeout_ms = 3000|' /tmp/vm-demo.toml | put_config "$CONF"
dropin zz-check-watchdog 'WatchdogSec=10s'
c=$(mark)
timeout 90 systemctl restart "$UNIT"
n0=$(prop NRestarts)
pid=$(prop MainPID)
restarted() { [ "$(prop NRestarts)" -gt "$n0" ] && [ "$(prop MainPID)" != "$pid" ]; }
wait_for 120 restarted
rc=$?
j=$(unit_journal_since "$c")
{
    echo "WatchdogUSec=$(prop WatchdogUSec); NRestarts $n0 -> $(prop NRestarts)"
    echo "$j" | grep -E 'stall_after|withholding|Watchdog timeout|Failed with result' | head -6
} | detail
ok=1
[ $rc -eq 0 ] && [[ "$j" == *"withholding watchdog pings"* ]] && [[ "$j" == *"Watchdog timeout"* ]] && ok=0
verdict 4b-watchdog-stall "a hung driver: the daemon withholds WATCHDOG=1 and systemd restarts it" $ok
stop_unit
dropin_clear
put_config "$CONF" </tmp/vm-demo.toml

# 4c. Hardening vs normal operation. SystemCallErrorNumber=EPERM makes a filtered system call
# fail quietly (no SIGSYS, nothing in any log), so for this check a runtime drop-in turns the
# filter's action into a kill (SIGSYS): start, data, reload, health query, 20 s, stop must all
# pass without the daemon being killed. MemoryDenyWriteExecute has no such switch (it always
# returns EPERM); the daemon logging no error while running under it is what is checked there.
begin
dropin zz-check-seccomp 'SystemCallErrorNumber=kill'
errno_setting=$(systemctl cat "$UNIT" | grep -c '^SystemCallErrorNumber=kill')
c=$(mark)
timeout 90 systemctl start "$UNIT"
rc_start=$?
before=$(wc -l <"$UPSTREAM")
timeout 60 systemctl reload "$UNIT"
timeout 20 processnow status --config "$CONF" >/dev/null 2>&1
rc_status=$?
sleep 20
after=$(wc -l <"$UPSTREAM")
timeout 60 systemctl stop "$UNIT"
rc_stop=$?
res=$(prop Result); code=$(prop ExecMainCode); st=$(prop ExecMainStatus)
j=$(unit_journal_since "$c")
sigsys=$(echo "$j" | grep -cE 'SIGSYS|status=31')
audit=$(journalctl -b -k --no-pager -q 2>/dev/null | grep -c 'type=1326')
# The expected effect of MemoryDenyWriteExecute= is the regex parser's one "PCRE2 JIT unavailable"
# line (info); any other sign of refused memory or calls counts.
mdwe=$(echo "$j" | grep -viE 'PCRE2 JIT unavailable' | grep -ciE 'mprotect|jit|permission denied|operation not permitted')
daemon_err=$(journal_since "$c" _SYSTEMD_UNIT=processnow.service -p warning -o cat | head -5)
{
    echo "drop-in active: $errno_setting; start $rc_start, status query $rc_status, stop $rc_stop;" \
        "Result=$res ExecMainCode=$code ExecMainStatus=$st"
    echo "upstream lines $before -> $after; SIGSYS in unit journal: $sigsys;" \
        "kernel seccomp audit records (type=1326): $audit; EPERM-like messages: $mdwe"
    [ -n "$daemon_err" ] && echo "daemon warnings/errors: $daemon_err"
} | detail
ok=1
[ "$errno_setting" -ge 1 ] && [ $rc_start -eq 0 ] && [ $rc_status -eq 0 ] && [ $rc_stop -eq 0 ] &&
    [ "$res" = success ] && [ "$code" = 1 ] && [ "$st" = 0 ] && [ "$after" -gt "$before" ] &&
    [ "$sigsys" -eq 0 ] && [ "$audit" -eq 0 ] && [ "$mdwe" -eq 0 ] && [ -z "$daemon_err" ] && ok=0
verdict 4c-hardening "SystemCallFilter as SIGSYS-kill + MemoryDenyWriteExecute: runs, reloads, serves, stops clean" $ok
dropin_clear
systemctl reset-failed "$UNIT" 2>/dev/null

# ---------------------------------------------------------------------------------------------
# 5. Journal priorities.
begin
timeout 90 systemctl start "$UNIT"
sleep 3
journalctl -b --no-pager -u "$UNIT" -p warning >"$OUT/journal-unit-warning.txt" 2>&1
prios=$(journalctl -b --no-pager -u "$UNIT" -p warning -o verbose | prio_counts)
bad=$(journalctl -b --no-pager -u "$UNIT" -p warning -o verbose | sed -n 's/^ *PRIORITY=//p' | awk '$1 > 4' | wc -l)
by_prio=$(journalctl -b --no-pager _SYSTEMD_UNIT=processnow.service SYSLOG_IDENTIFIER=processnow -o verbose | prio_counts)
stderr_lines=$(journalctl -b --no-pager -q _SYSTEMD_UNIT=processnow.service _TRANSPORT=stdout -o cat | wc -l)
daemon_warn=$(journalctl -b --no-pager -q _SYSTEMD_UNIT=processnow.service -p warning -o cat |
    grep -vE "stall_after_samples reached|withholding watchdog pings|all threads make progress again" |
    head -5)
info_lines=$(journalctl -b --no-pager -q _SYSTEMD_UNIT=processnow.service -p info..info -o cat | wc -l)
{
    echo "journalctl -u processnow -p warning: $prios (all of it in out/journal-unit-warning.txt)"
    echo "the daemon's own entries: $by_prio; through the stderr stream: $stderr_lines"
    sed 's/^/| /' "$OUT/journal-unit-warning.txt" | grep -vE 'readings/s' | head -16
    [ -n "$daemon_warn" ] && echo "unexpected daemon warnings/errors: $daemon_warn"
    if [ "$stderr_lines" -gt 0 ]; then
        echo "daemon lines that bypassed its journal logger (the stderr stream, PRIORITY=6 whatever they say):"
        journalctl -b --no-pager -q _SYSTEMD_UNIT=processnow.service _TRANSPORT=stdout -o cat |
            sed 's/^\[[0-9: .-]*\] //' | sort | uniq -c | head -4
    fi
} | detail
ok=1
[ "$bad" -eq 0 ] && [ "$stderr_lines" -eq 0 ] && [ "$info_lines" -gt 0 ] && [ -z "$daemon_warn" ] && ok=0
verdict 5-journal-priorities "-p warning shows only priorities <= 4; the daemon logs natively at info/warning/error" $ok

# ---------------------------------------------------------------------------------------------
# 6. systemd-analyze security, online (the running unit as systemd sees it).
begin
timeout 120 systemd-analyze security --no-pager "$UNIT" >"$OUT/security.txt" 2>&1
rc=$?
score=$(grep -o 'exposure level for processnow.service: [0-9.]*' "$OUT/security.txt" | awk '{ print $NF }')
{
    echo "systemd-analyze security processnow: exit $rc; overall exposure ${score:-?} (full list in out/security.txt)"
    grep -E '^(- |✗ )' "$OUT/security.txt" | cut -c1-140 | head -14
} | detail
ok=1
[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' && ok=0
verdict 6-security "online exposure level ${score:-?} (<= 2.0)" $ok

# ---------------------------------------------------------------------------------------------
# 7. Stop: within TimeoutStopSec, exit 0.
begin
is_running || timeout 90 systemctl start "$UNIT"
sleep 2
c=$(mark)
t0=$(date +%s.%N)
timeout 60 systemctl stop "$UNIT"
rc=$?
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
limit=$(prop TimeoutStopUSec)
res=$(prop Result); code=$(prop ExecMainCode); st=$(prop ExecMainStatus); state=$(prop ActiveState)
{
    echo "systemctl stop exit $rc in $secs s (TimeoutStopUSec=$limit); $state Result=$res ExecMainCode=$code ExecMainStatus=$st"
    unit_journal_since "$c" | tail -4
} | detail
ok=1
[ $rc -eq 0 ] && awk -v s="$secs" 'BEGIN { exit !(s < 30) }' && [ "$state" = inactive ] &&
    [ "$res" = success ] && [ "$code" = 1 ] && [ "$st" = 0 ] &&
    unit_journal_since "$c" | grep -qx 'stopped' && ok=0
verdict 7-stop "systemctl stop: graceful, exit 0, within the deadline" $ok

# ---------------------------------------------------------------------------------------------
# 8. A config error exits 78 and is not restarted (RestartPreventExitStatus=78).
begin
printf '[drivers.plant]\ntype = "sim"\nno_such_key = 1\n' | put_config "$CONF"
c=$(mark)
timeout 90 systemctl start "$UNIT" 2>/dev/null
rc=$?
sleep 8   # longer than RestartSec=5s
state=$(prop ActiveState); st=$(prop ExecMainStatus); n=$(prop NRestarts)
{ echo "systemctl start exit $rc; $state ExecMainStatus=$st NRestarts=$n"; unit_journal_since "$c" | head -4; } | detail
ok=1
[ $rc -ne 0 ] && [ "$state" = failed ] && [ "$st" = 78 ] && [ "$n" = 0 ] && ok=0
verdict 8-config-error "a config error: exit 78, failed, no restart loop" $ok
# ... and says why at error priority, so that `journalctl -u processnow -p err` shows it.
begin
err_prio=$(journal_since "$c" _SYSTEMD_UNIT=processnow.service -o verbose |
    awk '/^[^ ]/ { if (m ~ /unknown key/) print p; p = ""; m = "" }
         /^ *PRIORITY=/ { sub(/^ *PRIORITY=/, ""); p = $0 }
         /^ *MESSAGE=/ { m = $0 }
         END { if (m ~ /unknown key/) print p }' | head -1)
transport=$(journal_since "$c" _SYSTEMD_UNIT=processnow.service -o verbose |
    awk '/^[^ ]/ { if (m ~ /unknown key/) print t; t = ""; m = "" }
         /^ *_TRANSPORT=/ { sub(/^ *_TRANSPORT=/, ""); t = $0 }
         /^ *MESSAGE=/ { m = $0 }
         END { if (m ~ /unknown key/) print t }' | head -1)
echo "the 'unknown key' line: PRIORITY=${err_prio:-?} _TRANSPORT=${transport:-?};" \
    "in journalctl -u processnow -p err: $(journal_since "$c" -u "$UNIT" -p err -o cat | grep -c 'unknown key') line(s)" | detail
ok=1
[ -n "$err_prio" ] && [ "$err_prio" -le 3 ] && ok=0
verdict 8b-config-error-priority "the config error is logged at error priority (journalctl -p err shows it)" $ok
systemctl reset-failed "$UNIT" 2>/dev/null
put_config "$CONF" </tmp/vm-demo.toml

# ---------------------------------------------------------------------------------------------
# 9. Purge while running: prerm stops it, postrm reloads systemd and deletes the buffer.
begin
rm -f /etc/processnow/rules.d/vm-probe.toml   # not the package's: dpkg -P would leave the directory
timeout 90 systemctl start "$UNIT"
dpkg -P processnow >"$OUT/dpkg-purge.log" 2>&1
rc=$?
load=$(prop LoadState); state=$(prop ActiveState)
left=$(ls -d "$STATE" /usr/bin/processnow /etc/processnow 2>/dev/null | tr '\n' ' ')
{ echo "dpkg -P exit $rc; unit $load/$state; left behind: ${left:-nothing}"; tail -3 "$OUT/dpkg-purge.log"; } | detail
ok=1
[ $rc -eq 0 ] && [ "$load" = not-found ] && [ "$state" = inactive ] && [ -z "$left" ] && ok=0
verdict 9-purge "dpkg -P with the service running: stopped, unit gone, buffer and config removed" $ok

# ---------------------------------------------------------------------------------------------
journalctl -b --no-pager -o short-monotonic >"$OUT/journal.txt" 2>&1
say "== total $(($(date +%s) - ALL_T0)) s in the guest"
say "$PASSED passed, $FAILED failed"
sync
exit 0
