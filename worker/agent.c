/* SPDX-License-Identifier: Apache-2.0 */
/* agent.c -- the worker's libwebsockets client: dial, hello, heartbeat,
 * reconnect with backoff, route attach/detach to agent_jobs, send results.
 */
#include "agent.h"
#include "debuginfo.h"
#include "caps.h"
#include "kfeatures.h"
#include "sampler.h"
#include "wsq.h"
#include "agent_jobs.h"
#include "log.h"
#include "parse.h"
#include "proto.h"
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef PODPROF_VERSION
#define PODPROF_VERSION "dev"
#endif

#define MOD		"agent"
#define URL_MAX		512
#define TOKEN_FILE_MAX	PROTO_MAX_TOKEN_LEN
#define WELCOME_TIMEOUT 10 /* seconds from upgrade to welcome */
#define TICK_US		(1000 * LWS_US_PER_MS)
#define WAKE_PROTOCOL	"podprof-process-events"

/* Reconnect delays; lws adds up to 30 % jitter so that workers restarted
 * together do not dial the operator in lock step. */
static const uint32_t backoff_ms[] = {250, 500, 1000, 2000, 4000, 8000, 15000, 30000};
static const lws_retry_bo_t retry_policy = {
    .retry_ms_table = backoff_ms,
    .retry_ms_table_count = LWS_ARRAY_SIZE(backoff_ms),
    .conceal_count = LWS_RETRY_CONCEAL_ALWAYS,
    .jitter_percent = 30,
};

struct agent {
	struct agent_config cfg;
	struct lws_context *ctx;
	struct lws *wsi;
	struct agent_jobs *jobs;
	char url[URL_MAX]; /* lws_parse_uri cuts this into the fields below */
	const char *host;
	char path[URL_MAX + 1];
	int port;
	bool tls;
	char *token; /* re-read per connect; wiped on replace */
	lws_sorted_usec_list_t sul_connect, sul_heartbeat, sul_tick;
	/* The sampler's process-event fd, adopted into the lws loop (a dup:
	 * lws closes what it adopts) so the unwinder learns new processes the
	 * moment BPF meets them, with no timer waking an idle worker. */
	struct lws *wake_wsi;
	uint64_t wake_load; /* the engine load whose fd was last tried */
	bool wake_tried;    /* ... so a refused fd is not retried (and logged) each tick */
	uint16_t retries;
	bool welcomed;
	uint32_t heartbeat_ms;
	uint64_t hb_seq;
	struct wsq q; /* outbound messages, written from WRITEABLE */
	unsigned char *rx;
	size_t rx_len;
	volatile sig_atomic_t stop;
};

/* ---- outbound queue ------------------------------------------------------------ */

/* Queue hdr+data as one message; the caller checked the link. */
static int enqueue(struct agent *ag, const void *hdr, size_t hlen, const void *data, size_t len,
		   bool binary)
{
	int err = wsq_push(&ag->q, hdr, hlen, data, len, binary);

	if (!err)
		lws_callback_on_writable(ag->wsi);
	return err;
}

static int send_msg_raw(struct agent *ag, const struct proto_msg *m)
{
	struct proto_err err;
	char *txt = NULL;
	size_t len;
	int rc;

	if (!ag->wsi)
		return -ENOTCONN;
	rc = proto_encode(m, &txt, &len, &err);
	if (rc) {
		log_error(MOD, "not sending invalid %s: %s at '%s'", proto_type_str(m->type),
			  proto_status_str(err.status), err.field);
		return rc;
	}
	rc = enqueue(ag, NULL, 0, txt, len, false);
	free(txt);
	return rc;
}

/* Sink for agent_jobs: only after welcome (the operator knows who we are). */
static int sink_send_msg(void *ctx, const struct proto_msg *m)
{
	struct agent *ag = ctx;

	if (!ag->welcomed)
		return -ENOTCONN;
	return send_msg_raw(ag, m);
}

