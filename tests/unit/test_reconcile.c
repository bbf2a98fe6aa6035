/* SPDX-License-Identifier: Apache-2.0 */
/* test_reconcile.c -- the reconciler on its own: Kubernetes objects and
 * worker messages replayed through it, every call it makes checked.
 *
 * The reconciler's ops (reconcile.h) are bound to a recorder here: attach,
 * detach, status posts, Events and uploads are appended to a log as one line
 * each, workers are "connected" by name, pods sit in a small cache, and the
 * clocks only move when a test moves them. Each test then compares the log
 * with the exact lines expected, in order.
 */
#include "unit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "k8s_status.h"
#include "log.h"
#include "pprof.h"
#include "proto.h"
#include "reconcile.h"
#include "storage.h"

#define MAX_LOG	 64
#define MAX_PUTS 16
/* 2026-01-01T00:00:00Z: the fake wall clock starts here. */
#define WALL0 1767225600000LL

struct put {
	void (*done)(const struct storage_event *ev, void *arg);
	void *arg;
	char key[512];
	size_t len;
};

/* The world the reconciler sees. */
struct world {
	char log[MAX_LOG][320]; /* calls made, in order */
	size_t nlog;
	json_object *pods;    /* "ns/name" -> Pod */
	json_object *workers; /* node -> true: connected */
	uint64_t mono;	      /* CLOCK_MONOTONIC, ms */
	int64_t wall;	      /* UNIX ms */
	struct put puts[MAX_PUTS];
	size_t nputs;
	json_object *last_status; /* last status posted (owned) */
	struct reconciler *r;
};

