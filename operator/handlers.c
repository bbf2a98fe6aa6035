/* SPDX-License-Identifier: Apache-2.0 */
/* handlers.c -- what the informers and the hub report, handed to the
 * reconciler, and the reconciler's ops bound to the hub, informer, storage
 * and status writer; TokenReview authentication of workers; the hub's
 * /metrics, /readyz and /profiles callbacks.
 *
 * Target events only queue the target's key (workqueue); pod and worker
 * events go straight to the reconciler. All on the main thread except
 * operator_tokenreview_auth, which runs on the hub's auth threads and only
 * reads op's constant fields and calls the (thread-safe) API client.
 */
#include "operator_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "k8s_client.h"
#include "k8s_status.h"
#include "log.h"
#include "reconcile.h"
#include "status_writer.h"
#include "workqueue.h"

/* Target events only queue the object's key; several events for one target
 * before the next drain are reconciled once, from the cache's latest copy. */
static void target_queue(struct operator_state *op, json_object *o)
{
	char key[WORKQUEUE_MAX_KEY];

	if (informer_key(o, key, sizeof(key)) == 0)
		workqueue_add(op->queue, key);
}

static void target_added(void *arg, json_object *o)
{
	target_queue(arg, o);
}

static void target_updated(void *arg, json_object *old, json_object *o)
{
	(void)old;
	target_queue(arg, o);
}

static void target_deleted(void *arg, json_object *o)
{
	target_queue(arg, o);
}

void operator_drain_queue(struct operator_state *op)
{
	char *key;

	for (;;) {
		char *slash;
		json_object *obj;

		key = workqueue_pop(op->queue, clock_mono_ms());
		if (!key)
			break;
		slash = strchr(key, '/');
		if (slash) {
			*slash = '\0';
			obj = informer_get(op->targets, key, slash + 1);
			if (obj)
				reconciler_target_upsert(op->rec, obj);
			else
				reconciler_target_gone(op->rec, key, slash + 1);
		}
		free(key);
	}
}

static void pod_added(void *arg, json_object *o)
{
	reconciler_pod_upsert(((struct operator_state *)arg)->rec, o);
}

static void pod_updated(void *arg, json_object *old, json_object *o)
{
	(void)old;
	reconciler_pod_upsert(((struct operator_state *)arg)->rec, o);
}

static void pod_deleted(void *arg, json_object *o)
{
	reconciler_pod_delete(((struct operator_state *)arg)->rec, o);
}

static void worker_connected(void *ctx, const char *node, const char *identity)
{
	log_info(MOD, "worker for node %s connected (%s)", node, identity);
	reconciler_worker_connected(((struct operator_state *)ctx)->rec, node);
}

static void worker_disconnected(void *ctx, const char *node)
{
	log_info(MOD, "worker for node %s disconnected", node);
	reconciler_worker_disconnected(((struct operator_state *)ctx)->rec, node);
}

static void worker_progress(void *ctx, const char *node, const struct proto_progress *p)
{
	reconciler_progress(((struct operator_state *)ctx)->rec, node, p);
}

static void worker_profile(void *ctx, const char *node, const char *job, bool final,
			   const uint8_t *d, size_t len)
{
	reconciler_profile(((struct operator_state *)ctx)->rec, node, job, final, d, len);
}

static void worker_error(void *ctx, const char *node, const struct proto_error_msg *m)
{
	reconciler_worker_error(((struct operator_state *)ctx)->rec, node, m);
}

/* Node of a pod-bound token on API servers older than 1.30 (no node-name
 * extra): the pod named in the token, if its UID still matches, and its
 * spec.nodeName. "" when it cannot be told. */
