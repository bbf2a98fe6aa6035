# SPDX-License-Identifier: Apache-2.0
"""test_rbac_flow.py -- the whole flow under the chart's own identities.

The operator runs with a TokenRequest token of the ServiceAccount the rendered
chart creates, bound by the chart's RBAC (nothing more), and checks worker
tokens with TokenReview; the worker presents a token of the chart's worker
ServiceAccount. A target over a real pod must still succeed.
"""

import glob
import json
import os
import select
import signal
import socket
import struct
import tempfile
import time
import urllib.request

import pytest

import nodesim
import podprof
import pprofread
from stack import wait_for
from test_chart import _rbac_for
from test_hub import WAIT, WS
from test_storage import make_pprof

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


def _rbac_and_worker_tokens(stack, tmp_path, namespace, rel, node_a, node_b):
    """The chart's RBAC for release rel, and tokens of its worker ServiceAccount bound to pods
    worker-a on node_a and worker-b on node_b. Returns (operator kubeconfig, worker SA, tokens)."""
    kc, _, _ = _rbac_for(stack, tmp_path, namespace, rel, {"operator": {"replicas": 1}})
    sa = f"{rel}-podprof-worker"
    stack.worker_pod(namespace, "worker-a", sa, node=node_a)
    stack.worker_pod(namespace, "worker-b", sa, node=node_b)
    return (kc, sa, stack.sa_token(namespace, sa, audiences=["podprof"], bound_pod="worker-a"),
            stack.sa_token(namespace, sa, audiences=["podprof"], bound_pod="worker-b"))


def test_node_identity_bound_to_token(stack, crd, namespace, tmp_path):
    """Finding 8: under the chart's RBAC, a worker holding node A's token that claims node B
    is refused (1008, a log line, a Warning Event on node B) and receives nothing; B's genuine
    worker stays connected and its target succeeds. A token bound to a pod that was scheduled
    after the token was minted (no node-name in the review, as on API servers < 1.30) is bound
    through the pod's spec.nodeName."""
    kc, sa, tok_a, tok_b = _rbac_and_worker_tokens(stack, tmp_path, namespace, "ni", "id-node-a", "id-node-b")
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


def _running_pod(stack, ns, name, node, labels):
    """A Pod object bound to node and reported Running (no process: the worker here is a client)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stack.request("POST", f"/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "x"}]}})
    stack.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": {
        "phase": "Running", "startTime": now, "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "main", "containerID": "containerd://" + "ab" * 32, "ready": True,
                               "restartCount": 0, "image": "x", "imageID": "", "started": True,
                               "state": {"running": {"startedAt": now}}}]}},
        content_type="application/merge-patch+json")


def _is_stopped(pid):
    """Every thread of pid is in state T (SIGSTOP): it answers nothing, TokenReviews included.
    kill() returns before a running thread has stopped, and such a thread still serves requests."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "T":
                    return False
        except FileNotFoundError:  # a thread that exited
            continue
    return True


def _bogus_upgrade(src, port, token):
    """Upgrade from address src with token; returns (socket, HTTP status, bytes read past the head)."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(WAIT)
    s.connect(("127.0.0.1", port))
    s.sendall((f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: podprof.v1\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    line = head.split(b"\r\n")[0].split()
    return s, int(line[1]) if len(line) > 1 else 0, rest


def _how_closed(s, buf, deadline):
    """Read until the hub closes s: its close code, "eof", or "open" at deadline (buf: read before)."""
    while True:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            return "open"
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    if len(buf) >= 4 and buf[0] == 0x88:
        return struct.unpack("!H", buf[2:4])[0]
    return "eof"


class _Worker:
    """A connected worker as a protocol client: heartbeats answered, other messages kept."""

    def __init__(self, port, token, node):
        self.ws = WS(port, token=token)
        assert self.ws.status == 101
        assert self.ws.hello(node)["type"] == "welcome"
        self.seq = 0
        self.inbox = []

    def heartbeat(self):
        """Send a heartbeat; True once the hub's echo came back (it has read and acted on it)."""
        self.seq += 1
        self.ws.send_json({"v": 1, "type": "heartbeat", "seq": self.seq})
        while True:
            msg = self.ws.recv_json()
            if msg.get("type") == "heartbeat" and msg.get("seq") == self.seq:
                return True
            self.inbox.append(msg)

    def next_of(self, typ):
        while not any(m.get("type") == typ for m in self.inbox):
            self.inbox.append(self.ws.recv_json())
        i = next(i for i, m in enumerate(self.inbox) if m.get("type") == typ)
        return self.inbox.pop(i)


