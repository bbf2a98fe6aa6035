/* SPDX-License-Identifier: Apache-2.0 */
/* reconcile.c -- ProfilingTarget reconciliation: pods -> nodes -> jobs -> status. */
#include "reconcile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arr.h"
#include "flamegraph.h"
#include "k8s_status.h"
#include "log.h"
#include "pprof.h"
#include "selector.h"
#include "spec.h"
#include "storage.h"
#include "reconcile_int.h"

/* ---- small helpers ------------------------------------------------------- */

struct target *rc_find_target(struct reconciler *r, const char *uid)
{
	for (struct target *t = r->targets; t; t = t->next)
		if (strcmp(t->uid, uid) == 0)
			return t;
	return NULL;
}

struct target *rc_find_job(struct reconciler *r, const char *job_id)
{
	for (struct target *t = r->targets; t; t = t->next)
		if (strcmp(t->job_id, job_id) == 0)
			return t;
	return NULL;
}

static bool node_eq(const void *ctx, uint32_t pos, const void *key)
{
	return strcmp(((const struct target *)ctx)->nodes[pos].name, key) == 0;
}

static bool pod_eq(const void *ctx, uint32_t pos, const void *key)
{
	return strcmp(((const struct target *)ctx)->pods[pos].uid, key) == 0;
}

struct target_node *rc_find_node(struct target *t, const char *node)
{
	uint32_t pos;

	if (!htab_find(&t->node_index, htab_hash_str(HTAB_SEED, node), node_eq, t, node, &pos))
		return NULL;
	return &t->nodes[pos];
}

static struct target_node *add_node(struct target *t, const char *node)
{
	struct target_node *n = rc_find_node(t, node);

	if (n)
		return n;
	if (t->nnodes >= UINT32_MAX ||
	    arr_grow((void **)&t->nodes, &t->nodes_cap, t->nnodes + 1, sizeof(*n), UINT32_MAX))
		return NULL;
	n = &t->nodes[t->nnodes];
	memset(n, 0, sizeof(*n));
	n->name = strdup(node);
	if (!n->name ||
	    htab_insert(&t->node_index, htab_hash_str(HTAB_SEED, node), (uint32_t)t->nnodes)) {
		free(n->name);
		n->name = NULL;
		return NULL;
	}
	t->nnodes++;
	return n;
}

struct target_pod *rc_find_pod(struct target *t, const char *uid)
{
	uint32_t pos;

	if (!htab_find(&t->pod_index, htab_hash_str(HTAB_SEED, uid), pod_eq, t, uid, &pos))
		return NULL;
	return &t->pods[pos];
}

bool rc_is_active(const struct target *t)
{
	return t->phase == PHASE_RUNNING || t->phase == PHASE_COLLECTING;
}

/* ---- status ----------------------------------------------------------------- */

/* ---- pods ------------------------------------------------------------------- */

static bool pod_running(json_object *pod)
{
	const char *phase = jstr(pod, "status", "phase");
	const char *node = jstr(pod, "spec", "nodeName");

	return phase && strcmp(phase, "Running") == 0 && node && *node &&
	       !jget(pod, "metadata", "deletionTimestamp");
}

/* Fill a proto_pod from a Pod object with the containers the spec wants.
 * Returns 0, or -EAGAIN when no wanted container has an ID yet. */
static int pod_to_proto(const struct target *t, json_object *pod, struct proto_pod *pp)
{
	json_object *cs = jget(pod, "status", "containerStatuses");
	size_t n =
	    cs && json_object_is_type(cs, json_type_array) ? json_object_array_length(cs) : 0;

	memset(pp, 0, sizeof(*pp));
	copy_str(pp->uid, sizeof(pp->uid), jstr(pod, "metadata", "uid"));
	copy_str(pp->ns, sizeof(pp->ns), jstr(pod, "metadata", "namespace"));
	copy_str(pp->name, sizeof(pp->name), jstr(pod, "metadata", "name"));
	/* No container filter: the whole pod's cgroup (containers: []). */
	if (t->spec.ncontainers == 0)
		return 0;
	if (n > PROTO_MAX_CONTAINERS)
		n = PROTO_MAX_CONTAINERS;
	pp->containers = calloc(n ? n : 1, sizeof(*pp->containers));
	if (!pp->containers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cs, i);
		const char *name = jstr(c, "name", NULL), *id = jstr(c, "containerID", NULL);

		if (!name || !id || !*id || !target_spec_wants_container(&t->spec, name))
			continue;
		copy_str(pp->containers[pp->n_containers].name, PROTO_MAX_NAME_LEN + 1, name);
		copy_str(pp->containers[pp->n_containers].id, PROTO_MAX_CTR_ID_LEN + 1, id);
		pp->n_containers++;
	}
	if (pp->n_containers == 0) {
		free(pp->containers);
		pp->containers = NULL;
		return -EAGAIN;
	}
	return 0;
}

