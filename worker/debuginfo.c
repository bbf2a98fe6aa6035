/* SPDX-License-Identifier: Apache-2.0 */
/* debuginfo.c -- candidate paths for a binary's separate debug file, each
 * checked by build ID before it is used.
 */
#include "debuginfo.h"
#include "elfsym.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MIN_BUILD_ID_HEX 4 /* "xx" directory plus at least two more digits */

static bool is_hex_id(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n >= MIN_BUILD_ID_HEX && n <= 2 * ELFSYM_MAX_BUILD_ID;
}

/* A debuglink comes from the (untrusted) binary: a plain file name only. */
static bool is_plain_name(const char *s)
{
	return s && s[0] && strlen(s) < NAME_MAX && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

/* Take fd when it is an ELF file carrying the wanted build ID. 1 taken,
 * 0 not (fd closed), -ENOMEM. */
static int accept_fd(const struct debuginfo_query *q, int fd, struct elfsym **sym)
{
	struct elfsym *e = NULL;
	const char *id;
	int err = elfsym_load_fd(fd, &e);

	if (err == -ENOMEM) {
		close(fd);
		return err;
	}
	id = e ? elfsym_build_id(e) : NULL;
	if (err || (q->build_id && (!id || strcmp(id, q->build_id) != 0))) {
		elfsym_free(e);
		close(fd);
		return 0;
	}
	*sym = e;
	return 1;
}

struct search {
	const struct debuginfo_query *q;
	debuginfo_open_fn open_in_root;
	void *ctx;
	int *fd;
	struct elfsym **sym;
};

/* Try one candidate; root selects the process's root over the node's. */
static int try_path(struct search *s, bool root, const char *path)
{
	int fd = root ? s->open_in_root(s->ctx, path) : open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return 0;
	r = accept_fd(s->q, fd, s->sym);
	if (r == 1)
		*s->fd = fd;
	return r;
}

/* Candidates under one debug directory (base "" = the process's root). */
static int try_dir(struct search *s, bool root, const char *base, const char *dir)
{
	const struct debuginfo_query *q = s->q;
	char p[PATH_MAX];
	int r = 0;

	if (q->build_id && is_hex_id(q->build_id)) {
		if (snprintf(p, sizeof(p), "%s/.build-id/%.2s/%s.debug", base, q->build_id,
			     q->build_id + 2) < (int)sizeof(p))
			r = try_path(s, root, p);
		if (r)
			return r;
	}
	if (!dir || !is_plain_name(q->debuglink))
		return 0;
	if (root) {
		/* Next to the binary and in its .debug/, only inside the root. */
		if (snprintf(p, sizeof(p), "%s/%s", dir, q->debuglink) < (int)sizeof(p))
			r = try_path(s, root, p);
		if (!r &&
		    snprintf(p, sizeof(p), "%s/.debug/%s", dir, q->debuglink) < (int)sizeof(p))
			r = try_path(s, root, p);
		if (r)
			return r;
	}
	if (snprintf(p, sizeof(p), "%s%s/%s", base, dir, q->debuglink) < (int)sizeof(p))
		r = try_path(s, root, p);
	return r;
}

int debuginfo_find(const struct debuginfo_query *q, debuginfo_open_fn open_in_root, void *ctx,
		   const char *const *dirs, size_t ndirs, int *fd, struct elfsym **sym)
{
	struct search s = {q, open_in_root, ctx, fd, sym};
	char dir[PATH_MAX];
	const char *slash;
	int r;

	*fd = -1;
	*sym = NULL;
	/* The directory part of the binary's path, "" for a file in /. */
	dir[0] = '\0';
	slash = q->path ? strrchr(q->path, '/') : NULL;
	if (q->path && q->path[0] == '/' && slash && (size_t)(slash - q->path) < sizeof(dir)) {
		memcpy(dir, q->path, (size_t)(slash - q->path));
		dir[slash - q->path] = '\0';
	}
	r = try_dir(&s, true, "/usr/lib/debug", slash ? dir : NULL);
	for (size_t i = 0; !r && i < ndirs && i < DEBUGINFO_MAX_DIRS; i++)
		r = try_dir(&s, false, dirs[i], slash ? dir : NULL);
	if (r < 0)
		return r;
	return r ? 0 : -ENOENT;
}
