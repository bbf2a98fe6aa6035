/* SPDX-License-Identifier: Apache-2.0 */
/* parse.h -- strict parsing of numbers and durations from flags and specs.
 *
 * A low-level primitive (libc only), shared by both binaries so that a
 * duration means the same on a command line and in a ProfilingTarget.
 * Return convention: 0 on success, -EINVAL for anything malformed or out of
 * range; nothing is printed (callers name the flag or field).
 */
#ifndef PODPROF_PARSE_H
#define PODPROF_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* Go-style duration: one or more <digits><unit> with unit ms, s, m or h
 * ("30s", "1m30s", "1500ms"). No sign, no fractions, at most 100 hours.
 * With bare_is_seconds a plain number ("10") means seconds. */
int parse_duration_ms(const char *s, bool bare_is_seconds, int64_t *ms);

/* A duration down to microseconds: "<digits>us" or a parse_duration_ms()
 * string (no bare number), e.g. "500us", "1ms", "2s". */
int parse_duration_us(const char *s, int64_t *us);

/* Decimal unsigned integer in [min, max], the whole string. */
int parse_ulong_range(const char *s, unsigned long min, unsigned long max, unsigned long *out);

#endif
