# SPDX-License-Identifier: Apache-2.0
"""nodesim.py -- simulated Kubernetes nodes for the e2e suite and the demo.

There is no kubelet or container runtime in the local stack, so a simulated
node does what they would do, for real where podprof can tell: it creates Pod
objects bound to the node (spec.nodeName), makes kubelet-style cgroup v2
directories for the pod and each container, starts real processes inside
them, and reports the pod Running with containerIDs through the status
subresource. A podprof worker started with --node NAME --cgroup-root
node.cgroup_root then finds those pods exactly as on a real node.

Layouts: "cgroupfs" (kubepods/<qos>/pod<uid>/<id>) and "systemd"
(kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/
cri-containerd-<id>.scope).
"""

import datetime
import os
import secrets
import signal
import subprocess
import time

import stack as stack_mod

CGROUP2 = "/sys/fs/cgroup/unified" if os.path.exists("/sys/fs/cgroup/unified/cgroup.procs") else "/sys/fs/cgroup"


def cgroup2_root():
    """Where cgroup v2 is mounted on this machine (hybrid hosts: .../unified)."""
    return CGROUP2


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimPod:
    """A pod object plus the real processes of its containers."""

    def __init__(self, node, namespace, name, uid, containers):
        self.node = node
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.containers = containers  # list of dicts: name, id, cgroup, procs

    @property
    def pids(self):
        return [p.pid for c in self.containers for p in c["procs"]]


class Node:
    """One simulated node: a name, a private cgroup subtree, pods on it."""

    def __init__(self, stack, name, base, driver="cgroupfs"):
        self.stack = stack
        self.name = name
        self.driver = driver
        self.cgroup_root = os.path.join(base, name)
        os.makedirs(self.cgroup_root, exist_ok=True)
        self.pods = []
        stack.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name}}})

    def _pod_dir(self, uid, qos):
        if self.driver == "systemd":
            u = uid.replace("-", "_")
            if qos == "guaranteed":
                return os.path.join(self.cgroup_root, "kubepods.slice", f"kubepods-pod{u}.slice")
            return os.path.join(self.cgroup_root, "kubepods.slice", f"kubepods-{qos}.slice",
                                f"kubepods-{qos}-pod{u}.slice")
        if qos == "guaranteed":
            return os.path.join(self.cgroup_root, "kubepods", f"pod{uid}")
        return os.path.join(self.cgroup_root, "kubepods", qos, f"pod{uid}")

    def _container_dir(self, pod_dir, cid):
        if self.driver == "systemd":
            return os.path.join(pod_dir, f"cri-containerd-{cid}.scope")
        return os.path.join(pod_dir, cid)

    def run_pod(self, namespace, name, labels, containers, qos="burstable", env=None):
        """Create a Running pod whose containers run the given commands.

        containers: list of (container_name, argv). Returns a SimPod.
        """
        spec_containers = [{"name": c, "image": "podprof/sim:latest"} for c, _ in containers]
        obj = self.stack.request("POST", f"/api/v1/namespaces/{namespace}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": self.name, "containers": spec_containers},
        })
        uid = obj["metadata"]["uid"]
        pod_dir = self._pod_dir(uid, qos)
        made = []
        statuses = []
        for cname, argv in containers:
            cid = secrets.token_hex(32)
            cdir = self._container_dir(pod_dir, cid)
            os.makedirs(cdir, exist_ok=True)
            procs_file = os.path.join(cdir, "cgroup.procs")

            def enter(procs_file=procs_file):
                # In the child before exec: the workload starts inside its cgroup,
                # so every one of its samples belongs to the pod.
                with open(procs_file, "w") as f:
                    f.write(str(os.getpid()))
                os.setsid()

            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, preexec_fn=enter, env=env)
            made.append({"name": cname, "id": cid, "cgroup": cdir, "procs": [proc]})
            statuses.append({"name": cname, "containerID": f"containerd://{cid}", "ready": True,
                             "restartCount": 0, "image": "podprof/sim:latest", "imageID": "",
                             "started": True, "state": {"running": {"startedAt": _now()}}})
        self.stack.request("PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status", {
            "status": {"phase": "Running", "startTime": _now(), "podIP": "10.244.0.1",
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": statuses}},
            content_type="application/merge-patch+json")
        pod = SimPod(self, namespace, name, uid, made)
        self.pods.append(pod)
        return pod

    def delete_pod(self, pod):
        """Stop the pod's processes, remove its cgroups and its object."""
        for c in pod.containers:
            for p in c["procs"]:
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
        for c in pod.containers:
            _rmdir_tree(c["cgroup"])
        _rmdir_tree(os.path.dirname(pod.containers[0]["cgroup"]) if pod.containers else None)
        try:
            self.stack.request("DELETE", f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}"
                               "?gracePeriodSeconds=0")
        except Exception:
            pass
        if pod in self.pods:
            self.pods.remove(pod)

    def stop(self):
        for pod in list(self.pods):
            self.delete_pod(pod)
        _rmdir_tree(self.cgroup_root)


def _rmdir_tree(path):
    """Remove an (empty of processes) cgroup tree bottom-up; cgroupfs needs rmdir."""
    if not path or not os.path.isdir(path):
        return
    for root, dirs, _ in os.walk(path, topdown=False):
        for d in dirs:
            _rmdir_retry(os.path.join(root, d))
    _rmdir_retry(path)


def _rmdir_retry(path):
    # A killed process leaves its cgroup a moment later; retry briefly.
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


class Cluster:
    """A set of simulated nodes under one private cgroup subtree."""

    def __init__(self, stack, names, driver="cgroupfs"):
        self.base = os.path.join(CGROUP2, "podprof-sim-" + secrets.token_hex(3))
        os.makedirs(self.base, exist_ok=True)
        self.nodes = {n: Node(stack, n, self.base, driver) for n in names}

    def stop(self):
        for n in self.nodes.values():
            n.stop()
        _rmdir_tree(self.base)


__all__ = ["Cluster", "Node", "SimPod", "cgroup2_root", "stack_mod"]