static void logf_(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_(struct world *w, const char *fmt, ...)
{
	va_list ap;

	if (w->nlog >= MAX_LOG)
		return;
	va_start(ap, fmt);
	vsnprintf(w->log[w->nlog++], sizeof(w->log[0]), fmt, ap);
	va_end(ap);
}

/* ---- ops -------------------------------------------------------------------- */

static bool op_worker_connected(void *ctx, const char *node)
{
	struct world *w = ctx;

	return json_object_object_get_ex(w->workers, node, NULL);
}

static int op_attach(void *ctx, const char *node, const struct proto_attach *a)
{
	struct world *w = ctx;
	char pods[200] = "";
	size_t off = 0;

	for (size_t i = 0; i < a->n_pods && off < sizeof(pods); i++)
		off += (size_t)snprintf(pods + off, sizeof(pods) - off, "%s%s", i ? "," : "",
					a->pods[i].name);
	logf_(w, "attach %s job=%s pods=%s window=%" PRIu64, node, a->job_id, pods, a->window_ms);
	return 0;
}

static int op_detach(void *ctx, const char *node, const char *job_id)
{
	logf_(ctx, "detach %s job=%s", node, job_id);
	return 0;
}

static json_object *op_pod_get(void *ctx, const char *ns, const char *name)
{
	struct world *w = ctx;
	char key[300];
	json_object *p;

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	return json_object_object_get_ex(w->pods, key, &p) ? p : NULL;
}

static int op_pod_foreach(void *ctx, int (*fn)(void *arg, json_object *pod), void *arg)
{
	struct world *w = ctx;

	json_object_object_foreach(w->pods, k, v)
	{
		(void)k;
		if (fn(arg, v))
			break;
	}
	return 0;
}

static int op_store(void *ctx, const char *key, const void *data, size_t len,
		    const char *content_type, storage_render_fn render, const char *title,
		    void (*done)(const struct storage_event *ev, void *arg), void *arg)
{
	struct world *w = ctx;
	struct put *p;

	(void)data;
	if (w->nputs >= MAX_PUTS)
		return -ENOBUFS;
	p = &w->puts[w->nputs++];
	p->done = done;
	p->arg = arg;
	p->len = len;
	snprintf(p->key, sizeof(p->key), "%s", key);
	/* "rendered": the object is made from data later, off the loop. */
	logf_(w, "store %s%s%s", content_type, render ? " rendered " : "", render ? title : "");
	return 0;
}

static int op_object_url(void *ctx, const char *key, char **out)
{
	(void)ctx;
	return asprintf(out, "s3://bucket/%s", key) < 0 ? -ENOMEM : 0;
}

/* "status NAME PHASE pods=P nodes=n1:State,n2:State" */
static int op_post_status(void *ctx, const struct k8s_object_ref *ref, json_object *st)
{
	struct world *w = ctx;
	json_object *nodes = NULL, *phase = NULL, *pods = NULL;
	char ns[200] = "";
	size_t off = 0;

	json_object_object_get_ex(st, "phase", &phase);
	json_object_object_get_ex(st, "matchedPods", &pods);
	json_object_object_get_ex(st, "nodes", &nodes);
	for (size_t i = 0; nodes && i < json_object_array_length(nodes) && off < sizeof(ns); i++) {
		json_object *n = json_object_array_get_idx(nodes, i), *name, *state;

		json_object_object_get_ex(n, "name", &name);
		json_object_object_get_ex(n, "state", &state);
		off +=
		    (size_t)snprintf(ns + off, sizeof(ns) - off, "%s%s:%s", i ? "," : "",
				     json_object_get_string(name), json_object_get_string(state));
	}
	logf_(w, "status %s %s pods=%d nodes=%s", ref->name, json_object_get_string(phase),
	      json_object_get_int(pods), ns);
	json_object_put(w->last_status);
	w->last_status = json_object_get(st);
	return 0;
}

static int op_event(void *ctx, const struct k8s_object_ref *ref, const char *type,
		    const char *reason, const char *message)
{
	(void)ref;
	(void)message;
	logf_(ctx, "event %s %s", type, reason);
	return 0;
}

static uint64_t op_mono_ms(void *ctx)
{
	return ((struct world *)ctx)->mono;
}

static int64_t op_wall_ms(void *ctx)
{
	return ((struct world *)ctx)->wall;
}

static const struct reconciler_ops recorder_ops = {
    .worker_connected = op_worker_connected,
    .attach = op_attach,
    .detach = op_detach,
    .pod_get = op_pod_get,
    .pod_foreach = op_pod_foreach,
    .store = op_store,
    .object_url = op_object_url,
    .post_status = op_post_status,
    .event = op_event,
    .mono_ms = op_mono_ms,
    .wall_ms = op_wall_ms,
};

/* ---- the world -------------------------------------------------------------- */

static int world_init(struct world *w)
{
	struct reconciler_config cfg = {.ops = &recorder_ops, .ops_ctx = w, .grace_ms = 5000};

	memset(w, 0, sizeof(*w));
	w->pods = json_object_new_object();
	w->workers = json_object_new_object();
	w->mono = 1000000;
	w->wall = WALL0;
	return reconciler_new(&cfg, &w->r);
}

static void world_release(struct world *w)
{
	reconciler_free(w->r);
	json_object_put(w->pods);
	json_object_put(w->workers);
	json_object_put(w->last_status);
}

/* Move both clocks, then run what is due, then post statuses. */
static void advance(struct world *w, uint64_t ms)
{
	w->mono += ms;
	w->wall += (int64_t)ms;
	reconciler_tick(w->r, w->mono);
	reconciler_flush(w->r);
}

static void connect_worker(struct world *w, const char *node)
{
	json_object_object_add(w->workers, node, json_object_new_boolean(1));
	reconciler_worker_connected(w->r, node);
	reconciler_flush(w->r);
}

static void lose_worker(struct world *w, const char *node)
{
	json_object_object_del(w->workers, node);
	reconciler_worker_disconnected(w->r, node);
	reconciler_flush(w->r);
}

/* A running Pod as the API server shows it, with one started container. */
static json_object *pod_json(const char *name, const char *uid, const char *node, const char *app)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
		 "\"metadata\":{\"name\":\"%s\",\"namespace\":\"shop\",\"uid\":\"%s\","
		 "\"labels\":{\"app\":\"%s\"}},"
		 "\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"main\"}]},"
		 "\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"main\","
		 "\"containerID\":\"containerd://%s0\",\"ready\":true}]}}",
		 name, uid, app, node, uid);
	return json_tokener_parse(buf);
}

