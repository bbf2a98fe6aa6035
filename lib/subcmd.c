/* SPDX-License-Identifier: Apache-2.0 */
/* subcmd.c -- command-table dispatch shared by the binaries' main(). */
#include "subcmd.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f, const char *prog, const struct subcmd *cmds, size_t n, const char *hint)
{
	int width = 0;

	for (size_t i = 0; i < n; i++)
		if ((int)strlen(cmds[i].name) > width)
			width = (int)strlen(cmds[i].name);
	fprintf(f, "Usage: %s <command> [options]\n\nCommands:\n", prog);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-*s  %s\n", width, cmds[i].name, cmds[i].summary);
	if (hint)
		fprintf(f, "\n%s\n", hint);
}

int subcmd_main(const char *prog, const struct subcmd *cmds, size_t n, const char *hint, int argc,
		char **argv)
{
	if (argc < 2) {
		usage(stderr, prog, cmds, n, hint);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout, prog, cmds, n, hint);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s'\n\n", prog, argv[1]);
	usage(stderr, prog, cmds, n, hint);
	return 2;
}
