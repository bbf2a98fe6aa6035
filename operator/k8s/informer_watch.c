/* SPDX-License-Identifier: Apache-2.0 */
/* informer_watch.c -- the informer's list+watch thread: paged lists, the
 * watch stream decoded line by line within a cap, resourceVersion tracking,
 * relists after 410 Gone, and capped backoff with jitter. Events go to the
 * queue (informer.c) that the main thread dispatches. */
#include "capbuf.h"
#include "clock.h"
#include "informer_int.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_PAGE_LIMIT 500
#define BACKOFF_MIN_MS	200
#define BACKOFF_MAX_MS	30000
#define WATCH_TIMEOUT_S 240 /* plus up to 120 s of jitter */
#define MAX_PATH	2048

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
	informer_queue_push(inf,
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
	capbuf_reset(&inf->line);
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
		} else {
			err = capbuf_add(&inf->line, data, chunk);
			if (err == -EFBIG) {
				log_warn("informer",
					 "%s: watch event larger than %zu bytes, relisting",
					 inf->what, inf->line.max);
				atomic_fetch_add(&inf->st_bad, 1);
				capbuf_reset(&inf->line);
				inf->skipping = !nl;
				return -EMSGSIZE;
			}
			if (err)
				return err;
			if (nl) {
				err = handle_line(inf, inf->line.p, inf->line.len);
				capbuf_reset(&inf->line);
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
	inf->line.max = max;
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
	informer_queue_push(inf, EV_REPLACE, acc);
	return 0;
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
	informer_queue_push(inf, EV_REPLACE, acc);
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
	struct timespec ts = clock_mono_after(ms);

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

void *informer_watch_thread(void *arg)
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
		t0 = clock_mono_ms();
		err = do_watch(inf);
		if (atomic_load(&inf->stop))
			break;
		/* A watch that delivered events or lasted a while was healthy. */
		if (atomic_load(&inf->st_events) != before || clock_mono_ms() - t0 > 10000)
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
