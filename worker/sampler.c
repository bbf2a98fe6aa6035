/* SPDX-License-Identifier: Apache-2.0 */
/* sampler.c -- libbpf wrapper for profile.bpf.c: phases, per-slot perf events, drain. */
#include "sampler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <linux/perf_event.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "kfeatures.h"
#include "log.h"
#include "profile.skel.h"
#include "stack_cache.h"

#define MOD "sampler"

#define DEFAULT_STACK_ENTRIES  8192
#define DEFAULT_COUNT_ENTRIES  32768
#define DEFAULT_TARGET_ENTRIES 4096
#define DEFAULT_PROC_ENTRIES   1024
#define DEFAULT_ROW_ENTRIES    (1u << 20)
#define DEFAULT_PAGE_ENTRIES   (1u << 15)
#define STACK_CACHE_BYTES      (8u << 20) /* per generation, see stack_cache.h */
#define BTF_PATH	       "/sys/kernel/btf/vmlinux"

_Static_assert(PROFILE_PERIOD_SLOT_MASK == PROFILE_MAX_SLOTS - 1, "a slot fits the period code");

/* One set of per-CPU perf events of a slot: for every task (cgroup_id 0)
 * or only while a task of one cgroup (and its descendants) runs. */
struct evset {
	uint64_t cgroup_id;
	struct bpf_link **links; /* one per online CPU; each owns its perf event fd */
	size_t n_links;
};

struct slot {
	struct evset *sets;
	size_t n_sets;
	bool attached;
	unsigned int hz;
	uint64_t cookie;
	uint64_t period; /* ns, with the slot and flags in the low bits; 0 with cookies */
};

struct sampler {
	struct profile_bpf *skel; /* the CPU programs, and every map but the off-CPU ones */
	struct profile_bpf *off;  /* the off-CPU programs and maps, once loaded; see offcpu_load */
	struct sampler_config cfg;
	bool loaded;
	bool offcpu;		      /* off-CPU slots may come (cfg.offcpu, not refused yet) */
	struct bpf_link *offcpu_link; /* sched_switch, while an off-CPU slot exists */
	uint32_t count_entries;
	uint32_t row_entries;
	struct slot slots[PROFILE_MAX_SLOTS];
	int ncpus_possible;
	struct stack_cache *stacks; /* stacks read out of the kernel, see stack_cache.h */
	struct profile_stack stack; /* scratch for one lookup */
	uint64_t stacks_lost;	    /* counts whose stack was gone */
	uint32_t pid_targets[PROFILE_MAX_SLOTS]; /* process targets per slot */
	bool no_batch;				 /* kernel without hash map batch ops */
	struct ring_buffer *wake;		 /* proc_wake: process events are queued */
	bool period_code; /* no BPF cookies: slot and flags ride in the sample period */
};

static bool libbpf_debug;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if (level == LIBBPF_DEBUG && !libbpf_debug)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_msg(level == LIBBPF_WARN ? LOG_LVL_WARN : LOG_LVL_DEBUG, "libbpf", "%s", line);
	return 0;
}

void sampler_set_libbpf_debug(bool debug)
{
	libbpf_debug = debug;
	libbpf_set_print(libbpf_print);
}

int sampler_check_system(void)
{
	if (access(BTF_PATH, R_OK) != 0) {
		int err = -errno;

		log_error(MOD,
			  "kernel BTF not readable at %s (%s): podprof needs a kernel built "
			  "with CONFIG_DEBUG_INFO_BTF=y",
			  BTF_PATH, strerror(-err));
		return err;
	}
	return 0;
}

/* Choose the program's paths from the kernel's features: cookies and the
 * ancestor cgroup helper where the kernel has them (the fast, default paths),
 * their fallbacks where not, or where `off` (sampler_config.kfeatures_off)
 * says so. worker/kfeatures.c logs the choice at start; a probe that could
 * not run leaves the default (loading then says why). */
static void pick_paths(struct sampler *s, uint64_t off)
{
	struct kfeatures kf;
	bool cookie = true, ancestor = true;

	if (kfeatures_probe(&kf) == 0) {
		cookie =
		    !(kf.probed & KF_BIT(KF_ATTACH_COOKIE)) || kfeatures_has(&kf, KF_ATTACH_COOKIE);
		ancestor = !(kf.probed & KF_BIT(KF_ANCESTOR_CGROUP)) ||
			   kfeatures_has(&kf, KF_ANCESTOR_CGROUP);
	}
	cookie = cookie && !(off & KF_BIT(KF_ATTACH_COOKIE));
	ancestor = ancestor && !(off & KF_BIT(KF_ANCESTOR_CGROUP));
	s->period_code = !cookie;
	s->skel->rodata->have_cookie = cookie;
	s->skel->rodata->have_ancestor_cgroup = ancestor;
	log_debug(MOD, "job slot from the %s; cgroup ancestors from %s",
		  cookie ? "BPF cookie" : "sample period",
		  ancestor ? "bpf_get_current_ancestor_cgroup_id" : "a CO-RE parent walk");
}

/* Whether the kernel's sched_switch tracepoint passes prev_state (Linux
 * 5.18+), which offcpu_switch takes: its BTF typedef btf_trace_sched_switch
 * then has five parameters (the context pointer first). Asking BTF first
 * keeps an older kernel from printing a verifier failure at every load. */
