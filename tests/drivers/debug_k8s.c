/* SPDX-License-Identifier: Apache-2.0 */
/* debug_k8s.c -- `podprof-testdrv debug-watch|debug-status|...` diagnostics.
 *
 * Thin command-line wrappers over k8s_client, informer and k8s_status so the
 * e2e suite can check each promise (watch survives an API-server restart,
 * status writes survive conflicts, ...) against a real kube-apiserver.
 */
#include "debug_k8s.h"
#include "informer.h"
#include "k8s_client.h"
#include "k8s_status.h"
#include "kubeconfig.h"
#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOD "debug-k8s"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct opts {
	const char *kubeconfig; /* --kubeconfig */
	const char *resource;	/* --resource: pods, profilingtargets, v1/x, g/v/x */
	const char *ns;		/* --namespace */
	const char *name;	/* --name */
	const char *selector;	/* --selector (label selector) */
	const char *merge;	/* --merge JSON for debug-status */
	const char *before_put; /* --before-put shell command (first attempt) */
	const char *type;	/* --type for events */
	const char *reason;	/* --reason for events */
	const char *message;	/* --message for events */
	const char *audience;	/* --audience for TokenReview */
	int attempts;		/* --attempts for debug-status */
	const char *arg;	/* positional argument (debug-get path) */
};

struct resource {
	char prefix[256]; /* "/api/v1" or "/apis/g/v" */
	char plural[128]; /* resource name */
};

static int parse_resource(const char *r, struct resource *out)
{
	char g[128], v[64], p[128];

	if (!r || !strcmp(r, "pods") || !strcmp(r, "pod")) {
		snprintf(out->prefix, sizeof(out->prefix), "/api/v1");
		snprintf(out->plural, sizeof(out->plural), "pods");
		return 0;
	}
	if (!strcmp(r, "profilingtargets") || !strcmp(r, "pt")) {
		snprintf(out->prefix, sizeof(out->prefix), "/apis/podprof.dev/v1alpha1");
		snprintf(out->plural, sizeof(out->plural), "profilingtargets");
		return 0;
	}
	if (sscanf(r, "%127[^/]/%63[^/]/%127s", g, v, p) == 3) {
		snprintf(out->prefix, sizeof(out->prefix), "/apis/%s/%s", g, v);
		snprintf(out->plural, sizeof(out->plural), "%s", p);
		return 0;
	}
	if (sscanf(r, "%63[^/]/%127s", v, p) == 2) {
		snprintf(out->prefix, sizeof(out->prefix), "/api/%s", v);
		snprintf(out->plural, sizeof(out->plural), "%s", p);
		return 0;
	}
	fprintf(stderr, "%s: bad --resource %s (pods, profilingtargets, v1/PLURAL, G/V/PLURAL)\n",
		MOD, r);
	return -EINVAL;
}

static int make_client(const struct opts *o, struct k8s_client **out)
{
	struct k8s_config *cfg = NULL;
	char err[256] = "";
	int rc;

	rc = kubeconfig_load_auto(o->kubeconfig, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s: %s\n", MOD, err[0] ? err : strerror(-rc));
		return rc;
	}
	rc = k8s_client_new(cfg, out);
	k8s_config_free(cfg);
	if (rc)
		fprintf(stderr, "%s: client: %s\n", MOD, strerror(-rc));
	return rc;
}

static void print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						   JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
}

static void print_api_error(int rc, const struct k8s_api_error *ae)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(strerror(-rc)));
	json_object_object_add(o, "errno", json_object_new_int(-rc));
	json_object_object_add(o, "code", json_object_new_int64(ae->http_code));
	json_object_object_add(o, "reason", json_object_new_string(ae->reason));
	json_object_object_add(o, "message", json_object_new_string(ae->message));
	print_json(o);
	json_object_put(o);
}

/* ---- debug-watch --------------------------------------------------------- */

struct watch_ctx {
	struct informer *inf; /* for stats */
};

