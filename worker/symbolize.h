/* SPDX-License-Identifier: Apache-2.0 */
/* symbolize.h -- addresses to function names for kernel and user stacks.
 *
 * Kernel frames from /proc/kallsyms; user frames through /proc/PID/maps and
 * the ELF .symtab/.dynsym of each mapped file (libelf), correct for PIE and
 * shared libraries. Per-binary symbol tables are cached by (dev, inode) and
 * carry the GNU build ID. A process's maps are snapshotted the first time it
 * is seen (symbolizer_note_pid) so that it can still be symbolized after it
 * exits. What cannot be symbolized keeps its mapping and offset.
 *
 * Return convention: 0 on success, negative errno on failure.
 * Strings returned through pprof_frame/pprof_mapping_info stay valid until
 * symbolizer_free().
 */
#ifndef PODPROF_SYMBOLIZE_H
#define PODPROF_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pprof.h"

struct symbolizer;

/* proc_root is normally "/proc" (configurable for tests and for workers
 * that see the host's /proc under another path). */
int symbolizer_new(struct symbolizer **out, const char *proc_root);
void symbolizer_free(struct symbolizer *s);

/* Snapshot /proc/PID/maps now (cheap when already known). Call when a pid is
 * first seen so that short-lived processes stay symbolizable. */
int symbolizer_note_pid(struct symbolizer *s, pid_t pid);

/* Forget a pid's maps snapshot (e.g. at the end of a job). */
void symbolizer_forget_pid(struct symbolizer *s, pid_t pid);

/* Fill frames[i] for each of n user-space addresses of process pid. */
int symbolizer_user(struct symbolizer *s, pid_t pid, const uint64_t *ips, size_t n,
		    struct pprof_frame *frames);

/* Fill frames[i] for each of n kernel addresses. */
int symbolizer_kernel(struct symbolizer *s, const uint64_t *ips, size_t n,
		      struct pprof_frame *frames);

#endif
