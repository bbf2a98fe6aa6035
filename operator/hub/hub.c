/* SPDX-License-Identifier: Apache-2.0 */
/* hub.c -- the podprof.v1 WebSocket server: sessions, validation, queues.
 *
 * Each worker connection is one struct hub_session (lws per-session data).
 * Inbound messages are reassembled across fragments up to a cap decided on
 * the first fragment (text: PROTO_MAX_TEXT_FRAME; binary: max_profile_bytes,
 * and only after hello), within a total for all sessions (max_rx_total), then
 * decoded by lib/proto.c. Connections before hello are counted apart from
 * registered workers (max_pending, per address), so that unauthenticated
 * peers can neither fill max_workers nor grow memory past a small bound. Outbound messages go through a per-session
 * queue and are written only from LWS_CALLBACK_SERVER_WRITEABLE, in chunks,
 * as one fragmented WebSocket message. This file: the server's life cycle,
 * the lws protocol callback and the send API; one session's hello,
 * authentication and output live in hub_session.c, inbound messages in
 * hub_rx.c, HTTP endpoints in hub_http.c.
 */
#include "clock.h"
#include "hub_int.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MOD		"hub"
#define HELLO_TIMEOUT_S 10		   /* time to send hello after upgrade */
#define QUEUE_MAX_BYTES (16 * 1024 * 1024) /* per-worker outbound backlog cap */
#define DEFAULT_HB_MS	5000
/* Kubernetes documents clusters of up to 5,000 nodes: one worker each. */
#define DEFAULT_MAX_WORKER 8192
#define DEFAULT_PENDING	   256
#define DEFAULT_PER_ADDR   16
#define FD_SPARE	   256 /* API server, object store, files, listener */

static const char *peer_of(struct lws *wsi, char *buf, size_t len)
{
	const char *p = lws_get_peer_simple(wsi, buf, len);

	return p ? p : "?";
}

/* ---- lws protocol callback -------------------------------------------------- */

/* Count before-hello sessions from peer; remember the oldest one. */
static unsigned pending_from(struct hub *hub, const char *peer, struct hub_session **oldest)
{
	unsigned n = 0;

	*oldest = NULL;
	lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&hub->sessions))
	{
		struct hub_session *o = lws_container_of(d, struct hub_session, list);

		if (o->pending && !o->close_pending) {
			if (!*oldest)
				*oldest = o;
			n += strcmp(o->peer, peer) == 0;
		}
	}
	lws_end_foreach_dll(d);
	return n;
}

static int session_established(struct hub *hub, struct hub_session *s, struct lws *wsi)
{
	struct hub_session *oldest;
	char *token = NULL;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	s->hub = hub;
	s->wsi = wsi;
	s->id = ++hub->next_id;
	wsq_init(&s->q, QUEUE_MAX_BYTES);
	s->connected_at_ms = s->last_seen_ms = clock_mono_ms();
	peer_of(wsi, s->peer, sizeof(s->peer));
	if (hub->pending_wsi == wsi) {
		if (hub->pending_auth == 0)
			hub_session_set_auth(s, &hub->pending_result);
		token = hub->pending_token;
		hub->pending_token = NULL;
	}
	hub_pending_clear(hub);
	if (pending_from(hub, s->peer, &oldest) >= hub->cfg.max_pending_per_addr) {
		hub->c.pending_refused++;
		rc = hub_session_refuse(s, CLOSE_TRY_AGAIN, "too many connections before hello");
		goto cleanup;
	}
	if (hub->n_pending >= hub->cfg.max_pending && oldest) {
		/* Make room by closing the oldest silent connection rather than
		 * refusing the newest: a real worker says hello at once, so a flood
		 * of idle upgrades cannot keep it out. */
		hub->c.pending_evicted++;
		hub_session_pending_drop(oldest);
		hub_session_close_later(oldest, CLOSE_TRY_AGAIN,
					"too many connections before hello");
	}
	lws_dll2_add_tail(&s->list, &hub->sessions);
	hub->n_sessions++;
	s->pending = true;
	hub->n_pending++;
	hub->c.connections++;
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, HELLO_TIMEOUT_S);
	/* Vetted at the upgrade (cache and rate): not charged a second time. */
	if (token)
		rc = hub_session_auth_submit(s, token);
