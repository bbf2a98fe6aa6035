/* SPDX-License-Identifier: Apache-2.0 */
/* main.c -- runner for the self-registered unit tests. */
#include "unit.h"

#include <stdlib.h>

static struct unit_test *head, **tail = &head;

void unit_register(struct unit_test *t)
{
	/* Keep registration order: files run in link order, tests in file order. */
	*tail = t;
	tail = &t->next;
}

const char *unit_data_dir(void)
{
	const char *d = getenv("UNIT_DATA_DIR");

	return d ? d : "tests/unit/data";
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (struct unit_test *t = head; t; t = t->next) {
		int f = 0;

		if (argc > 1 && !strstr(t->name, argv[1]))
			continue;
		t->fn(&f);
		printf("%s %s\n", f ? "FAIL" : "ok  ", t->name);
		fflush(stdout);
		if (f)
			failed++;
		else
			passed++;
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