static int sink_send_profile(void *ctx, const char *job_id, bool final, const void *gz, size_t len)
{
	struct agent *ag = ctx;
	uint8_t hdr[PROTO_PROFILE_HEADER_MAX];
	int hl;

	if (!ag->welcomed || !ag->wsi)
		return -ENOTCONN;
	hl = proto_profile_header_encode(hdr, sizeof(hdr), job_id, final ? PROTO_PROFILE_FINAL : 0);
	if (hl < 0)
		return hl;
	log_info(MOD, "sending profile for job %s (%zu bytes)", job_id, len);
	return enqueue(ag, hdr, (size_t)hl, gz, len, true);
}

static int write_some(struct agent *ag)
{
	return wsq_write(&ag->q, ag->wsi) < 0 ? -1 : 0;
}

/* ---- connection lifecycle ----------------------------------------------------------- */

static int load_token(struct agent *ag)
{
	void *data = NULL;
	char *buf;
	size_t len = 0, n;

	if (read_file_capped(ag->cfg.token_file, TOKEN_FILE_MAX, &data, &n) || n == 0) {
		log_error(MOD, "cannot read token file %s (missing, empty or over %d bytes)",
			  ag->cfg.token_file, TOKEN_FILE_MAX);
		if (data)
			explicit_bzero(data, n);
		free(data);
		return -EINVAL;
	}
	buf = data;
	len = strcspn(buf, "\r\n");
	while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	explicit_bzero(buf + len, n - len); /* wipe what follows the token line */
	if (ag->token) {
		explicit_bzero(ag->token, strlen(ag->token));
		free(ag->token);
	}
	ag->token = len ? buf : NULL; /* the file's buffer, handed over */
	if (!len)
		free(buf);
	return ag->token ? 0 : -EINVAL;
}

static void connect_cb(lws_sorted_usec_list_t *sul);

static void schedule_reconnect(struct agent *ag)
{
	if (ag->stop)
		return;
	lws_retry_sul_schedule(ag->ctx, 0, &ag->sul_connect, &retry_policy, connect_cb,
			       &ag->retries);
}

static void connect_cb(lws_sorted_usec_list_t *sul)
{
	struct agent *ag = lws_container_of(sul, struct agent, sul_connect);
	struct lws_client_connect_info i;

	if (ag->wsi || ag->stop)
		return;
	if (load_token(ag)) {
		schedule_reconnect(ag);
		return;
	}
	memset(&i, 0, sizeof(i));
	i.context = ag->ctx;
	i.address = ag->host;
	i.port = ag->port;
	i.path = ag->path;
	i.host = ag->host;
	i.origin = ag->host;
	i.protocol = PROTO_SUBPROTOCOL;
	i.local_protocol_name = PROTO_SUBPROTOCOL;
	i.retry_and_idle_policy = &retry_policy;
	i.pwsi = &ag->wsi;
	if (ag->tls) {
		i.ssl_connection = LCCSCF_USE_SSL;
		if (ag->cfg.insecure)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_INSECURE |
					    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					    LCCSCF_ALLOW_EXPIRED;
	}
	log_debug(MOD, "dialing %s://%s:%d%s (attempt %u)", ag->tls ? "wss" : "ws", ag->host,
		  ag->port, ag->path, ag->retries + 1);
	if (!lws_client_connect_via_info(&i)) {
		ag->wsi = NULL;
		schedule_reconnect(ag);
	}
}

static void heartbeat_cb(lws_sorted_usec_list_t *sul)
{
	struct agent *ag = lws_container_of(sul, struct agent, sul_heartbeat);
	struct proto_msg m = {.type = PROTO_HEARTBEAT};

	if (!ag->wsi || !ag->welcomed)
		return;
	m.u.heartbeat.seq = ++ag->hb_seq;
	send_msg_raw(ag, &m);
	lws_sul_schedule(ag->ctx, 0, &ag->sul_heartbeat, heartbeat_cb,
			 (lws_usec_t)ag->heartbeat_ms * LWS_US_PER_MS);
}

