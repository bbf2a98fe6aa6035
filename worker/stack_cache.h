/* SPDX-License-Identifier: Apache-2.0 */
/* stack_cache.h -- stacks already read out of the kernel, by their 64-bit hash.
 *
 * The BPF program stores each distinct stack once in a hash map; the drain
 * reads it, keeps a copy here and deletes it from the kernel so the map only
 * holds stacks of the last interval. A count drained later for the same hash
 * is resolved from this cache. Memory is bounded by two generations: when
 * the current one reaches its byte budget the older one is dropped, so
 * stacks in use stay (they are copied forward on a hit) and stale ones go.
 *
 * A low-level module: libc and lib/htab only. Not thread-safe.
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_STACK_CACHE_H
#define PODPROF_STACK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

struct stack_cache;

/* budget: bytes of frames per generation (two generations at most). */
int stack_cache_new(struct stack_cache **out, size_t budget);
void stack_cache_free(struct stack_cache *c);

/* The cached stack for hash, or NULL. Valid until the next put or get. */
const struct profile_stack *stack_cache_get(struct stack_cache *c, uint64_t hash);

/* Copy the stack in (only its n_kern + n_user frames are kept). */
int stack_cache_put(struct stack_cache *c, uint64_t hash, const struct profile_stack *st);

/* Stacks held, bytes held, and generations dropped so far. */
void stack_cache_stats(const struct stack_cache *c, size_t *stacks, size_t *bytes,
		       uint64_t *dropped);

#endif
