/* SPDX-License-Identifier: Apache-2.0 */
/* stolen.c -- benchmark workload: how much CPU time interrupts take from a busy task.
 *
 * One thread per CPU, pinned, reads CLOCK_MONOTONIC in a tight loop for a
 * fixed wall time. Each time two reads are further apart than the loop's own
 * cost (THRESH_NS), the CPU was away: a hard or soft interrupt (the timer
 * tick, a profiler's sampling interrupt and its BPF program), another task
 * (the profiler's own process), or the hypervisor. The thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) tells those apart: this kernel charges interrupt
 * time to the interrupted task and leaves out time given to other tasks and,
 * with paravirtual steal accounting, time the hypervisor took. So
 *     interrupt time = sum of gaps - (wall - thread CPU time)
 * is what interrupts cost the task, measured per event rather than as a
 * change in throughput, and it does not move with the host's load the way
 * wall time of fixed work does (benchmarks on shared machines).
 *
 * The threads spin at once and start measuring when one byte arrives on
 * stdin, so a profiler can attach to the pid and settle first. Output, one
 * line per thread:
 *     cpu wall_ns cpu_ns gaps_ns ngaps
 * Usage: stolen SECONDS [THRESH_NS]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct meter {
	pthread_t tid;
	int cpu;
	int64_t wall_ns, cpu_ns, gaps_ns, irq_ns, nirq, long_ns;
};

static int64_t run_ns, thresh_ns = 400, max_irq_ns = 250000;
static atomic_bool started;

static int64_t now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *run(void *arg)
{
	struct meter *m = arg;
	cpu_set_t set;
	int64_t t0, c0, prev, t, end, c, last_t, last_c;

	CPU_ZERO(&set);
	CPU_SET(m->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	/* Busy before the measurement too, in the same code, so that a profiler
	 * started meanwhile has met this process and read its tables by then. */
	while (!atomic_load_explicit(&started, memory_order_acquire))
		(void)now(CLOCK_MONOTONIC);
	last_c = c0 = now(CLOCK_THREAD_CPUTIME_ID);
	last_t = t0 = prev = now(CLOCK_MONOTONIC);
	end = t0 + run_ns;
	do {
		t = now(CLOCK_MONOTONIC);
		if (t - prev > thresh_ns) {
			int64_t gap = t - prev, charged;

			/* Since the last gap the thread ran without a break but
			 * for this one, so what its CPU time gained beyond that
			 * running time is the part of the gap charged to it:
			 * an interrupt, not another task or the hypervisor. */
			c = now(CLOCK_THREAD_CPUTIME_ID);
			charged = (c - last_c) - ((t - last_t) - gap);
			if (charged > gap)
				charged = gap;
			/* The hypervisor taking the vCPU away can be charged as
			 * if the thread ran (steal accounting is partial); no
			 * interrupt handler runs for a millisecond. */
			if (charged > 0 && gap <= max_irq_ns) {
				m->irq_ns += charged;
				m->nirq++;
			} else if (charged > 0) {
				m->long_ns += charged;
			}
			m->gaps_ns += gap;
			/* Reading the CPU clock takes time of its own: start the
			 * next interval after it. */
			last_t = prev = now(CLOCK_MONOTONIC);
			last_c = c;
			continue;
		}
		prev = t;
	} while (t < end);
	m->cpu_ns = now(CLOCK_THREAD_CPUTIME_ID) - c0;
	m->wall_ns = t - t0;
	return NULL;
}

int main(int argc, char **argv)
{
	struct meter m[256] = {0};
	cpu_set_t avail;
	int n = 0;
	char go;

	if (argc < 2 || atof(argv[1]) <= 0) {
		fprintf(stderr, "usage: stolen SECONDS [THRESH_NS]\n");
		return 2;
	}
	run_ns = (int64_t)(atof(argv[1]) * 1e9);
	if (argc > 2)
		thresh_ns = atol(argv[2]);
	if (sched_getaffinity(0, sizeof(avail), &avail) != 0)
		return 1;
	for (int c = 0; c < CPU_SETSIZE && n < 256; c++)
		if (CPU_ISSET(c, &avail))
			m[n++].cpu = c;
	for (int i = 0; i < n; i++)
		if (pthread_create(&m[i].tid, NULL, run, &m[i]) != 0)
			return 1;
	if (read(0, &go, 1) != 1)
		return 1;
	atomic_store_explicit(&started, true, memory_order_release);
	for (int i = 0; i < n; i++) {
		pthread_join(m[i].tid, NULL);
		printf("%d %lld %lld %lld %lld %lld %lld\n", m[i].cpu, (long long)m[i].wall_ns,
		       (long long)m[i].cpu_ns, (long long)m[i].gaps_ns, (long long)m[i].irq_ns,
		       (long long)m[i].nirq, (long long)m[i].long_ns);
	}
	return 0;
}
