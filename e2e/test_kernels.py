# SPDX-License-Identifier: Apache-2.0
"""test_kernels.py -- the sampler on the kernels users run: Debian's 5.10, 6.1 and 6.12 in qemu.

Each kernel boots under TCG with an initramfs built here (kernelvm.py): busybox,
podprof-worker with its shared libraries, the test workloads and a verifier
statistics tool. The guest (kernels/init.sh) prints per kernel:
  - the paths the sampler takes there (BPF cookie or the sample-period
    fallback, the ancestor-cgroup helper or the CO-RE parent walk) and the
    verifier's verdict and processed-instruction count for every BPF program
    on those paths,
  - `podprof-worker features` (what the kernel has, what the sampler uses),
  - a 20 s, 499 Hz `podprof-worker record` of the 3:1 workload (split by
    work, `ratio work`: see e2e/workloads/ratio.c) in its own cgroup v2 next
    to a busy sibling cgroup, the workload built without frame pointers,
  - a 5 s record of a process (`--pid`) with kernel stacks and frame pointers
    only (the workload built with them, making system calls),
  - a 5 s `record --offcpu` of a thread sleeping 3:1 in two functions,
  - a 3 s `record --offcpu` of a spinner under a 10 % cgroup v2 `cpu.max`
    quota (the guest's hierarchy is pure v2 with the cpu controller), its
    profile sent to the host in base64: its time off CPU is `runnable`,
and this file checks them as e2e/test_record.py does on the host kernel:
the burn_major/burn_minor split within 5 points of 75/25, a floor on the
sample count, nothing from the sibling, the stacks unwound (by the worker's
.eh_frame tables) up to main; in the second run kernel frames under the
system calls and frame-pointer stacks up to main (both job flags arrived:
without cookies they ride in the sample period); and that the worker logged,
one line each, the fallbacks EXPECTED_FALLBACKS says the kernel needs.

A kernel the sampler cannot run on yet fails, unless it is listed in
EXPECTED_FAILURES with the kernel features it lacks; then the test checks that
the worker refused with one line naming exactly those features (not a
verifier dump) and reports it as XFAIL. A listed kernel that passes fails the
run, so the list cannot go stale.
"""

import base64
import concurrent.futures
import os
import re
import subprocess

import pytest

import kernelvm
import pprofread

HERE = os.path.dirname(os.path.abspath(__file__))
HZ = 499  # as kernels/init.sh records, for 20 s
# Fewer samples and the split check below is noise: at 600 the binomial
# standard deviation of a 75% share is 1.8 points, the tolerance 5.
MIN_SAMPLES = 600

KERNELS = [
    kernelvm.Kernel("5.10", "bullseye"),
    kernelvm.Kernel("6.1", "bookworm"),
    kernelvm.Kernel("6.12", "bookworm-backports"),
]

# Kernels the sampler cannot run on today, with the kernel features (as
# podprof-worker names them, worker/kfeatures.c) that it lacks. The worker
# must refuse on them with one line naming these. See docs/install.md.
# None today: 5.10 runs with the fallbacks below.
EXPECTED_FAILURES = {}

# The features (worker/kfeatures.c names) each kernel lacks and the worker
# replaces with a fallback, saying so in one log line each at start
# ("kfeatures: no NAME (Linux X+): what it does instead"). Exactly these:
# a kernel that gains or loses one fails the check, so the list stays true.
EXPECTED_FALLBACKS = {
    "5.10": [
        "bpf_get_current_ancestor_cgroup_id in perf_event programs",
        "BPF cookies on perf links (bpf_get_attach_cookie)",
    ],
    "6.1": [],
    "6.12": [],
}
# main's share of the samples (total%): the stacks of the workload, built
# without frame pointers, must reach it.
MIN_MAIN_SHARE = 0.95
# Kernel functions every system call passes through (as in test_record.py).
KERNEL_SYSCALL_FRAMES = ("do_syscall_64", "entry_SYSCALL_64_after_hwframe", "entry_SYSCALL_64",
                         "__x64_sys_getppid")

# Kernels whose sched_switch tracepoint lacks prev_state (before 5.18): the
# worker does not load the off-CPU programs there and `record --offcpu` must
# refuse in one line. (Reached once the kernel runs the CPU sampler.)
OFFCPU_REFUSED = {"5.10"}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the initramfs build reads root-only files")


