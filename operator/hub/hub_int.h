/* SPDX-License-Identifier: Apache-2.0 */
/* hub_int.h -- state shared by the hub's files (hub.c, hub_http.c); not public.
 */
#ifndef PODPROF_HUB_INT_H
#define PODPROF_HUB_INT_H

#include <libwebsockets.h>

#include "hub.h"
#include "wsq.h"

#define HUB_IDENTITY_MAX 256
/* /metrics body cap: 10 per-worker series of up to ~330 bytes (253-byte
 * node names) for 4096 workers fit. Pages are touched only as written. */
#define HUB_METRICS_MAX (16 * 1024 * 1024)

#define HUB_PEER_MAX 64

enum hub_auth_state {
	HUB_AUTH_NONE,	  /* no token seen yet: it must come in hello */
	HUB_AUTH_PENDING, /* a check runs on an auth thread; rx is paused */
	HUB_AUTH_OK,
};

/* Per-WebSocket-connection state; lws allocates it (protocols[].per_session_data_size). */
struct hub_session {
	struct hub *hub;
	struct lws *wsi;
	struct lws_dll2 list; /* in hub->sessions */
	uint64_t id;	      /* matches auth results to sessions that may be gone */
	enum hub_auth_state auth;
	bool registered;   /* hello done and node owns hub's registry slot */
	bool pending;	   /* counted in hub->n_pending (before hello) */
	bool hello_parked; /* hello received while the token check runs */
	char peer[HUB_PEER_MAX];
	char node[PROTO_MAX_NODE_LEN + 1];
	char bound_node[PROTO_MAX_NODE_LEN + 1]; /* from the token; "" = none */
	char identity[HUB_IDENTITY_MAX];
	char version[PROTO_MAX_VERSION_LEN + 1];
	uint64_t connected_at_ms;
	uint64_t last_seen_ms;
	struct proto_symbols symbols; /* from the last progress that had them */
	struct proto_unwind unwind;   /* ditto */
	struct wsq q;		      /* outbound messages, written from WRITEABLE */
	unsigned char *rx;	      /* reassembly of the current message */
	size_t rx_len, rx_cap;
	bool rx_binary;
	bool close_pending; /* close from the next WRITEABLE with close_code */
	enum lws_close_status close_code;
	char close_reason[100];
};

/* Per-HTTP-request state: the response body waiting for HTTP_WRITEABLE. */
struct hub_http_pss {
	unsigned char *body; /* LWS_PRE headroom + len bytes, or NULL */
	size_t len;
};

struct hub_counters {
	uint64_t connections;			  /* WebSocket upgrades accepted */
	uint64_t auth_failures;			  /* tokens refused */
	uint64_t hellos;			  /* workers registered */
	uint64_t refused[PROTO_E_BAD_HEADER + 1]; /* by proto_status */
	uint64_t refused_other;			  /* order/size/policy refusals */
	uint64_t node_mismatch;			  /* hello for a node the token is not bound to */
	uint64_t pending_evicted;		  /* pre-hello sessions closed to make room */
	uint64_t pending_refused;		  /* pre-hello sessions over the per-address cap */
	uint64_t rx_busy;			  /* messages refused: receive buffers full */
	uint64_t auth_checks;			  /* checks run (not answered from cache) */
	uint64_t auth_cache_hits;
	uint64_t auth_rate_limited;
	uint64_t rx_messages[PROTO_HEARTBEAT + 1];
	uint64_t profiles; /* binary profile messages */
	uint64_t profile_bytes;
	uint64_t tx_messages;
};

