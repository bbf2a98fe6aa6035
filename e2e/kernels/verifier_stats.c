/* SPDX-License-Identifier: Apache-2.0 */
/* verifier_stats.c -- load a BPF object and print the verifier's verdict and cost per program.
 *
 * A test tool for the kernel matrix (e2e/test_kernels.py), run inside each
 * guest: no bpftool there. For every program it prints one line
 *   prog NAME ok insns N [verified_insns M] [stack ...]
 * from the verifier's statistics log (log level BPF_LOG_STATS, any kernel
 * since 5.2) and, where the kernel reports it (5.16+),
 * bpf_prog_info.verified_insns. When loading fails it prints
 *   prog NAME fail ERRNO: LAST VERIFIER LINES
 * from a second load at log level 1, and with --prealloc clears
 * BPF_F_NO_PREALLOC from every map first, to show what an older kernel
 * refuses next once that is out of the way.
 *
 * Like the worker (worker/sampler.c), it sets the object's feature switches
 * (`const volatile bool have_cookie, have_ancestor_cgroup` in .rodata) from
 * libbpf's helper probes before loading, so the counts are those of the
 * paths the worker takes on this kernel, and prints them first:
 *   paths cookie=yes|no ancestor_cgroup=yes|no
 * --fallbacks takes the fallback paths whatever the kernel has (to see
 * their cost on a new kernel).
 *
 * Usage: verifier-stats [--prealloc] [--fallbacks] OBJECT.bpf.o; exit 0 if all loaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define LOG_SIZE       (16u << 20) /* a failing program's full log; 5.10 caps the size at 4 GiB / 4 */
#define BPF_LOG_LEVEL1 1
#define BPF_LOG_STATS  4

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0; /* this tool prints the verifier's words itself */
}

/* Copy the value of `key` ("processed", "stack depth") from the stats log into out. */
static void stat_line(const char *log, const char *key, char *out, size_t len)
{
	const char *p = strstr(log, key);
	size_t n;

	out[0] = '\0';
	if (!p)
		return;
	n = strcspn(p, "\n");
	snprintf(out, len, "%.*s", (int)n, p);
}

/* The last `want` non-empty lines of the log, joined with " | ". */
static void tail_lines(char *log, int want, char *out, size_t len)
{
	char *end = log + strlen(log);
	char *p = end;
	int lines = 0;

	while (p > log && lines < want) {
		p--;
		while (p > log && *p == '\n')
			p--;
		while (p > log && p[-1] != '\n')
			p--;
		lines++;
	}
	out[0] = '\0';
	for (char *l = strtok(p, "\n"); l; l = strtok(NULL, "\n")) {
		size_t used = strlen(out);

		snprintf(out + used, len - used, "%s%s", used ? " | " : "", l);
	}
}

/* Set the bool `name` in the object's .rodata (before load); -ENOENT if absent. */
static int set_rodata_bool(struct bpf_object *obj, const char *name, bool val)
{
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct bpf_map *map;
	const void *init;
	size_t size = 0;
	char *data;
	int id, err = -ENOENT;

	map = bpf_object__find_map_by_name(obj, ".rodata");
	if (!btf || !map)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	init = bpf_map__initial_value(map, &size);
	if (id < 0 || !init)
		return -ENOENT;
	data = malloc(size);
	if (!data)
		return -ENOMEM;
	memcpy(data, init, size);
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), name) == 0 &&
		    vs->offset < size) {
			data[vs->offset] = val;
			err = bpf_map__set_initial_value(map, data, size);
			break;
		}
	}
	free(data);
	return err;
}

static bool fallbacks;

/* The worker's choice of paths (worker/sampler.c pick_paths). */
static bool have_cookie(void)
{
	return !fallbacks && libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT,
						     BPF_FUNC_get_attach_cookie, NULL) > 0;
}

static bool have_ancestor(void)
{
	return !fallbacks &&
	       libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT,
				       BPF_FUNC_get_current_ancestor_cgroup_id, NULL) > 0;
}

/* Whether sched_switch passes prev_state (5.18+), which the off-CPU
 * programs read: the worker loads them only then (worker/sampler.c
 * kernel_has_prev_state), and so does this tool. */
static bool have_prev_state(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	bool ok;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	while (t && (btf_is_ptr(t) || btf_is_typedef(t)))
		t = btf__type_by_id(btf, t->type);
	ok = t && btf_is_func_proto(t) && btf_vlen(t) >= 5;
	btf__free(btf);
	return ok;
}

