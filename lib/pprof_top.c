/* SPDX-License-Identifier: Apache-2.0 */
/* pprof_top.c -- self/total samples per function name, for the `record`
 * table and the operator's status.topFunctions.
 *
 * Functions are grouped by name (the same name in two binaries is one row,
 * which is what a reader of a top table expects). A function counts once
 * per sample towards total even when it recurses. Each row also names its
 * hottest source position: the (file, line) inside the function with the
 * most self samples, or, for a function that is never the leaf, the call
 * site most samples pass through.
 */
#include "pprof_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_POS UINT32_MAX

struct top_row {
	const char *name; /* borrowed from the builder, or == owned */
	char *owned;	  /* formatted name of unsymbolized frames */
	int64_t self, total;
	size_t stamp; /* last sample (index + 1) that counted towards total */
	uint32_t hot; /* hottest position (index in pos), or NO_POS */
};

/* Samples at one source position of one row's function. */
struct top_pos {
	uint32_t row;
	int64_t file; /* string index, 0 if unknown */
	int64_t line; /* 0 if unknown */
	int64_t self, total;
	size_t stamp; /* as in top_row */
};

struct top_state {
	struct top_row *rows;
	size_t n, cap;
	struct htab h;
	struct top_pos *pos;
	size_t n_pos, cap_pos;
	struct htab pos_h;
	uint32_t *loc_rows; /* row of each line of each location, flattened */
	uint32_t *loc_pos;  /* position of each of them, or NO_POS */
	uint32_t *loc_off;  /* first loc_rows entry per location; n_locs + 1 */
};

static bool row_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct top_state *t = ctx;

	return strcmp(t->rows[pos].name, key) == 0;
}

/* Find or add the row for name; takes ownership of `owned` (may be NULL,
 * else owned == name). */
static int row_for(struct top_state *t, const char *name, char *owned, uint32_t *pos)
{
	uint64_t h = htab_hash_str(HTAB_SEED, name);
	int err;

	if (htab_find(&t->h, h, row_eq, t, name, pos)) {
		free(owned);
		return 0;
	}
	err = pp_grow((void **)&t->rows, &t->cap, t->n + 1, sizeof(*t->rows));
	if (!err)
		err = htab_insert(&t->h, h, (uint32_t)t->n);
	if (err) {
		free(owned);
		return err;
	}
	t->rows[t->n] = (struct top_row){.name = name, .owned = owned};
	*pos = (uint32_t)t->n++;
	return 0;
}

static bool pos_eq(const void *ctx, uint32_t i, const void *key)
{
	const struct top_state *t = ctx;
	const struct top_pos *k = key;

	return t->pos[i].row == k->row && t->pos[i].file == k->file && t->pos[i].line == k->line;
}

/* Find or add the position (row, file, line). */
static int pos_for(struct top_state *t, uint32_t row, int64_t file, int64_t line, uint32_t *out)
{
	struct top_pos key = {.row = row, .file = file, .line = line};
	uint64_t h = htab_hash_u64(htab_hash_u64(htab_hash_u64(HTAB_SEED, row), (uint64_t)file),
				   (uint64_t)line);
	int err;

	if (htab_find(&t->pos_h, h, pos_eq, t, &key, out))
		return 0;
	err = pp_grow((void **)&t->pos, &t->cap_pos, t->n_pos + 1, sizeof(*t->pos));
	if (!err)
		err = htab_insert(&t->pos_h, h, (uint32_t)t->n_pos);
	if (err)
		return err;
	t->pos[t->n_pos] = key;
	*out = (uint32_t)t->n_pos++;
	return 0;
}

static char *unsym_name(const struct pprof_builder *b, const struct pp_loc *l)
{
	char *s = NULL;
	int n;

	if (l->mapping_id) {
		const struct pp_map *m = &b->maps[l->mapping_id - 1];
		const char *file = b->strs[m->filename];
		const char *base = strrchr(file, '/');

		n = asprintf(&s, "%s+0x%" PRIx64, base ? base + 1 : file,
			     l->addr - m->start + m->offset);
	} else {
		n = asprintf(&s, "0x%" PRIx64, l->addr);
	}
	return n < 0 ? NULL : s;
}

