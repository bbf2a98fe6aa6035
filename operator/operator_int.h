/* SPDX-License-Identifier: Apache-2.0 */
/* operator_int.h -- state shared by the operator's wiring (run.c), its
 * command line (flags.c) and the handlers that feed the reconciler
 * (handlers.c).
 *
 * Private to `podprof-operator run`. Threading: main thread only, except
 * operator_tokenreview_auth (hub auth threads) and the leader thread's
 * stores to `leading`/`lstop`. Returns: 0 on success, negative errno on
 * failure.
 */
#ifndef PODPROF_OPERATOR_INT_H
#define PODPROF_OPERATOR_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"
#include "informer.h"
#include "storage.h"

#define MOD "operator"

#ifndef PODPROF_VERSION
#define PODPROF_VERSION "0.1.0"
#endif

/* Everything one `run` owns. */
struct operator_state {
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

/* ---- command line (flags.c) ----------------------------------------------- */

struct operator_flags {
	const char *kubeconfig; /* NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
	const char *ns;		/* NULL: all namespaces */
	const char *token_file; /* local mode */
	bool token_review;	/* cluster mode */
	const char *worker_sa;
	const char *audience;
	bool no_storage;
	bool leader_elect;
	const char *lease_name;
	const char *lease_ns;
	unsigned long lease_s;
	uint32_t grace_ms;
	unsigned top_n;
	struct hub_config hub;	     /* port, iface, TLS (auth set by run.c) */
	struct storage_config store; /* owned: storage_config_release() */
};

/* Fill f from argv. 0: run; 1: --help printed (exit 0); -EINVAL: the
 * error is printed (exit 2). f->store must be released in every case. */
int operator_flags_parse(int argc, char **argv, struct operator_flags *f);

/* ---- handlers (handlers.c) ------------------------------------------------- */

/* Informer handlers for the ProfilingTarget and Pod informers (arg = op). */
struct informer_handlers operator_target_handlers(struct operator_state *op);
struct informer_handlers operator_pod_handlers(struct operator_state *op);

/* Hub callbacks into the reconciler, ctx = op. */
struct hub_callbacks operator_hub_callbacks(struct operator_state *op);

/* The reconciler's ops bound to op's hub, pod informer, storage (none
 * without storage) and status writer, and the real clocks; ctx = op. */
const struct reconciler_ops *operator_reconciler_ops(const struct operator_state *op);

/* Reconcile every queued target key from the informer cache's copy. */
void operator_drain_queue(struct operator_state *op);

/* hub_auth_fn (ctx = op) checking a worker token with TokenReview. */
int operator_tokenreview_auth(void *ctx, const char *token, struct hub_auth_result *out);

/* /metrics, GET /profiles/..., /readyz callbacks of the hub (ctx = op). */
int operator_metrics(void *ctx, char *buf, size_t cap);
int operator_read_object(void *ctx, const char *rel_key, const volatile sig_atomic_t *abort,
			 void **out, size_t *len);
bool operator_ready(void *ctx);

#endif
