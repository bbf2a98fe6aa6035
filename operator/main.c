/* SPDX-License-Identifier: Apache-2.0 */
/* main.c -- podprof-operator entry point: dispatches subcommands.
 *
 * `run` is the controller (operator/run.c). The drivers the e2e suite uses
 * to exercise one module at a time are a separate, test-only binary
 * (tests/drivers, podprof-testdrv).
 */
#include "run.h"

#include <stdio.h>
#include <string.h>

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	const char *summary;
};

static const struct subcommand subcommands[] = {
    {"run", operator_run, "the controller: watch ProfilingTargets, drive workers, write results"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: podprof-operator <command> [options]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\nRun 'podprof-operator run --help' for its options.\n");
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
	fprintf(stderr, "podprof-operator: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
