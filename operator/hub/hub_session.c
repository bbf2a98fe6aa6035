/* SPDX-License-Identifier: Apache-2.0 */
/* hub_session.c -- one worker session: token checks, hello and
 * registration, the outbound queue, refusals and closes (see hub.c). */
#include "clock.h"
#include "htab.h"
#include "hub_int.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "hub"

/* Identities end up in logs and metrics: keep them printable. A node binding
 * that is not a DNS-1123 name cannot match any hello: refuse it. */
static int hub_sanitize_auth_result(struct hub_auth_result *res)
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
			rc = rc < 0 ? rc : hub_sanitize_auth_result(res);
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
			rc = hub_sanitize_auth_result(res);
	}
	if (rc)
		hub->c.auth_failures++;
	return rc;
}

/* ---- closing -------------------------------------------------------------- */

/* Refuse from inside this session's callback: log, set the close frame, and
 * return -1 so lws closes the connection. */
int hub_session_refuse(struct hub_session *s, enum lws_close_status code, const char *why)
{
	size_t n = strlen(why);

	log_warn(MOD, "dropping connection from %s (node %s): %s", s->peer,
		 s->node[0] ? s->node : "-", why);
	/* Close reason payload is at most 123 bytes by RFC 6455. */
	lws_close_reason(s->wsi, code, (unsigned char *)why, n > 120 ? 120 : n);
	return -1;
}

/* Close another session later (outside its callback): from its WRITEABLE. */
void hub_session_close_later(struct hub_session *s, enum lws_close_status code, const char *why)
{
	if (s->close_pending)
		return;
	s->close_pending = true;
	s->close_code = code;
	snprintf(s->close_reason, sizeof(s->close_reason), "%s", why);
	lws_callback_on_writable(s->wsi);
}

/* ---- outbound -------------------------------------------------------------- */

static int hub_session_enqueue(struct hub_session *s, const void *data, size_t len, bool binary)
{
	int err;

	if (s->close_pending)
		return -ENOTCONN;
	err = wsq_push(&s->q, NULL, 0, data, len, binary);
	if (err == -ENOBUFS) {
		/* A worker that does not read must not grow operator memory. */
		hub_session_close_later(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					"outbound queue full");
		s->hub->c.refused_other++;
		return err;
	}
	if (!err)
		lws_callback_on_writable(s->wsi);
	return err;
}

int hub_session_send_msg(struct hub_session *s, const struct proto_msg *m)
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
	rc = hub_session_enqueue(s, txt, len, false);
	free(txt);
	return rc;
}

int hub_session_writeable(struct hub_session *s)
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

static struct hub_session **node_bucket(struct hub *hub, const char *node)
{
	return &hub->by_node[htab_hash_str(HTAB_SEED, node) & (HUB_NODE_BUCKETS - 1)];
}

struct hub_session *hub_find_node(struct hub *hub, const char *node)
{
	for (struct hub_session *s = *node_bucket(hub, node); s; s = s->node_next)
		if (strcmp(s->node, node) == 0)
			return s;
	return NULL;
}

void hub_registry_add(struct hub *hub, struct hub_session *s)
{
	struct hub_session **b = node_bucket(hub, s->node);

	s->node_next = *b;
	*b = s;
	s->registered = true;
	hub->n_registered++;
}

void hub_registry_del(struct hub *hub, struct hub_session *s)
{
	for (struct hub_session **pp = node_bucket(hub, s->node); *pp; pp = &(*pp)->node_next) {
		if (*pp == s) {
			*pp = s->node_next;
			break;
		}
	}
	s->node_next = NULL;
	s->registered = false;
	hub->n_registered--;
}

/* Three missed heartbeats and the worker is gone. Checked by one sweep a
 * second over the registered sessions, not by an lws timeout re-armed per
 * message: lws keeps its timeouts in a sorted list, so re-arming one per
 * heartbeat cost O(workers) each, a third of the operator's CPU with 5,000
 * idle workers. */
void hub_idle_sweep(struct hub *hub)
{
	uint64_t now = clock_mono_ms(), limit = 3ULL * hub->cfg.heartbeat_ms;

	if (limit < 2000)
		limit = 2000;
	lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&hub->sessions))
	{
		struct hub_session *s = lws_container_of(d, struct hub_session, list);

		if (s->registered && !s->idle_killed && now - s->last_seen_ms > limit) {
			log_warn(MOD, "worker %s silent for %llu ms: closing", s->node,
				 (unsigned long long)(now - s->last_seen_ms));
			s->idle_killed = true;
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		}
	}
	lws_end_foreach_dll(d);
}

/* ---- inbound --------------------------------------------------------------- */

void hub_session_set_auth(struct hub_session *s, const struct hub_auth_result *res)
{
	s->auth = HUB_AUTH_OK;
	snprintf(s->identity, sizeof(s->identity), "%s", res->identity);
	snprintf(s->bound_node, sizeof(s->bound_node), "%s", res->node);
}

