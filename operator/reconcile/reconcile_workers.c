/* SPDX-License-Identifier: Apache-2.0 */
/* reconcile_workers.c -- what workers report and what becomes of it:
 * connections and losses, progress, profiles merged per target, the result
 * finalized at the window's end (top functions, status) and handed to
 * storage, and the uploads' outcomes recorded. Private to the reconciler
 * (reconcile_int.h). */
#include "reconcile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flamegraph.h"
#include "htab.h"
#include "log.h"
#include "pprof.h"
#include "storage.h"
#include "reconcile_int.h"

#define MAX_PROFILE_BYTES    (256u << 20) /* decompressed, per node profile */
#define MAX_PARTIAL_PROFILES 16		  /* non-final profiles per node per job */

static void upload_done(const struct storage_event *ev, void *arg);

static struct upload *new_upload(struct reconciler *r, const struct target *t, bool svg)
{
	struct upload *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->r = r;
	u->svg = svg;
	copy_str(u->uid, sizeof(u->uid), t->uid);
	u->next = r->uploads;
	r->uploads = u;
	return u;
}

/* storage_render_fn: the SVG flame graph of a pprof (storage thread). */
static int render_svg(const void *pprof, size_t len, const char *title, void **out, size_t *out_len)
{
	char *svg = NULL;
	int err = flamegraph_svg(pprof, len, title, &svg, out_len);

	*out = svg;
	return err;
}

static void store_profile(struct reconciler *r, struct target *t, const void *pb, size_t len)
{
	char *key = NULL, *svg_key = NULL;
	char title[256], prefix[1600] = "";
	struct upload *u;
	int err;

	if (!r->cfg.ops->store)
		return;
	/* spec.output.prefix nests under the operator's prefix: a tenant chooses
	 * a folder inside the operator's area, never a place outside it. */
	if (t->spec.output_prefix && t->spec.output_prefix[0] &&
	    (size_t)snprintf(prefix, sizeof(prefix), "%s%s%s", r->cfg.prefix,
			     r->cfg.prefix[0] ? "/" : "", t->spec.output_prefix) >= sizeof(prefix))
		err = -ENAMETOOLONG;
	else
		err = storage_key(prefix[0] ? prefix : r->cfg.prefix, t->ns, t->name, t->uid,
				  t->start_unix_ms / 1000, "pb.gz", &key);
	if (!err)
		err = storage_key(prefix[0] ? prefix : r->cfg.prefix, t->ns, t->name, t->uid,
				  t->start_unix_ms / 1000, "svg", &svg_key);
	if (err) {
		snprintf(t->upload_msg, sizeof(t->upload_msg), "cannot build object key: %s",
			 strerror(-err));
		copy_str(t->upload_state, sizeof(t->upload_state), "Failed");
		goto cleanup;
	}
	u = new_upload(r, t, false);
	err = u ? r->cfg.ops->store(r->cfg.ops_ctx, key, pb, len, "application/octet-stream", NULL,
				    NULL, upload_done, u)
		: -ENOMEM;
	if (err) {
		snprintf(t->upload_msg, sizeof(t->upload_msg), "upload not queued: %s",
			 strerror(-err));
		copy_str(t->upload_state, sizeof(t->upload_state), "Failed");
		goto cleanup;
	}
	copy_str(t->upload_state, sizeof(t->upload_state), "Uploading");
	copy_str(t->upload_msg, sizeof(t->upload_msg), "upload queued");
	free(t->url);
	/* Where the object will be; profile.state says whether it is there yet. */
	t->url = NULL;
	if (r->cfg.ops->object_url(r->cfg.ops_ctx, key, &t->url) < 0)
		t->url = strdup(key);
	t->size_bytes = len;
	snprintf(title, sizeof(title), "%s/%s%s", t->ns, t->name,
		 t->spec.offcpu ? ": blocked time (off CPU)" : "");
	/* The flame graph is drawn from the pprof by the storage thread: up to
	 * 64 MiB of profile must not stall the hub loop. */
	u = new_upload(r, t, true);
	/* svgURL appears in status once the SVG is stored (upload_done). */
	free(t->svg_url);
	t->svg_url = NULL;
	if (u && r->cfg.ops->store(r->cfg.ops_ctx, svg_key, pb, len, "image/svg+xml", render_svg,
				   title, upload_done, u) < 0)
		log_warn(MOD, "%s/%s: flame graph upload not queued", t->ns, t->name);
cleanup:
	free(key);
	free(svg_key);
}

void reconciler_worker_connected(struct reconciler *r, const char *node)
{
	for (struct target *t = r->targets; t; t = t->next) {
		struct target_node *n;

		if (t->phase != PHASE_RUNNING)
			continue;
		n = rc_find_node(t, node);
		if (n && (n->state == NODE_WAITING || n->state == NODE_LOST)) {
			rc_attach_node(r, t, n);
			rc_write_status(r, t);
		}
	}
}

