/* SPDX-License-Identifier: Apache-2.0 */
/* hub_http.c -- the hub's HTTP side: upgrade vetting (bearer token -> 401),
 * GET /healthz, /readyz, /metrics and read-only /profiles/ on the same port
 * as the worker link.
 */
#include "hub_int.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MOD "hub"

/* ---- metrics ------------------------------------------------------------------ */

struct wbuf {
	char *p;
	size_t cap, len;
	bool full;
};

static void wb_printf(struct wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void wb_printf(struct wbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->full = true;
		return;
	}
	b->len += (size_t)n;
}

/* Per-worker series from the figures its progress messages carry. */
struct worker_metric {
	const char *name, *type, *help;
	bool unwind; /* from hub_worker_info.unwind, else .symbols */
	size_t off;  /* of the uint64_t in struct proto_unwind / proto_symbols */
};

static const struct worker_metric worker_metrics[] = {
    {"podprof_worker_symbol_cache_binaries", "gauge", "Binaries held in the worker's symbol cache.",
     false, offsetof(struct proto_symbols, binaries)},
    {"podprof_worker_symbol_cache_bytes", "gauge", "Bytes held by the worker's symbol cache.",
     false, offsetof(struct proto_symbols, bytes)},
    {"podprof_worker_symbol_cache_max_bytes", "gauge", "Budget of the worker's symbol cache.",
     false, offsetof(struct proto_symbols, max_bytes)},
    {"podprof_worker_symbol_cache_hits_total", "counter",
     "Symbol lookups answered from the worker's cache.", false,
     offsetof(struct proto_symbols, hits)},
    {"podprof_worker_symbol_cache_misses_total", "counter", "Symbol lookups that loaded a binary.",
     false, offsetof(struct proto_symbols, misses)},
    {"podprof_worker_symbol_cache_evictions_total", "counter",
     "Binaries evicted from the worker's symbol cache.", false,
     offsetof(struct proto_symbols, evictions)},
    {"podprof_worker_unwind_tables", "gauge", "Unwind tables loaded in the worker's kernel maps.",
     true, offsetof(struct proto_unwind, tables)},
    {"podprof_worker_unwind_rows", "gauge", "Rows the loaded unwind tables occupy.", true,
     offsetof(struct proto_unwind, rows)},
    {"podprof_worker_unwind_rows_capacity", "gauge", "Rows the worker's kernel array holds.", true,
     offsetof(struct proto_unwind, rows_capacity)},
    {"podprof_worker_unwind_table_evictions_total", "counter",
     "Unwind tables evicted to make room.", true, offsetof(struct proto_unwind, evictions)},
};

struct worker_metric_ctx {
	struct wbuf *b;
	const struct worker_metric *m;
};

static void worker_metric_line(void *ctx, const struct hub_worker_info *w)
{
	struct worker_metric_ctx *c = ctx;
	const void *src = c->m->unwind ? (const void *)w->unwind : (const void *)w->symbols;
	bool present = c->m->unwind ? w->unwind->present : w->symbols->present;

	/* Node names are DNS-1123 (checked at hello): no label escaping needed. */
	if (present)
		wb_printf(c->b, "%s{node=\"%s\"} %llu\n", c->m->name, w->node,
			  (unsigned long long)*(const uint64_t *)((const char *)src + c->m->off));
}

static void worker_metrics_write(struct hub *hub, struct wbuf *b)
{
	for (size_t i = 0; i < sizeof(worker_metrics) / sizeof(worker_metrics[0]); i++) {
		struct worker_metric_ctx c = {b, &worker_metrics[i]};

		wb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", c.m->name, c.m->help, c.m->name,
			  c.m->type);
		hub_foreach_worker(hub, worker_metric_line, &c);
	}
}

