# SPDX-License-Identifier: Apache-2.0
"""test_offcpu.py -- `podprof-worker record --offcpu` against real eBPF, real cgroups.

Workloads (e2e/workloads/offcpu.c) whose waits are known: sleeps of 3:1
length in two functions, a read on a pipe, a spinner throttled by a CPU
quota. Profiles are read back with the independent reader (pprofread.py)
and `go tool pprof`. Every test runs against the plain and the ASan build.
"""

import os
import subprocess
import time

import pytest

import pprofread
from test_record import WORKLOADS, cgroups, record, worker  # noqa: F401 (cgroups, worker: fixtures)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="real eBPF needs root")


@pytest.fixture(scope="module")
def offcpu_bin(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("offcpu") / "offcpu")
    subprocess.run(["cc", "-O1", "-fno-omit-frame-pointer", "-pthread", "-o", out,
                    os.path.join(WORKLOADS, "offcpu.c")], check=True)
    return out


def read(path):
    prof = pprofread.Profile(path)
    assert prof.sample_types == [("off_cpu", "nanoseconds")], prof.sample_types
    return prof


def time_in(prof, func, **labels):
    """Nanoseconds of the samples with func on the stack (and the given labels)."""
    return sum(s.values[0] for s in prof.samples
               if func in s.frames and all(s.labels.get(k) == v for k, v in labels.items()))


def total(prof, **labels):
    return sum(s.values[0] for s in prof.samples
               if all(s.labels.get(k) == v for k, v in labels.items()))


def test_sleep_split(worker, offcpu_bin, cgroups, tmp_path):
    """A thread sleeping 3x as long in sleep_major as in sleep_minor: 75 % (+- 3 points) of
    its blocked time is in sleep_major, labelled sleeping; a sleeper in a sibling cgroup
    never appears."""
    target, sibling = cgroups.child("target"), cgroups.child("sibling")
    # Real-time so that the wake-up latency after each sleep (off CPU too, and the same
    # for both sleeps) stays small against the 20 ms and 60 ms sleeps.
    sleeper = cgroups.spawn([offcpu_bin, "sleep", "60"], target, realtime=True)
    other = cgroups.spawn([offcpu_bin, "sleep"], sibling)
    out = str(tmp_path / "sleep.pb.gz")
    r = record(worker, ["--cgroup", target, "--offcpu", "--duration", "5s"], out)
    assert r.rc == 0, r.stderr
    assert "off-CPU time:" in r.stdout and "self_ms" in r.stdout, r.stdout
    prof = read(out)
    major, minor = time_in(prof, "sleep_major"), time_in(prof, "sleep_minor")
    share = major / (major + minor)
    print(f"sleep_major {major / 1e6:.0f} ms, sleep_minor {minor / 1e6:.0f} ms, "
          f"share {share:.3f}")
    assert abs(share - 0.75) <= 0.03, f"split {share:.3f}, want 0.75 +- 0.03"
    # Nearly all of the window is blocked time (the thread hardly runs).
    assert major + minor >= 0.8 * 5e9 * 0.9, (major, minor)
    assert time_in(prof, "sleep_major", state="sleeping") == major
    assert {s.labels["pid"] for s in prof.samples} == {sleeper.pid}
    assert other.pid not in {s.labels["pid"] for s in prof.samples}
    assert other.poll() is None


def test_pipe_read(worker, offcpu_bin, cgroups, tmp_path):
    """A thread blocked reading a pipe shows the read under pipe_reader (with kernel stacks,
    the kernel's pipe read under it); the writer thread's sleeps show apart."""
    cg = cgroups.child("pipe")
    cgroups.spawn([offcpu_bin, "pipe"], cg)
    out = str(tmp_path / "pipe.pb.gz")
    r = record(worker, ["--cgroup", cg, "--offcpu", "--kernel-stacks", "--duration", "3s"], out)
    assert r.rc == 0, r.stderr
    prof = read(out)
    reader = [s for s in prof.samples if "pipe_reader" in s.frames]
    assert reader, [s.frames for s in prof.samples]
    blocked = sum(s.values[0] for s in reader)
    assert blocked >= 0.8 * 3e9, blocked
    # Waiting for the writer: sleeping, in the kernel's pipe read under libc's read().
    # (A preemption on the way back to pipe_reader is runnable time of the same thread.)
    waits = [s for s in reader if s.labels["state"] == "sleeping"]
    assert sum(s.values[0] for s in waits) >= 0.9 * blocked, [(s.labels, s.frames) for s in reader]
    for s in waits:
        user = s.frames[s.frames.index("pipe_reader") - 1]
        assert "read" in user, s.frames  # libc's read() (or __libc_read) called it
        assert any(f in s.frames for f in ("pipe_read", "anon_pipe_read")), s.frames
    for s in reader:
        # The tracepoint's glue and the scheduler's frames are dropped: the leaf is the wait.
        assert not s.frames[0].startswith(("bpf_", "__schedule", "schedule")), s.frames
    assert any(s.frames[0] in ("pipe_read", "anon_pipe_read") for s in waits), \
        [s.frames for s in waits]
    writer = time_in(prof, "pipe_writer")
    assert writer > 0 and time_in(prof, "pipe_writer", state="sleeping") > 0.9 * writer


