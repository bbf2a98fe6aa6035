/* SPDX-License-Identifier: Apache-2.0 */
/* profile.bpf.c -- cpu-clock sampler that walks user stacks without frame
 * pointers and counts stacks of target cgroups and processes.
 *
 * Every job attaches its own per-CPU perf events with its slot as the BPF
 * cookie, so several jobs share these programs and their samples stay apart.
 * Kernels before 5.15 have no cookies on perf links: there the slot and its
 * flags are the low bits of the event's sample period (see profile.h).
 * A sample counts only when the interrupted task is a target of that slot:
 * its tgid, or its cgroup v2 ID or any ancestor's (the deepest registered
 * cgroup wins, which lets the worker label samples per container).
 *
 * User stacks are unwound here, not by the kernel's frame-pointer walker:
 * per process, `procs` lists the executable mappings and for each either an
 * unwind table (rows derived by the worker from .eh_frame: CFA = rsp/rbp +
 * offset, saved rbp, return address at CFA - 8) or frame-pointer walking
 * (Go, JIT code). The walk runs PROFILE_FRAMES_PER_RUN frames per program run
 * and continues through tail calls, so it fits the verifier of every kernel
 * we support without bpf_loop. A walk that cannot go on ends with a marker
 * frame that names the reason; it never guesses.
 *
 * Stacks are hashed into `stacks` (a hash map: no bucket collisions as with
 * a stack-trace map) and counts aggregate in `counts`; user space drains
 * both. Nothing is lost silently: failures are counted per slot in `drops`.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "profile.h"

#define EEXIST 17
#define ENOENT 2
#define EFAULT 14

#define PROFILE_FRAMES_PER_RUN 16 /* frames walked by one program run */
#define PROFILE_MAX_RUNS                                                                           \
	((PROFILE_MAX_USER_FRAMES + PROFILE_FRAMES_PER_RUN - 1) / PROFILE_FRAMES_PER_RUN)
#define MAP_SEARCH_STEPS 8		/* log2(PROFILE_MAX_PROC_MAPS) + 1 */
#define USER_ADDR_MAX	 (1ULL << 47)	/* x86_64 user space ends below this */
#define THREAD_SIZE	 (4096ULL << 2) /* x86_64 kernel stack (without KASAN) */
#define PT_REGS_SIZE	 (21 * 8)	/* struct pt_regs on x86_64 */
#define PF_KTHREAD	 0x00200000

char LICENSE[] SEC("license") = "GPL";

/* Settings, written by the sampler between open and load. */
const volatile bool per_thread = false; /* key counts by thread, not only by process */

/* Kernel features, from the worker's probes (worker/kfeatures.c). The
 * verifier sees these constants and never walks the branches they rule out,
 * so an older kernel is not shown a helper it lacks, and a newer one pays
 * nothing for the fallbacks. */
const volatile bool have_cookie = true;		 /* bpf_get_attach_cookie (5.15+) */
const volatile bool have_ancestor_cgroup = true; /* ..._ancestor_cgroup_id in perf_event (6.1+) */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct profile_target_key);
	__type(value, __u64);
} targets SEC(".maps");

/* Written by the worker through the mmapped .bss. slot_gen[s] is bumped after
 * every change of slot s's targets; slot_pid_targets[s] says whether s has
 * any process targets, so slots without them skip that lookup. */
volatile __u32 slot_gen[PROFILE_MAX_SLOTS];
volatile __u32 slot_pid_targets[PROFILE_MAX_SLOTS];

/* The target found for a task's own cgroup, remembered so that steady state
 * costs one lookup instead of an ancestor walk. An entry counts only while
 * its generation is the slot's current one: a target added or removed
 * invalidates every entry of the slot at once, including entries a program
 * still in flight writes after the change. target_id 0: no target. */
struct target_memo_key {
	__u64 cgroup_id;
	__u32 slot;
	__u32 pad;
};

struct target_memo {
	__u32 gen;
	__u32 pad;
	__u64 target_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct target_memo_key);
	__type(value, struct target_memo);
} target_memos SEC(".maps");

/* Each distinct stack once, by hash, until a drain has read it (it is then
 * deleted here and cached in user space). LRU, not a plain hash: a stack met
 * again after its drain is stored again, and when its next drain finds it in
 * the user-space cache nothing deletes this copy, so over a long window with
 * many distinct stacks (every leaf address counts) a plain map filled up and
 * new stacks were lost. Eviction takes the least recently used entries,
 * which are such leftovers; a stack stored since the last drain is only at
 * risk if some 16k newer ones came after it within one drain interval. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct profile_stack);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct profile_count_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_MAX_SLOTS *PROFILE_DROP__MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct profile_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} proc_events SEC(".maps");

/* One record per event newly queued in proc_events: its only use is to wake
 * the worker's event loop (the ring buffer's epoll fd), so new processes are
 * read at once instead of by a timer. Small: when it is full the event still
 * waits in proc_events for the worker's once-a-second walk. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} proc_wake SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 21);
	__type(key, __u32);
	__type(value, struct profile_unwind_row);
} unwind_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 17);
	__type(key, struct profile_page_key);
	__type(value, struct profile_page);
} unwind_pages SEC(".maps");

/* The walk in progress on this CPU (a perf_event program cannot nest on one CPU). */
struct walk {
	__u64 pc, sp, bp;
	__u32 runs;	  /* program runs so far */
	__u32 bp_unknown; /* the caller's rbp could not be recovered */
	__u32 done;
	__u32 native;	   /* native frames processed (the first is the interrupted pc) */
	__u64 py_frame;	   /* next Python frame to emit; 0 when none or not Python */
	__u32 py_emitting; /* emitting the Python frames of the eval call at pc */
	__u32 py_emitted;  /* ... and how many so far */
	__u32 fp_only;	   /* the job walks frame pointers only (from the cookie) */
	struct profile_count_key key;
	struct profile_stack stack;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk);
} walks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct profile_py_proc);
} py_procs SEC(".maps");