static int map_locations(struct top_state *t, const struct pprof_builder *b)
{
	size_t k = 0;
	int err = 0;

	t->loc_off = calloc(b->n_locs + 1, sizeof(*t->loc_off));
	t->loc_rows = calloc(b->n_lines + b->n_locs + 1, sizeof(*t->loc_rows));
	t->loc_pos = calloc(b->n_lines + b->n_locs + 1, sizeof(*t->loc_pos));
	if (!t->loc_off || !t->loc_rows || !t->loc_pos)
		return -ENOMEM;
	for (size_t i = 0; i < b->n_locs && !err; i++) {
		const struct pp_loc *l = &b->locs[i];

		t->loc_off[i] = (uint32_t)k;
		if (!l->nlines) {
			char *name = unsym_name(b, l);

			if (!name)
				return -ENOMEM;
			t->loc_pos[k] = NO_POS;
			err = row_for(t, name, name, &t->loc_rows[k++]);
			continue;
		}
		for (uint32_t j = 0; j < l->nlines && !err; j++) {
			const struct pp_line *ln = &b->lines[l->line_off + j];
			const struct pp_func *f = &b->funcs[ln->func_id - 1];

			err = row_for(t, b->strs[f->name], NULL, &t->loc_rows[k]);
			if (!err)
				err = pos_for(t, t->loc_rows[k], f->filename, ln->line,
					      &t->loc_pos[k]);
			k++;
		}
	}
	t->loc_off[b->n_locs] = (uint32_t)k;
	return err;
}

/* Each row's hottest position: most self samples, then most total, then
 * the lowest line (stable output). Positions without a line do not count. */
static void hottest_positions(struct top_state *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->rows[i].hot = NO_POS;
	for (size_t i = 0; i < t->n_pos; i++) {
		const struct top_pos *p = &t->pos[i];
		struct top_row *r = &t->rows[p->row];
		const struct top_pos *h = r->hot == NO_POS ? NULL : &t->pos[r->hot];

		if (p->line <= 0 || (p->self == 0 && p->total == 0))
			continue;
		if (!h || p->self > h->self || (p->self == h->self && p->total > h->total) ||
		    (p->self == h->self && p->total == h->total && p->line < h->line))
			r->hot = (uint32_t)i;
	}
}

static int row_cmp(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;

	if (x->self != y->self)
		return x->self > y->self ? -1 : 1;
	return strcmp(x->name, y->name);
}

int pprof_builder_top(const struct pprof_builder *b, size_t n, struct pprof_top_entry **out,
		      size_t *n_out)
{
	struct top_state t = {0};
	struct pprof_top_entry *res = NULL;
	size_t nres = 0;
	int err;

	*out = NULL;
	*n_out = 0;
	err = map_locations(&t, b);
	if (err)
		goto cleanup;
	for (size_t i = 0; i < b->n_samples; i++) {
		const struct pp_sample *s = &b->samples[i];

		for (uint32_t j = 0; j < s->nstack; j++) {
			uint64_t loc = b->stacks[s->stack_off + j] - 1;

			for (uint32_t k = t.loc_off[loc]; k < t.loc_off[loc + 1]; k++) {
				struct top_row *r = &t.rows[t.loc_rows[k]];
				struct top_pos *p =
				    t.loc_pos[k] == NO_POS ? NULL : &t.pos[t.loc_pos[k]];

				/* The leaf's innermost line is where the CPU was. */
				if (j == 0 && k == t.loc_off[loc]) {
					r->self += s->count;
					if (p)
						p->self += s->count;
				}
				if (r->stamp != i + 1) {
					r->stamp = i + 1;
					r->total += s->count;
				}
				if (p && p->stamp != i + 1) {
					p->stamp = i + 1;
					p->total += s->count;
				}
			}
		}
	}
	hottest_positions(&t);
	if (t.n)
		qsort(t.rows, t.n, sizeof(*t.rows), row_cmp);
	nres = n < t.n ? n : t.n;
	res = calloc(nres ? nres : 1, sizeof(*res));
	if (!res) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < nres; i++) {
		res[i].function = strdup(t.rows[i].name);
		res[i].self = t.rows[i].self;
		res[i].total = t.rows[i].total;
		if (t.rows[i].hot != NO_POS) {
			const struct top_pos *p = &t.pos[t.rows[i].hot];

			res[i].line = p->line;
			if (p->file)
				res[i].filename = strdup(b->strs[p->file]);
		}
		if (!res[i].function ||
		    (t.rows[i].hot != NO_POS && t.pos[t.rows[i].hot].file && !res[i].filename)) {
			pprof_top_free(res, i + 1); /* this entry too */
			res = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
	}
	*out = res;
	*n_out = nres;
cleanup:
	for (size_t i = 0; i < t.n; i++)
		free(t.rows[i].owned);
	free(t.rows);
	free(t.pos);
	htab_release(&t.pos_h);
	free(t.loc_pos);
	free(t.loc_rows);
	free(t.loc_off);
	htab_release(&t.h);
	return err;
}

void pprof_top_free(struct pprof_top_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++) {
		free(e[i].function);
		free(e[i].filename);
	}
	free(e);
}