static bool kernel_has_prev_state(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	bool ok = false;
	int id;

	if (!btf)
		return true; /* cannot tell: let loading decide (it falls back) */
	id = btf__find_by_name_kind(btf, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	while (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);
	if (t && btf_is_typedef(t))
		t = btf__type_by_id(btf, t->type);
	while (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);
	ok = t && btf_is_func_proto(t) && btf_vlen(t) >= 5;
	btf__free(btf);
	return ok;
}

/* The maps only the off-CPU programs use: made when those load. */
static bool offcpu_only_map(const struct profile_bpf *skel, const struct bpf_map *m)
{
	return m == skel->maps.offcpu_recs || m == skel->maps.offcpu_walks ||
	       m == skel->maps.offcpu_pending || m == skel->maps.offcpu_progs ||
	       m == skel->maps.offcpu_row_memos;
}

/* Open the embedded object and apply s->cfg, for the CPU programs only. */
static int skel_open(struct sampler *s)
{
	const struct sampler_config *cfg = &s->cfg;
	struct bpf_map *m;
	int err;

	s->skel = profile_bpf__open();
	if (!s->skel) {
		err = errno ? -errno : -EINVAL;
		log_error(MOD, "cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	bpf_program__set_autoload(s->skel->progs.offcpu_switch, false);
	bpf_program__set_autoload(s->skel->progs.offcpu_unwind, false);
	bpf_object__for_each_map(m, s->skel->obj)
	{
		if (offcpu_only_map(s->skel, m))
			bpf_map__set_autocreate(m, false);
	}
	s->skel->rodata->per_thread = cfg->per_thread;
	pick_paths(s, cfg->kfeatures_off);
	err = bpf_map__set_max_entries(
	    s->skel->maps.stacks, cfg->stack_entries ? cfg->stack_entries : DEFAULT_STACK_ENTRIES);
	if (!err)
		err = bpf_map__set_max_entries(s->skel->maps.counts, s->count_entries);
	if (!err)
		err = bpf_map__set_max_entries(s->skel->maps.targets, cfg->target_entries
									  ? cfg->target_entries
									  : DEFAULT_TARGET_ENTRIES);
	if (!err)
		err = bpf_map__set_max_entries(s->skel->maps.unwind_rows, s->row_entries);
	if (!err)
		err = bpf_map__set_max_entries(s->skel->maps.unwind_pages,
					       cfg->page_entries ? cfg->page_entries
								 : DEFAULT_PAGE_ENTRIES);
	if (!err)
		err = bpf_map__set_max_entries(s->skel->maps.procs, cfg->proc_entries
									? cfg->proc_entries
									: DEFAULT_PROC_ENTRIES);
	if (!err)
		err = bpf_map__set_max_entries(s->skel->maps.py_procs, cfg->proc_entries
									   ? cfg->proc_entries
									   : DEFAULT_PROC_ENTRIES);
	return err;
}

int sampler_open(struct sampler **out, const struct sampler_config *cfg)
{
	struct sampler_config def = {0};
	struct sampler *s = NULL;
	int err;

	*out = NULL;
	if (!cfg)
		cfg = &def;
	libbpf_set_print(libbpf_print);
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto cleanup;
	}
	s->cfg = *cfg;
	s->ncpus_possible = libbpf_num_possible_cpus();
	if (s->ncpus_possible <= 0) {
		err = s->ncpus_possible < 0 ? s->ncpus_possible : -EINVAL;
		goto cleanup;
	}
	err = stack_cache_new(&s->stacks, STACK_CACHE_BYTES);
	if (err)
		goto cleanup;
	s->count_entries = cfg->count_entries ? cfg->count_entries : DEFAULT_COUNT_ENTRIES;
	s->row_entries = cfg->row_entries ? cfg->row_entries : DEFAULT_ROW_ENTRIES;
	s->offcpu = cfg->offcpu;
	err = skel_open(s);
	if (err)
		goto cleanup;
	*out = s;
	s = NULL;
	err = 0;
cleanup:
	sampler_close(s);
	return err;
}

/* The records carry nothing the map does not: their arrival is the news. */
static int wake_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
}

/* Slot 0 of a program array: the programs are filled in here, not in the
 * object, so that loading only some of its programs needs no fix-up. */
static int prog_array_set(struct bpf_map *array, const struct bpf_program *prog)
{
	uint32_t zero = 0;
	int fd = bpf_program__fd(prog);
	int err = bpf_map_update_elem(bpf_map__fd(array), &zero, &fd, BPF_ANY);

	if (err)
		log_error(MOD, "filling program array %s: %s", bpf_map__name(array),
			  strerror(-err));
	return err;
}

int sampler_load(struct sampler *s)
{
	int err;

	if (s->loaded)
		return 0;
	err = profile_bpf__load(s->skel);
	if (err) {
		if (err == -EPERM || err == -EACCES)
			log_error(MOD,
				  "loading BPF was refused (%s): the worker needs CAP_BPF and "
				  "CAP_PERFMON (or root)",
				  strerror(-err));
		else
			log_error(MOD, "loading BPF failed: %s (run with -v for the verifier log)",
				  strerror(-err));
		return err;
	}
	err = prog_array_set(s->skel->maps.progs, s->skel->progs.unwind_user);
	if (err)
		return err;
	s->wake = ring_buffer__new(bpf_map__fd(s->skel->maps.proc_wake), wake_record, NULL, NULL);
	if (!s->wake)
		/* Not fatal: the once-a-second walk still finds every event. */
		log_warn(MOD,
			 "process-event wake-ups unavailable (%s): new processes are read "
			 "within a second instead of at once",
			 strerror(errno));
	s->loaded = true;
	return 0;
}

/* The off-CPU programs load when the first off-CPU slot comes, not with
 * the CPU ones: they cost about as much verifier time again, and their
 * maps (offcpu_recs is an LRU hash preallocated for 16 Ki threads) memory,
 * that a node nobody asks for off-CPU time should not pay. Reloading the
 * one object with them included would close and reopen the perf events of
 * the CPU jobs running then, losing their samples in the kernel maps; so
 * they load on their own, as a second instance of the same object (same
 * code, same map layout) that takes over every map of the first through
 * bpf_map__reuse_fd: the targets, stacks, counts, unwind tables and the
 * .bss that holds offcpu_jobs are the same kernel objects for both, only
 * the maps offcpu_only_map() names are its own. The CPU jobs never notice.
 * Once loaded they stay until the sampler closes (the engine unloads it
 * when no job of any kind has run for a while); the sched_switch link
 * exists only while an off-CPU slot does. A kernel that refuses them
 * (before 5.18, or the verifier) keeps the CPU sampler as it was. */
static int offcpu_load(struct sampler *s)
{
	struct profile_bpf *off = NULL;
	struct bpf_program *p;
	struct bpf_map *m, *mine;
	int err;

	if (s->off)
		return 0;
	if (!s->offcpu)
		return -EOPNOTSUPP;
	if (!kernel_has_prev_state()) {
		log_warn(MOD, "off-CPU profiling needs Linux 5.18+ (sched_switch's prev_state)");
		s->offcpu = false;
		return -EOPNOTSUPP;
	}
	off = profile_bpf__open();
	if (!off) {
		err = errno ? -errno : -EINVAL;
		log_error(MOD, "cannot open the BPF object for the off-CPU programs: %s",
			  strerror(-err));
		return err;
	}
	bpf_object__for_each_program(p, off->obj)
	{
		bpf_program__set_autoload(p, p == off->progs.offcpu_switch ||
						 p == off->progs.offcpu_unwind);
	}
	/* Same object, so the maps come in the same order in both. */
	mine = bpf_object__next_map(s->skel->obj, NULL);
	for (m = bpf_object__next_map(off->obj, NULL); m && mine;
	     m = bpf_object__next_map(off->obj, m),
	    mine = bpf_object__next_map(s->skel->obj, mine)) {
		if (offcpu_only_map(off, m))
			continue;
		err = bpf_map__reuse_fd(m, bpf_map__fd(mine));
		if (err) {
			log_error(MOD, "sharing map %s with the off-CPU programs: %s",
				  bpf_map__name(mine), strerror(-err));
			goto cleanup;
		}
	}
	err = profile_bpf__load(off);
	if (err) {
		if (err == -EPERM || err == -EACCES) {
			log_error(MOD, "loading the off-CPU programs was refused (%s)",
				  strerror(-err));
		} else {
			log_warn(MOD,
				 "off-CPU programs refused by this kernel (%s): CPU profiling only",
				 strerror(-err));
			s->offcpu = false;
			err = -EOPNOTSUPP;
		}
		goto cleanup;
	}
	err = prog_array_set(off->maps.offcpu_progs, off->progs.offcpu_unwind);
	if (err)
		goto cleanup;
	s->off = off;
	off = NULL;
	log_info(MOD, "off-CPU programs loaded");
cleanup:
	profile_bpf__destroy(off);
	return err;
}

bool sampler_offcpu_available(const struct sampler *s)
{
	return s && s->loaded && s->offcpu;
}

bool sampler_offcpu_loaded(const struct sampler *s)
{
	return s && s->off;
}

/* The entry of `offcpu_jobs` that holds slot, or -1. */
static int offcpu_entry(const struct sampler *s, uint32_t slot)
{
	for (int i = 0; i < PROFILE_OFFCPU_MAX_JOBS; i++)
		if (s->skel->bss->offcpu_jobs[i].slot_plus1 == slot + 1)
			return i;
	return -1;
}

int sampler_slot_offcpu(struct sampler *s, uint32_t slot, uint64_t min_block_ns)
{
	volatile struct profile_offcpu_job *jobs;
	const struct slot *sl;
	int i = -1, err;

	if (!s->loaded || slot >= PROFILE_MAX_SLOTS || !s->slots[slot].attached ||
	    s->slots[slot].n_sets)
		return -EINVAL;
	err = offcpu_load(s);
	if (err)
		return err;
	jobs = s->skel->bss->offcpu_jobs;
	if (offcpu_entry(s, slot) >= 0)
		return 0;
	for (int k = 0; k < PROFILE_OFFCPU_MAX_JOBS && i < 0; k++)
		if (jobs[k].slot_plus1 == 0)
			i = k;
	if (i < 0)
		return -ENOSPC;
	if (!s->offcpu_link) {
		s->offcpu_link = bpf_program__attach(s->off->progs.offcpu_switch);
		if (!s->offcpu_link) {
			err = errno ? -errno : -EINVAL;
			log_error(MOD, "attaching to sched_switch: %s", strerror(-err));
			return err;
		}
	}
	sl = &s->slots[slot];
	jobs[i].min_block_ns = min_block_ns;
	jobs[i].flags = ((sl->cookie & PROFILE_COOKIE_KSTACKS) ? PROFILE_OFFCPU_KSTACKS : 0) |
			((sl->cookie & PROFILE_COOKIE_FP_ONLY) ? PROFILE_OFFCPU_FP_ONLY : 0);
	/* Published last: the program reads the entry only once this is set. */
	__atomic_store_n(&jobs[i].slot_plus1, slot + 1, __ATOMIC_RELEASE);
	log_debug(MOD, "slot %u: off CPU, blocks from %llu ns", slot,
		  (unsigned long long)min_block_ns);
	return 0;
}

/* Stop the slot's off-CPU counting; the sched_switch program goes with the last one. */
static void offcpu_release(struct sampler *s, uint32_t slot)
{
	int i = s->skel ? offcpu_entry(s, slot) : -1;
	bool any = false;

	if (i < 0)
		return;
	__atomic_store_n(&s->skel->bss->offcpu_jobs[i].slot_plus1, 0, __ATOMIC_RELEASE);
	for (int k = 0; k < PROFILE_OFFCPU_MAX_JOBS; k++)
		any = any || s->skel->bss->offcpu_jobs[k].slot_plus1;
	if (!any) {
		bpf_link__destroy(s->offcpu_link);
		s->offcpu_link = NULL;
	}
}

/* A cpu-clock sampling event on one CPU: for every task (cgroup_fd < 0), or
 * in cgroup mode, where it counts only while a task of that cgroup v2
 * directory or its descendants runs: other tasks take no interrupt at all.
 * At hz, or with period != 0 every `period` ns (the kernel turns a cpu-clock
 * frequency into such a fixed period anyway; the fallback for kernels
 * without BPF cookies carries the job in its low bits, profile.h). */
static int perf_open_cpu(int cpu, unsigned int hz, uint64_t period, int cgroup_fd)
{
	struct perf_event_attr attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	if (period) {
		attr.sample_period = period;
	} else {
		attr.freq = 1;
		attr.sample_freq = hz;
	}
	fd = syscall(__NR_perf_event_open, &attr, cgroup_fd >= 0 ? cgroup_fd : -1, cpu, -1,
		     PERF_FLAG_FD_CLOEXEC | (cgroup_fd >= 0 ? PERF_FLAG_PID_CGROUP : 0));
	if (fd < 0)
		return -errno;
	return (int)fd;
}

static void evset_close(struct evset *es)
{
	for (size_t i = 0; i < es->n_links; i++)
		bpf_link__destroy(es->links[i]);
	free(es->links);
	es->links = NULL;
	es->n_links = 0;
}

static void log_perf_error(int err, int cpu)
{
	if (err == -EACCES || err == -EPERM)
		log_error(MOD,
			  "perf_event_open refused (%s): the worker needs CAP_PERFMON (or root)",
			  strerror(-err));
	else if (err == -ENOENT || err == -EOPNOTSUPP)
		log_error(MOD, "cpu-clock perf events are not available on this kernel (%s)",
			  strerror(-err));
	else
		log_error(MOD, "perf_event_open on CPU %d: %s", cpu, strerror(-err));
}

/* Open and attach one event per online CPU into es. Every possible CPU is
 * tried (libbpf's count); perf_event_open answers ENODEV for an offline one,
 * so no CPU list needs parsing and a CPU going offline meanwhile is skipped. */
static int evset_open(struct sampler *s, const struct slot *sl, struct evset *es, int cgroup_fd)
{
	int err;

	es->links = calloc((size_t)s->ncpus_possible, sizeof(*es->links));
	if (!es->links)
		return -ENOMEM;
	for (int cpu = 0; cpu < s->ncpus_possible; cpu++) {
		LIBBPF_OPTS(bpf_perf_event_opts, opts);
		struct bpf_link *link;
		int fd;

		fd = perf_open_cpu(cpu, sl->hz, sl->period, cgroup_fd);
		if (fd == -ENODEV)
			continue; /* offline */
		if (fd < 0) {
			err = fd;
			if (cgroup_fd < 0)
				log_perf_error(err, cpu);
			goto cleanup;
		}
		opts.bpf_cookie = s->period_code ? 0 : sl->cookie;
		link =
		    bpf_program__attach_perf_event_opts(s->skel->progs.profile_sample, fd, &opts);
		if (!link) {
			err = errno ? -errno : -EINVAL;
			close(fd); /* the link did not take it over */
			log_error(MOD, "attaching to the perf event on CPU %d: %s", cpu,
				  strerror(-err));
			goto cleanup;
		}
		es->links[es->n_links++] = link;
	}
	if (es->n_links == 0) {
		err = -ENODEV;
		log_error(MOD, "no online CPU to sample");
		goto cleanup;
	}
	err = 0;
cleanup:
	if (err)
		evset_close(es);
	return err;
}

int sampler_attach_slot(struct sampler *s, uint32_t slot, unsigned int hz, bool kernel_stacks,
			bool fp_only)
{
	struct slot *sl;
	int err;

	if (!s->loaded || slot >= PROFILE_MAX_SLOTS || hz == 0)
		return -EINVAL;
	sl = &s->slots[slot];
	if (sl->attached)
		return -EBUSY;
	err = sampler_clear_slot(s, slot);
	if (err)
		return err;
	sl->attached = true;
	sl->hz = hz;
	sl->cookie = slot | (kernel_stacks ? PROFILE_COOKIE_KSTACKS : 0) |
		     (fp_only ? PROFILE_COOKIE_FP_ONLY : 0);
	sl->period = 0;
	if (s->period_code)
		sl->period = ((1000000000ULL / hz) & ~((1ULL << PROFILE_PERIOD_CODE_BITS) - 1)) |
			     slot | (kernel_stacks ? PROFILE_PERIOD_KSTACKS : 0) |
			     (fp_only ? PROFILE_PERIOD_FP_ONLY : 0);
	log_debug(MOD, "slot %u ready at %u Hz%s", slot, hz,
		  kernel_stacks ? ", kernel stacks" : "");
	return 0;
}

static struct evset *find_set(struct slot *sl, uint64_t cgroup_id)
{
	for (size_t i = 0; i < sl->n_sets; i++)
		if (sl->sets[i].cgroup_id == cgroup_id)
			return &sl->sets[i];
	return NULL;
}

int sampler_slot_sample(struct sampler *s, uint32_t slot, uint64_t cgroup_id, int cgroup_fd)
{
	struct evset es = {.cgroup_id = cgroup_id}, *grown;
	struct slot *sl;
	int err;

	if (!s->loaded || slot >= PROFILE_MAX_SLOTS || !s->slots[slot].attached ||
	    (cgroup_id != 0) != (cgroup_fd >= 0))
		return -EINVAL;
	sl = &s->slots[slot];
	if (find_set(sl, cgroup_id))
		return 0;
	if (cgroup_id && sl->n_sets >= SAMPLER_MAX_CGROUP_SETS)
		return -ENOSPC;
	grown = realloc(sl->sets, (sl->n_sets + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	sl->sets = grown;
	err = evset_open(s, sl, &es, cgroup_fd);
	if (err)
		return err;
	sl->sets[sl->n_sets++] = es;
	log_debug(MOD, "slot %u: %zu perf events for %s%llu", slot, es.n_links,
		  cgroup_id ? "cgroup " : "all tasks", (unsigned long long)cgroup_id);
	return 0;
}

void sampler_slot_unsample(struct sampler *s, uint32_t slot, uint64_t cgroup_id)
{
	struct slot *sl;
	struct evset *es;

	if (!s || slot >= PROFILE_MAX_SLOTS)
		return;
	sl = &s->slots[slot];
	es = find_set(sl, cgroup_id);
	if (!es)
		return;
	evset_close(es);
	*es = sl->sets[--sl->n_sets];
}

bool sampler_slot_samples(const struct sampler *s, uint32_t slot, uint64_t cgroup_id)
{
	if (!s || slot >= PROFILE_MAX_SLOTS)
		return false;
	return find_set((struct slot *)&s->slots[slot], cgroup_id) != NULL;
}

void sampler_detach_slot(struct sampler *s, uint32_t slot)
{
	struct slot *sl;

	if (!s || slot >= PROFILE_MAX_SLOTS)
		return;
	sl = &s->slots[slot];
	if (s->off)
		offcpu_release(s, slot);
	for (size_t i = 0; i < sl->n_sets; i++)
		evset_close(&sl->sets[i]);
	free(sl->sets);
	sl->sets = NULL;
	sl->n_sets = 0;
	sl->attached = false;
}

size_t sampler_slot_events(const struct sampler *s, uint32_t slot)
{
	size_t n = 0;

	if (!s || slot >= PROFILE_MAX_SLOTS)
		return 0;
	for (size_t i = 0; i < s->slots[slot].n_sets; i++)
		n += s->slots[slot].sets[i].n_links;
	return n;
}

static void target_key(struct profile_target_key *k, uint32_t slot, enum profile_target_kind kind,
		       uint64_t id)
{
	memset(k, 0, sizeof(*k));
	k->slot = slot;
	k->kind = kind;
	k->id = id;
}

/* The slot's targets changed: the programs' remembered matches of it are
 * stale (see target_memos in profile.bpf.c), and whether it has process
 * targets may have changed. Called after the targets map is updated. */
static void targets_changed(struct sampler *s, uint32_t slot)
{
	__atomic_store_n(&s->skel->bss->slot_pid_targets[slot], s->pid_targets[slot] ? 1 : 0,
			 __ATOMIC_RELEASE);
	__atomic_fetch_add(&s->skel->bss->slot_gen[slot], 1, __ATOMIC_SEQ_CST);
}

int sampler_target_add(struct sampler *s, uint32_t slot, enum profile_target_kind kind, uint64_t id)
{
	struct profile_target_key k;
	uint64_t zero = 0;
	int err;

	if (!s->loaded || slot >= PROFILE_MAX_SLOTS)
		return -EINVAL;
	target_key(&k, slot, kind, id);
	/* NOEXIST keeps the hit count of a target that is added twice. */
	err = bpf_map_update_elem(bpf_map__fd(s->skel->maps.targets), &k, &zero, BPF_NOEXIST);
	if (err == -EEXIST)
		return 0;
	if (err == -E2BIG || err == -ENOMEM)
		return -ENOSPC;
	if (err)
		return err;
	if (kind == PROFILE_TARGET_TGID)
		s->pid_targets[slot]++;
	targets_changed(s, slot);
	return 0;
}

int sampler_target_remove(struct sampler *s, uint32_t slot, enum profile_target_kind kind,
			  uint64_t id)
{
	struct profile_target_key k;
	int err;

	if (!s->loaded || slot >= PROFILE_MAX_SLOTS)
		return -EINVAL;
	target_key(&k, slot, kind, id);
	err = bpf_map_delete_elem(bpf_map__fd(s->skel->maps.targets), &k);
	if (err)
		return err == -ENOENT ? 0 : err;
	if (kind == PROFILE_TARGET_TGID && s->pid_targets[slot])
		s->pid_targets[slot]--;
	targets_changed(s, slot);
	return 0;
}

int sampler_target_hits(struct sampler *s, uint32_t slot, enum profile_target_kind kind,
			uint64_t id, uint64_t *hits)
{
	struct profile_target_key k;

	*hits = 0;
	if (!s->loaded || slot >= PROFILE_MAX_SLOTS)
		return -EINVAL;
	target_key(&k, slot, kind, id);
	return bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.targets), &k, hits);
}

/* The stack stored under hash: from the cache, else read out of the kernel,
 * cached and deleted there (the map keeps only recent stacks). NULL when it
 * is gone (the cache dropped it and the kernel has not stored it again). */
static const struct profile_stack *read_stack(struct sampler *s, uint64_t hash)
{
	const struct profile_stack *st;
	int fd = bpf_map__fd(s->skel->maps.stacks);

	if (hash <= PROFILE_STACK_NOT_STORED)
		return NULL;
	st = stack_cache_get(s->stacks, hash);
	if (st)
		return st;
	if (bpf_map_lookup_elem(fd, &hash, &s->stack) != 0)
		return NULL;
	if (s->stack.n_kern > PROFILE_MAX_KERN_FRAMES || s->stack.n_user > PROFILE_MAX_USER_FRAMES)
		return NULL;
	/* Only once it is safely cached may the kernel copy go. */
	if (stack_cache_put(s->stacks, hash, &s->stack) == 0)
		bpf_map_delete_elem(fd, &hash);
	return &s->stack;
}

/* Collect the keys of `slot` from a hash map whose keys start with a __u32
 * slot, at most cap of them. Collected first because deleting while walking
 * with get_next_key can restart the walk. *keys is malloc'd (caller frees). */
static int collect_slot_keys(int fd, size_t key_size, uint32_t cap, uint32_t slot, void **keys,
			     size_t *n)
{
	char *cur = NULL, *next = NULL, *arr = NULL, *grown;
	size_t len = 0, alloc = 0;
	int err = 0;

	*keys = NULL;
	*n = 0;
	cur = calloc(1, key_size);
	next = calloc(1, key_size);
	if (!cur || !next) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (bool first = true; len < cap; first = false) {
		uint32_t kslot;

		err = bpf_map_get_next_key(fd, first ? NULL : cur, next);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		if (err)
			goto cleanup;
		memcpy(cur, next, key_size);
		memcpy(&kslot, next, sizeof(kslot));
		if (kslot != slot)
			continue;
		if (len == alloc) {
			alloc = alloc ? alloc * 2 : 256;
			grown = realloc(arr, alloc * key_size);
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			arr = grown;
		}
		memcpy(arr + len++ * key_size, next, key_size);
	}
	*keys = arr;
	*n = len;
	arr = NULL;
cleanup:
	free(arr);
	free(cur);
	free(next);
	return err;
}

/* Hand one drained (key, count) to fn with its stack. */
static int emit_count(struct sampler *s, struct profile_count_key *key, uint64_t count,
		      sampler_sample_fn fn, void *ctx)
{
	const struct profile_stack *st;
	struct sampler_sample smp;

	key->comm[PROFILE_COMM_LEN - 1] = '\0';
	st = read_stack(s, key->stack_hash);
	memset(&smp, 0, sizeof(smp));
	smp.pid = key->pid;
	smp.tid = key->tid;
	smp.target_kind = key->target_kind;
	smp.target_id = key->target_id;
	smp.comm = key->comm;
	smp.state = key->state < PROFILE_STATE__MAX ? key->state : PROFILE_STATE_OTHER;
	if (st) {
		smp.kern_ips = (const uint64_t *)st->ips;
		smp.n_kern = st->n_kern;
		smp.user_ips = (const uint64_t *)st->ips + st->n_kern;
		smp.n_user = st->n_user;
	} else if (key->stack_hash == PROFILE_STACK_NONE) {
		smp.user_err = -EFAULT; /* nothing to walk: not an error */
	} else {
		/* Stored without a stack (map full), or the stack was evicted. */
		smp.user_err = -ENOENT;
		if (key->stack_hash != PROFILE_STACK_NOT_STORED)
			s->stacks_lost += count;
	}
	smp.count = count;
	return fn(ctx, &smp);
}

/* Entries per lookup_and_delete_batch call: a few syscalls drain a window. */
#define DRAIN_BATCH 512

/* The whole counts map in DRAIN_BATCH-sized lookup_and_delete_batch calls
 * (each bucket is copied and emptied under its lock, so no increment is
 * lost between reading and deleting). Only right while `slot` is the one
 * attached slot: entries of any other slot would be consumed too. -ENOTSUP
 * when the kernel has no batch operations for hash maps (before 5.6), -E2BIG
 * when one bucket outgrows a batch: the caller walks the keys instead. */
static int drain_batched(struct sampler *s, int fd, uint32_t slot, sampler_sample_fn fn, void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct profile_count_key *keys = calloc(DRAIN_BATCH, sizeof(*keys));
	uint64_t *vals = calloc(DRAIN_BATCH, sizeof(*vals));
	/* The resume token is a bucket index; sized like a key to be safe. */
	struct profile_count_key tok_in, tok_out;
	bool first = true, more = true;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (more) {
		uint32_t count = DRAIN_BATCH;

		err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &tok_in, &tok_out, keys,
						      vals, &count, &opts);
		if (err == -ENOENT) {
			more = false; /* the last (maybe partial) batch */
			err = 0;
		} else if (err == -ENOSPC) {
			/* One bucket holds more than a batch: the caller walks
			 * the keys left (what was emitted is deleted). */
			err = -E2BIG;
			goto cleanup;
		} else if (err) {
			/* Nothing consumed yet: the caller may still walk keys.
			 * 524 is the kernel's ENOTSUPP (no batch ops for the map). */
			if (first && (err == -EINVAL || err == -ENOTSUP || err == -524))
				err = -ENOTSUP;
			goto cleanup;
		}
		first = false;
		tok_in = tok_out;
		for (uint32_t i = 0; i < count && !err; i++) {
			if (keys[i].slot == slot)
				err = emit_count(s, &keys[i], vals[i], fn, ctx);
		}
		if (err)
			goto cleanup;
	}
cleanup:
	free(keys);
	free(vals);
	return err;
}

