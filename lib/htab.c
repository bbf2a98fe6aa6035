/* SPDX-License-Identifier: Apache-2.0 */
/* htab.c -- open-addressing hash index (linear probing, grows at 50% load). */
#include "htab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool htab_find(const struct htab *h, uint64_t hash, htab_eq_fn eq, const void *ctx, const void *key,
	       uint32_t *pos)
{
	if (!h->cap)
		return false;
	for (size_t i = hash & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
		if (!h->pos[i])
			return false;
		if (h->hash[i] == hash && eq(ctx, h->pos[i] - 1, key)) {
			*pos = h->pos[i] - 1;
			return true;
		}
	}
}

static void put(uint32_t *slots, uint64_t *hashes, size_t cap, uint64_t hash, uint32_t pos1)
{
	size_t i = hash & (cap - 1);

	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = pos1;
	hashes[i] = hash;
}

int htab_insert(struct htab *h, uint64_t hash, uint32_t pos)
{
	if (pos == UINT32_MAX)
		return -E2BIG;
	/* Keep load under one half so probe sequences stay short. */
	if ((h->n + 1) * 2 > h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 64;
		uint32_t *slots = calloc(ncap, sizeof(*slots));
		uint64_t *hashes = calloc(ncap, sizeof(*hashes));

		if (!slots || !hashes) {
			free(slots);
			free(hashes);
			return -ENOMEM;
		}
		for (size_t i = 0; i < h->cap; i++)
			if (h->pos[i])
				put(slots, hashes, ncap, h->hash[i], h->pos[i]);
		free(h->pos);
		free(h->hash);
		h->pos = slots;
		h->hash = hashes;
		h->cap = ncap;
	}
	put(h->pos, h->hash, h->cap, hash, pos + 1);
	h->n++;
	return 0;
}

void htab_release(struct htab *h)
{
	if (!h)
		return;
	free(h->pos);
	free(h->hash);
	memset(h, 0, sizeof(*h));
}

uint64_t htab_hash_bytes(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t htab_hash_u64(uint64_t h, uint64_t v)
{
	/* Fold a whole word in at once, then scramble (splitmix64 finaliser),
	 * so small integer ids spread over the table. */
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

uint64_t htab_hash_str(uint64_t h, const char *s)
{
	return htab_hash_bytes(h, s, strlen(s));
}
