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
#define DEFAULT_PENDING	   256
#define DEFAULT_PER_ADDR   16
/* RFC 6455 registry: "Try Again Later" (lws has no name for it). */
#define CLOSE_TRY_AGAIN ((enum lws_close_status)1013)

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

/* Identities end up in logs and metrics: keep them printable. A node binding
 * that is not a DNS-1123 name cannot match any hello: refuse it. */
static int sanitize_result(struct hub_auth_result *res)
{
	for (char *p = res->identity; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	}
	return res->node[0] && !proto_node_name_valid(res->node) ? -EACCES : 0;
}

int hub_check_token(struct hub *hub, const char *peer, const char *token,
		    struct hub_auth_result *res)
{
	int rc;

	memset(res, 0, sizeof(*res));
	if (hub->authq) {
		rc = hub_authq_cached(hub->authq, token, res);
		if (rc) {
			hub->c.auth_cache_hits++;
			rc = rc < 0 ? rc : sanitize_result(res);
		} else if (!hub_authq_rate_ok(hub->authq, peer)) {
			hub->c.auth_rate_limited++;
			log_warn(MOD, "token check for %s refused: too many from that address",
				 peer);
			rc = -EACCES;
		} else {
			return -EINPROGRESS;
		}
	} else {
		hub->c.auth_checks++;
		rc = hub->cfg.auth(hub->cfg.auth_ctx, token, res);
		if (!rc)
			rc = sanitize_result(res);
	}
	if (rc)
		hub->c.auth_failures++;
	return rc;
}

/* ---- closing -------------------------------------------------------------- */

/* Refuse from inside this session's callback: log, set the close frame, and
 * return -1 so lws closes the connection. */
static int session_refuse(struct hub_session *s, enum lws_close_status code, const char *why)
{
	size_t n = strlen(why);

	log_warn(MOD, "dropping connection from %s (node %s): %s", s->peer,
		 s->node[0] ? s->node : "-", why);
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

static void session_set_auth(struct hub_session *s, const struct hub_auth_result *res)
{
	s->auth = HUB_AUTH_OK;
	snprintf(s->identity, sizeof(s->identity), "%s", res->identity);
	snprintf(s->bound_node, sizeof(s->bound_node), "%s", res->node);
}

static void pending_drop(struct hub_session *s)
{
	if (s->pending) {
		s->pending = false;
		s->hub->n_pending--;
	}
}

/* The token is accepted: bind s->node to this connection. Returns NULL, or
 * why the hello is refused (*code: the close status). */
static const char *hello_register(struct hub_session *s, enum lws_close_status *code)
{
	struct hub *hub = s->hub;
	struct proto_msg w = {.type = PROTO_WELCOME};
	struct hub_session *old;
	const char *why = NULL;

	*code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
	if (s->bound_node[0] && strcmp(s->bound_node, s->node) != 0)
		why = "token is bound to another node";
	else if (!s->bound_node[0] && hub->cfg.require_node_binding)
		why = "token is not bound to a node";
	if (why) {
		hub->c.node_mismatch++;
		log_warn(MOD,
			 "worker from %s (identity %s) claims node %s; its token is bound to %s: "
			 "refused",
			 s->peer, s->identity, s->node,
			 s->bound_node[0] ? s->bound_node : "no node");
		if (hub->cbs.on_worker_refused)
			hub->cbs.on_worker_refused(hub->cbs.ctx, s->node, s->identity, why);
		return why;
	}
	old = find_node(hub, s->node);
	if (old && (strcmp(old->identity, s->identity) || strcmp(old->bound_node, s->bound_node))) {
		/* Only the same proven identity may take a node's place; else anyone
		 * with some token could kick the genuine worker off. */
		log_warn(MOD,
			 "worker from %s (identity %s) for node %s refused: node already "
			 "served by identity %s",
			 s->peer, s->identity, s->node, old->identity);
		return "node already has a worker with another identity";
	}
	if (!old && hub->n_registered >= hub->cfg.max_workers) {
		*code = CLOSE_TRY_AGAIN;
		return "too many worker connections";
	}
	if (old) {
		/* A restarted worker reconnects before the old TCP session times out:
		 * the newest connection wins. */
		old->registered = false;
		hub->n_registered--;
		session_close_later(old, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				    "replaced by a newer connection");
		log_info(MOD, "worker %s reconnected; closing its older session", s->node);
		if (hub->cbs.on_worker_disconnected)
			hub->cbs.on_worker_disconnected(hub->cbs.ctx, s->node);
	}
	pending_drop(s);
	s->registered = true;
	hub->n_registered++;
	hub->c.hellos++;
	log_info(MOD, "worker %s connected from %s (identity %s, version %s)", s->node, s->peer,
		 s->identity, s->version);
	snprintf(w.u.welcome.version, sizeof(w.u.welcome.version), "%s", hub->cfg.version);
	w.u.welcome.heartbeat_ms = hub->cfg.heartbeat_ms;
	w.u.welcome.max_profile_bytes = hub->cfg.max_profile_bytes;
	if (session_send_msg(s, &w)) {
		*code = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
		return "cannot queue welcome";
	}
	idle_timeout(s);
	if (hub->cbs.on_worker_connected)
		hub->cbs.on_worker_connected(hub->cbs.ctx, s->node, s->identity);
	return NULL;
}

/* Start checking token for s. 0: accepted or check running; -1 after a refusal
 * (inside s's callback). */
static int session_auth_start(struct hub_session *s, const char *token)
{
	struct hub_auth_result res;
	int rc = hub_check_token(s->hub, s->peer, token, &res);

	if (rc == -EINPROGRESS) {
		if (hub_authq_submit(s->hub->authq, s->id, token))
			return session_refuse(s, CLOSE_TRY_AGAIN, "too many token checks running");
		s->hub->c.auth_checks++;
		s->auth = HUB_AUTH_PENDING;
		/* Nothing else is read until the verdict: a peer cannot queue up
		 * messages behind a slow check. */
		lws_rx_flow_control(s->wsi, 0);
		return 0;
	}
	explicit_bzero(&res, rc ? sizeof(res) : 0);
	if (rc)
		return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "bearer token refused");
	session_set_auth(s, &res);
	return 0;
}

