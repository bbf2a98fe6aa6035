/* SPDX-License-Identifier: Apache-2.0 */
/* test_parse.c -- durations and numbers mean the same on flags and in specs. */
#include <errno.h>

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

/* Microsecond durations for thresholds: "<n>us" or any millisecond form. */
UNIT_TEST(parse_duration_us_forms)
{
	int64_t us = -1;

	CHECK_EQ_INT(parse_duration_us("0us", &us), 0);
	CHECK_EQ_INT(us, 0);
	CHECK_EQ_INT(parse_duration_us("250us", &us), 0);
	CHECK_EQ_INT(us, 250);
	CHECK_EQ_INT(parse_duration_us("5ms", &us), 0);
	CHECK_EQ_INT(us, 5000);
	CHECK_EQ_INT(parse_duration_us("1s", &us), 0);
	CHECK_EQ_INT(us, 1000000);
	CHECK_EQ_INT(parse_duration_us("us", &us), -EINVAL);
	CHECK_EQ_INT(parse_duration_us("-1us", &us), -EINVAL);
	CHECK_EQ_INT(parse_duration_us("1.5ms", &us), -EINVAL);
	CHECK_EQ_INT(parse_duration_us("10", &us), -EINVAL);
	CHECK_EQ_INT(parse_duration_us("99999999999999999us", &us), -EINVAL);
	CHECK_EQ_INT(parse_duration_us(NULL, &us), -EINVAL);
}
