/* SPDX-License-Identifier: Apache-2.0 */
/* test_procmaps.c -- /proc/PID/maps parsing keeps paths with spaces, marks
 * deleted files, and skips over-long or malformed lines without failing. */
#include "unit.h"
#include "procmaps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int read_data(const char *name, size_t max, struct procmaps *pm)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/procmaps/%s", unit_data_dir(), name);
	return procmaps_read(path, max, pm);
}

/* Recorded maps with every odd shape parse into the expected entries. */
UNIT_TEST(procmaps_recorded_file)
{
	struct procmaps pm;

	CHECK_EQ_INT(read_data("mixed.maps", PROCMAPS_MAX_ENTRIES, &pm), 0);
	/* 11 lines: 1 not a mapping, 1 over-long, 1 end < start, 1 bad hex. */
	CHECK_EQ_INT(pm.n, 7);
	CHECK_EQ_INT(pm.skipped, 4);
	if (pm.n == 7) {
		CHECK_EQ_INT(pm.e[0].start, 0x5581a9c00000ULL);
		CHECK_EQ_INT(pm.e[0].end, 0x5581a9c02000ULL);
		CHECK_EQ_STR(pm.e[0].perms, "r--p");
		CHECK(!procmaps_is_exec(&pm.e[0]));
		CHECK(procmaps_is_exec(&pm.e[1]));
		CHECK_EQ_INT(pm.e[1].offset, 0x2000);
		CHECK_EQ_INT(pm.e[1].inode, 1048602);
		CHECK_EQ_INT(pm.e[1].dev, makedev(0xfd, 1));
		CHECK_EQ_STR(pm.e[1].path, "/usr/bin/cat");
		CHECK(!pm.e[1].deleted);
		CHECK_EQ_STR(pm.e[2].path, "[heap]");
		CHECK_EQ_INT(pm.e[2].inode, 0);
		CHECK_EQ_STR(pm.e[3].path, "/opt/my app/lib/libsp ace.so");
		CHECK(pm.e[3].deleted);
		CHECK_EQ_INT(pm.e[3].dev, makedev(0x103, 2));
		CHECK_EQ_STR(pm.e[4].path, "");
		CHECK_EQ_STR(pm.e[4].perms, "rwxp");
		CHECK_EQ_STR(pm.e[5].path, "[vdso]");
		CHECK_EQ_INT(pm.e[6].start, 0xffffffffff600000ULL);
		CHECK_EQ_STR(pm.e[6].path, "[vsyscall]");
	}
	procmaps_release(&pm);
	procmaps_release(&pm); /* twice is safe */
}

/* The entry cap holds; entries past it are counted, not stored. */
UNIT_TEST(procmaps_entry_cap)
{
	struct procmaps pm;

	CHECK_EQ_INT(read_data("mixed.maps", 3, &pm), 0);
	CHECK_EQ_INT(pm.n, 3);
	CHECK(pm.skipped >= 4);
	procmaps_release(&pm);
}

/* Our own maps parse and contain this test function's address; a missing
 * process is -ESRCH. */
UNIT_TEST(procmaps_self)
{
	struct procmaps pm;
	uint64_t me = (uint64_t)(uintptr_t)&unit_data_dir;
	bool found = false;

	CHECK_EQ_INT(procmaps_read("/proc/self/maps", PROCMAPS_MAX_ENTRIES, &pm), 0);
	CHECK(pm.n > 5);
	for (size_t i = 0; i < pm.n; i++)
		if (me >= pm.e[i].start && me < pm.e[i].end)
			found = procmaps_is_exec(&pm.e[i]) && pm.e[i].inode != 0;
	CHECK(found);
	procmaps_release(&pm);
	CHECK_EQ_INT(procmaps_read("/proc/999999999/maps", 10, &pm), -ESRCH);
}

