/* SPDX-License-Identifier: Apache-2.0 */
/* procfile.h -- open a file as a profiled process sees it, without letting
 * that process steer, block or widen what the worker opens.
 *
 * A low-level module: libc and the kernel only. Every file the worker reads
 * on behalf of a profiled process (mapped binaries, debug files, perf maps,
 * unwind tables) goes through here, because the process controls its whole
 * file tree: it can put a FIFO where a library was (a blocking open would
 * hang the worker), plant an absolute symlink that points out of its root
 * (the worker's CAP_DAC_READ_SEARCH would then read host files), or swap a
 * file after mapping it.
 *
 * What an open guarantees:
 *   - the path is resolved inside the process's root (/proc/PID/root) with
 *     openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): absolute symlinks and
 *     ".." stay inside it. Where openat2 is missing (ENOSYS, Linux < 5.6) the
 *     path is walked one component at a time with O_NOFOLLOW and any symlink
 *     or ".." is refused (maps paths are canonical, so this rarely matters);
 *   - the file is first opened O_PATH (no open side effects, never blocks),
 *     must be S_ISREG and, when an identity is given, have that inode and
 *     device; only then is it reopened for reading, O_NONBLOCK | O_CLOEXEC,
 *     and the reopened file checked to be the same one;
 *   - a mapping is tried through /proc/PID/map_files/<start>-<end> first (the
 *     exact mapped file, needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE); a
 *     deleted mapping is opened only that way, never by its old path.
 * Overlay filesystems report the underlying layer's device in
 * /proc/PID/maps but their own through stat(), so on overlayfs the inode
 * must match and the device is not compared.
 *
 * Return convention: 0 on success, negative errno on failure (-ENOENT: not
 * there; -ESTALE: not the expected file; -EINVAL: not a regular file;
 * -ELOOP: a symlink or ".." the fallback refuses).
 */
#ifndef PODPROF_PROCFILE_H
#define PODPROF_PROCFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct procfile {
	int fd;		/* O_RDONLY | O_NONBLOCK | O_CLOEXEC, or -1 */
	struct stat st; /* fstat of fd */
};

/* The identity a file must have, as /proc/PID/maps states it. */
struct procfile_id {
	uint64_t dev;	/* makedev(major, minor) */
	uint64_t inode; /* 0: do not check the identity */
};

/* Open `path` (absolute, as the process sees it) inside pid's root.
 * want may be NULL (any regular file). proc_root is normally "/proc".
 * On success the caller owns out->fd: procfile_close(). */
int procfile_open(const char *proc_root, pid_t pid, const char *path,
		  const struct procfile_id *want, struct procfile *out);

/* Open the file behind the mapping [start, end) of pid: map_files first,
 * else (unless deleted) `path` inside the root as procfile_open() does.
 * The identity is always checked. */
int procfile_open_mapping(const char *proc_root, pid_t pid, uint64_t start, uint64_t end,
			  const char *path, bool deleted, const struct procfile_id *id,
			  struct procfile *out);

/* Read up to n bytes at off (loops over short reads and EINTR). Returns
 * the number of bytes read (less than n only at end of file) or -errno. */
ssize_t procfile_pread(const struct procfile *f, void *buf, size_t n, uint64_t off);

/* Read the whole file into a new buffer (NUL-terminated, not counted in
 * *len). -E2BIG when it holds more than max bytes; nothing is allocated
 * past max + 1. Free *buf with free(). */
int procfile_read_all(const struct procfile *f, size_t max, char **buf, size_t *len);

/* Close and set fd to -1 (accepts an already closed struct). */
void procfile_close(struct procfile *f);

/* Is openat2 used? false after it returned ENOSYS once. */
bool procfile_have_openat2(void);

/* use false: take the component walk from now on, as if openat2 were
 * missing (tests); true: try openat2 again. */
void procfile_use_openat2(bool use);

#endif