void reconciler_worker_disconnected(struct reconciler *r, const char *node)
{
	for (struct target *t = r->targets; t; t = t->next) {
		struct target_node *n;

		if (!rc_is_active(t))
			continue;
		n = rc_find_node(t, node);
		if (!n || n->state != NODE_ATTACHED)
			continue;
		n->state = NODE_LOST;
		n->ever_lost = true;
		copy_str(n->message, sizeof(n->message), "worker disconnected mid-window");
		log_warn(MOD, "%s/%s: worker of node %s disconnected mid-window", t->ns, t->name,
			 node);
		rc_emit_event(
		    r, t, "Warning", "WorkerLost",
		    "worker of node %s disconnected mid-window; its samples may be missing", node);
		rc_write_status(r, t);
		rc_maybe_finalize(r, t);
	}
}

/* A worker's notice (e.g. a Python shown as native frames): an Event the
 * first time it is seen for the node in this window, and the node's status
 * message while there is no other. Workers repeat their notices in every
 * progress of the job, so a lost message loses none. */
static void node_notice(struct reconciler *r, struct target *t, struct target_node *n,
			const struct proto_notice *pn)
{
	uint64_t h = htab_hash_str(htab_hash_str(HTAB_SEED, pn->code), pn->message);

	for (size_t i = 0; i < n->n_notices; i++)
		if (n->notices[i] == h)
			return;
	if (n->n_notices == PROTO_MAX_NOTICES)
		return;
	n->notices[n->n_notices++] = h;
	if (!n->notice[0])
		snprintf(n->notice, sizeof(n->notice), "%.40s: %.200s", pn->code, pn->message);
	log_info(MOD, "%s/%s: worker %s notes %s: %s", t->ns, t->name, n->name, pn->code,
		 pn->message);
	rc_emit_event(r, t, "Warning", "WorkerNotice", "node %s: %s: %s", n->name, pn->code,
		      pn->message);
	rc_write_status(r, t);
}

void reconciler_progress(struct reconciler *r, const char *node, const struct proto_progress *p)
{
	struct target *t = rc_find_job(r, p->job_id);
	struct target_node *n;

	if (!t || !(n = rc_find_node(t, node)))
		return;
	n->samples = p->samples;
	n->drops = p->drops;
	n->truncated = p->truncated;
	for (size_t i = 0; i < p->n_notices; i++)
		node_notice(r, t, n, &p->notices[i]);
	for (size_t i = 0; i < p->n_pods; i++) {
		struct target_pod *pod = rc_find_pod(t, p->pods[i].uid);

		if (pod)
			pod->samples = p->pods[i].samples;
	}
	if (p->final) {
		if (n->state == NODE_ATTACHED)
			n->state = NODE_DONE;
		rc_write_status(r, t);
		rc_maybe_finalize(r, t);
	}
}

void reconciler_worker_error(struct reconciler *r, const char *node,
			     const struct proto_error_msg *e)
{
	struct target *t = e->job_id[0] ? rc_find_job(r, e->job_id) : NULL;
	struct target_node *n;

	log_warn(MOD, "worker %s reports %s: %s", node, e->code, e->message);
	if (!t || !(n = rc_find_node(t, node)))
		return;
	snprintf(n->message, sizeof(n->message), "%.48s: %.100s", e->code, e->message);
	rc_emit_event(r, t, "Warning", "WorkerError", "node %s: %s: %s", node, e->code, e->message);
	rc_write_status(r, t);
}

/* ---- timers, metrics, lifetime -------------------------------------------- */

/* All nodes reported (or the grace period ran out): merge, publish, finish. */
void rc_finalize_target(struct reconciler *r, struct target *t)
{
	void *pb = NULL;
	size_t len = 0;
	char why[512], amount[48];

	for (size_t i = 0; i < t->nnodes; i++) {
		struct target_node *n = &t->nodes[i];

		if (n->state == NODE_ATTACHED || n->state == NODE_WAITING) {
			if (n->state == NODE_ATTACHED)
				copy_str(n->message, sizeof(n->message),
					 "no profile received before the deadline");
			n->state = NODE_LOST;
		}
	}
	rc_detach_all(r, t);
	k8s_time_now(t->completion_time, sizeof(t->completion_time));
	if (t->npods == 0) {
		rc_window_failed(r, t, "NoPodsMatched",
				 "the selector matched no running pod during the window");
		return;
	}
	t->profile_samples = pprof_builder_total(t->merged);
	if (t->profile_samples <= 0) {
		rc_window_failed(r, t, "NoSamples",
				 rc_partial(t, why, sizeof(why)) ? why
				 : t->spec.offcpu
				     ? "no off-CPU time was recorded (no block of at least "
				       "spec.offcpu.minBlock in the window?)"
				     : "no samples were collected (pods idle during the window?)");
		return;
	}
	pprof_builder_set_duration(t->merged, (rc_wall_ms(r) - t->start_unix_ms) * 1000000LL);
	/* The previous window's list (continuous mode) is replaced here. */
	json_object_put(t->top);
	t->top = rc_top_json(t->merged, r->cfg.top_n);
	if (pprof_builder_encode(t->merged, true, &pb, &len) == 0)
		store_profile(r, t, pb, len);
	t->phase = PHASE_SUCCEEDED;
	if (rc_partial(t, why, sizeof(why)))
		snprintf(t->message, sizeof(t->message), "partial result: %.230s", why);
	else
		snprintf(t->message, sizeof(t->message), "profiled %zu pod(s) on %zu node(s)",
			 t->npods, t->nnodes);
	if (rc_schedule_next(r, t)) {
		size_t n = strlen(t->message);

		snprintf(t->message + n, sizeof(t->message) - n,
			 "; window %u done, next in %" PRIu64 " ms", t->windows_done,
			 t->next_window_ms - rc_mono_ms(r));
	}
	if (t->spec.offcpu)
		snprintf(amount, sizeof(amount), "%.3f s blocked",
			 (double)t->profile_samples / 1e9);
	else
		snprintf(amount, sizeof(amount), "%" PRId64 " samples", t->profile_samples);
	log_info(MOD, "%s/%s: succeeded: %s, %s", t->ns, t->name, amount, t->message);
	rc_emit_event(r, t, "Normal", "Completed", "%s; top: %s; %s", amount,
		      t->top && json_object_array_length(t->top)
			  ? jstr(json_object_array_get_idx(t->top, 0), "function", NULL)
			  : "-",
		      t->message);
	rc_write_status(r, t);
	free(pb);
	/* The merged profile is in storage now; keep memory flat. */
	pprof_builder_free(t->merged);
	t->merged = NULL;
}

