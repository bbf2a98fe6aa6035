/* SPDX-License-Identifier: Apache-2.0 */
/* test_procfile.c -- files of a profiled process open inside its root only,
 * never block, and are regular files of the expected identity. */
#include "unit.h"
#include "procfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAKE_PID 4242

/* <tmp>/proc/4242/root -> <tmp>/root, as /proc/PID/root of a chrooted
 * process; <tmp>/host is outside that root. */
struct fake {
	char dir[64], proc[PATH_MAX], root[PATH_MAX], host[PATH_MAX];
};

static int put(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -EIO;
}

static int fake_setup(struct fake *fk)
{
	char p[PATH_MAX + 64];

	snprintf(fk->dir, sizeof(fk->dir), "/tmp/podprof-procfile-XXXXXX");
	if (!mkdtemp(fk->dir))
		return -errno;
	snprintf(fk->proc, sizeof(fk->proc), "%s/proc", fk->dir);
	snprintf(fk->root, sizeof(fk->root), "%s/root", fk->dir);
	snprintf(fk->host, sizeof(fk->host), "%s/host-secret", fk->dir);
	snprintf(p, sizeof(p), "%s/%d", fk->proc, FAKE_PID);
	if (mkdir(fk->proc, 0700) || mkdir(p, 0700) || mkdir(fk->root, 0700))
		return -errno;
	snprintf(p, sizeof(p), "%s/%d/root", fk->proc, FAKE_PID);
	if (symlink(fk->root, p))
		return -errno;
	return put(fk->host, "host only\n");
}

static void fake_teardown(struct fake *fk)
{
	char cmd[128];

	if (strncmp(fk->dir, "/tmp/podprof-procfile-", 22) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fk->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "    could not remove %s\n", fk->dir);
}

static int in_root(const struct fake *fk, const char *rel, char *out, size_t n)
{
	return snprintf(out, n, "%s%s", fk->root, rel) < (int)n ? 0 : -ENAMETOOLONG;
}

/* A regular file opens, reads are capped, and its identity is checked. */
UNIT_TEST(procfile_regular_file_and_identity)
{
	struct procfile pf = {.fd = -1};
	struct fake fk;
	struct stat st;
	char p[PATH_MAX], *buf = NULL, small[4];
	size_t len = 0;

	CHECK_EQ_INT(fake_setup(&fk), 0);
	CHECK_EQ_INT(in_root(&fk, "/lib.so", p, sizeof(p)), 0);
	CHECK_EQ_INT(put(p, "0123456789"), 0);
	CHECK_EQ_INT(stat(p, &st), 0);
	struct procfile_id id = {(uint64_t)st.st_dev, (uint64_t)st.st_ino};
	struct procfile_id other = {(uint64_t)st.st_dev, (uint64_t)st.st_ino + 1};

	CHECK_EQ_INT(procfile_open(fk.proc, FAKE_PID, "/lib.so", &id, &pf), 0);
	CHECK(pf.fd >= 0 && S_ISREG(pf.st.st_mode) && pf.st.st_ino == st.st_ino);
	CHECK((fcntl(pf.fd, F_GETFL) & O_NONBLOCK) != 0);
	CHECK((fcntl(pf.fd, F_GETFD) & FD_CLOEXEC) != 0);
	CHECK_EQ_INT(procfile_pread(&pf, small, sizeof(small), 8), 2);
	CHECK_EQ_INT(procfile_read_all(&pf, 10, &buf, &len), 0);
	CHECK(buf && len == 10 && strcmp(buf, "0123456789") == 0);
	free(buf);
	buf = NULL;
	CHECK_EQ_INT(procfile_read_all(&pf, 9, &buf, &len), -E2BIG);
	CHECK(buf == NULL);
	procfile_close(&pf);
	CHECK_EQ_INT(pf.fd, -1);

	CHECK_EQ_INT(procfile_open(fk.proc, FAKE_PID, "/lib.so", &other, &pf), -ESTALE);
	CHECK_EQ_INT(pf.fd, -1);
	CHECK_EQ_INT(procfile_open(fk.proc, FAKE_PID, "lib.so", NULL, &pf), -EINVAL);
	CHECK_EQ_INT(procfile_open(fk.proc, FAKE_PID + 1, "/lib.so", NULL, &pf), -ESRCH);
	fake_teardown(&fk);
}

/* A FIFO, a directory or a device in place of a library is refused at
 * once: nothing is opened for reading, so nothing can block. */
