#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""agent_start.py -- CPU the agent spends before its first CPU job runs, per build.

For each build given (e.g. a build of an older commit, then this one) and
each run: a fresh `podprof-worker agent` connects to a hub
(`podprof-testdrv debug-hub`, the operator's hub code) that sends one
attach, a 99 Hz CPU job or an off-CPU job (1 ms threshold) over one
kubelet-style pod holding a sleeping process. Measured: the agent's CPU time (all threads, schedstat) from its
start until its log says the job started, i.e. connecting, BTF, loading and
verifying the BPF programs, and whether the off-CPU programs were loaded
(names of the BPF programs whose fds it holds).
Prints one line per build and first job: median, min and max over the runs.

Usage: bench/agent_start.py [--runs N] [--kinds cpu,offcpu] [--out FILE] [BUILD_DIR ...]   (root;
       default the build of PODPROF_BUILD; give an older build first to compare)
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

import benchlib as bl
import local
import selected


def prog_names(pid):
    names = set()
    for i in local.bpf_prog_ids(pid):
        out = subprocess.run(["bpftool", "prog", "show", "id", str(i), "-j"], capture_output=True,
                             text=True, timeout=30).stdout
        try:
            names.add(json.loads(out).get("name", ""))
        except ValueError:
            pass
    return names


def one_run(build, pods, work, tag, offcpu):
    """(agent CPU seconds until its job started, BPF program names it held then)."""
    port = bl.free_port()
    tok = os.path.join(work, f"token-{tag}")
    with open(tok, "w") as f:
        f.write("bench-" + secrets.token_hex(8) + "\n")
    os.chmod(tok, 0o600)
    attach = {"v": 1, "type": "attach", "jobId": f"start-{tag}", "frequencyHz": 99,
              "kernelStacks": False, "windowMs": 3000,
              "pods": [{"uid": pods.uid["a"], "namespace": "bench", "name": "a", "containers": []}]}
    if offcpu:
        attach.update(profile="offcpu", minBlockUs=1000)
    af = os.path.join(work, f"attach-{tag}.json")
    with open(af, "w") as f:
        json.dump(attach, f)
    hlog_path, alog_path = os.path.join(work, f"hub-{tag}.log"), os.path.join(work, f"agent-{tag}.log")
    procs = []
    try:
        with open(hlog_path, "w") as hlog:
            procs.append(subprocess.Popen([os.path.join(build, "podprof-testdrv"), "debug-hub", "--port",
                                           str(port), "--token-file", tok, "--attach-file", af,
                                           "--windows", "1"], stdout=hlog, stderr=subprocess.STDOUT))
        if not bl.wait_file(hlog_path, "event listening", 30, procs[0]):
            raise RuntimeError(f"hub did not start: {local.last_error(hlog_path)}")
        with open(alog_path, "w") as alog:
            agent = subprocess.Popen([os.path.join(build, "podprof-worker"), "agent", "--operator",
                                      f"ws://127.0.0.1:{port}", "--node", "bench-node", "--token-file", tok,
                                      "--cgroup-root", pods.top], stdout=alog, stderr=subprocess.STDOUT)
        procs.append(agent)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if agent.poll() is not None:
                raise RuntimeError(f"agent exited: {local.last_error(alog_path)}")
            if f"job start-{tag} started" in local.read(alog_path):
                return bl.proc_cpu_ns(agent.pid) / 1e9, prog_names(agent.pid)
            time.sleep(0.005)
        raise RuntimeError(f"no job started: {local.last_error(alog_path)}")
    finally:
        bl.stop_procs(reversed(procs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kinds", default="cpu,offcpu", help="first jobs to measure: cpu, offcpu or both")
    ap.add_argument("--out", help="JSON results file (for report.py)")
    ap.add_argument("builds", nargs="*", default=[bl.build_dir()])
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("agent_start.py needs root (eBPF)")
    kinds = [k for k in a.kinds.split(",") if k]
    pods = selected.Pods()
    sleeper = pods.spawn("a", ["sleep", "3600"])
    work = tempfile.mkdtemp(prefix="podprof-agent-start-")
    res = {(b, k): [] for k in kinds for b in a.builds}
    try:
        for r in range(a.runs):
            # Builds and kinds alternate within a round, so load from elsewhere hits all alike.
            for i, (b, k) in enumerate(res):
                cpu, names = one_run(os.path.abspath(b), pods, work, f"{r}-{i}", k == "offcpu")
                res[(b, k)].append((cpu, sorted(n for n in names if n.startswith("offcpu"))))
                print(f"  run {r} {b} {k}: {cpu * 1000:.0f} ms CPU, off-CPU programs {res[(b, k)][-1][1]}",
                      flush=True)
    finally:
        sleeper.kill()
        sleeper.wait()
        pods.close()
    rows = []
    print(f"{'build':40s} {'first job':9s} {'median ms':>9s} {'min':>6s} {'max':>6s}  off-CPU programs loaded")
    for (b, k), runs in res.items():
        cpus = [c * 1000 for c, _ in runs]
        row = {"build": b, "kind": k, "runs": len(runs), "cpu_ms_median": bl.median(cpus),
               "cpu_ms_min": min(cpus), "cpu_ms_max": max(cpus),
               "offcpu_loaded_runs": sum(1 for _, n in runs if n)}
        rows.append(row)
        print(f"{b:40s} {k:9s} {row['cpu_ms_median']:9.0f} {row['cpu_ms_min']:6.0f} {row['cpu_ms_max']:6.0f}  "
              f"{row['offcpu_loaded_runs']}/{len(runs)} runs")
    if a.out:
        bl.write_json(a.out, {"machine": bl.machine(), "rows": rows})


if __name__ == "__main__":
    main()
