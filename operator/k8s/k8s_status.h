/* SPDX-License-Identifier: Apache-2.0 */
/* k8s_status.h -- status-subresource writes, Events and TokenReview.
 *
 * Higher-level Kubernetes calls built on k8s_client.h (which they only call;
 * no libcurl here):
 *   - status writes with optimistic concurrency: read the object, let the
 *     caller mutate it, PUT .../status with the read resourceVersion, and on
 *     409 Conflict re-read and mutate again (bounded retries with backoff);
 *   - core/v1 Events attached to an object (visible in `kubectl describe`
 *     and `kubectl get events`);
 *   - authentication.k8s.io/v1 TokenReview, to check worker tokens.
 * Calls block (one or a few short HTTPS requests) and may run on any thread.
 *
 * Returns: 0 on success, negative errno on failure (k8s_client.h's mapping).
 */
#ifndef PODPROF_K8S_STATUS_H
#define PODPROF_K8S_STATUS_H

#include "k8s_client.h"

#include <json-c/json.h>
#include <stdbool.h>

/* Identifies one object (namespaced or cluster-scoped). */
struct k8s_object_ref {
	const char *api_prefix;	 /* "/api/v1" or "/apis/<group>/<version>" */
	const char *plural;	 /* e.g. "profilingtargets" */
	const char *api_version; /* e.g. "podprof.dev/v1alpha1" (for Events) */
	const char *kind;	 /* e.g. "ProfilingTarget" (for Events) */
	const char *ns;		 /* namespace, NULL when cluster-scoped */
	const char *name;	 /* object name */
	const char *uid;	 /* metadata.uid, may be NULL (for Events) */
};

/* Change obj (a full object, owned by the caller of the callback, whose
 * "status" the callback edits in place) for attempt number `attempt`
 * (0-based). Return 0 to write it, 1 when nothing needs writing (the update
 * then ends with success and no request), or a negative errno to abort. */
typedef int (*k8s_mutate_fn)(void *arg, json_object *obj, int attempt);

/* Update ref's status subresource. When `current` (borrowed, may be NULL) is
 * given it is used for the first attempt instead of a GET (e.g. the informer
 * cache); each retry GETs a fresh copy. Up to max_attempts PUTs are made
 * (min 1), sleeping 20 ms doubling to 1 s, with jitter, between conflicts.
 * *attempts_out (may be NULL) receives the number of PUTs made; *out (may be
 * NULL) the object as stored (new reference). -EAGAIN when every attempt
 * conflicted, -ENOENT when the object is gone. */
int k8s_update_status(struct k8s_client *c, const struct k8s_object_ref *ref, json_object *current,
		      k8s_mutate_fn mutate, void *arg, int max_attempts, int *attempts_out,
		      json_object **out);

/* Merge-patch {"status": status} into ref's status subresource (no
 * precondition: last writer wins for the fields given). */
int k8s_patch_status(struct k8s_client *c, const struct k8s_object_ref *ref, json_object *status,
		     json_object **out);

/* Record a core/v1 Event about ref. type is "Normal" or "Warning"; reason is
 * a CamelCase word ("Started", "Completed", "Failed"); message is free text
 * (truncated to 1024 bytes). component names the reporter
 * ("podprof-operator"). The Event is created in ref->ns (or "default"). */
int k8s_event_emit(struct k8s_client *c, const struct k8s_object_ref *ref, const char *type,
		   const char *reason, const char *message, const char *component);

/* Result of a TokenReview. */
struct k8s_token_review {
	bool authenticated; /* the API server accepted the token */
	char username[256]; /* e.g. "system:serviceaccount:podprof:worker" */
	char uid[128];	    /* user UID, may be empty */
	char error[256];    /* status.error when not authenticated */
	/* user.extra of a pod-bound service-account token ("" when absent):
	 * node-name is set by Kubernetes >= 1.30 when the pod has a node. */
	char node_name[254];
	char pod_name[254];
	char pod_uid[128];
};

/* Ask the API server whether token is valid. audience may be NULL (the
 * server's default audiences). An invalid token is not an error: the call
 * returns 0 with authenticated = false. The token is never logged. */
int k8s_token_review(struct k8s_client *c, const char *token, const char *audience,
		     struct k8s_token_review *out);

/* Split "system:serviceaccount:NS:NAME" into ns and name buffers.
 * -EINVAL when username is not a service-account name. */
int k8s_sa_username_split(const char *username, char *ns, size_t ns_len, char *name,
			  size_t name_len);

/* RFC 3339 UTC time ("2026-01-02T03:04:05Z") of now into buf (>= 21 bytes). */
void k8s_time_now(char *buf, size_t len);

#endif
