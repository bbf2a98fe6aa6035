/* SPDX-License-Identifier: Apache-2.0 */
/* job.h -- profiling jobs: sample a set of cgroups/processes and turn it into pprof.
 *
 * A job engine owns the BPF sampler, the symbolizer and its symbol cache
 * (which outlives the symbolizer: binaries stay loaded from one job to the
 * next, within its budget) and runs up to
 * PROFILE_MAX_SLOTS jobs at once, each with its own frequency, kernel-stack
 * flag and targets; samples of different jobs never mix. The BPF object is
 * loaded when the first job starts and unloaded when the last one stops (or
 * unload_after_ms later), so an idle worker holds no BPF program, map or
 * perf event; a lingering one holds no perf event.
 *
 * Typical use (the `record` command and the agent do exactly this):
 *   job_engine_new(&e, NULL);
 *   job_start(e, &(struct job_params){.id = "t1", .hz = 99}, &j);
 *   job_add_cgroup(j, cgroup_id, dir, &labels); // any time while running
 *   every ~1 s: job_poll(j);                   // drain kernel maps, note new pids
 *   job_collect(j, &gz, &len, &stats);         // the window so far, as gzip pprof
 *   job_stop(j); job_engine_free(e);
 *
 * Builds on worker/sampler.h (libbpf), worker/symbolize.h and lib/pprof.h.
 * Not thread-safe: call everything from one thread.
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_JOB_H
#define PODPROF_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pprof.h"
#include "profile.h"
#include "symcache.h"
#include "unwinder.h"

#define JOB_MIN_HZ	1
#define JOB_MAX_HZ	1000
#define JOB_MAX_NOTICES 8 /* notices kept per job; later ones are dropped */

struct job_engine;
struct job;

struct job_engine_config {
	const char *proc_root;	       /* where /proc is; NULL = "/proc" */
	const char *node_name;	       /* "node" label on every sample; NULL = none */
	bool per_thread;	       /* add a "tid" label (more distinct keys) */
	const char *const *debug_dirs; /* extra debug file dirs; must outlive the engine */
	size_t n_debug_dirs;
	uint64_t symbol_cache_bytes; /* budget of the symbol cache; 0 = SYMCACHE_DEFAULT_BYTES */
	/* Keep the BPF object loaded (no perf event attached: idle CPUs pay
	 * nothing) this long after the last job stops, so that the next
	 * window, e.g. of a schedule, skips the verifier's second or so of
	 * CPU; job_engine_tick() unloads it then. 0 = unload at once. */
	uint32_t unload_after_ms;
	/* Kernel features (KF_BIT() of worker/kfeatures.h) to treat as absent:
	 * the sampler takes their fallbacks even where the kernel has them.
	 * 0 in the product; tests use it to run the older kernels' paths here. */
	uint64_t kfeatures_off;
	/* Allow jobs with job_params.offcpu. Their BPF programs load with the
	 * first such job, beside the running CPU jobs (sampler_config.offcpu),
	 * so an engine that only ever runs CPU jobs never pays for them. */
	bool offcpu;
};

/* Labels attached to every sample of one cgroup target; any may be NULL. */
struct job_labels {
	const char *pod;
	const char *namespace;
	const char *container;
};

struct job_params {
	const char *id;	    /* caller's name for the job (copied), e.g. target UID */
	unsigned int hz;    /* JOB_MIN_HZ..JOB_MAX_HZ */
	bool kernel_stacks; /* also record kernel stacks */
	bool fp_only;	    /* walk user stacks by frame pointers only (no unwind tables) */
	/* Off CPU: weigh each stack by the nanoseconds its threads spent
	 * switched out (blocked, or runnable but not running), from blocks of
	 * at least min_block_ns; hz is ignored. Needs the engine's offcpu. */
	bool offcpu;
	uint64_t min_block_ns;
};

struct job_cgroup_stat {
	uint64_t cgroup_id;
	uint64_t samples; /* samples that matched this cgroup in the window */
};

/* Something the job's user should know about its processes that is not an
 * error (struct unwinder_note, copied). */
struct job_notice {
	char code[24];
	char text[UNWINDER_NOTE_MAX];
};

