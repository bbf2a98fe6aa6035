/* SPDX-License-Identifier: Apache-2.0 */
/* pprof.c -- build pprof profiles in memory, encode them (protobuf-c + zlib)
 * and summarise them as a top-functions table.
 *
 * Decoding and merging live in pprof_merge.c; both share pprof_int.h.
 */
#include "arr.h"
#include "pprof_int.h"
#include "profile.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- tables ---------------------------------------------------------------- */

int pp_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	return arr_grow(arr, cap, need, elem, PP_MAX_ENTRIES);
}

static bool str_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct pprof_builder *b = ctx;

	return strcmp(b->strs[pos], key) == 0;
}

int pp_intern_str(struct pprof_builder *b, const char *s, int64_t *idx)
{
	uint64_t h;
	uint32_t pos;
	char *copy;
	int err;

	if (!s)
		s = "";
	h = htab_hash_str(HTAB_SEED, s);
	if (htab_find(&b->str_h, h, str_eq, b, s, &pos)) {
		*idx = pos;
		return 0;
	}
	err = pp_grow((void **)&b->strs, &b->cap_strs, b->n_strs + 1, sizeof(*b->strs));
	if (err)
		return err;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	err = htab_insert(&b->str_h, h, (uint32_t)b->n_strs);
	if (err) {
		free(copy);
		return err;
	}
	b->strs[b->n_strs] = copy;
	*idx = (int64_t)b->n_strs++;
	return 0;
}

static bool func_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct pprof_builder *b = ctx;

	return memcmp(&b->funcs[pos], key, sizeof(struct pp_func)) == 0;
}

int pp_intern_func(struct pprof_builder *b, const struct pp_func *f, uint64_t *id)
{
	uint64_t h =
	    htab_hash_u64(htab_hash_u64(HTAB_SEED, (uint64_t)f->name), (uint64_t)f->filename);
	uint32_t pos;
	int err;

	h = htab_hash_u64(h, (uint64_t)f->start_line);
	if (htab_find(&b->func_h, h, func_eq, b, f, &pos)) {
		*id = (uint64_t)pos + 1;
		return 0;
	}
	err = pp_grow((void **)&b->funcs, &b->cap_funcs, b->n_funcs + 1, sizeof(*b->funcs));
	if (!err)
		err = htab_insert(&b->func_h, h, (uint32_t)b->n_funcs);
	if (err)
		return err;
	b->funcs[b->n_funcs++] = *f;
	*id = b->n_funcs;
	return 0;
}

static bool map_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct pprof_builder *b = ctx;
	const struct pp_map *m = key, *o = &b->maps[pos];

	return o->filename == m->filename && o->build_id == m->build_id && o->start == m->start;
}

int pp_intern_map(struct pprof_builder *b, const struct pp_map *m, uint64_t *id)
{
	uint64_t h = htab_hash_u64(HTAB_SEED, (uint64_t)m->filename);
	uint32_t pos;
	int err;

	h = htab_hash_u64(htab_hash_u64(h, (uint64_t)m->build_id), m->start);
	if (htab_find(&b->map_h, h, map_eq, b, m, &pos)) {
		/* Inline frames are complete only if every source had them. */
		b->maps[pos].inlines = b->maps[pos].inlines && m->inlines;
		*id = (uint64_t)pos + 1;
		return 0;
	}
	err = pp_grow((void **)&b->maps, &b->cap_maps, b->n_maps + 1, sizeof(*b->maps));
	if (!err)
		err = htab_insert(&b->map_h, h, (uint32_t)b->n_maps);
	if (err)
		return err;
	b->maps[b->n_maps++] = *m;
	*id = b->n_maps;
	return 0;
}

struct loc_key {
	uint64_t mapping_id, addr;
	const struct pp_line *lines;
	size_t nlines;
};

static bool loc_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct pprof_builder *b = ctx;
	const struct loc_key *k = key;
	const struct pp_loc *l = &b->locs[pos];

	return l->mapping_id == k->mapping_id && l->addr == k->addr && l->nlines == k->nlines &&
	       (!k->nlines ||
		memcmp(&b->lines[l->line_off], k->lines, k->nlines * sizeof(*k->lines)) == 0);
}

