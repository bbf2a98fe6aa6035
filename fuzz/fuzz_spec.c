/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_spec.c -- ProfilingTarget specs and label selectors (user input).
 *
 * The CRD schema validates most of a spec, but the operator must not trust
 * it (old CRD versions, direct etcd writes): the reconciler parses every spec
 * with target_spec_parse(). A parsed selector is matched against the input's
 * own "labels" object, and durations (lib/parse.h) are parsed from the raw
 * bytes too.
 */
#include "fuzz_util.h"
#include "parse.h"
#include "selector.h"
#include "spec.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok;
	struct target_spec spec;
	json_object *obj, *labels = NULL;
	const char *msg = NULL;
	char str[64];
	int64_t ms;

	fuzz_quiet();
	if (size < sizeof(str)) {
		memcpy(str, data, size);
		str[size] = '\0';
		if (parse_duration_ms(str, false, &ms) == 0)
			fuzz_check(ms >= 0);
		if (parse_duration_ms(str, true, &ms) == 0)
			fuzz_check(ms >= 0);
	}
	tok = json_tokener_new_ex(32);
	if (!tok)
		return 0;
	obj = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!obj)
		return 0;
	json_object_object_get_ex(obj, "labels", &labels);
	if (target_spec_parse(obj, &spec, &msg) == 0) {
		fuzz_check(spec.frequency_hz >= 1 && spec.frequency_hz <= 1000);
		fuzz_check(spec.ncontainers <= SPEC_MAX_CONTAINERS);
		if (spec.selector)
			selector_matches(spec.selector, labels);
		target_spec_release(&spec);
	} else {
		fuzz_check(msg != NULL);
	}
	json_object_put(obj);
	return 0;
}
