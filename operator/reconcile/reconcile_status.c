/* SPDX-License-Identifier: Apache-2.0 */
/* reconcile_status.c -- a target's state as Kubernetes sees it: the status
 * subresource (phase, pods, nodes, profile, topFunctions, conditions), Events
 * and the top-functions table. */
#include "reconcile_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pprof.h"
#include "status_writer.h"

/* A source file name longer than this (a hostile binary's DWARF) is left
 * out of status.topFunctions rather than bloating the object. */
#define MAX_TOP_FILE 1024

const char *const rc_phase_names[] = {"Pending",   "Running", "Running",
				      "Succeeded", "Failed",  "Running"};
const char *const rc_node_state_names[] = {"WaitingForWorker", "Attached", "Done", "Lost"};

void rc_ref_of(const struct target *t, struct k8s_object_ref *ref)
{
	*ref = (struct k8s_object_ref){.api_prefix = PT_PREFIX,
				       .plural = "profilingtargets",
				       .api_version = "podprof.dev/v1alpha1",
				       .kind = "ProfilingTarget",
				       .ns = t->ns,
				       .name = t->name,
				       .uid = t->uid};
}

void rc_emit_event(struct reconciler *r, struct target *t, const char *type, const char *reason,
		   const char *fmt, ...)
{
	struct k8s_object_ref ref;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rc_ref_of(t, &ref);
	if (r->cfg.ops->event(r->cfg.ops_ctx, &ref, type, reason, msg) < 0)
		r->api_errors++;
}

static json_object *condition(const char *type, bool status, const char *reason, const char *msg,
			      int64_t gen, const char *now)
{
	json_object *c = json_object_new_object();

	json_object_object_add(c, "type", json_object_new_string(type));
	json_object_object_add(c, "status", json_object_new_string(status ? "True" : "False"));
	json_object_object_add(c, "observedGeneration", json_object_new_int64(gen));
	json_object_object_add(c, "lastTransitionTime", json_object_new_string(now));
	json_object_object_add(c, "reason", json_object_new_string(reason));
	json_object_object_add(c, "message", json_object_new_string(msg));
	return c;
}

uint64_t rc_total_samples(const struct target *t)
{
	uint64_t s = 0;

	/* Off CPU, the profile's total is nanoseconds: count the workers' matches. */
	if (t->profile_samples > 0 && !t->spec.offcpu)
		return (uint64_t)t->profile_samples;
	for (size_t i = 0; i < t->nnodes; i++)
		s += t->nodes[i].samples;
	return s;
}

bool rc_partial(const struct target *t, char *why, size_t cap)
{
	size_t off = 0;
	bool p = false;

	why[0] = '\0';
	for (size_t i = 0; i < t->nnodes; i++) {
		const struct target_node *n = &t->nodes[i];

		if (n->state == NODE_DONE && !n->ever_lost)
			continue;
		p = true;
		off += (size_t)snprintf(why + off, off < cap ? cap - off : 0, "%s%s: %s",
					off ? "; " : "", n->name,
					n->message[0] ? n->message : rc_node_state_names[n->state]);
		if (off >= cap)
			break;
	}
	return p;
}

/* status.pods and status.nodes list at most this many entries each. The
 * status is one etcd object (at most 1.5 MiB, less what metadata and
 * topFunctions take): a target over 5,000 nodes with one entry per node and
 * per pod would not fit, and the API server would refuse every write. Each
 * entry is at most ~600 bytes (253-byte names, a 255-byte message), so the
 * two lists stay under ~320 KiB; counts (matchedPods, matchedNodes,
 * nodeStates) cover everything, and podsOmitted/nodesOmitted say how many
 * entries were left out. */
#define STATUS_LIST_MAX 256

static json_object *pod_json(const struct target_pod *tp)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "name", json_object_new_string(tp->name));
	json_object_object_add(p, "node", json_object_new_string(tp->node));
	json_object_object_add(p, "uid", json_object_new_string(tp->uid));
	json_object_object_add(p, "samples", json_object_new_int64((int64_t)tp->samples));
	return p;
}

/* In the reconciler's order; when the list is cut, pods without samples
 * come first: they are the ones a user asks about ("why is it missing?"). */
static void add_pods(json_object *st, const struct target *t)
{
	json_object *arr = json_object_new_array();
	bool cut = t->npods > STATUS_LIST_MAX;
	size_t listed = 0;

	for (int pass = cut ? 0 : 1; pass < 2; pass++) {
		for (size_t i = 0; i < t->npods && listed < STATUS_LIST_MAX; i++) {
			if (cut && (t->pods[i].samples == 0) != (pass == 0))
				continue;
			json_object_array_add(arr, pod_json(&t->pods[i]));
			listed++;
		}
	}
	json_object_object_add(st, "pods", arr);
	if (listed < t->npods)
		json_object_object_add(st, "podsOmitted",
				       json_object_new_int64((int64_t)(t->npods - listed)));
}

