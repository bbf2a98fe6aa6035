/* SPDX-License-Identifier: Apache-2.0 */
/* selector.c -- label selector parsing and matching. */
#include "selector.h"
#include "arr.h"
#include "json_path.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* Caps: a selector comes from a user's object; keep its cost bounded. */
#define SEL_MAX_REQS   64
#define SEL_MAX_VALUES 64
#define SEL_MAX_STR    317 /* qualified label key: 253 prefix + '/' + 63 name */

enum sel_op { SEL_EQ, SEL_IN, SEL_NOT_IN, SEL_EXISTS, SEL_NOT_EXISTS };

struct sel_req {
	enum sel_op op;
	char *key;
	char **values; /* for EQ (one value), IN, NOT_IN */
	size_t nvalues, values_cap;
};

struct label_selector {
	struct sel_req reqs[SEL_MAX_REQS];
	size_t nreqs;
};

void selector_free(struct label_selector *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nreqs; i++) {
		for (size_t j = 0; j < s->reqs[i].nvalues; j++)
			free(s->reqs[i].values[j]);
		free(s->reqs[i].values);
		free(s->reqs[i].key);
	}
	free(s);
}

static int add_req(struct label_selector *s, enum sel_op op, const char *key, struct sel_req **out)
{
	struct sel_req *r;

	if (s->nreqs >= SEL_MAX_REQS)
		return -E2BIG;
	if (!key || !*key || strlen(key) > SEL_MAX_STR)
		return -EINVAL;
	r = &s->reqs[s->nreqs];
	memset(r, 0, sizeof(*r));
	r->key = strdup(key);
	if (!r->key)
		return -ENOMEM;
	r->op = op;
	s->nreqs++;
	*out = r;
	return 0;
}

static int add_value(struct sel_req *r, const char *v)
{
	int err;

	if (!v || strlen(v) > SEL_MAX_STR)
		return -EINVAL;
	err = arr_grow((void **)&r->values, &r->values_cap, r->nvalues + 1, sizeof(*r->values),
		       SEL_MAX_VALUES);
	if (err)
		return err;
	r->values[r->nvalues] = strdup(v);
	if (!r->values[r->nvalues])
		return -ENOMEM;
	r->nvalues++;
	return 0;
}

static int parse_expression(struct label_selector *s, struct json_object *e, const char **msg)
{
	struct json_object *jkey, *jop, *jvals;
	const char *op;
	enum sel_op sop;
	struct sel_req *r;
	size_t nvals = 0;
	int err;

	if (!json_object_is_type(e, json_type_object) ||
	    !json_object_object_get_ex(e, "key", &jkey) ||
	    !json_object_is_type(jkey, json_type_string) ||
	    !json_object_object_get_ex(e, "operator", &jop) ||
	    !json_object_is_type(jop, json_type_string)) {
		*msg = "matchExpressions entry needs string key and operator";
		return -EINVAL;
	}
	op = json_object_get_string(jop);
	if (strcmp(op, "In") == 0) {
		sop = SEL_IN;
	} else if (strcmp(op, "NotIn") == 0) {
		sop = SEL_NOT_IN;
	} else if (strcmp(op, "Exists") == 0) {
		sop = SEL_EXISTS;
	} else if (strcmp(op, "DoesNotExist") == 0) {
		sop = SEL_NOT_EXISTS;
	} else {
		*msg = "matchExpressions operator must be In, NotIn, Exists or DoesNotExist";
		return -EINVAL;
	}
	if (json_object_object_get_ex(e, "values", &jvals) && jvals) {
		if (!json_object_is_type(jvals, json_type_array)) {
			*msg = "matchExpressions values must be a list";
			return -EINVAL;
		}
		nvals = json_object_array_length(jvals);
	}
	/* The API server's own rules: In/NotIn need values, Exists/DoesNotExist none. */
	if ((sop == SEL_IN || sop == SEL_NOT_IN) && nvals == 0) {
		*msg = "In and NotIn need at least one value";
		return -EINVAL;
	}
	if ((sop == SEL_EXISTS || sop == SEL_NOT_EXISTS) && nvals != 0) {
		*msg = "Exists and DoesNotExist take no values";
		return -EINVAL;
	}
	err = add_req(s, sop, json_object_get_string(jkey), &r);
	if (err) {
		*msg = "bad or too many selector requirements";
		return err;
	}
	for (size_t i = 0; i < nvals; i++) {
		struct json_object *v = json_object_array_get_idx(jvals, i);

		if (!json_object_is_type(v, json_type_string)) {
			*msg = "matchExpressions values must be strings";
			return -EINVAL;
		}
		err = add_value(r, json_object_get_string(v));
		if (err) {
			*msg = "bad or too many selector values";
			return err;
		}
	}
	return 0;
}

int selector_parse(struct json_object *sel, struct label_selector **out, const char **err_msg)
{
	struct json_object *ml = NULL, *me = NULL;
	struct label_selector *s = NULL;
	const char *msg = "invalid selector";
	int err = -EINVAL;

	*out = NULL;
	if (!sel || !json_object_is_type(sel, json_type_object)) {
		msg = "selector must be an object";
		goto cleanup;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		msg = "out of memory";
		goto cleanup;
	}
	if (json_object_object_get_ex(sel, "matchLabels", &ml) && ml) {
		if (!json_object_is_type(ml, json_type_object)) {
			msg = "matchLabels must be a map";
			goto cleanup;
		}
		json_object_object_foreach(ml, k, v)
		{
			struct sel_req *r;

			if (!json_object_is_type(v, json_type_string)) {
				msg = "matchLabels values must be strings";
				goto cleanup;
			}
			err = add_req(s, SEL_EQ, k, &r);
			if (!err)
				err = add_value(r, json_object_get_string(v));
			if (err) {
				msg = "bad or too many matchLabels";
				goto cleanup;
			}
		}
	}
	if (json_object_object_get_ex(sel, "matchExpressions", &me) && me) {
		if (!json_object_is_type(me, json_type_array)) {
			msg = "matchExpressions must be a list";
			err = -EINVAL;
			goto cleanup;
		}
		for (size_t i = 0; i < json_object_array_length(me); i++) {
			err = parse_expression(s, json_object_array_get_idx(me, i), &msg);
			if (err)
				goto cleanup;
		}
	}
	if (s->nreqs == 0) {
		msg = "selector is empty: it would match every pod";
		err = -EINVAL;
		goto cleanup;
	}
	*out = s;
	s = NULL;
	err = 0;
cleanup:
	selector_free(s);
	if (err_msg)
		*err_msg = err ? msg : NULL;
	return err;
}

static const char *label_value(struct json_object *labels, const char *key)
{
	return json_path_str(labels, key, (const char *)NULL);
}

static bool in_values(const struct sel_req *r, const char *v)
{
	for (size_t i = 0; i < r->nvalues; i++)
		if (strcmp(r->values[i], v) == 0)
			return true;
	return false;
}

bool selector_matches(const struct label_selector *s, struct json_object *labels)
{
	for (size_t i = 0; i < s->nreqs; i++) {
		const struct sel_req *r = &s->reqs[i];
		const char *v = label_value(labels, r->key);

		switch (r->op) {
		case SEL_EQ:
		case SEL_IN:
			if (!v || !in_values(r, v))
				return false;
			break;
		case SEL_NOT_IN:
			/* Kubernetes semantics: NotIn also matches objects without the key. */
			if (v && in_values(r, v))
				return false;
			break;
		case SEL_EXISTS:
			if (!v)
				return false;
			break;
		case SEL_NOT_EXISTS:
			if (v)
				return false;
			break;
		}
	}
	return true;
}
