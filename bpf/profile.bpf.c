/* SPDX-License-Identifier: Apache-2.0 */
/* profile.bpf.c -- cpu-clock sampler that counts stacks of target cgroups and processes.
 *
 * Every job attaches its own per-CPU perf events with its slot as the BPF
 * cookie, so several jobs share this one program and their samples stay
 * apart. A sample counts only when the interrupted task is a target of that
 * slot: its tgid, or its cgroup v2 ID or any ancestor's (so a pod cgroup
 * covers its containers; the deepest registered cgroup wins, which lets the
 * worker label samples per container). Stacks go to a stack-trace map and
 * counts aggregate in a hash map that user space drains with
 * lookup-and-delete. Nothing is lost silently: stack and map failures are
 * counted per slot in `drops`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "profile.h"

#define EEXIST 17
#define ENOENT 2
#define ENOMEM 12
#define EFAULT 14

char LICENSE[] SEC("license") = "GPL";

/* Settings, written by the sampler between open and load. */
const volatile bool per_thread = false; /* key counts by thread, not only by process */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct profile_target_key);
	__type(value, __u64);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PROFILE_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct profile_count_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_MAX_SLOTS *PROFILE_DROP__MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(__u32 slot, __u32 kind)
{
	__u32 idx = slot * PROFILE_DROP__MAX + kind;
	__u64 *v = bpf_map_lookup_elem(&drops, &idx);

	if (v)
		*v += 1; /* per-CPU slot: no other writer */
}

static __always_inline void stack_error(__u32 slot, int err, __u32 kind)
{
	/* -EFAULT is an empty stack, not a failure: no kernel frames for a
	 * sample taken in user mode, no user frames for a kernel thread. */
	if (err == -EFAULT)
		return;
	count_drop(slot, err == -EEXIST || err == -ENOMEM ? PROFILE_DROP_STACK_FULL : kind);
}

/* Find the target this task belongs to for `slot`; NULL if none. */
static __always_inline __u64 *match_target(__u32 slot, __u32 tgid, struct profile_target_key *tk)
{
	__u64 *hits;

	tk->slot = slot;
	tk->kind = PROFILE_TARGET_TGID;
	tk->id = tgid;
	hits = bpf_map_lookup_elem(&targets, tk);
	if (hits)
		return hits;

	tk->kind = PROFILE_TARGET_CGROUP;
	/* Deepest first: a container cgroup beats its pod's. Levels above the
	 * task's own return 0. Level 0 (the root) is never a target. */
	for (int lvl = PROFILE_MAX_CGROUP_LEVEL; lvl >= 1; lvl--) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(lvl);

		if (!id)
			continue;
		tk->id = id;
		hits = bpf_map_lookup_elem(&targets, tk);
		if (hits)
			return hits;
	}
	return NULL;
}

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 slot = cookie & PROFILE_COOKIE_SLOT_MASK;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct profile_target_key tk = {};
	struct profile_count_key key = {};
	__u64 *hits, *val, one = 1;
	int err;

	if (slot >= PROFILE_MAX_SLOTS)
		return 0;
	hits = match_target(slot, pid_tgid >> 32, &tk);
	if (!hits)
		return 0;
	__sync_fetch_and_add(hits, 1);

	key.slot = slot;
	key.pid = pid_tgid >> 32;
	key.tid = per_thread ? (__u32)pid_tgid : 0;
	key.target_kind = tk.kind;
	key.target_id = tk.id;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));

	key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	if (key.user_stack_id < 0)
		stack_error(slot, key.user_stack_id, PROFILE_DROP_USER_STACK);
	if (cookie & PROFILE_COOKIE_KSTACKS) {
		key.kern_stack_id = bpf_get_stackid(ctx, &stacks, 0);
		if (key.kern_stack_id < 0)
			stack_error(slot, key.kern_stack_id, PROFILE_DROP_KERN_STACK);
	} else {
		key.kern_stack_id = -ENOENT;
	}

	val = bpf_map_lookup_elem(&counts, &key);
	if (val) {
		__sync_fetch_and_add(val, 1);
		return 0;
	}
	err = bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* Another CPU inserted the same key in between. */
		val = bpf_map_lookup_elem(&counts, &key);
		if (val)
			__sync_fetch_and_add(val, 1);
	} else if (err) {
		count_drop(slot, PROFILE_DROP_COUNTS_FULL);
	}
	return 0;
}
