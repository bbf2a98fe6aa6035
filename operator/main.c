/* SPDX-License-Identifier: Apache-2.0 */
/* main.c -- podprof-operator entry point: dispatches subcommands.
 *
 * Minimal placeholder dispatcher: `run` (the controller) is not written yet;
 * the hidden diagnostic subcommands used by the e2e tests are.
 */
#include "debug_hub.h"
#include "debug_k8s.h"
#include "debug_upload.h"
#include "run.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: podprof-operator run [flags]\n";

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
	fputs(usage, stderr);
	return 2;
}
