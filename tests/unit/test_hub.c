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

static int deny_all(void *ctx, const char *token, struct hub_auth_result *out)
{
	(void)ctx;
	(void)token;
	(void)out;
	return -EACCES;
}

UNIT_TEST(hub_wake_runs_callback_on_service_thread)
{
	struct hub_config cfg = {.iface = "127.0.0.1", .auth = deny_all};
	struct hub *hub = NULL;
	pthread_t th;
	char buf[16384];
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
	/* Per-worker series are declared; with no worker there is none. */
	CHECK(strstr(buf, "# TYPE podprof_worker_symbol_cache_hits_total counter\n") != NULL);
	CHECK(strstr(buf, "{node=") == NULL);
	CHECK_EQ_INT(hub_metrics_write(hub, buf, 16), -ENOSPC);
	hub_free(hub);
	hub_free(NULL);
}

static int write_token_file(char *path, const char *text)
{
	int fd = mkstemp(path);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

UNIT_TEST(hub_token_file_auth)
{
	char path[] = "/tmp/podprof-unit-token-XXXXXX";
	struct hub_token_file *tf = NULL;
	struct hub_auth_result r;
	int fd;

	CHECK_EQ_INT(write_token_file(path, "s3cret-token \r\n\n"), 0);
	CHECK_EQ_INT(hub_token_file_load(path, &tf), 0);
	CHECK_EQ_INT(hub_token_file_auth(tf, "s3cret-token", &r), 0);
	CHECK_EQ_STR(r.identity, "token-file");
	CHECK_EQ_STR(r.node, "");
	CHECK_EQ_INT(hub_token_file_auth(tf, "s3cret-toke", &r), -EACCES);
	CHECK_EQ_INT(hub_token_file_auth(tf, "s3cret-tokenX", &r), -EACCES);
	CHECK_EQ_INT(hub_token_file_auth(tf, "S3cret-token", &r), -EACCES);
	CHECK_EQ_INT(hub_token_file_auth(tf, "", &r), -EACCES);
	CHECK_EQ_INT(hub_token_file_auth(tf, NULL, &r), -EACCES);
	hub_token_file_free(tf);
	/* An empty file is refused, not treated as "any token". */
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	CHECK_EQ_INT(hub_token_file_load(path, &tf), -EINVAL);
	CHECK(tf == NULL);
	CHECK(hub_token_file_load("/nonexistent/podprof-token", &tf) < 0);
	unlink(path);
}

/* Per-node secrets: each binds its node; malformed files are refused whole. */
UNIT_TEST(hub_token_file_per_node)
{
	static const char *const bad[] = {
	    "shared\nnode-a tok-a\n",  /* shared secret mixed with per-node */
	    "node-a tok-a\nshared\n",  /* and the other way round */
	    "../etc tok\n",	       /* node name used in paths */
	    "Node-A tok\n",	       /* not DNS-1123 */
	    "node-a tok with blank\n", /* token with a blank */
	};
	char path[] = "/tmp/podprof-unit-token-XXXXXX";
	struct hub_token_file *tf = NULL;
	struct hub_auth_result r;

	CHECK_EQ_INT(write_token_file(path, "# per node\nnode-a tok-a\r\nnode-b\ttok-b\n"), 0);
	CHECK_EQ_INT(hub_token_file_load(path, &tf), 0);
	CHECK_EQ_INT(hub_token_file_auth(tf, "tok-a", &r), 0);
	CHECK_EQ_STR(r.node, "node-a");
	CHECK_EQ_STR(r.identity, "token-file:node-a");
	CHECK_EQ_INT(hub_token_file_auth(tf, "tok-b", &r), 0);
	CHECK_EQ_STR(r.node, "node-b");
	CHECK_EQ_INT(hub_token_file_auth(tf, "tok-c", &r), -EACCES);
	CHECK_EQ_INT(hub_token_file_auth(tf, "node-a tok-a", &r), -EACCES);
	hub_token_file_free(tf);
	unlink(path);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char p2[] = "/tmp/podprof-unit-token-XXXXXX";

		CHECK_EQ_INT(write_token_file(p2, bad[i]), 0);
		tf = NULL;
		CHECK_EQ_INT(hub_token_file_load(p2, &tf), -EINVAL);
		CHECK(tf == NULL);
		unlink(p2);
	}
}

/* DNS-1123 node names: what may become a path component. */
UNIT_TEST(proto_node_name_valid)
{
	CHECK(proto_node_name_valid("node-a"));
	CHECK(proto_node_name_valid("ip-10-0-0-1.ec2.internal"));
	CHECK(proto_node_name_valid("a"));
	CHECK(!proto_node_name_valid(""));
	CHECK(!proto_node_name_valid(NULL));
	CHECK(!proto_node_name_valid(".."));
	CHECK(!proto_node_name_valid("../x"));
	CHECK(!proto_node_name_valid("a/b"));
	CHECK(!proto_node_name_valid("-a"));
	CHECK(!proto_node_name_valid("a-"));
	CHECK(!proto_node_name_valid("a..b"));
	CHECK(!proto_node_name_valid("a.-b"));
	CHECK(!proto_node_name_valid("Node"));
}