/* [0] = unwind_user, put there by the worker after loading (sampler_load):
 * an initial value here would make libbpf fill it also when it loads the
 * off-CPU programs on their own, which leaves unwind_user out. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} progs SEC(".maps");

static __always_inline void count_drop(__u32 slot, __u32 kind)
{
	__u32 idx = slot * PROFILE_DROP__MAX + kind;
	__u64 *v = bpf_map_lookup_elem(&drops, &idx);

	if (v)
		*v += 1; /* per-CPU slot: no other writer */
}

/* Walk the task's cgroup ancestors for a target of `slot`, deepest first: a
 * container cgroup beats its pod's. Levels above the task's own return 0.
 * Level 0 (the root) is never a target. */
static __always_inline __u64 *walk_cgroup_targets(struct profile_target_key *tk)
{
	__u64 *hits;

	for (int lvl = PROFILE_MAX_CGROUP_LEVEL; lvl >= 1; lvl--) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(lvl);

		if (!id)
			continue;
		tk->id = id;
		hits = bpf_map_lookup_elem(&targets, tk);
		if (hits)
			return hits;
	}
	return NULL;
}

/* The task's cgroup v2 (what bpf_get_current_cgroup_id() reads), by CO-RE:
 * for kernels whose perf_event programs lack the ancestor helper. */
static __always_inline struct cgroup *current_cgroup(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, cgroups, dfl_cgrp);
}

/* walk_cgroup_targets() without the ancestor helper (before 6.1): follow
 * cgroup->self.parent from the task's own cgroup up, so the deepest target
 * is found first as there, and read each id (kernfs node id, the cgroup v2
 * ID) by CO-RE. At most PROFILE_MAX_CGROUP_LEVEL levels above the task's
 * own are looked at; the root (level 0) never. */
static __always_inline __u64 *walk_cgroup_parents(struct profile_target_key *tk, struct cgroup *cg)
{
	__u64 *hits;

	for (int i = 0; i < PROFILE_MAX_CGROUP_LEVEL && cg; i++) {
		if (BPF_CORE_READ(cg, level) < 1)
			return NULL;
		tk->id = BPF_CORE_READ(cg, kn, id);
		hits = bpf_map_lookup_elem(&targets, tk);
		if (hits)
			return hits;
		/* self is a cgroup's first member: its css parent is the parent cgroup. */
		cg = (struct cgroup *)((void *)BPF_CORE_READ(cg, self.parent) -
				       bpf_core_field_offset(struct cgroup, self));
	}
	return NULL;
}

/* Find the target this task belongs to for `slot`; NULL if none. */
static __always_inline __u64 *match_target(__u32 slot, __u32 tgid, struct profile_target_key *tk)
{
	struct target_memo_key mk = {};
	struct target_memo m = {}, *mp;
	__u32 s = slot & (PROFILE_MAX_SLOTS - 1), gen;
	struct cgroup *cg = NULL;
	__u64 *hits;

	tk->slot = slot;
	if (slot_pid_targets[s]) {
		tk->kind = PROFILE_TARGET_TGID;
		tk->id = tgid;
		hits = bpf_map_lookup_elem(&targets, tk);
		if (hits)
			return hits;
	}

	/* Read before the walk: a result computed from targets older than
	 * this generation is stored under it and so never used. */
	gen = slot_gen[s];
	tk->kind = PROFILE_TARGET_CGROUP;
	if (have_ancestor_cgroup) {
		mk.cgroup_id = bpf_get_current_cgroup_id();
	} else {
		cg = current_cgroup();
		mk.cgroup_id = BPF_CORE_READ(cg, kn, id);
	}
	mk.slot = slot;
	mp = bpf_map_lookup_elem(&target_memos, &mk);
	if (mp && mp->gen == gen) {
		if (!mp->target_id)
			return NULL;
		tk->id = mp->target_id;
		hits = bpf_map_lookup_elem(&targets, tk);
		if (hits)
			return hits;
	}
	hits = have_ancestor_cgroup ? walk_cgroup_targets(tk) : walk_cgroup_parents(tk, cg);
	m.gen = gen;
	m.target_id = hits ? tk->id : 0;
	bpf_map_update_elem(&target_memos, &mk, &m, BPF_ANY);
	return hits;
}

static __always_inline void proc_event(__u32 pid, __u32 what)
{
	if (bpf_map_update_elem(&proc_events, &pid, &what, BPF_NOEXIST) == 0)
		bpf_ringbuf_output(&proc_wake, &pid, sizeof(pid), 0);
}

/* ---- the walk ------------------------------------------------------------------ */

static __always_inline int push_frame(struct walk *w, __u64 ip)
{
	__u32 i = w->stack.n_kern + w->stack.n_user;

	if (w->stack.n_user >= PROFILE_MAX_USER_FRAMES || i >= PROFILE_MAX_FRAMES)
		return -1;
	w->stack.ips[i] = ip;
	w->stack.n_user++;
	return 0;
}

