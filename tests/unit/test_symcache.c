/* SPDX-License-Identifier: Apache-2.0 */
/* test_symcache.c -- the symbol cache keeps binaries by build ID, evicts
 * the least recently used unpinned ones past its budget and never a pinned
 * one, and gives a file rewritten in place a new key. */
#include "unit.h"
#include "elfsym.h"
#include "symcache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define KIB 1024u

/* An entry without tables charged `kib` KiB. */
static struct symcache_bin *fake_bin(size_t kib)
{
	struct symcache_bin *b = calloc(1, sizeof(*b));

	if (b)
		b->mem = kib * KIB;
	return b;
}

/* Put a fake entry and drop the loader's pin, as a snapshot ending would. */
static int put_unpinned(struct symcache *c, const char *key, size_t kib)
{
	struct symcache_bin *b = fake_bin(kib);
	int err = b ? symcache_put(c, key, b) : -ENOMEM;

	if (err) {
		symcache_bin_free(b);
		return err;
	}
	symcache_unpin(c, b);
	return 0;
}

UNIT_TEST(symcache_lru_evicts_oldest_unpinned)
{
	struct symcache *c = NULL;
	struct symcache_stats st;
	struct symcache_bin *a, *pinned;

	CHECK_EQ_INT(symcache_new(&c, SYMCACHE_MIN_BYTES), 0);
	if (!c)
		return;
	CHECK_EQ_INT(put_unpinned(c, "b:aa:1", 400), 0);
	CHECK_EQ_INT(put_unpinned(c, "b:bb:1", 400), 0);
	/* Touch A: B is now the least recently used. */
	a = symcache_get(c, "b:aa:1");
	CHECK(a != NULL);
	symcache_unpin(c, a);
	CHECK_EQ_INT(put_unpinned(c, "b:cc:1", 400), 0); /* 1200 KiB > 1 MiB */
	symcache_get_stats(c, &st);
	CHECK_EQ_INT(st.evictions, 1);
	CHECK_EQ_INT(st.entries, 2);
	CHECK_EQ_INT(st.bytes, 800 * KIB);
	CHECK(symcache_get(c, "b:bb:1") == NULL); /* evicted: a miss */
	a = symcache_get(c, "b:aa:1");
	CHECK(a != NULL);
	symcache_unpin(c, a);
	symcache_get_stats(c, &st);
	CHECK_EQ_INT(st.hits, 2);
	CHECK_EQ_INT(st.misses, 1);
	CHECK_EQ_INT(st.pinned, 0);

	/* Pinned entries stay, even over the budget; room is then refused. */
	pinned = symcache_get(c, "b:cc:1");
	a = symcache_get(c, "b:aa:1");
	CHECK(pinned != NULL && a != NULL);
	CHECK_EQ_INT(symcache_put(c, "f:1:2:3:4.5", fake_bin(900)), 0); /* stays pinned */
	symcache_get_stats(c, &st);
	CHECK_EQ_INT(st.entries, 3);
	CHECK_EQ_INT(st.pinned, 3);
	CHECK_EQ_INT(st.evictions, 1);
	CHECK(!symcache_make_room(c));
	/* Released, the oldest go first until the rest fits. */
	symcache_unpin(c, pinned);
	symcache_unpin(c, a);
	CHECK(symcache_make_room(c));
	CHECK(symcache_get(c, "b:cc:1") == NULL && symcache_get(c, "b:aa:1") == NULL);
	symcache_get_stats(c, &st);
	CHECK_EQ_INT(st.evictions, 3);
	CHECK_EQ_INT(st.entries, 1);
	symcache_free(c); /* frees the still pinned entry too */
}

static int copy_file(const char *from, const char *to)
{
	char cmd[2 * PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	return system(cmd) == 0 ? 0 : -EIO;
}

static int key_of(const char *path, char key[SYMCACHE_KEY_MAX])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = symcache_key_fd(fd, key);
	close(fd);
	return err;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w"); /* truncates: same inode */
	int err;

	if (!f)
		return -errno;
	err = fputs(text, f) < 0 ? -EIO : 0;
	return fclose(f) || err ? -EIO : 0;
}

