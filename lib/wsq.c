/* SPDX-License-Identifier: Apache-2.0 */
/* wsq.c -- chunked, capped outbound WebSocket queue; lws log routing. */
#include "wsq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "log.h"

/* One queued message, LWS_PRE headroom before the payload. */
struct wsq_msg {
	struct wsq_msg *next;
	bool binary;
	size_t len;  /* payload bytes */
	size_t sent; /* payload bytes already handed to lws_write */
	unsigned char buf[];
};

void wsq_init(struct wsq *q, size_t max)
{
	memset(q, 0, sizeof(*q));
	q->max = max;
}

int wsq_push(struct wsq *q, const void *hdr, size_t hlen, const void *data, size_t len, bool binary)
{
	struct wsq_msg *m;

	if (q->bytes + hlen + len > q->max)
		return -ENOBUFS;
	m = malloc(sizeof(*m) + LWS_PRE + hlen + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->binary = binary;
	m->len = hlen + len;
	m->sent = 0;
	if (hlen)
		memcpy(m->buf + LWS_PRE, hdr, hlen);
	if (len)
		memcpy(m->buf + LWS_PRE + hlen, data, len);
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += m->len;
	return 0;
}

int wsq_write(struct wsq *q, struct lws *wsi)
{
	struct wsq_msg *m = q->head;
	size_t chunk;
	int first, final, flags, done = 0;

	if (!m)
		return 0;
	chunk = m->len - m->sent;
	if (chunk > WSQ_TX_CHUNK)
		chunk = WSQ_TX_CHUNK;
	first = m->sent == 0;
	final = m->sent + chunk == m->len;
	flags = lws_write_ws_flags(m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT, first, final);
	/* The LWS_PRE bytes before a later chunk are already-sent payload, which
	 * lws may overwrite with the frame header. */
	if (lws_write(wsi, m->buf + LWS_PRE + m->sent, chunk, (enum lws_write_protocol)flags) <
	    (int)chunk)
		return -1;
	m->sent += chunk;
	if (final) {
		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		q->bytes -= m->len;
		free(m);
		done = 1;
	}
	if (q->head)
		lws_callback_on_writable(wsi);
	return done;
}

bool wsq_empty(const struct wsq *q)
{
	return !q->head;
}

void wsq_clear(struct wsq *q)
{
	while (q->head) {
		struct wsq_msg *m = q->head;

		q->head = m->next;
		free(m);
	}
	q->tail = NULL;
	q->bytes = 0;
}

void wsq_lws_log(int level, const char *line)
{
	enum log_level lvl = LOG_LVL_DEBUG;
	size_t n = strlen(line);

	if (level & LLL_ERR)
		lvl = LOG_LVL_ERROR;
	else if (level & LLL_WARN)
		lvl = LOG_LVL_WARN;
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_msg(lvl, "lws", "%.*s", (int)n, line);
}