int sampler_drain_slot(struct sampler *s, uint32_t slot, sampler_sample_fn fn, void *ctx)
{
	struct profile_count_key *keys = NULL;
	void *raw = NULL;
	size_t nkeys = 0;
	int counts_fd, err;
	bool alone = true;

	if (!s->loaded || slot >= PROFILE_MAX_SLOTS)
		return -EINVAL;
	counts_fd = bpf_map__fd(s->skel->maps.counts);
	for (uint32_t i = 0; i < PROFILE_MAX_SLOTS; i++)
		alone = alone && (i == slot || !s->slots[i].attached);
	if (alone && !s->no_batch) {
		err = drain_batched(s, counts_fd, slot, fn, ctx);
		if (err == -ENOTSUP) {
			s->no_batch = true;
			log_info(MOD, "no batch operations on BPF hash maps: drains walk the keys");
		} else if (err != -E2BIG) {
			return err;
		}
	}
	err = collect_slot_keys(counts_fd, sizeof(*keys), s->count_entries, slot, &raw, &nkeys);
	keys = raw;
	if (err)
		goto cleanup;
	for (size_t i = 0; i < nkeys; i++) {
		uint64_t count = 0;

		err = bpf_map_lookup_and_delete_elem(counts_fd, &keys[i], &count);
		if (err == -ENOENT) {
			err = 0;
			continue;
		}
		if (err)
			goto cleanup;
		err = emit_count(s, &keys[i], count, fn, ctx);
		if (err)
			goto cleanup;
	}
	err = 0;
cleanup:
	free(keys);
	return err;
}