int pp_intern_loc(struct pprof_builder *b, uint64_t mapping_id, uint64_t addr,
		  const struct pp_line *lines, size_t nlines, uint64_t *id)
{
	struct loc_key k = {mapping_id, addr, lines, nlines};
	uint64_t h = htab_hash_u64(htab_hash_u64(HTAB_SEED, mapping_id), addr);
	uint32_t pos;
	int err;

	for (size_t i = 0; i < nlines; i++)
		h = htab_hash_u64(htab_hash_u64(h, lines[i].func_id), (uint64_t)lines[i].line);
	if (htab_find(&b->loc_h, h, loc_eq, b, &k, &pos)) {
		*id = (uint64_t)pos + 1;
		return 0;
	}
	err = pp_grow((void **)&b->locs, &b->cap_locs, b->n_locs + 1, sizeof(*b->locs));
	if (!err)
		err = pp_grow((void **)&b->lines, &b->cap_lines, b->n_lines + nlines,
			      sizeof(*b->lines));
	if (!err)
		err = htab_insert(&b->loc_h, h, (uint32_t)b->n_locs);
	if (err)
		return err;
	if (nlines)
		memcpy(&b->lines[b->n_lines], lines, nlines * sizeof(*lines));
	b->locs[b->n_locs++] = (struct pp_loc){.mapping_id = mapping_id,
					       .addr = addr,
					       .line_off = (uint32_t)b->n_lines,
					       .nlines = (uint32_t)nlines};
	b->n_lines += nlines;
	*id = b->n_locs;
	return 0;
}

/* ---- samples --------------------------------------------------------------- */

static int label_cmp(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	/* Fields compared in declaration order: key, str, num, unit. */
	for (int i = 0; i < 4; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

struct sample_key {
	const uint64_t *stack;
	size_t nstack;
	const struct pp_label *labels;
	size_t nlabel;
};

static bool sample_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct pprof_builder *b = ctx;
	const struct sample_key *k = key;
	const struct pp_sample *s = &b->samples[pos];

	return s->nstack == k->nstack && s->nlabel == k->nlabel &&
	       (!k->nstack ||
		memcmp(&b->stacks[s->stack_off], k->stack, k->nstack * sizeof(*k->stack)) == 0) &&
	       (!k->nlabel ||
		memcmp(&b->labels[s->label_off], k->labels, k->nlabel * sizeof(*k->labels)) == 0);
}

int pp_add_sample(struct pprof_builder *b, const uint64_t *locs, size_t nlocs,
		  const struct pp_label *labels, size_t nlabels, int64_t count, int64_t nanos)
{
	struct sample_key k;
	struct pp_label *lab;
	uint64_t *stk;
	uint64_t h = HTAB_SEED;
	uint32_t pos;
	int err;

	/* The candidate goes at the end of the pools; it is dropped again
	 * (the pool length restored) when an identical sample exists. */
	err = pp_grow((void **)&b->stacks, &b->cap_stacks, b->n_stacks + nlocs, sizeof(*b->stacks));
	if (!err)
		err = pp_grow((void **)&b->labels, &b->cap_labels, b->n_labels + nlabels,
			      sizeof(*b->labels));
	if (!err)
		err = pp_grow((void **)&b->samples, &b->cap_samples, b->n_samples + 1,
			      sizeof(*b->samples));
	if (err)
		return err;
	/* A sample without frames or labels may come first, before any pool
	 * exists: no pointer arithmetic on a NULL pool (undefined behaviour). */
	stk = nlocs ? &b->stacks[b->n_stacks] : NULL;
	lab = nlabels ? &b->labels[b->n_labels] : NULL;
	if (nlocs)
		memcpy(stk, locs, nlocs * sizeof(*locs));
	if (nlabels) {
		memcpy(lab, labels, nlabels * sizeof(*labels));
		qsort(lab, nlabels, sizeof(*lab), label_cmp);
	}
	for (size_t i = 0; i < nlocs; i++)
		h = htab_hash_u64(h, stk[i]);
	h = htab_hash_u64(h, nlocs);
	for (size_t i = 0; i < nlabels; i++)
		h = htab_hash_bytes(h, &lab[i], sizeof(lab[i]));
	k = (struct sample_key){stk, nlocs, lab, nlabels};
	if (htab_find(&b->sample_h, h, sample_eq, b, &k, &pos)) {
		struct pp_sample *s = &b->samples[pos];

		if (__builtin_add_overflow(s->count, count, &s->count) ||
		    __builtin_add_overflow(s->nanos, nanos, &s->nanos))
			return -ERANGE;
		b->total += count;
		return 0;
	}
	err = htab_insert(&b->sample_h, h, (uint32_t)b->n_samples);
	if (err)
		return err;
	b->samples[b->n_samples++] = (struct pp_sample){.stack_off = (uint32_t)b->n_stacks,
							.nstack = (uint32_t)nlocs,
							.label_off = (uint32_t)b->n_labels,
							.nlabel = (uint32_t)nlabels,
							.count = count,
							.nanos = nanos};
	b->n_stacks += nlocs;
	b->n_labels += nlabels;
	b->total += count;
	return 0;
}

/* ---- public builder API ---------------------------------------------------- */

int pprof_builder_new(struct pprof_builder **out, int64_t period_ns, int64_t start_ns)
{
	static const char *const fixed[] = {"", "samples", "count", "cpu", "nanoseconds"};
	struct pprof_builder *b;
	int64_t idx;
	int err = 0;

	*out = NULL;
	if (period_ns < 0)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->period_ns = period_ns;
	b->start_ns = start_ns;
	/* Fixed strings first so that the sample types use indices 1..4. */
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && !err; i++)
		err = pp_intern_str(b, fixed[i], &idx);
	if (err) {
		pprof_builder_free(b);
		return err;
	}
	*out = b;
	return 0;
}

