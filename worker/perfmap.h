/* SPDX-License-Identifier: Apache-2.0 */
/* perfmap.h -- JIT symbol maps (/tmp/perf-<pid>.map) as written by Node
 * (--perf-basic-prof), JVM agents and others: one "START SIZE name" line
 * (hex, hex, rest of the line) per compiled function.
 *
 * A low-level module: libc and lib/arr only. The file is untrusted: at most
 * PERFMAP_MAX_BYTES are read and PERFMAP_MAX_ENTRIES kept, lines longer than
 * PERFMAP_MAX_LINE are skipped, and malformed lines are counted, never
 * fatal. Later lines win where ranges overlap (a JIT reuses code memory).
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_PERFMAP_H
#define PODPROF_PERFMAP_H

#include <stddef.h>
#include <stdint.h>

#define PERFMAP_MAX_BYTES   (64u << 20)
#define PERFMAP_MAX_ENTRIES (1u << 20)
#define PERFMAP_MAX_LINE    4096

struct perfmap;

/* Parse the whole map from an open file (read from offset 0, not closed).
 * Free with perfmap_free(). *size_read (may be NULL) receives the bytes
 * consumed, so a caller can tell when the file has grown. */
int perfmap_load_fd(int fd, struct perfmap **out, uint64_t *size_read);
void perfmap_free(struct perfmap *m);

size_t perfmap_count(const struct perfmap *m);

/* Name of the entry holding addr, or NULL. Owned by m. */
const char *perfmap_lookup(const struct perfmap *m, uint64_t addr);

#endif
