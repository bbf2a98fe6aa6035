/* SPDX-License-Identifier: Apache-2.0 */
/* test_procmaps.c -- /proc/PID/maps parsing keeps paths with spaces, marks
 * deleted files, and skips over-long or malformed lines without failing. */
#include "unit.h"
#include "procmaps.h"

#include <errno.h>
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
