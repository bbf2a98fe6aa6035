/* SPDX-License-Identifier: Apache-2.0 */
/* test_parse.c -- durations and numbers mean the same on flags and in specs. */
#include "unit.h"
#include "parse.h"

UNIT_TEST(parse_durations)
{
	int64_t ms = 0;

	CHECK_EQ_INT(parse_duration_ms("30s", false, &ms), 0);
	CHECK_EQ_INT(ms, 30000);
	CHECK_EQ_INT(parse_duration_ms("1m30s", false, &ms), 0);
	CHECK_EQ_INT(ms, 90000);
	CHECK_EQ_INT(parse_duration_ms("1500ms", false, &ms), 0);
	CHECK_EQ_INT(ms, 1500);
	CHECK_EQ_INT(parse_duration_ms("2h", false, &ms), 0);
	CHECK_EQ_INT(ms, 7200000);
	CHECK(parse_duration_ms("", false, &ms) < 0);
	CHECK(parse_duration_ms("10", false, &ms) < 0);
	CHECK_EQ_INT(parse_duration_ms("10", true, &ms), 0);
	CHECK_EQ_INT(ms, 10000);
	CHECK(parse_duration_ms("10s5", true, &ms) < 0);
	CHECK(parse_duration_ms("-5s", false, &ms) < 0);
	CHECK(parse_duration_ms("1.5s", false, &ms) < 0);
	CHECK(parse_duration_ms("5x", false, &ms) < 0);
	CHECK(parse_duration_ms("99999999999999s", false, &ms) < 0);
	CHECK(parse_duration_ms("101h", false, &ms) < 0);
	CHECK(parse_duration_ms(NULL, false, &ms) < 0);
}

UNIT_TEST(parse_numbers)
{
	unsigned long v = 0;

	CHECK_EQ_INT(parse_ulong_range("42", 1, 100, &v), 0);
	CHECK_EQ_INT(v, 42);
	CHECK(parse_ulong_range("0", 1, 100, &v) < 0);
	CHECK(parse_ulong_range("101", 1, 100, &v) < 0);
	CHECK(parse_ulong_range("-5", 0, 100, &v) < 0);
	CHECK(parse_ulong_range(" 5", 0, 100, &v) < 0);
	CHECK(parse_ulong_range("5k", 0, 100, &v) < 0);
	CHECK(parse_ulong_range("99999999999999999999999", 0, ~0UL, &v) < 0);
}
