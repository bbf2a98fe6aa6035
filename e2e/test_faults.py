# SPDX-License-Identifier: Apache-2.0
"""test_faults.py -- podprof keeps its promises when parts of the system fail.

Real kube-apiserver + etcd, real podprof-operator and podprof-worker
processes, real eBPF sampling, real MinIO. Each test breaks one part in the
middle of a profiling window (kill -9, restart, outage, full disk, burst) and
checks what the user sees: the target still reaches a correct final phase,
the profile lands in the bucket exactly once, and nothing crashes.
"""

import gzip
import json
import os
import subprocess

import pytest

import podprof
import stack as stack_mod

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF, tmpfs mounts need root")

FINAL = ("Succeeded", "Failed")


def _dump(op, *workers):
    """Print the tails of the logs (pytest shows them when the test failed), then stop."""
    for svc, name in ((op, "operator"), *((w, "worker") for w in workers)):
        print(f"---- {name} log ----\n" + svc.log_tail(name, 60))
    for svc in (*workers, op):
        svc.stop()


def _status(stack, ns, name):
    return podprof.get_target(stack, ns, name).get("status", {})


def _attached(stack, ns, name):
    nodes = _status(stack, ns, name).get("nodes") or [{}]
    return all(n.get("state") == "Attached" for n in nodes)


def _profiles(s3, ns, name):
    """Profile objects of one target in the bucket: {key: size}."""
    return {k: v for k, v in s3.list("").items() if f"/{ns}/{name}/" in f"/{k}" and k.endswith(".pb.gz")}


def _assert_pprof(data):
    raw = gzip.decompress(data)
    assert len(raw) > 0


def test_operator_killed_mid_window_resumes_without_duplicate_upload(stack, namespace, node, s3, demoapp):
    """kill -9 of the operator mid-window: the restarted operator resumes the window from
    status.startTime, the target succeeds with samples, and exactly one profile is uploaded."""
    op = podprof.Operator(stack, s3=s3).start()
    w = podprof.Worker(op, node).start()
    try:
        node.run_pod(namespace, "opk", {"app": "opk"}, [("main", [demoapp, "checkout"])])
        podprof.apply_target(stack, namespace, "opk", {"matchLabels": {"app": "opk"}}, duration="8s")
        stack_mod.wait_for(lambda: _attached(stack, namespace, "opk"), 30, desc="attached")
        before = _status(stack, namespace, "opk")
        op.kill(9)
        op.start()  # same port and token: the worker reconnects on its own
        obj = podprof.wait_phase(stack, namespace, "opk", timeout=90)
        st = obj["status"]
        assert st["phase"] == "Succeeded", st
        assert st["startTime"] == before["startTime"], "window restarted instead of resumed"
        assert st["samples"] > 0
        assert "resuming a window" in op.log()
        top = [f["function"] for f in st["topFunctions"]]
        assert top and top[0] == "checkout_compute_tax", top
        stack_mod.wait_for(lambda: _profiles(s3, namespace, "opk"), 60, desc="profile in the bucket")
        keys = _profiles(s3, namespace, "opk")
        assert len(keys) == 1, keys
        _assert_pprof(s3.get(next(iter(keys))))
    finally:
        _dump(op, w)


