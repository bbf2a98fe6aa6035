/* SPDX-License-Identifier: Apache-2.0 */
/* symbolize.c -- ties /proc/PID/maps snapshots (procmaps), per-binary ELF
 * symbol tables (elfsym) and the kernel table (kallsyms) into frames.
 *
 * Binaries are loaded when a pid is first noted, not when its samples are
 * drained, so a process that exits in between is still symbolized from its
 * snapshot. Each binary is read once per (dev, inode), whichever process
 * maps it.
 */
#include "symbolize.h"
#include "arr.h"
#include "debuginfo.h"
#include "dwarfline.h"
#include "elfsym.h"
#include "gopclntab.h"
#include "htab.h"
#include "kallsyms.h"
#include "log.h"
#include "perfmap.h"
#include "procmaps.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MOD		"symbolize"
#define MAX_REFRESH	8	     /* maps re-reads per pid when an address is not covered */
#define MAX_MAP_ENTRIES 65536	     /* executable mappings kept per process */
#define JIT_RECHECK_NS	1000000000LL /* perf map re-read at most once a second per pid */
#define MAX_STATUS	16384	     /* bytes of /proc/PID/status read for NSpid */
#define MAX_VDSO	(1u << 20)   /* bytes of a [vdso] image read from a process */

struct bin {
	uint64_t dev, inode;
	struct elfsym *sym;   /* NULL when the file is not a usable ELF */
	struct elfsym *dsym;  /* separate debug file's symbols, when sym lacks .symtab */
	struct dwarfline *dw; /* line tables (binary's own or its debug file's), or NULL */
	struct gopclntab *go; /* Go pc tables of a Go binary without .symtab, or NULL */
};

struct snap_ent {
	uint64_t start, end, offset;
	bool jit_candidate;		 /* anonymous: code may be in a perf map */
	struct bin *bin;		 /* NULL: anonymous, pseudo or unreadable */
	struct pprof_mapping_info *info; /* owned; handed out in frames */
};

struct snap_gen {
	struct snap_ent *e;
	size_t n;
	struct snap_gen *older; /* replaced generations, freed on forget */
};

struct snap {
	pid_t pid;
	struct snap_gen *gen; /* NULL after forget (slot kept for the hash index) */
	unsigned int refreshes;
	struct perfmap *jit; /* /tmp/perf-<nspid>.map, or NULL */
	uint64_t jit_size;   /* bytes of it parsed */
	int64_t jit_checked; /* CLOCK_MONOTONIC ns of the last look at it; 0 never */
};

struct symbolizer {
	char *proc_root;

	struct bin **bins;
	size_t n_bins, cap_bins;
	struct htab bin_h;

	struct snap **snaps;
	size_t n_snaps, cap_snaps;
	struct htab snap_h;

	struct bin *vdso; /* the kernel's vDSO image, read once from a process */
	int vdso_err;	  /* < 0 once reading it failed */

	struct kallsyms *ksyms;
	int kerr;			  /* 0 untried, 1 loaded, < 0 load error */
	struct pprof_mapping_info *kmaps; /* one per kallsyms module */
	size_t n_kmaps;
	struct pprof_mapping_info kfallback; /* when kallsyms is unreadable */

	char **debug_dirs; /* extra debug file directories on the node */
	size_t n_debug_dirs;

	/* Source positions handed out by symbolizer_user(), valid until its
	 * next call: frames point into this pool. */
	struct pprof_line *lines;
	size_t n_lines, cap_lines;
	/* Perf maps replaced during a symbolizer_user() call: their names may
	 * be in frames until the next call. */
	struct perfmap **retired;
	size_t n_retired, cap_retired;
};

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	/* Positions live in 32-bit hash slots. */
	return arr_grow(arr, cap, need, elem, UINT32_MAX - 1);
}

