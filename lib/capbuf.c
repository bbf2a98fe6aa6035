/* SPDX-License-Identifier: Apache-2.0 */
/* capbuf.c -- capped growable byte buffer (see capbuf.h). */
#include "capbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CAPBUF_MIN 4096

void capbuf_init(struct capbuf *b, size_t max)
{
	*b = (struct capbuf){.max = max};
}

int capbuf_add(struct capbuf *b, const void *data, size_t n)
{
	if (n > b->max - b->len) {
		b->too_big = true;
		return -EFBIG;
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : CAPBUF_MIN;
		char *np;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = ncap;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void capbuf_reset(struct capbuf *b)
{
	b->len = 0;
	b->too_big = false;
	if (b->p)
		b->p[0] = '\0';
}

char *capbuf_detach(struct capbuf *b, size_t *len)
{
	char *p = b->p;

	if (len)
		*len = b->len;
	capbuf_init(b, b->max);
	return p;
}

void capbuf_release(struct capbuf *b)
{
	if (!b)
		return;
	free(b->p);
	capbuf_init(b, b->max);
}
