/* SPDX-License-Identifier: Apache-2.0 */
/* job.c -- job engine: slots on the sampler, drain into pprof windows, lazy BPF load. */
#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "sampler.h"
#include "symbolize.h"
#include "pyproc.h"
#include "unwinder.h"

#define MOD "job"

#define MAX_TARGETS_PER_JOB 1024 /* pods x containers on one node, generously */
#define MAX_FRAMES	    (PROFILE_MAX_FRAMES + 1)

struct job_target {
	enum profile_target_kind kind;
	uint64_t id;
	char *pod, *namespace, *container; /* owned, may be NULL */
	char *dir;			   /* cgroup directory, owned; NULL if unknown */
	bool events;			   /* has its own cgroup-mode perf events */
	uint64_t last_hits;		   /* hits counted into earlier windows */
};

struct job {
	struct job_engine *engine;
	char *id;
	uint32_t slot;
	unsigned int hz;
	bool kernel_stacks;
	struct job_target *targets;
	size_t n_targets;
	struct pprof_builder *window; /* current window */
	int64_t window_start_ns;      /* CLOCK_MONOTONIC, for the duration */
	uint64_t last_drops[PROFILE_DROP__MAX];
	uint64_t stops
	    [PROFILE_STOP__MAX]; /* samples whose user stack ended with a marker, this window */
	bool fp_only;
	bool offcpu;	       /* counts nanoseconds off CPU, not CPU samples */
	uint64_t min_block_ns; /* off-CPU: shorter blocks are not counted */
	/* Notes about its processes (unwinder_note_of), each once; the
	 * unwinder's pointers tell them apart (it outlives the job). */
	const struct unwinder_note *seen[JOB_MAX_NOTICES];
	struct job_notice notices[JOB_MAX_NOTICES];
	size_t n_notices;
};