int symbolizer_new(struct symbolizer **out, const char *proc_root)
{
	struct symbolizer *s;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->proc_root = strdup(proc_root ? proc_root : "/proc");
	if (!s->proc_root) {
		free(s);
		return -ENOMEM;
	}
	s->kfallback.filename = "[kernel.kallsyms]";
	*out = s;
	return 0;
}

int symbolizer_set_debug_dirs(struct symbolizer *s, const char *const *dirs, size_t n)
{
	char **copy;

	if (n > DEBUGINFO_MAX_DIRS)
		return -E2BIG;
	copy = calloc(n ? n : 1, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		copy[i] = strdup(dirs[i]);
		if (!copy[i]) {
			while (i > 0)
				free(copy[--i]);
			free(copy);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < s->n_debug_dirs; i++)
		free(s->debug_dirs[i]);
	free(s->debug_dirs);
	s->debug_dirs = copy;
	s->n_debug_dirs = n;
	return 0;
}

static void gen_free(struct snap_gen *g)
{
	while (g) {
		struct snap_gen *older = g->older;

		for (size_t i = 0; i < g->n; i++) {
			if (g->e[i].info)
				free((char *)g->e[i].info->filename);
			free(g->e[i].info);
		}
		free(g->e);
		free(g);
		g = older;
	}
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_bins; i++) {
		elfsym_free(s->bins[i]->sym);
		elfsym_free(s->bins[i]->dsym);
		dwarfline_free(s->bins[i]->dw);
		gopclntab_free(s->bins[i]->go);
		free(s->bins[i]);
	}
	for (size_t i = 0; i < s->n_debug_dirs; i++)
		free(s->debug_dirs[i]);
	free(s->debug_dirs);
	free(s->lines);
	if (s->vdso)
		elfsym_free(s->vdso->sym);
	free(s->vdso);
	free(s->bins);
	htab_release(&s->bin_h);
	for (size_t i = 0; i < s->n_snaps; i++) {
		gen_free(s->snaps[i]->gen);
		perfmap_free(s->snaps[i]->jit);
		free(s->snaps[i]);
	}
	for (size_t i = 0; i < s->n_retired; i++)
		perfmap_free(s->retired[i]);
	free(s->retired);
	free(s->snaps);
	htab_release(&s->snap_h);
	kallsyms_free(s->ksyms);
	free(s->kmaps);
	free(s->proc_root);
	free(s);
}

/* ---- binaries ---------------------------------------------------------------- */

static bool bin_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct symbolizer *s = ctx;
	const uint64_t *k = key;

	return s->bins[pos]->dev == k[0] && s->bins[pos]->inode == k[1];
}

/* Open the file behind one mapping. Preference: the exact mapped file
 * (map_files, works for deleted files; needs CAP_SYS_ADMIN), the path inside
 * the process's root (containers) and the path as is, each only when its
 * inode matches; last, the path inside the process's root regardless, as
 * overlay filesystems may report other inode numbers there. */
