/* SPDX-License-Identifier: Apache-2.0 */
/* selector.h -- Kubernetes label selectors (metav1.LabelSelector).
 *
 * Parses a selector from its JSON form (matchLabels + matchExpressions with
 * In / NotIn / Exists / DoesNotExist) and matches it against an object's
 * metadata.labels. The CRD schema already refuses malformed selectors; this
 * module still validates, because the operator must not trust its input.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_SELECTOR_H
#define PODPROF_SELECTOR_H

#include <stdbool.h>

struct json_object;
struct label_selector;

/* Parse `sel` (a JSON object, not consumed). An empty selector is refused
 * with -EINVAL (it would select every pod in the namespace). On failure
 * *err_msg (if given) points to a static description. Free with
 * selector_free(). */
int selector_parse(struct json_object *sel, struct label_selector **out, const char **err_msg);
void selector_free(struct label_selector *s);

/* True when `labels` (a JSON object of string values, or NULL for none)
 * satisfies every requirement of the selector. */
bool selector_matches(const struct label_selector *s, struct json_object *labels);

#endif
