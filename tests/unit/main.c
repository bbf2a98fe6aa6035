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

char *unit_read_file(const char *rel, size_t *len)
{
	char path[512];
	char *buf = NULL;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", unit_data_dir(), rel);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0)
			buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

char *unit_read_k8s(const char *name, size_t *len)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "k8s/%s", name);
	return unit_read_file(rel, len);
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