int hub_metrics_write(struct hub *hub, char *buf, size_t cap)
{
	struct wbuf b = {buf, cap, 0, false};
	const struct hub_counters *c = &hub->c;

	if (!cap)
		return -ENOSPC;
	buf[0] = '\0';
	wb_printf(&b,
		  "# HELP podprof_hub_connected_workers Workers connected and registered.\n"
		  "# TYPE podprof_hub_connected_workers gauge\n"
		  "podprof_hub_connected_workers %u\n",
		  hub_worker_count(hub));
	wb_printf(&b,
		  "# HELP podprof_hub_sessions WebSocket sessions open (incl. before hello).\n"
		  "# TYPE podprof_hub_sessions gauge\n"
		  "podprof_hub_sessions %u\n",
		  hub->n_sessions);
	wb_printf(
	    &b,
	    "# HELP podprof_hub_pending_sessions WebSocket sessions before hello.\n"
	    "# TYPE podprof_hub_pending_sessions gauge\n"
	    "podprof_hub_pending_sessions %u\n"
	    "# HELP podprof_hub_rx_buffer_bytes Bytes held for inbound messages, all sessions.\n"
	    "# TYPE podprof_hub_rx_buffer_bytes gauge\n"
	    "podprof_hub_rx_buffer_bytes %llu\n",
	    hub->n_pending, (unsigned long long)hub->rx_total);
	wb_printf(&b,
		  "# HELP podprof_hub_limited_total Connections and messages refused by a hub "
		  "limit, by limit.\n"
		  "# TYPE podprof_hub_limited_total counter\n"
		  "podprof_hub_limited_total{limit=\"pending_evicted\"} %llu\n"
		  "podprof_hub_limited_total{limit=\"pending_per_address\"} %llu\n"
		  "podprof_hub_limited_total{limit=\"rx_buffers\"} %llu\n"
		  "podprof_hub_limited_total{limit=\"auth_rate\"} %llu\n"
		  "podprof_hub_limited_total{limit=\"auth_queue\"} %llu\n"
		  "podprof_hub_limited_total{limit=\"node_binding\"} %llu\n"
		  "podprof_hub_limited_total{limit=\"profile_reads\"} %llu\n",
		  (unsigned long long)c->pending_evicted, (unsigned long long)c->pending_refused,
		  (unsigned long long)c->rx_busy, (unsigned long long)c->auth_rate_limited,
		  (unsigned long long)c->auth_queue_full, (unsigned long long)c->node_mismatch,
		  (unsigned long long)c->reads_busy);
	wb_printf(&b,
		  "# HELP podprof_hub_profile_reads_total GET /profiles/ reads started.\n"
		  "# TYPE podprof_hub_profile_reads_total counter\n"
		  "podprof_hub_profile_reads_total %llu\n"
		  "# HELP podprof_hub_profile_reads_pending Reads queued or running on the read "
		  "threads.\n"
		  "# TYPE podprof_hub_profile_reads_pending gauge\n"
		  "podprof_hub_profile_reads_pending %u\n",
		  (unsigned long long)c->reads,
		  hub->reads.inited ? hub_pool_queued(&hub->reads) : 0u);
	wb_printf(&b,
		  "# HELP podprof_hub_auth_checks_pending Token checks queued or running.\n"
		  "# TYPE podprof_hub_auth_checks_pending gauge\n"
		  "podprof_hub_auth_checks_pending %u\n",
		  hub->authq ? hub_authq_pending(hub->authq) : 0);
	wb_printf(&b,
		  "# HELP podprof_hub_auth_checks_total Token checks run (cache misses).\n"
		  "# TYPE podprof_hub_auth_checks_total counter\n"
		  "podprof_hub_auth_checks_total %llu\n"
		  "# HELP podprof_hub_auth_cache_hits_total Token verdicts taken from the cache.\n"
		  "# TYPE podprof_hub_auth_cache_hits_total counter\n"
		  "podprof_hub_auth_cache_hits_total %llu\n",
		  (unsigned long long)c->auth_checks, (unsigned long long)c->auth_cache_hits);
	wb_printf(&b,
		  "# HELP podprof_hub_connections_total WebSocket upgrades accepted.\n"
		  "# TYPE podprof_hub_connections_total counter\n"
		  "podprof_hub_connections_total %llu\n",
		  (unsigned long long)c->connections);
	wb_printf(&b,
		  "# HELP podprof_hub_hellos_total Workers that completed hello.\n"
		  "# TYPE podprof_hub_hellos_total counter\n"
		  "podprof_hub_hellos_total %llu\n",
		  (unsigned long long)c->hellos);
	wb_printf(&b,
		  "# HELP podprof_hub_auth_failures_total Bearer tokens refused.\n"
		  "# TYPE podprof_hub_auth_failures_total counter\n"
		  "podprof_hub_auth_failures_total %llu\n",
		  (unsigned long long)c->auth_failures);
	wb_printf(&b, "# HELP podprof_hub_refused_messages_total Inbound messages refused, "
		      "by reason (the connection is dropped).\n"
		      "# TYPE podprof_hub_refused_messages_total counter\n");
	for (int s = PROTO_E_TOO_BIG; s <= PROTO_E_BAD_HEADER; s++)
		wb_printf(&b, "podprof_hub_refused_messages_total{reason=\"%s\"} %llu\n",
			  proto_status_str((enum proto_status)s),
			  (unsigned long long)c->refused[s]);
	wb_printf(&b, "podprof_hub_refused_messages_total{reason=\"policy\"} %llu\n",
		  (unsigned long long)c->refused_other);
	wb_printf(&b, "# HELP podprof_hub_messages_received_total Valid control messages.\n"
		      "# TYPE podprof_hub_messages_received_total counter\n");
	for (int t = PROTO_HELLO; t <= PROTO_HEARTBEAT; t++)
		wb_printf(&b, "podprof_hub_messages_received_total{type=\"%s\"} %llu\n",
			  proto_type_str((enum proto_type)t),
			  (unsigned long long)c->rx_messages[t]);
	wb_printf(&b,
		  "# HELP podprof_hub_messages_sent_total Messages written to workers.\n"
		  "# TYPE podprof_hub_messages_sent_total counter\n"
		  "podprof_hub_messages_sent_total %llu\n",
		  (unsigned long long)c->tx_messages);
	wb_printf(&b,
		  "# HELP podprof_hub_profiles_received_total Binary profile messages.\n"
		  "# TYPE podprof_hub_profiles_received_total counter\n"
		  "podprof_hub_profiles_received_total %llu\n"
		  "# HELP podprof_hub_profile_bytes_total Profile payload bytes received.\n"
		  "# TYPE podprof_hub_profile_bytes_total counter\n"
		  "podprof_hub_profile_bytes_total %llu\n",
		  (unsigned long long)c->profiles, (unsigned long long)c->profile_bytes);
	worker_metrics_write(hub, &b);
	return b.full ? -ENOSPC : (int)b.len;
}

