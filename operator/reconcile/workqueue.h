/* SPDX-License-Identifier: Apache-2.0 */
/* workqueue.h -- coalescing queue of object keys for the reconciler.
 *
 * A low-level primitive (libc + json-c only). Keys ("namespace/name") are
 * queued at most once: adding a key that is already waiting does nothing, so
 * a burst of watch events for one object yields one reconcile. Delayed adds
 * (window-end timers, retries after errors) wait in a time-ordered list until
 * due; for one key the earliest due time wins, and a key that is already
 * ready ignores later delayed adds. Times are caller-supplied monotonic
 * milliseconds (lib/clock.h), so tests need no clock.
 *
 * Threading: main thread only (no locks). The main loop uses
 * workqueue_next_delay_ms() as its poll timeout.
 *
 * Returns: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_WORKQUEUE_H
#define PODPROF_WORKQUEUE_H

#include <stddef.h>
#include <stdint.h>

#define WORKQUEUE_MAX_KEY 512 /* longest key accepted, bytes */

struct workqueue;

/* Create an empty queue; free with workqueue_free(). NULL on ENOMEM. */
struct workqueue *workqueue_new(void);

/* Release the queue and every key in it; NULL is fine. */
void workqueue_free(struct workqueue *q);

/* Queue key now (copied). No-op if it is already ready; a delayed entry for
 * the key becomes ready now. -EINVAL for an empty or over-long key. */
int workqueue_add(struct workqueue *q, const char *key);

/* Queue key at now_ms + delay_ms. If the key is ready already, no-op; if it
 * is delayed, the earlier due time is kept. */
int workqueue_add_after(struct workqueue *q, const char *key, uint64_t now_ms, uint64_t delay_ms);

/* Move delayed keys that are due at now_ms to the ready FIFO, then take the
 * oldest ready key. Returns a malloc'd key the caller frees, or NULL when
 * nothing is ready. The key may be added again while being processed. */
char *workqueue_pop(struct workqueue *q, uint64_t now_ms);

/* Milliseconds until the next key is due: 0 if one is ready, -1 if the queue
 * is empty. Use as a poll timeout. */
int64_t workqueue_next_delay_ms(const struct workqueue *q, uint64_t now_ms);

/* Remove key whether ready or delayed (e.g. the object was deleted and its
 * timers are moot). Returns 0, or -ENOENT when not queued. */
int workqueue_forget(struct workqueue *q, const char *key);

/* Keys waiting (ready + delayed). */
size_t workqueue_len(const struct workqueue *q);

#endif
