/* SPDX-License-Identifier: Apache-2.0 */
/* symbench.c -- benchmark: frames per second through the worker's symbolizer.
 *
 * Reads runtime addresses of one live process (hex, one per line), groups
 * them into 16-frame stacks in a fixed pseudo-random order and resolves them
 * with symbolizer_user(): "cold" on a fresh symbolizer (maps snapshot and
 * ELF symbol table loaded inside the timed part), "warm" again on the same
 * symbolizer. The same for kernel text addresses taken from /proc/kallsyms
 * (symbolizer_kernel). Prints one JSON object. Timing: CLOCK_MONOTONIC.
 * Usage: symbench PID ADDRFILE REPEATS
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pprof.h"
#include "symbolize.h"

#define STACK	  16
#define MAX_ADDRS (1u << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t read_addrs(FILE *f, uint64_t *out, size_t cap, int kallsyms)
{
	char line[512];
	size_t n = 0;

	while (n < cap && fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char type;

		if (kallsyms) {
			if (sscanf(line, "%llx %c", &a, &type) != 2 ||
			    (type != 't' && type != 'T') || a == 0 || strchr(line, '['))
				continue;
			out[n++] = a + 1;
		} else if (sscanf(line, "%llx", &a) == 1) {
			out[n++] = a;
		}
	}
	return n;
}

static void shuffle(uint64_t *a, size_t n)
{
	uint64_t x = 88172645463325252ull;

	for (size_t i = n; i > 1; i--) {
		size_t j;
		uint64_t t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (size_t)(x % i);
		t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* Resolve all addresses once; returns seconds, counts symbolized frames. */
static double pass(struct symbolizer *s, int pid, const uint64_t *a, size_t n, size_t *named)
{
	struct pprof_frame frames[STACK];
	double t0 = now_s();

	*named = 0;
	for (size_t i = 0; i < n; i += STACK) {
		size_t k = n - i < STACK ? n - i : STACK;
		int err = pid ? symbolizer_user(s, pid, a + i, k, frames)
			      : symbolizer_kernel(s, a + i, k, frames);

		if (err < 0)
			return -1;
		for (size_t j = 0; j < k; j++)
			if (frames[j].function)
				(*named)++;
	}
	return now_s() - t0;
}

static int bench(const char *what, int pid, const uint64_t *a, size_t n, int repeats)
{
	double cold = 1e9, warm = 1e9;
	size_t named = 0;

	for (int r = 0; r < repeats; r++) {
		struct symbolizer *s = NULL;
		double c, w;

		if (symbolizer_new(&s, "/proc") < 0)
			return -ENOMEM;
		c = pass(s, pid, a, n, &named);
		w = pass(s, pid, a, n, &named);
		symbolizer_free(s);
		if (c < 0 || w < 0)
			return -EIO;
		/* Best of the repeats: the machine is shared; the minimum is the least disturbed run. */
		cold = c < cold ? c : cold;
		warm = w < warm ? w : warm;
	}
	printf("\"%s\": {\"frames\": %zu, \"named\": %zu, \"cold_s\": %.6f, \"warm_s\": %.6f, "
	       "\"cold_fps\": %.0f, \"warm_fps\": %.0f}",
	       what, n, named, cold, warm, (double)n / cold, (double)n / warm);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t *user = NULL, *kern = NULL;
	size_t nu, nk;
	FILE *f;
	int pid, repeats, err = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: symbench PID ADDRFILE REPEATS\n");
		return 2;
	}
	pid = atoi(argv[1]);
	repeats = atoi(argv[3]);
	user = calloc(MAX_ADDRS, sizeof(*user));
	kern = calloc(MAX_ADDRS, sizeof(*kern));
	if (!user || !kern || pid <= 0 || repeats < 1)
		goto cleanup;
	f = fopen(argv[2], "r");
	if (!f)
		goto cleanup;
	nu = read_addrs(f, user, MAX_ADDRS, 0);
	fclose(f);
	f = fopen("/proc/kallsyms", "r");
	if (!f)
		goto cleanup;
	nk = read_addrs(f, kern, MAX_ADDRS, 1);
	fclose(f);
	shuffle(user, nu);
	shuffle(kern, nk);
	printf("{");
	if (bench("user", pid, user, nu, repeats) < 0)
		goto cleanup;
	printf(", ");
	if (bench("kernel", 0, kern, nk, repeats) < 0)
		goto cleanup;
	printf("}\n");
	err = 0;
cleanup:
	free(user);
	free(kern);
	return err;
}
