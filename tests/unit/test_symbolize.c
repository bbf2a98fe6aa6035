/* SPDX-License-Identifier: Apache-2.0 */
/* test_symbolize.c -- user frames of a PIE and of libc resolve to their
 * function names, kernel frames to kallsyms names; stripped and broken
 * binaries keep mapping + offset; an exited process is symbolized from its
 * snapshot; a shared symbol cache reuses binaries by build ID. */
#include "unit.h"
#include "elfsym.h"
#include "symbolize.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) static int symbolize_target_fn(int x)
{
	/* Something the compiler cannot fold away, so the function exists. */
	__asm__ volatile("" : "+r"(x));
	return x * 3 + 1;
}

static uint64_t target_addr(void)
{
	return (uint64_t)(uintptr_t)&symbolize_target_fn + 2;
}

static char tmp_root[64];

static const char *tmpdir(void)
{
	if (!tmp_root[0]) {
		snprintf(tmp_root, sizeof(tmp_root), "/tmp/podprof-symtest-XXXXXX");
		if (!mkdtemp(tmp_root))
			tmp_root[0] = '\0';
	}
	return tmp_root;
}

static void rm_tree(const char *dir)
{
	char cmd[PATH_MAX];

	/* Only ever our own mkdtemp directory. */
	if (strncmp(dir, "/tmp/podprof-symtest-", 21) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "    could not remove %s\n", dir);
	}
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, data, len);
	close(fd);
	return w == (ssize_t)len ? 0 : -EIO;
}

static void *read_all(const char *path, size_t *len)
{
	struct stat st;
	void *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		buf = malloc((size_t)st.st_size);
		if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)st.st_size;
	}
	close(fd);
	return buf;
}

/* A static function of this PIE test binary symbolizes to its name, with
 * the binary as mapping and its GNU build ID. */
UNIT_TEST(symbolize_own_pie_function)
{
	struct symbolizer *s = NULL;
	uint64_t ip = target_addr();
	struct pprof_frame f;

	CHECK(symbolize_target_fn(1) == 4);
	CHECK_EQ_INT(symbolizer_new(&s, "/proc"), 0);
	CHECK_EQ_INT(symbolizer_note_pid(s, getpid()), 0);
	CHECK_EQ_INT(symbolizer_user(s, getpid(), &ip, 1, &f), 0);
	CHECK_EQ_STR(f.function, "symbolize_target_fn");
	CHECK_EQ_INT(f.addr, ip);
	CHECK(f.mapping != NULL);
	if (f.mapping) {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		exe[n > 0 ? n : 0] = '\0';
		CHECK_EQ_STR(f.mapping->filename, exe);
		CHECK(f.mapping->start <= ip && ip < f.mapping->limit);
		CHECK(f.mapping->build_id && strlen(f.mapping->build_id) == 40);
	}
	symbolizer_free(s);
}

/* A libc function resolves through .dynsym of the shared object. A return
 * address just past a function's end is attributed to the caller's call. */
UNIT_TEST(symbolize_shared_library_function)
{
	struct symbolizer *s = NULL;
	uint64_t ips[2] = {(uint64_t)(uintptr_t)&getpid + 1, (uint64_t)(uintptr_t)&getpid + 1};
	struct pprof_frame f[2];

	CHECK_EQ_INT(symbolizer_new(&s, "/proc"), 0);
	CHECK_EQ_INT(symbolizer_user(s, getpid(), ips, 2, f), 0);
	CHECK(f[0].function && strstr(f[0].function, "getpid"));
	CHECK(f[0].mapping && strstr(f[0].mapping->filename, "libc"));
	/* ips[1] - 1 is getpid's first byte: still getpid. */
	CHECK(f[1].function && strstr(f[1].function, "getpid"));
	symbolizer_free(s);
}

