/* SPDX-License-Identifier: Apache-2.0 */
/* informer.c -- the informer's event queue and main-thread cache (its
 * list+watch thread is informer_watch.c).
 *
 * The cache is a json-c object used as a hash map (key "ns/name" -> item):
 * json-c already has a well-tested hash table, so the informer does not
 * carry its own.
 */
#include "clock.h"
#include "informer_int.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

const char *informer_meta(json_object *obj, const char *field)
{
	json_object *meta, *v;

	if (!obj || !json_object_object_get_ex(obj, "metadata", &meta) ||
	    !json_object_object_get_ex(meta, field, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int informer_key(json_object *obj, char *buf, size_t len)
{
	const char *name = informer_meta(obj, "name"), *ns = informer_meta(obj, "namespace");
	int n;

	if (!name || !name[0])
		return -EINVAL;
	if (ns && ns[0])
		n = snprintf(buf, len, "%s/%s", ns, name);
	else
		n = snprintf(buf, len, "%s", name);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- queue (any thread -> main thread) ----------------------------------- */

/* Queue ev (takes ownership). Waits while the queue is full unless stopping. */
void informer_queue_push(struct informer *inf, enum ev_type type, json_object *obj)
{
	struct inf_event *ev = calloc(1, sizeof(*ev));
	uint64_t one = 1;

	if (!ev) {
		log_error("informer", "%s: out of memory queueing an event", inf->what);
		json_object_put(obj);
		return;
	}
	ev->type = type;
	ev->obj = obj;
	pthread_mutex_lock(&inf->lock);
	while (inf->queued >= INFORMER_MAX_QUEUED && inf->running && !atomic_load(&inf->stop))
		pthread_cond_wait(&inf->space, &inf->lock);
	*inf->tail = ev;
	inf->tail = &ev->next;
	inf->queued++;
	pthread_mutex_unlock(&inf->lock);
	if (write(inf->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("informer", "%s: eventfd write: %s", inf->what, strerror(errno));
}

/* ---- dispatch (main thread) ----------------------------------------------- */

static void apply_upsert(struct informer *inf, json_object *obj, bool quiet_if_same)
{
	char key[512];
	json_object *old = NULL, *meta = NULL;

	if (informer_key(obj, key, sizeof(key)))
		return;
	/* managedFields is server-side-apply bookkeeping nobody here reads, and
	 * often the largest part of an object: keep the cache small. */
	if (json_object_object_get_ex(obj, "metadata", &meta) && meta)
		json_object_object_del(meta, "managedFields");
	if (json_object_object_get_ex(inf->cache, key, &old) && old) {
		const char *orv = informer_meta(old, "resourceVersion");
		const char *nrv = informer_meta(obj, "resourceVersion");

		if (quiet_if_same && orv && nrv && !strcmp(orv, nrv))
			return;
		json_object_get(old);
		json_object_object_add(inf->cache, key, json_object_get(obj));
		if (inf->h.on_update)
			inf->h.on_update(inf->h.arg, old, obj);
		json_object_put(old);
		return;
	}
	json_object_object_add(inf->cache, key, json_object_get(obj));
	inf->count++;
	if (inf->h.on_add)
		inf->h.on_add(inf->h.arg, obj);
}

static void apply_delete_key(struct informer *inf, const char *key)
{
	json_object *old = NULL;

	if (!json_object_object_get_ex(inf->cache, key, &old) || !old) {
		/* Unknown object (e.g. created and deleted while we relisted): nothing cached. */
		return;
	}
	json_object_get(old);
	json_object_object_del(inf->cache, key);
	inf->count--;
	if (inf->h.on_delete)
		inf->h.on_delete(inf->h.arg, old);
	json_object_put(old);
}

static void apply_replace(struct informer *inf, json_object *items)
{
	size_t n = json_object_array_length(items), ndel = 0, i = 0;
	json_object *seen = json_object_new_object();
	char key[512], **gone = NULL;

	if (!seen)
		return;
	for (size_t k = 0; k < n; k++) {
		json_object *it = json_object_array_get_idx(items, k);

		if (informer_key(it, key, sizeof(key)))
			continue;
		json_object_object_add(seen, key, NULL);
		apply_upsert(inf, it, true);
	}
	/* Collect first: handlers must not see a cache that is being iterated. */
	gone = calloc(inf->count + 1, sizeof(*gone));
	if (gone) {
		json_object_object_foreach(inf->cache, k2, v2)
		{
			(void)v2;
			if (!json_object_object_get_ex(seen, k2, NULL) && i < inf->count)
				gone[i++] = strdup(k2);
		}
		ndel = i;
		for (i = 0; i < ndel; i++) {
			if (gone[i])
				apply_delete_key(inf, gone[i]);
			free(gone[i]);
		}
		free(gone);
	}
	json_object_put(seen);
	inf->synced = true;
	if (inf->h.on_synced)
		inf->h.on_synced(inf->h.arg);
}

int informer_dispatch(struct informer *inf)
{
	struct inf_event *list, *next;
	uint64_t cnt;
	int n = 0;

	if (read(inf->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_warn("informer", "%s: eventfd read: %s", inf->what, strerror(errno));
	pthread_mutex_lock(&inf->lock);
	list = inf->head;
	inf->head = NULL;
	inf->tail = &inf->head;
	inf->queued = 0;
	pthread_cond_broadcast(&inf->space);
	pthread_mutex_unlock(&inf->lock);
	for (; list; list = next) {
		char key[512];

		next = list->next;
		switch (list->type) {
		case EV_ADDED:
		case EV_MODIFIED:
			apply_upsert(inf, list->obj, false);
			break;
		case EV_DELETED:
			if (!informer_key(list->obj, key, sizeof(key)))
				apply_delete_key(inf, key);
			break;
		case EV_REPLACE:
			apply_replace(inf, list->obj);
			break;
		}
		json_object_put(list->obj);
		free(list);
		n++;
	}
	return n;
}

int informer_fd(const struct informer *inf)
{
	return inf->efd;
}

json_object *informer_get(struct informer *inf, const char *ns, const char *name)
{
	char key[512];
	json_object *v = NULL;
	int n;

	if (ns && ns[0])
		n = snprintf(key, sizeof(key), "%s/%s", ns, name);
	else
		n = snprintf(key, sizeof(key), "%s", name);
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;
	if (!json_object_object_get_ex(inf->cache, key, &v))
		return NULL;
	return v;
}

int informer_foreach(struct informer *inf, int (*fn)(void *arg, json_object *obj), void *arg)
{
	json_object_object_foreach(inf->cache, k, v)
	{
		int r;

		(void)k;
		r = fn(arg, v);
		if (r)
			return r;
	}
	return 0;
}

size_t informer_count(const struct informer *inf)
{
	return inf->count;
}

bool informer_has_synced(const struct informer *inf)
{
	return inf->synced;
}

void informer_get_stats(const struct informer *inf, struct informer_stats *out)
{
	out->lists = atomic_load(&inf->st_lists);
	out->watches = atomic_load(&inf->st_watches);
	out->relists_gone = atomic_load(&inf->st_gone);
	out->bad_events = atomic_load(&inf->st_bad);
	out->errors = atomic_load(&inf->st_errors);
	out->events = atomic_load(&inf->st_events);
}

/* ---- lifetime ------------------------------------------------------------- */

static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (!s || !s[0])
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

int informer_new(struct k8s_client *c, const struct informer_spec *spec,
		 const struct informer_handlers *h, struct informer **out)
{
	struct informer *inf;
	pthread_condattr_t ca;
	int err;

	if (!c || !spec || !spec->api_prefix || !spec->plural)
		return -EINVAL;
	inf = calloc(1, sizeof(*inf));
	if (!inf)
		return -ENOMEM;
	inf->efd = -1;
	inf->client = c;
	if (h)
		inf->h = *h;
	inf->tail = &inf->head;
	capbuf_init(&inf->line, INFORMER_MAX_EVENT_BYTES);
	inf->seed = (unsigned int)(clock_mono_ms() ^ (uintptr_t)inf);
	pthread_mutex_init(&inf->lock, NULL);
	pthread_cond_init(&inf->space, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&inf->wake, &ca);
	pthread_condattr_destroy(&ca);
	err = dup_opt(spec->api_prefix, &inf->api_prefix);
	err = err ?: dup_opt(spec->plural, &inf->plural);
	err = err ?: dup_opt(spec->namespace, &inf->ns);
	err = err ?: dup_opt(spec->label_selector, &inf->label_sel);
	err = err ?: dup_opt(spec->field_selector, &inf->field_sel);
	if (err)
		goto cleanup;
	snprintf(inf->what, sizeof(inf->what), "%s%s%s", inf->plural, inf->ns ? " in " : "",
		 inf->ns ? inf->ns : "");
	inf->cache = json_object_new_object();
	if (!inf->cache) {
		err = -ENOMEM;
		goto cleanup;
	}
	inf->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (inf->efd < 0) {
		err = -errno;
		goto cleanup;
	}
	*out = inf;
	return 0;
cleanup:
	informer_free(inf);
	return err;
}

int informer_start(struct informer *inf)
{
	int err;

	if (inf->running)
		return -EALREADY;
	atomic_store(&inf->stop, 0);
	inf->running = true;
	err = pthread_create(&inf->thread, NULL, informer_watch_thread, inf);
	if (err) {
		inf->running = false;
		return -err;
	}
	return 0;
}

void informer_stop(struct informer *inf)
{
	if (!inf || !inf->running)
		return;
	pthread_mutex_lock(&inf->lock);
	atomic_store(&inf->stop, 1);
	pthread_cond_broadcast(&inf->wake);
	pthread_cond_broadcast(&inf->space);
	pthread_mutex_unlock(&inf->lock);
	pthread_join(inf->thread, NULL);
	inf->running = false;
}

void informer_free(struct informer *inf)
{
	struct inf_event *ev, *next;

	if (!inf)
		return;
	informer_stop(inf);
	for (ev = inf->head; ev; ev = next) {
		next = ev->next;
		json_object_put(ev->obj);
		free(ev);
	}
	json_object_put(inf->cache);
	if (inf->efd >= 0)
		close(inf->efd);
	inf->efd = -1;
	capbuf_release(&inf->line);
	free(inf->api_prefix);
	free(inf->plural);
	free(inf->ns);
	free(inf->label_sel);
	free(inf->field_sel);
	pthread_mutex_destroy(&inf->lock);
	pthread_cond_destroy(&inf->space);
	pthread_cond_destroy(&inf->wake);
	free(inf);
}
