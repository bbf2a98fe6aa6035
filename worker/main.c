/* SPDX-License-Identifier: Apache-2.0 */
/* main.c -- podprof-worker: dispatch to a subcommand. */
#include "agent.h"
#include "kfeatures.h"
#include "record.h"
#include "subcmd.h"

/* One line per subcommand. */
static const struct subcmd commands[] = {
    {"record", record_main, "profile a process or cgroup on this machine, no cluster"},
    {"agent", agent_main, "node daemon: connect to the operator and profile what it asks"},
    {"features", kfeatures_main, "probe this kernel's BPF features: can the sampler run here?"},
};

int main(int argc, char **argv)
{
	return subcmd_main("podprof-worker", commands, sizeof(commands) / sizeof(commands[0]),
			   "Run 'podprof-worker <command> --help' for its options.", argc, argv);
}
