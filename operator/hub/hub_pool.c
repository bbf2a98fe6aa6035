/* SPDX-License-Identifier: Apache-2.0 */
/* hub_pool.c -- a few threads that run slow jobs for the hub thread: token
 * checks (hub_authq.c) and stored-profile reads (hub_reads.c).
 *
 * The hub thread submits a job and carries on; a pool thread runs it and
 * puts it on the done list, then wakes the hub's lws loop with
 * lws_cancel_service(), whose WAIT_CANCELLED callback drains the done list
 * on the hub thread. Jobs queued, running or done but not yet drained are
 * bounded, so a burst cannot grow the queue without limit. One mutex guards
 * the lists.
 */
#include "hub_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void job_free(struct hub_pool *p, struct hub_pool_job *j)
{
	if (!j)
		return;
	if (p->ops.clear)
		p->ops.clear(j);
	if (j->arg) {
		/* A token check's arg is a bearer token. */
		explicit_bzero(j->arg, strlen(j->arg));
		free(j->arg);
	}
	explicit_bzero(j, p->ops.job_size);
	free(j);
}

static void *pool_thread(void *arg)
{
	struct hub_pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct hub_pool_job *j;

		while (!p->stop && !p->todo)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		j = p->todo;
		p->todo = j->next;
		if (!p->todo)
			p->todo_tail = &p->todo;
		pthread_mutex_unlock(&p->mu);
		p->ops.run(j, &p->stop, p->ops.ctx);
		pthread_mutex_lock(&p->mu);
		j->next = p->done;
		p->done = j;
		/* Thread-safe: makes the hub thread run hub_pool_drain. */
		lws_cancel_service(p->ctx);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int hub_pool_init(struct hub_pool *p, struct lws_context *ctx, unsigned threads, unsigned max,
		  const struct hub_pool_ops *ops)
{
	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	p->ops = *ops;
	p->max = max;
	p->todo_tail = &p->todo;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->inited = true;
	if (threads > HUB_POOL_THREADS_MAX)
		threads = HUB_POOL_THREADS_MAX;
	for (; p->n_th < threads; p->n_th++) {
		if (pthread_create(&p->th[p->n_th], NULL, pool_thread, p)) {
			hub_pool_release(p);
			return -EAGAIN;
		}
	}
	return 0;
}

static void free_list(struct hub_pool *p, struct hub_pool_job *j)
{
	while (j) {
		struct hub_pool_job *next = j->next;

		job_free(p, j);
		j = next;
	}
}

void hub_pool_release(struct hub_pool *p)
{
	if (!p || !p->inited)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1; /* run functions may watch it to give up early */
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n_th; i++)
		pthread_join(p->th[i], NULL);
	free_list(p, p->todo);
	free_list(p, p->done);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	memset(p, 0, sizeof(*p));
}

int hub_pool_submit(struct hub_pool *p, uint64_t id, const char *arg)
{
	struct hub_pool_job *j = calloc(1, p->ops.job_size);
	int err = 0;

	if (!j)
		return -ENOMEM;
	j->id = id;
	j->arg = strdup(arg);
	if (!j->arg) {
		job_free(p, j);
		return -ENOMEM;
	}
	pthread_mutex_lock(&p->mu);
	if (p->queued >= p->max) {
		err = -EBUSY;
	} else {
		p->queued++;
		*p->todo_tail = j;
		p->todo_tail = &j->next;
		pthread_cond_signal(&p->cv);
		j = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	job_free(p, j);
	return err;
}

void hub_pool_drain(struct hub_pool *p)
{
	struct hub_pool_job *list, *j;

	pthread_mutex_lock(&p->mu);
	list = p->done;
	p->done = NULL;
	for (j = list; j; j = j->next)
		p->queued--;
	pthread_mutex_unlock(&p->mu);
	while (list) {
		j = list;
		list = j->next;
		p->ops.done(j, p->ops.ctx);
		job_free(p, j);
	}
}

unsigned hub_pool_queued(struct hub_pool *p)
{
	unsigned n;

	pthread_mutex_lock(&p->mu);
	n = p->queued;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void hub_pool_cancel(struct hub_pool *p, uint64_t id)
{
	struct hub_pool_job **pp, *j = NULL;

	pthread_mutex_lock(&p->mu);
	for (pp = &p->todo; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			j = *pp;
			*pp = j->next;
			if (p->todo_tail == &j->next)
				p->todo_tail = pp;
			p->queued--;
			break;
		}
	}
	pthread_mutex_unlock(&p->mu);
	job_free(p, j);
}