/* A real kernel function address from /proc/kallsyms resolves to it. */
UNIT_TEST(symbolize_kernel_address)
{
	struct symbolizer *s = NULL;
	struct pprof_frame f[2];
	uint64_t ips[2] = {0, 0};
	char line[600];
	FILE *k = fopen("/proc/kallsyms", "re");

	CHECK(k != NULL);
	while (k && fgets(line, sizeof(line), k)) {
		unsigned long long a;
		char t, name[512];

		if (sscanf(line, "%llx %c %511s", &a, &t, name) == 3 &&
		    strcmp(name, "schedule") == 0 && (t == 'T' || t == 't')) {
			ips[0] = a + 1;
			ips[1] = a + 1;
			break;
		}
	}
	if (k)
		fclose(k);
	CHECK(ips[0] != 0);
	CHECK_EQ_INT(symbolizer_new(&s, "/proc"), 0);
	CHECK_EQ_INT(symbolizer_kernel(s, ips, 2, f), 0);
	CHECK_EQ_STR(f[0].function, "schedule");
	CHECK_EQ_STR(f[1].function, "schedule");
	CHECK(f[0].mapping && strcmp(f[0].mapping->filename, "[kernel.kallsyms]") == 0);
	symbolizer_free(s);
}

/* A kallsyms with modules, aliases and data symbols (fake proc root):
 * module frames name their module; addresses past a function are not
 * blamed on it; hidden addresses (kptr_restrict) leave frames unsymbolized. */
UNIT_TEST(symbolize_kernel_modules_fake_kallsyms)
{
	static const char ks[] = "ffffffff81000000 T _stext\n"
				 "ffffffff81000000 T startup_64\n"
				 "ffffffff81001000 t helper_fn\n"
				 "ffffffff81002000 T big_fn\n"
				 "ffffffff81003000 D some_data\n"
				 "ffffffffc0100000 t mod_fn\t[nf_tables]\n"
				 "ffffffffc0100100 T mod_fn2\t[nf_tables]\n"
				 "ffffffffc0200000 t other_fn\t[xfs]\n";
	static const char hidden[] = "0000000000000000 T _stext\n0000000000000000 t helper_fn\n";
	uint64_t ips[5] = {0xffffffff81001010, 0xffffffff81000010, 0xffffffffc0100110,
			   0xffffffff81003010, 0xffffffff80000000};
	char path[PATH_MAX];
	struct symbolizer *s = NULL;
	struct pprof_frame f[5];
	const char *root = tmpdir();

	CHECK(root[0] != '\0');
	snprintf(path, sizeof(path), "%s/kallsyms", root);
	CHECK_EQ_INT(write_file(path, ks, sizeof(ks) - 1), 0);
	CHECK_EQ_INT(symbolizer_new(&s, root), 0);
	CHECK_EQ_INT(symbolizer_kernel(s, ips, 5, f), 0);
	CHECK_EQ_STR(f[0].function, "helper_fn");
	CHECK_EQ_STR(f[1].function, "startup_64"); /* preferred alias */
	CHECK_EQ_STR(f[2].function, "mod_fn2");
	CHECK(f[2].mapping && strcmp(f[2].mapping->filename, "[nf_tables]") == 0);
	/* No kernel address leaves: the offset into the function, no range. */
	CHECK_EQ_INT(f[2].addr, 0x110 - 0x100);
	CHECK(f[2].mapping && f[2].mapping->start == 0 && f[2].mapping->limit == 0);
	CHECK_EQ_INT(f[0].addr, 0x10);
	CHECK_EQ_INT(f[4].addr, 0);   /* no function: no address either */
	CHECK(f[3].function == NULL); /* inside data, not big_fn */
	CHECK(f[4].function == NULL); /* below every symbol */
	CHECK(f[4].mapping != NULL);
	symbolizer_free(s);

	CHECK_EQ_INT(write_file(path, hidden, sizeof(hidden) - 1), 0);
	CHECK_EQ_INT(symbolizer_new(&s, root), 0);
	CHECK_EQ_INT(symbolizer_kernel(s, ips, 1, f), 0);
	CHECK(f[0].function == NULL);
	CHECK(f[0].mapping && strcmp(f[0].mapping->filename, "[kernel.kallsyms]") == 0);
	symbolizer_free(s);
	rm_tree(root);
	tmp_root[0] = '\0';
}