/* The pod appears in the cache (informer add), then the reconciler hears. */
static void add_pod(struct world *w, const char *name, const char *uid, const char *node,
		    const char *app, bool tell)
{
	char key[300];
	json_object *p = pod_json(name, uid, node, app);

	snprintf(key, sizeof(key), "shop/%s", name);
	json_object_object_add(w->pods, key, p);
	if (tell) {
		reconciler_pod_upsert(w->r, p);
		reconciler_flush(w->r);
	}
}

static void delete_pod(struct world *w, const char *name)
{
	char key[300];
	json_object *p;

	snprintf(key, sizeof(key), "shop/%s", name);
	if (!json_object_object_get_ex(w->pods, key, &p))
		return;
	json_object_get(p);
	json_object_object_del(w->pods, key);
	reconciler_pod_delete(w->r, p);
	reconciler_flush(w->r);
	json_object_put(p);
}

/* A ProfilingTarget "checkout" in namespace shop; extra_spec and status are
 * JSON members (without braces) or "". */
static void upsert_target(struct world *w, int64_t generation, const char *selector_app,
			  const char *extra_spec, const char *status)
{
	char buf[2048];
	json_object *o;

	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"podprof.dev/v1alpha1\",\"kind\":\"ProfilingTarget\","
		 "\"metadata\":{\"name\":\"checkout\",\"namespace\":\"shop\",\"uid\":\"tuid\","
		 "\"generation\":%" PRId64 "},"
		 "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"%s\"}},\"duration\":\"6s\","
		 "\"frequencyHz\":99%s%s},"
		 "\"status\":{%s}}",
		 generation, selector_app, extra_spec[0] ? "," : "", extra_spec, status);
	o = json_tokener_parse(buf);
	reconciler_target_upsert(w->r, o);
	reconciler_flush(w->r);
	json_object_put(o);
}

/* A worker's final profile for job: samples of one stack (statuses are
 * posted by the caller's next reconciler_flush). */
static void profile_in(struct world *w, const char *node, const char *job, const char *fn,
		       int64_t count)
{
	struct pprof_frame fr[] = {{.addr = 0x1000, .function = fn},
				   {.addr = 0x2000, .function = "main"}};
	struct pprof_builder *b = NULL;
	void *pb = NULL;
	size_t len = 0;

	if (pprof_builder_new(&b, 10101010, WALL0 * 1000000LL) == 0 &&
	    pprof_builder_add(b, fr, 2, count, NULL, 0) == 0 &&
	    pprof_builder_encode(b, true, &pb, &len) == 0)
		reconciler_profile(w->r, node, job, true, pb, len);
	free(pb);
	pprof_builder_free(b);
}

static void send_profile(struct world *w, const char *node, const char *job, const char *fn,
			 int64_t count)
{
	profile_in(w, node, job, fn, count);
	reconciler_flush(w->r);
}

/* Complete every upload handed to the store, as storage would. */
static void finish_uploads(struct world *w)
{
	for (size_t i = 0; i < w->nputs; i++) {
		struct storage_event ev = {.state = STORAGE_UPLOADED,
					   .key = w->puts[i].key,
					   .url = "s3://bucket/x",
					   .size = w->puts[i].len,
					   .message = ""};

		w->puts[i].done(&ev, w->puts[i].arg);
	}
	w->nputs = 0;
	reconciler_flush(w->r);
}

/* Compare the log with the expected lines (NULL-terminated), then clear it. */
static int expect_log(const char *where, struct world *w, ...)
{
	va_list ap;
	const char *want;
	size_t i = 0;
	int bad = 0;

	va_start(ap, w);
	while ((want = va_arg(ap, const char *))) {
		if (i >= w->nlog || strcmp(w->log[i], want) != 0) {
			fprintf(stderr, "    %s: call %zu is \"%s\", expected \"%s\"\n", where, i,
				i < w->nlog ? w->log[i] : "(none)", want);
			bad = 1;
		}
		i++;
	}
	va_end(ap);
	for (; i < w->nlog; i++) {
		fprintf(stderr, "    %s: unexpected call %zu \"%s\"\n", where, i, w->log[i]);
		bad = 1;
	}
	w->nlog = 0;
	return bad;
}

