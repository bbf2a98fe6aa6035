/* SPDX-License-Identifier: Apache-2.0 */
/* sampler.h -- the worker's only door to libbpf: load profile.bpf.c, attach per-job
 * perf events, fill target maps, drain stack counts.
 *
 * Explicit phases, in order: sampler_open() (parse the embedded object, size
 * maps, write settings) -> sampler_load() (verifier) -> for each job slot
 * sampler_attach_slot() / sampler_target_add() / sampler_drain_slot() /
 * sampler_detach_slot() -> sampler_close(). Nothing is attached between
 * jobs: a slot holds perf events and BPF links only while attached.
 *
 * A low-level module: depends on libbpf, lib/log and worker/kfeatures (whose
 * probes pick the program's paths for this kernel) only; knows nothing of
 * pods, symbols or pprof (worker/job.h builds those on top). Not
 * thread-safe: call from one thread.
 *
 * Return convention: 0 on success, negative errno on failure. Errors that a
 * user can fix are logged with what to do (missing BTF, no permission, no
 * perf events).
 */
#ifndef PODPROF_SAMPLER_H
#define PODPROF_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "profile.h"

struct sampler;

struct sampler_config {
	bool per_thread;	 /* key samples by thread too (tid label) */
	uint32_t stack_entries;	 /* distinct stacks held between drains; 0 = 8192 */
	uint32_t count_entries;	 /* distinct (pid, stack, comm) keys between drains; 0 = 32768 */
	uint32_t target_entries; /* target keys over all jobs; 0 = 4096 */
	uint32_t proc_entries;	 /* processes known to the unwinder; 0 = 1024 */
	uint32_t row_entries;	 /* unwind rows over all tables; 0 = 1 Mi (8 MiB) */
	uint32_t page_entries;	 /* unwind page index entries (4 KiB of code each); 0 = 32 Ki */
	uint64_t kfeatures_off;	 /* KF_BIT()s (kfeatures.h) to treat as absent: their
				  * fallbacks even where the kernel has them (tests) */
	/* Allow off-CPU slots. Their programs (about as much verifier time
	 * again as the CPU ones) and maps load with the first one, next to the
	 * running CPU slots, which go on undisturbed. A kernel without them
	 * (before 5.18, seen in its BTF, or refusing them at load) keeps the
	 * CPU sampler: sampler_offcpu_available() turns false. */
	bool offcpu;
};

/* One aggregated entry handed to the drain callback. Arrays are valid only
 * during the callback. A sample whose stack could not be stored gives
 * n_user == n_kern == 0 and user_err -ENOENT. User frames with
 * PROFILE_FRAME_MARKER set are not addresses but the reason the walk
 * stopped (enum profile_stop_reason in the low byte). */
struct sampler_sample {
	uint32_t pid;		  /* tgid */
	uint32_t tid;		  /* thread id, 0 unless per_thread */
	uint32_t target_kind;	  /* enum profile_target_kind that matched */
	uint64_t target_id;	  /* cgroup id or tgid that matched */
	const char *comm;	  /* NUL-terminated, at most 15 chars */
	const uint64_t *user_ips; /* leaf first */
	size_t n_user;
	int user_err;
	const uint64_t *kern_ips; /* leaf first */
	size_t n_kern;
	int kern_err;
	uint64_t count; /* samples; nanoseconds off CPU for an off-CPU slot */
	uint32_t state; /* off-CPU slot: enum profile_thread_state; else 0 */
};

/* Returns 0 to go on, negative errno to stop the drain with that error. */
typedef int (*sampler_sample_fn)(void *ctx, const struct sampler_sample *smp);

/* Route libbpf's messages into lib/log; with debug, its debug output too. */
void sampler_set_libbpf_debug(bool debug);

/* Check that this kernel can run the sampler at all (BTF present). Logs
 * what is missing. */
int sampler_check_system(void);

/* Phase 1: open the embedded BPF object and apply cfg (NULL = defaults).
 * *out is freed with sampler_close(). */
int sampler_open(struct sampler **out, const struct sampler_config *cfg);

/* Phase 2: load and verify. -EPERM means CAP_BPF/CAP_PERFMON are missing. */
int sampler_load(struct sampler *s);

/* Phase 3, per job: reserve the slot for a job sampling at `hz` (with the
 * kernel-stacks and frame-pointers-only flags in its cookie). No event is
 * open yet: sampler_slot_sample() opens them per target. The slot's drop
 * counters start at 0. -EBUSY if already attached. */
int sampler_attach_slot(struct sampler *s, uint32_t slot, unsigned int hz, bool kernel_stacks,
			bool fp_only);

/* Make an attached slot an off-CPU one: it opens no perf event; instead the
 * sched_switch program (attached while any off-CPU slot exists) counts the
 * nanoseconds its targets' threads spend off CPU, per stack at switch-out
 * and thread state, for blocks of at least min_block_ns. The first such
 * slot loads the off-CPU programs. -EOPNOTSUPP when they are not allowed or
 * this kernel refuses them, -ENOSPC past PROFILE_OFFCPU_MAX_JOBS. The
 * slot stops being one at sampler_detach_slot(). */
int sampler_slot_offcpu(struct sampler *s, uint32_t slot, uint64_t min_block_ns);

