#!/usr/bin/env python3
"""Memory of the running daemon (issue 15, item 4), idle and under load, for the common configs,
for one binary or a before/after pair run interleaved in the same session:

  modbus-mqtt   Modbus TCP (the real pn_modbus_server) -> MQTT upstream (mosquitto on a free
                loopback port). Idle: 10 tags polled every second. Load: 1000 tags on 10 units
                polled every 100 ms (10,000 readings/s) and 50 threshold rules.
  modbus-file   the idle Modbus config forwarding to a file: no MQTT or Kafka peer at all (what
                Paho and OpenSSL, still linked, cost a gateway that does not use them).
  serial-kafka  (--kafka-mock) a serial line (a pty this script writes to) -> Kafka upstream
                (librdkafka's mock cluster, the kafka_mock_cluster program of the tests). Idle: one
                line a second. Load: 2,000 lines/s (4,000 readings/s).

Each run starts the daemon, waits for READY=1 (sd_notify), lets it settle (--settle-s) and, for
load, keeps the load on for --load-s; then reads VmRSS and VmHWM (peak) from /proc/PID/status
and Pss and Anonymous from /proc/PID/smaps_rollup, checks that records reached the upstream,
and stops the daemon. Medians over --runs runs; with --before, the two binaries alternate run by
run so that a noisy machine treats them alike. Also lists which of librdkafka, Paho and
libcpp-httplib each binary has mapped (/proc/PID/maps).

  bench_memory.py --binary build/release/gateway/service/processnow \\
      --before build/before/gateway/service/processnow \\
      --modbus-server build/release/tests/integration/peers/modbus_server/pn_modbus_server \\
      --kafka-mock build/release/tests/unit/upstream/kafka/kafka_mock_cluster

--breakdown says where the resident pages are, by default for the Modbus -> MQTT gateway idle and
at 5,000 values/s (--cases mm-idle,mm-5k: 1000 tags every 200 ms, one message per value, QoS 1):
each run's /proc/PID/smaps Rss summed by mapping (the binary, each library, [heap], the malloc
arenas of other threads, thread stacks, other anonymous mappings), and, through gdb attached for a
moment after the figures were read, what glibc's malloc (malloc_info) and SQLite
(sqlite3_status64: all its allocations, its page caches) hold. Medians of --runs per category.

Bounded: about (settle + load + 2) s per run, config, phase and binary.
"""
import argparse
import collections
import os
import pty
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "peers"))
from mqtt_broker import Broker  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import benchlib  # noqa: E402

HEAD = """
[gateway]
id = "bench"
data_dir = "{dir}/data"
log_level = "warn"
"""

MODBUS = """
[drivers.plc]
type = "modbus"
host = "127.0.0.1"
port = {port}
poll_interval_ms = {poll_ms}
"""

TAG = """[[drivers.plc.tag]]
name = "tag{i}"
unit_id = {unit}
table = "holding"
address = {address}
type = "uint16"
"""

RULE = """[[rule]]
name = "high_{i}"
devices = ["plc-*"]
series = ["tag{i}"]
[rule.detector]
type = "threshold"
above = 100000.0
"""

MQTT_UP = """
[upstreams.scada]
type = "mqtt"
servers = ["{broker}"]
"""

SERIAL = """
[drivers.probe]
type = "serial"
device = "{device}"
baud_rate = 115200
device_name = "probe-1"
parser = "regex"
pattern = '^T=(?<temperature>-?[0-9.]+)C RH=(?<humidity>[0-9.]+)%$'
max_line_bytes = 256
"""

KAFKA_UP = """
[upstreams.lake]
type = "kafka"
bootstrap_servers = [{servers}]
topic = "bench.readings"
event_topic = "bench.events"
"""

CASES = ("mm-idle", "mm-5k", "mm-load", "mf-idle", "sk-idle", "sk-load")
LIBS = {"librdkafka": "librdkafka", "paho": "libpaho-mqtt", "httplib": "libcpp-httplib"}
# Resident pages of these libraries' mappings (file pages and their private copies), summed by
# group from /proc/PID/smaps: what mapping each costs this process.
GROUPS = {"librdkafka + libsasl2 + module": ("librdkafka", "libsasl2", "processnow-kafka"),
          "Paho (C and C++)": ("libpaho-mqtt",),
          "OpenSSL (libssl, libcrypto)": ("libssl", "libcrypto")}


