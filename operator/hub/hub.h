/* SPDX-License-Identifier: Apache-2.0 */
/* hub.h -- the operator's WebSocket hub: workers dial in, the operator talks.
 *
 * The only operator module that touches libwebsockets. One lws context on one
 * port serves both the "podprof.v1" WebSocket subprotocol (docs/protocol.md)
 * and plain HTTP GET /healthz, /readyz and /metrics. Optional TLS (cert + key
 * PEM files) covers both.
 *
 * Event-loop model: the hub owns an lws context driven by the default lws
 * poll() loop (no foreign loop). The operator's main thread calls
 * hub_service() in a loop; it blocks in poll() until socket activity, an lws
 * timer, a signal (EINTR) or hub_wake(). Other threads (Kubernetes informers)
 * must not call hub_send_* directly: they queue their work, call hub_wake(),
 * and the main thread runs the wakeup callback (hub_set_wakeup_cb) from inside
 * hub_service(), where hub_send_* is allowed. All callbacks below run on the
 * thread that calls hub_service(), never concurrently.
 *
 * Authentication: every WebSocket connection presents a bearer token, in the
 * upgrade request's "Authorization: Bearer <token>" header (preferred, checked
 * before the upgrade is accepted: a bad token gets HTTP 401) or, when the
 * header is absent, in the hello message. The hub calls the configured
 * authenticator; hub_token_file_auth() is the local-mode one (shared secret
 * file, constant-time compare). A worker becomes "connected" after a valid
 * hello naming its node; a second hello for the same node replaces the older
 * connection only when it proves the same identity (callbacks:
 * on_worker_disconnected(node), then on_worker_connected(node); the old
 * session then closes silently); otherwise the newcomer is refused. With
 * require_node_binding the node named in hello must be the node the token is
 * bound to (cluster mode: TokenReview's node-name extra).
 *
 * Before hello a connection may send one text message of at most
 * PROTO_MAX_TEXT_FRAME bytes; a binary frame is refused on its first
 * fragment. Such connections have their own caps (max_pending, per address),
 * so that they can never lock registered workers out.
 *
 * Abuse handling: malformed, oversized, unknown or out-of-order messages close
 * the connection with 1008 (policy) or 1009 (too big) and a logged reason;
 * counters per reason are in the /metrics text.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_HUB_H
#define PODPROF_HUB_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct hub;

/* What a token proves: who holds it and, when the token is bound to a node
 * (a projected service-account token of a pod on that node), which node. */
struct hub_auth_result {
	char identity[256];		   /* printable, e.g. the TokenReview username */
	char node[PROTO_MAX_NODE_LEN + 1]; /* node the token is bound to; "" = none */
};

/* Checks a bearer token. On success returns 0 and fills *out (identity
 * NUL-terminated; node "" when the token names no node); returns -EACCES for a
 * refused token, other negative errno when the check itself failed (both
 * refuse the connection). With hub_config.auth_async false it runs on the hub
 * thread and must be quick (a constant-time compare); with auth_async true it
 * runs on one of the hub's auth threads (it may block: TokenReview is an
 * HTTPS call) and must be thread-safe. */
typedef int (*hub_auth_fn)(void *ctx, const char *token, struct hub_auth_result *out);

