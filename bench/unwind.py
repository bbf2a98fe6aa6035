#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""unwind.py -- stack quality and unwinding cost, side by side with perf and bpftrace.

1. Quality: each workload (a -O2 C chain without frame pointers, Debian's
   python3, gzip -6 and xz -9 fed by seq) runs in its own cgroup and is
   recorded at the same time by `podprof-worker record --cgroup` and
   `perf record --call-graph dwarf -p PIDS` (99 Hz, same window). For each:
   samples, share whose stack reaches the process entry (__libc_start_main
   on the stack, no marker frame), median depth, and agreement: frames are
   normalised (a named function keeps its name, an unnamed frame becomes
   "<binary>?") and agreement = sum over stacks of min(share in podprof,
   share in perf), 100 % when both see the same stacks in the same shares.
2. Cost, the agent's path: `record --cgroup` over a 30 s window on the
   workloads above at 19 and 99 Hz, with unwind tables (auto) and frame
   pointers only, and bpftrace's `profile` with ustack on the same cgroup:
   BPF ns per program run (kernel run_time_ns / run_cnt), worker CPU, node
   CPU share ((BPF time + worker CPU) / (cores x window)) and worker peak RSS
   with the tables of these processes loaded.
3. Steady state, the agent's real path: `podprof-worker agent` connected to a
   hub (`podprof-testdrv debug-hub --windows N`, the operator's hub code
   without the Kubernetes side) that sends one attach per window as a
   schedule does, for the workloads above in one pod of a kubelet-style
   cgroup hierarchy (systemd driver, container at depth 5), 30 s windows
   back to back. Window 1 includes start-up (BTF, program load, the first
   tables); windows 2..N are the steady state: agent CPU (per-thread
   schedstat) and BPF time between the attach of window 2 and the final
   progress of window N, over cores x that wall time.
4. Collisions: a generated program with 100 leaf functions reached through
   recursion depths 1..100 (10,000 distinct stacks) recorded at 999 Hz:
   distinct stacks seen and samples whose stack was lost (must be 0).
