/* SPDX-License-Identifier: Apache-2.0 */
/* run.c -- wiring of the operator: API client, informers, hub, storage,
 * reconciler, and the main loop that drives them all (flags in flags.c, what
 * each event does in handlers.c).
 *
 * One thread owns everything: the hub's libwebsockets loop. Informers, the
 * uploader and the hub's token checks (TokenReview) work on their own
 * threads and signal eventfds or the lws loop; the waker thread
 * turns those (and the reconciler's next deadline) into hub_wake(), whose
 * callback drains every queue here on the main thread.
 */
#include "run.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "k8s_client.h"
#include "kubeconfig.h"
#include "leader.h"
#include "log.h"
#include "operator_int.h"
#include "reconcile.h"
#include "status_writer.h"
#include "waker.h"
#include "workqueue.h"

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

/* Standby replicas wait here; the hub keeps answering /healthz meanwhile,
 * and /readyz stays false (informers not synced) so no worker is routed to a
 * standby. */
static void *leader_thread(void *arg)
{
	struct operator_state *op = arg;
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
static uint64_t leader_step(struct operator_state *op)
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
	if (clock_mono_ms() >= leader_renew_due_ms(op->leader) && leader_renew(op->leader) < 0) {
		log_error(MOD, "leadership lost: exiting so a standby takes over");
		op->lost = true;
		stop_flag = 1;
		return 0;
	}
	return leader_renew_due_ms(op->leader);
}

static void on_wakeup(void *ctx)
{
	struct operator_state *op = ctx;
	uint64_t next, renew;

	/* Pods first, so a new target sees the freshest pod cache. */
	informer_dispatch(op->pods);
	informer_dispatch(op->targets);
	operator_drain_queue(op);
	if (op->store)
		storage_poll_completions(op->store);
	renew = leader_step(op);
	next = reconciler_tick(op->rec, clock_mono_ms());
	if (renew && (!next || renew < next))
		next = renew;
	waker_set_deadline(op->waker, next);
	reconciler_flush(op->rec);
	waker_drained(op->waker);
}

/* The waker thread: wake the hub loop, which calls on_wakeup(). */
static void wake_hub(void *ctx)
{
	hub_wake(((struct operator_state *)ctx)->hub);
}

int operator_run(int argc, char **argv)
{
	struct operator_state op = {0};
	struct operator_flags f;
	struct k8s_config *kcfg = NULL;
	struct hub_token_file *tf = NULL;
	struct hub_config hcfg;
	struct hub_callbacks hcbs;
	struct reconciler_config rcfg = {0};
	struct informer_handlers th, ph;
	const char *ns, *lease_ns;
	char ident[256] = "";
	char errbuf[512];
	struct sigaction sa;
	int err, rc = 2;

	err = operator_flags_parse(argc, argv, &f);
	if (err) {
		rc = err > 0 ? 0 : 2;
		goto cleanup;
	}
	ns = f.ns;
	lease_ns = f.lease_ns;
	hcfg = f.hub;
	op.worker_sa = f.worker_sa;
	op.audience = f.audience;
	rcfg.grace_ms = f.grace_ms;
	rcfg.top_n = f.top_n;

	rc = 1;
	err = kubeconfig_load_auto(f.kubeconfig, &kcfg, errbuf, sizeof(errbuf));
	if (err < 0) {
		log_error(MOD, "no Kubernetes configuration: %s", errbuf);
		goto cleanup;
	}
	err = k8s_client_new(kcfg, &op.k8s);
	if (err < 0) {
		log_error(MOD, "cannot create the API client: %s", strerror(-err));
		goto cleanup;
	}
	if (f.leader_elect) {
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
		err = leader_new(op.k8s, lease_ns, f.lease_name, ident, (unsigned)f.lease_s * 1000u,
				 &op.leader);
		if (err < 0) {
			log_error(MOD, "cannot set up leader election: %s", strerror(-err));
			goto cleanup;
		}
	}
	if (f.token_file) {
		err = hub_token_file_load(f.token_file, &tf);
		if (err < 0) {
			log_error(MOD, "cannot read --token-file %s: %s", f.token_file,
				  strerror(-err));
			goto cleanup;
		}
		hcfg.auth = hub_token_file_auth;
		hcfg.auth_ctx = tf;
	} else {
		hcfg.auth = operator_tokenreview_auth;
		hcfg.auth_ctx = &op;
		hcfg.auth_async = true;
		hcfg.require_node_binding = true;
	}
	if (!f.no_storage) {
		err = storage_open(&op.store, &f.store, NULL, NULL);
		if (err < 0) {
			log_error(MOD, "cannot open object storage: %s", strerror(-err));
			goto cleanup;
		}
	}
	hcfg.version = PODPROF_VERSION;
	hcbs = operator_hub_callbacks(&op);
	err = hub_new(&hcfg, &hcbs, &op.hub);
	if (err < 0) {
		log_error(MOD, "cannot serve workers on port %d: %s", hcfg.port, strerror(-err));
		goto cleanup;
	}
	th = operator_target_handlers(&op);
	ph = operator_pod_handlers(&op);
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
	rcfg.ops = operator_reconciler_ops(&op);
	rcfg.ops_ctx = &op;
	rcfg.prefix = f.store.prefix;
	op.queue = workqueue_new();
	err = op.queue ? reconciler_new(&rcfg, &op.rec) : -ENOMEM;
	if (!err)
		err = waker_new(wake_hub, &op, &op.waker);
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
	hub_set_metrics_cb(op.hub, operator_metrics, &op);
	hub_set_ready_cb(op.hub, operator_ready, &op);
	if (op.store) {
		err = hub_set_object_cb(op.hub, operator_read_object, &op);
		if (err < 0) {
			log_error(MOD, "cannot start the profile read threads: %s", strerror(-err));
			goto cleanup;
		}
	}

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
			 f.lease_name, ident);
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
	storage_config_release(&f.store);
	return rc;
}
