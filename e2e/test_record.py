# SPDX-License-Identifier: Apache-2.0
"""test_record.py -- `podprof-worker record` against real eBPF, real cgroups, real perf events.

Every test runs against the plain and the ASan+UBSan build. Profiles are
read back with an independent reader, `go tool pprof`. Expected sample
counts come from the cgroup's own CPU accounting (cpu.stat usage_usec read
when sampling starts and stops), not from wall time, so a busy shared
machine does not turn into false failures.
"""

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "workloads")
HZ = 99
DURATION_S = 5
# The 3:1 split is judged on samples, a binomial draw: 5 s at 99 Hz gives
# some 470 and a standard deviation of 2 points in the share (six runs on one
# machine: 0.732-0.768), so a 3-point bound failed one run in ten. 20 s gives
# some 1,900 samples and 1 point.
ACCURACY_S = 20
# Capabilities the worker keeps (docs/worker.md): DAC_READ_SEARCH(2),
# SYS_PTRACE(19), SYSLOG(34), PERFMON(38), BPF(39).
WORKER_CAPS = (1 << 2) | (1 << 19) | (1 << 34) | (1 << 38) | (1 << 39)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="real eBPF needs root")


# ---- helpers -------------------------------------------------------------------------------------

def cgroup2_root():
    for cand in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(cand, "cgroup.procs")) and \
                os.path.exists(os.path.join(cand, "cgroup.subtree_control")):
            return cand
    pytest.fail("no cgroup v2 mount at /sys/fs/cgroup/unified or /sys/fs/cgroup")


def cpu_usage_us(cg):
    with open(os.path.join(cg, "cpu.stat")) as f:
        for line in f:
            k, v = line.split()
            if k == "usage_usec":
                return int(v)
    raise AssertionError(f"no usage_usec in {cg}/cpu.stat")


class Cgroups:
    """Test-owned cgroups under the cgroup v2 root; removed (with their processes) at the end."""

    def __init__(self):
        self.root = cgroup2_root()
        self.base = os.path.join(self.root, "podprof-e2e-" + secrets.token_hex(4))
        os.mkdir(self.base)
        self.procs = []

    def child(self, name):
        path = os.path.join(self.base, name)
        os.mkdir(path)
        return path

    def spawn(self, argv, cg=None, realtime=False):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        if cg:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(p.pid))
        if realtime:
            # SCHED_FIFO keeps the workload on its CPU on a shared machine, so the
            # sampling phase is not randomised by preemption (see test_accuracy).
            # Fall back to nice -20 where RT scheduling is not allowed.
            if subprocess.run(["chrt", "-f", "-p", "1", str(p.pid)],
                              capture_output=True).returncode != 0:
                os.setpriority(os.PRIO_PROCESS, p.pid, -20)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        # Children of the spawned processes (a shell's pipeline) outlive
        # them: kill whatever is still in the cgroups.
        for dirpath, _, files in os.walk(self.base):
            kill_cgroup(dirpath)
        for dirpath, dirnames, _ in sorted(os.walk(self.base), key=lambda t: -len(t[0])):
            for _ in range(50):
                try:
                    os.rmdir(dirpath)
                    break
                except OSError:
                    time.sleep(0.1)  # exiting tasks leave the cgroup asynchronously


