/* SPDX-License-Identifier: Apache-2.0 */
/* stack_cache.c -- two-generation cache of drained stacks, keyed by hash. */
#include "stack_cache.h"
#include "htab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	uint64_t hash;
	struct profile_stack *st; /* malloc'd, sized to its frames */
};

struct gen {
	struct entry *e;
	size_t n, cap, bytes;
	struct htab h;
};

struct stack_cache {
	struct gen cur, old;
	size_t budget;
	uint64_t dropped;
	struct profile_stack scratch; /* a full-size copy handed out by get */
};

static void gen_release(struct gen *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->e[i].st);
	free(g->e);
	htab_release(&g->h);
	memset(g, 0, sizeof(*g));
}

int stack_cache_new(struct stack_cache **out, size_t budget)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	(*out)->budget = budget ? budget : (8u << 20);
	return 0;
}

void stack_cache_free(struct stack_cache *c)
{
	if (!c)
		return;
	gen_release(&c->cur);
	gen_release(&c->old);
	free(c);
}

static bool eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct gen *g = ctx;

	return g->e[pos].hash == *(const uint64_t *)key;
}

static struct entry *find(struct gen *g, uint64_t hash)
{
	uint32_t pos;

	if (!htab_find(&g->h, htab_hash_u64(HTAB_SEED, hash), eq, g, &hash, &pos))
		return NULL;
	return &g->e[pos];
}

static size_t stack_bytes(const struct profile_stack *st)
{
	return offsetof(struct profile_stack, ips) + (st->n_kern + st->n_user) * sizeof(st->ips[0]);
}

static int gen_add(struct gen *g, uint64_t hash, struct profile_stack *owned, size_t bytes)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 256;
		struct entry *grown = realloc(g->e, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		g->e = grown;
		g->cap = cap;
	}
	if (htab_insert(&g->h, htab_hash_u64(HTAB_SEED, hash), (uint32_t)g->n))
		return -ENOMEM;
	g->e[g->n++] = (struct entry){.hash = hash, .st = owned};
	g->bytes += bytes;
	return 0;
}

/* Make room in the current generation, retiring it when over budget. */
static void rotate(struct stack_cache *c)
{
	if (c->cur.bytes < c->budget)
		return;
	if (c->old.n)
		c->dropped++;
	gen_release(&c->old);
	c->old = c->cur;
	memset(&c->cur, 0, sizeof(c->cur));
}

static int put_owned(struct stack_cache *c, uint64_t hash, const struct profile_stack *st)
{
	size_t bytes = stack_bytes(st);
	struct profile_stack *copy;
	int err;

	rotate(c);
	copy = malloc(bytes);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, st, bytes);
	err = gen_add(&c->cur, hash, copy, bytes);
	if (err)
		free(copy);
	return err;
}

const struct profile_stack *stack_cache_get(struct stack_cache *c, uint64_t hash)
{
	struct entry *e = find(&c->cur, hash);

	if (!e) {
		e = find(&c->old, hash);
		if (!e)
			return NULL;
		/* Still in use: copy it forward so the next rotation keeps it. */
		memcpy(&c->scratch, e->st, stack_bytes(e->st));
		if (put_owned(c, hash, &c->scratch) == 0)
			e = find(&c->cur, hash);
		if (!e)
			return &c->scratch;
	}
	memcpy(&c->scratch, e->st, stack_bytes(e->st));
	return &c->scratch;
}

int stack_cache_put(struct stack_cache *c, uint64_t hash, const struct profile_stack *st)
{
	if (st->n_kern > PROFILE_MAX_KERN_FRAMES || st->n_user > PROFILE_MAX_USER_FRAMES ||
	    st->n_kern + st->n_user > PROFILE_MAX_FRAMES)
		return -EINVAL;
	if (find(&c->cur, hash))
		return 0;
	return put_owned(c, hash, st);
}

void stack_cache_stats(const struct stack_cache *c, size_t *stacks, size_t *bytes,
		       uint64_t *dropped)
{
	*stacks = c->cur.n + c->old.n;
	*bytes = c->cur.bytes + c->old.bytes;
	*dropped = c->dropped;
}
