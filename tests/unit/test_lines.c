/* SPDX-License-Identifier: Apache-2.0 */
/* test_lines.c -- user frames get file:line from DWARF, with one line per
 * inlined call (innermost first), from the binary itself, from a separate
 * debug file found by .gnu_debuglink or by build ID, and not from a debug
 * file of another build; junk debug data is refused cleanly. */
#include "unit.h"
#include "dwarfline.h"
#include "symbolize.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The call in lines_inl is inlined into lines_outer; the return address of
 * lines_leaf points into that inlined code. Expected lines are recorded
 * with __LINE__ on the lines themselves. */
static volatile int lines_sink;
static int leaf_call_line, inl_call_line;
static const int inl_start_line = __LINE__ + 7, outer_start_line = __LINE__ + 15;

__attribute__((noinline)) static uint64_t lines_leaf(void)
{
	return (uint64_t)(uintptr_t)__builtin_return_address(0);
}

static inline __attribute__((always_inline)) uint64_t lines_inl(void)
{
	uint64_t r = (leaf_call_line = __LINE__, lines_leaf());

	lines_sink++;
	return r;
}

__attribute__((noinline)) static uint64_t lines_outer(void)
{
	uint64_t r = (inl_call_line = __LINE__, lines_inl());

	lines_sink++;
	return r;
}

static char root[64];

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= sizeof(cmd) ? -1 : system(cmd);
}

/* <root>/<pid>/maps with our own text mapping backed by `file`, and
 * <root>/<pid>/root -> / so that paths inside the "process's root" are
 * the real ones. */
static int fake_proc(int pid, const char *file, uint64_t ip)
{
	char path[PATH_MAX], line[PATH_MAX + 200], text[PATH_MAX + 200];
	unsigned long long a, b, o;
	struct stat st;
	FILE *m = fopen("/proc/self/maps", "re");
	int n = -1, fd;

	if (!m || stat(file, &st))
		goto out;
	while (fgets(line, sizeof(line), m))
		if (sscanf(line, "%llx-%llx %*s %llx", &a, &b, &o) == 3 && ip >= a && ip < b) {
			n = snprintf(text, sizeof(text), "%llx-%llx r-xp %08llx %x:%x %lu %s\n", a,
				     b, o, major(st.st_dev), minor(st.st_dev),
				     (unsigned long)st.st_ino, file);
			break;
		}
	if (n < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%d", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/root", root, pid);
	if (symlink("/", path) && errno != EEXIST)
		n = -1;
	snprintf(path, sizeof(path), "%s/%d/maps", root, pid);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, (size_t)n) != n)
		n = -1;
	if (fd >= 0)
		close(fd);
out:
	if (m)
		fclose(m);
	return n < 0 ? -1 : 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Symbolize the return address into the inlined call in process pid (real
 * or fake) and check both levels, or, with want_lines false, that no line
 * information came back. */
static void check_inline_frame(int *unit_failed, const char *proc, int pid, const char *const *dirs,
			       size_t ndirs, bool want_lines)
{
	struct symbolizer *s = NULL;
	uint64_t ips[2] = {(uint64_t)(uintptr_t)&lines_leaf, lines_outer()};
	struct pprof_frame f[2];

	CHECK_EQ_INT(symbolizer_new(&s, proc), 0);
	CHECK_EQ_INT(symbolizer_set_debug_dirs(s, dirs, ndirs), 0);
	CHECK_EQ_INT(symbolizer_user(s, pid, ips, 2, f), 0);
	if (!want_lines) {
		CHECK_EQ_INT(f[1].nlines, 0);
		CHECK(f[1].mapping && !f[1].mapping->has_inline_frames);
		symbolizer_free(s);
		return;
	}
	CHECK_EQ_STR(f[0].function, "lines_leaf");
	CHECK(f[0].nlines == 1 && ends_with(f[0].lines[0].filename, "tests/unit/test_lines.c"));
	CHECK_EQ_INT(f[1].nlines, 2);
	CHECK(f[1].mapping && f[1].mapping->has_inline_frames);
	if (f[1].nlines == 2) {
		CHECK_EQ_STR(f[1].lines[0].function, "lines_inl");
		CHECK_EQ_INT(f[1].lines[0].line, leaf_call_line);
		CHECK(ends_with(f[1].lines[0].filename, "tests/unit/test_lines.c"));
		CHECK_EQ_INT(f[1].lines[0].start_line, inl_start_line);
		CHECK_EQ_STR(f[1].lines[1].function, "lines_outer");
		CHECK_EQ_INT(f[1].lines[1].line, inl_call_line);
		CHECK_EQ_INT(f[1].lines[1].start_line, outer_start_line);
		/* The frame's own name is the innermost level's. */
		CHECK_EQ_STR(f[1].function, "lines_inl");
	}
	symbolizer_free(s);
}

/* This test binary is built with -g: lines from the binary itself. */
UNIT_TEST(lines_from_own_dwarf_with_inline_level)
{
	check_inline_frame(unit_failed, "/proc", getpid(), NULL, 0, true);
}

