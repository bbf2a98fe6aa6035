/* SPDX-License-Identifier: Apache-2.0 */
/* symbench.c -- benchmark: frames per second through the worker's symbolizer.
 *
 * Reads runtime addresses of one live process (hex, one per line), groups
 * them into 16-frame stacks in a fixed pseudo-random order and resolves them
 * with symbolizer_user(): "cold" on a fresh symbolizer and a fresh symbol
 * cache (maps snapshot, ELF symbol table and DWARF line tables loaded inside
 * the timed part), "cache" on a new symbolizer over the now warm cache (what
 * the next job on a worker meets: maps read again, binaries reused by build
 * ID), "warm" again on that symbolizer. Counts frames that got a name and
 * those that got file:line, and reports this process's peak RSS with the
 * line tables loaded. The same for kernel text addresses taken from
 * /proc/kallsyms (symbolizer_kernel; no cache involved). Prints one JSON
 * object. Timing: CLOCK_MONOTONIC.
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
#include "symcache.h"

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

/* Resolve all addresses once; returns seconds, counts symbolized frames
 * and frames with a source line. */
static double pass(struct symbolizer *s, int pid, const uint64_t *a, size_t n, size_t *named,
		   size_t *lined)
{
	struct pprof_frame frames[STACK];
	double t0 = now_s();

	*named = 0;
	*lined = 0;
	for (size_t i = 0; i < n; i += STACK) {
		size_t k = n - i < STACK ? n - i : STACK;
		int err = pid ? symbolizer_user(s, pid, a + i, k, frames)
			      : symbolizer_kernel(s, a + i, k, frames);

		if (err < 0)
			return -1;
		for (size_t j = 0; j < k; j++) {
			if (frames[j].function)
				(*named)++;
			if (frames[j].nlines && frames[j].lines[0].line > 0)
				(*lined)++;
		}
	}
	return now_s() - t0;
}

/* This process's peak or current resident set (VmHWM, VmRSS) in kB. */
static long status_kb(const char *field)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0 && line[strlen(field)] == ':')
			kb = strtol(line + strlen(field) + 1, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static double best(double x, double best_so_far)
{
	/* Best of the repeats: the machine is shared; the minimum is the least disturbed run. */
	return x < best_so_far ? x : best_so_far;
}

static int bench(const char *what, int pid, const uint64_t *a, size_t n, int repeats)
{
	double cold = 1e9, cached = 1e9, warm = 1e9;
	size_t named = 0, lined = 0;
	struct symcache_stats st = {0};
	long rss = -1;

	for (int r = 0; r < repeats; r++) {
		struct symbolizer *s = NULL, *s2 = NULL;
		struct symcache *c = NULL;
		double tc, tk = 0, tw;

		if (symcache_new(&c, 0) < 0 || symbolizer_new_cached(&s, "/proc", c) < 0) {
			symcache_free(c);
			return -ENOMEM;
		}
		tc = pass(s, pid, a, n, &named, &lined);
		symbolizer_free(s);
		/* A new symbolizer on the warm cache: the next job. */
		if (symbolizer_new_cached(&s2, "/proc", c) < 0) {
			symcache_free(c);
			return -ENOMEM;
		}
		if (pid)
			tk = pass(s2, pid, a, n, &named, &lined);
		tw = pass(s2, pid, a, n, &named, &lined);
		symcache_get_stats(c, &st);
		rss = status_kb("VmRSS"); /* line tables loaded */
		symbolizer_free(s2);
		symcache_free(c);
		if (tc < 0 || tk < 0 || tw < 0)
			return -EIO;
		cold = best(tc, cold);
		cached = best(tk, cached);
		warm = best(tw, warm);
	}
	printf("\"%s\": {\"frames\": %zu, \"named\": %zu, \"lined\": %zu, \"cold_s\": %.6f, "
	       "\"warm_s\": %.6f, \"cold_fps\": %.0f, \"warm_fps\": %.0f",
	       what, n, named, lined, cold, warm, (double)n / cold, (double)n / warm);
	if (pid)
		printf(", \"cache_s\": %.6f, \"cache_fps\": %.0f, \"cache_bytes\": %llu, "
		       "\"cache_hits\": %llu, \"cache_misses\": %llu, \"line_hits\": %llu, "
		       "\"line_misses\": %llu, \"rss_kb\": %ld, \"hwm_kb\": %ld",
		       cached, (double)n / cached, (unsigned long long)st.bytes,
		       (unsigned long long)st.hits, (unsigned long long)st.misses,
		       (unsigned long long)st.line_hits, (unsigned long long)st.line_misses, rss,
		       status_kb("VmHWM"));
	printf("}");
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
