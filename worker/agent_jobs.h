/* SPDX-License-Identifier: Apache-2.0 */
/* agent_jobs.h -- what the worker agent does with attach/detach: sampling jobs.
 *
 * The one place that maps protocol messages onto worker/job.h and
 * worker/cgroup.h, kept apart from the WebSocket code (agent.c) so either can
 * change alone. Knows nothing about libwebsockets: results leave through a
 * sink. Not thread-safe; agent.c calls everything from its lws loop thread.
 *
 * Semantics (docs/protocol.md): an attach carries the full pod set of a job
 * on this node and the time left in its window; a repeated attach for a
 * running job replaces the pod set and the deadline. When the window ends the
 * job's merged profile is sent as one binary message (final flag), then a
 * final progress. Results finished while disconnected wait (capped) and are
 * sent by agent_jobs_flush() after the next welcome.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_AGENT_JOBS_H
#define PODPROF_AGENT_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct agent_jobs;

/* Where results go. Both return 0 when queued for sending, negative errno
 * (e.g. -ENOTCONN) otherwise; the caller keeps the result and retries later. */
struct agent_jobs_sink {
	void *ctx;
	int (*send_msg)(void *ctx, const struct proto_msg *msg);
	int (*send_profile)(void *ctx, const char *job_id, bool final, const void *gz, size_t len);
};

struct agent_jobs_config {
	const char *node;	       /* node label on samples */
	const char *cgroup_root;       /* NULL = cgroup_default_root() */
	const char *proc_root;	       /* NULL = "/proc" */
	const char *const *debug_dirs; /* extra debug file directories */
	size_t n_debug_dirs;
	uint64_t symbol_cache_bytes; /* symbol cache budget; 0 = default */
	uint32_t unload_after_ms;    /* see job_engine_config.unload_after_ms */
	uint32_t progress_ms;	     /* progress interval while running; 0 = 5000 */
	uint64_t max_profile_bytes;  /* operator's cap (from welcome); 0 = default */
};

/* New job set; nothing is loaded until the first attach. cfg strings must
 * outlive it. Free with agent_jobs_free. */
int agent_jobs_new(const struct agent_jobs_config *cfg, const struct agent_jobs_sink *sink,
		   struct agent_jobs **out);

/* Stop every job (results discarded) and free. Accepts NULL. */
void agent_jobs_free(struct agent_jobs *aj);

/* Start the job, or update a running one's pods and deadline. Errors that
 * concern the job are also reported to the operator through the sink. */
int agent_jobs_attach(struct agent_jobs *aj, const struct proto_attach *a);

/* Stop a job without sending a profile. -ENOENT if unknown. */
int agent_jobs_detach(struct agent_jobs *aj, const char *job_id);

/* Call about once a second: drains kernel maps, resolves pods whose cgroups
 * did not exist yet, ends windows, sends progress. */
void agent_jobs_tick(struct agent_jobs *aj);

/* Hand processes the sampler has just met to the unwinder: when the fd of
 * agent_jobs_events_fd polls readable, and with every agent_jobs_tick. */
void agent_jobs_unwind_tick(struct agent_jobs *aj);

/* See job_engine_events_fd: -1 while no BPF object is loaded. */
int agent_jobs_events_fd(const struct agent_jobs *aj, uint64_t *load);

/* Milliseconds until the earliest job window ends (0 if one is due now), or
 * max_ms when no job ends sooner: the agent ticks at that moment, so a window
 * closes on time rather than up to a tick late. */
uint64_t agent_jobs_next_due_ms(const struct agent_jobs *aj, uint64_t max_ms);

/* The link is up (welcome received): send results that waited. */
void agent_jobs_flush(struct agent_jobs *aj);

/* Tell the job set the operator's profile size cap (from welcome). */
void agent_jobs_set_max_profile(struct agent_jobs *aj, uint64_t max_bytes);

/* Jobs currently sampling. */
size_t agent_jobs_running(const struct agent_jobs *aj);

#endif