/* ---- responses ------------------------------------------------------------------ */

/* Send headers now and queue body (taken over, LWS_PRE headroom) for WRITEABLE. */
static int http_reply(struct lws *wsi, struct hub_http_pss *pss, unsigned status, const char *ctype,
		      unsigned char *body, size_t len)
{
	unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start;
	unsigned char *end = hdr + sizeof(hdr) - 1;

	free(pss->body);
	pss->body = body;
	pss->len = len;
	if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int reply_text(struct lws *wsi, struct hub_http_pss *pss, unsigned status, const char *txt)
{
	size_t len = strlen(txt);
	unsigned char *body = malloc(LWS_PRE + len);

	if (!body)
		return 1;
	memcpy(body + LWS_PRE, txt, len);
	return http_reply(wsi, pss, status, "text/plain; charset=utf-8", body, len);
}

static int reply_metrics(struct lws *wsi, struct hub_http_pss *pss, struct hub *hub)
{
	unsigned char *body = malloc(LWS_PRE + HUB_METRICS_MAX);
	char *txt;
	int n, m = 0;

	if (!body)
		return 1;
	txt = (char *)body + LWS_PRE;
	n = hub_metrics_write(hub, txt, HUB_METRICS_MAX);
	if (n >= 0 && hub->metrics_cb)
		m = hub->metrics_cb(hub->metrics_ctx, txt + n, HUB_METRICS_MAX - (size_t)n);
	if (n < 0 || m < 0 || (size_t)n + (size_t)m >= HUB_METRICS_MAX) {
		free(body);
		log_error(MOD, "metrics text over %d bytes", HUB_METRICS_MAX);
		return reply_text(wsi, pss, HTTP_STATUS_INTERNAL_SERVER_ERROR,
				  "metrics too large\n");
	}
	return http_reply(wsi, pss, HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
			  body, (size_t)n + (size_t)m);
}

/* ---- stored profiles (read-only) ---------------------------------------------- */

#define PROFILES_PREFIX	      "/profiles/"
#define PROFILE_COMPONENT_MAX 253

/* A namespace, target name or UID: [a-z0-9.-], not "." or "..". */
static bool name_component_ok(const char *s, size_t n)
{
	if (n == 0 || n > PROFILE_COMPONENT_MAX || (n <= 2 && strspn(s, ".") == n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '-'))
			return false;
	return true;
}

/* The object file: <start>.pb.gz or <start>.svg, start alphanumeric. */
static bool file_component_ok(const char *s)
{
	size_t base = strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

	return base > 0 && base <= 64 && (!strcmp(s + base, ".pb.gz") || !strcmp(s + base, ".svg"));
}

/* rel is "<ns>/<target>/<uid>/<file>"; nothing else may reach storage. */
static bool profile_path_ok(const char *rel)
{
	const char *p = rel;

	for (int i = 0; i < 3; i++) {
		const char *slash = strchr(p, '/');

		if (!slash || !name_component_ok(p, (size_t)(slash - p)))
			return false;
		p = slash + 1;
	}
	return file_component_ok(p);
}

static int reply_read_error(struct lws *wsi, struct hub_http_pss *pss, int err)
{
	if (err == -ENOENT)
		return reply_text(wsi, pss, HTTP_STATUS_NOT_FOUND, "no such profile\n");
	if (err == -E2BIG)
		return reply_text(wsi, pss, HTTP_STATUS_REQ_ENTITY_TOO_LARGE,
				  "profile too large\n");
	return reply_text(wsi, pss, HTTP_STATUS_BAD_GATEWAY, "profile store unavailable\n");
}

/* Queue the read on a read thread and leave the request open: the answer
 * comes from hub_http_read_done once the store has replied. */
static int start_profile_read(struct lws *wsi, struct hub_http_pss *pss, struct hub *hub,
			      const char *rel)
{
	uint64_t id;
	int err;

	if (!hub->object_cb || !profile_path_ok(rel))
		return reply_text(wsi, pss, HTTP_STATUS_NOT_FOUND, "not found\n");
	id = ++hub->next_id;
	err = hub_pool_submit(&hub->reads, id, rel);
	if (err == -EBUSY) {
		hub->c.reads_busy++;
		log_info(MOD, "GET %s%s: %d reads pending, refused", PROFILES_PREFIX, rel,
			 HUB_READS_MAX);
		return reply_text(wsi, pss, HTTP_STATUS_SERVICE_UNAVAILABLE,
				  "too many profile reads in progress, retry\n");
	}
	if (err)
		return reply_read_error(wsi, pss, err);
	hub->c.reads++;
	pss->wsi = wsi;
	pss->read_id = id;
	lws_dll2_add_tail(&pss->read, &hub->waiting);
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, HUB_READ_TIMEOUT_S);
	return 0;
}