static int open_mapped(const struct symbolizer *s, pid_t pid, const struct procmaps_entry *me)
{
	char cand[3][PATH_MAX + 64];
	int fallback = -1;

	snprintf(cand[0], sizeof(cand[0]), "%s/%d/map_files/%" PRIx64 "-%" PRIx64, s->proc_root,
		 (int)pid, me->start, me->end);
	snprintf(cand[1], sizeof(cand[1]), "%s/%d/root%s", s->proc_root, (int)pid, me->path);
	snprintf(cand[2], sizeof(cand[2]), "%s", me->path);
	for (int i = 0; i < 3; i++) {
		struct stat st;
		int fd = open(cand[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && (uint64_t)st.st_ino == me->inode) {
			if (fallback >= 0)
				close(fallback);
			return fd;
		}
		if (i == 1 && fallback < 0)
			fallback = fd;
		else
			close(fd);
	}
	return fallback >= 0 ? fallback : -ENOENT;
}

/* Open an absolute path as process pid sees it. Every file opened inside a
 * process's root goes through here (debug files); open_mapped() is the
 * variant for a mapped file, checked by inode. */
static int open_in_root(const struct symbolizer *s, pid_t pid, const char *path)
{
	char p[PATH_MAX + 64];
	int fd;

	if (path[0] != '/')
		return -EINVAL;
	if (snprintf(p, sizeof(p), "%s/%d/root%s", s->proc_root, (int)pid, path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

struct root_ctx {
	const struct symbolizer *s;
	pid_t pid;
};

static int open_in_root_cb(void *ctx, const char *path)
{
	const struct root_ctx *rc = ctx;

	return open_in_root(rc->s, rc->pid, path);
}

/* Line tables and, for binaries without .symtab, function names: from the
 * binary itself when built with -g, else from its separate debug file.
 * Nothing found is not an error (frames get names without lines). */
static int load_debug(struct symbolizer *s, pid_t pid, const struct procmaps_entry *me,
		      struct bin *b, int fd)
{
	struct root_ctx rc = {s, pid};
	struct debuginfo_query q = {.path = me->path,
				    .build_id = elfsym_build_id(b->sym),
				    .debuglink = elfsym_debuglink(b->sym)};
	int err = dwarfline_open_fd(fd, &b->dw), dfd;

	if (err == -ENOMEM)
		return err;
	if (!err)
		return 0;
	if (!q.build_id && !q.debuglink)
		return 0;
	err = debuginfo_find(&q, open_in_root_cb, &rc, (const char *const *)s->debug_dirs,
			     s->n_debug_dirs, &dfd, &b->dsym);
	if (err)
		return err == -ENOMEM ? err : 0;
	err = dwarfline_open_fd(dfd, &b->dw);
	close(dfd);
	if (elfsym_has_symtab(b->sym) || elfsym_count(b->dsym) == 0) {
		elfsym_free(b->dsym);
		b->dsym = NULL;
	}
	if (err && err != -ENOMEM)
		log_debug(MOD, "%s: debug file without usable lines (%s)", me->path,
			  strerror(-err));
	else if (!err)
		log_debug(MOD, "%s: lines from its separate debug file", me->path);
	return err == -ENOMEM ? err : 0;
}

/* A Go binary linked with -s keeps its pc tables: names and lines. */
static int load_go(struct bin *b, int fd)
{
	void *data = NULL;
	size_t len = 0;
	uint64_t text = 0;
	int err;

	if (elfsym_has_symtab(b->sym))
		return 0;
	err = elfsym_read_section(fd, ".gopclntab", GOPCLNTAB_MAX_SIZE, &data, &len, NULL);
	if (!err)
		err = elfsym_read_section(fd, ".text", 0, NULL, NULL, &text);
	if (!err)
		err = gopclntab_load(data, len, text, &b->go);
	else
		free(data);
	return err == -ENOMEM ? err : 0;
}

/* The cached binary of a file mapping, loading it on first sight. NULL
 * (with *err 0) when it cannot be opened now; a file that opens but does
 * not parse is cached as such so that it is not re-read. */
static struct bin *get_bin(struct symbolizer *s, pid_t pid, const struct procmaps_entry *me,
			   int *err)
{
	uint64_t key[2] = {me->dev, me->inode};
	uint64_t h = htab_hash_u64(htab_hash_u64(HTAB_SEED, me->dev), me->inode);
	struct bin *b;
	uint32_t pos;
	int fd, lerr;

	*err = 0;
	if (htab_find(&s->bin_h, h, bin_eq, s, key, &pos))
		return s->bins[pos];
	fd = open_mapped(s, pid, me);
	if (fd < 0) {
		log_debug(MOD, "pid %d: cannot open %s: %s", (int)pid, me->path, strerror(-fd));
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	*err = b ? grow((void **)&s->bins, &s->cap_bins, s->n_bins + 1, sizeof(*s->bins)) : -ENOMEM;
	if (!*err)
		*err = htab_insert(&s->bin_h, h, (uint32_t)s->n_bins);
	if (*err) {
		close(fd);
		free(b);
		return NULL;
	}
	b->dev = me->dev;
	b->inode = me->inode;
	lerr = elfsym_load_fd(fd, &b->sym);
	if (!lerr)
		lerr = load_debug(s, pid, me, b, fd);
	if (!lerr && !b->dw)
		lerr = load_go(b, fd);
	close(fd);
	if (lerr == -ENOMEM) {
		/* Not cached as unusable: a later note may have memory again. */
		*err = lerr;
	} else if (lerr) {
		log_debug(MOD, "%s: not a usable ELF (%s); frames keep mapping+offset", me->path,
			  strerror(-lerr));
	}
	s->bins[s->n_bins++] = b;
	return b;
}

/* The vDSO is an ELF image only in memory: copy it from the process
 * (bounded) into an anonymous file for elfsym. One image per kernel, so it
 * is read once; its functions (clock_gettime, ...) then get names. */
static struct bin *get_vdso(struct symbolizer *s, pid_t pid, const struct procmaps_entry *me,
			    int *err)
{
	char path[PATH_MAX];
	size_t len = me->end - me->start;
	void *img = NULL;
	int mem = -1, fd = -1;
	ssize_t r;

	*err = 0;
	if (s->vdso || s->vdso_err)
		return s->vdso;
	s->vdso_err = -EIO;
	if (len == 0 || len > MAX_VDSO)
		return NULL;
	snprintf(path, sizeof(path), "%s/%d/mem", s->proc_root, (int)pid);
	img = malloc(len);
	s->vdso = calloc(1, sizeof(*s->vdso));
	if (!img || !s->vdso) {
		*err = -ENOMEM;
		goto cleanup;
	}
	mem = open(path, O_RDONLY | O_CLOEXEC);
	r = mem >= 0 ? pread(mem, img, len, (off_t)me->start) : -1;
	fd = r == (ssize_t)len ? memfd_create("vdso", MFD_CLOEXEC) : -1;
	if (fd >= 0 && write(fd, img, len) == (ssize_t)len)
		s->vdso_err = elfsym_load_fd(fd, &s->vdso->sym);
	if (s->vdso_err == -ENOMEM)
		*err = -ENOMEM;
cleanup:
	if (s->vdso_err) {
		log_debug(MOD, "pid %d: [vdso] unreadable (%s); its frames keep offsets", (int)pid,
			  strerror(-s->vdso_err));
		free(s->vdso);
		s->vdso = NULL;
	}
	if (mem >= 0)
		close(mem);
	if (fd >= 0)
		close(fd);
	free(img);
	return s->vdso;
}

/* ---- process snapshots --------------------------------------------------- */

static bool snap_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct symbolizer *s = ctx;

	return s->snaps[pos]->pid == *(const pid_t *)key;
}

static struct snap *find_snap(const struct symbolizer *s, pid_t pid)
{
	uint32_t pos;

	if (htab_find(&s->snap_h, htab_hash_u64(HTAB_SEED, (uint64_t)pid), snap_eq, s, &pid, &pos))
		return s->snaps[pos];
	return NULL;
}

static int fill_entry(struct symbolizer *s, pid_t pid, const struct procmaps_entry *me,
		      struct snap_ent *se)
{
	struct pprof_mapping_info *mi;
	int err = 0;

	se->start = me->start;
	se->end = me->end;
	se->offset = me->offset;
	/* Anonymous or named-anonymous ("[anon:...]") memory, not [vdso]. */
	se->jit_candidate = !me->inode && (!me->path[0] || strncmp(me->path, "[anon", 5) == 0 ||
					   me->path[0] == '/');
	if (me->inode && me->path[0] == '/')
		se->bin = get_bin(s, pid, me, &err);
	else if (strcmp(me->path, "[vdso]") == 0)
		se->bin = get_vdso(s, pid, me, &err);
	if (err)
		return err;
	mi = calloc(1, sizeof(*mi));
	if (!mi)
		return -ENOMEM;
	se->info = mi;
	mi->start = me->start;
	mi->limit = me->end;
	mi->file_offset = me->offset;
	/* Anonymous executable memory is JIT code; name it like perf does. */
	mi->filename = strdup(me->path[0] ? me->path : "[anon]");
	if (!mi->filename)
		return -ENOMEM;
	if (se->bin && se->bin->sym)
		mi->build_id = elfsym_build_id(se->bin->sym);
	mi->has_inline_frames = se->bin && se->bin->dw;
	return 0;
}

/* Read pid's maps into a new generation of its snapshot. */
static int read_snapshot(struct symbolizer *s, struct snap *sn)
{
	char path[PATH_MAX];
	struct procmaps pm;
	struct snap_gen *g;
	int err;

	snprintf(path, sizeof(path), "%s/%d/maps", s->proc_root, (int)sn->pid);
	err = procmaps_read(path, PROCMAPS_MAX_ENTRIES, &pm);
	if (err)
		return err;
	g = calloc(1, sizeof(*g));
	if (!g) {
		err = -ENOMEM;
		goto cleanup;
	}
	g->e = calloc(pm.n ? pm.n : 1, sizeof(*g->e));
	if (!g->e) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < pm.n && g->n < MAX_MAP_ENTRIES; i++) {
		if (!procmaps_is_exec(&pm.e[i]))
			continue;
		err = fill_entry(s, sn->pid, &pm.e[i], &g->e[g->n]);
		g->n++; /* also on error, so that gen_free frees the partial entry */
		if (err)
			goto cleanup;
	}
	g->older = sn->gen;
	sn->gen = g;
	g = NULL;
cleanup:
	gen_free(g);
	procmaps_release(&pm);
	return err;
}

int symbolizer_note_pid(struct symbolizer *s, pid_t pid)
{
	struct snap *sn = find_snap(s, pid);
	uint64_t h = htab_hash_u64(HTAB_SEED, (uint64_t)pid);
	int err;

	if (pid <= 0)
		return -EINVAL;
	if (sn && sn->gen)
		return 0;
	if (!sn) {
		err = grow((void **)&s->snaps, &s->cap_snaps, s->n_snaps + 1, sizeof(*s->snaps));
		if (err)
			return err;
		sn = calloc(1, sizeof(*sn));
		if (!sn)
			return -ENOMEM;
		err = htab_insert(&s->snap_h, h, (uint32_t)s->n_snaps);
		if (err) {
			free(sn);
			return err;
		}
		sn->pid = pid;
		s->snaps[s->n_snaps++] = sn;
	}
	return read_snapshot(s, sn);
}

void symbolizer_forget_pid(struct symbolizer *s, pid_t pid)
{
	struct snap *sn = find_snap(s, pid);

	if (!sn)
		return;
	gen_free(sn->gen);
	sn->gen = NULL;
	sn->refreshes = 0;
	perfmap_free(sn->jit);
	sn->jit = NULL;
	sn->jit_size = 0;
	sn->jit_checked = 0;
}

static const struct snap_ent *find_entry(const struct snap_gen *g, uint64_t addr)
{
	size_t lo = 0, hi = g ? g->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < g->e[mid].start)
			hi = mid;
		else if (addr >= g->e[mid].end)
			lo = mid + 1;
		else
			return &g->e[mid];
	}
	return NULL;
}

/* ---- JIT perf maps ---------------------------------------------------------- */

/* The pid as the process itself sees it: the last NSpid field of its
 * status (its own pid namespace), else the pid we know. */
static pid_t ns_pid(const struct symbolizer *s, pid_t pid)
{
	char path[PATH_MAX], buf[MAX_STATUS];
	ssize_t n;
	char *line, *end, *last = NULL;
	long v;
	int fd;

	snprintf(path, sizeof(path), "%s/%d/status", s->proc_root, (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pid;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return pid;
	buf[n] = '\0';
	line = strstr(buf, "\nNSpid:");
	if (!line)
		return pid;
	line += 7;
	end = strchr(line, '\n');
	if (end)
		*end = '\0';
	for (char *t = strtok(line, " \t"); t; t = strtok(NULL, " \t"))
		last = t;
	if (!last)
		return pid;
	errno = 0;
	v = strtol(last, &end, 10);
	return errno || *end || v <= 0 || v > INT32_MAX ? pid : (pid_t)v;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* (Re-)read the process's perf map when it has grown. The map it replaces
 * is retired, not freed: its names may be in this call's frames. */
static int refresh_jit(struct symbolizer *s, struct snap *sn)
{
	char path[64];
	struct perfmap *pm = NULL;
	uint64_t size = 0;
	struct stat st;
	int fd, err;

	sn->jit_checked = now_ns();
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)ns_pid(s, sn->pid));
	fd = open_in_root(s, sn->pid, path);
	if (fd < 0)
		return 0;
	err = fstat(fd, &st) ? -errno : 0;
	if (!err && (!S_ISREG(st.st_mode) || (uint64_t)st.st_size == sn->jit_size))
		goto cleanup;
	if (!err)
		err = arr_grow((void **)&s->retired, &s->cap_retired, s->n_retired + 1,
			       sizeof(*s->retired), SIZE_MAX / sizeof(*s->retired));
	if (!err)
		err = perfmap_load_fd(fd, &pm, &size);
	if (err) {
		log_debug(MOD, "pid %d: %s: %s", (int)sn->pid, path, strerror(-err));
		goto cleanup;
	}
	if (sn->jit)
		s->retired[s->n_retired++] = sn->jit;
	sn->jit = pm;
	sn->jit_size = size;
cleanup:
	close(fd);
	return err == -ENOMEM ? err : 0;
}

/* Name of JIT code at addr from the process's perf map, re-read (at most
 * once a second) when addr is not in it yet. */
static int jit_name(struct symbolizer *s, struct snap *sn, uint64_t addr, const char **name)
{
	int err;

	*name = sn->jit ? perfmap_lookup(sn->jit, addr) : NULL;
	if (*name || (sn->jit_checked && now_ns() - sn->jit_checked < JIT_RECHECK_NS))
		return 0;
	err = refresh_jit(s, sn);
	if (!err && sn->jit)
		*name = perfmap_lookup(sn->jit, addr);
	return err;
}

/* Name (and, with DWARF, file:line and inline chain) of ELF vaddr in bin
 * for frame f. Positions go to the symbolizer's line pool. */
static int symbolize_vaddr(struct symbolizer *s, const struct bin *b, uint64_t vaddr,
			   struct pprof_frame *f)
{
	const char *name = elfsym_lookup(b->sym, vaddr, NULL);
	struct pprof_line *out;
	int n;

	if (!name && b->dsym)
		name = elfsym_lookup(b->dsym, vaddr, NULL);
	f->function = name;
	if ((!b->dw && !b->go) || s->cap_lines - s->n_lines < DWARFLINE_MAX_DEPTH)
		return 0;
	out = &s->lines[s->n_lines];
	n = b->dw ? dwarfline_lookup(b->dw, vaddr, out, DWARFLINE_MAX_DEPTH)
		  : gopclntab_lookup(b->go, vaddr, out);
	if (n <= 0)
		return 0;
	/* The outermost level is the function the code was compiled in: the
	 * symbol table's name for it keeps frames consistent with binaries
	 * without DWARF (and C++ mangled names as pprof demangles them). */
	if (name)
		out[n - 1].function = name;
	f->lines = out;
	f->nlines = (size_t)n;
	f->function = out[0].function;
	f->filename = out[0].filename;
	s->n_lines += (size_t)n;
	return 0;
}

int symbolizer_user(struct symbolizer *s, pid_t pid, const uint64_t *ips, size_t n,
		    struct pprof_frame *frames)
{
	struct snap *sn;
	int err;

	/* Lines and perf maps handed out by the previous call are no longer
	 * referenced. The line pool is sized up front: frames point into it,
	 * so it cannot move. */
	s->n_lines = 0;
	while (s->n_retired)
		perfmap_free(s->retired[--s->n_retired]);
	if (n > SIZE_MAX / DWARFLINE_MAX_DEPTH)
		return -E2BIG;
	err = arr_grow((void **)&s->lines, &s->cap_lines, n * DWARFLINE_MAX_DEPTH,
		       sizeof(*s->lines), SIZE_MAX / sizeof(*s->lines));
	if (err)
		return err;
	err = symbolizer_note_pid(s, pid);
	if (err == -ENOMEM)
		return err;
	sn = find_snap(s, pid);
	for (size_t i = 0; i < n; i++) {
		struct pprof_frame *f = &frames[i];
		/* Callers' frames hold return addresses; the call is just before. */
		uint64_t a = i > 0 && ips[i] ? ips[i] - 1 : ips[i];
		const struct snap_ent *e = find_entry(sn ? sn->gen : NULL, a);
		uint64_t vaddr;

		memset(f, 0, sizeof(*f));
		f->addr = ips[i];
		if (!e && sn && sn->gen && sn->refreshes < MAX_REFRESH) {
			/* dlopen or exec since the snapshot: re-read while alive. */
			sn->refreshes++;
			err = read_snapshot(s, sn);
			if (err == -ENOMEM)
				return err;
			e = find_entry(sn->gen, a);
		}
		if (!e)
			continue;
		f->mapping = e->info;
		if (e->bin && e->bin->sym &&
		    elfsym_file_to_vaddr(e->bin->sym, a - e->start + e->offset, &vaddr) == 0)
			err = symbolize_vaddr(s, e->bin, vaddr, f);
		else if (!e->bin && e->jit_candidate)
			err = jit_name(s, sn, a, &f->function);
		if (err)
			return err;
	}
	return 0;
}

/* ---- kernel ------------------------------------------------------------------ */

static int load_kernel(struct symbolizer *s)
{
	char path[PATH_MAX];
	uint64_t lo, hi;
	const char *name;
	size_t n = 0;
	int err;

	snprintf(path, sizeof(path), "%s/kallsyms", s->proc_root);
	err = kallsyms_load(path, &s->ksyms);
	if (err) {
		log_warn(MOD, "%s: %s; kernel frames stay unsymbolized", path, strerror(-err));
		return err;
	}
	while (kallsyms_module(s->ksyms, (unsigned int)n, NULL, NULL))
		n++;
	s->kmaps = calloc(n ? n : 1, sizeof(*s->kmaps));
	if (!s->kmaps)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		name = kallsyms_module(s->ksyms, (unsigned int)i, &lo, &hi);
		s->kmaps[i].filename = name;
		s->kmaps[i].start = lo <= hi ? lo : 0;
		s->kmaps[i].limit = lo <= hi ? hi + 1 : 0;
	}
	s->n_kmaps = n;
	return 0;
}

int symbolizer_kernel(struct symbolizer *s, const uint64_t *ips, size_t n,
		      struct pprof_frame *frames)
{
	if (s->kerr == 0) {
		int err = load_kernel(s);

		if (err == -ENOMEM)
			return err;
		s->kerr = err ? err : 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct pprof_frame *f = &frames[i];
		uint64_t a = i > 0 && ips[i] ? ips[i] - 1 : ips[i];
		unsigned int mod = 0;

		memset(f, 0, sizeof(*f));
		f->addr = ips[i];
		f->mapping = &s->kfallback;
		if (s->kerr != 1)
			continue;
		f->function = kallsyms_lookup(s->ksyms, a, NULL, &mod);
		if (mod < s->n_kmaps)
			f->mapping = &s->kmaps[mod];
	}
	return 0;
}
