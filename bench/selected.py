#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""selected.py -- what the selected pods pay, and what the others do not, on the agent's path.

Pods are cgroups in a kubelet-style hierarchy under the cgroup v2 root:
  podprof-bench-sel-X/kubepods.slice/kubepods-burstable.slice/
      kubepods-burstable-pod<A>.slice/cri-containerd-<a>.scope     (level 5)
podprof targets the pod cgroup (as the agent does), so every sample is
matched through the container's ancestor; peers profile the whole node, as
always-on agents do (perf -a, bpftrace with a cgroup filter in its program).

  selected    bench/workloads/cpuwork.c (one thread per CPU, fixed rounds)
              in pod A's container, alone and under each profiler at 19/99/999
              Hz; podprof targets pod A (and, for reference, the pid).
  unselected  the same fixed work in pod B's container while pod A runs a
              target that sleeps and wakes every millisecond (so the CPUs
              switch between the pods all the time); podprof targets pod A
              only. Without cgroup-mode events, B would take every timer
              interrupt and run the program for nothing.
  taken       the same two cases with bench/workloads/stolen.c as the work:
              one pinned thread per CPU adds up the time interrupts and
              context switches charged to it (per event, so it resolves
              differences of a tenth of a point that the wall time of fixed
              work on a shared machine cannot), plus the profiler's own CPU.
              perf in cgroup mode (-G pod A) joins these rounds: the kernel
              mechanism podprof --cgroup uses, without podprof. Before them,
              bench/workloads/timerprice.c measures what arming and
              cancelling a timer costs on this machine by how soon it is due,
              which is what a cgroup-mode event pays at every switch.
  cost        `record --cgroup` on pod A over a window (30 s; 10 s in QUICK):
              BPF ns per run and runs (kernel.bpf_stats_enabled), and the
              worker's own CPU split into start-up (until it logs that it
              samples, plus the first drain 1 s later: BTF, program load,
              unwind tables, and the symbol tables of the processes present,
              which the frame-pointer walk reads only at that drain), steady
              state (the rest of the window) and exit (last drain,
              symbolization, writing the profile).
