/* SPDX-License-Identifier: Apache-2.0 */
/* record.c -- `podprof-worker record`: sample a pid or cgroup, print top functions, write pprof.
 *
 * The quickest way to see the worker work and the basis of its tests: it
 * runs the same job engine as the agent, with one job and no cluster.
 */
#include "record.h"
#include "parse.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include "caps.h"
#include "cgroup.h"
#include "clock.h"
#include "debuginfo.h"
#include "job.h"
#include "kfeatures.h"
#include "log.h"
#include "pprof.h"
#include "sampler.h"

#define MOD "record"

#define MIN_DURATION_NS	 (100LL * 1000000)	    /* 100ms */
#define MAX_DURATION_NS	 (24LL * 3600 * 1000000000) /* a day */
#define POLL_NS		 1000000000LL		    /* drain once a second */
#define MAX_MIN_BLOCK_US (10LL * 1000000)	    /* --min-block: longer hides everything */
#define DEF_MIN_BLOCK_US 1000			    /* see docs/worker.md, off-CPU profiles */

static const char usage[] =
    "Usage: podprof-worker record (--pid PID | --cgroup PATH) [options]\n"
    "\n"
    "Sample on-CPU stacks of one process (all its threads) or one cgroup v2\n"
    "(with its descendants) on this machine, print the hottest functions and\n"
    "write a gzip pprof profile. Needs root (CAP_BPF, CAP_PERFMON) and kernel BTF.\n"
    "\n"
    "  -p, --pid PID           profile this process\n"
    "  -c, --cgroup PATH       profile this cgroup: absolute path, or relative to the\n"
    "                          cgroup v2 root\n"
    "  -d, --duration TIME     how long to sample, e.g. 500ms, 10s, 2m (default 10s);\n"
    "                          Ctrl-C ends early and still writes the profile\n"
    "  -F, --frequency HZ      samples per second per CPU, 1..1000 (default 99)\n"
    "  -k, --kernel-stacks     record kernel stacks too\n"
    "      --offcpu            off-CPU profile instead: the time threads spend switched\n"
    "                          out (blocked, or runnable but not running), weighted by\n"
    "                          that time, with the stack they blocked in and a \"state\"\n"
    "                          label (sleeping, uninterruptible, runnable)\n"
    "      --min-block TIME    off CPU: count only blocks this long or longer, e.g.\n"
    "                          0us, 200us, 5ms (default 1ms)\n"
    "      --unwinder MODE     user stacks: auto (unwind tables from .eh_frame, frame\n"
    "                          pointers where a binary has none; default) or\n"
    "                          framepointer (frame pointers only, cheapest)\n"
    "  -o, --output FILE       where to write the profile (default profile.pb.gz)\n"
    "  -n, --top N             rows in the top-functions table, 0..1000 (default 20)\n"
    "      --cgroup-root DIR   cgroup v2 mount (default /sys/fs/cgroup/unified if it is\n"
    "                          cgroup2, else /sys/fs/cgroup)\n"
    "      --debug-dir DIR     also look for separate debug files here (laid out like\n"
    "                          /usr/lib/debug); repeatable, up to 16\n"
    "      --symbol-cache-mb N symbol and line tables kept in memory, 16..4096 MiB\n"
    "                          (default 128; least recently used binaries go first)\n"
    "  -v, --verbose           debug logs, including libbpf's\n"
    "  -h, --help              this text\n"
    "\n"
    "Examples:\n"
    "  podprof-worker record --pid 1234 --duration 5s\n"
    "  podprof-worker record --pid 1234 --offcpu --min-block 100us\n"
    "  podprof-worker record --cgroup /sys/fs/cgroup/unified/app --kernel-stacks -o app.pb.gz\n"
    "  go tool pprof -top profile.pb.gz\n";