def kill_cgroup(path):
    """SIGKILL every task in the cgroup (cgroup.kill where the kernel has it)."""
    try:
        with open(os.path.join(path, "cgroup.kill"), "w") as f:
            f.write("1")
        return
    except OSError:
        pass
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            pids = [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class Recording:
    """One finished `record` run: exit code, output, profile path, CPU used while sampling."""

    def __init__(self, rc, stdout, stderr, profile, cpu_s):
        self.rc, self.stdout, self.stderr, self.profile, self.cpu_s = rc, stdout, stderr, profile, cpu_s


def record(worker, args, out, cpu_cg=None, during=None):
    """Run `podprof-worker record`; read cpu.stat of cpu_cg when sampling starts and stops.
    `during(pid)` runs once, while the worker is sampling."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    p = subprocess.Popen([worker, "record", *args, "-o", out], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    err_lines, start_us, stop_us = [], None, None
    for line in p.stderr:
        err_lines.append(line)
        if cpu_cg and start_us is None and "record: sampling" in line:
            start_us = cpu_usage_us(cpu_cg)
        if start_us is not None and stop_us is None and "job: job record stopped" in line:
            stop_us = cpu_usage_us(cpu_cg) if cpu_cg else None
        if during and "record: sampling" in line:
            during(p.pid)
            during = None
    stdout = p.stdout.read()
    rc = p.wait(timeout=120)
    stderr = "".join(err_lines)
    assert "ERROR: AddressSanitizer" not in stderr, stderr
    assert "LeakSanitizer" not in stderr, stderr
    assert "runtime error:" not in stderr, stderr
    cpu_s = (stop_us - start_us) / 1e6 if cpu_cg and start_us is not None and stop_us else None
    return Recording(rc, stdout, stderr, out, cpu_s)


def pprof(*args):
    go = shutil.which("go") or "/usr/local/go/bin/go"
    r = subprocess.run([go, "tool", "pprof", "-sample_index=samples", *args], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def pprof_top(path):
    """{function: (flat, cum)} and the total sample count, as `go tool pprof -top` reads them."""
    out = pprof("-top", "-nodecount=10000", path)
    total = int(re.search(r"of (\d+) total", out).group(1))
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+(.+)$", line)
        if m:
            rows[m.group(3).strip()] = (int(m.group(1)), int(m.group(2)))
    return rows, total


def pprof_tag_values(path, key):
    """{label value: samples} for one label key, from `go tool pprof -tags`."""
    out = pprof("-tags", path)
    vals, in_key = {}, False
    for line in out.splitlines():
        head = re.match(r"^\s*(\S+): Total", line)
        if head:
            in_key = head.group(1) == key
            continue
        m = re.match(r"^\s*(\d+)\s+\(\s*[\d.]+%\):\s+(.+)$", line)
        if in_key and m:
            vals[m.group(2).strip()] = int(m.group(1))
    return vals


# ---- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def workloads(tmp_path_factory):
    d = tmp_path_factory.mktemp("workloads")
    out = {}
    for name in ("ratio", "busy"):
        out[name] = str(d / name)
        subprocess.run(["cc", "-O1", "-fno-omit-frame-pointer", "-o", out[name],
                        os.path.join(WORKLOADS, name + ".c")], check=True)
    return out


@pytest.fixture(params=["plain", "asan"])
def worker(request, build_dir, asan_build_dir):
    d = build_dir if request.param == "plain" else asan_build_dir
    path = os.path.join(d, "podprof-worker")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} missing: run `make all asan` first")
    return path


@pytest.fixture
def cgroups():
    c = Cgroups()
    yield c
    c.close()


# ---- tests ---------------------------------------------------------------------------------------

def test_accuracy_and_isolation(worker, workloads, cgroups, tmp_path):
    """A 20 s, 99 Hz recording of a cgroup attributes a 3:1 CPU split 75/25 within 3 points,
    keeps >= 90% of the samples its CPU time implies, and holds nothing from a busy sibling."""
    target, sibling = cgroups.child("target"), cgroups.child("sibling")
    # Split by work done, not by CPU time read from the clock: on some VMs the
    # CPU-time split runs in lockstep with the 99 Hz timer and perf itself then
    # sees 53-83 % (three perf runs side by side with podprof on one machine).
    ratio = cgroups.spawn([workloads["ratio"], "work"], target, realtime=True)
    busy = cgroups.spawn([workloads["busy"]], sibling)
    out = str(tmp_path / "ratio.pb.gz")
    r = record(worker, ["--cgroup", target, "--duration", f"{ACCURACY_S}s",
                        "--frequency", str(HZ)], out, cpu_cg=target)
    assert r.rc == 0, r.stderr
    assert "burn_major" in r.stdout and "burn_minor" in r.stdout, r.stdout

    rows, total = pprof_top(out)
    major, minor = rows["burn_major"][1], rows["burn_minor"][1]
    share = major / (major + minor)
    expected = HZ * r.cpu_s
    print(f"burn_major {major} burn_minor {minor} share {share:.3f} total {total} "
          f"cpu {r.cpu_s:.2f}s expected {expected:.0f} ({total / expected:.1%})")
    assert abs(share - 0.75) <= 0.03, f"split {share:.3f}, want 0.75 +- 0.03"
    assert total >= 0.9 * expected, f"{total} samples, expected {expected:.0f} from CPU time"

    assert "sibling_spin" not in rows
    pids = pprof_tag_values(out, "pid")
    assert set(pids) == {str(ratio.pid)}, pids
    assert busy.poll() is None  # the sibling really was running all along


def test_kernel_stacks(worker, workloads, cgroups, tmp_path):
    """With --kernel-stacks the profile shows kernel functions under the syscalls; without, none."""
    cg = cgroups.child("sys")
    cgroups.spawn([workloads["ratio"], "syscalls"], cg)
    with_k, without_k = str(tmp_path / "k.pb.gz"), str(tmp_path / "u.pb.gz")
    r = record(worker, ["--cgroup", cg, "--duration", "3s", "--kernel-stacks"], with_k)
    assert r.rc == 0, r.stderr
    rows, _ = pprof_top(with_k)
    kernel = [f for f in rows if f in ("do_syscall_64", "entry_SYSCALL_64_after_hwframe",
                                       "__x64_sys_getppid", "__x64_sys_clock_gettime")]
    assert kernel, sorted(rows)
    assert "burn_major" in rows

    r = record(worker, ["--cgroup", cg, "--duration", "2s"], without_k)
    assert r.rc == 0, r.stderr
    rows, _ = pprof_top(without_k)
    assert "do_syscall_64" not in rows and "burn_major" in rows, sorted(rows)


def test_pid_target(worker, workloads, cgroups, tmp_path):
    """--pid samples that process only, even when others share its cgroup."""
    cg = cgroups.child("shared")
    ratio = cgroups.spawn([workloads["ratio"], "plain"], cg)
    cgroups.spawn([workloads["busy"]], cg)
    out = str(tmp_path / "pid.pb.gz")
    r = record(worker, ["--pid", str(ratio.pid), "--duration", "2s"], out)
    assert r.rc == 0, r.stderr
    rows, total = pprof_top(out)
    assert total > 0 and "burn_major" in rows and "sibling_spin" not in rows, sorted(rows)
    assert set(pprof_tag_values(out, "comm")) == {"ratio"}


def test_short_lived_process_symbolized(worker, workloads, cgroups, tmp_path):
    """A process that exits mid-recording still gets function names (maps read while it ran)."""
    cg = cgroups.child("short")
    out = str(tmp_path / "short.pb.gz")

    def start(_pid):
        time.sleep(0.2)
        # Real-time so that its 1 s CPU budget ends well inside the 5 s window.
        cgroups.spawn([workloads["ratio"], "plain", "1500"], cg, realtime=True)

    r = record(worker, ["--cgroup", cg, "--duration", "5s"], out, during=start)
    assert r.rc == 0, r.stderr
    assert cgroups.procs[-1].poll() == 0  # it exited before the recording ended
    rows, total = pprof_top(out)
    assert total > 0 and "burn_major" in rows, sorted(rows)


def bpf_fds(pid):
    """Counts of BPF programs, BPF links and perf events held by a process (from /proc)."""
    progs = links = perf = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = f.read()
        except OSError:
            continue
        if target == "anon_inode:[perf_event]":
            perf += 1
        elif "link_id:" in info:
            links += 1
        elif "prog_id:" in info:
            progs += 1
    return progs, links, perf


def sampler_prog_ids():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"] for p in json.loads(out) if p.get("name") == "profile_sample"}


def test_bpf_only_while_sampling(worker, workloads, cgroups, tmp_path):
    """The sampler program, its links and perf events exist only while a job runs: one perf
    event and link per online CPU during, and the program is gone once the job ends."""
    cg = cgroups.child("idle")
    cgroups.spawn([workloads["ratio"], "plain"], cg)
    before = sampler_prog_ids()
    seen = {}

    def check(pid):
        seen["fds"] = bpf_fds(pid)
        seen["progs"] = sampler_prog_ids() - before
        with open(f"/proc/{pid}/status") as f:
            seen["status"] = f.read()

    r = record(worker, ["--cgroup", cg, "--duration", "2s"], str(tmp_path / "i.pb.gz"),
               during=check)
    assert r.rc == 0, r.stderr
    ncpu = os.sysconf("SC_NPROCESSORS_ONLN")
    progs, links, perf = seen["fds"]
    assert len(seen["progs"]) == 1 and progs >= 1
    assert links == ncpu and perf == ncpu, seen["fds"]
    # Unloaded before the process wrote its output, i.e. while it still ran.
    assert r.stderr.index("BPF sampler unloaded") < r.stderr.index("record: wrote")
    assert not (seen["progs"] & sampler_prog_ids())


def test_capabilities_dropped(worker, workloads, cgroups, tmp_path):
    """While sampling, the worker holds exactly the documented capability set, nothing more."""
    cg = cgroups.child("caps")
    cgroups.spawn([workloads["ratio"], "plain"], cg)
    status = {}

    def check(pid):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Cap"):
                    k, v = line.split(":")
                    status[k] = int(v.strip(), 16)

    r = record(worker, ["--cgroup", cg, "--duration", "1s"], str(tmp_path / "c.pb.gz"),
               during=check)
    assert r.rc == 0, r.stderr
    assert status["CapEff"] == WORKER_CAPS, hex(status["CapEff"])
    assert status["CapPrm"] == WORKER_CAPS, hex(status["CapPrm"])
    assert status["CapBnd"] == WORKER_CAPS, hex(status["CapBnd"])
    assert status["CapInh"] == 0 and status["CapAmb"] == 0


def test_clear_errors(worker, tmp_path):
    """Bad input and missing privileges fail with a message saying what is wrong."""
    def run(args, **kw):
        return subprocess.run([worker, "record", *args], capture_output=True, text=True,
                              timeout=60, **kw)

    r = run(["--help"])
    assert r.returncode == 0 and "--cgroup" in r.stdout and "--frequency" in r.stdout
    r = run(["--pid", "1", "--frequency", "5000"])
    assert r.returncode == 2 and "invalid --frequency '5000'" in r.stderr
    r = run(["--pid", "12x"])
    assert r.returncode == 2 and "invalid --pid" in r.stderr
    r = run(["--pid", "1", "--duration", "forever"])
    assert r.returncode == 2 and "invalid --duration" in r.stderr
    r = run(["--duration", "1s"])
    assert r.returncode == 2 and "exactly one of --pid or --cgroup" in r.stderr
    r = run(["--cgroup", "podprof-no-such-cgroup-" + secrets.token_hex(3)])
    assert r.returncode == 1 and "No such file or directory" in r.stderr
    r = run(["--pid", "2147483647", "--duration", "1s"])
    assert r.returncode == 1 and "no process with pid" in r.stderr
    if shutil.which("setpriv"):
        # An unprivileged user gets told which capabilities are missing.
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", worker, "record", "--pid", "1", "--duration",
                            "1s", "-o", str(tmp_path / "x.pb.gz")],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "CAP_BPF" in r.stderr, r.stderr


def test_ctrl_c_ends_early_with_profile(worker, workloads, cgroups, tmp_path):
    """Ctrl-C during a long recording stops it cleanly and still writes a readable profile."""
    cg = cgroups.child("sigint")
    cgroups.spawn([workloads["ratio"], "plain"], cg)
    out = str(tmp_path / "int.pb.gz")

    def interrupt(pid):
        time.sleep(1.5)
        os.kill(pid, signal.SIGINT)

    r = record(worker, ["--cgroup", cg, "--duration", "10m"], out, during=interrupt)
    assert r.rc == 0, r.stderr
    assert "interrupted" in r.stderr
    rows, total = pprof_top(out)
    assert total > 0 and "burn_major" in rows, sorted(rows)


def prog_runs(pid):
    """Total BPF run count of the programs a process holds (kernel.bpf_stats_enabled on)."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = f.read()
        except OSError:
            continue
        m = re.search(r"^prog_id:\s+(\d+)", info, re.M)
        if not m:
            continue
        out = subprocess.run(["bpftool", "-j", "prog", "show", "id", m.group(1)],
                             capture_output=True, text=True)
        if out.returncode == 0:
            total += json.loads(out.stdout).get("run_cnt", 0)
    return total


@pytest.fixture
def bpf_stats():
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        old = f.read().strip()
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write("1")
    yield
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write(old)


def test_unselected_tasks_run_no_bpf(worker, workloads, cgroups, tmp_path, bpf_stats):
    """A cgroup target gets perf events in cgroup mode: while only an unselected busy process
    runs, the job's program does not run at all (its run count stays flat); once a process
    starts in the target cgroup it does."""
    target, other = cgroups.child("quiet"), cgroups.child("busy")
    cgroups.spawn([workloads["busy"]], other)
    seen = {}

    def during(pid):
        time.sleep(0.5)
        a = prog_runs(pid)
        time.sleep(1.5)
        seen["idle"] = prog_runs(pid) - a
        cgroups.spawn([workloads["ratio"], "plain"], target)
        time.sleep(1.5)
        seen["busy"] = prog_runs(pid) - a - seen["idle"]

    r = record(worker, ["--cgroup", target, "--duration", "5s"], str(tmp_path / "q.pb.gz"),
               during=during)
    assert r.rc == 0, r.stderr
    print(seen)
    assert seen["idle"] == 0, f"{seen['idle']} program runs while no target task ran"
    assert seen["busy"] > 20, seen


def test_new_container_in_target_pod_sampled(worker, workloads, cgroups, tmp_path):
    """A pod-level cgroup target covers containers created after the window started."""
    pod = cgroups.child("pod")
    out = str(tmp_path / "pod.pb.gz")

    def during(_pid):
        time.sleep(0.3)
        ctr = os.path.join(pod, "ctr-late")
        os.mkdir(ctr)
        cgroups.spawn([workloads["ratio"], "plain"], ctr, realtime=True)

    r = record(worker, ["--cgroup", pod, "--duration", "3s"], out, during=during)
    assert r.rc == 0, r.stderr
    rows, total = pprof_top(out)
    assert total > 20 and "burn_major" in rows, sorted(rows)
