/* SPDX-License-Identifier: Apache-2.0 */
/* pprof_int.h -- the builder's in-memory tables, shared by pprof.c (build,
 * encode, top) and pprof_merge.c (decode, validate, merge). Not a public
 * header: nothing outside lib/pprof*.c includes it.
 *
 * Everything is interned: strings by content, functions by (name, filename,
 * start line), mappings by (filename, build_id, start), locations by
 * (mapping, address, lines), samples by (stack, sorted labels). Ids handed out are array
 * position + 1, as the pprof format wants non-zero ids.
 */
#ifndef PODPROF_PPROF_INT_H
#define PODPROF_PPROF_INT_H

#include "htab.h"
#include "pprof.h"

/* Hard limit on any interned table; positions are kept in 32 bits. */
#define PP_MAX_ENTRIES (1u << 30)

struct pp_func {
	int64_t name;	    /* string index */
	int64_t filename;   /* string index, 0 if unknown */
	int64_t start_line; /* 0 if unknown */
};

struct pp_map {
	uint64_t start, limit, offset;
	int64_t filename; /* string index */
	int64_t build_id; /* string index, 0 if unknown */
	bool inlines;	  /* every source added inline frames (ANDed on interning) */
};

struct pp_line {
	uint64_t func_id; /* function id (position + 1) */
	int64_t line;	  /* source line, 0 if unknown */
};

struct pp_loc {
	uint64_t mapping_id; /* 0 if none */
	uint64_t addr;
	uint32_t line_off; /* first entry in lines[] */
	uint32_t nlines;   /* 0 = unsymbolized */
};

struct pp_label {
	int64_t key, str, num, unit; /* string indices except num */
};

struct pp_sample {
	uint32_t stack_off, nstack; /* in stacks[]; stacks[stack_off] is the leaf */
	uint32_t label_off, nlabel; /* in labels[] */
	int64_t count;		    /* samples/count */
	int64_t nanos;		    /* cpu/nanoseconds */
};

struct pprof_builder {
	int64_t period_ns, start_ns, duration_ns;
	int64_t offcpu_str; /* off-CPU profile: string index of "off_cpu"; 0 for CPU */

	char **strs; /* owned copies; strs[0] = "" */
	size_t n_strs, cap_strs;
	struct htab str_h;

	struct pp_func *funcs;
	size_t n_funcs, cap_funcs;
	struct htab func_h;

	struct pp_map *maps;
	size_t n_maps, cap_maps;
	struct htab map_h;

	struct pp_loc *locs;
	size_t n_locs, cap_locs;
	struct htab loc_h;
	struct pp_line *lines; /* pool for locs */
	size_t n_lines, cap_lines;

	struct pp_sample *samples;
	size_t n_samples, cap_samples;
	struct htab sample_h;
	uint64_t *stacks; /* pool of location ids for samples */
	size_t n_stacks, cap_stacks;
	struct pp_label *labels; /* pool of labels for samples */
	size_t n_labels, cap_labels;

	int64_t total; /* sum of counts */
};

/* Grow *arr (element size elem) so that it holds at least need elements. */
int pp_grow(void **arr, size_t *cap, size_t need, size_t elem);

int pp_intern_str(struct pprof_builder *b, const char *s, int64_t *idx);
int pp_intern_func(struct pprof_builder *b, const struct pp_func *f, uint64_t *id);
int pp_intern_map(struct pprof_builder *b, const struct pp_map *m, uint64_t *id);
int pp_intern_loc(struct pprof_builder *b, uint64_t mapping_id, uint64_t addr,
		  const struct pp_line *lines, size_t nlines, uint64_t *id);

/* Add (or merge into an identical) sample. labels need not be sorted. */
int pp_add_sample(struct pprof_builder *b, const uint64_t *locs, size_t nlocs,
		  const struct pp_label *labels, size_t nlabels, int64_t count, int64_t nanos);

#endif