/* Liveness for the kubelet: the event loop rewrites this file every tick with
 * "linked" or "waiting" (operator link up or not). A loop stuck in a drain
 * leaves it stale, and the exec probe (--check-health / --check-ready, below)
 * fails. A file, not an HTTP port: the worker listens on nothing. NULL = off. */
#define HEALTH_MAX_AGE_S 30
static const char *health_file;

static void health_touch(const struct agent *ag)
{
	const char *state = ag->welcomed ? "linked\n" : "waiting\n";
	int fd;

	if (!health_file)
		return;
	fd = open(health_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return;
	if (write(fd, state, strlen(state)) < 0)
		log_debug(MOD, "health file %s: %s", health_file, strerror(errno));
	close(fd);
}

/* Probe mode: 0 when path was written in the last HEALTH_MAX_AGE_S seconds
 * (and, with need_link, says "linked"); 1 otherwise, with the reason. */
static int health_check(const char *path, bool need_link)
{
	struct timespec now;
	struct stat st;
	char buf[16] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &st) < 0 || read(fd, buf, sizeof(buf) - 1) < 0) {
		fprintf(stderr, "podprof-worker: health file %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec - st.st_mtim.tv_sec > HEALTH_MAX_AGE_S) {
		fprintf(stderr, "podprof-worker: event loop stalled (health file %lds old)\n",
			(long)(now.tv_sec - st.st_mtim.tv_sec));
		return 1;
	}
	if (need_link && strcmp(buf, "linked\n") != 0) {
		fprintf(stderr, "podprof-worker: not connected to the operator\n");
		return 1;
	}
	return 0;
}

/* Watch the fd of the BPF object loaded now, if it is not the one watched:
 * the engine loads on the first job and unloads when idle, so this runs
 * after every message and tick. Without the fd (adoption failed) new
 * processes are still learned by the once-a-second tick. */
static void wake_sync(struct agent *ag)
{
	uint64_t load;
	int fd = agent_jobs_events_fd(ag->jobs, &load), dfd;
	lws_sock_file_fd_type u;

	if (ag->wake_wsi && (fd < 0 || load != ag->wake_load)) {
		struct lws *w = ag->wake_wsi;

		ag->wake_wsi = NULL;
		lws_set_timeout(w, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
	}
	if (fd < 0 || ag->wake_wsi || (ag->wake_tried && load == ag->wake_load))
		return;
	ag->wake_tried = true;
	ag->wake_load = load;
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		log_warn(MOD, "process events: dup: %s", strerror(errno));
		return;
	}
	u.filefd = (lws_filefd_type)(intptr_t)dfd;
	ag->wake_wsi = lws_adopt_descriptor_vhost(lws_get_vhost_by_name(ag->ctx, "default"),
						  LWS_ADOPT_RAW_FILE_DESC, u, WAKE_PROTOCOL, NULL);
	if (!ag->wake_wsi)
		/* lws closed dfd already on this path. */
		log_warn(MOD, "process events: not watched (lws refused the fd); new processes "
			      "are learned once a second");
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct agent *ag = lws_container_of(sul, struct agent, sul_tick);

	health_touch(ag);
	agent_jobs_unwind_tick(ag->jobs);
	agent_jobs_tick(ag->jobs);
	wake_sync(ag);
	lws_sul_schedule(ag->ctx, 0, &ag->sul_tick, tick_cb,
			 (lws_usec_t)agent_jobs_next_due_ms(ag->jobs, TICK_US / LWS_US_PER_MS) *
			     LWS_US_PER_MS);
}

static int wake_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			 size_t len)
{
	struct agent *ag = lws_context_user(lws_get_context(wsi));

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		agent_jobs_unwind_tick(ag->jobs);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (ag->wake_wsi == wsi)
			ag->wake_wsi = NULL;
		return 0;
	default:
		return 0;
	}
}

static void link_down(struct agent *ag, const char *why)
{
	if (ag->stop)
		log_debug(MOD, "operator link closed: %s", why);
	else if (ag->welcomed)
		log_warn(MOD, "lost the operator link: %s; reconnecting", why);
	else
		log_warn(MOD, "cannot reach the operator at %s:%d: %s; retrying", ag->host,
			 ag->port, why);
	ag->wsi = NULL;
	ag->welcomed = false;
	lws_sul_cancel(&ag->sul_heartbeat);
	wsq_clear(&ag->q);
	free(ag->rx);
	ag->rx = NULL;
	ag->rx_len = 0;
	schedule_reconnect(ag);
}

