# SPDX-License-Identifier: Apache-2.0
"""test_pprof_reader.py -- profiles podprof writes open in an independent
pprof reader (`go tool pprof` from the Go toolchain) with the same function
names, counts, labels and metadata that podprof itself computes.

The profiles come from two unit tests that write their profile to a path
given in an environment variable: a hand-built profile with known counts
(test_pprof.c) and one made of frames the symbolizer resolved in the test
process itself: a kernel function, a function of the PIE test binary and
libc's getpid (test_symbolize.c).
"""

import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP_ROW = re.compile(r"^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+(.+?)\s*$")


def _go():
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(go):
        pytest.fail("the Go toolchain is required for this test (go tool pprof)")
    return go


@pytest.fixture(scope="module")
def unit_tests(build_dir):
    path = os.path.join(build_dir, "unit-tests")
    if not os.path.exists(path):
        pytest.fail(f"{path} missing: run `make unit` (or make e2e, which builds it)")
    return path


def _write_profile(unit_tests, tmp_path, test_name, env_var):
    out = tmp_path / f"{test_name}.pb.gz"
    env = dict(os.environ, **{env_var: str(out)})
    res = subprocess.run([unit_tests, test_name], env=env, capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed, 0 failed" in res.stdout, res.stdout
    assert out.stat().st_size > 0
    return out


def _pprof(tmp_path, *args):
    # PPROF_TMPDIR under tmp_path: pprof may write files there. HOME stays:
    # the go command caches its built tools under it.
    env = dict(os.environ, PPROF_TMPDIR=str(tmp_path), GOTOOLCHAIN="local")
    res = subprocess.run([_go(), "tool", "pprof", *args], env=env, capture_output=True,
                         text=True, cwd=str(tmp_path), timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _top(tmp_path, profile):
    rows = {}
    for line in _pprof(tmp_path, "-top", "-sample_index=samples", str(profile)).splitlines():
        m = TOP_ROW.match(line)
        if m:
            rows[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return rows


def test_go_pprof_reads_known_profile(unit_tests, tmp_path):
    """go tool pprof -top shows our functions with our self/total counts."""
    prof = _write_profile(unit_tests, tmp_path, "pprof_write_known_profile", "PODPROF_PPROF_OUT")
    rows = _top(tmp_path, prof)
    assert rows["hot"] == (360, 360)
    assert rows["cold"] == (100, 100)
    assert rows["fib"] == (20, 20)  # recursion counted once in cum
    assert rows["main"] == (0, 487)
    # The unsymbolized libc frame is kept (pprof names it by its mapping).
    assert sum(flat for flat, _ in rows.values()) == 487


def test_go_pprof_reads_metadata(unit_tests, tmp_path):
    """Sample types, period, duration, mappings with build ID read back."""
    prof = _write_profile(unit_tests, tmp_path, "pprof_write_known_profile", "PODPROF_PPROF_OUT")
    raw = _pprof(tmp_path, "-raw", str(prof))
    assert "PeriodType: cpu nanoseconds" in raw
    assert "Period: 10101010" in raw
    assert "Duration: 5s" in raw
    assert "samples/count cpu/nanoseconds" in raw
    assert re.search(r"\s300 3030303000: \d+ \d+", raw), raw  # hot, pod a: 300 * period
    assert re.search(r"/usr/bin/app abcdef0123", raw), raw
    assert re.search(r"0x7f000000/0x7f100000/0x0 /lib/libc.so.6", raw), raw


def test_go_pprof_reads_labels(unit_tests, tmp_path):
    """pod and pid labels are visible to pprof -tags with their shares."""
    prof = _write_profile(unit_tests, tmp_path, "pprof_write_known_profile", "PODPROF_PPROF_OUT")
    tags = _pprof(tmp_path, "-tags", "-sample_index=samples", str(prof))
    pod = tags[tags.index("pod:"):]
    assert re.search(r"\b420 \(\s*86\.24%\): a\b", pod), tags
    assert re.search(r"\b67 \(\s*13\.76%\): b\b", pod), tags
    pid = tags[tags.index("pid:"):]
    assert re.search(r": 42\b", pid) and re.search(r": 43\b", pid), tags


def test_go_pprof_reads_symbolized_frames(unit_tests, tmp_path):
    """Frames resolved by the symbolizer (kernel, PIE binary, libc) read back by name."""
    prof = _write_profile(unit_tests, tmp_path, "symbolize_write_symbolized_profile",
                          "PODPROF_SYMBOLIZED_OUT")
    rows = _top(tmp_path, prof)
    assert rows["schedule"] == (5, 5)
    assert rows["symbolize_target_fn"] == (3, 8)
    getpid = [name for name in rows if "getpid" in name]
    assert getpid and rows[getpid[0]] == (0, 8), rows
