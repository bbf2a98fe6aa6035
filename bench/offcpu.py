#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""offcpu.py -- what off-CPU profiling costs per context switch, selected and not.

Workload: bench/workloads/pingpong.c, two threads pinned to one CPU passing a
byte over two pipes: every round trip is two context switches, nearly nothing
else. It runs in cgroup SEL. Configurations, interleaved per round (rotated):

  alone            no profiler
  podprof sel      `record --offcpu --cgroup SEL` (default --min-block 1ms: the
                   stacks are walked at every switch-out, nothing is counted)
  podprof unsel    `record --offcpu --cgroup OTHER` (a sleeper there): the
                   ping-pong runs the program and its filter, never a walk
  bpftrace         an offcputime-style one-liner over every task (no filter):
                   on sched_switch, the switch-out time and user stack of prev;
                   the blocked time summed per (stack, comm) of next
  bpftrace cg      the same with the switch-out part filtered by SEL's cgroup
  bpftrace cg unsel  ... filtered by OTHER's: the ping-pong is not selected

Per configuration: slowdown = wall / wall alone in the same round, and cost
per context switch = (wall - wall alone) / switches, medians. For podprof also
the BPF time per context switch (kernel.bpf_stats_enabled; podprof's includes
the tail-called walk), for podprof and bpftrace alike. bpftrace's tracepoints need tracefs: mounted
at /sys/kernel/tracing for the run if it is not (and unmounted after).
Writes one JSON file.
"""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time

import benchlib as bl
import local

CONFIGS = ("podprof-sel", "podprof-unsel", "bpftrace", "bpftrace-cg", "bpftrace-cg-unsel")

BT_ALL = ("tracepoint:sched:sched_switch {{ @start[args->prev_pid] = nsecs; "
          "@stk[args->prev_pid] = ustack; }} ")
BT_CG = ("tracepoint:sched:sched_switch /cgroup == cgroupid(\"{cg}\")/ {{ "
         "@start[args->prev_pid] = nsecs; @stk[args->prev_pid] = ustack; }} ")
BT_IN = ("tracepoint:sched:sched_switch {{ $t = @start[args->next_pid]; if ($t) {{ "
         "@[@stk[args->next_pid], args->next_comm] = sum(nsecs - $t); "
         "delete(@start[args->next_pid]); delete(@stk[args->next_pid]); }} }}")


def bpftrace_program(which, cg):
    return (BT_CG.format(cg=cg) if which.startswith("bpftrace-cg") else BT_ALL.format()) + BT_IN.format()


class Tracefs:
    """tracefs at /sys/kernel/tracing for bpftrace's tracepoints; unmounted if we mounted it."""

    PATH = "/sys/kernel/tracing"

    def __init__(self):
        self.mounted = False
        if not os.path.exists(os.path.join(self.PATH, "events")):
            self.mounted = subprocess.run(["mount", "-t", "tracefs", "nodev", self.PATH]).returncode == 0

    def close(self):
        if self.mounted:
            subprocess.run(["umount", self.PATH])


def start_profiler(which, sel, other, tmp):
    """Start a profiler for one run; returns (proc, err_path) once it is attached, or raises."""
    err = os.path.join(tmp, f"{which}-{secrets.token_hex(3)}.err")
    if which.startswith("podprof"):
        worker = os.path.join(bl.build_dir(), "podprof-worker")
        cg = sel if which == "podprof-sel" else other
        argv = [worker, "record", "--offcpu", "--cgroup", cg, "--duration", "10m", "--top", "0",
                "-o", os.path.join(tmp, "off.pb.gz")]
        ready = "recording off-CPU time"
    else:
        argv = ["bpftrace", "-e", bpftrace_program(which, other if which.endswith("-unsel") else sel)]
        ready = "Attaching"
    with open(err, "w") as ef:
        # bpftrace says "Attaching N probes..." on stdout (and prints its maps there at exit).
        proc = subprocess.Popen(argv, stdout=ef if which.startswith("bpftrace") else subprocess.DEVNULL,
                                stderr=ef)
    if not bl.wait_file(err, ready, 60, proc):
        proc.kill()
        proc.wait()
        with open(err, errors="replace") as f:
            raise RuntimeError(f.read().strip().splitlines()[-1:] or "did not start")
    time.sleep(0.3)  # bpftrace prints before its last attach
    return proc, err


def stop_profiler(proc):
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_pingpong(binary, sel, rounds):
    p = subprocess.Popen([binary, str(rounds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    with open(os.path.join(sel, "cgroup.procs"), "w") as f:
        f.write(str(p.pid))
    p.stdin.write(b"g")
    p.stdin.close()
    out = p.stdout.read().decode().strip()
    p.wait()
    return int(out) / 1e9


def prog_stats(pid):
    """{prog id: (run_time_ns, run_cnt)} of the BPF programs pid holds."""
    return {i: local.bpf_stats_ids([i]) for i in local.bpf_prog_ids(pid)}


def per_switch_ns(before, after):
    """BPF ns per context switch between two prog_stats: all programs' time (a tail-called
    program's time counts in its caller's) over the most-run program's runs (one per switch)."""
    ns = sum(after[i][0] - before.get(i, (0, 0))[0] for i in after)
    runs = max((after[i][1] - before.get(i, (0, 0))[1] for i in after), default=0)
    return (ns / runs, runs) if runs > 0 else (None, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    nrounds, trips = (3, 300000) if bl.QUICK else (7, 500000)
    res = {"machine": bl.machine(), "quick": bl.QUICK, "rounds": nrounds, "trips": trips, "runs": [],
           "errors": {}}
    tmp = tempfile.mkdtemp(prefix="podprof-bench-off-")
    pp = bl.compile_c(os.path.join(bl.REPO, "bench", "workloads", "pingpong.c"), os.path.join(tmp, "pingpong"))
    sleeper = bl.compile_c(os.path.join(bl.REPO, "e2e", "workloads", "offcpu.c"), os.path.join(tmp, "offcpu"))
    top = os.path.join(local.cgroup_root(), f"podprof-bench-off-{secrets.token_hex(3)}")
    sel, other = os.path.join(top, "sel"), os.path.join(top, "other")
    for d in (top, sel, other):
        os.mkdir(d)
    sl = subprocess.Popen([sleeper, "sleep"])
    with open(os.path.join(other, "cgroup.procs"), "w") as f:
        f.write(str(sl.pid))
    tfs = Tracefs()
    stats_before = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write("1")
    try:
        run_pingpong(pp, sel, trips // 10)  # warm up
        for rnd in range(nrounds):
            order = list(CONFIGS)
            order = order[rnd % len(order):] + order[:rnd % len(order)]
            res["runs"].append({"round": rnd, "tool": None, "wall_s": run_pingpong(pp, sel, trips)})
            for which in order:
                if which in res["errors"]:
                    continue
                try:
                    proc, _ = start_profiler(which, sel, other, tmp)
                except (RuntimeError, OSError) as e:
                    res["errors"][which] = str(e)
                    continue
                b0 = prog_stats(proc.pid)
                try:
                    wall = run_pingpong(pp, sel, trips)
                    ns, runs = per_switch_ns(b0, prog_stats(proc.pid))
                finally:
                    stop_profiler(proc)
                res["runs"].append({"round": rnd, "tool": which, "wall_s": wall,
                                    "bpf_ns_per_switch": ns, "switches_seen": runs})
                print(f"round {rnd} {which}: {wall:.3f}s", file=sys.stderr)
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(stats_before)
        tfs.close()
        sl.kill()
        sl.wait()
        for d in (sel, other, top):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)
    bl.write_json(args.out, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
