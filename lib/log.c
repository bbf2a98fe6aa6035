/* SPDX-License-Identifier: Apache-2.0 */
/* log.c -- leveled logging to stderr. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level cur_level = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (s && strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_vmsg(enum log_level lvl, const char *module, const char *fmt, va_list ap)
{
	char line[2048];
	char ts[40];
	struct timespec now;
	struct tm tm;
	int n;

	if (lvl > cur_level)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %-5s %s: ", ts, now.tv_nsec / 1000000,
		     level_names[lvl], module ? module : "-");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line so concurrent writers do not interleave. */
	fprintf(stderr, "%s\n", line);
}

void log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, module, fmt, ap);
	va_end(ap);
}