struct job_engine {
	char *proc_root;
	const char *const *debug_dirs; /* the config's; outlives the engine */
	size_t n_debug_dirs;
	char *node_name;
	bool per_thread;
	uint64_t kfeatures_off; /* see job_engine_config */
	bool offcpu;		/* load the off-CPU programs too */
	uint32_t unload_after_ms;
	int64_t unused_since_ns;  /* CLOCK_MONOTONIC: loaded with no job since; 0 = in use */
	uint64_t loads;		  /* BPF loads so far (see job_engine_events_fd) */
	struct sampler *sampler;  /* NULL while idle */
	struct symbolizer *sym;	  /* NULL while idle */
	struct symcache *symbols; /* binaries' tables: kept across jobs, bounded */
	struct unwinder *unw;	  /* NULL while idle */
	struct pysym *py;	  /* NULL while idle */
	pid_t py_pid;		  /* process whose py_procs entry is in py_proc */
	int py_err;		  /* ... and the result of reading it */
	struct profile_py_proc py_proc;
	struct job *slots[PROFILE_MAX_SLOTS];
	size_t running;
	struct pprof_frame frames[MAX_FRAMES];	/* scratch for one sample */
	struct pprof_line py_lines[MAX_FRAMES]; /* ... positions of its Python frames */
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int job_engine_new(struct job_engine **out, const struct job_engine_config *cfg)
{
	struct job_engine *e;
	int err;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->proc_root = strdup(cfg && cfg->proc_root ? cfg->proc_root : "/proc");
	e->node_name = cfg ? dup_or_null(cfg->node_name) : NULL;
	e->per_thread = cfg && cfg->per_thread;
	e->kfeatures_off = cfg ? cfg->kfeatures_off : 0;
	e->offcpu = cfg && cfg->offcpu;
	e->unload_after_ms = cfg ? cfg->unload_after_ms : 0;
	if (cfg) {
		e->debug_dirs = cfg->debug_dirs;
		e->n_debug_dirs = cfg->n_debug_dirs;
	}
	err = symcache_new(&e->symbols, cfg ? cfg->symbol_cache_bytes : 0);
	if (err)
		goto cleanup;
	if (!e->proc_root || (cfg && cfg->node_name && !e->node_name)) {
		err = -ENOMEM;
		goto cleanup;
	}
	*out = e;
	e = NULL;
	err = 0;
cleanup:
	job_engine_free(e);
	return err;
}

/* A process the unwinder just met: snapshot its maps now, as it may exit
 * before its samples are drained. */
static void note_pid(void *ctx, pid_t pid)
{
	struct job_engine *e = ctx;

	symbolizer_note_pid(e->sym, pid);
}

/* Load on first use; the sampler and symbolizer exist only while jobs run. */
static int engine_wake(struct job_engine *e)
{
	struct sampler_config sc = {
	    .per_thread = e->per_thread, .kfeatures_off = e->kfeatures_off, .offcpu = e->offcpu};
	int err;

	if (e->sampler) {
		if (e->running == 0)
			log_info(MOD, "BPF sampler still loaded: reused");
		return 0;
	}
	err = sampler_check_system();
	if (err)
		return err;
	err = sampler_open(&e->sampler, &sc);
	if (err)
		goto cleanup;
	err = sampler_load(e->sampler);
	if (err)
		goto cleanup;
	err = symbolizer_new_cached(&e->sym, e->proc_root, e->symbols);
	if (!err)
		err = symbolizer_set_debug_dirs(e->sym, e->debug_dirs, e->n_debug_dirs);
	if (err) {
		log_error(MOD, "symbolizer: %s", strerror(-err));
		goto cleanup;
	}
	err = unwinder_new(&e->unw, e->sampler, e->proc_root, note_pid, e);
	if (!err)
		err = pysym_new(&e->py);
	if (err)
		goto cleanup;
	e->py_pid = 0;
	e->loads++;
	log_info(MOD, "BPF sampler loaded");
	return 0;
cleanup:
	unwinder_free(e->unw);
	e->unw = NULL;
	symbolizer_free(e->sym);
	e->sym = NULL;
	sampler_close(e->sampler);
	e->sampler = NULL;
	return err;
}

static void engine_sleep(struct job_engine *e)
{
	e->unused_since_ns = 0;
	if (!e->sampler)
		return;
	unwinder_free(e->unw);
	e->unw = NULL;
	pysym_free(e->py);
	e->py = NULL;
	sampler_close(e->sampler);
	e->sampler = NULL;
	symbolizer_free(e->sym);
	e->sym = NULL;
	log_info(MOD, "no job running: BPF sampler unloaded");
}

void job_engine_free(struct job_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < PROFILE_MAX_SLOTS; i++)
		job_stop(e->slots[i]);
	engine_sleep(e);
	symcache_free(e->symbols);
	free(e->proc_root);
	free(e->node_name);
	free(e);
}

int job_engine_tick(struct job_engine *e)
{
	if (e && e->running == 0 && e->unused_since_ns &&
	    clock_mono_ns() - e->unused_since_ns >= (int64_t)e->unload_after_ms * 1000000) {
		engine_sleep(e);
		return 0;
	}
	return e && e->unw ? unwinder_poll_events(e->unw) : 0;
}

int job_engine_events_fd(const struct job_engine *e, uint64_t *load)
{
	if (load)
		*load = e ? e->loads : 0;
	return e && e->sampler ? sampler_events_fd(e->sampler) : -1;
}

size_t job_engine_running(const struct job_engine *e)
{
	return e ? e->running : 0;
}

bool job_engine_loaded(const struct job_engine *e)
{
	return e && e->sampler;
}

static int new_window(struct job *j)
{
	int err = pprof_builder_new(&j->window, 1000000000LL / j->hz, clock_wall_ns());

	if (!err && j->offcpu)
		err = pprof_builder_set_offcpu(j->window);
	j->window_start_ns = clock_mono_ns();
	return err;
}

