#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""symbol.py -- symbolization speed of the worker's symbolizer on a large -g binary.

Generates a C program with --functions non-inlined functions (each a distinct
symbol with its own source line), compiles it as a PIE with -g (DWARF line
tables), runs it (it prints the runtime address of every function, then
calls them all in a loop), and runs bench/symbench (built by run.sh against
build/libworker.a) on those addresses: frames per second cold (fresh
symbolizer and symbol cache: /proc/PID/maps, the ELF symbol table and the
line tables loaded inside the timed part), with a warm cache (a new
symbolizer, as the next job meets it) and warm (same symbolizer again), and
symbench's RSS with the line tables loaded; also kernel addresses from
/proc/kallsyms. Best of --repeats. Then `podprof-worker record` profiles the
program for --record-secs: the worker's peak RSS (VmHWM, polled) with the
binary's line tables loaded, and its symbol cache line.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import benchlib as bl


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--symbench", required=True)
    ap.add_argument("--functions", type=int, default=5000 if bl.QUICK else 20000)
    ap.add_argument("--repeats", type=int, default=3 if bl.QUICK else 5)
    ap.add_argument("--record-secs", type=int, default=5 if bl.QUICK else 10)
    ap.add_argument("--worker", default=os.path.join(bl.build_dir(), "podprof-worker"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="podprof-sym-")
    src = os.path.join(work, "big.c")
    n = args.functions
    with open(src, "w") as f:
        f.write("#include <stdio.h>\n#include <unistd.h>\n")
        for i in range(n):
            f.write(f"__attribute__((noinline)) int big_fn_{i}(int x) {{ return x * {i + 3} + {i}; }}\n")
        f.write("static int (*const tab[])(int) = {\n")
        f.write(",\n".join(f"big_fn_{i}" for i in range(n)))
        f.write("};\nvolatile int sink;\nint main(void) {\n"
                "  for (unsigned i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)\n"
                "    printf(\"%lx\\n\", (unsigned long)tab[i] + 2);\n  fflush(stdout);\n"
                "  for (;;)\n    for (unsigned i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)\n"
                "      sink = tab[i](sink);\n  return 0;\n}\n")
    big = os.path.join(work, "big")
    subprocess.run(["gcc", "-O1", "-g", "-pie", "-fPIE", "-o", big, src], check=True)
    proc = subprocess.Popen([big], stdout=subprocess.PIPE, text=True)
    addrs = [proc.stdout.readline() for _ in range(n)]
    addr_file = os.path.join(work, "addrs")
    with open(addr_file, "w") as f:
        f.writelines(addrs)
    res = {"machine": bl.machine(), "functions": n, "binary_bytes": os.path.getsize(big),
           "repeats": args.repeats}
    try:
        out = subprocess.run([args.symbench, str(proc.pid), addr_file, str(args.repeats)], capture_output=True,
                             text=True, timeout=600)
        if out.returncode != 0:
            res["error"] = f"symbench exited {out.returncode}: {out.stderr.strip()[-300:]}"
        else:
            res.update(json.loads(out.stdout))
        res["record"] = record(args, proc.pid, work)
    finally:
        proc.kill()
        proc.wait()
    print(json.dumps(res))
    bl.write_json(args.out, res)
    return 0


def record(args, pid, work):
    """podprof-worker record on the running program: peak RSS and its symbol cache line."""
    out = os.path.join(work, "big.pb.gz")
    proc = subprocess.Popen([args.worker, "record", "--pid", str(pid), "--duration",
                             f"{args.record_secs}s", "--top", "3", "-o", out],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    deadline = time.monotonic() + args.record_secs + 120
    while not bl.exited(proc) and time.monotonic() < deadline:
        hwm = bl.proc_status_kb(proc.pid, "VmHWM")
        peak = max(peak, hwm or 0)
        time.sleep(0.02)
    if not bl.exited(proc):
        proc.send_signal(signal.SIGKILL)
        bl.wait_rusage(proc, timeout=30)
        return {"error": "record did not finish"}
    text = proc.stdout.read()
    res = {"rc": proc.returncode, "secs": args.record_secs, "peak_rss_kb": peak}
    m = re.search(r"symbols: (\d+) binaries cached \((\d+) in use\), ([\d.]+) of (\d+) MiB; "
                  r"(\d+) hits, (\d+) misses, (\d+) evicted; lines: (\d+) remembered, (\d+) looked up", text)
    if m:
        res["cache"] = {"binaries": int(m[1]), "mib": float(m[3]), "max_mib": int(m[4]),
                        "hits": int(m[5]), "misses": int(m[6]), "evicted": int(m[7]),
                        "line_hits": int(m[8]), "line_misses": int(m[9])}
    m = re.search(r"samples: (\d+)", text)
    if m:
        res["samples"] = int(m[1])
    if proc.returncode != 0:
        res["error"] = text.strip()[-300:]
    return res


if __name__ == "__main__":
    sys.exit(main())
