/* SPDX-License-Identifier: Apache-2.0 */
/* pprof.h -- build, encode, decode, merge and summarise pprof profiles.
 *
 * One implementation shared by the worker (encodes what it sampled) and the
 * operator (merges per-node profiles of one target and derives the top
 * functions for status). Wraps protobuf-c (profile.proto, written from the
 * public pprof format) and zlib; nothing else in podprof touches either.
 *
 * Return convention for every function here: 0 on success, negative errno
 * on failure (-ENOMEM, -EINVAL for malformed input, -E2BIG past a cap).
 *
 * Sample types of a CPU profile, in this order: samples/count, cpu/nanoseconds.
 * An off-CPU profile (pprof_builder_set_offcpu) has one: off_cpu/nanoseconds,
 * the time threads spent blocked; its "count" everywhere below (add, total,
 * top) is that time in nanoseconds.
 * Strings, functions, locations and mappings are deduplicated.
 */
#ifndef PODPROF_PPROF_H
#define PODPROF_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pprof_builder;

/* A binary mapped into a process; fields may be 0/NULL when unknown. */
struct pprof_mapping_info {
	uint64_t start;	      /* first address of the mapping */
	uint64_t limit;	      /* one past the last address */
	uint64_t file_offset; /* offset in the file of `start` */
	const char *filename; /* path as seen by the process, or "[kernel.kallsyms]" */
	const char *build_id; /* lowercase hex GNU build ID, or NULL */
	/* The symbolizer expanded inlined calls for this binary (it read its
	 * DWARF), so frames of it carry every inline level. */
	bool has_inline_frames;
};

/* One source position: a function and where in it. Any frame kind uses
 * these (native code from DWARF, JIT maps, interpreter frames). */
struct pprof_line {
	const char *function; /* name; required */
	const char *filename; /* source file, or NULL */
	int64_t line;	      /* 1-based source line, 0 if unknown */
	int64_t start_line;   /* first line of the function, 0 if unknown */
};

/* One stack frame, i.e. one pprof Location. Its source positions are
 * either lines[0..nlines) -- several when calls were inlined, innermost
 * (the inlined callee) first, as pprof expects -- or, when nlines is 0,
 * the single position (function, filename) without a line number.
 * Neither (function NULL, nlines 0) means unsymbolized: the location keeps
 * the address (and the mapping, if any) so a later tool can symbolize. */
struct pprof_frame {
	uint64_t addr;			/* instruction address (runtime) */
	const char *function;		/* symbol name, or NULL */
	const char *filename;		/* source/binary file, or NULL */
	const struct pprof_line *lines; /* or NULL; see above */
	size_t nlines;
	const struct pprof_mapping_info *mapping; /* or NULL */
};

struct pprof_label {
	const char *key;
	const char *str; /* string label, or NULL for a numeric one */
	int64_t num;
	const char *num_unit; /* e.g. "pid"; may be NULL */
};

/* New empty profile. period_ns is the sampling period (1e9 / hz); start_ns
 * the wall-clock start (UNIX ns). Caller frees with pprof_builder_free(). */
int pprof_builder_new(struct pprof_builder **out, int64_t period_ns, int64_t start_ns);
void pprof_builder_free(struct pprof_builder *b);

/* Make an empty profile an off-CPU one (see the top of this file): counts
 * added are nanoseconds off CPU. -EINVAL once it holds CPU samples. */
int pprof_builder_set_offcpu(struct pprof_builder *b);

/* Whether b is an off-CPU profile (set, or merged from one). */
bool pprof_builder_is_offcpu(const struct pprof_builder *b);

/* Window length, written as duration_nanos. */
void pprof_builder_set_duration(struct pprof_builder *b, int64_t duration_ns);

/* Add `count` samples of one stack. frames[0] is the leaf (innermost).
 * cpu/nanoseconds is count * period. Identical stack+labels are merged. */
int pprof_builder_add(struct pprof_builder *b, const struct pprof_frame *frames, size_t nframes,
		      int64_t count, const struct pprof_label *labels, size_t nlabels);

/* Merge a serialized profile (gzip or plain) into b, keeping its labels.
 * Input larger than max_bytes (decompressed) is refused with -E2BIG. */
int pprof_builder_merge(struct pprof_builder *b, const void *data, size_t len, size_t max_bytes);

/* Serialize. With gzip set the output is gzip-compressed (the usual
 * .pb.gz). *out is malloc'd; the caller frees it. */
int pprof_builder_encode(struct pprof_builder *b, bool gzip, void **out, size_t *out_len);

/* Total samples (sum of samples/count) held. */
int64_t pprof_builder_total(const struct pprof_builder *b);

struct pprof_top_entry {
	char *function; /* owned; freed by pprof_top_free */
	int64_t self;	/* samples with this function as leaf */
	int64_t total;	/* samples with this function anywhere on the stack */
	char *filename; /* source file of its hottest line, or NULL; owned */
	int64_t line;	/* its hottest line (most self samples, else most on-stack), or 0 */
};

/* Top n functions by self samples, descending (ties by name). Unsymbolized
 * frames are grouped as "<mapping>+0x<offset>" or "0x<addr>". *out is an
 * array of *n_out entries; free with pprof_top_free(). */
int pprof_builder_top(const struct pprof_builder *b, size_t n, struct pprof_top_entry **out,
		      size_t *n_out);
void pprof_top_free(struct pprof_top_entry *e, size_t n);

#endif
