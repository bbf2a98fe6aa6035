# SPDX-License-Identifier: Apache-2.0
"""podprof.py -- run podprof's own processes (operator, workers) for the e2e suite and demo.

Operator: `podprof-operator run` against a Stack, with a local token file for
workers and either the S3 server or a directory for profiles.
Worker: `podprof-worker agent` for one simulated node (nodesim.Node), with the
node's private cgroup root.
"""

import json
import os
import secrets
import ssl
import subprocess
import time
import urllib.request

import stack as stack_mod

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = os.path.join(REPO, "e2e", "workloads")


def build_dir():
    return os.path.abspath(os.environ.get("PODPROF_BUILD") or os.path.join(REPO, "build"))


def compile_workload(name, out_dir, extra=()):
    """Build e2e/workloads/<name>.c with frame pointers; returns the binary path."""
    out = os.path.join(out_dir, name)
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", *extra, "-o", out,
                    os.path.join(WORKLOADS, name + ".c")], check=True)
    return out


class Operator(stack_mod._Service):
    """podprof-operator run, with a fresh worker token."""

    def __init__(self, kube, s3=None, storage_dir=None, extra=(), binary=None, grace_ms=3000,
                 kubeconfig=None, token_review=None, tls=False, iface="127.0.0.1"):
        """kubeconfig: another identity than the stack's admin; token_review:
        (worker_sa "ns:name", audience) to check worker tokens with TokenReview
        instead of the shared token file; tls: serve wss/https with a certificate
        issued for 127.0.0.1 by the stack's throwaway CA (workers trust that CA);
        iface: bind address, None for all (the API server's service proxy
        cannot reach a loopback address)."""
        super().__init__(prefix="podprof-op-")
        self.kube = kube
        self.s3 = s3
        self.storage_dir = storage_dir or os.path.join(self.dir, "profiles")
        self.extra = list(extra)
        self.binary = binary or os.path.join(build_dir(), "podprof-operator")
        self.grace_ms = grace_ms
        self.kubeconfig = kubeconfig or kube.kubeconfig
        self.token_review = token_review
        self.tls = None
        if tls:
            self.tls = kube.ca.issue("hub-" + os.path.basename(self.dir), "127.0.0.1",
                                     sans=("IP:127.0.0.1",), server=True)
            self.ca_file = kube.ca_cert
        self.token_file = os.path.join(self.dir, "worker-token")
        with open(self.token_file, "w") as f:
            f.write(secrets.token_hex(24) + "\n")
        os.chmod(self.token_file, 0o600)
        self.port = None
        self.iface = iface

    def args(self):
        a = [self.binary, "run", "--kubeconfig", self.kubeconfig, "--port", str(self.port),
             *(["--iface", self.iface] if self.iface else []), "--grace-ms", str(self.grace_ms)]
        if self.tls:
            a += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        if self.token_review:
            a += ["--token-review", "--worker-sa", self.token_review[0], "--audience", self.token_review[1]]
        else:
            a += ["--token-file", self.token_file]
        if self.s3:
            a += ["--storage", "s3", "--s3-endpoint", self.s3.endpoint, "--s3-bucket", self.s3.bucket,
                  "--s3-region", self.s3.region, "--spool-dir", os.path.join(self.dir, "spool"),
                  "--s3-retry-max-ms", "1000"]
        else:
            a += ["--storage", "dir", "--storage-dir", self.storage_dir]
        return a + self.extra

    def start(self, timeout=60.0):
        if self.port is None:
            self.port = stack_mod.free_port()
        env = dict(os.environ)
        if self.s3:
            env["AWS_ACCESS_KEY_ID"] = self.s3.access_key
            env["AWS_SECRET_ACCESS_KEY"] = self.s3.secret_key
        self._start_proc("operator", self.args(), env=env)
        stack_mod.wait_for(lambda: self._check_running("operator") and self.ready(), timeout,
                           desc="operator /readyz")
        return self

    def kill(self, sig=9):
        """Kill the operator outright (as a crash would)."""
        proc = self.procs.pop("operator")
        proc.send_signal(sig)
        proc.wait()

    @property
    def url(self):
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}"

    def http(self, path):
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.tls else None
        scheme = "https" if self.tls else "http"
        with urllib.request.urlopen(f"{scheme}://127.0.0.1:{self.port}{path}", timeout=5,
                                    context=ctx) as r:
            return r.status, r.read().decode()

    def ready(self):
        try:
            return self.http("/readyz")[0] == 200
        except Exception:  # noqa: BLE001
            return False

    def metrics(self):
        out = {}
        for line in self.http("/metrics")[1].splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def log(self):
        return self.log_tail("operator", 10**6)