@pytest.fixture(scope="session")
def initramfs(build_dir, tmp_path_factory):
    worker = os.path.join(build_dir, "podprof-worker")
    bpf_obj = os.path.join(build_dir, "gen", "profile.bpf.o")
    for f in (worker, bpf_obj):
        if not os.path.exists(f):
            pytest.fail(f"{f} missing: run `make all` first")
    d = tmp_path_factory.mktemp("guest")
    bins = {}
    # ratio without frame pointers: its stacks reach main only through the
    # unwind tables the worker builds from .eh_frame.
    for name, src, extra in (
            ("ratio", os.path.join(kernelvm.WORKLOADS, "ratio.c"), ["-fomit-frame-pointer"]),
            ("ratio-fp", os.path.join(kernelvm.WORKLOADS, "ratio.c"), ["-fno-omit-frame-pointer"]),
            ("busy", os.path.join(kernelvm.WORKLOADS, "busy.c"), ["-fno-omit-frame-pointer"]),
            ("offcpu", os.path.join(kernelvm.WORKLOADS, "offcpu.c"), ["-pthread"]),
            ("verifier-stats", os.path.join(kernelvm.GUEST, "verifier_stats.c"),
             ["-fno-omit-frame-pointer", "-lbpf"])):
        out = str(d / name)
        subprocess.run(["cc", "-O1", "-std=gnu11", "-o", out, src, *extra], check=True)
        bins["/bin/" + name] = out
    return kernelvm.build_initramfs({
        **bins, "/bin/podprof-worker": worker, "/podprof/profile.bpf.o": bpf_obj})


@pytest.fixture(scope="session")
def consoles(initramfs, request):
    """Boot every selected kernel once (`-k 5.10` boots only that one), one at a time
    (two guests at once starve each other's timer interrupts on a 2-core host), and
    keep each one's console output."""
    def run(k):
        return kernelvm.boot(kernelvm.fetch_kernel(k), initramfs)

    selected = {item.callspec.params["kernel"].name for item in request.session.items
                if hasattr(item, "callspec") and "kernel" in item.callspec.params}
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        futs = {k.name: pool.submit(run, k) for k in KERNELS if k.name in selected}
        return {name: f for name, f in futs.items()}


class GuestResult:
    """The "@@" lines of one guest, by key."""

    def __init__(self, console):
        self.console = console
        self.lines = kernelvm.results(console)

    def one(self, key, default=None):
        for k, v in self.lines:
            if k == key:
                return v
        return default

    def all(self, key):
        return [v for k, v in self.lines if k == key]


def top_table(out_lines, total=False):
    """{function: self samples} from the record's top-functions table
    (with total: {function: total share, 0..1})."""
    rows = {}
    for line in out_lines:
        m = re.match(r"^\s*[\d.]+%\s+([\d.]+)%\s+(\d+)\s+(.+)$", line)
        if m:
            rows[m.group(3).strip()] = float(m.group(1)) / 100 if total else int(m.group(2))
    return rows


def fallbacks_logged(err_lines):
    """The features the worker said it replaces with a fallback ("kfeatures: no NAME (Linux")."""
    out = []
    for line in err_lines:
        m = re.search(r"kfeatures: no (.+?) \(Linux [\d.]+\+\): ", line)
        if m:
            out.append(m.group(1))
    return out


