/* SPDX-License-Identifier: Apache-2.0 */
/* test_spec.c -- a target's spec is read with the CRD's defaults and bounds. */
#include "unit.h"
#include "spec.h"

#include <json-c/json.h>

static int parse(const char *js, struct target_spec *out)
{
	struct json_object *o = json_tokener_parse(js);
	const char *msg = NULL;
	int err = target_spec_parse(o, out, &msg);

	json_object_put(o);
	if (err && !msg)
		return 1; /* a refusal must say which field */
	return err;
}

UNIT_TEST(spec_defaults_and_bounds)
{
	struct target_spec s;

	CHECK_EQ_INT(parse("{\"selector\":{\"matchLabels\":{\"app\":\"a\"}}}", &s), 0);
	CHECK_EQ_INT(s.duration_ms, 30000);
	CHECK_EQ_INT(s.frequency_hz, 99);
	CHECK(s.kernel_stacks);
	CHECK(!s.frame_pointers);
	CHECK(target_spec_wants_container(&s, "any"));
	target_spec_release(&s);

	CHECK_EQ_INT(parse("{\"selector\":{\"matchLabels\":{\"app\":\"a\"}},\"duration\":\"5s\","
			   "\"frequencyHz\":999,\"kernelStacks\":false,\"containers\":[\"main\"],"
			   "\"unwinder\":\"framepointer\","
			   "\"output\":{\"prefix\":\"p\"}}",
			   &s),
		     0);
	CHECK_EQ_INT(s.duration_ms, 5000);
	CHECK_EQ_INT(s.frequency_hz, 999);
	CHECK(!s.kernel_stacks);
	CHECK(s.frame_pointers);
	CHECK(target_spec_wants_container(&s, "main"));
	CHECK(!target_spec_wants_container(&s, "sidecar"));
	CHECK_EQ_STR(s.output_prefix, "p");
	target_spec_release(&s);

	/* Issue 17: a trailing '/' is accepted (dropped), escapes and bucket are not. */
	CHECK_EQ_INT(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
			   "\"output\":{\"prefix\":\"team/x/\"}}",
			   &s),
		     0);
	CHECK_EQ_STR(s.output_prefix, "team/x");
	target_spec_release(&s);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
		    "\"output\":{\"prefix\":\"../other\"}}",
		    &s) < 0);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
		    "\"output\":{\"prefix\":\"/abs\"}}",
		    &s) < 0);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
		    "\"output\":{\"prefix\":\"a//b\"}}",
		    &s) < 0);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
		    "\"output\":{\"bucket\":\"other-tenant\"}}",
		    &s) < 0);
	CHECK(parse("{}", &s) < 0);
	CHECK(parse("{\"selector\":{}}", &s) < 0);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"frequencyHz\":0}", &s) < 0);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"frequencyHz\":5000}", &s) < 0);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"duration\":\"2h\"}", &s) < 0);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"duration\":7}", &s) < 0);
}

UNIT_TEST(spec_schedule)
{
	struct target_spec s;

	CHECK_EQ_INT(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"duration\":\"10s\","
			   "\"schedule\":{\"every\":\"1m\",\"count\":3}}",
			   &s),
		     0);
	CHECK_EQ_INT(s.every_ms, 60000);
	CHECK_EQ_INT(s.count, 3);
	target_spec_release(&s);
	/* every shorter than the window, zero count, missing every: refused */
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"duration\":\"10s\","
		    "\"schedule\":{\"every\":\"5s\"}}",
		    &s) < 0);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
		    "\"schedule\":{\"every\":\"1m\",\"count\":0}}",
		    &s) < 0);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"schedule\":{}}", &s) < 0);
}

/* spec.profile picks CPU (the default) or off-CPU; spec.offcpu.minBlock
 * defaults to 1ms and takes microseconds up to 10s. */
UNIT_TEST(spec_profile_offcpu)
{
	struct target_spec s;

	CHECK_EQ_INT(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}}}", &s), 0);
	CHECK(!s.offcpu);
	CHECK_EQ_INT(s.min_block_us, 1000);
	target_spec_release(&s);
	CHECK_EQ_INT(
	    parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"profile\":\"offcpu\"}", &s), 0);
	CHECK(s.offcpu);
	CHECK_EQ_INT(s.min_block_us, 1000);
	target_spec_release(&s);
	CHECK_EQ_INT(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"profile\":\"offcpu\","
			   "\"offcpu\":{\"minBlock\":\"250us\"}}",
			   &s),
		     0);
	CHECK_EQ_INT(s.min_block_us, 250);
	target_spec_release(&s);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"profile\":\"mem\"}", &s) < 0);
	CHECK(
	    parse(
		"{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"offcpu\":{\"minBlock\":\"11s\"}}",
		&s) < 0);
	CHECK(parse("{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"offcpu\":{\"minBlock\":5}}",
		    &s) < 0);
}
