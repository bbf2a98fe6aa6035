/* SPDX-License-Identifier: Apache-2.0 */
/* light.c -- benchmark workload: a pod that uses about a tenth of a CPU.
 *
 * Spins in light_spin() for 1 ms of CPU, then sleeps 9 ms, forever. The
 * time-to-answer benchmark runs one per simulated node, so every target has
 * samples to collect without the pods themselves loading the machine.
 */
#include <stdint.h>
#include <time.h>

static volatile uint64_t sink;

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noinline)) void light_spin(void)
{
	int64_t end = cpu_ns() + 1000000;

	while (cpu_ns() < end)
		for (int i = 0; i < 1000; i++)
			sink += (uint64_t)i;
}

int main(void)
{
	const struct timespec nap = {0, 9000000};

	for (;;) {
		light_spin();
		nanosleep(&nap, NULL);
	}
	return 0;
}