/* End the walk with a marker frame (replacing the last frame if the stack is full). */
static __always_inline void stop(struct walk *w, __u32 reason)
{
	__u64 i; /* 64-bit: clang then bounds-checks the very register it indexes with */

	w->done = 1;
	if (w->stack.n_user >= PROFILE_MAX_USER_FRAMES)
		w->stack.n_user = PROFILE_MAX_USER_FRAMES - 1;
	i = (__u64)w->stack.n_kern + w->stack.n_user;
	if (i >= PROFILE_MAX_FRAMES)
		return;
	w->stack.ips[i] = PROFILE_FRAME_MARKER | reason;
	w->stack.n_user++;
}

/* The executable mapping that holds pc: binary search, maps sorted by start. */
static __always_inline struct profile_exec_map *find_map(struct profile_proc *p, __u64 pc)
{
	__u32 lo = 0, hi = p->n, mid;

	if (hi > PROFILE_MAX_PROC_MAPS)
		return NULL;
	for (int i = 0; i < MAP_SEARCH_STEPS && lo < hi; i++) {
		/* The mask keeps the index provably in range for the verifier
		 * (PROFILE_MAX_PROC_MAPS is a power of two; mid < hi <= it). */
		mid = ((lo + hi) / 2) & (PROFILE_MAX_PROC_MAPS - 1);
		if (pc < p->maps[mid].start)
			hi = mid;
		else if (pc >= p->maps[mid].end)
			lo = mid + 1;
		else
			return &p->maps[mid];
	}
	return NULL;
}

/* The row in force at rel in table `table`, or NULL. */
static __always_inline struct profile_unwind_row *find_row(__u32 table, __u64 rel)
{
	struct profile_page_key pk = {.table = table, .page = rel >> PROFILE_UNWIND_PAGE_SHIFT};
	struct profile_unwind_row *row, *best = NULL;
	struct profile_page *pg;
	__u32 lo, hi, mid, idx;

	if (rel >> 32)
		return NULL;
	pg = bpf_map_lookup_elem(&unwind_pages, &pk);
	if (!pg || pg->n == 0 || pg->n > PROFILE_UNWIND_PAGE_ROWS)
		return NULL;
	/* Last row with row->pc <= rel in [0, n). */
	lo = 0;
	hi = pg->n;
	for (int i = 0; i < PROFILE_UNWIND_SEARCH_STEPS + 1 && lo < hi; i++) {
		mid = (lo + hi) / 2;
		idx = pg->first + mid;
		row = bpf_map_lookup_elem(&unwind_rows, &idx);
		if (!row)
			return NULL;
		if (row->pc <= (__u32)rel) {
			best = row;
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return best;
}

/* Rows met recently on this CPU, by (table, offset). A return address
 * recurs in sample after sample, and one direct-mapped slot read here saves
 * find_row's page lookup and binary search (about 35 ns a frame). Rows never
 * change while their table ID lives and IDs are not reused, so an entry can
 * only go stale by naming a table that is gone, which no mapping asks for.
 * Each program family has its own memo: the CPU sampler and the off-CPU
 * walk never share per-CPU scratch (see `offcpu_walks`). */
#define ROW_MEMO_SLOTS 512 /* a power of two: 10 KiB per CPU and memo */

struct row_memo {
	__u32 table;
	__u32 rel;
	__u32 valid;
	struct profile_unwind_row row;
};

struct row_memos {
	struct row_memo e[ROW_MEMO_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct row_memos);
} row_memos SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct row_memos);
} offcpu_row_memos SEC(".maps");

/* find_row() through the memo `memos` (one of the two maps above), the row
 * copied to *out; 0, or -1 when there is none. A copy, not a pointer: a
 * pointer into one of two maps would keep the verifier's states of the hit
 * and the miss apart for every following frame. */
static __always_inline int find_row_memo(void *memos, __u32 table, __u64 rel,
					 struct profile_unwind_row *out)
{
	struct profile_unwind_row *row;
	struct row_memos *rm;
	struct row_memo *e = NULL;
	__u32 zero = 0, i;

	if (rel >> 32)
		return -1;
	rm = bpf_map_lookup_elem(memos, &zero);
	if (rm) {
		/* Multiplicative hash; the top bits index the slot. */
		i = (((__u32)rel * 0x9e3779b1u) ^ (table * 0x85ebca6bu)) >> 23;
		e = &rm->e[i & (ROW_MEMO_SLOTS - 1)];
		if (e->valid && e->table == table && e->rel == (__u32)rel) {
			*out = e->row;
			return 0;
		}
	}
	row = find_row(table, rel);
	if (!row)
		return -1;
	*out = *row;
	if (e) {
		e->table = table;
		e->rel = (__u32)rel;
		e->row = *row;
		e->valid = 1;
	}
	return 0;
}

static __always_inline int read_user_u64(__u64 addr, __u64 *out)
{
	if (addr >= USER_ADDR_MAX || addr < 4096)
		return -1;
	return bpf_probe_read_user(out, sizeof(*out), (void *)addr);
}

/* One frame-pointer step: the caller's pc, sp and rbp from the frame record at rbp. */
static __always_inline int fp_step(struct walk *w)
{
	__u64 ra, nbp;

	if (w->bp == 0 || w->bp_unknown)
		return PROFILE_STOP_BAD_FRAME;
	if (w->bp < w->sp)
		return PROFILE_STOP_BAD_FRAME; /* frames grow down: a caller's is above */
	if (read_user_u64(w->bp + 8, &ra) || read_user_u64(w->bp, &nbp))
		return PROFILE_STOP_READ;
	w->sp = w->bp + 16;
	w->bp = nbp;
	w->pc = ra;
	return 0;
}