static void node_of_token_pod(struct operator_state *op, const char *ns,
			      const struct k8s_token_review *tr, char *node, size_t len)
{
	json_object *pod = NULL, *meta, *spec, *v;
	char path[700];

	node[0] = '\0';
	if (!tr->pod_name[0])
		return;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, tr->pod_name);
	if (k8s_get(op->k8s, path, &pod, NULL))
		return;
	/* A pod of the same name re-created elsewhere is not the token's pod. */
	if (tr->pod_uid[0] && (!json_object_object_get_ex(pod, "metadata", &meta) ||
			       !json_object_object_get_ex(meta, "uid", &v) ||
			       strcmp(json_object_get_string(v), tr->pod_uid) != 0))
		goto cleanup;
	if (json_object_object_get_ex(pod, "spec", &spec) &&
	    json_object_object_get_ex(spec, "nodeName", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(node, len, "%s", json_object_get_string(v));
cleanup:
	json_object_put(pod);
}

/* TokenReview authentication, on the hub's auth threads: the token must
 * belong to the worker's ServiceAccount (when one is configured), and names
 * the node it may speak for: the node-name extra of a pod-bound token, else
 * its pod's node. */
int operator_tokenreview_auth(void *ctx, const char *token, struct hub_auth_result *out)
{
	struct operator_state *op = ctx;
	struct k8s_token_review tr;
	char want[300], ns[254], name[254];
	int err;

	err = k8s_token_review(op->k8s, token, op->audience, &tr);
	if (err < 0)
		return err;
	if (!tr.authenticated)
		return -EACCES;
	if (op->worker_sa) {
		snprintf(want, sizeof(want), "system:serviceaccount:%s", op->worker_sa);
		if (strcmp(tr.username, want) != 0) {
			log_warn(MOD, "worker token of %s refused: only %s may connect",
				 tr.username, want);
			return -EACCES;
		}
	}
	snprintf(out->identity, sizeof(out->identity), "%s", tr.username);
	if (tr.node_name[0])
		snprintf(out->node, sizeof(out->node), "%s", tr.node_name);
	else if (k8s_sa_username_split(tr.username, ns, sizeof(ns), name, sizeof(name)) == 0)
		node_of_token_pod(op, ns, &tr, out->node, sizeof(out->node));
	return 0;
}

/* An Event on the Node a worker falsely claimed: visible to whoever watches
 * the cluster, not only in the operator's log. */
static void worker_refused(void *ctx, const char *node, const char *identity, const char *reason)
{
	struct operator_state *op = ctx;
	struct k8s_object_ref ref = {.api_prefix = "/api/v1",
				     .plural = "nodes",
				     .api_version = "v1",
				     .kind = "Node",
				     .name = node};
	char msg[600];

	if (!op->writer)
		return;
	snprintf(msg, sizeof(msg), "podprof worker connection as node %s refused (%s): %s", node,
		 identity, reason);
	status_writer_event(op->writer, &ref, "Warning", "WorkerIdentityMismatch", msg);
}

int operator_metrics(void *ctx, char *buf, size_t cap)
{
	struct operator_state *op = ctx;
	struct informer_stats a, b;
	struct status_writer_stats sw;
	int n = reconciler_metrics(op->rec, buf, cap), m;

	if (n < 0)
		return n;
	informer_get_stats(op->targets, &a);
	informer_get_stats(op->pods, &b);
	status_writer_get_stats(op->writer, &sw);
	m = snprintf(buf + n, cap - (size_t)n,
		     "# HELP podprof_watch_errors_total Failed list/watch requests.\n"
		     "# TYPE podprof_watch_errors_total counter\n"
		     "podprof_watch_errors_total{resource=\"profilingtargets\"} %" PRIu64 "\n"
		     "podprof_watch_errors_total{resource=\"pods\"} %" PRIu64 "\n"
		     "# HELP podprof_relists_total Relists after 410 Gone or bad events.\n"
		     "# TYPE podprof_relists_total counter\n"
		     "podprof_relists_total %" PRIu64 "\n"
		     "# HELP podprof_status_writes_total Status writes that landed.\n"
		     "# TYPE podprof_status_writes_total counter\n"
		     "podprof_status_writes_total %" PRIu64 "\n"
		     "# HELP podprof_status_write_errors_total Failed status/Event API calls.\n"
		     "# TYPE podprof_status_write_errors_total counter\n"
		     "podprof_status_write_errors_total %" PRIu64 "\n"
		     "# HELP podprof_status_coalesced_total Statuses replaced before written.\n"
		     "# TYPE podprof_status_coalesced_total counter\n"
		     "podprof_status_coalesced_total %" PRIu64 "\n",
		     a.errors, b.errors, a.relists_gone + b.relists_gone, sw.writes, sw.errors,
		     sw.coalesced);
	if (m < 0 || (size_t)m >= cap - (size_t)n)
		return -ENOSPC;
	return n + m;
}

/* GET /profiles/<rel_key> (read-only, path already validated by the hub):
 * the object under the configured storage prefix. Runs on a hub read thread;
 * storage_get is safe there (its own curl handle) and gives up on *abort. */
int operator_read_object(void *ctx, const char *rel_key, const volatile sig_atomic_t *abort,
			 void **out, size_t *len)
{
	struct operator_state *op = ctx;
	const char *prefix = storage_prefix(op->store);
	char *key = NULL, *msg = NULL;
	int err;

	if (asprintf(&key, "%s%s%s", prefix, *prefix ? "/" : "", rel_key) < 0)
		return -ENOMEM;
	err = storage_get(op->store, key, HUB_OBJECT_MAX, abort, out, len, &msg);
	if (err && err != -ENOENT)
		log_warn(MOD, "reading %s for /profiles: %s", key, msg ? msg : strerror(-err));
	free(msg);
	free(key);
	return err;
}

bool operator_ready(void *ctx)
{
	struct operator_state *op = ctx;

	if (op->leader && !op->started)
		return false; /* a standby: route no worker here */
	return informer_has_synced(op->targets) && informer_has_synced(op->pods);
}

struct informer_handlers operator_target_handlers(struct operator_state *op)
{
	return (struct informer_handlers){.on_add = target_added,
					  .on_update = target_updated,
					  .on_delete = target_deleted,
					  .arg = op};
}

struct informer_handlers operator_pod_handlers(struct operator_state *op)
{
	return (struct informer_handlers){
	    .on_add = pod_added, .on_update = pod_updated, .on_delete = pod_deleted, .arg = op};
}

struct hub_callbacks operator_hub_callbacks(struct operator_state *op)
{
	return (struct hub_callbacks){.ctx = op,
				      .on_worker_connected = worker_connected,
				      .on_worker_disconnected = worker_disconnected,
				      .on_progress = worker_progress,
				      .on_profile = worker_profile,
				      .on_error = worker_error,
				      .on_worker_refused = worker_refused};
}

/* ---- the reconciler's ops ---------------------------------------------------- */

static bool ops_worker_connected(void *ctx, const char *node)
{
	return hub_worker_connected(((struct operator_state *)ctx)->hub, node);
}

static int ops_attach(void *ctx, const char *node, const struct proto_attach *a)
{
	return hub_send_attach(((struct operator_state *)ctx)->hub, node, a);
}

static int ops_detach(void *ctx, const char *node, const char *job_id)
{
	return hub_send_detach(((struct operator_state *)ctx)->hub, node, job_id);
}

static json_object *ops_pod_get(void *ctx, const char *ns, const char *name)
{
	return informer_get(((struct operator_state *)ctx)->pods, ns, name);
}

static int ops_pod_foreach(void *ctx, int (*fn)(void *arg, json_object *pod), void *arg)
{
	return informer_foreach(((struct operator_state *)ctx)->pods, fn, arg);
}

static int ops_store(void *ctx, const char *key, const void *data, size_t len,
		     const char *content_type, storage_render_fn render, const char *title,
		     storage_done_fn done, void *arg)
{
	struct storage *st = ((struct operator_state *)ctx)->store;

	if (render)
		return storage_put_rendered_async(st, key, data, len, content_type, render, title,
						  done, arg);
	return storage_put_async(st, key, data, len, content_type, done, arg);
}

static int ops_object_url(void *ctx, const char *key, char **out)
{
	return storage_object_url(((struct operator_state *)ctx)->store, key, out);
}

static int ops_post_status(void *ctx, const struct k8s_object_ref *ref, json_object *status)
{
	return status_writer_post(((struct operator_state *)ctx)->writer, ref, status);
}

static int ops_event(void *ctx, const struct k8s_object_ref *ref, const char *type,
		     const char *reason, const char *message)
{
	return status_writer_event(((struct operator_state *)ctx)->writer, ref, type, reason,
				   message);
}

static uint64_t ops_mono_ms(void *ctx)
{
	(void)ctx;
	return clock_mono_ms();
}

static int64_t ops_wall_ms(void *ctx)
{
	(void)ctx;
	return clock_wall_ms();
}

#define OPS_COMMON                                                                                 \
	.worker_connected = ops_worker_connected, .attach = ops_attach, .detach = ops_detach,      \
	.pod_get = ops_pod_get, .pod_foreach = ops_pod_foreach, .post_status = ops_post_status,    \
	.event = ops_event, .mono_ms = ops_mono_ms, .wall_ms = ops_wall_ms

static const struct reconciler_ops ops_with_store = {OPS_COMMON, .store = ops_store,
						     .object_url = ops_object_url};
static const struct reconciler_ops ops_status_only = {OPS_COMMON};

const struct reconciler_ops *operator_reconciler_ops(const struct operator_state *op)
{
	return op->store ? &ops_with_store : &ops_status_only;
}
