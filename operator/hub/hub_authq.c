/* SPDX-License-Identifier: Apache-2.0 */
/* hub_authq.c -- token checks off the hub thread: a few auth threads, a short
 * cache of verdicts (refusals included) by token hash, and a per-address rate
 * of uncached checks.
 *
 * Why: TokenReview is an HTTPS call to the API server. Run on the hub thread,
 * a slow API server plus a stream of bogus tokens stalled every worker and
 * /healthz. Here the hub thread only queues a check and pauses that
 * connection; the verdict comes back through lws_cancel_service(). The cache
 * and the rate live on the hub thread only; the queues are under one mutex.
 */
#include "clock.h"
#include "hub_int.h"
#include "log.h"
#include "sha256.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MOD		"hub"
#define QUEUE_MAX	256 /* checks queued or running */
#define THREADS_MAX	16
#define CACHE_SLOTS	1024
#define CACHE_OK_MS	30000 /* a revoked token stays usable this long at most */
#define CACHE_REFUSE_MS 10000
#define RATE_SLOTS	256
#define RATE_BURST	10.0 /* uncached checks an address may start at once */
#define RATE_PER_S	2.0  /* and then per second */

struct job {
	struct job *next;
	uint64_t id;
	char *token;
	uint8_t key[SHA256_DIGEST_LEN];
	int rc;
	struct hub_auth_result res;
};

struct cache_slot {
	uint8_t key[SHA256_DIGEST_LEN];
	uint64_t expires_ms; /* 0 = free */
	int rc;
	struct hub_auth_result res;
};

struct rate_slot {
	char peer[HUB_PEER_MAX];
	double tokens;
	uint64_t last_ms;
};

struct hub_authq {
	struct hub *hub;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *todo, **todo_tail;
	struct job *done;
	unsigned queued; /* in todo, running or done */
	bool stop;
	pthread_t th[THREADS_MAX];
	unsigned n_th;
	struct cache_slot cache[CACHE_SLOTS];
	struct rate_slot rate[RATE_SLOTS];
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	if (j->token) {
		explicit_bzero(j->token, strlen(j->token));
		free(j->token);
	}
	explicit_bzero(j, sizeof(*j));
	free(j);
}

static void *auth_thread(void *arg)
{
	struct hub_authq *q = arg;
	struct hub *hub = q->hub;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct job *j;

		while (!q->stop && !q->todo)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stop)
			break;
		j = q->todo;
		q->todo = j->next;
		if (!q->todo)
			q->todo_tail = &q->todo;
		pthread_mutex_unlock(&q->mu);
		j->rc = hub->cfg.auth(hub->cfg.auth_ctx, j->token, &j->res);
		pthread_mutex_lock(&q->mu);
		j->next = q->done;
		q->done = j;
		/* Thread-safe: makes the hub thread run hub_authq_drain. */
		lws_cancel_service(hub->ctx);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int hub_authq_new(struct hub *hub, unsigned threads, struct hub_authq **out)
{
	struct hub_authq *q;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->hub = hub;
	q->todo_tail = &q->todo;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	if (!threads)
		threads = 4;
	if (threads > THREADS_MAX)
		threads = THREADS_MAX;
	for (; q->n_th < threads; q->n_th++) {
		if (pthread_create(&q->th[q->n_th], NULL, auth_thread, q)) {
			hub_authq_free(q);
			return -EAGAIN;
		}
	}
	*out = q;
	return 0;
}

static void free_list(struct job *j)
{
	while (j) {
		struct job *next = j->next;

		job_free(j);
		j = next;
	}
}

void hub_authq_free(struct hub_authq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (unsigned i = 0; i < q->n_th; i++)
		pthread_join(q->th[i], NULL);
	free_list(q->todo);
	free_list(q->done);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	explicit_bzero(q, sizeof(*q));
	free(q);
}

static int token_key(const char *token, uint8_t key[SHA256_DIGEST_LEN])
{
	return sha256_digest(token, strlen(token), key);
}

