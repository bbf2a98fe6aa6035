/* SPDX-License-Identifier: Apache-2.0 */
/* agent_jobs.c -- attach/detach -> sampling jobs, windows, progress, results.
 *
 * Each job samples its pods' cgroups through worker/job.h. Every progress
 * interval the job's current window is taken and merged into one profile
 * for the whole window (so progress can report running totals); when the
 * deadline passes the merged profile is sent, then a final progress.
 */
#include "agent_jobs.h"
#include "cgroup.h"
#include "clock.h"
#include "job.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOD		  "agent"
#define DEFAULT_PROGRESS  5000
#define PENDING_MAX_BYTES (256u * 1024 * 1024) /* results held while disconnected */
#define MERGE_MAX_BYTES	  (512u * 1024 * 1024) /* decompressed cap for our own windows */

struct aj_cgroup {
	uint64_t id;
	size_t pod; /* index into job->pods at the time it was added */
	char uid[PROTO_MAX_UID_LEN + 1];
	uint64_t samples;
	bool attached;
};

struct aj_job {
	struct aj_job *next;
	char id[PROTO_MAX_JOB_ID_LEN + 1];
	struct job *job;
	struct proto_attach spec; /* current pod set (owned copy) */
	struct aj_cgroup *cgs;
	size_t n_cgs, cap_cgs;
	struct pprof_builder *acc; /* windows merged so far */
	uint64_t started_ms, deadline_ms, next_progress_ms;
	uint64_t samples, drops, truncated;
	uint32_t errors;
	struct symcache_stats symbols; /* the engine's symbol cache at the last window */
	struct unwinder_stats unwind;  /* the engine's unwinder at the last window */
	bool have_stats;	       /* the two above were filled by a window */
};

struct aj_result {
	struct aj_result *next;
	char job_id[PROTO_MAX_JOB_ID_LEN + 1];
	void *gz; /* NULL once sent */
	size_t len;
	struct proto_msg progress; /* final progress, sent after the profile */
};

struct agent_jobs {
	struct agent_jobs_config cfg;
	struct agent_jobs_sink sink;
	char root[PATH_MAX];
	struct job_engine *engine;
	struct aj_job *jobs;
	struct aj_result *results, **results_tail;
	size_t pending_bytes;
};

