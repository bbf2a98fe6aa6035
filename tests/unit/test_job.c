/* SPDX-License-Identifier: Apache-2.0 */
/* test_job.c -- job engine on real eBPF: two concurrent jobs keep their samples apart.
 *
 * Needs root and kernel BTF (the test machines have both); elsewhere it says
 * so and checks nothing. Children of this binary spin in two named functions
 * inside two test-made cgroups.
 */
#include "unit.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <stdbool.h>

#include <bpf/bpf.h>

#include "cgroup.h"
#include "job.h"
#include "kfeatures.h"
#include "pprof.h"

static volatile uint64_t job_test_sink;

__attribute__((noinline)) void job_test_spin_a(void)
{
	for (uint64_t i = 0;; i++)
		job_test_sink += i;
}

__attribute__((noinline)) void job_test_spin_b(void)
{
	for (uint64_t i = 0;; i++)
		job_test_sink += i * 3;
}

static pid_t spawn_in(const char *cg, void (*fn)(void))
{
	char procs[PATH_MAX];
	pid_t pid = fork();
	FILE *f;

	if (pid == 0) {
		fn();
		_exit(0);
	}
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	f = fopen(procs, "w");
	if (f) {
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
	return pid;
}

static void nap_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Top functions of a taken window: is `fn` among them with self samples? */
static int has_function(struct pprof_builder *b, const char *fn)
{
	struct pprof_top_entry *e = NULL;
	size_t n = 0;
	int found = 0;

	if (pprof_builder_top(b, 50, &e, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(e[i].function, fn) == 0 && e[i].self > 0)
			found = 1;
	}
	pprof_top_free(e, n);
	return found;
}

static uint64_t cgroup_samples(const struct job_stats *st, uint64_t id)
{
	for (size_t i = 0; i < st->n_cgroups; i++) {
		if (st->cgroups[i].cgroup_id == id)
			return st->cgroups[i].samples;
	}
	return UINT64_MAX; /* not listed */
}

/* Samples of cgroup `id` in the window, and it is listed. */
static bool cgroup_sampled(const struct job_stats *st, uint64_t id)
{
	uint64_t n = cgroup_samples(st, id);

	return n > 0 && n != UINT64_MAX;
}

/* Take the job's window and throw it away: the next one starts now. */
static int drop_window(struct job *j)
{
	struct pprof_builder *b = NULL;
	struct job_stats st = {0};
	int err = job_take_profile(j, &b, &st);

	pprof_builder_free(b);
	job_stats_release(&st);
	return err;
}

/* Two test-made cgroups a and b (under base) with a child of this binary
 * in each, running fa and fb. */
struct two_cgroups {
	char base[PATH_MAX / 2 + 64], a[PATH_MAX], b[PATH_MAX];
	uint64_t ida, idb, idbase;
	pid_t ka, kb;
};

/* false, after saying so, where the test cannot run: it needs root, BTF and cgroup v2. */
static bool two_cgroups_make(int *unit_failed, struct two_cgroups *tc, const char *tag,
			     void (*fa)(void), void (*fb)(void))
{
	char root[PATH_MAX / 2];

	memset(tc, 0, sizeof(*tc));
	tc->ka = tc->kb = -1;
	if (geteuid() != 0 || access("/sys/kernel/btf/vmlinux", R_OK) != 0 ||
	    cgroup_default_root(root, sizeof(root)) != 0) {
		printf("     (skipped: needs root, BTF and cgroup v2)\n");
		return false;
	}
	snprintf(tc->base, sizeof(tc->base), "%s/podprof-unit-%s-%d", root, tag, (int)getpid());
	snprintf(tc->a, sizeof(tc->a), "%s/a", tc->base);
	snprintf(tc->b, sizeof(tc->b), "%s/b", tc->base);
	CHECK_EQ_INT(mkdir(tc->base, 0755), 0);
	CHECK_EQ_INT(mkdir(tc->a, 0755), 0);
	CHECK_EQ_INT(mkdir(tc->b, 0755), 0);
	CHECK_EQ_INT(cgroup_id_of_path(tc->a, &tc->ida), 0);
	CHECK_EQ_INT(cgroup_id_of_path(tc->b, &tc->idb), 0);
	CHECK_EQ_INT(cgroup_id_of_path(tc->base, &tc->idbase), 0);
	tc->ka = spawn_in(tc->a, fa);
	tc->kb = spawn_in(tc->b, fb);
	return true;
}

static void two_cgroups_remove(struct two_cgroups *tc)
{
	pid_t kids[2] = {tc->ka, tc->kb};

	for (int i = 0; i < 2; i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	}
	/* Killed tasks leave their cgroups asynchronously. */
	for (int i = 0; i < 50 && (rmdir(tc->a) != 0 || rmdir(tc->b) != 0) && errno != ENOENT; i++)
		nap_ms(100);
	rmdir(tc->b);
	rmdir(tc->base);
}

/* Two jobs on one engine: each sees only its cgroups; cgroups can be added and
 * removed while running; a parent cgroup covers its children, the child's own
 * target winning; the BPF object lives exactly as long as some job. With
 * kf_off, on the fallback paths of the kernel features named there. */
static void two_jobs_kept_apart(int *unit_failed, uint64_t kf_off)
{
	struct two_cgroups tc;
	struct job_params pa = {.id = "a", .hz = 99}, pb = {.id = "b", .hz = 49};
	struct job_labels la = {.pod = "pod-a", .namespace = "ns", .container = "c-a"};
	struct job_engine_config ec = {.kfeatures_off = kf_off};
	struct job_engine *e = NULL;
	struct job *ja = NULL, *jb = NULL;
	struct pprof_builder *b = NULL;
	struct job_stats st = {0};

	if (!two_cgroups_make(unit_failed, &tc, "apart", job_test_spin_a, job_test_spin_b))
		return;

	CHECK_EQ_INT(job_engine_new(&e, &ec), 0);
	CHECK_EQ_INT(job_engine_running(e), 0);
	CHECK_EQ_INT(job_start(e, &pa, &ja), 0);
	pb.kernel_stacks = true;
	CHECK_EQ_INT(job_start(e, &pb, &jb), 0);
	if (!ja || !jb)
		goto cleanup;
	CHECK_EQ_INT(job_engine_running(e), 2);
	CHECK_EQ_INT(job_add_cgroup(ja, tc.ida, NULL, &la), 0);
	CHECK_EQ_INT(job_add_cgroup(jb, tc.idb, NULL, NULL), 0);
	nap_ms(1500);

	CHECK_EQ_INT(job_take_profile(ja, &b, &st), 0);
	CHECK(st.samples > 0);
	CHECK_EQ_INT(st.n_cgroups, 1);
	CHECK(cgroup_samples(&st, tc.ida) > 0);
	CHECK_EQ_INT(st.drops[PROFILE_DROP_COUNTS_FULL], 0);
	CHECK_EQ_INT(has_function(b, "job_test_spin_a"), 1);
	CHECK_EQ_INT(has_function(b, "job_test_spin_b"), 0);
	pprof_builder_free(b);
	b = NULL;
	job_stats_release(&st);

	CHECK_EQ_INT(job_take_profile(jb, &b, &st), 0);
	CHECK(st.samples > 0);
	CHECK_EQ_INT(has_function(b, "job_test_spin_b"), 1);
	CHECK_EQ_INT(has_function(b, "job_test_spin_a"), 0);
	pprof_builder_free(b);
	b = NULL;
	job_stats_release(&st);

	/* Job a now also covers b's cgroup, then lets it go again. */
	CHECK_EQ_INT(job_add_cgroup(ja, tc.idb, NULL, NULL), 0);
	nap_ms(1500);
	CHECK_EQ_INT(job_take_profile(ja, &b, &st), 0);
	CHECK_EQ_INT(st.n_cgroups, 2);
	CHECK(cgroup_sampled(&st, tc.idb));
	CHECK_EQ_INT(has_function(b, "job_test_spin_b"), 1);
	pprof_builder_free(b);
	b = NULL;
	job_stats_release(&st);
	CHECK_EQ_INT(job_remove_cgroup(ja, tc.idb), 0);
	CHECK_EQ_INT(job_remove_cgroup(ja, tc.idb), -ENOENT);
	/* Samples taken between the last profile and the removal still belong
	 * to this window; only the next one must be free of b. */
	CHECK_EQ_INT(drop_window(ja), 0);
	nap_ms(500);
	CHECK_EQ_INT(job_take_profile(ja, &b, &st), 0);
	CHECK_EQ_INT(st.n_cgroups, 1);
	CHECK_EQ_INT(has_function(b, "job_test_spin_b"), 0);
	pprof_builder_free(b);
	b = NULL;
	job_stats_release(&st);

	/* Job b adds the parent of both cgroups: a's task counts for it through
	 * the ancestor walk, b's own cgroup (deeper) still wins for b's task. */
	CHECK_EQ_INT(drop_window(jb), 0);
	CHECK_EQ_INT(job_add_cgroup(jb, tc.idbase, NULL, NULL), 0);
	nap_ms(1500);
	CHECK_EQ_INT(job_take_profile(jb, &b, &st), 0);
	CHECK(cgroup_sampled(&st, tc.idbase));
	CHECK(cgroup_sampled(&st, tc.idb));
	CHECK_EQ_INT(has_function(b, "job_test_spin_a"), 1);
	CHECK_EQ_INT(has_function(b, "job_test_spin_b"), 1);

	job_stop(ja);
	ja = NULL;
	CHECK_EQ_INT(job_engine_running(e), 1);
	job_stop(jb);
	jb = NULL;
	CHECK_EQ_INT(job_engine_running(e), 0);
cleanup:
	pprof_builder_free(b);
	job_stats_release(&st);
	job_stop(ja);
	job_stop(jb);
	job_engine_free(e);
	two_cgroups_remove(&tc);
}

UNIT_TEST(job_two_jobs_kept_apart)
{
	two_jobs_kept_apart(unit_failed, 0);
}

/* The same on the paths for kernels without BPF cookies (before 5.15) and
 * without the ancestor cgroup helper in perf_event programs (before 6.1):
 * the slot in the sample period, the CO-RE parent walk. */
UNIT_TEST(job_two_jobs_kept_apart_fallbacks)
{
	two_jobs_kept_apart(unit_failed, KF_BIT(KF_ATTACH_COOKIE) | KF_BIT(KF_ANCESTOR_CGROUP));
}

/* The ancestor fallback alone (5.15 has cookies, not the helper). */
UNIT_TEST(job_two_jobs_kept_apart_no_ancestor_helper)
{
	two_jobs_kept_apart(unit_failed, KF_BIT(KF_ANCESTOR_CGROUP));
}

/* A job with a process target opens events for every task, so its program
 * also runs for tasks of other cgroups and remembers that they match
 * nothing. Adding one of those cgroups as a target must make its tasks
 * count at once (the remembered "no target" belongs to an older
 * generation), and removing it must stop them. */
UNIT_TEST(job_target_added_after_misses_counts)
{
	struct two_cgroups tc;
	struct job_params pa = {.id = "m", .hz = 99};
	struct job_engine *e = NULL;
	struct job *j = NULL;
	struct pprof_builder *b = NULL;
	struct job_stats st = {0};

	if (!two_cgroups_make(unit_failed, &tc, "memo", job_test_spin_a, job_test_spin_b))
		return;

	CHECK_EQ_INT(job_engine_new(&e, NULL), 0);
	CHECK_EQ_INT(job_start(e, &pa, &j), 0);
	if (!j)
		goto cleanup;
	CHECK_EQ_INT(job_add_pid(j, tc.ka), 0);
	nap_ms(1000); /* b's task is seen and found to match nothing */
	CHECK_EQ_INT(job_take_profile(j, &b, &st), 0);
	CHECK_EQ_INT(has_function(b, "job_test_spin_a"), 1);
	CHECK_EQ_INT(has_function(b, "job_test_spin_b"), 0);
	pprof_builder_free(b);
	b = NULL;
	job_stats_release(&st);

	CHECK_EQ_INT(job_add_cgroup(j, tc.idb, NULL, NULL), 0);
	nap_ms(1000);
	CHECK_EQ_INT(job_take_profile(j, &b, &st), 0);
	CHECK(cgroup_sampled(&st, tc.idb));
	CHECK_EQ_INT(has_function(b, "job_test_spin_b"), 1);
	pprof_builder_free(b);
	b = NULL;
	job_stats_release(&st);

	CHECK_EQ_INT(job_remove_cgroup(j, tc.idb), 0);
	CHECK_EQ_INT(job_take_profile(j, &b, &st), 0); /* samples from before the removal */
	pprof_builder_free(b);
	b = NULL;
	job_stats_release(&st);
	nap_ms(500);
	CHECK_EQ_INT(job_take_profile(j, &b, &st), 0);
	CHECK_EQ_INT(has_function(b, "job_test_spin_b"), 0);
	CHECK_EQ_INT(has_function(b, "job_test_spin_a"), 1);
cleanup:
	pprof_builder_free(b);
	job_stats_release(&st);
	job_stop(j);
	job_engine_free(e);
	two_cgroups_remove(&tc);
}

/* With unload_after_ms the object outlives the last job (no perf event: a
 * stopped job's slot is detached at once), is reused by the next job, and
 * goes on the first tick after the linger. */
UNIT_TEST(job_engine_lingers_then_unloads)
{
	struct job_engine_config cfg = {.unload_after_ms = 400};
	struct job_params p = {.id = "linger", .hz = 49};
	struct job_engine *e = NULL;
	struct job *j = NULL;

	if (geteuid() != 0 || access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		printf("     (skipped: needs root and BTF)\n");
		return;
	}
	CHECK_EQ_INT(job_engine_new(&e, &cfg), 0);
	CHECK_EQ_INT(job_engine_loaded(e), 0);
	CHECK_EQ_INT(job_start(e, &p, &j), 0);
	CHECK_EQ_INT(job_engine_loaded(e), 1);
	job_stop(j);
	j = NULL;
	CHECK_EQ_INT(job_engine_running(e), 0);
	CHECK_EQ_INT(job_engine_tick(e), 0);
	CHECK_EQ_INT(job_engine_loaded(e), 1);
	CHECK_EQ_INT(job_start(e, &p, &j), 0); /* reuses the loaded object */
	CHECK_EQ_INT(job_engine_loaded(e), 1);
	nap_ms(600); /* a running job keeps it loaded however long */
	CHECK_EQ_INT(job_engine_tick(e), 0);
	CHECK_EQ_INT(job_engine_loaded(e), 1);
	job_stop(j);
	j = NULL;
	nap_ms(600);
	CHECK_EQ_INT(job_engine_tick(e), 0);
	CHECK_EQ_INT(job_engine_loaded(e), 0);
	job_engine_free(e);
}

__attribute__((noinline)) void job_test_nap_b(void)
{
	for (;;)
		nap_ms(5);
}

/* How many BPF programs named `name` this process holds an fd of, and the
 * id of the last one (the kernel's /proc fdinfo says which fds are programs). */
static int own_progs(const char *name, uint32_t *id)
{
	char path[300], line[128];
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fdinfo");
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);
		bool prog = false;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (!prog && fgets(line, sizeof(line), f))
			prog = strncmp(line, "prog_id:", 8) == 0;
		fclose(f);
		memset(&info, 0, sizeof(info));
		if (prog && bpf_obj_get_info_by_fd(atoi(d->d_name), &info, &len) == 0 &&
		    strcmp(info.name, name) == 0) {
			n++;
			*id = info.id;
		}
	}
	closedir(dir);
	return n;
}

