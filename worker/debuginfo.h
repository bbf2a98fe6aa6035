/* SPDX-License-Identifier: Apache-2.0 */
/* debuginfo.h -- find the separate debug file of a binary the way gdb and
 * perf do, inside the profiled process's root and then under extra
 * directories of the node.
 *
 * Candidates, in order, first under the process's root (through the
 * caller's open function, so a container's own debug files are used):
 *   /usr/lib/debug/.build-id/<xx>/<rest>.debug     (GNU build ID)
 *   <dir of binary>/<debuglink>                    (.gnu_debuglink)
 *   <dir of binary>/.debug/<debuglink>
 *   /usr/lib/debug/<dir of binary>/<debuglink>
 * then, for each extra directory D (laid out like /usr/lib/debug),
 *   D/.build-id/<xx>/<rest>.debug and D/<dir of binary>/<debuglink>.
 * A candidate is taken only when it is an ELF file whose build ID equals the
 * binary's (when the binary has one; debuglink CRCs are not checked).
 *
 * Sits above elfsym (used to read candidates' build IDs); opens nothing in
 * the process's root itself. Return convention: 0 on success, negative
 * errno on failure; -ENOENT when no candidate fits.
 */
#ifndef PODPROF_DEBUGINFO_H
#define PODPROF_DEBUGINFO_H

#include <stddef.h>

struct elfsym;

#define DEBUGINFO_MAX_DIRS 16 /* extra directories */

struct debuginfo_query {
	const char *path;      /* binary's path as the process sees it */
	const char *build_id;  /* lowercase hex, or NULL */
	const char *debuglink; /* .gnu_debuglink file name, or NULL */
};

/* Opens `path` (absolute, as the process sees it) inside the process's
 * root; returns an fd or negative errno. */
typedef int (*debuginfo_open_fn)(void *ctx, const char *path);

/* Find and open the debug file. On success *fd is an open descriptor of it
 * (caller closes) and *sym its symbols (caller frees with elfsym_free()). */
int debuginfo_find(const struct debuginfo_query *q, debuginfo_open_fn open_in_root, void *ctx,
		   const char *const *dirs, size_t ndirs, int *fd, struct elfsym **sym);

#endif