def test_worker_killed_and_restarted_reconnects(stack, namespace, node, demoapp):
    """A worker killed mid-window and restarted reconnects, samples again, and the target
    succeeds naming the node in PartialResult (samples before the crash are lost)."""
    op = podprof.Operator(stack).start()
    w = podprof.Worker(op, node).start()
    try:
        node.run_pod(namespace, "wk", {"app": "wk"}, [("main", [demoapp, "checkout"])])
        podprof.apply_target(stack, namespace, "wk", {"matchLabels": {"app": "wk"}}, duration="12s")
        stack_mod.wait_for(lambda: _attached(stack, namespace, "wk"), 30, desc="attached")
        w.kill(9)
        stack_mod.wait_for(lambda: "disconnected" in json.dumps(_status(stack, namespace, "wk")) or
                           "Lost" in json.dumps(_status(stack, namespace, "wk")) or
                           _status(stack, namespace, "wk").get("phase") in FINAL, 30,
                           desc="operator notices the lost worker")
        w.start()
        st = podprof.wait_phase(stack, namespace, "wk", timeout=90)["status"]
        assert st["phase"] == "Succeeded", st
        nodes = {n["name"]: n for n in st["nodes"]}
        assert node.name in nodes
        assert nodes[node.name]["samples"] > 0, "no samples after the worker came back"
        conds = {c["type"]: c for c in st["conditions"]}
        assert conds["PartialResult"]["status"] == "True", conds
        assert node.name in conds["PartialResult"]["message"]
        assert w.connections() >= 2
    finally:
        _dump(op, w)


def test_apiserver_restart_mid_window(stack, namespace, node, s3, demoapp):
    """kube-apiserver restarted mid-window: watches resume, the target finishes once (one
    window start, one upload) and a target created after the restart is reconciled too."""
    op = podprof.Operator(stack, s3=s3).start()
    w = podprof.Worker(op, node).start()
    try:
        node.run_pod(namespace, "api", {"app": "api"}, [("main", [demoapp, "checkout"])])
        podprof.apply_target(stack, namespace, "api1", {"matchLabels": {"app": "api"}}, duration="10s")
        stack_mod.wait_for(lambda: _attached(stack, namespace, "api1"), 30, desc="attached")
        stack.restart_apiserver()
        st = podprof.wait_phase(stack, namespace, "api1", timeout=120)["status"]
        assert st["phase"] == "Succeeded", st
        assert st["samples"] > 0
        # Created after the restart: only a resumed watch can see it.
        podprof.apply_target(stack, namespace, "api2", {"matchLabels": {"app": "api"}}, duration="2s")
        st2 = podprof.wait_phase(stack, namespace, "api2", timeout=120)["status"]
        assert st2["phase"] == "Succeeded", st2
        log = op.log()
        assert log.count(f"{namespace}/api1: window of") == 1, "api1 reconciled into a second window"
        assert log.count(f"{namespace}/api2: window of") == 1
        stack_mod.wait_for(lambda: len(_profiles(s3, namespace, "api1")) == 1, 60, desc="api1 uploaded")
        assert len(_profiles(s3, namespace, "api1")) == 1
    finally:
        _dump(op, w)


def test_s3_down_longer_than_window_spools_then_uploads(stack, namespace, node, private_s3, demoapp):
    """S3 unreachable past the window: the profile is spooled (status.profile.state Spooled,
    condition Uploaded=False) and uploaded once S3 is back (state Uploaded, condition True)."""
    op = podprof.Operator(stack, s3=private_s3).start()
    w = podprof.Worker(op, node).start()
    try:
        node.run_pod(namespace, "s3d", {"app": "s3d"}, [("main", [demoapp, "checkout"])])
        private_s3.pause()
        podprof.apply_target(stack, namespace, "s3d", {"matchLabels": {"app": "s3d"}}, duration="3s")
        spooled = stack_mod.wait_for(
            lambda: (lambda s: s if s.get("profile", {}).get("state") == "Spooled" else None)(
                _status(stack, namespace, "s3d")), 120, desc="profile Spooled")
        assert spooled["phase"] == "Succeeded", spooled
        conds = {c["type"]: c for c in spooled["conditions"]}
        assert conds["Uploaded"]["status"] == "False" and conds["Uploaded"]["reason"] == "Spooled", conds
        spool = os.path.join(op.dir, "spool")
        assert any(f.endswith(".data") for f in os.listdir(spool)), os.listdir(spool)
        private_s3.resume()
        # The pprof and its flame graph are separate objects: wait for both.
        done = stack_mod.wait_for(
            lambda: (lambda s: s if s.get("profile", {}).get("state") == "Uploaded"
                     and s["profile"].get("svgURL") else None)(
                _status(stack, namespace, "s3d")), 120, desc="profile Uploaded after S3 came back")
        conds = {c["type"]: c for c in done["conditions"]}
        assert conds["Uploaded"]["status"] == "True", conds
        keys = _profiles(private_s3, namespace, "s3d")
        assert len(keys) == 1, keys
        _assert_pprof(private_s3.get(next(iter(keys))))
        assert not any(f.endswith(".data") for f in os.listdir(spool)), "spool not emptied"
    finally:
        _dump(op, w)


