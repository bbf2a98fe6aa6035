/* SPDX-License-Identifier: Apache-2.0 */
/* json_path.h -- read fields of json-c objects by a path of keys.
 *
 * A low-level primitive over json-c: the one family of getters the operator,
 * its Kubernetes client and the kubectl plugin use for API objects. Each
 * function takes the object and a NULL-terminated list of member names,
 * e.g. json_path_str(pod, "status", "phase", NULL). Results are borrowed
 * from o. A missing member, a NULL object or a member of another type gives
 * the "absent" result (NULL or 0); nothing here allocates or fails.
 */
#ifndef PODPROF_JSON_PATH_H
#define PODPROF_JSON_PATH_H

#include <stdint.h>

#include <json-c/json.h>

/* The member at the path, any type; NULL when absent. */
json_object *json_path(json_object *o, ...) __attribute__((sentinel));

/* The string at the path; NULL when absent or not a string. */
const char *json_path_str(json_object *o, ...) __attribute__((sentinel));

/* The number at the path as int64 (json-c's conversion); 0 when absent. */
int64_t json_path_int(json_object *o, ...) __attribute__((sentinel));

#endif