int sampler_drops(struct sampler *s, uint32_t slot, uint64_t *out)
{
	uint64_t *vals = NULL;
	int err = 0;

	memset(out, 0, PROFILE_DROP__MAX * sizeof(*out));
	if (!s->loaded || slot >= PROFILE_MAX_SLOTS)
		return -EINVAL;
	vals = calloc((size_t)s->ncpus_possible, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t k = 0; k < PROFILE_DROP__MAX; k++) {
		uint32_t idx = slot * PROFILE_DROP__MAX + k;

		err = bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.drops), &idx, vals);
		if (err)
			goto cleanup;
		for (int c = 0; c < s->ncpus_possible; c++)
			out[k] += vals[c];
	}
cleanup:
	free(vals);
	return err;
}

/* Delete every key of `slot` from a hash map whose keys start with a __u32 slot. */
static int clear_hash_slot(int fd, size_t key_size, uint32_t cap, uint32_t slot)
{
	void *keys = NULL;
	size_t n = 0;
	int err;

	err = collect_slot_keys(fd, key_size, cap, slot, &keys, &n);
	for (size_t i = 0; !err && i < n; i++)
		bpf_map_delete_elem(fd, (char *)keys + i * key_size);
	free(keys);
	return err;
}

int sampler_clear_slot(struct sampler *s, uint32_t slot)
{
	uint64_t *zeros = NULL;
	int err;

	if (!s->loaded || slot >= PROFILE_MAX_SLOTS || s->slots[slot].attached)
		return -EINVAL;
	err = clear_hash_slot(bpf_map__fd(s->skel->maps.targets), sizeof(struct profile_target_key),
			      bpf_map__max_entries(s->skel->maps.targets), slot);
	s->pid_targets[slot] = 0;
	targets_changed(s, slot);
	if (err)
		goto cleanup;
	err = clear_hash_slot(bpf_map__fd(s->skel->maps.counts), sizeof(struct profile_count_key),
			      s->count_entries, slot);
	if (err)
		goto cleanup;
	zeros = calloc((size_t)s->ncpus_possible, sizeof(*zeros));
	if (!zeros) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (uint32_t k = 0; k < PROFILE_DROP__MAX; k++) {
		uint32_t idx = slot * PROFILE_DROP__MAX + k;

		err = bpf_map_update_elem(bpf_map__fd(s->skel->maps.drops), &idx, zeros, BPF_ANY);
		if (err)
			goto cleanup;
	}
cleanup:
	free(zeros);
	return err;
}

