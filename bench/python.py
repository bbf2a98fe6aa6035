#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""python.py -- what Python frames cost: BPF ns per sample and naming a code object.

1. BPF cost: Debian's python3.11 runs a recursion of depth 10 and 50 with the
   hot loop at the bottom, in its own cgroup, recorded with `record --cgroup`
   (unwind tables, 99 Hz). The same program runs from a copy of the
   interpreter under a name that is not python3.N, which the worker does not
   recognise, so the same process is walked natively only (its eval loop
   frames stay native frames). BPF ns per program run = kernel run_time_ns /
   run_cnt of the profiler's programs (tail calls inside the run); the
   difference is the cost of finding the thread state and walking Python
   frames. Interleaved rounds, medians.
2. Naming: a program that keeps creating and calling new functions (a new
   code object per call) recorded for a window; `record` prints the code
   objects read and the time spent reading them (process_vm_readv of the
   code object, its names and line table): time per code object.
Writes one JSON file for report.py.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib as bl
import unwind as uw

PY = "/usr/bin/python3.11"
DEEP = ("import sys\nsys.setrecursionlimit(10000)\n"
        "def leaf():\n s=0\n for i in range(100000): s+=i*i\n return s\n"
        "def rec(n):\n return rec(n-1) if n else leaf()\n"
        "while True: rec({depth})\n")
CODES = ("n=0\nwhile True:\n"
         " exec(f'def f{{n}}(x):\\n s=0\\n for i in range(200): s+=i*x\\n return s\\n')\n"
         " globals()[f'f{{n}}'](3)\n"
         " del globals()[f'f{{n}}']\n"
         " n+=1\n")


def bpf_cost(worker, tmp, secs, rounds):
    native = os.path.join(tmp, "interp")  # not python3.N: walked as native code only
    shutil.copy(PY, native)
    out = []
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    try:
        for depth in (10, 50):
            script = os.path.join(tmp, f"deep{depth}.py")
            with open(script, "w") as f:
                f.write(DEEP.format(depth=depth))
            for r in range(rounds):
                for kind, exe in (("python", PY), ("native", native))[::1 if r % 2 == 0 else -1]:
                    g = uw.Group(f"py{depth}")
                    try:
                        g.start(f"{exe} {script}")
                        time.sleep(1.0)
                        m = uw.cost_run("auto", worker, g.path, 99, secs)
                    finally:
                        g.close()
                    m.update(depth=depth, kind=kind, round=r, secs=secs)
                    print(f"  depth {depth:2d} {kind:6s}: {m}", flush=True)
                    out.append(m)
    finally:
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"], check=False)
    return out


def naming(worker, tmp, secs):
    script = os.path.join(tmp, "codes.py")
    with open(script, "w") as f:
        f.write(CODES.format())
    g = uw.Group("pycodes")
    try:
        g.start(f"{PY} {script}")
        time.sleep(1.0)
        r = subprocess.run([worker, "record", "--cgroup", g.path, "--duration", f"{secs}s",
                            "--frequency", "999", "--top", "0", "-o", os.devnull],
                           capture_output=True, text=True, timeout=secs + 120)
    finally:
        g.close()
    m = re.search(r"python: (\d+) process entries, (\d+) code objects read in ([\d.]+) ms", r.stdout)
    if not m:
        return {"error": (r.stdout + r.stderr)[-500:]}
    reads, ms = int(m.group(2)), float(m.group(3))
    return {"reads": reads, "ms": ms, "us_per_code": ms * 1000 / reads if reads else None,
            "secs": secs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    worker = os.path.join(bl.build_dir(), "podprof-worker")
    secs, rounds = (5, 2) if bl.QUICK else (15, 3)
    res = {"machine": bl.machine(), "secs": secs}
    if not os.access(PY, os.X_OK):
        res["error"] = f"{PY} missing"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            res["cost"] = bpf_cost(worker, tmp, secs, rounds)
            res["naming"] = naming(worker, tmp, secs)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
