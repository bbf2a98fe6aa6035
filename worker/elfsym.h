/* SPDX-License-Identifier: Apache-2.0 */
/* elfsym.h -- function symbols, load segments and the GNU build ID of one
 * ELF file, read once through libelf and then looked up without it.
 *
 * A low-level module: libelf and lib/log only; nothing else in podprof
 * touches libelf. Files are untrusted (they come from containers), so the
 * ELF header is read and checked by hand before libelf sees the file (it
 * allocates per section at elf_begin): apparent size, section and program
 * header counts and table bounds. Every table read afterwards (.symtab,
 * .dynsym, their string tables, notes) is checked against its cap and is
 * charged to a per-file read budget, which is also bounded by the bytes the
 * file really occupies on disk (st_blocks): a sparse file cannot make the
 * worker read gigabytes of holes. A file that does not parse is an error,
 * never a crash.
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
#define ELFSYM_MAX_FILE	    (4ull << 30) /* apparent file size */
#define ELFSYM_MAX_SECTIONS 16384	 /* e_shnum (libelf allocates per section) */
#define ELFSYM_MAX_PHDRS    4096	 /* e_phnum */
#define ELFSYM_MAX_READ	    (384u << 20) /* bytes read from one file, all tables */

struct elfsym;

/* Load from an open file (not closed, position irrelevant). A valid ELF
 * without function symbols (stripped) loads with elfsym_count() == 0.
 * -ENOEXEC for something that is not ELF or is malformed, -E2BIG past a cap
 * (counts, sizes, the read budget, or more table bytes than the file has
 * blocks).
 * Free with elfsym_free(). */
int elfsym_load_fd(int fd, struct elfsym **out);

/* The checks elfsym_load_fd makes before libelf sees the file, for other
 * readers of untrusted ELF files: apparent size, section and program header
 * counts (ELFSYM_MAX_*) and header tables inside the file. 0 or -ENOEXEC /
 * -E2BIG. */
int elfsym_check_headers(int fd, uint64_t file_size);

/* Same, opening `path` read-only (non-blocking; regular files only). */
int elfsym_load_path(const char *path, struct elfsym **out);

/* Only the GNU build ID from the program headers' notes (what a mapped
 * file carries), as lowercase hex into out (cap bytes, at least
 * 2 * ELFSYM_MAX_BUILD_ID + 1): "" when it has none. Same checks and errors
 * as elfsym_load_fd, but reads no symbol table: cheap enough to run for
 * every mapping of every new process (the symbol cache's key). */
int elfsym_probe_build_id(int fd, char *out, size_t cap);

/* Bytes held by a loaded file (symbols, names, segments): for budgets. */
size_t elfsym_mem(const struct elfsym *e);

void elfsym_free(struct elfsym *e);

/* Number of function symbols kept (.symtab, else .dynsym). */
size_t elfsym_count(const struct elfsym *e);

/* Lowercase hex GNU build ID, or NULL when the file has none. Owned by e. */
const char *elfsym_build_id(const struct elfsym *e);

/* File name from .gnu_debuglink (the separate debug file), or NULL. Owned
 * by e. */
const char *elfsym_debuglink(const struct elfsym *e);

/* Whether the symbols came from .symtab (all functions) rather than only
 * .dynsym (exported ones): a debug file is worth reading for names. */
int elfsym_has_symtab(const struct elfsym *e);

/* Read section `name` of an open ELF file: with data non-NULL, its bytes
 * into a malloc'd *data (caller frees) of *len bytes, refusing sections
 * over max bytes (-E2BIG) or outside the file (-ENOEXEC); its address
 * (sh_addr) into *addr when addr is non-NULL. -ENOENT when absent or
 * without file data (SHT_NOBITS). */
int elfsym_read_section(int fd, const char *name, size_t max, void **data, size_t *len,
			uint64_t *addr);

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