/* Garbage bytes, NULs and an empty buffer never fail the parse. */
UNIT_TEST(procmaps_garbage)
{
	static const char junk[] = "\0\0\xff-\n-\n 1-2 r-xp\n1-2 r-xp 0 0:0\n\n\n1-2 r-xp 0 0:0 0";
	struct procmaps pm;

	CHECK_EQ_INT(procmaps_parse(junk, sizeof(junk) - 1, 100, &pm), 0);
	CHECK_EQ_INT(pm.n, 1); /* only the last line is complete */
	if (pm.n == 1)
		CHECK_EQ_STR(pm.e[0].path, "");
	procmaps_release(&pm);
	CHECK_EQ_INT(procmaps_parse("", 0, 100, &pm), 0);
	CHECK_EQ_INT(pm.n, 0);
	procmaps_release(&pm);
}

/* Octal escapes the kernel writes in paths are decoded; "\000" and an
 * incomplete escape stay as they are. */
UNIT_TEST(procmaps_octal_escapes)
{
	static const char text[] = "1000-2000 r-xp 00000000 08:01 12 /tmp/new\\012line\\040x.so\n"
				   "3000-4000 r-xp 00000000 08:01 13 /tmp/keep\\000zero\\01\n"
				   "5000-6000 r-xp 00000000 08:01 14 /tmp/gone\\012.so (deleted)\n";
	struct procmaps pm;

	CHECK_EQ_INT(procmaps_parse(text, sizeof(text) - 1, 10, &pm), 0);
	CHECK_EQ_INT(pm.n, 3);
	if (pm.n == 3) {
		CHECK_EQ_STR(pm.e[0].path, "/tmp/new\nline x.so");
		CHECK_EQ_STR(pm.e[1].path, "/tmp/keep\\000zero\\01");
		CHECK_EQ_STR(pm.e[2].path, "/tmp/gone\n.so");
		CHECK(pm.e[2].deleted);
	}
	procmaps_release(&pm);
}

/* procmaps_read_exec keeps executable entries only, reads in chunks (lines
 * that straddle a chunk, over-long lines), and stops at its byte cap. */
UNIT_TEST(procmaps_read_exec_filters_and_caps)
{
	char path[] = "/tmp/podprof-maps-XXXXXX";
	char longpath[PROCMAPS_MAX_LINE + 100];
	struct procmaps pm;
	size_t total = 0;
	FILE *f;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	CHECK(f != NULL);
	if (!f)
		return;
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	for (int i = 0; i < 3000; i++) {
		unsigned long a = 0x100000UL + (unsigned long)i * 0x2000;

		/* Every third entry executable; one over-long line in the middle. */
		total += (size_t)fprintf(f, "%lx-%lx %s 00000000 08:01 %d /usr/lib/lib%d.so\n", a,
					 a + 0x1000, i % 3 ? "rw-p" : "r-xp", i + 1, i);
		if (i == 1500)
			total += (size_t)fprintf(f, "1-2 r-xp 00000000 08:01 9 %s\n", longpath);
	}
	fclose(f);
	CHECK_EQ_INT(procmaps_read_exec(path, total, 100000, &pm), 0);
	CHECK_EQ_INT(pm.n, 1000);
	CHECK_EQ_INT(pm.skipped, 1);
	for (size_t i = 0; i < pm.n; i++)
		if (!procmaps_is_exec(&pm.e[i]))
			CHECK(procmaps_is_exec(&pm.e[i]));
	if (pm.n == 1000)
		CHECK_EQ_STR(pm.e[999].path, "/usr/lib/lib2997.so");
	procmaps_release(&pm);
	CHECK_EQ_INT(procmaps_read_exec(path, total - 1, 100000, &pm), -E2BIG);
	CHECK_EQ_INT(pm.n, 0);
	CHECK_EQ_INT(procmaps_read_exec(path, total, 10, &pm), 0);
	CHECK_EQ_INT(pm.n, 10);
	procmaps_release(&pm);
	unlink(path);
}