/* The request waiting for read id, or NULL once it is gone (closed, timed out). */
static struct hub_http_pss *find_read(struct hub *hub, uint64_t id)
{
	lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&hub->waiting))
	{
		struct hub_http_pss *pss = lws_container_of(d, struct hub_http_pss, read);

		if (pss->read_id == id)
			return pss;
	}
	lws_end_foreach_dll(d);
	return NULL;
}

static void forget_read(struct hub_http_pss *pss)
{
	if (!lws_dll2_is_detached(&pss->read))
		lws_dll2_remove(&pss->read);
	pss->read_id = 0;
	pss->wsi = NULL;
}

void hub_http_read_done(struct hub *hub, uint64_t id, const char *rel, int rc, void **obj,
			size_t len)
{
	struct hub_http_pss *pss = find_read(hub, id);
	const char *ctype = "application/octet-stream";
	unsigned char *body = NULL;
	struct lws *wsi;
	size_t rl = strlen(rel);
	int err;

	if (rc)
		log_info(MOD, "GET %s%s: %s", PROFILES_PREFIX, rel, strerror(-rc));
	if (!pss) {
		log_debug(MOD, "GET %s%s: client gone before the store answered", PROFILES_PREFIX,
			  rel);
		return;
	}
	wsi = pss->wsi;
	forget_read(pss);
	/* The store answered: the write is lws's to time out from here. */
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	if (rc) {
		err = reply_read_error(wsi, pss, rc);
	} else {
		if (rl > 4 && !strcmp(rel + rl - 4, ".svg"))
			ctype = "image/svg+xml";
		body = malloc(LWS_PRE + len + 1);
		if (body && len)
			memcpy(body + LWS_PRE, *obj, len);
		free(*obj);
		*obj = NULL;
		err = body ? http_reply(wsi, pss, HTTP_STATUS_OK, ctype, body, len) : 1;
	}
	if (err)
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

int hub_set_object_cb(struct hub *hub, hub_object_fn cb, void *ctx)
{
	int err;

	/* The threads read the cb unlocked: stop them before it changes. */
	hub_pool_release(&hub->reads);
	hub->object_cb = cb;
	hub->object_ctx = ctx;
	if (!cb)
		return 0;
	err = hub_reads_start(hub);
	if (err)
		hub->object_cb = NULL;
	return err;
}

static int serve_get(struct lws *wsi, struct hub_http_pss *pss, struct hub *hub, const char *path)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
		return reply_text(wsi, pss, HTTP_STATUS_METHOD_NOT_ALLOWED, "GET only\n");
	if (strcmp(path, "/healthz") == 0)
		return reply_text(wsi, pss, HTTP_STATUS_OK, "ok\n");
	if (strcmp(path, "/readyz") == 0) {
		bool ready = !hub->ready_cb || hub->ready_cb(hub->ready_ctx);

		return reply_text(wsi, pss,
				  ready ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE,
				  ready ? "ready\n" : "not ready\n");
	}
	if (strcmp(path, "/metrics") == 0)
		return reply_metrics(wsi, pss, hub);
	if (strncmp(path, PROFILES_PREFIX, strlen(PROFILES_PREFIX)) == 0)
		return start_profile_read(wsi, pss, hub, path + strlen(PROFILES_PREFIX));
	return reply_text(wsi, pss, HTTP_STATUS_NOT_FOUND, "not found\n");
}

