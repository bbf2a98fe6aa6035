/* SPDX-License-Identifier: Apache-2.0 */
/* json_path.c -- json-c getters by key path (see json_path.h). */
#include "json_path.h"

#include <stdarg.h>

static json_object *walk(json_object *o, va_list ap)
{
	for (;;) {
		const char *key = va_arg(ap, const char *);

		if (!o || !key)
			return o;
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
	}
}

json_object *json_path(json_object *o, ...)
{
	va_list ap;

	va_start(ap, o);
	o = walk(o, ap);
	va_end(ap);
	return o;
}

const char *json_path_str(json_object *o, ...)
{
	va_list ap;

	va_start(ap, o);
	o = walk(o, ap);
	va_end(ap);
	return json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

int64_t json_path_int(json_object *o, ...)
{
	va_list ap;

	va_start(ap, o);
	o = walk(o, ap);
	va_end(ap);
	return o ? json_object_get_int64(o) : 0;
}