struct hub_config {
	const char *iface;	    /* bind address or interface; NULL = all */
	int port;		    /* TCP port, 1..65535 */
	const char *tls_cert;	    /* PEM certificate chain; NULL = plain ws/http */
	const char *tls_key;	    /* PEM private key, required with tls_cert */
	uint64_t max_profile_bytes; /* binary message cap; 0 = PROTO_PROFILE_MAX_DEFAULT */
	uint32_t heartbeat_ms;	    /* told to workers in welcome; 0 = 5000 */
	unsigned max_workers;	    /* workers registered (hello done) at once; 0 = 8192 */
	const char *version;	    /* operator version sent in welcome; NULL = "dev" */
	hub_auth_fn auth;	    /* required: no anonymous workers */
	void *auth_ctx;
	/* Off the hub thread: auth runs on auth_threads threads (0 = 4); results,
	 * refusals included, are cached for a short time by token hash, and
	 * each source address may start only a few uncached checks per second. */
	bool auth_async;
	unsigned auth_threads;
	/* Workers must say hello from a node their token is bound to; a token
	 * without a node binding is refused. Off: any node (local mode with a
	 * shared secret). */
	bool require_node_binding;
	/* Connections that have not completed hello (not counted in max_workers):
	 * at most max_pending (0 = 256) at once, the oldest closed to make room,
	 * and max_pending_per_addr (0 = 16) per source address. */
	unsigned max_pending;
	unsigned max_pending_per_addr;
	/* Bytes of inbound messages being reassembled, all sessions together;
	 * 0 = 4 x max_profile_bytes. A message that would exceed it is refused
	 * with 1013 (try again later). */
	uint64_t max_rx_total;
};

/* Event callbacks; any may be NULL. node is the worker's node name. Pointers
 * passed in are valid only during the call. */
struct hub_callbacks {
	void *ctx;
	void (*on_worker_connected)(void *ctx, const char *node, const char *identity);
	void (*on_worker_disconnected)(void *ctx, const char *node);
	void (*on_progress)(void *ctx, const char *node, const struct proto_progress *msg);
	/* data is the gzip pprof payload (header stripped); final = last of the job. */
	void (*on_profile)(void *ctx, const char *node, const char *job_id, bool final,
			   const uint8_t *data, size_t len);
	void (*on_error)(void *ctx, const char *node, const struct proto_error_msg *msg);
	/* A hello was refused because the token does not speak for node (reason
	 * says why); identity is the token's. For an Event: someone tried. */
	void (*on_worker_refused)(void *ctx, const char *node, const char *identity,
				  const char *reason);
};

/* One connected worker, as seen by hub_foreach_worker. */
struct hub_worker_info {
	const char *node;
	const char *identity; /* from the authenticator */
	const char *version;  /* worker software version from hello */
	uint64_t connected_at_ms;
	uint64_t last_seen_ms; /* CLOCK_MONOTONIC, ms */
	/* The worker's caches as its last progress told (present = false
	 * until one said so); served on /metrics as podprof_worker_*. */
	const struct proto_symbols *symbols;
	const struct proto_unwind *unwind;
};

/* ---- lifetime ------------------------------------------------------------- */

/* Create the hub and start listening. cfg and cbs are copied (strings in cfg
 * must outlive the hub). On success *out owns the hub (free with hub_free).
 * Fails with -EINVAL (bad config), -EADDRINUSE/-EIO (cannot listen), -ENOMEM. */
int hub_new(const struct hub_config *cfg, const struct hub_callbacks *cbs, struct hub **out);

/* Close every connection and free the hub. Accepts NULL. No callbacks run. */
void hub_free(struct hub *hub);

/* ---- event loop ----------------------------------------------------------- */

/* Serve until something happens (socket activity, timer, signal, hub_wake),
 * then return 0; negative errno if the lws context failed. Loop on it. */
int hub_service(struct hub *hub);

/* Thread-safe (and safe from a signal handler): make hub_service() return soon
 * and run the wakeup callback on the hub thread. */
void hub_wake(struct hub *hub);

/* Register the function run on the hub thread after hub_wake(); replaces any
 * earlier one. NULL disables. Spurious calls are possible: treat it as "check
 * your queues". */
void hub_set_wakeup_cb(struct hub *hub, void (*cb)(void *ctx), void *ctx);

/* ---- HTTP endpoints ------------------------------------------------------- */

/* Function that appends Prometheus text to buf (cap bytes) and returns the
 * number of bytes written (< cap), or negative errno. Served after the hub's own
 * podprof_hub_* metrics on GET /metrics. */
void hub_set_metrics_cb(struct hub *hub, int (*cb)(void *ctx, char *buf, size_t cap), void *ctx);

/* Function deciding GET /readyz: true -> 200, false -> 503. Without one,
 * /readyz is 200 once the hub listens. /healthz is 200 while hub_service runs. */
