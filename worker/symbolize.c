/* SPDX-License-Identifier: Apache-2.0 */
/* symbolize.c -- ties /proc/PID/maps snapshots (procmaps), per-binary ELF
 * symbol tables (elfsym) and the kernel table (kallsyms) into frames.
 *
 * Binaries are loaded when a pid is first noted, not when its samples are
 * drained, so a process that exits in between is still symbolized from its
 * snapshot. Each binary is read once per build ID (symcache.h), whichever
 * process or job maps it, while it stays in the cache.
 *
 * Everything here is driven by the profiled processes, so it is bounded:
 * files are opened through procfile (inside the process's root, never
 * blocking, identity checked); each drain may spend DRAIN_TIME_NS and
 * DRAIN_BYTES on new maps snapshots and binaries; all snapshots together
 * stay under SNAPS_MAX_BYTES (one process's under SNAP_MAX_BYTES) and all
 * binaries under the symbol cache's budget; past a budget the work is skipped for this drain
 * (frames keep mapping+offset), counted, and reported at window end, when
 * the snapshots of processes not seen in that window are dropped.
 */
#include "symbolize.h"
#include "arr.h"
#include "clock.h"
#include "debuginfo.h"
#include "dwarfline.h"
#include "elfsym.h"
#include "gopclntab.h"
#include "htab.h"
#include "kallsyms.h"
#include "log.h"
#include "perfmap.h"
#include "procfile.h"
#include "procmaps.h"
#include "symcache.h"

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
#define MAX_REFRESH	8	   /* maps re-reads per pid when an address is not covered */
#define MAX_MAP_ENTRIES 16384	   /* executable mappings kept per process */
#define MAPS_MAX_BYTES	(4u << 20) /* one /proc/PID/maps read */
#define DRAIN_TIME_NS	(2000LL * 1000 * 1000) /* maps + ELF loading per drain */
#define DRAIN_BYTES	((uint64_t)128 << 20)  /* new snapshots + binaries per drain */
#define SNAP_MAX_BYTES	((uint64_t)4 << 20)    /* one process's snapshot */
#define SNAPS_MAX_BYTES ((uint64_t)128 << 20)  /* all snapshots held */
#define JIT_RECHECK_NS	1000000000LL	       /* perf map re-read at most once a second per pid */
#define MAX_STATUS	16384		       /* bytes of /proc/PID/status read for NSpid */
#define MAX_VDSO	(1u << 20)	       /* bytes of a [vdso] image read from a process */

/* What a drain loads: a process's maps snapshot or a binary's tables. */
enum load { LOAD_SNAP, LOAD_BIN };

struct snap_ent {
	uint64_t start, end, offset;
	size_t mem;			 /* bytes of info and its filename */
	bool jit_candidate;		 /* anonymous: code may be in a perf map */
	bool pinned;			 /* bin is pinned in the cache for this entry */
	struct symcache_bin *bin;	 /* NULL: anonymous, pseudo or unreadable */
	struct pprof_mapping_info *info; /* owned; handed out in frames */
};

struct snap_gen {
	struct snap_ent *e;
	size_t n;
	size_t mem;		/* bytes charged for it */
	struct snap_gen *older; /* replaced generations, freed on forget */
};

struct snap {
	pid_t pid;
	struct snap_gen *gen; /* NULL after forget (slot kept for the hash index) */
	unsigned int refreshes;
	bool too_big;	     /* maps over the caps: not re-read until window end */
	uint64_t epoch;	     /* window in which it was last used */
	struct perfmap *jit; /* /tmp/perf-<nspid>.map, or NULL */
	uint64_t jit_size;   /* bytes of it parsed */
	int64_t jit_checked; /* CLOCK_MONOTONIC ns of the last look at it; 0 never */
};

struct symbolizer {
	char *proc_root;

	struct symcache *cache; /* binaries' tables, shared with other symbolizers */
	/* Files already opened in this window, by (dev, inode), each holding
	 * a pin: a process mapping one file thousands of times, or the next
	 * process of the same binary, costs no open until the window ends. */
	struct seen_file {
		uint64_t dev, inode;
		struct symcache_bin *bin;
	} * seen;
	size_t n_seen, cap_seen;
	struct htab seen_h;
	bool own_cache; /* created by symbolizer_new: freed with it */