def status_kib(pid):
    """VmRSS, VmHWM in KiB (/proc/PID/status); Pss, Anonymous in KiB (smaps_rollup)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in ("Pss:", "Anonymous:"):
                out[parts[0][:-1]] = int(parts[1])
    return out


def group_rss_kib(pid):
    out = dict.fromkeys(GROUPS, 0)
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                name = os.path.basename(parts[5]) if len(parts) > 5 else ""
            elif parts and parts[0] == "Rss:" and name:
                for g, pats in GROUPS.items():
                    if any(name.startswith(p) for p in pats):
                        out[g] += int(parts[1])
    return out


def mapped_libs(pid):
    with open(f"/proc/{pid}/maps") as f:
        files = {line.split()[-1] for line in f if "/" in line}
    return sorted(k for k, pat in LIBS.items() if any(pat in os.path.basename(m) for m in files))


# --breakdown: every mapping's resident pages (/proc/PID/smaps Rss) by what holds them. Libraries
# by file name; anonymous mappings by what they are: a glibc malloc arena (a heap of a thread's
# arena is mapped at a 64 MiB boundary, the part in use read-write and the rest PROT_NONE), a
# thread's stack (the mapping that holds the stack pointer /proc/PID/task/TID/syscall shows), or
# the rest (blocks malloc maps on their own, >= 128 KiB, and anything else).
LIB_CATEGORIES = (("OpenSSL (libssl, libcrypto)", ("libssl", "libcrypto")),
                  ("Paho (C and C++)", ("libpaho-mqtt",)),
                  ("SQLite (code)", ("libsqlite3",)),
                  ("libmodbus", ("libmodbus",)),
                  ("libstdc++, libgcc_s", ("libstdc++", "libgcc_s")),
                  ("libc, libm, ld.so", ("libc.so", "libc-", "libm.so", "ld-linux", "libpthread",
                                         "libdl", "librt")),
                  ("spdlog, fmt", ("libspdlog", "libfmt")),
                  ("librdkafka, libsasl2, module", ("librdkafka", "libsasl2", "processnow-kafka")))
ARENA_ALIGN = 64 << 20
MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$")


def thread_stack_pointers(pid):
    """{stack pointer: thread name} of the threads blocked in a system call."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                fields = f.read().split()
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if len(fields) >= 3 and fields[0] != "running":
            out[int(fields[-2], 16)] = name if tid != str(pid) else "main"
    return out


def breakdown_kib(pid, binary):
    """Rss (KiB) by category, and the thread names whose stacks were found."""
    sps = thread_stack_pointers(pid)
    exe = os.path.basename(os.path.realpath(f"/proc/{pid}/exe"))
    out = collections.Counter()
    cat = None
    prev_guard = False  # the mapping before was an anonymous PROT_NONE one (a stack's guard)
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = MAPPING.match(line)
            if m:
                start, end = int(m.group(1), 16), int(m.group(2), 16)
                perms, path = m.group(3), m.group(4).strip()
                name = os.path.basename(path)
                if path == "[heap]":
                    cat = "[heap] (main malloc arena)"
                elif path == "[stack]":
                    cat = "thread stacks ([stack] and ours)"
                elif path.startswith("["):
                    cat = "vdso, vvar"
                elif path:
                    cat = "processnow (binary)" if name == exe else next(
                        (c for c, pats in LIB_CATEGORIES if name.startswith(pats)),
                        "other files: " + name)
                elif perms.startswith("---"):
                    cat = "guard and reserved (PROT_NONE)"
                elif start % ARENA_ALIGN == 0:
                    cat = "malloc arenas of threads (anonymous)"
                elif any(start <= sp < end for sp in sps) or prev_guard and end - start >= (
                        128 << 10) and (end - start) % (1 << 20) == 0:
                    cat = "thread stacks ([stack] and ours)"
                else:
                    cat = "other anonymous (mmap'd malloc blocks, ...)"
                prev_guard = not path and perms.startswith("---")
            elif line.startswith("Rss:") and cat:
                out[cat] += int(line.split()[1])
    return out


# What the process's allocators hold, asked by gdb (attached for a moment, after the figures
# above were read): glibc's malloc_info() (per arena: bytes mapped, bytes free) and SQLite's own
# counters (all SQLite allocations; the page caches among them).
GDB_SCRIPT = """set confirm off
set pagination off
set $f = (void*)fopen("{xml}", "w")
call (int)malloc_info(0, $f)
call (int)fclose($f)
set $v = (long long*)malloc(16)
call (int)sqlite3_status64(0, $v, $v + 1, 0)
printf "PN sqlite_used %lld\\n", $v[0]
call (int)sqlite3_status64(2, $v, $v + 1, 0)
printf "PN pagecache_overflow %lld\\n", $v[0]
call (void)free($v)
detach
"""


