/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup.c -- cgroup v2 resolver for pods (cgroupfs and systemd layouts), pids and paths. */
#include "cgroup.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#define PROC_CGROUP_MAX (64 * 1024) /* /proc/PID/cgroup is a few lines; refuse more */

static bool is_cgroup2(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

int cgroup_default_root(char *buf, size_t len)
{
	static const char *const cands[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};

	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		if (!is_cgroup2(cands[i]))
			continue;
		if ((size_t)snprintf(buf, len, "%s", cands[i]) >= len)
			return -ENAMETOOLONG;
		return 0;
	}
	return -ENOENT;
}

int cgroup_id_of_path(const char *path, uint64_t *id)
{
	struct stat st;

	*id = 0;
	if (stat(path, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	*id = (uint64_t)st.st_ino;
	return 0;
}

/* A relative cgroup path from /proc must not climb out of the root. */
static bool path_is_safe(const char *p)
{
	const char *c = p;

	while (*c) {
		while (*c == '/')
			c++;
		if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
			return false;
		while (*c && *c != '/')
			c++;
	}
	return true;
}

int cgroup_resolve_pid(const char *proc_root, const char *root, pid_t pid, char *path_out,
		       uint64_t *id)
{
	char fname[PATH_MAX], full[PATH_MAX];
	char *buf = NULL, *line, *save = NULL, *rel = NULL;
	size_t n;
	FILE *f = NULL;
	int err;

	*id = 0;
	if (pid <= 0)
		return -EINVAL;
	snprintf(fname, sizeof(fname), "%s/%d/cgroup", proc_root, (int)pid);
	f = fopen(fname, "re");
	if (!f) {
		err = errno == ENOENT ? -ESRCH : -errno;
		goto cleanup;
	}
	buf = malloc(PROC_CGROUP_MAX + 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	n = fread(buf, 1, PROC_CGROUP_MAX + 1, f);
	if (n > PROC_CGROUP_MAX) {
		err = -E2BIG;
		goto cleanup;
	}
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "0::", 3) == 0) {
			rel = line + 3;
			break;
		}
	}
	if (!rel || rel[0] != '/' || !path_is_safe(rel)) {
		err = -ENOENT; /* no cgroup v2 membership (v1-only host) */
		goto cleanup;
	}
	if ((size_t)snprintf(full, sizeof(full), "%s%s", root, strcmp(rel, "/") == 0 ? "" : rel) >=
	    sizeof(full)) {
		err = -ENAMETOOLONG;
		goto cleanup;
	}
	err = cgroup_id_of_path(full, id);
	if (err)
		goto cleanup;
	if (path_out)
		memcpy(path_out, full, strlen(full) + 1);
cleanup:
	if (f)
		fclose(f);
	free(buf);
	return err;
}

static bool valid_id(const char *s, bool allow_dash)
{
	size_t n = strlen(s);

	if (n == 0 || n > CGROUP_ID_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && !(allow_dash && s[i] == '-'))
			return false;
	}
	return true;
}

/* Pod status form "containerd://<id>" -> "<id>". */
static const char *bare_id(const char *cid)
{
	const char *sep = strstr(cid, "://");

	return sep ? sep + 3 : cid;
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Find the pod directory under root in either layout; 0 or -ENOENT. */
static int find_pod_dir(const char *root, const char *uid, char *out)
{
	char uid_[CGROUP_ID_MAX_LEN + 1];
	char cand[6][PATH_MAX];

	for (size_t i = 0; i <= strlen(uid); i++)
		uid_[i] = uid[i] == '-' ? '_' : uid[i];
	snprintf(cand[0], PATH_MAX, "%s/kubepods/pod%s", root, uid);
	snprintf(cand[1], PATH_MAX, "%s/kubepods/burstable/pod%s", root, uid);
	snprintf(cand[2], PATH_MAX, "%s/kubepods/besteffort/pod%s", root, uid);
	snprintf(cand[3], PATH_MAX, "%s/kubepods.slice/kubepods-pod%s.slice", root, uid_);
	snprintf(cand[4], PATH_MAX,
		 "%s/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice", root,
		 uid_);
	snprintf(cand[5], PATH_MAX,
		 "%s/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice",
		 root, uid_);
	for (size_t i = 0; i < 6; i++) {
		if (is_dir(cand[i])) {
			memcpy(out, cand[i], strlen(cand[i]) + 1);
			return 0;
		}
	}
	return -ENOENT;
}

/* Find a container's directory inside pod_dir under any runtime naming. */
static int find_container_dir(const char *pod_dir, const char *cid, char *out)
{
	static const char *const fmts[] = {"%s/%s", "%s/cri-containerd-%s.scope",
					   "%s/docker-%s.scope", "%s/crio-%s.scope", "%s/crio-%s"};

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		if ((size_t)snprintf(out, PATH_MAX, fmts[i], pod_dir, cid) >= PATH_MAX)
			return -ENAMETOOLONG;
		if (is_dir(out))
			return 0;
	}
	return -ENOENT;
}

int cgroup_resolve_pod(const char *root, const char *pod_uid, const char *const *container_ids,
		       size_t n_containers, struct cgroup_match **out, size_t *n_out)
{
	struct cgroup_match *m = NULL;
	char pod_dir[PATH_MAX];
	size_t n = 0;
	int err;

	*out = NULL;
	*n_out = 0;
	if (!root || !pod_uid || !valid_id(pod_uid, true) || strlen(root) > PATH_MAX / 2) {
		err = -EINVAL;
		goto cleanup;
	}
	for (size_t i = 0; i < n_containers; i++) {
		if (!container_ids[i] || !valid_id(bare_id(container_ids[i]), false)) {
			err = -EINVAL;
			goto cleanup;
		}
	}
	err = find_pod_dir(root, pod_uid, pod_dir);
	if (err)
		goto cleanup;
	m = calloc(n_containers ? n_containers : 1, sizeof(*m));
	if (!m) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (n_containers == 0) {
		memcpy(m[0].path, pod_dir, sizeof(pod_dir));
		err = cgroup_id_of_path(m[0].path, &m[0].id);
		if (err)
			goto cleanup;
		n = 1;
	}
	for (size_t i = 0; i < n_containers; i++) {
		const char *cid = bare_id(container_ids[i]);

		err = find_container_dir(pod_dir, cid, m[n].path);
		if (err == -ENOENT)
			continue;
		if (err)
			goto cleanup;
		err = cgroup_id_of_path(m[n].path, &m[n].id);
		if (err == -ENOENT)
			continue; /* removed between the two calls */
		if (err)
			goto cleanup;
		memcpy(m[n].container_id, cid, strlen(cid) + 1);
		n++;
	}
	if (n == 0) {
		err = -ENOENT;
		goto cleanup;
	}
	*out = m;
	*n_out = n;
	m = NULL;
	err = 0;
cleanup:
	free(m);
	return err;
}
