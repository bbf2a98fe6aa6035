# SPDX-License-Identifier: Apache-2.0
"""test_unwind.py -- user stacks of software built without frame pointers reach the process entry.

Workloads with known call chains are compiled here (with and without frame
pointers, a frameless leaf, deep recursion, a shared library, dlopen and exec
mid-window) and recorded with `podprof-worker record`; every sample's stack
is compared frame by frame with the chain the program really runs, read back
with an independent pprof reader (e2e/pprofread.py). Debian's own binaries
(gzip, xz, python3), built without frame pointers, must reach `_start` in
>= 95 % of samples. Workloads run SCHED_FIFO where allowed so a busy shared
machine still gives them CPU; thresholds are ratios of samples, never times.
"""

import os
import shutil
import subprocess

import pytest

import pprofread
from test_record import cgroups, record, worker  # noqa: F401 (cgroups, worker: fixtures)

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "workloads")
# The process entry: libc's start code calls main through __libc_start_call_main (a
# local symbol Debian strips), under __libc_start_main and the program's _start. A
# stack reaches the entry when it holds __libc_start_main and ends without a marker.
ENTRY = "__libc_start_main"
TRUNC = "[truncated"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="real eBPF needs root")


@pytest.fixture(scope="module")
def bins(tmp_path_factory):
    d = tmp_path_factory.mktemp("unwind")
    nofp = ["-O2", "-fomit-frame-pointer"]
    fp_leafless = ["-O2", "-fno-omit-frame-pointer", "-momit-leaf-frame-pointer"]

    def cc(out, src, flags, extra=()):
        subprocess.run(["cc", *flags, "-o", str(d / out), os.path.join(WORKLOADS, src), *extra],
                       check=True)
        return str(d / out)

    out = {
        "libunwlib": cc("libunwlib.so", "unwlib.c", nofp + ["-shared", "-fPIC"]),
        "libunwdl": cc("libunwdl.so", "unwlib.c", nofp + ["-shared", "-fPIC", "-DDL"]),
        "after": cc("unwexec", "unwexec.c", nofp),
    }
    link = [f"-L{d}", "-lunwlib", f"-Wl,-rpath,{d}", "-ldl"]
    out["nofp"] = cc("unwind-nofp", "unwind.c", nofp, link)
    out["fp"] = cc("unwind-fp", "unwind.c", fp_leafless, link)
    # Call frame information only in .debug_frame (its .eh_frame holds the C
    # runtime's start code only), as toolchains without asynchronous unwind
    # tables emit it.
    out["dbgframe"] = cc("unwind-dbgframe", "unwind.c",
                         nofp + ["-g", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"], link)
    return out


def run(worker, cgroups, tmp_path, argv, secs=4, args=(), during=None):
    cg = cgroups.child(f"w{len(cgroups.procs)}")
    p = cgroups.spawn(argv, cg, realtime=True)
    out = str(tmp_path / f"unwind{len(cgroups.procs)}.pb.gz")
    r = record(worker, ["--cgroup", cg, "--duration", f"{secs}s", *args], out, during=during)
    assert r.rc == 0, r.stderr
    return p, pprofread.Profile(out).stacks()


def at_entry(f):
    return ENTRY in f[-3:] and not f[-1].startswith(TRUNC)


def share(stacks, pred):
    total = sum(v for _, v in stacks)
    return sum(v for f, v in stacks if pred(f)) / total if total else 0.0, total


def report(name, stacks):
    reached, total = share(stacks, at_entry)
    print(f"{name}: {total} samples, {reached:.1%} reach {ENTRY}")
    for f, v in sorted(stacks, key=lambda s: -s[1])[:5]:
        print(f"  {v:5d}  {' <- '.join(f)}")
    return reached, total


CHAIN = ["leaf", "middle", "outer", "run_chain", "main"]


@pytest.mark.parametrize("build", ["nofp", "fp", "dbgframe"])
def test_chain_reaches_entry(worker, bins, cgroups, tmp_path, build):
    """-O2 without frame pointers, with them but a frameless leaf, and with CFI only in
    .debug_frame: every sample in leaf has exactly leaf <- middle <- outer <- run_chain <- main
    under it and ends at _start."""
    _, stacks = run(worker, cgroups, tmp_path, [bins[build], "chain", "30"])
    reached, total = report(build, stacks)
    assert total >= 20, "too few samples to judge"
    in_leaf = [(f, v) for f, v in stacks if f[0] == "leaf"]
    good, n_leaf = share(in_leaf, lambda f: f[:5] == CHAIN and at_entry(f))
    assert n_leaf >= 0.8 * total
    assert good >= 0.95, f"only {good:.1%} of leaf samples have the full chain"
    assert reached >= 0.95
    # Nothing in between that is not on the real chain (libc's start code aside).
    for f, v in stacks:
        if at_entry(f) and f[0] == "leaf":
            assert "main" in f and f.index("main") == 4, f


def test_deep_recursion(worker, bins, cgroups, tmp_path):
    """60 nested calls walk through several program runs (tail calls) to _start; 300 stop at
    the depth cap with a marked frame, never silently."""
    _, stacks = run(worker, cgroups, tmp_path, [bins["nofp"], "recurse", "60", "30"])
    reached, total = report("recurse 60", stacks)
    assert total >= 20
    assert reached >= 0.95
    full = [f for f, _ in stacks if at_entry(f) and f[0] == "leaf"]
    assert full and all(f.count("rec") == 60 for f in full), [f.count("rec") for f in full][:5]

    _, stacks = run(worker, cgroups, tmp_path, [bins["nofp"], "recurse", "300", "30"], secs=2)
    marked, total = share(stacks, lambda f: f[-1] == "[truncated: too deep]")
    assert total >= 10 and marked >= 0.95, stacks[:3]
    assert all(len(f) == 128 for f, _ in stacks if f[-1] == "[truncated: too deep]")


def test_shared_library_without_frame_pointers(worker, bins, cgroups, tmp_path):
    """CPU in a -O2 shared library: lib_leaf <- lib_middle <- outer_lib <- main <- ... _start."""
    _, stacks = run(worker, cgroups, tmp_path, [bins["nofp"], "lib", "30"])
    reached, total = report("lib", stacks)
    in_leaf = [(f, v) for f, v in stacks if f[0] == "lib_leaf"]
    good, n = share(in_leaf, lambda f: f[:4] == ["lib_leaf", "lib_middle", "outer_lib", "main"]
                    and at_entry(f))
    assert n >= 20 and good >= 0.95
    assert reached >= 0.95


def test_dlopen_mid_window(worker, bins, cgroups, tmp_path):
    """A library loaded after sampling began is learnt (the program reports the unknown
    mapping) and its frames unwind fully; samples before that are marked, never wrong."""
    _, stacks = run(worker, cgroups, tmp_path, [bins["nofp"], "dlopen", "30", bins["libunwdl"]],
                    secs=5)
    report("dlopen", stacks)
    dl = [(f, v) for f, v in stacks if f[0] == "dl_leaf"]
    good, n = share(dl, lambda f: f[:4] == ["dl_leaf", "dl_middle", "outer_lib", "main"]
                    and at_entry(f))
    assert n >= 20, f"{n} samples in the dlopen'd library"
    assert good >= 0.8, f"{good:.1%}"
    for f, _ in stacks:  # every stack is either complete or ends in a marker
        assert at_entry(f) or f[-1].startswith(TRUNC), f


def test_exec_mid_window(worker, bins, cgroups, tmp_path):
    """exec replaces the address space: the old maps are dropped at once (the program sees the
    new mm), the new program's stacks are complete and never mix in the old program's names."""
    _, stacks = run(worker, cgroups, tmp_path,
                    [bins["nofp"], "exec", "1.5", bins["after"], "30"], secs=5)
    report("exec", stacks)
    after = [(f, v) for f, v in stacks if f[0] == "after_leaf"]
    good, n = share(after, lambda f: f[:3] == ["after_leaf", "after_outer", "main"]
                    and at_entry(f))
    assert n >= 20 and good >= 0.8, f"{n} samples, {good:.1%} complete"
    before = {"leaf", "middle", "outer"}
    for f, _ in stacks:
        assert not (before & set(f) and "after_leaf" in f), f
        assert at_entry(f) or f[-1].startswith(TRUNC), f


@pytest.mark.parametrize("prog", ["gzip", "xz"])
def test_debian_binaries(worker, cgroups, tmp_path, prog):
    """Debian's gzip and xz (liblzma), built without frame pointers, reach the entry in >= 95 %."""
    if not shutil.which(prog):
        pytest.fail(f"{prog} missing (installed by make deps)")
    # Long-lived Debian processes without frame pointers: seq feeding the compressor.
    level = "-6" if prog == "gzip" else "-9 -T1"
    script = f"sleep 0.3; seq 1 2000000000 | {prog} {level} > /dev/null"
    _, stacks = run(worker, cgroups, tmp_path, ["sh", "-c", script], secs=4)
    reached, total = report(prog, stacks)
    assert total >= 20
    assert reached >= 0.95, f"{reached:.1%} reach {ENTRY}"


def test_debian_python(worker, cgroups, tmp_path):
    """Debian's python3 (no frame pointers) reaches _start through its Python frames in >= 95 %."""
    py = "/usr/bin/python3"
    if not os.path.exists(py):
        pytest.fail("Debian's python3 missing (installed by make deps)")
    code = ("def c(n):\n s=0\n for i in range(n): s+=i*i\n return s\n"
            "def b(n): return c(n)\ndef a(n): return b(n)\nwhile True: a(100000)\n")
    _, stacks = run(worker, cgroups, tmp_path, [py, "-c", code], secs=4)
    reached, total = report("python3", stacks)
    assert total >= 20
    assert reached >= 0.95
    # The eval loop's frames are replaced by the Python frames they run (test_python.py).
    pyframes, _ = share(stacks, lambda f: "a" in f and "b" in f and f.index("b") < f.index("a"))
    assert pyframes >= 0.9


def test_frame_pointer_mode(worker, bins, cgroups, tmp_path):
    """--unwinder framepointer walks frame pointers only: the -O2 build without them stops at
    the leaf's caller chain it cannot see, the frame-pointer build still reaches main."""
    _, stacks = run(worker, cgroups, tmp_path, [bins["fp"], "chain", "30"], secs=3,
                    args=["--unwinder", "framepointer"])
    mains, total = share(stacks, lambda f: "main" in f and "outer" in f)
    assert total >= 20 and mains >= 0.9, stacks[:3]
