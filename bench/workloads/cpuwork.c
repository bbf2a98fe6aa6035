/* SPDX-License-Identifier: Apache-2.0 */
/* cpuwork.c -- benchmark workload: a fixed amount of CPU-bound work on N threads.
 *
 * Each thread runs the same number of rounds through two non-inlined
 * functions (a hash mix and a small matrix step), so the work is identical
 * on every run and wall time measures only how fast the CPUs got through it.
 * The threads are created first and the process waits for one byte on stdin
 * before releasing them, so a profiler can attach to its pid (and every
 * thread) first; it then prints the wall time of the work alone
 * (CLOCK_MONOTONIC, nanoseconds) on stdout and exits.
 * Usage: cpuwork THREADS ROUNDS      (build with -O1 -fno-omit-frame-pointer)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static long rounds;
static pthread_barrier_t go_barrier;

__attribute__((noinline)) uint64_t work_hash(uint64_t x)
{
	for (int i = 0; i < 4000; i++) {
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdull;
		x ^= x >> 29;
	}
	return x;
}

__attribute__((noinline)) uint64_t work_matrix(uint64_t seed)
{
	uint64_t m[4][4], r = 0;

	for (int i = 0; i < 16; i++)
		m[i / 4][i % 4] = seed + (uint64_t)i;
	for (int k = 0; k < 250; k++)
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				m[i][j] = m[i][j] * 3 + m[j][i] + (uint64_t)k;
	for (int i = 0; i < 16; i++)
		r += m[i / 4][i % 4];
	return r;
}

static void *run(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg + 1;

	pthread_barrier_wait(&go_barrier);
	for (long r = 0; r < rounds; r++)
		x = work_hash(x) + work_matrix(x);
	sink += x;
	return NULL;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int nthreads = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t tids[256];
	int64_t start;
	char go;

	rounds = argc > 2 ? atol(argv[2]) : 1000;
	if (nthreads < 1 || nthreads > 256 || rounds < 1) {
		fprintf(stderr, "usage: cpuwork THREADS(1..256) ROUNDS(>0)\n");
		return 2;
	}
	if (pthread_barrier_init(&go_barrier, NULL, (unsigned)nthreads + 1) != 0)
		return 1;
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&tids[i], NULL, run, (void *)(uintptr_t)i) != 0)
			return 1;
	if (read(0, &go, 1) != 1)
		return 1;
	start = now_ns();
	pthread_barrier_wait(&go_barrier);
	for (int i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	printf("%lld\n", (long long)(now_ns() - start));
	return 0;
}
