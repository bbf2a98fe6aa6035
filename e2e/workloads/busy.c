/* SPDX-License-Identifier: Apache-2.0 */
/* busy.c -- test workload: one thread spinning in a function that must never be
 * sampled by a job that does not target it (isolation checks). Runs until killed. */
#include <stdint.h>

static volatile uint64_t sink;

__attribute__((noinline)) void sibling_spin(void)
{
	for (uint64_t i = 0;; i++)
		sink += i;
}

int main(void)
{
	sibling_spin();
	return 0;
}