/* ---- upgrade vetting ---------------------------------------------------------- */

/* Returns 0 to let the upgrade proceed, >0 after sending a refusal. */
static int confirm_upgrade(struct lws *wsi, struct hub *hub)
{
	char proto[128], peer[64];
	char *hdr = NULL;
	int hl, rc = 0;

	hub_pending_clear(hub);
	if (!lws_get_peer_simple(wsi, peer, sizeof(peer)))
		snprintf(peer, sizeof(peer), "?");
	if (lws_hdr_copy(wsi, proto, sizeof(proto), WSI_TOKEN_PROTOCOL) <= 0 ||
	    !strstr(proto, PROTO_SUBPROTOCOL)) {
		log_warn(MOD, "upgrade from %s without subprotocol %s refused", peer,
			 PROTO_SUBPROTOCOL);
		hub->c.refused_other++;
		lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "subprotocol required");
		return 1;
	}
	hl = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
	if (hl <= 0)
		return 0; /* token must then come in hello */
	if (hl > PROTO_MAX_TOKEN_LEN + 16) {
		rc = -EACCES;
		goto cleanup;
	}
	hdr = malloc((size_t)hl + 1);
	if (!hdr || lws_hdr_copy(wsi, hdr, hl + 1, WSI_TOKEN_HTTP_AUTHORIZATION) != hl ||
	    strncasecmp(hdr, "Bearer ", 7) != 0 || !hdr[7]) {
		rc = -EACCES;
		hub->c.auth_failures++;
		goto cleanup;
	}
	rc = hub_check_token(hub, peer, hdr + 7, &hub->pending_result);
	if (rc == -EINPROGRESS) {
		/* Checked off the hub thread once the session exists; a refusal
		 * is then a 1008 close rather than this 401. */
		hub->pending_token = strdup(hdr + 7);
		rc = hub->pending_token ? 0 : -ENOMEM;
		hub->pending_auth = 1;
	} else if (!rc) {
		hub->pending_auth = 0;
	}
	if (!rc)
		hub->pending_wsi = wsi;
cleanup:
	if (hdr) {
		explicit_bzero(hdr, (size_t)hl);
		free(hdr);
	}
	if (!rc)
		return 0;
	log_warn(MOD, "worker connection from %s refused: bearer token %s", peer,
		 rc == -EACCES ? "refused" : "could not be checked");
	lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED, "bearer token refused");
	return 1;
}

int hub_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		      size_t len)
{
	struct hub *hub = lws_context_user(lws_get_context(wsi));
	struct hub_http_pss *pss = user;
	int n;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return serve_get(wsi, pss, hub, in ? (const char *)in : "");
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!pss || !pss->body)
			break;
		n = lws_write(wsi, pss->body + LWS_PRE, pss->len, LWS_WRITE_HTTP_FINAL);
		free(pss->body);
		pss->body = NULL;
		if (n < 0)
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(wsi, hub);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* A WebSocket that did not name podprof.v1 lands here: refuse. */
		return -1;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss) {
			/* A read still running finds no request and is dropped. */
			forget_read(pss);
			free(pss->body);
			pss->body = NULL;
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