/* One table step at lookup pc lpc (pc - 1 for return addresses), rows through memos. */
static __always_inline int table_step(struct walk *w, struct profile_exec_map *m, __u64 lpc,
				      void *memos)
{
	struct profile_unwind_row r, *row = &r;
	__u64 cfa, ra, nbp;

	if (find_row_memo(memos, m->table, lpc - m->base, &r))
		return PROFILE_STOP_NO_CFI;
	switch (row->kind) {
	case PROFILE_CFA_RSP:
		cfa = w->sp + row->cfa_off;
		break;
	case PROFILE_CFA_RBP:
		if (w->bp_unknown)
			return PROFILE_STOP_UNSUPPORTED;
		cfa = w->bp + row->cfa_off;
		break;
	case PROFILE_CFA_PLT:
		/* The stub pushes once from byte 11 of its 16-byte entry on. */
		cfa = w->sp + row->cfa_off + ((lpc & 15) >= 11 ? 8 : 0);
		break;
	case PROFILE_CFA_END:
		return -1; /* the process entry: a clean end */
	case PROFILE_CFA_INVALID:
		return PROFILE_STOP_NO_CFI;
	default:
		return PROFILE_STOP_UNSUPPORTED;
	}
	if (cfa <= w->sp && w->native > 1)
		return PROFILE_STOP_BAD_FRAME;
	if (read_user_u64(cfa - 8, &ra))
		return PROFILE_STOP_READ;
	if (row->rbp == PROFILE_RBP_UNKNOWN) {
		w->bp_unknown = 1;
	} else if (row->rbp != PROFILE_RBP_SAME) {
		if (read_user_u64(cfa - 8 * (__u64)row->rbp, &nbp))
			return PROFILE_STOP_READ;
		w->bp = nbp;
		w->bp_unknown = 0;
	}
	w->sp = cfa;
	w->pc = ra;
	return 0;
}