struct record_args {
	pid_t pid;
	const char *cgroup;
	const char *cgroup_root;
	int64_t duration_ns;
	unsigned int hz;
	bool kernel_stacks;
	bool fp_only;
	bool offcpu;
	int64_t min_block_us;
	const char *output;
	size_t top;
	bool verbose;
	const char *debug_dirs[DEBUGINFO_MAX_DIRS];
	size_t n_debug_dirs;
	uint64_t symbol_cache_bytes;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* "10s", "500ms", "2m", "1h", "1m30s", or a bare number of seconds. */
static int parse_duration(const char *s, int64_t *out)
{
	int64_t ms;

	if (parse_duration_ms(s, true, &ms) < 0 || ms * 1000000LL < MIN_DURATION_NS ||
	    ms * 1000000LL > MAX_DURATION_NS)
		return -EINVAL;
	*out = ms * 1000000LL;
	return 0;
}

static int parse_args(int argc, char **argv, struct record_args *a)
{
	enum {
		OPT_CGROUP_ROOT = 256,
		OPT_UNWINDER,
		OPT_DEBUG_DIR,
		OPT_SYMBOL_CACHE,
		OPT_OFFCPU,
		OPT_MIN_BLOCK
	};
	static const struct option opts[] = {
	    {"pid", required_argument, NULL, 'p'},
	    {"cgroup", required_argument, NULL, 'c'},
	    {"duration", required_argument, NULL, 'd'},
	    {"frequency", required_argument, NULL, 'F'},
	    {"kernel-stacks", no_argument, NULL, 'k'},
	    {"output", required_argument, NULL, 'o'},
	    {"top", required_argument, NULL, 'n'},
	    {"cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT},
	    {"unwinder", required_argument, NULL, OPT_UNWINDER},
	    {"debug-dir", required_argument, NULL, OPT_DEBUG_DIR},
	    {"symbol-cache-mb", required_argument, NULL, OPT_SYMBOL_CACHE},
	    {"offcpu", no_argument, NULL, OPT_OFFCPU},
	    {"min-block", required_argument, NULL, OPT_MIN_BLOCK},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long v;
	int c;

	optind = 1;
	while (1) {
		c = getopt_long(argc, argv, "p:c:d:F:ko:n:vh", opts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 'p':
			if (parse_ulong_range(optarg, 1, INT_MAX, &v)) {
				fprintf(stderr, "record: invalid --pid '%s'\n", optarg);
				return 2;
			}
			a->pid = (pid_t)v;
			break;
		case 'c':
			a->cgroup = optarg;
			break;
		case 'd':
			if (parse_duration(optarg, &a->duration_ns)) {
				fprintf(stderr,
					"record: invalid --duration '%s' (e.g. 500ms, 10s, 2m; "
					"100ms..24h)\n",
					optarg);
				return 2;
			}
			break;
		case 'F':
			if (parse_ulong_range(optarg, JOB_MIN_HZ, JOB_MAX_HZ, &v)) {
				fprintf(stderr, "record: invalid --frequency '%s' (%d..%d)\n",
					optarg, JOB_MIN_HZ, JOB_MAX_HZ);
				return 2;
			}
			a->hz = (unsigned int)v;
			break;
		case 'k':
			a->kernel_stacks = true;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'n':
			if (parse_ulong_range(optarg, 0, 1000, &v)) {
				fprintf(stderr, "record: invalid --top '%s' (0..1000)\n", optarg);
				return 2;
			}
			a->top = (size_t)v;
			break;
		case OPT_CGROUP_ROOT:
			a->cgroup_root = optarg;
			break;
		case OPT_UNWINDER:
			if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "framepointer") != 0) {
				fprintf(stderr,
					"record: invalid --unwinder '%s' (auto or framepointer)\n",
					optarg);
				return 2;
			}
			a->fp_only = strcmp(optarg, "framepointer") == 0;
			break;
		case OPT_DEBUG_DIR:
			if (a->n_debug_dirs == DEBUGINFO_MAX_DIRS) {
				fprintf(stderr, "record: at most %d --debug-dir\n",
					DEBUGINFO_MAX_DIRS);
				return 2;
			}
			a->debug_dirs[a->n_debug_dirs++] = optarg;
			break;
		case OPT_SYMBOL_CACHE:
			if (parse_ulong_range(optarg, 16, 4096, &v)) {
				fprintf(stderr,
					"record: invalid --symbol-cache-mb '%s' (16..4096)\n",
					optarg);
				return 2;
			}
			a->symbol_cache_bytes = (uint64_t)v << 20;
			break;
		case OPT_OFFCPU:
			a->offcpu = true;
			break;
		case OPT_MIN_BLOCK:
			if (parse_duration_us(optarg, &a->min_block_us) ||
			    a->min_block_us > MAX_MIN_BLOCK_US) {
				fprintf(stderr,
					"record: invalid --min-block '%s' (e.g. 0us, 500us, 10ms; "
					"at most 10s)\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1; /* caller exits 0 */
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "record: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if ((a->pid != 0) == (a->cgroup != NULL)) {
		fprintf(stderr, "record: give exactly one of --pid or --cgroup\n%s", usage);
		return 2;
	}
	return 0;
}

/* Resolve --cgroup to an absolute cgroup v2 directory and its ID. */
static int resolve_cgroup(const struct record_args *a, char *path, uint64_t *id)
{
	char root[PATH_MAX];
	struct statfs sfs;
	int err;

	if (a->cgroup_root) {
		snprintf(root, sizeof(root), "%s", a->cgroup_root);
	} else {
		err = cgroup_default_root(root, sizeof(root));
		if (err) {
			log_error(MOD, "no cgroup v2 mount found at /sys/fs/cgroup/unified or "
				       "/sys/fs/cgroup");
			return err;
		}
	}
	if (a->cgroup[0] == '/')
		err = snprintf(path, PATH_MAX, "%s", a->cgroup) >= PATH_MAX ? -ENAMETOOLONG : 0;
	else
		err = snprintf(path, PATH_MAX, "%s/%s", root, a->cgroup) >= PATH_MAX ? -ENAMETOOLONG
										     : 0;
	if (!err)
		err = cgroup_id_of_path(path, id);
	if (err) {
		log_error(MOD, "cgroup %s: %s", path, strerror(-err));
		return err;
	}
	if (statfs(path, &sfs) != 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		log_error(MOD, "%s is not in a cgroup v2 hierarchy", path);
		return -EINVAL;
	}
	return 0;
}

/* Sleep up to ns, waking early when the BPF program has met processes
 * (fd, see job_engine_events_fd; -1: just sleep). */
static void wait_ns(int fd, int64_t ns)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int ms = (int)((ns + 999999) / 1000000);

	/* EINTR (Ctrl-C) just ends the wait; the loop checks stop_flag. */
	if (fd >= 0) {
		poll(&pfd, 1, ms);
	} else {
		struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};

		nanosleep(&ts, NULL);
	}
}

static int write_file(const char *path, const void *data, size_t len)
{
	const char *p = data;
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) != 0 && !err)
		err = -errno;
	return err;
}

