/* SPDX-License-Identifier: Apache-2.0 */
/* test_selector.c -- label selectors pick exactly the pods Kubernetes would. */
#include "unit.h"
#include "selector.h"

#include <json-c/json.h>

static bool match(const char *sel_json, const char *labels_json)
{
	struct json_object *sel = json_tokener_parse(sel_json);
	struct json_object *labels = labels_json ? json_tokener_parse(labels_json) : NULL;
	struct label_selector *s = NULL;
	bool m = false;

	if (selector_parse(sel, &s, NULL) == 0)
		m = selector_matches(s, labels);
	selector_free(s);
	json_object_put(sel);
	json_object_put(labels);
	return m;
}

static int parse_err(const char *sel_json)
{
	struct json_object *sel = json_tokener_parse(sel_json);
	struct label_selector *s = NULL;
	const char *msg = NULL;
	int err = selector_parse(sel, &s, &msg);

	if (err && !msg)
		err = 1; /* every refusal must explain itself */
	selector_free(s);
	json_object_put(sel);
	return err;
}

UNIT_TEST(selector_match_labels)
{
	CHECK(match("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"web\",\"tier\":\"x\"}"));
	CHECK(!match("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"db\"}"));
	CHECK(!match("{\"matchLabels\":{\"app\":\"web\"}}", NULL));
	CHECK(!match("{\"matchLabels\":{\"app\":\"web\",\"tier\":\"fe\"}}", "{\"app\":\"web\"}"));
}

UNIT_TEST(selector_match_expressions)
{
	const char *in_notin = "{\"matchExpressions\":["
			       "{\"key\":\"app\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]},"
			       "{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"prod\"]}]}";

	CHECK(match(in_notin, "{\"app\":\"a\"}"));
	CHECK(match(in_notin, "{\"app\":\"b\",\"env\":\"dev\"}"));
	CHECK(!match(in_notin, "{\"app\":\"b\",\"env\":\"prod\"}"));
	CHECK(!match(in_notin, "{\"app\":\"c\"}"));
	CHECK(match("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"Exists\"}]}",
		    "{\"x\":\"\"}"));
	CHECK(!match("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"Exists\"}]}", "{}"));
	CHECK(match("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"DoesNotExist\"}]}",
		    "{\"y\":\"1\"}"));
}

UNIT_TEST(selector_refuses_bad_input)
{
	CHECK(parse_err("{}") < 0);
	CHECK(parse_err("{\"matchLabels\":{}}") < 0);
	CHECK(parse_err("{\"matchLabels\":{\"a\":1}}") < 0);
	CHECK(parse_err("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Near\"}]}") < 0);
	CHECK(parse_err("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\"}]}") < 0);
	CHECK(parse_err("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\","
			"\"values\":[\"v\"]}]}") < 0);
	CHECK(parse_err("{\"matchExpressions\":{}}") < 0);
	CHECK(parse_err("[]") < 0);
}
