/* SPDX-License-Identifier: Apache-2.0 */
/* unwinder.h -- keeps the in-kernel unwinder's view of processes current.
 *
 * For every process that is sampled, the BPF program needs its executable
 * mappings and, for each mapped binary, an unwind table (worker/unwind_table.h).
 * This module reads /proc/PID/maps, builds each binary's table once (keyed
 * by device, inode, size and mtime, so all processes and jobs that map the
 * same file share it), uploads the rows into the sampler's row array
 * (first fit; tables no live process uses are evicted least recently used
 * first when space runs out) and writes the process entry. Binaries without
 * CFI (Go, JIT code, anonymous memory) are walked with frame pointers.
 *
 * Processes become known three ways: a pid target is added, a cgroup's
 * cgroup.procs lists it (scanned on every poll), or the BPF program
 * reports it (an unknown pid, an address outside the known mappings after
 * dlopen, a changed address space after exec).
 *
 * Builds on worker/sampler.h (the maps), worker/unwind_table.h and
 * worker/procmaps.h. Not thread-safe. Return convention: 0 on success,
 * negative errno on failure; a process or file that cannot be read is not
 * a failure (it is counted, and its frames end with a marker).
 */
#ifndef PODPROF_UNWINDER_H
#define PODPROF_UNWINDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sampler;
struct unwinder;

struct unwinder_stats {
	size_t tables;		  /* tables loaded in the kernel */
	uint64_t rows_used;	  /* rows they occupy */
	uint64_t rows_capacity;	  /* rows the kernel array holds */
	uint64_t table_builds;	  /* tables built from ELF files */
	uint64_t table_build_ns;  /* time spent building them */
	uint64_t table_evictions; /* tables evicted to make room */
	uint64_t table_refused;	  /* tables that did not fit (frames end with a marker) */
	uint64_t no_cfi;	  /* binaries without CFI (frame pointers used) */
	size_t procs;		  /* processes known to the kernel */
	uint64_t proc_updates;	  /* process entries written */
	uint64_t procs_full;	  /* processes that did not fit the kernel map */
	uint64_t events;	  /* events from the BPF program handled */
	uint64_t py_procs;	  /* CPython process entries written */
};

#define UNWINDER_NOTE_MAX 512 /* bytes of a note's text, NUL included */

/* Why a process's frames are less than they could be, for the user: a
 * CPython whose version has no offsets ("python_unsupported") or whose
 * binary lacks the symbols ("python_no_symbols") is sampled with native
 * frames only. One note per binary and reason (it names the file and the
 * first pid seen); printable ASCII. */
struct unwinder_note {
	const char *code;
	const char *text;
};

/* Called for each process the unwinder reads for the first time, e.g. so
 * that the symbolizer snapshots its maps while it surely lives. */
typedef void (*unwinder_new_pid_fn)(void *ctx, pid_t pid);

/* proc_root is normally "/proc". The unwinder does not own the sampler.
 * on_new (may be NULL) is told of every process it learns. */
int unwinder_new(struct unwinder **out, struct sampler *s, const char *proc_root,
		 unwinder_new_pid_fn on_new, void *ctx);

/* Forget everything (the kernel state goes with the sampler). Accepts NULL. */
void unwinder_free(struct unwinder *u);

/* Read the process's maps now and (re)write its kernel entry. -ESRCH when
 * it is gone. */
int unwinder_add_pid(struct unwinder *u, pid_t pid);

/* Drop a process's kernel entry and release its tables for eviction. */
void unwinder_forget_pid(struct unwinder *u, pid_t pid);

/* Scan a cgroup directory (and its descendants) for processes on every poll. */
int unwinder_watch_cgroup(struct unwinder *u, uint64_t cgroup_id, const char *dir);
void unwinder_unwatch_cgroup(struct unwinder *u, uint64_t cgroup_id);

/* Handle the BPF program's process events, scan watched cgroups and forget
 * processes that exited (about once a second). */
int unwinder_poll(struct unwinder *u);

/* Only the events the wake-up ring announced (sampler_events_fd): one
 * syscall when there are none, so callers run it whenever that fd polls
 * readable and new processes unwind at once. */
int unwinder_poll_events(struct unwinder *u);

void unwinder_stats(const struct unwinder *u, struct unwinder_stats *st);

/* The note about live process pid, or NULL (the usual case). Valid while u
 * lives. A linear scan of the processes that have one: cheap, they are few
 * (at most 1024 are remembered). Accepts u NULL. */
const struct unwinder_note *unwinder_note_of(const struct unwinder *u, pid_t pid);

#endif
