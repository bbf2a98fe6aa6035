# SPDX-License-Identifier: Apache-2.0
"""test_offcpu_flow.py -- an offcpu ProfilingTarget through the operator on the local stack.

Real apiserver, real operator, a real eBPF worker on one simulated node, MinIO
as object storage. The selected pod sleeps 3:1 in two functions; a pod of
another app on the same node sleeps in the same code and must not appear.
The profile is read back from S3 with the independent reader.
"""

import json
import os
import re
import subprocess
import tempfile

import pytest

import nodesim
import podprof
import pprofread
import stack as stack_mod

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF needs root")


@pytest.fixture(scope="module")
def env(stack, crd, s3):
    app = podprof.compile_workload("offcpu", tempfile.mkdtemp(prefix="podprof-wl-"),
                                   extra=("-pthread",))
    ns = "offcpu"
    stack.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    cluster = nodesim.Cluster(stack, ["n1"])
    op = podprof.Operator(stack, s3=s3).start()
    n1 = cluster.nodes["n1"]
    worker = podprof.Worker(op, n1).start()
    n1.run_pod(ns, "waiter", {"app": "waiter"}, [("app", [app, "sleep", "60"])])
    n1.run_pod(ns, "other", {"app": "other"}, [("app", [app, "pipe"])])
    yield {"ns": ns, "worker": worker}
    worker.stop()
    op.stop()
    cluster.stop()


def _progs(pid):
    """{program name: {ids}} of the BPF programs whose fds process pid holds (/proc fdinfo)."""
    progs = {}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                m = re.search(r"^prog_id:\s+(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            out = subprocess.run(["bpftool", "-j", "prog", "show", "id", m.group(1)],
                                 capture_output=True, text=True)
            if out.returncode == 0:
                progs.setdefault(json.loads(out.stdout).get("name"), set()).add(int(m.group(1)))
    return progs


def test_offcpu_programs_load_with_the_first_offcpu_target(stack, env):
    """The agent allows off-CPU jobs but loads their programs with the first one: while only a
    CPU target runs it holds the CPU sampler and no off-CPU program; an offcpu target started
    next to it loads them and succeeds, while the CPU target keeps running on the same program
    (no reload under the running CPU job)."""
    ns, pid = env["ns"], env["worker"].pid
    podprof.apply_target(stack, ns, "cpu-first", {"matchLabels": {"app": "other"}}, duration="10m")
    # Loading is over once the job has started (the programs load one by one).
    stack_mod.wait_for(lambda: re.search(r"job \S+ started \(slot \d+, 99 Hz", env["worker"].log()), 60,
                       desc="CPU job started by the worker")
    progs = _progs(pid)
    assert "profile_sample" in progs and not any(n.startswith("offcpu") for n in progs), progs
    cpu_ids = progs["profile_sample"]

    podprof.apply_target(stack, ns, "off-next", {"matchLabels": {"app": "waiter"}}, duration="3s",
                         profile="offcpu")
    st = podprof.wait_phase(stack, ns, "off-next", timeout=90)["status"]
    assert st["phase"] == "Succeeded" and st["blockedSeconds"] > 1.0, st
    progs = _progs(pid)
    assert "offcpu_switch" in progs and "offcpu_unwind" in progs, progs
    assert progs["profile_sample"] == cpu_ids, (progs, cpu_ids)
    assert podprof.get_target(stack, ns, "cpu-first")["status"]["phase"] == "Running"
    for name in ("cpu-first", "off-next"):
        stack.kubectl("delete", "pt", name, "-n", ns)


def test_offcpu_target_reports_blocked_time(stack, s3, env, tmp_path):
    """spec.profile offcpu: status says blocked time, topFunctions give blocked-time shares, the
    S3 profile is off_cpu/nanoseconds with the 3:1 sleep split and a state label, the flame
    graph is titled blocked time, and the unselected pod on the node is absent."""
    ns = env["ns"]
    podprof.apply_target(stack, ns, "waits", {"matchLabels": {"app": "waiter"}}, duration="5s",
                         profile="offcpu", offcpu={"minBlock": "2ms"})
    st = podprof.wait_phase(stack, ns, "waits", timeout=90)["status"]
    assert st["phase"] == "Succeeded", st
    assert st["measured"] == "blocked time (off CPU)", st
    assert st["blockedSeconds"] > 2.0, st
    # samples counts the waiter's matched context switches (about 25 a second), not nanoseconds.
    assert 0 < st["samples"] < 10000, st
    top = st["topFunctions"]
    assert top and all("blockedMs" in e and "samples" not in e for e in top), top
    # Kernel stacks are on by default: every wait's leaf is the kernel's nanosleep.
    assert top[0]["function"] == "do_nanosleep" and top[0]["selfPercent"] > 90, top

    def uploaded():
        s = podprof.get_target(stack, ns, "waits")["status"]
        p = s.get("profile", {})
        return s if p.get("state") == "Uploaded" and p.get("svgURL") else None
    st = stack_mod.wait_for(uploaded, 90, desc="waits uploaded")
    path = tmp_path / "waits.pb.gz"
    path.write_bytes(s3.get(st["profile"]["url"].split(f"/{s3.bucket}/", 1)[1]))
    prof = pprofread.Profile(str(path))
    assert prof.sample_types == [("off_cpu", "nanoseconds")], prof.sample_types
    major = sum(s.values[0] for s in prof.samples if "sleep_major" in s.frames)
    minor = sum(s.values[0] for s in prof.samples if "sleep_minor" in s.frames)
    # Not real-time here (the pod's process is the node's), so a looser bound
    # than test_offcpu's: the split is still clearly 3:1, not 1:1.
    assert 0.65 <= major / (major + minor) <= 0.85, (major, minor)
    assert {s.labels.get("pod") for s in prof.samples} == {"waiter"}
    assert not any("pipe_reader" in s.frames for s in prof.samples)
    assert {s.labels.get("state") for s in prof.samples} <= {"sleeping", "runnable"}
    svg = s3.get(st["profile"]["svgURL"].split(f"/{s3.bucket}/", 1)[1])
    assert b"waits: blocked time (off CPU)" in svg and b" s blocked (off CPU)" in svg

    out = stack.kubectl("get", "pt", "waits", "-n", ns).stdout.splitlines()
    header, row = out[0].split(), out[1].split()
    assert row[header.index("PROFILE")] == "offcpu", out
