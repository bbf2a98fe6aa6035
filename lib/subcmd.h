/* SPDX-License-Identifier: Apache-2.0 */
/* subcmd.h -- "<program> <command> [options]" dispatch for the binaries.
 *
 * A low-level primitive: libc only. podprof-worker, podprof-operator and the
 * test driver each name their commands in a table; this prints the usage
 * from the table and runs the matching entry, so the three agree on -h,
 * --help, help and on unknown commands.
 */
#ifndef PODPROF_SUBCMD_H
#define PODPROF_SUBCMD_H

#include <stddef.h>

struct subcmd {
	const char *name;		   /* what the user types after the program */
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
	const char *summary;		   /* one line for the usage text */
};

/* Run the command argv[1] names with (argc - 1, argv + 1) and return its
 * exit status. No command: usage on stderr, 2. -h, --help or help: usage on
 * stdout, 0. Unknown command: a message and the usage on stderr, 2. `hint`
 * is the usage's last line (e.g. where options are described). */
int subcmd_main(const char *prog, const struct subcmd *cmds, size_t n, const char *hint, int argc,
		char **argv);

#endif