UNIT_TEST(symcache_key_build_id_and_identity)
{
	char dir[] = "/tmp/podprof-symcache-XXXXXX", a[PATH_MAX], b[PATH_MAX], t[PATH_MAX];
	char ka[SYMCACHE_KEY_MAX], kb[SYMCACHE_KEY_MAX], kt[SYMCACHE_KEY_MAX],
	    kt2[SYMCACHE_KEY_MAX], want[SYMCACHE_KEY_MAX];
	struct elfsym *e = NULL;
	struct timespec times[2] = {{0, UTIME_OMIT}, {1000000, 0}};
	struct stat st1, st2;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(a, sizeof(a), "%s/one", dir);
	snprintf(b, sizeof(b), "%s/two", dir);
	snprintf(t, sizeof(t), "%s/text", dir);
	/* Two copies of one binary (two inodes): one key, the build ID's. */
	CHECK_EQ_INT(copy_file("/proc/self/exe", a), 0);
	CHECK_EQ_INT(copy_file("/proc/self/exe", b), 0);
	CHECK_EQ_INT(key_of(a, ka), 0);
	CHECK_EQ_INT(key_of(b, kb), 0);
	CHECK_EQ_STR(ka, kb);
	CHECK_EQ_INT(elfsym_load_path(a, &e), 0);
	CHECK(e && elfsym_build_id(e));
	if (e && elfsym_build_id(e) && stat(a, &st1) == 0) {
		snprintf(want, sizeof(want), "b:%s:%lld", elfsym_build_id(e),
			 (long long)st1.st_size);
		CHECK_EQ_STR(ka, want);
	}
	elfsym_free(e);

	/* No build ID: the file's identity, which changes with its bytes even
	 * at the same path and inode (rewritten in place). */
	CHECK_EQ_INT(write_text(t, "not an ELF file\n"), 0);
	CHECK_EQ_INT(key_of(t, kt), 0);
	CHECK(strncmp(kt, "f:", 2) == 0);
	CHECK_EQ_INT(stat(t, &st1), 0);
	CHECK_EQ_INT(write_text(t, "not an ELF file either\n"), 0);
	CHECK_EQ_INT(stat(t, &st2), 0);
	CHECK_EQ_INT(st1.st_ino, st2.st_ino);
	CHECK_EQ_INT(key_of(t, kt2), 0);
	CHECK(strcmp(kt, kt2) != 0);
	/* Same size, other time stamp: another key. */
	CHECK_EQ_INT(utimensat(AT_FDCWD, t, times, 0), 0);
	CHECK_EQ_INT(key_of(t, kt), 0);
	CHECK(strcmp(kt, kt2) != 0);

	unlink(a);
	unlink(b);
	unlink(t);
	rmdir(dir);
}

/* Looked-up source positions are remembered per binary, also "none", and
 * what they hold is charged to the cache. */
UNIT_TEST(symcache_memo_remembers_lines)
{
	static const struct pprof_line two[] = {
	    {.function = "inl", .filename = "a.c", .line = 3},
	    {.function = "outer", .filename = "a.c", .line = 9}};
	struct symcache *c = NULL;
	struct symcache_bin *b = fake_bin(1);
	const struct pprof_line *l;
	struct symcache_stats st;
	uint64_t before;
	size_t n = 99;

	CHECK_EQ_INT(symcache_new(&c, 0), 0);
	if (!c || !b || symcache_put(c, "b:memo:1", b)) {
		symcache_free(c);
		symcache_bin_free(b);
		return;
	}
	symcache_get_stats(c, &st);
	before = st.bytes;
	CHECK(symcache_memo_find(c, b, 0x1234, &n) == NULL && n == 0);
	CHECK_EQ_INT(symcache_memo_add(c, b, 0x1234, two, 2), 0);
	CHECK_EQ_INT(symcache_memo_add(c, b, 0x5000, NULL, 0), 0); /* no lines there */
	l = symcache_memo_find(c, b, 0x1234, &n);
	CHECK(l != NULL && n == 2);
	if (l && n == 2) {
		CHECK_EQ_STR(l[0].function, "inl");
		CHECK_EQ_INT(l[1].line, 9);
	}
	l = symcache_memo_find(c, b, 0x5000, &n);
	CHECK(l != NULL && n == 0);
	symcache_get_stats(c, &st);
	CHECK_EQ_INT(st.line_hits, 2);
	CHECK_EQ_INT(st.line_misses, 1);
	CHECK(st.bytes > before && st.bytes == b->mem);
	symcache_free(c);
}
