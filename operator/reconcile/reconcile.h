/* SPDX-License-Identifier: Apache-2.0 */
/* reconcile.h -- the ProfilingTarget reconciler.
 *
 * Owns all per-target state: which pods a target's selector matches, which
 * node workers run its job, what they reported, the merged profile and the
 * status written back. It is driven by events only: informer handlers
 * (targets, pods), hub callbacks (workers, progress, profiles), storage
 * completions and deadlines (window end + grace) — never by polling.
 *
 * Life of a target: Pending -> Running (attach on every node with matching
 * pods; pods that appear later are attached as they do) -> window ends on
 * every worker, each sends its profile -> merged, top functions computed,
 * pprof + SVG handed to storage -> Succeeded (or Failed: invalid spec, no pod
 * ever matched, no samples). A node whose worker is missing or disconnects
 * gives a partial result with condition PartialResult=True.
 *
 * Everything it does outside itself goes through struct reconciler_ops, so
 * it runs without a hub, API server or store in unit tests.
 *
 * Threading: main thread only (the hub's loop). Return convention: 0 on
 * success, negative errno on failure.
 */
#ifndef PODPROF_RECONCILE_H
#define PODPROF_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "proto.h"
#include "storage.h"

struct k8s_object_ref;
struct storage_event;

/* What the reconciler does to the world, and its clock: the operator binds
 * these to the hub, the pod informer, storage and the status writer
 * (operator/handlers.c); unit tests bind them to recorders and a fake clock.
 * Every function gets reconciler_config.ops_ctx as ctx. */
struct reconciler_ops {
	/* Workers: is one connected for node; send it an attach or detach. */
	bool (*worker_connected)(void *ctx, const char *node);
	int (*attach)(void *ctx, const char *node, const struct proto_attach *a);
	int (*detach)(void *ctx, const char *node, const char *job_id);
	/* The pod cache: one pod (borrowed, NULL if absent), or each of them. */
	json_object *(*pod_get)(void *ctx, const char *ns, const char *name);
	int (*pod_foreach)(void *ctx, int (*fn)(void *arg, json_object *pod), void *arg);
	/* Storage (both NULL: results stay in status only). store copies data
	 * and reports later through done(ev, arg), on the main thread, as
	 * storage_put_async() does; with render set the object is render(data,
	 * title), made off the main thread (storage_put_rendered_async).
	 * object_url gives key's URL (caller frees). */
	int (*store)(void *ctx, const char *key, const void *data, size_t len,
		     const char *content_type, storage_render_fn render, const char *title,
		     void (*done)(const struct storage_event *ev, void *arg), void *arg);
	int (*object_url)(void *ctx, const char *key, char **out);
	/* Status and Events, written off the loop (status_writer_post/_event). */
	int (*post_status)(void *ctx, const struct k8s_object_ref *ref, json_object *status);
	int (*event)(void *ctx, const struct k8s_object_ref *ref, const char *type,
		     const char *reason, const char *message);
	/* CLOCK_MONOTONIC and wall-clock (UNIX) time, in ms. */
	uint64_t (*mono_ms)(void *ctx);
	int64_t (*wall_ms)(void *ctx);
};

struct reconciler_config {
	const struct reconciler_ops *ops; /* required; see above */
	void *ops_ctx;			  /* ctx of every ops call */
	const char *prefix;		  /* object key prefix; NULL = "" */
	uint32_t grace_ms;		  /* wait after window end for late profiles (0 = 5000) */
	unsigned top_n;			  /* topFunctions length (0 = 10) */
};

struct reconciler;

int reconciler_new(const struct reconciler_config *cfg, struct reconciler **out);
void reconciler_free(struct reconciler *r);

/* Informer handlers (borrowed objects). */
void reconciler_target_upsert(struct reconciler *r, json_object *obj);
/* The target ns/name no longer exists (deleted): detach and forget it. */
void reconciler_target_gone(struct reconciler *r, const char *ns, const char *name);
void reconciler_pod_upsert(struct reconciler *r, json_object *obj);
void reconciler_pod_delete(struct reconciler *r, json_object *obj);

/* Hub callbacks. */
void reconciler_worker_connected(struct reconciler *r, const char *node);
void reconciler_worker_disconnected(struct reconciler *r, const char *node);
void reconciler_progress(struct reconciler *r, const char *node, const struct proto_progress *p);
void reconciler_profile(struct reconciler *r, const char *node, const char *job_id, bool final,
			const uint8_t *data, size_t len);
void reconciler_worker_error(struct reconciler *r, const char *node,
			     const struct proto_error_msg *e);

/* Post the status of every target that changed since the last flush (one
 * write per target however many events changed it). Call after each batch of
 * events. */
void reconciler_flush(struct reconciler *r);

/* k8s_mutate_fn for status_writer_new(): puts a posted status into the
 * object read from the API server, keeping unchanged conditions' times. */
int reconciler_status_mutate(void *arg, json_object *obj, int attempt);

/* Run what is due at CLOCK_MONOTONIC now_ms; returns the next deadline
 * (0 = none). */
uint64_t reconciler_tick(struct reconciler *r, uint64_t now_ms);

/* Prometheus text for /metrics; returns bytes written or negative errno. */
int reconciler_metrics(struct reconciler *r, char *buf, size_t cap);

#endif
