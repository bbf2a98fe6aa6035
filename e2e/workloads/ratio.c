/* SPDX-License-Identifier: Apache-2.0 */
/* ratio.c -- test workload: one thread burning CPU in two named functions, 3:1.
 *
 * The split is by CPU time actually received (CLOCK_THREAD_CPUTIME_ID), not
 * wall time, so a busy shared machine does not skew it: each round runs
 * burn_major() for 3 ms of CPU, then burn_minor() for 1 ms. With an optional
 * first argument "syscalls", the functions also make cheap system calls so
 * kernel stacks have something to show ("plain": none; "inverse": none, and
 * the split turned round to 1:3, for differential profiles). An optional second
 * argument is a CPU-time budget in ms after which it exits (short-lived
 * process tests; 0: none); without it, it runs until killed.
 *
 * First argument "work": the split is by work done instead, 30 spin rounds
 * in burn_major for every 10 in burn_minor (the same code, so the same CPU
 * time). That is the right measure in a VM whose vCPU the host deschedules
 * for milliseconds at a time: the guest counts such a pause as CPU time of
 * whichever phase was running, which skews a split by CPU time.
 * Build: cc -O1 -fno-omit-frame-pointer -o ratio ratio.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static int with_syscalls;
static int by_work;
static volatile uint64_t sink;

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline __attribute__((always_inline)) void spin(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		sink += i * 2654435761u;
}

/* Spend `amount` in the calling phase: ns of thread CPU time, or spin rounds
 * in work mode. Inlined, so samples land in burn_major/burn_minor. */
static inline __attribute__((always_inline)) void burn(int64_t amount)
{
	int64_t end = by_work ? amount : cpu_ns() + amount;

	for (int64_t i = 0; by_work ? i < end : cpu_ns() < end; i++) {
		spin(20000);
		/* Enough of them that a fair share of samples (some 10-30 %)
		 * land in the kernel: one per round gave a kernel sample
		 * only now and then. */
		for (int k = 0; with_syscalls && k < 32; k++)
			syscall(SYS_getppid);
	}
}

__attribute__((noinline)) void burn_major(int64_t amount)
{
	burn(amount);
}

__attribute__((noinline)) void burn_minor(int64_t amount)
{
	burn(amount);
}

int main(int argc, char **argv)
{
	int64_t limit = argc > 2 ? atoll(argv[2]) * 1000000 : 0;
	int inverse = argc > 1 && strcmp(argv[1], "inverse") == 0;

	with_syscalls = argc > 1 && strcmp(argv[1], "syscalls") == 0;
	by_work = argc > 1 && strcmp(argv[1], "work") == 0;
	while (limit == 0 || cpu_ns() < limit) {
		if (by_work) {
			burn_major(30);
			burn_minor(10);
		} else {
			burn_major(inverse ? 1000000 : 3000000);
			burn_minor(inverse ? 3000000 : 1000000);
		}
	}
	return 0;
}
