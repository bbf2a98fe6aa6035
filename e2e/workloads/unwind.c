/* SPDX-License-Identifier: Apache-2.0 */
/* unwind.c -- workloads with known call chains for the unwinder tests.
 *
 *   unwind chain SECS          main -> outer -> middle -> leaf, CPU in leaf
 *   unwind recurse DEPTH SECS  main -> rec x DEPTH -> leaf
 *   unwind lib SECS            main -> outer -> lib_middle -> lib_leaf (libunwlib.so, linked)
 *   unwind dlopen SECS LIB     chain for a second, then dlopen(LIB) and lib_middle from it
 *   unwind exec SECS PROG ...  chain for a second, then exec PROG ...
 *
 * Built by the tests with and without frame pointers; every function on the
 * chain is noinline and keeps a side effect so no call becomes a jump.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile unsigned long sink;

void lib_middle(unsigned long n); /* libunwlib.so, for the "lib" mode */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void leaf(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i * i;
}

__attribute__((noinline)) void middle(unsigned long n)
{
	volatile char buf[64]; /* a real frame with locals */

	buf[0] = (char)n;
	leaf(n + (unsigned long)buf[0] % 2);
	sink++;
}

__attribute__((noinline)) void outer(unsigned long n)
{
	middle(n);
	sink++;
}

__attribute__((noinline)) void rec(int depth, unsigned long n)
{
	if (depth <= 1)
		leaf(n);
	else
		rec(depth - 1, n);
	sink++;
}

__attribute__((noinline)) void outer_lib(unsigned long n, void (*fn)(unsigned long))
{
	fn(n);
	sink++;
}

__attribute__((noinline)) static void run_chain(double secs)
{
	double end = now() + secs;

	while (now() < end)
		outer(200000);
}

int main(int argc, char **argv)
{
	double secs = argc > 2 ? atof(argv[2]) : 5;

	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "chain") == 0) {
		run_chain(secs);
	} else if (strcmp(argv[1], "recurse") == 0 && argc > 3) {
		int depth = atoi(argv[2]);
		double end = now() + atof(argv[3]);

		while (now() < end)
			rec(depth, 200000);
	} else if (strcmp(argv[1], "lib") == 0) {
		double end = now() + secs;

		while (now() < end)
			outer_lib(200000, lib_middle);
	} else if (strcmp(argv[1], "dlopen") == 0 && argc > 3) {
		void *h;
		void (*fn)(unsigned long);
		double end = now() + secs;

		run_chain(1.0);
		h = dlopen(argv[3], RTLD_NOW);
		fn = h ? (void (*)(unsigned long))dlsym(h, "dl_middle") : NULL;
		if (!fn) {
			fprintf(stderr, "dlopen %s: %s\n", argv[3], dlerror());
			return 1;
		}
		while (now() < end)
			outer_lib(200000, fn);
	} else if (strcmp(argv[1], "exec") == 0 && argc > 3) {
		run_chain(secs);
		execv(argv[3], argv + 3);
		perror("execv");
		return 1;
	} else {
		return 2;
	}
	return 0;
}
