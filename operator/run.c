/* SPDX-License-Identifier: Apache-2.0 */
/* run.c -- wiring of the operator: flags, API client, informers, hub, storage,
 * reconciler, and the main loop that drives them all.
 *
 * One thread owns everything: the hub's libwebsockets loop. Informers, the
 * uploader and the hub's token checks (TokenReview) work on their own
 * threads and signal eventfds or the lws loop; the waker thread
 * turns those (and the reconciler's next deadline) into hub_wake(), whose
 * callback drains every queue here on the main thread.
 */
#include "run.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "informer.h"
#include "k8s_client.h"
#include "k8s_status.h"
#include "kubeconfig.h"
#include "leader.h"
#include "log.h"
#include "parse.h"
#include "reconcile.h"
#include "status_writer.h"
#include "storage.h"
#include "waker.h"
#include "workqueue.h"

#define MOD "operator"

#ifndef PODPROF_VERSION
#define PODPROF_VERSION "0.1.0"
#endif

static volatile sig_atomic_t stop_flag;
static struct hub *signal_hub;
static atomic_int *signal_lstop;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
	if (signal_lstop)
		atomic_store(signal_lstop, 1);
	if (signal_hub)
		hub_wake(signal_hub);
}

struct op {
	struct k8s_client *k8s;
	struct informer *targets;
	struct informer *pods;
	struct hub *hub;
	struct storage *store;
	struct reconciler *rec;
	struct status_writer *writer; /* API writes happen on its thread */
	struct waker *waker;
	struct workqueue *queue; /* target keys: repeated events coalesce */
	const char *worker_sa;	 /* "ns:name" allowed for TokenReview auth, or NULL */
	const char *audience;
	struct leader *leader; /* NULL without --leader-elect */
	pthread_t lthread;     /* blocks in leader_acquire() */
	bool lthread_started;
	atomic_int lstop;   /* ends leader_acquire() */
	atomic_int leading; /* set by the leader thread once the Lease is ours */
	bool started;	    /* informers started (only while leading) */
	bool lost;	    /* leadership lost: exit non-zero so a standby takes over */
};

/* ---- informer and hub callbacks into the reconciler ------------------------- */

/* Target events only queue the object's key; several events for one target
 * before the next drain are reconciled once, from the cache's latest copy. */
static void t_queue(struct op *op, json_object *o)
{
	char key[WORKQUEUE_MAX_KEY];

	if (informer_key(o, key, sizeof(key)) == 0)
		workqueue_add(op->queue, key);
}

static void t_add(void *arg, json_object *o)
{
	t_queue(arg, o);
}

static void t_upd(void *arg, json_object *old, json_object *o)
{
	(void)old;
	t_queue(arg, o);
}

static void t_del(void *arg, json_object *o)
{
	t_queue(arg, o);
}

