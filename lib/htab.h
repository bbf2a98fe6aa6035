/* SPDX-License-Identifier: Apache-2.0 */
/* htab.h -- an open-addressing hash index from keys to array positions.
 *
 * A low-level primitive: depends on libc only. The table never stores keys;
 * callers keep their entries in their own arrays and the table maps a hash
 * to positions in that array, asking the caller (through an equality
 * callback) whether the entry at a position matches. This keeps interning
 * (strings, stacks, locations) linear in the number of entries.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_HTAB_H
#define PODPROF_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct htab {
	uint32_t *pos;	/* array position + 1 per slot; 0 = empty */
	uint64_t *hash; /* full hash of each occupied slot, for cheap rehash */
	size_t cap;	/* slots, a power of two (0 before first insert) */
	size_t n;	/* occupied slots */
};

/* Does the entry at array position `pos` equal `key`? */
typedef bool (*htab_eq_fn)(const void *ctx, uint32_t pos, const void *key);

/* Look `key` up. Returns true and sets *pos when found. An empty table
 * (zero-initialised struct htab) finds nothing. */
bool htab_find(const struct htab *h, uint64_t hash, htab_eq_fn eq, const void *ctx, const void *key,
	       uint32_t *pos);

/* Record that array position `pos` has hash `hash` (the caller checked with
 * htab_find that it is not there yet). -ENOMEM leaves the table usable. */
int htab_insert(struct htab *h, uint64_t hash, uint32_t pos);

/* Free the slots; the struct may be reused after (it is zeroed). */
void htab_release(struct htab *h);

/* Hash helpers: 64-bit FNV-1a over bytes, mixed with a running value so
 * that several fields can be chained (start with HTAB_SEED). */
#define HTAB_SEED 0xcbf29ce484222325ULL
uint64_t htab_hash_bytes(uint64_t h, const void *p, size_t len);
uint64_t htab_hash_u64(uint64_t h, uint64_t v);
uint64_t htab_hash_str(uint64_t h, const char *s);

#endif
