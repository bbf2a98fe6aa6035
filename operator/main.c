/* SPDX-License-Identifier: Apache-2.0 */
/* main.c -- podprof-operator entry point: dispatches subcommands.
 *
 * `run` is the controller (operator/run.c); the debug-* commands drive one
 * module at a time for the e2e suite.
 */
#include "debug_hub.h"
#include "debug_k8s.h"
#include "debug_upload.h"
#include "run.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: podprof-operator <command> [options]\n"
    "\n"
    "Commands:\n"
    "  run      the controller: watch ProfilingTargets, drive workers, write results\n"
    "\n"
    "Run 'podprof-operator run --help' for its options. Diagnostic commands used by\n"
    "the test suite: debug-hub, debug-upload, debug-watch, debug-status, debug-event,\n"
    "debug-tokenreview, debug-get.\n";

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "debug-hub") == 0)
		return debug_hub_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "debug-upload") == 0)
		return debug_upload_main(argc - 1, argv + 1);
	if (argc >= 2 && debug_k8s_is_cmd(argv[1]))
		return debug_k8s_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return operator_run(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc >= 2)
		fprintf(stderr, "podprof-operator: unknown command '%s'\n\n", argv[1]);
	fputs(usage, stderr);
	return 2;
}