void hub_session_pending_drop(struct hub_session *s)
{
	if (s->pending) {
		s->pending = false;
		s->hub->n_pending--;
	}
}

/* The token is accepted: bind s->node to this connection. Returns NULL, or
 * why the hello is refused (*code: the close status). */
static const char *hub_session_hello_register(struct hub_session *s, enum lws_close_status *code)
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
	old = hub_find_node(hub, s->node);
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
		hub_registry_del(hub, old);
		hub_session_close_later(old, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					"replaced by a newer connection");
		log_info(MOD, "worker %s reconnected; closing its older session", s->node);
		if (hub->cbs.on_worker_disconnected)
			hub->cbs.on_worker_disconnected(hub->cbs.ctx, s->node);
	}
	hub_session_pending_drop(s);
	hub_registry_add(hub, s);
	hub->c.hellos++;
	log_info(MOD, "worker %s connected from %s (identity %s, version %s)", s->node, s->peer,
		 s->identity, s->version);
	snprintf(w.u.welcome.version, sizeof(w.u.welcome.version), "%s", hub->cfg.version);
	w.u.welcome.heartbeat_ms = hub->cfg.heartbeat_ms;
	w.u.welcome.max_profile_bytes = hub->cfg.max_profile_bytes;
	if (hub_session_send_msg(s, &w)) {
		*code = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
		return "cannot queue welcome";
	}
	/* From now on the idle sweep watches it, not the hello timeout. */
	lws_set_timeout(s->wsi, NO_PENDING_TIMEOUT, 0);
	s->last_seen_ms = clock_mono_ms();
	if (hub->cbs.on_worker_connected)
		hub->cbs.on_worker_connected(hub->cbs.ctx, s->node, s->identity);
	return NULL;
}

int hub_session_auth_submit(struct hub_session *s, const char *token)
{
	if (hub_authq_submit(s->hub->authq, s->id, token)) {
		s->hub->c.auth_queue_full++;
		return hub_session_refuse(s, CLOSE_TRY_AGAIN, "too many token checks running");
	}
	s->hub->c.auth_checks++;
	s->auth = HUB_AUTH_PENDING;
	/* Nothing else is read until the verdict: a peer cannot queue up
	 * messages behind a slow check. */
	lws_rx_flow_control(s->wsi, 0);
	return 0;
}

/* Start checking token for s. 0: accepted or check running; -1 after a refusal
 * (inside s's callback). */
int hub_session_auth_start(struct hub_session *s, const char *token)
{
	struct hub_auth_result res;
	int rc = hub_check_token(s->hub, s->peer, token, &res);

	if (rc == -EINPROGRESS)
		return hub_session_auth_submit(s, token);
	explicit_bzero(&res, rc ? sizeof(res) : 0);
	if (rc)
		return hub_session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					  "bearer token refused");
	hub_session_set_auth(s, &res);
	return 0;
}

static struct hub_session *hub_find_session(struct hub *hub, uint64_t id)
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
	struct hub_session *s = hub_find_session(hub, id);
	struct hub_auth_result r = *res;
	enum lws_close_status code;
	const char *why;

	if (!s || s->auth != HUB_AUTH_PENDING || s->close_pending)
		return; /* the connection went away meanwhile */
	if (!rc)
		rc = hub_sanitize_auth_result(&r);
	if (rc) {
		hub->c.auth_failures++;
		log_warn(MOD, "worker connection from %s refused: bearer token %s", s->peer,
			 rc == -EACCES ? "refused" : "could not be checked");
		hub_session_close_later(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					"bearer token refused");
		return;
	}
	hub_session_set_auth(s, &r);
	lws_rx_flow_control(s->wsi, 1);
	if (!s->hello_parked)
		return;
	s->hello_parked = false;
	why = hub_session_hello_register(s, &code);
	if (why)
		hub_session_close_later(s, code, why);
}

int hub_session_hello(struct hub_session *s, const struct proto_hello *h)
{
	enum lws_close_status code;
	const char *why;

	if (s->registered || s->hello_parked)
		return hub_session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "second hello");
	snprintf(s->node, sizeof(s->node), "%s", h->node);
	snprintf(s->version, sizeof(s->version), "%s", h->version);
	if (s->auth == HUB_AUTH_NONE) {
		if (!h->token)
			return hub_session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
						  "no bearer token (header or hello)");
		if (hub_session_auth_start(s, h->token))
			return -1;
	}
	if (s->auth == HUB_AUTH_PENDING) {
		s->hello_parked = true; /* hub_auth_done finishes it */
		return 0;
	}
	why = hub_session_hello_register(s, &code);
	return why ? hub_session_refuse(s, code, why) : 0;
}