	struct snap **snaps;
	size_t n_snaps, cap_snaps;
	struct htab snap_h;

	struct symcache_bin *vdso; /* the kernel's vDSO image, read once from a process */
	int vdso_err;		   /* < 0 once reading it failed */

	struct kallsyms *ksyms;
	int kerr;			  /* 0 untried, 1 loaded, < 0 load error */
	struct pprof_mapping_info *kmaps; /* one per kallsyms module */
	size_t n_kmaps;
	struct pprof_mapping_info kfallback; /* when kallsyms is unreadable */

	uint64_t epoch;	       /* windows ended so far */
	bool budgeted;	       /* a drain has begun: budgets apply */
	int64_t drain_work_ns; /* spent on maps reads and ELF loads */
	uint64_t drain_bytes;  /* charged in this drain */
	uint64_t held_snaps;   /* bytes held by maps snapshots */
	bool drain_warned;     /* give-up logged for this drain */
	struct symbolizer_stats stats, window_stats;
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

/* One more give-up of kind f, in the totals and in this window's count. */
#define COUNT(s, f) ((s)->stats.f++, (s)->window_stats.f++)

/* May this drain still start loading work (a maps read, an ELF file)?
 * Counts and logs (once per drain) when it may not. */
static bool budget_ok(struct symbolizer *s, enum load kind)
{
	const char *why = NULL;

	if (s->budgeted && s->drain_work_ns > DRAIN_TIME_NS) {
		COUNT(s, gave_up_time);
		why = "time";
	} else if ((s->budgeted && s->drain_bytes >= DRAIN_BYTES) ||
		   (kind == LOAD_SNAP ? s->held_snaps >= SNAPS_MAX_BYTES
				      : !symcache_make_room(s->cache))) {
		COUNT(s, gave_up_memory);
		why = "memory";
	}
	if (why && !s->drain_warned) {
		s->drain_warned = true;
		log_warn(MOD,
			 "drain over its %s budget: symbolizing the rest of it by mapping only",
			 why);
	}
	return why == NULL;
}

/* CPU time of this thread: the drain budget counts work, not wall time, so
 * a busy node (or a loaded test machine) does not make the worker give up
 * on work it did not do; reads never block (procfile opens O_NONBLOCK). */
static int64_t work_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Add the work since t0 (work_ns) to this drain's loading work. */
static void work_done(struct symbolizer *s, int64_t t0)
{
	s->drain_work_ns += work_ns() - t0;
}

/* Charge bytes of a new load to this drain (and to the snapshots held). */
static void charge(struct symbolizer *s, enum load kind, uint64_t bytes)
{
	s->drain_bytes += bytes;
	if (kind == LOAD_SNAP)
		s->held_snaps += bytes;
}

static void uncharge_snap(struct symbolizer *s, uint64_t bytes)
{
	s->held_snaps -= bytes < s->held_snaps ? bytes : s->held_snaps;
}

void symbolizer_drain_begin(struct symbolizer *s)
{
	s->budgeted = true;
	s->drain_work_ns = 0;
	s->drain_bytes = 0;
	s->drain_warned = false;
}

void symbolizer_get_stats(const struct symbolizer *s, struct symbolizer_stats *out)
{
	*out = s->stats;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	/* Positions live in 32-bit hash slots. */
	return arr_grow(arr, cap, need, elem, UINT32_MAX - 1);
}

int symbolizer_new_cached(struct symbolizer **out, const char *proc_root, struct symcache *cache)
{
	struct symbolizer *s;
	int err = 0;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->proc_root = strdup(proc_root ? proc_root : "/proc");
	s->cache = cache;
	if (!cache) {
		err = symcache_new(&s->cache, 0);
		s->own_cache = true;
	}
	if (!s->proc_root || err) {
		symbolizer_free(s);
		return -ENOMEM;
	}
	s->kfallback.filename = "[kernel.kallsyms]";
	s->epoch = 1;
	*out = s;
	return 0;
}

int symbolizer_new(struct symbolizer **out, const char *proc_root)
{
	return symbolizer_new_cached(out, proc_root, NULL);
}

void symbolizer_cache_stats(const struct symbolizer *s, struct symcache_stats *out)
{
	symcache_get_stats(s->cache, out);
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

/* Free snapshot generations, releasing their pins on cached binaries. */
static void gen_free(struct symbolizer *s, struct snap_gen *g)
{
	while (g) {
		struct snap_gen *older = g->older;

		for (size_t i = 0; i < g->n; i++) {
			if (g->e[i].pinned)
				symcache_unpin(s->cache, g->e[i].bin);
			if (g->e[i].info)
				free((char *)g->e[i].info->filename);
			free(g->e[i].info);
		}
		free(g->e);
		free(g);
		g = older;
	}
}

/* Free a snapshot's generations and release what they were charged. */
static void snap_drop(struct symbolizer *s, struct snap *sn)
{
	for (const struct snap_gen *g = sn->gen; g; g = g->older)
		uncharge_snap(s, g->mem);
	gen_free(s, sn->gen);
	sn->gen = NULL;
	sn->refreshes = 0;
	perfmap_free(sn->jit);
	sn->jit = NULL;
	sn->jit_size = 0;
	sn->jit_checked = 0;
}

/* Drop the pins of the files opened in this window. */
static void seen_clear(struct symbolizer *s)
{
	for (size_t i = 0; i < s->n_seen; i++)
		symcache_unpin(s->cache, s->seen[i].bin);
	s->n_seen = 0;
	htab_release(&s->seen_h);
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_debug_dirs; i++)
		free(s->debug_dirs[i]);
	free(s->debug_dirs);
	free(s->lines);
	symcache_bin_free(s->vdso);
	if (s->cache)
		seen_clear(s);
	free(s->seen);
	for (size_t i = 0; i < s->n_snaps; i++) {
		gen_free(s, s->snaps[i]->gen);
		perfmap_free(s->snaps[i]->jit);
		free(s->snaps[i]);
	}
	if (s->own_cache)
		symcache_free(s->cache);
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

/* Open an absolute path as process pid sees it (debug files): through
 * procfile, resolved inside its root, regular files only, never blocking.
 * Returns the fd (the caller closes it) or -errno. */
static int open_in_root(const struct symbolizer *s, pid_t pid, const char *path)
{
	struct procfile pf = {.fd = -1};
	int err;

	if (path[0] != '/')
		return -EINVAL;
	err = procfile_open(s->proc_root, pid, path, NULL, &pf);
	return err ? err : pf.fd;
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
		      struct symcache_bin *b, int fd)
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
static int load_go(struct symcache_bin *b, int fd)
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

static bool seen_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct symbolizer *s = ctx;
	const uint64_t *k = key;

	return s->seen[pos].dev == k[0] && s->seen[pos].inode == k[1];
}

/* Remember b (pinned once more) for (dev, inode) until the window ends;
 * without memory it is simply not remembered. */
static void seen_add(struct symbolizer *s, const struct procmaps_entry *me, struct symcache_bin *b)
{
	uint64_t h = htab_hash_u64(htab_hash_u64(HTAB_SEED, me->dev), me->inode);

	if (grow((void **)&s->seen, &s->cap_seen, s->n_seen + 1, sizeof(*s->seen)) ||
	    htab_insert(&s->seen_h, h, (uint32_t)s->n_seen))
		return;
	s->seen[s->n_seen++] = (struct seen_file){me->dev, me->inode, b};
	symcache_pin(s->cache, b, false);
}

/* Load the tables of the open file fd (mapping me of pid) into a new bin.
 * NULL with *err -ENOMEM when memory ran out; a file that does not parse
 * gives a bin without tables, cached as such so that it is not re-read. */
static struct symcache_bin *load_bin(struct symbolizer *s, pid_t pid,
				     const struct procmaps_entry *me, int fd, int *err)
{
	struct symcache_bin *b = calloc(1, sizeof(*b));
	int lerr;

	*err = 0;
	if (!b) {
		*err = -ENOMEM;
		return NULL;
	}
	lerr = elfsym_load_fd(fd, &b->sym);
	if (!lerr)
		lerr = load_debug(s, pid, me, b, fd);
	if (!lerr && !b->dw)
		lerr = load_go(b, fd);
	if (lerr == -ENOMEM) {
		/* Not cached as unusable: a later note may have memory again. */
		symcache_bin_free(b);
		*err = lerr;
		return NULL;
	}
	if (lerr == -E2BIG) {
		COUNT(s, elf_refused);
		log_warn(MOD, "pid %d: %s is over the ELF caps; its frames keep mapping+offset",
			 (int)pid, me->path);
	} else if (lerr) {
		log_debug(MOD, "%s: not a usable ELF (%s); frames keep mapping+offset", me->path,
			  strerror(-lerr));
	}
	b->mem = symcache_bin_mem(b);
	return b;
}

/* The tables of a file mapping, pinned in the cache (the caller unpins),
 * loading them on first sight of the file's build ID. NULL (with *err 0)
 * when the file cannot be opened or loaded now. The file is opened for
 * every new mapping, also on a hit: the key comes from the file itself,
 * so a path or inode that now holds other bytes gets other tables. */
static struct symcache_bin *get_bin(struct symbolizer *s, pid_t pid,
				    const struct procmaps_entry *me, int *err)
{
	const struct procfile_id id = {me->dev, me->inode};
	struct procfile pf = {.fd = -1};
	struct symcache_bin *b = NULL;
	char key[SYMCACHE_KEY_MAX];
	uint64_t idk[2] = {me->dev, me->inode};
	uint32_t pos;
	int64_t t0;
	int oerr;

	*err = 0;
	if (htab_find(&s->seen_h, htab_hash_u64(htab_hash_u64(HTAB_SEED, me->dev), me->inode),
		      seen_eq, s, idk, &pos)) {
		symcache_pin(s->cache, s->seen[pos].bin, true);
		return s->seen[pos].bin;
	}
	/* Over the time budget even a hit's open waits for a later drain. */
	if (s->budgeted && s->drain_work_ns > DRAIN_TIME_NS && !budget_ok(s, LOAD_BIN))
		return NULL;
	t0 = work_ns();
	oerr = procfile_open_mapping(s->proc_root, pid, me->start, me->end, me->path, me->deleted,
				     &id, &pf);
	if (!oerr)
		oerr = symcache_key_fd(pf.fd, key);
	if (oerr) {
		if (oerr == -ESTALE || oerr == -EINVAL || oerr == -ELOOP || me->deleted)
			COUNT(s, open_refused);
		log_debug(MOD, "pid %d: not opening %s%s: %s", (int)pid, me->path,
			  me->deleted ? " (deleted)" : "", strerror(-oerr));
		goto cleanup;
	}
	b = symcache_get(s->cache, key);
	if (b || !budget_ok(s, LOAD_BIN))
		goto cleanup; /* a miss over budget: a later drain may load it */
	b = load_bin(s, pid, me, pf.fd, err);
	if (b) {
		charge(s, LOAD_BIN, b->mem);
		*err = symcache_put(s->cache, key, b);
	}
	if (*err) {
		symcache_bin_free(b);
		b = NULL;
	}
cleanup:
	if (b)
		seen_add(s, me, b);
	procfile_close(&pf);
	work_done(s, t0);
	return b;
}

/* The vDSO is an ELF image only in memory: copy it from the process
 * (bounded) into an anonymous file for elfsym. One image per kernel, so it
 * is read once; its functions (clock_gettime, ...) then get names. */
static struct symcache_bin *get_vdso(struct symbolizer *s, pid_t pid,
				     const struct procmaps_entry *me, int *err)
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
	if (me->inode && me->path[0] == '/') {
		se->bin = get_bin(s, pid, me, &err);
		se->pinned = se->bin != NULL;
	} else if (strcmp(me->path, "[vdso]") == 0)
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
	se->mem = sizeof(*mi) + strlen(mi->filename) + 1;
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
	int64_t t0;
	int err;

