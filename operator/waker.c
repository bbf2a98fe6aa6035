/* SPDX-License-Identifier: Apache-2.0 */
/* waker.c -- fd and deadline watcher thread for the operator's main loop. */
#include "waker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

struct waker {
	void (*wake)(void *ctx);
	void *ctx;
	int fds[WAKER_MAX_FDS]; /* watched, not owned */
	int nfds;
	int timer_fd;	/* owned: CLOCK_MONOTONIC deadline */
	int stop_fd;	/* owned: eventfd, ends the thread */
	int drained_fd; /* owned: eventfd, main thread finished a round */
	pthread_t thread;
	bool running;
};

int waker_new(void (*wake)(void *ctx), void *ctx, struct waker **out)
{
	struct waker *w;
	int err;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->wake = wake;
	w->ctx = ctx;
	w->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->drained_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->timer_fd < 0 || w->stop_fd < 0 || w->drained_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	*out = w;
	return 0;
cleanup:
	waker_free(w);
	return err;
}

int waker_add_fd(struct waker *w, int fd)
{
	if (w->running)
		return -EBUSY;
	if (w->nfds >= WAKER_MAX_FDS)
		return -E2BIG;
	w->fds[w->nfds++] = fd;
	return 0;
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("waker", "eventfd read: %s", strerror(errno));
}

/* Wait for the main thread's "drained" (or stop). Returns false on stop. */
static bool wait_drained(struct waker *w)
{
	struct pollfd p[2] = {{.fd = w->drained_fd, .events = POLLIN},
			      {.fd = w->stop_fd, .events = POLLIN}};

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (p[1].revents)
			return false;
		if (p[0].revents) {
			drain_eventfd(w->drained_fd);
			return true;
		}
	}
}

static void *waker_thread(void *arg)
{
	struct waker *w = arg;
	struct pollfd p[WAKER_MAX_FDS + 2];
	int n = w->nfds;

	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){.fd = w->fds[i], .events = POLLIN};
	p[n] = (struct pollfd){.fd = w->timer_fd, .events = POLLIN};
	p[n + 1] = (struct pollfd){.fd = w->stop_fd, .events = POLLIN};
	for (;;) {
		int r = poll(p, (nfds_t)n + 2, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_error("waker", "poll: %s", strerror(errno));
			return NULL;
		}
		if (p[n + 1].revents)
			return NULL;
		if (p[n].revents)
			drain_eventfd(w->timer_fd);
		w->wake(w->ctx);
		if (!wait_drained(w))
			return NULL;
	}
}

int waker_start(struct waker *w)
{
	int err = pthread_create(&w->thread, NULL, waker_thread, w);

	if (err)
		return -err;
	w->running = true;
	return 0;
}

void waker_drained(struct waker *w)
{
	uint64_t one = 1;

	if (write(w->drained_fd, &one, sizeof(one)) < 0)
		log_debug("waker", "eventfd write: %s", strerror(errno));
}

void waker_set_deadline(struct waker *w, uint64_t deadline_ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (deadline_ms) {
		/* An absolute time of 0 would disarm: keep the earliest at 1 ms. */
		its.it_value.tv_sec = (time_t)(deadline_ms / 1000);
		its.it_value.tv_nsec = (long)(deadline_ms % 1000) * 1000000 + 1;
	}
	if (timerfd_settime(w->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_error("waker", "timerfd_settime: %s", strerror(errno));
}

void waker_free(struct waker *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	if (w->running) {
		if (write(w->stop_fd, &one, sizeof(one)) < 0)
			log_error("waker", "stop: %s", strerror(errno));
		pthread_join(w->thread, NULL);
		w->running = false;
	}
	if (w->timer_fd >= 0)
		close(w->timer_fd);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->drained_fd >= 0)
		close(w->drained_fd);
	free(w);
}
