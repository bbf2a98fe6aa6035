/* SPDX-License-Identifier: Apache-2.0 */
/* caps.h -- the worker's capability set: check what sampling needs, drop the rest.
 *
 * Wraps libcap; nothing else in podprof touches it. The worker keeps only
 * (see docs/worker.md for the reasoning):
 *   CAP_BPF             load the sampler and read/write its maps (per job)
 *   CAP_PERFMON         open cpu-wide perf events, attach perf_event programs
 *   CAP_SYS_PTRACE      read /proc/PID/maps and /proc/PID/root of other users' processes
 *   CAP_DAC_READ_SEARCH open their binaries and libraries for symbols
 *   CAP_SYSLOG          read real addresses from /proc/kallsyms
 * in its permitted and effective sets; all others leave the effective,
 * permitted, inheritable, ambient and bounding sets.
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_CAPS_H
#define PODPROF_CAPS_H

#include <stddef.h>

/* Drop every capability outside the worker's set (those of the set that the
 * process does not hold stay absent). Call once start-up is done. */
int caps_drop_to_worker_set(void);

/* -EPERM (and a message saying what is missing) unless the effective set
 * allows loading BPF and opening perf events. */
int caps_check_sampling(void);

/* The current effective set as text (e.g. "cap_bpf,cap_perfmon=ep") into buf. */
int caps_describe(char *buf, size_t len);

#endif
