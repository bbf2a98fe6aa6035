/* SPDX-License-Identifier: Apache-2.0 */
/* status_writer.c -- a FIFO of status writes and Events, worked by one thread. */
#include "status_writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define MOD	    "status"
#define RETRY_MS    1000 /* a failed status write is tried again this much later */
#define EVENT_TRIES 3
#define MAX_QUEUED  100000 /* targets x pending items; past it posts fail */

enum item_kind { ITEM_STATUS, ITEM_EVENT };

struct item {
	enum item_kind kind;
	char *api_prefix, *plural, *api_version, *kind_name, *ns, *name, *uid;
	char *body;		/* status JSON, or the Event message */
	char *ev_type, *reason; /* Events only */
	unsigned tries;
	uint64_t not_before_ms; /* monotonic */
	struct item *next;
};

struct status_writer {
	struct k8s_client *c;
	k8s_mutate_fn mutate;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct item *head, *tail; /* FIFO */
	size_t n;
	bool stop;
	struct status_writer_stats st;
};

static void item_free(struct item *it)
{
	if (!it)
		return;
	free(it->api_prefix);
	free(it->plural);
	free(it->api_version);
	free(it->kind_name);
	free(it->ns);
	free(it->name);
	free(it->uid);
	free(it->body);
	free(it->ev_type);
	free(it->reason);
	free(it);
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static struct item *item_new(enum item_kind kind, const struct k8s_object_ref *ref,
			     const char *body)
{
	struct item *it = calloc(1, sizeof(*it));
	bool oom = false;

	if (!it)
		return NULL;
	it->kind = kind;
	it->api_prefix = dup_or_null(ref->api_prefix, &oom);
	it->plural = dup_or_null(ref->plural, &oom);
	it->api_version = dup_or_null(ref->api_version, &oom);
	it->kind_name = dup_or_null(ref->kind, &oom);
	it->ns = dup_or_null(ref->ns, &oom);
	it->name = dup_or_null(ref->name, &oom);
	it->uid = dup_or_null(ref->uid, &oom);
	it->body = dup_or_null(body, &oom);
	if (oom) {
		item_free(it);
		return NULL;
	}
	return it;
}

static void item_ref(const struct item *it, struct k8s_object_ref *ref)
{
	*ref = (struct k8s_object_ref){.api_prefix = it->api_prefix,
				       .plural = it->plural,
				       .api_version = it->api_version,
				       .kind = it->kind_name,
				       .ns = it->ns,
				       .name = it->name,
				       .uid = it->uid};
}

static bool same_target(const struct item *a, const struct item *b)
{
	return strcmp(a->name, b->name) == 0 &&
	       (a->ns == b->ns || (a->ns && b->ns && strcmp(a->ns, b->ns) == 0));
}

/* Caller holds mu. */
static void append(struct status_writer *w, struct item *it)
{
	it->next = NULL;
	if (w->tail)
		w->tail->next = it;
	else
		w->head = it;
	w->tail = it;
	w->n++;
	pthread_cond_signal(&w->cv);
}

/* Caller holds mu: the first item due at now (stop: any), unlinked. */
static struct item *take_due(struct status_writer *w, uint64_t now, uint64_t *next_due)
{
	struct item **pp, *prev = NULL;

	*next_due = 0;
	for (pp = &w->head; *pp; prev = *pp, pp = &(*pp)->next) {
		struct item *it = *pp;

		if (!w->stop && it->not_before_ms > now) {
			if (!*next_due || it->not_before_ms < *next_due)
				*next_due = it->not_before_ms;
			continue;
		}
		*pp = it->next;
		if (w->tail == it)
			w->tail = prev;
		w->n--;
		return it;
	}
	return NULL;
}

/* Caller holds mu: is a newer status for it's target waiting? */
static bool superseded(struct status_writer *w, const struct item *it)
{
	for (struct item *q = w->head; q; q = q->next)
		if (q->kind == ITEM_STATUS && same_target(q, it))
			return true;
	return false;
}

static int perform(struct status_writer *w, struct item *it)
{
	struct k8s_object_ref ref;
	json_object *st;
	int err;

	item_ref(it, &ref);
	if (it->kind == ITEM_EVENT)
		return k8s_event_emit(w->c, &ref, it->ev_type, it->reason, it->body,
				      "podprof-operator");
	st = json_tokener_parse(it->body);
	if (!st)
		return -EINVAL;
	err = k8s_update_status(w->c, &ref, NULL, w->mutate, st, 5, NULL, NULL);
	json_object_put(st);
	return err;
}

static void *writer_thread(void *arg)
{
	struct status_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		uint64_t next_due;
		struct item *it = take_due(w, clock_mono_ms(), &next_due);
		int err;

		if (!it) {
			if (w->stop)
				break;
			if (next_due) {
				struct timespec ts;
				uint64_t wait = next_due - clock_mono_ms();

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += (time_t)(wait / 1000);
				ts.tv_nsec += (long)(wait % 1000) * 1000000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				pthread_cond_timedwait(&w->cv, &w->mu, &ts);
			} else {
				pthread_cond_wait(&w->cv, &w->mu);
			}
			continue;
		}
		pthread_mutex_unlock(&w->mu);
		err = perform(w, it);
		pthread_mutex_lock(&w->mu);
		it->tries++;
		if (!err) {
			if (it->kind == ITEM_STATUS)
				w->st.writes++;
			else
				w->st.events++;
			item_free(it);
			continue;
		}
		w->st.errors++;
		if (err == -ENOENT || w->stop || (it->kind == ITEM_STATUS && superseded(w, it)) ||
		    (it->kind == ITEM_EVENT && it->tries >= EVENT_TRIES)) {
			if (err != -ENOENT)
				log_warn(MOD, "%s/%s: %s dropped after %u attempt(s): %s",
					 it->ns ? it->ns : "-", it->name,
					 it->kind == ITEM_STATUS ? "status write" : "Event",
					 it->tries, strerror(-err));
			item_free(it);
			continue;
		}
		/* The API server is down or busy: the result must not be lost. */
		log_warn(MOD, "%s/%s: %s failed (retrying in %d ms): %s", it->ns ? it->ns : "-",
			 it->name, it->kind == ITEM_STATUS ? "status write" : "Event", RETRY_MS,
			 strerror(-err));
		it->not_before_ms = clock_mono_ms() + RETRY_MS;
		append(w, it);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int status_writer_new(struct k8s_client *c, k8s_mutate_fn mutate, struct status_writer **out)
{
	struct status_writer *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->c = c;
	w->mutate = mutate;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	err = pthread_create(&w->thread, NULL, writer_thread, w);
	if (err) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w);
		return -err;
	}
	w->started = true;
	*out = w;
	return 0;
}

