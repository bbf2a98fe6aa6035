/* SPDX-License-Identifier: Apache-2.0 */
/* light.c -- benchmark workload: a pod that uses about a tenth of a CPU.
 *
 * Spins in light_spin() for 1 ms of CPU, then sleeps 4-14 ms (9 ms on
 * average), forever. The sleep is jittered: a fixed 1+9 ms cycle runs in
 * lockstep with a 99 Hz sampler and every sample lands in the same phase. The
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
	uint32_t x = 2463534242u; /* xorshift32: cheap, deterministic jitter */

	for (;;) {
		struct timespec nap = {0, 0};

		light_spin();
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		nap.tv_nsec = 4000000 + (long)(x % 10000000);
		nanosleep(&nap, NULL);
	}
	return 0;
}