void sampler_close(struct sampler *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < PROFILE_MAX_SLOTS; i++)
		sampler_detach_slot(s, i);
	bpf_link__destroy(s->offcpu_link);
	s->offcpu_link = NULL;
	ring_buffer__free(s->wake);
	s->wake = NULL;
	profile_bpf__destroy(s->off);
	s->off = NULL;
	profile_bpf__destroy(s->skel);
	s->skel = NULL;
	stack_cache_free(s->stacks);
	free(s);
}

/* ---- unwinder state ------------------------------------------------------------ */

uint32_t sampler_row_capacity(const struct sampler *s)
{
	return s->row_entries;
}

int sampler_rows_write(struct sampler *s, uint32_t first, const struct profile_unwind_row *rows,
		       size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t *keys = NULL, count;
	int fd, err = 0;

	if (!s->loaded || first > s->row_entries || n > s->row_entries - first)
		return -EINVAL;
	fd = bpf_map__fd(s->skel->maps.unwind_rows);
	keys = malloc(sizeof(*keys) * (n < 65536 ? n : 65536) + 1);
	if (!keys)
		return -ENOMEM;
	/* In batches, so the key array stays small. */
	for (size_t done = 0; done < n && !err; done += count) {
		count = (uint32_t)(n - done < 65536 ? n - done : 65536);
		for (uint32_t i = 0; i < count; i++)
			keys[i] = first + (uint32_t)done + i;
		err = bpf_map_update_batch(fd, keys, rows + done, &count, &opts);
	}
	free(keys);
	return err;
}

