# SPDX-License-Identifier: Apache-2.0
"""test_rbac_flow.py -- the whole flow under the chart's own identities.

The operator runs with a TokenRequest token of the ServiceAccount the rendered
chart creates, bound by the chart's RBAC (nothing more), and checks worker
tokens with TokenReview; the worker presents a token of the chart's worker
ServiceAccount. A target over a real pod must still succeed.
"""

import json
import os
import signal
import socket
import tempfile
import urllib.request

import pytest

import nodesim
import podprof
from stack import wait_for
from test_chart import _rbac_for
from test_hub import WS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF needs root")


def test_full_flow_with_chart_rbac_and_tokenreview(stack, crd, namespace, tmp_path):
    """Operator with only the chart's RBAC + worker SA token via TokenReview: target Succeeds."""
    rel = "rf"
    kc, _, objs = _rbac_for(stack, tmp_path, namespace, rel, {"operator": {"replicas": 1}})
    worker_sa = f"{rel}-podprof-worker"
    assert any(o["kind"] == "ServiceAccount" and o["metadata"]["name"] == worker_sa for o in objs)
    # As in the DaemonSet: the worker's token is projected into its pod on the node.
    stack.worker_pod(namespace, "worker-rbac-node", worker_sa, node="rbac-node")
    token = stack.sa_token(namespace, worker_sa, audiences=["podprof"], bound_pod="worker-rbac-node")
    token_file = tmp_path / "worker-token"
    token_file.write_text(token + "\n")
    os.chmod(token_file, 0o600)

    app = podprof.compile_workload("demoapp", tempfile.mkdtemp(prefix="podprof-wl-"))
    cluster = nodesim.Cluster(stack, ["rbac-node"])
    # What the real API server (v1.34) says about such a token: the node is named.
    extra = stack.token_review(token, ["podprof"])["user"]["extra"]
    assert extra["authentication.kubernetes.io/node-name"] == ["rbac-node"], extra
    assert extra["authentication.kubernetes.io/pod-name"] == ["worker-rbac-node"], extra
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


def _token_file(tmp_path, name, token):
    path = tmp_path / name
    path.write_text(token + "\n")
    os.chmod(path, 0o600)
    return str(path)