static uint64_t remaining_ms(struct reconciler *r, const struct target *t)
{
	uint64_t now = rc_mono_ms(r);

	return t->end_ms > now ? t->end_ms - now : 0;
}

/* Send node's worker an attach holding every matched pod of t on node. */
void rc_attach_node(struct reconciler *r, struct target *t, struct target_node *n)
{
	struct proto_attach a;
	uint64_t left = remaining_ms(r, t);
	int err;

	if (t->phase != PHASE_RUNNING || left < 200)
		return;
	if (!r->cfg.ops->worker_connected(r->cfg.ops_ctx, n->name)) {
		if (n->state != NODE_LOST) {
			n->state = NODE_WAITING;
			copy_str(n->message, sizeof(n->message),
				 "no worker connected for this node");
		}
		return;
	}
	memset(&a, 0, sizeof(a));
	copy_str(a.job_id, sizeof(a.job_id), t->job_id);
	a.frequency_hz = (uint32_t)t->spec.frequency_hz;
	a.kernel_stacks = t->spec.kernel_stacks;
	a.frame_pointers = t->spec.frame_pointers;
	a.offcpu = t->spec.offcpu;
	a.min_block_us = (uint64_t)t->spec.min_block_us;
	a.window_ms = left;
	a.pods = calloc(n->n_pod_ix ? n->n_pod_ix : 1, sizeof(*a.pods));
	if (!a.pods)
		return;
	for (size_t k = 0; k < n->n_pod_ix; k++) {
		size_t i = n->pod_ix[k];
		json_object *pod;
		const char *pns = t->ns;

		pod = r->cfg.ops->pod_get(r->cfg.ops_ctx, pns, t->pods[i].name);
		if (!pod || pod_to_proto(t, pod, &a.pods[a.n_pods]) < 0)
			continue;
		a.n_pods++;
	}
	if (a.n_pods) {
		err = r->cfg.ops->attach(r->cfg.ops_ctx, n->name, &a);
		if (err < 0) {
			log_warn(MOD, "%s/%s: attach to node %s failed: %s", t->ns, t->name,
				 n->name, strerror(-err));
		} else {
			r->attaches_sent++;
			n->state = NODE_ATTACHED;
			n->message[0] = '\0';
			log_info(MOD, "%s/%s: attached %zu pod(s) on node %s (%" PRIu64 " ms left)",
				 t->ns, t->name, a.n_pods, n->name, left);
		}
	}
	proto_attach_free(&a);
}

/* Add pod to t if it matches; returns true when t changed. */
static bool consider_pod(struct reconciler *r, struct target *t, json_object *pod)
{
	const char *uid = jstr(pod, "metadata", "uid"), *ns = jstr(pod, "metadata", "namespace");
	const char *node = jstr(pod, "spec", "nodeName"), *name = jstr(pod, "metadata", "name");
	struct proto_pod probe;
	struct target_pod *np;
	struct target_node *n;

	/* Only while sampling: a pod that starts while profiles are collected
	 * gets none, and its node would be waited for in vain. */
	if (t->phase != PHASE_RUNNING || !t->spec_ok || !uid || !ns || !name ||
	    strcmp(ns, t->ns) != 0)
		return false;
	if (strlen(uid) > PROTO_MAX_UID_LEN || rc_find_pod(t, uid) || !pod_running(pod))
		return false;
	if (!selector_matches(t->spec.selector, jget(pod, "metadata", "labels")))
		return false;
	if (pod_to_proto(t, pod, &probe) < 0)
		return false; /* no wanted container started yet: an update will come */
	free(probe.containers);
	if (t->npods >= UINT32_MAX ||
	    arr_grow((void **)&t->pods, &t->pods_cap, t->npods + 1, sizeof(*np), UINT32_MAX))
		return false;
	np = &t->pods[t->npods];
	memset(np, 0, sizeof(*np));
	copy_str(np->uid, sizeof(np->uid), uid);
	np->name = strdup(name);
	np->node = strdup(node);
	n = add_node(t, node);
	if (!np->name || !np->node || !n ||
	    arr_grow((void **)&n->pod_ix, &n->pod_ix_cap, n->n_pod_ix + 1, sizeof(*n->pod_ix),
		     UINT32_MAX) ||
	    htab_insert(&t->pod_index, htab_hash_str(HTAB_SEED, uid), (uint32_t)t->npods)) {
		free(np->name);
		free(np->node);
		return false;
	}
	n->pod_ix[n->n_pod_ix++] = (uint32_t)t->npods;
	t->npods++;
	(void)r;
	return true;
}

