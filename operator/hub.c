/* SPDX-License-Identifier: Apache-2.0 */
/* hub.c -- the podprof.v1 WebSocket server: sessions, validation, queues.
 *
 * Each worker connection is one struct hub_session (lws per-session data).
 * Inbound messages are reassembled across fragments up to a cap decided on
 * the first fragment (text: PROTO_MAX_TEXT_FRAME; binary: max_profile_bytes),
 * then decoded by lib/proto.c. Outbound messages go through a per-session
 * queue and are written only from LWS_CALLBACK_SERVER_WRITEABLE, in chunks,
 * as one fragmented WebSocket message. HTTP endpoints live in hub_http.c.
 */
#include "hub_int.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOD		   "hub"
#define HELLO_TIMEOUT_S	   10		      /* time to send hello after upgrade */
#define QUEUE_MAX_BYTES	   (16 * 1024 * 1024) /* per-worker outbound backlog cap */
#define RX_KEEP_MAX	   (256 * 1024)	      /* keep rx buffers up to this between msgs */
#define DEFAULT_HB_MS	   5000
#define DEFAULT_MAX_WORKER 4096

uint64_t hub_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *peer_of(struct lws *wsi, char *buf, size_t len)
{
	const char *p = lws_get_peer_simple(wsi, buf, len);

	return p ? p : "?";
}

int hub_check_token(struct hub *hub, const char *token, char *identity, size_t idlen)
{
	int rc;

	identity[0] = '\0';
	rc = hub->cfg.auth(hub->cfg.auth_ctx, token, identity, idlen);
	if (rc) {
		hub->c.auth_failures++;
		return rc == -EACCES ? -EACCES : rc;
	}
	/* The identity ends up in logs and metrics: keep it printable. */
	for (char *p = identity; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	}
	return 0;
}

/* ---- closing -------------------------------------------------------------- */

/* Refuse from inside this session's callback: log, set the close frame, and
 * return -1 so lws closes the connection. */
static int session_refuse(struct hub_session *s, enum lws_close_status code, const char *why)
{
	char peer[64];
	size_t n = strlen(why);

	log_warn(MOD, "dropping connection from %s (node %s): %s",
		 peer_of(s->wsi, peer, sizeof(peer)), s->node[0] ? s->node : "-", why);
	/* Close reason payload is at most 123 bytes by RFC 6455. */
	lws_close_reason(s->wsi, code, (unsigned char *)why, n > 120 ? 120 : n);
	return -1;
}

/* Close another session later (outside its callback): from its WRITEABLE. */
static void session_close_later(struct hub_session *s, enum lws_close_status code, const char *why)
{
	if (s->close_pending)
		return;
	s->close_pending = true;
	s->close_code = code;
	snprintf(s->close_reason, sizeof(s->close_reason), "%s", why);
	lws_callback_on_writable(s->wsi);
}

/* ---- outbound -------------------------------------------------------------- */

static int session_enqueue(struct hub_session *s, const void *data, size_t len, bool binary)
{
	int err;

	if (s->close_pending)
		return -ENOTCONN;
	err = wsq_push(&s->q, NULL, 0, data, len, binary);
	if (err == -ENOBUFS) {
		/* A worker that does not read must not grow operator memory. */
		session_close_later(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "outbound queue full");
		s->hub->c.refused_other++;
		return err;
	}
	if (!err)
		lws_callback_on_writable(s->wsi);
	return err;
}

static int session_send_msg(struct hub_session *s, const struct proto_msg *m)
{
	struct proto_err err;
	char *txt = NULL;
	size_t len;
	int rc;

	rc = proto_encode(m, &txt, &len, &err);
	if (rc) {
		log_error(MOD, "not sending invalid %s to %s: %s at '%s'", proto_type_str(m->type),
			  s->node, proto_status_str(err.status), err.field);
		return rc;
	}
	rc = session_enqueue(s, txt, len, false);
	free(txt);
	return rc;
}

static int session_writeable(struct hub_session *s)
{
	int n;

	if (s->close_pending) {
		size_t rl = strlen(s->close_reason);

		log_info(MOD, "closing worker session (node %s): %s", s->node[0] ? s->node : "-",
			 s->close_reason);
		lws_close_reason(s->wsi, s->close_code, (unsigned char *)s->close_reason, rl);
		return -1;
	}
	n = wsq_write(&s->q, s->wsi);
	if (n < 0) {
		log_warn(MOD, "write to %s failed", s->node[0] ? s->node : "-");
		return -1;
	}
	s->hub->c.tx_messages += (uint64_t)n;
	return 0;
}

/* ---- registry -------------------------------------------------------------- */

static struct hub_session *find_node(struct hub *hub, const char *node)
{
	lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&hub->sessions))
	{
		struct hub_session *s = lws_container_of(d, struct hub_session, list);

		if (s->registered && strcmp(s->node, node) == 0)
			return s;
	}
	lws_end_foreach_dll(d);
	return NULL;
}