static void target_free(struct job_target *t)
{
	free(t->pod);
	free(t->namespace);
	free(t->container);
	free(t->dir);
	t->pod = t->namespace = t->container = t->dir = NULL;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n_targets; i++)
		target_free(&j->targets[i]);
	free(j->targets);
	pprof_builder_free(j->window);
	free(j->id);
	free(j);
}

int job_start(struct job_engine *e, const struct job_params *p, struct job **out)
{
	struct job *j = NULL;
	uint32_t slot = PROFILE_MAX_SLOTS;
	int err;

	*out = NULL;
	if (!p || !p->id || (!p->offcpu && (p->hz < JOB_MIN_HZ || p->hz > JOB_MAX_HZ)))
		return -EINVAL;
	for (uint32_t i = 0; i < PROFILE_MAX_SLOTS; i++) {
		if (!e->slots[i]) {
			slot = i;
			break;
		}
	}
	if (slot == PROFILE_MAX_SLOTS)
		return -EBUSY;
	j = calloc(1, sizeof(*j));
	if (!j) {
		err = -ENOMEM;
		goto cleanup;
	}
	j->engine = e;
	j->slot = slot;
	j->hz = p->offcpu ? 1 : p->hz; /* an off-CPU job samples nothing at a rate */
	j->kernel_stacks = p->kernel_stacks;
	j->fp_only = p->fp_only;
	j->offcpu = p->offcpu;
	j->min_block_ns = p->min_block_ns;
	j->id = strdup(p->id);
	if (!j->id) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = engine_wake(e);
	if (err)
		goto cleanup;
	err = sampler_attach_slot(e->sampler, slot, j->hz, p->kernel_stacks, p->fp_only);
	if (!err && p->offcpu) {
		err = sampler_slot_offcpu(e->sampler, slot, p->min_block_ns);
		if (err == -EOPNOTSUPP)
			log_error(MOD, "job %s: off-CPU profiling is not available on this kernel",
				  j->id);
		if (err)
			sampler_detach_slot(e->sampler, slot);
	}
	if (err) {
		if (e->running == 0)
			engine_sleep(e);
		goto cleanup;
	}
	/* The window starts once sampling does (loading can take a while). */
	err = new_window(j);
	if (err) {
		sampler_detach_slot(e->sampler, slot);
		if (e->running == 0)
			engine_sleep(e);
		goto cleanup;
	}
	e->slots[slot] = j;
	e->running++;
	e->unused_since_ns = 0;
	if (j->offcpu)
		log_info(MOD, "job %s started (slot %u, off CPU, blocks from %llu us%s%s)", j->id,
			 slot, (unsigned long long)(j->min_block_ns / 1000),
			 j->kernel_stacks ? ", kernel stacks" : "",
			 j->fp_only ? ", frame pointers only" : "");
	else
		log_info(MOD, "job %s started (slot %u, %u Hz%s%s)", j->id, slot, j->hz,
			 j->kernel_stacks ? ", kernel stacks" : "",
			 j->fp_only ? ", frame pointers only" : "");
	*out = j;
	j = NULL;
	err = 0;
cleanup:
	job_free(j);
	return err;
}

const char *job_id(const struct job *j)
{
	return j->id;
}

static struct job_target *find_target(struct job *j, enum profile_target_kind kind, uint64_t id)
{
	for (size_t i = 0; i < j->n_targets; i++) {
		if (j->targets[i].kind == kind && j->targets[i].id == id)
			return &j->targets[i];
	}
	return NULL;
}

/* ---- which perf events a job holds ------------------------------------------------
 * A cgroup target gets perf events in cgroup mode, so a task outside every
 * target takes no interrupt and runs no BPF. A target inside another
 * target's cgroup rides on its ancestor's events (two sets would sample its
 * tasks twice). Pid targets, and cgroups whose directory is unknown, need
 * events for every task; those cover all targets, so while they exist the
 * job holds no cgroup events. The BPF target check stays as the guard. */