int sampler_page_set(struct sampler *s, const struct profile_page_key *k,
		     const struct profile_page *pg)
{
	int err;

	if (!s->loaded)
		return -EINVAL;
	err = bpf_map_update_elem(bpf_map__fd(s->skel->maps.unwind_pages), k, pg, BPF_ANY);
	return err == -E2BIG ? -ENOSPC : err;
}

int sampler_page_delete(struct sampler *s, const struct profile_page_key *k)
{
	int err;

	if (!s->loaded)
		return -EINVAL;
	err = bpf_map_delete_elem(bpf_map__fd(s->skel->maps.unwind_pages), k);
	return err == -ENOENT ? 0 : err;
}

int sampler_proc_set(struct sampler *s, uint32_t pid, const struct profile_proc *p)
{
	int err;

	if (!s->loaded)
		return -EINVAL;
	err = bpf_map_update_elem(bpf_map__fd(s->skel->maps.procs), &pid, p, BPF_ANY);
	return err == -E2BIG ? -ENOSPC : err;
}

int sampler_proc_delete(struct sampler *s, uint32_t pid)
{
	int err;

	if (!s->loaded)
		return -EINVAL;
	err = bpf_map_delete_elem(bpf_map__fd(s->skel->maps.procs), &pid);
	return err == -ENOENT ? 0 : err;
}

