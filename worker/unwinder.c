/* SPDX-License-Identifier: Apache-2.0 */
/* unwinder.c -- process maps and per-binary unwind tables, kept in the kernel's maps. */
#include "unwinder.h"
#include "arr.h"
#include "clock.h"
#include "htab.h"
#include "log.h"
#include "procfile.h"
#include "procmaps.h"
#include "pyproc.h"
#include "sampler.h"
#include "unwind_table.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>

#define MOD "unwinder"

#define MAX_TABLES	   4096	      /* binaries remembered (loaded or not) */
#define MAX_PROCS	   16384      /* processes remembered */
#define MAX_PROC_MAPS_READ 16384      /* executable maps entries parsed per process */
#define MAX_MAPS_BYTES	   (4u << 20) /* one /proc/PID/maps read */
#define MAX_WATCH	   1024	      /* watched cgroups */
#define MAX_SCAN_DIRS	   256	      /* cgroup directories scanned per watch per poll */
#define MAX_SCAN_PIDS	   4096	      /* pids taken from one watch per poll */
#define MAX_SCAN_DEPTH	   8
#define MAX_PY_NOTES	   64		     /* python binaries whose problem was said */
#define MAX_PY_BAD	   1024		     /* processes pointing at one of those notes */
#define MIN_REREAD_NS	   (200 * 1000000LL) /* a process's maps re-read at most this often */

enum table_state {
	TABLE_NEW = 0,	  /* not loaded in the kernel */
	TABLE_LOADED = 1, /* rows and pages in the kernel under id */
	TABLE_FP = 2,	  /* no CFI: frame pointers */
	TABLE_BROKEN = 3, /* could not be built: frames stop with a marker */
};

struct table {
	uint64_t dev, ino, size, mtime_ns; /* identity of the file (0s for the vDSO) */
	enum table_state state;
	struct unwind_table ut; /* segs/base always; rows only until loaded */
	uint32_t id;		/* kernel id while loaded */
	uint32_t first;		/* first row in the kernel array */
	uint32_t n;		/* rows in the kernel */
	uint32_t *pages;	/* page numbers written */
	size_t n_pages;
	uint32_t refs;	    /* process entries that use it */
	uint64_t last_used; /* poll tick of the last use */
};

struct proc {
	pid_t pid;
	bool in_kernel;
	bool too_big;	 /* its maps are over the caps: not read again */
	int64_t read_ns; /* when its maps were last read */
	struct table **tables;
	size_t n_tables;
};

struct watch {
	uint64_t id;
	char *dir;
};

struct unwinder {
	struct sampler *s;
	char *proc_root;
	struct table **tables;
	size_t n_tables;
	size_t cap_tables;
	struct proc **procs;
	size_t n_procs;
	size_t cap_procs;
	struct watch *watches;
	size_t n_watches;
	struct table *vdso;
	uint32_t next_id;
	uint64_t tick;
	/* Pythons that degrade to native frames: one note per binary and
	 * reason (logged once), and which live processes it is about. */
	struct py_note {
		uint64_t hash; /* of the reason text (names the file) */
		struct unwinder_note pub;
		char code[24];
		char text[UNWINDER_NOTE_MAX];
	} py_notes[MAX_PY_NOTES];
	size_t n_py_notes;
	struct py_bad {
		pid_t pid;
		const struct py_note *note;
	} py_bad[MAX_PY_BAD];
	size_t n_py_bad;
	struct unwinder_stats st;
	unwinder_new_pid_fn on_new;
	void *on_new_ctx;
	struct profile_proc entry; /* scratch for one process entry (4 KiB) */
};

int unwinder_new(struct unwinder **out, struct sampler *s, const char *proc_root,
		 unwinder_new_pid_fn on_new, void *ctx)
{
	struct unwinder *u;

	*out = NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->s = s;
	u->proc_root = strdup(proc_root ? proc_root : "/proc");
	if (!u->proc_root) {
		free(u);
		return -ENOMEM;
	}
	u->st.rows_capacity = sampler_row_capacity(s);
	u->on_new = on_new;
	u->on_new_ctx = ctx;
	*out = u;
	return 0;
}