static bool dir_within(const char *dir, const char *anc)
{
	size_t n = strlen(anc);

	return strncmp(dir, anc, n) == 0 && dir[n] == '/';
}

static bool samples_all_tasks(const struct job *j)
{
	return sampler_slot_samples(j->engine->sampler, j->slot, 0);
}

static int sample_all_tasks(struct job *j)
{
	int err;

	if (j->offcpu)
		return 0; /* no perf events: the sched_switch program filters */
	if (samples_all_tasks(j))
		return 0;
	err = sampler_slot_sample(j->engine->sampler, j->slot, 0, -1);
	if (err)
		return err;
	for (size_t i = 0; i < j->n_targets; i++) {
		if (j->targets[i].events)
			sampler_slot_unsample(j->engine->sampler, j->slot, j->targets[i].id);
		j->targets[i].events = false;
	}
	return 0;
}

static bool has_ancestor_target(const struct job *j, const struct job_target *t)
{
	for (size_t i = 0; i < j->n_targets; i++) {
		const struct job_target *u = &j->targets[i];

		if (u != t && u->kind == PROFILE_TARGET_CGROUP && u->dir &&
		    dir_within(t->dir, u->dir))
			return true;
	}
	return false;
}

/* Give every cgroup target no other target contains its own events, and
 * take them from those that another target now contains. */
static int cover_cgroups(struct job *j)
{
	if (j->offcpu || samples_all_tasks(j))
		return 0;
	for (size_t i = 0; i < j->n_targets; i++) {
		struct job_target *t = &j->targets[i];
		int fd, err;

		if (t->kind != PROFILE_TARGET_CGROUP || !t->dir || t->events ||
		    has_ancestor_target(j, t))
			continue;
		fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		err = fd < 0 ? -errno : sampler_slot_sample(j->engine->sampler, j->slot, t->id, fd);
		if (fd >= 0)
			close(fd);
		if (err) {
			log_warn(
			    MOD,
			    "job %s: cgroup %s: no cgroup-mode events (%s); sampling every task "
			    "and filtering in BPF",
			    j->id, t->dir, strerror(-err));
			return sample_all_tasks(j);
		}
		t->events = true;
	}
	for (size_t i = 0; i < j->n_targets; i++) {
		struct job_target *t = &j->targets[i];

		if (t->events && has_ancestor_target(j, t)) {
			sampler_slot_unsample(j->engine->sampler, j->slot, t->id);
			t->events = false;
		}
	}
	return 0;
}