void status_writer_free(struct status_writer *w)
{
	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	while (w->head) {
		struct item *it = w->head;

		w->head = it->next;
		item_free(it);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

int status_writer_post(struct status_writer *w, const struct k8s_object_ref *ref,
		       json_object *status)
{
	const char *js = json_object_to_json_string_ext(status, JSON_C_TO_STRING_PLAIN);
	struct item *it;
	int err = 0;

	pthread_mutex_lock(&w->mu);
	for (it = w->head; it; it = it->next) {
		char *body;

		if (it->kind != ITEM_STATUS || strcmp(it->name, ref->name) != 0 ||
		    (it->ns && ref->ns && strcmp(it->ns, ref->ns) != 0))
			continue;
		/* Still waiting: only the newest status matters. */
		body = strdup(js);
		if (!body) {
			err = -ENOMEM;
			goto out;
		}
		free(it->body);
		it->body = body;
		it->not_before_ms = 0;
		w->st.coalesced++;
		goto out;
	}
	if (w->n >= MAX_QUEUED) {
		err = -ENOBUFS;
		goto out;
	}
	it = item_new(ITEM_STATUS, ref, js);
	if (!it) {
		err = -ENOMEM;
		goto out;
	}
	append(w, it);
out:
	pthread_mutex_unlock(&w->mu);
	return err;
}

int status_writer_event(struct status_writer *w, const struct k8s_object_ref *ref, const char *type,
			const char *reason, const char *message)
{
	struct item *it = item_new(ITEM_EVENT, ref, message);
	int err = 0;

	if (!it)
		return -ENOMEM;
	it->ev_type = strdup(type);
	it->reason = strdup(reason);
	if (!it->ev_type || !it->reason) {
		item_free(it);
		return -ENOMEM;
	}
	pthread_mutex_lock(&w->mu);
	if (w->n >= MAX_QUEUED)
		err = -ENOBUFS;
	else
		append(w, it);
	pthread_mutex_unlock(&w->mu);
	if (err)
		item_free(it);
	return err;
}

void status_writer_get_stats(struct status_writer *w, struct status_writer_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->st;
	pthread_mutex_unlock(&w->mu);
}