static void print_event(const char *type, json_object *obj)
{
	json_object *o = json_object_new_object();
	char key[512] = "";

	json_object_object_add(o, "event", json_object_new_string(type));
	if (obj) {
		const char *rv = informer_meta(obj, "resourceVersion");
		const char *uid = informer_meta(obj, "uid");

		informer_key(obj, key, sizeof(key));
		json_object_object_add(o, "key", json_object_new_string(key));
		json_object_object_add(o, "rv", json_object_new_string(rv ? rv : ""));
		json_object_object_add(o, "uid", json_object_new_string(uid ? uid : ""));
	}
	print_json(o);
	json_object_put(o);
}

static void w_add(void *arg, json_object *obj)
{
	(void)arg;
	print_event("ADDED", obj);
}

static void w_update(void *arg, json_object *old_obj, json_object *new_obj)
{
	(void)arg;
	(void)old_obj;
	print_event("MODIFIED", new_obj);
}

static void w_delete(void *arg, json_object *obj)
{
	(void)arg;
	print_event("DELETED", obj);
}

static void w_synced(void *arg)
{
	struct watch_ctx *w = arg;
	struct informer_stats st;
	json_object *o = json_object_new_object();

	informer_get_stats(w->inf, &st);
	json_object_object_add(o, "event", json_object_new_string("SYNCED"));
	json_object_object_add(o, "count", json_object_new_int64((int64_t)informer_count(w->inf)));
	json_object_object_add(o, "lists", json_object_new_int64((int64_t)st.lists));
	json_object_object_add(o, "watches", json_object_new_int64((int64_t)st.watches));
	json_object_object_add(o, "relists_gone", json_object_new_int64((int64_t)st.relists_gone));
	json_object_object_add(o, "errors", json_object_new_int64((int64_t)st.errors));
	print_json(o);
	json_object_put(o);
}

