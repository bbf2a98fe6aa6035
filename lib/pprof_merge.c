/* SPDX-License-Identifier: Apache-2.0 */
/* pprof_merge.c -- decode a serialized pprof (gzip or raw) and merge it into
 * a builder, re-interning everything so that dedup holds across sources.
 *
 * Input comes from the network (worker profiles reaching the operator), so
 * the decompressed size is capped and every index and id is checked before
 * the builder is touched: a bad profile is refused whole, never half-merged.
 */
#include "pprof_int.h"
#include "profile.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef Perftools__Profiles__Profile pb_profile;

static int gunzip_capped(const uint8_t *in, size_t len, size_t max_bytes, uint8_t **out,
			 size_t *out_len)
{
	z_stream zs = {0};
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;
	int err = 0, zr = Z_OK;

	if (len > UINT32_MAX)
		return -E2BIG;
	/* 15 + 16: accept only a gzip wrapper. */
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	while (zr != Z_STREAM_END) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64 * 1024;
			uint8_t *p;

			/* Allow one byte past the cap to detect "too big". */
			if (ncap > max_bytes + 1)
				ncap = max_bytes + 1;
			if (ncap <= cap) {
				err = -E2BIG;
				goto cleanup;
			}
			p = realloc(buf, ncap);
			if (!p) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = p;
			cap = ncap;
		}
		zs.next_out = buf + n;
		zs.avail_out = (uInt)(cap - n);
		zr = inflate(&zs, Z_NO_FLUSH);
		n = cap - zs.avail_out;
		if (zr == Z_BUF_ERROR && zs.avail_in == 0) {
			err = -EINVAL; /* truncated stream */
			goto cleanup;
		}
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			err = -EINVAL;
			goto cleanup;
		}
		if (n > max_bytes) {
			err = -E2BIG;
			goto cleanup;
		}
	}
	*out = buf;
	*out_len = n;
	buf = NULL;
cleanup:
	inflateEnd(&zs);
	free(buf);
	return err;
}

/* Sorted (id, position) pairs to resolve ids that need not be dense. */
struct id_map {
	uint64_t *ids; /* sorted id << 0, paired with pos */
	uint32_t *pos;
	size_t n;
	bool dense; /* id == position + 1 for all: no search needed */
};

struct id_pair {
	uint64_t id;
	uint32_t pos;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct id_pair *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int id_map_build(struct id_map *m, size_t n, uint64_t (*get)(const void *, size_t),
			const void *arr)
{
	struct id_pair *pairs = NULL;
	int err = 0;

	m->n = n;
	m->dense = true;
	for (size_t i = 0; i < n && m->dense; i++)
		m->dense = get(arr, i) == i + 1;
	if (m->dense)
		return 0;
	pairs = calloc(n, sizeof(*pairs));
	m->ids = calloc(n, sizeof(*m->ids));
	m->pos = calloc(n, sizeof(*m->pos));
	if (!pairs || !m->ids || !m->pos) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++)
		pairs[i] = (struct id_pair){get(arr, i), (uint32_t)i};
	qsort(pairs, n, sizeof(*pairs), pair_cmp);
	for (size_t i = 0; i < n; i++) {
		/* Id 0 means "none" in pprof and ids must be unique. */
		if (pairs[i].id == 0 || (i && pairs[i].id == pairs[i - 1].id)) {
			err = -EINVAL;
			goto cleanup;
		}
		m->ids[i] = pairs[i].id;
		m->pos[i] = pairs[i].pos;
	}
cleanup:
	free(pairs);
	return err;
}