/* ---- inbound ------------------------------------------------------------------------- */

static void silence_timeout(struct agent *ag)
{
	int secs = (int)((3ULL * ag->heartbeat_ms + 999) / 1000);

	lws_set_timeout(ag->wsi, PENDING_TIMEOUT_USER_OK, secs < 2 ? 2 : secs);
}

static int refuse(struct agent *ag, enum lws_close_status code, const char *why)
{
	log_error(MOD, "closing operator link: %s", why);
	lws_close_reason(ag->wsi, code, (unsigned char *)why, strlen(why));
	return -1;
}

static int handle_message(struct agent *ag)
{
	struct proto_msg m;
	struct proto_err err;
	char why[128];
	int rc = 0;

	if (proto_decode((const char *)ag->rx, ag->rx_len, &m, &err)) {
		snprintf(why, sizeof(why), "invalid message from operator: %s%s%s",
			 proto_status_str(err.status), err.field[0] ? " at " : "", err.field);
		return refuse(ag, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
	}
	if (!ag->welcomed && m.type != PROTO_WELCOME && m.type != PROTO_ERROR) {
		snprintf(why, sizeof(why), "%s before welcome", proto_type_str(m.type));
		rc = refuse(ag, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
		goto cleanup;
	}
	switch (m.type) {
	case PROTO_WELCOME:
		ag->welcomed = true;
		ag->retries = 0;
		ag->heartbeat_ms = m.u.welcome.heartbeat_ms;
		agent_jobs_set_max_profile(ag->jobs, m.u.welcome.max_profile_bytes);
		log_info(MOD, "connected to operator %s as node %s (heartbeat %u ms)",
			 m.u.welcome.version, ag->cfg.node, ag->heartbeat_ms);
		lws_sul_schedule(ag->ctx, 0, &ag->sul_heartbeat, heartbeat_cb,
				 (lws_usec_t)ag->heartbeat_ms * LWS_US_PER_MS);
		agent_jobs_flush(ag->jobs);
		break;
	case PROTO_ATTACH:
		agent_jobs_attach(ag->jobs, &m.u.attach);
		wake_sync(ag);
		break;
	case PROTO_DETACH:
		if (agent_jobs_detach(ag->jobs, m.u.detach.job_id) == -ENOENT)
			log_info(MOD, "detach of unknown job %s ignored", m.u.detach.job_id);
		break;
	case PROTO_HEARTBEAT:
		break;
	case PROTO_ERROR:
		log_warn(MOD, "operator reports %s%s%s: %s", m.u.error.code,
			 m.u.error.job_id[0] ? " for job " : "", m.u.error.job_id,
			 m.u.error.message);
		break;
	default:
		snprintf(why, sizeof(why), "%s is a worker-to-operator message",
			 proto_type_str(m.type));
		rc = refuse(ag, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
		break;
	}
	if (ag->wsi && ag->welcomed)
		silence_timeout(ag);
cleanup:
	proto_msg_free(&m);
	return rc;
}

static int receive(struct agent *ag, const void *in, size_t len)
{
	size_t remaining = lws_remaining_packet_payload(ag->wsi);

	if (lws_is_first_fragment(ag->wsi)) {
		ag->rx_len = 0;
		if (lws_frame_is_binary(ag->wsi))
			return refuse(ag, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
				      "binary message from operator");
	}
	if (ag->rx_len + len + remaining > PROTO_MAX_TEXT_FRAME)
		return refuse(ag, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message over the size cap");
	if (!ag->rx) {
		/* The cap is small: one buffer of the full size avoids regrowing. */
		ag->rx = malloc(PROTO_MAX_TEXT_FRAME);
		if (!ag->rx)
			return refuse(ag, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
	}
	memcpy(ag->rx + ag->rx_len, in, len);
	ag->rx_len += len;
	if (!lws_is_final_fragment(ag->wsi))
		return 0;
	return handle_message(ag);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct agent *ag = lws_context_user(lws_get_context(wsi));
	struct proto_msg hello = {.type = PROTO_HELLO};
	char bearer[PROTO_MAX_TOKEN_LEN + 16];
	unsigned char **p, *end;
	int n;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (!ag->token)
			return -1;
		p = (unsigned char **)in;
		end = *p + len;
		n = snprintf(bearer, sizeof(bearer), "Bearer %s", ag->token);
		if (n < 0 || (size_t)n >= sizeof(bearer) ||
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
						 (unsigned char *)bearer, n, p, end)) {
			explicit_bzero(bearer, sizeof(bearer));
			return -1;
		}
		explicit_bzero(bearer, sizeof(bearer));
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		ag->welcomed = false;
		snprintf(hello.u.hello.node, sizeof(hello.u.hello.node), "%s", ag->cfg.node);
		snprintf(hello.u.hello.version, sizeof(hello.u.hello.version), "%s",
			 PODPROF_VERSION);
		snprintf(hello.u.hello.caps[0], sizeof(hello.u.hello.caps[0]), "kernel-stacks");
		snprintf(hello.u.hello.caps[1], sizeof(hello.u.hello.caps[1]), "cgroup-v2");
		hello.u.hello.n_caps = 2;
		if (send_msg_raw(ag, &hello))
			return -1;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, WELCOME_TIMEOUT);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return receive(ag, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return write_some(ag);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (in && len >= 2)
			log_warn(
			    MOD, "operator closed the link: code %u %.*s",
			    (unsigned)(((unsigned char *)in)[0] << 8 | ((unsigned char *)in)[1]),
			    (int)(len - 2), (const char *)in + 2);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		link_down(ag, in ? (const char *)in : "connection failed");
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		link_down(ag, "closed");
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
    {PROTO_SUBPROTOCOL, callback, 0, 64 * 1024, 0, NULL, 0},
    {WAKE_PROTOCOL, wake_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- public API ------------------------------------------------------------------------ */

static int parse_url(struct agent *ag)
{
	const char *prot = NULL, *path = NULL;

	if (strlen(ag->cfg.operator_url) >= sizeof(ag->url))
		return -EINVAL;
	snprintf(ag->url, sizeof(ag->url), "%s", ag->cfg.operator_url);
	if (lws_parse_uri(ag->url, &prot, &ag->host, &ag->port, &path))
		return -EINVAL;
	if (strcmp(prot, "ws") == 0)
		ag->tls = false;
	else if (strcmp(prot, "wss") == 0)
		ag->tls = true;
	else
		return -EINVAL;
	if (!ag->host[0] || ag->port <= 0 || ag->port > 65535)
		return -EINVAL;
	/* lws_parse_uri drops the leading '/' of the path. */
	snprintf(ag->path, sizeof(ag->path), "%s%s", path && path[0] == '/' ? "" : "/",
		 path ? path : "");
	return 0;
}

int agent_new(const struct agent_config *cfg, struct agent **out)
{
	struct lws_context_creation_info info;
	struct agent_jobs_config jc = {0};
	struct agent_jobs_sink sink = {0};
	struct agent *ag;
	size_t nl;
	int err;

	*out = NULL;
	nl = cfg->node ? strlen(cfg->node) : 0;
	if (!cfg->operator_url || !cfg->token_file || nl == 0 || nl > PROTO_MAX_NODE_LEN)
		return -EINVAL;
	ag = calloc(1, sizeof(*ag));
	if (!ag)
		return -ENOMEM;
	ag->cfg = *cfg;
	ag->heartbeat_ms = 5000;
	wsq_init(&ag->q, 2 * (size_t)PROTO_PROFILE_MAX_DEFAULT + (1u << 20));
	err = parse_url(ag);
	if (err) {
		log_error(MOD, "bad operator URL '%s' (want ws://HOST:PORT or wss://HOST:PORT)",
			  cfg->operator_url);
		goto cleanup;
	}
	jc.node = cfg->node;
	jc.cgroup_root = cfg->cgroup_root;
	jc.proc_root = cfg->proc_root;
	jc.debug_dirs = cfg->debug_dirs;
	jc.n_debug_dirs = cfg->n_debug_dirs;
	jc.symbol_cache_bytes = cfg->symbol_cache_bytes;
	jc.unload_after_ms = cfg->unload_after_ms;
	sink.ctx = ag;
	sink.send_msg = sink_send_msg;
	sink.send_profile = sink_send_profile;
	err = agent_jobs_new(&jc, &sink, &ag->jobs);
	if (err)
		goto cleanup;

	lws_set_log_level(log_get_level() >= LOG_LVL_DEBUG ? LLL_ERR | LLL_WARN | LLL_NOTICE
							   : LLL_ERR,
			  wsq_lws_log);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = ag;
	/* The handshake carries the bearer token: room for a long JWT. */
	info.pt_serv_buf_size = PROTO_MAX_TOKEN_LEN + 8192;
	if (ag->tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.client_ssl_ca_filepath = cfg->ca_file;
	}
	ag->ctx = lws_create_context(&info);
	if (!ag->ctx) {
		err = -ENOMEM;
		goto cleanup;
	}
	*out = ag;
	return 0;
cleanup:
	agent_free(ag);
	return err;
}

int agent_run(struct agent *ag)
{
	log_info(MOD, "node %s: operator %s://%s:%d%s", ag->cfg.node, ag->tls ? "wss" : "ws",
		 ag->host, ag->port, ag->path);
	lws_sul_schedule(ag->ctx, 0, &ag->sul_connect, connect_cb, 1);
	lws_sul_schedule(ag->ctx, 0, &ag->sul_tick, tick_cb, TICK_US);
	while (!ag->stop) {
		if (lws_service(ag->ctx, 0) < 0)
			return -EIO;
	}
	return 0;
}

void agent_stop(struct agent *ag)
{
	if (!ag)
		return;
	ag->stop = 1;
	if (ag->ctx)
		lws_cancel_service(ag->ctx);
}

void agent_free(struct agent *ag)
{
	if (!ag)
		return;
	ag->stop = 1;
	/* Jobs first: they may still try to send through the sink. */
	agent_jobs_free(ag->jobs);
	ag->jobs = NULL;
	if (ag->ctx) {
		lws_sul_cancel(&ag->sul_connect);
		lws_sul_cancel(&ag->sul_heartbeat);
		lws_sul_cancel(&ag->sul_tick);
		lws_context_destroy(ag->ctx);
	}
	wsq_clear(&ag->q);
	free(ag->rx);
	if (ag->token) {
		explicit_bzero(ag->token, strlen(ag->token));
		free(ag->token);
	}
	free(ag);
}

/* ---- command line ----------------------------------------------------------------------- */

static struct agent *running_agent;

static void on_signal(int sig)
{
	(void)sig;
	agent_stop(running_agent);
}

static const char usage[] =
    "usage: podprof-worker agent --operator ws://HOST:PORT --node NAME --token-file F\n"
    "         [--ca-file F] [--insecure] [--cgroup-root DIR] [--proc-root DIR]\n"
    "         [--health-file F] [--debug-dir DIR]... [--symbol-cache-mb N]\n"
    "         [--unload-after SECONDS] [-v]\n"
    "       podprof-worker agent --check-health F | --check-ready F   (kubelet probes)\n"
    "  --unload-after S  keep BPF loaded (no perf event attached) S seconds after\n"
    "                    the last job, so the next window skips the verifier\n"
    "                    (0..3600, default 60; 0 = unload at once)\n"
    "  env fallbacks: PODPROF_OPERATOR_URL, NODE_NAME, PODPROF_TOKEN_FILE\n"
    "example:\n"
    "  podprof-worker agent --operator ws://127.0.0.1:8443 --node node-a \\\n"
    "      --token-file /var/run/secrets/podprof/token\n";

int agent_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"operator", required_argument, NULL, 'o'},
	    {"node", required_argument, NULL, 'n'},
	    {"token-file", required_argument, NULL, 't'},
	    {"ca-file", required_argument, NULL, 'c'},
	    {"insecure", no_argument, NULL, 'k'},
	    {"cgroup-root", required_argument, NULL, 'g'},
	    {"proc-root", required_argument, NULL, 'p'},
	    {"health-file", required_argument, NULL, 'H'},
	    {"check-health", required_argument, NULL, 'L'},
	    {"check-ready", required_argument, NULL, 'R'},
	    {"debug-dir", required_argument, NULL, 'D'},
	    {"symbol-cache-mb", required_argument, NULL, 'S'},
	    {"unload-after", required_argument, NULL, 'U'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct agent_config cfg = {
	    .operator_url = getenv("PODPROF_OPERATOR_URL"),
	    .node = getenv("NODE_NAME"),
	    .token_file = getenv("PODPROF_TOKEN_FILE"),
	    .unload_after_ms = 60000,
	};
	const char *debug_dirs[DEBUGINFO_MAX_DIRS];
	unsigned long val;
	struct agent *ag = NULL;
	struct sigaction sa;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			cfg.operator_url = optarg;
			break;
		case 'n':
			cfg.node = optarg;
			break;
		case 't':
			cfg.token_file = optarg;
			break;
		case 'c':
			cfg.ca_file = optarg;
			break;
		case 'k':
			cfg.insecure = true;
			break;
		case 'g':
			cfg.cgroup_root = optarg;
			break;
		case 'p':
			cfg.proc_root = optarg;
			break;
		case 'H':
			health_file = optarg;
			break;
		case 'L':
		case 'R':
			return health_check(optarg, c == 'R');
		case 'D':
			if (cfg.n_debug_dirs == DEBUGINFO_MAX_DIRS) {
				fprintf(stderr, "podprof-worker agent: at most %d --debug-dir\n",
					DEBUGINFO_MAX_DIRS);
				return 2;
			}
			debug_dirs[cfg.n_debug_dirs++] = optarg;
			cfg.debug_dirs = debug_dirs;
			break;
		case 'S':
			if (parse_ulong_range(optarg, 16, 4096, &val)) {
				fprintf(stderr,
					"podprof-worker agent: invalid --symbol-cache-mb '%s' "
					"(16..4096)\n",
					optarg);
				return 2;
			}
			cfg.symbol_cache_bytes = (uint64_t)val << 20;
			break;
		case 'U':
			if (parse_ulong_range(optarg, 0, 3600, &val)) {
				fprintf(stderr,
					"podprof-worker agent: invalid --unload-after '%s' "
					"(0..3600 seconds)\n",
					optarg);
				return 2;
			}
			cfg.unload_after_ms = (uint32_t)val * 1000;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc || !cfg.operator_url || !cfg.node || !cfg.token_file) {
		fprintf(stderr, "podprof-worker agent: --operator, --node and --token-file are "
				"required\n");
		fputs(usage, stderr);
		return 2;
	}
	rc = agent_new(&cfg, &ag);
	if (rc) {
		fprintf(stderr, "podprof-worker agent: cannot start: %s\n", strerror(-rc));
		return rc == -EINVAL ? 2 : 1;
	}
	/* Fail at start, not at the first attach, when this node cannot sample;
	 * then keep only the capabilities sampling needs (docs/worker.md). */
	rc = sampler_check_system();
	if (!rc)
		rc = caps_check_sampling();
	if (!rc)
		rc = kfeatures_check_sampler(); /* one line naming what an old kernel lacks */
	if (!rc)
		rc = caps_drop_to_worker_set();
	if (rc) {
		log_error(MOD, "cannot sample on this node: %s", strerror(-rc));
		agent_free(ag);
		return 1;
	}
	running_agent = ag;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = agent_run(ag);
	running_agent = NULL;
	agent_free(ag);
	log_info(MOD, "stopped");
	return rc ? 1 : 0;
}