static int add_target(struct job *j, enum profile_target_kind kind, uint64_t id, const char *dir,
		      const struct job_labels *l)
{
	struct job_target *t = find_target(j, kind, id), nt = {.kind = kind, .id = id}, *grown;
	int err;

	nt.dir = dup_or_null(dir);
	if (dir && !nt.dir) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (l) {
		nt.pod = dup_or_null(l->pod);
		nt.namespace = dup_or_null(l->namespace);
		nt.container = dup_or_null(l->container);
		if ((l->pod && !nt.pod) || (l->namespace && !nt.namespace) ||
		    (l->container && !nt.container)) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	if (t) {
		/* Relabel in place; the BPF entry, its events and hit count stay. */
		nt.last_hits = t->last_hits;
		nt.events = t->events;
		free(nt.dir);
		nt.dir = t->dir;
		t->dir = NULL;
		target_free(t);
		*t = nt;
		return 0;
	}
	if (j->n_targets >= MAX_TARGETS_PER_JOB) {
		err = -ENOSPC;
		goto cleanup;
	}
	grown = realloc(j->targets, (j->n_targets + 1) * sizeof(*grown));
	if (!grown) {
		err = -ENOMEM;
		goto cleanup;
	}
	j->targets = grown;
	err = sampler_target_add(j->engine->sampler, j->slot, kind, id);
	if (err)
		goto cleanup;
	j->targets[j->n_targets++] = nt;
	err = kind == PROFILE_TARGET_CGROUP && dir ? cover_cgroups(j) : sample_all_tasks(j);
	if (err) {
		sampler_target_remove(j->engine->sampler, j->slot, kind, id);
		target_free(&j->targets[--j->n_targets]);
		return err;
	}
	return 0;
cleanup:
	target_free(&nt);
	return err;
}

int job_add_cgroup(struct job *j, uint64_t cgroup_id, const char *dir,
		   const struct job_labels *labels)
{
	int err;

	if (cgroup_id == 0)
		return -EINVAL;
	/* Tell the unwinder about the processes already there before they are
	 * sampled (and keep looking for new ones), so their first samples
	 * unwind fully. */
	if (dir && !j->fp_only) {
		err = unwinder_watch_cgroup(j->engine->unw, cgroup_id, dir);
		if (err)
			log_warn(MOD, "cgroup %s: processes are learnt from samples only (%s)", dir,
				 strerror(-err));
	}
	err = add_target(j, PROFILE_TARGET_CGROUP, cgroup_id, dir, labels);
	if (err && dir && !j->fp_only)
		unwinder_unwatch_cgroup(j->engine->unw, cgroup_id);
	return err;
}

int job_add_pid(struct job *j, pid_t pid)
{
	int err;

	if (pid <= 0)
		return -EINVAL;
	if (!j->fp_only) {
		err = unwinder_add_pid(j->engine->unw, pid);
		if (err && err != -ESRCH)
			log_warn(MOD, "pid %d: unwinding from samples only (%s)", (int)pid,
				 strerror(-err));
	}
	return add_target(j, PROFILE_TARGET_TGID, (uint64_t)pid, NULL, NULL);
}

int job_remove_cgroup(struct job *j, uint64_t cgroup_id)
{
	struct job_target *t = find_target(j, PROFILE_TARGET_CGROUP, cgroup_id);
	int err;

	if (!t)
		return -ENOENT;
	/* Stop counting it first, then drain while its labels are still
	 * known: no sample of it can land in the kernel after the drain. */
	err = sampler_target_remove(j->engine->sampler, j->slot, PROFILE_TARGET_CGROUP, cgroup_id);
	if (err)
		return err;
	if (t->events)
		sampler_slot_unsample(j->engine->sampler, j->slot, cgroup_id);
	t->events = false;
	err = job_poll(j);
	if (err)
		return err;
	unwinder_unwatch_cgroup(j->engine->unw, cgroup_id);
	target_free(t);
	*t = j->targets[--j->n_targets];
	/* Targets inside the one removed need events of their own now. */
	return cover_cgroups(j);
}

/* Stand-in frame for a stack the kernel could not record, so the sample still counts. */
static void placeholder(struct pprof_frame *f, const char *what)
{
	memset(f, 0, sizeof(*f));
	f->function = what;
}

/* The CPython offsets of pid (one map lookup per process and drain). */
static const struct profile_py_offsets *py_offsets(struct job_engine *e, pid_t pid)
{
	if (e->py_pid != pid) {
		e->py_pid = pid;
		e->py_err = sampler_py_get(e->sampler, (uint32_t)pid, &e->py_proc);
	}
	return e->py_err ? NULL : &e->py_proc.off;
}

/* Name user frames: native addresses through the symbolizer (in one call,
 * so each keeps its place for the return-address rule and its lines stay
 * valid), then Python frames (code object + offset) through pysym. */
static int user_frames(struct job_engine *e, pid_t pid, const uint64_t *ips, size_t n,
		       struct pprof_frame *out)
{
	int err = symbolizer_user(e->sym, pid, ips, n, out);

	for (size_t i = 0; i < n && !err; i++)
		if (profile_frame_is_python(ips[i]))
			err = pysym_frame(e->py, pid, py_offsets(e, pid), ips[i], &out[i],
					  &e->py_lines[i]);
	return err;
}

/* Keep what the unwinder says about a sampled process, once per job: the
 * job's user learns why its frames are less than they could be. */
static void note_process(struct job *j, pid_t pid)
{
	const struct unwinder_note *n = unwinder_note_of(j->engine->unw, pid);

	if (!n)
		return;
	for (size_t i = 0; i < j->n_notices; i++)
		if (j->seen[i] == n)
			return;
	if (j->n_notices == JOB_MAX_NOTICES)
		return;
	j->seen[j->n_notices] = n;
	snprintf(j->notices[j->n_notices].code, sizeof(j->notices[0].code), "%s", n->code);
	snprintf(j->notices[j->n_notices].text, sizeof(j->notices[0].text), "%s", n->text);
	j->n_notices++;
}

const struct job_notice *job_notices(const struct job *j, size_t *n)
{
	*n = j->n_notices;
	return j->notices;
}

/* An off-CPU kernel stack is taken inside the sched_switch tracepoint: its
 * leaf frames are the BPF program and the tracepoint's glue (names and number
 * vary by kernel), then the scheduler's own functions, the same on every
 * stack. Drop them all, so the leaf says where the thread waited
 * (do_nanosleep, pipe_read, futex_wait_queue, irqentry_exit_to_user_mode for
 * a preemption) and the top functions tell the waits apart. Returns the
 * frames left (moved to the front). */
static size_t drop_tracing_frames(struct pprof_frame *f, size_t n)
{
	static const char *const glue[] = {"bpf_prog_",	   "bpf_trace_run",    "__bpf_trace_",
					   "__traceiter_", "__schedule",       "schedule",
					   "io_schedule",  "preempt_schedule", "__cond_resched"};
	size_t k = 0;

	for (; k < n; k++) {
		bool is_glue = false;

		for (size_t g = 0; g < sizeof(glue) / sizeof(glue[0]) && f[k].function; g++)
			is_glue = is_glue || strncmp(f[k].function, glue[g], strlen(glue[g])) == 0;
		if (!is_glue)
			break;
	}
	if (k == n)
		return n; /* nothing else: keep what there is */
	memmove(f, f + k, (n - k) * sizeof(*f));
	return n - k;
}

static int add_sample(void *ctx, const struct sampler_sample *smp)
{
	struct job *j = ctx;
	struct job_engine *e = j->engine;
	struct pprof_label labels[8];
	struct job_target *t;
	size_t nf = 0, nl = 0;
	int err;

	note_process(j, (pid_t)smp->pid);
	/* First sight of a pid: snapshot its maps while it is (likely) alive. */
	err = symbolizer_note_pid(e->sym, (pid_t)smp->pid);
	if (err && err != -ESRCH && err != -ENOENT)
		log_debug(MOD, "maps of pid %u: %s", smp->pid, strerror(-err));
	if (smp->n_kern) {
		err = symbolizer_kernel(e->sym, smp->kern_ips, smp->n_kern, e->frames);
		if (err)
			return err;
		nf = smp->n_kern;
		if (j->offcpu)
			nf = drop_tracing_frames(e->frames, nf);
	}
	if (smp->n_user) {
		size_t nu = smp->n_user;
		uint64_t last = smp->user_ips[nu - 1];

		/* A marker ends the walk: symbolize the addresses, name the reason. */
		if (last & PROFILE_FRAME_MARKER)
			nu--;
		err = user_frames(e, (pid_t)smp->pid, smp->user_ips, nu, e->frames + nf);
		if (err)
			return err;
		nf += nu;
		if (last & PROFILE_FRAME_MARKER) {
			uint32_t why = (uint32_t)(last & 0xff);

			placeholder(&e->frames[nf++], job_stop_reason_frame(why));
			if (why < PROFILE_STOP__MAX)
				j->stops[why] += smp->count;
		}
	} else if (smp->user_err && smp->user_err != -EFAULT) {
		/* -EFAULT is a task with no user context (kernel thread): no frame. */
		placeholder(&e->frames[nf++], "[user stack lost]");
	}
	if (nf == 0)
		placeholder(&e->frames[nf++], "[no stack]");

	labels[nl++] = (struct pprof_label){.key = "pid", .num = smp->pid, .num_unit = "pid"};
	labels[nl++] = (struct pprof_label){.key = "comm", .str = smp->comm};
	if (j->offcpu)
		labels[nl++] =
		    (struct pprof_label){.key = "state", .str = job_state_name(smp->state)};
	if (e->per_thread)
		labels[nl++] =
		    (struct pprof_label){.key = "tid", .num = smp->tid, .num_unit = "tid"};
	if (e->node_name)
		labels[nl++] = (struct pprof_label){.key = "node", .str = e->node_name};
	t = find_target(j, smp->target_kind, smp->target_id);
	if (t && t->pod)
		labels[nl++] = (struct pprof_label){.key = "pod", .str = t->pod};
	if (t && t->namespace)
		labels[nl++] = (struct pprof_label){.key = "namespace", .str = t->namespace};
	if (t && t->container)
		labels[nl++] = (struct pprof_label){.key = "container", .str = t->container};
	return pprof_builder_add(j->window, e->frames, nf, (int64_t)smp->count, labels, nl);
}

const char *job_state_name(uint32_t state)
{
	static const char *const names[PROFILE_STATE__MAX] = {
	    [PROFILE_STATE_NONE] = "running",
	    [PROFILE_STATE_RUNNABLE] = "runnable",
	    [PROFILE_STATE_SLEEPING] = "sleeping",
	    [PROFILE_STATE_UNINTERRUPTIBLE] = "uninterruptible",
	    [PROFILE_STATE_OTHER] = "other",
	};

	return state < PROFILE_STATE__MAX ? names[state] : "other";
}

const char *job_stop_reason_frame(uint32_t why)
{
	static const char *const names[PROFILE_STOP__MAX] = {
	    [PROFILE_STOP_DEPTH] = "[truncated: too deep]",
	    [PROFILE_STOP_NO_PROC] = "[truncated: process not yet known]",
	    [PROFILE_STOP_NO_MAPPING] = "[truncated: unknown mapping]",
	    [PROFILE_STOP_NO_TABLE] = "[truncated: no unwind table]",
	    [PROFILE_STOP_NO_CFI] = "[truncated: no unwind info]",
	    [PROFILE_STOP_UNSUPPORTED] = "[truncated: unsupported unwind rule]",
	    [PROFILE_STOP_READ] = "[truncated: stack unreadable]",
	    [PROFILE_STOP_BAD_FRAME] = "[truncated: bad frame]",
	};

	return why < PROFILE_STOP__MAX && names[why] ? names[why] : "[truncated]";
}

int job_poll(struct job *j)
{
	int err;

	symbolizer_drain_begin(j->engine->sym);
	/* Processes first, so that their next samples unwind fully. */
	if (!j->fp_only) {
		err = unwinder_poll(j->engine->unw);
		if (err)
			return err;
	}
	j->engine->py_pid = 0; /* entries may have changed since the last drain */
	return sampler_drain_slot(j->engine->sampler, j->slot, add_sample, j);
}

void job_stats_release(struct job_stats *st)
{
	if (!st)
		return;
	free(st->cgroups);
	st->cgroups = NULL;
	st->n_cgroups = 0;
}

static int fill_stats(struct job *j, struct job_stats *st)
{
	uint64_t drops[PROFILE_DROP__MAX], switches = 0;
	size_t n = 0;
	int err;

	err = sampler_drops(j->engine->sampler, j->slot, drops);
	if (err)
		return err;
	for (size_t k = 0; k < PROFILE_DROP__MAX; k++) {
		if (st)
			st->drops[k] = drops[k] - j->last_drops[k];
		j->last_drops[k] = drops[k];
	}
	if (st) {
		memcpy(st->stops, j->stops, sizeof(st->stops));
		unwinder_stats(j->engine->unw, &st->unwind);
		symcache_get_stats(j->engine->symbols, &st->symbols);
		pysym_stats(j->engine->py, &st->py_code_reads, &st->py_code_read_ns);
	}
	memset(j->stops, 0, sizeof(j->stops));
	if (st) {
		st->cgroups = calloc(j->n_targets ? j->n_targets : 1, sizeof(*st->cgroups));
		if (!st->cgroups)
			return -ENOMEM;
	}
	for (size_t i = 0; i < j->n_targets; i++) {
		struct job_target *t = &j->targets[i];
		uint64_t hits = 0;

		err = sampler_target_hits(j->engine->sampler, j->slot, t->kind, t->id, &hits);
		if (err)
			hits = t->last_hits;
		switches += hits - t->last_hits;
		if (st && t->kind == PROFILE_TARGET_CGROUP) {
			st->cgroups[n].cgroup_id = t->id;
			st->cgroups[n].samples = hits - t->last_hits;
			n++;
		}
		t->last_hits = hits;
	}
	if (st)
		st->n_cgroups = n;
	if (st && j->offcpu)
		st->samples = (int64_t)switches; /* the profile's total is nanoseconds */
	return 0;
}

int job_take_profile(struct job *j, struct pprof_builder **out, struct job_stats *st)
{
	struct pprof_builder *done;
	int64_t dur;
	int err;

	*out = NULL;
	if (st)
		memset(st, 0, sizeof(*st));
	err = job_poll(j);
	if (err)
		return err;
	err = fill_stats(j, st);
	if (err)
		goto cleanup;
	dur = clock_mono_ns() - j->window_start_ns;
	pprof_builder_set_duration(j->window, dur);
	done = j->window;
	j->window = NULL;
	/* Code objects may be freed and their memory reused: names last one window. */
	pysym_reset(j->engine->py);
	err = new_window(j);
	if (err) {
		j->window = done; /* keep the data; the caller may retry */
		goto cleanup;
	}
	if (st) {
		if (!j->offcpu)
			st->samples = pprof_builder_total(done);
		st->duration_ns = dur;
	}
	/* The window's frames are copied into `done`: per-pid maps of
	 * processes not seen in it can go now. */
	if (symbolizer_end_window(j->engine->sym))
		log_warn(MOD, "symbolizer: out of memory trimming its caches");
	*out = done;
	return 0;
cleanup:
	job_stats_release(st);
	return err;
}

int job_collect(struct job *j, void **data, size_t *len, struct job_stats *st)
{
	struct pprof_builder *b = NULL;
	int err;

	*data = NULL;
	*len = 0;
	err = job_take_profile(j, &b, st);
	if (err)
		return err;
	err = pprof_builder_encode(b, true, data, len);
	if (err)
		job_stats_release(st);
	pprof_builder_free(b);
	return err;
}

void job_stop(struct job *j)
{
	struct job_engine *e;

	if (!j)
		return;
	e = j->engine;
	sampler_detach_slot(e->sampler, j->slot);
	e->slots[j->slot] = NULL;
	e->running--;
	log_info(MOD, "job %s stopped", j->id);
	if (e->running == 0 && !e->unload_after_ms) {
		engine_sleep(e); /* unloading drops the slot's maps too */
	} else {
		sampler_clear_slot(e->sampler, j->slot);
		if (e->running == 0) {
			e->unused_since_ns = clock_mono_ns();
			log_info(MOD,
				 "no job running: BPF sampler unloads in %u ms unless one starts",
				 e->unload_after_ms);
		}
	}
	job_free(j);
}
