/* SPDX-License-Identifier: Apache-2.0 */
/* args.c -- kubectl-podprof's command line: flags, usage text, label selectors.
 *
 * Flags follow kubectl's (-n, --context, --kubeconfig, -l, -o) and may come
 * before or after the subcommand's arguments. Every value is checked here,
 * so the commands only see valid options.
 */
#include "cli.h"

#include "parse.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SELECTOR_LEN 4096

enum {
	OPT_KUBECONFIG = 256,
	OPT_CONTEXT,
	OPT_DURATION,
	OPT_FREQUENCY,
	OPT_KERNEL,
	OPT_TIMEOUT,
	OPT_LINES,
	OPT_WINDOW,
	OPT_OP_NS,
	OPT_OP_SVC,
	OPT_OP_PORT,
	OPT_OP_SCHEME,
	OPT_VIA_OPERATOR,
	OPT_OFFCPU,
	OPT_MIN_BLOCK,
};

static const struct option long_opts[] = {
    {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
    {"context", required_argument, NULL, OPT_CONTEXT},
    {"namespace", required_argument, NULL, 'n'},
    {"selector", required_argument, NULL, 'l'},
    {"output", required_argument, NULL, 'o'},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"frequency", required_argument, NULL, OPT_FREQUENCY},
    {"kernel-stacks", no_argument, NULL, OPT_KERNEL},
    {"offcpu", no_argument, NULL, OPT_OFFCPU},
    {"min-block", required_argument, NULL, OPT_MIN_BLOCK},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"lines", required_argument, NULL, OPT_LINES},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"operator-namespace", required_argument, NULL, OPT_OP_NS},
    {"operator-service", required_argument, NULL, OPT_OP_SVC},
    {"operator-port", required_argument, NULL, OPT_OP_PORT},
    {"operator-scheme", required_argument, NULL, OPT_OP_SCHEME},
    {"via-operator", no_argument, NULL, OPT_VIA_OPERATOR},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Which flags each command takes (beyond the global ones) and how many names. */
struct cmd_spec {
	const char *name;
	const char *flags; /* option codes allowed, as a string of chars/ids */
	int min_names, max_names;
	const char *usage;
};

static const char global_usage[] =
    "Global flags:\n"
    "  -n, --namespace NS        namespace of the ProfilingTarget (default: the context's)\n"
    "      --context NAME        kubeconfig context to use\n"
    "      --kubeconfig PATH     kubeconfig file (default: $KUBECONFIG, ~/.kube/config)\n"
    "      --operator-namespace NS   namespace of the podprof operator (default podprof)\n"
    "      --operator-service NAME   its Service (default podprof-hub)\n"
    "      --operator-port N         its port (default 7443)\n"
    "      --operator-scheme S       https (default) or http, as the hub serves\n"
    "      --via-operator            read through the operator even with S3 credentials\n"
    "  -q, --quiet               no progress output\n"
    "  -h, --help                this help\n"
    "\n"
    "Stored profiles are read through the API server's service proxy to the\n"
    "operator (RBAC decides). With AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in\n"
    "the environment (AWS_REGION, AWS_CA_BUNDLE optional) they are read from the\n"
    "bucket directly instead, at the URL in the target's status.\n"
    "\n"
    "Exit status: 0 ok, 1 the operation failed, 2 bad usage, 130 interrupted.\n";

