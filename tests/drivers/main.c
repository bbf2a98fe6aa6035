/* SPDX-License-Identifier: Apache-2.0 */
/* main.c -- podprof-testdrv: drives one operator module at a time for the
 * e2e suite (the hub alone, the Kubernetes client, the store).
 *
 * Built by `make all` and `make test`, never installed or shipped: the
 * product binary podprof-operator carries no test entry points.
 */
#include "debug_hub.h"
#include "debug_k8s.h"
#include "debug_upload.h"
#include "subcmd.h"

static const struct subcmd commands[] = {
    {"debug-hub", debug_hub_main, "the worker hub alone; worker events as JSON lines"},
    {"debug-upload", debug_upload_main, "store a file (S3 or dir, spool, retry)"},
    {"debug-watch", debug_k8s_main, "an informer; its events as JSON lines"},
    {"debug-status", debug_k8s_main, "a status write with conflict retry"},
    {"debug-event", debug_k8s_main, "record a Kubernetes Event"},
    {"debug-tokenreview", debug_k8s_main, "a TokenReview of the token on stdin"},
    {"debug-get", debug_k8s_main, "GET an API path"},
};

int main(int argc, char **argv)
{
	return subcmd_main("podprof-testdrv", commands, sizeof(commands) / sizeof(commands[0]),
			   "Run 'podprof-testdrv <command> --help' for its options.", argc, argv);
}
