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
 * A low-level module: depends on libbpf and lib/log only; knows nothing of
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
	uint32_t stack_entries;	 /* stack map buckets; 0 = default 16384 */
	uint32_t count_entries;	 /* distinct (pid, stacks, comm) keys between drains; 0 = 65536 */
	uint32_t target_entries; /* target keys over all jobs; 0 = 4096 */
};

/* One aggregated entry handed to the drain callback. Arrays are valid only
 * during the callback. Stack ids that failed give n == 0 and err < 0
 * (-ENOENT for a kernel stack nobody asked for). */
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
	uint64_t count; /* samples */
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

/* Phase 3, per job: open one cpu-clock perf event at `hz` on every online CPU
 * and attach the program with the slot (and the kernel-stacks flag) as its
 * cookie. The slot's drop counters start at 0. -EBUSY if already attached. */
int sampler_attach_slot(struct sampler *s, uint32_t slot, unsigned int hz, bool kernel_stacks);

/* Close the slot's perf events and links (samples stop). Safe on an idle slot. */
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

/* Detach everything and unload; accepts NULL. */
void sampler_close(struct sampler *s);

#endif
