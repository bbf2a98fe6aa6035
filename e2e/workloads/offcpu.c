/* SPDX-License-Identifier: Apache-2.0 */
/* offcpu.c -- test workload whose time off CPU is known in advance.
 *
 * First argument, the mode:
 *   sleep [MS]  one thread sleeps MS (default 30) ms in sleep_major(), then a
 *          third of that in sleep_minor(), for ever: 75 % of its blocked time
 *          is in sleep_major
 *   pipe   one thread blocks in read() on a pipe (in pipe_reader()) that a
 *          second thread writes a byte to every 50 ms (from pipe_writer())
 *   spin   one thread burns CPU in spin_forever(): put under a cgroup cpu.max
 *          quota it is throttled, i.e. off CPU while runnable
 * Runs until killed. Functions are noinline so that they show in stacks.
 * Build: cc -O1 -fno-omit-frame-pointer -pthread -o offcpu offcpu.c
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static int pipefd[2];
static long major_ms = 30;

static void nap_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

__attribute__((noinline)) void sleep_major(void)
{
	nap_ms(major_ms);
	sink++;
}

__attribute__((noinline)) void sleep_minor(void)
{
	nap_ms(major_ms / 3);
	sink++;
}

__attribute__((noinline)) void pipe_reader(void)
{
	char c;

	for (;;)
		if (read(pipefd[0], &c, 1) == 1)
			sink += (uint64_t)c;
}

__attribute__((noinline)) static void *pipe_writer(void *arg)
{
	(void)arg;
	for (;;) {
		nap_ms(50);
		if (write(pipefd[1], "x", 1) != 1)
			sink++;
	}
	return NULL;
}

__attribute__((noinline)) void spin_forever(void)
{
	for (;;)
		sink++;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "sleep";
	pthread_t t;

	if (strcmp(mode, "pipe") == 0) {
		if (pipe(pipefd) != 0 || pthread_create(&t, NULL, pipe_writer, NULL) != 0)
			return 1;
		pipe_reader();
	} else if (strcmp(mode, "spin") == 0) {
		spin_forever();
	} else {
		if (argc > 2 && atol(argv[2]) >= 3)
			major_ms = atol(argv[2]);
		for (;;) {
			sleep_major();
			sleep_minor();
		}
	}
	return 0;
}