int pprof_builder_set_offcpu(struct pprof_builder *b)
{
	if (b->offcpu_str)
		return 0;
	if (b->n_samples)
		return -EINVAL;
	b->period_ns = 1; /* a count is a nanosecond */
	return pp_intern_str(b, "off_cpu", &b->offcpu_str);
}

bool pprof_builder_is_offcpu(const struct pprof_builder *b)
{
	return b->offcpu_str != 0;
}

void pprof_builder_free(struct pprof_builder *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_strs; i++)
		free(b->strs[i]);
	free(b->strs);
	free(b->funcs);
	free(b->maps);
	free(b->locs);
	free(b->lines);
	free(b->samples);
	free(b->stacks);
	free(b->labels);
	htab_release(&b->str_h);
	htab_release(&b->func_h);
	htab_release(&b->map_h);
	htab_release(&b->loc_h);
	htab_release(&b->sample_h);
	free(b);
}

void pprof_builder_set_duration(struct pprof_builder *b, int64_t duration_ns)
{
	b->duration_ns = duration_ns;
}

int64_t pprof_builder_total(const struct pprof_builder *b)
{
	return b->total;
}

/* Intern one source position as a (function, line) pair. */
static int intern_line(struct pprof_builder *b, const struct pprof_line *in, struct pp_line *out)
{
	struct pp_func f = {.start_line = in->start_line};
	int err;

	if (!in->function)
		return -EINVAL;
	err = pp_intern_str(b, in->function, &f.name);
	if (!err && in->filename)
		err = pp_intern_str(b, in->filename, &f.filename);
	if (!err)
		err = pp_intern_func(b, &f, &out->func_id);
	out->line = in->line;
	return err;
}

