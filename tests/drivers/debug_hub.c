/* SPDX-License-Identifier: Apache-2.0 */
/* debug_hub.c -- `podprof-testdrv debug-hub`: the worker hub alone, logging.
 *
 * Lets the e2e suite (and a human) exercise the WebSocket link, its
 * authentication and its validation without the reconciler or an API server.
 */
#include "debug_hub.h"
#include "hub.h"
#include "log.h"
#include "parse.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOD		"debug-hub"
#define ATTACH_FILE_MAX PROTO_MAX_TEXT_FRAME

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct dbg {
	struct hub *hub;
	struct proto_msg attach; /* PROTO_NONE when no --attach-file */
	const char *profile_dir;
	unsigned profiles;
	/* --windows N: after each window's final progress the attach is sent
	 * again under "<jobId>.<k>", as the operator does for a schedule, until
	 * N windows have been sent (benchmarks measure the agent's steady state
	 * this way). */
	unsigned windows, sent;
	char base_job[PROTO_MAX_JOB_ID_LEN + 1];
};

static void send_attach(struct dbg *d, const char *node)
{
	struct proto_attach *a = &d->attach.u.attach;
	int rc;

	if (d->sent > 0)
		snprintf(a->job_id, sizeof(a->job_id), "%.*s.%u", PROTO_MAX_JOB_ID_LEN - 11,
			 d->base_job, d->sent);
	rc = hub_send_attach(d->hub, node, a);
	d->sent++;
	printf("event attach-sent node=%s job=%s rc=%d\n", node, a->job_id, rc);
	fflush(stdout);
}

static void ev_connected(void *ctx, const char *node, const char *identity)
{
	struct dbg *d = ctx;

	printf("event connected node=%s identity=%s\n", node, identity);
	fflush(stdout);
	if (d->attach.type != PROTO_ATTACH)
		return;
	send_attach(d, node);
}

static void ev_disconnected(void *ctx, const char *node)
{
	(void)ctx;
	printf("event disconnected node=%s\n", node);
	fflush(stdout);
}

static void ev_progress(void *ctx, const char *node, const struct proto_progress *p)
{
	struct dbg *d = ctx;

	printf("event progress node=%s job=%s samples=%llu drops=%llu cgroups=%u errors=%u "
	       "pods=%zu final=%d\n",
	       node, p->job_id, (unsigned long long)p->samples, (unsigned long long)p->drops,
	       p->cgroups, p->errors, p->n_pods, p->final);
	for (size_t i = 0; i < p->n_pods; i++)
		printf("event progress-pod node=%s job=%s uid=%s samples=%llu\n", node, p->job_id,
		       p->pods[i].uid, (unsigned long long)p->pods[i].samples);
	fflush(stdout);
	if (p->final && d->attach.type == PROTO_ATTACH && d->sent < d->windows &&
	    strcmp(p->job_id, d->attach.u.attach.job_id) == 0)
		send_attach(d, node);
}

static void ev_profile(void *ctx, const char *node, const char *job_id, bool final,
		       const uint8_t *data, size_t len)
{
	struct dbg *d = ctx;
	char path[PATH_MAX];
	FILE *f;

	printf("event profile node=%s job=%s bytes=%zu final=%d\n", node, job_id, len, final);
	/* The hub refuses hellos with a non-DNS-1123 node, so no "../" gets here;
	 * check again because this is where the name becomes a path. */
	if (d->profile_dir && !proto_node_name_valid(node)) {
		log_error(MOD, "not saving profile of node '%s': not a DNS-1123 name", node);
	} else if (d->profile_dir) {
		snprintf(path, sizeof(path), "%s/%s.%u.pb.gz", d->profile_dir, node, d->profiles++);
		f = fopen(path, "wb");
		if (!f || fwrite(data, 1, len, f) != len)
			log_error(MOD, "cannot write %s: %s", path, strerror(errno));
		else
			printf("event profile-saved path=%s\n", path);
		if (f)
			fclose(f);
	}
	fflush(stdout);
}

static void ev_refused(void *ctx, const char *node, const char *identity, const char *reason)
{
	(void)ctx;
	printf("event refused node=%s identity=%s reason=%s\n", node, identity, reason);
	fflush(stdout);
}

static void ev_error(void *ctx, const char *node, const struct proto_error_msg *m)
{
	(void)ctx;
	printf("event error node=%s job=%s code=%s\n", node, m->job_id, m->code);
	fflush(stdout);
}

static int load_attach(const char *path, struct proto_msg *out)
{
	char *buf = malloc(ATTACH_FILE_MAX + 1);
	struct proto_err err;
	ssize_t n = -1;
	int fd, rc;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, ATTACH_FILE_MAX + 1);
		close(fd);
	}
	if (n < 0 || n > ATTACH_FILE_MAX) {
		fprintf(stderr, "debug-hub: cannot read %s (or over %d bytes)\n", path,
			ATTACH_FILE_MAX);
		free(buf);
		return -EINVAL;
	}
	rc = proto_decode(buf, (size_t)n, out, &err);
	free(buf);
	if (rc || out->type != PROTO_ATTACH) {
		fprintf(stderr, "debug-hub: %s is not a valid attach message (%s at '%s')\n", path,
			proto_status_str(err.status), err.field);
		proto_msg_free(out);
		return -EINVAL;
	}
	return 0;
}

