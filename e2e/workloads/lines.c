/* SPDX-License-Identifier: Apache-2.0 */
/* lines.c -- test workload for source lines: one hot loop in its own
 * function and one hot callee that is always inlined. The test finds the
 * expected line numbers by the LINE-* markers below, so edits stay safe.
 * Runs until killed. */
#include <stdint.h>

static volatile uint64_t sink;
static volatile unsigned int rounds = 4096;

static inline __attribute__((always_inline)) uint64_t mix(uint64_t x)
{
	for (unsigned int k = 0; k < rounds; k++) { /* LINE-MIX */
		x ^= x >> 7;			    /* LINE-MIX */
		x *= 0x9e3779b97f4a7c15ull;	    /* LINE-MIX */
	}
	return x;
}

__attribute__((noinline)) void inlined_caller(void)
{
	sink = mix(sink); /* LINE-CALL-MIX */
}

__attribute__((noinline)) void plain_loop(void)
{
	uint64_t x = sink;

	for (unsigned int k = 0; k < rounds; k++) { /* LINE-PLAIN */
		x += x << 3;			    /* LINE-PLAIN */
		x ^= k;				    /* LINE-PLAIN */
	}
	sink = x;
}

int main(void)
{
	for (;;) {
		plain_loop();
		inlined_caller();
	}
	return 0;
}
