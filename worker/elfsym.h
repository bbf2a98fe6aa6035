/* SPDX-License-Identifier: Apache-2.0 */
/* elfsym.h -- function symbols, load segments and the GNU build ID of one
 * ELF file, read once through libelf and then looked up without it.
 *
 * A low-level module: libelf and lib/log only; nothing else in podprof
 * touches libelf. Files are untrusted (they come from containers): sections
 * past the end of the file or over the size caps are refused, and a file
 * that does not parse is an error, never a crash.
 *
 * Addresses are ELF virtual addresses (what the symbol table holds). A
 * runtime address becomes one through its file offset:
 * file_off = addr - mapping_start + mapping_offset, then
 * elfsym_file_to_vaddr(), which uses the PT_LOAD segment holding that
 * offset (correct for PIE, shared objects and non-zero-based layouts).
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_ELFSYM_H
#define PODPROF_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

#define ELFSYM_MAX_SECTION  (256u << 20) /* symbol or string table size */
#define ELFSYM_MAX_SYMBOLS  (8u << 20)	 /* function symbols kept */
#define ELFSYM_MAX_BUILD_ID 64		 /* bytes of the GNU build ID note */

struct elfsym;

/* Load from an open file (not closed, position irrelevant). A valid ELF
 * without function symbols (stripped) loads with elfsym_count() == 0.
 * -ENOEXEC for something that is not ELF or is malformed, -E2BIG past a cap.
 * Free with elfsym_free(). */
int elfsym_load_fd(int fd, struct elfsym **out);

/* Same, opening `path` read-only. */
int elfsym_load_path(const char *path, struct elfsym **out);

void elfsym_free(struct elfsym *e);

/* Number of function symbols kept (.symtab, else .dynsym). */
size_t elfsym_count(const struct elfsym *e);

/* Lowercase hex GNU build ID, or NULL when the file has none. Owned by e. */
const char *elfsym_build_id(const struct elfsym *e);

/* Map a file offset to the ELF vaddr through the PT_LOAD segment that holds
 * it. -ENOENT when no load segment covers the offset. */
int elfsym_file_to_vaddr(const struct elfsym *e, uint64_t file_off, uint64_t *vaddr);

/* Name of the function symbol whose [value, value + size) contains vaddr,
 * or NULL. Owned by e. *start (may be NULL) receives the symbol's value. */
const char *elfsym_lookup(const struct elfsym *e, uint64_t vaddr, uint64_t *start);

/* Symbols of any type looked up by name (.symtab and .dynsym). */
struct elfsym_want {
	const char *name;     /* in: exact symbol name */
	uint64_t value, size; /* out: ELF vaddr and size */
	int found;	      /* out: 1 when the file defines it */
};

/* Find the `n` wanted symbols in an open ELF file and map file_off to its
 * vaddr (as elfsym_file_to_vaddr), so a caller turns the symbols into
 * runtime addresses through one mapping of the file. Missing symbols are not
 * an error; -ENOEXEC for a malformed file, -ENOENT when no load segment
 * covers file_off. */
int elfsym_find_fd(int fd, struct elfsym_want *want, size_t n, uint64_t file_off, uint64_t *vaddr);

#endif