static void table_free(struct table *t)
{
	if (!t)
		return;
	unwind_table_release(&t->ut);
	free(t->pages);
	free(t);
}

static void proc_free(struct proc *p)
{
	if (!p)
		return;
	free(p->tables);
	free(p);
}

void unwinder_free(struct unwinder *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n_tables; i++)
		table_free(u->tables[i]);
	free(u->tables);
	table_free(u->vdso);
	for (size_t i = 0; i < u->n_procs; i++)
		proc_free(u->procs[i]);
	free(u->procs);
	for (size_t i = 0; i < u->n_watches; i++)
		free(u->watches[i].dir);
	free(u->watches);
	free(u->proc_root);
	free(u);
}

/* ---- tables in the kernel ------------------------------------------------------ */

static void table_unload(struct unwinder *u, struct table *t)
{
	for (size_t i = 0; i < t->n_pages; i++) {
		struct profile_page_key k = {.table = t->id, .page = t->pages[i]};

		sampler_page_delete(u->s, &k);
	}
	free(t->pages);
	t->pages = NULL;
	t->n_pages = 0;
	if (t->state == TABLE_LOADED) {
		u->st.tables--;
		u->st.rows_used -= t->n;
	}
	t->state = TABLE_NEW;
	t->id = 0;
	t->n = 0;
}