#define EXPECT(...) (*unit_failed) += expect_log(__func__, __VA_ARGS__, (const char *)NULL)

/* status.<k1>[.<k2>] of the last status posted, as a string. */
static const char *status_str(struct world *w, const char *k1, const char *k2)
{
	json_object *v;

	if (!w->last_status || !json_object_object_get_ex(w->last_status, k1, &v))
		return NULL;
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return NULL;
	return json_object_get_string(v);
}

/* status of the condition of that type in the last status posted. */
static const char *condition_status(struct world *w, const char *type)
{
	json_object *conds, *c, *v;

	if (!w->last_status || !json_object_object_get_ex(w->last_status, "conditions", &conds))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(conds); i++) {
		c = json_object_array_get_idx(conds, i);
		if (json_object_object_get_ex(c, "type", &v) &&
		    strcmp(json_object_get_string(v), type) == 0 &&
		    json_object_object_get_ex(c, "status", &v))
			return json_object_get_string(v);
	}
	return NULL;
}

/* Workers on node-a and node-b, a shop pod on each, the target's window
 * started (its calls already checked elsewhere, so cleared). */
static int two_nodes_running(struct world *w)
{
	int err = world_init(w);

	if (err)
		return err;
	connect_worker(w, "node-a");
	connect_worker(w, "node-b");
	add_pod(w, "shop-1", "p1", "node-a", "shop", false);
	add_pod(w, "shop-2", "p2", "node-b", "shop", false);
	upsert_target(w, 1, "shop", "", "");
	w->nlog = 0;
	return 0;
}

/* ---- tests ------------------------------------------------------------------ */

UNIT_TEST(reconcile_window_attach_collect_store)
{
	struct world w;

	CHECK_EQ_INT(world_init(&w), 0);
	connect_worker(&w, "node-a");
	add_pod(&w, "shop-1", "p1", "node-a", "shop", false);
	add_pod(&w, "search-1", "p9", "node-a", "search", false);
	upsert_target(&w, 1, "shop", "", "");
	EXPECT(&w, "attach node-a job=tuid.1.0 pods=shop-1 window=6000", "event Normal Started",
	       "status checkout Running pods=1 nodes=node-a:Attached");

	advance(&w, 3000);
	EXPECT(&w);
	advance(&w, 3000); /* window over: waiting for the profile (grace), no write */
	EXPECT(&w);
	send_profile(&w, "node-a", "tuid.1.0", "compute_tax", 40);
	EXPECT(&w, "store application/octet-stream", "store image/svg+xml rendered shop/checkout",
	       "event Normal Completed", "status checkout Succeeded pods=1 nodes=node-a:Done");
	CHECK_EQ_STR(status_str(&w, "profile", "state"), "Uploading");
	finish_uploads(&w);
	EXPECT(&w, "event Normal Uploaded", "status checkout Succeeded pods=1 nodes=node-a:Done");
	CHECK_EQ_STR(status_str(&w, "profile", "state"), "Uploaded");
	world_release(&w);
}

UNIT_TEST(reconcile_selector_change_restarts_window)
{
	struct world w;

	CHECK_EQ_INT(world_init(&w), 0);
	connect_worker(&w, "node-a");
	connect_worker(&w, "node-b");
	add_pod(&w, "shop-1", "p1", "node-a", "shop", false);
	add_pod(&w, "search-1", "p2", "node-b", "search", false);
	upsert_target(&w, 1, "shop", "", "");
	EXPECT(&w, "attach node-a job=tuid.1.0 pods=shop-1 window=6000", "event Normal Started",
	       "status checkout Running pods=1 nodes=node-a:Attached");
	advance(&w, 2000);
	/* Our own status write comes back: same generation, nothing to do. */
	upsert_target(&w, 1, "shop", "", "\"phase\":\"Running\",\"observedGeneration\":1");
	EXPECT(&w);
	/* The selector now names the other app: old job detached, new one attached. */
	upsert_target(&w, 2, "search", "", "\"phase\":\"Running\",\"observedGeneration\":1");
	EXPECT(&w, "detach node-a job=tuid.1.0",
	       "attach node-b job=tuid.2.0 pods=search-1 window=6000", "event Normal Started",
	       "status checkout Running pods=1 nodes=node-b:Attached");
	world_release(&w);
}