/* offcpu_switch and offcpu_unwind programs this process holds. */
static int offcpu_progs(void)
{
	uint32_t id;

	return own_progs("offcpu_switch", &id) + own_progs("offcpu_unwind", &id);
}

/* An engine that allows off-CPU jobs loads no off-CPU program for CPU jobs;
 * the first off-CPU job loads them beside a running CPU job, whose program
 * stays the same one (no reload) and goes on sampling; they stay until the
 * engine unloads. */
UNIT_TEST(job_offcpu_programs_load_with_the_first_offcpu_job)
{
	struct two_cgroups tc;
	struct job_engine_config ec = {.offcpu = true};
	struct job_params pa = {.id = "cpu", .hz = 99};
	struct job_params po = {.id = "off", .offcpu = true, .min_block_ns = 1000000};
	struct job_engine *e = NULL;
	struct job *ja = NULL, *jo = NULL;
	struct pprof_builder *b = NULL;
	struct job_stats st = {0};
	uint32_t cpu_id = 0, cpu_id2 = 0;

	if (!two_cgroups_make(unit_failed, &tc, "off", job_test_spin_a, job_test_nap_b))
		return;

	CHECK_EQ_INT(job_engine_new(&e, &ec), 0);
	CHECK_EQ_INT(job_start(e, &pa, &ja), 0);
	if (!ja)
		goto cleanup;
	CHECK_EQ_INT(job_add_cgroup(ja, tc.ida, NULL, NULL), 0);
	CHECK_EQ_INT(own_progs("profile_sample", &cpu_id), 1);
	CHECK_EQ_INT(offcpu_progs(), 0);
	nap_ms(300);
	CHECK_EQ_INT(drop_window(ja), 0);

	CHECK_EQ_INT(job_start(e, &po, &jo), 0);
	if (!jo)
		goto cleanup;
	CHECK_EQ_INT(job_add_cgroup(jo, tc.idb, NULL, NULL), 0);
	CHECK_EQ_INT(offcpu_progs(), 2);
	CHECK_EQ_INT(own_progs("profile_sample", &cpu_id2), 1);
	CHECK_EQ_INT(cpu_id2, cpu_id);
	nap_ms(1000);

	/* Both ran over the same second: the CPU job's window spans the load. */
	CHECK_EQ_INT(job_take_profile(ja, &b, &st), 0);
	CHECK(st.samples > 0);
	CHECK_EQ_INT(has_function(b, "job_test_spin_a"), 1);
	pprof_builder_free(b);
	b = NULL;
	job_stats_release(&st);
	CHECK_EQ_INT(job_take_profile(jo, &b, &st), 0);
	CHECK(pprof_builder_is_offcpu(b));
	CHECK(pprof_builder_total(b) > 500 * 1000000LL); /* of 1 s asleep */
	CHECK_EQ_INT(has_function(b, "job_test_spin_a"), 0);
	pprof_builder_free(b);
	b = NULL;
	job_stats_release(&st);

	/* Loaded once, they stay while the sampler does; then all goes. */
	job_stop(jo);
	jo = NULL;
	CHECK_EQ_INT(offcpu_progs(), 2);
	job_stop(ja);
	ja = NULL;
	CHECK_EQ_INT(job_engine_tick(e), 0);
	CHECK_EQ_INT(job_engine_loaded(e), 0);
	CHECK_EQ_INT(offcpu_progs(), 0);
	CHECK_EQ_INT(own_progs("profile_sample", &cpu_id), 0);
cleanup:
	pprof_builder_free(b);
	job_stats_release(&st);
	job_stop(jo);
	job_stop(ja);
	job_engine_free(e);
	two_cgroups_remove(&tc);
}