static int cmp_first(const void *a, const void *b)
{
	const struct table *x = *(struct table *const *)a, *y = *(struct table *const *)b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* First fit in the row array among the loaded tables; -ENOSPC if no gap. */
static int find_gap(struct unwinder *u, uint32_t need, uint32_t *first)
{
	struct table **loaded;
	size_t n = 0;
	uint64_t at = 0, cap = sampler_row_capacity(u->s);
	int err = -ENOSPC;

	loaded = malloc((u->n_tables + 1) * sizeof(*loaded));
	if (!loaded)
		return -ENOMEM;
	for (size_t i = 0; i < u->n_tables; i++)
		if (u->tables[i]->state == TABLE_LOADED)
			loaded[n++] = u->tables[i];
	if (u->vdso && u->vdso->state == TABLE_LOADED)
		loaded[n++] = u->vdso;
	qsort(loaded, n, sizeof(*loaded), cmp_first);
	for (size_t i = 0; i <= n; i++) {
		uint64_t end = i < n ? loaded[i]->first : cap;

		if (end >= at && end - at >= need) {
			*first = (uint32_t)at;
			err = 0;
			break;
		}
		if (i < n)
			at = (uint64_t)loaded[i]->first + loaded[i]->n;
	}
	free(loaded);
	return err;
}

/* Evict the least recently used table no process uses; false if none. */
static bool evict_one(struct unwinder *u, const struct table *keep)
{
	struct table *victim = NULL;

	for (size_t i = 0; i < u->n_tables; i++) {
		struct table *t = u->tables[i];

		if (t == keep || t->state != TABLE_LOADED || t->refs)
			continue;
		if (!victim || t->last_used < victim->last_used)
			victim = t;
	}
	if (!victim)
		return false;
	log_debug(MOD, "evicting an unwind table of %u rows", victim->n);
	table_unload(u, victim);
	/* Rows of an evicted table are rebuilt from the file if needed again. */
	u->st.table_evictions++;
	return true;
}

/* Write the page index of a table whose rows sit at [first, first + n). */
static int write_pages(struct unwinder *u, struct table *t, const struct unwind_table *ut)
{
	uint64_t npages =
	    (ut->size + (1u << PROFILE_UNWIND_PAGE_SHIFT) - 1) >> PROFILE_UNWIND_PAGE_SHIFT;
	size_t lo = 0; /* first row with pc >= page start */
	int err = 0;

	t->pages = calloc(npages ? npages : 1, sizeof(*t->pages));
	if (!t->pages)
		return -ENOMEM;
	for (uint64_t p = 0; p < npages && !err; p++) {
		uint64_t pstart = p << PROFILE_UNWIND_PAGE_SHIFT;
		uint64_t pend = pstart + (1u << PROFILE_UNWIND_PAGE_SHIFT);
		size_t first, last;
		bool any = false;

		while (lo < ut->n && ut->rows[lo].pc < pstart)
			lo++;
		/* The row in force at the page start, if any, comes first. */
		first = (lo < ut->n && ut->rows[lo].pc == pstart) || lo == 0 ? lo : lo - 1;
		last = lo;
		while (last < ut->n && ut->rows[last].pc < pend)
			last++;
		if (last == first)
			continue; /* no row reaches this page */
		for (size_t i = first; i < last && !any; i++)
			any = ut->rows[i].kind != PROFILE_CFA_INVALID;
		if (!any || last - first > PROFILE_UNWIND_PAGE_ROWS)
			continue;
		struct profile_page_key k = {.table = t->id, .page = (uint32_t)p};
		struct profile_page pg = {.first = t->first + (uint32_t)first,
					  .n = (uint32_t)(last - first)};

		err = sampler_page_set(u->s, &k, &pg);
		if (!err)
			t->pages[t->n_pages++] = (uint32_t)p;
	}
	return err;
}

static int table_load(struct unwinder *u, struct table *t)
{
	uint32_t first = 0;
	int err;

	if (t->ut.n == 0 || t->ut.n > UINT32_MAX) {
		t->state = TABLE_BROKEN;
		return 0;
	}
	for (;;) {
		err = find_gap(u, (uint32_t)t->ut.n, &first);
		if (err != -ENOSPC || !evict_one(u, t))
			break;
	}
	if (err) {
		u->st.table_refused++;
		return err;
	}
	t->id = ++u->next_id;
	t->first = first;
	t->n = (uint32_t)t->ut.n;
	err = sampler_rows_write(u->s, first, t->ut.rows, t->ut.n);
	if (!err)
		err = write_pages(u, t, &t->ut);
	while (err == -ENOSPC && evict_one(u, t)) {
		/* Page index full: make room and write the pages again. */
		table_unload(u, t);
		t->id = ++u->next_id;
		t->n = (uint32_t)t->ut.n;
		err = write_pages(u, t, &t->ut);
	}
	if (err) {
		t->state = TABLE_LOADED; /* so that unload accounts nothing twice */
		u->st.tables++;
		u->st.rows_used += t->n;
		table_unload(u, t);
		u->st.table_refused++;
		return err;
	}
	t->state = TABLE_LOADED;
	u->st.tables++;
	u->st.rows_used += t->n;
	/* The kernel has the rows now; keep only what mapping bases need. */
	free(t->ut.rows);
	t->ut.rows = NULL;
	t->ut.n = 0;
	return 0;
}

/* ---- binaries ------------------------------------------------------------------ */

static struct table *table_find(struct unwinder *u, const struct stat *st)
{
	uint64_t mt = (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + (uint64_t)st->st_mtim.tv_nsec;

	for (size_t i = 0; i < u->n_tables; i++) {
		struct table *t = u->tables[i];

		if (t->dev == (uint64_t)st->st_dev && t->ino == (uint64_t)st->st_ino &&
		    t->size == (uint64_t)st->st_size && t->mtime_ns == mt)
			return t;
	}
	return NULL;
}

/* Drop one unused table from memory to stay within MAX_TABLES. */
static void forget_one_table(struct unwinder *u)
{
	size_t victim = SIZE_MAX;

	for (size_t i = 0; i < u->n_tables; i++) {
		struct table *t = u->tables[i];

		if (t->refs)
			continue;
		if (victim == SIZE_MAX || t->last_used < u->tables[victim]->last_used)
			victim = i;
	}
	if (victim == SIZE_MAX)
		return;
	table_unload(u, u->tables[victim]);
	table_free(u->tables[victim]);
	u->tables[victim] = u->tables[--u->n_tables];
}

static void build(struct unwinder *u, struct table *t, int fd, const void *image, size_t len)
{
	int64_t t0 = clock_mono_ns();
	int err = fd >= 0 ? unwind_table_build_fd(fd, &t->ut)
			  : unwind_table_build_mem(image, len, &t->ut);

	u->st.table_builds++;
	u->st.table_build_ns += (uint64_t)(clock_mono_ns() - t0);
	if (err == -ENOENT) {
		t->state = TABLE_FP;
		u->st.no_cfi++;
	} else if (err) {
		t->state = TABLE_BROKEN;
		log_debug(MOD, "no unwind table: %s", strerror(-err));
	}
}

/* The table for a file mapping, built on first sight; NULL if unreadable. */
static struct table *table_for(struct unwinder *u, pid_t pid, const struct procmaps_entry *me)
{
	struct procfile_id id = {.dev = me->dev, .inode = me->inode};
	struct procfile pf = {.fd = -1};
	struct stat st;
	struct table *t;
	int fd;

	/* Inside the process's root, regular files only, never blocking. */
	if (procfile_open_mapping(u->proc_root, pid, me->start, me->end, me->path, me->deleted, &id,
				  &pf) != 0)
		return NULL;
	fd = pf.fd;
	st = pf.st;
	t = table_find(u, &st);
	if (t) {
		close(fd);
		return t;
	}
	if (u->n_tables >= MAX_TABLES)
		forget_one_table(u);
	if (u->n_tables >= MAX_TABLES) {
		close(fd);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		return NULL;
	}
	if (arr_grow((void **)&u->tables, &u->cap_tables, u->n_tables + 1, sizeof(*u->tables),
		     MAX_TABLES)) {
		free(t);
		close(fd);
		return NULL;
	}
	t->dev = (uint64_t)st.st_dev;
	t->ino = (uint64_t)st.st_ino;
	t->size = (uint64_t)st.st_size;
	t->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec;
	build(u, t, fd, NULL, 0);
	close(fd);
	u->tables[u->n_tables++] = t;
	return t;
}

/* The vDSO is the same image in every process: build its table from ours. */
static struct table *vdso_table(struct unwinder *u)
{
	const Elf64_Ehdr *eh;
	size_t len = 0;

	if (u->vdso)
		return u->vdso;
	u->vdso = calloc(1, sizeof(*u->vdso));
	if (!u->vdso)
		return NULL;
	eh = (const Elf64_Ehdr *)getauxval(AT_SYSINFO_EHDR);
	if (!eh) {
		u->vdso->state = TABLE_BROKEN;
		return u->vdso;
	}
	/* Its length: the section headers come last in the image. */
	len = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	if (len < sizeof(*eh) || len > (1u << 20))
		u->vdso->state = TABLE_BROKEN;
	else
		build(u, u->vdso, -1, eh, len);
	return u->vdso;
}

/* ---- processes --------------------------------------------------------------------- */

static struct proc *proc_find(struct unwinder *u, pid_t pid, size_t *idx)
{
	for (size_t i = 0; i < u->n_procs; i++) {
		if (u->procs[i]->pid == pid) {
			if (idx)
				*idx = i;
			return u->procs[i];
		}
	}
	return NULL;
}

static void proc_release_tables(struct proc *p)
{
	for (size_t i = 0; i < p->n_tables; i++)
		p->tables[i]->refs--;
	free(p->tables);
	p->tables = NULL;
	p->n_tables = 0;
}

static bool is_anon_exec(const struct procmaps_entry *me)
{
	return me->inode == 0 && (me->path[0] == '\0' || strncmp(me->path, "[anon", 5) == 0);
}

/* Fill one kernel map entry for a mapping; false to leave it out. */
static bool map_entry(struct unwinder *u, pid_t pid, const struct procmaps_entry *me,
		      struct profile_exec_map *m, struct table **used)
{
	struct table *t = NULL;
	uint64_t base;

	*used = NULL;
	memset(m, 0, sizeof(*m));
	m->start = me->start;
	m->end = me->end;
	if (me->start >= (1ULL << 47))
		return false; /* [vsyscall]: above user space, never on a user stack walk */
	if (is_anon_exec(me)) {
		m->kind = PROFILE_MAP_FP; /* JIT code: frame pointers */
		return true;
	}
	if (strcmp(me->path, "[vdso]") == 0)
		t = vdso_table(u);
	else if (me->inode)
		t = table_for(u, pid, me);
	if (!t) {
		m->kind = PROFILE_MAP_PENDING;
		return true;
	}
	t->last_used = u->tick;
	if (t->state == TABLE_NEW && t->ut.n)
		table_load(u, t);
	switch (t->state) {
	case TABLE_FP:
		m->kind = PROFILE_MAP_FP;
		break;
	case TABLE_LOADED:
		if (unwind_table_map_base(&t->ut, me->start, t == u->vdso ? 0 : me->offset,
					  &base)) {
			m->kind = PROFILE_MAP_PENDING;
			break;
		}
		m->kind = PROFILE_MAP_TABLE;
		m->table = t->id;
		m->base = base;
		*used = t;
		break;
	default:
		m->kind = PROFILE_MAP_PENDING;
		break;
	}
	return true;
}

/* Forget that pid's Python degrades (it is gone, or now unwinds). */
static void py_bad_drop(struct unwinder *u, pid_t pid)
{
	for (size_t i = 0; i < u->n_py_bad; i++) {
		if (u->py_bad[i].pid == pid) {
			u->py_bad[i] = u->py_bad[--u->n_py_bad];
			return;
		}
	}
}

/* The note saying why (one per distinct reason, which names the binary),
 * made and logged on first sight; NULL once MAX_PY_NOTES are held. */
static const struct py_note *py_note_get(struct unwinder *u, pid_t pid, int err, const char *why)
{
	uint64_t h = htab_hash_str(HTAB_SEED, why);
	struct py_note *n;

	for (size_t i = 0; i < u->n_py_notes; i++)
		if (u->py_notes[i].hash == h)
			return &u->py_notes[i];
	if (u->n_py_notes == MAX_PY_NOTES)
		return NULL;
	n = &u->py_notes[u->n_py_notes++];
	n->hash = h;
	snprintf(n->code, sizeof(n->code), "%s",
		 err == -ENOTSUP ? "python_unsupported" : "python_no_symbols");
	/* Long paths are cut: the sentence fits one progress notice. */
	snprintf(n->text, sizeof(n->text), "%.480s (pid %d)", why, (int)pid);
	/* The path comes from the profiled container: keep the sentence
	 * printable ASCII, as logs, progress messages and Events want it. */
	for (char *c = n->text; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	n->pub.code = n->code;
	n->pub.text = n->text;
	log_warn(MOD, "%s", n->text);
	return n;
}

/* Keep the process's `py_procs` entry in step with what it maps. A Python
 * that cannot be unwound (unknown version, no symbols) degrades to native
 * frames, and a note says so (unwinder_note_of). */
static void python_entry(struct unwinder *u, pid_t pid, const struct procmaps *maps)
{
	struct profile_py_proc pp;
	const struct py_note *note;
	char why[PATH_MAX + 160];
	int err = pyproc_detect(u->proc_root, pid, maps, &pp, why, sizeof(why));

	py_bad_drop(u, pid);
	if (err == 0) {
		if (sampler_py_set(u->s, (uint32_t)pid, &pp) == 0)
			u->st.py_procs++;
		return;
	}
	sampler_py_delete(u->s, (uint32_t)pid);
	if (!why[0])
		return;
	note = py_note_get(u, pid, err, why);
	if (note && u->n_py_bad < MAX_PY_BAD)
		u->py_bad[u->n_py_bad++] = (struct py_bad){.pid = pid, .note = note};
}

const struct unwinder_note *unwinder_note_of(const struct unwinder *u, pid_t pid)
{
	for (size_t i = 0; u && i < u->n_py_bad; i++)
		if (u->py_bad[i].pid == pid)
			return &u->py_bad[i].note->pub;
	return NULL;
}

/* A new process record (not in the kernel yet), or NULL (full, no memory). */
static struct proc *proc_add(struct unwinder *u, pid_t pid)
{
	struct proc *p;

	if (u->n_procs >= MAX_PROCS)
		return NULL;
	if (arr_grow((void **)&u->procs, &u->cap_procs, u->n_procs + 1, sizeof(*u->procs),
		     MAX_PROCS))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	u->procs[u->n_procs++] = p;
	if (u->on_new)
		u->on_new(u->on_new_ctx, pid);
	return p;
}

int unwinder_add_pid(struct unwinder *u, pid_t pid)
{
	struct profile_proc *e = &u->entry;
	struct procmaps maps = {0};
	struct table **used = NULL;
	struct proc *p;
	size_t n_used = 0, anon = 0;
	char path[PATH_MAX];
	int err;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%d/maps", u->proc_root, (int)pid);
	/* Executable entries only, read in chunks under a byte cap: a process
	 * controls its maps (thousands of mappings, long paths). */
	p = proc_find(u, pid, NULL);
	if (p && p->too_big)
		return -E2BIG;
	err = procmaps_read_exec(path, MAX_MAPS_BYTES, MAX_PROC_MAPS_READ, &maps);
	if (err == -E2BIG) {
		/* Remember the refusal, or every sample's event would read the
		 * same megabytes again. Its frames carry a marker. */
		log_warn(MOD, "pid %d: maps over %u bytes; its stacks are not unwound", (int)pid,
			 MAX_MAPS_BYTES);
		p = p ? p : proc_add(u, pid);
		if (p)
			p->too_big = true;
		return err;
	}
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	used = calloc(PROFILE_MAX_PROC_MAPS, sizeof(*used));
	if (!used) {
		err = -ENOMEM;
		goto cleanup;
	}
	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < maps.n; i++) {
		const struct procmaps_entry *me = &maps.e[i];
		struct profile_exec_map m;
		struct table *t;

		if (!procmaps_is_exec(me))
			continue;
		if (e->n == PROFILE_MAX_PROC_MAPS) {
			/* Past the cap no file is opened: addresses in no entry use
			 * frame pointers. */
			e->flags |= PROFILE_PROC_OVERFLOW;
			anon++;
			continue;
		}
		if (!map_entry(u, pid, me, &m, &t))
			continue;
		/* Adjacent JIT regions share one entry. */
		if (e->n && m.kind == PROFILE_MAP_FP && is_anon_exec(me) &&
		    e->maps[e->n - 1].kind == PROFILE_MAP_FP && e->maps[e->n - 1].end == m.start &&
		    e->maps[e->n - 1].table == 0) {
			e->maps[e->n - 1].end = m.end;
			continue;
		}
		if (e->n == PROFILE_MAX_PROC_MAPS) {
			/* Past the cap, addresses in no entry use frame pointers. */
			e->flags |= PROFILE_PROC_OVERFLOW;
			anon++;
			continue;
		}
		e->maps[e->n++] = m;
		if (t) {
			used[n_used++] = t;
			t->refs++;
		}
	}
	if (anon)
		log_debug(MOD, "pid %d: %zu executable mappings past the cap of %d", (int)pid, anon,
			  PROFILE_MAX_PROC_MAPS);
	if (!p) {
		p = proc_add(u, pid);
		if (!p) {
			err = u->n_procs >= MAX_PROCS ? -ENOSPC : -ENOMEM;
			goto cleanup;
		}
	}
	python_entry(u, pid, &maps);
	/* e->mm stays 0: the BPF program binds the entry to the address space it
	 * first samples, and drops it when that changes (exec). */
	err = sampler_proc_set(u->s, (uint32_t)pid, e);
	if (err == -ENOSPC)
		u->st.procs_full++;
	if (!err && !p->in_kernel) {
		p->in_kernel = true;
		u->st.procs++;
	}
	u->st.proc_updates += err ? 0 : 1;
	proc_release_tables(p);
	p->tables = used;
	p->n_tables = n_used;
	used = NULL;
	n_used = 0;
	p->read_ns = clock_mono_ns();
cleanup:
	for (size_t i = 0; i < n_used; i++)
		used[i]->refs--;
	free(used);
	procmaps_release(&maps);
	return err;
}

void unwinder_forget_pid(struct unwinder *u, pid_t pid)
{
	size_t idx;
	struct proc *p = proc_find(u, pid, &idx);

	if (!p)
		return;
	if (p->in_kernel) {
		sampler_proc_delete(u->s, (uint32_t)pid);
		sampler_py_delete(u->s, (uint32_t)pid);
		u->st.procs--;
	}
	py_bad_drop(u, pid);
	proc_release_tables(p);
	proc_free(p);
	u->procs[idx] = u->procs[--u->n_procs];
}

/* ---- events and cgroups ----------------------------------------------------------- */

static int on_event(void *ctx, uint32_t pid, uint32_t what)
{
	struct unwinder *u = ctx;
	struct proc *p = proc_find(u, (pid_t)pid, NULL);
	int err;

	u->st.events++;
	/* A process that keeps mapping new code is re-read at a bounded rate. */
	if (p && what == PROFILE_EVENT_MAPS && clock_mono_ns() - p->read_ns < MIN_REREAD_NS)
		return 0;
	err = unwinder_add_pid(u, (pid_t)pid);
	if (err && err != -ESRCH && err != -ENOSPC)
		log_debug(MOD, "pid %u: %s", pid, strerror(-err));
	return err == -ENOMEM ? err : 0;
}

static void scan_dir(struct unwinder *u, const char *dir, int depth, size_t *dirs, size_t *pids)
{
	char path[PATH_MAX];
	char line[32];
	DIR *d;
	FILE *f;

	if (++*dirs > MAX_SCAN_DIRS)
		return;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (f) {
		while (*pids < MAX_SCAN_PIDS && fgets(line, sizeof(line), f)) {
			long pid = strtol(line, NULL, 10);

			(*pids)++;
			if (pid > 0 && pid <= INT_MAX && !proc_find(u, (pid_t)pid, NULL))
				unwinder_add_pid(u, (pid_t)pid);
		}
		fclose(f);
	}
	if (depth >= MAX_SCAN_DEPTH)
		return;
	d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		scan_dir(u, path, depth + 1, dirs, pids);
	}
	closedir(d);
}

int unwinder_watch_cgroup(struct unwinder *u, uint64_t cgroup_id, const char *dir)
{
	struct watch *g;
	size_t dirs = 0, pids = 0;

	for (size_t i = 0; i < u->n_watches; i++)
		if (u->watches[i].id == cgroup_id)
			return 0;
	if (u->n_watches >= MAX_WATCH)
		return -ENOSPC;
	g = realloc(u->watches, (u->n_watches + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	u->watches = g;
	g[u->n_watches].id = cgroup_id;
	g[u->n_watches].dir = strdup(dir);
	if (!g[u->n_watches].dir)
		return -ENOMEM;
	u->n_watches++;
	scan_dir(u, dir, 0, &dirs, &pids);
	return 0;
}

void unwinder_unwatch_cgroup(struct unwinder *u, uint64_t cgroup_id)
{
	for (size_t i = 0; i < u->n_watches; i++) {
		if (u->watches[i].id == cgroup_id) {
			free(u->watches[i].dir);
			u->watches[i] = u->watches[--u->n_watches];
			return;
		}
	}
}

/* Forget processes that have exited, so their tables can be evicted. */
static void reap(struct unwinder *u)
{
	char path[64];

	for (size_t i = 0; i < u->n_procs;) {
		pid_t pid = u->procs[i]->pid;

		snprintf(path, sizeof(path), "%s/%d", u->proc_root, (int)pid);
		if (access(path, F_OK) != 0 && errno == ENOENT) {
			unwinder_forget_pid(u, pid); /* moves the last entry to i */
			continue;
		}
		i++;
	}
}

int unwinder_poll_events(struct unwinder *u)
{
	return sampler_proc_events(u->s, false, on_event, u);
}

int unwinder_poll(struct unwinder *u)
{
	int err;

	u->tick++;
	err = sampler_proc_events(u->s, true, on_event, u);
	if (err)
		return err;
	for (size_t i = 0; i < u->n_watches; i++) {
		size_t dirs = 0, pids = 0;

		scan_dir(u, u->watches[i].dir, 0, &dirs, &pids);
	}
	reap(u);
	return 0;
}

void unwinder_stats(const struct unwinder *u, struct unwinder_stats *st)
{
	*st = u->st;
}