cleanup:
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	return rc;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	struct hub *hub = lws_context_user(lws_get_context(wsi));
	struct hub_session *s = user;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* hub_wake() or an auth thread: run the queue drains here. */
		if (hub && hub->authq)
			hub_authq_drain(hub->authq);
		if (hub && hub->reads.inited)
			hub_pool_drain(&hub->reads);
		if (hub && hub->wakeup_cb)
			hub->wakeup_cb(hub->wakeup_ctx);
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		return session_established(hub, s, wsi);
	case LWS_CALLBACK_RECEIVE:
		return hub_session_receive(s, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return hub_session_writeable(s);
	case LWS_CALLBACK_CLOSED:
		if (!s->hub)
			return 0;
		if (lws_dll2_is_detached(&s->list) == 0) {
			lws_dll2_remove(&s->list);
			hub->n_sessions--;
		}
		hub_session_pending_drop(s);
		if (s->auth == HUB_AUTH_PENDING && hub->authq)
			hub_authq_cancel(hub->authq, s->id);
		if (s->registered) {
			hub_registry_del(hub, s);
			log_info(MOD, "worker %s disconnected", s->node);
			if (hub->cbs.on_worker_disconnected)
				hub->cbs.on_worker_disconnected(hub->cbs.ctx, s->node);
		}
		wsq_clear(&s->q);
		hub_session_rx_release(s);
		s->hub = NULL;
		return 0;
	default:
		return 0;
	}
}

