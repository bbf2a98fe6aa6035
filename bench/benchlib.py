# SPDX-License-Identifier: Apache-2.0
"""benchlib.py -- small helpers shared by the podprof benchmark scripts.

Process CPU time and memory from /proc, medians and percentiles, the machine
line, and JSON result files. Standard library only.
"""

import json
import os
import platform
import socket
import statistics
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
E2E = os.path.join(REPO, "e2e")
QUICK = os.environ.get("BENCH_QUICK") == "1"


def build_dir():
    return os.path.abspath(os.environ.get("PODPROF_BUILD") or os.path.join(REPO, "build"))


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    """Nearest-rank percentile (p in 0..100) of the non-None values."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def machine():
    """CPU model, online cores and kernel release of this machine."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def free_port():
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_ns(pid):
    """CPU time (ns) of all live threads of pid, from /proc/PID/task/*/schedstat."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def proc_status_kb(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def exited(proc):
    """True once a Popen child has exited; reaps it with wait4 and keeps its rusage
    (use this, not proc.poll(), for children whose rusage is wanted)."""
    if hasattr(proc, "rusage"):
        return True
    pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
    if pid != proc.pid:
        return False
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.rusage = ru
    return True


def wait_rusage(proc, timeout=120.0):
    """Reap a Popen child; returns (exit status, rusage) or (None, None) on timeout."""
    deadline = time.monotonic() + timeout
    while not exited(proc):
        if time.monotonic() > deadline:
            return None, None
        time.sleep(0.02)
    return proc.returncode, proc.rusage


def stop_procs(procs, timeout=30):
    """SIGTERM each live process (None entries skipped), SIGKILL what outlives timeout."""
    for p in procs:
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_file(path, needle, timeout, proc=None):
    """Wait until file path contains needle; False on timeout or if proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                if needle in f.read():
                    return True
        except OSError:
            pass
        if proc is not None and exited(proc):
            return False
        time.sleep(0.02)
    return False


def compile_c(src, out, extra=()):
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", *extra, "-o", out, src],
                   check=True)
    return out


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def fmt(x, spec=".2f", none="n/a"):
    return none if x is None else format(x, spec)