UNIT_TEST(procfile_fifo_never_blocks)
{
	struct procfile pf = {.fd = -1};
	struct fake fk;
	char p[PATH_MAX];

	CHECK_EQ_INT(fake_setup(&fk), 0);
	CHECK_EQ_INT(in_root(&fk, "/fifo.so", p, sizeof(p)), 0);
	CHECK_EQ_INT(mkfifo(p, 0600), 0);
	CHECK_EQ_INT(procfile_open(fk.proc, FAKE_PID, "/fifo.so", NULL, &pf), -EINVAL);
	CHECK_EQ_INT(pf.fd, -1);
	CHECK_EQ_INT(procfile_open(fk.proc, FAKE_PID, "/", NULL, &pf), -EINVAL);
	CHECK_EQ_INT(in_root(&fk, "/null", p, sizeof(p)), 0);
	CHECK_EQ_INT(symlink("/dev/null", p), 0);
	CHECK(procfile_open(fk.proc, FAKE_PID, "/null", NULL, &pf) < 0);
	fake_teardown(&fk);
}

/* Absolute symlinks and ".." resolve inside the process's root: a file
 * outside it is never opened, whatever the path says. */
static void symlink_stays_in_root(int *unit_failed)
{
	struct procfile pf = {.fd = -1};
	struct fake fk;
	char p[PATH_MAX], rel[PATH_MAX + 16];

	CHECK_EQ_INT(fake_setup(&fk), 0);
	/* <root>/abs -> <tmp>/host-secret (absolute, names the host file). */
	CHECK_EQ_INT(in_root(&fk, "/abs", p, sizeof(p)), 0);
	CHECK_EQ_INT(symlink(fk.host, p), 0);
	CHECK(procfile_open(fk.proc, FAKE_PID, "/abs", NULL, &pf) < 0);
	/* A directory symlink on the way, absolute too. */
	CHECK_EQ_INT(in_root(&fk, "/dirlink", p, sizeof(p)), 0);
	CHECK_EQ_INT(symlink(fk.dir, p), 0);
	CHECK(procfile_open(fk.proc, FAKE_PID, "/dirlink/host-secret", NULL, &pf) < 0);
	/* ".." cannot climb out of the root. */
	snprintf(rel, sizeof(rel), "/../../../..%s", fk.host);
	CHECK(procfile_open(fk.proc, FAKE_PID, rel, NULL, &pf) < 0);
	CHECK_EQ_INT(pf.fd, -1);
	/* The same file named from inside the root opens. */
	CHECK_EQ_INT(in_root(&fk, "/inside", p, sizeof(p)), 0);
	CHECK_EQ_INT(put(p, "in root\n"), 0);
	CHECK_EQ_INT(procfile_open(fk.proc, FAKE_PID, "/inside", NULL, &pf), 0);
	procfile_close(&pf);
	/* Nested directories resolve (the walk goes component by component). */
	CHECK_EQ_INT(in_root(&fk, "/usr", p, sizeof(p)), 0);
	CHECK_EQ_INT(mkdir(p, 0700), 0);
	CHECK_EQ_INT(in_root(&fk, "/usr/lib", p, sizeof(p)), 0);
	CHECK_EQ_INT(mkdir(p, 0700), 0);
	CHECK_EQ_INT(in_root(&fk, "/usr/lib/x.so", p, sizeof(p)), 0);
	CHECK_EQ_INT(put(p, "x"), 0);
	CHECK_EQ_INT(procfile_open(fk.proc, FAKE_PID, "/usr//lib/./x.so", NULL, &pf), 0);
	procfile_close(&pf);
	fake_teardown(&fk);
}

UNIT_TEST(procfile_symlink_stays_in_root)
{
	symlink_stays_in_root(unit_failed);
}

/* The same without openat2 (Linux < 5.6): the walk refuses symlinks and "..". */
UNIT_TEST(procfile_symlink_stays_in_root_without_openat2)
{
	procfile_use_openat2(false);
	symlink_stays_in_root(unit_failed);
	CHECK(!procfile_have_openat2());
	procfile_use_openat2(true);
}

/* A deleted mapping is opened through map_files only, never by its path:
 * here there is no map_files entry, so even an existing path is refused. */
UNIT_TEST(procfile_deleted_mapping_not_by_path)
{
	struct procfile pf = {.fd = -1};
	struct procfile_id any = {0, 0};
	struct fake fk;
	char p[PATH_MAX];

	CHECK_EQ_INT(fake_setup(&fk), 0);
	CHECK_EQ_INT(in_root(&fk, "/lib.so", p, sizeof(p)), 0);
	CHECK_EQ_INT(put(p, "x"), 0);
	CHECK_EQ_INT(
	    procfile_open_mapping(fk.proc, FAKE_PID, 0x1000, 0x2000, "/lib.so", true, &any, &pf),
	    -ENOENT);
	CHECK_EQ_INT(
	    procfile_open_mapping(fk.proc, FAKE_PID, 0x1000, 0x2000, "/lib.so", false, &any, &pf),
	    0);
	procfile_close(&pf);
	fake_teardown(&fk);
}
