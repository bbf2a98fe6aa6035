/* SPDX-License-Identifier: Apache-2.0 */
/* procfile.c -- open a profiled process's files inside its root, non-blocking,
 * regular files of the expected identity only. */
#include "procfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_COMPONENTS 64 /* path depth the fallback walk accepts */

static bool no_openat2; /* set once openat2 said ENOSYS */

bool procfile_have_openat2(void)
{
	return !no_openat2;
}

void procfile_use_openat2(bool use)
{
	no_openat2 = !use;
}

/* O_PATH open of path under rootfd, never leaving it: openat2 where the
 * kernel has it, else a component walk that refuses symlinks and "..". */
static int open_in_root(int rootfd, const char *path)
{
	char buf[PATH_MAX], *save = NULL, *comp;
	int dfd, fd, n = 0;

	if (!no_openat2) {
		struct open_how how = {.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW,
				       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};

		/* O_NOFOLLOW: the last component may not be a symlink either
		 * (maps paths are the resolved ones, a symlink there is a swap). */
		fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno != ENOSYS)
			return -errno;
		no_openat2 = true;
	}
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	dfd = rootfd;
	fd = -ENOENT;
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int next;

		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0 || ++n > MAX_COMPONENTS) {
			fd = -ELOOP;
			break;
		}
		next = openat(dfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (dfd != rootfd)
			close(dfd);
		dfd = rootfd;
		if (next < 0) {
			fd = -errno;
			break;
		}
		dfd = next;
		fd = next;
	}
	if (fd < 0 && dfd != rootfd)
		close(dfd);
	return fd == rootfd ? -EISDIR : fd;
}

/* Is st the file the mapping names? Overlayfs stat()s show the overlay's
 * device while maps shows the layer's, so there only the inode counts. */
static bool same_file(int fd, const struct stat *st, const struct procfile_id *want)
{
	struct statfs sfs;

	if (!want || want->inode == 0)
		return true;
	if ((uint64_t)st->st_ino != want->inode)
		return false;
	if ((uint64_t)st->st_dev == want->dev)
		return true;
	return fstatfs(fd, &sfs) == 0 && sfs.f_type == OVERLAYFS_SUPER_MAGIC;
}

/* Turn an O_PATH fd into a readable one after checking what it is. Takes
 * ownership of pfd. */
static int reopen_checked(int pfd, const struct procfile_id *want, struct procfile *out)
{
	char self[64];
	struct stat st;
	int fd = -1, err = 0;

	if (fstat(pfd, &st) != 0) {
		err = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto cleanup;
	}
	if (!same_file(pfd, &st, want)) {
		err = -ESTALE;
		goto cleanup;
	}
	/* Reopening through our own fd table re-checks permissions but
	 * resolves no path the process could change. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (fstat(fd, &out->st) != 0) {
		err = -errno;
		goto cleanup;
	}
	if (out->st.st_dev != st.st_dev || out->st.st_ino != st.st_ino ||
	    !S_ISREG(out->st.st_mode)) {
		err = -ESTALE;
		goto cleanup;
	}
	out->fd = fd;
	fd = -1;
cleanup:
	if (fd >= 0)
		close(fd);
	close(pfd);
	return err;
}

int procfile_open(const char *proc_root, pid_t pid, const char *path,
		  const struct procfile_id *want, struct procfile *out)
{
	char root[PATH_MAX];
	int rootfd, pfd;

	out->fd = -1;
	if (pid <= 0 || !path || path[0] != '/')
		return -EINVAL;
	snprintf(root, sizeof(root), "%s/%d/root", proc_root, (int)pid);
	/* /proc/PID/root is a magic link to the process's root: following it
	 * here is the point, and the path is ours, not the process's. */
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	pfd = open_in_root(rootfd, path);
	close(rootfd);
	if (pfd < 0)
		return pfd;
	return reopen_checked(pfd, want, out);
}

int procfile_open_mapping(const char *proc_root, pid_t pid, uint64_t start, uint64_t end,
			  const char *path, bool deleted, const struct procfile_id *id,
			  struct procfile *out)
{
	char mf[PATH_MAX];
	int pfd, err;

	out->fd = -1;
	if (pid <= 0)
		return -EINVAL;
	snprintf(mf, sizeof(mf), "%s/%d/map_files/%" PRIx64 "-%" PRIx64, proc_root, (int)pid, start,
		 end);
	pfd = open(mf, O_PATH | O_CLOEXEC);
	if (pfd >= 0) {
		err = reopen_checked(pfd, id, out);
		if (err != -EACCES && err != -EPERM)
			return err;
	}
	if (deleted)
		return -ENOENT;
	return procfile_open(proc_root, pid, path, id, out);
}

ssize_t procfile_pread(const struct procfile *f, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	while (got < n) {
		ssize_t r = pread(f->fd, (char *)buf + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int procfile_read_all(const struct procfile *f, size_t max, char **buf, size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	char *b;
	int err = 0;

	*buf = NULL;
	*len = 0;
	if (max >= SIZE_MAX / 2)
		return -EINVAL;
	/* st_size is only a hint (the file can change): start from it when
	 * small, grow by doubling, and let the cap be what holds. */
	if (f->st.st_size > 0 && (uint64_t)f->st.st_size < cap)
		cap = (size_t)f->st.st_size + 1;
	if (cap > max + 1)
		cap = max + 1;
	b = malloc(cap);
	if (!b)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *nb;

			if (cap == max + 1) {
				err = -E2BIG; /* max + 1 bytes read: over the cap */
				goto cleanup;
			}
			cap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
			nb = realloc(b, cap);
			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			b = nb;
		}
		r = procfile_pread(f, b + n, cap - n, n);
		if (r < 0) {
			err = (int)r;
			goto cleanup;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	b[n] = '\0'; /* n < cap here */
	*buf = b;
	*len = n;
	b = NULL;
cleanup:
	free(b);
	return err;
}

void procfile_close(struct procfile *f)
{
	if (f && f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
}
