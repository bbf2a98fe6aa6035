/* SPDX-License-Identifier: Apache-2.0 */
/* hub_authq.c -- token checks off the hub thread: a few auth threads, a short
 * cache of verdicts (refusals included) by token hash, and a per-address rate
 * of uncached checks.
 *
 * Why: TokenReview is an HTTPS call to the API server. Run on the hub thread,
 * a slow API server plus a stream of bogus tokens stalled every worker and
 * /healthz. Here the hub thread only queues a check and pauses that
 * connection; the verdict comes back through lws_cancel_service(). The cache
 * and the rate live on the hub thread only; the threads and the queue are
 * hub_pool.c's. Bounds while the API server hangs: at most QUEUE_MAX checks
 * queued or running (past it a connection is refused with 1013 and a log
 * line); a connection waits for its verdict at most the hub's hello timeout,
 * and its check leaves the queue with it (hub_authq_cancel); a running check
 * ends with the API client's request timeout.
 */
#include "clock.h"
#include "hub_int.h"
#include "log.h"
#include "sha256.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MOD		"hub"
#define QUEUE_MAX	256 /* checks queued or running */
#define CACHE_SLOTS	1024
#define CACHE_OK_MS	30000 /* a revoked token stays usable this long at most */
#define CACHE_REFUSE_MS 10000
#define RATE_SLOTS	256
#define RATE_BURST	10.0 /* uncached checks an address may start at once */
#define RATE_PER_S	2.0  /* and then per second */

struct job {
	struct hub_pool_job pj; /* first; pj.id: the session, pj.arg: the token */
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
	struct hub_pool pool; /* bounded by QUEUE_MAX checks queued or running */
	struct cache_slot cache[CACHE_SLOTS];
	struct rate_slot rate[RATE_SLOTS];
};

static int token_key(const char *token, uint8_t key[SHA256_DIGEST_LEN])
{
	return sha256_digest(token, strlen(token), key);
}

static void run_check(struct hub_pool_job *pj, const volatile sig_atomic_t *stop, void *ctx)
{
	struct job *j = (struct job *)pj;
	struct hub *hub = ((struct hub_authq *)ctx)->hub;

	(void)stop; /* a TokenReview is bounded by the API client's own timeouts */
	/* No digest: a failed check, retried by the next connection. */
	j->rc = token_key(pj->arg, j->key);
	if (!j->rc)
		j->rc = hub->cfg.auth(hub->cfg.auth_ctx, pj->arg, &j->res);
}

static void check_done(struct hub_pool_job *pj, void *ctx);

int hub_authq_new(struct hub *hub, unsigned threads, struct hub_authq **out)
{
	struct hub_authq *q;
	int err;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->hub = hub;
	err = hub_pool_init(
	    &q->pool, hub->ctx, threads ? threads : 4, QUEUE_MAX,
	    &(struct hub_pool_ops){
		.job_size = sizeof(struct job), .run = run_check, .done = check_done, .ctx = q});
	if (err) {
		free(q);
		return err;
	}
	*out = q;
	return 0;
}

void hub_authq_free(struct hub_authq *q)
{
	if (!q)
		return;
	hub_pool_release(&q->pool);
	explicit_bzero(q, sizeof(*q));
	free(q);
}

int hub_authq_submit(struct hub_authq *q, uint64_t id, const char *token)
{
	return hub_pool_submit(&q->pool, id, token);
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

static void check_done(struct hub_pool_job *pj, void *ctx)
{
	struct job *j = (struct job *)pj;
	struct hub_authq *q = ctx;

	cache_put(q, j, clock_mono_ms());
	hub_auth_done(q->hub, pj->id, j->rc, &j->res);
	explicit_bzero(&j->res, sizeof(j->res));
}

void hub_authq_drain(struct hub_authq *q)
{
	hub_pool_drain(&q->pool);
}

void hub_authq_cancel(struct hub_authq *q, uint64_t id)
{
	hub_pool_cancel(&q->pool, id);
}

unsigned hub_authq_pending(struct hub_authq *q)
{
	return hub_pool_queued(&q->pool);
}