static struct hub_session *find_id(struct hub *hub, uint64_t id)
{
	lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&hub->sessions))
	{
		struct hub_session *s = lws_container_of(d, struct hub_session, list);

		if (s->id == id)
			return s;
	}
	lws_end_foreach_dll(d);
	return NULL;
}

void hub_auth_done(struct hub *hub, uint64_t id, int rc, const struct hub_auth_result *res)
{
	struct hub_session *s = find_id(hub, id);
	struct hub_auth_result r = *res;
	enum lws_close_status code;
	const char *why;

	if (!s || s->auth != HUB_AUTH_PENDING || s->close_pending)
		return; /* the connection went away meanwhile */
	if (!rc)
		rc = sanitize_result(&r);
	if (rc) {
		hub->c.auth_failures++;
		log_warn(MOD, "worker connection from %s refused: bearer token %s", s->peer,
			 rc == -EACCES ? "refused" : "could not be checked");
		session_close_later(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "bearer token refused");
		return;
	}
	session_set_auth(s, &r);
	lws_rx_flow_control(s->wsi, 1);
	if (!s->hello_parked)
		return;
	s->hello_parked = false;
	why = hello_register(s, &code);
	if (why)
		session_close_later(s, code, why);
}

static int on_hello(struct hub_session *s, const struct proto_hello *h)
{
	enum lws_close_status code;
	const char *why;

	if (s->registered || s->hello_parked)
		return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "second hello");
	snprintf(s->node, sizeof(s->node), "%s", h->node);
	snprintf(s->version, sizeof(s->version), "%s", h->version);
	if (s->auth == HUB_AUTH_NONE) {
		if (!h->token)
			return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					      "no bearer token (header or hello)");
		if (session_auth_start(s, h->token))
			return -1;
	}
	if (s->auth == HUB_AUTH_PENDING) {
		s->hello_parked = true; /* hub_auth_done finishes it */
		return 0;
	}
	why = hello_register(s, &code);
	return why ? session_refuse(s, code, why) : 0;
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

/* Grow s->rx to hold need bytes (room for more up to cap), within the hub's
 * total. 0, -ENOBUFS (total reached) or -ENOMEM. */