/* A child that exits after being noted is still symbolized from the
 * snapshot taken while it ran. */
UNIT_TEST(symbolize_exited_process_uses_snapshot)
{
	struct symbolizer *s = NULL;
	uint64_t ip = target_addr();
	struct pprof_frame f;
	char maps[64];
	int status = 0;
	pid_t child = fork();

	if (child == 0) {
		pause();
		_exit(0);
	}
	CHECK(child > 0);
	if (child <= 0)
		return;
	CHECK_EQ_INT(symbolizer_new(&s, "/proc"), 0);
	CHECK_EQ_INT(symbolizer_note_pid(s, child), 0);
	kill(child, SIGKILL);
	CHECK_EQ_INT(waitpid(child, &status, 0), child);
	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)child);
	CHECK(access(maps, F_OK) != 0); /* really gone */
	CHECK_EQ_INT(symbolizer_user(s, child, &ip, 1, &f), 0);
	CHECK_EQ_STR(f.function, "symbolize_target_fn");
	/* Forgotten and gone: nothing left to go on, but no failure either. */
	symbolizer_forget_pid(s, child);
	CHECK_EQ_INT(symbolizer_user(s, child, &ip, 1, &f), 0);
	CHECK(f.function == NULL && f.mapping == NULL && f.addr == ip);
	CHECK_EQ_INT(symbolizer_note_pid(s, child), -ESRCH);
	symbolizer_free(s);
}

/* ---- binaries that cannot be (fully) symbolized ------------------------- */

