/* SPDX-License-Identifier: Apache-2.0 */
/* main.c -- podprof-operator entry point: dispatches subcommands.
 *
 * `run` is the controller (operator/run.c). The drivers the e2e suite uses
 * to exercise one module at a time are a separate, test-only binary
 * (tests/drivers, podprof-testdrv).
 */
#include "run.h"
#include "subcmd.h"

static const struct subcmd commands[] = {
    {"run", operator_run, "the controller: watch ProfilingTargets, drive workers, write results"},
};

int main(int argc, char **argv)
{
	return subcmd_main("podprof-operator", commands, sizeof(commands) / sizeof(commands[0]),
			   "Run 'podprof-operator run --help' for its options.", argc, argv);
}