	if (!budget_ok(s, LOAD_SNAP))
		return -EAGAIN;
	snprintf(path, sizeof(path), "%s/%d/maps", s->proc_root, (int)sn->pid);
	/* Only executable mappings are kept, and at most MAX_MAP_ENTRIES: a
	 * process with thousands of long-named mappings costs a bounded
	 * amount however often it is re-read. */
	t0 = work_ns();
	err = procmaps_read_exec(path, MAPS_MAX_BYTES, MAX_MAP_ENTRIES, &pm);
	work_done(s, t0);
	if (err == -E2BIG || (!err && pm.skipped)) {
		COUNT(s, maps_truncated);
		log_warn(MOD, "pid %d: maps over %u entries or %u MiB; %s", (int)sn->pid,
			 MAX_MAP_ENTRIES, MAPS_MAX_BYTES >> 20,
			 err ? "not snapshotted" : "the rest stays unsymbolized");
	}
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
	g->mem = sizeof(*g) + pm.n * sizeof(*g->e);
	for (size_t i = 0; i < pm.n && g->n < MAX_MAP_ENTRIES; i++) {
		if (!procmaps_is_exec(&pm.e[i]))
			continue;
		if (g->mem > SNAP_MAX_BYTES) {
			COUNT(s, maps_truncated);
			log_warn(MOD,
				 "pid %d: maps snapshot over %u MiB; the rest stays unsymbolized",
				 (int)sn->pid, (unsigned int)(SNAP_MAX_BYTES >> 20));
			break;
		}
		err = fill_entry(s, sn->pid, &pm.e[i], &g->e[g->n]);
		g->mem += g->e[g->n].mem;
		g->n++; /* also on error, so that gen_free frees the partial entry */
		if (err)
			goto cleanup;
	}
	charge(s, LOAD_SNAP, g->mem);
	g->older = sn->gen;
	sn->gen = g;
	g = NULL;
cleanup:
	gen_free(s, g);
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
	if (sn)
		sn->epoch = s->epoch;
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
		sn->epoch = s->epoch;
		s->snaps[s->n_snaps++] = sn;
	}
	if (sn->too_big)
		return -E2BIG; /* reading it again would cost as much again */
	err = read_snapshot(s, sn);
	if (err == -E2BIG)
		sn->too_big = true;
	return err;
}

