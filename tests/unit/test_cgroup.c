/* SPDX-License-Identifier: Apache-2.0 */
/* test_cgroup.c -- cgroup resolver on temp-dir trees shaped like kubelet's layouts. */
#include "unit.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cgroup.h"

#define UID  "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
#define UID_ "1b4e28ba_2fa1_11d2_883f_0016d3cca427"
#define CID1 "4f6b8a1c9d0e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"
#define CID2 "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"

/* mkdir -p for a path under the test root. */
static int mkdirs(const char *root, const char *rel)
{
	char p[PATH_MAX];
	size_t n;

	n = (size_t)snprintf(p, sizeof(p), "%s/%s", root, rel);
	for (size_t i = strlen(root) + 1; i <= n; i++) {
		if (p[i] == '/' || p[i] == '\0') {
			char c = p[i];

			p[i] = '\0';
			if (mkdir(p, 0755) != 0 && errno != EEXIST)
				return -errno;
			p[i] = c;
		}
	}
	return 0;
}

static unsigned long long inode_of(const char *root, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return stat(p, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

static void rm_tree(const char *root)
{
	char cmd[PATH_MAX + 16];

	/* Only ever our own mkdtemp folder under /tmp. */
	if (strncmp(root, "/tmp/podprof-cg-", 16) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "    cleanup of %s failed\n", root);
}

static char *make_root(void)
{
	static char tmpl[64];

	snprintf(tmpl, sizeof(tmpl), "/tmp/podprof-cg-XXXXXX");
	return mkdtemp(tmpl);
}

/* A burstable pod under the cgroupfs driver resolves to its container dirs. */
UNIT_TEST(cgroup_cgroupfs_burstable_containers)
{
	char *root = make_root();
	const char *cids[] = {"containerd://" CID1, CID2};
	struct cgroup_match *m = NULL;
	size_t n = 0;

	CHECK(root != NULL);
	CHECK_EQ_INT(mkdirs(root, "kubepods/burstable/pod" UID "/" CID1), 0);
	CHECK_EQ_INT(mkdirs(root, "kubepods/burstable/pod" UID "/" CID2), 0);
	CHECK_EQ_INT(cgroup_resolve_pod(root, UID, cids, 2, &m, &n), 0);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_STR(m[0].container_id, CID1);
		CHECK_EQ_INT(m[0].id, inode_of(root, "kubepods/burstable/pod" UID "/" CID1));
		CHECK_EQ_STR(m[1].container_id, CID2);
		CHECK(strstr(m[1].path, "/kubepods/burstable/pod" UID "/" CID2) != NULL);
	}
	free(m);
	rm_tree(root);
}

/* Guaranteed pods sit right under kubepods; no container ids means the pod dir. */
UNIT_TEST(cgroup_cgroupfs_guaranteed_pod_level)
{
	char *root = make_root();
	struct cgroup_match *m = NULL;
	size_t n = 0;

	CHECK_EQ_INT(mkdirs(root, "kubepods/pod" UID "/" CID1), 0);
	CHECK_EQ_INT(cgroup_resolve_pod(root, UID, NULL, 0, &m, &n), 0);
	CHECK_EQ_INT(n, 1);
	if (n == 1) {
		CHECK_EQ_INT(m[0].id, inode_of(root, "kubepods/pod" UID));
		CHECK_EQ_STR(m[0].container_id, "");
	}
	free(m);
	rm_tree(root);
}

/* systemd driver: underscored UID in the slice name, runtime-prefixed scopes. */
UNIT_TEST(cgroup_systemd_layouts)
{
	char *root = make_root();
	const char *cids[] = {CID1, CID2};
	struct cgroup_match *m = NULL;
	size_t n = 0;

	CHECK_EQ_INT(mkdirs(root,
			    "kubepods.slice/kubepods-besteffort.slice/"
			    "kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" CID1 ".scope"),
		     0);
	CHECK_EQ_INT(mkdirs(root, "kubepods.slice/kubepods-besteffort.slice/"
				  "kubepods-besteffort-pod" UID_ ".slice/crio-" CID2 ".scope"),
		     0);
	CHECK_EQ_INT(cgroup_resolve_pod(root, UID, cids, 2, &m, &n), 0);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK(strstr(m[0].path, "cri-containerd-" CID1 ".scope") != NULL);
		CHECK(strstr(m[1].path, "crio-" CID2 ".scope") != NULL);
		CHECK_EQ_INT(m[1].id, inode_of(root, "kubepods.slice/kubepods-besteffort.slice/"
						     "kubepods-besteffort-pod" UID_
						     ".slice/crio-" CID2 ".scope"));
	}
	free(m);
	m = NULL;
	rm_tree(root);

	/* Guaranteed under systemd, docker scope. */
	root = make_root();
	CHECK_EQ_INT(
	    mkdirs(root, "kubepods.slice/kubepods-pod" UID_ ".slice/docker-" CID1 ".scope"), 0);
	CHECK_EQ_INT(cgroup_resolve_pod(root, UID, cids, 1, &m, &n), 0);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK(strstr(m[0].path, "docker-" CID1 ".scope") != NULL);
	free(m);
	rm_tree(root);
}

