// SPDX-License-Identifier: Apache-2.0
/* minsampler.c -- `minsampler HZ [CGROUP_DIR]`: attach minsampler.bpf.c to a
 * cpu-clock event on every online CPU at HZ, print "Attaching" once sampling,
 * and on SIGINT/SIGTERM print the distinct keys and samples counted. A
 * yardstick for bench/selected.py (the least a CO-RE sampler can do per
 * tick), not part of podprof. */
#include "minsampler.skel.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct minsampler_bpf *skel = NULL;
	struct bpf_link **links = NULL;
	int ncpu = libbpf_num_possible_cpus(), rc = 1, n = 0;
	struct sample_key {
		__u32 pid;
		__s32 ustack, kstack;
	} k, next, *prev = NULL;
	unsigned long long total = 0, keys = 0, v;
	struct stat st;

	if (argc < 2 || argc > 3 || atoi(argv[1]) <= 0) {
		fprintf(stderr, "usage: minsampler HZ [CGROUP_DIR]\n");
		return 2;
	}
	skel = minsampler_bpf__open();
	if (!skel)
		goto cleanup;
	if (argc == 3) {
		if (stat(argv[2], &st)) {
			fprintf(stderr, "minsampler: %s: %s\n", argv[2], strerror(errno));
			goto cleanup;
		}
		skel->rodata->target_cgroup = st.st_ino; /* a cgroup v2 id is its inode */
	}
	if (minsampler_bpf__load(skel))
		goto cleanup;
	if (ncpu <= 0)
		goto cleanup;
	links = calloc((size_t)ncpu, sizeof(*links));
	if (!links)
		goto cleanup;
	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct perf_event_attr a = {.type = PERF_TYPE_SOFTWARE,
					    .size = sizeof(a),
					    .config = PERF_COUNT_SW_CPU_CLOCK,
					    .sample_freq = (unsigned long long)atoi(argv[1]),
					    .freq = 1};
		int fd;

		fd = (int)syscall(__NR_perf_event_open, &a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0 && errno == ENODEV)
			continue; /* possible but offline */
		if (fd < 0) {
			fprintf(stderr, "minsampler: perf_event_open cpu %d: %s\n", cpu,
				strerror(errno));
			goto cleanup;
		}
		links[cpu] = bpf_program__attach_perf_event(skel->progs.sample, fd);
		if (!links[cpu]) {
			close(fd);
			goto cleanup;
		}
		n++;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("Attaching %d events\n", n);
	fflush(stdout);
	while (!stop)
		pause();
	while (bpf_map__get_next_key(skel->maps.counts, prev, &next, sizeof(next)) == 0) {
		if (bpf_map__lookup_elem(skel->maps.counts, &next, sizeof(next), &v, sizeof(v),
					 0) == 0) {
			total += v;
			keys++;
		}
		k = next;
		prev = &k;
	}
	printf("samples %llu keys %llu\n", total, keys);
	rc = 0;
cleanup:
	if (rc)
		fprintf(stderr, "minsampler: setup failed\n");
	for (int cpu = 0; links && cpu < ncpu; cpu++)
		bpf_link__destroy(links[cpu]);
	free(links);
	minsampler_bpf__destroy(skel);
	return rc;
}