struct scan_ctx {
	struct reconciler *r;
	struct target *t;
};

static int scan_pod(void *arg, json_object *pod)
{
	struct scan_ctx *c = arg;

	consider_pod(c->r, c->t, pod);
	return 0;
}

/* ---- target lifecycle ---------------------------------------------------- */

/* Forget one window's pods, nodes and samples; the last published result
 * (topFunctions, profile) stays until the next window replaces it. */
static void target_clear_window(struct target *t)
{
	for (size_t i = 0; i < t->nnodes; i++) {
		free(t->nodes[i].name);
		free(t->nodes[i].pod_ix);
	}
	free(t->nodes);
	t->nodes = NULL;
	t->nnodes = t->nodes_cap = 0;
	for (size_t i = 0; i < t->npods; i++) {
		free(t->pods[i].name);
		free(t->pods[i].node);
	}
	free(t->pods);
	t->pods = NULL;
	t->npods = t->pods_cap = 0;
	htab_release(&t->node_index);
	htab_release(&t->pod_index);
	pprof_builder_free(t->merged);
	t->merged = NULL;
	t->profile_samples = 0;
	t->message[0] = t->fail_reason[0] = '\0';
	t->start_time[0] = t->completion_time[0] = '\0';
}

static void target_clear_run(struct target *t)
{
	target_clear_window(t);
	json_object_put(t->top);
	t->top = NULL;
	free(t->url);
	free(t->svg_url);
	t->url = t->svg_url = NULL;
	t->size_bytes = 0;
	t->upload_state[0] = t->upload_msg[0] = '\0';
	t->windows_done = 0;
}

static void target_free(struct target *t)
{
	if (!t)
		return;
	target_clear_run(t);
	target_spec_release(&t->spec);
	free(t->name);
	free(t);
}

void rc_detach_all(struct reconciler *r, struct target *t)
{
	for (size_t i = 0; i < t->nnodes; i++) {
		if (t->nodes[i].state == NODE_ATTACHED &&
		    r->cfg.ops->worker_connected(r->cfg.ops_ctx, t->nodes[i].name))
			r->cfg.ops->detach(r->cfg.ops_ctx, t->nodes[i].name, t->job_id);
	}
}

/* Continuous mode: after a window ends, plan the next one. Returns true when
 * the target goes on (it then shows Running between windows). */
bool rc_schedule_next(struct reconciler *r, struct target *t)
{
	uint64_t now = rc_mono_ms(r);

	t->windows_done++;
	if (!t->spec.every_ms || (t->spec.count && t->windows_done >= t->spec.count))
		return false;
	t->next_window_ms = t->window_start_ms + (uint64_t)t->spec.every_ms;
	if (t->next_window_ms < now)
		t->next_window_ms = now;
	t->phase = PHASE_WAITING;
	return true;
}

static void fail_target(struct reconciler *r, struct target *t, const char *reason,
			const char *msg);

/* A window ended without a profile: in continuous mode the next window still
 * comes; otherwise the target has failed. */
