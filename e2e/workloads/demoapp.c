/* SPDX-License-Identifier: Apache-2.0 */
/* demoapp.c -- a small CPU-bound "service" for the demo and the e2e suite.
 *
 * `demoapp checkout` spends its time in checkout_compute_tax (about 2/3) and
 * checkout_render_receipt (1/3); `demoapp search` in search_rank_results and
 * search_parse_query. The names are distinct per app so a test can tell which
 * app a profile came from. Runs until killed (or for argv[2] seconds).
 * Built with frame pointers so user stacks unwind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile uint64_t sink;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Spin for `ms` of this thread's CPU time. */
#define BURN(ms)                                                                                   \
	do {                                                                                       \
		double end_ = cpu_s() + (ms) / 1000.0;                                             \
		uint64_t x_ = sink;                                                                \
		while (cpu_s() < end_)                                                             \
			for (int i_ = 0; i_ < 2000; i_++)                                          \
				x_ = x_ * 6364136223846793005ULL + 1442695040888963407ULL;         \
		sink = x_;                                                                         \
	} while (0)

__attribute__((noinline)) static void checkout_compute_tax(void)
{
	BURN(20);
}

__attribute__((noinline)) static void checkout_render_receipt(void)
{
	BURN(10);
}

__attribute__((noinline)) static void search_rank_results(void)
{
	BURN(20);
}

__attribute__((noinline)) static void search_parse_query(void)
{
	BURN(10);
}

int main(int argc, char **argv)
{
	double until = 0;
	int checkout;

	if (argc < 2 || (strcmp(argv[1], "checkout") != 0 && strcmp(argv[1], "search") != 0)) {
		fprintf(stderr, "usage: demoapp checkout|search [seconds]\n");
		return 2;
	}
	checkout = strcmp(argv[1], "checkout") == 0;
	if (argc > 2)
		until = now_s() + atof(argv[2]);
	while (!until || now_s() < until) {
		if (checkout) {
			checkout_compute_tax();
			checkout_render_receipt();
		} else {
			search_rank_results();
			search_parse_query();
		}
	}
	return 0;
}
