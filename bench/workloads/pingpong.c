/* SPDX-License-Identifier: Apache-2.0 */
/* pingpong.c -- bench workload: two threads on one CPU pass a byte back and
 * forth over two pipes, so every round trip is two context switches.
 *
 * Usage: pingpong ROUNDS [CPU]. Both threads are pinned to CPU (default 0):
 * each read blocks and switches to the other thread, which is what off-CPU
 * profilers pay for. Waits for a byte on stdin before starting (so a
 * profiler can attach to a known pid), prints the wall time of the rounds in
 * nanoseconds. Build: cc -O2 -pthread -o pingpong pingpong.c
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int ab[2], ba[2];
static long rounds;

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *echo(void *arg)
{
	char c;

	pin(*(int *)arg);
	for (long i = 0; i < rounds; i++)
		if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1)
			exit(1);
	return NULL;
}

int main(int argc, char **argv)
{
	int cpu = argc > 2 ? atoi(argv[2]) : 0;
	struct timespec t0, t1;
	pthread_t t;
	char c = 'x';

	rounds = argc > 1 ? atol(argv[1]) : 100000;
	if (pipe(ab) || pipe(ba) || pthread_create(&t, NULL, echo, &cpu))
		return 1;
	pin(cpu);
	if (read(0, &c, 1) < 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < rounds; i++)
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	printf("%lld\n",
	       (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
	return 0;
}
