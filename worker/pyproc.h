/* SPDX-License-Identifier: Apache-2.0 */
/* pyproc.h -- CPython processes: find the interpreter a process runs, and
 * name the Python frames the BPF program records for it.
 *
 * Detection (pyproc_detect): a process runs CPython when an executable
 * mapping is a python3.N binary or a libpython3.N shared object (read inside
 * /proc/PID/root, so containers work). Its version comes from the file name,
 * else from the Py_Version symbol in memory; _PyRuntime and the
 * [start, end) of _PyEval_EvalFrameDefault come from .dynsym/.symtab. The
 * result is the `py_procs` entry (struct profile_py_proc) with the offsets
 * of that version (worker/pyoffsets.h).
 *
 * Naming (pysym_*): a Python frame holds a code object's address and an
 * instruction offset; the code object's name (qualified name from 3.11),
 * file, first line and line table are read from the process's memory with
 * every length bounded, cached per (pid, code address), and the line of the
 * offset is decoded with that version's table format. The cache is dropped
 * at every window end: a code object freed and its memory reused by another
 * function mislabels frames for at most the rest of one window.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_PYPROC_H
#define PODPROF_PYPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "profile.h"

struct procmaps;
struct pprof_frame;
struct pprof_line;

#define PYPROC_MAX_NAME	     1024	/* bytes of a function or file name read */
#define PYPROC_MAX_LINETABLE (64 << 10) /* bytes of a line table read */

/* Look for CPython in a process. 0 and *out filled when found; -ENOENT when
 * the process does not run CPython; -ENOTSUP for a version without offsets
 * and -ENODATA for a binary without the symbols (stripped): both leave
 * `why` (may be NULL) with a sentence for the log, naming the file. */
int pyproc_detect(const char *proc_root, pid_t pid, const struct procmaps *maps,
		  struct profile_py_proc *out, char *why, size_t why_len);

struct pysym;

int pysym_new(struct pysym **out);
void pysym_free(struct pysym *ps);

/* Name the Python frame `frame` (profile_frame_is_python) of process pid,
 * run with offsets `off`. Fills f, whose position (function, file, first
 * line, line) goes to *line, which f points to (strings owned by ps until
 * pysym_reset); an unreadable code object is named "<python: unreadable
 * code>" without a line. */
int pysym_frame(struct pysym *ps, pid_t pid, const struct profile_py_offsets *off, uint64_t frame,
		struct pprof_frame *f, struct pprof_line *line);

/* Drop every cached code object (at each window end). */
void pysym_reset(struct pysym *ps);

/* Code objects read since pysym_new, and the time spent reading them. */
void pysym_stats(const struct pysym *ps, uint64_t *reads, uint64_t *read_ns);

/* The line of instruction offset lasti (code units; bytes for 3.8/3.9 as
 * f_lasti holds them) in a line table of CPython 3.`minor`. Exposed for tests. */
int pysym_line(unsigned minor, const uint8_t *tab, size_t len, int firstlineno, uint32_t lasti);

#endif