/* One line on the stack walks: how many ended early and why, and the tables. */
static void print_unwind(const struct job_stats *st)
{
	const struct unwinder_stats *u = &st->unwind;
	uint64_t stopped = 0;

	for (uint32_t k = 0; k < PROFILE_STOP__MAX; k++)
		stopped += st->stops[k];
	printf("unwind: %llu truncated", (unsigned long long)stopped);
	for (uint32_t k = 0; k < PROFILE_STOP__MAX; k++) {
		if (st->stops[k])
			printf(" %s=%llu", job_stop_reason_frame(k),
			       (unsigned long long)st->stops[k]);
	}
	printf("; %zu tables, %llu of %llu rows, %llu built in %.1f ms, %llu evicted, "
	       "%llu refused; %zu processes (%llu updates, %llu full, %llu events)\n",
	       u->tables, (unsigned long long)u->rows_used, (unsigned long long)u->rows_capacity,
	       (unsigned long long)u->table_builds, (double)u->table_build_ns / 1e6,
	       (unsigned long long)u->table_evictions, (unsigned long long)u->table_refused,
	       u->procs, (unsigned long long)u->proc_updates, (unsigned long long)u->procs_full,
	       (unsigned long long)u->events);
	if (u->py_procs || st->py_code_reads)
		printf("python: %llu process entries, %llu code objects read in %.2f ms\n",
		       (unsigned long long)u->py_procs, (unsigned long long)st->py_code_reads,
		       (double)st->py_code_read_ns / 1e6);
}

/* One line on the symbol cache: reuse of binaries' tables and its memory. */
static void print_symbols(const struct job_stats *st)
{
	const struct symcache_stats *c = &st->symbols;

	printf("symbols: %llu binaries cached (%llu in use), %.1f of %.0f MiB; %llu hits, "
	       "%llu misses, %llu evicted; lines: %llu remembered, %llu looked up\n",
	       (unsigned long long)c->entries, (unsigned long long)c->pinned,
	       (double)c->bytes / (1 << 20), (double)c->max_bytes / (1 << 20),
	       (unsigned long long)c->hits, (unsigned long long)c->misses,
	       (unsigned long long)c->evictions, (unsigned long long)c->line_hits,
	       (unsigned long long)c->line_misses);
}