static json_object *node_json(const struct target_node *tn)
{
	json_object *n = json_object_new_object();

	json_object_object_add(n, "name", json_object_new_string(tn->name));
	json_object_object_add(n, "state", json_object_new_string(rc_node_state_names[tn->state]));
	json_object_object_add(n, "samples", json_object_new_int64((int64_t)tn->samples));
	json_object_object_add(n, "drops", json_object_new_int64((int64_t)tn->drops));
	json_object_object_add(n, "truncated", json_object_new_int64((int64_t)tn->truncated));
	if (tn->message[0] || tn->notice[0])
		json_object_object_add(
		    n, "message",
		    json_object_new_string(tn->message[0] ? tn->message : tn->notice));
	return n;
}

/* status.nodes (in order; when cut, nodes not Done come first),
 * matchedNodes and nodeStates (count per state, over every node); the
 * totals of drops and truncated stacks go to *drops and *truncated. */
static void add_nodes(json_object *st, const struct target *t, uint64_t *drops, uint64_t *truncated)
{
	json_object *arr = json_object_new_array(), *states = json_object_new_object();
	size_t count[NODE_LOST + 1] = {0}, listed = 0;
	bool cut = t->nnodes > STATUS_LIST_MAX;

	for (size_t i = 0; i < t->nnodes; i++) {
		*drops += t->nodes[i].drops;
		*truncated += t->nodes[i].truncated;
		count[t->nodes[i].state]++;
	}
	for (int pass = cut ? 0 : 1; pass < 2; pass++) {
		for (size_t i = 0; i < t->nnodes && listed < STATUS_LIST_MAX; i++) {
			if (cut && (t->nodes[i].state == NODE_DONE) != (pass == 1))
				continue;
			json_object_array_add(arr, node_json(&t->nodes[i]));
			listed++;
		}
	}
	json_object_object_add(st, "nodes", arr);
	json_object_object_add(st, "matchedNodes", json_object_new_int64((int64_t)t->nnodes));
	for (size_t s = 0; s <= NODE_LOST; s++) {
		if (count[s])
			json_object_object_add(states, rc_node_state_names[s],
					       json_object_new_int64((int64_t)count[s]));
	}
	json_object_object_add(st, "nodeStates", states);
	if (listed < t->nnodes)
		json_object_object_add(st, "nodesOmitted",
				       json_object_new_int64((int64_t)(t->nnodes - listed)));
}

static json_object *build_status(const struct target *t)
{
	uint64_t drops = 0, truncated = 0;
	json_object *st = json_object_new_object(), *conds;
	char now[40], why[512];
	bool done = t->phase == PHASE_SUCCEEDED || t->phase == PHASE_FAILED;

	k8s_time_now(now, sizeof(now));
	json_object_object_add(st, "phase", json_object_new_string(rc_phase_names[t->phase]));
	json_object_object_add(st, "observedGeneration", json_object_new_int64(t->generation));
	if (t->start_time[0])
		json_object_object_add(st, "startTime", json_object_new_string(t->start_time));
	if (t->completion_time[0])
		json_object_object_add(st, "completionTime",
				       json_object_new_string(t->completion_time));
	json_object_object_add(st, "matchedPods", json_object_new_int64((int64_t)t->npods));
	add_pods(st, t);
	add_nodes(st, t, &drops, &truncated);
	json_object_object_add(st, "samples", json_object_new_int64((int64_t)rc_total_samples(t)));
	/* What the profile weighs: its unit, and off CPU the time it holds. */
	json_object_object_add(
	    st, "measured",
	    json_object_new_string(t->spec.offcpu ? "blocked time (off CPU)" : "CPU samples"));
	if (t->spec.offcpu && t->profile_samples > 0)
		json_object_object_add(
		    st, "blockedSeconds",
		    json_object_new_double((double)(t->profile_samples / 1000000) / 1000));
	/* Samples the kernel side could not keep (full maps, stack errors). */
	json_object_object_add(st, "drops", json_object_new_int64((int64_t)drops));
	json_object_object_add(st, "truncatedStacks", json_object_new_int64((int64_t)truncated));
	if (t->spec.every_ms)
		json_object_object_add(st, "windowsCompleted",
				       json_object_new_int64((int64_t)t->windows_done));
	if (t->url) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "url", json_object_new_string(t->url));
		json_object_object_add(p, "format", json_object_new_string("pprof+gzip"));
		json_object_object_add(p, "sizeBytes",
				       json_object_new_int64((int64_t)t->size_bytes));
		if (t->svg_url)
			json_object_object_add(p, "svgURL", json_object_new_string(t->svg_url));
		if (t->upload_state[0])
			json_object_object_add(p, "state", json_object_new_string(t->upload_state));
		json_object_object_add(st, "profile", p);
	}
	if (t->top)
		json_object_object_add(st, "topFunctions", json_object_get(t->top));
	if (t->message[0])
		json_object_object_add(st, "message", json_object_new_string(t->message));

	conds = json_object_new_array();
	if (!t->spec_ok) {
		json_object_array_add(conds, condition("Ready", false, "InvalidSpec", t->message,
						       t->generation, now));
	} else if (t->phase == PHASE_FAILED) {
		json_object_array_add(
		    conds, condition("Ready", false, t->fail_reason[0] ? t->fail_reason : "Failed",
				     t->message, t->generation, now));
	} else if (done) {
		json_object_array_add(conds,
				      condition("Ready", true, "Completed",
						"profiling window completed", t->generation, now));
	} else {
		json_object_array_add(conds, condition("Ready", false, "Profiling",
						       "profiling window in progress",
						       t->generation, now));
	}
	if (t->spec_ok && t->npods > 0 && rc_partial(t, why, sizeof(why)))
		json_object_array_add(conds, condition("PartialResult", true, "NodesMissing", why,
						       t->generation, now));
	if (t->upload_state[0]) {
		bool ok = strcmp(t->upload_state, "Uploaded") == 0;

		json_object_array_add(conds,
				      condition("Uploaded", ok, ok ? "Uploaded" : t->upload_state,
						t->upload_msg[0] ? t->upload_msg : t->upload_state,
						t->generation, now));
	}
	json_object_object_add(st, "conditions", conds);
	return st;
}

