/* SPDX-License-Identifier: Apache-2.0 */
/* record.h -- `podprof-worker record`: profile a process or cgroup locally, no cluster. */
#ifndef PODPROF_RECORD_H
#define PODPROF_RECORD_H

/* Entry point of the subcommand; argv[0] is "record". Returns the process
 * exit code: 0 done, 1 failed, 2 bad usage. */
int record_main(int argc, char **argv);

#endif
