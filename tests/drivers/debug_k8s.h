/* SPDX-License-Identifier: Apache-2.0 */
/* debug_k8s.h -- test-driver subcommands exercising the Kubernetes client.
 *
 * Part of the test-only podprof-testdrv; used by e2e/test_k8s_client.py
 * to exercise the client, informer, status writer, Events and TokenReview
 * against a real kube-apiserver without the whole operator. Output is one
 * JSON object per line on stdout.
 */
#ifndef PODPROF_DEBUG_K8S_H
#define PODPROF_DEBUG_K8S_H

/* Run a subcommand; argv[0] is its name:
 *   debug-watch        list+watch a resource, print events
 *   debug-status       update status with conflict retry
 *   debug-event        record an Event about an object
 *   debug-tokenreview  review a token read from stdin
 *   debug-get          GET an API path, print the reply or the API error
 * Common flag: --kubeconfig FILE (else in-cluster, $KUBECONFIG, ~/.kube/config).
 * Returns the process exit code (0 ok, 1 failed, 2 usage). */
int debug_k8s_main(int argc, char **argv);

#endif