static int self_exe(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	if (n <= 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Our own executable mapping that holds target_addr(). */
static int self_text_mapping(uint64_t *start, uint64_t *end, uint64_t *off)
{
	uint64_t ip = target_addr();
	char line[PATH_MAX + 128];
	FILE *f = fopen("/proc/self/maps", "re");
	int err = -ENOENT;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long a, b, o;

		if (sscanf(line, "%llx-%llx %*s %llx", &a, &b, &o) == 3 && ip >= a && ip < b) {
			*start = a;
			*end = b;
			*off = o;
			err = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	return err;
}

/* Write <root>/<pid>/maps with one r-xp line for `file` at our own text
 * mapping's addresses, so that target_addr() falls into it. */
static int fake_maps(const char *root, int pid, const char *file)
{
	uint64_t start, end, off;
	char path[PATH_MAX], text[PATH_MAX + 200];
	struct stat st;
	int n;

	if (self_text_mapping(&start, &end, &off) || stat(file, &st))
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/%d", root, pid);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	n = snprintf(text, sizeof(text),
		     "%" PRIx64 "-%" PRIx64 " r-xp %08" PRIx64 " %x:%x %lu %s\n", start, end, off,
		     major(st.st_dev), minor(st.st_dev), (unsigned long)st.st_ino, file);
	/* The process's root is the host's, as for a process outside any
	 * container: files are opened inside <pid>/root. */
	snprintf(path, sizeof(path), "%s/%d/root", root, pid);
	if (symlink("/", path) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%d/maps", root, pid);
	return write_file(path, text, (size_t)n);
}

/* Symbolize target_addr() in fake process pid; want NULL: no function. */
static void symbolize_fake(int *unit_failed, const char *root, int pid, const char *want)
{
	struct symbolizer *s = NULL;
	uint64_t ip = target_addr(), start, end, off;
	struct pprof_frame frame = {0}, *f = &frame;

	CHECK_EQ_INT(symbolizer_new(&s, root), 0);
	CHECK_EQ_INT(symbolizer_note_pid(s, pid), 0);
	CHECK_EQ_INT(symbolizer_user(s, pid, &ip, 1, f), 0);
	CHECK_EQ_INT(self_text_mapping(&start, &end, &off), 0);
	CHECK(f->mapping != NULL);
	if (f->mapping) {
		/* Mapping + offset survive whatever the file holds. */
		CHECK_EQ_INT(f->mapping->start, start);
		CHECK_EQ_INT(f->mapping->limit, end);
		CHECK_EQ_INT(f->mapping->file_offset, off);
	}
	if (want)
		CHECK_EQ_STR(f->function, want);
	else
		CHECK(f->function == NULL);
	symbolizer_free(s);
}

/* A stripped copy of a binary gives frames with no function but with the
 * mapping and offset; the unstripped copy at the same place resolves. */
UNIT_TEST(symbolize_stripped_binary_keeps_offset)
{
	char exe[PATH_MAX], full[PATH_MAX], stripped[PATH_MAX], cmd[5 * PATH_MAX];
	const char *root = tmpdir();
	struct elfsym *e = NULL;

	CHECK(root[0] && self_exe(exe, sizeof(exe)) == 0);
	snprintf(full, sizeof(full), "%s/full-copy", root);
	snprintf(stripped, sizeof(stripped), "%s/stripped copy", root);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && objcopy --strip-all '%s' '%s'", exe, full, exe,
		 stripped);
	CHECK_EQ_INT(system(cmd), 0);
	CHECK_EQ_INT(elfsym_load_path(stripped, &e), 0);
	if (e) {
		CHECK(elfsym_lookup(e, 0, NULL) == NULL);
		CHECK(elfsym_build_id(e) != NULL); /* notes survive stripping */
	}
	elfsym_free(e);

	CHECK_EQ_INT(fake_maps(root, 4242, stripped), 0);
	symbolize_fake(unit_failed, root, 4242, NULL);

	CHECK_EQ_INT(fake_maps(root, 4243, full), 0);
	symbolize_fake(unit_failed, root, 4243, "symbolize_target_fn");
	rm_tree(root);
	tmp_root[0] = '\0';
}

/* Symbolize target_addr() in fake process pid through a symbolizer on the
 * shared cache c, as the job engine does for each new job. */
static const char *symbolize_cached(int *unit_failed, struct symcache *c, const char *root, int pid,
				    char *name, size_t cap)
{
	struct symbolizer *s = NULL;
	uint64_t ip = target_addr();
	struct pprof_frame f = {0};

	name[0] = '\0';
	CHECK_EQ_INT(symbolizer_new_cached(&s, root, c), 0);
	if (!s)
		return NULL;
	CHECK_EQ_INT(symbolizer_user(s, pid, &ip, 1, &f), 0);
	if (f.function)
		snprintf(name, cap, "%s", f.function);
	symbolizer_free(s); /* the binary stays cached, unpinned */
	return name[0] ? name : NULL;
}

/* One cache across symbolizers: a second inode holding the same binary is
 * a hit (build-ID key), and a file rewritten in place under the same path
 * and inode with other bytes is a miss that gets the new file's tables,
 * never the old ones. */
UNIT_TEST(symbolize_shared_cache_by_build_id)
{
	char exe[PATH_MAX], path[PATH_MAX], other[PATH_MAX], stripped[PATH_MAX], cmd[7 * PATH_MAX],
	    name[256];
	const char *root = tmpdir();
	struct symcache *c = NULL;
	struct symcache_stats st;
	struct stat st1, st2;

	CHECK(root[0] && self_exe(exe, sizeof(exe)) == 0);
	CHECK_EQ_INT(symcache_new(&c, 0), 0);
	if (!c)
		return;
	snprintf(path, sizeof(path), "%s/app", root);
	snprintf(other, sizeof(other), "%s/app-in-another-image", root);
	snprintf(stripped, sizeof(stripped), "%s/stripped", root);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && cp '%s' '%s' && objcopy --strip-all '%s' '%s'",
		 exe, path, exe, other, exe, stripped);
	CHECK_EQ_INT(system(cmd), 0);

	CHECK_EQ_INT(fake_maps(root, 5001, path), 0);
	CHECK_EQ_STR(symbolize_cached(unit_failed, c, root, 5001, name, sizeof(name)),
		     "symbolize_target_fn");
	CHECK_EQ_INT(fake_maps(root, 5002, other), 0);
	CHECK_EQ_STR(symbolize_cached(unit_failed, c, root, 5002, name, sizeof(name)),
		     "symbolize_target_fn");
	symcache_get_stats(c, &st);
	CHECK_EQ_INT(st.misses, 1);
	CHECK_EQ_INT(st.hits, 1);
	CHECK_EQ_INT(st.entries, 1);
	CHECK_EQ_INT(st.pinned, 0);
	CHECK(st.bytes > 0);

	/* Same path, same inode, other bytes (cp truncates and rewrites). */
	CHECK_EQ_INT(stat(path, &st1), 0);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", stripped, path);
	CHECK_EQ_INT(system(cmd), 0);
	CHECK_EQ_INT(stat(path, &st2), 0);
	CHECK_EQ_INT(st1.st_ino, st2.st_ino);
	CHECK_EQ_INT(fake_maps(root, 5003, path), 0);
	CHECK(symbolize_cached(unit_failed, c, root, 5003, name, sizeof(name)) == NULL);
	symcache_get_stats(c, &st);
	CHECK_EQ_INT(st.misses, 2);
	CHECK_EQ_INT(st.entries, 2);
	symcache_free(c);
	rm_tree(root);
	tmp_root[0] = '\0';
}

/* Patch a 64-bit little-endian ELF image in place. */
static void patch_u64(uint8_t *img, size_t off, uint64_t v)
{
	memcpy(img + off, &v, sizeof(v));
}

/* Broken, truncated and lying ELF files are refused or loaded partially by
 * the loader, never crash it; through the symbolizer they keep mapping +
 * offset. */
UNIT_TEST(symbolize_broken_elf_files)
{
	char exe[PATH_MAX], path[PATH_MAX];
	const char *root = tmpdir();
	uint8_t *img = NULL, junk[4096];
	size_t len = 0, full_count = 0;
	struct elfsym *e = NULL;
	int err;

	CHECK(root[0] && self_exe(exe, sizeof(exe)) == 0);
	img = read_all(exe, &len);
	CHECK(img != NULL && len > 4096);
	if (!img || len <= 4096)
		goto out;
	CHECK_EQ_INT(elfsym_load_path(exe, &e), 0);
	if (e)
		full_count = elfsym_count(e);
	elfsym_free(e);
	CHECK(full_count > 100);

	snprintf(path, sizeof(path), "%s/broken", root);
	/* Empty, garbage, and an ELF magic followed by garbage. */
	CHECK_EQ_INT(write_file(path, "", 0), 0);
	CHECK_EQ_INT(elfsym_load_path(path, &e), -ENOEXEC);
	srand(11);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	CHECK_EQ_INT(write_file(path, junk, sizeof(junk)), 0);
	CHECK_EQ_INT(elfsym_load_path(path, &e), -ENOEXEC);
	memcpy(junk, img, 16); /* a valid e_ident, then noise */
	CHECK_EQ_INT(write_file(path, junk, sizeof(junk)), 0);
	err = elfsym_load_path(path, &e);
	CHECK(err < 0 || elfsym_count(e) == 0);
	elfsym_free(e);
	e = NULL;

	/* Truncations: headers only, mid-file, section headers cut off. */
	{
		const size_t cuts[] = {16, 64, 100, 4096, len / 2, len - 64, len - 1};

		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			CHECK_EQ_INT(write_file(path, img, cuts[i]), 0);
			err = elfsym_load_path(path, &e);
			CHECK(err < 0 || elfsym_count(e) <= full_count);
			elfsym_free(e);
			e = NULL;
		}
	}
	/* Section header table offset past the end of the file. */
	{
		uint8_t *bad = malloc(len);

		CHECK(bad != NULL);
		if (bad) {
			memcpy(bad, img, len);
			patch_u64(bad, 0x28, (uint64_t)len * 16); /* e_shoff */
			CHECK_EQ_INT(write_file(path, bad, len), 0);
			err = elfsym_load_path(path, &e);
			CHECK(err < 0 || elfsym_count(e) == 0);
			elfsym_free(e);
			e = NULL;
			/* Every section claims to be huge. */
			memcpy(bad, img, len);
			{
				uint64_t shoff;
				uint16_t shnum;

				memcpy(&shoff, bad + 0x28, 8);
				memcpy(&shnum, bad + 0x3c, 2);
				for (uint16_t k = 0; k < shnum && shoff + (k + 1) * 64u <= len; k++)
					patch_u64(bad, shoff + k * 64u + 0x20, 1ULL << 40);
			}
			CHECK_EQ_INT(write_file(path, bad, len), 0);
			err = elfsym_load_path(path, &e);
			CHECK(err < 0 || elfsym_lookup(e, 0, NULL) == NULL);
			elfsym_free(e);
			e = NULL;
			free(bad);
		}
	}
	/* Through the symbolizer: a garbage file mapped as code. */
	CHECK_EQ_INT(write_file(path, junk, sizeof(junk)), 0);
	CHECK_EQ_INT(fake_maps(root, 4244, path), 0);
	symbolize_fake(unit_failed, root, 4244, NULL);
out:
	free(img);
	rm_tree(root);
	tmp_root[0] = '\0';
}

