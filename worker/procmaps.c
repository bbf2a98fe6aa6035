/* SPDX-License-Identifier: Apache-2.0 */
/* procmaps.c -- /proc/PID/maps parser with caps on size, lines and entries. */
#include "procmaps.h"
#include "arr.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *parse_hex(const char *p, const char *end, uint64_t *v)
{
	const char *s = p;
	uint64_t x = 0;

	while (p < end) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (x >> 60)
			return NULL; /* more than 64 bits */
		x = x << 4 | (uint64_t)d;
		p++;
	}
	*v = x;
	return p == s ? NULL : p;
}

static const char *parse_dec(const char *p, const char *end, uint64_t *v)
{
	const char *s = p;
	uint64_t x = 0;

	while (p < end && *p >= '0' && *p <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return NULL;
		x = x * 10 + (uint64_t)(*p - '0');
		p++;
	}
	*v = x;
	return p == s ? NULL : p;
}

static const char *expect(const char *p, const char *end, char c)
{
	return p && p < end && *p == c ? p + 1 : NULL;
}

static const char *skip_spaces(const char *p, const char *end)
{
	while (p && p < end && *p == ' ')
		p++;
	return p;
}

/* "start-end perms offset major:minor inode [path]". Returns 0, or -EINVAL
 * when the line does not have that shape. */
static int parse_line(const char *p, const char *end, struct procmaps_entry *e)
{
	static const char deleted[] = " (deleted)";
	const size_t dlen = sizeof(deleted) - 1;
	uint64_t major, minor;
	size_t plen;

	memset(e, 0, sizeof(*e));
	p = parse_hex(p, end, &e->start);
	p = expect(p, end, '-');
	if (p)
		p = parse_hex(p, end, &e->end);
	p = expect(p, end, ' ');
	if (!p || end - p < 5 || p[4] != ' ')
		return -EINVAL;
	memcpy(e->perms, p, 4);
	p = parse_hex(p + 5, end, &e->offset);
	p = expect(p, end, ' ');
	if (p)
		p = parse_hex(p, end, &major);
	p = expect(p, end, ':');
	if (p)
		p = parse_hex(p, end, &minor);
	p = expect(p, end, ' ');
	if (p)
		p = parse_dec(p, end, &e->inode);
	if (!p || e->end <= e->start || major > 0xfffff || minor > 0xfffff)
		return -EINVAL;
	if (p < end && *p != ' ')
		return -EINVAL;
	e->dev = makedev((unsigned int)major, (unsigned int)minor);
	/* The path is everything after the padding, spaces included. */
	p = skip_spaces(p, end);
	plen = (size_t)(end - p);
	if (plen >= dlen && memcmp(end - dlen, deleted, dlen) == 0) {
		e->deleted = true;
		plen -= dlen;
	}
	e->path = strndup(p, plen);
	return e->path ? 0 : -ENOMEM;
}

/* The kernel writes a newline in a path as the octal escape "\012" (and a
 * backslash as itself, so the form is ambiguous by design); decode every
 * "\ooo" of a non-zero byte in place. */
static void unescape_octal(char *p)
{
	char *w = p;

	while (*p) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			int v = (p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0');

			if (v != 0) {
				*w++ = (char)v;
				p += 4;
				continue;
			}
		}
		*w++ = *p++;
	}
	*w = '\0';
}

/* Parse one line (without its newline) into out, or count it as skipped. */
static int add_line(const char *p, const char *le, size_t max_entries, bool exec_only,
		    struct procmaps *out, size_t *cap)
{
	struct procmaps_entry ent;
	int err;

	if ((size_t)(le - p) > PROCMAPS_MAX_LINE || out->n >= max_entries) {
		out->skipped++;
		return 0;
	}
	if (le == p)
		return 0;
	err = parse_line(p, le, &ent);
	if (err == -ENOMEM)
		return err;
	if (err) {
		out->skipped++;
		return 0;
	}
	if (exec_only && !procmaps_is_exec(&ent)) {
		free(ent.path);
		return 0;
	}
	unescape_octal(ent.path);
	err = arr_grow((void **)&out->e, cap, out->n + 1, sizeof(*out->e), max_entries);
	if (err) {
		free(ent.path);
		return err;
	}
	out->e[out->n++] = ent;
	return 0;
}

int procmaps_parse(const char *buf, size_t len, size_t max_entries, struct procmaps *out)
{
	const char *p = buf, *end = buf + len;
	size_t cap = 0;
	int err = 0;

	memset(out, 0, sizeof(*out));
	while (p < end && !err) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;

		err = add_line(p, le, max_entries, false, out, &cap);
		p = nl ? nl + 1 : end;
	}
	if (err)
		procmaps_release(out);
	return err;
}

/* Read in chunks and parse line by line, so that memory follows the
 * entries kept, not the size of the file. */
static int read_maps(const char *path, size_t max_bytes, size_t max_entries, bool exec_only,
		     struct procmaps *out)
{
	const size_t bufsz = 2 * (PROCMAPS_MAX_LINE + 1) + 64 * 1024;
	size_t n = 0, cap = 0, total = 0;
	bool skipping = false; /* inside a line longer than the line cap */
	char *buf = NULL;
	int fd, err = 0;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	buf = malloc(bufsz);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, bufsz - n);
		size_t used = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			/* A process exiting mid-read gives ESRCH; say so plainly. */
			err = errno == ESRCH || errno == ENOENT ? -ESRCH : -errno;
			goto cleanup;
		}
		total += (size_t)r;
		if (total > max_bytes) {
			err = -E2BIG;
			goto cleanup;
		}
		n += (size_t)r;
		for (;;) {
			char *nl = memchr(buf + used, '\n', n - used);
			char *le = nl ? nl : buf + n;

			if (!nl && r > 0 && (size_t)(le - buf - used) <= PROCMAPS_MAX_LINE)
				break; /* incomplete line: read more */
			if (skipping)
				skipping = false; /* the tail of an over-long line */
			else
				err = add_line(buf + used, le, max_entries, exec_only, out, &cap);
			if (err)
				goto cleanup;
			if (!nl) {
				/* Over-long (counted above) or the last line. */
				skipping = r > 0;
				used = n;
				break;
			}
			used = (size_t)(nl - buf) + 1;
		}
		memmove(buf, buf + used, n - used);
		n -= used;
		if (r == 0)
			break;
	}
cleanup:
	free(buf);
	close(fd);
	if (err)
		procmaps_release(out);
	return err;
}

int procmaps_read(const char *path, size_t max_entries, struct procmaps *out)
{
	return read_maps(path, PROCMAPS_MAX_BYTES, max_entries, false, out);
}

int procmaps_read_exec(const char *path, size_t max_bytes, size_t max_entries, struct procmaps *out)
{
	return read_maps(path, max_bytes, max_entries, true, out);
}

void procmaps_release(struct procmaps *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].path);
	free(m->e);
	memset(m, 0, sizeof(*m));
}