static __always_inline __u64 stack_hash(struct walk *w)
{
	__u64 h = 0xcbf29ce484222325ULL ^ ((__u64)w->stack.n_kern << 32 | w->stack.n_user);
	__u32 n = w->stack.n_kern + w->stack.n_user;

	for (int i = 0; i < PROFILE_MAX_FRAMES; i++) {
		if (i >= n)
			break;
		h ^= w->stack.ips[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	/* 0 and 1 have meanings in a count key (enum profile_stack_hash). */
	return h > PROFILE_STACK_NOT_STORED ? h : h + 2;
}

/* Store the walked stack in `stacks` and put its hash (or what stands for
 * none) in w->key.stack_hash. */
static __always_inline void store_stack(struct walk *w)
{
	__u64 h;

	if (w->stack.n_kern + w->stack.n_user) {
		h = stack_hash(w);
		if (!bpf_map_lookup_elem(&stacks, &h)) {
			if (bpf_map_update_elem(&stacks, &h, &w->stack, BPF_ANY)) {
				count_drop(w->key.slot, PROFILE_DROP_STACK_FULL);
				h = PROFILE_STACK_NOT_STORED;
			}
		}
		w->key.stack_hash = h;
	}
}

/* Add v to the count of key (samples, or nanoseconds off CPU). */
static __always_inline void count_add(struct profile_count_key *key, __u64 v)
{
	__u64 *val;
	int err;

	val = bpf_map_lookup_elem(&counts, key);
	if (val) {
		__sync_fetch_and_add(val, v);
		return;
	}
	err = bpf_map_update_elem(&counts, key, &v, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* Another CPU inserted the same key in between. */
		val = bpf_map_lookup_elem(&counts, key);
		if (val)
			__sync_fetch_and_add(val, v);
	} else if (err) {
		count_drop(key->slot, PROFILE_DROP_COUNTS_FULL);
	}
}

/* Store the stack and count the sample. Not count_add(&w->key, 1): with it,
 * clang's code for profile_sample costs the verifier twice the instructions. */
static __always_inline void finish(struct walk *w)
{
	__u64 *val, one = 1;
	int err;

	store_stack(w);
	val = bpf_map_lookup_elem(&counts, &w->key);
	if (val) {
		__sync_fetch_and_add(val, 1);
		return;
	}
	err = bpf_map_update_elem(&counts, &w->key, &one, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* Another CPU inserted the same key in between. */
		val = bpf_map_lookup_elem(&counts, &w->key);
		if (val)
			__sync_fetch_and_add(val, 1);
	} else if (err) {
		count_drop(w->key.slot, PROFILE_DROP_COUNTS_FULL);
	}
}

/* Frame pointers only (spec.unwinder: framepointer): no process state needed. */
static __always_inline void walk_fp(struct walk *w)
{
	for (int i = 0; i < PROFILE_FRAMES_PER_RUN; i++) {
		if (w->pc == 0 || w->pc >= USER_ADDR_MAX || push_frame(w, w->pc)) {
			if (w->stack.n_user >= PROFILE_MAX_USER_FRAMES)
				stop(w, PROFILE_STOP_DEPTH);
			w->done = 1;
			return;
		}
		if (fp_step(w)) {
			w->done = 1; /* a frame-pointer chain ends with rbp 0 */
			return;
		}
	}
}

/* ---- Python ------------------------------------------------------------------- */

#define PY_MAX_THREADS 64 /* thread states searched for the sampled thread */

static __always_inline int read_user(void *dst, __u32 len, __u64 addr)
{
	if (addr >= USER_ADDR_MAX || addr < 4096)
		return -1;
	return bpf_probe_read_user(dst, len, (void *)addr);
}

/* The sampled thread's current Python frame: its thread state is the one of
 * the main interpreter whose thread_id (pthread_self(), the fs base on
 * x86_64 with glibc and musl) is this thread's. 0 when there is none. */
static __always_inline __u64 py_current_frame(const struct profile_py_proc *pp)
{
	const struct profile_py_offsets *o = &pp->off;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
	__u64 interp, ts, tid, f = 0;

	if (read_user_u64(pp->runtime + o->runtime_interp_head, &interp) ||
	    read_user_u64(interp + o->interp_threads_head, &ts))
		return 0;
	for (int i = 0; i < PY_MAX_THREADS && ts; i++) {
		if (read_user_u64(ts + o->tstate_thread_id, &tid))
			return 0;
		if (tid == fsbase)
			break;
		if (read_user_u64(ts + o->tstate_next, &ts))
			return 0;
	}
	if (!ts || tid != fsbase || read_user_u64(ts + o->tstate_frame, &f))
		return 0;
	if (o->cframe_frame != PROFILE_PY_NONE && read_user_u64(f + o->cframe_frame, &f))
		return 0;
	return f;
}

/* Emit the next Python frame of the eval call being replaced. Returns 1 when
 * a frame was pushed and more of this call may follow, 0 when the call's
 * frames are done (nothing pushed), -1 when the stack is full. */
static __always_inline int py_step(struct walk *w, const struct profile_py_proc *pp)
{
	const struct profile_py_offsets *o = &pp->off;
	__u64 f = w->py_frame, code, back, instr, lasti = 0;
	__u8 owner = 0;
	__s32 li;
	bool last;

	if (!f)
		return 0;
	if (read_user_u64(f + o->frame_back, &back) || read_user_u64(f + o->frame_code, &code))
		goto broken;
	if (o->frame_owner != PROFILE_PY_NONE && read_user(&owner, 1, f + o->frame_owner))
		goto broken;
	if (o->frame_kind == PROFILE_PY_FRAME_OWNER && owner == o->owner_cstack) {
		/* The shim an eval call pushes first: the call's frames are done. */
		w->py_frame = back;
		return 0;
	}
	if (o->frame_kind == PROFILE_PY_FRAME_OBJECT) {
		if (read_user(&li, 4, f + o->frame_lasti))
			goto broken;
		lasti = li > 0 ? li : 0;
	} else {
		if (read_user_u64(f + o->frame_lasti, &instr))
			goto broken;
		if (instr >= code + o->code_adaptive)
			lasti = (instr - code - o->code_adaptive) / 2;
	}
	if (push_frame(w, profile_py_frame(code, lasti)))
		return -1;
	w->py_emitted++;
	w->py_frame = back;
	/* 3.8-3.10: one frame per eval call; 3.11: up to the entry frame. */
	last = o->frame_kind == PROFILE_PY_FRAME_OBJECT ||
	       (o->frame_kind == PROFILE_PY_FRAME_IS_ENTRY && owner);
	return last ? 0 : 1;
broken:
	w->py_frame = 0; /* unreadable chain: native frames from here on */
	return 0;
}

/* Walk up to PROFILE_FRAMES_PER_RUN frames with the process's mappings and
 * unwind tables; returns with w->done set at the end. */
static __always_inline void walk_frames(struct walk *w, void *memos)
{
	struct profile_py_proc *pp;
	struct profile_proc *p;
	__u32 pid = w->key.pid;

	p = bpf_map_lookup_elem(&procs, &pid);
	if (!p) {
		/* Unknown process: the leaf is certain, the rest would be guesswork. */
		push_frame(w, w->pc);
		proc_event(pid, PROFILE_EVENT_NEW);
		stop(w, PROFILE_STOP_NO_PROC);
		return;
	}
	pp = bpf_map_lookup_elem(&py_procs, &pid);
	if (w->runs == 0) {
		w->native = 0;
		w->py_emitting = 0;
		w->py_frame = pp ? py_current_frame(pp) : 0;
	}
	for (int i = 0; i < PROFILE_FRAMES_PER_RUN; i++) {
		struct profile_exec_map *m;
		bool replaced = false;
		__u64 lpc;
		int r;

		if (w->py_emitting) {
			r = pp ? py_step(w, pp) : 0;
			if (r < 0) {
				stop(w, PROFILE_STOP_DEPTH);
				return;
			}
			if (r > 0)
				continue;
			/* This eval call's frames are out: its native frame goes. */
			w->py_emitting = 0;
			replaced = w->py_emitted > 0;
		}
		if (w->pc == 0 || w->pc >= USER_ADDR_MAX) {
			w->done = 1;
			return;
		}
		/* A return address points after the call: look up the call itself. */
		lpc = w->native ? w->pc - 1 : w->pc;
		if (!replaced && pp && w->py_frame && lpc >= pp->eval_start && lpc < pp->eval_end) {
			/* Python frames stand for this eval loop frame, from the next step on. */
			w->py_emitting = 1;
			w->py_emitted = 0;
			continue;
		}
		if (!replaced && push_frame(w, w->pc)) {
			stop(w, PROFILE_STOP_DEPTH);
			return;
		}
		w->native++;
		m = find_map(p, lpc);
		if (!m) {
			if (p->flags & PROFILE_PROC_OVERFLOW) {
				r = fp_step(w);
			} else {
				proc_event(pid, PROFILE_EVENT_MAPS);
				r = PROFILE_STOP_NO_MAPPING;
			}
		} else if (m->kind == PROFILE_MAP_FP) {
			r = fp_step(w);
		} else if (m->kind == PROFILE_MAP_TABLE) {
			r = table_step(w, m, lpc, memos);
		} else {
			r = PROFILE_STOP_NO_TABLE;
		}
		if (r < 0) {
			w->done = 1;
			return;
		}
		if (r > 0) {
			stop(w, r);
			return;
		}
	}
}

/* memos: this program family's row memo (row_memos or offcpu_row_memos). */
static __always_inline void walk(struct walk *w, bool fp_only, void *memos)
{
	if (fp_only)
		walk_fp(w);
	else
		walk_frames(w, memos);
}

/* Go on with the walk in prog_array's program (a tail call: does not return),
 * or end it: done, too deep, or the tail call failed (keep what we have). */
static __always_inline void walk_continue(void *ctx, void *prog_array, struct walk *w)
{
	if (!w->done && w->runs < PROFILE_MAX_RUNS) {
		w->runs++;
		bpf_tail_call(ctx, prog_array, 0);
		stop(w, PROFILE_STOP_DEPTH);
	} else if (!w->done) {
		stop(w, PROFILE_STOP_DEPTH);
	}
}

static __always_inline void continue_or_finish(struct bpf_perf_event_data *ctx, struct walk *w)
{
	if (!w->done && w->runs < PROFILE_MAX_RUNS) {
		w->runs++;
		bpf_tail_call(ctx, &progs, 0);
		/* Tail call failed: keep what we have. */
		stop(w, PROFILE_STOP_DEPTH);
	} else if (!w->done) {
		stop(w, PROFILE_STOP_DEPTH);
	}
	finish(w);
}

SEC("perf_event")
int unwind_user(struct bpf_perf_event_data *ctx)
{
	__u32 zero = 0;
	struct walk *w = bpf_map_lookup_elem(&walks, &zero);

	if (!w)
		return 0;
	walk(w, w->fp_only, &row_memos);
	continue_or_finish(ctx, w);
	return 0;
}

/* The user registers at the time of the sample: the interrupted ones when it
 * hit user mode, else those saved on entry to the kernel. */
static __always_inline int user_regs(struct bpf_perf_event_data *ctx, struct task_struct *task,
				     struct walk *w)
{
	struct pt_regs *regs;
	void *stack;

	if (ctx->regs.ip < USER_ADDR_MAX) {
		w->pc = ctx->regs.ip;
		w->sp = ctx->regs.sp;
		w->bp = ctx->regs.bp;
		return 0;
	}
	stack = BPF_CORE_READ(task, stack);
	if (!stack)
		return -1;
	regs = (struct pt_regs *)((char *)stack + THREAD_SIZE - PT_REGS_SIZE);
	if (bpf_probe_read_kernel(&w->pc, 8, &regs->ip) ||
	    bpf_probe_read_kernel(&w->sp, 8, &regs->sp) ||
	    bpf_probe_read_kernel(&w->bp, 8, &regs->bp))
		return -1;
	return w->pc && w->pc < USER_ADDR_MAX ? 0 : -1;
}

/* The job's slot and flags: the BPF cookie, or where the kernel has none
 * (before 5.15), the same read back from the sample period (profile.h).
 * The period keeps one program for all slots: one program instance per slot
 * would be verified again for every job, and taking the slot from the
 * matched target cannot tell apart two jobs that sample the same cgroup. */
static __always_inline __u64 job_cookie(struct bpf_perf_event_data *ctx)
{
	__u64 p;

	if (have_cookie)
		return bpf_get_attach_cookie(ctx);
	p = ctx->sample_period;
	return (p & PROFILE_PERIOD_SLOT_MASK) |
	       (p & PROFILE_PERIOD_KSTACKS ? PROFILE_COOKIE_KSTACKS : 0) |
	       (p & PROFILE_PERIOD_FP_ONLY ? PROFILE_COOKIE_FP_ONLY : 0);
}

/* Tie the process's known maps to its address space mm, or drop them when
 * an exec has replaced it since they were read. */
static __always_inline void bind_proc_mm(__u32 pid, __u64 mm)
{
	struct profile_proc *p = bpf_map_lookup_elem(&procs, &pid);

	if (p && p->mm != mm) {
		if (p->mm == 0) {
			p->mm = mm; /* first sample since the maps were read */
		} else {
			/* exec replaced the address space: the maps are stale. */
			bpf_map_delete_elem(&procs, &pid);
			proc_event(pid, PROFILE_EVENT_EXEC);
		}
	}
}

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	__u64 cookie = job_cookie(ctx);
	__u32 slot = cookie & PROFILE_COOKIE_SLOT_MASK;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct profile_target_key tk = {};
	struct task_struct *task;
	__u32 zero = 0, pid = pid_tgid >> 32;
	struct walk *w;
	__u64 *hits, mm;
	long n;

	if (slot >= PROFILE_MAX_SLOTS)
		return 0;
	hits = match_target(slot, pid, &tk);
	if (!hits)
		return 0;
	__sync_fetch_and_add(hits, 1);

	w = bpf_map_lookup_elem(&walks, &zero);
	if (!w)
		return 0;
	w->runs = 0;
	w->done = 0;
	w->bp_unknown = 0;
	w->fp_only = (cookie & PROFILE_COOKIE_FP_ONLY) != 0;
	__builtin_memset(&w->key, 0, sizeof(w->key));
	w->key.slot = slot;
	w->key.pid = pid;
	w->key.tid = per_thread ? (__u32)pid_tgid : 0;
	w->key.target_kind = tk.kind;
	w->key.target_id = tk.id;
	bpf_get_current_comm(&w->key.comm, sizeof(w->key.comm));
	w->stack.n_kern = 0;
	w->stack.n_user = 0;

	if (cookie & PROFILE_COOKIE_KSTACKS) {
		n = bpf_get_stack(ctx, w->stack.ips, PROFILE_MAX_KERN_FRAMES * sizeof(__u64), 0);
		if (n > 0)
			w->stack.n_kern = n / sizeof(__u64);
		else if (n < 0 && n != -EFAULT)
			count_drop(slot, PROFILE_DROP_KERN_STACK);
	}

	task = (struct task_struct *)bpf_get_current_task();
	mm = (__u64)BPF_CORE_READ(task, mm);
	if (!mm || (BPF_CORE_READ(task, flags) & PF_KTHREAD)) {
		/* A kernel thread, or a task past exit_mm(): kernel frames only. */
		w->done = 1;
		finish(w);
		return 0;
	}
	if (user_regs(ctx, task, w)) {
		stop(w, PROFILE_STOP_READ);
		finish(w);
		return 0;
	}
	if (!(cookie & PROFILE_COOKIE_FP_ONLY))
		bind_proc_mm(pid, mm);
	/* The walk itself runs in unwind_user only: were it inlined here too,
	 * the verifier would check it twice, doubling the time (about 0.4 s of
	 * CPU on a 2-core machine) every load costs. */
	bpf_tail_call(ctx, &progs, 0); /* runs stays 0: unwind_user starts the walk */
	stop(w, PROFILE_STOP_DEPTH);   /* progs not populated: kernel frames only */
	finish(w);
	return 0;
}

/* ---- off-CPU ----------------------------------------------------------------------
 * On every context switch while an off-CPU job runs: the thread switched in
 * (`next`) has its time off CPU added to the stack it blocked with, when
 * that time reaches the job's threshold; the thread switched out (`prev`,
 * still `current` here) is matched against the jobs' targets and, only if
 * it is one, its stack is walked now, while its user stack still holds what
 * it blocked in, and kept in `offcpu_recs` until it runs again. Unselected
 * threads cost a target match (one memo lookup per job) and nothing else.
 *
 * The walk is the same code as the CPU sampler's; it continues through
 * tail calls into offcpu_unwind, a tracing copy of unwind_user (a program
 * can only tail-call programs of its own type). It has its own per-CPU
 * scratch: a CPU sample taken in NMI while this runs must not clobber it. */

#define TASK_INTERRUPTIBLE   0x1
#define TASK_UNINTERRUPTIBLE 0x2
#define TASK_DEAD	     0x80
#define TASK_NOLOAD	     0x400

/* Written by the worker through the mmapped .bss: see struct profile_offcpu_job. */
volatile struct profile_offcpu_job offcpu_jobs[PROFILE_OFFCPU_MAX_JOBS];

struct offcpu_match {
	__u64 target_id;
	__u64 min_block_ns;
	__u32 slot;
	__u32 target_kind;
};

/* A thread switched out while a target of some off-CPU job. */
struct offcpu_rec {
	__u64 ts;	  /* when it was switched out */
	__u64 stack_hash; /* its stack then, in `stacks` (or enum profile_stack_hash) */
	__u32 pid;
	__u32 state; /* enum profile_thread_state */
	__u32 flags; /* PROFILE_OFFCPU_* of the jobs that matched, or'ed */
	__u32 n;     /* matches[0, n) in use */
	struct offcpu_match matches[PROFILE_OFFCPU_MAX_JOBS];
	char comm[PROFILE_COMM_LEN];
};

/* Keyed by thread id. LRU: a thread that exits while switched out (it never
 * comes back) must not hold its entry forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct offcpu_rec);
} offcpu_recs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk);
} offcpu_walks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct offcpu_rec);
} offcpu_pending SEC(".maps");

/* [0] = offcpu_unwind, put there by the worker when it loads the off-CPU
 * programs (offcpu_load in worker/sampler.c). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} offcpu_progs SEC(".maps");

/* Why prev leaves the CPU. prev_state is what __schedule() read, so a
 * wakeup racing with the switch cannot blur it. */
static __always_inline __u32 offcpu_state(bool preempt, unsigned int prev_state)
{
	if (preempt || prev_state == 0)
		return PROFILE_STATE_RUNNABLE; /* still on the run queue: preempted or throttled */
	if (prev_state & TASK_UNINTERRUPTIBLE)
		/* TASK_IDLE (NOLOAD) is a kernel thread's idle wait, not I/O. */
		return prev_state & TASK_NOLOAD ? PROFILE_STATE_SLEEPING
						: PROFILE_STATE_UNINTERRUPTIBLE;
	if (prev_state & TASK_INTERRUPTIBLE)
		return PROFILE_STATE_SLEEPING;
	return PROFILE_STATE_OTHER;
}

/* next runs again: count its time off CPU for each job it matched. */
static __always_inline void offcpu_switch_in(struct task_struct *next)
{
	struct profile_count_key key = {};
	struct offcpu_rec *r;
	__u32 tid = next->pid;
	__u64 delta;

	r = bpf_map_lookup_elem(&offcpu_recs, &tid);
	if (!r)
		return;
	delta = bpf_ktime_get_ns() - r->ts;
	key.pid = r->pid;
	key.tid = per_thread ? tid : 0;
	key.stack_hash = r->stack_hash;
	key.state = r->state;
	__builtin_memcpy(key.comm, r->comm, sizeof(key.comm));
	for (int i = 0; i < PROFILE_OFFCPU_MAX_JOBS; i++) {
		struct offcpu_match *m = &r->matches[i];

		if (i >= r->n)
			break;
		if (delta < m->min_block_ns)
			continue;
		key.slot = m->slot;
		key.target_kind = m->target_kind;
		key.target_id = m->target_id;
		count_add(&key, delta);
	}
	bpf_map_delete_elem(&offcpu_recs, &tid);
}

/* The walk is over: keep the record until the thread runs again. */
static __always_inline void offcpu_finish(struct walk *w, struct offcpu_rec *rec)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	store_stack(w);
	rec->stack_hash = w->key.stack_hash;
	bpf_map_update_elem(&offcpu_recs, &tid, rec, BPF_ANY);
}

