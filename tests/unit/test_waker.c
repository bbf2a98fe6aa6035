/* SPDX-License-Identifier: Apache-2.0 */
/* test_waker.c -- the main loop is woken by ready fds and by deadlines. */
#include "clock.h"
#include "unit.h"
#include "waker.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static atomic_int wakes;

static void on_wake(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&wakes, 1);
}

static int wait_wakes(int want)
{
	for (int i = 0; i < 500 && atomic_load(&wakes) < want; i++)
		usleep(10000);
	return atomic_load(&wakes);
}

UNIT_TEST(waker_fd_and_deadline)
{
	struct waker *w = NULL;
	int efd = eventfd(0, EFD_NONBLOCK);
	uint64_t one = 1, v;

	atomic_store(&wakes, 0);
	CHECK_EQ_INT(waker_new(on_wake, NULL, &w), 0);
	CHECK_EQ_INT(waker_add_fd(w, efd), 0);
	CHECK_EQ_INT(waker_start(w), 0);
	CHECK(write(efd, &one, sizeof(one)) == sizeof(one));
	CHECK(wait_wakes(1) >= 1);
	/* Readable fd but not yet drained: no second wake until waker_drained. */
	usleep(50000);
	CHECK_EQ_INT(atomic_load(&wakes), 1);
	CHECK(read(efd, &v, sizeof(v)) == sizeof(v));
	waker_drained(w);
	waker_set_deadline(w, clock_mono_ms() + 30);
	CHECK(wait_wakes(2) >= 2);
	waker_drained(w);
	waker_free(w);
	close(efd);
}