/* Per-window numbers, filled by job_collect()/job_take_profile(). */
struct job_stats {
	int64_t samples; /* samples in the profile; off CPU: switch-outs of targets matched */
	uint64_t drops[PROFILE_DROP__MAX]; /* see enum profile_drop_kind; [COUNTS_FULL] were lost */
	struct job_cgroup_stat *cgroups;   /* one per cgroup target; owned, job_stats_release() */
	size_t n_cgroups;
	int64_t duration_ns;		   /* window length */
	uint64_t stops[PROFILE_STOP__MAX]; /* samples whose user stack ended early, per reason */
	struct unwinder_stats unwind;	   /* the engine's unwinder at collection time */
	struct symcache_stats symbols; /* the engine's symbol cache (totals since it was made) */
	uint64_t py_code_reads;	       /* Python code objects read (engine total) */
	uint64_t py_code_read_ns;      /* ... and the time spent reading them */
};

/* New idle engine (nothing loaded). cfg may be NULL. Free with job_engine_free(). */
int job_engine_new(struct job_engine **out, const struct job_engine_config *cfg);

/* Stop every job still running, unload, free. Accepts NULL. */
void job_engine_free(struct job_engine *e);

/* Learn the processes the BPF program has just met (new, exec'd, new
 * mappings) so their stacks unwind fully, and unload BPF once it has been
 * unused for unload_after_ms: call whenever job_engine_events_fd polls
 * readable and about once a second besides, also while no job runs. Cheap
 * when nothing happened; a no-op while idle. */
int job_engine_tick(struct job_engine *e);

/* The fd that polls readable when the BPF program has met processes
 * (sampler_events_fd), or -1 while nothing is loaded. *load (may be NULL)
 * is set to a count that changes with every load, so a caller that watches
 * the fd can tell a new one that happens to reuse the number. */
int job_engine_events_fd(const struct job_engine *e, uint64_t *load);

/* Jobs running now; 0 means no perf event is attached. */
size_t job_engine_running(const struct job_engine *e);

/* Whether the BPF object is loaded (while jobs run, and for unload_after_ms
 * after the last one stopped). */
bool job_engine_loaded(const struct job_engine *e);

/* Start sampling: loads BPF if this is the first job, attaches perf events on
 * every online CPU. The job has no targets yet (it samples nothing until
 * job_add_cgroup/job_add_pid). -EBUSY when all slots are in use, -EPERM
 * without CAP_BPF/CAP_PERFMON. *out is released by job_stop(). */
int job_start(struct job_engine *e, const struct job_params *p, struct job **out);

/* Add a cgroup v2 ID (its descendants count too) with optional labels
 * (copied), or remove one. Adding an existing cgroup updates its labels.
 * dir (may be NULL) is its directory: its processes are handed to the
 * unwinder before they are first sampled, and on every poll. */
int job_add_cgroup(struct job *j, uint64_t cgroup_id, const char *dir,
		   const struct job_labels *labels);
int job_remove_cgroup(struct job *j, uint64_t cgroup_id);

/* Add a process (all its threads) as a target. */
int job_add_pid(struct job *j, pid_t pid);

/* Move samples out of the kernel into the job's current window, snapshotting
 * the memory maps of pids seen for the first time. Call about once a second
 * so that maps of short-lived processes are caught. */
int job_poll(struct job *j);

/* End the current window: poll, then hand over its profile (*out, free with
 * pprof_builder_free) and stats (st may be NULL; else job_stats_release()).
 * A new window starts at once; the job keeps running. */
int job_take_profile(struct job *j, struct pprof_builder **out, struct job_stats *st);

/* Same as job_take_profile, encoded as gzip pprof (*data malloc'd, caller frees). */
int job_collect(struct job *j, void **data, size_t *len, struct job_stats *st);

void job_stats_release(struct job_stats *st);

/* The "state" label of an off-CPU sample (enum profile_thread_state):
 * runnable, sleeping, uninterruptible, other. */
const char *job_state_name(uint32_t state);

/* The frame name that stands for a walk that stopped (enum profile_stop_reason). */
const char *job_stop_reason_frame(uint32_t why);

const char *job_id(const struct job *j);

/* The job's notices so far (*n of them, each said once per job, in the
 * order first seen), valid until job_stop. */
const struct job_notice *job_notices(const struct job *j, size_t *n);

/* Detach and forget the job (samples not collected are discarded); unloads
 * BPF when it was the last job. Accepts NULL. */
void job_stop(struct job *j);

#endif
