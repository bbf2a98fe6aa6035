#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""pyoffsets.py -- generate worker/pyoffsets.c, the CPython struct offsets the Python unwinder uses.

For each CPython include directory given (one per minor version), compile a small
offsetof() program against its public and internal headers (Py_BUILD_CORE) and
print one table row. The rows are what bpf/profile.bpf.c needs to find a
thread's current frame and walk the frame chain, and what worker/pyproc.c needs
to read code objects (names, file, line table).

    scripts/pyoffsets.py /usr/include/python3.11 \\
        ~/.pyenv/versions/3.8.18/include/python3.8 ... > worker/pyoffsets.c

Only x86_64, default (GIL) builds: the offsets are those of the compiler and
headers used here. One row per minor version; a later patch release of the
same minor is assumed to keep them (docs/worker.md says how to check).
"""

import os
import subprocess
import sys
import tempfile

PROBE = r"""
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#if PY_VERSION_HEX < 0x03090000
#include <frameobject.h>
#include <internal/pycore_pystate.h>
#elif PY_VERSION_HEX < 0x030b0000
#include <frameobject.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_runtime.h>
#else
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_runtime.h>
#endif
#define P(name, v) printf("%s %ld\n", name, (long)(v))
int main(void)
{
	P("version", PY_VERSION_HEX >> 16);
	P("runtime_interp_head", offsetof(_PyRuntimeState, interpreters.head));
	P("tstate_next", offsetof(PyThreadState, next));
	P("tstate_thread_id", offsetof(PyThreadState, thread_id));
#if PY_VERSION_HEX < 0x030b0000
	P("frame_kind", 0);
	P("interp_threads_head", offsetof(PyInterpreterState, tstate_head));
	P("tstate_frame", offsetof(PyThreadState, frame));
	P("frame_back", offsetof(PyFrameObject, f_back));
	P("frame_code", offsetof(PyFrameObject, f_code));
	P("frame_lasti", offsetof(PyFrameObject, f_lasti));
#else
	P("interp_threads_head", offsetof(PyInterpreterState, threads.head));
	P("frame_back", offsetof(_PyInterpreterFrame, previous));
	P("code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
	P("code_qualname", offsetof(PyCodeObject, co_qualname));
#if PY_VERSION_HEX < 0x030d0000
	P("tstate_frame", offsetof(PyThreadState, cframe));
	P("cframe_frame", offsetof(_PyCFrame, current_frame));
	P("frame_lasti", offsetof(_PyInterpreterFrame, prev_instr));
	P("frame_code", offsetof(_PyInterpreterFrame, f_code));
#else
	P("tstate_frame", offsetof(PyThreadState, current_frame));
	P("frame_lasti", offsetof(_PyInterpreterFrame, instr_ptr));
	P("frame_code", offsetof(_PyInterpreterFrame, f_executable));
#endif
#if PY_VERSION_HEX < 0x030c0000
	P("frame_kind", 1);
	P("frame_owner", offsetof(_PyInterpreterFrame, is_entry));
#else
	P("frame_kind", 2);
	P("frame_owner", offsetof(_PyInterpreterFrame, owner));
	P("owner_cstack", FRAME_OWNED_BY_CSTACK);
#endif
#endif
	P("code_name", offsetof(PyCodeObject, co_name));
	P("code_filename", offsetof(PyCodeObject, co_filename));
	P("code_firstlineno", offsetof(PyCodeObject, co_firstlineno));
#if PY_VERSION_HEX >= 0x030a0000
	P("code_linetable", offsetof(PyCodeObject, co_linetable));
#else
	P("code_linetable", offsetof(PyCodeObject, co_lnotab));
#endif
	P("unicode_state", offsetof(PyASCIIObject, state));
	P("unicode_length", offsetof(PyASCIIObject, length));
	P("unicode_ascii_size", sizeof(PyASCIIObject));
	P("unicode_compact_size", sizeof(PyCompactUnicodeObject));
	P("bytes_size", offsetof(PyVarObject, ob_size));
	P("bytes_data", offsetof(PyBytesObject, ob_sval));
	return 0;
}
"""

# Fields of struct profile_py_offsets in order; absent ones are PROFILE_PY_NONE.
FIELDS = ["frame_kind", "runtime_interp_head", "interp_threads_head", "tstate_next",
          "tstate_thread_id", "tstate_frame", "cframe_frame", "frame_back", "frame_code",
          "frame_lasti", "frame_owner", "owner_cstack", "code_adaptive", "code_name",
          "code_qualname", "code_filename", "code_firstlineno", "code_linetable",
          "unicode_state", "unicode_length", "unicode_ascii_size", "unicode_compact_size",
          "bytes_size", "bytes_data"]


FIND = """
const struct profile_py_offsets *pyoffsets_find(unsigned major, unsigned minor)
{
	for (size_t i = 0; i < pyoffsets_count; i++)
		if (pyoffsets_table[i].version == (major << 8 | minor))
			return &pyoffsets_table[i];
	return NULL;
}
"""


def probe(inc, tmp):
    src = os.path.join(tmp, "probe.c")
    exe = os.path.join(tmp, "probe")
    with open(src, "w") as f:
        f.write(PROBE)
    subprocess.run(["cc", "-w", f"-I{inc}", f"-I{inc}/internal", "-o", exe, src], check=True)
    out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def main(argv):
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for inc in argv[1:]:
            r = probe(inc, tmp)
            rows.setdefault(r["version"], (r, inc))
    print("/* SPDX-License-Identifier: Apache-2.0 */")
    print("/* pyoffsets.c -- CPython struct offsets per minor version (generated by")
    print(" * scripts/pyoffsets.py from each version's headers; do not edit). */")
    print('#include "pyoffsets.h"\n')
    print("const struct profile_py_offsets pyoffsets_table[] = {")
    for ver in sorted(rows):
        r, inc = rows[ver]
        print(f"    /* {ver >> 8}.{ver & 0xff}, from {os.path.basename(inc)} headers */")
        print(f"    {{.version = 0x{ver:04x},")
        for k in FIELDS:
            v = r.get(k)
            print(f"     .{k} = {'PROFILE_PY_NONE' if v is None else v},")
        print("    },")
    print("};\n")
    print("const size_t pyoffsets_count = sizeof(pyoffsets_table) / sizeof(pyoffsets_table[0]);")
    print(FIND, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
