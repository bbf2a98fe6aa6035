/* SPDX-License-Identifier: Apache-2.0 */
/* arr.h -- growable arrays and an append-only string pool.
 *
 * A low-level primitive: depends on libc only. Used by the pprof builder
 * and the symbol tables, whose sizes are capped by their callers.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_ARR_H
#define PODPROF_ARR_H

#include <stddef.h>
#include <stdint.h>

/* Grow *arr (elements of elem bytes, *cap allocated) to hold at least need
 * elements, doubling. -E2BIG when need > max, -ENOMEM when realloc fails;
 * *arr and *cap are unchanged on failure. */
int arr_grow(void **arr, size_t *cap, size_t need, size_t elem, size_t max);

/* NUL-separated strings addressed by 32-bit offsets; one allocation. */
struct strpool {
	char *buf;
	size_t len, cap;
};

/* Append s[0..len) plus a NUL; *off receives its offset (buf + off is the
 * string until the next append moves buf). -E2BIG past 4 GiB. */
int strpool_add(struct strpool *p, const char *s, size_t len, uint32_t *off);

/* Free the buffer; the struct may be reused (it is zeroed). */
void strpool_release(struct strpool *p);

#endif