static int parse_u64(const char *s, const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long v;

	if (parse_ulong_range(s, min, max, &v) == 0) {
		*out = v;
		return 0;
	}
	fprintf(stderr, "debug-hub: bad %s '%s' (want %llu..%llu)\n", name, s,
		(unsigned long long)min, (unsigned long long)max);
	return -EINVAL;
}

static const char usage[] =
    "usage: podprof-testdrv debug-hub --port P --token-file F [--iface ADDR]\n"
    "         [--tls-cert F --tls-key F] [--max-profile-bytes N] [--heartbeat-ms N]\n"
    "         [--attach-file F] [--profile-dir D] [--max-pending N]\n"
    "         [--max-pending-per-addr N] [--windows N] [-v]\n";

int debug_hub_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"port", required_argument, NULL, 'p'},
	    {"token-file", required_argument, NULL, 't'},
	    {"iface", required_argument, NULL, 'i'},
	    {"tls-cert", required_argument, NULL, 'c'},
	    {"tls-key", required_argument, NULL, 'k'},
	    {"max-profile-bytes", required_argument, NULL, 'm'},
	    {"heartbeat-ms", required_argument, NULL, 'b'},
	    {"attach-file", required_argument, NULL, 'a'},
	    {"profile-dir", required_argument, NULL, 'd'},
	    {"max-pending", required_argument, NULL, 'P'},
	    {"max-pending-per-addr", required_argument, NULL, 'A'},
	    {"windows", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct hub_config cfg = {0};
	struct hub_callbacks cbs = {0};
	struct hub_token_file *tf = NULL;
	struct dbg d = {.windows = 1};
	const char *token_file = NULL;
	struct sigaction sa;
	uint64_t v;
	int c, rc = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_u64(optarg, "--port", 1, 65535, &v))
				goto cleanup;
			cfg.port = (int)v;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'i':
			cfg.iface = optarg;
			break;
		case 'c':
			cfg.tls_cert = optarg;
			break;
		case 'k':
			cfg.tls_key = optarg;
			break;
		case 'm':
			if (parse_u64(optarg, "--max-profile-bytes", 1024, 1ULL << 32, &v))
				goto cleanup;
			cfg.max_profile_bytes = v;
			break;
		case 'b':
			if (parse_u64(optarg, "--heartbeat-ms", 100, 3600000, &v))
				goto cleanup;
			cfg.heartbeat_ms = (uint32_t)v;
			break;
		case 'a':
			if (load_attach(optarg, &d.attach))
				goto cleanup;
			break;
		case 'd':
			d.profile_dir = optarg;
			break;
		case 'P':
			if (parse_u64(optarg, "--max-pending", 1, 65536, &v))
				goto cleanup;
			cfg.max_pending = (unsigned)v;
			break;
		case 'A':
			if (parse_u64(optarg, "--max-pending-per-addr", 1, 65536, &v))
				goto cleanup;
			cfg.max_pending_per_addr = (unsigned)v;
			break;
		case 'w':
			if (parse_u64(optarg, "--windows", 1, 1000, &v))
				goto cleanup;
			d.windows = (unsigned)v;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			fputs(usage, stdout);
			rc = 0;
			goto cleanup;
		default:
			fputs(usage, stderr);
			goto cleanup;
		}
	}
	if (!cfg.port || !token_file || optind != argc) {
		fputs(usage, stderr);
		goto cleanup;
	}
	if (d.attach.type == PROTO_ATTACH)
		snprintf(d.base_job, sizeof(d.base_job), "%s", d.attach.u.attach.job_id);
	rc = 1;
	if (hub_token_file_load(token_file, &tf))
		goto cleanup;
	cfg.auth = hub_token_file_auth;
	cfg.auth_ctx = tf;
	cbs.ctx = &d;
	cbs.on_worker_connected = ev_connected;
	cbs.on_worker_disconnected = ev_disconnected;
	cbs.on_progress = ev_progress;
	cbs.on_profile = ev_profile;
	cbs.on_error = ev_error;
	cbs.on_worker_refused = ev_refused;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (hub_new(&cfg, &cbs, &d.hub))
		goto cleanup;
	printf("event listening port=%d\n", cfg.port);
	fflush(stdout);
	/* poll() returns EINTR on a signal, so the flag is seen promptly. */
	while (!stop) {
		if (hub_service(d.hub) < 0)
			goto cleanup;
	}
	log_info(MOD, "stopping");
	rc = 0;
cleanup:
	hub_free(d.hub);
	hub_token_file_free(tf);
	proto_msg_free(&d.attach);
	return rc;
}
