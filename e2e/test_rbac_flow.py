# SPDX-License-Identifier: Apache-2.0
"""test_rbac_flow.py -- the whole flow under the chart's own identities.

The operator runs with a TokenRequest token of the ServiceAccount the rendered
chart creates, bound by the chart's RBAC (nothing more), and checks worker
tokens with TokenReview; the worker presents a token of the chart's worker
ServiceAccount. A target over a real pod must still succeed.
"""

import os
import tempfile

import pytest

import nodesim
import podprof
from test_chart import _rbac_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF needs root")


def test_full_flow_with_chart_rbac_and_tokenreview(stack, crd, namespace, tmp_path):
    """Operator with only the chart's RBAC + worker SA token via TokenReview: target Succeeds."""
    rel = "rf"
    kc, _, objs = _rbac_for(stack, tmp_path, namespace, rel, {"operator": {"replicas": 1}})
    worker_sa = f"{rel}-podprof-worker"
    assert any(o["kind"] == "ServiceAccount" and o["metadata"]["name"] == worker_sa for o in objs)
    token = stack.sa_token(namespace, worker_sa, audiences=["podprof"])
    token_file = tmp_path / "worker-token"
    token_file.write_text(token + "\n")
    os.chmod(token_file, 0o600)

    app = podprof.compile_workload("demoapp", tempfile.mkdtemp(prefix="podprof-wl-"))
    cluster = nodesim.Cluster(stack, ["rbac-node"])
    op = podprof.Operator(stack, kubeconfig=kc, token_review=(f"{namespace}:{worker_sa}", "podprof"))
    w = None
    try:
        op.start()
        w = podprof.Worker(op, cluster.nodes["rbac-node"], token_file=str(token_file)).start()
        assert f"system:serviceaccount:{namespace}:{worker_sa}" in op.log()
        cluster.nodes["rbac-node"].run_pod(namespace, "app-1", {"app": "rbac"}, [("main", [app, "checkout"])])
        podprof.apply_target(stack, namespace, "rbac", {"matchLabels": {"app": "rbac"}}, duration="3s")
        st = podprof.wait_phase(stack, namespace, "rbac", timeout=90)["status"]
        assert st["phase"] == "Succeeded", st
        assert st["topFunctions"][0]["function"].startswith("checkout_"), st["topFunctions"]
        log = op.log()
        assert "forbidden" not in log.lower(), log[-2000:]
        events = stack.kubectl("get", "events", "-n", namespace, "-o", "custom-columns=R:.reason").stdout
        assert "Completed" in events
    finally:
        if w:
            w.stop()
        op.stop()
        cluster.stop()
