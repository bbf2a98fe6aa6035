/* SPDX-License-Identifier: Apache-2.0 */
/* informer_int.h -- informer internals shared with its unit test only.
 *
 * The watch thread drives these with bytes from the network; the unit test
 * drives them with recorded replies from tests/unit/data/k8s, so stream
 * decoding and relist diffs are tested without a server. Not for other
 * modules. Same conventions as informer.h.
 */
#ifndef PODPROF_INFORMER_INT_H
#define PODPROF_INFORMER_INT_H

#include "informer.h"

/* Feed watch-stream bytes (any split). Complete lines are decoded: ADDED,
 * MODIFIED and DELETED are queued for dispatch, BOOKMARK advances the
 * resourceVersion. Returns 0, or the reason the stream must end:
 * -ESTALE (ERROR event with code 410: relist), -EIO (other ERROR event),
 * -EMSGSIZE (event over the cap), -EBADMSG (malformed JSON or event). */
int informer_feed(struct informer *inf, const char *data, size_t len);

/* Forget any partial line (a new watch starts). */
void informer_feed_reset(struct informer *inf);

/* Queue one list page reply as a full snapshot (items array taken by
 * reference) and take its resourceVersion. -EBADMSG if it is not a list. */
int informer_apply_list(struct informer *inf, json_object *list);

/* Last resourceVersion seen by the decoder ("" before the first list). */
const char *informer_resource_version(const struct informer *inf);

/* Lower the per-event cap (tests). */
void informer_set_max_event(struct informer *inf, size_t max);

#endif
