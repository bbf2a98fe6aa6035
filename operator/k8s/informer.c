/* SPDX-License-Identifier: Apache-2.0 */
/* informer.c -- list+watch thread, event queue, and the main-thread cache.
 *
 * The cache is a json-c object used as a hash map (key "ns/name" -> item):
 * json-c already has a well-tested hash table, so the informer does not
 * carry its own.
 */
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

#define LIST_PAGE_LIMIT 500
#define BACKOFF_MIN_MS	200
#define BACKOFF_MAX_MS	30000
#define WATCH_TIMEOUT_S 240 /* plus up to 120 s of jitter */
#define MAX_PATH	2048
#define RV_MAX		64

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
	pthread_t thread;	   /* list+watch thread */
	bool running;		   /* thread started and not joined */
	atomic_int stop;	   /* asks the thread to end */
	char rv[RV_MAX];	   /* last resourceVersion seen */
	char *line;		   /* partial event line across chunks */
	size_t line_len, line_cap; /* bytes used / allocated in line */
	size_t max_event;	   /* cap on one event line */
	bool skipping;		   /* discarding the rest of an oversized line */
	unsigned int seed;	   /* rand_r state for jitter */

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

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- queue (any thread -> main thread) ----------------------------------- */

/* Queue ev (takes ownership). Waits while the queue is full unless stopping. */
static void queue_push(struct informer *inf, enum ev_type type, json_object *obj)
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

/* ---- stream decoding (watch thread, or tests) ---------------------------- */

static void set_rv(struct informer *inf, json_object *obj)
{
	const char *rv = informer_meta(obj, "resourceVersion");

	if (rv && rv[0] && strlen(rv) < sizeof(inf->rv))
		snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
}

static int handle_line(struct informer *inf, const char *line, size_t len)
{
	struct json_tokener *tok;
	json_object *ev = NULL, *type_o, *obj;
	const char *type;
	int err = 0;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	tok = json_tokener_new_ex(128);
	if (!tok)
		return -ENOMEM;
	ev = json_tokener_parse_ex(tok, line, (int)len);
	if (!ev || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(ev, json_type_object)) {
		log_warn("informer", "%s: malformed watch event (%zu bytes), relisting", inf->what,
			 len);
		err = -EBADMSG;
		goto cleanup;
	}
	if (!json_object_object_get_ex(ev, "type", &type_o) ||
	    !json_object_is_type(type_o, json_type_string) ||
	    !json_object_object_get_ex(ev, "object", &obj) ||
	    !json_object_is_type(obj, json_type_object)) {
		log_warn("informer", "%s: watch event without type/object, relisting", inf->what);
		err = -EBADMSG;
		goto cleanup;
	}
	type = json_object_get_string(type_o);
	if (!strcmp(type, "BOOKMARK")) {
		set_rv(inf, obj);
		goto cleanup;
	}
	if (!strcmp(type, "ERROR")) {
		json_object *code_o, *msg_o = NULL;
		int code = 0;

		if (json_object_object_get_ex(obj, "code", &code_o))
			code = json_object_get_int(code_o);
		json_object_object_get_ex(obj, "message", &msg_o);
		if (code == 410) {
			log_info("informer", "%s: watch expired (%s), relisting", inf->what,
				 msg_o ? json_object_get_string(msg_o) : "410 Gone");
			err = -ESTALE;
		} else {
			log_warn("informer", "%s: watch ERROR event %d: %s", inf->what, code,
				 msg_o ? json_object_get_string(msg_o) : "");
			err = -EIO;
		}
		goto cleanup;
	}
	if (strcmp(type, "ADDED") && strcmp(type, "MODIFIED") && strcmp(type, "DELETED")) {
		log_warn("informer", "%s: ignoring watch event of type %.32s", inf->what, type);
		goto cleanup;
	}
	if (!informer_meta(obj, "name")) {
		log_warn("informer", "%s: %s event without metadata.name, relisting", inf->what,
			 type);
		err = -EBADMSG;
		goto cleanup;
	}
	set_rv(inf, obj);
	atomic_fetch_add(&inf->st_events, 1);
	queue_push(inf,
		   type[0] == 'A'   ? EV_ADDED
		   : type[0] == 'M' ? EV_MODIFIED
				    : EV_DELETED,
		   json_object_get(obj));
cleanup:
	json_object_put(ev);
	json_tokener_free(tok);
	return err;
}

void informer_feed_reset(struct informer *inf)
{
	inf->line_len = 0;
	inf->skipping = false;
}