def allocator_kib(pid, tmp):
    xml = os.path.join(tmp, f"malloc-{pid}.xml")
    script = os.path.join(tmp, "gdb.cmd")
    with open(script, "w") as f:
        f.write(GDB_SCRIPT.format(xml=xml))
    r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-x", script],
                       capture_output=True, text=True, timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("PN "):
            _, k, v = line.split()
            out[k] = int(v) // 1024
    try:
        import xml.etree.ElementTree as ET
        root = ET.parse(xml).getroot()
    except (OSError, Exception) as e:  # noqa: BLE001 - a breakdown without malloc figures
        print(f"malloc_info: {e}; gdb said {r.stderr[-500:]}", file=sys.stderr)
        return out
    arenas = root.findall("heap")
    out["arenas"] = len(arenas)
    for h in arenas:
        mapped = int(h.find("system[@type='current']").get("size"))
        free = sum(int(t.get("size")) for t in h.findall("total"))
        key = "main arena" if h.get("nr") == "0" else "other arenas"
        out[key + " mapped"] = out.get(key + " mapped", 0) + mapped // 1024
        out[key + " in use"] = out.get(key + " in use", 0) + (mapped - free) // 1024
    mmapped = root.find("total[@type='mmap']")
    if mmapped is not None:
        out["mmap'd blocks"] = int(mmapped.get("size")) // 1024
    return out


