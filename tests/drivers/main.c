/* SPDX-License-Identifier: Apache-2.0 */
/* main.c -- podprof-testdrv: drives one operator module at a time for the
 * e2e suite (the hub alone, the Kubernetes client, the store).
 *
 * Built by `make all` and `make test`, never installed or shipped: the
 * product binary podprof-operator carries no test entry points.
 */
#include <stdio.h>
#include <string.h>

#include "debug_hub.h"
#include "debug_k8s.h"
#include "debug_upload.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	const char *summary;
};

static const struct subcommand subcommands[] = {
    {"debug-hub", debug_hub_main, "the worker hub alone; worker events as JSON lines"},
    {"debug-upload", debug_upload_main, "store a file (S3 or dir, spool, retry)"},
    {"debug-watch", debug_k8s_main, "an informer; its events as JSON lines"},
    {"debug-status", debug_k8s_main, "a status write with conflict retry"},
    {"debug-event", debug_k8s_main, "record a Kubernetes Event"},
    {"debug-tokenreview", debug_k8s_main, "a TokenReview of the token on stdin"},
    {"debug-get", debug_k8s_main, "GET an API path"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: podprof-testdrv <command> [options]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-18s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\nRun 'podprof-testdrv <command> --help' for its options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "podprof-testdrv: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
