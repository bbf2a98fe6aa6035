/* SPDX-License-Identifier: Apache-2.0 */
/* debug_upload.h -- diagnostic subcommands of the test driver podprof-testdrv.
 *
 * Not part of the user-facing command line; used by e2e tests and for
 * debugging a storage or flame graph problem by hand.
 */
#ifndef PODPROF_DEBUG_UPLOAD_H
#define PODPROF_DEBUG_UPLOAD_H

/* `podprof-testdrv debug-upload ...`: argv[0] is "debug-upload". Takes the
 * storage flags (storage.h) plus FILE KEY, --drain or --get KEY; prints one
 * line per storage event. Returns the process exit code (0 uploaded,
 * 1 failed, 2 usage, 3 spooled, 4 timeout). */
int debug_upload_main(int argc, char **argv);

#endif
