#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""symbol.py -- symbolization speed of the worker's symbolizer on a large binary.

Generates a C program with --functions non-inlined functions (each a distinct
symbol), compiles it as a PIE, runs it (it prints the runtime address of
every function and then waits), and runs bench/symbench (built by run.sh
against build/libworker.a) on those addresses: frames per second cold (fresh
symbolizer: /proc/PID/maps and the ELF symbol table loaded inside the timed
part) and warm (same symbolizer again); also kernel addresses from
/proc/kallsyms. Best of --repeats.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import benchlib as bl


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--symbench", required=True)
    ap.add_argument("--functions", type=int, default=5000 if bl.QUICK else 20000)
    ap.add_argument("--repeats", type=int, default=3 if bl.QUICK else 5)
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
        f.write("};\nint main(void) {\n  for (unsigned i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)\n"
                "    printf(\"%lx\\n\", (unsigned long)tab[i] + 2);\n  fflush(stdout);\n  pause();\n"
                "  return 0;\n}\n")
    big = os.path.join(work, "big")
    subprocess.run(["gcc", "-O1", "-pie", "-fPIE", "-o", big, src], check=True)
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
    finally:
        proc.kill()
        proc.wait()
    print(json.dumps(res))
    bl.write_json(args.out, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