/* prev (current) leaves the CPU: if it is a target of an off-CPU job, walk
 * its stack and record it; its user registers are the ones saved on entry
 * to the kernel. */
static __always_inline void offcpu_switch_out(void *ctx, struct task_struct *prev, __u32 state)
{
	struct profile_target_key tk = {};
	struct offcpu_rec *rec;
	__u32 zero = 0, pid = prev->tgid, nmatch = 0;
	struct pt_regs *regs;
	struct walk *w;
	__u64 *hits, mm;
	long n;

	if (prev->flags & PF_KTHREAD)
		return; /* in no pod; and without a user stack */
	rec = bpf_map_lookup_elem(&offcpu_pending, &zero);
	w = bpf_map_lookup_elem(&offcpu_walks, &zero);
	if (!rec || !w)
		return;
	rec->flags = 0;
	for (int i = 0; i < PROFILE_OFFCPU_MAX_JOBS; i++) {
		__u32 sp1 = offcpu_jobs[i].slot_plus1;
		struct offcpu_match *m;

		if (sp1 == 0 || sp1 > PROFILE_MAX_SLOTS)
			continue;
		hits = match_target(sp1 - 1, pid, &tk);
		if (!hits)
			continue;
		__sync_fetch_and_add(hits, 1);
		/* The mask keeps the index provably in range (n <= i < MAX, a power of two). */
		m = &rec->matches[nmatch & (PROFILE_OFFCPU_MAX_JOBS - 1)];
		m->slot = sp1 - 1;
		m->target_kind = tk.kind;
		m->target_id = tk.id;
		m->min_block_ns = offcpu_jobs[i].min_block_ns;
		rec->flags |= offcpu_jobs[i].flags;
		nmatch++;
	}
	rec->n = nmatch;
	if (rec->n == 0)
		return;
	rec->ts = bpf_ktime_get_ns();
	rec->pid = pid;
	rec->state = state;
	rec->stack_hash = PROFILE_STACK_NONE;
	bpf_get_current_comm(&rec->comm, sizeof(rec->comm));

	w->runs = 0;
	w->done = 0;
	w->bp_unknown = 0;
	__builtin_memset(&w->key, 0, sizeof(w->key));
	w->key.slot = rec->matches[0].slot; /* drops of the walk count for the first job */
	w->key.pid = pid;
	w->stack.n_kern = 0;
	w->stack.n_user = 0;
	if (rec->flags & PROFILE_OFFCPU_KSTACKS) {
		n = bpf_get_stack(ctx, w->stack.ips, PROFILE_MAX_KERN_FRAMES * sizeof(__u64), 0);
		if (n > 0)
			w->stack.n_kern = n / sizeof(__u64);
		else if (n < 0)
			count_drop(w->key.slot, PROFILE_DROP_KERN_STACK);
	}
	mm = (__u64)prev->mm;
	regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (!mm || !regs) {
		w->done = 1; /* past exit_mm(): kernel frames only */
		offcpu_finish(w, rec);
		return;
	}
	w->pc = BPF_CORE_READ(regs, ip);
	w->sp = BPF_CORE_READ(regs, sp);
	w->bp = BPF_CORE_READ(regs, bp);
	if (w->pc == 0 || w->pc >= USER_ADDR_MAX) {
		stop(w, PROFILE_STOP_READ);
		offcpu_finish(w, rec);
		return;
	}
	if (!(rec->flags & PROFILE_OFFCPU_FP_ONLY))
		bind_proc_mm(pid, mm);
	bpf_tail_call(ctx, &offcpu_progs, 0); /* runs stays 0: offcpu_unwind starts the walk */
	stop(w, PROFILE_STOP_DEPTH);
	offcpu_finish(w, rec);
}

/* Never attached: only reached by tail calls from offcpu_switch (a tp_btf
 * program of the same hook, so the kernel accepts the call). */
SEC("tp_btf/sched_switch")
int offcpu_unwind(void *ctx)
{
	__u32 zero = 0;
	struct walk *w = bpf_map_lookup_elem(&offcpu_walks, &zero);
	struct offcpu_rec *rec = bpf_map_lookup_elem(&offcpu_pending, &zero);

	if (!w || !rec)
		return 0;
	walk(w, rec->flags & PROFILE_OFFCPU_FP_ONLY, &offcpu_row_memos);
	walk_continue(ctx, &offcpu_progs, w);
	offcpu_finish(w, rec);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(offcpu_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	offcpu_switch_in(next);
	if (prev_state & TASK_DEAD)
		return 0; /* exiting: it never comes back */
	offcpu_switch_out(ctx, prev, offcpu_state(preempt, prev_state));
	return 0;
}