int hub_authq_submit(struct hub_authq *q, uint64_t id, const char *token)
{
	struct job *j;
	int err = 0;

	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->id = id;
	j->token = strdup(token);
	if (!j->token) {
		job_free(j);
		return -ENOMEM;
	}
	err = token_key(token, j->key);
	if (err) {
		job_free(j);
		return err;
	}
	pthread_mutex_lock(&q->mu);
	if (q->queued >= QUEUE_MAX) {
		err = -EBUSY;
	} else {
		q->queued++;
		*q->todo_tail = j;
		q->todo_tail = &j->next;
		pthread_cond_signal(&q->cv);
		j = NULL;
	}
	pthread_mutex_unlock(&q->mu);
	job_free(j);
	return err;
}

static struct cache_slot *cache_find(struct hub_authq *q, const uint8_t *key, uint64_t now)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct cache_slot *c = &q->cache[i];

		if (c->expires_ms > now && memcmp(c->key, key, SHA256_DIGEST_LEN) == 0)
			return c;
	}
	return NULL;
}

int hub_authq_cached(struct hub_authq *q, const char *token, struct hub_auth_result *res)
{
	uint8_t key[SHA256_DIGEST_LEN];
	struct cache_slot *c;

	/* No digest, no cache: the token is then checked for real. */
	if (token_key(token, key))
		return 0;
	c = cache_find(q, key, clock_mono_ms());
	if (!c)
		return 0;
	if (c->rc)
		return -EACCES;
	*res = c->res;
	return 1;
}

/* Only definite verdicts are cached: a failed check (API server down) is
 * retried by the next connection. */
static void cache_put(struct hub_authq *q, const struct job *j, uint64_t now)
{
	struct cache_slot *victim = &q->cache[0];

	if (j->rc && j->rc != -EACCES)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct cache_slot *c = &q->cache[i];

		if (c->expires_ms <= now || memcmp(c->key, j->key, SHA256_DIGEST_LEN) == 0) {
			victim = c;
			break;
		}
		if (c->expires_ms < victim->expires_ms)
			victim = c;
	}
	memcpy(victim->key, j->key, SHA256_DIGEST_LEN);
	victim->rc = j->rc;
	victim->res = j->res;
	victim->expires_ms = now + (j->rc ? CACHE_REFUSE_MS : CACHE_OK_MS);
}

bool hub_authq_rate_ok(struct hub_authq *q, const char *peer)
{
	uint64_t now = clock_mono_ms();
	struct rate_slot *r = NULL, *oldest = &q->rate[0];

	for (size_t i = 0; i < RATE_SLOTS; i++) {
		if (strcmp(q->rate[i].peer, peer) == 0) {
			r = &q->rate[i];
			break;
		}
		if (q->rate[i].last_ms < oldest->last_ms)
			oldest = &q->rate[i];
	}
	if (!r) {
		/* Forgetting the least recent address only lets it start afresh. */
		r = oldest;
		snprintf(r->peer, sizeof(r->peer), "%s", peer);
		r->tokens = RATE_BURST;
		r->last_ms = now;
	}
	r->tokens += (double)(now - r->last_ms) * RATE_PER_S / 1000.0;
	if (r->tokens > RATE_BURST)
		r->tokens = RATE_BURST;
	r->last_ms = now;
	if (r->tokens < 1.0)
		return false;
	r->tokens -= 1.0;
	return true;
}

void hub_authq_drain(struct hub_authq *q)
{
	struct job *list, *j;
	uint64_t now = clock_mono_ms();

	pthread_mutex_lock(&q->mu);
	list = q->done;
	q->done = NULL;
	for (j = list; j; j = j->next)
		q->queued--;
	pthread_mutex_unlock(&q->mu);
	while (list) {
		j = list;
		list = j->next;
		cache_put(q, j, now);
		hub_auth_done(q->hub, j->id, j->rc, &j->res);
		job_free(j);
	}
}
