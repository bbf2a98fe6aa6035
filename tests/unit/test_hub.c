/* SPDX-License-Identifier: Apache-2.0 */
/* test_hub.c -- hub_wake() from another thread runs the wakeup callback on the
 * hub thread (how informers reach the reconciler), and the local-mode token
 * file accepts exactly its secret.
 */
#include "unit.h"
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static int wakeups;

static void on_wakeup(void *ctx)
{
	(void)ctx;
	wakeups++;
}

static void *waker(void *arg)
{
	hub_wake(arg);
	return NULL;
}

static int deny_all(void *ctx, const char *token, char *identity, size_t idlen)
{
	(void)ctx;
	(void)token;
	(void)identity;
	(void)idlen;
	return -EACCES;
}

UNIT_TEST(hub_wake_runs_callback_on_service_thread)
{
	struct hub_config cfg = {.iface = "127.0.0.1", .auth = deny_all};
	struct hub *hub = NULL;
	pthread_t th;
	char buf[4096];
	int rc = -1;

	/* Find a free port by trying a few; another test may hold one. */
	for (int port = 20000 + (getpid() % 20000), i = 0; i < 50 && rc; i++, port++) {
		cfg.port = port;
		rc = hub_new(&cfg, NULL, &hub);
	}
	CHECK_EQ_INT(rc, 0);
	if (rc)
		return;
	hub_set_wakeup_cb(hub, on_wakeup, NULL);
	CHECK_EQ_INT(pthread_create(&th, NULL, waker, hub), 0);
	pthread_join(th, NULL);
	/* The wake is pending in the pipe: service until it is delivered (bounded
	 * by iterations, not time). */
	for (int i = 0; i < 100 && !wakeups; i++)
		CHECK_EQ_INT(hub_service(hub), 0);
	CHECK(wakeups >= 1);
	CHECK_EQ_INT(hub_worker_count(hub), 0);
	CHECK(!hub_worker_connected(hub, "node-a"));
	CHECK_EQ_INT(hub_send_detach(hub, "node-a", "j1"), -ENOTCONN);
	CHECK(hub_metrics_write(hub, buf, sizeof(buf)) > 0);
	CHECK(strstr(buf, "podprof_hub_connected_workers 0\n") != NULL);
	CHECK_EQ_INT(hub_metrics_write(hub, buf, 16), -ENOSPC);
	hub_free(hub);
	hub_free(NULL);
}

UNIT_TEST(hub_token_file_auth)
{
	char path[] = "/tmp/podprof-unit-token-XXXXXX";
	struct hub_token_file *tf = NULL;
	char id[64];
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ_INT(write(fd, "s3cret-token \r\nsecond line\n", 27), 27);
	close(fd);
	CHECK_EQ_INT(hub_token_file_load(path, &tf), 0);
	CHECK_EQ_INT(hub_token_file_auth(tf, "s3cret-token", id, sizeof(id)), 0);
	CHECK_EQ_STR(id, "token-file");
	CHECK_EQ_INT(hub_token_file_auth(tf, "s3cret-toke", id, sizeof(id)), -EACCES);
	CHECK_EQ_INT(hub_token_file_auth(tf, "s3cret-tokenX", id, sizeof(id)), -EACCES);
	CHECK_EQ_INT(hub_token_file_auth(tf, "S3cret-token", id, sizeof(id)), -EACCES);
	CHECK_EQ_INT(hub_token_file_auth(tf, "", id, sizeof(id)), -EACCES);
	CHECK_EQ_INT(hub_token_file_auth(tf, NULL, id, sizeof(id)), -EACCES);
	hub_token_file_free(tf);
	/* An empty file is refused, not treated as "any token". */
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	CHECK_EQ_INT(hub_token_file_load(path, &tf), -EINVAL);
	CHECK(tf == NULL);
	CHECK(hub_token_file_load("/nonexistent/podprof-token", &tf) < 0);
	unlink(path);
}
