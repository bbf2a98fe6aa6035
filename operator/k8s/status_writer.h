/* SPDX-License-Identifier: Apache-2.0 */
/* status_writer.h -- status subresource writes and Events off the main loop.
 *
 * The reconciler runs inside the hub's event loop; a blocking API call there
 * stalls every worker connection (heartbeats, profiles). This module owns one
 * thread that performs those calls from a FIFO. A status posted for a target
 * that is still waiting replaces the waiting one in place (only the latest
 * status matters), so a burst of updates costs one write. A failed status
 * write is retried after a delay until it lands or a newer status replaces
 * it; Events are tried a few times, then dropped with a log line.
 *
 * Threading: post functions are called from the main thread; the writer
 * thread only calls k8s_status.h. Return convention: 0 on success, negative
 * errno on failure.
 */
#ifndef PODPROF_STATUS_WRITER_H
#define PODPROF_STATUS_WRITER_H

#include <stdint.h>

#include <json-c/json.h>

#include "k8s_status.h"

struct status_writer;

/* mutate(arg=status object, fresh object, attempt) puts the posted status
 * into the object read from the API server (see k8s_update_status). */
int status_writer_new(struct k8s_client *c, k8s_mutate_fn mutate, struct status_writer **out);

/* Stop the thread after one last attempt at everything queued; NULL is fine. */
void status_writer_free(struct status_writer *w);

/* Queue status (serialized now; the caller keeps its object) for ref. */
int status_writer_post(struct status_writer *w, const struct k8s_object_ref *ref,
		       json_object *status);

/* Queue a core/v1 Event about ref. */
int status_writer_event(struct status_writer *w, const struct k8s_object_ref *ref, const char *type,
			const char *reason, const char *message);

struct status_writer_stats {
	uint64_t writes;    /* status writes that landed */
	uint64_t events;    /* Events created */
	uint64_t errors;    /* failed API calls (each retried or dropped) */
	uint64_t coalesced; /* statuses replaced before they were written */
};

void status_writer_get_stats(struct status_writer *w, struct status_writer_stats *out);

#endif
