/* SPDX-License-Identifier: Apache-2.0 */
/* pprof_top.c -- self/total samples per function name, for the `record`
 * table and the operator's status.topFunctions.
 *
 * Functions are grouped by name (the same name in two binaries is one row,
 * which is what a reader of a top table expects). A function counts once
 * per sample towards total even when it recurses.
 */
#include "pprof_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct top_row {
	const char *name; /* borrowed from the builder, or == owned */
	char *owned;	  /* formatted name of unsymbolized frames */
	int64_t self, total;
	size_t stamp; /* last sample (index + 1) that counted towards total */
};

struct top_state {
	struct top_row *rows;
	size_t n, cap;
	struct htab h;
	uint32_t *loc_rows; /* row of each line of each location, flattened */
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
	if (!t->loc_off || !t->loc_rows)
		return -ENOMEM;
	for (size_t i = 0; i < b->n_locs && !err; i++) {
		const struct pp_loc *l = &b->locs[i];

		t->loc_off[i] = (uint32_t)k;
		if (!l->nlines) {
			char *name = unsym_name(b, l);

			if (!name)
				return -ENOMEM;
			err = row_for(t, name, name, &t->loc_rows[k++]);
			continue;
		}
		for (uint32_t j = 0; j < l->nlines && !err; j++) {
			const struct pp_func *f = &b->funcs[b->lines[l->line_off + j].func_id - 1];

			err = row_for(t, b->strs[f->name], NULL, &t->loc_rows[k++]);
		}
	}
	t->loc_off[b->n_locs] = (uint32_t)k;
	return err;
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

				/* The leaf's innermost line is where the CPU was. */
				if (j == 0 && k == t.loc_off[loc])
					r->self += s->count;
				if (r->stamp != i + 1) {
					r->stamp = i + 1;
					r->total += s->count;
				}
			}
		}
	}
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
		if (!res[i].function) {
			pprof_top_free(res, i);
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
	free(t.loc_rows);
	free(t.loc_off);
	htab_release(&t.h);
	return err;
}

void pprof_top_free(struct pprof_top_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++)
		free(e[i].function);
	free(e);
}
