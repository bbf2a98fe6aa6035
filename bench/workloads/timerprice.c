/* SPDX-License-Identifier: Apache-2.0 */
/* timerprice.c -- benchmark probe: what this machine charges to arm a timer
 * and cancel it, by how far ahead it is due.
 *
 * A cgroup-mode sampling event (perf_event_open with PERF_FLAG_PID_CGROUP,
 * cpu-clock) is switched off and on whenever the CPU moves between a task of
 * its cgroup and any other: the kernel cancels the event's timer and, when the
 * cgroup's task comes back, arms it again for the rest of its period. A timer
 * that is due before every other timer of the CPU (the 4 ms scheduler tick at
 * HZ=250) reprograms the CPU's timer device, on arming and again on
 * cancelling; on a virtual machine that write is a trap to the hypervisor.
 * At 999 Hz the rest of the period is under 1 ms, so every switch pays it; at
 * 19 or 99 Hz it is mostly further away than the next tick.
 *
 * This arms a timerfd (an hrtimer on this CPU, like the event's) AHEAD_NS
 * ahead and cancels it at once, ITER times, and prints per AHEAD_NS the median
 * over REPEAT batches of the nanoseconds per arm + cancel:
 *     ahead_ns ns_per_pair
 * Usage: timerprice ITER REPEAT AHEAD_NS...
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPEAT 64

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct itimerspec off = {0};
	double batch[MAX_REPEAT];
	cpu_set_t one;
	long iter, repeat;
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: timerprice ITER REPEAT AHEAD_NS...\n");
		return 2;
	}
	iter = atol(argv[1]);
	repeat = atol(argv[2]);
	if (iter <= 0 || repeat <= 0 || repeat > MAX_REPEAT) {
		fprintf(stderr, "timerprice: ITER > 0 and 0 < REPEAT <= %d\n", MAX_REPEAT);
		return 2;
	}
	/* One CPU: the timer device reprogrammed is this CPU's. */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		perror("timerprice: sched_setaffinity (measuring unpinned)");
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (fd < 0) {
		perror("timerprice: timerfd_create");
		return 1;
	}
	for (int a = 3; a < argc; a++) {
		long long ahead = atoll(argv[a]);
		struct itimerspec on = {.it_value = {ahead / 1000000000, ahead % 1000000000}};

		if (ahead <= 0) {
			fprintf(stderr, "timerprice: AHEAD_NS must be > 0: %s\n", argv[a]);
			close(fd);
			return 2;
		}
		for (long r = 0; r < repeat; r++) {
			int64_t t0 = now_ns();

			for (long i = 0; i < iter; i++) {
				if (timerfd_settime(fd, 0, &on, NULL) ||
				    timerfd_settime(fd, 0, &off, NULL)) {
					perror("timerprice: timerfd_settime");
					close(fd);
					return 1;
				}
			}
			batch[r] = (double)(now_ns() - t0) / (double)iter;
		}
		qsort(batch, (size_t)repeat, sizeof(batch[0]), cmp);
		printf("%lld %.0f\n", ahead, batch[repeat / 2]);
	}
	close(fd);
	return 0;
}