void symbolizer_forget_pid(struct symbolizer *s, pid_t pid)
{
	struct snap *sn = find_snap(s, pid);

	if (!sn)
		return;
	snap_drop(s, sn);
}

/* Rebuild the pid index after snapshots were removed from the array. */
static int reindex_snaps(struct symbolizer *s)
{
	int err = 0;

	htab_release(&s->snap_h);
	for (size_t i = 0; i < s->n_snaps && !err; i++)
		err = htab_insert(&s->snap_h, htab_hash_u64(HTAB_SEED, (uint64_t)s->snaps[i]->pid),
				  (uint32_t)i);
	return err;
}

int symbolizer_end_window(struct symbolizer *s)
{
	const struct symbolizer_stats *w = &s->window_stats;
	size_t k = 0;

	if (w->gave_up_time || w->gave_up_memory || w->maps_truncated || w->elf_refused ||
	    w->open_refused)
		log_warn(MOD,
			 "window: gave up %" PRIu64 "x on time and %" PRIu64
			 "x on memory budgets, %" PRIu64 " maps truncated, %" PRIu64
			 " ELF files over caps, %" PRIu64 " files refused (not the mapped file)",
			 w->gave_up_time, w->gave_up_memory, w->maps_truncated, w->elf_refused,
			 w->open_refused);
	memset(&s->window_stats, 0, sizeof(s->window_stats));
	/* Processes not seen in the window that just ended are forgotten;
	 * those seen keep only their newest maps generation. */
	for (size_t i = 0; i < s->n_snaps; i++) {
		struct snap *sn = s->snaps[i];

		if (sn->epoch != s->epoch) {
			snap_drop(s, sn);
			free(sn);
			continue;
		}
		if (sn->gen && sn->gen->older) {
			for (const struct snap_gen *g = sn->gen->older; g; g = g->older)
				uncharge_snap(s, g->mem);
			gen_free(s, sn->gen->older);
			sn->gen->older = NULL;
		}
		sn->refreshes = 0;
		sn->too_big = false;
		s->snaps[k++] = sn;
	}
	s->n_snaps = k;
	s->epoch++;
	/* Files are opened (and keyed) again in the next window. */
	seen_clear(s);
	/* Binaries no kept snapshot refers to stay cached (unpinned) for the
	 * next processes and jobs, until the cache needs their room. */
	if (reindex_snaps(s))
		return -ENOMEM;
	return 0;
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

/* (Re-)read the process's perf map when it has grown. The map it replaces
 * is retired, not freed: its names may be in this call's frames. */
static int refresh_jit(struct symbolizer *s, struct snap *sn)
{
	char path[64];
	struct perfmap *pm = NULL;
	uint64_t size = 0;
	struct stat st;
	int fd, err;

	sn->jit_checked = clock_mono_ns();
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
	if (*name || (sn->jit_checked && clock_mono_ns() - sn->jit_checked < JIT_RECHECK_NS))
		return 0;
	err = refresh_jit(s, sn);
	if (!err && sn->jit)
		*name = perfmap_lookup(sn->jit, addr);
	return err;
}

/* Source positions of vaddr from b's DWARF into out (DWARFLINE_MAX_DEPTH
 * slots), the outermost named as the symbol table names it; answered from
 * the binary's memo in the cache when it was looked up before. Returns how
 * many (0: none) or -ENOMEM. */
static int dwarf_lines(struct symbolizer *s, struct symcache_bin *b, uint64_t vaddr,
		       const char *name, struct pprof_line *out)
{
	size_t nm;
	const struct pprof_line *m = symcache_memo_find(s->cache, b, vaddr, &nm);
	int n, err;

	if (m) {
		memcpy(out, m, nm * sizeof(*out));
		return (int)nm;
	}
	n = dwarfline_lookup(b->dw, vaddr, out, DWARFLINE_MAX_DEPTH);
	if (n < 0)
		n = 0;
	/* The outermost level is the function the code was compiled in: the
	 * symbol table's name for it keeps frames consistent with binaries
	 * without DWARF (and C++ mangled names as pprof demangles them). */
	if (n > 0 && name)
		out[n - 1].function = name;
	err = symcache_memo_add(s->cache, b, vaddr, out, (size_t)n);
	return err ? err : n;
}

/* Name (and, with DWARF, file:line and inline chain) of ELF vaddr in bin
 * for frame f. Positions go to the symbolizer's line pool. */
static int symbolize_vaddr(struct symbolizer *s, struct symcache_bin *b, uint64_t vaddr,
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
	if (b->dw) {
		n = dwarf_lines(s, b, vaddr, name, out);
	} else {
		n = gopclntab_lookup(b->go, vaddr, out);
		if (n > 0 && name)
			out[n - 1].function = name;
	}
	if (n < 0)
		return n;
	if (n == 0)
		return 0;
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
	if (sn)
		sn->epoch = s->epoch;
	for (size_t i = 0; i < n; i++) {
		struct pprof_frame *f = &frames[i];
		/* Callers' frames hold return addresses; the call is just before. */
		uint64_t a = i > 0 && ips[i] ? ips[i] - 1 : ips[i];
		const struct snap_ent *e;
		uint64_t vaddr;

		memset(f, 0, sizeof(*f));
		f->addr = ips[i];
		if (ips[i] >= SYMBOLIZE_USER_END)
			continue; /* not an address: the caller names it */
		e = find_entry(sn ? sn->gen : NULL, a);
		if (!e && sn && sn->gen && sn->refreshes < MAX_REFRESH) {
			/* dlopen or exec since the snapshot: re-read while alive. */
			sn->refreshes++;
			err = read_snapshot(s, sn);
			if (err == -ENOMEM)
				return err;
			if (err == -E2BIG)
				sn->too_big = true;
			e = find_entry(sn->gen, a);
		}
		/* Sampled before an exec or munmap whose successor a sample of
		 * this drain has already loaded: the older layouts still name it. */
		for (const struct snap_gen *g = sn && sn->gen ? sn->gen->older : NULL; !e && g;
		     g = g->older)
			e = find_entry(g, a);
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
		/* No address range: it would place the kernel (KASLR) for
		 * anyone who can read a profile. */
		s->kmaps[i].filename = kallsyms_module(s->ksyms, (unsigned int)i, NULL, NULL);
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
		uint64_t start = 0;

		/* A kernel frame is its function and the offset into it, never
		 * the raw address (which gives the KASLR base away); a frame
		 * that resolves to no function keeps address 0. */
		memset(f, 0, sizeof(*f));
		f->mapping = &s->kfallback;
		if (s->kerr != 1)
			continue;
		f->function = kallsyms_lookup(s->ksyms, a, &start, &mod);
		if (f->function)
			f->addr = ips[i] - start;
		if (mod < s->n_kmaps)
			f->mapping = &s->kmaps[mod];
	}
	return 0;
}
