/* SPDX-License-Identifier: Apache-2.0 */
/* test_json_path.c -- json-c getters by key path: present, absent, wrong type. */
#include "unit.h"

#include "json_path.h"

UNIT_TEST(json_path_getters)
{
	json_object *o = json_tokener_parse(
	    "{\"metadata\":{\"name\":\"a\",\"generation\":7,\"labels\":{\"app\":\"web\"}},"
	    "\"spec\":{\"nodeName\":5},\"list\":[1]}");

	CHECK(o != NULL);
	CHECK_EQ_STR(json_path_str(o, "metadata", "name", NULL), "a");
	CHECK_EQ_STR(json_path_str(o, "metadata", "labels", "app", NULL), "web");
	CHECK_EQ_INT(json_path_int(o, "metadata", "generation", NULL), 7);
	CHECK(json_path(o, "metadata", "labels", NULL) != NULL);
	CHECK(json_path(o, NULL) == o);
	/* Absent members, members of another type, paths through non-objects. */
	CHECK(json_path_str(o, "metadata", "uid", NULL) == NULL);
	CHECK(json_path_str(o, "spec", "nodeName", NULL) == NULL);
	CHECK(json_path_str(o, "list", "x", NULL) == NULL);
	CHECK(json_path_str(o, "metadata", "name", "deeper", NULL) == NULL);
	CHECK_EQ_INT(json_path_int(o, "status", "observedGeneration", NULL), 0);
	CHECK(json_path(NULL, "a", NULL) == NULL);
	CHECK(json_path_str(NULL, NULL) == NULL);
	json_object_put(o);
}
