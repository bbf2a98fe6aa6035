/* SPDX-License-Identifier: Apache-2.0 */
/* symbolize.h -- addresses to function names for kernel and user stacks.
 *
 * Kernel frames from /proc/kallsyms; user frames through /proc/PID/maps and
 * the ELF .symtab/.dynsym of each mapped file (libelf), correct for PIE and
 * shared libraries. Per-binary symbol and line tables are kept in a symbol
 * cache (symcache.h) keyed by the GNU build ID, which several symbolizers
 * (one per job engine wake-up) may share, so a binary is loaded once across
 * processes and jobs. A process's maps are snapshotted the first time it
 * is seen (symbolizer_note_pid) so that it can still be symbolized after it
 * exits. What cannot be symbolized keeps its mapping and offset.
 *
 * Where the binary or its separate debug file (found as gdb does, see
 * debuginfo.h) has DWARF, user frames carry file:line and one line per
 * inlined call (dwarfline.h), innermost first.
 *
 * Binaries are opened as the process sees them, through procfile:
 * /proc/PID/map_files, else the path resolved inside the process's root,
 * non-blocking, regular files with the mapping's identity only; deleted
 * mappings only through map_files. ELF files are loaded when the pid is
 * noted, so a process that exits before its samples are drained is still
 * symbolized. Stripped or malformed binaries, JIT code ("[anon]") and
 * [vdso] give frames with function NULL that keep the mapping, so the
 * offset is known.
 *
 * Budgets: between symbolizer_drain_begin() calls, at most 2 s of CPU spent in
 * maps reads and ELF loads (one in progress can overrun it) and 128 MiB go
 * to new maps snapshots and binaries; one process's snapshot stays under
 * 4 MiB, all of them under 128 MiB, binaries under the cache's budget
 * (least recently used binaries no snapshot refers to are evicted first,
 * SYMCACHE_DEFAULT_BYTES unless configured). Past a budget
 * frames keep mapping+offset and the give-up is
 * counted (symbolizer_get_stats) and logged at window end. Before the
 * first drain_begin only the held-bytes caps apply.
 *
 * Kernel frames carry the function name and the offset into it as address
 * (never the raw kernel address), and kernel mappings carry no range.
 *
 * Not thread-safe: use one symbolizer from one thread.
 *
 * Return convention: 0 on success, negative errno on failure. A process or
 * binary that cannot be read is not a failure (frames stay unsymbolized);
 * only -ENOMEM (and -EINVAL for a bad pid) are returned.
 * Strings returned through pprof_frame/pprof_mapping_info stay valid until
 * symbolizer_free(), except that mappings of a pid are freed by
 * symbolizer_forget_pid() of that pid. pprof_frame.lines arrays stay valid
 * until the next symbolizer_user() call.
 */
#ifndef PODPROF_SYMBOLIZE_H
#define PODPROF_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pprof.h"
#include "symcache.h"

struct symbolizer;

/* proc_root is normally "/proc" (configurable for tests and for workers
 * that see the host's /proc under another path). The symbolizer gets a
 * symbol cache of its own with the default budget. */
int symbolizer_new(struct symbolizer **out, const char *proc_root);

/* Same, with binaries' tables in cache (not owned; it must outlive the
 * symbolizer). NULL: a cache of its own. */
int symbolizer_new_cached(struct symbolizer **out, const char *proc_root, struct symcache *cache);
void symbolizer_free(struct symbolizer *s);

/* Extra node directories searched for separate debug files after the
 * process's own /usr/lib/debug (laid out like it: .build-id/xx/rest.debug,
 * <binary dir>/<debuglink>). At most DEBUGINFO_MAX_DIRS (16); copied. Affects
 * binaries loaded afterwards. */
int symbolizer_set_debug_dirs(struct symbolizer *s, const char *const *dirs, size_t n);

/* Snapshot /proc/PID/maps now (cheap when already known). Call when a pid is
 * first seen so that short-lived processes stay symbolizable. */
int symbolizer_note_pid(struct symbolizer *s, pid_t pid);

struct symbolizer_stats {
	uint64_t gave_up_time;	 /* loads skipped: drain over its time budget */
	uint64_t gave_up_memory; /* loads skipped: drain or cache over its bytes */
	uint64_t maps_truncated; /* maps over the entry or size cap */
	uint64_t elf_refused;	 /* ELF files over elfsym's caps */
	uint64_t open_refused;	 /* not a regular file, not the mapped one, deleted */
};

/* Start a drain: resets the per-drain time and memory budget. */
void symbolizer_drain_begin(struct symbolizer *s);

/* End of a profile window: logs this window's give-ups, forgets the pids
 * not seen since the previous window end (and older maps generations of
 * the others), and unpins the binaries only those referred to (they stay cached).
 * Frames handed out before stay valid only for the mappings kept. */
int symbolizer_end_window(struct symbolizer *s);

/* Give-up counts since symbolizer_new(). */
void symbolizer_get_stats(const struct symbolizer *s, struct symbolizer_stats *out);

/* Counters of the symbol cache it uses (shared ones count for all users). */
void symbolizer_cache_stats(const struct symbolizer *s, struct symcache_stats *out);

/* Forget a pid's maps snapshot (e.g. at the end of a job). Frees the
 * pprof_mapping_info structs handed out for it; binaries stay cached. */
void symbolizer_forget_pid(struct symbolizer *s, pid_t pid);

/* Fill frames[i] for each of n user-space addresses of process pid, leaf
 * first: ips[0] is where the CPU was, ips[i > 0] are return addresses (looked
 * up as ip - 1 so that a call at the very end of a function resolves to
 * it; frames[i].addr keeps ips[i]). Notes the pid if not yet noted, and
 * re-reads its maps (a few times at most) for addresses the snapshot does
 * not cover (dlopen, exec). Values at or above SYMBOLIZE_USER_END cannot be
 * user addresses: their frames keep only addr, for the caller to name (the
 * BPF program's Python frames are such values). */
#define SYMBOLIZE_USER_END (1ULL << 57) /* x86_64 user space, 5-level paging included */
int symbolizer_user(struct symbolizer *s, pid_t pid, const uint64_t *ips, size_t n,
		    struct pprof_frame *frames);

/* Fill frames[i] for each of n kernel addresses (leaf first, as above).
 * /proc/kallsyms is read on first use; module functions get the module's
 * mapping ("[mod]"), the rest "[kernel.kallsyms]". */
int symbolizer_kernel(struct symbolizer *s, const uint64_t *ips, size_t n,
		      struct pprof_frame *frames);

#endif