UNIT_TEST(reconcile_pods_arriving_and_leaving_mid_window)
{
	struct world w;

	CHECK_EQ_INT(world_init(&w), 0);
	connect_worker(&w, "node-a");
	connect_worker(&w, "node-b");
	add_pod(&w, "shop-1", "p1", "node-a", "shop", false);
	upsert_target(&w, 1, "shop", "", "");
	EXPECT(&w, "attach node-a job=tuid.1.0 pods=shop-1 window=6000", "event Normal Started",
	       "status checkout Running pods=1 nodes=node-a:Attached");
	advance(&w, 1500);
	/* A matching pod on another node: attached there for what is left. */
	add_pod(&w, "shop-2", "p2", "node-b", "shop", true);
	EXPECT(&w, "attach node-b job=tuid.1.0 pods=shop-2 window=4500",
	       "status checkout Running pods=2 nodes=node-a:Attached,node-b:Attached");
	/* A second one on node-a: attach is additive, the job is sent both pods. */
	advance(&w, 500);
	add_pod(&w, "shop-3", "p3", "node-a", "shop", true);
	EXPECT(&w, "attach node-a job=tuid.1.0 pods=shop-1,shop-3 window=4000",
	       "status checkout Running pods=3 nodes=node-a:Attached,node-b:Attached");
	/* A pod that does not match is never attached. */
	add_pod(&w, "search-1", "p4", "node-a", "search", true);
	EXPECT(&w);
	/* A pod leaving: no detach (its cgroup is gone), it stays in the result. */
	delete_pod(&w, "shop-2");
	EXPECT(&w);
	/* A pod appearing after the window ended (collecting) is neither
	 * attached nor counted, and a node of its own would not be waited for. */
	advance(&w, 4000);
	EXPECT(&w);
	add_pod(&w, "shop-4", "p5", "node-c", "shop", true);
	EXPECT(&w);
	world_release(&w);
}

UNIT_TEST(reconcile_worker_loss_gives_partial_result)
{
	struct world w;

	CHECK_EQ_INT(two_nodes_running(&w), 0);
	advance(&w, 2000);
	lose_worker(&w, "node-b");
	EXPECT(&w, "event Warning WorkerLost",
	       "status checkout Running pods=2 nodes=node-a:Attached,node-b:Lost");
	/* It comes back within the window: attached again for what is left. */
	advance(&w, 1000);
	connect_worker(&w, "node-b");
	EXPECT(&w, "attach node-b job=tuid.1.0 pods=shop-2 window=3000",
	       "status checkout Running pods=2 nodes=node-a:Attached,node-b:Attached");
	/* Lost again, for good; node-a delivers. */
	lose_worker(&w, "node-b");
	EXPECT(&w, "event Warning WorkerLost",
	       "status checkout Running pods=2 nodes=node-a:Attached,node-b:Lost");
	advance(&w, 3000);
	EXPECT(&w);
	send_profile(&w, "node-a", "tuid.1.0", "compute_tax", 25);
	EXPECT(&w, "store application/octet-stream", "store image/svg+xml rendered shop/checkout",
	       "event Normal Completed",
	       "status checkout Succeeded pods=2 nodes=node-a:Done,node-b:Lost");
	CHECK_EQ_STR(condition_status(&w, "PartialResult"), "True");
	world_release(&w);
}

UNIT_TEST(reconcile_no_worker_fails_at_window_end)
{
	struct world w;

	CHECK_EQ_INT(world_init(&w), 0);
	add_pod(&w, "shop-1", "p1", "node-a", "shop", false);
	upsert_target(&w, 1, "shop", "", "");
	/* No worker on node-a: nothing is sent, the node waits for one. */
	EXPECT(&w, "event Normal Started",
	       "status checkout Running pods=1 nodes=node-a:WaitingForWorker");
	advance(&w, 5999);
	EXPECT(&w);
	/* Window over and no node attached: nothing to wait for, no grace. */
	advance(&w, 1);
	EXPECT(&w, "event Warning Failed", "status checkout Failed pods=1 nodes=node-a:Lost");
	CHECK_EQ_STR(status_str(&w, "phase", NULL), "Failed");
	world_release(&w);
}

