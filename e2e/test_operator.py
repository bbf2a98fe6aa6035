# SPDX-License-Identifier: Apache-2.0
"""test_operator.py -- the operator drives real workers on simulated nodes.

Real kube-apiserver + etcd, real podprof-operator and podprof-worker
processes, real eBPF sampling of real processes in kubelet-style cgroups.
"""

import glob
import json
import os
import time

import pytest

import nodesim
import podprof
import stack as stack_mod

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF needs root")


@pytest.fixture(scope="module")
def cluster(stack, crd):
    c = nodesim.Cluster(stack, ["node-a", "node-b"])
    yield c
    c.stop()


@pytest.fixture(scope="module")
def operator(stack, crd):
    op = podprof.Operator(stack)
    op.start()
    yield op
    op.stop()


@pytest.fixture(scope="module")
def workers(operator, cluster):
    ws = {n: podprof.Worker(operator, node).start() for n, node in cluster.nodes.items()}
    yield ws
    for w in ws.values():
        w.stop()


def _status(stack, ns, name):
    return podprof.get_target(stack, ns, name).get("status", {})


def test_two_nodes_succeed_with_top_functions(stack, namespace, cluster, workers, demoapp, operator):
    """A target over pods on two nodes attaches on both, succeeds, and names the hot function."""
    a = cluster.nodes["node-a"].run_pod(namespace, "web-a", {"app": "web"}, [("main", [demoapp, "checkout"])])
    b = cluster.nodes["node-b"].run_pod(namespace, "web-b", {"app": "web"}, [("main", [demoapp, "checkout"])])
    try:
        podprof.apply_target(stack, namespace, "web", {"matchLabels": {"app": "web"}}, duration="4s")
        obj = podprof.wait_phase(stack, namespace, "web", timeout=60)
        st = obj["status"]
        assert st["phase"] == "Succeeded", st
        assert st["matchedPods"] == 2
        assert {n["name"]: n["state"] for n in st["nodes"]} == {"node-a": "Done", "node-b": "Done"}
        assert st["samples"] > 0
        assert all(p["samples"] > 0 for p in st["pods"]), st["pods"]
        top = [f["function"] for f in st["topFunctions"]]
        assert top[0] == "checkout_compute_tax", top
        assert "checkout_render_receipt" in top
        assert st["observedGeneration"] == obj["metadata"]["generation"]
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in st["conditions"])
        events = stack.kubectl("get", "events", "-n", namespace, "-o", "custom-columns=R:.reason").stdout
        assert "Started" in events and "Completed" in events
        # Each worker's symbol cache and unwind tables, as its progress told, per node.
        m = operator.metrics()
        print({k: v for k, v in m.items() if k.startswith("podprof_worker_")})
        for node in ("node-a", "node-b"):
            lbl = f'{{node="{node}"}}'
            assert m[f"podprof_worker_symbol_cache_misses_total{lbl}"] > 0, m
            assert m[f"podprof_worker_symbol_cache_binaries{lbl}"] > 0, m
            assert 0 < m[f"podprof_worker_symbol_cache_bytes{lbl}"] <= m[f"podprof_worker_symbol_cache_max_bytes{lbl}"]
            assert m[f"podprof_worker_unwind_tables{lbl}"] > 0, m
            assert 0 < m[f"podprof_worker_unwind_rows{lbl}"] <= m[f"podprof_worker_unwind_rows_capacity{lbl}"]
            assert f"podprof_worker_symbol_cache_hits_total{lbl}" in m
            assert f"podprof_worker_unwind_table_evictions_total{lbl}" in m
    finally:
        cluster.nodes["node-a"].delete_pod(a)
        cluster.nodes["node-b"].delete_pod(b)