int sampler_py_set(struct sampler *s, uint32_t pid, const struct profile_py_proc *p)
{
	int err;

	if (!s->loaded)
		return -EINVAL;
	err = bpf_map_update_elem(bpf_map__fd(s->skel->maps.py_procs), &pid, p, BPF_ANY);
	return err == -E2BIG ? -ENOSPC : err;
}

int sampler_py_delete(struct sampler *s, uint32_t pid)
{
	int err;

	if (!s->loaded)
		return -EINVAL;
	err = bpf_map_delete_elem(bpf_map__fd(s->skel->maps.py_procs), &pid);
	return err == -ENOENT ? 0 : err;
}

int sampler_py_get(struct sampler *s, uint32_t pid, struct profile_py_proc *p)
{
	if (!s->loaded)
		return -EINVAL;
	return bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.py_procs), &pid, p);
}

int sampler_events_fd(const struct sampler *s)
{
	return s && s->wake ? ring_buffer__epoll_fd(s->wake) : -1;
}

int sampler_proc_events(struct sampler *s, bool all, sampler_proc_event_fn fn, void *ctx)
{
	uint32_t pids[256], key, next, what;
	size_t n = 0;
	int fd, err = 0, woken;

	if (!s->loaded)
		return -EINVAL;
	woken = s->wake ? ring_buffer__consume(s->wake) : 1;
	if (woken == 0 && !all)
		return 0;
	fd = bpf_map__fd(s->skel->maps.proc_events);
	/* Collect first: deleting while walking with get_next_key restarts the walk. */
	for (bool first = true; n < sizeof(pids) / sizeof(pids[0]); first = false) {
		if (bpf_map_get_next_key(fd, first ? NULL : &key, &next) != 0)
			break;
		pids[n++] = next;
		key = next;
	}
	for (size_t i = 0; i < n && !err; i++) {
		if (bpf_map_lookup_and_delete_elem(fd, &pids[i], &what) != 0)
			continue;
		err = fn(ctx, pids[i], what);
	}
	return err;
}

void sampler_stack_stats(const struct sampler *s, struct sampler_stack_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!s)
		return;
	stack_cache_stats(s->stacks, &st->cached, &st->cached_bytes, &st->generations_dropped);
	st->lost = s->stacks_lost;
}
