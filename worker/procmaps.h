/* SPDX-License-Identifier: Apache-2.0 */
/* procmaps.h -- parse /proc/PID/maps into address ranges and files.
 *
 * A low-level module: libc only. Input is untrusted text (file names are
 * chosen by whoever runs the process), so the file size, the line length and
 * the number of entries are capped; a line that does not parse or is too
 * long is skipped, never fatal. Octal escapes the kernel writes in paths
 * ("\012" for a newline) are decoded.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_PROCMAPS_H
#define PODPROF_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCMAPS_MAX_BYTES   (32u << 20) /* whole maps file */
#define PROCMAPS_MAX_LINE    8192	 /* one line (path included) */
#define PROCMAPS_MAX_ENTRIES 200000	 /* default entry cap */

struct procmaps_entry {
	uint64_t start, end; /* [start, end) */
	uint64_t offset;     /* file offset of start */
	uint64_t dev;	     /* makedev(major, minor) of the file's device */
	uint64_t inode;	     /* 0 for anonymous and pseudo mappings */
	char perms[5];	     /* e.g. "r-xp" */
	bool deleted;	     /* the path ended in " (deleted)" (stripped from path) */
	char *path;	     /* owned; "" when anonymous, "[vdso]" etc. for pseudo */
};

struct procmaps {
	struct procmaps_entry *e; /* sorted by start as the kernel writes them */
	size_t n;
	size_t skipped; /* lines dropped: malformed, too long or past the cap */
};

/* Parse maps text. Entries past max_entries are counted in skipped. On
 * success the caller frees with procmaps_release(). */
int procmaps_parse(const char *buf, size_t len, size_t max_entries, struct procmaps *out);

/* Read and parse a maps file (e.g. "/proc/123/maps"). -ENOENT/-ESRCH when
 * the process is gone, -E2BIG past PROCMAPS_MAX_BYTES. */
int procmaps_read(const char *path, size_t max_entries, struct procmaps *out);

/* Same, keeping only executable entries (procmaps_is_exec) and reading
 * at most max_bytes of the file (-E2BIG past it). Memory follows the
 * entries kept, not the file's size. */
int procmaps_read_exec(const char *path, size_t max_bytes, size_t max_entries,
		       struct procmaps *out);

/* Free entries; accepts a zeroed or already released struct. */
void procmaps_release(struct procmaps *m);

/* Is the entry executable (the only ones stack addresses fall into)? */
static inline bool procmaps_is_exec(const struct procmaps_entry *e)
{
	return e->perms[2] == 'x';
}

#endif
