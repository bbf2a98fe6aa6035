/* SPDX-License-Identifier: Apache-2.0 */
/* agent.h -- `podprof-worker agent`: the worker's link to the operator.
 *
 * The only worker module that touches libwebsockets. The agent dials the
 * operator's hub (ws:// or wss://) with subprotocol podprof.v1 and an
 * "Authorization: Bearer <token>" header (the token file is re-read on every
 * connect, so rotated service-account tokens are picked up), says hello with
 * its node name, heartbeats at the interval the welcome names, and reconnects
 * with an lws_retry_bo_t backoff table plus jitter (lws_sul_schedule) when the
 * link drops or the operator goes silent. attach/detach messages are handed to
 * worker/agent_jobs.h, which samples and sends results back through the agent.
 *
 * Event loop: one thread runs lws_service(); timers are lws_sul. Stopping is
 * by agent_stop() (safe from a signal handler).
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_AGENT_H
#define PODPROF_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;

struct agent_config {
	const char *operator_url;      /* ws://HOST:PORT[/path] or wss://... */
	const char *node;	       /* this node's name (as in spec.nodeName) */
	const char *token_file;	       /* bearer token, first line */
	const char *ca_file;	       /* PEM CA bundle for wss://; NULL = system store */
	const char *cgroup_root;       /* NULL = detect cgroup v2 mount */
	const char *proc_root;	       /* NULL = /proc */
	const char *const *debug_dirs; /* extra debug file directories */
	size_t n_debug_dirs;
	uint64_t symbol_cache_bytes; /* symbol cache budget; 0 = default (128 MiB) */
	uint32_t unload_after_ms;    /* BPF kept loaded this long after the last job (0 = none) */
	bool insecure;		     /* wss:// without certificate checks (local tests only) */
};

/* Create the agent (no connection yet). cfg strings must outlive it.
 * -EINVAL for a bad URL or node name. Free with agent_free. */
int agent_new(const struct agent_config *cfg, struct agent **out);

/* Connect and serve until agent_stop(); reconnects forever. Returns 0 after
 * a stop, negative errno if the event loop failed. */
int agent_run(struct agent *ag);

/* Ask agent_run to return soon. Async-signal-safe. */
void agent_stop(struct agent *ag);

/* Stop jobs, close the link, free. Accepts NULL. */
void agent_free(struct agent *ag);

/* `podprof-worker agent ...` (argv[0] = "agent"): flags --operator URL
 * --node NAME --token-file F [--ca-file F] [--insecure] [--cgroup-root DIR]
 * [--proc-root DIR] [--debug-dir DIR]... [--symbol-cache-mb N] [-v]; env fallbacks PODPROF_OPERATOR_URL, NODE_NAME,
 * PODPROF_TOKEN_FILE. Returns the process exit code. */
int agent_main(int argc, char **argv);

#endif