/* Missing pods/containers are -ENOENT; partial container lists keep what exists. */
UNIT_TEST(cgroup_missing_and_partial)
{
	char *root = make_root();
	const char *cids[] = {CID1, CID2};
	struct cgroup_match *m = NULL;
	size_t n = 0;

	CHECK_EQ_INT(cgroup_resolve_pod(root, UID, NULL, 0, &m, &n), -ENOENT);
	CHECK(m == NULL);
	CHECK_EQ_INT(mkdirs(root, "kubepods/besteffort/pod" UID "/" CID2), 0);
	CHECK_EQ_INT(cgroup_resolve_pod(root, UID, cids, 1, &m, &n), -ENOENT);
	CHECK_EQ_INT(cgroup_resolve_pod(root, UID, cids, 2, &m, &n), 0);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_STR(m[0].container_id, CID2);
	free(m);
	rm_tree(root);
}

/* Path tricks in ids are refused before touching the filesystem. */
UNIT_TEST(cgroup_rejects_bad_ids)
{
	const char *bad_cid[] = {"../../etc"};
	struct cgroup_match *m = NULL;
	size_t n = 0;

	CHECK_EQ_INT(cgroup_resolve_pod("/tmp", "../x", NULL, 0, &m, &n), -EINVAL);
	CHECK_EQ_INT(cgroup_resolve_pod("/tmp", "", NULL, 0, &m, &n), -EINVAL);
	CHECK_EQ_INT(cgroup_resolve_pod("/tmp", UID, bad_cid, 1, &m, &n), -EINVAL);
	CHECK(m == NULL);
}

/* A pid's cgroup comes from the "0::" line of its /proc cgroup file. */
UNIT_TEST(cgroup_resolve_pid_from_proc)
{
	char *root = make_root();
	char proc[PATH_MAX / 2], cgr[PATH_MAX / 2], path[PATH_MAX];
	uint64_t id = 0;
	FILE *f;

	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(cgr, sizeof(cgr), "%s/cg", root);
	CHECK_EQ_INT(mkdirs(root, "proc/42"), 0);
	CHECK_EQ_INT(mkdirs(root, "proc/43"), 0);
	CHECK_EQ_INT(mkdirs(root, "cg/kubepods/pod" UID "/" CID1), 0);
	snprintf(path, sizeof(path), "%s/42/cgroup", proc);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fprintf(f, "12:memory:/kubepods/pod" UID "\n0::/kubepods/pod" UID "/" CID1 "\n");
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/43/cgroup", proc);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "0::/../../etc\n");
		fclose(f);
	}
	CHECK_EQ_INT(cgroup_resolve_pid(proc, cgr, 42, path, &id), 0);
	CHECK_EQ_INT(id, inode_of(root, "cg/kubepods/pod" UID "/" CID1));
	CHECK(strstr(path, "/cg/kubepods/pod" UID "/" CID1) != NULL);
	CHECK_EQ_INT(cgroup_resolve_pid(proc, cgr, 43, NULL, &id), -ENOENT);
	CHECK_EQ_INT(cgroup_resolve_pid(proc, cgr, 44, NULL, &id), -ESRCH);
	rm_tree(root);
}
