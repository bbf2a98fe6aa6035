/* SPDX-License-Identifier: Apache-2.0 */
/* flags.c -- the command line of `podprof-operator run`. */
#include "operator_int.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "log.h"
#include "parse.h"

static const char usage_head[] =
    "usage: podprof-operator run [flags]\n"
    "\n"
    "Watches ProfilingTargets and Pods, programs podprof workers over WebSockets,\n"
    "merges their profiles, uploads pprof + SVG and writes the target's status.\n"
    "\n"
    "Kubernetes:\n"
    "  --kubeconfig PATH          kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)\n"
    "  --namespace NS             only ProfilingTargets in NS (default: all namespaces)\n"
    "Worker hub:\n"
    "  --port N                   WebSocket + /healthz /readyz /metrics port (default 7443)\n"
    "  --iface ADDR               bind address (default: all)\n"
    "  --tls-cert PEM --tls-key PEM   serve wss/https\n"
    "  --token-file PATH          local mode: workers present this shared secret\n"
    "  --token-review             cluster mode: check worker tokens with TokenReview\n"
    "  --worker-sa NS:NAME        with --token-review: the only ServiceAccount allowed\n"
    "  --audience AUD             with --token-review: token audience to require\n"
    "  --max-workers N            workers connected at once, 1..65536 (default 8192)\n"
    "Results:\n"
    "  --grace-ms N               wait for late profiles after the window (default 5000)\n"
    "  --top N                    topFunctions entries in status (default 10)\n"
    "  --no-storage               keep results in status only\n"
    "High availability:\n"
    "  --leader-elect             reconcile only while holding a coordination.k8s.io Lease\n"
    "  --leader-lease NAME        Lease name (default podprof-operator-leader)\n"
    "  --leader-namespace NS      Lease namespace (default $POD_NAMESPACE or the client's)\n"
    "  --leader-lease-seconds N   lease duration, 5..300 (default 15)\n"
    "Object storage:\n";

static void usage(FILE *f)
{
	fputs(usage_head, f);
	for (const struct storage_flag *sf = storage_flags; sf->name; sf++)
		fprintf(f, "  --%s%s%s\n      %s\n", sf->name, sf->arg ? " " : "",
			sf->arg ? sf->arg : "", sf->help);
	fputs("Other:\n"
	      "  --log-level error|warn|info|debug   (default info); -v is debug\n"
	      "  -h, --help\n"
	      "\n"
	      "Example (local):\n"
	      "  podprof-operator run --kubeconfig kubeconfig --token-file token \\\n"
	      "      --storage-dir ./profiles\n",
	      f);
}

static int parse_uint(const char *s, const char *name, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	if (parse_ulong_range(s, min, max, out) == 0)
		return 0;
	fprintf(stderr, "podprof-operator: bad %s '%s' (want %lu..%lu)\n", name, s, min, max);
	return -EINVAL;
}

int operator_flags_parse(int argc, char **argv, struct operator_flags *f)
{
	static const struct option opts[] = {
	    {"kubeconfig", required_argument, NULL, 'k'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"port", required_argument, NULL, 'p'},
	    {"iface", required_argument, NULL, 'i'},
	    {"tls-cert", required_argument, NULL, 'c'},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"token-file", required_argument, NULL, 't'},
	    {"token-review", no_argument, NULL, 'R'},
	    {"worker-sa", required_argument, NULL, 'S'},
	    {"audience", required_argument, NULL, 'A'},
	    {"grace-ms", required_argument, NULL, 'g'},
	    {"top", required_argument, NULL, 'T'},
	    {"max-workers", required_argument, NULL, 'W'},
	    {"no-storage", no_argument, NULL, 'N'},
	    {"leader-elect", no_argument, NULL, 'L'},
	    {"leader-lease", required_argument, NULL, 'E'},
	    {"leader-namespace", required_argument, NULL, 'M'},
	    {"leader-lease-seconds", required_argument, NULL, 'D'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum log_level lvl;
	unsigned long v;
	int c;

	*f = (struct operator_flags){.lease_name = "podprof-operator-leader",
				     .lease_s = 15,
				     .grace_ms = 5000,
				     .top_n = 10,
				     .hub = {.port = 7443}};
	storage_config_init(&f->store);
	if (storage_config_parse_args(&f->store, &argc, argv) < 0)
		return -EINVAL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			f->kubeconfig = optarg;
			break;
		case 'n':
			f->ns = optarg;
			break;
		case 'p':
			if (parse_uint(optarg, "--port", 1, 65535, &v))
				return -EINVAL;
			f->hub.port = (int)v;
			break;
		case 'i':
			f->hub.iface = optarg;
			break;
		case 'c':
			f->hub.tls_cert = optarg;
			break;
		case 'K':
			f->hub.tls_key = optarg;
			break;
		case 't':
			f->token_file = optarg;
			break;
		case 'R':
			f->token_review = true;
			break;
		case 'S':
			f->worker_sa = optarg;
			break;
		case 'A':
			f->audience = optarg;
			break;
		case 'g':
			if (parse_uint(optarg, "--grace-ms", 100, 600000, &v))
				return -EINVAL;
			f->grace_ms = (uint32_t)v;
			break;
		case 'T':
			if (parse_uint(optarg, "--top", 1, 100, &v))
				return -EINVAL;
			f->top_n = (unsigned)v;
			break;
		case 'W':
			if (parse_uint(optarg, "--max-workers", 1, 65536, &v))
				return -EINVAL;
			f->hub.max_workers = (unsigned)v;
			break;
		case 'N':
			f->no_storage = true;
			break;
		case 'L':
			f->leader_elect = true;
			break;
		case 'E':
			f->lease_name = optarg;
			break;
		case 'M':
			f->lease_ns = optarg;
			break;
		case 'D':
			if (parse_uint(optarg, "--leader-lease-seconds", 5, 300, &f->lease_s))
				return -EINVAL;
			break;
		case 'l':
			if (log_parse_level(optarg, &lvl) < 0) {
				fprintf(stderr, "podprof-operator: bad --log-level '%s'\n", optarg);
				return -EINVAL;
			}
			log_set_level(lvl);
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "podprof-operator: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!f->token_file == !f->token_review) {
		fprintf(stderr, "podprof-operator: give exactly one of --token-file (local) or "
				"--token-review (cluster)\n");
		return -EINVAL;
	}
	if (!f->no_storage && storage_config_finish(&f->store) < 0)
		return -EINVAL;
	return 0;
}