void hub_set_ready_cb(struct hub *hub, bool (*cb)(void *ctx), void *ctx);

/* Read-only access to stored profiles for `kubectl podprof fetch`, which
 * reaches this port through the API server's service proxy (so Kubernetes
 * RBAC on services/proxy decides who may read). GET
 * /profiles/<namespace>/<target>/<uid>/<file> with file <start>.pb.gz or
 * <start>.svg is answered from cb: the hub validates the path (DNS-style
 * components, no "..", no other extension) and hands cb the relative key
 * "<namespace>/<target>/<uid>/<file>". cb returns 0 with a malloc'd object
 * in *out (*len bytes, at most HUB_OBJECT_MAX; the hub frees it), -ENOENT
 * (404), -E2BIG (413) or another negative errno (502).
 *
 * cb runs on one of the hub's read threads, never on the hub thread, so a
 * slow store delays only that request; it must be safe to call from two
 * threads at once. It should give up soon after *abort becomes non-zero
 * (hub_free, or the cb being replaced). Reads queued or running are
 * bounded; past the bound a request is answered 503 at once. Without a cb,
 * /profiles/ is 404. Returns 0, or -ENOMEM/-EAGAIN when the read threads
 * cannot start (the cb is then not set). */
#define HUB_OBJECT_MAX (64u << 20)
typedef int (*hub_object_fn)(void *ctx, const char *rel_key, const volatile sig_atomic_t *abort,
			     void **out, size_t *len);
int hub_set_object_cb(struct hub *hub, hub_object_fn cb, void *ctx);

/* Write the hub's own metrics (Prometheus text) into buf. Returns bytes
 * written, or -ENOSPC if cap is too small. */
int hub_metrics_write(struct hub *hub, char *buf, size_t cap);

/* ---- talking to workers (hub thread only) ---------------------------------- */

/* Queue an attach for node's worker; sent when the socket is writeable.
 * Returns 0, -ENOTCONN (no such worker), -EINVAL (msg invalid), -ENOBUFS
 * (worker's queue full: it is being disconnected), -ENOMEM. */
int hub_send_attach(struct hub *hub, const char *node, const struct proto_attach *msg);

/* Queue a detach of job_id for node's worker. Same returns as hub_send_attach. */
int hub_send_detach(struct hub *hub, const char *node, const char *job_id);

/* Queue an error message (code, message; job_id may be NULL) for node. */
int hub_send_error(struct hub *hub, const char *node, const char *job_id, const char *code,
		   const char *message);

/* Whether node has an authenticated worker that completed hello. */
bool hub_worker_connected(struct hub *hub, const char *node);

/* Call fn for each connected worker (in connection order); returns how many.
 * fn must not call hub_free; it may call hub_send_*. */
int hub_foreach_worker(struct hub *hub, void (*fn)(void *ctx, const struct hub_worker_info *w),
		       void *ctx);

/* Number of connected workers (hello done). */
unsigned hub_worker_count(struct hub *hub);

/* ---- local-mode authentication ------------------------------------------ */

/* Secrets for local runs, from a file (at most 64 KiB). Either one line
 * holding a shared secret (any node may use it), or one "NODE TOKEN" line per
 * node: such a token is bound to NODE and speaks for no other node. Blank
 * lines and lines starting with '#' are ignored in the per-node form. */
struct hub_token_file;

/* Read path (mode should not be world-readable: a warning is logged if it
 * is). Returns 0 and *out, or negative errno (-EINVAL for an empty file, a
 * malformed line or a node name that is not DNS-1123). */
int hub_token_file_load(const char *path, struct hub_token_file **out);

/* Wipe and free; accepts NULL. */
void hub_token_file_free(struct hub_token_file *tf);

/* hub_auth_fn for a struct hub_token_file ctx: constant-time comparison with
 * every secret; identity "token-file" (shared) or "token-file:NODE", and
 * out->node = NODE for a per-node token. */
int hub_token_file_auth(void *ctx, const char *token, struct hub_auth_result *out);

#endif