int informer_feed(struct informer *inf, const char *data, size_t len)
{
	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t chunk = nl ? (size_t)(nl - data) : len;
		int err;

		if (inf->skipping) {
			/* Only reachable when a caller keeps feeding after -EMSGSIZE. */
			if (nl)
				inf->skipping = false;
		} else if (inf->line_len + chunk > inf->max_event) {
			log_warn("informer", "%s: watch event larger than %zu bytes, relisting",
				 inf->what, inf->max_event);
			atomic_fetch_add(&inf->st_bad, 1);
			inf->line_len = 0;
			inf->skipping = !nl;
			return -EMSGSIZE;
		} else {
			if (inf->line_len + chunk + 1 > inf->line_cap) {
				size_t ncap = inf->line_cap ? inf->line_cap : 65536;
				char *np;

				while (ncap < inf->line_len + chunk + 1)
					ncap *= 2;
				np = realloc(inf->line, ncap);
				if (!np)
					return -ENOMEM;
				inf->line = np;
				inf->line_cap = ncap;
			}
			memcpy(inf->line + inf->line_len, data, chunk);
			inf->line_len += chunk;
			if (nl) {
				err = handle_line(inf, inf->line, inf->line_len);
				inf->line_len = 0;
				if (err) {
					if (err == -EBADMSG)
						atomic_fetch_add(&inf->st_bad, 1);
					return err;
				}
			}
		}
		if (!nl)
			break;
		len -= chunk + 1;
		data = nl + 1;
	}
	return 0;
}

const char *informer_resource_version(const struct informer *inf)
{
	return inf->rv;
}

void informer_set_max_event(struct informer *inf, size_t max)
{
	inf->max_event = max;
}

/* Add kind/apiVersion to list items, which the server omits, so handlers see
 * the same shape from lists and watches. */
static void complete_item(json_object *item, const char *kind, const char *api_version)
{
	if (kind && !json_object_object_get_ex(item, "kind", NULL))
		json_object_object_add(item, "kind", json_object_new_string(kind));
	if (api_version && !json_object_object_get_ex(item, "apiVersion", NULL))
		json_object_object_add(item, "apiVersion", json_object_new_string(api_version));
}

/* Move items of one list page into acc; take the page's resourceVersion and
 * continue token. */
static int take_page(struct informer *inf, json_object *list, json_object *acc, char *cont,
		     size_t cont_len)
{
	json_object *items, *kind_o, *av_o, *meta, *v;
	char kind[128] = "";
	const char *av = NULL;
	size_t n;

	if (!json_object_is_type(list, json_type_object) ||
	    !json_object_object_get_ex(list, "items", &items))
		return -EBADMSG;
	if (json_object_is_type(items, json_type_null))
		n = 0;
	else if (json_object_is_type(items, json_type_array))
		n = json_object_array_length(items);
	else
		return -EBADMSG;
	if (json_object_object_get_ex(list, "kind", &kind_o)) {
		const char *k = json_object_get_string(kind_o);
		size_t kl = strlen(k);

		if (kl > 4 && kl < sizeof(kind) && !strcmp(k + kl - 4, "List"))
			snprintf(kind, sizeof(kind), "%.*s", (int)(kl - 4), k);
	}
	if (json_object_object_get_ex(list, "apiVersion", &av_o))
		av = json_object_get_string(av_o);
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(items, i);

		if (!json_object_is_type(it, json_type_object) || !informer_meta(it, "name"))
			continue;
		complete_item(it, kind[0] ? kind : NULL, av);
		json_object_array_add(acc, json_object_get(it));
	}
	cont[0] = '\0';
	if (json_object_object_get_ex(list, "metadata", &meta)) {
		if (json_object_object_get_ex(meta, "continue", &v) &&
		    json_object_is_type(v, json_type_string))
			snprintf(cont, cont_len, "%s", json_object_get_string(v));
		if (json_object_object_get_ex(meta, "resourceVersion", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    strlen(json_object_get_string(v)) < sizeof(inf->rv))
			snprintf(inf->rv, sizeof(inf->rv), "%s", json_object_get_string(v));
	}
	return 0;
}

