/* SPDX-License-Identifier: Apache-2.0 */
/* main.c -- podprof-worker: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "kfeatures.h"
#include "record.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	const char *summary;
};

/* One line per subcommand. */
static const struct subcommand subcommands[] = {
    {"record", record_main, "profile a process or cgroup on this machine, no cluster"},
    {"agent", agent_main, "node daemon: connect to the operator and profile what it asks"},
    {"features", kfeatures_main, "probe this kernel's BPF features: can the sampler run here?"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: podprof-worker <command> [options]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\nRun 'podprof-worker <command> --help' for its options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "podprof-worker: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