UNIT_TEST(reconcile_schedule_runs_repeated_windows)
{
	struct world w;

	CHECK_EQ_INT(world_init(&w), 0);
	connect_worker(&w, "node-a");
	add_pod(&w, "shop-1", "p1", "node-a", "shop", false);
	upsert_target(&w, 1, "shop", "\"schedule\":{\"every\":\"20s\",\"count\":2}", "");
	EXPECT(&w, "attach node-a job=tuid.1.0 pods=shop-1 window=6000", "event Normal Started",
	       "status checkout Running pods=1 nodes=node-a:Attached");
	advance(&w, 6000);
	EXPECT(&w);
	send_profile(&w, "node-a", "tuid.1.0", "compute_tax", 10);
	/* Between windows the target shows Running (waiting for the next). */
	EXPECT(&w, "store application/octet-stream", "store image/svg+xml rendered shop/checkout",
	       "event Normal Completed", "status checkout Running pods=1 nodes=node-a:Done");
	CHECK_EQ_STR(status_str(&w, "windowsCompleted", NULL), "1");
	finish_uploads(&w);
	w.nlog = 0;
	advance(&w, 13000); /* 19 s after the first start: not yet */
	EXPECT(&w);
	advance(&w, 1000); /* 20 s: second window, new job id */
	EXPECT(&w, "attach node-a job=tuid.1.1 pods=shop-1 window=6000", "event Normal Started",
	       "status checkout Running pods=1 nodes=node-a:Attached");
	advance(&w, 6000);
	w.nlog = 0;
	send_profile(&w, "node-a", "tuid.1.1", "compute_tax", 10);
	/* count 2: that was the last one. */
	EXPECT(&w, "store application/octet-stream", "store image/svg+xml rendered shop/checkout",
	       "event Normal Completed", "status checkout Succeeded pods=1 nodes=node-a:Done");
	finish_uploads(&w);
	w.nlog = 0;
	advance(&w, 60000);
	EXPECT(&w);
	world_release(&w);
}

UNIT_TEST(reconcile_restart_resumes_running_window)
{
	struct world w;

	CHECK_EQ_INT(world_init(&w), 0);
	connect_worker(&w, "node-a");
	add_pod(&w, "shop-1", "p1", "node-a", "shop", false);
	/* A new operator finds the target Running since 2 s before now
	 * (WALL0 = 2026-01-01T00:00:00Z): same job, the window's remaining 4 s. */
	w.wall = WALL0 + 2000;
	upsert_target(&w, 1, "shop", "",
		      "\"phase\":\"Running\",\"observedGeneration\":1,"
		      "\"startTime\":\"2026-01-01T00:00:00Z\"");
	EXPECT(&w, "attach node-a job=tuid.1.0 pods=shop-1 window=4000", "event Normal Started",
	       "status checkout Running pods=1 nodes=node-a:Attached");
	CHECK_EQ_STR(status_str(&w, "startTime", NULL), "2026-01-01T00:00:00Z");
	/* A finished target is left alone after a restart. */
	reconciler_target_gone(w.r, "shop", "checkout");
	w.nlog = 0;
	upsert_target(&w, 1, "shop", "",
		      "\"phase\":\"Succeeded\",\"observedGeneration\":1,"
		      "\"startTime\":\"2026-01-01T00:00:00Z\"");
	EXPECT(&w);
	world_release(&w);
}