static int rx_reserve(struct hub_session *s, size_t need, size_t want, size_t cap)
{
	struct hub *hub = s->hub;
	size_t ncap = s->rx_cap ? s->rx_cap : 4096;
	unsigned char *nb;

	if (need <= s->rx_cap)
		return 0;
	while (ncap < want && ncap < cap)
		ncap *= 2;
	if (ncap > cap)
		ncap = cap;
	if (ncap < need)
		ncap = need;
	if (hub->rx_total - s->rx_cap + ncap > hub->cfg.max_rx_total)
		return -ENOBUFS;
	nb = realloc(s->rx, ncap);
	if (!nb)
		return -ENOMEM;
	hub->rx_total = hub->rx_total - s->rx_cap + ncap;
	s->rx = nb;
	s->rx_cap = ncap;
	return 0;
}

static void rx_release(struct hub_session *s)
{
	s->hub->rx_total -= s->rx_cap;
	free(s->rx);
	s->rx = NULL;
	s->rx_cap = s->rx_len = 0;
}

static int session_receive(struct hub_session *s, const void *in, size_t len)
{
	struct lws *wsi = s->wsi;
	size_t cap, remaining;
	int rc;

	if (lws_is_first_fragment(wsi)) {
		s->rx_len = 0;
		s->rx_binary = lws_frame_is_binary(wsi);
		/* Profiles only after hello: do not buffer a byte of one before. */
		if (s->rx_binary && !s->registered) {
			s->hub->c.refused_other++;
			return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					      "binary message before hello");
		}
	}
	if (s->auth == HUB_AUTH_PENDING || s->hello_parked) {
		/* Flow control is off, but bytes already read may still arrive. */
		s->hub->c.refused_other++;
		return session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				      "message while the token is being checked");
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
	rc = rx_reserve(s, s->rx_len + len, s->rx_len + len + remaining, cap);
	if (rc == -ENOBUFS) {
		s->hub->c.rx_busy++;
		return session_refuse(s, CLOSE_TRY_AGAIN,
				      "operator receive buffers full, try again later");
	}
	if (rc)
		return session_refuse(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
	memcpy(s->rx + s->rx_len, in, len);
	s->rx_len += len;
	if (!lws_is_final_fragment(wsi))
		return 0;
	s->last_seen_ms = hub_now_ms();
	if (s->registered)
		idle_timeout(s);
	rc = s->rx_binary ? handle_binary(s) : handle_text(s);
	s->rx_len = 0;
	/* Do not pin a profile-sized buffer per idle worker. */
	if (s->rx_cap > RX_KEEP_MAX)
		rx_release(s);
	return rc;
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
	s->connected_at_ms = s->last_seen_ms = hub_now_ms();
	peer_of(wsi, s->peer, sizeof(s->peer));
	if (hub->pending_wsi == wsi) {
		if (hub->pending_auth == 0)
			session_set_auth(s, &hub->pending_result);
		token = hub->pending_token;
		hub->pending_token = NULL;
	}
	hub_pending_clear(hub);
	if (pending_from(hub, s->peer, &oldest) >= hub->cfg.max_pending_per_addr) {
		hub->c.pending_refused++;
		rc = session_refuse(s, CLOSE_TRY_AGAIN, "too many connections before hello");
		goto cleanup;
	}
	if (hub->n_pending >= hub->cfg.max_pending && oldest) {
		/* Make room by closing the oldest silent connection rather than
		 * refusing the newest: a real worker says hello at once, so a flood
		 * of idle upgrades cannot keep it out. */
		hub->c.pending_evicted++;
		pending_drop(oldest);
		session_close_later(oldest, CLOSE_TRY_AGAIN, "too many connections before hello");
	}
	lws_dll2_add_tail(&s->list, &hub->sessions);
	hub->n_sessions++;
	s->pending = true;
	hub->n_pending++;
	hub->c.connections++;
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, HELLO_TIMEOUT_S);
	if (token)
		rc = session_auth_start(s, token);
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
		if (hub && hub->wakeup_cb)
			hub->wakeup_cb(hub->wakeup_ctx);
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		return session_established(hub, s, wsi);
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
		pending_drop(s);
		if (s->registered) {
			s->registered = false;
			hub->n_registered--;
			log_info(MOD, "worker %s disconnected", s->node);
			if (hub->cbs.on_worker_disconnected)
				hub->cbs.on_worker_disconnected(hub->cbs.ctx, s->node);
		}
		wsq_clear(&s->q);
		rx_release(s);
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
	if (hub->ctx)
		lws_context_destroy(hub->ctx);
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