static void drain_queue(struct op *op)
{
	char *key;

	for (;;) {
		char *slash;
		json_object *obj;

		key = workqueue_pop(op->queue, waker_now_ms());
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

static void p_add(void *arg, json_object *o)
{
	reconciler_pod_upsert(((struct op *)arg)->rec, o);
}

static void p_upd(void *arg, json_object *old, json_object *o)
{
	(void)old;
	reconciler_pod_upsert(((struct op *)arg)->rec, o);
}

static void p_del(void *arg, json_object *o)
{
	reconciler_pod_delete(((struct op *)arg)->rec, o);
}

static void h_connected(void *ctx, const char *node, const char *identity)
{
	log_info(MOD, "worker for node %s connected (%s)", node, identity);
	reconciler_worker_connected(((struct op *)ctx)->rec, node);
}

static void h_disconnected(void *ctx, const char *node)
{
	log_info(MOD, "worker for node %s disconnected", node);
	reconciler_worker_disconnected(((struct op *)ctx)->rec, node);
}

static void h_progress(void *ctx, const char *node, const struct proto_progress *p)
{
	reconciler_progress(((struct op *)ctx)->rec, node, p);
}

static void h_profile(void *ctx, const char *node, const char *job, bool final, const uint8_t *d,
		      size_t len)
{
	reconciler_profile(((struct op *)ctx)->rec, node, job, final, d, len);
}

static void h_error(void *ctx, const char *node, const struct proto_error_msg *m)
{
	reconciler_worker_error(((struct op *)ctx)->rec, node, m);
}

/* Node of a pod-bound token on API servers older than 1.30 (no node-name
 * extra): the pod named in the token, if its UID still matches, and its
 * spec.nodeName. "" when it cannot be told. */
static void node_of_token_pod(struct op *op, const char *ns, const struct k8s_token_review *tr,
			      char *node, size_t len)
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
static int tokenreview_auth(void *ctx, const char *token, struct hub_auth_result *out)
{
	struct op *op = ctx;
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
static void h_refused(void *ctx, const char *node, const char *identity, const char *reason)
{
	struct op *op = ctx;
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

static int metrics_cb(void *ctx, char *buf, size_t cap)
{
	struct op *op = ctx;
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
 * the object under the configured storage prefix. */
static int object_cb(void *ctx, const char *rel_key, void **out, size_t *len)
{
	struct op *op = ctx;
	const char *prefix = storage_prefix(op->store);
	char *key = NULL, *msg = NULL;
	int err;

	if (asprintf(&key, "%s%s%s", prefix, *prefix ? "/" : "", rel_key) < 0)
		return -ENOMEM;
	err = storage_get(op->store, key, HUB_OBJECT_MAX, out, len, &msg);
	if (err && err != -ENOENT)
		log_warn(MOD, "reading %s for /profiles: %s", key, msg ? msg : strerror(-err));
	free(msg);
	free(key);
	return err;
}

static bool ready_cb(void *ctx)
{
	struct op *op = ctx;

	if (op->leader && !op->started)
		return false; /* a standby: route no worker here */
	return informer_has_synced(op->targets) && informer_has_synced(op->pods);
}

/* Main thread, after hub_wake(): drain every queue, then re-arm the timer. */
/* Standby replicas wait here; the hub keeps answering /healthz meanwhile,
 * and /readyz stays false (informers not synced) so no worker is routed to a
 * standby. */
static void *leader_thread(void *arg)
{
	struct op *op = arg;
	int err = leader_acquire(op->leader, &op->lstop);

	if (!err) {
		atomic_store(&op->leading, 1);
	} else if (err != -ECANCELED) {
		log_error(MOD, "leader election failed: %s", strerror(-err));
		stop_flag = 1;
	}
	hub_wake(op->hub);
	return NULL;
}

/* Start the informers once leading; renew the Lease when due. Returns the
 * next renewal deadline (0 when not electing). */
static uint64_t leader_step(struct op *op)
{
	if (!op->leader || !atomic_load(&op->leading))
		return 0;
	if (!op->started) {
		log_info(MOD, "leading: starting to reconcile");
		if (informer_start(op->pods) < 0 || informer_start(op->targets) < 0) {
			log_error(MOD, "cannot start watch threads");
			stop_flag = 1;
			return 0;
		}
		op->started = true;
	}
	if (waker_now_ms() >= leader_renew_due_ms(op->leader) && leader_renew(op->leader) < 0) {
		log_error(MOD, "leadership lost: exiting so a standby takes over");
		op->lost = true;
		stop_flag = 1;
		return 0;
	}
	return leader_renew_due_ms(op->leader);
}

static void on_wakeup(void *ctx)
{
	struct op *op = ctx;
	uint64_t next, renew;

	/* Pods first, so a new target sees the freshest pod cache. */
	informer_dispatch(op->pods);
	informer_dispatch(op->targets);
	drain_queue(op);
	if (op->store)
		storage_poll_completions(op->store);
	renew = leader_step(op);
	next = reconciler_tick(op->rec, waker_now_ms());
	if (renew && (!next || renew < next))
		next = renew;
	waker_set_deadline(op->waker, next);
	reconciler_flush(op->rec);
	waker_drained(op->waker);
}

static void w_wake(void *ctx)
{
	hub_wake(((struct op *)ctx)->hub);
}

/* ---- flags ----------------------------------------------------------------- */

static const char usage_head[] =
    "usage: podprof-operator run [flags]\n"
    "\n"
    "Watches ProfilingTargets and Pods, programs podprof workers over WebSockets,\n"
    "merges their profiles, uploads pprof + SVG and writes the target's status.\n"
    "\n"
    "Kubernetes:\n"
    "  --kubeconfig PATH          kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)\n"
    "  --namespace NS             only ProfilingTargets in NS (default: all namespaces)\n"
    "Worker hub:\n"
    "  --port N                   WebSocket + /healthz /readyz /metrics port (default 7443)\n"
    "  --iface ADDR               bind address (default: all)\n"
    "  --tls-cert PEM --tls-key PEM   serve wss/https\n"
    "  --token-file PATH          local mode: workers present this shared secret\n"
    "  --token-review             cluster mode: check worker tokens with TokenReview\n"
    "  --worker-sa NS:NAME        with --token-review: the only ServiceAccount allowed\n"
    "  --audience AUD             with --token-review: token audience to require\n"
    "Results:\n"
    "  --grace-ms N               wait for late profiles after the window (default 5000)\n"
    "  --top N                    topFunctions entries in status (default 10)\n"
    "  --no-storage               keep results in status only\n"
    "High availability:\n"
    "  --leader-elect             reconcile only while holding a coordination.k8s.io Lease\n"
    "  --leader-lease NAME        Lease name (default podprof-operator-leader)\n"
    "  --leader-namespace NS      Lease namespace (default $POD_NAMESPACE or the client's)\n"
    "  --leader-lease-seconds N   lease duration, 5..300 (default 15)\n"
    "Object storage:\n";

static void usage(FILE *f)
{
	fputs(usage_head, f);
	for (const struct storage_flag *sf = storage_flags; sf->name; sf++)
		fprintf(f, "  --%s%s%s\n      %s\n", sf->name, sf->arg ? " " : "",
			sf->arg ? sf->arg : "", sf->help);
	fputs("Other:\n"
	      "  --log-level error|warn|info|debug   (default info); -v is debug\n"
	      "  -h, --help\n"
	      "\n"
	      "Example (local):\n"
	      "  podprof-operator run --kubeconfig kubeconfig --token-file token \\\n"
	      "      --storage-dir ./profiles\n",
	      f);
}

static int parse_uint(const char *s, const char *name, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	if (parse_ulong_range(s, min, max, out) == 0)
		return 0;
	fprintf(stderr, "podprof-operator: bad %s '%s' (want %lu..%lu)\n", name, s, min, max);
	return -EINVAL;
}

int operator_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"port", required_argument, NULL, 'p'},
	    {"iface", required_argument, NULL, 'i'},
	    {"tls-cert", required_argument, NULL, 'c'},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"token-file", required_argument, NULL, 't'},
	    {"token-review", no_argument, NULL, 'R'},
	    {"worker-sa", required_argument, NULL, 'S'},
	    {"audience", required_argument, NULL, 'A'},
	    {"grace-ms", required_argument, NULL, 'g'},
	    {"top", required_argument, NULL, 'T'},
	    {"no-storage", no_argument, NULL, 'N'},
	    {"leader-elect", no_argument, NULL, 'L'},
	    {"leader-lease", required_argument, NULL, 'E'},
	    {"leader-namespace", required_argument, NULL, 'M'},
	    {"leader-lease-seconds", required_argument, NULL, 'D'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct op op = {0};
	struct storage_config scfg;
	struct k8s_config *kcfg = NULL;
	struct hub_token_file *tf = NULL;
	struct hub_config hcfg = {0};
	struct hub_callbacks hcbs = {0};
	struct reconciler_config rcfg = {0};
	struct informer_handlers th = {0}, ph = {0};
	const char *kubeconfig = NULL, *ns = NULL, *token_file = NULL;
	bool token_review = false, no_storage = false, leader_elect = false;
	const char *lease_name = "podprof-operator-leader", *lease_ns = NULL;
	unsigned long lease_s = 15;
	char ident[256] = "";
	unsigned long v;
	char errbuf[512];
	struct sigaction sa;
	enum log_level lvl;
	int c, err, rc = 2;

	storage_config_init(&scfg);
	hcfg.port = 7443;
	rcfg.grace_ms = 5000;
	rcfg.top_n = 10;
	if (storage_config_parse_args(&scfg, &argc, argv) < 0)
		goto cleanup;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			kubeconfig = optarg;
			break;
		case 'n':
			ns = optarg;
			break;
		case 'p':
			if (parse_uint(optarg, "--port", 1, 65535, &v))
				goto cleanup;
			hcfg.port = (int)v;
			break;
		case 'i':
			hcfg.iface = optarg;
			break;
		case 'c':
			hcfg.tls_cert = optarg;
			break;
		case 'K':
			hcfg.tls_key = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'R':
			token_review = true;
			break;
		case 'S':
			op.worker_sa = optarg;
			break;
		case 'A':
			op.audience = optarg;
			break;
		case 'g':
			if (parse_uint(optarg, "--grace-ms", 100, 600000, &v))
				goto cleanup;
			rcfg.grace_ms = (uint32_t)v;
			break;
		case 'T':
			if (parse_uint(optarg, "--top", 1, 100, &v))
				goto cleanup;
			rcfg.top_n = (unsigned)v;
			break;
		case 'N':
			no_storage = true;
			break;
		case 'L':
			leader_elect = true;
			break;
		case 'E':
			lease_name = optarg;
			break;
		case 'M':
			lease_ns = optarg;
			break;
		case 'D':
			if (parse_uint(optarg, "--leader-lease-seconds", 5, 300, &lease_s))
				goto cleanup;
			break;
		case 'l':
			if (log_parse_level(optarg, &lvl) < 0) {
				fprintf(stderr, "podprof-operator: bad --log-level '%s'\n", optarg);
				goto cleanup;
			}
			log_set_level(lvl);
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto cleanup;
		default:
			usage(stderr);
			goto cleanup;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "podprof-operator: unexpected argument '%s'\n", argv[optind]);
		goto cleanup;
	}
	if (!token_file == !token_review) {
		fprintf(stderr, "podprof-operator: give exactly one of --token-file (local) or "
				"--token-review (cluster)\n");
		goto cleanup;
	}
	if (!no_storage && storage_config_finish(&scfg) < 0)
		goto cleanup;

	rc = 1;
	err = kubeconfig_load_auto(kubeconfig, &kcfg, errbuf, sizeof(errbuf));
	if (err < 0) {
		log_error(MOD, "no Kubernetes configuration: %s", errbuf);
		goto cleanup;
	}
	err = k8s_client_new(kcfg, &op.k8s);
	if (err < 0) {
		log_error(MOD, "cannot create the API client: %s", strerror(-err));
		goto cleanup;
	}
	if (leader_elect) {
		const char *pod = getenv("POD_NAME");

		if (!lease_ns)
			lease_ns = getenv("POD_NAMESPACE");
		if (!lease_ns)
			lease_ns = k8s_client_namespace(op.k8s);
		/* Identities must differ between replicas: a pod name does, a
		 * hostname alone may not (same host, or hostNetwork). */
		if (pod && *pod) {
			snprintf(ident, sizeof(ident), "%s", pod);
		} else {
			char host[200] = "podprof-operator";

			if (gethostname(host, sizeof(host)) < 0)
				snprintf(host, sizeof(host), "podprof-operator");
			host[sizeof(host) - 1] = '\0';
			snprintf(ident, sizeof(ident), "%s_%d", host, (int)getpid());
		}
		ident[sizeof(ident) - 1] = '\0';
		err = leader_new(op.k8s, lease_ns, lease_name, ident, (unsigned)lease_s * 1000u,
				 &op.leader);
		if (err < 0) {
			log_error(MOD, "cannot set up leader election: %s", strerror(-err));
			goto cleanup;
		}
	}
	if (token_file) {
		err = hub_token_file_load(token_file, &tf);
		if (err < 0) {
			log_error(MOD, "cannot read --token-file %s: %s", token_file,
				  strerror(-err));
			goto cleanup;
		}
		hcfg.auth = hub_token_file_auth;
		hcfg.auth_ctx = tf;
	} else {
		hcfg.auth = tokenreview_auth;
		hcfg.auth_ctx = &op;
		hcfg.auth_async = true;
		hcfg.require_node_binding = true;
	}
	if (!no_storage) {
		err = storage_open(&op.store, &scfg, NULL, NULL);
		if (err < 0) {
			log_error(MOD, "cannot open object storage: %s", strerror(-err));
			goto cleanup;
		}
	}
	hcfg.version = PODPROF_VERSION;
	hcbs = (struct hub_callbacks){.ctx = &op,
				      .on_worker_connected = h_connected,
				      .on_worker_disconnected = h_disconnected,
				      .on_progress = h_progress,
				      .on_profile = h_profile,
				      .on_error = h_error,
				      .on_worker_refused = h_refused};
	err = hub_new(&hcfg, &hcbs, &op.hub);
	if (err < 0) {
		log_error(MOD, "cannot serve workers on port %d: %s", hcfg.port, strerror(-err));
		goto cleanup;
	}
	th = (struct informer_handlers){
	    .on_add = t_add, .on_update = t_upd, .on_delete = t_del, .arg = &op};
	ph = (struct informer_handlers){
	    .on_add = p_add, .on_update = p_upd, .on_delete = p_del, .arg = &op};
	err = informer_new(op.k8s,
			   &(struct informer_spec){.api_prefix = "/apis/podprof.dev/v1alpha1",
						   .plural = "profilingtargets",
						   .namespace = ns},
			   &th, &op.targets);
	if (!err)
		err = informer_new(op.k8s,
				   &(struct informer_spec){
				       .api_prefix = "/api/v1", .plural = "pods", .namespace = ns},
				   &ph, &op.pods);
	if (err < 0) {
		log_error(MOD, "cannot create informers: %s", strerror(-err));
		goto cleanup;
	}
	err = status_writer_new(op.k8s, reconciler_status_mutate, &op.writer);
	if (err < 0) {
		log_error(MOD, "cannot start the status writer: %s", strerror(-err));
		goto cleanup;
	}
	rcfg.writer = op.writer;
	rcfg.hub = op.hub;
	rcfg.store = op.store;
	rcfg.pods = op.pods;
	rcfg.prefix = scfg.prefix;
	op.queue = workqueue_new();
	err = op.queue ? reconciler_new(&rcfg, &op.rec) : -ENOMEM;
	if (!err)
		err = waker_new(w_wake, &op, &op.waker);
	if (!err)
		err = waker_add_fd(op.waker, informer_fd(op.targets));
	if (!err)
		err = waker_add_fd(op.waker, informer_fd(op.pods));
	if (!err && op.store)
		err = waker_add_fd(op.waker, storage_event_fd(op.store));
	if (err < 0) {
		log_error(MOD, "start-up failed: %s", strerror(-err));
		goto cleanup;
	}
	hub_set_wakeup_cb(op.hub, on_wakeup, &op);
	hub_set_metrics_cb(op.hub, metrics_cb, &op);
	hub_set_ready_cb(op.hub, ready_cb, &op);
	if (op.store)
		hub_set_object_cb(op.hub, object_cb, &op);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	signal_hub = op.hub;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	signal_lstop = &op.lstop;
	if (waker_start(op.waker) < 0) {
		log_error(MOD, "cannot start the waker thread");
		goto cleanup;
	}
	if (op.leader) {
		if (pthread_create(&op.lthread, NULL, leader_thread, &op) != 0) {
			log_error(MOD, "cannot start the leader-election thread");
			goto cleanup;
		}
		op.lthread_started = true;
		log_info(MOD, "leader election: waiting for Lease %s/%s as %s", lease_ns,
			 lease_name, ident);
	} else if (informer_start(op.pods) < 0 || informer_start(op.targets) < 0) {
		log_error(MOD, "cannot start watch threads");
		goto cleanup;
	}
	log_info(MOD, "podprof-operator %s: serving workers on port %d (%s), watching %s",
		 PODPROF_VERSION, hcfg.port, hcfg.tls_cert ? "TLS" : "plain",
		 ns ? ns : "all namespaces");
	while (!stop_flag) {
		err = hub_service(op.hub);
		/* Hub callbacks (progress, profiles, workers) changed targets. */
		reconciler_flush(op.rec);
		if (err < 0) {
			log_error(MOD, "hub loop failed: %s", strerror(-err));
			goto cleanup;
		}
	}
	if (op.lost) {
		rc = 1;
		goto cleanup;
	}
	log_info(MOD, "signal received: shutting down");
	rc = 0;
cleanup:
	signal_hub = NULL;
	signal_lstop = NULL;
	atomic_store(&op.lstop, 1);
	if (op.lthread_started)
		pthread_join(op.lthread, NULL);
	if (op.leader && !op.lost)
		leader_release(op.leader);
	waker_free(op.waker);
	informer_free(op.targets);
	informer_free(op.pods);
	reconciler_free(op.rec);
	status_writer_free(op.writer);
	workqueue_free(op.queue);
	hub_free(op.hub);
	storage_close(op.store);
	hub_token_file_free(tf);
	leader_free(op.leader);
	k8s_client_free(op.k8s);
	k8s_config_free(kcfg);
	storage_config_release(&scfg);
	return rc;
}