static void idle_timeout(struct hub_session *s)
{
	/* Three missed heartbeats and the worker is gone. */
	int secs = (int)((3ULL * s->hub->cfg.heartbeat_ms + 999) / 1000);

	lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, secs < 2 ? 2 : secs);
}

/* ---- inbound --------------------------------------------------------------- */

static int on_hello(struct hub_session *s, const struct proto_hello *h)
{
	struct hub *hub = s->hub;
	struct proto_msg w = {.type = PROTO_WELCOME};
	struct hub_session *old;
	char peer[64];

	if (s->registered)
		return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "second hello");
	if (!s->authed) {
		if (!h->token)
			return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					      "no bearer token (header or hello)");
		if (hub_check_token(hub, h->token, s->identity, sizeof(s->identity)))
			return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					      "bearer token refused");
		s->authed = true;
	}
	old = find_node(hub, h->node);
	if (old) {
		/* A restarted worker reconnects before the old TCP session times out:
		 * the newest connection wins. */
		old->registered = false;
		session_close_later(old, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				    "replaced by a newer connection");
		log_info(MOD, "worker %s reconnected; closing its older session", h->node);
		if (hub->cbs.on_worker_disconnected)
			hub->cbs.on_worker_disconnected(hub->cbs.ctx, h->node);
	}
	snprintf(s->node, sizeof(s->node), "%s", h->node);
	snprintf(s->version, sizeof(s->version), "%s", h->version);
	s->registered = true;
	hub->c.hellos++;
	log_info(MOD, "worker %s connected from %s (identity %s, version %s)", s->node,
		 peer_of(s->wsi, peer, sizeof(peer)), s->identity, s->version);
	snprintf(w.u.welcome.version, sizeof(w.u.welcome.version), "%s", hub->cfg.version);
	w.u.welcome.heartbeat_ms = hub->cfg.heartbeat_ms;
	w.u.welcome.max_profile_bytes = hub->cfg.max_profile_bytes;
	if (session_send_msg(s, &w))
		return -1;
	idle_timeout(s);
	if (hub->cbs.on_worker_connected)
		hub->cbs.on_worker_connected(hub->cbs.ctx, s->node, s->identity);
	return 0;
}

static int handle_text(struct hub_session *s)
{
	struct hub *hub = s->hub;
	struct proto_msg m;
	struct proto_err err;
	char why[128];
	int rc = 0;

	if (proto_decode((const char *)s->rx, s->rx_len, &m, &err)) {
		hub->c.refused[err.status]++;
		snprintf(why, sizeof(why), "invalid message: %s%s%s", proto_status_str(err.status),
			 err.field[0] ? " at " : "", err.field);
		return session_refuse(s,
				      err.status == PROTO_E_TOO_BIG
					  ? LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE
					  : LWS_CLOSE_STATUS_POLICY_VIOLATION,
				      why);
	}
	hub->c.rx_messages[m.type]++;
	if (m.type != PROTO_HELLO && !s->registered) {
		hub->c.refused_other++;
		snprintf(why, sizeof(why), "%s before hello", proto_type_str(m.type));
		rc = session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
		goto cleanup;
	}
	switch (m.type) {
	case PROTO_HELLO:
		rc = on_hello(s, &m.u.hello);
		break;
	case PROTO_HEARTBEAT:
		/* Echo so that the worker can tell a dead operator from a quiet one. */
		rc = session_send_msg(s, &m) ? -1 : 0;
		break;
	case PROTO_PROGRESS:
		if (hub->cbs.on_progress)
			hub->cbs.on_progress(hub->cbs.ctx, s->node, &m.u.progress);
		break;
	case PROTO_ERROR:
		log_warn(MOD, "worker %s reports error %s%s%s: %s", s->node, m.u.error.code,
			 m.u.error.job_id[0] ? " for job " : "", m.u.error.job_id,
			 m.u.error.message);
		if (hub->cbs.on_error)
			hub->cbs.on_error(hub->cbs.ctx, s->node, &m.u.error);
		break;
	default:
		hub->c.refused_other++;
		snprintf(why, sizeof(why), "%s is an operator-to-worker message",
			 proto_type_str(m.type));
		rc = session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
		break;
	}
cleanup:
	proto_msg_free(&m);
	return rc;
}

static int handle_binary(struct hub_session *s)
{
	struct hub *hub = s->hub;
	struct proto_profile_header h;
	struct proto_err err;
	char why[128];
	int off;

	if (!s->registered) {
		hub->c.refused_other++;
		return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				      "binary message before hello");
	}
	off = proto_profile_header_decode(s->rx, s->rx_len, &h, &err);
	if (off < 0) {
		hub->c.refused[err.status]++;
		snprintf(why, sizeof(why), "invalid profile header: %s at %s",
			 proto_status_str(err.status), err.field);
		return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
	}
	hub->c.profiles++;
	hub->c.profile_bytes += s->rx_len - (size_t)off;
	log_info(MOD, "profile from %s for job %s: %zu bytes%s", s->node, h.job_id,
		 s->rx_len - (size_t)off, (h.flags & PROTO_PROFILE_FINAL) ? " (final)" : "");
	if (hub->cbs.on_profile)
		hub->cbs.on_profile(hub->cbs.ctx, s->node, h.job_id,
				    (h.flags & PROTO_PROFILE_FINAL) != 0, s->rx + off,
				    s->rx_len - (size_t)off);
	return 0;
}