static const struct cmd_spec cmds[] = {
    {"run", "lodfkTLcm", 0, 0,
     "Usage: kubectl podprof run -l SELECTOR [-n NS] [--duration 30s] [--frequency 99]\n"
     "                           [--kernel-stacks] [--offcpu [--min-block 1ms]] [-o DIR]\n"
     "                           [--lines N] [--timeout D]\n"
     "\n"
     "Profile every running pod the selector matches, on all their nodes, for one\n"
     "window: creates a ProfilingTarget (generated name, labelled as made by this\n"
     "plugin), shows progress, then writes DIR/NAME.pb.gz (pprof) and DIR/NAME.svg\n"
     "(flame graph) and prints the hottest functions. Ctrl-C deletes the target,\n"
     "which stops sampling on every node.\n"
     "\n"
     "  -l, --selector SEL        label selector, as kubectl: k=v, k!=v, k in (a,b),\n"
     "                            k notin (a,b), k, !k; comma-separated (required)\n"
     "      --duration D          window length, 1s..1h (default 30s)\n"
     "      --frequency HZ        samples per second per CPU, 1..10000 (default 99)\n"
     "      --kernel-stacks       include kernel stacks (default: user stacks only)\n"
     "      --offcpu              profile blocked time instead (spec.profile offcpu):\n"
     "                            where threads wait, weighted by the time waited\n"
     "      --min-block D         with --offcpu, ignore shorter blocks: 0us..10s\n"
     "                            (default 1ms)\n"
     "  -o, --output DIR          where to write the profile (default .)\n"
     "      --lines N             rows of the top table (default 10)\n"
     "      --timeout D           give up after D (default: duration + 2m)\n"
     "\n"
     "Examples:\n"
     "  kubectl podprof run -n shop -l app=checkout\n"
     "  kubectl podprof run -n shop -l 'app=checkout,tier in (api,web)' --duration 10s -o out\n"
     "  kubectl podprof run -n shop -l app=checkout --offcpu --kernel-stacks\n"},
    {"top", "LW", 1, 1,
     "Usage: kubectl podprof top NAME [-n NS] [--lines N] [--window START]\n"
     "\n"
     "Print the hottest functions (self and total share) of a ProfilingTarget's\n"
     "latest stored profile, read through the operator.\n"
     "\n"
     "      --lines N             rows to print (default 10)\n"
     "      --window START        a given window of a scheduled target, by its start\n"
     "                            as in the object name (e.g. 20261127T101500Z)\n"
     "\n"
     "Examples:\n"
     "  kubectl podprof top checkout -n shop\n"
     "  kubectl podprof top checkout -n shop --lines 25\n"},
    {"fetch", "oW", 1, 1,
     "Usage: kubectl podprof fetch NAME [-n NS] [-o DIR] [--window START]\n"
     "\n"
     "Download a ProfilingTarget's latest (or a given) profile through the API\n"
     "server's service proxy to the operator -- no S3 credentials needed, RBAC\n"
     "decides -- and write DIR/NAME.pb.gz and the flame graph DIR/NAME.svg.\n"
     "\n"
     "  -o, --output DIR          where to write (default .)\n"
     "      --window START        a given window of a scheduled target\n"
     "\n"
     "Examples:\n"
     "  kubectl podprof fetch checkout -n shop -o profiles/\n"
     "  go tool pprof -top profiles/checkout.pb.gz\n"},
    {"diff", "o", 2, 2,
     "Usage: kubectl podprof diff BEFORE AFTER [-n NS] -o FILE.svg\n"
     "\n"
     "Differential flame graph: the shape is AFTER; each frame is red where its\n"
     "share of samples grew since BEFORE, blue where it shrank (legend in the\n"
     "picture, details in each tooltip). BEFORE and AFTER are ProfilingTarget\n"
     "names or local .pb.gz files.\n"
     "\n"
     "  -o, --output FILE         the SVG to write (required)\n"
     "\n"
     "Examples:\n"
     "  kubectl podprof diff checkout-v1 checkout-v2 -n shop -o diff.svg\n"
     "  kubectl podprof diff before.pb.gz after.pb.gz -o diff.svg\n"},
};

