/* SPDX-License-Identifier: Apache-2.0 */
/* test_perfmap.c -- JIT perf maps: names with spaces, newer entries win on
 * overlap, malformed and over-long lines are skipped, a half-written last
 * line waits for the next read, and the entry cap holds. */
#include "unit.h"
#include "perfmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* An unlinked temporary file holding text. */
static int temp_with(const char *text, size_t len)
{
	char path[] = "/tmp/podprof-perfmap-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

UNIT_TEST(perfmap_parse_and_lookup)
{
	static const char text[] = "1000 100 JS:*hotLeaf /app/chain.js:1:17\n"
				   "garbage line\n"
				   "2000 zz bad size\n"
				   "0x3000 0x10 LazyCompile:~f\n"
				   "1080 10 newer inside\n"
				   "4000 10 half-writ";
	struct perfmap *m = NULL;
	uint64_t used = 0;
	int fd = temp_with(text, sizeof(text) - 1);

	CHECK(fd >= 0);
	CHECK_EQ_INT(perfmap_load_fd(fd, &m, &used), 0);
	if (m) {
		CHECK_EQ_STR(perfmap_lookup(m, 0x1000), "JS:*hotLeaf /app/chain.js:1:17");
		CHECK_EQ_STR(perfmap_lookup(m, 0x107f), "JS:*hotLeaf /app/chain.js:1:17");
		CHECK_EQ_STR(perfmap_lookup(m, 0x1085), "newer inside");
		CHECK(perfmap_lookup(m, 0x10f0) == NULL); /* cut by the newer entry */
		CHECK_EQ_STR(perfmap_lookup(m, 0x300f), "LazyCompile:~f");
		CHECK(perfmap_lookup(m, 0x3010) == NULL);
		CHECK(perfmap_lookup(m, 0x2000) == NULL);
		CHECK(perfmap_lookup(m, 0x4000) == NULL); /* no newline yet */
		CHECK_EQ_INT(used, sizeof(text) - 1 - strlen("4000 10 half-writ"));
	}
	perfmap_free(m);
	if (fd >= 0)
		close(fd);
}

UNIT_TEST(perfmap_long_lines_and_entry_cap)
{
	size_t n = (size_t)PERFMAP_MAX_ENTRIES + 10, len = 0, cap = n * 24 + PERFMAP_MAX_LINE + 64;
	char *text = malloc(cap);
	struct perfmap *m = NULL;
	int fd;

	CHECK(text != NULL);
	if (!text)
		return;
	/* One over-long line first, then more entries than the cap. */
	len += (size_t)snprintf(text, cap, "10 10 ");
	memset(text + len, 'x', PERFMAP_MAX_LINE + 10);
	len += PERFMAP_MAX_LINE + 10;
	text[len++] = '\n';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%zx 1 f%zu\n", 0x100000 + i, i);
	fd = temp_with(text, len);
	CHECK(fd >= 0);
	CHECK_EQ_INT(perfmap_load_fd(fd, &m, NULL), 0);
	if (m) {
		CHECK_EQ_INT(perfmap_count(m), PERFMAP_MAX_ENTRIES);
		CHECK(perfmap_lookup(m, 0x10) == NULL);
		CHECK_EQ_STR(perfmap_lookup(m, 0x100000), "f0");
	}
	perfmap_free(m);
	if (fd >= 0)
		close(fd);
	free(text);
}
