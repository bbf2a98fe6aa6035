/* SPDX-License-Identifier: Apache-2.0 */
/* unwind_table.h -- compact per-pc unwind rules of one ELF file, from its
 * .eh_frame and .debug_frame.
 *
 * The in-kernel unwinder (bpf/profile.bpf.c) follows rows of the form
 * "CFA = rsp|rbp + offset; return address at CFA - 8; caller's rbp at
 * CFA - 8k or unchanged". This module derives those rows for every
 * executable byte of a file covered by call frame information, using libdw
 * to interpret the CFI (the FDE list comes from .eh_frame_hdr's search
 * table, plus the FDEs of .debug_frame for code .eh_frame does not describe). Rules it cannot express become PROFILE_CFA_UNSUPPORTED rows, gaps
 * between FDEs PROFILE_CFA_INVALID rows: the unwinder stops there with a
 * marker, it never follows a wrong rule.
 *
 * A low-level module: libelf/libdw and lib/log only. Files are untrusted
 * (they come from containers): the caller opens them (worker/procfile), and
 * sizes and counts are capped here before libdw walks them.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_UNWIND_TABLE_H
#define PODPROF_UNWIND_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"

#define UNWIND_TABLE_MAX_FDES (1u << 20)   /* FDEs read from one file */
#define UNWIND_TABLE_MAX_ROWS (4u << 20)   /* rows kept for one file */
#define UNWIND_TABLE_MAX_FILE (1ull << 32) /* largest file read */

#define UNWIND_TABLE_MAX_SEGS 8 /* executable PT_LOAD segments remembered */

/* An executable PT_LOAD segment: how file offsets map to ELF vaddrs. */
struct unwind_seg {
	uint64_t off, vaddr, filesz;
};

struct unwind_table {
	struct unwind_seg segs[UNWIND_TABLE_MAX_SEGS];
	size_t nsegs;
	bool is_go;    /* a Go binary: its code has no CFI, frame pointers are right */
	uint64_t base; /* ELF vaddr that row pcs are relative to */
	uint64_t size; /* bytes covered from base (executable segments) */
	struct profile_unwind_row *rows; /* sorted by pc; owned */
	size_t n;
	size_t n_fdes;	      /* FDEs read */
	size_t n_unsupported; /* rows with a rule the unwinder cannot follow */
};

/* Build the table of an open ELF file (fd is not closed). -ENOENT when the
 * file has neither .eh_frame_hdr nor a usable .debug_frame, or is a Go binary (no CFI for its code: the
 * caller falls back to frame pointers; segs and is_go are still filled),
 * -ENOEXEC when it is not a usable x86_64 ELF, -E2BIG past a cap.
 * Release with unwind_table_release() in every case. */
int unwind_table_build_fd(int fd, struct unwind_table *out);

/* Same for an ELF image in memory (the vDSO). */
int unwind_table_build_mem(const void *image, size_t len, struct unwind_table *out);

void unwind_table_release(struct unwind_table *t);

/* The table-relative pc of a mapping's start address: *base is what the
 * BPF program subtracts from an address in the mapping (start mapped at
 * file offset off). -ENOENT when no executable segment holds off. */
int unwind_table_map_base(const struct unwind_table *t, uint64_t start, uint64_t off,
			  uint64_t *base);

/* The row in force at table-relative pc rel, or NULL (before the first row). */
const struct profile_unwind_row *unwind_table_find(const struct unwind_table *t, uint64_t rel);

#endif
