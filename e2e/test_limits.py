# SPDX-License-Identifier: Apache-2.0
"""test_limits.py -- podprof's caps hold on the real stack, and memory stays flat.

Real kube-apiserver + etcd, real podprof-operator and podprof-worker, real
eBPF. Caps checked here: 64 concurrent jobs per worker (the 65th is refused
and the refusal is visible in the target's status), the hub's message size
cap against the real operator while a real worker keeps working, and a short
soak (e2e/soak.py) in which operator and worker RSS must not keep growing.
Frame-level caps of the protocol are covered in e2e/test_hub.py.
"""

import json
import os

import pytest

import podprof
import soak
import stack as stack_mod
from test_hub import WS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF needs root")

MAX_JOBS = 64  # PROFILE_MAX_SLOTS: BPF cookie slots per worker


@pytest.fixture
def op_worker(stack, crd, node):
    op = podprof.Operator(stack).start()
    w = podprof.Worker(op, node).start()
    yield op, w
    for svc, name in ((op, "operator"), (w, "worker")):
        print(f"---- {name} log ----\n" + svc.log_tail(name, 40))
    w.stop()
    op.stop()


def _targets(stack, ns):
    return json.loads(stack.kubectl("get", "pt", "-n", ns, "-o", "json").stdout)["items"]


def test_65th_concurrent_job_is_refused_in_status(stack, namespace, node, op_worker):
    """With 64 jobs sampling on a node, a 65th target's node entry says too_many_jobs; the
    other 64 stay attached and the worker keeps running."""
    op, w = op_worker
    node.run_pod(namespace, "idle", {"app": "slots"}, [("main", ["sleep", "600"])])
    items = [{"apiVersion": "podprof.dev/v1alpha1", "kind": "ProfilingTarget",
              "metadata": {"name": f"slot-{i:02d}", "namespace": namespace},
              "spec": {"selector": {"matchLabels": {"app": "slots"}}, "duration": "10m", "frequencyHz": 1}}
             for i in range(MAX_JOBS + 1)]
    stack.apply({"apiVersion": "v1", "kind": "List", "items": items})
    try:
        def settled():
            out = _targets(stack, namespace)
            nodes = [n for o in out for n in o.get("status", {}).get("nodes", [])]
            refused = [n for n in nodes if "too_many_jobs" in n.get("message", "")]
            attached = [n for n in nodes if n.get("state") == "Attached" and not n.get("message")]
            return (refused, attached) if len(refused) + len(attached) == MAX_JOBS + 1 else None

        refused, attached = stack_mod.wait_for(settled, 240, interval=1, desc="65 targets settled")
        assert len(refused) == 1, refused
        assert len(attached) == MAX_JOBS
        assert "cannot start sampling" in refused[0]["message"], refused
        assert w._check_running("worker")
        events = stack.kubectl("get", "events", "-n", namespace, "-o", "custom-columns=R:.reason").stdout
        assert "WorkerError" in events
    finally:
        stack.kubectl("delete", "pt", "--all", "-n", namespace, "--wait=false")


def test_oversized_message_to_real_operator_is_refused(stack, namespace, node, op_worker, demoapp):
    """A client with a valid token that sends a frame over the 64 KiB cap is disconnected (1009);
    the operator keeps serving and a real worker's target still succeeds."""
    op, w = op_worker
    token = open(op.token_file).read().strip()
    ws = WS(op.port, token=token)
    assert ws.status == 101
    ws.hello("l-intruder")
    ws.send_frame(0x1, b'{"v":1', announce=1 << 20)
    assert ws.expect_close() == 1009
    ws.close()
    assert op.ready()
    node.run_pod(namespace, "big", {"app": "big"}, [("main", [demoapp, "checkout"])])
    podprof.apply_target(stack, namespace, "big", {"matchLabels": {"app": "big"}}, duration="2s")
    st = podprof.wait_phase(stack, namespace, "big", timeout=60)["status"]
    assert st["phase"] == "Succeeded", st
    assert op.metrics().get('podprof_hub_refused_messages_total{reason="too_big"}', 0) >= 1


def test_drops_reported_in_status(stack, namespace, node, op_worker, demoapp):
    """Samples lost to full kernel maps are counted and visible per node in status (0 here)."""
    node.run_pod(namespace, "drops", {"app": "drops"}, [("main", [demoapp, "checkout"])])
    podprof.apply_target(stack, namespace, "drops", {"matchLabels": {"app": "drops"}}, duration="2s")
    st = podprof.wait_phase(stack, namespace, "drops", timeout=60)["status"]
    assert st["phase"] == "Succeeded", st
    assert all(n.get("drops") == 0 for n in st["nodes"]), st["nodes"]
    assert st.get("drops") == 0


def test_memory_flat_under_repeated_targets(stack, namespace, node, op_worker, demoapp):
    """Back-to-back targets for about a minute: operator and worker RSS stay within a generous
    bound of their warm size (a leak check, e2e/soak.py; not a timing assertion)."""
    op, w = op_worker
    seconds = float(os.environ.get("PODPROF_SOAK_SECONDS", "60"))
    res = soak.run(stack, namespace, op, w, node, seconds=seconds, window="1s",
                   busy_argv=[demoapp, "checkout"])
    print(json.dumps({k: v for k, v in res.items() if k != "samples"}))
    assert not res["failed"], res["failed"]
    for who in ("operator", "worker"):
        r = res[who]
        assert r["final_kb"] <= r["bound_kb"], (who, r)
