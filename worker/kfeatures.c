/* SPDX-License-Identifier: Apache-2.0 */
/* kfeatures.c -- probe the kernel's BPF features once at start, name what is missing.
 *
 * libbpf's probes (libbpf_probe_bpf_prog_type/_map_type/_helper) answer
 * most questions. libbpf has none for "may a perf_event program use a
 * non-preallocated hash map" (a verifier rule, relaxed in 6.1), so that one
 * loads a six-instruction program of its own against such a map.
 */
#include "kfeatures.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include <linux/bpf.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"

#define MOD "kfeatures"

#define BTF_PATH      "/sys/kernel/btf/vmlinux"
#define PARANOID_PATH "/proc/sys/kernel/perf_event_paranoid"

struct kfeature_info {
	const char *key;      /* short, for the start-up log line */
	const char *fallback; /* what the sampler does without it, or NULL: it needs it */
	const char *name;     /* what users search for */
	const char *since;    /* first release with it: mainline, or for the last two the
			    * first one the kernel matrix saw with it (absent in 5.10,
			    * present in 6.1; docs/install.md) */
};

static const struct kfeature_info infos[KF__COUNT] = {
    [KF_BTF] = {"btf", NULL, "kernel BTF (CONFIG_DEBUG_INFO_BTF)", "5.2"},
    [KF_PERF_EVENT_PROG] = {"perf_event", NULL, "perf_event BPF programs", "4.9"},
    [KF_STACK_TRACE_MAP] = {"stack_trace", NULL, "stack trace maps", "4.6"},
    [KF_ANCESTOR_CGROUP] = {"ancestor_cgroup",
			    "cgroup ancestors read by CO-RE (task->cgroups->dfl_cgrp, then "
			    "each cgroup's parent)",
			    "bpf_get_current_ancestor_cgroup_id in perf_event programs", "6.1"},
    [KF_ATTACH_COOKIE] = {"cookie",
			  "the job slot and its flags ride in the low bits of each perf "
			  "event's sample period",
			  "BPF cookies on perf links (bpf_get_attach_cookie)", "5.15"},
    [KF_NOPREALLOC_HASH_PERF] = {"noprealloc_perf", NULL,
				 "non-preallocated hash maps in perf_event programs", "6.1"},
    [KF_BPF_LOOP] = {"bpf_loop", NULL, "bpf_loop", "5.17"},
    [KF_RINGBUF] = {"ringbuf", NULL, "BPF ring buffer", "5.8"},
};

const char *kfeature_name(enum kfeature f)
{
	return f < KF__COUNT ? infos[f].name : "?";
}

const char *kfeature_since(enum kfeature f)
{
	return f < KF__COUNT ? infos[f].since : "?";
}

/* Load `lookup(map, &key0); return 0` as a perf_event program against a
 * one-entry BPF_F_NO_PREALLOC hash map. 1 = accepted, 0 = refused by the
 * verifier, negative errno when the probe itself could not run. */
static int probe_noprealloc_perf(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, mopts, .map_flags = BPF_F_NO_PREALLOC);
	int map_fd, prog_fd, err;

	map_fd = bpf_map_create(BPF_MAP_TYPE_HASH, NULL, sizeof(__u32), sizeof(__u64), 1, &mopts);
	if (map_fd < 0)
		return -errno;
	{
		struct bpf_insn insns[] = {
		    /* *(u32 *)(r10 - 4) = 0: the key */
		    {.code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10, .off = -4, .imm = 0},
		    /* r2 = r10 - 4 */
		    {.code = BPF_ALU64 | BPF_MOV | BPF_X,
		     .dst_reg = BPF_REG_2,
		     .src_reg = BPF_REG_10},
		    {.code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -4},
		    /* r1 = the map (a two-slot ld_imm64) */
		    {.code = BPF_LD | BPF_DW | BPF_IMM,
		     .dst_reg = BPF_REG_1,
		     .src_reg = BPF_PSEUDO_MAP_FD,
		     .imm = map_fd},
		    {0},
		    {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem},
		    /* return 0 */
		    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		    {.code = BPF_JMP | BPF_EXIT},
		};

		prog_fd = bpf_prog_load(BPF_PROG_TYPE_PERF_EVENT, NULL, "GPL", insns,
					sizeof(insns) / sizeof(insns[0]), NULL);
	}
	if (prog_fd >= 0) {
		close(prog_fd);
		err = 1;
	} else {
		/* The verifier says no with EINVAL; anything else is the probe failing. */
		err = errno == EINVAL ? 0 : -errno;
	}
	close(map_fd);
	return err;
}

