/* SPDX-License-Identifier: Apache-2.0 */
/* parse.c -- strict number and duration parsing. */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DURATION_MS ((int64_t)100 * 3600000)

int parse_duration_ms(const char *s, bool bare_is_seconds, int64_t *ms)
{
	int64_t total = 0;
	const char *p = s;

	if (!s || !*s || strlen(s) > 32)
		return -EINVAL;
	while (*p) {
		int64_t n = 0, unit;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p)) {
			n = n * 10 + (*p - '0');
			if (n > MAX_DURATION_MS)
				return -EINVAL;
			p++;
		}
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60000;
			p++;
		} else if (*p == 'h') {
			unit = 3600000;
			p++;
		} else if (*p == '\0' && bare_is_seconds && p == s + strlen(s) && total == 0) {
			unit = 1000;
		} else {
			return -EINVAL;
		}
		if (n > MAX_DURATION_MS / unit)
			return -EINVAL;
		total += n * unit;
		if (total > MAX_DURATION_MS)
			return -EINVAL;
	}
	*ms = total;
	return 0;
}

int parse_duration_us(const char *s, int64_t *us)
{
	size_t n = s ? strlen(s) : 0;
	int64_t ms, v = 0;

	if (n > 2 && n <= 18 && strcmp(s + n - 2, "us") == 0) {
		for (size_t i = 0; i < n - 2; i++) {
			if (!isdigit((unsigned char)s[i]))
				return -EINVAL;
			v = v * 10 + (s[i] - '0');
		}
		*us = v;
		return 0;
	}
	if (parse_duration_ms(s, false, &ms))
		return -EINVAL;
	*us = ms * 1000;
	return 0;
}

int parse_ulong_range(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL; /* strtoul would accept " 5", "+5" and "-5" */
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}