static bool make_root(void)
{
	snprintf(root, sizeof(root), "/tmp/podprof-linetest-XXXXXX");
	return mkdtemp(root) != NULL;
}

static void drop_root(void)
{
	if (strncmp(root, "/tmp/podprof-linetest-", 22) == 0)
		sh("rm -rf '%s'", root);
}

/* Debug info split off: next to the binary by .gnu_debuglink, and under an
 * extra directory by build ID with the binary fully stripped (names then
 * come from the debug file's .symtab too). A debug file of another build
 * under the debuglink name is not used. */
UNIT_TEST(lines_from_separate_debug_files)
{
	char exe[PATH_MAX], bin[PATH_MAX], dir[PATH_MAX], dbg[PATH_MAX + 16];
	const char *dirs[1] = {dir};
	uint64_t ip = (uint64_t)(uintptr_t)&lines_outer;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	CHECK(n > 0 && make_root());
	if (n <= 0 || !root[0])
		return;
	exe[n] = '\0';
	snprintf(bin, sizeof(bin), "%s/linked", root);
	snprintf(dbg, sizeof(dbg), "%s.debug", bin);
	CHECK_EQ_INT(sh("objcopy --only-keep-debug '%s' '%s'", exe, dbg), 0);
	CHECK_EQ_INT(sh("cd '%s' && objcopy --strip-debug --add-gnu-debuglink=linked.debug "
			"'%s' linked",
			root, exe),
		     0);
	CHECK_EQ_INT(fake_proc(4301, bin, ip), 0);
	check_inline_frame(unit_failed, root, 4301, NULL, 0, true);

	/* The same name holding another build's debug data is refused. */
	CHECK_EQ_INT(sh("cp /bin/true '%s'", dbg), 0);
	check_inline_frame(unit_failed, root, 4301, NULL, 0, false);

	/* Build-ID path under an extra directory; binary without .symtab. */
	snprintf(bin, sizeof(bin), "%s/stripped", root);
	snprintf(dir, sizeof(dir), "%s/dbg", root);
	CHECK_EQ_INT(sh("objcopy --strip-all '%s' '%s'", exe, bin), 0);
	CHECK_EQ_INT(sh("id=$(readelf -n '%s' | awk '/Build ID/{print $3}') && "
			"mkdir -p '%s'/.build-id/$(echo $id | cut -c1-2) && "
			"objcopy --only-keep-debug '%s' '%s'/.build-id/$(echo $id | cut -c1-2)/"
			"$(echo $id | cut -c3-).debug",
			exe, dir, exe, dir),
		     0);
	CHECK_EQ_INT(fake_proc(4302, bin, ip), 0);
	check_inline_frame(unit_failed, root, 4302, NULL, 0, false);
	check_inline_frame(unit_failed, root, 4302, dirs, 1, true);
	drop_root();
}

/* Junk and truncated files are refused without a crash. */
UNIT_TEST(lines_junk_debug_data_refused)
{
	static const char junk[] = "\x7f"
				   "ELF\2\1\1 this is not an ELF file at all";
	struct dwarfline *d = NULL;
	struct pprof_line l[4];
	char path[PATH_MAX];
	int fd;

	CHECK(make_root());
	if (!root[0])
		return;
	snprintf(path, sizeof(path), "%s/junk", root);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
	CHECK(dwarfline_open_fd(fd, &d) < 0 && d == NULL);
	if (fd >= 0)
		close(fd);
	/* /bin/true has no line table. */
	fd = open("/bin/true", O_RDONLY | O_CLOEXEC);
	CHECK_EQ_INT(dwarfline_open_fd(fd, &d), -ENOENT);
	if (fd >= 0)
		close(fd);
	CHECK_EQ_INT(dwarfline_lookup(NULL, 0x1000, l, 4), 0);
	/* A -g binary cut short inside its debug sections. */
	CHECK_EQ_INT(sh("head -c 20000 /proc/self/exe > '%s'", path), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && dwarfline_open_fd(fd, &d) < 0 && d == NULL);
	if (fd >= 0)
		close(fd);
	drop_root();
}

/* [vdso] frames are named from the vDSO image read out of the process. */
UNIT_TEST(lines_vdso_functions_named)
{
	unsigned long long a = 0, b = 0;
	struct symbolizer *s = NULL;
	struct pprof_frame f;
	char line[512];
	FILE *m = fopen("/proc/self/maps", "re");
	bool named = false;

	while (m && fgets(line, sizeof(line), m))
		if (strstr(line, "[vdso]") && sscanf(line, "%llx-%llx", &a, &b) == 2)
			break;
	if (m)
		fclose(m);
	CHECK(a && b > a);
	CHECK_EQ_INT(symbolizer_new(&s, "/proc"), 0);
	for (uint64_t ip = a; ip < b && !named; ip += 16) {
		CHECK_EQ_INT(symbolizer_user(s, getpid(), &ip, 1, &f), 0);
		CHECK(f.mapping && strcmp(f.mapping->filename, "[vdso]") == 0);
		named = f.function && strstr(f.function, "gettime");
	}
	CHECK(named);
	symbolizer_free(s);
}