int informer_apply_list(struct informer *inf, json_object *list)
{
	json_object *acc = json_object_new_array();
	char cont[16];
	int err;

	if (!acc)
		return -ENOMEM;
	err = take_page(inf, list, acc, cont, sizeof(cont));
	if (err) {
		json_object_put(acc);
		return err;
	}
	queue_push(inf, EV_REPLACE, acc);
	return 0;
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

/* ---- list + watch thread --------------------------------------------------- */

/* Append "&name=escaped(value)" to path. */
static int add_query(char *path, size_t len, const char *name, const char *value)
{
	char *e;
	size_t used = strlen(path);
	int n;

	if (!value || !value[0])
		return 0;
	e = k8s_query_escape(value);
	if (!e)
		return -ENOMEM;
	n = snprintf(path + used, len - used, "%s%s=%s", strchr(path, '?') ? "&" : "?", name, e);
	free(e);
	if (n < 0 || (size_t)n >= len - used)
		return -ENAMETOOLONG;
	return 0;
}

static int base_path(struct informer *inf, char *path, size_t len)
{
	int err = k8s_build_path(path, len, inf->api_prefix, inf->ns, inf->plural, NULL, NULL);

	err = err ?: add_query(path, len, "labelSelector", inf->label_sel);
	err = err ?: add_query(path, len, "fieldSelector", inf->field_sel);
	return err;
}

static int do_list(struct informer *inf)
{
	char path[MAX_PATH], cont[4096] = "", limit[32];
	json_object *acc = json_object_new_array();
	int err = 0;

	if (!acc)
		return -ENOMEM;
	snprintf(limit, sizeof(limit), "%d", LIST_PAGE_LIMIT);
	do {
		json_object *page = NULL;

		err = base_path(inf, path, sizeof(path));
		err = err ?: add_query(path, sizeof(path), "limit", limit);
		err = err ?: add_query(path, sizeof(path), "continue", cont);
		if (err)
			goto cleanup;
		err = k8s_get(inf->client, path, &page, NULL);
		if (!err)
			err = take_page(inf, page, acc, cont, sizeof(cont));
		json_object_put(page);
		if (err)
			goto cleanup;
	} while (cont[0] && !atomic_load(&inf->stop));
	atomic_fetch_add(&inf->st_lists, 1);
	log_debug("informer", "%s: listed %zu objects at resourceVersion %s", inf->what,
		  json_object_array_length(acc), inf->rv);
	queue_push(inf, EV_REPLACE, acc);
	return 0;
cleanup:
	json_object_put(acc);
	return err;
}

static int stream_cb(void *arg, const char *data, size_t len)
{
	return informer_feed(arg, data, len);
}

static int do_watch(struct informer *inf)
{
	char path[MAX_PATH], tmo[32];
	int err;

	snprintf(tmo, sizeof(tmo), "%u", WATCH_TIMEOUT_S + rand_r(&inf->seed) % 121);
	err = base_path(inf, path, sizeof(path));
	err = err ?: add_query(path, sizeof(path), "watch", "1");
	err = err ?: add_query(path, sizeof(path), "allowWatchBookmarks", "true");
	err = err ?: add_query(path, sizeof(path), "resourceVersion", inf->rv);
	err = err ?: add_query(path, sizeof(path), "timeoutSeconds", tmo);
	if (err)
		return err;
	informer_feed_reset(inf);
	atomic_fetch_add(&inf->st_watches, 1);
	return k8s_stream(inf->client, path, stream_cb, inf, &inf->stop, NULL);
}

/* Sleep ms unless stopped first. */
static void nap(struct informer *inf, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&inf->lock);
	while (!atomic_load(&inf->stop)) {
		if (pthread_cond_timedwait(&inf->wake, &inf->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&inf->lock);
}

/* Capped exponential backoff with jitter: half fixed, half random. */
static void backoff(struct informer *inf, unsigned int *cur_ms)
{
	unsigned int b = *cur_ms ? *cur_ms : BACKOFF_MIN_MS;
	unsigned int ms = b / 2 + (unsigned int)rand_r(&inf->seed) % (b / 2 + 1);

	*cur_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
	log_debug("informer", "%s: retrying in %u ms", inf->what, ms);
	nap(inf, ms);
}

static void *watch_thread(void *arg)
{
	struct informer *inf = arg;
	unsigned int bo = 0;
	bool need_list = true;

	while (!atomic_load(&inf->stop)) {
		uint64_t before, t0;
		int err;

		if (need_list) {
			err = do_list(inf);
			if (atomic_load(&inf->stop))
				break;
			if (err) {
				atomic_fetch_add(&inf->st_errors, 1);
				log_warn("informer", "%s: list failed: %s", inf->what,
					 strerror(-err));
				backoff(inf, &bo);
				continue;
			}
			need_list = false;
		}
		before = atomic_load(&inf->st_events);
		t0 = mono_ms();
		err = do_watch(inf);
		if (atomic_load(&inf->stop))
			break;
		/* A watch that delivered events or lasted a while was healthy. */
		if (atomic_load(&inf->st_events) != before || mono_ms() - t0 > 10000)
			bo = 0;
		switch (err) {
		case 0:
			log_debug("informer", "%s: watch ended, resuming at %s", inf->what,
				  inf->rv);
			break;
		case -ESTALE:
			atomic_fetch_add(&inf->st_gone, 1);
			need_list = true;
			break;
		case -EMSGSIZE:
		case -EBADMSG:
			need_list = true;
			backoff(inf, &bo);
			break;
		default:
			atomic_fetch_add(&inf->st_errors, 1);
			log_warn("informer", "%s: watch failed: %s; reconnecting", inf->what,
				 strerror(-err));
			backoff(inf, &bo);
			break;
		}
	}
	return NULL;
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
	inf->max_event = INFORMER_MAX_EVENT_BYTES;
	inf->seed = (unsigned int)(mono_ms() ^ (uintptr_t)inf);
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
	err = pthread_create(&inf->thread, NULL, watch_thread, inf);
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
	free(inf->line);
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
