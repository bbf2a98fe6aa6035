/* SPDX-License-Identifier: Apache-2.0 */
/* readfile.h -- read a whole regular file, refusing one over a cap.
 *
 * A low-level primitive: depends on libc only. Used for every small file
 * read whole from outside (kubeconfigs, credentials, spool entries, local
 * profiles), so none of them can make a caller allocate without bound.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_READFILE_H
#define PODPROF_READFILE_H

#include <stddef.h>

/* Read path whole into *out (malloc'd, NUL-terminated; *len excludes the
 * NUL; caller frees, and wipes it first when it holds a secret). Regular
 * files, pipes and devices (read to EOF). On failure nothing read is left in
 * freed memory.
 * -E2BIG when over max bytes, -EISDIR for a directory, -errno from
 * open/read. A file truncated while being read gives what was there. */
int read_file_capped(const char *path, size_t max, void **out, size_t *len);

#endif