static void report_error(struct agent_jobs *aj, const char *job_id, const char *code,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void report_error(struct agent_jobs *aj, const char *job_id, const char *code,
			 const char *fmt, ...)
{
	struct proto_msg m = {.type = PROTO_ERROR};
	va_list ap;

	snprintf(m.u.error.job_id, sizeof(m.u.error.job_id), "%s", job_id ? job_id : "");
	snprintf(m.u.error.code, sizeof(m.u.error.code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(m.u.error.message, sizeof(m.u.error.message), fmt, ap);
	va_end(ap);
	log_warn(MOD, "job %s: %s: %s", job_id ? job_id : "-", code, m.u.error.message);
	if (aj->sink.send_msg)
		aj->sink.send_msg(aj->sink.ctx, &m);
}

int agent_jobs_new(const struct agent_jobs_config *cfg, const struct agent_jobs_sink *sink,
		   struct agent_jobs **out)
{
	struct job_engine_config ec = {0};
	struct agent_jobs *aj;
	int err;

	*out = NULL;
	aj = calloc(1, sizeof(*aj));
	if (!aj)
		return -ENOMEM;
	aj->cfg = *cfg;
	aj->sink = *sink;
	aj->results_tail = &aj->results;
	if (!aj->cfg.progress_ms)
		aj->cfg.progress_ms = DEFAULT_PROGRESS;
	if (!aj->cfg.max_profile_bytes)
		aj->cfg.max_profile_bytes = PROTO_PROFILE_MAX_DEFAULT;
	if (cfg->cgroup_root) {
		snprintf(aj->root, sizeof(aj->root), "%s", cfg->cgroup_root);
	} else {
		err = cgroup_default_root(aj->root, sizeof(aj->root));
		if (err) {
			log_error(MOD, "no cgroup v2 mount found");
			goto cleanup;
		}
	}
	ec.proc_root = cfg->proc_root;
	ec.debug_dirs = cfg->debug_dirs;
	ec.n_debug_dirs = cfg->n_debug_dirs;
	ec.symbol_cache_bytes = cfg->symbol_cache_bytes;
	ec.unload_after_ms = cfg->unload_after_ms;
	ec.node_name = cfg->node;
	/* Off-CPU jobs may come at any time: their programs load with the first. */
	ec.offcpu = true;
	err = job_engine_new(&aj->engine, &ec);
	if (err)
		goto cleanup;
	*out = aj;
	return 0;
cleanup:
	agent_jobs_free(aj);
	return err;
}

static void job_destroy(struct aj_job *j)
{
	if (!j)
		return;
	job_stop(j->job);
	pprof_builder_free(j->acc);
	proto_attach_free(&j->spec);
	free(j->cgs);
	free(j);
}

static void result_free(struct aj_result *r)
{
	if (!r)
		return;
	free(r->gz);
	proto_msg_free(&r->progress);
	free(r);
}

void agent_jobs_free(struct agent_jobs *aj)
{
	if (!aj)
		return;
	while (aj->jobs) {
		struct aj_job *j = aj->jobs;

		aj->jobs = j->next;
		job_destroy(j);
	}
	while (aj->results) {
		struct aj_result *r = aj->results;

		aj->results = r->next;
		result_free(r);
	}
	job_engine_free(aj->engine);
	free(aj);
}

static struct aj_job *find_job(struct agent_jobs *aj, const char *id, struct aj_job ***link)
{
	struct aj_job **pp = &aj->jobs;

	for (; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			if (link)
				*link = pp;
			return *pp;
		}
	}
	return NULL;
}

/* ---- cgroups ----------------------------------------------------------------- */

static struct aj_cgroup *find_cg(struct aj_job *j, uint64_t id)
{
	for (size_t i = 0; i < j->n_cgs; i++) {
		if (j->cgs[i].id == id)
			return &j->cgs[i];
	}
	return NULL;
}

/* "containerd://abc" and "abc" name the same container. */
static const char *bare_id(const char *id)
{
	const char *p = strstr(id, "://");

	return p ? p + 3 : id;
}

static int attach_cgroup(struct aj_job *j, size_t pod, const struct cgroup_match *m)
{
	const struct proto_pod *p = &j->spec.pods[pod];
	struct job_labels lb = {.pod = p->name, .namespace = p->ns};
	struct aj_cgroup *cg = find_cg(j, m->id);
	int err;

	if (cg && cg->attached)
		return 0;
	for (size_t k = 0; k < p->n_containers; k++) {
		if (m->container_id[0] &&
		    strcmp(bare_id(p->containers[k].id), m->container_id) == 0)
			lb.container = p->containers[k].name;
	}
	err = job_add_cgroup(j->job, m->id, m->path, &lb);
	if (err)
		return err;
	if (!cg) {
		if (j->n_cgs == j->cap_cgs) {
			size_t ncap = j->cap_cgs ? j->cap_cgs * 2 : 8;
			struct aj_cgroup *n = realloc(j->cgs, ncap * sizeof(*n));

			if (!n) {
				job_remove_cgroup(j->job, m->id);
				return -ENOMEM;
			}
			j->cgs = n;
			j->cap_cgs = ncap;
		}
		cg = &j->cgs[j->n_cgs++];
		memset(cg, 0, sizeof(*cg));
		cg->id = m->id;
	}
	cg->pod = pod;
	snprintf(cg->uid, sizeof(cg->uid), "%s", p->uid);
	cg->attached = true;
	log_info(MOD, "job %s: sampling pod %s/%s%s%s (cgroup %llu)", j->id, p->ns, p->name,
		 lb.container ? " container " : "", lb.container ? lb.container : "",
		 (unsigned long long)m->id);
	return 0;
}

/* Attach what exists of one pod now; containers not started yet are retried
 * on later ticks. */
static void resolve_pod(struct agent_jobs *aj, struct aj_job *j, size_t pod)
{
	const struct proto_pod *p = &j->spec.pods[pod];
	const char *ids[PROTO_MAX_CONTAINERS];
	struct cgroup_match *m = NULL;
	size_t n_ids = 0, n = 0;
	int err;

	for (size_t k = 0; k < p->n_containers; k++) {
		if (p->containers[k].id[0])
			ids[n_ids++] = p->containers[k].id;
	}
	/* Containers named but none started: nothing to sample yet. */
	if (p->n_containers && !n_ids)
		return;
	err = cgroup_resolve_pod(aj->root, p->uid, n_ids ? ids : NULL, n_ids, &m, &n);
	if (err) {
		if (err != -ENOENT)
			log_warn(MOD, "job %s: pod %s: cgroup lookup failed (%d)", j->id, p->uid,
				 err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		err = attach_cgroup(j, pod, &m[i]);
		if (err) {
			j->errors++;
			report_error(aj, j->id, "attach_failed", "pod %s: cgroup %llu: error %d",
				     p->uid, (unsigned long long)m[i].id, err);
		}
	}
	free(m);
}

static bool pod_complete(const struct aj_job *j, size_t pod)
{
	const struct proto_pod *p = &j->spec.pods[pod];
	size_t want = 0, have = 0;

	for (size_t k = 0; k < p->n_containers; k++)
		want += p->containers[k].id[0] != '\0';
	if (!p->n_containers)
		want = 1;
	for (size_t i = 0; i < j->n_cgs; i++)
		have += j->cgs[i].attached && strcmp(j->cgs[i].uid, p->uid) == 0;
	return have >= want && want > 0;
}

static void resolve_all(struct agent_jobs *aj, struct aj_job *j)
{
	for (size_t i = 0; i < j->spec.n_pods; i++) {
		if (!pod_complete(j, i))
			resolve_pod(aj, j, i);
	}
}

static uint32_t attached_count(const struct aj_job *j)
{
	uint32_t n = 0;

	for (size_t i = 0; i < j->n_cgs; i++)
		n += j->cgs[i].attached;
	return n;
}

/* ---- attach / detach --------------------------------------------------------- */

/* received_ms: when the attach arrived. The window ends window_ms after
 * that, as the operator counts it, however long loading BPF took. */
static int apply_spec(struct agent_jobs *aj, struct aj_job *j, const struct proto_attach *a,
		      uint64_t received_ms)
{
	struct proto_attach copy;
	int err = proto_attach_copy(&copy, a);

	if (err)
		return err;
	/* Pods no longer named by the operator stop being sampled now. */
	for (size_t i = 0; i < j->n_cgs; i++) {
		bool keep = false;

		for (size_t k = 0; k < copy.n_pods && !keep; k++)
			keep = strcmp(copy.pods[k].uid, j->cgs[i].uid) == 0;
		if (!keep && j->cgs[i].attached) {
			job_remove_cgroup(j->job, j->cgs[i].id);
			j->cgs[i].attached = false;
			log_info(MOD, "job %s: pod %s no longer targeted", j->id, j->cgs[i].uid);
		}
	}
	proto_attach_free(&j->spec);
	j->spec = copy;
	j->deadline_ms = received_ms + a->window_ms;
	resolve_all(aj, j);
	return 0;
}

int agent_jobs_attach(struct agent_jobs *aj, const struct proto_attach *a)
{
	struct job_params jp = {.id = a->job_id,
				.hz = a->frequency_hz,
				.kernel_stacks = a->kernel_stacks,
				.fp_only = a->frame_pointers,
				.offcpu = a->offcpu,
				.min_block_ns = a->min_block_us * 1000};
	struct aj_job *j = find_job(aj, a->job_id, NULL);
	uint64_t received_ms = clock_mono_ms();
	int err;

	if (j) {
		err = apply_spec(aj, j, a, received_ms);
		log_info(MOD, "job %s updated: %zu pods, %u cgroups, %llu ms left", j->id,
			 j->spec.n_pods, attached_count(j), (unsigned long long)a->window_ms);
		return err;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	snprintf(j->id, sizeof(j->id), "%s", a->job_id);
	err = job_start(aj->engine, &jp, &j->job);
	if (err) {
		report_error(aj, a->job_id, err == -EBUSY ? "too_many_jobs" : "start_failed",
			     "cannot start sampling: %s", strerror(-err));
		free(j);
		return err;
	}
	j->started_ms = clock_mono_ms();
	j->next_progress_ms = j->started_ms + aj->cfg.progress_ms;
	err = apply_spec(aj, j, a, received_ms);
	if (err) {
		job_destroy(j);
		return err;
	}
	j->next = aj->jobs;
	aj->jobs = j;
	log_info(MOD, "job %s attached: %zu pods, %u cgroups, %u Hz, window %llu ms", j->id,
		 j->spec.n_pods, attached_count(j), a->frequency_hz,
		 (unsigned long long)a->window_ms);
	return 0;
}

int agent_jobs_detach(struct agent_jobs *aj, const char *job_id)
{
	struct aj_job **link = NULL, *j = find_job(aj, job_id, &link);

	if (!j)
		return -ENOENT;
	*link = j->next;
	log_info(MOD, "job %s detached (%llu samples discarded)", j->id,
		 (unsigned long long)j->samples);
	job_destroy(j);
	return 0;
}

size_t agent_jobs_running(const struct agent_jobs *aj)
{
	size_t n = 0;

	for (const struct aj_job *j = aj ? aj->jobs : NULL; j; j = j->next)
		n++;
	return n;
}

void agent_jobs_set_max_profile(struct agent_jobs *aj, uint64_t max_bytes)
{
	if (max_bytes)
		aj->cfg.max_profile_bytes = max_bytes;
}

/* ---- windows and results ------------------------------------------------------- */

/* Move the job's current window into its merged profile and totals. */
static int take_window(struct aj_job *j)
{
	struct pprof_builder *b = NULL;
	struct job_stats st;
	void *raw = NULL;
	size_t len = 0;
	int err;

	err = job_take_profile(j->job, &b, &st);
	if (err)
		return err;
	j->samples += (uint64_t)(st.samples > 0 ? st.samples : 0);
	j->drops += st.drops[PROFILE_DROP_COUNTS_FULL] + st.drops[PROFILE_DROP_STACK_FULL];
	for (size_t k = 0; k < PROFILE_STOP__MAX; k++)
		j->truncated += st.stops[k];
	j->symbols = st.symbols;
	j->unwind = st.unwind;
	j->have_stats = true;
	for (size_t i = 0; i < st.n_cgroups; i++) {
		struct aj_cgroup *cg = find_cg(j, st.cgroups[i].cgroup_id);

		if (cg)
			cg->samples += st.cgroups[i].samples;
	}
	job_stats_release(&st);
	if (!j->acc) {
		j->acc = b;
		return 0;
	}
	err = pprof_builder_encode(b, false, &raw, &len);
	if (!err)
		err = pprof_builder_merge(j->acc, raw, len, MERGE_MAX_BYTES);
	free(raw);
	pprof_builder_free(b);
	return err;
}

_Static_assert(JOB_MAX_NOTICES <= PROTO_MAX_NOTICES, "a job's notices fit one progress");

/* Fills m (the caller frees it, also on failure). */
static int fill_progress(const struct aj_job *j, bool final, struct proto_msg *m)
{
	struct proto_progress *p = &m->u.progress;
	const struct job_notice *notes;
	size_t n_notes;

	memset(m, 0, sizeof(*m));
	m->type = PROTO_PROGRESS;
	snprintf(p->job_id, sizeof(p->job_id), "%s", j->id);
	p->samples = j->samples;
	p->drops = j->drops;
	p->truncated = j->truncated;
	p->cgroups = attached_count(j);
	p->errors = j->errors;
	p->final = final;
	if (j->have_stats) {
		/* The worker's caches, not the job's: the operator's per-node metrics. */
		p->symbols = (struct proto_symbols){.present = true,
						    .binaries = j->symbols.entries,
						    .bytes = j->symbols.bytes,
						    .max_bytes = j->symbols.max_bytes,
						    .hits = j->symbols.hits,
						    .misses = j->symbols.misses,
						    .evictions = j->symbols.evictions};
		p->unwind = (struct proto_unwind){.present = true,
						  .tables = j->unwind.tables,
						  .rows = j->unwind.rows_used,
						  .rows_capacity = j->unwind.rows_capacity,
						  .evictions = j->unwind.table_evictions};
	}
	/* Every notice of the job so far, so that one lost message loses none. */
	notes = job_notices(j->job, &n_notes);
	if (n_notes) {
		p->notices = calloc(n_notes, sizeof(*p->notices));
		if (!p->notices)
			return -ENOMEM;
		for (size_t i = 0; i < n_notes; i++) {
			snprintf(p->notices[i].code, sizeof(p->notices[i].code), "%s",
				 notes[i].code);
			snprintf(p->notices[i].message, sizeof(p->notices[i].message), "%s",
				 notes[i].text);
		}
		p->n_notices = n_notes;
	}
	if (!j->spec.n_pods)
		return 0;
	p->pods = calloc(j->spec.n_pods, sizeof(*p->pods));
	if (!p->pods)
		return -ENOMEM;
	for (size_t k = 0; k < j->spec.n_pods; k++) {
		snprintf(p->pods[k].uid, sizeof(p->pods[k].uid), "%s", j->spec.pods[k].uid);
		for (size_t i = 0; i < j->n_cgs; i++) {
			if (strcmp(j->cgs[i].uid, j->spec.pods[k].uid) == 0)
				p->pods[k].samples += j->cgs[i].samples;
		}
	}
	p->n_pods = j->spec.n_pods;
	return 0;
}

/* Send queued results in order; stop at the first that cannot go yet. */
void agent_jobs_flush(struct agent_jobs *aj)
{
	while (aj->results) {
		struct aj_result *r = aj->results;

		if (r->gz) {
			if (aj->sink.send_profile(aj->sink.ctx, r->job_id, true, r->gz, r->len))
				return;
			aj->pending_bytes -= r->len;
			free(r->gz);
			r->gz = NULL;
		}
		if (aj->sink.send_msg(aj->sink.ctx, &r->progress))
			return;
		aj->results = r->next;
		if (!aj->results)
			aj->results_tail = &aj->results;
		result_free(r);
	}
}

static void finish_job(struct agent_jobs *aj, struct aj_job *j)
{
	struct aj_result *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		goto fail;
	snprintf(r->job_id, sizeof(r->job_id), "%s", j->id);
	err = take_window(j);
	if (err) {
		j->errors++;
		report_error(aj, j->id, "collect_failed", "last window lost: %s", strerror(-err));
	}
	if (j->acc) {
		pprof_builder_set_duration(j->acc,
					   (int64_t)(clock_mono_ms() - j->started_ms) * 1000000);
		err = pprof_builder_encode(j->acc, true, &r->gz, &r->len);
		if (err) {
			j->errors++;
			report_error(aj, j->id, "encode_failed", "profile not encoded: %s",
				     strerror(-err));
		}
	}
	if (r->gz && r->len > aj->cfg.max_profile_bytes) {
		j->errors++;
		report_error(aj, j->id, "profile_too_big", "profile of %zu bytes over the cap %llu",
			     r->len, (unsigned long long)aj->cfg.max_profile_bytes);
		free(r->gz);
		r->gz = NULL;
	}
	if (r->gz && aj->pending_bytes + r->len > PENDING_MAX_BYTES) {
		j->errors++;
		report_error(aj, j->id, "backlog_full", "profile dropped: results backlog full");
		free(r->gz);
		r->gz = NULL;
	}
	if (r->gz)
		aj->pending_bytes += r->len;
	if (fill_progress(j, true, &r->progress))
		goto fail;
	log_info(MOD,
		 "job %s window ended: %llu samples, %llu dropped, profile %zu bytes; symbol "
		 "cache: %llu binaries, %llu KiB, %llu hits, %llu misses, %llu evicted",
		 j->id, (unsigned long long)j->samples, (unsigned long long)j->drops, r->len,
		 (unsigned long long)j->symbols.entries, (unsigned long long)j->symbols.bytes >> 10,
		 (unsigned long long)j->symbols.hits, (unsigned long long)j->symbols.misses,
		 (unsigned long long)j->symbols.evictions);
	*aj->results_tail = r;
	aj->results_tail = &r->next;
	return;
fail:
	log_error(MOD, "job %s: out of memory finishing the job", j->id);
	result_free(r);
}

uint64_t agent_jobs_next_due_ms(const struct agent_jobs *aj, uint64_t max_ms)
{
	uint64_t now = clock_mono_ms(), due = max_ms;

	for (const struct aj_job *j = aj->jobs; j; j = j->next) {
		uint64_t left = j->deadline_ms > now ? j->deadline_ms - now : 0;

		if (left < due)
			due = left;
	}
	return due;
}

void agent_jobs_unwind_tick(struct agent_jobs *aj)
{
	int err = job_engine_tick(aj->engine);

	if (err)
		log_debug(MOD, "unwinder: %s", strerror(-err));
}

int agent_jobs_events_fd(const struct agent_jobs *aj, uint64_t *load)
{
	return job_engine_events_fd(aj->engine, load);
}

void agent_jobs_tick(struct agent_jobs *aj)
{
	uint64_t now = clock_mono_ms();
	struct aj_job **pp = &aj->jobs;

	while (*pp) {
		struct aj_job *j = *pp;
		struct proto_msg m;

		if (now >= j->deadline_ms) {
			*pp = j->next;
			finish_job(aj, j);
			job_destroy(j);
			continue;
		}
		job_poll(j->job);
		resolve_all(aj, j);
		if (now >= j->next_progress_ms) {
			j->next_progress_ms = now + aj->cfg.progress_ms;
			if (take_window(j))
				j->errors++;
			if (!fill_progress(j, false, &m))
				aj->sink.send_msg(aj->sink.ctx, &m);
			proto_msg_free(&m);
		}
		pp = &j->next;
	}
	agent_jobs_flush(aj);
}