def throttle(pid, cg_v2):
    """Put pid under a 10 % CPU quota: cgroup v2 cpu.max where the cpu controller is there,
    else the v1 cpu hierarchy's cfs quota. Returns the v1 cgroup made (or None)."""
    try:
        with open(os.path.join(cg_v2, "cpu.max"), "w") as f:
            f.write("10000 100000")
        return None
    except OSError:
        pass
    v1 = "/sys/fs/cgroup/cpu"
    if not os.path.exists(os.path.join(v1, "cpu.cfs_quota_us")):
        pytest.skip("no CPU controller (neither cgroup v2 cpu.max nor v1 cpu)")
    path = os.path.join(v1, os.path.basename(os.path.dirname(cg_v2)) + "-throttled")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
        f.write("100000")
    with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
        f.write("10000")
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    return path


def test_throttled_is_runnable(worker, offcpu_bin, cgroups, tmp_path):
    """A spinner under a 10 % CPU quota spends most of the window off CPU, and that time is
    labelled runnable (it never waited for anything), in spin_forever."""
    cg = cgroups.child("throttled")
    spinner = cgroups.spawn([offcpu_bin, "spin"], cg)
    v1 = throttle(spinner.pid, cg)
    try:
        out = str(tmp_path / "throttled.pb.gz")
        r = record(worker, ["--cgroup", cg, "--offcpu", "--duration", "3s"], out)
        assert r.rc == 0, r.stderr
        prof = read(out)
        runnable = total(prof, state="runnable")
        print(f"runnable {runnable / 1e6:.0f} ms of {total(prof) / 1e6:.0f} ms off CPU")
        # 90 % of the time throttled; 70 % leaves room for the window's edges.
        assert runnable >= 0.7 * 3e9, runnable
        assert runnable >= 0.95 * total(prof)
        assert time_in(prof, "spin_forever", state="runnable") == runnable
    finally:
        if v1:
            spinner.kill()
            spinner.wait()
            for _ in range(50):
                try:
                    os.rmdir(v1)
                    break
                except OSError:
                    time.sleep(0.1)  # the killed task leaves the cgroup asynchronously


def test_min_block_and_pid(worker, offcpu_bin, cgroups, tmp_path):
    """--pid selects one process; --min-block 40ms keeps the 60 ms sleeps and drops the
    20 ms ones."""
    cg = cgroups.child("minblock")
    # Real-time: on a loaded machine a 20 ms sleep plus its wait for a CPU could pass 40 ms.
    sleeper = cgroups.spawn([offcpu_bin, "sleep", "60"], cg, realtime=True)
    cgroups.spawn([offcpu_bin, "sleep", "60"], cg)  # same cgroup, another pid: not selected
    out = str(tmp_path / "minblock.pb.gz")
    r = record(worker, ["--pid", str(sleeper.pid), "--offcpu", "--min-block", "40ms",
                        "--duration", "3s"], out)
    assert r.rc == 0, r.stderr
    prof = read(out)
    assert time_in(prof, "sleep_major") > 0
    assert time_in(prof, "sleep_minor") == 0, [s.frames for s in prof.samples]
    assert {s.labels["pid"] for s in prof.samples} == {sleeper.pid}


def test_bad_min_block(worker, tmp_path):
    """A malformed or too long --min-block is refused with the value named."""
    for bad in ("-1ms", "5", "11s", "1.5ms"):
        p = subprocess.run([worker, "record", "--pid", "1", "--offcpu", "--min-block", bad],
                           capture_output=True, text=True)
        assert p.returncode == 2 and f"--min-block '{bad}'" in p.stderr, (bad, p.stderr)
