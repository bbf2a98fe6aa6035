/* SPDX-License-Identifier: Apache-2.0 */
/* cli.h -- kubectl-podprof: the kubectl plugin's options, commands and helpers.
 *
 * The plugin is a thin client: it creates and reads ProfilingTargets through
 * the operator's Kubernetes client (k8s_client.h, kubeconfig.h) and reads
 * stored profiles from the operator's read-only /profiles/ endpoint through
 * the API server's service proxy, so Kubernetes RBAC decides who may read.
 * Rendering and summaries reuse the operator's flamegraph.c and lib/pprof.
 *
 * Return convention: 0 on success, negative errno on failure, except the
 * cmd_* functions, which return the process exit code (CLI_EXIT_*).
 */
#ifndef PODPROF_CLI_H
#define PODPROF_CLI_H

#include "k8s_client.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes, as kubectl: 0 ok, 1 the operation failed, 2 bad usage; 130
 * when Ctrl-C ended a run (after the target was deleted). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_INTERRUPTED = 130,
};

#define CLI_DEFAULT_DURATION_MS 30000
#define CLI_DEFAULT_FREQUENCY	99
#define CLI_DEFAULT_LINES	10
#define CLI_MAX_PROFILE		(64u << 20) /* largest profile read back */

struct cli_opts {
	const char *command;	 /* "run", "top", "fetch", "diff" */
	const char *kubeconfig;	 /* --kubeconfig, or NULL */
	const char *context;	 /* --context, or NULL */
	const char *ns;		 /* -n/--namespace, or NULL: the context's */
	const char *selector;	 /* run: -l/--selector */
	int64_t duration_ms;	 /* run: --duration */
	unsigned long frequency; /* run: --frequency (Hz) */
	bool kernel_stacks;	 /* run: --kernel-stacks */
	bool offcpu;		 /* run: --offcpu (spec.profile: offcpu) */
	const char *min_block;	 /* run: --min-block (spec.offcpu.minBlock), or NULL */
	int64_t timeout_ms;	 /* run: --timeout, 0 = duration + 2m */
	const char *output;	 /* -o: directory (run, fetch) or file (diff) */
	unsigned long lines;	 /* top/run: --lines, rows of the top table */
	const char *window;	 /* fetch/top: --window START, or NULL for the latest */
	const char *op_ns;	 /* --operator-namespace */
	const char *op_service;	 /* --operator-service */
	unsigned long op_port;	 /* --operator-port */
	const char *op_scheme;	 /* --operator-scheme: https or http */
	bool via_operator;	 /* --via-operator: never read the bucket directly */
	const char *names[2];	 /* positional target names (top/fetch: 1, diff: 2) */
	int n_names;
	bool help;  /* --help: print usage, exit 0 */
	bool quiet; /* -q: no progress output */
};

/* ---- argument parsing (args.c) ------------------------------------------- */

/* Parse argv (argv[0] is the program) into o, with defaults set first.
 * Errors are printed to stderr naming the flag and value; returns 0,
 * -EINVAL on bad usage. With --help, o->help is set and nothing else is
 * checked. */
int cli_parse_args(int argc, char **argv, struct cli_opts *o);

/* Print the usage of o->command (or the overview when NULL) to stdout. */
void cli_usage(const char *command);

/* Turn a kubectl label selector ("app=x,env!=dev,tier in (a,b),!canary")
 * into a metav1.LabelSelector JSON object (matchLabels, matchExpressions).
 * On failure returns -EINVAL and *why (if non-NULL) a static reason. *out is
 * a new reference. */
int cli_selector_json(const char *sel, json_object **out, const char **why);

/* Format ms as a Go duration the CRD accepts ("30s", "1500ms", "2m"). */
void cli_format_duration(int64_t ms, char *buf, size_t len);

/* ---- talking to the cluster (client.c) ------------------------------------- */

/* Load the kubeconfig (--kubeconfig/--context) and create a client; resolves
 * o->ns to the context's namespace when unset. Prints why on failure. */
int cli_connect(struct cli_opts *o, struct k8s_client **out);

/* GET the ProfilingTarget name in o->ns; prints why on failure. */
int cli_get_target(struct k8s_client *c, const struct cli_opts *o, const char *name,
		   json_object **out);

/* The relative key "<ns>/<target>/<uid>/<file>" of the target's latest
 * profile (status.profile.url), or of --window START. ext is "pb.gz" or
 * "svg". -ENOENT (message printed) when the target has no stored profile. */
int cli_profile_rel(json_object *target, const char *window, const char *ext, char *buf,
		    size_t len);

/* Read a stored object through the API server's service proxy to the
 * operator (GET .../services/<scheme>:<svc>:<port>/proxy/profiles/<rel>).
 * Prints a clear message on 403 (RBAC) and other failures. */
int cli_fetch_object(struct k8s_client *c, const struct cli_opts *o, const char *rel, void **out,
		     size_t *len);

/* Write len bytes to dir/name (dir created if missing) and print the path
 * unless quiet. */
int cli_write_file(const char *dir, const char *name, const void *data, size_t len, bool quiet);

/* Fetch the target's pprof (and write <dir>/<name>.pb.gz and <name>.svg
 * rendered from it when dir is non-NULL); *pprof (malloc'd) keeps the
 * bytes for the caller when pprof is non-NULL. */
int cli_fetch_profile(struct k8s_client *c, const struct cli_opts *o, const char *name,
		      const char *dir, void **pprof, size_t *len);

/* Print the top o->lines functions of a profile as a table. */
int cli_print_top(const void *pprof, size_t len, unsigned long lines);

/* ---- commands ---------------------------------------------------------------- */

int cmd_run(struct cli_opts *o);
int cmd_top(struct cli_opts *o);
int cmd_fetch(struct cli_opts *o);
int cmd_diff(struct cli_opts *o);

#endif