def test_node_identity_bound_to_token(stack, crd, namespace, tmp_path):
    """Finding 8: under the chart's RBAC, a worker holding node A's token that claims node B
    is refused (1008, a log line, a Warning Event on node B) and receives nothing; B's genuine
    worker stays connected and its target succeeds. A token bound to a pod that was scheduled
    after the token was minted (no node-name in the review, as on API servers < 1.30) is bound
    through the pod's spec.nodeName."""
    rel = "ni"
    kc, _, _ = _rbac_for(stack, tmp_path, namespace, rel, {"operator": {"replicas": 1}})
    sa = f"{rel}-podprof-worker"
    stack.worker_pod(namespace, "worker-a", sa, node="id-node-a")
    stack.worker_pod(namespace, "worker-b", sa, node="id-node-b")
    tok_a = stack.sa_token(namespace, sa, audiences=["podprof"], bound_pod="worker-a")
    tok_b = stack.sa_token(namespace, sa, audiences=["podprof"], bound_pod="worker-b")
    # Fallback: a pod without a node at token time, bound to node C afterwards.
    stack.worker_pod(namespace, "worker-c", sa)
    tok_c = stack.sa_token(namespace, sa, audiences=["podprof"], bound_pod="worker-c")
    stack.request("POST", f"/api/v1/namespaces/{namespace}/pods/worker-c/binding", {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "worker-c"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "id-node-c"}})
    assert "authentication.kubernetes.io/node-name" not in \
        stack.token_review(tok_c, ["podprof"])["user"].get("extra", {})
    # A token bound to no pod names no node: refused in cluster mode.
    tok_free = stack.sa_token(namespace, sa, audiences=["podprof"])

    app = podprof.compile_workload("demoapp", tempfile.mkdtemp(prefix="podprof-wl-"))
    cluster = nodesim.Cluster(stack, ["id-node-a", "id-node-b"])
    op = podprof.Operator(stack, kubeconfig=kc, token_review=(f"{namespace}:{sa}", "podprof"))
    wb = None
    try:
        op.start()
        wb = podprof.Worker(op, cluster.nodes["id-node-b"],
                            token_file=_token_file(tmp_path, "tok-b", tok_b)).start()
        wait_for(lambda: "worker id-node-b connected" in op.log(), 60, desc="worker B connected")
        cluster.nodes["id-node-b"].run_pod(namespace, "app-b", {"app": "ident"}, [("main", [app, "checkout"])])
        podprof.apply_target(stack, namespace, "ident", {"matchLabels": {"app": "ident"}}, duration="6s")

        # A's token, claiming B, in the upgrade header and in hello: refused, nothing else sent.
        for header in (True, False):
            evil = WS(op.port, token=tok_a if header else None)
            assert evil.status == 101
            hello = {"v": 1, "type": "hello", "node": "id-node-b", "version": "x"}
            if not header:
                hello["token"] = tok_a
            evil.send_json(hello)
            op_code, payload = evil.recv()
            assert (op_code, payload) == (8, 1008), (op_code, payload)
            evil.close()
        wait_for(lambda: "claims node id-node-b; its token is bound to id-node-a: refused" in op.log(), 30,
                 desc="refusal logged")
        ev = json.loads(stack.kubectl("get", "events", "-n", "default", "--field-selector",
                                      "reason=WorkerIdentityMismatch,involvedObject.name=id-node-b",
                                      "-o", "json").stdout)["items"]
        assert ev and ev[0]["type"] == "Warning" and ev[0]["involvedObject"]["kind"] == "Node", ev

        # Unbound token, and C's token claiming B: refused too; C's token for C: accepted.
        ws = WS(op.port, token=tok_free)
        ws.send_json({"v": 1, "type": "hello", "node": "id-node-b", "version": "x"})
        assert ws.expect_close() == 1008
        ws = WS(op.port, token=tok_c)
        ws.send_json({"v": 1, "type": "hello", "node": "id-node-b", "version": "x"})
        assert ws.expect_close() == 1008
        ws = WS(op.port, token=tok_c)
        assert ws.hello("id-node-c")["type"] == "welcome"
        ws.close()

        st = podprof.wait_phase(stack, namespace, "ident", timeout=90)["status"]
        assert st["phase"] == "Succeeded", (st, op.log()[-4000:], wb.log_tail("worker", 40))
        assert st["topFunctions"][0]["function"].startswith("checkout_"), st["topFunctions"]
        log = op.log()
        assert "worker id-node-b disconnected" not in log and "replaced by a newer connection" not in log, \
            log[-3000:]
        assert op.metrics()['podprof_hub_limited_total{limit="node_binding"}'] >= 4
    finally:
        if wb:
            wb.stop()
        op.stop()
        cluster.stop()


def test_healthz_answers_while_token_reviews_hang(stack, crd, namespace, tmp_path):
    """Finding 6: with the API server stopped (SIGSTOP: every TokenReview hangs), 20 bogus-token
    connections do not stall the hub: /healthz answers while the API server is still stopped;
    uncached checks from one address are rate limited."""
    rel = "hz"
    kc, _, _ = _rbac_for(stack, tmp_path, namespace, rel, {"operator": {"replicas": 1}})
    op = podprof.Operator(stack, kubeconfig=kc, token_review=(f"{namespace}:{rel}-podprof-worker", "podprof"))
    api = stack.procs["kube-apiserver"]
    socks = []
    try:
        op.start()
        api.send_signal(signal.SIGSTOP)
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", op.port), timeout=30)
            s.sendall((f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                       f"Sec-WebSocket-Protocol: podprof.v1\r\nAuthorization: Bearer bogus-{i}\r\n\r\n").encode())
            socks.append(s)
        with urllib.request.urlopen(f"http://127.0.0.1:{op.port}/healthz", timeout=30) as r:
            assert r.status == 200
        m = op.metrics()
        assert m['podprof_hub_limited_total{limit="auth_rate"}'] >= 1, m
        assert m["podprof_hub_auth_checks_total"] <= 10, m
        assert api.poll() is None
    finally:
        api.send_signal(signal.SIGCONT)
        for s in socks:
            s.close()
        op.stop()
