/* SPDX-License-Identifier: Apache-2.0 */
/* profile.h -- structs shared by profile.bpf.c and the worker's sampler.
 *
 * UAPI types only, so the same header compiles for the BPF target (with
 * vmlinux.h) and for user space (with <linux/types.h>).
 */
#ifndef PODPROF_BPF_PROFILE_H
#define PODPROF_BPF_PROFILE_H

#ifndef __VMLINUX_H__
#include <linux/types.h> /* user space; BPF side gets the types from vmlinux.h */
#endif

#define PROFILE_MAX_SLOTS	 64  /* concurrent jobs; a job's slot is its attach cookie */
#define PROFILE_MAX_STACK_DEPTH	 127 /* frames per stack, the kernel's PERF_MAX_STACK_DEPTH */
#define PROFILE_COMM_LEN	 16  /* TASK_COMM_LEN */
#define PROFILE_MAX_CGROUP_LEVEL 16  /* deepest cgroup ancestor level checked for a target */
#define PROFILE_COOKIE_KSTACKS	 (1ULL << 32) /* cookie bit: this job wants kernel stacks */
#define PROFILE_COOKIE_SLOT_MASK 0xffffffffULL

/* What a target key names: a cgroup v2 ID or a process (tgid). */
enum profile_target_kind {
	PROFILE_TARGET_CGROUP = 0,
	PROFILE_TARGET_TGID = 1,
};

/* Key of the `targets` map; the value is a __u64 count of samples matched. */
struct profile_target_key {
	__u32 slot; /* job slot */
	__u32 kind; /* enum profile_target_kind */
	__u64 id;   /* cgroup v2 ID (inode number) or tgid */
};

/* Key of the `counts` map; the value is a __u64 sample count. */
struct profile_count_key {
	__u32 slot;	     /* job slot */
	__u32 pid;	     /* tgid */
	__u32 tid;	     /* thread id, 0 unless the per-thread setting is on */
	__s32 user_stack_id; /* id in `stacks`, or a negative errno */
	__s32 kern_stack_id; /* id in `stacks`, or a negative errno (-ENOENT: not asked) */
	__u32 target_kind;   /* which target matched: enum profile_target_kind */
	__u64 target_id;     /* ... and its id, so samples can be labelled per container */
	char comm[PROFILE_COMM_LEN];
};

/* Per-slot counters in the per-CPU `drops` array, index slot * PROFILE_DROP__MAX + kind.
 * Stack errors keep the sample (with an unknown stack); COUNTS_FULL loses it. */
enum profile_drop_kind {
	PROFILE_DROP_USER_STACK = 0,  /* user stack not captured (empty stacks do not count) */
	PROFILE_DROP_KERN_STACK = 1,  /* kernel stack not captured */
	PROFILE_DROP_STACK_FULL = 2,  /* stack map bucket taken by another stack or map full */
	PROFILE_DROP_COUNTS_FULL = 3, /* counts map full: the sample is lost */
	PROFILE_DROP__MAX = 4,
};

#endif