Rounds interleave the configurations (rotated order); each ratio is wall time
profiled / wall time alone in the same round; medians. Writes one JSON file.
"""

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import benchlib as bl
import local

HZS = (19, 99, 999)


class Pods:
    """Two pods with one container each, kubelet-style, removed on close()."""

    def __init__(self):
        self.top = os.path.join(local.cgroup_root(), f"podprof-bench-sel-{secrets.token_hex(3)}")
        qos = os.path.join(self.top, "kubepods.slice", "kubepods-burstable.slice")
        self.pod, self.ctr, self.uid = {}, {}, {}
        for name in ("a", "b"):
            uid = secrets.token_hex(8)
            self.uid[name] = uid
            self.pod[name] = os.path.join(qos, f"kubepods-burstable-pod{uid}.slice")
            self.ctr[name] = os.path.join(self.pod[name], f"cri-containerd-{secrets.token_hex(16)}.scope")
            os.makedirs(self.ctr[name])

    def spawn(self, name, argv, **kw):
        path = os.path.join(self.ctr[name], "cgroup.procs")

        def join():
            with open(path, "w") as f:
                f.write("0")

        return subprocess.Popen(argv, preexec_fn=join, **kw)

    def close(self):
        for dirpath, _dirs, files in os.walk(self.top, topdown=False):
            if "cgroup.procs" in files:
                try:
                    with open(os.path.join(dirpath, "cgroup.procs")) as f:
                        for pid in f.read().split():
                            try:
                                os.kill(int(pid), signal.SIGKILL)
                            except OSError:
                                pass
                except OSError:
                    pass
        for _ in range(50):
            try:
                for dirpath, _dirs, _files in os.walk(self.top, topdown=False):
                    os.rmdir(dirpath)
                return
            except OSError:
                time.sleep(0.1)


class Work:
    """cpuwork in a pod's container, threads waiting for go()."""

    def __init__(self, pods, name, binary, threads, rounds):
        self.proc = pods.spawn(name, [binary, str(threads), str(rounds)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(0.05)

    def go(self):
        self.proc.stdin.write(b"g")
        self.proc.stdin.close()

    def wall_s(self):
        out = self.proc.stdout.read().decode().strip()
        self.proc.wait()
        return int(out) / 1e9


class Tools:
    def __init__(self, work, pods):
        self.work, self.pods = work, pods
        self.exe = {"podprof": os.path.join(bl.build_dir(), "podprof-worker"),
                    "perf": local.find_exe("perf", "perf_6.1", "/usr/bin/perf"), "bpftrace": local.find_exe("bpftrace")}
        self.exe["podprof-pid"] = self.exe["podprof-fp"] = self.exe["podprof"]
        self.exe["perf-cgroup"] = self.exe["perf"]
        ms = os.path.join(os.environ.get("BENCH_RESULTS", os.path.join(bl.build_dir(), "bench")),
                          "minsampler", "minsampler")
        self.exe["minsampler"] = ms if os.access(ms, os.X_OK) else None
        self.error = {t: None if e else "not installed" for t, e in self.exe.items()}

    def cmd(self, tool, hz, pid, out):
        e, pod = self.exe[tool], self.pods.pod["a"]
        if tool == "podprof":
            return [e, "record", "--cgroup", pod, "--duration", "3600s", "--frequency", str(hz),
                    "--top", "0", "-o", out + ".pb.gz"]
        if tool == "podprof-fp":
            return [e, "record", "--cgroup", pod, "--duration", "3600s", "--frequency", str(hz),
                    "--unwinder", "framepointer", "--top", "0", "-o", out + ".pb.gz"]
        if tool == "podprof-pid":
            return [e, "record", "--pid", str(pid), "--duration", "3600s", "--frequency", str(hz),
                    "--top", "0", "-o", out + ".pb.gz"]
        if tool == "perf":
            return [e, "record", "-q", "-a", "-F", str(hz), "-g", "-o", out + ".data"]
        if tool == "perf-cgroup":
            # perf's own cgroup mode (-G, a path below the cgroup v2 mount):
            # the same kernel mechanism podprof --cgroup uses, with no BPF, so
            # what the mechanism itself costs is measured apart from podprof.
            rel = os.path.relpath(pod, local.cgroup_root())
            return [e, "record", "-q", "-a", "-e", "cpu-clock", "-F", str(hz), "-g", "-G", rel,
                    "-o", out + ".data"]
        if tool == "minsampler":
            return [e, str(hz), self.pods.ctr["a"]]
        # bpftrace's `cgroup` is the task's own cgroup, so the filter names
        # the container the work runs in (podprof matches the pod's
        # descendants itself).
        ctr = self.pods.ctr["a"]
        return [e, "-e", f'profile:hz:{hz} /cgroup == cgroupid("{ctr}")/ {{ @[ustack] = count(); }}']

    def start(self, tool, hz, pid, tag):
        out = os.path.join(self.work, tag)
        with open(out + ".out", "wb") as so, open(out + ".log", "wb") as se:
            p = subprocess.Popen(self.cmd(tool, hz, pid, out), stdin=subprocess.DEVNULL, stdout=so,
                                 stderr=se)
        marker = {"podprof": (out + ".log", "record: sampling"),
                  "podprof-pid": (out + ".log", "record: sampling"),
                  "podprof-fp": (out + ".log", "record: sampling"),
                  "bpftrace": (out + ".out", "Attaching"),
                  "minsampler": (out + ".out", "Attaching")}.get(tool)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not bl.exited(p):
            if marker and bl.wait_file(marker[0], marker[1], 0.05):
                break
            if not marker and local.perf_fds(p.pid) > 0:
                n = local.perf_fds(p.pid)
                time.sleep(0.3)
                if local.perf_fds(p.pid) == n:
                    break
            time.sleep(0.05)
        else:
            self.stop(p)
            raise RuntimeError(local.last_error(out + ".log", out + ".out") or "did not start")
        p.out = out
        time.sleep(0.2)
        return p

    def stop(self, p):
        if not bl.exited(p):
            try:
                p.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
        rc, ru = bl.wait_rusage(p, timeout=120)
        if rc is None:
            p.kill()
            rc, ru = bl.wait_rusage(p, timeout=30)
        return rc, ru


def slowdown(tools, pods, cpuwork, ticker, threads, rounds, nrounds, which, log):
    """Wall time of fixed work in pod A (which="selected") or pod B ("unselected")."""
    runs = []
    # "control" is a second run with no profiler: its slowdown against the
    # first is the noise of this machine, measured in the same rounds.
    configs = [None, "control"] + [t for t in ("podprof", "podprof-pid", "perf", "bpftrace", "minsampler")
                                   if not tools.error[t]]
    if which == "unselected":
        configs = [c for c in configs if c != "podprof-pid"]
    for hz in HZS:
        for r in range(nrounds):
            k = r % len(configs)
            for tool in configs[k:] + configs[:k]:
                real = tool not in (None, "control")
                if real and tools.error[tool]:
                    continue
                side = None
                if which == "unselected":
                    side = pods.spawn("a", [ticker], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wl = Work(pods, "a" if which == "selected" else "b", cpuwork, threads, rounds)
                p = None
                try:
                    if real:
                        p = tools.start(tool, hz, wl.proc.pid, f"{which}-{tool}-{hz}-{r}")
                    wl.go()
                    wall = wl.wall_s()
                except RuntimeError as e:
                    tools.error[tool] = str(e)
                    log(f"  {tool}: cannot run: {e}")
                    continue
                finally:
                    if p:
                        tools.stop(p)
                    for q in (wl.proc, side):
                        if q and q.poll() is None:
                            q.kill()
                            q.wait()
                runs.append({"tool": tool, "hz": hz, "round": r, "wall_s": wall})
                log(f"  {which} {hz:>4} Hz round {r} {tool or 'alone':11} wall {wall:.3f} s")
    return runs


TAKEN_S = 3


def settle(p, quiet_ns=500000, step_s=0.5, limit_s=6.0):
    """Wait, for every profiler alike, until its own CPU time grows by less
    than quiet_ns in step_s: steady state. podprof's first drain, with the
    symbol tables it reads, comes about a second after its unwind tables are
    built, which is after it logs that it samples."""
    deadline = time.monotonic() + limit_s
    last = bl.proc_cpu_ns(p.pid) or 0
    time.sleep(FIRST_DRAIN_S)
    while time.monotonic() < deadline:
        time.sleep(step_s)
        now = bl.proc_cpu_ns(p.pid) or 0
        if now - last < quiet_ns:
            return
        last = now


class Meter:
    """bench/workloads/stolen.c in a pod's container: one pinned thread per CPU."""

    def __init__(self, pods, name, binary, secs):
        self.proc = pods.spawn(name, [binary, str(secs)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        time.sleep(0.05)

    def go(self):
        self.proc.stdin.write(b"g")
        self.proc.stdin.close()

    def result(self):
        """(wall ns summed over CPUs, interrupt ns charged to the threads summed over CPUs)."""
        out = self.proc.stdout.read().decode().split("\n")
        self.proc.wait()
        wall = irq = 0
        for line in out:
            f = line.split()
            if len(f) == 7:
                wall += int(f[1])
                irq += int(f[4])
        if not wall:
            raise RuntimeError("the meter printed nothing")
        return wall, irq


def wakeups(proc):
    """Voluntary context switches of a process so far: the ticker's wake-ups."""
    if proc is None:
        return 0
    for line in local.read(f"/proc/{proc.pid}/status").splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


# Where the rest of a cgroup-mode event's period falls when its task comes
# back: spread over the period, so the price of arming its timer is measured
# at the middle of eight equal slices of it, and against a timer due in 1 s
# (never the next to expire).
TIMER_SLICES = 8
TIMER_FAR_NS = 1000000000


def timer_price(probe):
    """{"far": ns, "<hz>": mean ns per arm + cancel over the period at hz}."""
    aheads = {hz: [int((k + 0.5) * 1e9 / hz / TIMER_SLICES) for k in range(TIMER_SLICES)] for hz in HZS}
    argv = [probe, "20000", "5", str(TIMER_FAR_NS)] + [str(a) for hz in HZS for a in aheads[hz]]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True).stdout
    ns = {int(a): float(v) for a, v in (line.split() for line in out.splitlines() if line.strip())}
    res = {"far": ns[TIMER_FAR_NS]}
    for hz in HZS:
        res[str(hz)] = sum(ns[a] for a in aheads[hz]) / TIMER_SLICES
    return res


def taken(tools, pods, meter, ticker, secs, nrounds, which, log):
    """CPU time each profiler takes from a busy pod, per event rather than by throughput.

    The meter's threads keep every CPU busy in pod A (selected) or pod B
    (unselected, while pod A runs the ticker) and add up the time that
    interrupts and context switches charged to them; the profiler's own CPU
    time over the same interval is read from its threads' schedstat. Both are
    exact per event, so unlike the wall time of fixed work they do not move
    with the host's load; what they leave out is the cache a profiler
    disturbs, which the wall-time rounds above still see."""
    runs = []
    configs = [None, "control"] + [t for t in ("podprof", "podprof-pid", "perf", "perf-cgroup", "bpftrace",
                                               "minsampler") if not tools.error[t]]
    if which == "unselected":
        configs = [c for c in configs if c != "podprof-pid"]
    elif not tools.error["podprof"]:
        # The frame-pointer walk, as bpftrace's ustack does it: the pair whose
        # BPF time per run is compared.
        configs.insert(3, "podprof-fp")
    for hz in HZS:
        for r in range(nrounds):
            k = r % len(configs)
            for tool in configs[k:] + configs[:k]:
                real = tool not in (None, "control")
                if real and tools.error[tool]:
                    continue
                side = None
                if which == "unselected":
                    side = pods.spawn("a", [ticker], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                m = Meter(pods, "a" if which == "selected" else "b", meter, secs)
                p = None
                try:
                    if real:
                        p = tools.start(tool, hz, m.proc.pid, f"taken-{which}-{tool}-{hz}-{r}")
                        settle(p)
                    ids = local.bpf_prog_ids(p.pid) if p else set()
                    s0 = local.bpf_stats_ids(ids) if ids else (0, 0)
                    c0 = bl.proc_cpu_ns(p.pid) if p else 0
                    w0 = wakeups(side)
                    m.go()
                    wall, irq = m.result()
                    prof = (bl.proc_cpu_ns(p.pid) or 0) - (c0 or 0) if p else 0
                    s1 = local.bpf_stats_ids(ids) if ids else (0, 0)
                    w1 = wakeups(side)
                except RuntimeError as e:
                    tools.error[tool] = str(e)
                    log(f"  {tool}: cannot run: {e}")
                    continue
                finally:
                    if p:
                        tools.stop(p)
                    for q in (m.proc, side):
                        if q and q.poll() is None:
                            q.kill()
                            q.wait()
                runs.append({"tool": tool, "hz": hz, "round": r, "cpu_wall_ns": wall, "irq_ns": irq,
                             "profiler_ns": prof, "bpf_ns": s1[0] - s0[0], "bpf_runs": s1[1] - s0[1],
                             "side_wakeups": w1 - w0 if side else None})
                log(f"  taken {which} {hz:>4} Hz round {r} {tool or 'alone':11} interrupts "
                    f"{irq / wall * 100:.3f} % profiler {prof / wall * 100:.3f} %")
    return runs


def cost(tools, pods, cpuwork, threads, secs, nrounds, log):
    """record --cgroup on pod A for one window: BPF time and the worker's CPU by phase."""
    out = []
    old = local.read("/proc/sys/kernel/bpf_stats_enabled").strip() or "0"
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    wl = pods.spawn("a", [cpuwork, str(threads), "1000000000"], stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wl.stdin.write(b"g")
    wl.stdin.close()
    try:
        for r in range(nrounds):
            for hz in (19, 99, 999):
                for unw in ("auto", "framepointer"):
                    res = cost_run(tools, hz, unw, secs, f"cost-{unw}-{hz}-{r}")
                    res.update(hz=hz, unwinder=unw, round=r, secs=secs)
                    log(f"  cost {unw:12s} {hz:3d} Hz: {res}")
                    out.append(res)
    finally:
        wl.kill()
        wl.wait()
        subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={old}"], check=False)
    return out


# Start-up ends after the first drain (1 s into the window), which is where a
# frame-pointer-only job first reads the symbol tables of the processes present
# (the table-driven walk reads them with the unwind tables, before sampling).
FIRST_DRAIN_S = 1.6


def cost_run(tools, hz, unwinder, secs, tag):
    out = os.path.join(tools.work, tag)
    argv = [tools.exe["podprof"], "record", "--cgroup", tools.pods.pod["a"], "--duration", f"{secs}s",
            "--frequency", str(hz), "--unwinder", unwinder, "--top", "0", "-o", out + ".pb.gz"]
    with open(out + ".log", "wb") as se:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=se)
    ready = None
    ids, stats, hwm, c_end = set(), (0, 0), 0, None
    t_ready = t_sampling = None
    deadline = time.monotonic() + secs + 120
    while not bl.exited(p) and time.monotonic() < deadline:
        if t_sampling is None and "record: sampling" in local.read(out + ".log"):
            t_sampling = time.monotonic()
        if ready is None and t_sampling is not None and time.monotonic() - t_sampling >= FIRST_DRAIN_S:
            ready = bl.proc_cpu_ns(p.pid)
            t_ready = time.monotonic()
        ids |= local.bpf_prog_ids(p.pid)
        if ids:
            # Programs vanish at exit and then read as 0: keep the last real read.
            now = local.bpf_stats_ids(ids)
            if now[1] >= stats[1]:
                stats = now
        hwm = max(hwm, bl.proc_status_kb(p.pid, "VmHWM") or 0)
        # The window's last moments: CPU before the final drain and the write.
        if t_ready is not None and time.monotonic() - t_sampling < secs - 0.3:
            c_end = bl.proc_cpu_ns(p.pid)
            t_end = time.monotonic()
        time.sleep(0.1)
    rc, ru = bl.wait_rusage(p, timeout=60)
    total = (ru.ru_utime + ru.ru_stime) if ru else None
    res = {"rc": rc, "bpf_ns": stats[0], "runs": stats[1],
           "ns_per_run": stats[0] / stats[1] if stats[1] else None, "cpu_total_s": total,
           "hwm_kb": hwm}
    if ready is not None and c_end is not None and total is not None:
        res["cpu_startup_s"] = ready / 1e9
        res["cpu_steady_s"] = (c_end - ready) / 1e9
        res["steady_wall_s"] = t_end - t_ready
        res["cpu_exit_s"] = max(0.0, total - c_end / 1e9)
    return res


TICKER = r"""
#include <time.h>
/* A target that runs a little and sleeps a millisecond, forever: the CPUs
 * switch between it and whatever else runs all the time. */
int main(void)
{
	struct timespec ms = {0, 1000000};
	volatile unsigned long x = 0;

	for (;;) {
		for (int i = 0; i < 200000; i++)
			x += (unsigned long)i;
		nanosleep(&ms, 0);
	}
}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", choices=("selected", "unselected", "taken", "cost"))
    args = ap.parse_args()
    quick = bl.QUICK
    log = lambda s: print(s, flush=True)  # noqa: E731
    work = tempfile.mkdtemp(prefix="podprof-bench-sel-")
    cpuwork = bl.compile_c(os.path.join(bl.REPO, "bench", "workloads", "cpuwork.c"), os.path.join(work, "cpuwork"))
    with open(os.path.join(work, "ticker.c"), "w") as f:
        f.write(TICKER)
    ticker = bl.compile_c(os.path.join(work, "ticker.c"), os.path.join(work, "ticker"))
    meter = bl.compile_c(os.path.join(bl.REPO, "bench", "workloads", "stolen.c"), os.path.join(work, "stolen"),
                         ("-O2",))
    probe = bl.compile_c(os.path.join(bl.REPO, "bench", "workloads", "timerprice.c"),
                         os.path.join(work, "timerprice"), ("-O2",))
    threads = os.cpu_count()
    target = 1.0 if quick else 3.0
    rounds = local.calibrate(cpuwork, threads, target)
    pods = Pods()
    tools = Tools(work, pods)
    res = {"machine": bl.machine(), "quick": quick, "threads": threads, "rounds": rounds,
           "target_s": target, "taken_s": TAKEN_S, "pod_level": pods.ctr["a"].count("/") - local.cgroup_root().count("/")}
    nrounds = 2 if quick else 5
    try:
        if args.only in (None, "selected"):
            res["selected"] = slowdown(tools, pods, cpuwork, ticker, threads, rounds, nrounds, "selected", log)
        if args.only in (None, "unselected"):
            res["unselected"] = slowdown(tools, pods, cpuwork, ticker, threads, rounds, nrounds, "unselected",
                                         log)
        if args.only in (None, "taken"):
            # BPF run time per program (perf has none), for the BPF peers alike.
            old = local.read("/proc/sys/kernel/bpf_stats_enabled").strip() or "0"
            subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
            try:
                try:
                    res["timer_price"] = timer_price(probe)
                    log(f"  timer price (ns per arm + cancel): {res['timer_price']}")
                except (OSError, subprocess.SubprocessError, KeyError, ValueError) as e:
                    # The rounds do not need it; the report leaves its table out.
                    res["timer_price_error"] = str(e)
                    log(f"  timer price: not measured: {e}")
                for which in ("selected", "unselected"):
                    res["taken_" + which] = taken(tools, pods, meter, ticker, TAKEN_S, 3 if quick else 6, which,
                                                  log)
            finally:
                subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={old}"], check=False)
        if args.only in (None, "cost"):
            res["cost"] = cost(tools, pods, cpuwork, threads, 10 if quick else 30, 1 if quick else 2, log)
    finally:
        pods.close()
    res["errors"] = tools.error
    bl.write_json(args.out, res)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
