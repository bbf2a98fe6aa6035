/* SPDX-License-Identifier: Apache-2.0 */
/* readfile.c -- read a whole regular file within a cap (see readfile.h). */
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int read_file_capped(const char *path, size_t max, void **out, size_t *len)
{
	int fd = -1, err = 0;
	struct stat st;
	char *buf = NULL;
	size_t got = 0, want;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto cleanup;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		err = -E2BIG;
		goto cleanup;
	}
	/* A regular file: its size. A pipe or device (a kubeconfig given as
	 * /dev/fd/N): up to one byte past the cap, to tell "too big". */
	want = S_ISREG(st.st_mode) ? (size_t)st.st_size : max + 1;
	buf = malloc(want + 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (got < want) {
		ssize_t n = read(fd, buf + got, want - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto cleanup;
		}
		if (n == 0)
			break; /* truncated while reading: return what is there */
		got += (size_t)n;
	}
	if (got > max) {
		err = -E2BIG;
		goto cleanup;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
cleanup:
	/* Token and key files come through here: leave no copy in freed memory. */
	if (buf)
		explicit_bzero(buf, got);
	free(buf);
	if (fd >= 0)
		close(fd);
	return err;
}