/* What the job's user should know (e.g. a Python shown as native frames). */
struct record_notices {
	struct job_notice n[JOB_MAX_NOTICES];
	size_t count;
};

static void print_top(struct pprof_builder *b, const struct job_stats *st,
		      const struct record_notices *notes, size_t top)
{
	struct pprof_top_entry *e = NULL;
	int64_t total = pprof_builder_total(b);
	size_t n = 0;

	bool offcpu = pprof_builder_is_offcpu(b);

	if (offcpu)
		printf("off-CPU time: %.3fs blocked over %.1fs; ", (double)total / 1e9,
		       (double)st->duration_ns / 1e9);
	else
		printf("samples: %lld over %.1fs; ", (long long)total,
		       (double)st->duration_ns / 1e9);
	printf("stack errors: user %llu, kernel %llu, map full %llu; lost samples: %llu\n",
	       (unsigned long long)st->drops[PROFILE_DROP_USER_STACK],
	       (unsigned long long)st->drops[PROFILE_DROP_KERN_STACK],
	       (unsigned long long)st->drops[PROFILE_DROP_STACK_FULL],
	       (unsigned long long)st->drops[PROFILE_DROP_COUNTS_FULL]);
	print_unwind(st);
	print_symbols(st);
	for (size_t i = 0; i < notes->count; i++)
		printf("notice: %s: %s\n", notes->n[i].code, notes->n[i].text);
	if (top == 0 || total == 0)
		return;
	if (pprof_builder_top(b, top, &e, &n) != 0)
		return;
	/* Off CPU: shares of the blocked time, and its self part in ms. */
	printf("%7s %7s %9s  %s\n", "self%", "total%", offcpu ? "self_ms" : "samples", "function");
	for (size_t i = 0; i < n; i++)
		printf("%6.2f%% %6.2f%% %9lld  %s\n", 100.0 * (double)e[i].self / (double)total,
		       100.0 * (double)e[i].total / (double)total,
		       (long long)(offcpu ? e[i].self / 1000000 : e[i].self), e[i].function);
	pprof_top_free(e, n);
}

/* Sample until the duration is over or a signal arrives, draining each
 * second and telling the unwinder about new processes in between. */
static int run_window(struct job_engine *e, struct job *j, int64_t duration_ns)
{
	int64_t now = clock_mono_ns(), end = now + duration_ns, next_poll = now + POLL_NS;
	int err;

	while (!stop_flag) {
		int64_t left = end - clock_mono_ns(), due = next_poll - clock_mono_ns();

		if (left <= 0)
			break;
		if (due > 0)
			wait_ns(job_engine_events_fd(e, NULL), left < due ? left : due);
		err = job_engine_tick(e);
		if (!err && clock_mono_ns() >= next_poll) {
			next_poll += POLL_NS;
			err = job_poll(j);
		}
		if (err) {
			log_error(MOD, "draining samples: %s", strerror(-err));
			return err;
		}
	}
	if (stop_flag)
		log_info(MOD, "interrupted: writing what was sampled so far");
	return 0;
}