def test_unsupported_python_is_said_once_in_status_and_events(stack, namespace, cluster, workers, operator):
    """A pod running a CPython without offsets (pyenv's 3.7, two containers): the target
    succeeds with native frames, its node's message and one WorkerNotice Event say why."""
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.7.*/bin/python3.7")))
    if not found:
        pytest.skip("no CPython 3.7 (pyenv) on this machine")
    work = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads", "pywork.py")
    na = cluster.nodes["node-a"]
    p = na.run_pod(namespace, "oldpy", {"app": "oldpy"},
                   [("one", [found[-1], work, "chain"]), ("two", [found[-1], work, "chain"])])
    try:
        podprof.apply_target(stack, namespace, "oldpy", {"matchLabels": {"app": "oldpy"}}, duration="4s")
        st = podprof.wait_phase(stack, namespace, "oldpy", timeout=60)["status"]
        assert st["phase"] == "Succeeded", st
        assert st["samples"] > 0
        node = {n["name"]: n for n in st["nodes"]}["node-a"]
        assert node["state"] == "Done", node
        assert node.get("message", "").startswith("python_unsupported: CPython 3.7 is not supported"), node
        top = [f["function"] for f in st["topFunctions"]]
        assert "c" not in top and "_PyEval_EvalFrameDefault" in top, top
        evs = json.loads(stack.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
        notes = [e for e in evs if e["reason"] == "WorkerNotice" and e["involvedObject"]["name"] == "oldpy"]
        assert sum(e.get("count", 1) for e in notes) == 1, notes
        assert "node node-a: python_unsupported: CPython 3.7" in notes[0]["message"], notes
    finally:
        na.delete_pod(p)


def test_pod_started_mid_window_is_sampled_and_others_are_not(stack, namespace, cluster, workers, demoapp):
    """Pods that appear during the window are attached; non-matching pods never are."""
    na, nb = cluster.nodes["node-a"], cluster.nodes["node-b"]
    other = nb.run_pod(namespace, "search-1", {"app": "search"}, [("main", [demoapp, "search"])])
    first = na.run_pod(namespace, "shop-1", {"app": "shop"}, [("main", [demoapp, "checkout"])])
    late = None
    try:
        podprof.apply_target(stack, namespace, "shop", {"matchLabels": {"app": "shop"}}, duration="6s")
        stack_mod.wait_for(lambda: _status(stack, namespace, "shop").get("phase") == "Running", 30,
                           desc="Running")
        time.sleep(1.0)
        late = nb.run_pod(namespace, "shop-2", {"app": "shop"}, [("main", [demoapp, "checkout"])])
        st = podprof.wait_phase(stack, namespace, "shop", timeout=60)["status"]
        assert st["phase"] == "Succeeded", st
        pods = {p["name"]: p for p in st["pods"]}
        assert set(pods) == {"shop-1", "shop-2"}, pods
        assert pods["shop-2"]["samples"] > 0, "the late pod was not sampled"
        top = [f["function"] for f in st["topFunctions"]]
        assert not any(f.startswith("search_") for f in top), top
    finally:
        for p, n in ((other, nb), (first, na), (late, nb)):
            if p:
                n.delete_pod(p)


def test_delete_mid_window_detaches_everywhere(stack, namespace, cluster, workers, demoapp, operator):
    """Deleting a target mid-window stops sampling on every node (no BPF program left)."""
    na, nb = cluster.nodes["node-a"], cluster.nodes["node-b"]
    pa = na.run_pod(namespace, "del-a", {"app": "del"}, [("main", [demoapp, "checkout"])])
    pb = nb.run_pod(namespace, "del-b", {"app": "del"}, [("main", [demoapp, "checkout"])])
    try:
        podprof.apply_target(stack, namespace, "del", {"matchLabels": {"app": "del"}}, duration="60s")
        stack_mod.wait_for(lambda: all(n.get("state") == "Attached" for n in
                                       _status(stack, namespace, "del").get("nodes", [{}])), 30,
                           desc="attached on both nodes")
        pids = [w.pid for w in workers.values()]
        stack_mod.wait_for(lambda: podprof.perf_event_fds(pids), 20, desc="sampling started")
        stack.kubectl("delete", "pt", "del", "-n", namespace)
        stack_mod.wait_for(lambda: not podprof.perf_event_fds(pids), 30,
                           desc="no perf event left after delete")
        for w in workers.values():
            assert "detach" in w.log().lower()
    finally:
        na.delete_pod(pa)
        nb.delete_pod(pb)


def test_killed_worker_gives_partial_result(stack, namespace, cluster, operator, demoapp):
    """A worker killed mid-window yields Succeeded with PartialResult naming its node."""
    nodes = nodesim.Cluster(stack, ["node-x", "node-y"])
    wx = podprof.Worker(operator, nodes.nodes["node-x"]).start()
    wy = podprof.Worker(operator, nodes.nodes["node-y"]).start()
    try:
        nodes.nodes["node-x"].run_pod(namespace, "px", {"app": "kx"}, [("main", [demoapp, "checkout"])])
        nodes.nodes["node-y"].run_pod(namespace, "py", {"app": "kx"}, [("main", [demoapp, "checkout"])])
        podprof.apply_target(stack, namespace, "kx", {"matchLabels": {"app": "kx"}}, duration="5s")
        stack_mod.wait_for(lambda: all(n.get("state") == "Attached" for n in
                                       _status(stack, namespace, "kx").get("nodes", [{}])), 30,
                           desc="attached on both nodes")
        wy.kill()
        st = podprof.wait_phase(stack, namespace, "kx", timeout=60)["status"]
        assert st["phase"] == "Succeeded", st
        conds = {c["type"]: c for c in st["conditions"]}
        assert conds["PartialResult"]["status"] == "True"
        assert "node-y" in conds["PartialResult"]["message"]
        states = {n["name"]: n["state"] for n in st["nodes"]}
        assert states == {"node-x": "Done", "node-y": "Lost"}, states
    finally:
        wx.stop()
        wy.stop()
        nodes.stop()


def test_no_matching_pod_fails_clearly(stack, namespace, operator):
    """A selector that matches nothing ends Failed with reason NoPodsMatched, not a hang."""
    podprof.apply_target(stack, namespace, "nothing", {"matchLabels": {"app": "does-not-exist"}},
                         duration="2s")
    st = podprof.wait_phase(stack, namespace, "nothing", timeout=60)["status"]
    assert st["phase"] == "Failed"
    assert any(c["reason"] == "NoPodsMatched" for c in st["conditions"]), st["conditions"]


def test_leader_election_one_reconciles_and_standby_takes_over(stack, namespace, crd):
    """With two replicas only the Lease holder reconciles; when it stops, the standby takes over."""
    lease = ["--leader-elect", "--leader-namespace", "default", "--leader-lease", "pt-" + namespace,
             "--leader-lease-seconds", "5", "--no-storage"]
    a = podprof.Operator(stack, extra=lease)
    b = podprof.Operator(stack, extra=lease)
    try:
        a.start()  # the first one takes the Lease and becomes ready
        b.port = stack_mod.free_port()
        b._start_proc("operator", b.args())
        stack_mod.wait_for(lambda: "waiting for Lease" in b.log(), 30, desc="standby waiting")
        time.sleep(2)
        assert not b.ready(), "a standby must not report ready:\n" + b.log() + "\nA:\n" + a.log()
        assert "leading: starting to reconcile" in a.log()
        assert "leading: starting to reconcile" not in b.log()
        a.stop()  # SIGTERM: releases the Lease
        stack_mod.wait_for(b.ready, 60, desc="standby took over")
        podprof.apply_target(stack, namespace, "ha", {"matchLabels": {"app": "none"}}, duration="1s")
        st = podprof.wait_phase(stack, namespace, "ha", timeout=60)["status"]
        assert st["phase"] == "Failed"  # reconciled by b: nothing matches
        assert "ha" in b.log()
    finally:
        a.stop()
        b.stop()


def test_api_server_restart_mid_window_loses_nothing(stack, namespace, cluster, workers, demoapp, operator):
    """kube-apiserver restarted mid-window: the result is still written, and a target
    created after the restart is picked up (the watches resume or relist)."""
    pod = cluster.nodes["node-a"].run_pod(namespace, "rs-1", {"app": "rs"}, [("main", [demoapp, "checkout"])])
    try:
        podprof.apply_target(stack, namespace, "rs", {"matchLabels": {"app": "rs"}}, duration="6s")
        stack_mod.wait_for(lambda: _status(stack, namespace, "rs").get("phase") == "Running", 30,
                           desc="Running")
        stack.restart_apiserver()
        st = podprof.wait_phase(stack, namespace, "rs", timeout=90)["status"]
        assert st["phase"] == "Succeeded" and st["samples"] > 0, st
        podprof.apply_target(stack, namespace, "after", {"matchLabels": {"app": "rs"}}, duration="2s")
        st = podprof.wait_phase(stack, namespace, "after", timeout=90)["status"]
        assert st["phase"] == "Succeeded", st
    finally:
        cluster.nodes["node-a"].delete_pod(pod)