void rc_window_failed(struct reconciler *r, struct target *t, const char *reason, const char *msg)
{
	if (!rc_schedule_next(r, t)) {
		fail_target(r, t, reason, msg);
		return;
	}
	snprintf(t->message, sizeof(t->message), "window %u: %s: %.180s", t->windows_done, reason,
		 msg);
	log_warn(MOD, "%s/%s: %s", t->ns, t->name, t->message);
	rc_emit_event(r, t, "Warning", "WindowFailed", "%s", t->message);
	rc_write_status(r, t);
}

static void fail_target(struct reconciler *r, struct target *t, const char *reason, const char *msg)
{
	t->phase = PHASE_FAILED;
	k8s_time_now(t->completion_time, sizeof(t->completion_time));
	copy_str(t->fail_reason, sizeof(t->fail_reason), reason);
	copy_str(t->message, sizeof(t->message), msg);
	log_warn(MOD, "%s/%s: failed: %s: %s", t->ns, t->name, reason, msg);
	rc_emit_event(r, t, "Warning", "Failed", "%s: %s", reason, msg);
	rc_write_status(r, t);
}

/* Start the window of t, or resume one after an operator restart: then
 * start_time and started_ms (UNIX ms) come from status.startTime, so the
 * object key stays the same and a re-upload overwrites instead of adding. */
static void start_target(struct reconciler *r, struct target *t, uint64_t window_ms,
			 const char *start_time, int64_t started_ms)
{
	struct scan_ctx c = {r, t};

	t->phase = PHASE_RUNNING;
	/* One job id per window, so workers never merge two windows. */
	snprintf(t->job_id, sizeof(t->job_id), "%s.%" PRId64 ".%u", t->uid, t->generation,
		 t->windows_done);
	t->window_start_ms = rc_mono_ms(r);
	if (start_time)
		copy_str(t->start_time, sizeof(t->start_time), start_time);
	else
		k8s_time_now(t->start_time, sizeof(t->start_time));
	t->start_unix_ms = started_ms ? started_ms : rc_wall_ms(r);
	t->end_ms = rc_mono_ms(r) + window_ms;
	if (pprof_builder_new(&t->merged, 1000000000LL / t->spec.frequency_hz,
			      t->start_unix_ms * 1000000LL) < 0) {
		fail_target(r, t, "InternalError", "out of memory");
		return;
	}
	r->cfg.ops->pod_foreach(r->cfg.ops_ctx, scan_pod, &c);
	/* Logged before the attaches go out: the benchmark's fan-out is
	 * measured from this line and must include them. */
	log_info(MOD, "%s/%s: window of %" PRIu64 " ms started: %zu pod(s) on %zu node(s)", t->ns,
		 t->name, window_ms, t->npods, t->nnodes);
	for (size_t i = 0; i < t->nnodes; i++)
		rc_attach_node(r, t, &t->nodes[i]);
	rc_emit_event(r, t, "Normal", "Started",
		      "Profiling %zu pod(s) on %zu node(s) at %d Hz for %" PRIu64 " ms", t->npods,
		      t->nnodes, t->spec.frequency_hz, window_ms);
	rc_write_status(r, t);
}

/* Forget t: detach it everywhere if it is still sampling. */
static void drop_target(struct reconciler *r, struct target **pp)
{
	struct target *t = *pp;

	if (rc_is_active(t)) {
		log_info(MOD, "%s/%s: deleted mid-window: detaching everywhere", t->ns, t->name);
		rc_detach_all(r, t);
	}
	*pp = t->next;
	target_free(t);
}

