/* SPDX-License-Identifier: Apache-2.0 */
/* hub_rx.c -- inbound messages of a worker session: fragments reassembled
 * within the per-message cap and the hub-wide total, then decoded and
 * handed to the hub's callbacks (see hub.c). */
#include "clock.h"
#include "hub_int.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD	    "hub"
#define RX_KEEP_MAX (256 * 1024) /* keep rx buffers up to this between msgs */

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
		return hub_session_refuse(s,
					  err.status == PROTO_E_TOO_BIG
					      ? LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE
					      : LWS_CLOSE_STATUS_POLICY_VIOLATION,
					  why);
	}
	hub->c.rx_messages[m.type]++;
	if (m.type != PROTO_HELLO && !s->registered) {
		hub->c.refused_other++;
		snprintf(why, sizeof(why), "%s before hello", proto_type_str(m.type));
		rc = hub_session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
		goto cleanup;
	}
	switch (m.type) {
	case PROTO_HELLO:
		rc = hub_session_hello(s, &m.u.hello);
		break;
	case PROTO_HEARTBEAT:
		/* Echo so that the worker can tell a dead operator from a quiet one. */
		rc = hub_session_send_msg(s, &m) ? -1 : 0;
		break;
	case PROTO_PROGRESS:
		/* Worker-wide figures: the latest wins, whichever job carried them. */
		if (m.u.progress.symbols.present)
			s->symbols = m.u.progress.symbols;
		if (m.u.progress.unwind.present)
			s->unwind = m.u.progress.unwind;
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
		rc = hub_session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
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
		return hub_session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					  "binary message before hello");
	}
	off = proto_profile_header_decode(s->rx, s->rx_len, &h, &err);
	if (off < 0) {
		hub->c.refused[err.status]++;
		snprintf(why, sizeof(why), "invalid profile header: %s at %s",
			 proto_status_str(err.status), err.field);
		return hub_session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
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

void hub_session_rx_release(struct hub_session *s)
{
	s->hub->rx_total -= s->rx_cap;
	free(s->rx);
	s->rx = NULL;
	s->rx_cap = s->rx_len = 0;
}

int hub_session_receive(struct hub_session *s, const void *in, size_t len)
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
			return hub_session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
						  "binary message before hello");
		}
	}
	if (s->auth == HUB_AUTH_PENDING || s->hello_parked) {
		/* Flow control is off, but bytes already read may still arrive. */
		s->hub->c.refused_other++;
		return hub_session_refuse(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					  "message while the token is being checked");
	}
	cap = s->rx_binary ? s->hub->cfg.max_profile_bytes + PROTO_PROFILE_HEADER_MAX
			   : PROTO_MAX_TEXT_FRAME;
	/* Refuse as soon as the frame header announces too much, before the
	 * payload arrives. */
	remaining = lws_remaining_packet_payload(wsi);
	if (s->rx_len + len + remaining > cap) {
		s->hub->c.refused[PROTO_E_TOO_BIG]++;
		return hub_session_refuse(s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
					  s->rx_binary ? "binary message over the profile size cap"
						       : "text message over the size cap");
	}
	rc = rx_reserve(s, s->rx_len + len, s->rx_len + len + remaining, cap);
	if (rc == -ENOBUFS) {
		s->hub->c.rx_busy++;
		return hub_session_refuse(s, CLOSE_TRY_AGAIN,
					  "operator receive buffers full, try again later");
	}
	if (rc)
		return hub_session_refuse(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
					  "out of memory");
	memcpy(s->rx + s->rx_len, in, len);
	s->rx_len += len;
	if (!lws_is_final_fragment(wsi))
		return 0;
	s->last_seen_ms = clock_mono_ms(); /* for hub_idle_sweep */
	rc = s->rx_binary ? handle_binary(s) : handle_text(s);
	s->rx_len = 0;
	/* Do not pin a profile-sized buffer per idle worker. */
	if (s->rx_cap > RX_KEEP_MAX)
		hub_session_rx_release(s);
	return rc;
}
