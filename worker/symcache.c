/* SPDX-License-Identifier: Apache-2.0 */
/* symcache.c -- the worker's bounded cache of per-binary symbol tables.
 *
 * Entries live in an array indexed by a hash of their key. A node holds a
 * few hundred distinct binaries at most, so eviction scans the array for
 * the oldest unpinned entry and rebuilds the index: simple, and only paid
 * when a new binary is loaded over the budget.
 */
#include "symcache.h"
#include "arr.h"
#include "dwarfline.h"
#include "elfsym.h"
#include "gopclntab.h"
#include "htab.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct symcache {
	struct symcache_bin **e;
	size_t n, cap;
	struct htab h; /* key hash -> position in e */
	uint64_t clock;
	struct symcache_stats st;
};

int symcache_new(struct symcache **out, uint64_t max_bytes)
{
	struct symcache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return -ENOMEM;
	if (max_bytes == 0)
		max_bytes = SYMCACHE_DEFAULT_BYTES;
	c->st.max_bytes = max_bytes < SYMCACHE_MIN_BYTES ? SYMCACHE_MIN_BYTES : max_bytes;
	*out = c;
	return 0;
}

size_t symcache_bin_mem(const struct symcache_bin *b)
{
	return sizeof(*b) + (b->sym ? elfsym_mem(b->sym) : 0) +
	       (b->dsym ? elfsym_mem(b->dsym) : 0) + dwarfline_mem(b->dw) + gopclntab_mem(b->go);
}

void symcache_bin_free(struct symcache_bin *b)
{
	if (!b)
		return;
	elfsym_free(b->sym);
	elfsym_free(b->dsym);
	dwarfline_free(b->dw);
	gopclntab_free(b->go);
	free(b->memo.e);
	free(b->memo.lines);
	htab_release(&b->memo.h);
	free(b);
}

void symcache_free(struct symcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		symcache_bin_free(c->e[i]);
	free(c->e);
	htab_release(&c->h);
	free(c);
}