void reconciler_target_upsert(struct reconciler *r, json_object *obj)
{
	const char *uid = jstr(obj, "metadata", "uid"), *name = jstr(obj, "metadata", "name");
	const char *ns = jstr(obj, "metadata", "namespace");
	const char *phase = jstr(obj, "status", "phase"), *msg = NULL;
	int64_t gen = jint(obj, "metadata", "generation");
	int64_t observed = jint(obj, "status", "observedGeneration");
	struct target *t;
	int err;

	if (!uid || !name || !ns || strlen(uid) > PROTO_MAX_UID_LEN ||
	    strlen(ns) > PROTO_MAX_NS_LEN)
		return;
	if (jget(obj, "metadata", "deletionTimestamp"))
		return;
	/* Deleted and created again under the same name: the old one is gone. */
	for (struct target **pp = &r->targets; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->ns, ns) == 0 && strcmp((*pp)->name, name) == 0 &&
		    strcmp((*pp)->uid, uid) != 0) {
			drop_target(r, pp);
			break;
		}
	}
	t = rc_find_target(r, uid);
	if (t && t->generation == gen)
		return; /* our own status write, or a label/annotation change */
	if (t) {
		log_info(MOD,
			 "%s/%s: spec changed (generation %" PRId64 " -> %" PRId64
			 "): restarting the window",
			 ns, name, t->generation, gen);
		if (rc_is_active(t))
			rc_detach_all(r, t);
		target_clear_run(t);
		target_spec_release(&t->spec);
	} else {
		t = calloc(1, sizeof(*t));
		if (!t)
			return;
		copy_str(t->uid, sizeof(t->uid), uid);
		copy_str(t->ns, sizeof(t->ns), ns);
		t->name = strdup(name);
		if (!t->name) {
			free(t);
			return;
		}
		t->next = r->targets;
		r->targets = t;
	}
	t->generation = gen;
	err = target_spec_parse(jget(obj, "spec", NULL), &t->spec, &msg);
	t->spec_ok = err == 0;
	if (!t->spec_ok) {
		fail_target(r, t, "InvalidSpec", msg ? msg : "invalid spec");
		return;
	}
	/* Finished before (e.g. this operator restarted): leave the result alone. */
	if (observed == gen && phase &&
	    (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) {
		t->phase = strcmp(phase, "Succeeded") == 0 ? PHASE_SUCCEEDED : PHASE_FAILED;
		return;
	}
	/* Running when a previous operator stopped: resume the same window. The
	 * workers keep sampling under the same job id meanwhile. */
	if (observed == gen && phase && strcmp(phase, "Running") == 0) {
		const char *st = jstr(obj, "status", "startTime");
		struct tm tm;
		int64_t started_ms = 0, left;

		memset(&tm, 0, sizeof(tm));
		if (st && strptime(st, "%Y-%m-%dT%H:%M:%SZ", &tm))
			started_ms = (int64_t)timegm(&tm) * 1000;
		t->windows_done = (unsigned)jint(obj, "status", "windowsCompleted");
		/* Continuous mode between two windows: wait for the next one. */
		if (t->spec.every_ms && started_ms && jstr(obj, "status", "completionTime") &&
		    strcmp(jstr(obj, "status", "completionTime"), st) >= 0) {
			int64_t wait = started_ms + t->spec.every_ms - rc_wall_ms(r);

			t->phase = PHASE_WAITING;
			t->next_window_ms = rc_mono_ms(r) + (uint64_t)(wait > 0 ? wait : 0);
			log_info(MOD, "%s/%s: continuous: next window in %" PRId64 " ms", ns, name,
				 wait > 0 ? wait : 0);
			return;
		}
		left = started_ms ? started_ms + t->spec.duration_ms - rc_wall_ms(r) : 0;
		if (left < 1000)
			left = 1000;
		log_info(MOD, "%s/%s: resuming a window started at %s (%" PRId64 " ms left)", ns,
			 name, st ? st : "?", left);
		start_target(r, t, (uint64_t)left, st, started_ms);
		return;
	}
	start_target(r, t, (uint64_t)t->spec.duration_ms, NULL, 0);
}

void reconciler_target_gone(struct reconciler *r, const char *ns, const char *name)
{
	for (struct target **pp = &r->targets; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->ns, ns) == 0 && strcmp((*pp)->name, name) == 0) {
			drop_target(r, pp);
			return;
		}
	}
}

void reconciler_pod_upsert(struct reconciler *r, json_object *obj)
{
	for (struct target *t = r->targets; t; t = t->next) {
		const char *node;

		if (!consider_pod(r, t, obj))
			continue;
		node = jstr(obj, "spec", "nodeName");
		log_info(MOD, "%s/%s: pod %s appeared on node %s during the window", t->ns, t->name,
			 jstr(obj, "metadata", "name"), node);
		rc_attach_node(r, t, rc_find_node(t, node));
		rc_write_status(r, t);
	}
}

