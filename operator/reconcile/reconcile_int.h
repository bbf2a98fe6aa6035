/* SPDX-License-Identifier: Apache-2.0 */
/* reconcile_int.h -- state shared by reconcile.c and reconcile_status.c.
 *
 * Private to the reconciler: the per-target, per-node and per-pod records and
 * the helpers that turn them into status, Events and the topFunctions list.
 */
#ifndef PODPROF_RECONCILE_INT_H
#define PODPROF_RECONCILE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "htab.h"
#include "json_path.h"
#include "k8s_status.h"
#include "proto.h"
#include "reconcile.h"
#include "spec.h"

#define MOD	  "reconcile"
#define PT_PREFIX "/apis/podprof.dev/v1alpha1"

struct pprof_builder;

/* PHASE_WAITING: continuous mode between two windows (shown as Running). */
enum target_phase {
	PHASE_PENDING,
	PHASE_RUNNING,
	PHASE_COLLECTING,
	PHASE_SUCCEEDED,
	PHASE_FAILED,
	PHASE_WAITING
};

extern const char *const rc_phase_names[];

enum node_state { NODE_WAITING, NODE_ATTACHED, NODE_DONE, NODE_LOST };

extern const char *const rc_node_state_names[];

struct target_node {
	char *name;
	enum node_state state;
	uint64_t samples;
	uint64_t drops;
	uint64_t truncated; /* samples whose user stack ended early */
	bool ever_lost;	    /* disconnected at least once mid-window */
	bool got_final;	    /* the final profile is in: later ones are dropped */
	unsigned partials;  /* non-final profiles merged (capped) */
	char message[160];
	uint64_t notices[PROTO_MAX_NOTICES]; /* hashes of the worker's notices seen */
	size_t n_notices;
	char notice[256]; /* the first one, shown while no other message is */
	uint32_t *pod_ix; /* positions in target.pods of the pods on this node */
	size_t n_pod_ix, pod_ix_cap;
};

struct target_pod {
	char uid[PROTO_MAX_UID_LEN + 1];
	char *name;
	char *node;
	uint64_t samples;
};

struct upload {
	struct reconciler *r;
	char uid[PROTO_MAX_UID_LEN + 1];
	bool svg;
	struct upload *next;
};

struct target {
	char ns[PROTO_MAX_NS_LEN + 1];
	char *name;
	char uid[PROTO_MAX_UID_LEN + 1];
	int64_t generation;
	char job_id[PROTO_MAX_JOB_ID_LEN + 1];
	struct target_spec spec;
	bool spec_ok;
	enum target_phase phase;
	char start_time[32];
	char completion_time[32];
	int64_t start_unix_ms;
	uint64_t end_ms; /* monotonic: window end */
	struct target_node *nodes;
	size_t nnodes, nodes_cap;
	struct target_pod *pods;
	size_t npods, pods_cap;
	/* Name -> position in nodes, uid -> position in pods: a window over
	 * 5,000 nodes is set up and fed without scanning them per lookup. */
	struct htab node_index, pod_index;
	struct pprof_builder *merged;
	int64_t profile_samples; /* from merged profiles */
	json_object *top;	 /* topFunctions array, owned */
	char *url, *svg_url;
	size_t size_bytes;
	char upload_state[24]; /* "", Uploading, Uploaded, Spooled, Failed */
	char upload_msg[1024];
	char message[256];
	char fail_reason[48];
	bool status_dirty;	  /* changed since the last reconciler_flush() */
	unsigned windows_done;	  /* windows completed (continuous mode counts them) */
	uint64_t window_start_ms; /* monotonic start of the current window */
	uint64_t next_window_ms;  /* monotonic start of the next window (PHASE_WAITING) */
	struct target *next;
};

struct reconciler {
	struct reconciler_config cfg;
	struct target *targets;
	struct upload *uploads;
	uint64_t samples_received;
	uint64_t profiles_received;
	uint64_t profiles_dropped;
	uint64_t api_errors;
	uint64_t attaches_sent;
};

/* ---- JSON field access (borrowed results; lib/json_path.h) ---- */

static inline const char *jstr(json_object *o, const char *k1, const char *k2)
{
	return json_path_str(o, k1, k2, (const char *)NULL);
}

static inline int64_t jint(json_object *o, const char *k1, const char *k2)
{
	return json_path_int(o, k1, k2, (const char *)NULL);
}

static inline json_object *jget(json_object *o, const char *k1, const char *k2)
{
	return json_path(o, k1, k2, (const char *)NULL);
}

static inline void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- shared between reconcile.c and reconcile_workers.c ---- */

/* The reconciler's clocks (reconciler_ops). */
static inline uint64_t rc_mono_ms(struct reconciler *r)
{
	return r->cfg.ops->mono_ms(r->cfg.ops_ctx);
}

static inline int64_t rc_wall_ms(struct reconciler *r)
{
	return r->cfg.ops->wall_ms(r->cfg.ops_ctx);
}

/* Lookups; NULL when absent. */
struct target *rc_find_target(struct reconciler *r, const char *uid);
struct target *rc_find_job(struct reconciler *r, const char *job_id);
struct target_node *rc_find_node(struct target *t, const char *node);
struct target_pod *rc_find_pod(struct target *t, const char *uid);

/* Send t's attach to node n's worker (when connected) with t's pods there. */
void rc_attach_node(struct reconciler *r, struct target *t, struct target_node *n);

/* A window is open or being collected. */
bool rc_is_active(const struct target *t);

/* Tell every attached worker to stop t's job. */
void rc_detach_all(struct reconciler *r, struct target *t);

/* End t's window as failed (continuous targets wait for the next one). */
void rc_window_failed(struct reconciler *r, struct target *t, const char *reason, const char *msg);

/* Continuous mode: plan the next window; false when there is none. */
bool rc_schedule_next(struct reconciler *r, struct target *t);

/* reconcile_workers.c: merge what arrived, compute the result, store it. */
void rc_finalize_target(struct reconciler *r, struct target *t);

/* reconcile_workers.c: finalize t once every worker delivered or the grace
 * period is over. */
void rc_maybe_finalize(struct reconciler *r, struct target *t);

/* ---- status, Events, top functions (reconcile_status.c) ---- */

/* Identify t for the status subresource and Events. */
void rc_ref_of(const struct target *t, struct k8s_object_ref *ref);

/* Record a Kubernetes Event about t; failures only count as API errors. */
void rc_emit_event(struct reconciler *r, struct target *t, const char *type, const char *reason,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Samples of t: from the merged profile once final, else the workers' progress. */
uint64_t rc_total_samples(const struct target *t);

/* True when some node did not deliver a complete profile; why names them. */
bool rc_partial(const struct target *t, char *why, size_t cap);

/* Mark t's status for the next reconciler_flush(), which hands it to the
 * status writer thread (conflict retry, retried while the API is down). */
void rc_write_status(struct reconciler *r, struct target *t);

/* The top n functions of b as the status topFunctions array (new
 * reference), or NULL when b holds no samples. */
json_object *rc_top_json(struct pprof_builder *b, unsigned n);

#endif