/* Position of id, or -1 when absent. */
static int64_t id_map_find(const struct id_map *m, uint64_t id)
{
	size_t lo = 0, hi = m->n;

	if (m->dense)
		return id >= 1 && id <= m->n ? (int64_t)(id - 1) : -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->ids[mid] == id)
			return m->pos[mid];
		if (m->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void id_map_free(struct id_map *m)
{
	free(m->ids);
	free(m->pos);
	memset(m, 0, sizeof(*m));
}

static uint64_t get_map_id(const void *a, size_t i)
{
	return ((const pb_profile *)a)->mapping[i]->id;
}

static uint64_t get_loc_id(const void *a, size_t i)
{
	return ((const pb_profile *)a)->location[i]->id;
}

static uint64_t get_func_id(const void *a, size_t i)
{
	return ((const pb_profile *)a)->function[i]->id;
}

struct merge_ctx {
	const pb_profile *p;
	struct id_map maps, locs, funcs;
	int cnt_idx, ns_idx; /* sample value index of samples/count, cpu/nanoseconds */
	int off_idx;	     /* ... of off_cpu/nanoseconds: an off-CPU profile */
	uint64_t *new_map, *new_func, *new_loc;
	int64_t *new_str;
};

static bool str_ok(const pb_profile *p, int64_t i)
{
	return i >= 0 && (uint64_t)i < p->n_string_table;
}

static int find_type(const pb_profile *p, const char *type, const char *unit)
{
	for (size_t i = 0; i < p->n_sample_type; i++) {
		const Perftools__Profiles__ValueType *v = p->sample_type[i];

		if (str_ok(p, v->type) && str_ok(p, v->unit) &&
		    strcmp(p->string_table[v->type], type) == 0 &&
		    strcmp(p->string_table[v->unit], unit) == 0)
			return (int)i;
	}
	return -1;
}

/* Every reference checked, so the interning pass can trust the input. */
static int validate(struct merge_ctx *c)
{
	const pb_profile *p = c->p;
	int err;

	if (p->n_string_table == 0 || p->string_table[0][0] != '\0')
		return -EINVAL;
	if (p->n_mapping > PP_MAX_ENTRIES || p->n_location > PP_MAX_ENTRIES ||
	    p->n_function > PP_MAX_ENTRIES || p->n_string_table > PP_MAX_ENTRIES)
		return -E2BIG;
	err = id_map_build(&c->maps, p->n_mapping, get_map_id, p);
	if (!err)
		err = id_map_build(&c->locs, p->n_location, get_loc_id, p);
	if (!err)
		err = id_map_build(&c->funcs, p->n_function, get_func_id, p);
	if (err)
		return err;
	for (size_t i = 0; i < p->n_sample_type; i++)
		if (!str_ok(p, p->sample_type[i]->type) || !str_ok(p, p->sample_type[i]->unit))
			return -EINVAL;
	c->cnt_idx = find_type(p, "samples", "count");
	c->ns_idx = find_type(p, "cpu", "nanoseconds");
	c->off_idx = c->cnt_idx < 0 && c->ns_idx < 0 ? find_type(p, "off_cpu", "nanoseconds") : -1;
	if (c->off_idx >= 0)
		c->cnt_idx = c->ns_idx = c->off_idx; /* a count is a nanosecond */
	if (c->cnt_idx < 0 && c->ns_idx < 0)
		return -EINVAL;
	if (c->cnt_idx < 0 && p->period <= 0)
		return -EINVAL; /* cannot turn nanoseconds back into counts */
	for (size_t i = 0; i < p->n_mapping; i++) {
		const Perftools__Profiles__Mapping *m = p->mapping[i];

		if (!str_ok(p, m->filename) || !str_ok(p, m->build_id))
			return -EINVAL;
	}
	for (size_t i = 0; i < p->n_function; i++) {
		const Perftools__Profiles__Function *f = p->function[i];

		if (!str_ok(p, f->name) || !str_ok(p, f->filename))
			return -EINVAL;
	}
	for (size_t i = 0; i < p->n_location; i++) {
		const Perftools__Profiles__Location *l = p->location[i];

		if (l->mapping_id && id_map_find(&c->maps, l->mapping_id) < 0)
			return -EINVAL;
		for (size_t j = 0; j < l->n_line; j++)
			if (id_map_find(&c->funcs, l->line[j]->function_id) < 0)
				return -EINVAL;
	}
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];

		if (s->n_value != p->n_sample_type ||
		    (c->cnt_idx >= 0 && s->value[c->cnt_idx] < 0) ||
		    (c->ns_idx >= 0 && s->value[c->ns_idx] < 0))
			return -EINVAL;
		for (size_t j = 0; j < s->n_location_id; j++)
			if (id_map_find(&c->locs, s->location_id[j]) < 0)
				return -EINVAL;
		for (size_t j = 0; j < s->n_label; j++) {
			const Perftools__Profiles__Label *l = s->label[j];

			if (!str_ok(p, l->key) || !str_ok(p, l->str) || !str_ok(p, l->num_unit))
				return -EINVAL;
		}
	}
	return 0;
}

static int intern_tables(struct merge_ctx *c, struct pprof_builder *b)
{
	const pb_profile *p = c->p;
	struct pp_line *lines = NULL;
	size_t cap_lines = 0;
	int err = 0;

	c->new_str = calloc(p->n_string_table, sizeof(*c->new_str));
	c->new_map = calloc(p->n_mapping + 1, sizeof(*c->new_map));
	c->new_func = calloc(p->n_function + 1, sizeof(*c->new_func));
	c->new_loc = calloc(p->n_location + 1, sizeof(*c->new_loc));
	if (!c->new_str || !c->new_map || !c->new_func || !c->new_loc)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_string_table && !err; i++)
		err = pp_intern_str(b, p->string_table[i], &c->new_str[i]);
	for (size_t i = 0; i < p->n_mapping && !err; i++) {
		const Perftools__Profiles__Mapping *m = p->mapping[i];
		struct pp_map nm = {.start = m->memory_start,
				    .limit = m->memory_limit,
				    .offset = m->file_offset,
				    .filename = c->new_str[m->filename],
				    .build_id = c->new_str[m->build_id],
				    .inlines = m->has_inline_frames};

		err = pp_intern_map(b, &nm, &c->new_map[i]);
	}
	for (size_t i = 0; i < p->n_function && !err; i++) {
		const Perftools__Profiles__Function *f = p->function[i];

		struct pp_func nf = {.name = c->new_str[f->name],
				     .filename = c->new_str[f->filename],
				     .start_line = f->start_line};

		err = pp_intern_func(b, &nf, &c->new_func[i]);
	}
	for (size_t i = 0; i < p->n_location && !err; i++) {
		const Perftools__Profiles__Location *l = p->location[i];
		uint64_t map = l->mapping_id ? c->new_map[id_map_find(&c->maps, l->mapping_id)] : 0;

		err = pp_grow((void **)&lines, &cap_lines, l->n_line, sizeof(*lines));
		for (size_t j = 0; j < l->n_line && !err; j++) {
			lines[j].func_id =
			    c->new_func[id_map_find(&c->funcs, l->line[j]->function_id)];
			lines[j].line = l->line[j]->line;
		}
		if (!err)
			err = pp_intern_loc(b, map, l->address, lines, l->n_line, &c->new_loc[i]);
	}
	free(lines);
	return err;
}

