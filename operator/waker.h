/* SPDX-License-Identifier: Apache-2.0 */
/* waker.h -- turns "an fd became readable" or "a deadline passed" into one
 * wake-up of the operator's main loop.
 *
 * The main loop is libwebsockets' poll loop inside the hub. A waker thread
 * polls the informers' and the uploader's eventfds plus one timerfd, calls
 * the wake function (hub_wake) when any is ready, then waits until the main
 * thread says it has drained everything (waker_drained), so one wake-up
 * covers every queue and it never spins on a still-readable fd.
 *
 * Why a thread, when libwebsockets 4.1 can poll foreign fds itself
 * (lws_adopt_descriptor_vhost with LWS_ADOPT_RAW_FILE_DESC) and run
 * deadlines (lws_sul_schedule): adopting them would move run.c's wiring
 * into the hub, the module that wraps libwebsockets for the workers' side:
 * a raw-file protocol in its table, one adopted wsi per eventfd whose close
 * must be ordered against the informers and the uploader freeing theirs,
 * and a deadline API for the reconciler. Estimated (not built), that is
 * about as much code as waker.c's 170 lines, spread over two modules; and
 * the thread hop it would save costs microseconds (median about 5 us from
 * eventfd write to wake call, measured on the shared 2-core development
 * machine) against reconciler deadlines of milliseconds to seconds. So the
 * hub stays about workers, and run.c reaches it only through hub_wake().
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
