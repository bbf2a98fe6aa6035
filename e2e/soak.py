#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""soak.py -- run profiling targets back to back and watch operator and worker memory.

A leak check, not a benchmark: one operator and one worker profile a busy pod
with short windows, one target after another (each created, finished and
deleted), while the resident set size (VmRSS) of both processes is sampled.
Memory is judged after a warm-up (caches, first BPF load, allocator arenas):
the RSS at the end must stay within a generous bound of the warm RSS.

Library use (the short version in e2e/test_limits.py):
    result = run(stack, namespace, operator, worker, node, seconds=60)
Command line (the hour-long soak; needs root, TOOLS_DIR tools and a build):
    python3 e2e/soak.py --seconds 3600 [--window 2s] [--json out.json]
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import nodesim  # noqa: E402
import podprof  # noqa: E402
import stack as stack_mod  # noqa: E402

# RSS may grow by this fraction of the warm value plus this many KiB and still
# count as flat: allocator noise and a few cached binaries, not a leak.
GROWTH_FRACTION = 0.5
GROWTH_SLACK_KB = 16 * 1024


def rss_kb(pid):
    """VmRSS of a process in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def bound_kb(warm_kb):
    return int(warm_kb * (1 + GROWTH_FRACTION)) + GROWTH_SLACK_KB


def run(stack, namespace, operator, worker, node, seconds=60.0, window="1s", warmup_targets=3,
        busy_argv=None, log=print):
    """Profile a busy pod with back-to-back targets for `seconds`.

    Returns a dict: targets (count), failed (names not Succeeded), samples
    [(t, operator_kb, worker_kb)], warm/final/max per process, bound per process.
    """
    if busy_argv is None:
        wl = podprof.compile_workload("demoapp", tempfile.mkdtemp(prefix="podprof-soak-"))
        busy_argv = [wl, "checkout"]
    node.run_pod(namespace, "soak", {"app": "soak"}, [("main", busy_argv)])
    op_pid, w_pid = operator.procs["operator"].pid, worker.pid
    samples, failed, warm = [], [], None
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds or n <= warmup_targets:
        name = f"soak-{n:05d}"
        podprof.apply_target(stack, namespace, name, {"matchLabels": {"app": "soak"}}, duration=window)
        st = podprof.wait_phase(stack, namespace, name, timeout=120)["status"]
        if st["phase"] != "Succeeded":
            failed.append(name)
        stack.kubectl("delete", "pt", name, "-n", namespace, "--wait=false")
        n += 1
        now = (time.monotonic() - t0, rss_kb(op_pid), rss_kb(w_pid))
        samples.append(now)
        if n == warmup_targets:
            warm = now
        if n % 10 == 0:
            log(f"soak: {n} targets, {now[0]:.0f}s, operator {now[1]} KiB, worker {now[2]} KiB")
    warm = warm or samples[0]
    final = samples[-1]
    return {
        "targets": n, "failed": failed, "samples": samples,
        "operator": {"warm_kb": warm[1], "final_kb": final[1], "max_kb": max(s[1] for s in samples),
                     "bound_kb": bound_kb(warm[1])},
        "worker": {"warm_kb": warm[2], "final_kb": final[2], "max_kb": max(s[2] for s in samples),
                   "bound_kb": bound_kb(warm[2])},
    }


def main(argv=None):
    p = argparse.ArgumentParser(description="podprof memory soak on the local stack")
    p.add_argument("--seconds", type=float, default=3600)
    p.add_argument("--window", default="2s")
    p.add_argument("--json", help="write the result here")
    args = p.parse_args(argv)

    st = stack_mod.Stack().start()
    cluster = op = w = None
    try:
        st.kubectl("apply", "-f", os.path.join(os.path.dirname(HERE), "crds", "profilingtarget.yaml"))
        st.kubectl("wait", "--for=condition=Established", "crd/profilingtargets.podprof.dev", "--timeout=120s")
        stack_mod.wait_for(lambda: st.kubectl("get", "pt", "-A", check=False).returncode == 0, 60)
        st.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "soak"}})
        cluster = nodesim.Cluster(st, ["soak-node"])
        node = cluster.nodes["soak-node"]
        op = podprof.Operator(st).start()
        w = podprof.Worker(op, node).start()
        res = run(st, "soak", op, w, node, seconds=args.seconds, window=args.window)
    finally:
        for svc in (w, op, cluster, st):
            if svc:
                svc.stop()
    summary = {k: v for k, v in res.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    ok = (not res["failed"] and res["operator"]["final_kb"] <= res["operator"]["bound_kb"]
          and res["worker"]["final_kb"] <= res["worker"]["bound_kb"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