static int frame_loc(struct pprof_builder *b, const struct pprof_frame *f, uint64_t *id)
{
	uint64_t mapping_id = 0;
	struct pp_line one, *lines = &one;
	size_t nlines = 0;
	int err = 0;

	if (f->mapping) {
		struct pp_map m = {.start = f->mapping->start,
				   .limit = f->mapping->limit,
				   .offset = f->mapping->file_offset,
				   .inlines = f->mapping->has_inline_frames};

		err = pp_intern_str(b, f->mapping->filename, &m.filename);
		if (!err && f->mapping->build_id)
			err = pp_intern_str(b, f->mapping->build_id, &m.build_id);
		if (!err)
			err = pp_intern_map(b, &m, &mapping_id);
		if (err)
			return err;
	}
	if (f->nlines) {
		if (!f->lines)
			return -EINVAL;
		if (f->nlines > PP_MAX_ENTRIES)
			return -E2BIG;
		if (f->nlines > 1) {
			lines = calloc(f->nlines, sizeof(*lines));
			if (!lines)
				return -ENOMEM;
		}
		for (; nlines < f->nlines && !err; nlines++)
			err = intern_line(b, &f->lines[nlines], &lines[nlines]);
	} else if (f->function) {
		struct pprof_line l = {.function = f->function, .filename = f->filename};

		err = intern_line(b, &l, &one);
		nlines = 1;
	}
	if (!err)
		err = pp_intern_loc(b, mapping_id, f->addr, lines, nlines, id);
	if (lines != &one)
		free(lines);
	return err;
}

int pprof_builder_add(struct pprof_builder *b, const struct pprof_frame *frames, size_t nframes,
		      int64_t count, const struct pprof_label *labels, size_t nlabels)
{
	uint64_t *locs = NULL;
	struct pp_label *labs = NULL;
	int64_t nanos;
	int err = 0;

	if (count < 0 || (nframes && !frames) || (nlabels && !labels))
		return -EINVAL;
	if (count == 0)
		return 0;
	if (nframes > PP_MAX_ENTRIES || nlabels > PP_MAX_ENTRIES)
		return -E2BIG;
	if (__builtin_mul_overflow(count, b->period_ns, &nanos))
		return -ERANGE;
	locs = calloc(nframes ? nframes : 1, sizeof(*locs));
	labs = calloc(nlabels ? nlabels : 1, sizeof(*labs));
	if (!locs || !labs) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < nframes && !err; i++)
		err = frame_loc(b, &frames[i], &locs[i]);
	for (size_t i = 0; i < nlabels && !err; i++) {
		const struct pprof_label *l = &labels[i];

		if (!l->key) {
			err = -EINVAL;
			break;
		}
		err = pp_intern_str(b, l->key, &labs[i].key);
		if (!err && l->str)
			err = pp_intern_str(b, l->str, &labs[i].str);
		if (!err && !l->str) {
			labs[i].num = l->num;
			if (l->num_unit)
				err = pp_intern_str(b, l->num_unit, &labs[i].unit);
		}
	}
	if (err)
		goto cleanup;
	err = pp_add_sample(b, locs, nframes, labs, nlabels, count, nanos);
cleanup:
	free(locs);
	free(labs);
	return err;
}

/* ---- encode ---------------------------------------------------------------- */