static const struct cmd_spec *find_cmd(const char *name)
{
	for (size_t i = 0; name && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

void cli_usage(const char *command)
{
	const struct cmd_spec *c = find_cmd(command);

	if (c) {
		fputs(c->usage, stdout);
		fputs("\n", stdout);
		fputs(global_usage, stdout);
		return;
	}
	fputs("kubectl podprof -- on-demand CPU profiles of pods, by label, across nodes.\n"
	      "\n"
	      "Usage: kubectl podprof COMMAND [flags]\n"
	      "\n"
	      "Commands:\n"
	      "  run    profile the pods a label selector matches and show the answer\n"
	      "  top    hottest functions of a ProfilingTarget's profile\n"
	      "  fetch  download a profile (pprof) and its flame graph (SVG)\n"
	      "  diff   differential flame graph of two profiles\n"
	      "\n"
	      "Examples:\n"
	      "  kubectl podprof run -n shop -l app=checkout --duration 10s -o out\n"
	      "  kubectl podprof top podprof-run-x7k2p -n shop\n"
	      "  kubectl podprof diff before.pb.gz after.pb.gz -o diff.svg\n"
	      "\n"
	      "Run `kubectl podprof COMMAND --help` for a command's flags.\n"
	      "\n",
	      stdout);
	fputs(global_usage, stdout);
}

/* The short code of a command-specific flag, as listed in cmd_spec.flags. */
static char flag_code(int opt)
{
	switch (opt) {
	case 'l':
		return 'l';
	case 'o':
		return 'o';
	case OPT_DURATION:
		return 'd';
	case OPT_FREQUENCY:
		return 'f';
	case OPT_KERNEL:
		return 'k';
	case OPT_TIMEOUT:
		return 'T';
	case OPT_LINES:
		return 'L';
	case OPT_WINDOW:
		return 'W';
	case OPT_OFFCPU:
		return 'c';
	case OPT_MIN_BLOCK:
		return 'm';
	default:
		return 0; /* global */
	}
}

static const char *flag_name(int opt)
{
	for (const struct option *lo = long_opts; lo->name; lo++)
		if (lo->val == opt)
			return lo->name;
	return "?";
}

static int bad(const char *flag, const char *value, const char *why)
{
	fprintf(stderr, "error: invalid %s \"%s\": %s\n", flag, value, why);
	return -EINVAL;
}

int cli_parse_args(int argc, char **argv, struct cli_opts *o)
{
	const struct cmd_spec *c;
	unsigned long v;
	int64_t us;
	int opt;

	*o = (struct cli_opts){
	    .duration_ms = CLI_DEFAULT_DURATION_MS,
	    .frequency = CLI_DEFAULT_FREQUENCY,
	    .lines = CLI_DEFAULT_LINES,
	    .op_ns = "podprof",
	    .op_service = "podprof-hub",
	    .op_port = 7443,
	    .op_scheme = "https",
	};
	optind = 0; /* reset getopt: the unit tests parse many command lines */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:l:o:qh", long_opts, NULL)) != -1) {
		const char *arg = optarg;

		if (opt == '?') {
			fprintf(stderr, "error: unknown flag %s\n", argv[optind - 1]);
			return -EINVAL;
		}
		if (opt == ':') {
			fprintf(stderr, "error: flag %s needs a value\n", argv[optind - 1]);
			return -EINVAL;
		}
		switch (opt) {
		case OPT_KUBECONFIG:
			o->kubeconfig = arg;
			break;
		case OPT_CONTEXT:
			o->context = arg;
			break;
		case 'n':
			if (!*arg)
				return bad("--namespace", arg, "must not be empty");
			o->ns = arg;
			break;
		case 'l':
			o->selector = arg;
			break;
		case 'o':
			o->output = arg;
			break;
		case OPT_DURATION:
			if (parse_duration_ms(arg, false, &o->duration_ms) ||
			    o->duration_ms < 1000 || o->duration_ms > 3600000)
				return bad("--duration", arg, "want a duration between 1s and 1h");
			break;
		case OPT_FREQUENCY:
			if (parse_ulong_range(arg, 1, 10000, &o->frequency))
				return bad("--frequency", arg, "want 1..10000 Hz");
			break;
		case OPT_KERNEL:
			o->kernel_stacks = true;
			break;
		case OPT_OFFCPU:
			o->offcpu = true;
			break;
		case OPT_MIN_BLOCK:
			if (parse_duration_us(arg, &us) || us > 10000000)
				return bad("--min-block", arg, "want a duration from 0us to 10s");
			o->min_block = arg;
			break;
		case OPT_TIMEOUT:
			if (parse_duration_ms(arg, false, &o->timeout_ms) || o->timeout_ms <= 0)
				return bad("--timeout", arg, "want a duration such as 90s");
			break;
		case OPT_LINES:
			if (parse_ulong_range(arg, 1, 1000, &o->lines))
				return bad("--lines", arg, "want 1..1000");
			break;
		case OPT_WINDOW:
			if (!*arg || strspn(arg, "0123456789TZ") != strlen(arg))
				return bad("--window", arg,
					   "want a window start such as 20261127T101500Z");
			o->window = arg;
			break;
		case OPT_OP_NS:
			o->op_ns = arg;
			break;
		case OPT_OP_SVC:
			o->op_service = arg;
			break;
		case OPT_OP_PORT:
			if (parse_ulong_range(arg, 1, 65535, &v))
				return bad("--operator-port", arg, "want 1..65535");
			o->op_port = v;
			break;
		case OPT_OP_SCHEME:
			if (strcmp(arg, "https") && strcmp(arg, "http"))
				return bad("--operator-scheme", arg, "want https or http");
			o->op_scheme = arg;
			break;
		case OPT_VIA_OPERATOR:
			o->via_operator = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			o->help = true;
			break;
		}
	}
	/* Positional words: the command first, then names. */
	for (int i = optind; i < argc; i++) {
		if (!o->command) {
			o->command = argv[i];
		} else if (o->n_names < 2) {
			o->names[o->n_names++] = argv[i];
		} else {
			fprintf(stderr, "error: unexpected argument \"%s\"\n", argv[i]);
			return -EINVAL;
		}
	}
	if (o->help)
		return 0;
	if (!o->command) {
		fprintf(stderr, "error: no command given (run, top, fetch, diff); see --help\n");
		return -EINVAL;
	}
	c = find_cmd(o->command);
	if (!c) {
		fprintf(stderr, "error: unknown command \"%s\" (run, top, fetch, diff)\n",
			o->command);
		return -EINVAL;
	}
	if (o->n_names < c->min_names || o->n_names > c->max_names) {
		fprintf(stderr, "error: %s takes %s\n", c->name,
			c->max_names == 0   ? "no arguments"
			: c->max_names == 1 ? "one ProfilingTarget name"
					    : "two profiles (BEFORE AFTER)");
		return -EINVAL;
	}
	/* Flags that do not belong to this command are refused, not ignored. */
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":n:l:o:qh", long_opts, NULL)) != -1) {
		char code = flag_code(opt);

		if (code && !strchr(c->flags, code)) {
			fprintf(stderr, "error: %s does not take flag --%s\n", c->name,
				flag_name(opt));
			return -EINVAL;
		}
	}
	if (!strcmp(c->name, "run") && (!o->selector || !*o->selector)) {
		fprintf(stderr, "error: run needs a label selector (-l app=NAME)\n");
		return -EINVAL;
	}
	if (!strcmp(c->name, "diff") && !o->output) {
		fprintf(stderr, "error: diff needs -o FILE.svg\n");
		return -EINVAL;
	}
	if (o->selector) {
		json_object *sel = NULL;
		const char *why = NULL;

		if (cli_selector_json(o->selector, &sel, &why))
			return bad("--selector", o->selector, why);
		json_object_put(sel);
	}
	return 0;
}

