// SPDX-License-Identifier: Apache-2.0
/* minsampler.bpf.c -- the smallest useful CO-RE stack sampler, as a yardstick
 * for bench/selected.py: one program per timer tick on every CPU, an optional
 * cgroup filter, user and kernel stack ids from the kernel's stack map, a
 * count per (pid, stacks) in a preallocated hash. Not part of podprof. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define MAX_ENTRIES 16384

struct sample_key {
	__u32 pid;
	__s32 ustack;
	__s32 kstack;
};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, MAX_ENTRIES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ENTRIES);
	__type(key, struct sample_key);
	__type(value, __u64);
} counts SEC(".maps");

const volatile __u64 target_cgroup = 0; /* 0: every task */

SEC("perf_event")
int sample(void *ctx)
{
	struct sample_key k = {};
	__u64 one = 1, *v;

	if (target_cgroup && bpf_get_current_cgroup_id() != target_cgroup)
		return 0;
	k.pid = bpf_get_current_pid_tgid() >> 32;
	k.ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	k.kstack = bpf_get_stackid(ctx, &stacks, 0);
	v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &k, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