static int gzip_buf(const uint8_t *in, size_t len, void **out, size_t *out_len)
{
	z_stream zs = {0};
	size_t cap = compressBound((uLong)len) + 64; /* + gzip header/trailer */
	uint8_t *buf = NULL;
	int err = 0;

	if (len > UINT32_MAX)
		return -E2BIG;
	/* windowBits 15 + 16 asks zlib for a gzip (not zlib) wrapper. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		err = -EIO;
		goto cleanup;
	}
	*out = buf;
	*out_len = zs.total_out;
	buf = NULL;
cleanup:
	deflateEnd(&zs);
	free(buf);
	return err;
}

/* All the protobuf-c message structs of one encode, freed together. */
struct enc {
	Perftools__Profiles__ValueType vt[3], *vtp[2];
	Perftools__Profiles__Sample *s, **sp;
	int64_t *values;
	Perftools__Profiles__Label *l, **lp;
	Perftools__Profiles__Mapping *m, **mp;
	Perftools__Profiles__Location *loc, **locp;
	Perftools__Profiles__Line *ln, **lnp;
	Perftools__Profiles__Function *f, **fp;
	uint8_t *unsym; /* per mapping: LACKS_/HAS_ bits of its locations, or-ed */
};

static void enc_free(struct enc *e)
{
	free(e->s);
	free(e->sp);
	free(e->values);
	free(e->l);
	free(e->lp);
	free(e->m);
	free(e->mp);
	free(e->loc);
	free(e->locp);
	free(e->ln);
	free(e->lnp);
	free(e->f);
	free(e->fp);
	free(e->unsym);
}

static int enc_alloc(struct enc *e, const struct pprof_builder *b)
{
	/* +1 everywhere so that empty tables still get a valid pointer. */
	e->s = calloc(b->n_samples + 1, sizeof(*e->s));
	e->sp = calloc(b->n_samples + 1, sizeof(*e->sp));
	e->values = calloc(2 * b->n_samples + 1, sizeof(*e->values));
	e->l = calloc(b->n_labels + 1, sizeof(*e->l));
	e->lp = calloc(b->n_labels + 1, sizeof(*e->lp));
	e->m = calloc(b->n_maps + 1, sizeof(*e->m));
	e->mp = calloc(b->n_maps + 1, sizeof(*e->mp));
	e->loc = calloc(b->n_locs + 1, sizeof(*e->loc));
	e->locp = calloc(b->n_locs + 1, sizeof(*e->locp));
	e->ln = calloc(b->n_lines + 1, sizeof(*e->ln));
	e->lnp = calloc(b->n_lines + 1, sizeof(*e->lnp));
	e->f = calloc(b->n_funcs + 1, sizeof(*e->f));
	e->fp = calloc(b->n_funcs + 1, sizeof(*e->fp));
	e->unsym = calloc(b->n_maps + 1, 1);
	if (!e->s || !e->sp || !e->values || !e->l || !e->lp || !e->m || !e->mp || !e->loc ||
	    !e->locp || !e->ln || !e->lnp || !e->f || !e->fp || !e->unsym)
		return -ENOMEM;
	return 0;
}

enum { LACKS_FUNCTION = 1, HAS_FILENAME = 2, HAS_LINE = 4 };

/* An executable rather than a shared library or pseudo mapping. */
static bool is_executable_name(const char *fn)
{
	const char *base = strrchr(fn, '/');

	base = base ? base + 1 : fn;
	return fn[0] != '[' && !strstr(base, ".so");
}

struct pid_tally {
	int64_t pid, count;
};

static int pid_cmp(const void *a, const void *b)
{
	const struct pid_tally *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Index of the mapping most present in the samples of the most-sampled
 * pid (label "pid") that looks like an executable, or 0 (keep mapping 0). */
static size_t main_executable(const struct pprof_builder *b)
{
	int64_t *per_map = calloc(b->n_maps + 1, sizeof(*per_map)), top_pid = -1, best = 0;
	int64_t pid_key = -1, top_count = 0, cur = 0;
	size_t main_map = 0;
	struct pid_tally *tally = NULL;

	for (size_t i = 0; i < b->n_strs && pid_key < 0; i++)
		if (strcmp(b->strs[i], "pid") == 0)
			pid_key = (int64_t)i;
	tally = calloc(b->n_samples + 1, sizeof(*tally));
	if (!per_map || !tally || pid_key < 0)
		goto cleanup;
	for (size_t i = 0; i < b->n_samples; i++) {
		const struct pp_sample *s = &b->samples[i];

		tally[i].pid = -1;
		tally[i].count = s->count;
		for (uint32_t j = 0; j < s->nlabel; j++)
			if (b->labels[s->label_off + j].key == pid_key &&
			    !b->labels[s->label_off + j].str)
				tally[i].pid = b->labels[s->label_off + j].num;
	}
	/* Most samples per pid: sum runs after sorting by pid. */
	qsort(tally, b->n_samples, sizeof(*tally), pid_cmp);
	for (size_t i = 0; i < b->n_samples; i++) {
		cur = i && tally[i].pid == tally[i - 1].pid ? cur + tally[i].count : tally[i].count;
		if (tally[i].pid >= 0 && cur > top_count) {
			top_count = cur;
			top_pid = tally[i].pid;
		}
	}
	for (size_t i = 0; top_pid >= 0 && i < b->n_samples; i++) {
		const struct pp_sample *s = &b->samples[i];
		bool mine = false;

		for (uint32_t j = 0; j < s->nlabel; j++)
			mine |= b->labels[s->label_off + j].key == pid_key &&
				!b->labels[s->label_off + j].str &&
				b->labels[s->label_off + j].num == top_pid;
		for (uint32_t j = 0; mine && j < s->nstack; j++) {
			uint64_t m = b->locs[b->stacks[s->stack_off + j] - 1].mapping_id;

			if (m)
				per_map[m - 1] += s->count;
		}
	}
	for (size_t i = 0; i < b->n_maps; i++)
		if (per_map[i] > best && is_executable_name(b->strs[b->maps[i].filename])) {
			best = per_map[i];
			main_map = i;
		}
cleanup:
	free(per_map);
	free(tally);
	return main_map;
}

/* What a location's symbolization lacks or has, as LACKS_ and HAS_ bits. */
static uint8_t loc_lacks(const struct pprof_builder *b, const struct pp_loc *l)
{
	uint8_t bits = l->nlines ? 0 : LACKS_FUNCTION;

	for (size_t j = 0; j < l->nlines; j++) {
		const struct pp_line *ln = &b->lines[l->line_off + j];

		if (b->funcs[ln->func_id - 1].filename)
			bits |= HAS_FILENAME;
		if (ln->line > 0)
			bits |= HAS_LINE;
	}
	return bits;
}

static void enc_fill(struct enc *e, const struct pprof_builder *b, Perftools__Profiles__Profile *p)
{
	for (int i = 0; i < 3; i++)
		perftools__profiles__value_type__init(&e->vt[i]);
	/* String indices fixed by pprof_builder_new: 1 samples, 2 count,
	 * 3 cpu, 4 nanoseconds. */
	e->vt[0].type = 1;
	e->vt[0].unit = 2;
	e->vt[1].type = 3;
	e->vt[1].unit = 4;
	e->vt[2].type = 3;
	e->vt[2].unit = 4;
	if (b->offcpu_str) {
		/* One sample type, off_cpu/nanoseconds, also the period type. */
		e->vt[0].type = b->offcpu_str;
		e->vt[0].unit = 4;
		e->vt[2].type = b->offcpu_str;
	}
	e->vtp[0] = &e->vt[0];
	e->vtp[1] = &e->vt[1];
	p->n_sample_type = b->offcpu_str ? 1 : 2;
	p->sample_type = e->vtp;
	p->period_type = &e->vt[2];
	p->period = b->period_ns;
	p->time_nanos = b->start_ns;
	p->duration_nanos = b->duration_ns;
	p->n_string_table = b->n_strs;
	p->string_table = b->strs;

	for (size_t i = 0; i < b->n_labels; i++) {
		perftools__profiles__label__init(&e->l[i]);
		e->l[i].key = b->labels[i].key;
		e->l[i].str = b->labels[i].str;
		e->l[i].num = b->labels[i].num;
		e->l[i].num_unit = b->labels[i].unit;
		e->lp[i] = &e->l[i];
	}
	for (size_t i = 0; i < b->n_samples; i++) {
		const struct pp_sample *s = &b->samples[i];

		perftools__profiles__sample__init(&e->s[i]);
		e->values[2 * i] = b->offcpu_str ? s->nanos : s->count;
		e->values[2 * i + 1] = s->nanos;
		e->s[i].n_value = p->n_sample_type;
		e->s[i].value = &e->values[2 * i];
		/* No pointer into an array that may not exist when the count is 0. */
		e->s[i].n_location_id = s->nstack;
		e->s[i].location_id = s->nstack ? &b->stacks[s->stack_off] : NULL;
		e->s[i].n_label = s->nlabel;
		e->s[i].label = s->nlabel ? &e->lp[s->label_off] : NULL;
		e->sp[i] = &e->s[i];
	}
	p->n_sample = b->n_samples;
	p->sample = e->sp;

	for (size_t i = 0; i < b->n_funcs; i++) {
		perftools__profiles__function__init(&e->f[i]);
		e->f[i].id = i + 1;
		e->f[i].name = b->funcs[i].name;
		e->f[i].system_name = b->funcs[i].name;
		e->f[i].filename = b->funcs[i].filename;
		e->f[i].start_line = b->funcs[i].start_line;
		e->fp[i] = &e->f[i];
	}
	p->n_function = b->n_funcs;
	p->function = e->fp;

	for (size_t i = 0; i < b->n_lines; i++) {
		perftools__profiles__line__init(&e->ln[i]);
		e->ln[i].function_id = b->lines[i].func_id;
		e->ln[i].line = b->lines[i].line;
		e->lnp[i] = &e->ln[i];
	}
	for (size_t i = 0; i < b->n_locs; i++) {
		const struct pp_loc *l = &b->locs[i];

		perftools__profiles__location__init(&e->loc[i]);
		e->loc[i].id = i + 1;
		e->loc[i].mapping_id = l->mapping_id;
		e->loc[i].address = l->addr;
		e->loc[i].n_line = l->nlines;
		e->loc[i].line = l->nlines ? &e->lnp[l->line_off] : NULL;
		e->locp[i] = &e->loc[i];
		if (l->mapping_id)
			e->unsym[l->mapping_id - 1] |= loc_lacks(b, l);
	}
	p->n_location = b->n_locs;
	p->location = e->locp;

	for (size_t i = 0; i < b->n_maps; i++) {
		const struct pp_map *m = &b->maps[i];

		perftools__profiles__mapping__init(&e->m[i]);
		e->m[i].id = i + 1;
		e->m[i].memory_start = m->start;
		e->m[i].memory_limit = m->limit;
		e->m[i].file_offset = m->offset;
		e->m[i].filename = m->filename;
		e->m[i].build_id = m->build_id;
		/* Functions are claimed only when every frame in the mapping is
		 * named, so that pprof still offers to symbolize the rest
		 * offline. Files and lines are claimed when the mapping's line
		 * tables named some frame: a named function without a line there
		 * (start-up code from crt objects, assembly) has none anywhere,
		 * and a false flag would make pprof re-symbolize the whole
		 * mapping from whatever binary the viewer has at hand. */
		bool named = !(e->unsym[i] & LACKS_FUNCTION);

		e->m[i].has_functions = named;
		e->m[i].has_filenames = named && (e->unsym[i] & HAS_FILENAME);
		e->m[i].has_line_numbers = named && (e->unsym[i] & HAS_LINE);
		e->m[i].has_inline_frames = m->inlines && named;
		e->mp[i] = &e->m[i];
	}
	/* pprof tools take the first mapping as the main binary (ids stay as
	 * they are): the most-sampled process's executable, else the first
	 * file-backed one, not the kernel or [vdso]. */
	{
		size_t main_map = main_executable(b);

		for (size_t i = 1; main_map == 0 && i < b->n_maps; i++) {
			if (b->strs[b->maps[0].filename][0] != '[')
				break;
			if (b->strs[b->maps[i].filename][0] != '[')
				main_map = i;
		}
		if (main_map) {
			e->mp[0] = &e->m[main_map];
			e->mp[main_map] = &e->m[0];
		}
	}
	p->n_mapping = b->n_maps;
	p->mapping = e->mp;
}

int pprof_builder_encode(struct pprof_builder *b, bool gzip, void **out, size_t *out_len)
{
	Perftools__Profiles__Profile p;
	struct enc e = {0};
	uint8_t *raw = NULL;
	size_t len;
	int err;

	*out = NULL;
	*out_len = 0;
	perftools__profiles__profile__init(&p);
	err = enc_alloc(&e, b);
	if (err)
		goto cleanup;
	enc_fill(&e, b, &p);
	len = perftools__profiles__profile__get_packed_size(&p);
	raw = malloc(len ? len : 1);
	if (!raw) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (perftools__profiles__profile__pack(&p, raw) != len) {
		err = -EIO;
		goto cleanup;
	}
	if (gzip) {
		err = gzip_buf(raw, len, out, out_len);
		goto cleanup;
	}
	*out = raw;
	*out_len = len;
	raw = NULL;
cleanup:
	free(raw);
	enc_free(&e);
	return err;
}
