/* SPDX-License-Identifier: Apache-2.0 */
/* kfeatures.h -- which BPF features this kernel has, probed at worker start.
 *
 * The sampler's BPF program uses features that arrived in different kernel
 * releases (BPF cookies on perf links in 5.15, non-preallocated hash maps in
 * perf_event programs in 6.1, ...). Loading a program that uses a missing
 * one fails inside the verifier with a long log that names no kernel
 * version. This module asks the kernel directly, with libbpf's feature
 * probes where libbpf has one and a tiny program of our own where it has
 * not, so the worker can pick a fallback or refuse with one line that names
 * what is missing.
 *
 * A low-level module beside worker/sampler.c: depends on libbpf and lib/log
 * only. Probing loads and unloads a few tiny programs and maps, so it needs
 * the same capabilities as sampling (CAP_BPF and CAP_PERFMON, or root).
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_KFEATURES_H
#define PODPROF_KFEATURES_H

#include <stdbool.h>
#include <stdint.h>

/* One probed kernel feature. */
enum kfeature {
	KF_BTF = 0,		 /* kernel BTF at /sys/kernel/btf/vmlinux (CO-RE) */
	KF_PERF_EVENT_PROG,	 /* BPF_PROG_TYPE_PERF_EVENT programs */
	KF_STACK_TRACE_MAP,	 /* BPF_MAP_TYPE_STACK_TRACE + bpf_get_stackid */
	KF_ANCESTOR_CGROUP,	 /* bpf_get_current_ancestor_cgroup_id in perf_event programs */
	KF_ATTACH_COOKIE,	 /* bpf_get_attach_cookie in perf_event programs (perf links) */
	KF_NOPREALLOC_HASH_PERF, /* a BPF_F_NO_PREALLOC hash map used by a perf_event program */
	KF_BPF_LOOP,		 /* bpf_loop helper */
	KF_RINGBUF,		 /* BPF_MAP_TYPE_RINGBUF */
	KF__COUNT,
};

#define KF_BIT(f) (1ULL << (f))

/* What bpf/profile.bpf.c uses today without a fallback in the sampler.
 * Keep in step with the program: a feature that gains a fallback leaves
 * this mask for KFEATURES_SAMPLER_FALLBACKS (and the sampler picks its path
 * with kfeatures_has()). */
#define KFEATURES_SAMPLER_NEEDS (KF_BIT(KF_BTF) | KF_BIT(KF_PERF_EVENT_PROG))

/* Used where present, with a fallback where not (worker/sampler.c,
 * docs/worker.md): the job slot rides in the sample period instead of the
 * cookie; cgroup ancestors are read by CO-RE instead of the helper. */
#define KFEATURES_SAMPLER_FALLBACKS (KF_BIT(KF_ATTACH_COOKIE) | KF_BIT(KF_ANCESTOR_CGROUP))

/* Probe results. `have` is valid for every feature in `probed`; a probe
 * that could not run (e.g. -EPERM) leaves its bit out of `probed`. */
struct kfeatures {
	uint64_t have;	     /* KF_BIT(f) set: the kernel has f */
	uint64_t probed;     /* KF_BIT(f) set: f was answered (yes or no) */
	int errs[KF__COUNT]; /* negative errno of a probe that could not run, else 0 */
	char release[65];    /* uname -r */
	int perf_paranoid;   /* kernel.perf_event_paranoid, or INT_MIN if unreadable */
};

/* Highest kernel.perf_event_paranoid the worker can sample under. Above 2
 * (Debian's and Ubuntu's own patch; Debian kernels default to 3) only
 * CAP_SYS_ADMIN may open perf events, and the worker does not keep it. */
#define KFEATURES_MAX_PERF_PARANOID 2

/* Short name ("bpf_get_attach_cookie") and the first mainline release
 * that has it ("5.15"), for messages and docs. */
const char *kfeature_name(enum kfeature f);
const char *kfeature_since(enum kfeature f);

/* Probe every feature. Fails only if no probe could run at all (the first
 * probe's error, e.g. -EPERM without capabilities). */
int kfeatures_probe(struct kfeatures *kf);

/* True if the probe ran and said yes. */
bool kfeatures_has(const struct kfeatures *kf, enum kfeature f);

/* Check that every feature in `need` is present. If not, log ONE error line
 * naming each missing feature and the release it came in, and return
 * -EOPNOTSUPP. A feature whose probe could not run counts as missing, with
 * the probe's error in the line. */
int kfeatures_require(const struct kfeatures *kf, uint64_t need);

/* One info line per feature in KFEATURES_SAMPLER_FALLBACKS that this kernel
 * lacks, saying which path the sampler takes instead. */
void kfeatures_log_fallbacks(const struct kfeatures *kf);

/* One info line: the kernel release, the yes/no of every feature, perf_event_paranoid. */
void kfeatures_log(const struct kfeatures *kf);

/* Worker start-up: probe, require KFEATURES_SAMPLER_NEEDS and a
 * perf_event_paranoid of at most KFEATURES_MAX_PERF_PARANOID. -EOPNOTSUPP
 * when the kernel is too old for the sampler, -EACCES for the sysctl; both
 * already logged as one line saying what to do. */
int kfeatures_check_sampler(void);

/* `podprof-worker features`: print every feature (yes/no, since which
 * release) and whether the sampler can run; exit 0 if it can, 1 if not. */
int kfeatures_main(int argc, char **argv);

#endif