static int cmd_watch(const struct opts *o, struct k8s_client *c)
{
	struct watch_ctx w = {0};
	struct informer_handlers h = {.on_add = w_add,
				      .on_update = w_update,
				      .on_delete = w_delete,
				      .on_synced = w_synced,
				      .arg = &w};
	struct resource r;
	struct informer_spec spec = {0};
	int rc;

	rc = parse_resource(o->resource, &r);
	if (rc)
		return 2;
	spec.api_prefix = r.prefix;
	spec.plural = r.plural;
	spec.namespace = o->ns;
	spec.label_selector = o->selector;
	rc = informer_new(c, &spec, &h, &w.inf);
	if (rc) {
		fprintf(stderr, "%s: informer: %s\n", MOD, strerror(-rc));
		return 1;
	}
	rc = informer_start(w.inf);
	if (rc) {
		fprintf(stderr, "%s: informer start: %s\n", MOD, strerror(-rc));
		informer_free(w.inf);
		return 1;
	}
	while (!stop_flag) {
		struct pollfd pfd = {.fd = informer_fd(w.inf), .events = POLLIN};
		int n = poll(&pfd, 1, 1000);

		if (n < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (n > 0)
			informer_dispatch(w.inf);
	}
	informer_free(w.inf);
	return rc ? 1 : 0;
}

/* ---- debug-status -------------------------------------------------------- */

struct status_ctx {
	json_object *merge;	/* fields to set in .status */
	const char *before_put; /* command run once, after the first read */
};

static int status_mutate(void *arg, json_object *obj, int attempt)
{
	struct status_ctx *s = arg;
	json_object *st;

	if (!json_object_object_get_ex(obj, "status", &st) ||
	    !json_object_is_type(st, json_type_object)) {
		st = json_object_new_object();
		json_object_object_add(obj, "status", st);
	}
	json_object_object_foreach(s->merge, k, v)
	{
		json_object_object_add(st, k, json_object_get(v));
	}
	/* Lets a test change the object between our read and our write, which
	 * makes the first PUT conflict deterministically. */
	if (attempt == 0 && s->before_put && system(s->before_put) != 0)
		fprintf(stderr, "%s: --before-put command failed\n", MOD);
	return 0;
}

static int cmd_status(const struct opts *o, struct k8s_client *c)
{
	struct status_ctx s = {.before_put = o->before_put};
	struct k8s_object_ref ref = {0};
	json_object *out = NULL, *res, *st;
	struct resource r;
	int rc, attempts = 0;

	if (!o->name || !o->merge || parse_resource(o->resource, &r))
		return 2;
	s.merge = json_tokener_parse(o->merge);
	if (!s.merge || !json_object_is_type(s.merge, json_type_object)) {
		fprintf(stderr, "%s: --merge must be a JSON object\n", MOD);
		json_object_put(s.merge);
		return 2;
	}
	ref.api_prefix = r.prefix;
	ref.plural = r.plural;
	ref.ns = o->ns;
	ref.name = o->name;
	rc = k8s_update_status(c, &ref, NULL, status_mutate, &s, o->attempts, &attempts, &out);
	res = json_object_new_object();
	json_object_object_add(res, "attempts", json_object_new_int(attempts));
	json_object_object_add(res, "errno", json_object_new_int(-rc));
	if (out && json_object_object_get_ex(out, "status", &st))
		json_object_object_add(res, "status", json_object_get(st));
	print_json(res);
	json_object_put(res);
	json_object_put(out);
	json_object_put(s.merge);
	return rc ? 1 : 0;
}

/* ---- debug-event ---------------------------------------------------------- */

static int cmd_event(const struct opts *o, struct k8s_client *c)
{
	char path[1024];
	struct k8s_api_error ae = {0};
	struct k8s_object_ref ref = {0};
	json_object *obj = NULL, *v;
	struct resource r;
	int rc;

	if (!o->name || !o->reason || parse_resource(o->resource, &r))
		return 2;
	rc = k8s_build_path(path, sizeof(path), r.prefix, o->ns, r.plural, o->name, NULL);
	rc = rc ?: k8s_get(c, path, &obj, &ae);
	if (rc) {
		print_api_error(rc, &ae);
		return 1;
	}
	ref.api_prefix = r.prefix;
	ref.plural = r.plural;
	ref.ns = o->ns;
	ref.name = o->name;
	ref.uid = informer_meta(obj, "uid");
	if (json_object_object_get_ex(obj, "kind", &v))
		ref.kind = json_object_get_string(v);
	if (json_object_object_get_ex(obj, "apiVersion", &v))
		ref.api_version = json_object_get_string(v);
	rc = k8s_event_emit(c, &ref, o->type ? o->type : "Normal", o->reason,
			    o->message ? o->message : "", "podprof-operator");
	json_object_put(obj);
	printf("{\"errno\":%d}\n", -rc);
	return rc ? 1 : 0;
}

/* ---- debug-tokenreview ---------------------------------------------------- */

static int cmd_tokenreview(const struct opts *o, struct k8s_client *c)
{
	struct k8s_token_review tr;
	char token[16384], ns[256] = "", sa[256] = "";
	size_t n;
	json_object *res;
	int rc;

	/* From stdin, so the token never shows in a process listing. */
	n = fread(token, 1, sizeof(token) - 1, stdin);
	token[n] = '\0';
	while (n && (token[n - 1] == '\n' || token[n - 1] == '\r' || token[n - 1] == ' '))
		token[--n] = '\0';
	rc = k8s_token_review(c, token, o->audience, &tr);
	explicit_bzero(token, sizeof(token));
	if (rc) {
		printf("{\"errno\":%d}\n", -rc);
		return 1;
	}
	k8s_sa_username_split(tr.username, ns, sizeof(ns), sa, sizeof(sa));
	res = json_object_new_object();
	json_object_object_add(res, "authenticated", json_object_new_boolean(tr.authenticated));
	json_object_object_add(res, "username", json_object_new_string(tr.username));
	json_object_object_add(res, "namespace", json_object_new_string(ns));
	json_object_object_add(res, "serviceaccount", json_object_new_string(sa));
	json_object_object_add(res, "error", json_object_new_string(tr.error));
	print_json(res);
	json_object_put(res);
	return 0;
}

/* ---- debug-get ------------------------------------------------------------ */

static int cmd_get(const struct opts *o, struct k8s_client *c)
{
	struct k8s_api_error ae = {0};
	json_object *out = NULL;
	int rc;

	if (!o->arg || o->arg[0] != '/')
		return 2;
	rc = k8s_get(c, o->arg, &out, &ae);
	if (rc) {
		print_api_error(rc, &ae);
		return 1;
	}
	print_json(out);
	json_object_put(out);
	return 0;
}

/* ---- entry ---------------------------------------------------------------- */

static const char usage[] =
    "usage: podprof-testdrv debug-watch|debug-status|debug-event|debug-tokenreview|debug-get\n"
    "  --kubeconfig FILE   kubeconfig (default: in-cluster, $KUBECONFIG, ~/.kube/config)\n"
    "  --resource R        pods | profilingtargets | v1/PLURAL | GROUP/VERSION/PLURAL\n"
    "  --namespace NS --name NAME --selector LABELS\n"
    "  debug-status: --merge JSON [--before-put CMD] [--attempts N]\n"
    "  debug-event: --type Normal|Warning --reason R --message M\n"
    "  debug-tokenreview: token on stdin [--audience A]\n"
    "  debug-get PATH\n"
    "examples:\n"
    "  podprof-testdrv debug-watch --kubeconfig kc --resource pods\n"
    "  podprof-testdrv debug-status --resource pt --namespace ns --name t "
    "--merge '{\"phase\":\"Running\"}'\n";

int debug_k8s_main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"resource", required_argument, NULL, 'r'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"name", required_argument, NULL, 'N'},
	    {"selector", required_argument, NULL, 'l'},
	    {"merge", required_argument, NULL, 'm'},
	    {"before-put", required_argument, NULL, 'b'},
	    {"attempts", required_argument, NULL, 'a'},
	    {"type", required_argument, NULL, 't'},
	    {"reason", required_argument, NULL, 'R'},
	    {"message", required_argument, NULL, 'M'},
	    {"audience", required_argument, NULL, 'A'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct opts o = {.attempts = 5};
	const char *cmd = argv[0];
	struct k8s_client *c = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "k:r:n:N:l:m:b:a:t:R:M:A:vh", lo, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'k':
			o.kubeconfig = optarg;
			break;
		case 'r':
			o.resource = optarg;
			break;
		case 'n':
			o.ns = optarg;
			break;
		case 'N':
			o.name = optarg;
			break;
		case 'l':
			o.selector = optarg;
			break;
		case 'm':
			o.merge = optarg;
			break;
		case 'b':
			o.before_put = optarg;
			break;
		case 'a':
			errno = 0;
			o.attempts = (int)strtol(optarg, &end, 10);
			if (errno || *end || o.attempts < 1 || o.attempts > 100) {
				fprintf(stderr, "%s: bad --attempts %s (1..100)\n", MOD, optarg);
				return 2;
			}
			break;
		case 't':
			o.type = optarg;
			break;
		case 'R':
			o.reason = optarg;
			break;
		case 'M':
			o.message = optarg;
			break;
		case 'A':
			o.audience = optarg;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc)
		o.arg = argv[optind];
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (make_client(&o, &c))
		return 1;
	if (!strcmp(cmd, "debug-watch"))
		rc = cmd_watch(&o, c);
	else if (!strcmp(cmd, "debug-status"))
		rc = cmd_status(&o, c);
	else if (!strcmp(cmd, "debug-event"))
		rc = cmd_event(&o, c);
	else if (!strcmp(cmd, "debug-tokenreview"))
		rc = cmd_tokenreview(&o, c);
	else if (!strcmp(cmd, "debug-get"))
		rc = cmd_get(&o, c);
	else
		rc = 2;
	if (rc == 2)
		fputs(usage, stderr);
	k8s_client_free(c);
	return rc;
}