static int probe_one(enum kfeature f)
{
	switch (f) {
	case KF_BTF:
		return access(BTF_PATH, R_OK) == 0 ? 1 : (errno == ENOENT ? 0 : -errno);
	case KF_PERF_EVENT_PROG:
		return libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_PERF_EVENT, NULL);
	case KF_STACK_TRACE_MAP:
		return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_STACK_TRACE, NULL);
	case KF_ANCESTOR_CGROUP:
		return libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT,
					       BPF_FUNC_get_current_ancestor_cgroup_id, NULL);
	case KF_ATTACH_COOKIE:
		/* The helper and BPF perf links arrived together (5.15): a kernel
		 * that knows the helper for perf_event programs has both. */
		return libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_get_attach_cookie,
					       NULL);
	case KF_NOPREALLOC_HASH_PERF:
		return probe_noprealloc_perf();
	case KF_BPF_LOOP:
		return libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_loop, NULL);
	case KF_RINGBUF:
		return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
	case KF__COUNT:
		break;
	}
	return -EINVAL;
}

static int read_paranoid(void)
{
	FILE *f = fopen(PARANOID_PATH, "re");
	int v;

	if (!f)
		return INT_MIN;
	if (fscanf(f, "%d", &v) != 1)
		v = INT_MIN;
	fclose(f);
	return v;
}

int kfeatures_probe(struct kfeatures *kf)
{
	struct utsname u;
	int first_err = 0;

	memset(kf, 0, sizeof(*kf));
	if (uname(&u) == 0)
		snprintf(kf->release, sizeof(kf->release), "%s", u.release);
	kf->perf_paranoid = read_paranoid();
	for (int f = 0; f < KF__COUNT; f++) {
		int r = probe_one((enum kfeature)f);

		if (r < 0) {
			kf->errs[f] = r;
			if (!first_err)
				first_err = r;
			continue;
		}
		kf->probed |= KF_BIT(f);
		if (r > 0)
			kf->have |= KF_BIT(f);
	}
	return kf->probed ? 0 : first_err;
}

bool kfeatures_has(const struct kfeatures *kf, enum kfeature f)
{
	return f < KF__COUNT && (kf->have & KF_BIT(f));
}

int kfeatures_require(const struct kfeatures *kf, uint64_t need)
{
	char line[1024];
	size_t off = 0;
	int n;

	for (int f = 0; f < KF__COUNT; f++) {
		if (!(need & KF_BIT(f)) || kfeatures_has(kf, (enum kfeature)f))
			continue;
		if (kf->errs[f])
			n = snprintf(line + off, sizeof(line) - off, "%s%s (probe failed: %s)",
				     off ? ", " : "", infos[f].name, strerror(-kf->errs[f]));
		else
			n = snprintf(line + off, sizeof(line) - off, "%s%s (Linux %s+)",
				     off ? ", " : "", infos[f].name, infos[f].since);
		if (n < 0 || (size_t)n >= sizeof(line) - off)
			break; /* the line is full; what it holds already names the problem */
		off += (size_t)n;
	}
	if (!off)
		return 0;
	log_error(MOD, "kernel %s lacks %s; see the supported kernels in docs/install.md",
		  kf->release[0] ? kf->release : "?", line);
	return -EOPNOTSUPP;
}

void kfeatures_log(const struct kfeatures *kf)
{
	char line[512];
	size_t off = 0;

	for (int f = 0; f < KF__COUNT && off < sizeof(line); f++) {
		const char *v = kf->errs[f]			      ? "?"
				: kfeatures_has(kf, (enum kfeature)f) ? "yes"
								      : "no";
		int n = snprintf(line + off, sizeof(line) - off, "%s%s=%s", off ? " " : "",
				 infos[f].key, v);

		if (n < 0)
			break;
		off += (size_t)n;
	}
	log_info(MOD, "kernel %s: %s perf_event_paranoid=%d", kf->release, line, kf->perf_paranoid);
}