class MockKafka:
    """kafka_mock_cluster as a child: its bootstrap servers; counts the messages it reads."""

    def __init__(self, program):
        self.proc = subprocess.Popen([program, "--brokers", "1", "--partitions", "4",
                                      "bench.readings", "bench.events"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line.startswith("BOOTSTRAP "):
            self.proc.kill()
            raise RuntimeError(f"kafka_mock_cluster said {line!r}")
        self.servers = line.split()[1].split(",")
        self.count = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.count += 1

    def stop(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


class SerialFeeder:
    """Writes probe lines to a pty master at `rate` lines/s on a thread, until stopped."""

    def __init__(self, master, rate):
        self.master, self.rate = master, rate
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        period = 1.0 / self.rate
        batch = max(1, int(self.rate / 100))  # write in 10 ms chunks
        n = 0
        t = time.monotonic()
        while not self.stop_flag.is_set():
            data = "".join(f"T={20 + (n + i) % 50 / 10:.2f}C RH={40 + (n + i) % 7:.1f}%\n"
                           for i in range(batch)).encode()
            try:
                os.write(self.master, data)
            except BlockingIOError:
                pass  # the daemon is behind: this chunk is dropped, like a real line would be
            except OSError:
                return
            n += batch
            t += period * batch
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(timeout=5)


def run_daemon(binary, config, settle_s, load_s, delivered, breakdown=False):
    """Starts binary on config; after READY=1 + settle_s + load_s returns (memory, libs, records
    delivered meanwhile). With `breakdown`, memory also holds Rss by category ("rss:" keys) and
    the allocators' figures ("alloc:" keys)."""
    # A fresh store every run: no backlog from the previous one.
    shutil.rmtree(os.path.join(os.path.dirname(config), "data"), ignore_errors=True)
    d = tempfile.mkdtemp(prefix="pn-bench-mem-")
    path = os.path.join(d, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    proc = subprocess.Popen([binary, "run", "--config", config], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while "READY=1" not in sock.recv(4096).decode().split("\n"):
            pass
        n0 = delivered()
        time.sleep(settle_s + load_s)  # a benchmark's measuring time, not a test's wait
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        mem = status_kib(proc.pid)
        mem.update(group_rss_kib(proc.pid))
        libs = mapped_libs(proc.pid)
        n = delivered() - n0
        if breakdown:
            mem.update({"rss:" + k: v for k, v in breakdown_kib(proc.pid, binary).items()})
            mem.update({"alloc:" + k: v for k, v in allocator_kib(proc.pid, d).items()})
    finally:
        benchlib.stop_process(proc)
        sock.close()
        shutil.rmtree(d, ignore_errors=True)
    if n <= 0:
        raise RuntimeError(f"no records reached the upstream with {config}: not running")
    return mem, libs, n


def mib(kib):
    return f"{kib / 1024:.1f}"


def print_breakdown(rows):
    """The --breakdown tables: a column per (phase, binary), medians of each category."""
    cols = [f"{cname}, {phase.split(':')[0]}, {bname}" for cname, phase, bname, _ in rows]
    for prefix, title in (("rss:", "VmRSS by mapping (smaps Rss)"),
                          ("alloc:", "what the allocators hold (gdb: malloc_info, "
                                     "sqlite3_status64)")):
        keys = sorted({k for *_, med in rows for k in med if k.startswith(prefix)},
                      key=lambda k: -max(med.get(k, 0) for *_, med in rows))
        print(f"\n{title}, MiB, medians:")
        print("| | " + " | ".join(cols) + " |")
        print("|---|" + "---:|" * len(cols))
        for k in keys:
            fmt = (lambda v: f"{v:.0f}") if k == "alloc:arenas" else mib
            print(f"| {k[len(prefix):]} | " + " | ".join(fmt(med.get(k, 0)) for *_, med in rows)
                  + " |")
        if prefix == "rss:":
            print("| **sum (VmRSS)** | " + " | ".join(
                mib(sum(v for k, v in med.items() if k.startswith(prefix))) for *_, med in rows)
                + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True, help="the processnow binary (\"after\")")
    ap.add_argument("--before", help="a second binary to compare with, run alternately")
    ap.add_argument("--modbus-server", required=True,
                    help="pn_modbus_server (tests/integration/peers/modbus_server)")
    ap.add_argument("--kafka-mock", help="kafka_mock_cluster (tests/unit/upstream/kafka)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle-s", type=float, default=3.0)
    ap.add_argument("--load-s", type=float, default=10.0)
    ap.add_argument("--cases", help="which of " + ", ".join(CASES) + " to run, comma-separated "
                    "(default: all but mm-5k; with --breakdown: mm-idle,mm-5k)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also sum each run's resident pages by mapping (libraries, heap, malloc "
                    "arenas, thread stacks) and ask the allocators (glibc, SQLite) through gdb")
    a = ap.parse_args()
    wanted = (a.cases or ("mm-idle,mm-5k" if a.breakdown else
                          "mm-idle,mm-load,mf-idle,sk-idle,sk-load")).split(",")
    if not set(wanted) <= set(CASES):
        ap.error(f"--cases: one of {', '.join(CASES)}")
    binaries = [("after", a.binary)] if not a.before else [("before", a.before),
                                                           ("after", a.binary)]
    work = tempfile.mkdtemp(prefix="pn-bench-memory-")
    server = broker = kafka = None
    master = slave = None
    try:
        server = subprocess.Popen([a.modbus_server, "--tcp", "0", "--no-holes"],
                                  stdout=subprocess.PIPE, text=True)
        line = server.stdout.readline().split()
        assert line and line[0] == "READY", line
        port = int(line[1])
        broker = Broker(os.path.join(work, "broker")).start()
        # Messages the broker took: count what a subscriber on "#" sees.
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(broker.port), "-t", "#", "-q", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        mqtt_count = [0]

        def drain_sub():
            for _ in sub.stdout:
                mqtt_count[0] += 1
        threading.Thread(target=drain_sub, daemon=True).start()

        # (name, phase, config, records-delivered counter, load starter), in CASES' order
        cases = []

        def modbus_cfg(name, tags, poll_ms, rules, upstream=None):
            d = os.path.join(work, name)
            os.makedirs(d)
            body = HEAD.format(dir=d)
            if rules:
                body += 'rules = ["rules.toml"]\n'
                with open(os.path.join(d, "rules.toml"), "w") as f:
                    f.write("".join(RULE.format(i=i) for i in range(rules)))
            body += MODBUS.format(port=port, poll_ms=poll_ms)
            for i in range(tags):
                body += TAG.format(i=i, unit=1 + i // 100, address=1000 + 2 * (i % 100))
            body += upstream or MQTT_UP.format(broker=broker.uri)
            with open(os.path.join(d, "gateway.toml"), "w") as f:
                f.write(body)
            return os.path.join(d, "gateway.toml")

        if "mm-idle" in wanted:
            cases.append(("Modbus -> MQTT", "idle: 10 tags / 1 s",
                          modbus_cfg("mm-idle", 10, 1000, 0), lambda: mqtt_count[0], None))
        if "mm-5k" in wanted:
            cases.append(("Modbus -> MQTT", "load: 1000 tags / 200 ms (5,000 values/s), 50 rules",
                          modbus_cfg("mm-5k", 1000, 200, 50), lambda: mqtt_count[0], None))
        if "mm-load" in wanted:
            cases.append(("Modbus -> MQTT", "load: 1000 tags / 100 ms, 50 rules",
                          modbus_cfg("mm-load", 1000, 100, 50), lambda: mqtt_count[0], None))
        out = os.path.join(work, "mf-idle.jsonl")

        def file_lines():
            try:
                with open(out, "rb") as f:
                    return sum(1 for _ in f)
            except FileNotFoundError:
                return 0
        if "mf-idle" in wanted:
            cases.append(("Modbus -> file", "idle: 10 tags / 1 s",
                          modbus_cfg("mf-idle", 10, 1000, 0,
                                     f'[upstreams.out]\ntype = "file"\npath = "{out}"\n'),
                          file_lines, None))
        if a.kafka_mock and {"sk-idle", "sk-load"} & set(wanted):
            kafka = MockKafka(a.kafka_mock)
            master, slave = pty.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            device = os.ttyname(slave)
            d = os.path.join(work, "sk")
            os.makedirs(d)
            servers = ", ".join(f'"{s}"' for s in kafka.servers)
            with open(os.path.join(d, "gateway.toml"), "w") as f:
                f.write(HEAD.format(dir=d) + SERIAL.format(device=device) +
                        KAFKA_UP.format(servers=servers))
            cfg = os.path.join(d, "gateway.toml")
            if "sk-idle" in wanted:
                cases.append(("serial -> Kafka", "idle: 1 line/s", cfg, lambda: kafka.count, 1))
            if "sk-load" in wanted:
                cases.append(("serial -> Kafka", "load: 2000 lines/s", cfg, lambda: kafka.count,
                              2000))

        results = {}  # (case index, binary name) -> list of (mem, libs, n)
        for run in range(a.runs):
            for ci, (_, phase, cfg, counter, rate) in enumerate(cases):
                load_s = a.load_s if phase.startswith("load") else 0.0
                order = binaries if run % 2 == 0 else list(reversed(binaries))
                for bname, binary in order:
                    feeder = SerialFeeder(master, rate) if rate else None
                    try:
                        r = run_daemon(binary, cfg, a.settle_s, load_s, counter, a.breakdown)
                    finally:
                        if feeder:
                            feeder.stop()
                    results.setdefault((ci, bname), []).append(r)
                    print(f"run {run + 1}: {cases[ci][0]}, {phase}, {bname}: "
                          f"VmRSS {mib(r[0]['VmRSS'])} MiB, VmHWM {mib(r[0]['VmHWM'])} MiB, "
                          f"{r[2]} records, libs {','.join(r[1]) or '-'}", file=sys.stderr)

        print(f"\nmedians of {a.runs} runs; settle {a.settle_s:.0f} s, load {a.load_s:.0f} s; "
              "MiB")
        print("| config | phase | binary | VmRSS | VmHWM (peak) | Pss | Anonymous | records/s "
              "| mapped |")
        print("|---|---|---|---:|---:|---:|---:|---:|---|")
        rows = []
        for ci, (cname, phase, _, _, _) in enumerate(cases):
            for bname, _ in binaries:
                rs = results[(ci, bname)]
                keys = {k for r in rs for k in r[0]}
                med = {k: statistics.median(r[0].get(k, 0) for r in rs) for k in keys}
                rows.append((cname, phase, bname, med))
                secs = a.settle_s + (a.load_s if phase.startswith("load") else 0.0)
                rate = statistics.median(r[2] for r in rs) / secs
                print(f"| {cname} | {phase} | {bname} | {mib(med['VmRSS'])} | "
                      f"{mib(med['VmHWM'])} | {mib(med['Pss'])} | {mib(med['Anonymous'])} | "
                      f"{rate:,.0f} | {', '.join(rs[-1][1]) or '-'} |")
        print("\nresident in the mappings of (MiB, medians):")
        print("| config | phase | binary | " + " | ".join(GROUPS) + " |")
        print("|---|---|---|" + "---:|" * len(GROUPS))
        for cname, phase, bname, med in rows:
            print(f"| {cname} | {phase} | {bname} | " +
                  " | ".join(mib(med[g]) for g in GROUPS) + " |")
        if a.breakdown:
            print_breakdown(rows)
    finally:
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)
        if kafka is not None:
            kafka.stop()
        if broker is not None:
            try:
                sub.terminate()
            except Exception:
                pass
            broker.stop()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
