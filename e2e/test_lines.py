# SPDX-License-Identifier: Apache-2.0
"""test_lines.py -- profiles point at source lines: `podprof-worker record` of a -g program
gives the exact file:line of a hot loop and of an inlined callee (one Location, inline level
first), read back by `go tool pprof -lines -symbolize=none` (so pprof adds nothing itself).

The debug info is in the binary, split off next to it by `objcopy --only-keep-debug` +
`--add-gnu-debuglink`, or kept only under a --debug-dir by build ID with the binary fully
stripped (names come from the debug file then). libc's own frame is named with file:line from
Debian's separate debug file (libc6-dbg, installed by `make deps`). Expected line numbers are
read from LINE-* markers in the workload's source, never written here.
"""

import os
import re
import shutil
import subprocess

import pytest

from test_record import Cgroups, pprof, record, worker  # noqa: F401 (worker: a fixture)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "workloads", "lines.c")
DURATION = "3s"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="real eBPF needs root")


def marker_lines(tag):
    with open(SOURCE) as f:
        return {i for i, line in enumerate(f, 1) if re.search(r"/\* " + tag + r" \*/", line)}


def traces(path):
    """[(samples, [(function, file, line, inline)])] leaf first, from -traces -lines."""
    out = pprof("-traces", "-lines", "-symbolize=none", path)
    result = []
    for block in out.split("-----------+")[1:]:
        value, frames = None, []
        for line in block.splitlines()[1:]:
            m = re.match(r"^\s*(\d+)?\s+(\S+) (\S+):(\d+)( \(inline\))?\s*$", line)
            if not m:
                continue
            if m.group(1) is not None:
                value = int(m.group(1))
            frames.append((m.group(2), m.group(3), int(m.group(4)), bool(m.group(5))))
        if value is not None and frames:
            result.append((value, frames))
    return result


def mapping_flags(path, binary):
    out = pprof("-raw", "-symbolize=none", path)
    m = re.search(re.escape(binary) + r" \S* ?(\[.*)$", out, re.M)
    return m.group(1) if m else ""


@pytest.fixture(scope="session")
def variants(tmp_path_factory):
    """{name: (binary, extra worker args)} for the three places debug info can be."""
    d = tmp_path_factory.mktemp("lines")
    full = str(d / "lines_full")
    subprocess.run(["cc", "-g", "-O2", "-fno-omit-frame-pointer", "-o", full, SOURCE],
                   check=True)
    linked = str(d / "lines_linked")
    subprocess.run(["objcopy", "--only-keep-debug", full, str(d / "lines_linked.debug")],
                   check=True)
    subprocess.run(["objcopy", "--strip-debug", "--add-gnu-debuglink=lines_linked.debug",
                    full, "lines_linked"], check=True, cwd=str(d))
    stripped = str(d / "lines_stripped")
    subprocess.run(["objcopy", "--strip-all", full, stripped], check=True)
    notes = subprocess.run(["readelf", "-n", stripped], check=True, capture_output=True,
                           text=True).stdout
    build_id = re.search(r"Build ID: ([0-9a-f]+)", notes).group(1)
    dbg = d / "debug"
    (dbg / ".build-id" / build_id[:2]).mkdir(parents=True)
    subprocess.run(["objcopy", "--only-keep-debug", full,
                    str(dbg / ".build-id" / build_id[:2] / (build_id[2:] + ".debug"))],
                   check=True)
    nm = subprocess.run(["nm", stripped], capture_output=True, text=True)
    assert "plain_loop" not in nm.stdout  # names must come from the debug file
    return {"in-binary": (full, []), "debuglink": (linked, []),
            "build-id": (stripped, ["--debug-dir", str(dbg)])}


@pytest.mark.parametrize("variant", ["in-binary", "debuglink", "build-id"])
def test_hot_loop_and_inlined_callee_lines(worker, variants, variant, tmp_path):
    """>= 90 % of the samples in each hot function sit on its marked lines; the inlined callee
    is an inline level of its caller at the marked call line; libc's frame has its source."""
    binary, extra = variants[variant]
    cg = Cgroups()
    try:
        proc = cg.spawn([binary], realtime=True)
        out = str(tmp_path / "lines.pb.gz")
        r = record(worker, ["--pid", str(proc.pid), "--duration", DURATION, *extra], out)
    finally:
        cg.close()
    assert r.rc == 0, r.stderr
    mix_lines, plain_lines = marker_lines("LINE-MIX"), marker_lines("LINE-PLAIN")
    (call_line,) = marker_lines("LINE-CALL-MIX")
    mix = plain = mix_ok = plain_ok = libc = 0
    for n, frames in traces(out):
        fn, path, line, inline = frames[0]
        if fn == "mix":
            mix += n
            caller = frames[1] if len(frames) > 1 else (None, None, 0, False)
            if path.endswith("workloads/lines.c") and line in mix_lines and inline and \
                    caller[0] == "inlined_caller" and caller[2] == call_line:
                mix_ok += n
        elif fn == "plain_loop":
            plain += n
            if path.endswith("workloads/lines.c") and line in plain_lines:
                plain_ok += n
        if any(f[0] == "__libc_start_call_main" and "libc_start_call_main" in f[1]
               for f in frames):
            libc += n
    print(f"{variant}: mix {mix_ok}/{mix} plain_loop {plain_ok}/{plain} libc-lines {libc}")
    assert mix >= 10 and plain >= 5, (mix, plain, r.stdout)
    assert mix_ok >= 0.9 * mix, f"mix on marked lines in {mix_ok} of {mix} samples"
    assert plain_ok >= 0.9 * plain, f"plain_loop on marked lines in {plain_ok} of {plain}"
    assert libc >= 0.9 * (mix + plain), f"__libc_start_call_main with source in {libc}"
    flags = mapping_flags(out, os.path.basename(binary))
    assert flags == "[FN][FL][LN][IN]", flags


def test_stripped_go_binary_lines(worker, tmp_path):
    """A Go binary linked with -s (no .symtab, no DWARF) is named with file:line from its
    .gopclntab: >= 90 % of main.hotLoop's samples on its marked loop lines."""
    src = os.path.join(HERE, "workloads", "gohot.go")
    binary = str(tmp_path / "gohot")
    go = shutil.which("go") or "/usr/local/go/bin/go"
    subprocess.run([go, "build", "-ldflags=-s", "-o", binary, src], check=True,
                   env=dict(os.environ, GOTOOLCHAIN="local", GOFLAGS=""), cwd=str(tmp_path))
    sections = subprocess.run(["readelf", "-S", "-W", binary], check=True, capture_output=True,
                              text=True).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections
    with open(src) as f:
        loop_lines = {i for i, line in enumerate(f, 1) if "// LINE-GO-LOOP" in line}
    cg = Cgroups()
    try:
        proc = cg.spawn([binary], realtime=True)
        out = str(tmp_path / "go.pb.gz")
        r = record(worker, ["--pid", str(proc.pid), "--duration", DURATION], out)
    finally:
        cg.close()
    assert r.rc == 0, r.stderr
    hot = ok = 0
    for n, frames in traces(out):
        fn, path, line, _ = frames[0]
        if fn == "main.hotLoop":
            hot += n
            ok += n if path.endswith("gohot.go") and line in loop_lines else 0
    print(f"go: main.hotLoop on marked lines {ok}/{hot}")
    assert hot >= 10, r.stdout
    assert ok >= 0.9 * hot, f"main.hotLoop on marked lines in {ok} of {hot}"
