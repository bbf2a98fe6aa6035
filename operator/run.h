/* SPDX-License-Identifier: Apache-2.0 */
/* run.h -- `podprof-operator run`: the controller process. */
#ifndef PODPROF_RUN_H
#define PODPROF_RUN_H

/* Parse flags, connect to the API server, serve workers and reconcile until
 * SIGINT/SIGTERM. Returns the process exit status. */
int operator_run(int argc, char **argv);

#endif
