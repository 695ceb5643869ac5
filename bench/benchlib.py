"""What the benchmark scripts share about the processes they measure: stopping one within a
bound, its CPU time (exact, from schedstat) by thread, and its resident memory.

  sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
  import benchlib
"""
import collections
import os
import signal
import subprocess

NS_PER_S = 1e9


def stop_process(proc, sig=signal.SIGTERM, timeout=30):
    """Sends `sig` and waits up to `timeout` s; kills it if it is still there."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_ns(pid, by_thread=False):
    """Nanoseconds on a CPU of the process's live threads (/proc/PID/task/*/schedstat, exact
    where utime + stime count 10 ms ticks), in all or as {thread name: ns}."""
    out = collections.Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except (OSError, ValueError):
            continue
        out[name] += ns
    return out if by_thread else sum(out.values())


def vmrss_kib(pid):
    """VmRSS of the process in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
