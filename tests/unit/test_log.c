/* SPDX-License-Identifier: Apache-2.0 */
/* test_log.c -- log level parsing rejects unknown names. */
#include "unit.h"
#include "log.h"

UNIT_TEST(log_parse_level)
{
	enum log_level l;

	CHECK_EQ_INT(log_parse_level("debug", &l), 0);
	CHECK_EQ_INT(l, LOG_LVL_DEBUG);
	CHECK(log_parse_level("loud", &l) < 0);
	CHECK(log_parse_level(NULL, &l) < 0);
}