UNIT_TEST(reconcile_delete_mid_window_detaches_everywhere)
{
	struct world w;

	CHECK_EQ_INT(world_init(&w), 0);
	connect_worker(&w, "node-a");
	connect_worker(&w, "node-b");
	add_pod(&w, "shop-1", "p1", "node-a", "shop", false);
	add_pod(&w, "shop-2", "p2", "node-b", "shop", false);
	add_pod(&w, "shop-3", "p3", "node-c", "shop", false);
	upsert_target(&w, 1, "shop", "", "");
	EXPECT(&w, "attach node-a job=tuid.1.0 pods=shop-1 window=6000",
	       "attach node-b job=tuid.1.0 pods=shop-2 window=6000", "event Normal Started",
	       "status checkout Running pods=3 "
	       "nodes=node-a:Attached,node-b:Attached,node-c:WaitingForWorker");
	advance(&w, 2000);
	reconciler_target_gone(w.r, "shop", "checkout");
	reconciler_flush(w.r);
	/* Only attached nodes hear; no status for a deleted object. */
	EXPECT(&w, "detach node-a job=tuid.1.0", "detach node-b job=tuid.1.0");
	/* Late profiles and worker events for the gone job change nothing. */
	send_profile(&w, "node-a", "tuid.1.0", "compute_tax", 5);
	connect_worker(&w, "node-c");
	advance(&w, 20000);
	EXPECT(&w);
	world_release(&w);
}

UNIT_TEST(reconcile_grace_waits_for_a_late_profile)
{
	struct world w;

	CHECK_EQ_INT(two_nodes_running(&w), 0);
	advance(&w, 6000);
	send_profile(&w, "node-a", "tuid.1.0", "compute_tax", 30);
	/* node-b is still attached: its profile may come within the grace. */
	advance(&w, 4999);
	EXPECT(&w);
	advance(&w, 1);
	EXPECT(&w, "store application/octet-stream", "store image/svg+xml rendered shop/checkout",
	       "event Normal Completed",
	       "status checkout Succeeded pods=2 nodes=node-a:Done,node-b:Lost");
	CHECK_EQ_STR(condition_status(&w, "PartialResult"), "True");
	world_release(&w);
}

/* status.nodes[i].message of the last status posted, or NULL. */
static const char *node_message(struct world *w, size_t i)
{
	json_object *nodes, *v;

	if (!w->last_status || !json_object_object_get_ex(w->last_status, "nodes", &nodes) ||
	    !json_object_object_get_ex(json_object_array_get_idx(nodes, i), "message", &v))
		return NULL;
	return json_object_get_string(v);
}

/* A worker's notice (repeated in each of its progress messages) gives one
 * Event per node and window and becomes the node's message. */
UNIT_TEST(reconcile_worker_notice_once_per_node)
{
	static const char *const news[] = {
	    "event Warning WorkerNotice",
	    "status checkout Running pods=2 nodes=node-a:Attached,node-b:Attached"};
	static const char first[] =
	    "python_unsupported: CPython 3.7 is not supported (no offsets): /usr/lib/x.so";
	struct proto_notice notes[2] = {
	    {"python_unsupported", "CPython 3.7 is not supported (no offsets): /usr/lib/x.so"},
	    {"python_no_symbols", "CPython without symbols: /usr/bin/python3"}};
	/* node, notices in that progress, whether it is news */
	static const struct {
		const char *node;
		size_t n;
		bool news;
	} steps[] = {
	    {"node-a", 1, true},
	    {"node-a", 1, false}, /* repeated: said once */
	    {"node-a", 2, true},  /* a second one is news */
	    {"node-b", 1, true},  /* per node */
	};
	struct proto_progress p = {.samples = 5, .notices = notes};
	struct world w;

	snprintf(p.job_id, sizeof(p.job_id), "tuid.1.0");
	CHECK_EQ_INT(two_nodes_running(&w), 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		p.n_notices = steps[i].n;
		reconciler_progress(w.r, steps[i].node, &p);
		reconciler_flush(w.r);
		if (steps[i].news)
			EXPECT(&w, news[0], news[1]);
		else
			EXPECT(&w);
	}
	/* Each node shows its first notice. */
	CHECK_EQ_STR(node_message(&w, 0), first);
	CHECK_EQ_STR(node_message(&w, 1), first);
	world_release(&w);
}

