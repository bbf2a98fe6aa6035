/* SPDX-License-Identifier: Apache-2.0 */
/* informer.h -- list+watch of one Kubernetes resource into a local cache.
 *
 * Built on k8s_client.h. Each informer runs a background thread that lists the
 * resource (paged, limit=500), then watches from the list's resourceVersion
 * with allowWatchBookmarks=true, decoding the newline-delimited JSON event
 * stream (events capped at INFORMER_MAX_EVENT_BYTES). On 410 Gone (HTTP or an
 * ERROR event), on an oversized or malformed event, it relists; when the
 * connection drops, it re-watches from the last resourceVersion after a capped
 * exponential backoff with jitter (200 ms doubling to 30 s, half fixed + half
 * random), relisting if that resourceVersion has expired. A server-side
 * timeoutSeconds (4-6 minutes, randomised) makes watches end cleanly and
 * restart, like client-go.
 *
 * Threading: the watch thread never touches the cache and never calls user
 * code. It queues raw events (and whole list snapshots) behind a mutex and
 * signals an eventfd. The main loop polls informer_fd() for POLLIN and calls
 * informer_dispatch(), which applies the events to the cache and runs the
 * handlers on the main thread. Everything except informer_start/stop and the
 * stats is main-thread only. A relist snapshot is diffed against the cache:
 * new keys fire on_add, changed resourceVersions on_update, vanished keys
 * on_delete, so no deletion is missed while the watch was down.
 *
 * Returns: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_INFORMER_H
#define PODPROF_INFORMER_H

#include "k8s_client.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INFORMER_MAX_EVENT_BYTES (4u << 20)
#define INFORMER_MAX_QUEUED	 65536 /* watch thread waits when this many are pending */

struct informer;

/* Which objects to watch. Strings are copied by informer_new(). */
struct informer_spec {
	const char *api_prefix;	    /* "/api/v1" or "/apis/<group>/<version>" */
	const char *plural;	    /* resource, e.g. "pods", "profilingtargets" */
	const char *namespace;	    /* NULL: all namespaces */
	const char *label_selector; /* NULL or a label selector, e.g. "app=web" */
	const char *field_selector; /* NULL or a field selector, e.g. "spec.nodeName=n1" */
};

/* Handlers run on the thread calling informer_dispatch(). Objects are
 * borrowed: valid during the call only (json_object_get() to keep one). Any
 * handler may be NULL. */
struct informer_handlers {
	void (*on_add)(void *arg, json_object *obj);
	void (*on_update)(void *arg, json_object *old_obj, json_object *new_obj);
	void (*on_delete)(void *arg, json_object *obj); /* last known state */
	void (*on_synced)(void *arg);			/* after each (re)list has been applied */
	void *arg;
};

/* Counters, readable from any thread. */
struct informer_stats {
	uint64_t lists;	       /* completed lists (first one included) */
	uint64_t watches;      /* watch requests started */
	uint64_t relists_gone; /* relists caused by 410 Gone / expired RV */
	uint64_t bad_events;   /* malformed or oversized events (each forces a relist) */
	uint64_t errors;       /* failed list/watch requests (each followed by backoff) */
	uint64_t events;       /* ADDED/MODIFIED/DELETED events received */
};

/* ---- lifetime ---------------------------------------------------------- */

/* Create a stopped informer. The client is borrowed and must outlive it.
 * Free with informer_free(). */
int informer_new(struct k8s_client *c, const struct informer_spec *spec,
		 const struct informer_handlers *h, struct informer **out);

/* Start the list+watch thread. -EALREADY if running. */
int informer_start(struct informer *inf);

/* Stop the thread and wait for it: a watch is abandoned within about a
 * second, a list request in flight finishes first (at most the 30 s request
 * timeout). Safe to call when not started, and twice. Queued events stay
 * queued. */
void informer_stop(struct informer *inf);

/* Stop if needed, release the cache and the queue; NULL is fine. */
void informer_free(struct informer *inf);

/* ---- main loop ---------------------------------------------------------- */

/* eventfd that is readable when informer_dispatch() has work. Owned by the
 * informer (do not close). */
int informer_fd(const struct informer *inf);

/* Apply every queued event to the cache and run the handlers. Returns the
 * number of events applied (>= 0). Main thread only. */
int informer_dispatch(struct informer *inf);

/* ---- cache (main thread only) ------------------------------------------- */

/* Cached object by namespace (NULL for cluster-scoped) and name, or NULL.
 * Borrowed: valid until the next informer_dispatch(). */
json_object *informer_get(struct informer *inf, const char *ns, const char *name);

/* Call fn for each cached object (borrowed); stop early when fn returns
 * non-zero, which is then returned. fn must not call informer_dispatch(). */
int informer_foreach(struct informer *inf, int (*fn)(void *arg, json_object *obj), void *arg);

/* Number of cached objects. */
size_t informer_count(const struct informer *inf);

/* True once the first list has been applied by informer_dispatch(). */
bool informer_has_synced(const struct informer *inf);

/* Snapshot of the counters. */
void informer_get_stats(const struct informer *inf, struct informer_stats *out);

/* ---- helpers ------------------------------------------------------------ */

/* Cache key of an object: "namespace/name", or "name" when cluster-scoped.
 * -EINVAL when metadata.name is missing, -ENAMETOOLONG when buf is small. */
int informer_key(json_object *obj, char *buf, size_t len);

/* metadata.<field> of obj as a string (borrowed), or NULL. */
const char *informer_meta(json_object *obj, const char *field);

#endif
