/* SPDX-License-Identifier: Apache-2.0 */
/* unwexec.c -- what `unwind exec` turns into: another chain with other names. */
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

__attribute__((noinline)) void after_leaf(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i * 3;
}

__attribute__((noinline)) void after_outer(unsigned long n)
{
	after_leaf(n);
	sink++;
}

int main(int argc, char **argv)
{
	time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 3);

	while (time(NULL) < end)
		after_outer(200000);
	return 0;
}