struct hub {
	struct lws_context *ctx;
	struct hub_config cfg;
	struct hub_callbacks cbs;
	struct lws_dll2_owner sessions;
	unsigned n_sessions;
	unsigned n_pending;    /* sessions before hello (see hub_config.max_pending) */
	unsigned n_registered; /* sessions that completed hello */
	uint64_t rx_total;     /* bytes of all sessions' reassembly buffers */
	uint64_t next_id;
	struct hub_authq *authq; /* NULL unless cfg.auth_async */
	struct hub_counters c;
	void (*wakeup_cb)(void *ctx);
	void *wakeup_ctx;
	int (*metrics_cb)(void *ctx, char *buf, size_t cap);
	void *metrics_ctx;
	bool (*ready_cb)(void *ctx);
	void *ready_ctx;
	hub_object_fn object_cb; /* GET /profiles/..., see hub_set_object_cb */
	void *object_ctx;
	/* Identity of the connection whose upgrade was just authorized: the
	 * HTTP-side check (401 on failure) runs before the ws session exists. */
	struct lws *pending_wsi;
	int pending_auth; /* 0: pending_result holds the identity; 1: pending_token to check */
	struct hub_auth_result pending_result;
	char *pending_token;
};

/* hub_http.c: the "http" protocol callback (protocol 0). */
int hub_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		      size_t len);

/* hub_session.c: check a token now, from the cache or (synchronous authenticators)
 * by calling it. Returns 0 (accepted, *res filled), -EACCES (refused, also
 * when the address is over its rate), -EINPROGRESS (an asynchronous check is
 * needed: hub_authq_submit), other negative errno. peer is the source address. */
int hub_check_token(struct hub *hub, const char *peer, const char *token,
		    struct hub_auth_result *res);

/* hub_authq.c: the asynchronous token checks, their cache and rate limit. */
struct hub_authq;

int hub_authq_new(struct hub *hub, unsigned threads, struct hub_authq **out);
/* Stop the threads (waits for checks in flight) and free; accepts NULL. */
void hub_authq_free(struct hub_authq *q);
/* Queue a check of token for session id. -EBUSY when too many are queued. */
int hub_authq_submit(struct hub_authq *q, uint64_t id, const char *token);
/* Cached verdict for token: 1 accepted (*res filled), -EACCES refused, 0 unknown. */
int hub_authq_cached(struct hub_authq *q, const char *token, struct hub_auth_result *res);
/* Whether peer may start another uncached check now (token bucket per address). */
bool hub_authq_rate_ok(struct hub_authq *q, const char *peer);
/* Hub thread: hand every finished check to hub_auth_done. */
void hub_authq_drain(struct hub_authq *q);

/* hub_session.c: a check finished (rc as from hub_auth_fn) for session id. */
void hub_auth_done(struct hub *hub, uint64_t id, int rc, const struct hub_auth_result *res);

/* hub.c: forget the upgrade vetted last (identity, token), wiping secrets. */
void hub_pending_clear(struct hub *hub);

/* RFC 6455 registry: "Try Again Later" (lws has no name for it). */
#define CLOSE_TRY_AGAIN ((enum lws_close_status)1013)

/* hub_session.c: one session's authentication, hello and output. */
struct hub_session *hub_find_node(struct hub *hub, const char *node);
int hub_session_auth_start(struct hub_session *s, const char *token);
void hub_session_close_later(struct hub_session *s, enum lws_close_status code, const char *why);
int hub_session_hello(struct hub_session *s, const struct proto_hello *h);
void hub_session_idle_timeout(struct hub_session *s);
void hub_session_pending_drop(struct hub_session *s);
int hub_session_refuse(struct hub_session *s, enum lws_close_status code, const char *why);
int hub_session_send_msg(struct hub_session *s, const struct proto_msg *m);
void hub_session_set_auth(struct hub_session *s, const struct hub_auth_result *res);
int hub_session_writeable(struct hub_session *s);

/* hub_rx.c: an inbound fragment of s (LWS_CALLBACK_RECEIVE); -1 closes. */
int hub_session_receive(struct hub_session *s, const void *in, size_t len);
/* hub_rx.c: give s's receive buffer back to the hub-wide total. */
void hub_session_rx_release(struct hub_session *s);

#endif