void kfeatures_log_fallbacks(const struct kfeatures *kf)
{
	for (int f = 0; f < KF__COUNT; f++) {
		if (!(KFEATURES_SAMPLER_FALLBACKS & KF_BIT(f)) || !infos[f].fallback ||
		    kfeatures_has(kf, (enum kfeature)f))
			continue;
		log_info(MOD, "no %s (Linux %s+): %s", infos[f].name, infos[f].since,
			 infos[f].fallback);
	}
}

static int check_paranoid(const struct kfeatures *kf)
{
	if (kf->perf_paranoid <= KFEATURES_MAX_PERF_PARANOID)
		return 0;
	log_error(MOD,
		  "kernel.perf_event_paranoid is %d: this kernel then lets only CAP_SYS_ADMIN "
		  "open perf events, which the worker does not keep; set it to %d "
		  "(sysctl -w kernel.perf_event_paranoid=%d)",
		  kf->perf_paranoid, KFEATURES_MAX_PERF_PARANOID, KFEATURES_MAX_PERF_PARANOID);
	return -EACCES;
}

int kfeatures_check_sampler(void)
{
	struct kfeatures kf;
	int err, perr;

	err = kfeatures_probe(&kf);
	if (err) {
		log_error(MOD, "cannot probe the kernel's BPF features: %s", strerror(-err));
		return err;
	}
	kfeatures_log(&kf); /* which kernel and features this run relies on */
	err = kfeatures_require(&kf, KFEATURES_SAMPLER_NEEDS);
	if (!err)
		kfeatures_log_fallbacks(&kf);
	perr = check_paranoid(&kf); /* said too: both need fixing */
	return err ? err : perr;
}

int kfeatures_main(int argc, char **argv)
{
	struct kfeatures kf;
	int err;

	if (argc > 1) {
		bool help = strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0;

		fprintf(help ? stdout : stderr,
			"Usage: podprof-worker features\n\n"
			"Probe this kernel's BPF features, print each (yes/no and the Linux\n"
			"release that brought it) and whether the sampler can run here.\n"
			"Exit 0 if it can, 1 if not. Needs root (CAP_BPF, CAP_PERFMON).\n");
		return help ? 0 : 2;
	}
	err = kfeatures_probe(&kf);
	if (err) {
		log_error(MOD, "cannot probe the kernel's BPF features: %s", strerror(-err));
		return 1;
	}
	printf("kernel %s\n%-7s %-6s %-6s %s\n", kf.release, "have", "used", "since", "feature");
	for (int f = 0; f < KF__COUNT; f++) {
		const char *used = KFEATURES_SAMPLER_NEEDS & KF_BIT(f)	     ? "yes"
				   : KFEATURES_SAMPLER_FALLBACKS & KF_BIT(f) ? "if-any"
									     : "no";
		const char *v = kf.errs[f]			       ? "unknown"
				: kfeatures_has(&kf, (enum kfeature)f) ? "yes"
								       : "no";

		printf("%-7s %-6s %-6s %s\n", v, used, infos[f].since, infos[f].name);
	}
	if (kf.perf_paranoid != INT_MIN)
		printf("perf_event_paranoid %d (at most %d needed)\n", kf.perf_paranoid,
		       KFEATURES_MAX_PERF_PARANOID);
	err = kfeatures_require(&kf, KFEATURES_SAMPLER_NEEDS);
	if (check_paranoid(&kf) && !err)
		err = -EACCES;
	for (int f = 0; f < KF__COUNT; f++) {
		if ((KFEATURES_SAMPLER_FALLBACKS & KF_BIT(f)) &&
		    !kfeatures_has(&kf, (enum kfeature)f) && infos[f].fallback)
			printf("fallback: no %s: %s\n", infos[f].name, infos[f].fallback);
	}
	printf("sampler: %s\n", err ? "cannot run here" : "ok");
	return err ? 1 : 0;
}
