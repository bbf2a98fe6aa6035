#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""local.py -- podprof-worker record next to perf, BCC profile and bpftrace on one machine.

Three measurements, all on real processes and real perf events:
  overhead  bench/workloads/cpuwork.c (fixed work, one thread per CPU) alone and
            under each profiler at 19/99/999 Hz; rounds interleave the
            configurations (rotated order) and each round's ratio is
            profiled wall time / unprofiled wall time of that round; medians.
  cost      at 99 Hz on the same workload: the profiler's own CPU time while
            sampling (sum of /proc/PID/task/*/schedstat), peak RSS (VmHWM
            polled until the profiler exits), in-kernel BPF run time (kernel.bpf_stats_enabled=1,
            run_time_ns/run_cnt of the programs whose fds the profiler holds,
            read from /proc/PID/fdinfo and `bpftool prog show id`).
  accuracy  e2e/workloads/ratio.c in "work" mode (3:1 split of identical spin
            rounds between burn_major and burn_minor, one thread: split by work
            done, not by CPU time, which a VM whose vCPU the host pauses skews)
            for a fixed time at 99 Hz; attributed share
            = samples whose stack holds the function / samples holding either;
            expected samples = the process's CPU time (schedstat) x Hz.
Every profiler targets the workload's pid (podprof --pid, perf -p, BCC -p,
bpftrace /pid == N/). Writes one JSON file for report.py.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import benchlib as bl

HZS = (19, 99, 999)
TOOLS = ("podprof", "perf", "bcc", "bpftrace")


def find_exe(*names):
    for n in names:
        p = shutil.which(n) or (n if os.access(n, os.X_OK) else None)
        if p:
            return p
    return None


class Profilers:
    """Command lines, readiness and output parsing of each profiler."""

    def __init__(self, work):
        self.work = work
        self.exe = {
            "podprof": os.path.join(bl.build_dir(), "podprof-worker"),
            "perf": find_exe("perf", "perf_6.1", "/usr/bin/perf"),
            "bcc": find_exe("profile-bpfcc", "/usr/sbin/profile-bpfcc"),
            "bpftrace": find_exe("bpftrace"),
        }
        self.error = {t: None if self.exe[t] else "not installed" for t in TOOLS}

    def cmd(self, tool, pid, hz, out):
        e = self.exe[tool]
        if tool == "podprof":
            return [e, "record", "--pid", str(pid), "--duration", "3600s", "--frequency", str(hz),
                    "--kernel-stacks", "--top", "400", "-o", out + ".pb.gz"]
        if tool == "perf":
            return [e, "record", "-q", "-F", str(hz), "-g", "-p", str(pid), "-o", out + ".data"]
        if tool == "bcc":
            return [e, "-F", str(hz), "-p", str(pid), "-f"]
        return [e, "-e", f"profile:hz:{hz} /pid == {pid}/ {{ @[ustack, kstack] = count(); }}"]

    def start(self, tool, pid, hz, tag):
        """Start a profiler on pid and wait until it samples; returns (Popen, log path) or raises."""
        out = os.path.join(self.work, tag)
        log = out + ".log"
        with open(out + ".out", "wb") as so, open(log, "wb") as se:
            proc = subprocess.Popen(self.cmd(tool, pid, hz, out), stdin=subprocess.DEVNULL, stdout=so,
                                    stderr=se)
        proc.out = out
        ok = self._wait_ready(tool, proc, log, out + ".out")
        if not ok:
            self.stop(proc)
            raise RuntimeError(last_error(log, out + ".out") or "profiler did not start")
        time.sleep(0.2)
        return proc

    def _wait_ready(self, tool, proc, log, out):
        marker = {"podprof": (log, "record: sampling"), "bpftrace": (out, "Attaching")}.get(tool)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if bl.exited(proc):
                return False
            if marker:
                if bl.wait_file(marker[0], marker[1], 0.05):
                    return True
            elif perf_fds(proc.pid) > 0:
                # perf and BCC open their events in a burst; let it finish.
                n = perf_fds(proc.pid)
                time.sleep(0.3)
                if perf_fds(proc.pid) == n:
                    return True
            time.sleep(0.05)
        return False

    def stop(self, proc):
        """SIGINT (every tool writes its output then), reap; returns (rc, rusage)."""
        if not bl.exited(proc):
            try:
                proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
        # VmHWM, not ru_maxrss: the latter also counts the forked Python
        # interpreter before exec. Polled until exit so that exit-time work
        # (writing and symbolizing output) is included.
        deadline = time.monotonic() + 180
        while not bl.exited(proc) and time.monotonic() < deadline:
            hwm = bl.proc_status_kb(proc.pid, "VmHWM")
            if hwm:
                proc.peak_kb = max(getattr(proc, "peak_kb", 0), hwm)
            time.sleep(0.02)
        rc, ru = bl.wait_rusage(proc, timeout=1)
        if rc is None:
            proc.kill()
            rc, ru = bl.wait_rusage(proc, timeout=30)
        return rc, ru

    def stacks(self, tool, proc):
        """Samples as [(count, [function names, any order])] from the tool's output."""
        out = proc.out
        if tool == "podprof":
            return None  # read from the --top table instead (inclusive shares)
        if tool == "perf":
            text = subprocess.run([self.exe["perf"], "script", "-i", out + ".data", "-F", "ip,sym"],
                                  capture_output=True, text=True, timeout=300).stdout
            res = []
            for block in text.split("\n\n"):
                syms = [ln.split(None, 1)[1] if len(ln.split(None, 1)) > 1 else "" for ln in
                        block.strip().splitlines()]
                if syms:
                    res.append((1, syms))
            return res
        text = read(out + ".out")
        if tool == "bcc":
            res = []
            for ln in text.splitlines():
                m = re.match(r"^(.*) (\d+)$", ln.strip())
                if m:
                    res.append((int(m.group(2)), m.group(1).split(";")))
            return res
        res = []
        for m in re.finditer(r"@\[(.*?)\]: (\d+)", text, re.S):
            syms = [re.sub(r"\+\d+$", "", ln.strip()) for ln in m.group(1).splitlines()]
            res.append((int(m.group(2)), [s for s in syms if s and s != ","]))
        return res


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def last_error(*paths):
    lines = [ln.strip() for p in paths for ln in read(p).splitlines() if ln.strip()]
    errs = [ln for ln in lines if re.search(r"error|fail|unable|exception|not found|denied", ln, re.I)]
    return (errs or lines or [""])[-1][:300]


def perf_fds(pid):
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if "perf_event" in os.readlink(f"/proc/{pid}/fd/{fd}"):
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def bpf_prog_ids(pid):
    ids = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return ids
    for fd in fds:
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            pass
    return ids


def cgroup_root():
    """The cgroup v2 mount (hybrid hosts have it at .../unified)."""
    for cand in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(cand, "cgroup.subtree_control")):
            return cand
    raise SystemExit("no cgroup v2 mount")


def bpf_stats(pid):
    """(run_time_ns, run_cnt) summed over the BPF programs pid holds."""
    return bpf_stats_ids(bpf_prog_ids(pid))


def bpf_stats_ids(ids):
    """(run_time_ns, run_cnt) summed over the BPF programs with these ids."""
    import json
    t = c = 0
    for i in ids:
        try:
            p = json.loads(subprocess.run(["bpftool", "prog", "show", "id", str(i), "-j"],
                                          capture_output=True, text=True, timeout=30).stdout)
        except ValueError:
            continue
        t += p.get("run_time_ns", 0)
        c += p.get("run_cnt", 0)
    return t, c


class Workload:
    """cpuwork paused before its work: pid known, started by go()."""

    def __init__(self, binary, threads, rounds):
        self.proc = subprocess.Popen([binary, str(threads), str(rounds)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(0.05)  # let it create its threads (they wait on a barrier)

    @property
    def pid(self):
        return self.proc.pid

    def go(self):
        self.proc.stdin.write(b"g")
        self.proc.stdin.close()

    def wall_s(self):
        out = self.proc.stdout.read().decode().strip()
        self.proc.wait()
        return int(out) / 1e9


def run_once(prof, cpuwork, threads, rounds, tool, hz, tag, with_cost=False):
    """One workload run, alone (tool None or "control", a second run alone that
    shows the machine's noise) or under tool. Returns a dict."""
    wl = Workload(cpuwork, threads, rounds)
    res = {"tool": tool, "hz": hz}
    proc = None
    real = tool not in (None, "control")
    try:
        if real:
            proc = prof.start(tool, wl.pid, hz, tag)
            c0 = bl.proc_cpu_ns(proc.pid)
            b0 = bpf_stats(proc.pid) if with_cost else (0, 0)
        t0 = time.monotonic()
        wl.go()
        res["wall_s"] = wl.wall_s()
        dt = time.monotonic() - t0
        if real:
            c1 = bl.proc_cpu_ns(proc.pid)
            res["hwm_kb_before_stop"] = bl.proc_status_kb(proc.pid, "VmHWM")
            if with_cost:
                b1 = bpf_stats(proc.pid)
                res["bpf_ns"] = b1[0] - b0[0]
                res["bpf_runs"] = b1[1] - b0[1]
            res["cpu_s_sampling"] = (c1 - c0) / 1e9 if c0 is not None and c1 is not None else None
            res["sampling_s"] = dt
    finally:
        if real and proc:
            rc, ru = prof.stop(proc)
            res["rc"] = rc
            if ru:
                res["cpu_s_total"] = ru.ru_utime + ru.ru_stime
            res["peak_rss_kb"] = max(getattr(proc, "peak_kb", 0), res.get("hwm_kb_before_stop") or 0) or None
            if tool == "podprof":
                m = re.search(r"samples: (\d+)", read(proc.out + ".out"))
                res["samples"] = int(m.group(1)) if m else None
            elif with_cost:
                st = prof.stacks(tool, proc)
                res["samples"] = sum(c for c, _ in st) if st is not None else None
        if wl.proc.poll() is None:
            wl.proc.kill()
            wl.proc.wait()
    return res


def calibrate(cpuwork, threads, target_s):
    rounds = 500
    while True:
        wl = Workload(cpuwork, threads, rounds)
        wl.go()
        s = wl.wall_s()
        if s > 0.3:
            return max(1, int(rounds * target_s / s))
        rounds *= 4


def overhead(prof, cpuwork, threads, rounds, nrounds, log):
    runs = []
    # "control" runs the workload alone a second time in each round: how far
    # two runs with no profiler differ is the noise a slowdown must exceed.
    configs = [None, "control"] + [t for t in TOOLS if not prof.error[t]]
    for hz in HZS:
        for r in range(nrounds):
            k = r % len(configs)
            order = configs[k:] + configs[:k]  # rotate so no tool always runs first
            for tool in order:
                if tool not in (None, "control") and prof.error[tool]:
                    continue
                try:
                    res = run_once(prof, cpuwork, threads, rounds, tool, hz, f"ov-{tool}-{hz}-{r}")
                except RuntimeError as e:
                    prof.error[tool] = str(e)
                    log(f"  {tool}: cannot run: {e}")
                    continue
                res["round"] = r
                runs.append(res)
                log(f"  {hz:>4} Hz round {r} {tool or 'alone':9} wall {res['wall_s']:.3f} s")
    return runs


def cost(prof, cpuwork, threads, rounds, log):
    out = []
    old = read("/proc/sys/kernel/bpf_stats_enabled").strip() or "0"
    subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=1"], check=False)
    try:
        for tool in TOOLS:
            if prof.error[tool]:
                continue
            try:
                res = run_once(prof, cpuwork, threads, rounds, tool, 99, f"cost-{tool}", with_cost=True)
            except RuntimeError as e:
                prof.error[tool] = str(e)
                continue
            out.append(res)
            log(f"  cost {tool}: {res}")
    finally:
        subprocess.run(["sysctl", "-q", f"kernel.bpf_stats_enabled={old}"], check=False)
    return out


def accuracy(prof, ratio_bin, seconds, nruns, log):
    out = []
    for tool in TOOLS:
        if prof.error[tool]:
            continue
        for r in range(nruns):
            wl = subprocess.Popen([ratio_bin, "work"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL)
            os.kill(wl.pid, signal.SIGSTOP)
            proc = None
            res = {"tool": tool, "hz": 99, "run": r}
            try:
                proc = prof.start(tool, wl.pid, 99, f"acc-{tool}-{r}")
                c0 = bl.proc_cpu_ns(wl.pid)
                os.kill(wl.pid, signal.SIGCONT)
                time.sleep(seconds)
                os.kill(wl.pid, signal.SIGSTOP)
                c1 = bl.proc_cpu_ns(wl.pid)
                time.sleep(0.1)  # samples in flight reach the maps
                prof.stop(proc)
                res["cpu_s"] = (c1 - c0) / 1e9
                res["expected"] = res["cpu_s"] * 99
                if tool == "podprof":
                    text = read(proc.out + ".out")
                    m = re.search(r"samples: (\d+)", text)
                    total = int(m.group(1)) if m else 0
                    inc = {}
                    for ln in text.splitlines():
                        p = ln.split()
                        if len(p) == 4 and p[1].endswith("%") and p[1][0].isdigit():
                            inc[p[3]] = float(p[1][:-1]) * total / 100.0
                    res["captured"] = total
                    res["major"] = inc.get("burn_major", 0.0)
                    res["minor"] = inc.get("burn_minor", 0.0)
                else:
                    st = prof.stacks(tool, proc)
                    res["captured"] = sum(c for c, _ in st)
                    res["major"] = sum(c for c, s in st if any(x.startswith("burn_major") for x in s))
                    res["minor"] = sum(c for c, s in st if any(x.startswith("burn_minor") for x in s))
                both = res["major"] + res["minor"]
                res["major_share"] = 100.0 * res["major"] / both if both else None
                res["capture_pct"] = 100.0 * res["captured"] / res["expected"] if res["expected"] else None
                log(f"  accuracy {tool}: {res}")
            except RuntimeError as e:
                prof.error[tool] = str(e)
            finally:
                if proc and not bl.exited(proc):
                    prof.stop(proc)
                wl.kill()
                wl.wait()
            out.append(res)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", choices=("overhead", "cost", "accuracy"), help="run one part (development)")
    args = ap.parse_args()
    quick = bl.QUICK
    log = lambda s: print(s, flush=True)  # noqa: E731
    work = tempfile.mkdtemp(prefix="podprof-bench-")
    cpuwork = bl.compile_c(os.path.join(bl.REPO, "bench", "workloads", "cpuwork.c"), os.path.join(work, "cpuwork"))
    ratio = bl.compile_c(os.path.join(bl.E2E, "workloads", "ratio.c"), os.path.join(work, "ratio"))
    threads = os.cpu_count()
    prof = Profilers(work)
    target = 1.0 if quick else 3.0
    rounds = calibrate(cpuwork, threads, target)
    log(f"overhead: cpuwork {threads} threads x {rounds} rounds (~{target:.0f} s alone)")
    res = {"machine": bl.machine(), "quick": quick, "threads": threads, "rounds": rounds,
           "target_s": target}
    part = args.only
    if part in (None, "overhead"):
        res["overhead"] = overhead(prof, cpuwork, threads, rounds, 2 if quick else 5, log)
    cost_s = 5.0 if quick else 30.0
    res["cost_target_s"] = cost_s
    if part in (None, "cost"):
        res["cost"] = cost(prof, cpuwork, threads, max(1, int(rounds * cost_s / target)), log)
    acc_s = 3.0 if quick else 10.0
    res["accuracy_s"] = acc_s
    if part in (None, "accuracy"):
        res["accuracy"] = accuracy(prof, ratio, acc_s, 1 if quick else 3, log)
    res["errors"] = prof.error
    res["versions"] = versions(prof)
    bl.write_json(args.out, res)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def versions(prof):
    out = {}
    for tool, args in (("perf", ["--version"]), ("bpftrace", ["--version"])):
        if prof.exe[tool]:
            out[tool] = subprocess.run([prof.exe[tool], *args], capture_output=True, text=True).stdout.strip()
    if prof.exe["bcc"]:
        q = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "bpfcc-tools"], capture_output=True, text=True)
        out["bcc"] = "bpfcc-tools " + q.stdout.strip()
    return out


if __name__ == "__main__":
    sys.exit(main())