/* Names as long as Kubernetes allows (253 bytes, labels of at most 63). */
static void long_name(char *buf, size_t cap, const char *kind, int i)
{
	snprintf(buf, cap, "%s-%05d.%.60s.%.60s.%.60s.%.59s", kind, i,
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
		 "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
}

/* A target over 5,000 nodes (Kubernetes' documented largest cluster), one
 * pod each, every name 253 bytes: the status lists at most 256 nodes and
 * pods (the lost nodes and their sample-less pods first), counts all of
 * them, and stays far below etcd's 1.5 MiB object limit. */
UNIT_TEST(reconcile_status_at_5000_nodes_stays_small)
{
	enum { N = 5000, LOST = 3, LIST_MAX = 256 };
	char node[256], pod[256], uid[32], lost0[256];
	struct proto_pod_samples ps;
	struct proto_progress p = {.samples = 10, .final = true, .n_pods = 1, .pods = &ps};
	json_object *nodes = NULL, *pods = NULL, *v;
	enum log_level saved = log_get_level();
	struct world w;

	log_set_level(LOG_LVL_ERROR); /* a line per node otherwise */
	CHECK_EQ_INT(world_init(&w), 0);
	for (int i = 0; i < N; i++) {
		long_name(node, sizeof(node), "node", i);
		long_name(pod, sizeof(pod), "pod", i);
		snprintf(uid, sizeof(uid), "uid-%05d", i);
		connect_worker(&w, node);
		add_pod(&w, pod, uid, node, "shop", false);
	}
	CHECK_EQ_INT(strlen(node), 253);
	upsert_target(&w, 1, "shop", "", "");
	advance(&w, 1000);
	/* The last nodes' workers go away; every other one delivers. */
	for (int i = N - LOST; i < N; i++) {
		long_name(node, sizeof(node), "node", i);
		lose_worker(&w, node);
	}
	advance(&w, 5000);
	snprintf(p.job_id, sizeof(p.job_id), "tuid.1.0");
	for (int i = 0; i < N - LOST; i++) {
		long_name(node, sizeof(node), "node", i);
		snprintf(ps.uid, sizeof(ps.uid), "uid-%05d", i);
		ps.samples = 10;
		profile_in(&w, node, "tuid.1.0", "compute_tax", 10);
		reconciler_progress(w.r, node, &p);
	}
	reconciler_flush(w.r);
	finish_uploads(&w);
	advance(&w, 10000); /* past the grace: finalized without the lost ones */
	log_set_level(saved);
	CHECK_EQ_STR(status_str(&w, "phase", NULL), "Succeeded");
	CHECK_EQ_STR(status_str(&w, "matchedNodes", NULL), "5000");
	CHECK_EQ_STR(status_str(&w, "matchedPods", NULL), "5000");
	CHECK_EQ_STR(status_str(&w, "nodeStates", "Done"), "4997");
	CHECK_EQ_STR(status_str(&w, "nodeStates", "Lost"), "3");
	CHECK_EQ_STR(status_str(&w, "nodesOmitted", NULL), "4744");
	CHECK_EQ_STR(status_str(&w, "podsOmitted", NULL), "4744");
	CHECK(w.last_status && json_object_object_get_ex(w.last_status, "nodes", &nodes) &&
	      json_object_object_get_ex(w.last_status, "pods", &pods));
	CHECK_EQ_INT(json_object_array_length(nodes), LIST_MAX);
	CHECK_EQ_INT(json_object_array_length(pods), LIST_MAX);
	long_name(lost0, sizeof(lost0), "node", N - LOST);
	CHECK(json_object_object_get_ex(json_object_array_get_idx(nodes, 0), "name", &v) &&
	      strcmp(json_object_get_string(v), lost0) == 0);
	CHECK(json_object_object_get_ex(json_object_array_get_idx(nodes, 0), "state", &v) &&
	      strcmp(json_object_get_string(v), "Lost") == 0);
	CHECK(json_object_object_get_ex(json_object_array_get_idx(pods, 0), "samples", &v) &&
	      json_object_get_int64(v) == 0);
	CHECK(json_object_object_get_ex(json_object_array_get_idx(pods, LOST), "samples", &v) &&
	      json_object_get_int64(v) == 10);
	/* Metadata, spec and managedFields must fit beside it in 1.5 MiB. */
	CHECK(w.last_status && strlen(json_object_to_json_string_ext(
				   w.last_status, JSON_C_TO_STRING_PLAIN)) < 512 * 1024);
	world_release(&w);
}