static bool is_offcpu(const struct bpf_program *prog)
{
	return strncmp(bpf_program__name(prog), "offcpu_", 7) == 0;
}

/* Open the object, optionally without BPF_F_NO_PREALLOC, and load it with
 * the given log level; each program's log goes to its own buffer. */
static int load(const char *path, bool prealloc, __u32 level, struct bpf_object **out, char **bufs,
		size_t nbufs)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	size_t i = 0;

	*out = NULL;
	obj = bpf_object__open_file(path, NULL);
	if (!obj)
		return -errno;
	set_rodata_bool(obj, "have_cookie", have_cookie());
	set_rodata_bool(obj, "have_ancestor_cgroup", have_ancestor());
	bpf_object__for_each_map(map, obj)
	{
		if (prealloc)
			bpf_map__set_map_flags(map, bpf_map__map_flags(map) & ~BPF_F_NO_PREALLOC);
	}
	bpf_object__for_each_program(prog, obj)
	{
		if (i >= nbufs)
			break;
		if (is_offcpu(prog) && !have_prev_state())
			bpf_program__set_autoload(prog, false);
		bufs[i][0] = '\0';
		bpf_program__set_log_buf(prog, bufs[i], LOG_SIZE);
		bpf_program__set_log_level(prog, level);
		i++;
	}
	*out = obj;
	return bpf_object__load(obj);
}

int main(int argc, char **argv)
{
	enum { MAX_PROGS = 8 };
	char *bufs[MAX_PROGS] = {0};
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	bool prealloc = false;
	const char *path = NULL;
	size_t i;
	int err, rc = 1;

	bool bad = false;

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--prealloc") == 0)
			prealloc = true;
		else if (strcmp(argv[a], "--fallbacks") == 0)
			fallbacks = true;
		else if (!path && argv[a][0] != '-')
			path = argv[a];
		else
			bad = true;
	}
	if (!path || bad) {
		fprintf(stderr, "usage: verifier-stats [--prealloc] [--fallbacks] OBJECT.bpf.o\n");
		return 2;
	}
	libbpf_set_print(quiet);
	printf("paths cookie=%s ancestor_cgroup=%s\n", have_cookie() ? "yes" : "no",
	       have_ancestor() ? "yes" : "no");
	for (i = 0; i < MAX_PROGS; i++) {
		bufs[i] = malloc(LOG_SIZE);
		if (!bufs[i])
			goto cleanup;
	}
	err = load(path, prealloc, BPF_LOG_STATS, &obj, bufs, MAX_PROGS);
	if (!err) {
		i = 0;
		bpf_object__for_each_program(prog, obj)
		{
			struct bpf_prog_info info = {0};
			__u32 len = sizeof(info);
			char processed[256], stack[256], verified[64] = "";

			if (!bpf_program__autoload(prog)) {
				printf("prog %s skipped: needs sched_switch's prev_state (5.18+)\n",
				       bpf_program__name(prog));
				i++;
				continue;
			}
			stat_line(bufs[i], "processed", processed, sizeof(processed));
			stat_line(bufs[i], "stack depth", stack, sizeof(stack));
			/* verified_insns (5.16+) sits at the end of bpf_prog_info: an
			 * older kernel fills less and the field stays 0. */
			if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0 &&
			    info.verified_insns)
				snprintf(verified, sizeof(verified), " verified_insns %u",
					 info.verified_insns);
			printf("prog %s ok%s | %s | %s\n", bpf_program__name(prog), verified,
			       processed, stack);
			i++;
		}
		rc = 0;
		goto cleanup;
	}
	if (!obj) {
		printf("object %s: cannot open: %s\n", path, strerror(-err));
		goto cleanup;
	}
	/* Failed: load again at level 1 so the log ends with the verifier's reason. */
	bpf_object__close(obj);
	obj = NULL;
	err = load(path, prealloc, BPF_LOG_LEVEL1, &obj, bufs, MAX_PROGS);
	i = 0;
	bpf_object__for_each_program(prog, obj)
	{
		char why[1024];

		tail_lines(bufs[i], 3, why, sizeof(why));
		printf("prog %s fail %s: %s\n", bpf_program__name(prog), strerror(-err),
		       why[0] ? why : "(no verifier log: refused before verification)");
		i++;
	}
cleanup:
	bpf_object__close(obj);
	for (i = 0; i < MAX_PROGS; i++)
		free(bufs[i]);
	return rc;
}
