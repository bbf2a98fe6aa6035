/* SPDX-License-Identifier: Apache-2.0 */
/* informer_int.h -- informer internals, shared by informer.c, informer_watch.c
 * and the unit test.
 *
 * The watch thread drives these with bytes from the network; the unit test
 * drives them with recorded replies from tests/unit/data/k8s, so stream
 * decoding and relist diffs are tested without a server. Not for other
 * modules. Same conventions as informer.h.
 */
#ifndef PODPROF_INFORMER_INT_H
#define PODPROF_INFORMER_INT_H

#include "informer.h"

/* Feed watch-stream bytes (any split). Complete lines are decoded: ADDED,
 * MODIFIED and DELETED are queued for dispatch, BOOKMARK advances the
 * resourceVersion. Returns 0, or the reason the stream must end:
 * -ESTALE (ERROR event with code 410: relist), -EIO (other ERROR event),
 * -EMSGSIZE (event over the cap), -EBADMSG (malformed JSON or event). */
int informer_feed(struct informer *inf, const char *data, size_t len);

/* Forget any partial line (a new watch starts). */
void informer_feed_reset(struct informer *inf);

/* Queue one list page reply as a full snapshot (items array taken by
 * reference) and take its resourceVersion. -EBADMSG if it is not a list. */
int informer_apply_list(struct informer *inf, json_object *list);

/* Last resourceVersion seen by the decoder ("" before the first list). */
const char *informer_resource_version(const struct informer *inf);

/* Lower the per-event cap (tests). */
void informer_set_max_event(struct informer *inf, size_t max);

/* ---- shared by informer.c and informer_watch.c ---- */

#include <pthread.h>
#include <stdatomic.h>

#include "capbuf.h"

#define RV_MAX 64

enum ev_type {
	EV_ADDED,
	EV_MODIFIED,
	EV_DELETED,
	EV_REPLACE, /* obj is an array: the complete current set */
};

struct inf_event {
	enum ev_type type;
	json_object *obj;	/* owned reference */
	struct inf_event *next; /* FIFO link */
};

struct informer {
	struct k8s_client *client;	  /* borrowed */
	char *api_prefix, *plural;	  /* resource */
	char *ns, *label_sel, *field_sel; /* optional filters */
	struct informer_handlers h;	  /* user callbacks */
	char what[128];			  /* name for logs, e.g. "pods" */

	/* watch-thread side */
	pthread_t thread;   /* list+watch thread */
	bool running;	    /* thread started and not joined */
	atomic_int stop;    /* asks the thread to end */
	char rv[RV_MAX];    /* last resourceVersion seen */
	struct capbuf line; /* partial event line across chunks (capped) */
	bool skipping;	    /* discarding the rest of an oversized line */
	unsigned int seed;  /* rand_r state for jitter */

	/* shared: queue from thread to main loop */
	pthread_mutex_t lock;		/* guards head/tail/queued and the conds */
	pthread_cond_t space;		/* signalled when dispatch drains the queue */
	pthread_cond_t wake;		/* signalled on stop (interrupts backoff) */
	struct inf_event *head, **tail; /* pending events */
	size_t queued;			/* events in the queue */
	int efd;			/* eventfd: readable when queued > 0 */

	/* main-thread side */
	json_object *cache; /* key -> object */
	size_t count;	    /* objects in cache */
	bool synced;	    /* first list applied */

	/* counters */
	atomic_uint_fast64_t st_lists, st_watches, st_gone, st_bad, st_errors, st_events;
};

/* Queue ev (takes ownership of obj); waits while the queue is full unless
 * stopping. Any thread. */
void informer_queue_push(struct informer *inf, enum ev_type type, json_object *obj);

/* The list+watch thread (arg = inf), until inf->stop. */
void *informer_watch_thread(void *arg);

#endif