void cli_format_duration(int64_t ms, char *buf, size_t len)
{
	if (ms % 60000 == 0)
		snprintf(buf, len, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, len, "%lldms", (long long)ms);
}

/* ---- label selectors ------------------------------------------------------ */

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Copy a key or value token ([A-Za-z0-9._/-]) into buf; returns the end. */
static const char *token(const char *p, char *buf, size_t len)
{
	size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/");

	if (n >= len)
		n = 0; /* too long: reported as a missing token */
	memcpy(buf, p, n);
	buf[n] = '\0';
	return p + n;
}

static int add_expr(json_object *exprs, const char *key, const char *op, json_object *values)
{
	json_object *e = json_object_new_object();

	if (!e) {
		json_object_put(values);
		return -ENOMEM;
	}
	json_object_object_add(e, "key", json_object_new_string(key));
	json_object_object_add(e, "operator", json_object_new_string(op));
	if (values)
		json_object_object_add(e, "values", values);
	return json_object_array_add(exprs, e) ? -ENOMEM : 0;
}

/* "(a, b, c)" after in/notin. */
static const char *value_set(const char *p, json_object **out, const char **why)
{
	char v[64];

	*out = json_object_new_array();
	p = skip_ws(p);
	if (*p++ != '(') {
		*why = "expected ( after in/notin";
		return NULL;
	}
	for (;;) {
		p = token(skip_ws(p), v, sizeof(v));
		if (!*v) {
			*why = "expected a value in ( )";
			return NULL;
		}
		json_object_array_add(*out, json_object_new_string(v));
		p = skip_ws(p);
		if (*p == ')')
			return p + 1;
		if (*p++ != ',') {
			*why = "expected , or ) in a value set";
			return NULL;
		}
	}
}

