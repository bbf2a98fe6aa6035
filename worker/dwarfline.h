/* SPDX-License-Identifier: Apache-2.0 */
/* dwarfline.h -- source file, line and inlined calls at an address, from
 * the DWARF of one ELF file (a binary built with -g or its debug file).
 *
 * A low-level module: libdw (and the libelf it needs to open a file) and
 * pprof.h for the result type; nothing else in podprof touches libdw. Files
 * are untrusted (they come from containers): the file size and the total
 * (decompressed) size of its .debug_* sections are capped before libdw
 * reads or inflates anything, and a file that does not parse is an error,
 * never a crash. Debug sections are read into memory when the file is
 * opened (no mmap, so a file truncated later cannot fault), after which
 * the descriptor is no longer needed.
 *
 * Addresses are ELF virtual addresses of the file, as in elfsym.h.
 *
 * Return convention: 0 (or a count) on success, negative errno on failure.
 */
#ifndef PODPROF_DWARFLINE_H
#define PODPROF_DWARFLINE_H

#include <stddef.h>
#include <stdint.h>

#include "pprof.h"

#define DWARFLINE_MAX_FILE  (4ull << 30)   /* file size */
#define DWARFLINE_MAX_DEBUG (512ull << 20) /* .debug_* sections, decompressed, summed */
#define DWARFLINE_MAX_DEPTH 16		   /* inline levels reported per address */

struct dwarfline;

/* Read the DWARF of an open ELF file (fd is not closed and may be closed
 * right after). -ENOENT when the file has no line table, -ENOEXEC when it
 * is not ELF or the DWARF does not parse, -E2BIG past a cap. Free with
 * dwarfline_free(). */
int dwarfline_open_fd(int fd, struct dwarfline **out);
void dwarfline_free(struct dwarfline *d);

/* Bytes held for budgets: the debug sections as read (decompressed); 0 for
 * NULL. libdw's parsed units and line tables grow on lookups on top of it. */
size_t dwarfline_mem(const struct dwarfline *d);

/* Source positions of vaddr, innermost first: out[0] is the function the
 * instruction belongs to (an inlined callee if it was inlined) with the
 * file:line of the instruction, out[1] its caller at the call site, ...,
 * up to the function the code was compiled in. Fills at most max entries
 * and returns how many (0 when the address has no DWARF). Strings are
 * owned by d. Each entry has a function name; filename may be NULL and
 * line 0 when DWARF lacks them. */
int dwarfline_lookup(struct dwarfline *d, uint64_t vaddr, struct pprof_line *out, size_t max);

#endif
