/* SPDX-License-Identifier: Apache-2.0 */
/* gopclntab.h -- function names and file:line of Go binaries from their
 * .gopclntab section, which Go keeps even in binaries linked with -s
 * (no .symtab, no DWARF).
 *
 * A low-level module: libc only; the caller reads the section (elfsym.h).
 * Go 1.18 and later (pclntab magic 0xfffffff0 / 0xfffffff1), little-endian
 * targets. The table is untrusted: every offset is checked against the
 * section before it is followed, strings must end inside their table, and
 * pc-value decoding stops at the table's end.
 *
 * Inlined Go calls are not expanded: a pc inside inlined code gets the
 * function it was compiled into, with that function's file and no line
 * (the caller's line is in the inline tree, which is not read yet).
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_GOPCLNTAB_H
#define PODPROF_GOPCLNTAB_H

#include <stddef.h>
#include <stdint.h>

#include "pprof.h"

#define GOPCLNTAB_MAX_SIZE  (256u << 20) /* section bytes */
#define GOPCLNTAB_MAX_FUNCS (4u << 20)

struct gopclntab;

/* Take over data (malloc'd, len bytes; freed with the table, or on error)
 * holding the section; text_addr is the ELF address of runtime.text (the
 * start of .text for internally linked binaries). -ENOEXEC when it is not
 * a supported pclntab. Free with gopclntab_free(). */
int gopclntab_load(void *data, size_t len, uint64_t text_addr, struct gopclntab **out);
void gopclntab_free(struct gopclntab *g);

size_t gopclntab_count(const struct gopclntab *g);

/* Bytes held (the section and the table), for budgets; 0 for NULL. */
size_t gopclntab_mem(const struct gopclntab *g);

/* Function, file, line and start line at ELF address vaddr. 1 when found
 * (*out filled, strings owned by g), 0 when not. */
int gopclntab_lookup(const struct gopclntab *g, uint64_t vaddr, struct pprof_line *out);

#endif