void reconciler_pod_delete(struct reconciler *r, json_object *obj)
{
	/* Samples of a deleted pod stay in its target's profile; its cgroup is
	 * gone, so the worker stops seeing it without being told. */
	(void)r;
	(void)obj;
}

/* ---- hub callbacks ---------------------------------------------------------- */

uint64_t reconciler_tick(struct reconciler *r, uint64_t now_ms)
{
	uint64_t next = 0;

	for (struct target *t = r->targets; t; t = t->next) {
		uint64_t due;

		if (t->phase == PHASE_WAITING) {
			if (now_ms >= t->next_window_ms) {
				target_clear_window(t);
				start_target(r, t, (uint64_t)t->spec.duration_ms, NULL, 0);
				if (rc_is_active(t) && (!next || t->end_ms < next))
					next = t->end_ms;
			} else if (!next || t->next_window_ms < next) {
				next = t->next_window_ms;
			}
			continue;
		}
		if (!rc_is_active(t))
			continue;
		if (now_ms >= t->end_ms + r->cfg.grace_ms) {
			rc_finalize_target(r, t);
			continue;
		}
		if (now_ms >= t->end_ms) {
			t->phase = PHASE_COLLECTING;
			rc_maybe_finalize(r, t);
			if (!rc_is_active(t))
				continue;
			due = t->end_ms + r->cfg.grace_ms;
		} else {
			due = t->end_ms;
		}
		if (!next || due < next)
			next = due;
	}
	return next;
}

int reconciler_metrics(struct reconciler *r, char *buf, size_t cap)
{
	size_t counts[6] = {0};
	int n;

	for (struct target *t = r->targets; t; t = t->next)
		counts[t->phase]++;
	n = snprintf(buf, cap,
		     "# HELP podprof_targets ProfilingTargets known to the operator by phase.\n"
		     "# TYPE podprof_targets gauge\n"
		     "podprof_targets{phase=\"Pending\"} %zu\n"
		     "podprof_targets{phase=\"Running\"} %zu\n"
		     "podprof_targets{phase=\"Succeeded\"} %zu\n"
		     "podprof_targets{phase=\"Failed\"} %zu\n"
		     "# HELP podprof_samples_received Samples held in targets' profiles.\n"
		     "# TYPE podprof_samples_received gauge\n"
		     "podprof_samples_received %" PRIu64 "\n"
		     "# HELP podprof_profiles_received_total Profile frames merged.\n"
		     "# TYPE podprof_profiles_received_total counter\n"
		     "podprof_profiles_received_total %" PRIu64 "\n"
		     "# HELP podprof_profiles_dropped_total Profiles beyond one final (and a "
		     "few partial) per node per job.\n"
		     "# TYPE podprof_profiles_dropped_total counter\n"
		     "podprof_profiles_dropped_total %" PRIu64 "\n"
		     "# HELP podprof_attaches_sent_total Attach messages sent to workers.\n"
		     "# TYPE podprof_attaches_sent_total counter\n"
		     "podprof_attaches_sent_total %" PRIu64 "\n"
		     "# HELP podprof_api_errors_total Failed Kubernetes API writes.\n"
		     "# TYPE podprof_api_errors_total counter\n"
		     "podprof_api_errors_total %" PRIu64 "\n",
		     counts[PHASE_PENDING],
		     counts[PHASE_RUNNING] + counts[PHASE_COLLECTING] + counts[PHASE_WAITING],
		     counts[PHASE_SUCCEEDED], counts[PHASE_FAILED], r->samples_received,
		     r->profiles_received, r->profiles_dropped, r->attaches_sent, r->api_errors);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

int reconciler_new(const struct reconciler_config *cfg, struct reconciler **out)
{
	struct reconciler *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	if (!r->cfg.prefix)
		r->cfg.prefix = "";
	if (!r->cfg.grace_ms)
		r->cfg.grace_ms = 5000;
	if (!r->cfg.top_n)
		r->cfg.top_n = 10;
	*out = r;
	return 0;
}

void reconciler_free(struct reconciler *r)
{
	if (!r)
		return;
	while (r->targets) {
		struct target *t = r->targets;

		r->targets = t->next;
		target_free(t);
	}
	while (r->uploads) {
		struct upload *u = r->uploads;

		r->uploads = u->next;
		free(u);
	}
	free(r);
}