def report(kernel, res):
    """The matrix row, printed for the log (and quoted in docs/install.md)."""
    print(f"\n=== kernel {kernel.name}: {res.one('kernel', '?')} "
          f"({kernelvm.kernel_package(kernel)}), {res.one('cpus', '?')} vCPUs, "
          f"BTF {res.one('btf', '?')}")
    for v in res.all("verifier"):
        print(f"  verifier: {v}")
    for v in res.all("verifier-prealloc"):
        print(f"  verifier, maps preallocated: {v}")
    print(f"  perf_event_paranoid at boot: {res.one('perf-event-paranoid', '?')}")
    for v in res.all("features"):
        print(f"  features: {v}")
    print(f"  record rc={res.one('record-rc', '?')}")
    for v in res.all("out"):
        print(f"  record: {v}")
    for v in res.all("err"):
        if "ERROR" in v or "error" in v or "kfeatures: no " in v:
            print(f"  record stderr: {v}")
    print(f"  record --pid --kernel-stacks --unwinder framepointer rc={res.one('record2-rc', '?')}")
    for v in res.all("out2"):
        print(f"  record 2: {v}")
    for v in res.all("err2"):
        if "ERROR" in v or "error" in v:
            print(f"  record 2 stderr: {v}")


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
def test_record_on_kernel(kernel, consoles):
    console = consoles[kernel.name].result()
    res = GuestResult(console)
    assert res.one("end") is not None, f"kernel {kernel.name}: the guest did not finish:\n{console[-4000:]}"
    report(kernel, res)
    assert res.one("btf") == "yes", f"kernel {kernel.name}: no BTF"
    feats = res.all("features")
    if int(res.one("perf-event-paranoid", "0")) > 2:
        # Debian's default: the worker must say what to set, in one line.
        assert any("kernel.perf_event_paranoid is" in v and "set it to 2" in v for v in feats), \
            f"kernel {kernel.name}: no one-line refusal for perf_event_paranoid:\n" + "\n".join(feats)
    rc = int(res.one("record-rc", "-1"))
    err_lines = res.all("err")

    if kernel.name in EXPECTED_FAILURES:
        missing = EXPECTED_FAILURES[kernel.name]
        assert rc != 0, (f"kernel {kernel.name} is listed in EXPECTED_FAILURES ({missing}) but "
                         f"record passed: take it off the list")
        refusals = [line for line in err_lines if "kfeatures:" in line and "lacks" in line]
        assert len(refusals) == 1, f"kernel {kernel.name}: no one-line refusal:\n" + "\n".join(err_lines)
        for feat in missing:
            assert feat in refusals[0], f"kernel {kernel.name}: refusal does not name {feat!r}: {refusals[0]}"
        assert not any("libbpf:" in line for line in err_lines), \
            f"kernel {kernel.name}: a verifier dump instead of the one-line refusal"
        pytest.xfail(f"kernel {kernel.name} lacks: {'; '.join(missing)}")

    progs = [v for v in res.all("verifier") if v.startswith("prog ")]
    skipped = [v for v in progs if " skipped:" in v]
    # Off-CPU programs are not loaded where sched_switch lacks prev_state (before 5.18).
    assert not skipped or kernel.name in OFFCPU_REFUSED, f"kernel {kernel.name}: {skipped}"
    progs = [v for v in progs if v not in skipped]
    assert progs and all(" ok" in v for v in progs), \
        f"kernel {kernel.name}: the verifier refused the BPF program: {res.all('verifier')}"
    assert rc == 0, f"kernel {kernel.name}: record failed (rc {rc}):\n" + "\n".join(err_lines)
    want = EXPECTED_FALLBACKS.get(kernel.name, [])
    said = fallbacks_logged(err_lines)
    print(f"  check: fallbacks logged: {said or 'none'}")
    assert sorted(said) == sorted(want), \
        f"kernel {kernel.name}: the worker logged the fallbacks {said}, expected {want}"
    out = res.all("out")
    rows = top_table(out)
    assert "burn_major" in rows and "burn_minor" in rows, f"kernel {kernel.name}: {out}"
    major, minor = rows["burn_major"], rows["burn_minor"]
    share = major / (major + minor)
    total = int(re.search(r"samples: (\d+)", " ".join(out)).group(1))
    start, stop = (int(x) for x in res.one("target-cpu-us", "0 0").split())
    cpu_s = (stop - start) / 1e6
    print(f"  check: burn_major {major} burn_minor {minor} share {share:.3f}; {total} samples; "
          f"the guest counted {cpu_s:.1f} s CPU for the target ({HZ * cpu_s:.0f} samples' worth)")
    # Only a floor on the count: under TCG the guest counts the time the host
    # had its vCPU descheduled as CPU time, and timer interrupts arrive late on
    # a loaded host (measured: 15-60% of that worth), so the cgroup's CPU time
    # is no yardstick here.
    assert total >= MIN_SAMPLES, (f"kernel {kernel.name}: {total} samples, want >= {MIN_SAMPLES} "
                                  f"(a host too busy to run the guest's vCPUs also gives this)")
    assert abs(share - 0.75) <= 0.05, f"kernel {kernel.name}: split {share:.3f}, want 0.75 +- 0.05"
    print(f"  check: sibling cgroup {'sampled' if 'sibling_spin' in rows else 'not sampled'}, "
          f"its workload {'still running' if res.one('sibling-running') == 'yes' else 'gone'}")
    assert "sibling_spin" not in rows, f"kernel {kernel.name}: the sibling cgroup was sampled"
    assert res.one("sibling-running") == "yes", "the sibling workload died: the check proves nothing"
    main = top_table(out, total=True).get("main", 0.0)
    print(f"  check: main in {main:.1%} of the stacks (workload without frame pointers)")
    assert main >= MIN_MAIN_SHARE, \
        f"kernel {kernel.name}: main in {main:.1%} of the stacks, want >= {MIN_MAIN_SHARE:.0%}"

    # The second run: a process target, kernel stacks, frame pointers only.
    rc2 = int(res.one("record2-rc", "-1"))
    assert rc2 == 0, f"kernel {kernel.name}: record --pid failed (rc {rc2}):\n" + "\n".join(res.all("err2"))
    out2 = res.all("out2")
    rows2, total2 = top_table(out2), top_table(out2, total=True)
    kframes = [f for f in rows2 if f in KERNEL_SYSCALL_FRAMES]
    print(f"  check: --pid run: kernel frames {kframes}, main in {total2.get('main', 0.0):.1%}")
    assert "burn_major" in rows2 and "burn_minor" in rows2, f"kernel {kernel.name}: {out2}"
    assert kframes, f"kernel {kernel.name}: --kernel-stacks gave no kernel frames: {out2}"
    assert total2.get("main", 0.0) >= MIN_MAIN_SHARE, \
        f"kernel {kernel.name}: frame-pointer stacks reach main in {total2.get('main', 0.0):.1%}: {out2}"
    assert "sibling_spin" not in rows2, f"kernel {kernel.name}: --pid sampled the sibling"

    # Off CPU: record --offcpu of a thread sleeping 60 ms in sleep_major, 20 ms in sleep_minor.
    off_rc = int(res.one("offcpu-rc", "-1"))
    off = res.all("offout")
    for v in off:
        print(f"  offcpu: {v}")
    if kernel.name in OFFCPU_REFUSED:
        offerr = res.all("offerr")
        assert off_rc != 0 and any("off-CPU profiling needs Linux 5.18+" in v for v in offerr), \
            f"kernel {kernel.name}: no clear off-CPU refusal:\n" + "\n".join(offerr)
        return
    assert off_rc == 0, f"kernel {kernel.name}: record --offcpu failed:\n" + "\n".join(res.all("offerr"))
    shares = top_table(off, total=True)
    assert "sleep_major" in shares and "sleep_minor" in shares, f"kernel {kernel.name}: {off}"
    off_share = shares["sleep_major"] / (shares["sleep_major"] + shares["sleep_minor"])
    print(f"  check: off CPU, sleep_major share {off_share:.3f}")
    # Looser than on the host (3 points): under TCG the guest's wake-ups come late.
    assert abs(off_share - 0.75) <= 0.08, f"kernel {kernel.name}: off-CPU split {off_share:.3f}"

    # Throttled: a spinner under a 10 % cgroup v2 cpu.max quota (the guest's
    # hierarchy is pure v2, unlike the hosts' hybrid one) is off CPU while
    # runnable, in spin_forever.
    trc = res.one("throttle-rc", "-1")
    assert trc == "0", f"kernel {kernel.name}: throttled record --offcpu, rc {trc}:\n" + \
        "\n".join(res.all("throterr"))
    prof = pprofread.Profile(base64.b64decode("".join(res.all("throtpb"))))
    blocked = sum(s.values[0] for s in prof.samples)
    runnable = sum(s.values[0] for s in prof.samples if s.labels.get("state") == "runnable")
    spin = sum(s.values[0] for s in prof.samples
               if s.labels.get("state") == "runnable" and "spin_forever" in s.frames)
    print(f"  check: throttled, runnable {runnable / 1e6:.0f} ms of {blocked / 1e6:.0f} ms off CPU, "
          f"in spin_forever {spin / 1e6:.0f} ms")
    # 90 % of the 3 s throttled; 70 % leaves room for the window's edges (as on the host).
    assert runnable >= 0.7 * 3e9 and runnable >= 0.95 * blocked and spin == runnable, \
        f"kernel {kernel.name}: throttled: runnable {runnable}, blocked {blocked}, in spin_forever {spin}"
