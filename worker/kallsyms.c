/* SPDX-License-Identifier: Apache-2.0 */
/* kallsyms.c -- parse /proc/kallsyms into a sorted array with module info. */
#include "kallsyms.h"
#include "arr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 1024 /* KSYM_NAME_LEN is 512, plus address and module */

struct ksym {
	uint64_t addr;
	uint32_t name;	 /* offset into names */
	uint16_t module; /* index into modules */
	uint8_t text;	 /* function symbol (t/T/w/W) */
	uint8_t rank;	 /* preference among aliases at one address */
};

struct kmod {
	uint32_t name; /* offset into names, "[...]" form */
	uint64_t lo, hi;
};

struct kallsyms {
	struct ksym *syms;
	size_t n, cap, ntext;
	struct kmod *mods;
	size_t nmods, cap_mods;
	struct strpool names; /* symbol and module names */
};

/* Index of module `name` ("[name]"), added when new. Linear search over the
 * last one first: kallsyms lists a module's symbols together. */
static int module_index(struct kallsyms *k, const char *name, size_t len, uint16_t *idx)
{
	int err;

	for (size_t i = k->nmods; i > 0; i--) {
		const char *m = k->names.buf + k->mods[i - 1].name;

		if (strlen(m) == len && memcmp(m, name, len) == 0) {
			*idx = (uint16_t)(i - 1);
			return 0;
		}
	}
	err = arr_grow((void **)&k->mods, &k->cap_mods, k->nmods + 1, sizeof(*k->mods),
		       KALLSYMS_MAX_MODULES);
	if (!err)
		err = strpool_add(&k->names, name, len, &k->mods[k->nmods].name);
	if (err)
		return err;
	k->mods[k->nmods].lo = UINT64_MAX;
	k->mods[k->nmods].hi = 0;
	*idx = (uint16_t)k->nmods++;
	return 0;
}

/* "ffffffff81000000 T name\t[mod]" */
static int parse_line(struct kallsyms *k, char *line)
{
	char *p = line, *name, *mod, *end;
	struct ksym s = {0};
	uint16_t midx = 0;
	char type;
	int err;

	errno = 0;
	s.addr = strtoull(p, &end, 16);
	if (errno || end == p || end[0] != ' ' || !end[1] || end[2] != ' ')
		return 0; /* not a symbol line: ignore */
	type = end[1];
	name = end + 3;
	name[strcspn(name, "\t\n")] = '\0';
	mod = name + strlen(name) + 1;
	if (!name[0])
		return 0;
	if (mod < line + LINE_MAX_LEN && mod[-1] == '\0' && mod[0] == '[') {
		size_t mlen = strcspn(mod, "]\n");

		if (mod[mlen] == ']') {
			err = module_index(k, mod, mlen + 1, &midx);
			if (err)
				return err;
		}
	}
	s.module = midx;
	s.text = type == 't' || type == 'T' || type == 'w' || type == 'W';
	s.rank = (uint8_t)((name[0] == '_') * 2 + (type != 'T'));
	err =
	    arr_grow((void **)&k->syms, &k->cap, k->n + 1, sizeof(*k->syms), KALLSYMS_MAX_SYMBOLS);
	if (!err)
		err = strpool_add(&k->names, name, strlen(name), &s.name);
	if (err)
		return err;
	k->syms[k->n++] = s;
	if (s.text) {
		struct kmod *m = &k->mods[midx];

		m->lo = s.addr < m->lo ? s.addr : m->lo;
		m->hi = s.addr > m->hi ? s.addr : m->hi;
	}
	return 0;
}

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Text before non-text, then the preferred alias. */
	if (x->text != y->text)
		return x->text ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

int kallsyms_load(const char *path, struct kallsyms **out)
{
	struct kallsyms *k;
	char line[LINE_MAX_LEN];
	bool skipping = false, nonzero = false;
	size_t w = 0;
	FILE *f = NULL;
	int err = 0;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	err = module_index(k, "[kernel.kallsyms]", strlen("[kernel.kallsyms]"), &(uint16_t){0});
	if (err)
		goto cleanup;
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		goto cleanup;
	}
	while (fgets(line, sizeof(line), f)) {
		bool whole = strchr(line, '\n') != NULL;

		/* An over-long line is skipped to its end, not split in two. */
		if (!skipping)
			err = whole ? parse_line(k, line) : 0;
		if (err)
			goto cleanup;
		skipping = !whole;
	}
	if (ferror(f)) {
		err = -EIO;
		goto cleanup;
	}
	for (size_t i = 0; i < k->n && !nonzero; i++)
		nonzero = k->syms[i].addr != 0;
	if (k->n && !nonzero) {
		err = -EPERM;
		goto cleanup;
	}
	if (k->n)
		qsort(k->syms, k->n, sizeof(*k->syms), ksym_cmp);
	for (size_t i = 0; i < k->n; i++) {
		if (w && k->syms[w - 1].addr == k->syms[i].addr)
			continue; /* one symbol per address, the preferred one */
		k->syms[w++] = k->syms[i];
		k->ntext += k->syms[i].text;
	}
	k->n = w;
	*out = k;
	k = NULL;
cleanup:
	if (f)
		fclose(f);
	kallsyms_free(k);
	return err;
}

void kallsyms_free(struct kallsyms *k)
{
	if (!k)
		return;
	free(k->syms);
	free(k->mods);
	strpool_release(&k->names);
	free(k);
}

size_t kallsyms_count(const struct kallsyms *k)
{
	return k->ntext;
}

const char *kallsyms_lookup(const struct kallsyms *k, uint64_t addr, uint64_t *start,
			    unsigned int *module)
{
	size_t lo = 0, hi = k->n;
	const struct ksym *s;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &k->syms[lo - 1];
	/* Past the last symbol of its module nothing is known: JIT code,
	 * unlisted memory. The next symbol (any kind) bounds the rest. */
	if (!s->text || addr > k->mods[s->module].hi + (1u << 20))
		return NULL;
	if (lo == k->n && addr - s->addr >= (1u << 20))
		return NULL;
	if (start)
		*start = s->addr;
	if (module)
		*module = s->module;
	return k->names.buf + s->name;
}

const char *kallsyms_module(const struct kallsyms *k, unsigned int idx, uint64_t *lo, uint64_t *hi)
{
	if (idx >= k->nmods)
		return NULL;
	if (lo)
		*lo = k->mods[idx].lo;
	if (hi)
		*hi = k->mods[idx].hi;
	return k->names.buf + k->mods[idx].name;
}