static int add_samples(struct merge_ctx *c, struct pprof_builder *b)
{
	const pb_profile *p = c->p;
	uint64_t *locs = NULL;
	struct pp_label *labs = NULL;
	size_t cap_locs = 0, cap_labs = 0;
	int err = 0;

	for (size_t i = 0; i < p->n_sample && !err; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		int64_t count, nanos;

		count = c->cnt_idx >= 0 ? s->value[c->cnt_idx] : s->value[c->ns_idx] / p->period;
		if (c->ns_idx >= 0)
			nanos = s->value[c->ns_idx];
		else if (__builtin_mul_overflow(count, p->period, &nanos))
			err = -ERANGE;
		if (err)
			break;
		if (count == 0 && nanos == 0)
			continue;
		err = pp_grow((void **)&locs, &cap_locs, s->n_location_id, sizeof(*locs));
		if (!err)
			err = pp_grow((void **)&labs, &cap_labs, s->n_label, sizeof(*labs));
		if (err)
			break;
		for (size_t j = 0; j < s->n_location_id; j++)
			locs[j] = c->new_loc[id_map_find(&c->locs, s->location_id[j])];
		for (size_t j = 0; j < s->n_label; j++) {
			const Perftools__Profiles__Label *l = s->label[j];

			labs[j] = (struct pp_label){.key = c->new_str[l->key],
						    .str = c->new_str[l->str],
						    .num = l->str ? 0 : l->num,
						    .unit = l->str ? 0 : c->new_str[l->num_unit]};
		}
		err = pp_add_sample(b, locs, s->n_location_id, labs, s->n_label, count, nanos);
	}
	free(locs);
	free(labs);
	return err;
}

static void merge_times(struct pprof_builder *b, const pb_profile *p)
{
	/* The merged window spans every source window. */
	if (p->time_nanos > 0) {
		int64_t end = b->start_ns + b->duration_ns;
		int64_t pend = p->time_nanos + (p->duration_nanos > 0 ? p->duration_nanos : 0);

		if (b->start_ns <= 0 || p->time_nanos < b->start_ns)
			b->start_ns = p->time_nanos;
		if (b->start_ns <= 0 || pend > end)
			end = pend;
		b->duration_ns = end - b->start_ns;
	} else if (p->duration_nanos > b->duration_ns) {
		b->duration_ns = p->duration_nanos;
	}
	if (b->period_ns <= 0 && p->period > 0)
		b->period_ns = p->period;
}

int pprof_builder_merge(struct pprof_builder *b, const void *data, size_t len, size_t max_bytes)
{
	const uint8_t *in = data;
	uint8_t *plain = NULL;
	size_t plain_len = len;
	pb_profile *p = NULL;
	struct merge_ctx c = {0};
	int err = 0;

	if (!data && len)
		return -EINVAL;
	if (len >= 2 && in[0] == 0x1f && in[1] == 0x8b) {
		err = gunzip_capped(in, len, max_bytes, &plain, &plain_len);
		if (err)
			goto cleanup;
		in = plain;
	} else if (len > max_bytes) {
		err = -E2BIG;
		goto cleanup;
	}
	p = perftools__profiles__profile__unpack(NULL, plain_len, in);
	if (!p) {
		err = -EINVAL;
		goto cleanup;
	}
	c.p = p;
	err = validate(&c);
	/* Off-CPU time and CPU samples do not add up: one kind per builder. */
	if (!err && c.off_idx >= 0)
		err = pprof_builder_set_offcpu(b);
	else if (!err && b->offcpu_str && p->n_sample)
		err = -EINVAL;
	if (!err)
		err = intern_tables(&c, b);
	if (!err)
		err = add_samples(&c, b);
	if (!err)
		merge_times(b, p);
cleanup:
	id_map_free(&c.maps);
	id_map_free(&c.locs);
	id_map_free(&c.funcs);
	free(c.new_str);
	free(c.new_map);
	free(c.new_func);
	free(c.new_loc);
	if (p)
		perftools__profiles__profile__free_unpacked(p, NULL);
	free(plain);
	return err;
}