void rc_maybe_finalize(struct reconciler *r, struct target *t)
{
	if (!rc_is_active(t))
		return;
	if (rc_mono_ms(r) < t->end_ms)
		return;
	for (size_t i = 0; i < t->nnodes; i++)
		if (t->nodes[i].state == NODE_ATTACHED)
			return; /* still waiting for its profile (until the grace deadline) */
	rc_finalize_target(r, t);
}

static void upload_done(const struct storage_event *ev, void *arg)
{
	struct upload *u = arg, **pp;
	struct reconciler *r = u->r;
	struct target *t = rc_find_target(r, u->uid);
	bool terminal = ev->state == STORAGE_UPLOADED || ev->state == STORAGE_FAILED;

	if (t) {
		if (u->svg) {
			if (ev->state == STORAGE_UPLOADED) {
				free(t->svg_url);
				t->svg_url = strdup(ev->url);
			}
		} else {
			static const char *const names[] = {"Uploaded", "Spooled", "Failed",
							    "Retrying"};

			copy_str(t->upload_state, sizeof(t->upload_state), names[ev->state]);
			if (ev->state == STORAGE_UPLOADED) {
				free(t->url);
				t->url = strdup(ev->url);
				snprintf(t->upload_msg, sizeof(t->upload_msg),
					 "uploaded after %u attempt(s)", ev->attempts);
				rc_emit_event(r, t, "Normal", "Uploaded", "profile stored at %s",
					      ev->url);
			} else {
				snprintf(t->upload_msg, sizeof(t->upload_msg), "%s",
					 ev->message && *ev->message ? ev->message : "store error");
				rc_emit_event(r, t, "Warning", "UploadDelayed", "%s: %s",
					      names[ev->state], t->upload_msg);
			}
			log_info(MOD, "%s/%s: profile %s (%s)", t->ns, t->name, t->upload_state,
				 t->upload_msg);
		}
		rc_write_status(r, t);
	}
	if (!terminal)
		return;
	for (pp = &r->uploads; *pp; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	free(u);
}

/* ---- informer handlers ---------------------------------------------------- */

void reconciler_profile(struct reconciler *r, const char *node, const char *job_id, bool final,
			const uint8_t *data, size_t len)
{
	struct target *t = rc_find_job(r, job_id);
	struct target_node *n;
	int err;

	if (!t || !t->merged || !(n = rc_find_node(t, node))) {
		log_info(MOD, "profile for unknown or finished job %s from node %s dropped", job_id,
			 node);
		return;
	}
	/* One final profile per node per job (a repeated one would count the
	 * node's samples again), and a bounded number of partial ones. */
	if (n->got_final || (!final && n->partials >= MAX_PARTIAL_PROFILES)) {
		log_warn(MOD, "%s/%s: extra profile from node %s dropped (%s)", t->ns, t->name,
			 node, n->got_final ? "final one already merged" : "too many partial ones");
		r->profiles_dropped++;
		return;
	}
	if (final)
		n->got_final = true;
	else
		n->partials++;
	r->profiles_received++;
	err = pprof_builder_merge(t->merged, data, len, MAX_PROFILE_BYTES);
	if (err < 0) {
		log_warn(MOD, "%s/%s: profile from node %s refused: %s", t->ns, t->name, node,
			 strerror(-err));
		copy_str(n->message, sizeof(n->message), "profile could not be decoded");
		n->state = NODE_LOST;
	} else if (final) {
		n->state = NODE_DONE;
	}
	r->samples_received = 0;
	for (struct target *x = r->targets; x; x = x->next)
		r->samples_received += rc_total_samples(x);
	rc_maybe_finalize(r, t);
}