int record_main(int argc, char **argv)
{
	struct record_args a = {.duration_ns = 10000000000LL,
				.hz = 99,
				.output = "profile.pb.gz",
				.top = 20,
				.min_block_us = DEF_MIN_BLOCK_US};
	struct job_params jp = {.id = "record"};
	struct job_engine_config ec = {0};
	struct job_stats st = {0};
	struct record_notices notes = {0};
	const struct job_notice *notes_of;
	struct job_engine *e = NULL;
	struct pprof_builder *b = NULL;
	struct sigaction sa;
	struct job *j = NULL;
	char cg_path[PATH_MAX], capstr[256];
	uint64_t cg_id = 0;
	void *data = NULL;
	size_t len = 0;
	int rc, err;

	rc = parse_args(argc, argv, &a);
	if (rc == 1)
		return 0; /* --help */
	if (rc)
		return rc;
	rc = 1;
	if (a.verbose)
		log_set_level(LOG_LVL_DEBUG);
	sampler_set_libbpf_debug(a.verbose);

	if (a.cgroup) {
		err = resolve_cgroup(&a, cg_path, &cg_id);
		if (err)
			goto cleanup;
	} else {
		char procdir[64];

		snprintf(procdir, sizeof(procdir), "/proc/%d", (int)a.pid);
		if (access(procdir, F_OK) != 0) {
			log_error(MOD, "no process with pid %d", (int)a.pid);
			goto cleanup;
		}
	}
	err = sampler_check_system();
	if (!err)
		err = caps_check_sampling();
	if (!err)
		err = kfeatures_check_sampler(); /* one line naming what an old kernel lacks */
	if (err)
		goto cleanup;
	/* Start-up is done: from here on only the sampling set is held. */
	err = caps_drop_to_worker_set();
	if (err) {
		log_error(MOD, "dropping capabilities: %s", strerror(-err));
		goto cleanup;
	}
	if (caps_describe(capstr, sizeof(capstr)) == 0)
		log_debug(MOD, "capabilities now %s", capstr);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: the nap ends on Ctrl-C */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	ec.debug_dirs = a.debug_dirs;
	ec.n_debug_dirs = a.n_debug_dirs;
	ec.symbol_cache_bytes = a.symbol_cache_bytes;
	ec.offcpu = a.offcpu;
	err = job_engine_new(&e, &ec);
	if (err)
		goto cleanup;
	jp.hz = a.hz;
	jp.kernel_stacks = a.kernel_stacks;
	jp.fp_only = a.fp_only;
	jp.offcpu = a.offcpu;
	jp.min_block_ns = (uint64_t)a.min_block_us * 1000;
	err = job_start(e, &jp, &j);
	if (err) {
		log_error(MOD, "cannot start sampling: %s", strerror(-err));
		goto cleanup;
	}
	if (a.cgroup)
		err = job_add_cgroup(j, cg_id, cg_path, NULL);
	else
		err = job_add_pid(j, a.pid);
	if (err) {
		log_error(MOD, "cannot add the target: %s", strerror(-err));
		goto cleanup;
	}
	if (a.offcpu)
		log_info(MOD, "recording off-CPU time of %s %s%d (blocks from %lld us) for %.1fs",
			 a.cgroup ? "cgroup" : "pid", a.cgroup ? cg_path : "",
			 a.cgroup ? 0 : (int)a.pid, (long long)a.min_block_us,
			 (double)a.duration_ns / 1e9);
	else if (a.cgroup)
		log_info(MOD, "sampling cgroup %s (id %llu) at %u Hz for %.1fs", cg_path,
			 (unsigned long long)cg_id, a.hz, (double)a.duration_ns / 1e9);
	else
		log_info(MOD, "sampling pid %d at %u Hz for %.1fs", (int)a.pid, a.hz,
			 (double)a.duration_ns / 1e9);

	err = run_window(e, j, a.duration_ns);
	if (err)
		goto cleanup;
	err = job_take_profile(j, &b, &st);
	if (err) {
		log_error(MOD, "collecting the profile: %s", strerror(-err));
		goto cleanup;
	}
	notes_of = job_notices(j, &notes.count);
	memcpy(notes.n, notes_of, notes.count * sizeof(*notes_of));
	job_stop(j); /* unload before the slow part: nothing stays attached */
	j = NULL;

	err = pprof_builder_encode(b, true, &data, &len);
	if (err) {
		log_error(MOD, "encoding pprof: %s", strerror(-err));
		goto cleanup;
	}
	err = write_file(a.output, data, len);
	if (err) {
		log_error(MOD, "writing %s: %s", a.output, strerror(-err));
		goto cleanup;
	}
	print_top(b, &st, &notes, a.top);
	if ((a.offcpu ? pprof_builder_total(b) : st.samples) == 0)
		log_warn(MOD, a.offcpu ? "no off-CPU time: did the target block (longer than "
					 "--min-block)?"
				       : "no samples: was the target running on a CPU?");
	log_info(MOD, "wrote %s (%zu bytes)", a.output, len);
	rc = 0;
cleanup:
	free(data);
	pprof_builder_free(b);
	job_stats_release(&st);
	job_stop(j);
	job_engine_free(e);
	return rc;
}