Writes one JSON file for report.py.
"""

import argparse
import collections
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time

import benchlib as bl
import local
import selected

sys.path.insert(0, bl.E2E)
import pprofread  # noqa: E402

ENTRY = "__libc_start_main"
HZ = 99
# perf names glibc's start code by its internal symbols (from libc6-dbg)
ALIASES = {"__libc_start_main_impl": "__libc_start_main",
           "__libc_start_main_alias_2": "__libc_start_main"}


# ---- workloads -------------------------------------------------------------------------------

class Group:
    """A cgroup with workload processes; the shell joins it before it forks anything."""

    def __init__(self, name):
        self.path = os.path.join(local.cgroup_root(), f"podprof-bench-{name}-{secrets.token_hex(3)}")
        os.mkdir(self.path)
        self.procs = []

    def start(self, cmd):
        script = f"echo $$ > {self.path}/cgroup.procs; exec {cmd}"
        self.procs.append(subprocess.Popen(["sh", "-c", script], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, start_new_session=True))

    def pids(self):
        out = []
        for dirpath, _, files in os.walk(self.path):
            if "cgroup.procs" in files:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    out += [int(x) for x in f.read().split()]
        return out

    def close(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for _ in range(50):
            try:
                os.rmdir(self.path)
                break
            except OSError:
                time.sleep(0.1)


PY_LOOP = ("def c(n):\n s=0\n for i in range(n): s+=i*i\n return s\n"
           "def b(n): return c(n)\ndef a(n): return b(n)\nwhile True: a(100000)\n")


def workloads(res):
    py = os.path.join(res, "unwind-loop.py")
    with open(py, "w") as f:
        f.write(PY_LOOP)
    chain = os.path.join(res, "unwind-chain")
    bl.compile_c(os.path.join(bl.E2E, "workloads", "unwind.c"), chain,
                 ["-O2", "-fomit-frame-pointer", os.path.join(bl.E2E, "workloads", "unwlib.c")])
    return {
        "C -O2, no frame pointers": f"{chain} chain 100000",
        "Debian python3": f"/usr/bin/python3 {py}",
        "Debian gzip -6": "sh -c 'seq 1 2000000000 | gzip -6 > /dev/null'",
        "Debian xz -9": "sh -c 'seq 1 2000000000 | xz -9 -T1 > /dev/null'",
    }


# ---- reading stacks ---------------------------------------------------------------------------

def norm_podprof(frame):
    if "+0x" in frame and not frame.startswith("["):
        return frame.split("+0x")[0] + "?"
    return frame


def podprof_stacks(path):
    """[(frame names, binaries per frame, count)]; marker frames keep their name."""
    out = []
    for smp in pprofread.Profile(path).samples:
        names = [norm_podprof(f) for f in smp.frames]
        bins = list(smp.frame_binaries)
        if names and names[-1].startswith("["):
            bins[-1] = names[-1]  # a marker is its own "binary": it never agrees
        out.append((names, bins, smp.values[0] if smp.values else 0))
    return out


def perf_stacks(perf, data):
    """Same shape from `perf script`; inlined frames (DWARF inline info) are left out
    so that a location counts once, as in pprof."""
    r = subprocess.run([perf, "script", "-i", data, "-F", "comm,pid,ip,sym,dso", "--no-inline"],
                       capture_output=True, text=True, timeout=600)
    stacks, names, bins, last_ip = [], None, None, None
    for line in r.stdout.splitlines() + [""]:
        if not line.strip():
            if names is not None:
                # An address printed only as inlined is in the binary of its neighbours.
                stacks.append((names, bins, 1))
            names = bins = None
            continue
        if not line.startswith((" ", "\t")):
            names, bins = [], []
            continue
        if names is None:
            continue
        parts = line.split(None, 1)
        ip = parts[0]
        rest = parts[1] if len(parts) > 1 else ""
        sym, _, dso = rest.rpartition(" (")
        dso = dso.rstrip(")")
        sym = sym.split("+0x")[0].split("@")[0]  # symbol versions: __libc_start_main@@GLIBC_2.34
        sym = ALIASES.get(sym, sym)
        if dso == "inlined":
            # perf expands inlined calls into lines of the same address; an
            # address can also be printed only as inlined. Such a frame is in
            # the binary of the frame before it.
            dso = bins[-1] if bins else "?"
        dso = os.path.basename(dso)
        if dso.startswith("[kernel") or dso.endswith(".ko"):
            continue
        if names and last_ip == ip:
            names.pop()  # one frame per address: keep the outermost function
            bins.pop()
        names.append(dso + "?" if not sym or sym == "[unknown]" else sym)
        bins.append(dso)
        last_ip = ip
    return stacks


def quality(stacks):
    total = sum(v for _, _, v in stacks)
    if not total:
        return {"samples": 0}
    reach = sum(v for f, _, v in stacks if ENTRY in f and not f[-1].startswith("[truncated"))
    depths = sorted(d for f, _, v in stacks for d in [len(f)] * v)
    return {"samples": total, "entry": reach / total, "depth": statistics.median(depths)}


EVAL = "_PyEval_EvalFrameDefault"


def native_view(stacks, perf):
    """podprof's stacks as a native walk sees them: the Python frames that one
    `_PyEval_EvalFrameDefault` call ran replace that call's frame (docs/worker.md),
    so each run of consecutive `[python]` frames goes back to one frame in the
    binary that holds the eval loop (taken from perf's stacks), which is what
    perf, walking native frames only, shows there."""
    interp = next((b for names, bins, _ in perf for n, b in zip(names, bins) if n == EVAL), None)
    if interp is None:
        return stacks, 0
    out, runs = [], 0
    for names, bins, v in stacks:
        n2, b2 = [], []
        for n, b in zip(names, bins):
            if b == "[python]":
                if b2 and b2[-1] is None:
                    continue  # same run
                n2.append(EVAL)
                b2.append(None)
                runs += v
                continue
            n2.append(n)
            b2.append(b)
        out.append((n2, [interp if b is None else b for b in b2], v))
    return out, runs


def confirmed(a, b):
    """Share of a's samples whose whole stack (by binary, frame for frame) b also
    recorded at least once: unlike agreement, not lowered by the two samplers
    catching rare stacks in different proportions."""
    seen = {tuple(bins) for _, bins, _ in b}
    total = sum(v for _, _, v in a) or 1
    return sum(v for _, bins, v in a if tuple(bins) in seen) / total


def agreement(a, b):
    """Frame for frame, by the binary each frame is in (both tools know it even where
    neither names the function): sum over stacks of min(share in a, share in b)."""
    def shares(stacks):
        c = collections.Counter()
        for _, bins, v in stacks:
            c[tuple(bins)] += v
        t = sum(c.values()) or 1
        return {k: n / t for k, n in c.items()}
    sa, sb = shares(a), shares(b)
    return sum(min(sa.get(k, 0), sb.get(k, 0)) for k in set(sa) | set(sb))


def side_by_side(worker, perf, cmd, res, tag, secs):
    g = Group("q")
    try:
        g.start(cmd)
        time.sleep(1.0)
        pids = ",".join(str(p) for p in g.pids())
        pout = os.path.join(res, f"unwind-{tag}.pb.gz")
        data = os.path.join(res, f"unwind-{tag}.perf.data")
        rec = subprocess.Popen([worker, "record", "--cgroup", g.path, "--duration", f"{secs}s",
                                "--frequency", str(HZ), "-o", pout, "--top", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pr = None
        if perf:
            pr = subprocess.Popen([perf, "record", "-q", "-e", "cpu-clock", "-F", str(HZ),
                                   "--call-graph", "dwarf",
                                   "-p", pids, "-o", data], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        hwm = 0
        while rec.poll() is None:
            hwm = max(hwm, bl.proc_status_kb(rec.pid, "VmHWM") or 0)
            time.sleep(0.05)
        out = {"podprof": quality(podprof_stacks(pout)), "worker_hwm_kb": hwm,
               "unwind_line": next((ln for ln in rec.stdout.read().splitlines()
                                    if ln.startswith("unwind:")), "")}
        if pr:
            pr.send_signal(signal.SIGINT)
            pr.wait(timeout=120)
            ps = perf_stacks(perf, data)
            out["perf"] = quality(ps)
            native, runs = native_view(podprof_stacks(pout), ps)
            out["agreement"] = agreement(native, ps)
            out["confirmed"] = confirmed(native, ps)
            out["python_runs"] = runs
            os.unlink(data)
        return out
    finally:
        g.close()


# ---- cost -------------------------------------------------------------------------------------

def cost_run(tool, exe, cg, hz, secs):
    """BPF ns per run, runs, worker CPU s, peak RSS kB for one window."""
    if tool == "bpftrace":
        prog = (f'profile:hz:{hz} /cgroup == cgroupid("{cg}")/ {{ @[ustack] = count(); }} '
                f'interval:s:{secs} {{ exit(); }}')
        p = subprocess.Popen([exe, "-e", prog], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    else:
        p = subprocess.Popen([exe, "record", "--cgroup", cg, "--duration", f"{secs}s",
                              "--frequency", str(hz), "--top", "0", "--unwinder", tool,
                              "-o", os.devnull], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    ids, t_end, hwm, stats = set(), time.monotonic() + secs + 60, 0, (0, 0)
    while not bl.exited(p) and time.monotonic() < t_end:
        ids |= local.bpf_prog_ids(p.pid)
        hwm = max(hwm, bl.proc_status_kb(p.pid, "VmHWM") or 0)
        if ids:
            # The last read before exit counts the window; programs that
            # are gone already read as 0, so a smaller read is not taken.
            now = local.bpf_stats_ids(ids)
            if now[1] >= stats[1]:
                stats = now
        time.sleep(0.5)
    rc, ru = bl.wait_rusage(p, timeout=60)
    cpu = (ru.ru_utime + ru.ru_stime) if ru else None
    t, c = stats
    return {"bpf_ns": t, "runs": c, "ns_per_run": t / c if c else None, "cpu_s": cpu,
            "hwm_kb": hwm, "rc": rc}


def cost(worker, bpftrace, cmds, secs, rounds):
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    out = []
    try:
        g = Group("cost")
        for c in cmds:
            g.start(c)
        time.sleep(1.0)
        tools = ["auto", "framepointer"] + (["bpftrace"] if bpftrace else [])
        for r in range(rounds):
            for hz in (19, 99):
                for tool in tools[r % len(tools):] + tools[:r % len(tools)]:
                    exe = bpftrace if tool == "bpftrace" else worker
                    m = cost_run(tool, exe, g.path, hz, secs)
                    m.update(tool=tool, hz=hz, round=r, secs=secs)
                    print(f"  cost {tool:12s} {hz:3d} Hz: {m}", flush=True)
                    out.append(m)
        g.close()
    finally:
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"], check=False)
    return out


# ---- steady state: the agent over scheduled windows ------------------------------------------

BENCH_TOKEN = "bench-" + secrets.token_hex(8)


def agent_windows(worker, testdrv, pods, hz, unwinder, secs, windows, work, tag):
    """One agent, `windows` back-to-back windows on pod a; CPU and BPF time per phase."""
    port = bl.free_port()
    tok = os.path.join(work, f"token-{tag}")
    with open(tok, "w") as f:
        f.write(BENCH_TOKEN + "\n")
    os.chmod(tok, 0o600)
    attach = {"v": 1, "type": "attach", "jobId": f"bench-{tag}", "frequencyHz": hz,
              "kernelStacks": False, "framePointers": unwinder == "framepointer",
              "windowMs": secs * 1000,
              "pods": [{"uid": pods.uid["a"], "namespace": "bench", "name": "a",
                        "containers": []}]}
    af = os.path.join(work, f"attach-{tag}.json")
    with open(af, "w") as f:
        json.dump(attach, f)
    hlog_path = os.path.join(work, f"hub-{tag}.log")
    hlog = open(hlog_path, "w")
    hub = subprocess.Popen([testdrv, "debug-hub", "--port", str(port), "--token-file", tok,
                            "--attach-file", af, "--windows", str(windows),
                            "--max-profile-bytes", str(64 << 20)],
                           stdout=hlog, stderr=subprocess.STDOUT)
    agent = None
    try:
        bl.wait_file(hlog_path, "event listening", 30, hub)
        alog = open(os.path.join(work, f"agent-{tag}.log"), "w")
        agent = subprocess.Popen([worker, "agent", "--operator", f"ws://127.0.0.1:{port}",
                                  "--node", "bench-node", "--token-file", tok,
                                  "--cgroup-root", pods.top], stdout=alog,
                                 stderr=subprocess.STDOUT)
        t0, c0 = time.monotonic(), None
        marks = {}  # window -> (wall, agent cpu ns, bpf ns, bpf runs) at its attach / final
        ids, hwm, last_stats = set(), 0, (0, 0)
        deadline = t0 + windows * (secs + 30) + 60
        seen_attach = seen_final = 0
        while time.monotonic() < deadline and seen_final < windows:
            if agent.poll() is not None or hub.poll() is not None:
                raise RuntimeError(f"agent or hub exited: {local.last_error(hlog_path)}")
            ids |= local.bpf_prog_ids(agent.pid)
            hwm = max(hwm, bl.proc_status_kb(agent.pid, "VmHWM") or 0)
            text = local.read(hlog_path)
            na = text.count("event attach-sent ")
            nf = sum(1 for ln in text.splitlines()
                     if ln.startswith("event progress ") and "final=1" in ln)
            if na > seen_attach or nf > seen_final:
                now = (time.monotonic(), bl.proc_cpu_ns(agent.pid) or 0,
                       *(local.bpf_stats_ids(ids) if ids else (0, 0)))
                for w in range(seen_final + 1, nf + 1):
                    marks[("final", w)] = now
                for w in range(seen_attach + 1, na + 1):
                    marks[("attach", w)] = now
                seen_attach, seen_final = na, nf
            time.sleep(0.02)
        if seen_final < windows:
            raise RuntimeError(f"only {seen_final} of {windows} windows ended")
        def span(a, b):
            (w0, c0, b0, r0), (w1, c1, b1, r1) = marks[a], marks[b]
            wall = w1 - w0
            return {"wall_s": wall, "cpu_s": (c1 - c0) / 1e9, "bpf_s": (b1 - b0) / 1e9,
                    "runs": r1 - r0, "ns_per_run": (b1 - b0) / (r1 - r0) if r1 > r0 else None,
                    "node_pct": 100.0 * ((c1 - c0) + (b1 - b0)) / 1e9 / (wall * os.cpu_count())}
        start_cpu = marks[("attach", 1)][1] / 1e9
        return {"first": span(("attach", 1), ("final", 1)),
                "steady": span(("attach", 2), ("final", windows)),
                "cpu_to_first_attach_s": start_cpu, "hwm_kb": hwm, "windows": windows,
                "secs": secs}
    finally:
        bl.stop_procs((agent, hub))
        hlog.close()


def steady(worker, testdrv, cmds, secs, windows, work):
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=False)
    pods = selected.Pods()
    out = []
    try:
        for c in cmds:
            pods.spawn("a", ["sh", "-c", c], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(1.0)
        for hz in (19, 99):
            for unw in ("auto", "framepointer"):
                m = agent_windows(worker, testdrv, pods, hz, unw, secs, windows, work,
                                  f"{unw}-{hz}")
                m.update(unwinder=unw, hz=hz)
                print(f"  steady {unw:12s} {hz:3d} Hz: {m}", flush=True)
                out.append(m)
    finally:
        pods.close()
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"], check=False)
    return out


# ---- collisions -------------------------------------------------------------------------------

def distinct_program(path):
    """100 leaves x recursion depth 1..100 = 10,000 distinct stacks."""
    lines = ["#include <stdlib.h>", "#include <time.h>", "volatile unsigned long sink;"]
    for i in range(100):
        lines.append(f"__attribute__((noinline)) void leaf{i}(void) "
                     f"{{ for (int k = 0; k < 2000; k++) sink += k ^ {i}; }}")
    lines.append("typedef void (*fn)(void); static fn leaves[100] = {" +
                 ",".join(f"leaf{i}" for i in range(100)) + "};")
    lines.append("__attribute__((noinline)) void rec(int d, int l) "
                 "{ if (d <= 1) leaves[l](); else rec(d - 1, l); sink++; }")
    lines.append("int main(int c, char **v) { time_t end = time(0) + atoi(v[1]); unsigned x = 1;"
                 " while (time(0) < end) { x = x * 1103515245u + 12345u;"
                 " rec(1 + (x >> 8) % 100, (x >> 20) % 100); } return 0; }")
    src = path + ".c"
    with open(src, "w") as f:
        f.write("\n".join(lines) + "\n")
    bl.compile_c(src, path, ["-O2", "-fomit-frame-pointer"])


def collisions(worker, res, secs):
    exe = os.path.join(res, "distinct")
    distinct_program(exe)
    g = Group("distinct")
    try:
        g.start(f"{exe} {secs + 30}")
        time.sleep(0.5)
        out = os.path.join(res, "distinct.pb.gz")
        r = subprocess.run([worker, "record", "--cgroup", g.path, "--duration", f"{secs}s",
                            "--frequency", "999", "-o", out, "--top", "0"],
                           capture_output=True, text=True, timeout=secs + 120)
        stacks = pprofread.Profile(out).stacks()
        lost = sum(v for f, v in stacks if "[user stack lost]" in f)
        distinct = len({tuple(f) for f, _ in stacks})
        first = r.stdout.splitlines()[:2]
        return {"distinct": distinct, "samples": sum(v for _, v in stacks), "lost": lost,
                "summary": first, "secs": secs}
    finally:
        g.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", choices=("quality", "cost", "steady", "collisions"),
                    help="run one part (development; the report wants all)")
    a = ap.parse_args()
    res = os.path.dirname(os.path.abspath(a.out))
    worker = os.path.join(bl.build_dir(), "podprof-worker")
    perf = shutil.which("perf")
    bpftrace = shutil.which("bpftrace")
    cmds = workloads(res)
    secs = 5 if bl.QUICK else 10
    result = {"machine": bl.machine(), "hz": HZ, "quality": {}, "secs": secs}
    want = lambda part: a.only in (None, part)  # noqa: E731
    for name, cmd in cmds.items():
        if not want("quality"):
            break
        tag = "".join(ch for ch in name if ch.isalnum())[:20]
        q = side_by_side(worker, perf, cmd, res, tag, secs)
        print(f"  {name}: {q}", flush=True)
        result["quality"][name] = q
    if want("cost"):
        result["cost"] = cost(worker, bpftrace, list(cmds.values()), 10 if bl.QUICK else 30,
                              1 if bl.QUICK else 3)
    if want("steady"):
        testdrv = os.path.join(bl.build_dir(), "podprof-testdrv")
        result["steady"] = steady(worker, testdrv, list(cmds.values()),
                                  10 if bl.QUICK else 30, 3 if bl.QUICK else 4, res)
    if want("collisions"):
        result["collisions"] = collisions(worker, res, 10 if bl.QUICK else 30)
    bl.write_json(a.out, result)


if __name__ == "__main__":
    main()