int symcache_key_fd(int fd, char key[SYMCACHE_KEY_MAX])
{
	char id[2 * ELFSYM_MAX_BUILD_ID + 1];
	struct stat st;

	if (fstat(fd, &st) != 0)
		return -errno;
	/* A file that is not (valid) ELF has no build ID: identity key. */
	if (elfsym_probe_build_id(fd, id, sizeof(id)) != 0)
		id[0] = '\0';
	/* The size rides along with the build ID: a stripped copy (same ID,
	 * fewer tables) is a different entry, as is an accidental clash. */
	if (id[0])
		snprintf(key, SYMCACHE_KEY_MAX, "b:%s:%" PRIu64, id, (uint64_t)st.st_size);
	else
		snprintf(key, SYMCACHE_KEY_MAX, "f:%" PRIu64 ":%" PRIu64 ":%" PRIu64 ":%lld.%09ld",
			 (uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
			 (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
	return 0;
}

static bool key_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct symcache *c = ctx;

	return strcmp(c->e[pos]->key, key) == 0;
}

struct symcache_bin *symcache_get(struct symcache *c, const char *key)
{
	uint32_t pos;
	struct symcache_bin *b;

	if (!htab_find(&c->h, htab_hash_str(HTAB_SEED, key), key_eq, c, key, &pos)) {
		c->st.misses++;
		return NULL;
	}
	c->st.hits++;
	b = c->e[pos];
	if (b->pins++ == 0)
		c->st.pinned++;
	b->used = ++c->clock;
	return b;
}

static int reindex(struct symcache *c)
{
	int err = 0;

	htab_release(&c->h);
	for (size_t i = 0; i < c->n && !err; i++)
		err = htab_insert(&c->h, htab_hash_str(HTAB_SEED, c->e[i]->key), (uint32_t)i);
	return err;
}

bool symcache_make_room(struct symcache *c)
{
	bool evicted = false;

	while (c->st.bytes >= c->st.max_bytes) {
		size_t victim = c->n;

		for (size_t i = 0; i < c->n; i++)
			if (!c->e[i]->pins &&
			    (victim == c->n || c->e[i]->used < c->e[victim]->used))
				victim = i;
		if (victim == c->n)
			break;
		c->st.bytes -= c->e[victim]->mem;
		symcache_bin_free(c->e[victim]);
		c->e[victim] = c->e[--c->n];
		c->st.evictions++;
		evicted = true;
	}
	c->st.entries = c->n;
	/* The index only shrinks: rebuilding it needs no more memory than it
	 * held, so a failure here cannot happen in practice; if it does, the
	 * index is empty and entries are reloaded under new keys. */
	if (evicted && reindex(c))
		htab_release(&c->h);
	return c->st.bytes < c->st.max_bytes;
}

int symcache_put(struct symcache *c, const char *key, struct symcache_bin *b)
{
	int err;

	if (strlen(key) >= sizeof(b->key))
		return -EINVAL;
	err = arr_grow((void **)&c->e, &c->cap, c->n + 1, sizeof(*c->e), UINT32_MAX - 1);
	if (!err)
		err = htab_insert(&c->h, htab_hash_str(HTAB_SEED, key), (uint32_t)c->n);
	if (err)
		return err;
	memcpy(b->key, key, strlen(key) + 1);
	b->pins = 1;
	b->used = ++c->clock;
	c->e[c->n++] = b;
	c->st.bytes += b->mem;
	c->st.entries = c->n;
	c->st.pinned++;
	/* Older unpinned entries make way for the new one. */
	symcache_make_room(c);
	return 0;
}

void symcache_pin(struct symcache *c, struct symcache_bin *b, bool hit)
{
	c->st.hits += hit;
	if (b->pins++ == 0)
		c->st.pinned++;
	b->used = ++c->clock;
}

void symcache_unpin(struct symcache *c, struct symcache_bin *b)
{
	if (!b || !b->pins)
		return;
	if (--b->pins == 0)
		c->st.pinned--;
}

void symcache_get_stats(const struct symcache *c, struct symcache_stats *out)
{
	*out = c->st;
}

static bool memo_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct symcache_memo *m = ctx;

	return m->e[pos].vaddr == *(const uint64_t *)key;
}

const struct pprof_line *symcache_memo_find(struct symcache *c, struct symcache_bin *b,
					    uint64_t vaddr, size_t *n)
{
	struct symcache_memo *m = &b->memo;
	uint32_t pos;

	*n = 0;
	if (!htab_find(&m->h, htab_hash_u64(HTAB_SEED, vaddr), memo_eq, m, &vaddr, &pos)) {
		c->st.line_misses++;
		return NULL;
	}
	c->st.line_hits++;
	*n = m->e[pos].n;
	/* Never NULL for a remembered address, even one without lines. */
	return m->lines ? m->lines + m->e[pos].off : (const struct pprof_line *)m;
}

int symcache_memo_add(struct symcache *c, struct symcache_bin *b, uint64_t vaddr,
		      const struct pprof_line *lines, size_t n)
{
	struct symcache_memo *m = &b->memo;
	size_t cap_e = m->cap, cap_l = m->cap_lines, before;
	int err;

	if (m->n >= SYMCACHE_MEMO_MAX || n > UINT32_MAX || m->n_lines > UINT32_MAX - n)
		return 0;
	err = arr_grow((void **)&m->e, &m->cap, m->n + 1, sizeof(*m->e), SYMCACHE_MEMO_MAX);
	if (!err && n)
		err = arr_grow((void **)&m->lines, &m->cap_lines, m->n_lines + n, sizeof(*m->lines),
			       UINT32_MAX);
	if (!err)
		err = htab_insert(&m->h, htab_hash_u64(HTAB_SEED, vaddr), (uint32_t)m->n);
	if (err)
		return err;
	if (n)
		memcpy(m->lines + m->n_lines, lines, n * sizeof(*lines));
	m->e[m->n++] = (struct symcache_memo_ent){vaddr, (uint32_t)m->n_lines, (uint32_t)n};
	m->n_lines += n;
	/* Charge what the arrays grew by, plus an index slot per entry. */
	before = b->mem;
	b->mem += (m->cap - cap_e) * sizeof(*m->e) + (m->cap_lines - cap_l) * sizeof(*m->lines) +
		  2 * sizeof(uint64_t);
	c->st.bytes += b->mem - before;
	return 0;
}
