/* SPDX-License-Identifier: Apache-2.0 */
/* clock.h -- monotonic and wall-clock time in the units the code uses.
 *
 * A low-level primitive: depends on nothing but libc. Deadlines, timeouts
 * and backoff use CLOCK_MONOTONIC (never jumps); only timestamps shown to
 * people or written to the API use the wall clock.
 */
#ifndef PODPROF_CLOCK_H
#define PODPROF_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t clock_mono_ms(void);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t clock_mono_ns(void);

/* CLOCK_REALTIME in milliseconds since the Unix epoch. */
int64_t clock_wall_ms(void);

/* CLOCK_REALTIME in nanoseconds since the Unix epoch (profile timestamps). */
int64_t clock_wall_ns(void);

/* The CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on a
 * condition variable created with pthread_condattr_setclock(MONOTONIC). */
struct timespec clock_mono_after(uint64_t ms);

#endif
