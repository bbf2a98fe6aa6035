/* SPDX-License-Identifier: Apache-2.0 */
/* spec.c -- ProfilingTarget spec parsing with the CRD's defaults and bounds. */
#include "spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "parse.h"
#include "selector.h"
#include "storage.h"

void target_spec_release(struct target_spec *s)
{
	if (!s)
		return;
	selector_free(s->selector);
	for (size_t i = 0; i < s->ncontainers; i++)
		free(s->containers[i]);
	free(s->output_prefix);
	memset(s, 0, sizeof(*s));
}

static int dup_opt_string(struct json_object *o, const char *key, char **out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 1024)
		return -EINVAL;
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : -ENOMEM;
}

/* A tenant's prefix nests under the operator's: drop trailing '/' (accepted
 * as "a directory"), and refuse what could climb out of it or clash. "" when
 * only slashes were given. */
static int normalize_prefix(char *p)
{
	size_t len = strlen(p);

	while (len && p[len - 1] == '/')
		p[--len] = '\0';
	return len && !storage_key_valid(p) ? -EINVAL : 0;
}

int target_spec_parse(struct json_object *spec, struct target_spec *out, const char **msg)
{
	struct json_object *v;
	int err = -EINVAL;

	memset(out, 0, sizeof(*out));
	out->duration_ms = 30000;
	out->frequency_hz = 99;
	out->kernel_stacks = true;
	out->min_block_us = SPEC_DEF_MIN_BLOCK_US;

	if (!spec || !json_object_is_type(spec, json_type_object)) {
		*msg = "spec: must be an object";
		goto cleanup;
	}
	if (!json_object_object_get_ex(spec, "selector", &v)) {
		*msg = "spec.selector: required";
		goto cleanup;
	}
	err = selector_parse(v, &out->selector, msg);
	if (err)
		goto cleanup;
	err = -EINVAL;
	if (json_object_object_get_ex(spec, "duration", &v) && v) {
		if (!json_object_is_type(v, json_type_string) ||
		    parse_duration_ms(json_object_get_string(v), false, &out->duration_ms) < 0 ||
		    out->duration_ms < SPEC_MIN_DURATION_MS ||
		    out->duration_ms > SPEC_MAX_DURATION_MS) {
			*msg = "spec.duration: must be a duration between 1s and 1h";
			goto cleanup;
		}
	}
	if (json_object_object_get_ex(spec, "frequencyHz", &v) && v) {
		int64_t hz = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || hz < 1 || hz > 1000) {
			*msg = "spec.frequencyHz: must be an integer from 1 to 1000";
			goto cleanup;
		}
		out->frequency_hz = (int)hz;
	}
	if (json_object_object_get_ex(spec, "kernelStacks", &v) && v) {
		if (!json_object_is_type(v, json_type_boolean)) {
			*msg = "spec.kernelStacks: must be a boolean";
			goto cleanup;
		}
		out->kernel_stacks = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(spec, "unwinder", &v) && v) {
		const char *u = json_object_get_string(v);

		if (!json_object_is_type(v, json_type_string) ||
		    (strcmp(u, "auto") != 0 && strcmp(u, "framepointer") != 0)) {
			*msg = "spec.unwinder: must be auto or framepointer";
			goto cleanup;
		}
		out->frame_pointers = strcmp(u, "framepointer") == 0;
	}
	if (json_object_object_get_ex(spec, "profile", &v) && v) {
		const char *k = json_object_get_string(v);

		if (!json_object_is_type(v, json_type_string) ||
		    (strcmp(k, "cpu") != 0 && strcmp(k, "offcpu") != 0)) {
			*msg = "spec.profile: must be cpu or offcpu";
			goto cleanup;
		}
		out->offcpu = strcmp(k, "offcpu") == 0;
	}
	if (json_object_object_get_ex(spec, "offcpu", &v) && v) {
		struct json_object *mb;

		if (!json_object_is_type(v, json_type_object)) {
			*msg = "spec.offcpu: must be an object";
			goto cleanup;
		}
		if (json_object_object_get_ex(v, "minBlock", &mb) && mb &&
		    (!json_object_is_type(mb, json_type_string) ||
		     parse_duration_us(json_object_get_string(mb), &out->min_block_us) < 0 ||
		     out->min_block_us > SPEC_MAX_MIN_BLOCK_US)) {
			*msg = "spec.offcpu.minBlock: must be a duration from 0us to 10s";
			goto cleanup;
		}
	}
	if (json_object_object_get_ex(spec, "containers", &v) && v) {
		size_t n;

		if (!json_object_is_type(v, json_type_array) ||
		    json_object_array_length(v) > SPEC_MAX_CONTAINERS) {
			*msg = "spec.containers: must be a list of at most 32 names";
			goto cleanup;
		}
		n = json_object_array_length(v);
		for (size_t i = 0; i < n; i++) {
			struct json_object *c = json_object_array_get_idx(v, i);

			if (!json_object_is_type(c, json_type_string) ||
			    json_object_get_string_len(c) > 253) {
				*msg = "spec.containers: entries must be container names";
				goto cleanup;
			}
			out->containers[i] = strdup(json_object_get_string(c));
			if (!out->containers[i]) {
				err = -ENOMEM;
				*msg = "out of memory";
				goto cleanup;
			}
			out->ncontainers = i + 1;
		}
	}
	if (json_object_object_get_ex(spec, "schedule", &v) && v) {
		struct json_object *e = NULL, *c = NULL;

		if (!json_object_is_type(v, json_type_object) ||
		    !json_object_object_get_ex(v, "every", &e) ||
		    !json_object_is_type(e, json_type_string) ||
		    parse_duration_ms(json_object_get_string(e), false, &out->every_ms) < 0 ||
		    out->every_ms < out->duration_ms || out->every_ms > 24LL * 3600000) {
			*msg =
			    "spec.schedule.every: must be a duration from the window length to 24h";
			goto cleanup;
		}
		if (json_object_object_get_ex(v, "count", &c) && c) {
			int64_t n = json_object_get_int64(c);

			if (!json_object_is_type(c, json_type_int) || n < 1 || n > 100000) {
				*msg = "spec.schedule.count: must be an integer from 1 to 100000";
				goto cleanup;
			}
			out->count = (uint32_t)n;
		}
	}
	if (json_object_object_get_ex(spec, "output", &v) && v) {
		if (!json_object_is_type(v, json_type_object) ||
		    dup_opt_string(v, "prefix", &out->output_prefix) < 0) {
			*msg = "spec.output.prefix must be a string";
			goto cleanup;
		}
		/* The operator's credentials would write any bucket a tenant names:
		 * profiles go to the operator's one bucket only. */
		if (json_object_object_get_ex(v, "bucket", NULL)) {
			*msg = "spec.output.bucket is not supported: profiles go to the operator's "
			       "configured bucket (use spec.output.prefix)";
			goto cleanup;
		}
		if (out->output_prefix && normalize_prefix(out->output_prefix) < 0) {
			*msg =
			    "spec.output.prefix: want path segments separated by '/', without "
			    "'.', '..', '\\', empty segments, control characters or a leading '/'";
			goto cleanup;
		}
	}
	return 0;
cleanup:
	target_spec_release(out);
	return err;
}

bool target_spec_wants_container(const struct target_spec *s, const char *name)
{
	if (s->ncontainers == 0)
		return true;
	for (size_t i = 0; i < s->ncontainers; i++)
		if (name && strcmp(s->containers[i], name) == 0)
			return true;
	return false;
}