@pytest.fixture
def full_spool(tmp_path):
    """A 64 KiB tmpfs filled to the last byte: every spool write fails with ENOSPC."""
    path = tmp_path / "full"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)], check=True)
    try:
        (path / "spool").mkdir(mode=0o700)
        fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass  # ENOSPC: full, as wanted
        finally:
            os.close(fd)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_full_spool_is_a_clear_error(stack, namespace, node, private_s3, demoapp, full_spool):
    """With S3 down and the spool disk full the operator does not crash: status says why the
    profile is not stored yet, and the profile still lands once S3 is back."""
    op = podprof.Operator(stack, s3=private_s3, extra=["--spool-dir", str(full_spool / "spool")])
    op.start()
    w = podprof.Worker(op, node).start()
    try:
        node.run_pod(namespace, "dfull", {"app": "dfull"}, [("main", [demoapp, "checkout"])])
        private_s3.pause()
        podprof.apply_target(stack, namespace, "dfull", {"matchLabels": {"app": "dfull"}}, duration="2s")
        st = stack_mod.wait_for(
            lambda: (lambda s: s if s.get("profile", {}).get("state") not in (None, "", "Uploading")
                     else None)(_status(stack, namespace, "dfull")), 120, desc="upload state reported")
        conds = {c["type"]: c for c in st["conditions"]}
        assert conds["Uploaded"]["status"] == "False", conds
        assert conds["Uploaded"]["reason"] == "Retrying", conds
        assert "cannot write spool directory" in conds["Uploaded"]["message"], conds
        assert op._check_running("operator")
        assert "No space left on device" in op.log()
        private_s3.resume()
        stack_mod.wait_for(lambda: _status(stack, namespace, "dfull").get("profile", {}).get("state")
                           == "Uploaded", 120, desc="uploaded from memory once S3 is back")
        assert len(_profiles(private_s3, namespace, "dfull")) == 1
        assert op._check_running("operator")
    finally:
        _dump(op, w)


def test_burst_of_200_targets_all_finish(stack, namespace, crd):
    """200 ProfilingTargets created at once (1 s windows) all reach a final phase with a reason."""
    op = podprof.Operator(stack).start()
    try:
        items = [{"apiVersion": "podprof.dev/v1alpha1", "kind": "ProfilingTarget",
                  "metadata": {"name": f"burst-{i:03d}", "namespace": namespace},
                  "spec": {"selector": {"matchLabels": {"app": "burst-nothing"}}, "duration": "1s"}}
                 for i in range(200)]
        stack.apply({"apiVersion": "v1", "kind": "List", "items": items})

        def finished():
            out = json.loads(stack.kubectl("get", "pt", "-n", namespace, "-o", "json").stdout)["items"]
            phases = [o.get("status", {}).get("phase") for o in out]
            return out if len(out) == 200 and all(p in FINAL for p in phases) else None

        out = stack_mod.wait_for(finished, 600, interval=2, desc="200 targets in a final phase")
        for o in out:
            st = o["status"]
            assert st["phase"] == "Failed", st
            assert any(c["reason"] == "NoPodsMatched" for c in st["conditions"]), st
        assert op._check_running("operator")
    finally:
        op.stop()
