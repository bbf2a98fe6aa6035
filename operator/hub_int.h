/* SPDX-License-Identifier: Apache-2.0 */
/* hub_int.h -- state shared by the hub's files (hub.c, hub_http.c); not public.
 */
#ifndef PODPROF_HUB_INT_H
#define PODPROF_HUB_INT_H

#include <libwebsockets.h>

#include "hub.h"
#include "wsq.h"

#define HUB_IDENTITY_MAX 256
#define HUB_METRICS_MAX	 (1024 * 1024) /* /metrics body cap */

/* Per-WebSocket-connection state; lws allocates it (protocols[].per_session_data_size). */
struct hub_session {
	struct hub *hub;
	struct lws *wsi;
	struct lws_dll2 list; /* in hub->sessions */
	bool authed;	      /* token accepted (header or hello) */
	bool registered;      /* hello done and node owns hub's registry slot */
	char node[PROTO_MAX_NODE_LEN + 1];
	char identity[HUB_IDENTITY_MAX];
	char version[PROTO_MAX_VERSION_LEN + 1];
	uint64_t connected_at_ms;
	uint64_t last_seen_ms;
	struct wsq q;	   /* outbound messages, written from WRITEABLE */
	unsigned char *rx; /* reassembly of the current message */
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
	char pending_identity[HUB_IDENTITY_MAX];
};

/* hub_http.c: the "http" protocol callback (protocol 0). */
int hub_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		      size_t len);

/* hub.c: run the authenticator on a token; logs and counts refusals. */
int hub_check_token(struct hub *hub, const char *token, char *identity, size_t idlen);

uint64_t hub_now_ms(void);

#endif
