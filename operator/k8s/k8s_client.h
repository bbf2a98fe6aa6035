/* SPDX-License-Identifier: Apache-2.0 */
/* k8s_client.h -- HTTPS client for the Kubernetes API (libcurl + json-c).
 *
 * The only module that uses libcurl for Kubernetes. It sends one request per
 * call (GET/POST/PUT/PATCH/DELETE) with JSON bodies, and streams responses
 * for watches. Built on kubeconfig.h; informer.c and k8s_status.c build on it.
 *
 * Threading: a client may be shared by several threads (the main loop and the
 * informer threads). Every call uses its own curl easy handle (one cached
 * handle is reused for connection keep-alive when not busy), the bearer token
 * is read under a mutex. Calls block; the main loop should only make short
 * requests (status writes, Events, TokenReview), never watches.
 *
 * Token rotation: with a token file (in-cluster service account, kubeconfig
 * tokenFile), the file is stat()ed before each request and re-read when its
 * inode, size or mtime changed.
 *
 * Returns: 0 on success, negative errno on failure. HTTP errors map to errno
 * values (see k8s_errno_from_http), and the API server's Status reason and
 * message are logged (warn) and, when `aerr` is non-NULL, copied into it:
 *   400 -EINVAL    401 -EACCES    403 -EPERM     404 -ENOENT    405 -EOPNOTSUPP
 *   409 AlreadyExists -EEXIST, other 409 (Conflict: stale resourceVersion) -EAGAIN
 *   410 -ESTALE (resourceVersion too old: relist)   413 -EFBIG   422 -EINVAL
 *   429 -EBUSY     503 -EBUSY     504 -ETIMEDOUT    other 5xx -EIO   other -EPROTO
 * Transport: refused -ECONNREFUSED, timeout -ETIMEDOUT, reset/empty reply
 * -ECONNRESET, TLS failure -EPROTO, response over the cap -EFBIG.
 */
#ifndef PODPROF_K8S_CLIENT_H
#define PODPROF_K8S_CLIENT_H

#include "kubeconfig.h"

#include <json-c/json.h>
#include <stdatomic.h>
#include <stddef.h>

/* Response caps: single objects and list pages; watch events are capped by
 * the informer. */
#define K8S_MAX_OBJECT_BYTES (4u << 20)
#define K8S_MAX_LIST_BYTES   (16u << 20)

struct k8s_client;

/* What the API server said when a call failed. */
struct k8s_api_error {
	long http_code;	   /* HTTP status, 0 when no response arrived */
	char reason[64];   /* Status.reason, e.g. "Conflict", "NotFound" */
	char message[512]; /* Status.message or the transport error text */
};

enum k8s_patch_type {
	K8S_PATCH_MERGE,     /* application/merge-patch+json (RFC 7386) */
	K8S_PATCH_JSON,	     /* application/json-patch+json (RFC 6902) */
	K8S_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (built-in types) */
};

/* ---- lifetime ---------------------------------------------------------- */

/* Create a client from cfg (copied: cfg may be freed afterwards). Fails with
 * -EINVAL when cfg has no server. Free with k8s_client_free(). */
int k8s_client_new(const struct k8s_config *cfg, struct k8s_client **out);

/* Release the client; NULL is fine. No call may be running. */
void k8s_client_free(struct k8s_client *c);

/* Default namespace of the config ("default" when unset). Borrowed. */
const char *k8s_client_namespace(const struct k8s_client *c);

/* ---- requests ---------------------------------------------------------- */

/* Generic request. path starts with "/" (e.g. "/api/v1/pods?limit=10").
 * body may be NULL. On 2xx, *out (when out is non-NULL) receives the parsed
 * JSON reply (new reference; NULL for an empty body). Replies larger than
 * max_bytes fail with -EFBIG. */
int k8s_request(struct k8s_client *c, const char *method, const char *path,
		const char *content_type, const char *body, size_t max_bytes, json_object **out,
		struct k8s_api_error *aerr);

/* GET path (object or list page, capped at K8S_MAX_LIST_BYTES). */
int k8s_get(struct k8s_client *c, const char *path, json_object **out, struct k8s_api_error *aerr);

/* GET path and return the raw reply body (any content type, e.g. a file
 * served through the API server's service proxy), capped at max_bytes
 * (-EFBIG past it). On success *out is malloc'd (the caller frees it) and
 * NUL-terminated for convenience; *out_len excludes the NUL. On failure *out
 * is NULL. */
int k8s_get_bytes(struct k8s_client *c, const char *path, size_t max_bytes, void **out,
		  size_t *out_len, struct k8s_api_error *aerr);

/* POST obj to path (create). *out receives the created object. */
int k8s_create(struct k8s_client *c, const char *path, json_object *obj, json_object **out,
	       struct k8s_api_error *aerr);

/* PUT obj to path (replace; metadata.resourceVersion in obj is the
 * optimistic-concurrency precondition). -EAGAIN on conflict. */
int k8s_replace(struct k8s_client *c, const char *path, json_object *obj, json_object **out,
		struct k8s_api_error *aerr);

/* PATCH path with patch of the given type. */
int k8s_patch(struct k8s_client *c, const char *path, enum k8s_patch_type type, json_object *patch,
	      json_object **out, struct k8s_api_error *aerr);

/* DELETE path. */
int k8s_delete(struct k8s_client *c, const char *path, json_object **out,
	       struct k8s_api_error *aerr);

/* ---- streaming (watch) ------------------------------------------------- */

/* Called with each chunk of a 200 response body as it arrives (arbitrary
 * boundaries). Return 0 to continue or a negative errno to abort the stream;
 * that value is then returned by k8s_stream(). */
typedef int (*k8s_stream_fn)(void *arg, const char *data, size_t len);

/* GET path and feed the body to fn until the server closes the stream (0),
 * *stop becomes non-zero (-ECANCELED, noticed within about a second), fn
 * fails, or the transfer fails (errno as above; a 410 reply is -ESTALE).
 * Blocks; meant for a dedicated thread. */
int k8s_stream(struct k8s_client *c, const char *path, k8s_stream_fn fn, void *arg,
	       const atomic_int *stop, struct k8s_api_error *aerr);

/* ---- helpers ----------------------------------------------------------- */

/* Map an HTTP status (and Status.reason, may be NULL) to a negative errno. */
int k8s_errno_from_http(long code, const char *reason);

/* Build "<prefix>[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]" into buf.
 * prefix is "/api/v1" or "/apis/<group>/<version>"; ns, name, sub may be
 * NULL. Names must be DNS-1123 style ([a-z0-9.-], as Kubernetes enforces) so
 * nothing needs escaping; -EINVAL otherwise, -ENAMETOOLONG if buf is small. */
int k8s_build_path(char *buf, size_t len, const char *prefix, const char *ns, const char *plural,
		   const char *name, const char *sub);

/* Percent-encode s for a URL query value. Caller frees; NULL on ENOMEM. */
char *k8s_query_escape(const char *s);

#endif
