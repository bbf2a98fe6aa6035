/* SPDX-License-Identifier: Apache-2.0 */
/* capbuf.h -- a growable byte buffer with a hard cap, for data from outside.
 *
 * A low-level primitive: depends on libc only. Every reply body, watch-event
 * line or downloaded object is collected in one of these, so an oversized
 * input fails cleanly (-EFBIG, too_big set) instead of growing memory. The
 * bytes are always followed by a NUL (not counted in len), so text can be
 * parsed in place.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_CAPBUF_H
#define PODPROF_CAPBUF_H

#include <stdbool.h>
#include <stddef.h>

struct capbuf {
	char *p;      /* data + NUL, or NULL while empty */
	size_t len;   /* bytes in p */
	size_t cap;   /* allocated bytes */
	size_t max;   /* cap on len */
	bool too_big; /* an append past max was refused */
};

/* An empty buffer holding at most max bytes (no allocation yet). */
void capbuf_init(struct capbuf *b, size_t max);

/* Append n bytes. -EFBIG past max (too_big set, contents unchanged),
 * -ENOMEM. */
int capbuf_add(struct capbuf *b, const void *data, size_t n);

/* Forget the contents, keep the allocation. */
void capbuf_reset(struct capbuf *b);

/* Hand the bytes to the caller (free() them; NULL when empty) and leave b
 * empty. */
char *capbuf_detach(struct capbuf *b, size_t *len);

/* Free the allocation; b is empty and reusable (same max). NULL is fine. */
void capbuf_release(struct capbuf *b);

#endif
