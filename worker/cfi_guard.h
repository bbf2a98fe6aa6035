/* SPDX-License-Identifier: Apache-2.0 */
/* cfi_guard.h -- refuse call frame information that would make libdw allocate
 * without bound.
 *
 * libdw's CFI interpreter (dwarf_cfi_addrframe) grows its register array to
 * the highest register number an instruction names, copies the whole state on
 * every DW_CFA_remember_state and interns every expression block: a profiled
 * container's ELF file that names register 0x5fffffff makes it allocate and
 * clear 1.5 GB (found by fuzz/fuzz_unwind_table.c). Before a CFI section is
 * handed to libdw, every CIE and FDE libdw could execute is decoded here
 * (opcodes and operand sizes only, nothing is interpreted) and checked
 * against caps no compiler output comes near.
 *
 * Return convention: 0 when safe, -EBADMSG when the section must not be used
 * (why says which entry and what), other negative errno on bad arguments.
 */
#ifndef PODPROF_CFI_GUARD_H
#define PODPROF_CFI_GUARD_H

#include <elfutils/libdw.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFI_GUARD_MAX_REG   127 /* x86_64 DWARF registers end at 125 (k7) */
#define CFI_GUARD_MAX_DEPTH 64	/* nested DW_CFA_remember_state */
#define CFI_GUARD_MAX_BLOCK 256 /* bytes of one DW_CFA_*expression block */

/* The FDE at section offset off of d (and the CIE it names), as libdw reads
 * it when a search table points there; anything not read cleanly is refused. */
int cfi_guard_fde(const unsigned char *ident, Elf_Data *d, bool eh_frame, uint64_t off, char *why,
		  size_t why_len);

/* Every entry of d in order, as libdw's linear search reads them (no search
 * table: .debug_frame, or an .eh_frame without a usable .eh_frame_hdr). */
int cfi_guard_section(const unsigned char *ident, Elf_Data *d, bool eh_frame, char *why,
		      size_t why_len);

#endif