int cli_selector_json(const char *sel, json_object **out, const char **why)
{
	json_object *obj = json_object_new_object(), *labels = json_object_new_object();
	json_object *exprs = json_object_new_array(), *vals = NULL;
	const char *p = sel, *dummy;
	char key[320], val[64];
	int err = -EINVAL;

	if (!why)
		why = &dummy;
	*out = NULL;
	*why = "empty selector";
	if (!obj || !labels || !exprs) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (strlen(sel) > MAX_SELECTOR_LEN) {
		*why = "selector too long";
		goto cleanup;
	}
	while (*(p = skip_ws(p))) {
		bool not = *p == '!';

		if (not )
			p = skip_ws(p + 1);
		p = skip_ws(token(p, key, sizeof(key)));
		if (!*key) {
			*why = "expected a label key";
			goto cleanup;
		}
		vals = NULL;
		if (not ) {
			err = add_expr(exprs, key, "DoesNotExist", NULL);
		} else if (*p == '=' || (p[0] == '!' && p[1] == '=')) {
			bool ne = *p == '!';

			p += ne ? 2 : (p[1] == '=' ? 2 : 1);
			p = skip_ws(token(skip_ws(p), val, sizeof(val)));
			if (!*val && *p && *p != ',') {
				*why = "bad label value";
				err = -EINVAL;
				goto cleanup;
			}
			if (ne) {
				vals = json_object_new_array();
				json_object_array_add(vals, json_object_new_string(val));
				err = add_expr(exprs, key, "NotIn", vals);
			} else {
				json_object_object_add(labels, key, json_object_new_string(val));
				err = 0;
			}
		} else if (!strncmp(p, "in", 2) && (p[2] == ' ' || p[2] == '(')) {
			p = value_set(p + 2, &vals, why);
			err = p ? add_expr(exprs, key, "In", vals) : -EINVAL;
			if (!p) {
				json_object_put(vals);
				goto cleanup;
			}
		} else if (!strncmp(p, "notin", 5) && (p[5] == ' ' || p[5] == '(')) {
			p = value_set(p + 5, &vals, why);
			err = p ? add_expr(exprs, key, "NotIn", vals) : -EINVAL;
			if (!p) {
				json_object_put(vals);
				goto cleanup;
			}
		} else if (!*p || *p == ',') {
			err = add_expr(exprs, key, "Exists", NULL);
		} else {
			*why = "expected =, ==, !=, in or notin after a key";
			err = -EINVAL;
			goto cleanup;
		}
		if (err)
			goto cleanup;
		p = skip_ws(p);
		if (*p == ',') {
			p++;
			if (!*skip_ws(p)) {
				*why = "trailing comma";
				err = -EINVAL;
				goto cleanup;
			}
		} else if (*p) {
			*why = "expected , between requirements";
			err = -EINVAL;
			goto cleanup;
		}
	}
	if (!json_object_object_length(labels) && !json_object_array_length(exprs)) {
		err = -EINVAL; /* empty: would select every pod */
		goto cleanup;
	}
	if (json_object_object_length(labels))
		json_object_object_add(obj, "matchLabels", json_object_get(labels));
	if (json_object_array_length(exprs))
		json_object_object_add(obj, "matchExpressions", json_object_get(exprs));
	*out = obj;
	obj = NULL;
	err = 0;
cleanup:
	json_object_put(obj);
	json_object_put(labels);
	json_object_put(exprs);
	return err;
}
