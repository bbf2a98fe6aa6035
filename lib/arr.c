/* SPDX-License-Identifier: Apache-2.0 */
/* arr.c -- growable arrays and string pools. */
#include "arr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int arr_grow(void **arr, size_t *cap, size_t need, size_t elem, size_t max)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	if (ncap > max)
		ncap = max;
	if (elem && ncap > SIZE_MAX / elem)
		return -E2BIG;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int strpool_add(struct strpool *p, const char *s, size_t len, uint32_t *off)
{
	int err = arr_grow((void **)&p->buf, &p->cap, p->len + len + 1, 1, UINT32_MAX);

	if (err)
		return err;
	memcpy(p->buf + p->len, s, len);
	p->buf[p->len + len] = '\0';
	*off = (uint32_t)p->len;
	p->len += len + 1;
	return 0;
}

void strpool_release(struct strpool *p)
{
	if (!p)
		return;
	free(p->buf);
	memset(p, 0, sizeof(*p));
}