/* Symbolized frames go into a profile that an independent reader can use:
 * writes to $PODPROF_SYMBOLIZED_OUT (read by e2e/test_pprof_reader.py) a
 * stack of a kernel function, this binary's function and libc's getpid. */
UNIT_TEST(symbolize_write_symbolized_profile)
{
	const char *out = getenv("PODPROF_SYMBOLIZED_OUT");
	struct symbolizer *s = NULL;
	struct pprof_builder *b = NULL;
	struct pprof_frame f[3];
	uint64_t kip = 0, uips[2] = {target_addr(), (uint64_t)(uintptr_t)&getpid + 1};
	struct pprof_top_entry *top = NULL;
	size_t ntop = 0, len = 0;
	void *gz = NULL;
	char line[600];
	FILE *k = fopen("/proc/kallsyms", "re");

	while (k && fgets(line, sizeof(line), k)) {
		unsigned long long a;
		char t, name[512];

		if (sscanf(line, "%llx %c %511s", &a, &t, name) == 3 &&
		    strcmp(name, "schedule") == 0) {
			kip = a + 4;
			break;
		}
	}
	if (k)
		fclose(k);
	CHECK(kip != 0);
	CHECK_EQ_INT(symbolizer_new(&s, "/proc"), 0);
	CHECK_EQ_INT(pprof_builder_new(&b, 10000000, 0), 0);
	CHECK_EQ_INT(symbolizer_kernel(s, &kip, 1, &f[0]), 0);
	CHECK_EQ_INT(symbolizer_user(s, getpid(), uips, 2, &f[1]), 0);
	CHECK_EQ_INT(pprof_builder_add(b, f, 3, 5, NULL, 0), 0);
	CHECK_EQ_INT(pprof_builder_add(b, &f[1], 2, 3, NULL, 0), 0);
	CHECK_EQ_INT(pprof_builder_top(b, 10, &top, &ntop), 0);
	CHECK(ntop == 3);
	if (ntop == 3) {
		CHECK_EQ_STR(top[0].function, "schedule");
		CHECK_EQ_STR(top[1].function, "symbolize_target_fn");
		CHECK_EQ_INT(top[1].self, 3);
		CHECK_EQ_INT(top[1].total, 8);
	}
	pprof_top_free(top, ntop);
	CHECK_EQ_INT(pprof_builder_encode(b, true, &gz, &len), 0);
	if (out && gz) {
		FILE *o = fopen(out, "wb");

		CHECK(o != NULL);
		if (o) {
			CHECK_EQ_INT(fwrite(gz, 1, len, o), len);
			CHECK_EQ_INT(fclose(o), 0);
		}
	}
	free(gz);
	pprof_builder_free(b);
	symbolizer_free(s);
}