def test_stalled_token_review_does_not_delay_connected_worker(stack, crd, namespace, tmp_path):
    """Issue 18: with the API server paused (SIGSTOP: TokenReviews hang), a worker connected before
    is still served at once -- its heartbeats are echoed, its progress reaches /metrics and its
    profile is merged and stored -- while a second worker's TokenReview is still pending. Checks
    waiting on the API server are bounded: a flood of bogus-token connections past 256 is refused
    (1013, logged); every waiting connection is closed after the hello timeout and its check leaves
    the queue, while the API server is still paused; afterwards workers register again."""
    kc, sa, tok_a, tok_b = _rbac_and_worker_tokens(stack, tmp_path, namespace, "sv", "stall-a", "stall-b")
    _running_pod(stack, namespace, "app-a", "stall-a", {"app": "stall"})
    op = podprof.Operator(stack, kubeconfig=kc, token_review=(f"{namespace}:{sa}", "podprof"))
    api = stack.procs["kube-apiserver"]
    b = None
    flood = []
    stopped = False
    try:
        op.start()
        a = _Worker(op.port, tok_a, "stall-a")
        podprof.apply_target(stack, namespace, "stall", {"matchLabels": {"app": "stall"}}, duration="3s")
        attach = a.next_of("attach")
        job = attach["jobId"]
        a.ws.send_json({"v": 1, "type": "progress", "jobId": job, "samples": 0, "final": False, "pods": []})
        window_end = time.monotonic() + attach["windowMs"] / 1000.0

        api.send_signal(signal.SIGSTOP)
        stopped = True
        wait_for(lambda: _is_stopped(api.pid), WAIT, interval=0.01, desc="API server stopped")
        # Worker B connects now: its token is new to the operator, so its TokenReview hangs.
        b = WS(op.port, token=tok_b)
        assert b.status == 101
        b.send_json({"v": 1, "type": "hello", "node": "stall-b", "version": "e2e"})
        wait_for(lambda: op.metrics()["podprof_hub_auth_checks_pending"] >= 1, WAIT,
                 desc="B's token check pending")

        # A, meanwhile: heartbeats echoed; at its window's end, profile and final progress.
        assert a.heartbeat()
        while time.monotonic() < window_end:
            time.sleep(0.2)
        jid = job.encode()
        a.ws.send_frame(0x2, b"PPRF\x01\x01" + struct.pack("!H", len(jid)) + jid +
                        make_pprof({("main", "stall_hot"): 30, ("main", "stall_cold"): 10}))
        a.ws.send_json({"v": 1, "type": "progress", "jobId": job, "samples": 40, "final": True, "pods": [],
                        "symbols": {"binaries": 7, "bytes": 4096, "maxBytes": 65536, "hits": 1, "misses": 7,
                                    "evictions": 0}})
        stored = wait_for(lambda: a.heartbeat() and glob.glob(os.path.join(op.storage_dir, "**", "*.pb.gz"),
                                                               recursive=True), WAIT,
                          desc="A's profile merged and stored")
        m = op.metrics()
        assert m['podprof_worker_symbol_cache_binaries{node="stall-a"}'] == 7, m
        # ... and all of that before B's TokenReview returned: still pending, B still unanswered.
        assert m["podprof_hub_auth_checks_pending"] >= 1, (
            m, _is_stopped(api.pid), [ln for ln in op.log().splitlines() if "hub:" in ln][-20:])
        assert not select.select([b.sock], [], [], 0)[0], "B got an answer while its TokenReview hangs"
        assert _is_stopped(api.pid)
        leaves = {}
        for frames, value in pprofread.Profile(stored[0]).stacks():
            leaves[frames[0]] = leaves.get(frames[0], 0) + value
        assert leaves == {"stall_hot": 30, "stall_cold": 10}, leaves

        # A flood of bogus tokens from 40 addresses (within each one's rate): past 256 waiting
        # connections / queued checks, refused with 1013 and a log line.
        for i in range(300):
            flood.append(_bogus_upgrade(f"127.3.0.{i % 40 + 1}", op.port, f"bogus-{i}"))
        assert [f[1] for f in flood] == [101] * 300  # within each address's rate: all upgraded
        assert a.heartbeat()
        m = op.metrics()
        limited = (m['podprof_hub_limited_total{limit="pending_evicted"}'] +
                   m['podprof_hub_limited_total{limit="auth_queue"}'])
        assert limited >= 300 + 1 - 256, m
        assert m["podprof_hub_pending_sessions"] <= 256 and m["podprof_hub_auth_checks_pending"] <= 256, m
        log = op.log()
        assert "too many connections before hello" in log or "too many token checks running" in log, log[-3000:]
        # Bounded in time: every waiting connection is closed (hello timeout) and its check dropped
        # while the API server is still paused; only the checks already running stay (4 threads).
        deadline = time.monotonic() + 3 * WAIT
        outcomes = []
        for s, _, rest in flood + [(b.sock, 101, b.buf)]:
            outcomes.append(_how_closed(s, rest, deadline))
            if time.monotonic() > deadline - WAIT:
                a.heartbeat()
        assert "open" not in outcomes, outcomes
        assert outcomes.count(1013) >= 300 + 1 - 256, outcomes
        wait_for(lambda: a.heartbeat() and op.metrics()["podprof_hub_auth_checks_pending"] <= 4, WAIT,
                 desc="checks of closed connections dropped")
        assert _is_stopped(api.pid)
        assert a.heartbeat()

        api.send_signal(signal.SIGCONT)
        stopped = False
        wait_for(lambda: op.metrics()["podprof_hub_auth_checks_pending"] == 0, 2 * WAIT,
                 desc="running checks finished")
        b = WS(op.port, token=tok_b)
        assert b.hello("stall-b")["type"] == "welcome"
        st = podprof.wait_phase(stack, namespace, "stall", timeout=90)["status"]
        assert st["phase"] == "Succeeded" and st["topFunctions"][0]["function"] == "stall_hot", st
        assert "worker stall-a disconnected" not in op.log()
    finally:
        if stopped:
            api.send_signal(signal.SIGCONT)
        for s, _, _ in flood:
            s.close()
        if b:
            b.close()
        op.stop()
