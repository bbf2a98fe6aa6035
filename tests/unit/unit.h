/* SPDX-License-Identifier: Apache-2.0 */
/* unit.h -- a tiny self-registering unit-test harness.
 *
 * Each test file defines tests with UNIT_TEST(name) { ... } and checks with
 * CHECK(cond) / CHECK_EQ_INT / CHECK_EQ_STR. All files link into one binary
 * (build/unit-tests) whose last line is "N passed, N failed". Pass a
 * substring as argv[1] to run matching tests only.
 */
#ifndef PODPROF_UNIT_H
#define PODPROF_UNIT_H

#include <stdio.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(int *failed);
	struct unit_test *next;
};

void unit_register(struct unit_test *t);

#define UNIT_TEST(name)                                                                            \
	static void unit_fn_##name(int *unit_failed);                                              \
	static struct unit_test unit_t_##name = {#name, unit_fn_##name, NULL};                     \
	__attribute__((constructor)) static void unit_reg_##name(void)                             \
	{                                                                                          \
		unit_register(&unit_t_##name);                                                     \
	}                                                                                          \
	static void unit_fn_##name(int *unit_failed)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			(*unit_failed)++;                                                          \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
	do {                                                                                       \
		long long unit_a = (long long)(a), unit_b = (long long)(b);                        \
		if (unit_a != unit_b) {                                                            \
			fprintf(stderr, "    %s:%d: %s == %lld, expected %s == %lld\n", __FILE__,  \
				__LINE__, #a, unit_a, #b, unit_b);                                 \
			(*unit_failed)++;                                                          \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
	do {                                                                                       \
		const char *unit_a = (a), *unit_b = (b);                                           \
		if (!unit_a || !unit_b || strcmp(unit_a, unit_b) != 0) {                           \
			fprintf(stderr, "    %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,    \
				__LINE__, #a, unit_a ? unit_a : "(null)",                          \
				unit_b ? unit_b : "(null)");                                       \
			(*unit_failed)++;                                                          \
		}                                                                                  \
	} while (0)

/* Directory holding test data files (tests/unit/data), from the build. */
const char *unit_data_dir(void);

/* Read <data dir>/<rel> whole, NUL-terminated (*len excludes the NUL).
 * Returns a malloc'd buffer, or NULL when it cannot be read. */
char *unit_read_file(const char *rel, size_t *len);

/* unit_read_file("k8s/<name>"): recorded Kubernetes API replies. */
char *unit_read_k8s(const char *name, size_t *len);

#endif