/* Keep lastTransitionTime of conditions whose status did not change. */
static void keep_transition_times(json_object *old_st, json_object *new_st)
{
	json_object *oc = jget(old_st, "conditions", NULL), *nc = jget(new_st, "conditions", NULL);

	if (!oc || !nc || !json_object_is_type(oc, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(nc); i++) {
		json_object *n = json_object_array_get_idx(nc, i);

		for (size_t j = 0; j < json_object_array_length(oc); j++) {
			json_object *o = json_object_array_get_idx(oc, j);
			const char *ot = jstr(o, "type", NULL), *os = jstr(o, "status", NULL);
			const char *ol = jstr(o, "lastTransitionTime", NULL);

			if (ot && os && ol && strcmp(ot, jstr(n, "type", NULL)) == 0 &&
			    strcmp(os, jstr(n, "status", NULL)) == 0)
				json_object_object_add(n, "lastTransitionTime",
						       json_object_new_string(ol));
		}
	}
}

int reconciler_status_mutate(void *arg, json_object *obj, int attempt)
{
	json_object *st = arg, *copy = NULL;

	(void)attempt;
	if (json_object_deep_copy(st, &copy, NULL) < 0)
		return -ENOMEM;
	keep_transition_times(jget(obj, "status", NULL), copy);
	json_object_object_add(obj, "status", copy);
	return 0;
}

void rc_write_status(struct reconciler *r, struct target *t)
{
	(void)r;
	t->status_dirty = true; /* posted by reconciler_flush() */
}

void reconciler_flush(struct reconciler *r)
{
	for (struct target *t = r->targets; t; t = t->next) {
		struct k8s_object_ref ref;
		json_object *st;

		if (!t->status_dirty)
			continue;
		st = build_status(t);
		rc_ref_of(t, &ref);
		if (r->cfg.ops->post_status(r->cfg.ops_ctx, &ref, st) < 0)
			r->api_errors++;
		else
			t->status_dirty = false;
		json_object_put(st);
	}
}

json_object *rc_top_json(struct pprof_builder *b, unsigned n)
{
	struct pprof_top_entry *e = NULL;
	size_t ne = 0;
	int64_t total = pprof_builder_total(b);
	json_object *arr;

	if (total <= 0 || pprof_builder_top(b, n, &e, &ne) < 0)
		return NULL;
	arr = json_object_new_array();
	for (size_t i = 0; i < ne; i++) {
		json_object *o = json_object_new_object();
		double self = 100.0 * (double)e[i].self / (double)total;
		double tot = 100.0 * (double)e[i].total / (double)total;

		json_object_object_add(o, "function", json_object_new_string(e[i].function));
		/* Two decimals: enough for shares, and stable in kubectl output. */
		json_object_object_add(
		    o, "selfPercent",
		    json_object_new_double((double)(int64_t)(self * 100 + 0.5) / 100));
		json_object_object_add(
		    o, "totalPercent",
		    json_object_new_double((double)(int64_t)(tot * 100 + 0.5) / 100));
		/* Off CPU a count is a nanosecond: say it as blocked milliseconds. */
		if (pprof_builder_is_offcpu(b))
			json_object_object_add(o, "blockedMs",
					       json_object_new_int64(e[i].self / 1000000));
		else
			json_object_object_add(o, "samples", json_object_new_int64(e[i].self));
		/* Where to look in the code: the function's hottest line. */
		if (e[i].filename && strlen(e[i].filename) <= MAX_TOP_FILE)
			json_object_object_add(o, "file", json_object_new_string(e[i].filename));
		if (e[i].line > 0)
			json_object_object_add(o, "line", json_object_new_int64(e[i].line));
		json_object_array_add(arr, o);
	}
	pprof_top_free(e, ne);
	return arr;
}