/* Protocol 0 serves HTTP and vets upgrades; protocol 1 is the worker link. */
static const struct lws_protocols protocols[] = {
    {"http", hub_http_callback, sizeof(struct hub_http_pss), 0, 0, NULL, 0},
    {PROTO_SUBPROTOCOL, ws_callback, sizeof(struct hub_session), 64 * 1024, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

void hub_pending_clear(struct hub *hub)
{
	struct hub_auth_result *r = &hub->pending_result;

	hub->pending_wsi = NULL;
	explicit_bzero(r->identity, sizeof(r->identity));
	explicit_bzero(r->node, sizeof(r->node));
	if (hub->pending_token) {
		explicit_bzero(hub->pending_token, strlen(hub->pending_token));
		free(hub->pending_token);
		hub->pending_token = NULL;
	}
}

/* ---- public API -------------------------------------------------------------- */

static void idle_tick(lws_sorted_usec_list_t *sul)
{
	struct hub *hub = lws_container_of(sul, struct hub, idle_sul);

	hub_idle_sweep(hub);
	lws_sul_schedule(hub->ctx, 0, &hub->idle_sul, idle_tick, LWS_USEC_PER_SEC);
}

/* One descriptor per connection: raise the soft RLIMIT_NOFILE to what
 * max_workers + max_pending need (the usual soft default, 1024, stops near
 * a thousand workers), within the hard limit, which needs no privilege.
 * Only raised, never to the hard limit itself: lws sizes its fd tables from
 * this limit. Short of the need, the hub still runs and says how far. */
static void hub_raise_fd_limit(const struct hub_config *cfg)
{
	rlim_t want = (rlim_t)cfg->max_workers + cfg->max_pending + FD_SPARE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		log_warn(MOD,
			 "open-file limit %llu (hard %llu) is below the %llu that %u workers need: "
			 "connections past it are refused",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
			 (unsigned long long)want, cfg->max_workers);
}

int hub_new(const struct hub_config *cfg, const struct hub_callbacks *cbs, struct hub **out)
{
	struct lws_context_creation_info info;
	struct hub *hub = NULL;
	int err;

	*out = NULL;
	if (!cfg || !cfg->auth || cfg->port <= 0 || cfg->port > 65535 ||
	    (!cfg->tls_cert != !cfg->tls_key)) {
		err = -EINVAL;
		goto cleanup;
	}
	hub = calloc(1, sizeof(*hub));
	if (!hub) {
		err = -ENOMEM;
		goto cleanup;
	}
	hub->cfg = *cfg;
	if (cbs)
		hub->cbs = *cbs;
	if (!hub->cfg.max_profile_bytes)
		hub->cfg.max_profile_bytes = PROTO_PROFILE_MAX_DEFAULT;
	if (!hub->cfg.heartbeat_ms)
		hub->cfg.heartbeat_ms = DEFAULT_HB_MS;
	if (!hub->cfg.max_workers)
		hub->cfg.max_workers = DEFAULT_MAX_WORKER;
	if (!hub->cfg.version)
		hub->cfg.version = "dev";
	if (!hub->cfg.max_pending)
		hub->cfg.max_pending = DEFAULT_PENDING;
	if (!hub->cfg.max_pending_per_addr)
		hub->cfg.max_pending_per_addr = DEFAULT_PER_ADDR;
	if (!hub->cfg.max_rx_total)
		hub->cfg.max_rx_total = 4 * (hub->cfg.max_profile_bytes + PROTO_PROFILE_HEADER_MAX);
	hub_raise_fd_limit(&hub->cfg);

	lws_set_log_level(log_get_level() >= LOG_LVL_DEBUG ? LLL_ERR | LLL_WARN | LLL_NOTICE
							   : LLL_ERR | LLL_WARN,
			  wsq_lws_log);
	memset(&info, 0, sizeof(info));
	info.port = cfg->port;
	info.iface = cfg->iface;
	info.protocols = protocols;
	info.user = hub;
	/* Room for an Authorization header with a long service-account JWT. */
	info.max_http_header_data = PROTO_MAX_TOKEN_LEN + 4096;
	info.timeout_secs = 10;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg->tls_cert) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
		/* HTTP/1.1 only: every WebSocket then goes through the upgrade
		 * vetting in hub_http.c (no WebSocket-over-h2 path). */
		info.alpn = "http/1.1";
	}
	hub->ctx = lws_create_context(&info);
	if (!hub->ctx) {
		log_error(MOD, "cannot serve on port %d (in use, or TLS files unreadable)",
			  cfg->port);
		err = -EADDRINUSE;
		goto cleanup;
	}
	lws_sul_schedule(hub->ctx, 0, &hub->idle_sul, idle_tick, LWS_USEC_PER_SEC);
	if (cfg->auth_async) {
		err = hub_authq_new(hub, cfg->auth_threads, &hub->authq);
		if (err)
			goto cleanup;
	}
	log_info(MOD, "listening on %s:%d (%s, subprotocol %s, profile cap %llu bytes)",
		 cfg->iface ? cfg->iface : "*", cfg->port, cfg->tls_cert ? "wss+https" : "ws+http",
		 PROTO_SUBPROTOCOL, (unsigned long long)hub->cfg.max_profile_bytes);
	*out = hub;
	hub = NULL;
	err = 0;
cleanup:
	hub_free(hub);
	return err;
}

void hub_free(struct hub *hub)
{
	if (!hub)
		return;
	/* Sessions are freed by lws's CLOSED callbacks; suppress ours. */
	memset(&hub->cbs, 0, sizeof(hub->cbs));
	hub->wakeup_cb = NULL;
	/* Threads first: they wake the lws context when a check ends. */
	hub_authq_free(hub->authq);
	hub->authq = NULL;
	hub_pool_release(&hub->reads);
	if (hub->ctx) {
		lws_sul_cancel(&hub->idle_sul);
		lws_context_destroy(hub->ctx);
	}
	hub->ctx = NULL;
	hub_pending_clear(hub);
	free(hub);
}