/* Whether off-CPU slots may still come: allowed (sampler_config.offcpu)
 * and not refused by this kernel so far. */
bool sampler_offcpu_available(const struct sampler *s);

/* Whether the off-CPU programs are loaded (from the first off-CPU slot on). */
bool sampler_offcpu_loaded(const struct sampler *s);

#define SAMPLER_MAX_CGROUP_SETS 256 /* cgroups with their own events per slot */

/* Open one cpu-clock perf event at the slot's frequency on every online CPU
 * and attach the program to each: with cgroup_id != 0 in cgroup mode on the
 * cgroup v2 directory open at cgroup_fd (events fire only while a task of
 * that cgroup or its descendants runs: unselected tasks pay nothing), with
 * cgroup_id 0 and cgroup_fd -1 for every task (pid targets). Samples still
 * count only for the slot's targets. A no-op if already open; -ENOSPC past
 * SAMPLER_MAX_CGROUP_SETS cgroups; the fd is not kept. */
int sampler_slot_sample(struct sampler *s, uint32_t slot, uint64_t cgroup_id, int cgroup_fd);

/* Close the events opened for cgroup_id (0: the every-task ones). */
void sampler_slot_unsample(struct sampler *s, uint32_t slot, uint64_t cgroup_id);

/* Does the slot have events open for cgroup_id (0: every task)? */
bool sampler_slot_samples(const struct sampler *s, uint32_t slot, uint64_t cgroup_id);

/* Close all the slot's perf events and links (samples stop). Safe on an idle slot. */
void sampler_detach_slot(struct sampler *s, uint32_t slot);

/* Number of perf events currently held by the slot (0 when detached). */
size_t sampler_slot_events(const struct sampler *s, uint32_t slot);

/* Make (kind, id) a target of `slot`, or stop targeting it (its hit count
 * is lost). -ENOSPC when the targets map is full. */
int sampler_target_add(struct sampler *s, uint32_t slot, enum profile_target_kind kind,
		       uint64_t id);
int sampler_target_remove(struct sampler *s, uint32_t slot, enum profile_target_kind kind,
			  uint64_t id);

/* Samples that matched (kind, id) in `slot` since it was added. */
int sampler_target_hits(struct sampler *s, uint32_t slot, enum profile_target_kind kind,
			uint64_t id, uint64_t *hits);

/* Move every count of `slot` out of the kernel (lookup-and-delete) and hand
 * each to fn. Stacks are read from the stack map; they stay there (ids are
 * stable while the object is loaded). */
int sampler_drain_slot(struct sampler *s, uint32_t slot, sampler_sample_fn fn, void *ctx);

/* Sum the slot's per-CPU drop counters into out[PROFILE_DROP__MAX]. */
int sampler_drops(struct sampler *s, uint32_t slot, uint64_t *out);

/* Forget a finished slot: remove all its targets, counts and drop counters
 * so the slot can be reused. The slot must be detached. */
int sampler_clear_slot(struct sampler *s, uint32_t slot);

/* ---- unwinder state (worker/unwinder.c drives these) ----
 * Rows live in one array of sampler_row_capacity() entries; pages index
 * them per table; procs give each process's executable mappings. */
uint32_t sampler_row_capacity(const struct sampler *s);
int sampler_rows_write(struct sampler *s, uint32_t first, const struct profile_unwind_row *rows,
		       size_t n);
int sampler_page_set(struct sampler *s, const struct profile_page_key *k,
		     const struct profile_page *pg);
int sampler_page_delete(struct sampler *s, const struct profile_page_key *k);
/* -ENOSPC when the procs map is full. */
int sampler_proc_set(struct sampler *s, uint32_t pid, const struct profile_proc *p);
int sampler_proc_delete(struct sampler *s, uint32_t pid);
/* CPython processes (`py_procs`): set, delete (absent is fine), read (-ENOENT). */
int sampler_py_set(struct sampler *s, uint32_t pid, const struct profile_py_proc *p);
int sampler_py_delete(struct sampler *s, uint32_t pid);
int sampler_py_get(struct sampler *s, uint32_t pid, struct profile_py_proc *p);

/* Hand pending process events (enum profile_proc_event) to fn and clear them.
 * With all false, only when the wake-up ring says some were queued (no map
 * walk otherwise: cheap enough to call on every wake-up); with all true,
 * every one (once a second, for events whose wake-up did not fit the ring). */
typedef int (*sampler_proc_event_fn)(void *ctx, uint32_t pid, uint32_t event);
int sampler_proc_events(struct sampler *s, bool all, sampler_proc_event_fn fn, void *ctx);

/* An fd that polls readable when the BPF program queued a process event
 * (the wake-up ring's epoll fd), or -1 before sampler_load. Owned by the
 * sampler: valid until sampler_close. */
int sampler_events_fd(const struct sampler *s);

struct sampler_stack_stats {
	size_t cached;		      /* stacks held in user space */
	size_t cached_bytes;	      /* ... and their bytes */
	uint64_t generations_dropped; /* cache generations retired */
	uint64_t lost;		      /* samples whose stored stack was gone when drained */
};
void sampler_stack_stats(const struct sampler *s, struct sampler_stack_stats *st);

/* Detach everything and unload; accepts NULL. */
void sampler_close(struct sampler *s);

#endif
