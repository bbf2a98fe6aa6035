/* SPDX-License-Identifier: Apache-2.0 */
/* perfmap.c -- parse a JIT perf map into a sorted, non-overlapping table.
 */
#include "perfmap.h"
#include "arr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (64u << 10)

struct pm_ent {
	uint64_t start, end;
	uint32_t name; /* offset in names */
	uint32_t seq;  /* line number: later lines win on overlap */
};

struct perfmap {
	struct pm_ent *e;
	size_t n, cap;
	struct strpool names;
};

static bool parse_hex(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	if (end - s >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; s < end && digits <= 16; s++, digits++) {
		char c = *s;
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;

		if (d < 0)
			break;
		v = v << 4 | (uint64_t)d;
	}
	if (digits == 0 || digits > 16)
		return false;
	*p = s;
	*out = v;
	return true;
}

/* One line without its newline; malformed lines are ignored. */
static int parse_line(struct perfmap *m, const char *s, const char *end, uint32_t seq)
{
	uint64_t start, size;
	int err;

	if (!parse_hex(&s, end, &start) || s >= end || *s != ' ')
		return 0;
	s++;
	if (!parse_hex(&s, end, &size) || s >= end || *s != ' ' || size == 0 ||
	    start + size < start)
		return 0;
	s++;
	if (s >= end)
		return 0;
	if (m->n >= PERFMAP_MAX_ENTRIES)
		return -E2BIG;
	err = arr_grow((void **)&m->e, &m->cap, m->n + 1, sizeof(*m->e), PERFMAP_MAX_ENTRIES);
	if (!err)
		err = strpool_add(&m->names, s, (size_t)(end - s), &m->e[m->n].name);
	if (err)
		return err;
	m->e[m->n].start = start;
	m->e[m->n].end = start + size;
	m->e[m->n].seq = seq;
	m->n++;
	return 0;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct pm_ent *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0; /* newest first */
}

/* Sort and drop what a later entry overlaps, so lookups are a plain binary
 * search: an older entry survives only where nothing newer begins inside
 * it (it is then cut short there). */
static void normalize(struct perfmap *m)
{
	size_t k = 0;

	if (!m->n)
		return;
	qsort(m->e, m->n, sizeof(*m->e), ent_cmp);
	for (size_t i = 0; i < m->n; i++) {
		struct pm_ent *e = &m->e[i];

		if (k && m->e[k - 1].start == e->start)
			continue; /* same start: the newest came first */
		if (k && m->e[k - 1].end > e->start) {
			struct pm_ent *prev = &m->e[k - 1];

			if (prev->seq > e->seq)
				continue; /* newer previous entry covers this start */
			prev->end = e->start;
		}
		m->e[k++] = *e;
	}
	m->n = k;
}

int perfmap_load_fd(int fd, struct perfmap **out, uint64_t *size_read)
{
	struct perfmap *m;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t total = 0;
	uint32_t seq = 0;
	bool skipping = false; /* inside an over-long line */
	int err = 0;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	buf = malloc(PERFMAP_MAX_LINE + CHUNK);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	cap = PERFMAP_MAX_LINE + CHUNK;
	while (total < PERFMAP_MAX_BYTES) {
		size_t want = cap - len, off = 0;
		ssize_t r;

		if (want > PERFMAP_MAX_BYTES - total)
			want = PERFMAP_MAX_BYTES - total;
		r = pread(fd, buf + len, want, (off_t)total);
		if (r < 0) {
			err = -errno;
			goto cleanup;
		}
		if (r == 0)
			break;
		total += (uint64_t)r;
		len += (size_t)r;
		for (;;) {
			char *nl = memchr(buf + off, '\n', len - off);

			if (!nl)
				break;
			if (!skipping && nl - (buf + off) <= PERFMAP_MAX_LINE) {
				err = parse_line(m, buf + off, nl, seq++);
				if (err == -E2BIG) {
					err = 0;
					goto done;
				}
				if (err)
					goto cleanup;
			}
			skipping = false;
			off = (size_t)(nl - buf) + 1;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
		if (len >= PERFMAP_MAX_LINE) {
			skipping = true; /* drop the rest of this line */
			len = 0;
		}
	}
done:
	/* A last line without newline may still be being written: not taken,
	 * and not counted as read, so the next load sees it whole. */
	normalize(m);
	if (size_read)
		*size_read = total - len;
	*out = m;
	m = NULL;
cleanup:
	free(buf);
	perfmap_free(m);
	return err;
}

void perfmap_free(struct perfmap *m)
{
	if (!m)
		return;
	free(m->e);
	strpool_release(&m->names);
	free(m);
}

size_t perfmap_count(const struct perfmap *m)
{
	return m->n;
}

const char *perfmap_lookup(const struct perfmap *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->e[mid].start)
			hi = mid;
		else if (addr >= m->e[mid].end)
			lo = mid + 1;
		else
			return m->names.buf + m->e[mid].name;
	}
	return NULL;
}