int hub_service(struct hub *hub)
{
	int n = lws_service(hub->ctx, 0);

	/* An upgrade is vetted and established within one service pass; never
	 * let a vetted identity outlive it (a later wsi could reuse the address). */
	hub_pending_clear(hub);
	return n < 0 ? -EIO : 0;
}

void hub_wake(struct hub *hub)
{
	if (hub && hub->ctx)
		lws_cancel_service(hub->ctx);
}

void hub_set_wakeup_cb(struct hub *hub, void (*cb)(void *ctx), void *ctx)
{
	hub->wakeup_cb = cb;
	hub->wakeup_ctx = ctx;
}

void hub_set_metrics_cb(struct hub *hub, int (*cb)(void *ctx, char *buf, size_t cap), void *ctx)
{
	hub->metrics_cb = cb;
	hub->metrics_ctx = ctx;
}

void hub_set_ready_cb(struct hub *hub, bool (*cb)(void *ctx), void *ctx)
{
	hub->ready_cb = cb;
	hub->ready_ctx = ctx;
}

static int send_to(struct hub *hub, const char *node, const struct proto_msg *m)
{
	struct hub_session *s = node ? hub_find_node(hub, node) : NULL;

	if (!s)
		return -ENOTCONN;
	return hub_session_send_msg(s, m);
}

int hub_send_attach(struct hub *hub, const char *node, const struct proto_attach *msg)
{
	struct proto_msg m = {.type = PROTO_ATTACH};

	/* Shallow copy: encode only reads the pods. */
	m.u.attach = *msg;
	return send_to(hub, node, &m);
}

int hub_send_detach(struct hub *hub, const char *node, const char *job_id)
{
	struct proto_msg m = {.type = PROTO_DETACH};

	if (!job_id || strlen(job_id) > PROTO_MAX_JOB_ID_LEN)
		return -EINVAL;
	snprintf(m.u.detach.job_id, sizeof(m.u.detach.job_id), "%s", job_id);
	return send_to(hub, node, &m);
}

int hub_send_error(struct hub *hub, const char *node, const char *job_id, const char *code,
		   const char *message)
{
	struct proto_msg m = {.type = PROTO_ERROR};

	if ((job_id && strlen(job_id) > PROTO_MAX_JOB_ID_LEN) || !code ||
	    strlen(code) > PROTO_MAX_CODE_LEN)
		return -EINVAL;
	snprintf(m.u.error.job_id, sizeof(m.u.error.job_id), "%s", job_id ? job_id : "");
	snprintf(m.u.error.code, sizeof(m.u.error.code), "%s", code);
	snprintf(m.u.error.message, sizeof(m.u.error.message), "%s", message ? message : "");
	return send_to(hub, node, &m);
}

bool hub_worker_connected(struct hub *hub, const char *node)
{
	return node && hub_find_node(hub, node) != NULL;
}

int hub_foreach_worker(struct hub *hub, void (*fn)(void *ctx, const struct hub_worker_info *w),
		       void *ctx)
{
	int n = 0;

	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&hub->sessions))
	{
		struct hub_session *s = lws_container_of(d, struct hub_session, list);
		struct hub_worker_info w;

		if (s->registered) {
			w.node = s->node;
			w.identity = s->identity;
			w.version = s->version;
			w.connected_at_ms = s->connected_at_ms;
			w.last_seen_ms = s->last_seen_ms;
			w.symbols = &s->symbols;
			w.unwind = &s->unwind;
			n++;
			if (fn)
				fn(ctx, &w);
		}
	}
	lws_end_foreach_dll_safe(d, d1);
	return n;
}

unsigned hub_worker_count(struct hub *hub)
{
	return (unsigned)hub_foreach_worker(hub, NULL, NULL);
}
