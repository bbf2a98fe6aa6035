/* SPDX-License-Identifier: Apache-2.0 */
/* test_readfile.c -- whole-file reads within a cap: regular files, pipes,
 * directories, the cap itself. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "readfile.h"

UNIT_TEST(readfile_capped)
{
	char path[] = "/tmp/podprof-readfile-XXXXXX";
	int fd = mkstemp(path), p[2];
	void *buf = NULL;
	size_t len = 0;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ_INT(write(fd, "hello", 5), 5);
	close(fd);
	CHECK_EQ_INT(read_file_capped(path, 5, &buf, &len), 0);
	CHECK_EQ_INT(len, 5);
	CHECK_EQ_STR(buf, "hello");
	free(buf);
	CHECK_EQ_INT(read_file_capped(path, 4, &buf, &len), -E2BIG);
	CHECK(buf == NULL);
	CHECK_EQ_INT(read_file_capped("/tmp", 100, &buf, &len), -EISDIR);
	CHECK_EQ_INT(read_file_capped("/nonexistent/podprof", 100, &buf, &len), -ENOENT);
	unlink(path);
	/* A pipe has no size: read to EOF, still capped. */
	CHECK_EQ_INT(pipe(p), 0);
	CHECK_EQ_INT(write(p[1], "abcdef", 6), 6);
	close(p[1]);
	snprintf(path, sizeof(path), "/dev/fd/%d", p[0]);
	CHECK_EQ_INT(read_file_capped(path, 5, &buf, &len), -E2BIG);
	close(p[0]);
	CHECK_EQ_INT(pipe(p), 0);
	CHECK_EQ_INT(write(p[1], "abc", 3), 3);
	close(p[1]);
	snprintf(path, sizeof(path), "/dev/fd/%d", p[0]);
	CHECK_EQ_INT(read_file_capped(path, 5, &buf, &len), 0);
	CHECK_EQ_INT(len, 3);
	CHECK_EQ_STR(buf, "abc");
	free(buf);
	close(p[0]);
}
