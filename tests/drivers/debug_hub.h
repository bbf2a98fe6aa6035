/* SPDX-License-Identifier: Apache-2.0 */
/* debug_hub.h -- `podprof-testdrv debug-hub`: run only the worker hub.
 *
 * Not part of the user-facing command line; used by e2e tests and for
 * debugging the worker link without a Kubernetes API server.
 */
#ifndef PODPROF_DEBUG_HUB_H
#define PODPROF_DEBUG_HUB_H

/* argv[0] is "debug-hub". Flags: --port P --token-file F [--iface ADDR]
 * [--tls-cert F --tls-key F] [--max-profile-bytes N] [--heartbeat-ms N]
 * [--attach-file F (attach JSON sent to every worker on hello)]
 * [--profile-dir D (received profiles saved as D/<node>.<n>.pb.gz)] [-v].
 * Logs one line per hub event; runs until SIGINT/SIGTERM. Returns the exit
 * code (0 clean stop, 1 failure, 2 usage). */
int debug_hub_main(int argc, char **argv);

#endif
