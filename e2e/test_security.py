# SPDX-License-Identifier: Apache-2.0
"""test_security.py -- the worker samples only what it is told and keeps few privileges;
secrets stay out of logs.

Real kube-apiserver + etcd, real podprof-operator and podprof-worker
processes, real eBPF, real MinIO. See docs/security.md for the threat model.
"""

import glob
import os
import subprocess

import pytest

import podprof
import stack as stack_mod
from test_record import WORKER_CAPS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF needs root")


def _tags(path):
    """`go tool pprof -tags`: the label values present in a profile, as text."""
    return subprocess.run(["go", "tool", "pprof", "-tags", path], capture_output=True, text=True,
                          check=True, timeout=120).stdout


def test_only_named_pods_are_sampled(stack, namespace, node, demoapp):
    """Pod B, busy on the same node but not selected, contributes no sample to pod A's profile."""
    op = podprof.Operator(stack).start()
    w = podprof.Worker(op, node).start()
    try:
        node.run_pod(namespace, "pod-a", {"app": "a"}, [("main", [demoapp, "checkout"])])
        node.run_pod(namespace, "pod-b", {"app": "b"}, [("main", [demoapp, "search"])])
        podprof.apply_target(stack, namespace, "only-a", {"matchLabels": {"app": "a"}}, duration="4s")
        st = podprof.wait_phase(stack, namespace, "only-a", timeout=60)["status"]
        assert st["phase"] == "Succeeded", st
        assert [p["name"] for p in st["pods"]] == ["pod-a"]
        files = glob.glob(os.path.join(op.storage_dir, namespace, "only-a", "*", "*.pb.gz"))
        assert len(files) == 1, files
        funcs = podprof.pprof_top(files[0])
        assert any(f.startswith("checkout_") for f in funcs), funcs
        assert not any(f.startswith("search_") for f in funcs), funcs
        tags = _tags(files[0])
        assert "pod-a" in tags and "pod-b" not in tags, tags
    finally:
        w.stop()
        op.stop()


def test_agent_keeps_only_documented_capabilities(stack, namespace, node, demoapp):
    """The agent daemon, while a job samples, holds exactly the worker capability set."""
    op = podprof.Operator(stack).start()
    w = podprof.Worker(op, node).start()
    try:
        node.run_pod(namespace, "caps", {"app": "caps"}, [("main", [demoapp, "checkout"])])
        podprof.apply_target(stack, namespace, "caps", {"matchLabels": {"app": "caps"}}, duration="30s")
        stack_mod.wait_for(lambda: "started (slot" in w.log(), 30, desc="job sampling")
        caps = {}
        with open(f"/proc/{w.pid}/status") as f:
            for line in f:
                if line.startswith("Cap"):
                    k, v = line.split(":")
                    caps[k] = int(v.strip(), 16)
        assert caps["CapEff"] == WORKER_CAPS, hex(caps["CapEff"])
        assert caps["CapPrm"] == WORKER_CAPS, hex(caps["CapPrm"])
        assert caps["CapBnd"] == WORKER_CAPS, hex(caps["CapBnd"])
        assert caps["CapInh"] == 0 and caps["CapAmb"] == 0
        st = podprof.get_target(stack, namespace, "caps")["status"]
        assert st["phase"] == "Running", st  # still sampling with the reduced set
    finally:
        stack.kubectl("delete", "pt", "caps", "-n", namespace, "--wait=false")
        w.stop()
        op.stop()


def test_no_secrets_in_logs(stack, namespace, node, s3, demoapp):
    """A full flow at debug log level (S3 keys, worker token, API token in use) writes none
    of those secrets to any log, to status or to Events."""
    op = podprof.Operator(stack, s3=s3, extra=["--log-level", "debug"]).start()
    w = podprof.Worker(op, node, extra=["-v"]).start()
    try:
        node.run_pod(namespace, "sec", {"app": "sec"}, [("main", [demoapp, "checkout"])])
        podprof.apply_target(stack, namespace, "sec", {"matchLabels": {"app": "sec"}}, duration="2s")
        st = podprof.wait_phase(stack, namespace, "sec", timeout=60)["status"]
        assert st["phase"] == "Succeeded", st
        stack_mod.wait_for(lambda: podprof.get_target(stack, namespace, "sec")["status"]
                           .get("profile", {}).get("state") == "Uploaded", 60, desc="uploaded")
        worker_token = open(op.token_file).read().strip()
        secrets = {"S3 secret key": s3.secret_key, "worker token": worker_token,
                   "API bearer token": stack.token}
        texts = {"operator log": op.log(), "worker log": w.log(),
                 "target": stack.kubectl("get", "pt", "sec", "-n", namespace, "-o", "yaml").stdout,
                 "events": stack.kubectl("get", "events", "-n", namespace, "-o", "yaml").stdout}
        assert "debug" in texts["operator log"], "debug logging was not on"
        for what, secret in secrets.items():
            assert len(secret) >= 16
            for where, text in texts.items():
                assert secret not in text, f"{what} found in {where}"
                assert secret[:12] not in text, f"a prefix of the {what} found in {where}"
    finally:
        w.stop()
        op.stop()
