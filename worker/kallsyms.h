/* SPDX-License-Identifier: Apache-2.0 */
/* kallsyms.h -- kernel symbol table from /proc/kallsyms, sorted for lookup.
 *
 * A low-level module: libc only. Symbols of loadable modules ("name [mod]")
 * are attributed to their module. Non-text symbols are kept as boundaries
 * only, so that an address past the end of a function is not blamed on it.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_KALLSYMS_H
#define PODPROF_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>

#define KALLSYMS_MAX_SYMBOLS (4u << 20)
#define KALLSYMS_MAX_MODULES 4096

struct kallsyms;

/* Load and sort `path` (normally "/proc/kallsyms"). -EPERM when every
 * address reads as 0 (kptr_restrict hides them from this process). Free
 * with kallsyms_free(). */
int kallsyms_load(const char *path, struct kallsyms **out);
void kallsyms_free(struct kallsyms *k);

/* Number of text (function) symbols. */
size_t kallsyms_count(const struct kallsyms *k);

/* The function containing addr, or NULL. *start receives its address and
 * *module the index of its module (0 = the core kernel); both may be NULL.
 * The name is owned by k. */
const char *kallsyms_lookup(const struct kallsyms *k, uint64_t addr, uint64_t *start,
			    unsigned int *module);

/* Module index -> "[kernel.kallsyms]" for 0, else "[name]", and the lowest
 * and highest symbol address seen for it. Returns NULL past the last. */
const char *kallsyms_module(const struct kallsyms *k, unsigned int idx, uint64_t *lo, uint64_t *hi);

#endif