static int session_receive(struct hub_session *s, const void *in, size_t len)
{
	struct lws *wsi = s->wsi;
	size_t cap, remaining, need;
	int rc;

	if (lws_is_first_fragment(wsi)) {
		s->rx_len = 0;
		s->rx_binary = lws_frame_is_binary(wsi);
	}
	cap = s->rx_binary ? s->hub->cfg.max_profile_bytes + PROTO_PROFILE_HEADER_MAX
			   : PROTO_MAX_TEXT_FRAME;
	/* Refuse as soon as the frame header announces too much, before the
	 * payload arrives. */
	remaining = lws_remaining_packet_payload(wsi);
	if (s->rx_len + len + remaining > cap) {
		s->hub->c.refused[PROTO_E_TOO_BIG]++;
		return session_refuse(s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				      s->rx_binary ? "binary message over the profile size cap"
						   : "text message over the size cap");
	}
	need = s->rx_len + len;
	if (need > s->rx_cap) {
		size_t ncap = s->rx_cap ? s->rx_cap : 4096;
		unsigned char *nb;

		while (ncap < need + remaining && ncap < cap)
			ncap *= 2;
		if (ncap > cap)
			ncap = cap;
		nb = realloc(s->rx, ncap);
		if (!nb)
			return session_refuse(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
					      "out of memory");
		s->rx = nb;
		s->rx_cap = ncap;
	}
	memcpy(s->rx + s->rx_len, in, len);
	s->rx_len += len;
	if (!lws_is_final_fragment(wsi))
		return 0;
	s->last_seen_ms = hub_now_ms();
	if (s->registered)
		idle_timeout(s);
	rc = s->rx_binary ? handle_binary(s) : handle_text(s);
	s->rx_len = 0;
	if (s->rx_cap > RX_KEEP_MAX) {
		/* Do not pin a profile-sized buffer per idle worker. */
		free(s->rx);
		s->rx = NULL;
		s->rx_cap = 0;
	}
	return rc;
}

/* ---- lws protocol callback -------------------------------------------------- */

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	struct hub *hub = lws_context_user(lws_get_context(wsi));
	struct hub_session *s = user;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* hub_wake() from another thread: run the owner's queue drain here. */
		if (hub && hub->wakeup_cb)
			hub->wakeup_cb(hub->wakeup_ctx);
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		memset(s, 0, sizeof(*s));
		s->hub = hub;
		s->wsi = wsi;
		wsq_init(&s->q, QUEUE_MAX_BYTES);
		s->connected_at_ms = s->last_seen_ms = hub_now_ms();
		if (hub->n_sessions >= hub->cfg.max_workers) {
			hub->c.refused_other++;
			return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					      "too many worker connections");
		}
		lws_dll2_add_tail(&s->list, &hub->sessions);
		hub->n_sessions++;
		hub->c.connections++;
		if (hub->pending_wsi == wsi) {
			s->authed = true;
			snprintf(s->identity, sizeof(s->identity), "%s", hub->pending_identity);
		}
		hub->pending_wsi = NULL;
		explicit_bzero(hub->pending_identity, sizeof(hub->pending_identity));
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, HELLO_TIMEOUT_S);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return session_receive(s, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return session_writeable(s);
	case LWS_CALLBACK_CLOSED:
		if (!s->hub)
			return 0;
		if (lws_dll2_is_detached(&s->list) == 0) {
			lws_dll2_remove(&s->list);
			hub->n_sessions--;
		}
		if (s->registered) {
			s->registered = false;
			log_info(MOD, "worker %s disconnected", s->node);
			if (hub->cbs.on_worker_disconnected)
				hub->cbs.on_worker_disconnected(hub->cbs.ctx, s->node);
		}
		wsq_clear(&s->q);
		free(s->rx);
		s->rx = NULL;
		s->rx_cap = s->rx_len = 0;
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

/* ---- public API -------------------------------------------------------------- */

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
	if (hub->ctx)
		lws_context_destroy(hub->ctx);
	hub->ctx = NULL;
	free(hub);
}

int hub_service(struct hub *hub)
{
	int n = lws_service(hub->ctx, 0);

	/* An upgrade is vetted and established within one service pass; never
	 * let a vetted identity outlive it (a later wsi could reuse the address). */
	hub->pending_wsi = NULL;
	explicit_bzero(hub->pending_identity, sizeof(hub->pending_identity));
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
	struct hub_session *s = node ? find_node(hub, node) : NULL;

	if (!s)
		return -ENOTCONN;
	return session_send_msg(s, m);
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
	return node && find_node(hub, node) != NULL;
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
