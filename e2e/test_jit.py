# SPDX-License-Identifier: Apache-2.0
"""test_jit.py -- JIT frames are named from the process's perf map (/tmp/perf-<pid>.map):
Node with --perf-basic-prof and a JVM whose map `jcmd PID Compiler.perfmap` writes. Each is
recorded by `podprof-worker record` and by `perf record -g` side by side; podprof must name
the JS / Java method in >= 90 % of the share of samples in which perf names it.
"""

import glob
import os
import subprocess
import threading
import time

import pytest

from test_record import Cgroups, pprof, record, worker  # noqa: F401 (worker: a fixture)

DURATION_S = 5

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="real eBPF needs root")]

NODE_JS = """
function hotLeaf(n) { let x = 0; for (let i = 0; i < n; i++) x = (x * 31 + i) | 0; return x; }
function chain(n) { return hotLeaf(n) + 1; }
let s = 0; for (;;) { s += chain(100000); }
"""

JAVA = """
public class Hot {
    static int hotLeaf(int n) { int x = 0; for (int i = 0; i < n; i++) x = x * 31 + i; return x; }
    static int chain(int n) { return hotLeaf(n) + 1; }
    public static void main(String[] a) {
        long s = 0;
        for (;;) { s += chain(100000); if (s == 42) System.out.println(s); }
    }
}
"""


def perf_named_share(pid, marker, tmp_path):
    """Share of `perf record -g` samples of pid with a frame containing marker."""
    data = str(tmp_path / "perf.data")
    subprocess.run(["perf", "record", "-q", "-F", "99", "-g", "-p", str(pid), "-o", data,
                    "--", "sleep", str(DURATION_S)], check=True, capture_output=True)
    out = subprocess.run(["perf", "script", "-i", data], check=True, capture_output=True,
                         text=True).stdout
    blocks = [b for b in out.split("\n\n") if b.strip()]
    named = sum(1 for b in blocks if marker in b)
    return named / len(blocks) if blocks else 0.0, len(blocks)


def podprof_named_share(path, marker):
    out = pprof("-traces", "-symbolize=none", path)
    total = named = 0
    for block in out.split("-----------+")[1:]:
        lines = [ln for ln in block.splitlines()[1:] if ln.strip()
                 and not ln.strip().endswith(":") and ":  " not in ln]
        first = [ln for ln in lines if ln.split() and ln.split()[0].isdigit()]
        if not first:
            continue
        n = int(first[0].split()[0])
        total += n
        if any(marker in ln for ln in lines):
            named += n
    return (named / total if total else 0.0), total


def side_by_side(worker, pid, marker, tmp_path):
    result = {}

    def run_perf():
        result["perf"] = perf_named_share(pid, marker, tmp_path)

    out = str(tmp_path / "jit.pb.gz")
    t = threading.Thread(target=run_perf)
    r = record(worker, ["--pid", str(pid), "--duration", f"{DURATION_S}s"], out,
               during=lambda _p: t.start())
    t.join()
    assert r.rc == 0, r.stderr
    share, total = podprof_named_share(out, marker)
    perf_share, perf_total = result["perf"]
    print(f"{marker}: podprof {share:.1%} of {total} samples, perf {perf_share:.1%} "
          f"of {perf_total}")
    # A busy shared machine may give the workload little CPU; shares still compare.
    assert perf_total >= 10 and total >= 10, "too few samples to compare"
    assert perf_share > 0, f"perf never names {marker}: nothing to compare with"
    assert share >= 0.9 * perf_share, f"podprof {share:.1%} vs perf {perf_share:.1%}"


def cleanup_map(pid):
    for p in glob.glob(f"/tmp/perf-{pid}.map"):
        os.unlink(p)


def wait_for_map(pid, marker, refresh=None, timeout=60):
    """Until the process's perf map names marker (the hot code is compiled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if refresh:
            refresh()
        try:
            with open(f"/tmp/perf-{pid}.map", errors="replace") as f:
                if marker in f.read():
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.5)
    pytest.fail(f"/tmp/perf-{pid}.map never named {marker}")


def profile_jit(worker, tmp_path, argv, map_marker, marker, refresh=None):
    """Start argv, wait for its perf map to name map_marker, then record side by side.
    No real-time priority here: it would cover the runtime's helper threads too."""
    cg = Cgroups()
    proc = None
    try:
        proc = cg.spawn(argv)
        wait_for_map(proc.pid, map_marker, refresh=refresh and (lambda: refresh(proc.pid)))
        done = threading.Event()
        if refresh:
            # A JVM writes its map only when asked: code compiled after the
            # first dump (C2 replacing C1 late on a busy machine) would be
            # unnamed for both tools. Keep dumping while they record.
            def keep_refreshing():
                while not done.wait(1.0):
                    refresh(proc.pid)

            threading.Thread(target=keep_refreshing, daemon=True).start()
        try:
            side_by_side(worker, proc.pid, marker, tmp_path)
        finally:
            done.set()
    finally:
        cg.close()
        if proc:
            cleanup_map(proc.pid)


def test_node_perf_basic_prof(worker, tmp_path):
    src = tmp_path / "chain.js"
    src.write_text(NODE_JS)
    # Without --no-turbo-inlining, TurboFan may later inline hotLeaf into an
    # optimized chain: neither tool could then see a hotLeaf frame.
    profile_jit(worker, tmp_path, ["node", "--perf-basic-prof", "--no-turbo-inlining", str(src)],
                "JS:*hotLeaf", "hotLeaf")


def test_java_perf_map(worker, tmp_path):
    (tmp_path / "Hot.java").write_text(JAVA)
    subprocess.run(["javac", "-d", str(tmp_path), str(tmp_path / "Hot.java")], check=True)

    def perfmap(pid):
        subprocess.run(["jcmd", str(pid), "Compiler.perfmap"], capture_output=True, timeout=60)

    profile_jit(worker, tmp_path,
                ["java", "-XX:+PreserveFramePointer", "-cp", str(tmp_path), "Hot"],
                "Hot.chain", "Hot.", refresh=perfmap)
