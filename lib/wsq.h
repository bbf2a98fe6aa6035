/* SPDX-License-Identifier: Apache-2.0 */
/* wsq.h -- outbound WebSocket message queue and lws logging, shared by the
 * operator's hub and the worker's agent.
 *
 * Both ends write only from LWS_CALLBACK_*_WRITEABLE, in chunks, with
 * LWS_PRE headroom, and cap what may wait; this is that code, written once.
 * The only libwebsockets user in lib/: hub.c and agent.c wrap the rest.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_WSQ_H
#define PODPROF_WSQ_H

#include <stdbool.h>
#include <stddef.h>

struct lws;
struct wsq_msg;

struct wsq {
	struct wsq_msg *head, *tail;
	size_t bytes; /* payload bytes queued */
	size_t max;   /* cap on bytes; a push past it fails with -ENOBUFS */
};

#define WSQ_TX_CHUNK (32 * 1024) /* bytes per lws_write */

void wsq_init(struct wsq *q, size_t max);

/* Queue hdr (hlen bytes, may be 0) followed by data as one message (copied).
 * -ENOBUFS past the cap, -ENOMEM. Does not ask for a writeable callback. */
int wsq_push(struct wsq *q, const void *hdr, size_t hlen, const void *data, size_t len,
	     bool binary);

/* From the WRITEABLE callback: write the next chunk of the head message.
 * Returns 1 when a whole message has been sent, 0 when more of it (or
 * nothing) remains, -1 when lws_write failed (close the connection). Asks
 * for another writeable callback while anything is left. */
int wsq_write(struct wsq *q, struct lws *wsi);

bool wsq_empty(const struct wsq *q);

/* Drop everything queued. */
void wsq_clear(struct wsq *q);

/* lws_set_log_level() emitter that routes libwebsockets' lines to log.h. */
void wsq_lws_log(int level, const char *line);

#endif
