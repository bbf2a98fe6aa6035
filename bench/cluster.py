#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""cluster.py -- time-to-answer on the local stack, and the worker agent's memory.

Real etcd + kube-apiserver (e2e/stack.py), real podprof-operator and one real
podprof-worker agent per simulated node (e2e/nodesim.py), each node running
one pod of bench/workloads/light.c in a kubelet-style cgroup. Targets with a
1 s window are applied one after another with `kubectl apply`; for each:

  apply -> first / last attach sent   operator log timestamps ("attached N
                                      pod(s) on node X") minus the wall clock
                                      read just before `kubectl apply` ran
  apply -> all nodes Attached         first watch event (HTTP watch on the
                                      target, started before the apply) whose
                                      status lists every node as Attached
  window end -> Succeeded             watch event with phase Succeeded minus
                                      the window end (operator log "window of
                                      N ms started" + N)
Worker memory: VmRSS of each agent while connected and idle (before the first
target), VmHWM after all targets (peak while profiling and symbolizing).
"""

import argparse
import datetime
import http.client
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

import benchlib as bl

sys.path.insert(0, bl.E2E)
import nodesim  # noqa: E402
import podprof  # noqa: E402
import stack as stack_mod  # noqa: E402

CRD_PATH = os.path.join(bl.REPO, "crds", "profilingtarget.yaml")
CRD_NAME = "profilingtargets.podprof.dev"
GROUP_PATH = "/apis/podprof.dev/v1alpha1"


def setup_crd(st):
    st.kubectl("apply", "-f", CRD_PATH)
    st.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=120s")
    stack_mod.wait_for(lambda: st.kubectl("get", "pt", "-A", check=False).returncode == 0, 60,
                       desc="ProfilingTarget in discovery")


def log_time(line):
    """Realtime seconds of an operator log line's timestamp."""
    ts = line.split(" ", 1)[0]
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def attached_nodes(status):
    """Nodes Attached or Done: from nodeStates (counts every node; the nodes list stops at 256),
    or the list for an operator without it."""
    states = status.get("nodeStates")
    if states is not None:
        return states.get("Attached", 0) + states.get("Done", 0)
    return sum(1 for n in status.get("nodes", []) if n.get("state") in ("Attached", "Done"))


class Watch(threading.Thread):
    """HTTP watch on one ProfilingTarget; records the wall time of status changes."""

    def __init__(self, st, ns, name, nnodes):
        super().__init__(daemon=True)
        self.st, self.ns, self.name, self.nnodes = st, ns, name, nnodes
        self.all_attached = None
        self.succeeded = None
        self.phase = None
        self.ready = threading.Event()
        self.done = threading.Event()

    def run(self):
        u = urllib.parse.urlsplit(self.st.server)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.st.ssl_context(), timeout=120)
        q = urllib.parse.urlencode({"watch": "1", "fieldSelector": f"metadata.name={self.name}"})
        conn.request("GET", f"{GROUP_PATH}/namespaces/{self.ns}/profilingtargets?{q}",
                     headers={"Authorization": f"Bearer {self.st.token}"})
        resp = conn.getresponse()
        self.ready.set()
        try:
            while not self.done.is_set():
                line = resp.readline()
                if not line:
                    break
                now = time.time()
                ev = json.loads(line)
                status = ev.get("object", {}).get("status", {})
                if self.all_attached is None and attached_nodes(status) == self.nnodes:
                    self.all_attached = now
                self.phase = status.get("phase")
                if self.phase in ("Succeeded", "Failed"):
                    self.succeeded = now
                    break
        finally:
            self.done.set()
            conn.close()


def run_targets(st, op, ns, count, nnodes, log):
    out = []
    for i in range(count):
        name = f"tta-{i}"
        w = Watch(st, ns, name, nnodes)
        w.start()
        w.ready.wait(30)
        time.sleep(0.05)
        body = {"apiVersion": "podprof.dev/v1alpha1", "kind": "ProfilingTarget",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"selector": {"matchLabels": {"app": "tta"}}, "duration": "1s", "frequencyHz": 99}}
        t0 = time.time()
        st.apply(body)
        t_applied = time.time()
        w.done.wait(60)
        time.sleep(0.1)
        text = op.log()
        pre = f"{ns}/{name}: "
        attaches = [log_time(ln) for ln in text.splitlines() if pre + "attached" in ln]
        started = [(log_time(ln), int(m.group(1))) for ln in text.splitlines()
                   for m in [re.search(re.escape(pre) + r"window of (\d+) ms started", ln)] if m]
        r = {"name": name, "phase": w.phase, "kubectl_apply_s": t_applied - t0}
        if attaches:
            r["first_attach_s"] = min(attaches) - t0
            r["last_attach_s"] = max(attaches) - t0
            r["attach_msgs"] = len(attaches)
        if w.all_attached:
            r["all_attached_s"] = w.all_attached - t0
        if started and w.succeeded:
            r["end_to_succeeded_s"] = w.succeeded - (started[0][0] + started[0][1] / 1000.0)
        out.append(r)
        log(f"  {name}: {r}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--targets", type=int, default=8 if bl.QUICK else 30)
    ap.add_argument("--nodes", type=int, default=3)
    args = ap.parse_args()
    log = lambda s: print(s, flush=True)  # noqa: E731
    res = {"machine": bl.machine(), "targets": args.targets, "nodes": args.nodes}
    st = stack_mod.Stack()
    cluster = op = None
    workers = []
    try:
        st.start()
        setup_crd(st)
        names = [f"tta-node-{i}" for i in range(args.nodes)]
        cluster = nodesim.Cluster(st, names)
        op = podprof.Operator(st).start()
        workers = [podprof.Worker(op, cluster.nodes[n]).start() for n in names]
        ns = "bench-" + secrets.token_hex(3)
        st.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        light = bl.compile_c(os.path.join(bl.REPO, "bench", "workloads", "light.c"),
                             os.path.join(op.dir, "light"))
        for i, n in enumerate(names):
            cluster.nodes[n].run_pod(ns, f"light-{i}", {"app": "tta"}, [("main", [light])])
        time.sleep(2.0)
        res["worker_idle_rss_kb"] = [bl.proc_status_kb(w.pid, "VmRSS") for w in workers]
        res["operator_idle_rss_kb"] = bl.proc_status_kb(op.procs["operator"].pid, "VmRSS")
        log(f"idle worker RSS kB: {res['worker_idle_rss_kb']}")
        res["runs"] = run_targets(st, op, ns, args.targets, args.nodes, log)
        res["worker_peak_rss_kb"] = [bl.proc_status_kb(w.pid, "VmHWM") for w in workers]
        res["worker_after_rss_kb"] = [bl.proc_status_kb(w.pid, "VmRSS") for w in workers]
        res["operator_peak_rss_kb"] = bl.proc_status_kb(op.procs["operator"].pid, "VmHWM")
        log(f"peak worker RSS kB: {res['worker_peak_rss_kb']}")
    except Exception as e:  # noqa: BLE001 -- the report says what failed
        res["error"] = f"{type(e).__name__}: {e}"
        log(res["error"])
    finally:
        for w in workers:
            w.stop()
        if op:
            op.stop()
        if cluster:
            cluster.stop()
        st.stop()
    bl.write_json(args.out, res)
    return 0 if "error" not in res else 1


if __name__ == "__main__":
    sys.exit(main())
