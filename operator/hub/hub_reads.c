/* SPDX-License-Identifier: Apache-2.0 */
/* hub_reads.c -- GET /profiles/ reads off the hub thread: a few read threads
 * and a bound on the reads queued or running.
 *
 * Why: reading a stored profile is an S3 GET. Run on the hub thread, a slow
 * or stalled store held every worker's frames, heartbeats and /healthz for as
 * long as the transfer took (up to the S3 timeouts), long enough for workers
 * to give up on the hub. Here the hub thread only queues the read and leaves
 * the HTTP request unanswered; a thread of the hub's pool (hub_pool.c, as
 * for token checks) calls the object callback and the result comes back to
 * the hub thread, which answers the request if it is still open. Past
 * HUB_READS_MAX reads the request is answered 503 at once, so a burst of fetches neither grows memory (each object can be
 * HUB_OBJECT_MAX bytes) nor queues behind a store that does not answer.
 */
#include "hub_int.h"

#include <errno.h>
#include <stdlib.h>

#define READ_THREADS 2

struct job {
	struct hub_pool_job pj; /* first; pj.id: the request's read_id, pj.arg: the key */
	int rc;
	void *obj;
	size_t len;
};

static void clear_read(struct hub_pool_job *pj)
{
	struct job *j = (struct job *)pj;

	free(j->obj);
	j->obj = NULL;
}

static void run_read(struct hub_pool_job *pj, const volatile sig_atomic_t *stop, void *ctx)
{
	struct job *j = (struct job *)pj;
	struct hub *hub = ctx;

	/* The callback is fixed while the threads run (hub_set_object_cb). */
	j->rc = hub->object_cb(hub->object_ctx, pj->arg, stop, &j->obj, &j->len);
	if (!j->rc && j->len > HUB_OBJECT_MAX)
		j->rc = -E2BIG;
}

static void read_done(struct hub_pool_job *pj, void *ctx)
{
	struct job *j = (struct job *)pj;

	/* Takes j->obj when the request is still there. */
	hub_http_read_done(ctx, pj->id, pj->arg, j->rc, &j->obj, j->len);
}

int hub_reads_start(struct hub *hub)
{
	const struct hub_pool_ops ops = {.job_size = sizeof(struct job),
					 .run = run_read,
					 .done = read_done,
					 .clear = clear_read,
					 .ctx = hub};

	return hub_pool_init(&hub->reads, hub->ctx, READ_THREADS, HUB_READS_MAX, &ops);
}
