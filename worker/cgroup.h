/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup.h -- find the cgroup v2 directories and IDs of pods, processes and paths.
 *
 * A cgroup v2 ID is the inode number of its directory, which is what
 * bpf_get_current_cgroup_id() returns in the sampler. Pods are found under
 * both kubelet layouts, relative to a configurable cgroup root:
 *   cgroupfs: kubepods[/burstable|/besteffort]/pod<uid>/<container id>
 *   systemd:  kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid_>.slice/
 *             <runtime>-<container id>.scope  (runtime: cri-containerd, docker, crio)
 * (uid_ is the pod UID with '-' turned into '_'). Guaranteed pods sit right
 * under kubepods.
 *
 * A low-level module: libc only. Return convention: 0 on success, negative
 * errno on failure (-ENOENT: not on this node, -EINVAL: malformed input).
 */
#ifndef PODPROF_CGROUP_H
#define PODPROF_CGROUP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_ID_MAX_LEN 128 /* container/pod id length cap */

struct cgroup_match {
	char path[PATH_MAX];			  /* absolute directory */
	uint64_t id;				  /* cgroup v2 ID (inode) */
	char container_id[CGROUP_ID_MAX_LEN + 1]; /* bare id, "" for a pod-level match */
};

/* Pick the cgroup v2 root: /sys/fs/cgroup/unified when it is a cgroup2 mount
 * (hybrid hosts), else /sys/fs/cgroup when that is cgroup2. Writes into buf
 * of len bytes; -ENOENT when there is no cgroup v2 mount. */
int cgroup_default_root(char *buf, size_t len);

/* ID of the cgroup directory at path (its inode number). */
int cgroup_id_of_path(const char *path, uint64_t *id);

/* The cgroup v2 directory and ID of a process, from the "0::" line of
 * <proc_root>/<pid>/cgroup, joined to root. path_out (PATH_MAX bytes) may be NULL. */
int cgroup_resolve_pid(const char *proc_root, const char *root, pid_t pid, char *path_out,
		       uint64_t *id);

/* Resolve a pod (UID as in metadata.uid) to cgroups under root. With no
 * container ids, the result is the pod's directory (one match; the sampler
 * counts its descendants). With container ids (bare or "runtime://id"),
 * one match per container found; missing containers are skipped (e.g. not
 * started yet) and -ENOENT is returned only if none is found.
 * *out is malloc'd (*n_out entries); free with free(). */
int cgroup_resolve_pod(const char *root, const char *pod_uid, const char *const *container_ids,
		       size_t n_containers, struct cgroup_match **out, size_t *n_out);

#endif
