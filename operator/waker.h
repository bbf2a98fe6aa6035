/* SPDX-License-Identifier: Apache-2.0 */
/* waker.h -- turns "an fd became readable" or "a deadline passed" into one
 * wake-up of the operator's main loop.
 *
 * The main loop is libwebsockets' poll loop inside the hub; it cannot poll
 * the informers' and the uploader's eventfds itself. A waker thread polls
 * those fds plus one timerfd, calls the wake function (hub_wake) when any is
 * ready, then waits until the main thread says it has drained everything
 * (waker_drained), so it never spins on a still-readable fd.
 *
 * Threading: waker_new/add_fd/start/free on the main thread;
 * waker_set_deadline and waker_drained from the main thread while running.
 * Returns: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_WAKER_H
#define PODPROF_WAKER_H

#include <stdint.h>

#define WAKER_MAX_FDS 8

struct waker;

/* wake(ctx) is called on the waker thread; it must be thread-safe. */
int waker_new(void (*wake)(void *ctx), void *ctx, struct waker **out);

/* Watch fd for POLLIN (before waker_start). -E2BIG past WAKER_MAX_FDS. */
int waker_add_fd(struct waker *w, int fd);

int waker_start(struct waker *w);

/* Main thread, after handling a wake-up: the waker may poll again. */
void waker_drained(struct waker *w);

/* Wake the main loop at CLOCK_MONOTONIC time deadline_ms (0 disarms).
 * Replaces any earlier deadline. */
void waker_set_deadline(struct waker *w, uint64_t deadline_ms);

/* Stop the thread and free; NULL is fine. */
void waker_free(struct waker *w);

#endif