class Worker(stack_mod._Service):
    """podprof-worker agent for one simulated node."""

    def __init__(self, operator, node, binary=None, extra=(), token_file=None):
        super().__init__(prefix=f"podprof-w-{node.name}-")
        self.operator = operator
        self.node = node
        self.binary = binary or os.path.join(build_dir(), "podprof-worker")
        self.extra = list(extra)
        self.token_file = token_file or operator.token_file

    def start(self, timeout=60.0):
        before = self.connections()
        self._start_proc("worker", [self.binary, "agent", "--operator", self.operator.url,
                                    "--node", self.node.name, "--token-file", self.token_file,
                                    "--cgroup-root", self.node.cgroup_root,
                                    *(["--ca-file", self.operator.ca_file] if self.operator.tls else []),
                                    *self.extra])
        stack_mod.wait_for(lambda: self._check_running("worker") and self.connections() > before, timeout,
                           desc=f"worker {self.node.name} connected")
        return self

    def connections(self):
        """How often the operator has logged this node's worker connecting."""
        return self.operator.log().count(f"worker for node {self.node.name} connected")

    @property
    def pid(self):
        return self.procs["worker"].pid

    def kill(self, sig=9):
        proc = self.procs.pop("worker")
        proc.send_signal(sig)
        proc.wait()

    def log(self):
        return self.log_tail("worker", 10**6)


def perf_event_fds(pids):
    """perf events the given processes hold open: one per CPU and job while a
    worker samples, none once every job stopped (its BPF program may stay
    loaded a while, attached to nothing: see --unload-after)."""
    n = 0
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        for fd in os.listdir(fd_dir) if os.path.isdir(fd_dir) else ():
            try:
                n += os.readlink(f"{fd_dir}/{fd}") == "anon_inode:[perf_event]"
            except OSError:
                continue  # closed meanwhile
    return n


def get_target(kube, ns, name):
    return json.loads(kube.kubectl("get", "pt", name, "-n", ns, "-o", "json").stdout)


def wait_phase(kube, ns, name, phases=("Succeeded", "Failed"), timeout=120):
    """Wait until the target's status.phase is one of phases; returns the object."""
    def done():
        obj = get_target(kube, ns, name)
        return obj if obj.get("status", {}).get("phase") in phases else None
    return stack_mod.wait_for(done, timeout, interval=0.2, desc=f"pt {ns}/{name} phase in {phases}")


def apply_target(kube, ns, name, selector, duration="4s", hz=99, **spec):
    body = {"apiVersion": "podprof.dev/v1alpha1", "kind": "ProfilingTarget",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": selector, "duration": duration, "frequencyHz": hz, **spec}}
    kube.apply(body)
    return body


def pprof_top(path):
    """`go tool pprof -top` of a profile file: {function: flat samples}."""
    out = subprocess.run(["go", "tool", "pprof", "-top", "-sample_index=samples", path],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    res, started = {}, False
    for line in out.splitlines():
        if line.strip().startswith("flat"):
            started = True
            continue
        parts = line.split()
        if started and len(parts) >= 6:
            res[" ".join(parts[5:])] = float(parts[0])
    return res


__all__ = ["Operator", "Worker", "apply_target", "wait_phase", "get_target", "pprof_top",
           "compile_workload", "time"]
