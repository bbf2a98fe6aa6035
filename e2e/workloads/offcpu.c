/* SPDX-License-Identifier: Apache-2.0 */
/* offcpu.c -- test workload whose time off CPU is known in advance.
 *
 * First argument, the mode:
 *   sleep [MS]  one thread sleeps MS (default 30) ms in sleep_major(), then a
 *          third of that in sleep_minor(), for ever: 75 % of its blocked time
 *          is in sleep_major
 *   rawsleep [MS]  the same, but sleep_major() and sleep_minor() enter the
 *          kernel themselves (no libc frame below them): the function that
 *          blocks is the leaf of the user stack, so a profile without kernel
 *          stacks gives sleep_major 75 % self (x86-64 and arm64; elsewhere
 *          they sleep through libc)
 *   pipe   one thread blocks in read() on a pipe (in pipe_reader()) that a
 *          second thread writes a byte to every 50 ms (from pipe_writer())
 *   spin   one thread burns CPU in spin_forever(): put under a cgroup cpu.max
 *          quota it is throttled, i.e. off CPU while runnable
 * Runs until killed. Functions are noinline so that they show in stacks.
 * Build: cc -O1 -fno-omit-frame-pointer -pthread -o offcpu offcpu.c
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static int pipefd[2];
static long major_ms = 30;
static bool raw; /* rawsleep: sleep_major/minor make the syscall themselves */

static void nap_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Sleep ms with the syscall instruction in the caller's own body: a macro,
 * not an inline function, which DWARF would name as an inlined frame. */
#if defined(__x86_64__)
#define RAW_NAP_MS(ms)                                                                             \
	do {                                                                                       \
		struct timespec ts_ = {.tv_sec = (ms) / 1000,                                      \
				       .tv_nsec = ((ms) % 1000) * 1000000L};                       \
		long ret_;                                                                         \
		do {                                                                               \
			__asm__ volatile("syscall"                                                 \
					 : "=a"(ret_)                                              \
					 : "0"((long)SYS_nanosleep), "D"(&ts_), "S"(&ts_)          \
					 : "rcx", "r11", "memory");                                \
		} while (ret_ != 0);                                                               \
	} while (0)
#elif defined(__aarch64__)
#define RAW_NAP_MS(ms)                                                                             \
	do {                                                                                       \
		struct timespec ts_ = {.tv_sec = (ms) / 1000,                                      \
				       .tv_nsec = ((ms) % 1000) * 1000000L};                       \
		register long x0_ __asm__("x0");                                                   \
		do {                                                                               \
			register long x8_ __asm__("x8") = SYS_nanosleep;                           \
			register long x1_ __asm__("x1") = (long)&ts_;                              \
			x0_ = (long)&ts_;                                                          \
			__asm__ volatile("svc #0" : "+r"(x0_) : "r"(x8_), "r"(x1_) : "memory");    \
		} while (x0_ != 0);                                                                \
	} while (0)
#else
#define RAW_NAP_MS(ms) nap_ms(ms)
#endif

__attribute__((noinline)) void sleep_major(void)
{
	if (raw)
		RAW_NAP_MS(major_ms);
	else
		nap_ms(major_ms);
	sink++;
}

__attribute__((noinline)) void sleep_minor(void)
{
	if (raw)
		RAW_NAP_MS(major_ms / 3);
	else
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
		raw = strcmp(mode, "rawsleep") == 0;
		if (argc > 2 && atol(argv[2]) >= 3)
			major_ms = atol(argv[2]);
		for (;;) {
			sleep_major();
			sleep_minor();
		}
	}
	return 0;
}
