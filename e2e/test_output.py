# SPDX-License-Identifier: Apache-2.0
"""test_output.py -- spec.output: where a target's profile is stored (issue 17, finding 11).

A tenant's spec.output.prefix nests under the operator's own prefix (a tenant
cannot write outside the operator's area of the store), a trailing '/' is
accepted, and spec.output.bucket no longer exists: the API server refuses it
and the operator would too. Real operator, real eBPF worker, dir storage
read back from disk.
"""
import os

import pytest

import podprof
from stack import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF needs root")


def test_output_prefix_nests_under_operator_prefix(stack, crd, namespace, node, demoapp):
    op = podprof.Operator(stack, extra=["--s3-prefix", "op-area"]).start()
    w = podprof.Worker(op, node).start()
    try:
        refused = stack.apply(
            {"apiVersion": "podprof.dev/v1alpha1", "kind": "ProfilingTarget",
             "metadata": {"name": "other-bucket", "namespace": namespace},
             "spec": {"selector": {"matchLabels": {"app": "out"}}, "output": {"bucket": "tenant-b"}}},
            "--validate=strict", check=False)
        assert refused.returncode != 0 and 'unknown field "spec.output.bucket"' in refused.stderr, refused
        node.run_pod(namespace, "out-1", {"app": "out"}, [("main", [demoapp, "checkout"])])
        podprof.apply_target(stack, namespace, "nested", {"matchLabels": {"app": "out"}}, duration="3s",
                             output={"prefix": "team-a/"})
        st = podprof.wait_phase(stack, namespace, "nested", timeout=90)["status"]
        assert st["phase"] == "Succeeded", st
        want = os.path.join(op.storage_dir, "op-area", "team-a", namespace, "nested")
        wait_for(lambda: os.path.isdir(want) and any(
            f.endswith(".pb.gz") for _, _, fs in os.walk(want) for f in fs), 60, desc="profile file")
        # Nothing was written outside the operator's prefix.
        assert os.listdir(op.storage_dir) == ["op-area"], os.listdir(op.storage_dir)
    finally:
        w.stop()
        op.stop()
