/* SPDX-License-Identifier: Apache-2.0 */
/* main.c -- kubectl-podprof entry point: parse flags, dispatch a subcommand. */
#include "cli.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*fn)(struct cli_opts *o);
} commands[] = {
    {"run", cmd_run},
    {"top", cmd_top},
    {"fetch", cmd_fetch},
    {"diff", cmd_diff},
};

int main(int argc, char **argv)
{
	struct cli_opts o;

	/* The shared client logs API failures as warnings; the plugin prints
	 * its own messages, so only errors from the libraries show. */
	log_set_level(LOG_LVL_ERROR);
	if (cli_parse_args(argc, argv, &o))
		return CLI_EXIT_USAGE;
	if (o.help) {
		cli_usage(o.command);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, o.command))
			return commands[i].fn(&o);
	return CLI_EXIT_USAGE; /* unreachable: cli_parse_args checked the name */
}
